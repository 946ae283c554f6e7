# SPDX-License-Identifier: MIT
"""cmafs - physically contiguous DMA buffers as numpy arrays.

A drop-in for PYNQ's ``pynq.allocate`` and ``Xlnk.cma_array`` on any Linux
board that has a cmafs mount (usually /cma, see cmafs(8)):

    from cmafs import allocate

    with allocate(shape=(1080, 1920), dtype='u2') as frame:
        frame[:] = 0x1234
        frame.flush()                       # stores are now in the buffer
        dma.start(frame.physical_address, frame.nbytes)
        dma.wait()
        frame.invalidate()                  # the CPU sees what the device wrote
    # the buffer is unmapped, unlinked and back in the pool here

Each buffer is a file in the mount (named ``pynq-<pid>-<n>`` unless a name is
given), so other processes and C programs can find it there.  The memory goes
back to the pool when the array is freed (``freebuffer()``/``close()``, the end
of a ``with`` block, garbage collection, or the end of the process).

The array is the buffer itself on every kernel: where the mount maps files
directly (FUSE passthrough, ``user.cma.mmap`` = ``direct``) the file is
mapped, elsewhere the buffer's own descriptor, which the daemon hands out
over its socket (cmafs(8), THE BUFFER DESCRIPTOR; libcmafs(3) is the same in
C).  So an uncached buffer needs no ``flush()``, as with PYNQ; ``coherent``,
``cacheable`` and ``direct`` say what the mapping really is.

Only numpy and the standard library (Python 3.9 or later) are needed.
"""

import ctypes
import ctypes.util
import errno
import fcntl
import itertools
import mmap
import os
import socket
import struct
import threading
import weakref

import numpy as np

__all__ = ["allocate", "CmaBuffer", "PynqBuffer", "Xlnk", "stats",
           "default_mount"]

_counter = itertools.count()
_lock = threading.Lock()

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6",
                    use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int,
                       ctypes.c_int, ctypes.c_int, ctypes.c_long]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_libc.msync.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
_MAP_FIXED = 0x10
_MS_SYNC = 4
_MAP_FAILED = ctypes.c_void_p(-1).value


def _mmap(addr, length, prot, flags, fd):
    """libc mmap (Python's mmap module keeps a duplicate of the descriptor
    open, which would keep the buffer allocated after freebuffer())."""
    got = _libc.mmap(ctypes.c_void_p(addr), length, prot, flags, fd, 0)
    if got is None or got == _MAP_FAILED:
        err = ctypes.get_errno()
        raise OSError(err, "mmap: " + os.strerror(err))
    return got


# The descriptor hand-off (include/cmafs.h): one request and one reply per
# connection, integers in the machine's byte order.
_SOCKET_XATTR = "user.cma.socket"
_HANDOFF_MAGIC = 0x53464d43
_HANDOFF_VERSION = 1
_HANDOFF_GET = 1
_HANDOFF_CMABUF = 1 << 1
_REQ = struct.Struct("=IHHII")             # struct cmafs_handoff_req
_REPLY = struct.Struct("=IHHiIIIQ")        # struct cmafs_handoff_reply
# CMABUF_IOC_SYNC = _IOW(0xCB, 0x11, struct cmabuf_sync): 24 bytes.
_CMABUF_IOC_SYNC = (1 << 30) | (24 << 16) | (0xCB << 8) | 0x11
_SYNC = struct.Struct("=QQII")             # struct cmabuf_sync
_SYNC_DEVICE, _SYNC_CPU = 1, 2


def _buffer_fd(fd):
    """(descriptor, cmabuf?) of the buffer of the file open on fd, from the
    daemon; None when it serves no socket (an older cmafs)."""
    try:
        path = os.getxattr(fd, _SOCKET_XATTR).rstrip(b"\0\n")
    except OSError as e:
        if e.errno in (errno.ENODATA, errno.EOPNOTSUPP):
            return None
        raise
    if path.startswith(b"@"):
        path = b"\0" + path[1:]            # an abstract socket
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as sock:
        sock.connect(path)
        socket.send_fds(sock, [_REQ.pack(_HANDOFF_MAGIC, _HANDOFF_VERSION,
                                         _HANDOFF_GET, 0, 0)], [fd])
        msg, fds, flags, _ = socket.recv_fds(sock, _REPLY.size + 1, 4,
                                             socket.MSG_CMSG_CLOEXEC)
    try:
        if len(msg) != _REPLY.size or flags & (socket.MSG_TRUNC |
                                               socket.MSG_CTRUNC):
            raise OSError(errno.EPROTO, "hand-off: bad reply")
        magic, _, _, err, rflags, _, _, _ = _REPLY.unpack(msg)
        if magic != _HANDOFF_MAGIC:
            raise OSError(errno.EPROTO, "hand-off: bad reply")
        if err:
            raise OSError(err, "hand-off: " + os.strerror(err))
        if len(fds) != 1:
            raise OSError(errno.EPROTO, "hand-off: no descriptor")
    except BaseException:
        for f in fds:
            os.close(f)
        raise
    return fds[0], bool(rflags & _HANDOFF_CMABUF)


def _check(ret, what):
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, what + ": " + os.strerror(err))


def default_mount():
    """The cmafs mount to use: $CMAFS_MOUNT, else /cma."""
    return os.environ.get("CMAFS_MOUNT") or "/cma"


def stats(path=None):
    """The mount's /.stats as a dict (numbers as int)."""
    out = {}
    with open(os.path.join(path or default_mount(), ".stats")) as f:
        for line in f:
            key, sep, value = line.partition(":")
            if not sep:
                continue
            value = value.strip()
            try:
                out[key] = int(value, 0)
            except ValueError:
                out[key] = value
    return out


class _Cma:
    """What one allocation owns.  Shared by the array and all its views;
    deliberately holds no reference to the mapping, so that the mapping's
    finalizer can run when the last array over it is gone.

    bfd is the handed-out descriptor of a cmabuf.ko buffer, kept for its
    sync ioctl and closed with fd: a memfd's (sim) is closed at once, since
    it has no cache to sync and every descriptor holds the buffer."""

    def __init__(self, fd, path, length, addr, phys, dma, cacheable,
                 direct, maps_file, bfd):
        self.fd = fd
        self.path = path
        self.length = length
        self.addr = addr
        self.phys = phys
        self.dma = dma
        self.cacheable = cacheable
        self.direct = direct        # the mapping is the buffer
        self.maps_file = maps_file  # ... of the file, not of a descriptor
        self.bfd = bfd
        self.freed = False

    def contains(self, ptr):
        return self.addr <= ptr < self.addr + self.length

    def release(self):
        """Unlink the file and close the descriptor (idempotent)."""
        if self.freed:
            return
        self.freed = True
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        for fd in (self.fd, self.bfd):
            try:
                if fd >= 0:
                    os.close(fd)
            except OSError:
                pass


def _finalize(cma):
    # No array refers to the mapping any more: unmap whatever is there (the
    # buffer, or the anonymous memory freebuffer() put in its place).
    _libc.munmap(ctypes.c_void_p(cma.addr), cma.length)
    cma.release()


def _xattr_int(fd, name, base):
    return int(os.getxattr(fd, name).decode().strip(), base)


class CmaBuffer(np.ndarray):
    """A numpy array over a physically contiguous buffer of a cmafs mount.

    Views and slices are CmaBuffers too, with their own physical_address.
    Results of arithmetic (``buf + 1``) and copies are ordinary memory: their
    ``physical_address`` raises ValueError.
    """

    def __array_finalize__(self, obj):
        cma = getattr(obj, "_cma", None)
        if cma is not None and not cma.contains(self._ptr()):
            cma = None      # a copy or a computed result, not in the buffer
        self._cma = cma

    def _ptr(self):
        return self.__array_interface__["data"][0]

    def _owner(self):
        cma = getattr(self, "_cma", None)
        if cma is None:
            raise ValueError("this array does not live in a CMA buffer "
                             "(it is a copy or a computed result)")
        if cma.freed:
            raise ValueError("the CMA buffer has been freed")
        return cma

    # -- PYNQ's attributes ---------------------------------------------------
    @property
    def physical_address(self):
        """Physical address of this array's first element (program the DMA
        engine with it)."""
        cma = self._owner()
        return cma.phys + (self._ptr() - cma.addr)

    @property
    def device_address(self):
        """Address of the first element as the device sees it
        (user.cma.dma_addr; equal to physical_address without an IOMMU or
        bus offset)."""
        cma = self._owner()
        return cma.dma + (self._ptr() - cma.addr)

    @property
    def virtual_address(self):
        """Address of the first element in this process."""
        return self._ptr()

    @property
    def cacheable(self):
        """True when flush()/invalidate() are needed around DMA: a 'cached'
        buffer, or a mapping that is a page-cache copy (not direct)."""
        return self._owner().cacheable

    @property
    def coherent(self):
        """True when the device sees stores and the CPU sees the device's
        writes without flush()/invalidate()."""
        return not self._owner().cacheable

    @property
    def direct(self):
        """True when the mapping is the buffer itself; False only with a
        daemon that hands out no descriptors and no passthrough."""
        return self._owner().direct

    @property
    def path(self):
        """The buffer's file in the cmafs mount."""
        return self._owner().path

    # -- cache maintenance ---------------------------------------------------
    def _sync(self, direction):
        cma = self._owner()
        if cma.bfd >= 0:
            # The helper's own ioctl on the buffer: no daemon round trip.
            fcntl.ioctl(cma.bfd, _CMABUF_IOC_SYNC,
                        _SYNC.pack(0, 0, direction, 0))
            return True
        # A memfd: the stores are in the buffer already.
        return not cma.maps_file

    def flush(self):
        """Make CPU stores visible to the device.  Needed when cacheable is
        True, harmless otherwise.  On a mapping of the file (passthrough, or
        a page-cache copy): msync, then user.cma.sync=device."""
        cma = self._owner()
        if self._sync(_SYNC_DEVICE):
            return
        _check(_libc.msync(ctypes.c_void_p(cma.addr), cma.length, _MS_SYNC),
               "msync")
        os.setxattr(cma.fd, "user.cma.sync", b"device")

    def invalidate(self):
        """Make device writes visible to the CPU (user.cma.sync=cpu on a
        mapping of the file)."""
        cma = self._owner()
        if not self._sync(_SYNC_CPU):
            os.setxattr(cma.fd, "user.cma.sync", b"cpu")

    sync_to_device = flush
    sync_from_device = invalidate

    # -- freeing -------------------------------------------------------------
    def freebuffer(self):
        """Give the buffer back to the pool now.

        The file is unlinked and the mapping replaced by anonymous memory, so
        that this array and any views left over stay harmless (they read
        zeros) while the DMA memory is freed at once.  Idempotent."""
        cma = getattr(self, "_cma", None)
        if cma is None or cma.freed:
            return
        # Replace, not unmap: numpy may still hold pointers into the range.
        _mmap(cma.addr, cma.length, mmap.PROT_READ | mmap.PROT_WRITE,
              mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | _MAP_FIXED, -1)
        cma.release()

    close = freebuffer

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.freebuffer()
        return False

    def __reduce__(self):
        # Pickling sends the contents, not the buffer.
        return np.asarray(self).copy().__reduce__()


PynqBuffer = CmaBuffer


def _cache_name(cacheable):
    if isinstance(cacheable, str):
        return cacheable
    return "cached" if cacheable else "uncached"


def _map_buffer(fd, nbytes):
    """Map the buffer of the file open on fd: (address, direct, maps_file,
    descriptor to sync through or -1)."""
    rw = mmap.PROT_READ | mmap.PROT_WRITE
    if os.getxattr(fd, "user.cma.mmap") == b"direct":
        return _mmap(0, nbytes, rw, mmap.MAP_SHARED, fd), True, True, -1
    got = _buffer_fd(fd)
    if got is None:
        # No hand-off from this daemon: the page-cache copy, and cacheable
        # says flush() is needed.
        return _mmap(0, nbytes, rw, mmap.MAP_SHARED, fd), False, True, -1
    bfd, cmabuf = got
    try:
        addr = _mmap(0, nbytes, rw, mmap.MAP_SHARED, bfd)
    except BaseException:
        os.close(bfd)
        raise
    if not cmabuf:
        os.close(bfd)
        bfd = -1
    return addr, True, False, bfd


def allocate(shape, dtype="u4", cacheable=False, target=None, path=None,
             align=None, name=None):
    """Allocate a physically contiguous array from a cmafs mount.

    shape, dtype  as for numpy.ndarray
    cacheable     False (default): 'uncached' (coherent) memory; True:
                  'cached' memory that needs flush()/invalidate() around DMA;
                  or a cmafs cache mode name ('writecombine')
    target        accepted for PYNQ compatibility and ignored
    path          the cmafs mount (default $CMAFS_MOUNT, else /cma)
    align         alignment in bytes (power of two >= page size), optional
    name          file name inside the mount (default pynq-<pid>-<n>)

    Raises OSError as the file system reports it: ENOSPC when the pool has no
    contiguous range that large, EFBIG when it is larger than the pool.
    """
    del target
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if nbytes <= 0:
        raise ValueError("cannot allocate an empty buffer (shape %r)" %
                         (shape,))
    mount = path or default_mount()
    if not os.path.isdir(mount):
        raise FileNotFoundError(
            "no cmafs mount at %s (mount one: cmafs -o backend=sim %s, or "
            "set CMAFS_MOUNT)" % (mount, mount))
    with _lock:
        n = next(_counter)
    fname = os.path.join(mount, name or "pynq-%d-%d" % (os.getpid(), n))
    fd = os.open(fname, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC,
                 0o600)
    try:
        # Cache mode and alignment first: they apply to the allocation.
        os.setxattr(fd, "user.cma.cache", _cache_name(cacheable).encode())
        if align is not None:
            os.setxattr(fd, "user.cma.align", str(int(align)).encode())
        os.ftruncate(fd, nbytes)
        phys = _xattr_int(fd, "user.cma.phys_addr", 16)
        dma = _xattr_int(fd, "user.cma.dma_addr", 16)
        addr, direct, maps_file, bfd = _map_buffer(fd, nbytes)
    except BaseException:
        os.close(fd)
        os.unlink(fname)
        raise
    cma = _Cma(fd, fname, nbytes, addr, phys, dma,
               _cache_name(cacheable) == "cached" or not direct, direct,
               maps_file, bfd)
    mem = (ctypes.c_char * nbytes).from_address(addr)
    # When the last array over the mapping is gone: unmap, unlink, close.
    weakref.finalize(mem, _finalize, cma)
    buf = np.ndarray.__new__(CmaBuffer, shape, dtype, buffer=mem)
    buf._cma = cma
    return buf


class Xlnk:
    """PYNQ's older allocator interface, over cmafs."""

    def __init__(self, path=None):
        self.path = path
        self._bufs = []         # weak references (arrays are unhashable)

    def cma_array(self, shape, dtype=np.uint32, cacheable=0, pointer=None,
                  cache=None):
        del pointer, cache
        buf = allocate(shape, dtype, cacheable=bool(cacheable),
                       path=self.path)
        self._bufs.append(weakref.ref(buf))
        return buf

    def cma_get_phy_addr(self, buf):
        return buf.physical_address

    def cma_stats(self):
        """Pool usage of the mount (PYNQ reported CMA usage system-wide)."""
        return stats(self.path)

    def xlnk_reset(self):
        """Free every buffer this Xlnk allocated (not, as PYNQ's did, every
        buffer of the system)."""
        for ref in self._bufs:
            buf = ref()
            if buf is not None:
                buf.freebuffer()
        self._bufs = []
