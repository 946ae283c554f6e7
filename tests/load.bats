#!/usr/bin/env bats
# Concurrency (issue 6): 32 clients (4 processes x 8 threads,
# tests/stress/loadgen.c) on one mount for a bounded time, doing create,
# resize, write, user.* and user.cma.* get/set, listxattr, readdir, mmap,
# .stats reads, rename and unlink (of open files too), in directories of
# their own (exact expectations) and in one they share.  A watchdog fails
# the run if any client or .stats read stalls for more than 60 s; every
# .stats snapshot must be consistent; at quiescence .stats must match the
# files exactly, and with everything removed the pool must be empty.

load helpers/common
load stress/lib

LOAD_SECS=${CMAFS_LOAD_SECS:-10}
STALL_SECS=60

setup_file() {
	build_stress_tools
}

setup() {
	require_daemon
	require_stress_tools
}

teardown() { cmafs_teardown; }

# run_load [LOADGEN OPTION...]: loadgen on $MNT/load; output in $LOAD_OUT.
run_load() {
	LOAD_OUT=$BATS_TEST_TMPDIR/load.out
	mkdir -p "$MNT/load"
	# outer watchdog, in case loadgen's own one were to hang
	LOAD_RC=0
	timeout -s KILL $((LOAD_SECS + STALL_SECS + 120)) \
		"$LOADGEN" -t "$LOAD_SECS" -w "$STALL_SECS" -k "$CMAFS_PID" -R "$MNT" "$@" "$MNT/load" >"$LOAD_OUT" 2>&1 ||
		LOAD_RC=$?
	sed 's/^/# /; s/^# # /# /' "$LOAD_OUT" | tail -n 12 >&3
}

assert_daemon_answers() {
	_cmafs_alive "$CMAFS_PID" || fail "cmafs (pid $CMAFS_PID) died; log: $(tail -5 "$LOG")"
	mountpoint -q "$MNT" || fail "$MNT is no longer mounted"
	local s
	s=$(timeout "$STALL_SECS" cat "$MNT/.stats") || fail ".stats read failed or stalled for ${STALL_SECS}s"
	assert_stats_consistent "$s"
}

@test "32 clients for ${LOAD_SECS}s: no error, no stall, every .stats snapshot consistent, exact at quiescence" {
	CMAFS_POOL=128M cmafs_mount
	run_load -P 4 -T 8 -m 256K
	((LOAD_RC != 137)) || fail "loadgen killed by the outer watchdog"
	((LOAD_RC != 3)) || fail "a client stalled for more than ${STALL_SECS}s: $(grep -v '^# loadgen' "$LOAD_OUT")"
	((LOAD_RC == 0)) || fail "loadgen failed (status $LOAD_RC): $(grep -v '^# loadgen' "$LOAD_OUT" | head -20)"
	grep -q '^PASS: 32 clients' "$LOAD_OUT" || fail "no summary: $(cat "$LOAD_OUT")"
	# the snapshots were many, all consistent
	local snaps
	snaps=$(sed -n 's/.*, \([0-9]*\) \.stats snapshots (0 inconsistent).*/\1/p' "$LOAD_OUT")
	[[ -n $snaps ]] && ((snaps >= 100)) || fail "too few consistent .stats snapshots: $(tail -1 "$LOAD_OUT")"
	assert_daemon_answers
	assert_quiescent_exact
	# every client directory is there and readable; shared names are s0..s63 only
	local n
	n=$(find "$MNT/load" -maxdepth 1 -name 'c*' -type d | wc -l)
	assert_equal "$n" 32
	if find "$MNT/load/shared" -mindepth 1 ! -name 's[0-9]*' | grep -q .; then
		fail "unexpected names in shared/: $(ls -A "$MNT/load/shared")"
	fi
	# removing everything empties the pool
	rm -rf "$MNT/load"
	assert_quiescent_exact
	local s
	s=$(stats)
	assert_equal "$(stat_key buffers "$s")" 0
	assert_equal "$(stat_key used_bytes "$s")" 0
	# (kmod: free_bytes is CmaFree, which the rest of the system moves too.)
	[[ $CMAFS_BACKEND != sim ]] || assert_equal "$(stat_key free_bytes "$s")" "$(stat_key pool_bytes "$s")"
	assert_equal "$(stat_key allocs "$s")" "$(stat_key frees "$s")"
	cmafs_umount
}

@test "sim: 32 clients on a pool too small for them: ENOSPC only, no stall, .stats consistent and exact at quiescence" {
	# (kmod: the pool is the kernel's CMA area, which a test cannot shrink,
	# and the page allocator serves what CMA cannot, up to 4 MiB.)
	require_backend sim
	CMAFS_POOL=8M cmafs_mount
	# (Writes are refused before they grow a buffer in every mode, so
	# user.cma.size never falls below st_size: no -D.)
	run_load -P 4 -T 8 -m 1M
	((LOAD_RC != 137)) || fail "loadgen killed by the outer watchdog"
	((LOAD_RC != 3)) || fail "a client stalled for more than ${STALL_SECS}s: $(grep -v '^# loadgen' "$LOAD_OUT")"
	((LOAD_RC == 0)) || fail "loadgen failed (status $LOAD_RC): $(grep -v '^# loadgen' "$LOAD_OUT" | head -20)"
	local enospc
	enospc=$(sed -n 's/.* \([0-9]*\) ENOSPC,.*/\1/p' "$LOAD_OUT")
	((enospc > 0)) || fail "the pool never ran out: $(tail -1 "$LOAD_OUT")"
	(($(stat_key alloc_failures) > 0)) || fail "alloc_failures is 0 after $enospc ENOSPC"
	grep -q 'cmafs: alloc failed, req-size: [0-9]* pages, free: [0-9]* pages, largest free: [0-9]* pages' "$LOG" ||
		fail "no 'alloc failed' line in the daemon log"
	assert_daemon_answers
	assert_quiescent_exact
	rm -rf "$MNT/load"
	assert_quiescent_exact
	assert_equal "$(stat_key used_bytes)" 0
	cmafs_umount
}
