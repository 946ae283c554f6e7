#!/usr/bin/env bats
# Issue 6, security: on a shared allow_other,default_permissions mount an
# unprivileged user cannot open, map, resize, read the xattrs of, or remove
# another user's 0600 buffer, nor read addresses of files it does not own;
# quota=SIZE limits each user's buffer bytes (EDQUOT), root exempt.

load helpers/common

setup_file() {
	export CMAFS_POOL=64M
	ensure_test_user
	build_tools
	cmafs_setup_file allow_other,default_permissions,quota=1M
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

uop() { as_user python3 "$OP" "$@"; }

# own_mount: a mount of this test's own, like the file's (64M pool,
# quota=1M), so that a daemon crash fails this test only; cmafs_teardown
# unmounts it.
own_mount() { cmafs_mount allow_other,default_permissions,quota=1M "$@"; }

# The ioctls of include/cmafs.h (_IOR/_IOW(0xCF, N, size)).
IOC_INFO=0x8048cf01      # _IOR(0xCF, 1, struct cmafs_info), 72 bytes
IOC_SYNC=0x4018cf02      # _IOW(0xCF, 2, struct cmafs_sync), 24 bytes
IOC_SET_CACHE=0x4004cf03 # _IOW(0xCF, 3, __u32)
IOC_SET_ALIGN=0x4008cf04 # _IOW(0xCF, 4, __u64)
IOC_RANDOM=0xc0ffee42    # _IOWR(0xEE, 0x42, 255 bytes): nobody's
IOC_TCGETS=0x5401        # no direction, no size

@test "another user's 0600 buffer: no open, no map, no resize, no xattrs, no remove" {
	truncate -s 64K "$MNT/secret"
	printf 'private' | dd of="$MNT/secret" conv=notrunc status=none
	chmod 600 "$MNT/secret"
	local before
	before="$(stat -c %s "$MNT/secret") $(xattr "$MNT/secret" user.cma.phys_addr) $(md5_of "$MNT/secret")"
	run -1 uop open "$MNT/secret" r
	assert_output EACCES
	# A mapping needs a descriptor first: neither read nor read-write opens.
	run -1 uop open "$MNT/secret" rw
	assert_output EACCES
	run -1 uop truncate "$MNT/secret" 1M
	assert_output EACCES
	run -1 uop getxattr "$MNT/secret" user.cma.size
	assert_output EACCES
	run -1 uop getxattr "$MNT/secret" user.cma.phys_addr
	assert_output EACCES
	run -1 uop setxattr "$MNT/secret" user.cma.cache cached
	assert_output EACCES
	# The root directory is sticky (1777), as on tmpfs.
	run -1 uop unlink "$MNT/secret"
	assert_output EPERM
	run -1 uop rename "$MNT/secret" "$MNT/mine"
	assert_output EPERM
	assert_equal "$(stat -c %s "$MNT/secret") $(xattr "$MNT/secret" user.cma.phys_addr) $(md5_of "$MNT/secret")" "$before"
}

@test "a readable file of another user: contents yes, physical and DMA addresses no" {
	truncate -s 8K "$MNT/shared"
	chmod 644 "$MNT/shared"
	run -0 uop getxattr "$MNT/shared" user.cma.size
	assert_output "$((2 * PAGE))"
	run -1 uop getxattr "$MNT/shared" user.cma.phys_addr
	assert_output EACCES
	run -1 uop getxattr "$MNT/shared" user.cma.dma_addr
	assert_output EACCES
	as_user cmp -n 8192 "$MNT/shared" /dev/zero || fail "the reader did not get the zeroed contents"
	grep -q 'getxattr (not the owner) /shared: Permission denied' "$LOG" ||
		fail "the refusal was not logged"
}

@test "quota=1M: a user's buffers stop at 1 MiB with EDQUOT and nothing changes" {
	local u=uid_${TEST_UID}_bytes q0
	as_user touch "$MNT/q1" "$MNT/q2" "$MNT/q3"
	run -0 uop truncate "$MNT/q1" 512K
	[[ $(stat_key "$u") == $((512 * 1024)) ]] || fail "usage not shown: $(stats)"
	q0=$(stat_key quota_failures)
	run -1 uop truncate "$MNT/q2" $((512 * 1024 + PAGE))
	assert_output EDQUOT
	assert_equal "$(stat -c %s "$MNT/q2")" 0
	assert_equal "$(stat_key quota_failures)" $((q0 + 1))
	assert_equal "$(stat_key quota_bytes)" 1048576
	# Exactly up to the limit is allowed; growth by write is limited too,
	# in both passthrough modes (the daemon serves writes itself).
	run -0 uop truncate "$MNT/q2" 512K
	run -1 uop pwrite "$MNT/q1" $((512 * 1024)) x
	assert_output EDQUOT
	# Freeing gives the room back.
	run -0 uop unlink "$MNT/q2"
	run -0 uop truncate "$MNT/q3" 256K
	grep -q 'Disk quota exceeded' "$LOG" || fail "no refusal line in the log"
}

@test "quota: root is exempt, and chown moves the charge (EDQUOT when it would not fit)" {
	truncate -s 4M "$MNT/big"
	[[ $(stat_key uid_0_bytes) == $((4 * 1024 * 1024)) ]]
	run -1 chown "$TEST_USER" "$MNT/big"
	[[ $output == *"Disk quota exceeded"* ]] || fail "chown: $output"
	assert_equal "$(stat -c %U "$MNT/big")" root
	truncate -s 64K "$MNT/small"
	chown "$TEST_USER" "$MNT/small"
	assert_equal "$(stat_key "uid_${TEST_UID}_bytes")" $((64 * 1024))
	assert_equal "$(stat_key uid_0_bytes)" $((4 * 1024 * 1024))
}

# ------------------------------------------------------------------ holes

@test "ioctl on a directory: ENOTTY for every command, on the root, a subdirectory, a FIFO and .stats; the daemon keeps running and buffers stay" {
	own_mount
	mkdir "$MNT/sub"
	mkfifo -m 644 "$MNT/fifo"
	head -c 5000 /dev/urandom >"$MNT/keep"
	as_user sh -c "head -c 3000 /dev/urandom >'$MNT/ukeep'"
	local before t c
	before=$(for f in keep ukeep; do
		echo "$f $(stat -c %s "$MNT/$f") $(md5_of "$MNT/$f") $(xattr "$MNT/$f" user.cma.phys_addr)"
	done)
	for t in "$MNT" "$MNT/sub"; do
		for c in $IOC_INFO $IOC_SYNC $IOC_SET_CACHE $IOC_SET_ALIGN $IOC_RANDOM $IOC_TCGETS; do
			run -1 uop ioctl "$t" r,dir "$c"
			[[ $output == ENOTTY ]] || fail "ioctl $c on the directory $t: '$output', expected ENOTTY"
			_cmafs_alive "$CMAFS_PID" || fail "the daemon died at ioctl $c on the directory $t"
		done
	done
	for c in $IOC_INFO $IOC_SYNC $IOC_SET_CACHE $IOC_SET_ALIGN $IOC_RANDOM; do
		run -1 uop ioctl "$MNT/fifo" r,nonblock "$c"
		[[ $output == ENOTTY ]] || fail "ioctl $c on a FIFO: '$output', expected ENOTTY"
		run -1 uop ioctl "$MNT/.stats" r "$c"
		[[ $output == ENOTTY ]] || fail "ioctl $c on .stats: '$output', expected ENOTTY"
	done
	run -1 uop ioctl "$MNT/.stats" w "$IOC_SET_CACHE"
	assert_output EACCES
	assert_cmafs_alive
	local after
	after=$(for f in keep ukeep; do
		echo "$f $(stat -c %s "$MNT/$f") $(md5_of "$MNT/$f") $(xattr "$MNT/$f" user.cma.phys_addr)"
	done)
	assert_equal "$after" "$before"
	assert_equal "$(stat_key buffers)" 2
}

@test "write at a wild offset: a pwrite at 2^40 or past the pool is ENOSPC/EFBIG/EDQUOT and the 4 KiB file keeps its bytes" {
	own_mount
	# the user's file (under quota=1M) and root's (no quota: only the pool)
	as_user python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
os.write(fd, os.urandom(4096))
os.close(fd)' "$MNT/w"
	head -c 4096 /dev/urandom >"$MNT/rw"
	wait_trim "$MNT/w"
	wait_trim "$MNT/rw"
	local md5u md5r pool off u=uid_${TEST_UID}_bytes
	md5u=$(md5_of "$MNT/w")
	md5r=$(md5_of "$MNT/rw")
	pool=$(stat_key pool_bytes)
	# unchanged: size, a fresh open and read, the charge
	unchanged() {
		assert_equal "$(stat -c %s "$MNT/w") $(stat -c %s "$MNT/rw")" "4096 4096"
		assert_equal "$(as_user cat "$MNT/w" | md5sum | cut -d' ' -f1)" "$md5u"
		assert_equal "$(md5_of "$MNT/rw")" "$md5r"
		assert_equal "$(stat_key "$u")" 4096
		assert_equal "$(xattr "$MNT/w" user.cma.size) $(xattr "$MNT/rw" user.cma.size)" "4096 4096"
	}
	for off in 1099511627776 "$pool" $((pool + 1)) $((pool + PAGE)); do
		run -1 uop pwrite "$MNT/w" "$off" wild
		[[ $output =~ ^(ENOSPC|EFBIG|EDQUOT)$ ]] ||
			fail "the owner's pwrite at $off: '$output', expected ENOSPC, EFBIG or EDQUOT"
		assert_cmafs_alive
		run -1 op pwrite "$MNT/rw" "$off" wild
		[[ $output =~ ^(ENOSPC|EFBIG)$ ]] ||
			fail "root's pwrite at $off: '$output', expected ENOSPC or EFBIG"
		assert_cmafs_alive
		unchanged
	done
	# truncate: the owner under quota=1M may hear EDQUOT first
	run -1 uop truncate "$MNT/w" 1099511627776
	[[ $output =~ ^(EFBIG|ENOSPC|EDQUOT)$ ]] || fail "truncate to 2^40 by the owner: '$output'"
	run -1 op truncate "$MNT/rw" 1099511627776
	[[ $output =~ ^(EFBIG|ENOSPC)$ ]] || fail "truncate to 2^40 by root: '$output', expected EFBIG or ENOSPC"
	assert_cmafs_alive
	unchanged
	assert_stats_consistent "$(stats)"
}

# Without passthrough an empty file holds no descriptor once closed.  Under
# passthrough it keeps the one it was opened with: a mapping made through
# passthrough maps that memfd itself and outlives every open of the file, so
# a new memfd would leave it behind.  There the bounds are user_inodes and
# root's 1/16 of the descriptors (limits.bats), and rm gives them back.
@test "empty files hold no descriptor: 2000 empty files add (almost) no descriptor to the daemon and no memfd; under passthrough one each, all given back by rm" {
	own_mount
	local fd0 m0 f0 fd1 i pt=0
	[[ $(stat_key mmap) == direct ]] && pt=1
	f0=$(stat_key files)
	fd0=$(cmafs_fd_count)
	m0=$(sim_memfd_count)
	run -0 as_user python3 -c '
import os, sys
for i in range(2000):
    os.close(os.open(os.path.join(sys.argv[1], "e%04d" % i), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
print("made", len([n for n in os.listdir(sys.argv[1]) if n.startswith("e")]))' "$MNT"
	assert_output "made 2000"
	assert_equal "$(stat_key files)" $((f0 + 2000))
	assert_equal "$(stat_key buffers)" 0
	if ((pt)); then
		wait_stat buffer_fds 2000
		[[ $CMAFS_BACKEND != sim ]] || assert_equal "$(sim_memfd_count)" $((m0 + 2000))
		rm -f "$MNT"/e*
		wait_stat buffer_fds 0
	fi
	# releases reach the daemon asynchronously
	for ((i = 0; i < 100; i++)); do
		fd1=$(cmafs_fd_count)
		((fd1 - fd0 < 20)) && break
		_cmafs_nap
	done
	((fd1 - fd0 < 20)) || fail "the daemon holds $fd1 descriptors, $fd0 before 2000 empty files"
	[[ $CMAFS_BACKEND != sim ]] || assert_equal "$(sim_memfd_count)" "$m0"
	assert_equal "$(stat_key buffer_fds)" 0
	assert_cmafs_alive
}

@test "ioctls need a writable descriptor: SET_CACHE, SET_ALIGN and SYNC cpu on O_RDONLY are EBADF (SYNC device, which loses nothing, works); INFO works read-only; O_RDWR SET_CACHE is EBUSY only when open elsewhere" {
	require_tools
	own_mount
	touch "$MNT/theirs0"
	truncate -s 8K "$MNT/theirs"
	chmod 644 "$MNT/theirs0" "$MNT/theirs"
	as_user touch "$MNT/mine0"
	as_user truncate -s 8K "$MNT/mine"
	local f before
	modes() { for f in theirs0 theirs mine0 mine; do
		echo "$f $(xattr "$MNT/$f" user.cma.cache) $(xattr "$MNT/$f" user.cma.align)"
	done; }
	before=$(modes)
	for f in theirs0 theirs mine0 mine; do
		run -1 as_user "$IOCTL_TOOL" -r cache "$MNT/$f" 1
		[[ $output == EBADF ]] || fail "SET_CACHE on a read-only descriptor of $f: '$output', expected EBADF"
		run -1 as_user "$IOCTL_TOOL" -r align "$MNT/$f" $((4 * PAGE))
		[[ $output == EBADF ]] || fail "SET_ALIGN on a read-only descriptor of $f: '$output', expected EBADF"
	done
	for f in theirs mine; do
		# Cleaning for the device, as the helper's own SYNC allows it.
		run -0 as_user "$IOCTL_TOOL" -r sync "$MNT/$f" device 0 0
		run -1 as_user "$IOCTL_TOOL" -r sync "$MNT/$f" cpu 0 0
		[[ $output == EBADF ]] || fail "SYNC cpu on a read-only descriptor of $f: '$output', expected EBADF"
	done
	assert_equal "$(modes)" "$before"
	# INFO: read-only is enough for the owner; others get EACCES
	run -0 as_user "$IOCTL_TOOL" info "$MNT/mine"
	assert_output --regexp '^phys=0x[0-9a-f]+ dma=0x[0-9a-f]+ size=8192 align=[0-9]+ cache=0 mmap=[01]$'
	run -1 as_user "$IOCTL_TOOL" info "$MNT/theirs"
	assert_output EACCES
	# O_RDWR: the caller's own descriptor is not "open elsewhere"
	run -0 as_user "$IOCTL_TOOL" cache "$MNT/mine" 1
	assert_output OK
	assert_equal "$(xattr "$MNT/mine" user.cma.cache)" cached
	run -0 as_user "$IOCTL_TOOL" align "$MNT/mine0" $((4 * PAGE))
	assert_equal "$(xattr "$MNT/mine0" user.cma.align)" $((4 * PAGE))
	run -0 as_user "$IOCTL_TOOL" sync "$MNT/mine" device 0 0
	run -0 as_user "$IOCTL_TOOL" sync "$MNT/mine" cpu 0 0
	# ... but a second descriptor held by another process is
	local hold
	exec {hold}<"$MNT/mine"
	run -1 as_user "$IOCTL_TOOL" cache "$MNT/mine" 2
	exec {hold}<&-
	assert_output EBUSY
	assert_equal "$(xattr "$MNT/mine" user.cma.cache)" cached
	assert_cmafs_alive
}

# sample_max KEY STOP OUT: in the background, record the largest value of
# .stats KEY into OUT until the file STOP exists.
sample_max() {
	python3 -c '
import os, sys, time
p, key, stop, out = sys.argv[1:]
m = 0
while True:
    done = os.path.exists(stop)
    for line in open(p).read().splitlines():
        k, _, v = line.partition(": ")
        if k == key:
            m = max(m, int(v))
    if done:
        break
    time.sleep(0.002)
open(out, "w").write("%d\n" % m)
' "$MNT/.stats" "$1" "$2" "$3" 3>&- &
	SAMPLER=$!
}

@test "growth by write cannot escape pool or quota: a user's 4 MiB dd stops at quota=1M with EDQUOT, never charged beyond it" {
	own_mount
	local u=uid_${TEST_UID}_bytes q0 n0 size max
	head -c 4M /dev/urandom >"$CMAFS_TMP/input"
	chmod 644 "$CMAFS_TMP/input"
	q0=$(stat_key quota_failures)
	n0=$(grep -cE 'Disk quota exceeded|quota=' "$LOG" || true)
	sample_max "$u" "$BATS_TEST_TMPDIR/stop" "$BATS_TEST_TMPDIR/max"
	run as_user dd if="$CMAFS_TMP/input" of="$MNT/grow" bs=64K count=64 conv=notrunc status=none
	touch "$BATS_TEST_TMPDIR/stop"
	wait "$SAMPLER"
	assert_failure
	assert_output --partial "Disk quota exceeded"
	assert_cmafs_alive
	max=$(<"$BATS_TEST_TMPDIR/max")
	((max <= 1048576)) || fail "$u reached $max during the write (quota 1048576)"
	(($(stat_key "$u") <= 1048576)) || fail "$u is $(stat_key "$u") after the write"
	size=$(stat -c %s "$MNT/grow")
	((size > 0 && size <= 1048576)) || fail "the file is $size bytes"
	cmp -n "$size" "$MNT/grow" "$CMAFS_TMP/input" || fail "the bytes written are not the input's"
	(($(stat_key quota_failures) > q0)) || fail "quota_failures still $q0"
	(($(grep -cE 'Disk quota exceeded|quota=' "$LOG") > n0)) || fail "no refusal line in the log"
	# still refused once the write reaches the daemon again
	run -1 uop pwrite "$MNT/grow" 1048576 x
	assert_output EDQUOT
	(($(stat_key "$u") <= 1048576)) || fail "$u is $(stat_key "$u")"
}

@test "growth by write cannot escape pool or quota: root's 80 MiB write into a 64 MiB pool is refused within the pool" {
	# (kmod: the pool is the CMA area, shared with the kernel, and the
	# helper refuses what it cannot hold: alloc_errors.bats.)
	require_backend sim
	own_mount
	local pool f0 size alloc
	pool=$(stat_key pool_bytes)
	f0=$(stat_key alloc_failures)
	sample_max used_bytes "$BATS_TEST_TMPDIR/stop" "$BATS_TEST_TMPDIR/max"
	run dd if=/dev/zero of="$MNT/big" bs=1M count=80 status=none
	touch "$BATS_TEST_TMPDIR/stop"
	wait "$SAMPLER"
	assert_failure
	assert_output --regexp 'No space left on device|File too large'
	assert_cmafs_alive
	(($(<"$BATS_TEST_TMPDIR/max") <= pool)) || fail "used_bytes reached $(<"$BATS_TEST_TMPDIR/max") (pool $pool)"
	(($(stat_key used_bytes) <= pool)) || fail "used_bytes $(stat_key used_bytes) > pool $pool"
	size=$(stat -c %s "$MNT/big")
	alloc=$(xattr "$MNT/big" user.cma.size)
	((size <= alloc && alloc <= pool)) || fail "size $size, allocation $alloc, pool $pool"
	(($(stat_key alloc_failures) > f0)) || fail "alloc_failures still $f0"
	grep -q 'alloc failed' "$LOG" || fail "no 'alloc failed' line in the log"
	assert_stats_consistent "$(stats)"
}

# big_dir DIR N: DIR with N empty files e00000..., made by root.
big_dir() {
	mkdir -m 755 "$1"
	python3 -c '
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    os.close(os.open(os.path.join(d, "e%05d" % i), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
' "$1" "$2"
}

@test "readdir without per-open copies: 200 open descriptors of a 10,000-entry directory cost the daemon < 16 MiB; a listing has every entry once" {
	own_mount
	big_dir "$MNT/big" 10000
	run -0 as_user python3 -c '
import os, sys, time
d, pid = sys.argv[1], sys.argv[2]
def rss():
    for line in open("/proc/%s/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
r0 = rss()
fds, its = [], []
for i in range(200):
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    fds.append(fd)
    it = os.scandir(fd)
    for _ in range(5):
        next(it)
    its.append(it)
# a few more, each listed in full (a descriptor of its own: the 200
# share their offsets with their scandir iterators)
for i in range(3):
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    fds.append(fd)
    n = len(os.listdir(fd))
    assert n == 10000, n
time.sleep(0.2)
r1 = rss()
print("rss_growth_kb", r1 - r0)
' "$MNT/big" "$CMAFS_PID"
	local kb=${output##* }
	((kb < 16384)) || fail "the daemon grew by $kb KiB with 200 open descriptors of the directory"
	assert_cmafs_alive
	run -0 as_user sh -c "ls -f '$MNT/big' | sort | uniq -d"
	assert_output ""
	run -0 as_user sh -c "ls -f '$MNT/big' | wc -l"
	assert_output 10002
}

@test "readdir without per-open copies: a listing taken during the removal of half the entries has every surviving entry exactly once" {
	own_mount
	big_dir "$MNT/big" 10000
	# root removes the odd entries in a random order, while the user lists
	python3 -c '
import os, random, sys
d = sys.argv[1]
names = ["e%05d" % i for i in range(1, 10000, 2)]
random.shuffle(names)
for n in names:
    os.unlink(os.path.join(d, n))
' "$MNT/big" 3>&- &
	local rm_pid=$!
	run -0 as_user python3 -c '
import os, sys, time
d = sys.argv[1]
seen = []
with os.scandir(d) as it:
    for i, e in enumerate(it):
        seen.append(e.name)
        if i % 50 == 0:
            time.sleep(0.002)
print(len(seen))
for n in seen:
    print(n)' "$MNT/big"
	wait "$rm_pid" || fail "the removal failed"
	local listing=$output
	run -0 python3 -c '
import sys
lines = sys.stdin.read().split("\n")
seen = [x for x in lines[1:] if x]
dup = sorted(x for x, c in __import__("collections").Counter(seen).items() if c > 1)
keep = {"e%05d" % i for i in range(0, 10000, 2)}
missing = sorted(keep - set(seen))
stray = sorted(set(seen) - keep - {"e%05d" % i for i in range(1, 10000, 2)})
print("dups", len(dup), dup[:5])
print("missing", len(missing), missing[:5])
print("stray", len(stray), stray[:5])
' <<<"$listing"
	assert_line --index 0 "dups 0 []"
	assert_line --index 1 "missing 0 []"
	assert_line --index 2 "stray 0 []"
	assert_cmafs_alive
	run -0 as_user sh -c "ls -f '$MNT/big' | wc -l"
	assert_output 5002
}

@test "addresses=all lets every user read them; addresses=root only root, not even the owner" {
	own_mount addresses=all
	truncate -s 64K "$MNT/roots"
	chmod 644 "$MNT/roots"
	local phys
	phys=$(xattr "$MNT/roots" user.cma.phys_addr)
	run -0 uop getxattr "$MNT/roots" user.cma.phys_addr
	assert_output "$phys"
	run -0 as_user cat "$MNT/.buffers"
	assert_output --partial "phys=$phys"
	cmafs_teardown

	own_mount addresses=root
	as_user truncate -s 64K "$MNT/mine"
	run -1 uop getxattr "$MNT/mine" user.cma.phys_addr
	assert_output EACCES
	run -0 as_user cat "$MNT/.buffers"
	refute_output --partial "phys=0x"
	run -0 op getxattr "$MNT/mine" user.cma.phys_addr
	assert_output --regexp '^0x[0-9a-f]+$'
	# control: the default lets the owner see its own
	cmafs_teardown
	own_mount
	as_user truncate -s 64K "$MNT/mine"
	run -0 uop getxattr "$MNT/mine" user.cma.phys_addr
	assert_output --regexp '^0x[0-9a-f]+$'
}
