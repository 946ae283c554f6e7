#!/usr/bin/env python3
"""One system call per invocation, for the cmafs bats suites.

Prints the result (OK, a value, or a number) on success and exits 0; on
failure prints the errno name (e.g. EFBIG) and exits 1.  Sizes accept K/M/G.

  truncate PATH SIZE            truncate(2)
  ftruncate PATH SIZE           open O_RDWR + ftruncate(2)
  fallocate PATH OFF LEN [MODE] fallocate(2) (mode 0 unless given)
  pwrite PATH OFF TEXT          open O_WRONLY + pwrite(2) (no O_CREAT)
  open PATH FLAGS [MODE]        FLAGS: r w rw creat excl trunc (comma list)
  getxattr PATH NAME [BUFSIZE]  getxattr(2) with a buffer of BUFSIZE bytes
                                (0 prints the size the value needs)
  setxattr PATH NAME VALUE [create|replace]   VALUE @FILE reads the file
  setxattr_len PATH NAME LEN    value of LEN 'x' bytes
  removexattr PATH NAME
  listxattr PATH [BUFSIZE]      names, space-separated (sorted)
  rename OLD NEW [noreplace|exchange]   renameat2(2)
  unlink/rmdir/mkdir/mkfifo PATH, link OLD NEW, symlink TARGET PATH
  mknod PATH chr|blk|sock|fifo [MAJOR MINOR]
  chmod PATH MODE, chown PATH UID GID, utime PATH SECONDS, stat PATH
  ioctl PATH FLAGS CMD [BUFSIZE]  open PATH (FLAGS: r w rw dir nonblock, a
                                comma list) + ioctl(2) CMD (a number) with a
                                zeroed buffer of BUFSIZE bytes (default 16384)
"""
import ctypes
import ctypes.util
import errno
import os
import socket
import stat
import sys

libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def size(s):
    s = s.strip()
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    if s and s[-1].upper() in mult:
        return int(s[:-1], 0) * mult[s[-1].upper()]
    return int(s, 0)


def check(ret):
    if ret < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return ret


def main(argv):
    cmd, a = argv[0], argv[1:]
    if cmd == "truncate":
        os.truncate(a[0], size(a[1]))
    elif cmd == "ftruncate":
        fd = os.open(a[0], os.O_RDWR)
        try:
            os.ftruncate(fd, size(a[1]))
        finally:
            os.close(fd)
    elif cmd == "fallocate":
        fd = os.open(a[0], os.O_RDWR)
        try:
            mode = int(a[3], 0) if len(a) > 3 else 0
            # fallocate64: 64-bit offsets on a 32-bit libc too (armhf),
            # where fallocate takes a 32-bit off_t.
            fal = libc.fallocate64
            fal.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
            check(fal(fd, mode, size(a[1]), size(a[2])))
        finally:
            os.close(fd)
    elif cmd == "pwrite":
        fd = os.open(a[0], os.O_WRONLY)
        try:
            n = os.pwrite(fd, a[2].encode(), size(a[1]))
            print(n)
            return 0
        finally:
            os.close(fd)
    elif cmd == "open":
        flags = 0
        acc = os.O_RDONLY
        for f in a[1].split(","):
            if f == "r":
                acc = os.O_RDONLY
            elif f == "w":
                acc = os.O_WRONLY
            elif f == "rw":
                acc = os.O_RDWR
            elif f == "creat":
                flags |= os.O_CREAT
            elif f == "excl":
                flags |= os.O_EXCL
            elif f == "trunc":
                flags |= os.O_TRUNC
        mode = int(a[2], 8) if len(a) > 2 else 0o644
        os.close(os.open(a[0], acc | flags, mode))
    elif cmd == "getxattr":
        name = a[1].encode()
        if len(a) > 2:
            n = int(a[2])
            buf = ctypes.create_string_buffer(max(n, 1))
            libc.getxattr.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t]
            libc.getxattr.restype = ctypes.c_ssize_t
            r = check(libc.getxattr(a[0].encode(), name, buf if n else None, n))
            if n == 0:
                print(r)
            else:
                sys.stdout.write(buf.raw[:r].decode(errors="replace") + "\n")
        else:
            v = os.getxattr(a[0], a[1])
            sys.stdout.write(v.decode(errors="replace") + "\n")
        return 0
    elif cmd in ("setxattr", "setxattr_len"):
        if cmd == "setxattr_len":
            v = b"x" * size(a[2])
            fl = 0
        else:
            v = a[2]
            v = open(v[1:], "rb").read() if v.startswith("@") else v.encode()
            fl = {"create": os.XATTR_CREATE, "replace": os.XATTR_REPLACE}.get(a[3] if len(a) > 3 else "", 0)
        os.setxattr(a[0], a[1], v, fl)
    elif cmd == "removexattr":
        os.removexattr(a[0], a[1])
    elif cmd == "listxattr":
        if len(a) > 1:
            n = int(a[1])
            buf = ctypes.create_string_buffer(max(n, 1))
            libc.listxattr.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t]
            libc.listxattr.restype = ctypes.c_ssize_t
            r = check(libc.listxattr(a[0].encode(), buf if n else None, n))
            if n == 0:
                print(r)
                return 0
            names = [x.decode() for x in buf.raw[:r].split(b"\0") if x]
        else:
            names = os.listxattr(a[0])
        print(" ".join(sorted(names)))
        return 0
    elif cmd == "rename":
        fl = {"": 0, "noreplace": 1, "exchange": 2}[a[2] if len(a) > 2 else ""]
        libc.renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
        AT_FDCWD = -100
        check(libc.renameat2(AT_FDCWD, a[0].encode(), AT_FDCWD, a[1].encode(), fl))
    elif cmd == "unlink":
        os.unlink(a[0])
    elif cmd == "rmdir":
        os.rmdir(a[0])
    elif cmd == "mkdir":
        os.mkdir(a[0], int(a[1], 8) if len(a) > 1 else 0o777)
    elif cmd == "mkfifo":
        os.mkfifo(a[0])
    elif cmd == "link":
        os.link(a[0], a[1])
    elif cmd == "symlink":
        os.symlink(a[0], a[1])
    elif cmd == "mknod":
        kind = a[1]
        if kind == "sock":
            s = socket.socket(socket.AF_UNIX)
            s.bind(a[0])
            s.close()
        else:
            m = {"chr": stat.S_IFCHR, "blk": stat.S_IFBLK, "fifo": stat.S_IFIFO}[kind]
            dev = os.makedev(int(a[2]), int(a[3])) if len(a) > 3 else 0
            os.mknod(a[0], m | 0o644, dev)
    elif cmd == "ioctl":
        fl = {"r": os.O_RDONLY, "w": os.O_WRONLY, "rw": os.O_RDWR,
              "dir": os.O_DIRECTORY, "nonblock": os.O_NONBLOCK}
        flags = 0
        for f in a[1].split(","):
            flags |= fl[f]
        n = size(a[3]) if len(a) > 3 else 16384
        buf = ctypes.create_string_buffer(max(n, 1))
        fd = os.open(a[0], flags)
        try:
            libc.ioctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p]
            check(libc.ioctl(fd, int(a[2], 0), buf))
        finally:
            os.close(fd)
    elif cmd == "chmod":
        os.chmod(a[0], int(a[1], 8))
    elif cmd == "chown":
        os.chown(a[0], int(a[1]), int(a[2]))
    elif cmd == "utime":
        t = float(a[1])
        os.utime(a[0], (t, t))
    elif cmd == "stat":
        st = os.lstat(a[0])
        print(st.st_size, st.st_blocks, oct(st.st_mode))
        return 0
    else:
        print("unknown op " + cmd, file=sys.stderr)
        return 2
    print("OK")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except OSError as e:
        # ENOTSUP and EOPNOTSUPP are one number on Linux; use the latter
        name = "EOPNOTSUPP" if e.errno == errno.EOPNOTSUPP else errno.errorcode.get(e.errno, str(e.errno))
        print(name)
        sys.exit(1)
