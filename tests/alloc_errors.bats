#!/usr/bin/env bats
# SPEC section 3: a size larger than the whole area fails with EFBIG; a size
# the area could hold but cannot place now fails with ENOSPC.  Either leaves
# the file as it was, counts in .stats (alloc_failures) and logs one line:
#   cmafs: alloc failed, req-size: P pages, free: F pages, largest free: L pages
# Every test mounts a fresh pool (sim: 16 MiB) so that placement is known;
# kmod's pool is the kernel's CMA area (filled with 8 MiB buffers).

load helpers/common

setup() {
	[[ -x $CMAFS_BIN ]] || skip "cmafs daemon not built ($CMAFS_BIN)"
	PAGE=$(page_size)
	CMAFS_POOL=16M cmafs_mount
	POOL=$(stat_key pool_bytes)
	# kmod: when CMA cannot place a request of up to 4 MiB the kernel
	# serves it from the page allocator instead (cmafs(8), "Buffers outside
	# CMA"), so only larger requests can find the area full.
	CHUNK=1048576 ONE=$PAGE
	[[ $CMAFS_BACKEND != kmod ]] || CHUNK=$((8 * 1048576)) ONE=$((8 * 1048576))
}

teardown() { cmafs_teardown; }

log_lines() { grep -c 'cmafs: alloc failed' "$LOG" || true; }

# Does write() past the end reach the daemon?  Not under passthrough: the
# kernel writes to the buffer's file, and with kmod the helper grows it or
# refuses (EFBIG past the area's size, ENOSPC), without the daemon.
# Writes reach the daemon unless they are passed through to the helper's
# file (kmod with passthrough and no quota: the helper refuses growth).
writes_reach_daemon() { [[ $(stat_key mmap) == cached || $CMAFS_BACKEND == sim ]]; }

# snapshot FILE: "size md5 phys_addr cma.size" of a file
snapshot() {
	echo "$(stat -c %s "$1") $(md5_of "$1") $(xattr "$1" user.cma.phys_addr 2>/dev/null || echo none) $(xattr "$1" user.cma.size 2>/dev/null || echo none)"
}

# assert_failure_logged N_BEFORE REQ_BYTES STATS_SNAPSHOT: exactly one new log
# line; for sim its numbers must be the request and the pool state before.
assert_failure_logged() {
	local before=$1 req=$2 snap=$3 now line p f l
	now=$(log_lines)
	assert_equal "$now" "$((before + 1))"
	line=$(grep 'cmafs: alloc failed' "$LOG" | tail -n 1)
	[[ $line =~ cmafs:\ alloc\ failed,\ req-size:\ ([0-9]+)\ pages,\ free:\ ([0-9]+)\ pages,\ largest\ free:\ ([0-9]+)\ pages\ \((/[^,]*|\(inode\ [0-9]+\)),\ uid\ [0-9]+\)$ ]] ||
		fail "log line not in the kernel's format: '$line'"
	p=${BASH_REMATCH[1]} f=${BASH_REMATCH[2]} l=${BASH_REMATCH[3]}
	if [[ -n $req ]]; then
		assert_equal "$p" "$(((req + PAGE - 1) / PAGE))"
	fi
	if [[ $CMAFS_BACKEND == sim && -n $snap ]]; then
		assert_equal "$f" "$(($(stat_key free_bytes "$snap") / PAGE))"
		assert_equal "$l" "$(($(stat_key largest_free_bytes "$snap") / PAGE))"
	fi
}

# Fill the pool with CHUNK-sized files c0, c1, ... until an allocation fails
# with ENOSPC, then remove every odd one: holes of CHUNK between held chunks.
# Sets NCHUNKS.
fragment_pool() {
	local i max=$((POOL / CHUNK + 64)) r
	mkdir -p "$MNT/frag"
	for ((i = 0; i < max; i++)); do
		touch "$MNT/frag/c$i"
		r=$(op truncate "$MNT/frag/c$i" $CHUNK) || break
	done
	[[ $r == ENOSPC ]] || fail "filling the pool: chunk $i ended with '$r', expected ENOSPC"
	rm "$MNT/frag/c$i"
	NCHUNKS=$i
	((NCHUNKS >= 4)) || fail "only $NCHUNKS chunks of $CHUNK fit the pool"
	if [[ $CMAFS_BACKEND == sim ]]; then
		assert_equal "$NCHUNKS" "$((POOL / CHUNK))"
	fi
	for ((i = 1; i < NCHUNKS; i += 2)); do rm "$MNT/frag/c$i"; done
	local largest
	largest=$(stat_key largest_free_bytes)
	# (kmod reports the free total here: the kernel does not tell more.)
	[[ $CMAFS_BACKEND == kmod ]] || ((largest < 3 * CHUNK)) ||
		fail "pool not fragmented: largest free $largest"
}

@test "EFBIG: sizing a new file beyond the pool leaves it empty, counts and logs" {
	local f0 n0 snap
	touch "$MNT/huge"
	f0=$(stat_key alloc_failures) n0=$(log_lines) snap=$(stats)
	run -1 op truncate "$MNT/huge" $((POOL + 1))
	assert_output EFBIG
	run -0 stat -c '%s %b' "$MNT/huge"
	assert_output "0 0"
	run -1 op getxattr "$MNT/huge" user.cma.phys_addr
	assert_output ENODATA
	assert_equal "$(stat_key alloc_failures)" "$((f0 + 1))"
	assert_equal "$(stat_key buffers)" 0
	assert_equal "$(stat_key used_bytes)" 0
	assert_failure_logged "$n0" $((POOL + 1)) "$snap"
}

@test "EFBIG: growing a file beyond the pool leaves size, contents and phys_addr unchanged" {
	head -c 300000 /dev/urandom >"$MNT/keep"
	wait_trim "$MNT/keep"
	local before f0 n0 snap
	before=$(snapshot "$MNT/keep")
	f0=$(stat_key alloc_failures) n0=$(log_lines) snap=$(stats)
	run -1 op truncate "$MNT/keep" $((2 * POOL))
	assert_output EFBIG
	run -1 truncate -s $((POOL + PAGE)) "$MNT/keep"
	assert_output --partial 'File too large'
	assert_equal "$(snapshot "$MNT/keep")" "$before"
	assert_equal "$(stat_key alloc_failures)" "$((f0 + 2))"
	assert_equal "$(log_lines)" "$((n0 + 2))"
	assert_equal "$(stat_key used_bytes)" "$(page_round 300000)"
	n0=$((n0 + 1))
	assert_failure_logged "$n0" $((POOL + PAGE)) "$snap"
}

@test "EFBIG: fallocate beyond the pool leaves the file unchanged" {
	printf 'fallocate-data' >"$MNT/fal"
	wait_trim "$MNT/fal"
	local before f0 n0 snap
	before=$(snapshot "$MNT/fal")
	f0=$(stat_key alloc_failures) n0=$(log_lines) snap=$(stats)
	run -1 op fallocate "$MNT/fal" 0 $((POOL + 1))
	assert_output EFBIG
	assert_equal "$(snapshot "$MNT/fal")" "$before"
	assert_equal "$(stat_key alloc_failures)" "$((f0 + 1))"
	assert_failure_logged "$n0" $((POOL + 1)) "$snap"
}

@test "EFBIG: write() at an offset beyond the pool fails and leaves the file unchanged" {
	require_refusable_writes
	printf 'write-data' >"$MNT/wr"
	wait_trim "$MNT/wr"
	local before f0 n0
	before=$(snapshot "$MNT/wr")
	f0=$(stat_key alloc_failures) n0=$(log_lines)
	run -1 op pwrite "$MNT/wr" $((POOL + PAGE)) x
	assert_output EFBIG
	assert_equal "$(snapshot "$MNT/wr")" "$before"
	if writes_reach_daemon; then
		assert_equal "$(stat_key alloc_failures)" "$((f0 + 1))"
		assert_failure_logged "$n0" "" ""
	fi
}

@test "ENOSPC: a full pool refuses a size it could hold, and counts it" {
	local i f0 n0 snap
	for ((i = 0; i < POOL / CHUNK + 64; i++)); do
		touch "$MNT/full$i"
		op truncate "$MNT/full$i" $CHUNK >/dev/null || break
	done
	[[ $CMAFS_BACKEND != sim ]] || assert_equal "$i" "$((POOL / CHUNK))"
	[[ $CMAFS_BACKEND != sim ]] || assert_equal "$(stat_key free_bytes)" 0
	touch "$MNT/one-more"
	f0=$(stat_key alloc_failures) n0=$(log_lines) snap=$(stats)
	run -1 op truncate "$MNT/one-more" $ONE
	assert_output ENOSPC
	run -0 stat -c %s "$MNT/one-more"
	assert_output 0
	assert_equal "$(stat_key alloc_failures)" "$((f0 + 1))"
	assert_failure_logged "$n0" "$ONE" "$snap"
	# freeing one chunk makes room again
	rm "$MNT/full0"
	run -0 op truncate "$MNT/one-more" $ONE
}

@test "ENOSPC: growing in a fragmented pool leaves size, contents and phys_addr unchanged" {
	fragment_pool
	# c0 is held, c1 (behind it) is free, c2 is held: 3 chunks fit nowhere
	head -c $CHUNK /dev/urandom >"$BATS_TEST_TMPDIR/data"
	dd if="$BATS_TEST_TMPDIR/data" of="$MNT/frag/c0" conv=notrunc status=none
	local before f0 n0 snap free
	before=$(snapshot "$MNT/frag/c0")
	f0=$(stat_key alloc_failures) n0=$(log_lines) snap=$(stats)
	free=$(stat_key free_bytes "$snap")
	((free >= 3 * CHUNK)) || fail "free $free: the request would not fit the pool's free space"
	run -1 op truncate "$MNT/frag/c0" $((3 * CHUNK))
	assert_output ENOSPC
	assert_equal "$(snapshot "$MNT/frag/c0")" "$before"
	run -0 cmp "$MNT/frag/c0" "$BATS_TEST_TMPDIR/data"
	assert_equal "$(stat_key alloc_failures)" "$((f0 + 1))"
	assert_equal "$(stat_key used_bytes)" "$(stat_key used_bytes "$snap")"
	assert_equal "$(stat_key buffers)" "$(stat_key buffers "$snap")"
	assert_failure_logged "$n0" $((3 * CHUNK)) "$snap"
}

@test "ENOSPC: a new allocation in a fragmented pool fails; it fits once a neighbour is freed" {
	fragment_pool
	local f0 n0 snap
	touch "$MNT/big"
	f0=$(stat_key alloc_failures) n0=$(log_lines) snap=$(stats)
	run -1 op truncate "$MNT/big" $((2 * CHUNK))
	assert_output ENOSPC
	run -0 stat -c '%s %b' "$MNT/big"
	assert_output "0 0"
	assert_equal "$(stat_key alloc_failures)" "$((f0 + 1))"
	assert_failure_logged "$n0" $((2 * CHUNK)) "$snap"
	if [[ $CMAFS_BACKEND == sim ]]; then
		# sim exact picture: 16 MiB pool, 8 chunks held, 8 one-chunk holes
		assert_equal "$(stat_key free_bytes "$snap")" $((8 * CHUNK))
		assert_equal "$(stat_key largest_free_bytes "$snap")" $CHUNK
		assert_equal "$(stat_key used_bytes "$snap")" $((8 * CHUNK))
		# freeing c2 joins holes c1+c2+c3 into 3 chunks
		rm "$MNT/frag/c2"
		assert_equal "$(stat_key largest_free_bytes)" $((3 * CHUNK))
		run -0 op truncate "$MNT/big" $((2 * CHUNK))
		run -0 xattr "$MNT/big" user.cma.phys_addr
		assert_output "$(printf '0x%x' $((${CMAFS_PHYS_BASE:-0x10000000} + CHUNK)))"
	fi
}

@test "ENOSPC: write() that needs a grow in a fragmented pool fails and leaves the file unchanged" {
	require_refusable_writes
	fragment_pool
	printf 'head' | dd of="$MNT/frag/c0" conv=notrunc status=none
	local before f0 n0 h0
	before=$(snapshot "$MNT/frag/c0")
	f0=$(stat_key alloc_failures) n0=$(log_lines) h0=$(stat_key helper_alloc_failures || echo 0)
	run -1 op pwrite "$MNT/frag/c0" $((5 * CHUNK / 2)) tail
	assert_output ENOSPC
	assert_equal "$(snapshot "$MNT/frag/c0")" "$before"
	if writes_reach_daemon; then
		assert_equal "$(stat_key alloc_failures)" "$((f0 + 1))"
		assert_failure_logged "$n0" "" ""
	else
		# The helper refused it (it logs "cmabuf: alloc failed" in the
		# kernel log) and counted it.
		(($(stat_key helper_alloc_failures) > h0)) || fail "helper_alloc_failures still $h0"
	fi
}
