#!/usr/bin/env bats
# 16 processes creating, resizing, writing, renaming and removing in
# parallel: every snapshot of .stats stays consistent, each process finds
# its own data intact, and after they are done nothing is leaked.

load helpers/common

setup_file() {
	export CMAFS_POOL=128M
	cmafs_setup_file
}
teardown_file() { cmafs_teardown_file; }

setup() {
	require_daemon
	PAGE=$(page_size)
	# Rounds per worker (the VMs run fewer: every exec is slow under TCG).
	ROUNDS=${CMAFS_TEST_ROUNDS:-12}
}

teardown() { cmafs_teardown; }


# worker ID ROUNDS: each round creates files, sizes/resizes them, writes a
# marker, checks it survived every resize, renames, and removes.  Sizes stay
# below 2 MiB per file and 2 files per worker, 16 workers: <= 64 MiB.
worker() {
	local id=$1 rounds=$2 r f g sz marker got fd dir=$MNT/w$1
	mkdir "$dir" || return 1
	for ((r = 0; r < rounds; r++)); do
		f=$dir/f$r g=$dir/g$r
		marker="worker-$id-round-$r"
		sz=$(((RANDOM % 512 + 1) * 1024))
		truncate -s "$sz" "$f" || return 1
		printf '%s' "$marker" | dd of="$f" conv=notrunc status=none || return 1
		truncate -s $((sz * 3)) "$f" || return 1
		printf '%s' "$marker" >"$g" || return 1
		truncate -s $((RANDOM % 2048 + 64)) "$g" || return 1
		exec {fd}<"$g" || return 1
		mv "$g" "$f.moved" || return 1
		truncate -s 1M "$f.moved" || return 1
		got=$(head -c ${#marker} "$f") || return 1
		[[ $got == "$marker" ]] || { echo "w$id r$r: f holds '$got'" >&2; return 1; }
		got=$(head -c ${#marker} <&$fd) || return 1
		exec {fd}<&-
		[[ $got == "$marker" ]] || { echo "w$id r$r: g holds '$got'" >&2; return 1; }
		mkdir "$dir/sub$r" && rmdir "$dir/sub$r" || return 1
		rm "$f" || return 1
		if ((r % 2)); then rm "$f.moved" || return 1; fi
		truncate -c -s 0 "$dir/f$((r - 1)).moved" 2>/dev/null
	done
	rm -rf "$dir"
}

@test "16 processes creating, resizing and removing in parallel leave .stats consistent and nothing leaked" {
	local i pids=() rc=0 s n=0 pool
	pool=$(stat_key pool_bytes)
	# a reader taking snapshots while the workers run
	(
		while [[ ! -e $BATS_TEST_TMPDIR/stop ]]; do
			cat "$MNT/.stats" >"$BATS_TEST_TMPDIR/snap.$n" 2>/dev/null
			n=$((n + 1))
			((n < 400)) || break
		done
	) &
	local reader=$!
	for ((i = 0; i < 16; i++)); do
		worker "$i" "$ROUNDS" 2>"$BATS_TEST_TMPDIR/worker.$i.err" &
		pids+=($!)
	done
	for i in "${!pids[@]}"; do
		wait "${pids[$i]}" || { rc=1; echo "worker $i failed: $(cat "$BATS_TEST_TMPDIR/worker.$i.err")" >&2; }
	done
	touch "$BATS_TEST_TMPDIR/stop"
	wait "$reader"
	((rc == 0)) || fail "a worker failed"

	local snaps=0 f
	for f in "$BATS_TEST_TMPDIR"/snap.*; do
		[[ -s $f ]] || continue
		assert_stats_consistent "$(<"$f")"
		snaps=$((snaps + 1))
	done
	((snaps > 0)) || fail "no snapshot taken"

	wait_stat buffers 0
	s=$(stats)
	assert_stats_consistent "$s"
	assert_equal "$(stat_key used_bytes "$s")" 0
	# (kmod: free_bytes is CmaFree, which the rest of the system moves too.)
	[[ $CMAFS_BACKEND != sim ]] || assert_equal "$(stat_key free_bytes "$s")" "$pool"
	assert_equal "$(stat_key orphan_buffers "$s")" 0
	assert_equal "$(stat_key allocs "$s")" "$(stat_key frees "$s")"
	assert_equal "$(stat_key alloc_failures "$s")" 0
	(($(stat_key allocs "$s") >= 16 * ROUNDS * 2)) || fail "fewer allocations than the workers made"
	[[ $CMAFS_BACKEND != sim ]] || assert_equal "$(stat_key largest_free_bytes "$s")" "$pool"
	[[ $CMAFS_BACKEND != sim ]] || assert_equal "$(sim_memfd_count)" 0
	run -0 ls "$MNT"
	assert_output ""
}

@test "16 processes each keeping two files: used_bytes is the sum, then all of it comes back" {
	local i pids=() want=0 s pool
	pool=$(stat_key pool_bytes)
	for ((i = 0; i < 16; i++)); do
		(
			truncate -s $(((i + 1) * 100000)) "$MNT/k$i-a" &&
				head -c $((i * 1000 + 1)) /dev/zero | tr '\0' 'q' >"$MNT/k$i-b" &&
				truncate -s $(((i + 1) * 50000)) "$MNT/k$i-a"
		) &
		pids+=($!)
		want=$((want + $(page_round $(((i + 1) * 50000))) + $(page_round $((i * 1000 + 1)))))
	done
	for i in "${pids[@]}"; do wait "$i" || fail "a process failed"; done
	# trimming of the written files happens at their (asynchronous) release
	wait_stat used_bytes "$want"
	s=$(stats)
	assert_stats_consistent "$s"
	assert_equal "$(stat_key buffers "$s")" 32
	assert_equal "$(stat_key files "$s")" 32
	[[ $CMAFS_BACKEND != sim ]] || assert_equal "$(sim_memfd_count)" 32
	# (The pids, not a bare wait: with BATS_TEST_TIMEOUT, as in the VMs, the
	# test shell has bats's own watchdog among its children.)
	pids=()
	for ((i = 0; i < 16; i++)); do
		rm "$MNT/k$i-a" "$MNT/k$i-b" &
		pids+=($!)
	done
	for i in "${pids[@]}"; do wait "$i" || fail "an rm failed"; done
	wait_stat buffers 0
	s=$(stats)
	assert_equal "$(stat_key used_bytes "$s")" 0
	# (kmod: free_bytes is CmaFree, which the rest of the system moves too.)
	[[ $CMAFS_BACKEND != sim ]] || assert_equal "$(stat_key free_bytes "$s")" "$pool"
	assert_equal "$(stat_key allocs "$s")" "$(stat_key frees "$s")"
	[[ $CMAFS_BACKEND != sim ]] || assert_equal "$(sim_memfd_count)" 0
}
