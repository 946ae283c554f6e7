# SPDX-License-Identifier: MIT
"""cmafs - physically contiguous DMA buffers as numpy arrays.

PYNQ's ``allocate`` (and, in ``cmafs.xlnk``, its older ``Xlnk`` API) on any
Linux board that has a cmafs mount (usually /cma, see cmafs(8)):

    from cmafs import allocate

    with allocate(shape=(1080, 1920), dtype='u2') as frame:
        frame[:] = 0x1234
        frame.flush()                       # the device sees it
        dma.start(frame.physical_address, frame.nbytes)
        dma.wait()
        frame.invalidate()                  # the CPU sees what the device wrote
    # the buffer is unmapped and back in the pool here

How a buffer is made: a file is created in the mount, sized, its addresses
read; the daemon hands out the buffer's own descriptor over its socket
(cmafs(8), THE BUFFER DESCRIPTOR), which is mapped; then the file is removed
and both descriptors are closed.  The mapping alone holds the buffer, so

  - the array is the buffer itself on every kernel, with its cache mode: an
    uncached buffer needs no flush(), as with PYNQ;
  - a process holds no descriptor per buffer (ulimit -n does not limit how
    many buffers it has);
  - the buffer goes back to the pool when it is freed (``freebuffer()``,
    ``close()``, the end of a ``with`` block, garbage collection) and when
    the process ends in any way, SIGKILL included (the daemon notices the
    last unmap within about a second).

Only ``name=`` makes a buffer that others can find in the mount; with
``persistent=True`` its file (and so the buffer) outlives the process until
someone removes it.  A ``cached`` buffer of the kmod backend keeps the
handed-out descriptor open for its cache maintenance ioctl.

Only numpy and the standard library (Python 3.9 or later) are needed;
``cmafs.xlnk`` (``Xlnk``, ``cma_alloc``, ...) needs python3-cffi too.
"""

import ctypes
import ctypes.util
import errno
import fcntl
import itertools
import mmap
import os
import re
import socket
import struct
import threading
import time
import weakref

import numpy as np

__all__ = ["allocate", "CmaBuffer", "PynqBuffer", "ContiguousArray",
           "AllocationError", "Xlnk", "stats", "default_mount",
           "cma_available", "dmabuf"]

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
_RW = mmap.PROT_READ | mmap.PROT_WRITE


class AllocationError(OSError, RuntimeError):
    """An allocation failed.  A RuntimeError, as PYNQ raises, and an OSError
    with the file system's errno: EFBIG (larger than the whole pool), ENOSPC
    (no contiguous range that large free now), EDQUOT (over the mount's
    quota), ENOENT (no cmafs mount), ..."""


def _mmap(addr, length, prot, flags, fd):
    """libc mmap (Python's mmap module keeps a duplicate of the descriptor
    open, which would cost a descriptor per buffer)."""
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
# CMAFS_IOC_INFO = _IOR(0xCF, 1, struct cmafs_info): 72 bytes.
_INFO = struct.Struct("=QQQQII32x")
_CMAFS_IOC_INFO = (2 << 30) | (_INFO.size << 16) | (0xCF << 8) | 1


def _buffer_fd(fd):
    """(descriptor, cmabuf?) of the buffer of the file open on fd, from the
    daemon; None when it serves no socket (an older cmafs, socket=none)."""
    try:
        path = os.getxattr(fd, _SOCKET_XATTR).rstrip(b"\0\n")
    except OSError as e:
        if e.errno in (errno.ENODATA, errno.EOPNOTSUPP):
            return None
        raise
    if path.startswith(b"@"):
        path = b"\0" + path[1:]            # an abstract socket
    for attempt in range(200):
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
            if err == errno.EAGAIN and attempt < 199:
                time.sleep(0.01)            # too many connections: again
                continue
            if err:
                raise OSError(err, "hand-off: " + os.strerror(err))
            if len(fds) != 1:
                raise OSError(errno.EPROTO, "hand-off: no descriptor")
        except BaseException:
            for f in fds:
                os.close(f)
            raise
        for f in fds[1:]:
            os.close(f)
        return fds[0], bool(rflags & _HANDOFF_CMABUF)
    raise OSError(errno.EAGAIN, "hand-off: " + os.strerror(errno.EAGAIN))


# CMABUF_IOC_EXPORT = _IOWR(0xCB, 0x14, struct cmabuf_export): 32 bytes.
_EXPORT = struct.Struct("=IiQ16x")
_CMABUF_IOC_EXPORT = (3 << 30) | (_EXPORT.size << 16) | (0xCB << 8) | 0x14
_EXPORT_CLOEXEC = 1


def dmabuf(file):
    """A new dma-buf descriptor (close-on-exec) of the buffer of ``file``: a
    path in a cmafs mount, or a descriptor opened O_RDWR through it.  For a
    driver to import (V4L2_MEMORY_DMABUF, DRM PRIME); the caller closes it.
    While a dma-buf of it lives the buffer cannot be resized (EBUSY), and
    its memory lives until the last reference to the dma-buf is gone, even
    after the file is removed.  OSError: EOPNOTSUPP on the sim backend (its
    memory is not contiguous) or with a helper without the export, EBADF
    for a read-only descriptor."""
    own = isinstance(file, (str, bytes, os.PathLike))
    fd = os.open(file, os.O_RDWR | os.O_CLOEXEC) if own else file
    try:
        got = _buffer_fd(fd)
        if got is None:
            raise OSError(errno.EOPNOTSUPP,
                          "dmabuf: the daemon hands out no descriptors")
        bfd, kmod = got
        try:
            if not kmod:
                raise OSError(errno.EOPNOTSUPP, "dmabuf: the sim backend's "
                              "memory is not contiguous: no dma-buf")
            arg = bytearray(_EXPORT.pack(_EXPORT_CLOEXEC, 0, 0))
            try:
                fcntl.ioctl(bfd, _CMABUF_IOC_EXPORT, arg)
            except OSError as e:
                if e.errno == errno.ENOTTY:
                    raise OSError(errno.EOPNOTSUPP, "dmabuf: cmabuf.ko "
                                  "has no export (too old)") from None
                raise
            return _EXPORT.unpack(arg)[1]
        finally:
            os.close(bfd)
    finally:
        if own:
            os.close(fd)


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


def cma_available(path=None):
    """Free CMA bytes as PYNQ's cma_stats() reports them ('CMA Memory
    Available'): system-wide CmaFree of /proc/meminfo when the mount's
    backend is kmod, the simulated pool's free bytes with sim."""
    st = stats(path)
    if st.get("backend") == "kmod":
        try:
            with open("/proc/meminfo") as f:
                for line in f:
                    if line.startswith("CmaFree:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            pass
        if "cma_free_bytes" in st:
            return st["cma_free_bytes"]
    return st["free_bytes"]


def _mounts():
    """Mount points of cmafs file systems (real paths)."""
    out = set()
    octal = re.compile(rb"\\([0-7]{3})")
    try:
        with open("/proc/self/mountinfo", "rb") as f:
            for line in f:
                left, _, right = line.partition(b" - ")
                fields = left.split()
                if len(fields) > 4 and right.split()[:1] == [b"fuse.cmafs"]:
                    mp = octal.sub(lambda m: bytes([int(m.group(1), 8)]),
                                   fields[4])
                    out.add(os.fsdecode(mp))
    except OSError:
        pass
    return out


def is_mount(path):
    """True when path is the root of a cmafs mount."""
    try:
        real = os.path.realpath(path)
    except (OSError, ValueError):
        return False
    return real in _mounts()


# Every buffer this process holds, by the address of its mapping (for
# cma_get_phy_addr on a pointer, and xlnk_reset).
_live = {}


class _Cma:
    """What one allocation owns.  Shared by the array and all its views;
    deliberately holds no reference to the array, so that the mapping's
    finalizer can run when the last array over it is gone.

    fd is the file's descriptor, kept only when there was no hand-off (the
    mapping is then of the file, and msync and user.cma.sync need it); bfd
    the handed-out descriptor of a cached cmabuf.ko buffer, kept for its sync
    ioctl.  Both are usually -1: the mapping alone holds the buffer."""

    def __init__(self, path, named, persistent, fd, bfd, length, addr, phys,
                 dma, cache, direct, maps_file):
        self.path = path            # the file, while it has a name
        self.named = named
        self.persistent = persistent
        self.fd = fd
        self.bfd = bfd
        self.length = length
        self.addr = addr
        self.phys = phys
        self.dma = dma
        self.cache = cache
        self.direct = direct        # the mapping is the buffer
        self.maps_file = maps_file  # ... of the file, not of a descriptor
        self.cacheable = cache == "cached" or not direct
        self.freed = False
        self.on_release = []

    def contains(self, ptr):
        return self.addr <= ptr < self.addr + self.length

    def release(self):
        """Close what is kept, remove the name unless persistent
        (idempotent).  The caller unmaps or replaces the mapping."""
        if self.freed:
            return
        self.freed = True
        _live.pop(self.addr, None)
        if self.named and not self.persistent and self.path:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
        for fd in (self.fd, self.bfd):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.fd = self.bfd = -1
        for cb in self.on_release:
            cb(self)
        self.on_release = []

    def unmap(self):
        """Give the memory back now: unmap, then release."""
        if not self.freed:
            _libc.munmap(ctypes.c_void_p(self.addr), self.length)
            self.release()

    def zap(self):
        """Give the memory back now but leave anonymous memory where it was
        mapped (arrays may still point there), then release."""
        if self.freed:
            return
        _mmap(self.addr, self.length, _RW,
              mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | _MAP_FIXED, -1)
        self.release()

    # -- cache maintenance ---------------------------------------------------
    def _sync(self, direction):
        if self.freed:
            raise ValueError("the CMA buffer has been freed")
        if self.bfd >= 0:
            # The helper's own ioctl on the buffer: no daemon round trip.
            fcntl.ioctl(self.bfd, _CMABUF_IOC_SYNC,
                        _SYNC.pack(0, 0, direction, 0))
            return
        if not self.maps_file:
            return      # the buffer's own mapping, coherent: nothing to do
        if direction == _SYNC_DEVICE:
            _check(_libc.msync(ctypes.c_void_p(self.addr), self.length,
                               _MS_SYNC), "msync")
        os.setxattr(self.fd, "user.cma.sync",
                    b"device" if direction == _SYNC_DEVICE else b"cpu")

    def flush(self):
        self._sync(_SYNC_DEVICE)

    def invalidate(self):
        self._sync(_SYNC_CPU)


def _finalize(cma):
    # No array refers to the mapping any more: unmap whatever is there (the
    # buffer, or the anonymous memory freebuffer() put in its place).
    _libc.munmap(ctypes.c_void_p(cma.addr), cma.length)
    cma.release()


_CACHE_MODES = ("uncached", "cached", "writecombine")


def _cache_name(cacheable):
    if isinstance(cacheable, str):
        if cacheable not in _CACHE_MODES:
            raise ValueError("cacheable: %r is not a cache mode (%s)" %
                             (cacheable, ", ".join(_CACHE_MODES)))
        return cacheable
    return "cached" if cacheable else "uncached"


def _fail(e, nbytes, where):
    if isinstance(e, AllocationError):
        return e
    err = e.errno or errno.EIO
    why = {errno.EFBIG: "larger than the whole pool",
           errno.ENOSPC: "no free contiguous range that large now",
           errno.EDQUOT: "over this user's quota on the mount",
           errno.EMFILE: "out of file descriptors"}.get(err)
    msg = "cannot allocate %d bytes in %s: %s%s" % (
        nbytes, where, os.strerror(err), " (%s)" % why if why else "")
    return AllocationError(err, msg)


_warned = set()


def _warn_once(key, msg):
    if key not in _warned:
        _warned.add(key)
        import warnings
        warnings.warn(msg, RuntimeWarning, stacklevel=4)


def _new_buffer(nbytes, cache="uncached", mount=None, align=None, name=None,
                persistent=False):
    """Allocate, map and (unless named) unlink one buffer: its _Cma."""
    if nbytes <= 0:
        raise ValueError("cannot allocate an empty buffer (%d bytes)" %
                         nbytes)
    if persistent and not name:
        raise ValueError("persistent=True needs a name=")
    mount = mount or default_mount()
    if not os.path.isfile(os.path.join(mount, ".stats")):
        raise AllocationError(
            errno.ENOENT, "no cmafs mount at %s (mount one: cmafs -o "
            "backend=sim %s, or set CMAFS_MOUNT)" % (mount, mount))
    if name:
        fname = os.path.join(mount, name)
    else:
        with _lock:
            n = next(_counter)
        fname = os.path.join(mount, "pynq-%d-%d" % (os.getpid(), n))
    try:
        fd = os.open(fname, os.O_RDWR | os.O_CREAT | os.O_EXCL |
                     os.O_CLOEXEC, 0o600)
    except OSError as e:
        raise _fail(e, nbytes, mount) from None
    bfd = -1
    addr = None
    try:
        # Cache mode and alignment first: they apply to the allocation.
        os.setxattr(fd, "user.cma.cache", cache.encode())
        if align is not None:
            os.setxattr(fd, "user.cma.align", str(int(align)).encode())
        os.ftruncate(fd, nbytes)
        info = bytearray(_INFO.size)
        fcntl.ioctl(fd, _CMAFS_IOC_INFO, info)
        phys, dma, _, _, _, mmap_mode = _INFO.unpack(info)
        try:
            got = _buffer_fd(fd)
        except OSError as e:
            # The daemon refused (or its socket is gone): the file's own
            # mapping still works, with a descriptor kept per buffer.
            _warn_once(mount, "cmafs: no descriptor hand-off on %s (%s): "
                       "mapping the files, one descriptor kept per buffer"
                       % (mount, e.strerror or e))
            got = None
        if got is not None:
            bfd, cmabuf = got
            addr = _mmap(0, nbytes, _RW, mmap.MAP_SHARED, bfd)
            direct, maps_file = True, False
            if not (cmabuf and cache == "cached"):
                os.close(bfd)       # the mapping holds the buffer
                bfd = -1
        else:
            # No hand-off from this daemon: map the file (with passthrough
            # the buffer, else a page-cache copy that flush() writes back).
            addr = _mmap(0, nbytes, _RW, mmap.MAP_SHARED, fd)
            direct, maps_file = mmap_mode == 1, True
        if not name:
            os.unlink(fname)
        if not maps_file:
            os.close(fd)
            fd = -1
    except BaseException as e:
        if addr is not None:
            _libc.munmap(ctypes.c_void_p(addr), nbytes)
        for f in (fd, bfd):
            if f >= 0:
                os.close(f)
        try:
            os.unlink(fname)
        except OSError:
            pass
        if isinstance(e, OSError):
            raise _fail(e, nbytes, mount) from None
        raise
    cma = _Cma(fname if name else None, bool(name), persistent, fd, bfd,
               nbytes, addr, phys, dma, cache, direct, maps_file)
    _live[addr] = cma
    return cma


def _find(ptr):
    """The live buffer of this process that contains address ptr."""
    cma = _live.get(ptr)
    if cma is not None:
        return cma
    for cma in list(_live.values()):
        if cma.contains(ptr):
            return cma
    return None


class CmaBuffer(np.ndarray):
    """A numpy array over a physically contiguous buffer of a cmafs mount:
    PYNQ's PynqBuffer (pynq.allocate) and ContiguousArray (Xlnk.cma_array).

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
    def pointer(self):
        """A cffi ``void *`` to the first element (Xlnk's ContiguousArray);
        needs python3-cffi."""
        from .xlnk import ffi
        self._owner()
        return ffi.cast("void *", self._ptr())

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
    def cache(self):
        """The buffer's cmafs cache mode: uncached, cached, writecombine."""
        return self._owner().cache

    @property
    def direct(self):
        """True when the mapping is the buffer itself; False only with a
        daemon that hands out no descriptors and no passthrough."""
        return self._owner().direct

    @property
    def path(self):
        """The buffer's file in the cmafs mount: only a buffer allocated
        with name= has one (None otherwise)."""
        return self._owner().path

    # -- cache maintenance ---------------------------------------------------
    def flush(self):
        """Make CPU stores visible to the device (PYNQ: flush the underlying
        memory if necessary).  Needed when cacheable is True, a no-op
        otherwise."""
        self._owner().flush()

    def invalidate(self):
        """Make device writes visible to the CPU (PYNQ: invalidate the
        underlying memory if necessary)."""
        self._owner().invalidate()

    def sync_to_device(self):
        """PYNQ: copy the host buffer to the device: here, flush()."""
        self.flush()

    def sync_from_device(self):
        """PYNQ: copy the device's data to the host buffer: here,
        invalidate()."""
        self.invalidate()

    # -- freeing -------------------------------------------------------------
    def freebuffer(self):
        """Free the underlying memory now, whatever other arrays still use
        it (PYNQ).

        The mapping is replaced by anonymous memory, so that this array and
        any views left over stay harmless (they read zeros) while the DMA
        memory goes back to the pool.  Idempotent."""
        cma = getattr(self, "_cma", None)
        if cma is not None:
            cma.zap()

    def close(self):
        """Free the underlying memory (freebuffer())."""
        self.freebuffer()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.freebuffer()
        return False

    def __reduce__(self):
        # Pickling sends the contents, not the buffer.
        return np.asarray(self).copy().__reduce__()


PynqBuffer = CmaBuffer
ContiguousArray = CmaBuffer


def _array(cma, shape, dtype, own=True):
    """An array over cma; own: the array's lifetime frees the buffer."""
    mem = (ctypes.c_char * cma.length).from_address(cma.addr)
    if own:
        # When the last array over the mapping is gone: unmap, release.
        weakref.finalize(mem, _finalize, cma)
    buf = np.ndarray.__new__(CmaBuffer, shape, dtype, buffer=mem)
    buf._cma = cma
    return buf


def _nbytes(shape, dtype):
    return int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize


def _target_mount(target, path):
    """The mount a PYNQ target names; refuses what cmafs cannot honour."""
    if target is None:
        return path or default_mount()
    if isinstance(target, (str, bytes, os.PathLike)):
        t = os.fsdecode(target)
        if is_mount(t):
            if path and os.path.realpath(path) != os.path.realpath(t):
                raise ValueError("allocate: target=%r and path=%r name "
                                 "different mounts" % (t, path))
            return t
        raise ValueError(
            "allocate: target %r is not a cmafs mount: cmafs allocates from "
            "a cmafs mount only (target=None, path= or $CMAFS_MOUNT, "
            "default /cma)" % (t,))
    raise ValueError(
        "allocate: cannot honour target %r: cmafs allocates contiguous "
        "memory from the CMA pool of a cmafs mount only, not from a PYNQ "
        "device or memory bank; use target=None (the mount %s) or the path "
        "of a cmafs mount" % (target, path or default_mount()))


def allocate(shape, dtype="u4", target=None, **kwargs):
    """Allocate a physically contiguous array (PYNQ's pynq.allocate).

    shape, dtype  as for numpy.ndarray (dtype defaults to 32-bit unsigned)
    target        None: the mount (path=, else $CMAFS_MOUNT, else /cma); or
                  the path of a cmafs mount.  Anything else (a PYNQ memory
                  bank or device) is refused with ValueError.
    Keywords:
    cacheable     False (default): 'uncached' (coherent) memory; True:
                  'cached' memory that needs flush()/invalidate() around DMA;
                  or a cmafs cache mode name ('writecombine')
    path          the cmafs mount (default $CMAFS_MOUNT, else /cma)
    align         alignment in bytes (power of two >= page size), optional
    name          a file name in the mount: the buffer stays visible there
                  (other processes may open it) until it is freed
    persistent    with name=: the file outlives the array and the process;
                  the buffer is freed when someone removes it

    Raises AllocationError (a RuntimeError and an OSError) with the errno
    of the file system: ENOSPC when the pool has no contiguous range that
    large now, EFBIG when it is larger than the pool.
    """
    known = {"cacheable", "path", "align", "name", "persistent"}
    unknown = set(kwargs) - known
    if unknown:
        raise TypeError("allocate() got unexpected keyword argument(s) %s"
                        % ", ".join(sorted(unknown)))
    mount = _target_mount(target, kwargs.get("path"))
    dtype = np.dtype(dtype)
    nbytes = _nbytes(shape, dtype)
    if nbytes <= 0:
        raise ValueError("cannot allocate an empty buffer (shape %r)" %
                         (shape,))
    cma = _new_buffer(nbytes, _cache_name(kwargs.get("cacheable", False)),
                      mount, kwargs.get("align"), kwargs.get("name"),
                      bool(kwargs.get("persistent", False)))
    return _array(cma, shape, dtype)


def __getattr__(name):
    # Xlnk needs python3-cffi: imported when asked for.
    if name in ("Xlnk", "xlnk"):
        import importlib
        mod = importlib.import_module(__name__ + ".xlnk")
        return mod.Xlnk if name == "Xlnk" else mod
    raise AttributeError("module 'cmafs' has no attribute %r" % name)
