# SPDX-License-Identifier: MIT
"""PYNQ's pynq.xlnk API over cmafs: Xlnk, ContiguousArray, sig_handler.

    from cmafs.xlnk import Xlnk

    mmu = Xlnk()
    m1 = mmu.cma_alloc(10, data_type="float")    # cffi float *, 40 bytes
    m1[3] = 1.5
    mmu.cma_get_phy_addr(m1)                     # program the device
    mmu.cma_free(m1)

Buffers come from the cmafs mount ($CMAFS_MOUNT, else /cma, or Xlnk(path))
as with cmafs.allocate(), and like them go back to the pool when the process
ends, however it ends.  Needs python3-cffi.
"""

import sys
import weakref

import cffi
import numpy as np

from . import (CmaBuffer, ContiguousArray, _array, _cache_name, _find,
               _nbytes, _new_buffer, cma_available)

__all__ = ["Xlnk", "ContiguousArray", "sig_handler", "ffi"]

ffi = cffi.FFI()


def _address(ptr):
    """The address a cffi pointer, an array or an int stands for."""
    if isinstance(ptr, np.ndarray):
        return ptr.__array_interface__["data"][0]
    if isinstance(ptr, int):
        return ptr
    return int(ffi.cast("uintptr_t", ptr))


class Xlnk:
    """Contiguous memory management, as PYNQ's Xlnk.

    bufmap maps each buffer this object allocated (a cffi ``void *`` to its
    start) to its size in bytes: cma_stats() counts them.  'CMA Memory
    Available' is system-wide, the rest is this object's, as in PYNQ.
    """

    ffi = ffi
    _instances = weakref.WeakSet()  # every Xlnk of the process (xlnk_reset)

    def __init__(self, path=None):
        self.path = path
        self.bufmap = {}
        self._bufs = {}         # address -> (_Cma, array?)
        Xlnk._instances.add(self)

    # -- bookkeeping ---------------------------------------------------------
    def _track(self, cma, array):
        key = ffi.cast("void *", cma.addr)
        self.bufmap[key] = cma.length
        self._bufs[cma.addr] = (cma, array, key)
        cma.on_release.append(self._untrack)

    def _untrack(self, cma):
        got = self._bufs.pop(cma.addr, None)
        if got is not None:
            self.bufmap.pop(got[2], None)

    # -- the cffi interface --------------------------------------------------
    def cma_alloc(self, length, cacheable=0, data_type="void"):
        """Allocate length * sizeof(data_type) bytes of contiguous memory
        (length bytes for 'void'); cacheable 1: cached memory, 0 (default):
        uncached.  Returns a cffi ``data_type *`` that indexes like an
        array.  Raises cmafs.AllocationError (a RuntimeError) when it
        cannot."""
        nbytes = int(length)
        if data_type != "void":
            nbytes = ffi.sizeof(data_type) * nbytes
        cma = _new_buffer(nbytes, _cache_name(bool(cacheable)), self.path)
        self._track(cma, False)
        return ffi.cast(data_type + " *", cma.addr)

    @staticmethod
    def cma_cast(data, data_type="void"):
        """The same memory as a ``data_type *``."""
        return ffi.cast(data_type + " *", data)

    def cma_get_buffer(self, buf, length):
        """An object with the buffer interface over length bytes at buf
        (bytes(), bytearray(), memoryview(), numpy.frombuffer())."""
        return ffi.buffer(ffi.cast("char *", buf), length)

    def cma_get_phy_addr(self, buf_ptr):
        """Physical address of what buf_ptr points to: a pointer into a
        buffer of this process (from cma_alloc, cma_cast, or an array's
        pointer), or a cma_array/allocate array."""
        if isinstance(buf_ptr, CmaBuffer):
            return buf_ptr.physical_address
        addr = _address(buf_ptr)
        cma = _find(addr)
        if cma is None:
            raise ValueError("0x%x is not in a CMA buffer of this process" %
                             addr)
        return cma.phys + (addr - cma.addr)

    @staticmethod
    def cma_memcopy(dest, src, nbytes):
        """Copy nbytes bytes from src to dest (cffi pointers)."""
        ffi.memmove(ffi.cast("char *", dest), ffi.cast("char *", src),
                    nbytes)

    def cma_free(self, buf):
        """Free a buffer of cma_alloc (or an array of cma_array).  The
        pointer, and any cast of it, must not be used afterwards."""
        if isinstance(buf, CmaBuffer):
            buf.freebuffer()
            return
        addr = _address(buf)
        cma = _find(addr)
        if cma is None or cma.addr != addr:
            raise ValueError("0x%x is not the start of a CMA buffer of this "
                             "process" % addr)
        got = self._bufs.get(addr)
        if got is not None and got[1]:
            cma.zap()       # arrays may still point there
        else:
            cma.unmap()

    # -- numpy ---------------------------------------------------------------
    def cma_array(self, shape, dtype=np.uint32, cacheable=0, pointer=None,
                  cache=None):
        """A ContiguousArray of shape and dtype (default 32-bit unsigned):
        physical_address, pointer, flush(), invalidate(), freebuffer(),
        close(), ``with``.  pointer: an existing buffer of cma_alloc to view
        instead of a new allocation (its owner frees it).  cache is
        accepted and ignored, as by PYNQ."""
        del cache
        dtype = np.dtype(dtype)
        nbytes = _nbytes(shape, dtype)
        if pointer is not None:
            addr = _address(pointer)
            cma = _find(addr)
            if cma is None or addr + nbytes > cma.addr + cma.length:
                raise ValueError("pointer does not hold %d bytes of a CMA "
                                 "buffer of this process" % nbytes)
            arr = _array(cma, cma.length, np.uint8, own=False)
            off = addr - cma.addr
            return arr[off:off + nbytes].view(dtype).reshape(shape)
        if nbytes <= 0:
            raise ValueError("cannot allocate an empty buffer (shape %r)" %
                             (shape,))
        cma = _new_buffer(nbytes, _cache_name(bool(cacheable)), self.path)
        self._track(cma, True)
        return _array(cma, shape, dtype)

    # -- state ---------------------------------------------------------------
    def cma_stats(self):
        """{'Buffer Count', 'CMA Memory Available', 'CMA Memory Usage'}:
        this object's buffers, the free CMA bytes (system-wide: CmaFree with
        the kmod backend, the pool's free bytes with sim), and the bytes this
        object asked for."""
        return {"Buffer Count": len(self.bufmap),
                "CMA Memory Available": cma_available(self.path),
                "CMA Memory Usage": sum(self.bufmap.values())}

    def xlnk_reset(self):
        """Free every buffer that any Xlnk of this process allocated.
        (PYNQ's reset every buffer of the system; a cmafs buffer belongs to
        the process that mapped it and goes back to the pool when it
        ends.)  Pointers of cma_alloc must not be used afterwards; arrays of
        cma_array read zeros."""
        for x in list(Xlnk._instances):
            for cma, array, _ in list(x._bufs.values()):
                if array:
                    cma.zap()
                else:
                    cma.unmap()


def sig_handler(signum, frame):
    """PYNQ's handler for invalid memory accesses: reset and exit 127."""
    del signum, frame
    print("Invalid Memory Access!")
    Xlnk().xlnk_reset()
    sys.exit(127)
