# SPDX-License-Identifier: MIT
# The code cells of PYNQ's CMA notebook ("CMA - Memory Management", PYNQ-Z1),
# unchanged, each after a comment line with its number as Jupyter shows it.
# test_pynq.py runs them as Jupyter does (the value of a cell's last
# expression is shown) through the pynq names cmafs provides where PYNQ is
# not installed, and compares what they show with the notebook's outputs
# (addresses and free bytes aside).
# Runs as a plain script too: python3 pynq_cma_notebook.py

# In [1]:
from pynq.drivers import xlnk

# In [2]:
memmanager = xlnk.xlnk()

# In [3]:
m1 = memmanager.cma_alloc(10)
memmanager.cma_stats()

# In [4]:
m2 = memmanager.cma_alloc(10, data_type = "float")
memmanager.cma_stats()

# In [5]:
m3 = memmanager.cma_alloc(128, cacheable = 1, data_type = "long long")
memmanager.cma_stats()

# In [6]:
m3 = memmanager.cma_cast(m3, "int")

# In [7]:
for i in range(0,256):
    m3[i] = i
print("before copy: ", m2[1])

memmanager.cma_memcopy(m2, m3,10)
print("after copy: ", m2[1])

# In [8]:
bytes(memmanager.cma_get_buffer(m3,10))

# In [9]:
memmanager.cma_free(m2)

# In [10]:
memmanager.cma_stats()

# In [11]:
memmanager.cma_free(m1)
memmanager.cma_free(m3)
