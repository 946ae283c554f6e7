# SPDX-License-Identifier: MIT
"""The pynq names cmafs provides where PYNQ itself is not installed.

Importable only through the fallback finder of _cmafs_pynq (installed with
cmafs-pynq.pth), which answers for "pynq" only when no real PYNQ is on
sys.path: a PYNQ installation always wins.  What is here: allocate,
PynqBuffer, Xlnk, ContiguousArray (pynq, pynq.buffer, pynq.xlnk) and the
older pynq.drivers.xlnk.xlnk; nothing of PYNQ's overlays, MMIO or drivers.
"""

from cmafs import PynqBuffer, allocate  # noqa: F401

__all__ = ["allocate", "PynqBuffer", "Xlnk", "ContiguousArray"]
provided_by = "cmafs"


def __getattr__(name):
    # Xlnk needs python3-cffi: imported when asked for.
    if name in ("Xlnk", "ContiguousArray"):
        import importlib
        return getattr(importlib.import_module("cmafs.xlnk"), name)
    raise AttributeError("module 'pynq' (cmafs's PYNQ names) has no "
                         "attribute %r: only allocate, PynqBuffer, Xlnk and "
                         "ContiguousArray are provided" % name)
