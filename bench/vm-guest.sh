#!/bin/sh
# SPDX-License-Identifier: MIT
#
# bench/vm-guest.sh - the guest side of tests/vm/vm-bench.  Runs inside the
# VM from /payload (busybox sh): insmod cmabuf.ko, prepare the Debian arm64
# userland under ./rootfs (as tests/vm/guest/cmafs-bats.sh does), then runs
# itself again with bash in that chroot ("inner"), which measures, per
# passthrough mode, side by side in this one guest:
#   sweeps   rawbuf sweep (the helper's own descriptor), handoff_sweep (a
#            libcmafs mapping of a file of the mount) and mmap_sweep (the
#            mount's own mapping), uncached and cached, BENCH_ROUNDS rounds
#            in an order that rotates from round to round
#   lat      handofflat: open+mmap through the mount, the hand-off alone,
#            open+cmafs_map; rawbuf parts: the hand-off's steps apart
#   sync     rawbuf sync (the helper's SYNC on its own cached 4 MiB
#            buffer) and handoffsync (the helper's SYNC on the handed-out
#            descriptor, cmafs_sync, fsync through the mount)
#   alloc    rawbuf alloc: truncate to 4M and to 0 on the mount against
#            the helper's ALLOC and close
# (parts, sync and alloc only without passthrough).  Each figure is one line
# "@@B MODE KEY VALUES..." on the console; vm-bench makes the table.
#
# Environment (VM_ENV): BENCH_MODES (default "off"; comma-separated),
# BENCH_ROUNDS (7), BENCH_SIZE (64M), BENCH_SAMPLES (300).  For a dry run
# of "inner" on a host: BENCH_BIN (the tools), CMAFS_BIN (the daemon),
# BENCH_BACKEND (backend=kmod).

if [ "${1:-}" != inner ]; then
	r=$(uname -r)
	R=/payload/rootfs
	if insmod ./cmabuf.ko && [ -c /dev/cmabuf ]; then
		echo "ok - [$r] insmod cmabuf.ko"
	else
		echo "not ok - [$r] insmod cmabuf.ko"
		exit 1
	fi
	echo "# [$r] $(dmesg | grep -m 1 'cma: Reserved') ($(grep -E '^CmaTotal' /proc/meminfo | tr -s ' '))"
	[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd
	mkdir -p /dev/shm /dev/pts
	mount -t proc proc "$R/proc"
	mount -t sysfs sysfs "$R/sys"
	mount -o bind /dev "$R/dev"
	mount -t tmpfs -o mode=1777 tmpfs "$R/tmp"
	mount -t tmpfs -o mode=755 tmpfs "$R/run"
	chroot "$R" /usr/bin/env -i \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		HOME=/root LANG=C.UTF-8 TMPDIR=/tmp \
		BENCH_MODES="${BENCH_MODES:-off}" BENCH_ROUNDS="${BENCH_ROUNDS:-7}" \
		BENCH_SIZE="${BENCH_SIZE:-64M}" BENCH_SAMPLES="${BENCH_SAMPLES:-300}" \
		bash /opt/cmafs/bench/vm-guest.sh inner
	rc=$?
	umount "$R/run" "$R/tmp" "$R/dev" "$R/sys" "$R/proc" 2>/dev/null
	if rmmod cmabuf; then
		echo "ok - [$r] rmmod cmabuf after the benchmark (no buffer left behind)"
	else
		echo "not ok - [$r] rmmod cmabuf after the benchmark (no buffer left behind)"
		rc=1
	fi
	# The allocation path before issue 14 (cmabuf-before.ko, built by
	# vm-bench from an older commit) and now, in this guest, module by
	# module in turns: "@@B off before-raw<k>" / "after-raw<k>".
	if [ -f ./cmabuf-before.ko ]; then
		for turn in 1 2 3; do
			for which in before after; do
				ko=./cmabuf.ko
				[ $which = before ] && ko=./cmabuf-before.ko
				if ! insmod $ko; then
					echo "not ok - [$r] insmod $ko"; rc=1; break 2
				fi
				k=0
				$R/opt/cmafs/bench/rawbuf rawalloc 4M "${BENCH_SAMPLES:-300}" |
				while read -r med p99; do
					echo "@@B off $which-raw$k $med $p99 turn$turn"
					k=$((k + 1))
				done
				rmmod cmabuf || { echo "not ok - [$r] rmmod after $ko"; rc=1; break 2; }
			done
		done
		echo "ok - [$r] ALLOC 4M before and after issue 14, in turns"
	fi
	exit $rc
fi

# --- inner: in the Debian userland (POSIX sh, run by its bash) ---
set -u
r=$(uname -r)
B=${BENCH_BIN:-/opt/cmafs/bench}
D=${CMAFS_BIN:-/opt/cmafs/cmafs/cmafs}
ROUNDS=$BENCH_ROUNDS SIZE=$BENCH_SIZE N=$BENCH_SAMPLES
rc=0
emit() { echo "@@B $*"; }
bad() { echo "not ok - [$r] $*"; rc=1; }
settle() { # the daemon frees asynchronously after rm
	for _ in $(seq 200); do
		grep -qx 'used_bytes: 0' "$mnt/.stats" 2>/dev/null && return
		sleep 0.05
	done
}
run() { # MODE KEY CMD...: emit each output line of CMD as MODE KEY<n> LINE
	run_mode=$1 run_key=$2
	shift 2
	if ! run_out=$(timeout 600 "$@" 2>&1); then
		bad "$run_mode $run_key: $* failed: $run_out"
		return 1
	fi
	printf '%s\n' "$run_out" | {
		k=0
		while IFS= read -r line; do
			emit "$run_mode $run_key$k $line"
			k=$((k + 1))
		done
	}
}

for mode in $(echo "$BENCH_MODES" | tr , ' '); do
	start=$(date +%s)
	mnt=/tmp/cma-$mode
	mkdir -p "$mnt"
	"$D" -f -o "${BENCH_BACKEND:-backend=kmod},passthrough=$mode" "$mnt" > "/tmp/cmafs-$mode.log" 2>&1 &
	dpid=$!
	for _ in $(seq 200); do
		mountpoint -q "$mnt" && [ -r "$mnt/.stats" ] && break
		sleep 0.05
	done
	if ! mountpoint -q "$mnt"; then
		bad "mount with passthrough=$mode: $(tail -n 3 "/tmp/cmafs-$mode.log")"
		continue
	fi
	: > "$mnt/probe" && truncate -s 4K "$mnt/probe"
	emit "$mode mmap $(getfattr --absolute-names --only-values -n user.cma.mmap "$mnt/probe" 2>/dev/null || echo "?")"
	emit "$mode socket $(getfattr --absolute-names --only-values -n user.cma.socket "$mnt" 2>/dev/null || echo none)"
	rm -f "$mnt/probe"
	settle

	i=0
	while [ $i -lt "$ROUNDS" ]; do
		for cache in uncached cached; do
			for j in 0 1 2; do
				case $(((i + j) % 3)) in
				0) run "$mode" "sweep-raw-$cache" "$B/rawbuf" sweep "$SIZE" "$cache" ;;
				1) run "$mode" "sweep-handoff-$cache" "$B/handoff_sweep" "$mnt/sw" "$SIZE" "$cache"
					rm -f "$mnt/sw"; settle ;;
				2) run "$mode" "sweep-mount-$cache" "$B/mmap_sweep" "$mnt/sw" "$SIZE" "$cache"
					rm -f "$mnt/sw"; settle ;;
				esac
			done
		done
		i=$((i + 1))
	done

	truncate -s 4M "$mnt/lat" && run "$mode" lat "$B/handofflat" "$mnt/lat" "$N"
	[ "$mode" = off ] && run "$mode" parts "$B/rawbuf" parts "$mnt/lat" "$N"
	rm -f "$mnt/lat"
	settle

	if [ "$mode" = off ]; then
		if touch "$mnt/sync" && setfattr -n user.cma.cache -v cached "$mnt/sync" &&
		   truncate -s 4M "$mnt/sync"; then
			run "$mode" sync "$B/handoffsync" "$mnt/sync" "$N"
		else
			bad "a cached 4 MiB buffer on the mount"
		fi
		rm -f "$mnt/sync"
		settle
		run "$mode" rawsync "$B/rawbuf" sync 4M "$N"
		run "$mode" alloc "$B/rawbuf" alloc "$mnt/a" 4M "$N"
		rm -f "$mnt/a"
		settle
	fi

	fusermount3 -u "$mnt"
	wait "$dpid"
	secs=$(($(date +%s) - start))
	emit "$mode seconds $secs"
	echo "ok - [$r] benchmark with passthrough=$mode ($secs s)"
done
exit $rc
