# SPDX-License-Identifier: MIT
"""handoff.py - a client of the descriptor hand-off for the bats suites.

Speaks the protocol of include/cmafs.h with nothing but the standard
library, so that the tests also check that any language can (the C client
library has its own suite).  Subcommands print one result line each:

  get PATH ro|rw|wo|path [SOCK]   hand-off of PATH opened that way (to
                                  SOCK, else to PATH's user.cma.socket):
                                  "error=N flags=F cache=C size=S" and,
                                  with a descriptor, " fd=size:N"
  store PATH OFF TEXT             rw hand-off, map it, store TEXT at OFF,
                                  no sync; prints "stored"
  pread PATH OFF LEN              ro hand-off, pread on the buffer descriptor
  mapread PATH OFF LEN            ro hand-off, map it, read from the mapping
  rogrant PATH                    ro hand-off: "mmap_rw=ERR mprotect=ERR
                                  write=ERR ftruncate=ERR"
  hold PATH READY GONE            rw hand-off mapped; close every other
                                  descriptor, touch READY, wait until GONE
                                  exists, unmap and exit
  raw SOCK HEX NFDS               send bytes HEX with NFDS descriptors of
                                  /dev/null; prints the reply's error
  sendfd FD SOCK                  hand-off of the inherited descriptor FD
                                  (as "get" prints it)
  control PATH OFF TEXT           store TEXT at OFF through the mount's own
                                  mapping; read it through a buffer
                                  descriptor before and after fsync
  info PATH ro|rw                 hand-off, CMABUF_IOC_INFO on it (kmod):
                                  "phys=0x.. dma=0x.. files=N maps=N"
  flood SOCK N                    N connections at once, each sends one
                                  request naming /dev/null; prints
                                  "answered=A eagain=E other=O"
  pfns PATH                       rw hand-off mapped: "phys=0x.. pfn0=0x..
                                  contiguous=yes|no" (needs root)
"""

import ctypes
import errno
import mmap
import os
import socket
import struct
import sys
import time

MAGIC = 0x53464D43
REQ = struct.Struct("=IHHII")
REPLY = struct.Struct("=IHHiIIIQ")


def sock_path(path):
    return os.getxattr(path, "user.cma.socket").decode()


def connect(sp):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(sp)
    return s


def request(s, fds, payload=None):
    if payload is None:
        payload = REQ.pack(MAGIC, 1, 1, 0, 0)
    socket.send_fds(s, [payload], fds)
    msg, got, _, _ = socket.recv_fds(s, 256, 4)
    if len(msg) != REPLY.size:
        raise SystemExit("short reply: %d bytes" % len(msg))
    return REPLY.unpack(msg), got


def handoff(path, how):
    flags = {"ro": os.O_RDONLY, "rw": os.O_RDWR, "wo": os.O_WRONLY,
             "path": os.O_PATH}[how]
    fd = os.open(path, flags)
    try:
        with connect(sock_path(path)) as s:
            return request(s, [fd])
    finally:
        os.close(fd)


def buffer_fd(path, how):
    reply, fds = handoff(path, how)
    if reply[3]:
        raise SystemExit("hand-off failed: %s" % errno.errorcode[reply[3]])
    return reply, fds[0]


def err(e):
    return errno.errorcode.get(e.errno, str(e.errno))


def print_reply(reply, fds):
    line = "error=%s flags=%d cache=%d size=%d" % (
        errno.errorcode.get(reply[3], reply[3]) if reply[3] else 0,
        reply[4], reply[5], reply[7])
    for fd in fds:
        line += " fd=size:%d" % os.fstat(fd).st_size
        os.close(fd)
    print(line)


def cmd_get(path, how, sp=None):
    if sp is None:
        print_reply(*handoff(path, how))
        return
    fd = os.open(path, {"ro": os.O_RDONLY, "rw": os.O_RDWR,
                        "path": os.O_PATH}[how])
    with connect(sp) as s:
        print_reply(*request(s, [fd]))


def cmd_sendfd(fd, sp):
    with connect(sp) as s:
        print_reply(*request(s, [int(fd)]))


def cmd_control(path, off, text):
    """The negative control: a store through the mount's own mapping."""
    _, bfd = buffer_fd(path, "ro")
    off, data = int(off, 0), text.encode()
    # Closing any descriptor of a FUSE file writes its dirty pages back:
    # the buffer descriptor was taken before, this one stays open.
    fd = os.open(path, os.O_RDWR)
    m = mmap.mmap(fd, os.fstat(fd).st_size, mmap.MAP_SHARED,
                  mmap.PROT_READ | mmap.PROT_WRITE)
    m[off:off + len(data)] = data
    before = os.pread(bfd, len(data), off)
    os.fsync(fd)
    after = os.pread(bfd, len(data), off)
    print("before_fsync=%s after_fsync=%s" % (
        before.decode(errors="replace").strip("\0") or "zeros",
        after.decode(errors="replace")))
    m.close()
    os.close(fd)


def cmd_info(path, how):
    import fcntl
    _, fd = buffer_fd(path, how)
    buf = bytearray(72)
    fcntl.ioctl(fd, (2 << 30) | (72 << 16) | (0xCB << 8) | 0x10, buf)
    phys, dma, _, _, _, _, files, maps = struct.unpack_from("=QQQQIIII", buf)
    print("phys=%#x dma=%#x files=%d maps=%d" % (phys, dma, files, maps))


def cmd_store(path, off, text):
    _, fd = buffer_fd(path, "rw")
    off = int(off, 0)
    data = text.encode()
    m = mmap.mmap(fd, os.fstat(fd).st_size, mmap.MAP_SHARED,
                  mmap.PROT_READ | mmap.PROT_WRITE)
    os.close(fd)
    m[off:off + len(data)] = data
    m.close()
    print("stored")


def cmd_pread(path, off, length):
    _, fd = buffer_fd(path, "ro")
    sys.stdout.write(os.pread(fd, int(length, 0), int(off, 0)).decode(
        errors="replace") + "\n")


def cmd_mapread(path, off, length):
    _, fd = buffer_fd(path, "ro")
    m = mmap.mmap(fd, os.fstat(fd).st_size, mmap.MAP_SHARED, mmap.PROT_READ)
    off, length = int(off, 0), int(length, 0)
    sys.stdout.write(m[off:off + length].decode(errors="replace") + "\n")


def cmd_rogrant(path):
    _, fd = buffer_fd(path, "ro")
    size = os.fstat(fd).st_size
    out = {}
    try:
        mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        out["mmap_rw"] = "ok"
    except OSError as e:
        out["mmap_rw"] = err(e)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int,
                          ctypes.c_int, ctypes.c_int, ctypes.c_long]
    libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    addr = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
    if addr in (None, ctypes.c_void_p(-1).value):
        out["mprotect"] = "nomap"
    elif libc.mprotect(addr, size, mmap.PROT_READ | mmap.PROT_WRITE):
        out["mprotect"] = errno.errorcode[ctypes.get_errno()]
    else:
        out["mprotect"] = "ok"
    for name, fn in (("write", lambda: os.pwrite(fd, b"x", 0)),
                     ("ftruncate", lambda: os.ftruncate(fd, 0))):
        try:
            fn()
            out[name] = "ok"
        except OSError as e:
            out[name] = err(e)
    print(" ".join("%s=%s" % kv for kv in out.items()))


def cmd_hold(path, ready, gone):
    _, fd = buffer_fd(path, "rw")
    m = mmap.mmap(fd, os.fstat(fd).st_size, mmap.MAP_SHARED,
                  mmap.PROT_READ | mmap.PROT_WRITE)
    os.close(fd)
    m[0:4] = b"held"
    os.closerange(3, 1024)
    open(ready, "w").close()
    deadline = time.monotonic() + 60     # a failed test must not hang
    while not os.path.exists(gone) and time.monotonic() < deadline:
        time.sleep(0.05)
    m.close()


def cmd_raw(sp, hexdata, nfds):
    fds = [os.open("/dev/null", os.O_RDONLY) for _ in range(int(nfds))]
    with connect(sp) as s:
        reply, got = request(s, fds, bytes.fromhex(hexdata))
    print("error=%s fds=%d" % (errno.errorcode.get(reply[3], reply[3]),
                               len(got)))


def cmd_flood(sp, n):
    conns, answered, eagain, other = [], 0, 0, 0
    fd = os.open("/dev/null", os.O_RDONLY)
    for _ in range(int(n)):
        try:
            conns.append(connect(sp))
        except OSError:
            other += 1
    for s in conns:
        try:
            s.settimeout(5)
            try:
                socket.send_fds(s, [REQ.pack(MAGIC, 1, 1, 0, 0)], [fd])
            except OSError:
                pass        # refused already: its reply is waiting
            msg, _, _, _ = socket.recv_fds(s, 256, 4)
            e = REPLY.unpack(msg)[3]
            if e == errno.EAGAIN:
                eagain += 1
            elif e == errno.EXDEV:
                answered += 1
            else:
                other += 1
        except (OSError, struct.error):
            other += 1
        s.close()
    print("answered=%d eagain=%d other=%d" % (answered, eagain, other))


def cmd_pfns(path):
    reply, fd = buffer_fd(path, "rw")
    size = os.fstat(fd).st_size
    m = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    pages = size // mmap.PAGESIZE
    for i in range(pages):
        m[i * mmap.PAGESIZE] = m[i * mmap.PAGESIZE]   # fault every page in
    buf = (ctypes.c_char * 1).from_buffer(m)
    addr = ctypes.addressof(buf)
    pfns = []
    with open("/proc/self/pagemap", "rb") as pm:
        for i in range(pages):
            pm.seek((addr // mmap.PAGESIZE + i) * 8)
            e = struct.unpack("=Q", pm.read(8))[0]
            pfns.append(e & ((1 << 55) - 1) if e >> 63 else None)
    del buf
    phys = os.getxattr(path, "user.cma.phys_addr").decode()
    cont = all(p is not None and p == pfns[0] + i for i, p in enumerate(pfns))
    print("phys=%s pfn0=%s contiguous=%s" % (
        phys, hex(pfns[0] * mmap.PAGESIZE) if pfns[0] is not None else "none",
        "yes" if cont else "no"))


def main():
    cmds = {"get": cmd_get, "store": cmd_store, "pread": cmd_pread,
            "mapread": cmd_mapread, "rogrant": cmd_rogrant,
            "hold": cmd_hold, "raw": cmd_raw, "flood": cmd_flood,
            "pfns": cmd_pfns, "sendfd": cmd_sendfd,
            "control": cmd_control, "info": cmd_info}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        raise SystemExit(__doc__)
    try:
        cmds[sys.argv[1]](*sys.argv[2:])
    except OSError as e:
        print("oserror=%s" % err(e))
        sys.exit(1)


if __name__ == "__main__":
    main()
