#!/usr/bin/env bats
# SPEC section 3 (files): sizes and page rounding, zero fill, placement,
# growth/shrink keeping data, write growth and trimming, fallocate, ftruncate.

load helpers/common

setup_file() {
	export CMAFS_POOL=64M CMAFS_PHYS_BASE=0x40000000
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

@test "a new file has size 0, no blocks and no buffer" {
	local before
	before=$(stat_key buffers)
	touch "$MNT/empty"
	run -0 stat -c '%s %b' "$MNT/empty"
	assert_output "0 0"
	run -1 op getxattr "$MNT/empty" user.cma.phys_addr
	assert_output ENODATA
	run -1 op getxattr "$MNT/empty" user.cma.size
	assert_output ENODATA
	[[ $(stat_key buffers) == "$before" ]]
}

@test "truncate to N allocates N rounded up to the page size; st_size is N" {
	local n want
	for n in 1 $((PAGE - 1)) $PAGE $((PAGE + 1)) $((3 * PAGE - 1)) $((1024 * 1024 + 1)) 5000000; do
		truncate -s "$n" "$MNT/f$n"
		want=$(page_round "$n")
		run -0 stat -c '%s %b %o' "$MNT/f$n"
		assert_output "$n $((want / 512)) $PAGE"
		run -0 xattr "$MNT/f$n" user.cma.size
		assert_output "$want"
	done
}

@test "used_bytes grows by the page-rounded size of each allocation" {
	local u0 u1
	u0=$(stat_key used_bytes)
	truncate -s $((2 * PAGE + 1)) "$MNT/a"
	u1=$(stat_key used_bytes)
	assert_equal "$((u1 - u0))" "$((3 * PAGE))"
}

@test "truncate allocates zero-filled memory" {
	truncate -s 3M "$MNT/z"
	run -0 cmp -n $((3 * 1024 * 1024)) "$MNT/z" /dev/zero
	run -0 stat -c %s "$MNT/z"
	assert_output 3145728
}

@test "memory of a freed buffer comes back zero-filled (no stale data)" {
	# Fill the whole free space with 0xff data, free it, then allocate again:
	# whatever lands where the old data was must read as zeros.
	local free
	free=$(stat_key largest_free_bytes)
	((free >= 4 * 1024 * 1024)) || skip "pool too small"
	truncate -s 4M "$MNT/dirty"
	tr '\0' '\377' </dev/zero | head -c 4M | dd of="$MNT/dirty" conv=notrunc bs=1M status=none
	run -0 xattr "$MNT/dirty" user.cma.phys_addr
	local old=$output
	rm "$MNT/dirty"
	truncate -s 4M "$MNT/clean"
	run -0 cmp -n 4194304 "$MNT/clean" /dev/zero
	if [[ $CMAFS_BACKEND == sim ]]; then
		# first fit: the same place again, so this really re-used the memory
		run -0 xattr "$MNT/clean" user.cma.phys_addr
		assert_output "$old"
	fi
}

@test "phys_addr is 0x-hex, inside the pool, page-aligned by default" {
	truncate -s 10000 "$MNT/p"
	run -0 xattr "$MNT/p" user.cma.phys_addr
	assert_output --regexp '^0x[0-9a-f]+$'
	local a=$output
	assert_phys_in_pool "$a" "$(page_round 10000)"
	(($(hex2dec "$a") % PAGE == 0)) || fail "phys_addr $a not page-aligned"
}

@test "sim: the first buffer of a fresh pool starts at phys_base" {
	require_backend sim
	CMAFS_POOL=8M CMAFS_PHYS_BASE=0x23400000 cmafs_mount
	truncate -s 1 "$MNT/first"
	run -0 xattr "$MNT/first" user.cma.phys_addr
	assert_output 0x23400000
	truncate -s 1 "$MNT/second"
	run -0 xattr "$MNT/second" user.cma.phys_addr
	assert_output "$(printf '0x%x' $((0x23400000 + PAGE)))"
}

@test "user.cma.align=2M places the next allocation on a 2 MiB boundary" {
	truncate -s 1 "$MNT/spacer" # so that the pool start is taken
	touch "$MNT/aligned"
	setfattr -n user.cma.align -v 2M "$MNT/aligned"
	truncate -s 1M "$MNT/aligned"
	run -0 xattr "$MNT/aligned" user.cma.phys_addr
	local a=$output
	(($(hex2dec "$a") % (2 * 1024 * 1024) == 0)) || fail "phys_addr $a not 2 MiB aligned"
	assert_phys_in_pool "$a" 1048576
	run -0 xattr "$MNT/aligned" user.cma.size
	assert_output 1048576
}

@test "mount option align=64K sets the alignment of new files" {
	local al=$((64 * 1024))
	((al > PAGE)) || skip "page size $PAGE >= 64K"
	CMAFS_POOL=8M cmafs_mount align=64K
	local n a # (not i: bats' run clobbers a caller's i)
	for n in 1 2 3; do
		truncate -s 1 "$MNT/f$n"
		run -0 xattr "$MNT/f$n" user.cma.align
		assert_output "$al"
		a=$(xattr "$MNT/f$n" user.cma.phys_addr)
		(($(hex2dec "$a") % al == 0)) || fail "f$n at $a, not 64K-aligned"
	done
	# three 1-page files at 64K steps, so they are distinct
	[[ $(xattr "$MNT/f1" user.cma.phys_addr) != $(xattr "$MNT/f2" user.cma.phys_addr) ]]
}

@test "growing keeps the contents and zero-fills the new part" {
	head -c 1M /dev/urandom >"$BATS_TEST_TMPDIR/data"
	cp "$BATS_TEST_TMPDIR/data" "$MNT/g"
	truncate -s 9M "$MNT/g"
	run -0 stat -c %s "$MNT/g"
	assert_output 9437184
	run -0 cmp -n 1048576 "$MNT/g" "$BATS_TEST_TMPDIR/data"
	assert_zero_range "$MNT/g" 1048576 $((8 * 1048576))
	run -0 xattr "$MNT/g" user.cma.size
	assert_output 9437184
}

@test "shrinking keeps the contents up to the new size; regrowing shows zeros, not old data" {
	head -c 2M /dev/urandom >"$BATS_TEST_TMPDIR/data"
	cp "$BATS_TEST_TMPDIR/data" "$MNT/s"
	truncate -s 100000 "$MNT/s"
	run -0 stat -c %s "$MNT/s"
	assert_output 100000
	run -0 xattr "$MNT/s" user.cma.size
	assert_output "$(page_round 100000)"
	run -0 cmp "$MNT/s" <(head -c 100000 "$BATS_TEST_TMPDIR/data")
	truncate -s 2M "$MNT/s"
	run -0 cmp -n 100000 "$MNT/s" "$BATS_TEST_TMPDIR/data"
	assert_zero_range "$MNT/s" 100000 $((2097152 - 100000))
}

@test "sim: a grow that cannot stay in place moves the buffer and keeps the data" {
	require_backend sim
	CMAFS_POOL=8M cmafs_mount
	head -c 1M /dev/urandom >"$BATS_TEST_TMPDIR/data"
	cp "$BATS_TEST_TMPDIR/data" "$MNT/mover"
	truncate -s 1 "$MNT/blocker" # right behind mover
	local a0 a1 r0
	a0=$(xattr "$MNT/mover" user.cma.phys_addr)
	r0=$(stat_key resizes)
	truncate -s 3M "$MNT/mover"
	a1=$(xattr "$MNT/mover" user.cma.phys_addr)
	[[ $a0 != "$a1" ]] || fail "buffer did not move ($a0) although the next page is taken"
	assert_phys_in_pool "$a1" 3145728
	run -0 cmp -n 1048576 "$MNT/mover" "$BATS_TEST_TMPDIR/data"
	assert_zero_range "$MNT/mover" 1048576 2097152
	assert_equal "$(stat_key resizes)" "$((r0 + 1))"
	assert_equal "$(stat_key used_bytes)" "$((3 * 1048576 + PAGE))"
}

@test "an open descriptor follows its file across resizes (grow, move, shrink)" {
	truncate -s 1 "$MNT/blk0"
	printf 'start-of-file' >"$MNT/fd"
	truncate -s 1 "$MNT/blk1" # makes the grow below move (sim)
	run -0 python3 - "$MNT/fd" <<'PY'
import os, subprocess, sys
p = sys.argv[1]
fd = os.open(p, os.O_RDWR)
subprocess.run(["truncate", "-s", "5M", p], check=True)
assert os.fstat(fd).st_size == 5 << 20, os.fstat(fd).st_size
assert os.pread(fd, 13, 0) == b"start-of-file"
os.pwrite(fd, b"tail", (5 << 20) - 4)
subprocess.run(["truncate", "-s", "8192", p], check=True)
os.pwrite(fd, b"mid", 5000)
os.close(fd)
with open(p, "rb") as f:
    d = f.read()
assert len(d) == 8192, len(d)
assert d[:13] == b"start-of-file" and d[5000:5003] == b"mid"
assert d[13:5000] == bytes(5000 - 13) and d[5003:] == bytes(8192 - 5003)
print("ok")
PY
	assert_output ok
}

@test "a mapping follows its file across a grow" {
	truncate -s 1 "$MNT/blk0"
	truncate -s 8K "$MNT/map"
	truncate -s 1 "$MNT/blk1"
	run -0 python3 - "$MNT/map" <<'PY'
import mmap, os, subprocess, sys
p = sys.argv[1]
fd = os.open(p, os.O_RDWR)
m = mmap.mmap(fd, 8192, mmap.MAP_SHARED)
m[0:5] = b"hello"
subprocess.run(["truncate", "-s", "4M", p], check=True)
assert m[0:5] == b"hello", m[0:5]
m[4096:4101] = b"world"
m.flush()
os.fsync(fd)
fd2 = os.open(p, os.O_RDONLY)
assert os.pread(fd2, 5, 0) == b"hello"
assert os.pread(fd2, 5, 4096) == b"world"
assert os.pread(fd2, 4096, 1 << 20) == bytes(4096)
print("ok")
PY
	assert_output ok
}

@test "resizing to 0 frees the buffer" {
	local b0 f0
	truncate -s 1M "$MNT/zero"
	b0=$(stat_key buffers) f0=$(stat_key frees)
	truncate -s 0 "$MNT/zero"
	run -0 stat -c '%s %b' "$MNT/zero"
	assert_output "0 0"
	run -1 op getxattr "$MNT/zero" user.cma.phys_addr
	assert_output ENODATA
	assert_equal "$(stat_key buffers)" "$((b0 - 1))"
	assert_equal "$(stat_key frees)" "$((f0 + 1))"
	# and sizing it again gives a fresh zeroed buffer
	truncate -s 5000 "$MNT/zero"
	run -0 cmp -n 5000 "$MNT/zero" /dev/zero
}

@test "open with O_TRUNC drops the contents and frees the buffer" {
	local b0
	printf 'some data' >"$MNT/otrunc"
	b0=$(stat_key buffers)
	: >"$MNT/otrunc"
	run -0 stat -c %s "$MNT/otrunc"
	assert_output 0
	run -1 op getxattr "$MNT/otrunc" user.cma.phys_addr
	assert_output ENODATA
	wait_stat buffers $((b0 - 1))
}

@test "write() past the end grows the file with a zero-filled gap" {
	run -0 op open "$MNT/gap" creat,w
	run -0 op pwrite "$MNT/gap" 10000 abc
	assert_output 3
	run -0 stat -c %s "$MNT/gap"
	assert_output 10003
	assert_zero_range "$MNT/gap" 0 10000
	run -0 dd if="$MNT/gap" bs=1 skip=10000 status=none
	assert_output abc
	wait_xattr "$MNT/gap" user.cma.size "$(page_round 10003)"
}

@test "appending 1,000,000 bytes in 1000-byte writes: data exact, few resizes, trimmed at close" {
	local r0 r1
	r0=$(stat_key resizes)
	run -0 python3 - "$MNT/append" <<'PY'
import os, sys
p = sys.argv[1]
data = bytes((i * 7 + i // 251) % 256 for i in range(1000000))
fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
for i in range(0, len(data), 1000):
    assert os.write(fd, data[i:i + 1000]) == 1000
st = os.fstat(fd).st_size
cap = int(os.getxattr(p, "user.cma.size"))
assert st == 1000000, st
assert cap >= st and cap % os.sysconf("SC_PAGE_SIZE") == 0, cap
os.close(fd)
with open(p, "rb") as f:
    assert f.read() == data
print("ok")
PY
	assert_output ok
	wait_xattr "$MNT/append" user.cma.size "$(page_round 1000000)"
	run -0 stat -c %s "$MNT/append"
	assert_output 1000000
	r1=$(stat_key resizes)
	# growing page by page would be ~245 resizes; geometric growth is ~10
	(((r1 - r0) <= 30)) || fail "$((r1 - r0)) resizes for 1000 appends: growth is not geometric"
}

@test "echo >> appends preserve earlier data" {
	local i
	for i in 1 2 3 4 5; do echo "line $i" >>"$MNT/log"; done
	run -0 cat "$MNT/log"
	assert_output "$(printf 'line %s\n' 1 2 3 4 5)"
	wait_xattr "$MNT/log" user.cma.size "$PAGE"
}

@test "fallocate -l 1M allocates 1 MiB, zero-filled" {
	touch "$MNT/fa"
	fallocate -l 1M "$MNT/fa"
	run -0 stat -c '%s %b' "$MNT/fa"
	assert_output "1048576 2048"
	run -0 xattr "$MNT/fa" user.cma.size
	assert_output 1048576
	run -0 cmp -n 1048576 "$MNT/fa" /dev/zero
}

@test "fallocate beyond the end grows keeping data; inside the file it changes nothing" {
	printf 'keep me' >"$MNT/fb"
	fallocate -o 1M -l 1M "$MNT/fb"
	run -0 stat -c %s "$MNT/fb"
	assert_output 2097152
	run -0 head -c 7 "$MNT/fb"
	assert_output 'keep me'
	assert_zero_range "$MNT/fb" 7 $((2097152 - 7))
	fallocate -l 4096 "$MNT/fb"
	run -0 stat -c %s "$MNT/fb"
	assert_output 2097152
	run -0 xattr "$MNT/fb" user.cma.size
	assert_output 2097152
}

@test "fallocate modes other than 0 (punch hole, zero range, keep size) fail with EOPNOTSUPP" {
	truncate -s 64K "$MNT/fc"
	local mode
	# 3 = KEEP_SIZE|PUNCH_HOLE, 0x10 = ZERO_RANGE, 1 = KEEP_SIZE
	for mode in 3 0x10 1; do
		run -1 op fallocate "$MNT/fc" 0 4096 $mode
		assert_output EOPNOTSUPP
	done
	run -0 stat -c %s "$MNT/fc"
	assert_output 65536
}

@test "ftruncate on an open descriptor resizes, keeps data, frees at 0" {
	run -0 python3 - "$MNT/ft" <<'PY'
import os, sys
p = sys.argv[1]
fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
os.write(fd, b"0123456789")
os.ftruncate(fd, 2 << 20)
assert os.fstat(fd).st_size == 2 << 20
assert int(os.getxattr(p, "user.cma.size")) == 2 << 20
assert os.pread(fd, 10, 0) == b"0123456789"
assert os.pread(fd, 4096, (2 << 20) - 4096) == bytes(4096)
os.ftruncate(fd, 4)
assert os.pread(fd, 100, 0) == b"0123"
os.ftruncate(fd, 0)
try:
    os.getxattr(p, "user.cma.phys_addr")
    raise SystemExit("phys_addr still present after ftruncate 0")
except OSError as e:
    assert e.errno == 61, e  # ENODATA
os.ftruncate(fd, 4096)
assert os.pread(fd, 4096, 0) == bytes(4096)
os.close(fd)
print("ok")
PY
	assert_output ok
}

@test "ioctl CMAFS_IOC_INFO agrees with the xattrs" {
	build_tools
	require_tools
	truncate -s 12345 "$MNT/io"
	run -0 "$IOCTL_TOOL" info "$MNT/io"
	local phys size al
	phys=$(xattr "$MNT/io" user.cma.phys_addr)
	size=$(xattr "$MNT/io" user.cma.size)
	al=$(xattr "$MNT/io" user.cma.align)
	assert_output --regexp "^phys=$phys dma=0x[0-9a-f]+ size=$size align=$al cache=0 mmap=[01]\$"
	touch "$MNT/io0"
	run -1 "$IOCTL_TOOL" info "$MNT/io0"
	assert_output ENODATA
}

@test "unmounting with live buffers frees them: the daemon exits" {
	CMAFS_POOL=8M cmafs_mount
	truncate -s 1M "$MNT/live1"
	echo data >"$MNT/live2"
	assert_equal "$(stat_key buffers)" 2
	local pid=$CMAFS_PID
	cmafs_umount
	! _cmafs_alive "$pid"
	refute [ -e "$MNT/live1" ]
}
