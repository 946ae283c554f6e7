#!/usr/bin/env bats
# The kmod backend against the kernel's real CMA area (run in the arm64 VMs
# by tests/vm/vm-check; every test skips on the sim backend):
#  - placement and accounting: user.cma.phys_addr inside the CMA area of the
#    boot log, CmaFree (/proc/meminfo) following allocations and frees;
#  - every page back at unmount and when the daemon is killed (SIGKILL);
#  - EFBIG / ENOSPC at the area's limits, with the daemon's log line;
#  - buffers from the page allocator (one page; up to 4 MiB on a full area):
#    outside the area, counted in .stats helper_buddy_*;
#  - cached buffers without passthrough: the mapping written back by fsync,
#    refreshed by user.cma.sync=cpu, checked through the helper's own
#    descriptor (the daemon's, via /proc/PID/fd).
#
# CMA_SLACK_KB (default 4096): how far CmaFree may be off (see
# assert_cma_state).  CMA_BASE (0x...) and CMA_SIZE (bytes) describe the CMA area; the VM's guest
# script takes them from the "cma: Reserved N MiB at 0x..." boot line.
# Without them the boot log is read here (dmesg), else the tests that need
# them skip.

load helpers/common
load helpers/cma

setup() {
	require_backend kmod
	require_daemon
	[[ -r /proc/meminfo ]] && grep -q '^CmaFree:' /proc/meminfo ||
		skip "no CmaFree in /proc/meminfo (kernel without CMA)"
	PAGE=$(page_size)
}

teardown() {
	cmafs_teardown
}

# CmaTotal in kB.
cma_total_kb() { awk '$1 == "CmaTotal:" { print $2 }' /proc/meminfo; }

# assert_new_buffers_in_cma "BASELINE_STATE" N: since the cma_state
# BASELINE, the helper holds N more buffers and CmaFree fell by their bytes.
assert_new_buffers_in_cma() {
	local b s
	read -ra b <<<"$1"
	read -ra s <<<"$(cma_state)"
	((s[1] == b[1] + $2)) || fail "the helper holds $((s[1] - b[1])) new buffers, expected $2"
	((s[0] <= b[0] - (s[2] - b[2]) / 1024 + ${CMA_SLACK_KB:-4096})) ||
		fail "CmaFree ${s[0]} kB: the buffers ($((s[2] - b[2])) bytes) are not in CMA (baseline ${b[0]} kB)"
}

# The CMA area (sets CMA_BASE, CMA_SIZE) or skip.
require_cma_area() {
	local line mib
	if [[ -z ${CMA_BASE:-} || -z ${CMA_SIZE:-} ]]; then
		line=$(dmesg 2>/dev/null | grep -m 1 'cma: Reserved [0-9]* MiB at 0x') || true
		[[ $line =~ Reserved\ ([0-9]+)\ MiB\ at\ (0x[0-9a-fA-F]+) ]] ||
			skip "CMA_BASE/CMA_SIZE not given and no 'cma: Reserved' line in dmesg"
		mib=${BASH_REMATCH[1]}
		CMA_BASE=${BASH_REMATCH[2]}
		CMA_SIZE=$((mib * 1024 * 1024))
	fi
}

# helper_fd SIZE: the daemon's descriptor of a cmabuf.ko buffer file whose
# size is SIZE (as /proc/PID/fd/N); fails unless exactly one buffer has it.
helper_fd() {
	local f l s found=() seen=" " ino
	for f in /proc/"$CMAFS_PID"/fd/*; do
		l=$(readlink "$f" 2>/dev/null) || continue
		[[ $l == *cmabuf* && $l != /dev/cmabuf ]] || continue
		s=$(stat -L -c %s "$f" 2>/dev/null) || continue
		[[ $s == "$1" ]] || continue
		ino=$(stat -L -c %i "$f")
		[[ $seen == *" $ino "* ]] && continue
		seen+="$ino "
		found+=("$f")
	done
	if ((${#found[@]} != 1)); then
		echo "helper_fd $1: ${#found[@]} buffer files of that size; the daemon's descriptors:" >&2
		for f in /proc/"$CMAFS_PID"/fd/*; do
			echo "  $f -> $(readlink "$f") ($(stat -L -c %s "$f" 2>/dev/null) bytes)" >&2
		done
		return 1
	fi
	echo "${found[0]}"
}

@test "kmod: truncate -s 8M: phys_addr inside the CMA area, CmaFree drops by 8 MiB" {
	require_cma_area
	cmafs_mount
	local b phys a base M=$((8 * 1024 * 1024))
	read -ra b <<<"$(cma_state)"
	truncate -s 8M "$MNT/a"
	phys=$(xattr "$MNT/a" user.cma.phys_addr)
	a=$(hex2dec "$phys") base=$(hex2dec "$CMA_BASE")
	((a >= base && a + M <= base + CMA_SIZE)) ||
		fail "phys_addr $phys + 8 MiB outside the CMA area [$CMA_BASE, $(printf 0x%x $((base + CMA_SIZE))))"
	((a % PAGE == 0)) || fail "phys_addr $phys is not page-aligned"
	assert_equal "$(xattr "$MNT/a" user.cma.size)" "$M"
	assert_cma_state "$((b[0] - 8192)) $((b[1] + 1)) $((b[2] + M))"
}

@test "kmod: rm frees the buffer only once the last descriptor and mapping are gone" {
	cmafs_mount
	local b fd M=$((8 * 1024 * 1024))
	read -ra b <<<"$(cma_state)"
	truncate -s 8M "$MNT/a"
	exec {fd}<"$MNT/a"
	rm "$MNT/a"
	sleep 0.3
	assert_cma_state "$((b[0] - 8192)) $((b[1] + 1)) $((b[2] + M))"
	exec {fd}<&-
	assert_cma_state "${b[*]}" "${b[2]}"

	# The same with a mapping that outlives its descriptor.
	truncate -s 4M "$MNT/b"
	run python3 - "$MNT/b" <<'EOF'
import mmap, os, subprocess, sys, time
f = sys.argv[1]
fd = os.open(f, os.O_RDWR)
m = mmap.mmap(fd, 4 << 20)
os.close(fd)
os.unlink(f)
m[0:5] = b"hello"
time.sleep(0.3)
print("mapped and unlinked, nothing open")
sys.stdout.flush()
m.close()
EOF
	echo "$output"
	assert_success
	assert_cma_state "${b[*]}" "${b[2]}"
}

@test "kmod: unmount returns every page (CmaFree back at its baseline)" {
	local b s
	read -ra b <<<"$(cma_state)"
	cmafs_mount
	mkdir "$MNT/d"
	truncate -s 4M "$MNT/a"
	truncate -s 1M "$MNT/d/b"
	dd if=/dev/zero of="$MNT/d/c" bs=64K count=40 status=none
	ln "$MNT/a" "$MNT/hard"
	fallocate -l 2M "$MNT/e"
	: >"$MNT/f"
	setfattr -n user.cma.cache -v cached "$MNT/f"
	truncate -s 3M "$MNT/f"
	assert_new_buffers_in_cma "${b[*]}" 5
	cmafs_umount
	assert_cma_state "${b[*]}" "${b[2]}"
}

@test "kmod: SIGKILL of the daemon returns every page (CmaFree back at its baseline)" {
	local b s i
	read -ra b <<<"$(cma_state)"
	cmafs_mount
	truncate -s 4M "$MNT/a"
	truncate -s 2M "$MNT/b"
	dd if=/dev/zero of="$MNT/c" bs=1M count=3 status=none
	: >"$MNT/d"
	setfattr -n user.cma.cache -v writecombine "$MNT/d"
	truncate -s 1M "$MNT/d"
	assert_new_buffers_in_cma "${b[*]}" 4
	kill -KILL "$CMAFS_PID"
	for ((i = 0; i < 100; i++)); do
		_cmafs_alive "$CMAFS_PID" || break
		sleep 0.05
	done
	! _cmafs_alive "$CMAFS_PID" || fail "the daemon survived SIGKILL"
	# Its descriptors are closed: nothing may stay allocated, even before
	# the dead mount is taken down.
	assert_cma_state "${b[*]}" "${b[2]}"
	# The dead mount (ENOTCONN: mountpoint(1) no longer sees it) goes too.
	fusermount3 -uz "$MNT" 2>/dev/null || umount -l "$MNT"
	cmafs_umount
	! grep -qF " $MNT " /proc/self/mountinfo || fail "$MNT still mounted"
	assert_cma_state "${b[*]}"
}

# in_cma_area ADDR_HEX SIZE: 0 when [ADDR, ADDR+SIZE) lies inside the area.
in_cma_area() {
	local a base
	a=$(hex2dec "$1") base=$(hex2dec "$CMA_BASE")
	((a >= base && a + $2 <= base + CMA_SIZE))
}

@test "kmod: single pages, and up to 4 MiB once CMA is full, come from the page allocator; .stats says so" {
	require_cma_area
	[[ $(uname -m) != armv7* ]] ||
		skip "32-bit ARM: arch_dma_alloc() takes every blocking allocation from CMA, single pages too, and has no page-allocator fallback (cmabuf(4))"
	cmafs_mount
	local bb0 bB0 M4=$((4 * 1024 * 1024)) i n=0 free0 free1 phys found=
	bb0=$(stat_key helper_buddy_buffers) bB0=$(stat_key helper_buddy_bytes)
	# One page: never from the default CMA area.
	truncate -s "$PAGE" "$MNT/page"
	phys=$(xattr "$MNT/page" user.cma.phys_addr)
	! in_cma_area "$phys" "$PAGE" || fail "a single page at $phys is inside the CMA area"
	assert_equal "$(stat_key helper_buddy_buffers)" $((bb0 + 1))
	assert_equal "$(stat_key helper_buddy_bytes)" $((bB0 + PAGE))
	# Two pages: from CMA.
	truncate -s $((2 * PAGE)) "$MNT/two"
	phys=$(xattr "$MNT/two" user.cma.phys_addr)
	in_cma_area "$phys" $((2 * PAGE)) || fail "a 2-page buffer at $phys is outside the CMA area"
	assert_equal "$(stat_key helper_buddy_buffers)" $((bb0 + 1))
	# Fill the area: most of it in one buffer (halved until it fits: pinned
	# pages may split the area), then 4 MiB buffers until one comes from
	# the page allocator (CMA full or too fragmented for 4 MiB).
	local bulk=$((($(stat_key cma_free_bytes) - 16 * 1048576) / M4 * M4))
	: >"$MNT/bulk"
	while ((bulk > M4)) && ! truncate -s "$bulk" "$MNT/bulk" 2>/dev/null; do
		bulk=$((bulk / 2 / M4 * M4))
	done
	for ((i = 0; i < CMA_SIZE / M4 + 8; i++)); do
		free0=$(stat_key cma_free_bytes)
		truncate -s 4M "$MNT/fill$i" || fail "truncate -s 4M failed after $i buffers"
		phys=$(xattr "$MNT/fill$i" user.cma.phys_addr)
		if ! in_cma_area "$phys" "$M4"; then
			found=$i
			break
		fi
	done
	[[ -n $found ]] || fail "no 4 MiB buffer came from the page allocator after $i in CMA"
	free1=$(stat_key cma_free_bytes)
	assert_equal "$(stat_key helper_buddy_buffers)" $((bb0 + 2))
	assert_equal "$(stat_key helper_buddy_bytes)" $((bB0 + PAGE + M4))
	# CmaFree did not pay for it (within what the kernel lends meanwhile).
	(( free0 - free1 < M4 / 2 )) || fail "CmaFree fell by $((free0 - free1)) bytes for a buffer outside CMA"
	# Beyond the page allocator's largest block there is no fallback.
	: >"$MNT/big"
	run truncate -s 8M "$MNT/big"
	assert_failure
	assert_output --partial "No space left on device"
	# Freed, the counters come back.
	rm -f "$MNT"/fill* "$MNT/bulk" "$MNT/page" "$MNT/two"
	assert_equal "$(stat_key helper_buddy_buffers)" "$bb0"
	assert_equal "$(stat_key helper_buddy_bytes)" "$bB0"
}

@test "kmod: a size larger than the whole CMA area fails with EFBIG (truncate(1)), logged" {
	cmafs_mount
	local total size pages
	total=$(($(cma_total_kb) * 1024))
	size=$((total + PAGE))
	pages=$((size / PAGE))
	: >"$MNT/big"
	run truncate -s "$size" "$MNT/big"
	assert_failure
	assert_output --partial "File too large"
	assert_equal "$(stat -c %s "$MNT/big")" 0
	run -0 grep -E "^cmafs: alloc failed, req-size: $pages pages, free: [0-9]+ pages, largest free: [0-9]+ pages \\(/[^,]*, uid [0-9]+\\)$" "$LOG"
	assert_equal "$(stat_key alloc_failures)" 1
}

@test "kmod: a size the area holds but its free space does not fails with ENOSPC (truncate(1)), logged" {
	cmafs_mount
	local total free size pages
	truncate -s 8M "$MNT/a"
	total=$(($(cma_total_kb) * 1024))
	free=$(($(cma_state | cut -d' ' -f1) * 1024))
	size=$((free + 4 * 1024 * 1024))
	((size <= total)) || fail "test setup: $size > CmaTotal $total"
	pages=$((size / PAGE))
	echo keep >"$MNT/small"
	run truncate -s "$size" "$MNT/small"
	assert_failure
	assert_output --partial "No space left on device"
	assert_equal "$(cat "$MNT/small")" keep
	run -0 grep -E "^cmafs: alloc failed, req-size: $pages pages, free: [0-9]+ pages, largest free: [0-9]+ pages \\(/[^,]*, uid [0-9]+\\)$" "$LOG"
	assert_equal "$(stat_key alloc_failures)" 1
	# And the whole area while 8 MiB of it are in use: ENOSPC too, not EFBIG.
	run truncate -s "$total" "$MNT/small"
	assert_failure
	assert_output --partial "No space left on device"
}

@test "kmod, cached mapping (passthrough off): data written through the mapping is in the buffer after fsync" {
	cmafs_mount
	require_passthrough off
	local size=$((1024 * 1024 + 3 * PAGE)) h
	: >"$MNT/c"
	setfattr -n user.cma.cache -v cached "$MNT/c"
	truncate -s "$size" "$MNT/c"
	assert_equal "$(xattr "$MNT/c" user.cma.cache)" cached
	assert_equal "$(xattr "$MNT/c" user.cma.mmap)" cached
	# A pattern through a shared mapping, then fsync.
	run python3 - "$MNT/c" "$size" <<'EOF'
import mmap, os, sys
f, size = sys.argv[1], int(sys.argv[2])
fd = os.open(f, os.O_RDWR)
m = mmap.mmap(fd, size)
pat = bytes((i * 7 + 3) & 0xff for i in range(251))
data = (pat * (size // len(pat) + 1))[:size]
m[:] = data
os.fsync(fd)
print("written")
m.close()
os.close(fd)
EOF
	echo "$output"
	assert_success
	h=$(helper_fd "$size")
	run python3 - "$h" "$size" <<'EOF'
import os, sys
h, size = sys.argv[1], int(sys.argv[2])
pat = bytes((i * 7 + 3) & 0xff for i in range(251))
data = (pat * (size // len(pat) + 1))[:size]
fd = os.open(h, os.O_RDONLY)
got = os.pread(fd, size, 0)
if got == data:
    print("same")
else:
    bad = next(i for i in range(min(len(got), size)) if got[i] != data[i]) if len(got) else 0
    print("differ: %d bytes read, first difference at %d" % (len(got), bad))
EOF
	echo "python3: status $status"
	assert_output same
}

@test "kmod, cached mapping (passthrough off): a write into the buffer through the helper's descriptor is seen through the mapping after user.cma.sync=cpu" {
	cmafs_mount
	require_passthrough off
	local size=$((1024 * 1024 + 5 * PAGE)) h
	: >"$MNT/c"
	setfattr -n user.cma.cache -v cached "$MNT/c"
	truncate -s "$size" "$MNT/c"
	h=$(helper_fd "$size")
	run python3 - "$MNT/c" "$size" "$h" <<'EOF'
import mmap, os, sys
f, size, h = sys.argv[1], int(sys.argv[2]), sys.argv[3]
fd = os.open(f, os.O_RDWR)
m = mmap.mmap(fd, size)
off = 3 * 4096 + 100
before = m[off:off + 16]           # the mapping is populated (cached view)
assert before == bytes(16), before
msg = b"device-was-here!"
hd = os.open(h, os.O_RDWR)          # "the device" writes into the buffer
assert os.pwrite(hd, msg, off) == len(msg)
tail = size - 16
assert os.pwrite(hd, msg, tail) == len(msg)
os.close(hd)
os.setxattr(f, "user.cma.sync", b"cpu")
print(m[off:off + 16].decode(errors="replace"), m[tail:tail + 16].decode(errors="replace"))
m.close()
os.close(fd)
EOF
	echo "python3: status $status"
	assert_output "device-was-here! device-was-here!"
}
