# SPDX-License-Identifier: MIT
"""Tests of the cmafs module (python/cmafs) against a real cmafs mount.

    CMAFS_MOUNT=/cma python3 -m unittest discover -s python/tests -v

Every test checks what the file system says ($MOUNT/.stats, the xattrs, the
bytes in the file), not only what the module returns.  Most allocate named
buffers (name=), whose file stays in the mount while they live, to look at
it; test_pynq.py tests the default, unnamed ones.
"""

import errno
import gc
import itertools
import mmap
import os
import sys
import unittest

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
import cmafs  # noqa: E402

MOUNT = cmafs.default_mount()
PAGE = mmap.PAGESIZE


_names = itertools.count()


def alloc(*args, **kwargs):
    """allocate() of a named buffer: its file is there to look at."""
    kwargs.setdefault("name", "pynq-t%d-%d" % (os.getpid(), next(_names)))
    return cmafs.allocate(*args, **kwargs)


def xattr(path, name):
    return os.getxattr(path, name).decode()


def file_bytes(path, n):
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.pread(fd, n, 0)
    finally:
        os.close(fd)


def buffer_fd(path, flags=os.O_RDONLY):
    """A descriptor of the buffer itself, handed out by the daemon for a new
    open of path: reads through it are the buffer, never a page-cache copy
    of the mount."""
    fd = os.open(path, flags)
    try:
        got = cmafs._buffer_fd(fd)
    finally:
        os.close(fd)
    if got is None:
        raise unittest.SkipTest("the daemon hands out no descriptors")
    return got[0]


def open_fds():
    return len(os.listdir("/proc/self/fd"))


class CmafsTest(unittest.TestCase):
    def setUp(self):
        if not os.path.exists(os.path.join(MOUNT, ".stats")):
            self.skipTest("no cmafs mount at %s (set CMAFS_MOUNT)" % MOUNT)
        gc.collect()
        self.before = cmafs.stats(MOUNT)

    def tearDown(self):
        gc.collect()
        left = [f for f in os.listdir(MOUNT) if f.startswith("pynq-")]
        for f in left:
            os.unlink(os.path.join(MOUNT, f))
        self.assertEqual(left, [], "buffers left behind in the mount")

    def wait_buffers(self, n):
        # Releases reach the daemon asynchronously.
        import time
        for _ in range(100):
            if cmafs.stats(MOUNT)["buffers"] == n:
                return
            time.sleep(0.02)
        self.assertEqual(cmafs.stats(MOUNT)["buffers"], n)

    def test_allocate_shape_dtype_and_file(self):
        buf = alloc((3, 1000), dtype=np.uint16)
        try:
            self.assertIsInstance(buf, np.ndarray)
            self.assertEqual(buf.shape, (3, 1000))
            self.assertEqual(buf.dtype, np.uint16)
            self.assertTrue(buf.flags.c_contiguous and buf.flags.writeable)
            self.assertTrue(os.path.isfile(buf.path))
            self.assertEqual(os.path.dirname(buf.path), MOUNT)
            self.assertEqual(os.stat(buf.path).st_size, 6000)
            self.assertEqual(int(xattr(buf.path, "user.cma.size")),
                             (6000 + PAGE - 1) // PAGE * PAGE)
            self.assertEqual(cmafs.stats(MOUNT)["buffers"],
                             self.before["buffers"] + 1)
            self.assertTrue(np.all(buf == 0), "new buffers are zero-filled")
        finally:
            buf.freebuffer()

    def test_physical_address_matches_xattr(self):
        with alloc(4096, "u1") as buf:
            phys = int(xattr(buf.path, "user.cma.phys_addr"), 16)
            self.assertEqual(buf.physical_address, phys)
            self.assertEqual(buf.physical_address % PAGE, 0)
            self.assertEqual(buf.device_address,
                             int(xattr(buf.path, "user.cma.dma_addr"), 16))
            self.assertEqual(buf.virtual_address,
                             buf.__array_interface__["data"][0])

    def test_views_have_offset_addresses(self):
        with alloc((16, 16), "u4") as buf:
            row = buf[3]
            self.assertIsInstance(row, cmafs.CmaBuffer)
            self.assertEqual(row.physical_address,
                             buf.physical_address + 3 * 16 * 4)
            self.assertEqual(buf[1:, 2:].physical_address,
                             buf.physical_address + 16 * 4 + 2 * 4)

    def test_copies_are_not_cma_buffers(self):
        with alloc(64, "u4") as buf:
            for other in (buf + 1, buf.copy(), buf * 2.5):
                with self.assertRaises(ValueError):
                    other.physical_address  # noqa: B018
            self.assertNotIsInstance(np.array(buf), cmafs.CmaBuffer)

    def test_cacheable_sets_cache_mode_before_sizing(self):
        with alloc(100, cacheable=True) as c, \
                alloc(100, cacheable=False) as u, \
                alloc(100, cacheable="writecombine") as w:
            self.assertEqual(xattr(c.path, "user.cma.cache"), "cached")
            self.assertEqual(xattr(u.path, "user.cma.cache"), "uncached")
            self.assertEqual(xattr(w.path, "user.cma.cache"), "writecombine")
            self.assertTrue(c.cacheable and not c.coherent)
            # Uncached memory is coherent when the mapping is the buffer
            # (everywhere a daemon hands out descriptors).
            self.assertEqual(u.coherent, u.direct)
            self.assertEqual(u.cacheable, not u.direct)

    def test_align(self):
        with alloc(10, "u1", align=1 << 21) as buf:
            self.assertEqual(int(xattr(buf.path, "user.cma.align")), 1 << 21)
            self.assertEqual(buf.physical_address % (1 << 21), 0)

    def test_flush_puts_stores_in_the_buffer(self):
        for cacheable in (False, True):
            with alloc(5000, "u1", cacheable=cacheable) as buf:
                pattern = (np.arange(5000) * 7 % 251).astype(np.uint8)
                buf[:] = pattern
                buf.flush()
                self.assertEqual(file_bytes(buf.path, 5000),
                                 pattern.tobytes())

    def test_invalidate_shows_device_writes(self):
        for cacheable in (False, True):
            with alloc(2 * PAGE, "u1", cacheable=cacheable) as buf:
                buf[:] = 1
                buf.flush()
                # Another writer of the buffer, as a device would be.
                fd = os.open(buf.path, os.O_WRONLY)
                try:
                    os.pwrite(fd, b"\xab" * PAGE, PAGE)
                finally:
                    os.close(fd)
                buf.invalidate()
                self.assertTrue(np.all(buf[:PAGE] == 1))
                self.assertTrue(np.all(buf[PAGE:] == 0xAB),
                                "mapping still shows stale data")

    def test_freebuffer_frees_at_once_and_is_safe(self):
        buf = alloc(PAGE * 4, "u1")
        view = buf[PAGE:]
        path = buf.path
        used = cmafs.stats(MOUNT)["used_bytes"]
        buf.freebuffer()
        self.assertFalse(os.path.exists(path))
        self.wait_buffers(self.before["buffers"])
        self.assertEqual(cmafs.stats(MOUNT)["used_bytes"], used - 4 * PAGE)
        with self.assertRaises(ValueError):
            buf.physical_address  # noqa: B018
        # The memory is gone from the pool, but touching it does not crash.
        view[:] = 5
        self.assertTrue(np.all(view == 5))
        buf.freebuffer()            # idempotent
        buf.close()

    def test_context_manager_frees(self):
        with alloc(10) as buf:
            path = buf.path
            self.assertTrue(os.path.exists(path))
        self.assertFalse(os.path.exists(path))
        self.wait_buffers(self.before["buffers"])

    def test_garbage_collection_frees(self):
        buf = alloc(10)
        path = buf.path
        row = buf[2:]
        del buf
        gc.collect()
        self.assertTrue(os.path.exists(path), "a view keeps the buffer")
        del row
        gc.collect()
        self.assertFalse(os.path.exists(path))
        self.wait_buffers(self.before["buffers"])

    def test_errors(self):
        with self.assertRaises(ValueError):
            alloc(0)
        with self.assertRaises(cmafs.AllocationError) as cm:
            alloc(10, path="/nonexistent-cmafs-mount")
        self.assertEqual(cm.exception.errno, errno.ENOENT)
        pool = cmafs.stats(MOUNT)["pool_bytes"]
        with self.assertRaises(OSError) as cm:
            alloc(pool + PAGE, "u1")
        self.assertEqual(cm.exception.errno, errno.EFBIG)
        self.assertIsInstance(cm.exception, RuntimeError)
        self.assertEqual([f for f in os.listdir(MOUNT)
                          if f.startswith("pynq-")], [],
                         "a failed allocation leaves no file")

    def test_xlnk(self):
        try:
            xlnk = cmafs.Xlnk(MOUNT)
        except ImportError as e:
            self.skipTest("no cffi: %s" % e)
        a = xlnk.cma_array((4, 4), np.uint32, cacheable=1)
        b = xlnk.cma_array(8, np.float32)
        self.assertEqual(a.cache, "cached")
        self.assertEqual(b.cache, "uncached")
        self.assertEqual(xlnk.cma_get_phy_addr(b), b.physical_address)
        self.assertEqual(cmafs.stats(MOUNT)["buffers"],
                         self.before["buffers"] + 2)
        self.assertEqual(xlnk.cma_stats()["Buffer Count"], 2)
        xlnk.xlnk_reset()
        with self.assertRaises(ValueError):
            a.physical_address  # noqa: B018
        self.assertEqual(xlnk.cma_stats()["Buffer Count"], 0)
        self.wait_buffers(self.before["buffers"])

    def test_named_buffer_is_shared_with_other_processes(self):
        with alloc(16, "u1", name="pynq-shared-%d" % os.getpid()) \
                as buf:
            buf[:] = np.arange(16, dtype=np.uint8)
            buf.flush()
            self.assertEqual(file_bytes(os.path.join(MOUNT, os.path.basename(
                buf.path)), 16), bytes(range(16)))

    def test_stores_are_in_the_buffer_without_flush(self):
        with alloc(3 * PAGE, "u1") as buf:
            bfd = buffer_fd(buf.path)
            try:
                self.assertTrue(buf.direct, "the mapping is not the buffer")
                self.assertTrue(buf.coherent and not buf.cacheable)
                buf[PAGE + 5] = 0x42            # no flush()
                self.assertEqual(os.pread(bfd, 1, PAGE + 5), b"\x42")
            finally:
                os.close(bfd)

    def test_device_writes_are_seen_without_invalidate(self):
        with alloc(2 * PAGE, "u1") as buf:
            # The buffer's own descriptor stands in for the device.
            bfd = buffer_fd(buf.path, os.O_RDWR)
            try:
                os.pwrite(bfd, b"\xcd" * 16, PAGE)
            finally:
                os.close(bfd)
            self.assertTrue(np.all(buf[PAGE:PAGE + 16] == 0xCD))
            self.assertTrue(np.all(buf[:PAGE] == 0))

    def test_a_read_only_buffer_descriptor_cannot_be_mapped_writable(self):
        with alloc(PAGE, "u1") as buf:
            bfd = buffer_fd(buf.path, os.O_RDONLY)
            try:
                with self.assertRaises(OSError) as cm:
                    cmafs._mmap(0, PAGE, mmap.PROT_READ | mmap.PROT_WRITE,
                                mmap.MAP_SHARED, bfd)
                self.assertEqual(cm.exception.errno, 13)    # EACCES
            finally:
                os.close(bfd)

    def test_flush_and_invalidate_on_every_cache_mode(self):
        for mode in (False, True, "writecombine"):
            with alloc(PAGE, "u1", cacheable=mode) as buf:
                buf[:] = 7
                buf.flush()
                buf.invalidate()
                self.assertTrue(np.all(buf == 7))
                self.assertEqual(buf.cacheable, mode is True or not buf.direct)

    def test_dmabuf(self):
        path = os.path.join(MOUNT, "pynq-dmabuf-%d" % os.getpid())
        with open(path, "wb") as f:
            f.write(bytes(range(256)) * 16)
        try:
            if cmafs.stats(MOUNT).get("backend") != "kmod":
                with self.assertRaises(OSError) as cm:
                    cmafs.dmabuf(path)
                self.assertEqual(cm.exception.errno, errno.EOPNOTSUPP)
                return
            fd = cmafs.dmabuf(path)
            try:
                m = mmap.mmap(fd, 4096, mmap.MAP_SHARED, mmap.PROT_READ)
                self.assertEqual(m[:256], bytes(range(256)))
                m.close()
                # No resize while exported; the file is as it was.
                with self.assertRaises(OSError) as cm:
                    os.truncate(path, 1 << 20)
                self.assertEqual(cm.exception.errno, errno.EBUSY)
                self.assertEqual(os.stat(path).st_size, 4096)
            finally:
                os.close(fd)
            os.truncate(path, 1 << 20)
            with open(path, "rb") as f:
                with self.assertRaises(OSError) as cm:
                    cmafs.dmabuf(f.fileno())
                self.assertEqual(cm.exception.errno, errno.EBADF)
        finally:
            os.unlink(path)

    def test_no_descriptor_left_after_freebuffer(self):
        before = open_fds()
        buf = alloc(PAGE, "u1")
        buf.freebuffer()
        self.assertEqual(open_fds(), before)
        self.wait_buffers(self.before["buffers"])

    def test_without_a_hand_off_a_page_cache_mapping_says_so(self):
        # An older daemon: no socket.  Without passthrough the mapping is
        # then a copy, and the buffer must not claim to be coherent.
        real = cmafs._buffer_fd
        cmafs._buffer_fd = lambda fd: None
        try:
            with alloc(PAGE, "u1") as buf:
                direct = xattr(buf.path, "user.cma.mmap") == "direct"
                self.assertEqual(buf.direct, direct)
                self.assertEqual(buf.coherent, direct)
                buf[:] = 9
                buf.flush()
                self.assertEqual(file_bytes(buf.path, PAGE), b"\x09" * PAGE)
        finally:
            cmafs._buffer_fd = real

    def test_a_refused_hand_off_falls_back_to_the_file_with_a_warning(self):
        # A daemon that refuses the hand-off (here: EXDEV, as for a mount
        # point with a blank): the file's own mapping, and one warning.
        real = cmafs._buffer_fd

        def refuse(fd):
            raise OSError(errno.EXDEV, "hand-off: " + os.strerror(
                errno.EXDEV))
        cmafs._buffer_fd = refuse
        cmafs._warned.discard(MOUNT)
        try:
            with self.assertWarns(RuntimeWarning):
                buf = alloc(PAGE, "u1")
            with buf:
                buf[:] = 4
                buf.flush()
                self.assertEqual(file_bytes(buf.path, PAGE), b"\x04" * PAGE)
                self.assertEqual(buf.direct,
                                 xattr(buf.path, "user.cma.mmap") == "direct")
        finally:
            cmafs._buffer_fd = real
        self.wait_buffers(self.before["buffers"])


if __name__ == "__main__":
    unittest.main()
