#!/usr/bin/env bats
# SPEC section 3 (and 4 where it meets it): data round trips of a 64 MiB file
# through cp, dd and cat; mmap visibility across processes; fsync publishing
# stores made through a mapping; unlink while open keeps the data until the
# last close/munmap and .stats counts the orphan.

load helpers/common

setup_file() {
	# 64 MiB round trips need room for a geometric grow (old + new run)
	export CMAFS_POOL=128M
	head -c 64M /dev/urandom >"$BATS_FILE_TMPDIR/src64"
	build_tools
	cmafs_setup_file
}
teardown_file() { cmafs_teardown_file; }

setup() {
	require_daemon
	PAGE=$(page_size)
	SRC=$BATS_FILE_TMPDIR/src64
}

teardown() {
	local rc=0
	cmafs_clean_root
	# let asynchronous releases land so the next test starts from an empty
	# pool; a buffer that never comes back is a leak and fails this test
	if [[ -n ${MNT:-} ]] && mountpoint -q "$MNT"; then
		wait_stat buffers 0 || rc=1
	fi
	cmafs_teardown || rc=1
	return $rc
}

@test "cp of a 64 MiB file in and out round-trips byte-exact" {
	cp "$SRC" "$MNT/big"
	run -0 stat -c %s "$MNT/big"
	assert_output 67108864
	run -0 cmp "$SRC" "$MNT/big"
	cp "$MNT/big" "$BATS_TEST_TMPDIR/out"
	run -0 cmp "$SRC" "$BATS_TEST_TMPDIR/out"
	wait_xattr "$MNT/big" user.cma.size 67108864
	assert_equal "$(stat_key used_bytes)" 67108864
}

@test "dd of a 64 MiB file (1 MiB and odd 65537-byte blocks) round-trips byte-exact" {
	dd if="$SRC" of="$MNT/dd1" bs=1M status=none
	run -0 cmp "$SRC" "$MNT/dd1"
	run -0 bash -c "dd if='$MNT/dd1' bs=65537 status=none | cmp - '$SRC'"
	wait_xattr "$MNT/dd1" user.cma.size 67108864
	rm "$MNT/dd1"
	wait_stat used_bytes 0
	dd if="$SRC" of="$MNT/dd2" bs=65537 status=none
	run -0 cmp "$SRC" "$MNT/dd2"
	run -0 stat -c %s "$MNT/dd2"
	assert_output 67108864
	wait_xattr "$MNT/dd2" user.cma.size 67108864
}

@test "cat into and out of a 64 MiB file round-trips byte-exact" {
	cat "$SRC" >"$MNT/cat"
	run -0 bash -c "cat '$MNT/cat' | cmp - '$SRC'"
	run -0 stat -c %s "$MNT/cat"
	assert_output 67108864
}

@test "dd conv=notrunc into a pre-sized file keeps its buffer in place" {
	truncate -s 64M "$MNT/pre"
	local a r0
	a=$(xattr "$MNT/pre" user.cma.phys_addr)
	r0=$(stat_key resizes)
	dd if="$SRC" of="$MNT/pre" bs=4M conv=notrunc status=none
	run -0 cmp "$SRC" "$MNT/pre"
	assert_equal "$(xattr "$MNT/pre" user.cma.phys_addr)" "$a"
	assert_equal "$(stat_key resizes)" "$r0"
}

@test "sim: data written with write() is in the buffer itself (daemon's memfd)" {
	require_backend sim
	truncate -s $((7 * PAGE)) "$MNT/w"
	printf 'written-by-write' | dd of="$MNT/w" bs=1 seek=$((3 * PAGE + 5)) conv=notrunc status=none
	local memfd
	memfd=$(sim_memfd_of_size $((7 * PAGE)))
	run -0 dd if="$memfd" bs=1 skip=$((3 * PAGE + 5)) count=16 status=none
	assert_output written-by-write
}

@test "a second process's mapping sees data written with write() (mapped before and after)" {
	truncate -s 64K "$MNT/shared"
	run -0 python3 - "$MNT/shared" <<'PY'
import mmap, os, subprocess, sys
p = sys.argv[1]
fd = os.open(p, os.O_RDONLY)
m = mmap.mmap(fd, 65536, mmap.MAP_SHARED, mmap.PROT_READ)
assert m[8192:8197] == bytes(5)          # fault the page in first
subprocess.run("printf 'first' | dd of=%s bs=1 seek=8192 conv=notrunc status=none" % p,
               shell=True, check=True)
assert m[8192:8197] == b"first", m[8192:8197]
subprocess.run("printf 'again' | dd of=%s bs=1 seek=8192 conv=notrunc status=none" % p,
               shell=True, check=True)
assert m[8192:8197] == b"again", m[8192:8197]
print("ok")
PY
	assert_output ok
	run -0 python3 -c '
import mmap, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
m = mmap.mmap(fd, 65536, mmap.MAP_SHARED, mmap.PROT_READ)
print(m[8192:8197].decode())' "$MNT/shared"
	assert_output again
}

@test "fsync publishes stores made through a mapping (read back through another descriptor)" {
	require_tools
	truncate -s 1M "$MNT/mapw"
	run -0 "$IOCTL_TOOL" mapfill "$MNT/mapw" 4096 100000 0x5a
	assert_output mismatches=0
	run -0 bash -c "dd if='$MNT/mapw' bs=1 skip=4096 count=100000 status=none | tr -d 'Z' | wc -c"
	assert_output 0
	assert_zero_range "$MNT/mapw" 0 4096
	assert_zero_range "$MNT/mapw" 104096 $((1048576 - 104096))
}

@test "sim: after fsync/fdatasync, stores made through a mapping are in the buffer (daemon's memfd)" {
	require_backend sim
	local size=$((5 * PAGE))
	truncate -s $size "$MNT/mapped"
	run -0 python3 - "$MNT/mapped" "$CMAFS_PID" "$size" <<'PY'
import mmap, os, sys
p, pid, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
def memfd():
    found = []
    for n in os.listdir("/proc/%s/fd" % pid):
        f = "/proc/%s/fd/%s" % (pid, n)
        try:
            if "cmafs-sim" in os.readlink(f) and os.stat(f).st_size == size:
                found.append(f)
        except OSError:
            pass
    assert len(found) == 1, found
    return found[0]
fd = os.open(p, os.O_RDWR)
m = mmap.mmap(fd, size, mmap.MAP_SHARED)
m[100:120] = b"stored-via-mapping!!"
m[size - 4:size] = b"TAIL"
os.fsync(fd)                        # still mapped, still open
with open(memfd(), "rb") as b:
    d = b.read()
assert d[100:120] == b"stored-via-mapping!!", d[100:120]
assert d[size - 4:] == b"TAIL"
fd2 = os.open(p, os.O_RDONLY)
assert os.pread(fd2, 20, 100) == b"stored-via-mapping!!"
m[2000:2010] = b"fdatasync!"
os.fdatasync(fd)                    # fdatasync publishes as well
with open(memfd(), "rb") as b:
    b.seek(2000)
    assert b.read(10) == b"fdatasync!"
print("ok")
PY
	assert_output ok
}

@test "sim: user.cma.sync=cpu makes device writes visible to an existing mapping" {
	require_backend sim
	local size=$((6 * PAGE))
	truncate -s $size "$MNT/dev"
	run -0 python3 - "$MNT/dev" "$CMAFS_PID" "$size" <<'PY'
import mmap, os, sys
p, pid, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
found = [f for f in ("/proc/%s/fd/%s" % (pid, n) for n in os.listdir("/proc/%s/fd" % pid))
         if "cmafs-sim" in os.readlink(f) and os.stat(f).st_size == size]
assert len(found) == 1, found
fd = os.open(p, os.O_RDWR)
m = mmap.mmap(fd, size, mmap.MAP_SHARED)
assert m[0:6] == bytes(6)            # the CPU's view is populated
with open(found[0], "r+b") as dev:   # the "device" writes the buffer
    dev.seek(0)
    dev.write(b"device")
    dev.flush()
os.setxattr(p, "user.cma.sync", b"cpu")
assert m[0:6] == b"device", m[0:6]
print("ok")
PY
	assert_output ok
}

@test "unlink while open: the name goes at once, data stays until close, .stats counts the orphan" {
	head -c 300000 /dev/urandom >"$BATS_TEST_TMPDIR/data"
	cp "$BATS_TEST_TMPDIR/data" "$MNT/orphan"
	wait_trim "$MNT/orphan"
	local fd b0 f0
	b0=$(stat_key buffers) f0=$(stat_key frees)
	exec {fd}<"$MNT/orphan"
	rm "$MNT/orphan"
	assert_file_not_exist "$MNT/orphan"
	run -0 ls "$MNT"
	refute_output --partial orphan
	local s
	s=$(stats)
	assert_equal "$(stat_key orphan_buffers "$s")" 1
	assert_equal "$(stat_key buffers "$s")" "$b0"
	assert_equal "$(stat_key used_bytes "$s")" "$(page_round 300000)"
	cmp - "$BATS_TEST_TMPDIR/data" <&$fd || fail "data of the unlinked file changed"
	exec {fd}<&-
	wait_stat orphan_buffers 0
	wait_stat buffers $((b0 - 1))
	assert_equal "$(stat_key frees)" "$((f0 + 1))"
	assert_equal "$(stat_key used_bytes)" 0
}

@test "unlink while mapped: data stays until munmap, then the buffer is freed" {
	truncate -s 1M "$MNT/mapped-orphan"
	printf 'mapped' | dd of="$MNT/mapped-orphan" conv=notrunc status=none
	run -0 python3 - "$MNT/mapped-orphan" "$MNT" <<'PY'
import mmap, os, sys, time
p, mnt = sys.argv[1], sys.argv[2]
def stat(k):
    for line in open(mnt + "/.stats"):
        key, _, v = line.strip().partition(": ")
        if key == k:
            return int(v)
fd = os.open(p, os.O_RDWR)
m = mmap.mmap(fd, 1 << 20, mmap.MAP_SHARED)
os.close(fd)
os.unlink(p)
assert not os.path.exists(p)
assert m[0:6] == b"mapped"
m[10:14] = b"more"
for _ in range(100):          # the close above is released asynchronously
    if stat("orphan_buffers") == 1:
        break
    time.sleep(0.05)
assert stat("orphan_buffers") == 1, stat("orphan_buffers")
assert stat("buffers") == 1
assert m[10:14] == b"more"
m.close()
for _ in range(100):
    if stat("buffers") == 0:
        break
    time.sleep(0.05)
assert stat("buffers") == 0 and stat("orphan_buffers") == 0, open(mnt + "/.stats").read()
print("ok")
PY
	assert_output ok
}

@test "writing and growing an unlinked open file still works" {
	run -0 python3 - "$MNT/ghost" "$MNT" <<'PY'
import os, sys
p, mnt = sys.argv[1], sys.argv[2]
fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
os.write(fd, b"x" * 10000)
os.unlink(p)
os.ftruncate(fd, 3 << 20)
os.pwrite(fd, b"end", (3 << 20) - 3)
assert os.pread(fd, 10000, 0) == b"x" * 10000
assert os.pread(fd, 3, (3 << 20) - 3) == b"end"
assert os.fstat(fd).st_size == 3 << 20
st = dict(l.strip().split(": ") for l in open(mnt + "/.stats"))
assert st["orphan_buffers"] == "1" and st["used_bytes"] == str(3 << 20), st
os.close(fd)
print("ok")
PY
	assert_output ok
	wait_stat buffers 0
}

@test "sim, passthrough: stores through a mapping and device writes are visible at once, without fsync" {
	require_backend sim
	require_passthrough on
	local size=$((9 * PAGE))
	truncate -s $size "$MNT/direct"
	run -0 python3 - "$MNT/direct" "$CMAFS_PID" "$size" <<'PY'
import mmap, os, sys
p, pid, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
found = [f for f in ("/proc/%s/fd/%s" % (pid, n) for n in os.listdir("/proc/%s/fd" % pid))
         if "cmafs-sim" in os.readlink(f) and os.stat(f).st_size == size]
assert len(found) == 1, found
fd = os.open(p, os.O_RDWR)
m = mmap.mmap(fd, size, mmap.MAP_SHARED)
m[0:5] = b"store"
with open(found[0], "r+b") as dev:
    assert dev.read(5) == b"store"
    dev.seek(4096)
    dev.write(b"device")
    dev.flush()
assert m[4096:4102] == b"device", m[4096:4102]
print("ok")
PY
	assert_output ok
}
