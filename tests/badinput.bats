#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# Bad and extreme input against a real mount: long, odd and deep names,
# extreme sizes, writes to .stats, oversized and malformed xattr values, and
# bad mount options.  Each test checks the real outcome (errno names, the
# file unchanged) and that the daemon is still alive and answering
# (.stats readable) after the abuse.  Runs in whatever passthrough mode
# CMAFS_TEST_OPTS asks for (tests/run-all runs both).

load helpers/common

setup_file() {
	export CMAFS_POOL=64M
	cmafs_setup_file
}
teardown_file() { cmafs_teardown_file; }

setup() {
	require_daemon
	PAGE=$(page_size)
}

teardown() {
	cmafs_clean_root
	cmafs_teardown
}

# The daemon survived: same process, still mounted, .stats answers.
assert_daemon_ok() {
	_cmafs_alive "$CMAFS_PID" || fail "the daemon (pid $CMAFS_PID) died; log: $(tail -n 5 "$LOG")"
	mountpoint -q "$MNT" || fail "$MNT is no longer mounted"
	stat_key pool_bytes >/dev/null || fail ".stats is not readable"
}

# A fingerprint of a regular file: size, allocation, address, contents.
fingerprint() {
	local f=$1
	echo "size=$(stat -c %s "$f") blocks=$(stat -c %b "$f")"
	echo "alloc=$(xattr "$f" user.cma.size 2>/dev/null || echo none)"
	echo "phys=$(xattr "$f" user.cma.phys_addr 2>/dev/null || echo none)"
	echo "cache=$(xattr "$f" user.cma.cache) align=$(xattr "$f" user.cma.align)"
	echo "md5=$(md5_of "$f")"
}

# A file of SIZE bytes of non-zero data.
make_data_file() {
	head -c "$2" /dev/urandom >"$1"
}

# py SCRIPT ARGS...: python3 -c SCRIPT ARGS (sys.argv[1:] = ARGS).
py() { python3 -c "$@"; }

# ------------------------------------------------------------------ names

@test "names: 255 bytes work for every entry type; 256 bytes are ENAMETOOLONG and create nothing" {
	run -0 py '
import errno, os, sys
m = sys.argv[1]
def p(c, n=255): return os.path.join(m, c * n)
def err(fn, *a):
    try:
        fn(*a)
        return "OK"
    except OSError as e:
        return errno.errorcode[e.errno]
out = []
out.append(err(lambda: os.close(os.open(p("n"), os.O_CREAT | os.O_WRONLY, 0o644))))
out.append(err(os.mkdir, p("d")))
out.append(err(os.symlink, "target", p("s")))
out.append(err(os.mkfifo, p("f")))
out.append(err(os.link, p("n"), p("l")))
out.append(err(os.rename, p("n"), p("r")))
with open(p("r"), "w") as f:
    f.write("data")
print(" ".join(out))
n256 = p("x", 256)
out = [err(lambda: os.close(os.open(n256, os.O_CREAT | os.O_WRONLY, 0o644))),
       err(os.mkdir, n256), err(os.symlink, "target", n256), err(os.mkfifo, n256),
       err(os.link, p("r"), n256), err(os.rename, p("r"), n256), err(os.stat, n256),
       err(os.mknod, n256)]
print(" ".join(out))
print(sorted(len(n) for n in os.listdir(m) if n not in (".stats", ".buffers", ".map")))
print(open(p("r")).read())
' "$MNT"
	assert_line --index 0 "OK OK OK OK OK OK"
	assert_line --index 1 "ENAMETOOLONG ENAMETOOLONG ENAMETOOLONG ENAMETOOLONG ENAMETOOLONG ENAMETOOLONG ENAMETOOLONG ENAMETOOLONG"
	# exactly the five entries, full names, nothing truncated to 255
	assert_line --index 2 "[255, 255, 255, 255, 255]"
	assert_line --index 3 data
	assert_daemon_ok
}

@test "names: multi-byte UTF-8 up to 255 bytes (85 x 3-byte characters) work; 258 bytes are ENAMETOOLONG" {
	local e85='' i
	for ((i = 0; i < 85; i++)); do e85+='€'; done
	run -0 py 'import os,sys; os.close(os.open(sys.argv[1], os.O_CREAT|os.O_WRONLY, 0o644))' "$MNT/$e85"
	run -1 op open "$MNT/${e85}€" w,creat
	assert_output ENAMETOOLONG
	run -0 py 'import os,sys; print([len(os.fsencode(n)) for n in os.listdir(sys.argv[1]) if n not in (".stats", ".buffers", ".map")])' "$MNT"
	assert_output "[255]"
	assert_daemon_ok
}

@test "names: UTF-8, invalid UTF-8 bytes, newlines, tabs, spaces, dashes, glob and escape characters round-trip exactly" {
	# Every byte but NUL and '/' is legal in a Linux name.
	run -0 py '
import os, sys
m = os.fsencode(sys.argv[1])
names = [
    "ünïcødé".encode(), "日本語のファイル".encode(), "emoji-😀🚀".encode(),
    "e\u0301-combining".encode(), "\u202eright-to-left".encode(),
    b"\xff\xfe-not-utf8", b"\xc3(-bad-continuation", b"\xed\xa0\x80-surrogate",
    b"line1\nline2", b"\n", b"\nleading-newline", b"trailing-newline\n",
    b"tab\there", b" ", b"  two spaces  ", b"-rf", b"--", b"*", b"?[a]",
    b"back\\slash", b"quote\"s\x27", b"$HOME", b"`id`", b"\x01\x02\x1f\x7f",
    b"...", b".. ", b".hidden", b"%s%n%p", b"a" * 200 + "€".encode() * 18,
]
for n in names:
    p = m + b"/" + n
    with open(p, "wb") as f:
        f.write(n)
    os.setxattr(p, b"user.name", n)
got = sorted(n for n in os.listdir(m) if n not in (b".stats", b".buffers", b".map"))
want = sorted(names)
assert got == want, (got, want)
for n in names:
    p = m + b"/" + n
    assert open(p, "rb").read() == n, n
    assert os.getxattr(p, b"user.name") == n, n
    q = m + b"/moved-" + n[:100]
    os.rename(p, q)
    assert open(q, "rb").read() == n, n
    os.unlink(q)
assert [n for n in os.listdir(m) if n not in (b".stats", b".buffers", b".map")] == []
print("ok", len(names))
' "$MNT"
	assert_output "ok 29"
	assert_equal "$(stat_key files)" 0
	assert_daemon_ok
}

@test "names: a name with a newline cannot forge a line in the daemon's log" {
	# the daemon logs refusals with the path; "alloc failed" lines are parsed by tools
	run -0 py '
import os, sys
p = sys.argv[1] + "/x\ncmafs: alloc failed, req-size: 7777 pages, free: 0 pages, largest free: 0 pages\ny"
open(p, "w").close()
try:
    os.setxattr(p, "user.cma.align", b"3")
except OSError as e:
    print(e.errno)
' "$MNT"
	assert_output 22
	sleep 0.2
	run grep -c '^cmafs: alloc failed, req-size: 7777 pages' "$LOG"
	assert_output 0
	assert_daemon_ok
}

@test "names: '.' and '..' cannot be created, removed or renamed over; a name with '/' cannot exist" {
	run -1 op mkdir "$MNT/."
	assert_output EEXIST
	run -1 op rmdir "$MNT/."
	assert_output EINVAL
	run -1 op unlink "$MNT/.."
	assert_output EISDIR
	mkdir "$MNT/d"
	run -1 op rename "$MNT/d" "$MNT/d/.."
	assert_output --regexp '^(EINVAL|EBUSY|ENOTEMPTY|EEXIST)$'
	run -1 op rename "$MNT/d/." "$MNT/e"
	assert_output --regexp '^(EINVAL|EBUSY)$'
	[[ -d $MNT/d ]]
	assert_daemon_ok
}

@test "names: a symlink target of 4095 bytes round-trips; 4096 bytes is ENAMETOOLONG" {
	local t4095
	t4095=$(head -c 4095 /dev/zero | tr '\0' 't')
	run -0 op symlink "$t4095" "$MNT/long"
	run -0 readlink "$MNT/long"
	assert_output "$t4095"
	run -1 op symlink "${t4095}x" "$MNT/toolong"
	assert_output ENAMETOOLONG
	[[ ! -e $MNT/toolong && ! -L $MNT/toolong ]]
	assert_daemon_ok
}

@test "deep directories: 100 levels (a 5 KB path, beyond PATH_MAX, walked with dir fds), a file at the bottom, removed again" {
	run -0 py '
import os, sys
root = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
fd = root
name = "d" * 50
fds = []
for i in range(100):
    os.mkdir(name, 0o755, dir_fd=fd)
    nfd = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
    fds.append(nfd)
    fd = nfd
f = os.open("bottom", os.O_CREAT | os.O_RDWR, 0o644, dir_fd=fd)
os.ftruncate(f, 12345)
os.pwrite(f, b"deep", 12000)
os.close(f)
assert os.stat("bottom", dir_fd=fd).st_size == 12345
assert os.getxattr("/proc/self/fd/%d/bottom" % fd, "user.cma.size") == b"16384"
# walk down again from the root by name
fd2 = root
for i in range(100):
    fd2n = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd2)
    if fd2 != root:
        os.close(fd2)
    fd2 = fd2n
f = os.open("bottom", os.O_RDONLY, dir_fd=fd2)
assert os.pread(f, 4, 12000) == b"deep"
os.close(f)
print(os.stat(fd2).st_nlink)
' "$MNT"
	assert_output 2
	assert_equal "$(stat_key files)" 1
	assert_equal "$(stat_key buffers)" 1
	run -0 find "$MNT/$(printf 'd%.0s' {1..50})" -type d
	assert_equal "${#lines[@]}" 100
	rm -rf "${MNT:?}/$(printf 'd%.0s' {1..50})"
	wait_stat buffers 0
	assert_equal "$(stat_key files)" 0
	run -0 ls -A "$MNT"
	assert_output ".buffers
.map
.stats"
	assert_daemon_ok
}

# ------------------------------------------------------------------ sizes

@test "sizes 0, 1, page-1, page, page+1 (truncate, ftruncate, fallocate): st_size exact, allocation page-rounded, zero-filled" {
	local s how want
	for how in truncate ftruncate fallocate; do
		for s in 0 1 $((PAGE - 1)) "$PAGE" $((PAGE + 1)) $((2 * PAGE - 1)); do
			rm -f "$MNT/f"
			touch "$MNT/f"
			if [[ $how == fallocate ]]; then
				((s == 0)) && continue # fallocate(len=0) is EINVAL
				run -0 op fallocate "$MNT/f" 0 "$s"
			else
				run -0 op "$how" "$MNT/f" "$s"
			fi
			assert_equal "$(stat -c %s "$MNT/f")" "$s"
			if ((s == 0)); then
				run -1 op getxattr "$MNT/f" user.cma.size
				assert_output ENODATA
				assert_equal "$(stat -c %b "$MNT/f")" 0
			else
				want=$(page_round "$s")
				assert_equal "$(xattr "$MNT/f" user.cma.size)" "$want"
				assert_equal "$(stat -c %b "$MNT/f")" $((want / 512))
				assert_zero_range "$MNT/f" 0 "$s"
			fi
		done
	done
	run -1 op fallocate "$MNT/f" 0 0
	assert_output EINVAL
	assert_daemon_ok
}

@test "sizes: truncate(1) to 2^63-1 is EFBIG and leaves the file as it was; 2^63 is refused before any syscall" {
	make_data_file "$MNT/f" $((PAGE + 100))
	local before failures
	before=$(fingerprint "$MNT/f")
	failures=$(stat_key alloc_failures)
	run -1 truncate -s 9223372036854775807 "$MNT/f"
	assert_output --partial "File too large"
	run -1 truncate -s 9223372036854775808 "$MNT/f"
	run -1 truncate -s 99999999999999999999999 "$MNT/f"
	assert_equal "$(fingerprint "$MNT/f")" "$before"
	assert_equal "$(stat_key alloc_failures)" $((failures + 1))
	assert_daemon_ok
}

@test "sizes: truncate/ftruncate/fallocate/pwrite at the 2^63 edge: EFBIG or EINVAL, never a crash or a partial change" {
	make_data_file "$MNT/f" 5000
	# each case in one process; the file's fingerprint is compared after each
	run py '
import ctypes, errno, hashlib, os, sys
p = sys.argv[1]
OVER = int(sys.argv[2]) + (1 << 20)     # beyond the whole pool
MAX = 2**63 - 1
PAGE = os.sysconf("SC_PAGE_SIZE")
libc = ctypes.CDLL("libc.so.6", use_errno=True)
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
def fp():
    st = os.stat(p)
    x = {}
    for n in ("user.cma.size", "user.cma.phys_addr", "user.cma.cache", "user.cma.align"):
        try:
            x[n] = os.getxattr(p, n)
        except OSError as e:
            x[n] = e.errno
    return (st.st_size, st.st_blocks, sorted(x.items()), hashlib.md5(open(p, "rb").read()).hexdigest())
def fallocate(off, ln):
    fd = os.open(p, os.O_RDWR)
    try:
        if libc.fallocate(fd, 0, off, ln):
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e))
    finally:
        os.close(fd)
def ftruncate(n):
    fd = os.open(p, os.O_RDWR)
    try:
        os.ftruncate(fd, n)
    finally:
        os.close(fd)
def pwrite(off, data):
    fd = os.open(p, os.O_WRONLY)
    try:
        os.pwrite(fd, data, off)
    finally:
        os.close(fd)
cases = [
    ("truncate MAX", lambda: os.truncate(p, MAX), "EFBIG"),
    ("ftruncate MAX", lambda: ftruncate(MAX), "EFBIG"),
    ("truncate MAX-PAGE+1", lambda: os.truncate(p, MAX - PAGE + 1), "EFBIG"),
    ("ftruncate MAX-1", lambda: ftruncate(MAX - 1), "EFBIG"),
    ("truncate pool+1M", lambda: os.truncate(p, OVER), "EFBIG"),
    ("truncate 1T", lambda: os.truncate(p, 1 << 40), "EFBIG"),
    ("truncate -1", lambda: os.truncate(p, -1), "EINVAL"),
    ("ftruncate -1", lambda: ftruncate(-1), "EINVAL"),
    ("ftruncate -2^63", lambda: ftruncate(-2**63), "EINVAL"),
    ("fallocate 0 MAX", lambda: fallocate(0, MAX), "EFBIG"),
    ("fallocate MAX-1 1", lambda: fallocate(MAX - 1, 1), "EFBIG"),
    ("fallocate MAX 1", lambda: fallocate(MAX, 1), "EFBIG"),
    ("fallocate 2^62 2^62", lambda: fallocate(2**62, 2**62), "EFBIG"),
    ("fallocate 0 pool+1M", lambda: fallocate(0, OVER), "EFBIG"),
    ("fallocate -1 10", lambda: fallocate(-1, 10), "EINVAL"),
    ("fallocate 0 -10", lambda: fallocate(0, -10), "EINVAL"),
    ("fallocate 0 0", lambda: fallocate(0, 0), "EINVAL"),
    # offset + count past 2^63-1: refused by the kernel (rw_verify_area)
    ("pwrite MAX", lambda: pwrite(MAX, b"x"), "EINVAL"),
    ("pwrite -1", lambda: pwrite(-1, b"x"), "EINVAL"),
]
before = fp()
bad = 0
for name, fn, want in cases:
    try:
        fn()
        got = "OK"
    except OSError as e:
        got = errno.errorcode[e.errno]
    except OverflowError:
        got = "OverflowError"
    if got != want:
        print("%s: %s, expected %s" % (name, got, want)); bad += 1
    if fp() != before:
        print("%s: the file changed: %s -> %s" % (name, before, fp())); bad += 1
        before = fp()
fd = os.open(p, os.O_RDONLY)
print("reads past the end:", len(os.pread(fd, 10, 2**62)), len(os.pread(fd, 1, MAX - 1)))
sys.exit(1 if bad else 0)
' "$MNT/f" "$(stat_key pool_bytes)"
	echo "$output"
	assert_success
	assert_output "reads past the end: 0 0"
	assert_daemon_ok
}

@test "sizes: pwrite() far beyond the pool is EFBIG and leaves the file unchanged" {
	require_refusable_writes
	make_data_file "$MNT/f" 5000
	local before
	before=$(fingerprint "$MNT/f")
	run -1 op pwrite "$MNT/f" 1G x
	assert_output EFBIG
	run -1 op pwrite "$MNT/f" $((2 ** 62)) x
	assert_output EFBIG
	# the last page below 2^63: the daemon's own end-of-range arithmetic
	run -1 op pwrite "$MNT/f" $((2 ** 63 - 4096)) xy
	assert_output EFBIG
	run -1 op pwrite "$MNT/f" $((2 ** 63 - 3)) xy
	assert_output EFBIG
	assert_equal "$(fingerprint "$MNT/f")" "$before"
	assert_daemon_ok
}

@test "sizes: with passthrough, a pwrite() far past the pool is refused by the daemon too; a second open reads only the file's bytes" {
	require_passthrough on
	make_data_file "$MNT/f" 5000
	local md5 failures
	md5=$(md5_of "$MNT/f" 0 5000)
	failures=$(stat_key alloc_failures)
	# sim: writable opens are served by the daemon (mmap stays direct), so
	# the growth is asked for and refused before any byte moves.  kmod
	# without quota: the helper refuses it itself (cmafs(8), BUGS).
	run -1 op pwrite "$MNT/f" $((2 ** 40)) x
	assert_output EFBIG
	assert_equal "$(stat -c %s "$MNT/f")" 5000
	[[ $CMAFS_BACKEND != sim ]] || assert_equal "$(stat_key alloc_failures)" $((failures + 1))
	# A read-only open (passed through) and a read-write one (served by
	# the daemon) see exactly the 5000 bytes.
	assert_equal "$(md5_of "$MNT/f")" "$md5"
	run -0 python3 -c 'import os,sys; fd=os.open(sys.argv[1], os.O_RDWR); d=os.pread(fd, 1 << 20, 0); print(len(d))' "$MNT/f"
	assert_output 5000
	assert_daemon_ok
}

@test "sim: sizes: exactly the pool succeeds; the pool + 1 byte is EFBIG; lseek SEEK_END/SEEK_DATA/SEEK_HOLE stay sane" {
	# (kmod: the CMA area is shared with the kernel, never all free.)
	require_backend sim
	touch "$MNT/f"
	run -0 op truncate "$MNT/f" 64M
	assert_equal "$(stat_key free_bytes)" 0
	run -1 op truncate "$MNT/f" $((64 * 1024 * 1024 + 1))
	assert_output EFBIG
	assert_equal "$(stat -c %s "$MNT/f")" $((64 * 1024 * 1024))
	run -0 py '
import os, sys
f = os.open(sys.argv[1], os.O_RDONLY)
print(os.lseek(f, 0, os.SEEK_END))
for whence, off in ((os.SEEK_DATA, 0), (os.SEEK_HOLE, 0), (os.SEEK_DATA, 2**62), (os.SEEK_SET, 2**63 - 1)):
    try:
        print(os.lseek(f, off, whence))
    except OSError as e:
        print(__import__("errno").errorcode[e.errno])
' "$MNT/f"
	assert_line --index 0 67108864
	assert_line --index 3 ENXIO
	assert_line --index 4 9223372036854775807
	run -0 op truncate "$MNT/f" 0
	assert_equal "$(stat_key used_bytes)" 0
	assert_daemon_ok
}

# ------------------------------------------------------------------ .stats

@test ".stats: writes, truncates (any size), fallocate and mapping for write are refused; content unchanged" {
	local before
	# (What the rest of the system does to CMA meanwhile is not compared.)
	local volatile='^(allocs|frees|resizes|alloc_failures|free_bytes|largest_free_bytes|cma_free_bytes):'
	[[ $CMAFS_BACKEND == kmod ]] || volatile='^(allocs|frees|resizes|alloc_failures):'
	before=$(stats | grep -vE "$volatile")
	run -1 op open "$MNT/.stats" w
	assert_output EACCES
	run -1 op open "$MNT/.stats" rw
	assert_output EACCES
	run -1 op open "$MNT/.stats" w,trunc
	assert_output EACCES
	run -1 op open "$MNT/.stats" w,creat
	assert_output EACCES
	run -1 op pwrite "$MNT/.stats" 0 x
	assert_output EACCES
	run -1 op ftruncate "$MNT/.stats" 0
	assert_output EACCES
	local s
	for s in 0 1 4096 9223372036854775807; do
		run -1 op truncate "$MNT/.stats" "$s"
		assert_output EPERM
	done
	run -1 op truncate "$MNT/.stats" -1
	assert_output EINVAL
	run -1 bash -c "echo garbage > '$MNT/.stats'"
	run -1 bash -c "echo garbage >> '$MNT/.stats'"
	run -1 dd if=/dev/zero of="$MNT/.stats" bs=1 count=1 conv=notrunc status=none
	# a read-only descriptor cannot be used to write, resize or map shared-writable
	run -0 py '
import errno, mmap, os, sys
f = os.open(sys.argv[1], os.O_RDONLY)
out = []
for what, fn in (("write", lambda: os.write(f, b"x")),
                 ("ftruncate", lambda: os.ftruncate(f, 0)),
                 ("fallocate", lambda: os.posix_fallocate(f, 0, 4096)),
                 ("mmap", lambda: mmap.mmap(f, 4096, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE))):
    try:
        fn()
        out.append(what + "=OK")
    except OSError as e:
        out.append(what + "=" + errno.errorcode[e.errno])
    except ValueError as e:
        out.append(what + "=ValueError")
print(" ".join(out))
' "$MNT/.stats"
	refute_output --partial "=OK"
	for x in user.cma.size user.cma.cache user.foo; do
		run -1 op setxattr "$MNT/.stats" "$x" 4096
		assert_output EPERM
	done
	run -1 op setxattr_len "$MNT/.stats" user.big 70000
	assert_output --regexp '^(EPERM|E2BIG)$'
	assert_equal "$(stats | grep -vE "$volatile")" "$before"
	[[ $(stat -c %a "$MNT/.stats") == 444 ]]
	assert_daemon_ok
}

@test ".stats: reads at odd offsets and sizes, past the end and of 1 byte, are consistent" {
	run -0 py '
import os, sys
p = sys.argv[1]
f = os.open(p, os.O_RDONLY)
whole = os.pread(f, 1 << 20, 0)
# byte by byte on one descriptor equals the whole snapshot
g = os.open(p, os.O_RDONLY)
parts = b"".join(os.pread(g, 1, i) for i in range(len(whole)))
assert parts == whole, (parts, whole)
assert os.pread(f, 100, len(whole)) == b""
assert os.pread(f, 100, 2**62) == b""
assert os.pread(f, 0, 0) == b""
print("ok", len(whole) > 0)
' "$MNT/.stats"
	assert_output "ok True"
	assert_daemon_ok
}

# ------------------------------------------------------------------ xattrs

@test "user.* xattrs: 64 KiB in total per file (names + values); over is ENOSPC, over 64 KiB per value E2BIG; old value kept" {
	touch "$MNT/f"
	# name "user.a" (6 bytes) + 65530 bytes = exactly the limit
	run -0 op setxattr_len "$MNT/f" user.a 65530
	run -0 op getxattr "$MNT/f" user.a 0
	assert_output 65530
	run -1 op setxattr_len "$MNT/f" user.b 1
	assert_output ENOSPC
	run -1 op setxattr_len "$MNT/f" user.a 65531
	assert_output ENOSPC
	run -0 op getxattr "$MNT/f" user.a 0
	assert_output 65530
	# the kernel's own limit: a value over 65536 bytes never reaches us
	run -1 op setxattr_len "$MNT/f" user.c 65537
	assert_output E2BIG
	run -1 op setxattr_len "$MNT/f" user.c $((1 << 20))
	assert_output E2BIG
	# a value of exactly 64 KiB alone is over the limit with its name
	run -0 op removexattr "$MNT/f" user.a
	run -1 op setxattr_len "$MNT/f" user.a 65536
	assert_output ENOSPC
	run -1 op getxattr "$MNT/f" user.a
	assert_output ENODATA
	# small buffers: ERANGE for values and for the list
	run -0 op setxattr_len "$MNT/f" user.a 1000
	run -1 op getxattr "$MNT/f" user.a 999
	assert_output ERANGE
	run -1 op listxattr "$MNT/f" 5
	assert_output ERANGE
	run -0 getfattr -d -m - "$MNT/f"
	assert_daemon_ok
}

@test "user.* xattrs: 2000 small attributes until ENOSPC, listed exactly, then all removed" {
	touch "$MNT/f"
	run -0 py '
import errno, os, sys
p = sys.argv[1]
n = 0
try:
    for i in range(100000):
        os.setxattr(p, "user.k%05d" % i, b"v" * 20)
        n += 1
except OSError as e:
    assert e.errno == errno.ENOSPC, e
names = [x for x in os.listxattr(p) if not x.startswith("user.cma.")]
assert len(names) == n, (len(names), n)
assert names == ["user.k%05d" % i for i in range(n)] or sorted(names) == ["user.k%05d" % i for i in range(n)]
# total within 64 KiB, and the next one would not fit
assert n * (len("user.k00000") + 20) <= 65536 < (n + 1) * (len("user.k00000") + 20), n
for x in names:
    os.removexattr(p, x)
print(n, [x for x in os.listxattr(p) if not x.startswith("user.cma.")])
' "$MNT/f"
	assert_output "2114 []"
	assert_daemon_ok
}

@test "xattr names: 255 bytes work, 256 bytes are ERANGE; empty, prefix-only and other namespaces are refused" {
	touch "$MNT/f"
	local n255
	n255=user.$(printf 'x%.0s' {1..250})
	run -0 op setxattr "$MNT/f" "$n255" v
	run -0 op getxattr "$MNT/f" "$n255"
	assert_output v
	run -1 op setxattr "$MNT/f" "${n255}x" v
	assert_output ERANGE
	run -1 op setxattr "$MNT/f" "" v
	assert_output ERANGE
	run -1 op setxattr "$MNT/f" "user." v
	assert_output EINVAL
	run -1 op setxattr "$MNT/f" "nonamespace" v
	assert_output EOPNOTSUPP
	run -1 op setxattr "$MNT/f" "trusted.x" v
	assert_output EOPNOTSUPP
	run -1 op setxattr "$MNT/f" "security.x" v
	assert_output EOPNOTSUPP
	run -1 op setxattr "$MNT/f" "user.cma." v
	assert_output EINVAL
	run -1 op setxattr "$MNT/f" "user.cma.phys_addr.x" v
	assert_output EINVAL
	assert_daemon_ok
}

# setxattr_expect FILE NAME WANT LITERAL...: setxattr(2) FILE NAME to each
# value (a Python bytes literal, so NULs and any byte are possible) in one
# process; every outcome must be WANT (OK or an errno name).  Prints the
# mismatches and fails if there are any.
setxattr_expect() {
	python3 -c '
import errno, os, sys
path, name, want = sys.argv[1:4]
bad = 0
for lit in sys.argv[4:]:
    try:
        os.setxattr(path, name, eval(lit))
        got = "OK"
    except OSError as e:
        got = errno.errorcode[e.errno]
    if got != want:
        print("%s=%s: %s, expected %s" % (name, lit, got, want))
        bad += 1
sys.exit(1 if bad else 0)
' "$@"
}

# Malformed values for user.cma.cache, .align, .sync: Python bytes literals.
BAD_COMMON=(
	'b""' 'b" "' 'b"\n"' 'b"\0"' 'b"garbage"' 'b"\xff\xfe"' 'b"-1"' 'b"+4096"'
	'b"-4096"' 'b"1e3"' 'b"0x"' 'b"4 096"' 'b"4096\0"' 'b"\x004096"'
	'b"99999999999999999999999999"' 'b"18446744073709551616"'
	'b"0x10000000000000000"' 'b"x" * 65000' 'b"%s%n%s%n"' 'b"\t\r\v\f"'
)

@test "user.cma.cache: garbage, NULs, numbers, whitespace-only and huge values are EINVAL; the mode is unchanged" {
	make_data_file "$MNT/f" 5000
	local before
	before=$(fingerprint "$MNT/f")
	run -0 setxattr_expect "$MNT/f" user.cma.cache EINVAL "${BAD_COMMON[@]}" \
		'b"cached\0"' 'b"cached\0uncached"' 'b"Cached"' 'b"CACHED"' 'b"cache"' 'b"cachedd"' \
		'b"cached cached"' 'b"write combine"' 'b"wc"' 'b"0"' 'b"1"' 'b"uncached\n\0"' 'b"\0cached"'
	assert_equal "$(fingerprint "$MNT/f")" "$before"
	# whitespace around a good value is fine (echo adds a newline)
	run -0 setxattr_expect "$MNT/f" user.cma.cache OK 'b"  uncached \n"'
	assert_daemon_ok
}

@test "user.cma.align: garbage, negative, huge, not a power of two or below a page: EINVAL; the alignment is unchanged" {
	make_data_file "$MNT/f" 5000
	local before
	before=$(fingerprint "$MNT/f")
	run -0 setxattr_expect "$MNT/f" user.cma.align EINVAL "${BAD_COMMON[@]}" \
		'b"0"' 'b"1"' 'b"2048"' "b\"$((PAGE - 1))\"" "b\"$((PAGE + 1))\"" 'b"12288"' \
		'b"0xffffffffffffffff"' 'b"18446744073709551615"' 'b"3M"' 'b"16E"' 'b"4KB"' 'b"4K\0"' \
		'b"4096 4096"' 'b"0x1000\n\0"' 'b"4096.0"' 'b"1<<12"'
	assert_equal "$(fingerprint "$MNT/f")" "$before"
	run -0 setxattr_expect "$MNT/f" user.cma.align OK 'b"\t0x2000 \n"'
	assert_equal "$(xattr "$MNT/f" user.cma.align)" 8192
	assert_daemon_ok
}

@test "user.cma.align: an alignment the pool cannot honour (128M, 1G, 2^63) is refused, or the address honours it" {
	local a align phys
	for a in 128M 1G 0x8000000000000000; do
		rm -f "$MNT/f"
		touch "$MNT/f"
		op setxattr "$MNT/f" user.cma.align "$a" >/dev/null || continue
		align=$(xattr "$MNT/f" user.cma.align)
		op truncate "$MNT/f" "$PAGE" >/dev/null || continue
		phys=$(xattr "$MNT/f" user.cma.phys_addr)
		python3 -c 'import sys; sys.exit(int(sys.argv[1], 0) % int(sys.argv[2]) != 0)' "$phys" "$align" ||
			fail "align=$a ($align): the buffer was placed at $phys, which is not $align-aligned"
	done
	assert_daemon_ok
}

@test "user.cma.sync: malformed directions and ranges are EINVAL, a range beyond the buffer EINVAL, no buffer ENODATA" {
	touch "$MNT/empty"
	run -1 op setxattr "$MNT/empty" user.cma.sync device
	assert_output ENODATA
	make_data_file "$MNT/f" $((2 * PAGE))
	local before
	before=$(fingerprint "$MNT/f")
	run -0 setxattr_expect "$MNT/f" user.cma.sync EINVAL "${BAD_COMMON[@]}" \
		'b"Device"' 'b"devicecpu"' 'b"device\0"' 'b"device\0 0 1"' 'b"device 0"' \
		'b"device 0 1 2"' 'b"device -1 1"' 'b"device 0 -1"' 'b"cpu x y"' 'b"cpu 0x 1"' \
		'b"device 18446744073709551615 1"' 'b"device 1 18446744073709551615"' \
		'b"device 18446744073709551616 0"' 'b"device 99999999999999999999 1"' \
		"b\"device 0 $((2 * PAGE + 1))\"" "b\"device $((2 * PAGE)) 1\"" \
		"b\"cpu $((PAGE + 1)) $PAGE\"" 'b"cpu 1T 1"' 'b"device,0,1"'
	# good ones, including the edges of the buffer
	run -0 setxattr_expect "$MNT/f" user.cma.sync OK 'b"device"' 'b"cpu\n"' \
		"b\"device 0 $((2 * PAGE))\"" "b\"cpu $((2 * PAGE)) 0\"" \
		'b"  device\t0x0\t4K \n"' 'b"cpu 0 0"'
	assert_equal "$(fingerprint "$MNT/f")" "$before"
	assert_daemon_ok
}

@test "read-only and unknown user.cma.* attributes: EPERM/EINVAL for any value, ENODATA on get; removal EPERM" {
	make_data_file "$MNT/f" 5000
	local before x
	before=$(fingerprint "$MNT/f")
	for x in phys_addr dma_addr size mmap; do
		run -0 setxattr_expect "$MNT/f" "user.cma.$x" EPERM 'b"0x0"' 'b""' 'b"\0"' 'b"x" * 60000'
		run -1 op removexattr "$MNT/f" "user.cma.$x"
		assert_output EPERM
	done
	for x in user.cma.foo user.cma.PHYS_ADDR user.cma.phys_addr_ user.cma.sizes; do
		run -0 setxattr_expect "$MNT/f" "$x" EINVAL 'b"1"'
		run -1 op getxattr "$MNT/f" "$x"
		assert_output ENODATA
	done
	assert_equal "$(fingerprint "$MNT/f")" "$before"
	assert_daemon_ok
}

# ------------------------------------------------------------------ mount options

# try_mount OPTS...: run the daemon in the foreground on a fresh mount point
# (<= 10 s); sets status, err (stderr), MP.  Nothing may stay mounted.
try_mount() {
	cmafs_tmp
	MP=$(mktemp -d "$CMAFS_TMP/bad.XXXXXX")
	local errf=$MP.err
	status=0
	timeout -k 2 10 "$CMAFS_BIN" "$@" "$MP" 2>"$errf" >/dev/null 3>&- || status=$?
	err=$(cat "$errf")
	if mountpoint -q "$MP"; then
		fusermount3 -u "$MP" 2>/dev/null || umount -l "$MP"
		fail "cmafs $* left $MP mounted"
	fi
	grep -qF " $MP " /proc/mounts && fail "cmafs $* left $MP in /proc/mounts"
	return 0
}

# assert_refused OPTION-NAME: the last try_mount exited non-zero (not by the
# timeout), printed exactly one line, and that line names the option.
assert_refused() {
	((status != 0)) || fail "exit status 0 for a bad option ($1)"
	((status != 124 && status != 137)) || fail "the daemon did not exit within 10 s ($1)"
	local nlines
	nlines=$(grep -c . <<<"$err")
	((nlines == 1)) || fail "expected one line on stderr, got $nlines: $err"
	[[ $err == *"$1"* ]] || fail "the message does not name '$1': $err"
}

@test "bad mount option values: each exits non-zero before mounting, with one line naming the option" {
	local -a optcases=(
		'pool=12Q pool=' 'pool= pool=' 'pool=-1 pool=' 'pool=0 pool=' 'pool=4095 pool='
		'pool=1P pool=' 'pool=4K4 pool=' 'pool=0x pool=' 'pool=18446744073709551616 pool='
		'pool=18446744073709551615 pool=' 'pool=1.5G pool='
		'phys_base=zz phys_base=' 'phys_base=0x123 phys_base=' 'phys_base=-4096 phys_base='
		'phys_base=0xffffffffffffffff phys_base=' 'phys_base=0xfffffffffffff000 phys_base='
		'cache=bogus cache=' 'cache= cache=' 'cache=CACHED cache=' 'cache=cached,cache=nope cache='
		'align=4097 align=' 'align=0 align=' 'align=2048 align=' 'align=-4096 align=' 'align=3M align='
		'align=4K4 align=' 'backend=foo backend=' 'backend= backend=' 'backend=SIM backend='
		'passthrough=maybe passthrough=' 'passthrough= passthrough=' 'passthrough=1 passthrough='
		'quota=12Q quota=' 'quota=-1 quota=' 'quota= quota=' 'quota=1.5G quota='
	)
	local c opt name
	for c in "${optcases[@]}"; do
		opt=${c% *} name=${c##* }
		[[ $opt == backend=* ]] || opt="backend=sim,$opt"
		try_mount -f -o "$opt"
		assert_refused "$name"
	done
	# daemonising (no -f) refuses the same way, before forking
	try_mount -o backend=sim,pool=12Q
	assert_refused pool=
	assert_daemon_ok
}

@test "bad mount options: unknown options, a value with a newline, a missing mount point" {
	try_mount -f -o backend=sim,bogus_option
	assert_refused bogus_option
	try_mount -f -o backend=sim,pool
	assert_refused pool
	try_mount -f -o backend=sim,pool=16M -o
	((status != 0)) || fail "-o without an argument: status 0"
	run timeout 10 "$CMAFS_BIN" -f -o backend=sim "$BATS_TEST_TMPDIR/does-not-exist"
	assert_failure
	assert_equal "$(grep -c . <<<"$output")" 1
	assert_output --partial does-not-exist
	assert_daemon_ok
}

@test "bad mount options: a value with a newline or control characters still gives one line" {
	try_mount -f -o 'backend=sim,pool=1
G'
	assert_refused pool=
	try_mount -f -o $'backend=sim,cache=\r\x1b[2Jcached'
	assert_refused cache=
}
