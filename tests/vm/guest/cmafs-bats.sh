#!/bin/sh
# Runs inside the VM from /payload (busybox sh): the bats suite of the host
# against the kmod backend (cmabuf.ko, the kernel's real CMA area), in the
# Debian arm64 or armhf userland under ./rootfs (tests/vm/userland) with the
# cross-built daemon in rootfs/opt/cmafs (tests/vm/cross-cmafs); then the
# per-allocation latency of `truncate -s 4M`, kmod next to sim.
#
# Environment (VM_ENV):
#   BATS_MODES   passthrough modes to run the suite with, comma-separated
#                (default: the daemon's own default, passthrough=auto: on
#                where the kernel has FUSE passthrough, >= 6.9, else off)
#   BATS_FILES   the .bats files to run, comma-separated, relative to tests/
#                (default or "all": all but install.bats)
#   BATS_FILTER  bats --filter REGEX (default: none)
#   LAT_N        allocations per latency figure (default 100; 0 skips)
#   BATS_TEST_TIMEOUT  seconds one test may take (default 240)
#   BATS32_FILES the .bats files to run again with the 32-bit (armhf) daemon
#                and tools of /opt/cmafs/cmafs32 and bin32, when they are
#                there: 32-bit programs on this 64-bit kernel (default
#                kmod.bats; "none" skips)
# The "ok"/"not ok" lines of bats are tagged with [KREL MODE] after their
# number; the CMA area of the boot log is passed to the tests as
# CMA_BASE/CMA_SIZE (bytes).
r=$(uname -r)
R=/payload/rootfs
T=/opt/cmafs/tests
rc=0

if insmod ./cmabuf.ko && [ -c /dev/cmabuf ]; then
	echo "ok - [$r] insmod cmabuf.ko"
else
	echo "not ok - [$r] insmod cmabuf.ko"
	exit 1
fi

# The CMA area: "cma: Reserved 64 MiB at 0x0000000078c00000".
line=$(dmesg | grep -m 1 'cma: Reserved [0-9]* MiB at 0x')
mib=$(echo "$line" | sed -n 's/.*Reserved \([0-9]*\) MiB at.*/\1/p')
base=$(echo "$line" | sed -n 's/.* at \(0x[0-9a-fA-F]*\).*/\1/p')
if [ -n "$mib" ] && [ -n "$base" ]; then
	CMA_SIZE=$((mib * 1024 * 1024))
	CMA_BASE=$base
	echo "# [$r] CMA area: $mib MiB at $base ($(grep -E '^Cma(Total|Free)' /proc/meminfo | tr -s ' ' | tr '\n' ' '))"
else
	echo "# [$r] no 'cma: Reserved' line in the boot log"
	CMA_SIZE= CMA_BASE=
fi

# What udev and the init system would have made.
[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd
[ -e /dev/stdin ] || ln -s /proc/self/fd/0 /dev/stdin
[ -e /dev/stdout ] || ln -s /proc/self/fd/1 /dev/stdout
[ -e /dev/stderr ] || ln -s /proc/self/fd/2 /dev/stderr
mkdir -p /dev/shm /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t devpts devpts /dev/pts 2>/dev/null
mount -t proc proc "$R/proc"
mount -t sysfs sysfs "$R/sys"
mount -o bind /dev "$R/dev"
mount -t tmpfs -o mode=1777 tmpfs "$R/tmp"
[ -c "$R/dev/fuse" ] || echo "# [$r] no /dev/fuse"

# chroot R CMD...: run in the Debian userland with a clean environment.
in_root() {
	chroot "$R" /usr/bin/env -i \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		HOME=/root TERM=dumb LANG=C.UTF-8 TMPDIR=/tmp \
		CMA_BASE="$CMA_BASE" CMA_SIZE="$CMA_SIZE" \
		CMAFS_BIN=/opt/cmafs/cmafs/cmafs CMAFS_IOCTL_TOOL=/opt/cmafs/bin/cmafs-ioctl \
		CMAFS_MAP_TOOL=/opt/cmafs/bin/cmafs-map CMAFS_DMA_TOOL=/opt/cmafs/bin/cma_dma \
		CMAFS_V4L2_BIN=/opt/cmafs/bin \
		CMAFS_STRESS_BIN=/opt/cmafs/bin CMAFS_TEST_ROUNDS=4 \
		CMAFS_SKIP_ROOT_INSTALL=1 "$@"
}

if in_root bash -c 'bats --version && python3 -c "import ctypes, mmap" && getfattr --version && fusermount3 --version' \
	> /tmp/tools.log 2>&1; then
	echo "ok - [$r] the Debian userland runs: $(head -n 1 /tmp/tools.log)"
else
	echo "not ok - [$r] the Debian userland runs"
	sed 's/^/# /' /tmp/tools.log
	exit 1
fi

BATS_MODES=$(echo "${BATS_MODES:-}" | tr , ' ')
if [ -z "$BATS_MODES" ]; then
	BATS_MODES=off
	maj=${r%%.*} min=${r#*.}
	min=${min%%[.-]*}
	[ "$maj" -gt 6 ] || { [ "$maj" = 6 ] && [ "$min" -ge 9 ]; } && BATS_MODES=on
fi
if [ -n "${BATS_FILES:-}" ] && [ "$BATS_FILES" != all ]; then
	BATS_FILES=$(echo "$BATS_FILES" | tr , '\n' | sed "s|^|$T/|" | tr '\n' ' ')
else
	BATS_FILES=
	for f in "$R$T"/*.bats; do
		f=${f#"$R"}
		case $f in */install.bats) continue ;; esac
		BATS_FILES="$BATS_FILES $f"
	done
	echo "ok - [$r] install.bats # skip packaging is tested on the host (no make or cc in the VM)"
fi

for mode in $BATS_MODES; do
	tag="$r kmod passthrough=$mode"
	start=$(date +%s)
	# Streamed as it comes (the console is the only channel), tagged.
	# shellcheck disable=SC2086
	{
		in_root env CMAFS_BACKEND=kmod CMAFS_TEST_OPTS="passthrough=$mode" \
			BATS_TEST_TIMEOUT="${BATS_TEST_TIMEOUT:-240}" \
			bats --tap -T ${BATS_FILTER:+--filter "$BATS_FILTER"} $BATS_FILES 2>&1
		echo $? > /tmp/bats.rc
	} | tee /tmp/bats.out | awk -v tag="[$tag]" '
		/^(not )?ok [0-9]+ / { sub(/^(not )?ok [0-9]+ /, "&" tag " ") }
		{ print; fflush() }'
	brc=$(cat /tmp/bats.rc)
	if ! grep -qE '^(not )?ok ' /tmp/bats.out; then
		echo "not ok - [$tag] bats ran (exit $brc, no TAP)"
		rc=1
	fi
	[ "$brc" = 0 ] || rc=1
	echo "# [$tag] bats: $(grep -c '^ok ' /tmp/bats.out) ok, $(grep -c '^not ok ' /tmp/bats.out) not ok, $(grep -ci '^ok .*# skip' /tmp/bats.out) skipped, $(( $(date +%s) - start )) s"
done

# 32-bit programs on a 64-bit kernel: the armhf daemon, cmafs-ioctl and
# cmafs-map (static; the kernel runs them through its compat layer).
if [ -x "$R/opt/cmafs/cmafs32/cmafs" ] && [ "${BATS32_FILES:-kmod.bats}" != none ]; then
	files=$(echo "${BATS32_FILES:-kmod.bats}" | tr , '\n' | sed "s|^|$T/|" | tr '\n' ' ')
	tag="$r kmod 32-bit armhf daemon"
	start=$(date +%s)
	# shellcheck disable=SC2086
	{
		in_root env CMAFS_BACKEND=kmod CMAFS_BIN=/opt/cmafs/cmafs32/cmafs \
			CMAFS_IOCTL_TOOL=/opt/cmafs/bin32/cmafs-ioctl \
			CMAFS_MAP_TOOL=/opt/cmafs/bin32/cmafs-map \
			BATS_TEST_TIMEOUT="${BATS_TEST_TIMEOUT:-240}" \
			bats --tap -T $files 2>&1
		echo $? > /tmp/bats.rc
	} | tee /tmp/bats32.out | awk -v tag="[$tag]" '
		/^(not )?ok [0-9]+ / { sub(/^(not )?ok [0-9]+ /, "&" tag " ") }
		{ print; fflush() }'
	brc=$(cat /tmp/bats.rc)
	# e_ident[EI_CLASS], byte 4 of the ELF header: 1 is ELFCLASS32.
	if [ "$(od -An -tx1 -j4 -N1 "$R/opt/cmafs/cmafs32/cmafs" | tr -d ' ')" = 01 ]; then
		echo "ok - [$tag] the daemon under test is a 32-bit ELF (ELFCLASS32)"
	else
		echo "not ok - [$tag] the daemon under test is a 32-bit ELF (ELFCLASS32)"
		rc=1
	fi
	if ! grep -qE '^(not )?ok ' /tmp/bats32.out; then
		echo "not ok - [$tag] bats ran (exit $brc, no TAP)"
		rc=1
	fi
	[ "$brc" = 0 ] || rc=1
	echo "# [$tag] bats: $(grep -c '^ok ' /tmp/bats32.out) ok, $(grep -c '^not ok ' /tmp/bats32.out) not ok, $(grep -ci '^ok .*# skip' /tmp/bats32.out) skipped, $(( $(date +%s) - start )) s"
fi

# Per-allocation latency of truncate -s 4M: kmod (real CMA) and sim.
if [ "${LAT_N:-100}" -gt 0 ]; then
	cat > "$R/tmp/latency.sh" <<'EOF'
# latency.sh BACKEND N: N times truncate -s 4M then -s 0 on a fresh mount;
# prints "MEDIAN_MS WORST_MS SYSCALL_MEDIAN_MS SYSCALL_WORST_MS".
set -u
mnt=$(mktemp -d /tmp/lat.XXXXXX)
opts=backend=$1,passthrough=off
[ "$1" = sim ] && opts=$opts,pool=64M
/opt/cmafs/cmafs/cmafs -f -o "$opts" "$mnt" > /tmp/lat-$1.log 2>&1 3>&- &
pid=$!
for i in $(seq 100); do
	mountpoint -q "$mnt" && [ -r "$mnt/.stats" ] && break
	sleep 0.05
done
f=$mnt/f
: > "$f"
ts=()
for ((i = 0; i < $2; i++)); do
	t0=$EPOCHREALTIME
	truncate -s 4M "$f" || { echo "truncate failed" >&2; break; }
	t1=$EPOCHREALTIME
	truncate -s 0 "$f"
	ts+=($(( (${t1/./} - ${t0/./}) )))
done
# The system call alone (no fork/exec of truncate(1)).
sys=$(python3 - "$f" "$2" <<'PY'
import os, sys, time
f, n = sys.argv[1], int(sys.argv[2])
ts = []
for _ in range(n):
    t0 = time.perf_counter_ns()
    os.truncate(f, 4 << 20)
    ts.append(time.perf_counter_ns() - t0)
    os.truncate(f, 0)
ts.sort()
print("%.2f %.2f" % (ts[len(ts) // 2] / 1e6, ts[-1] / 1e6))
PY
)
fusermount3 -u "$mnt"
wait $pid
rmdir "$mnt"
printf '%s\n' "${ts[@]}" | sort -n | awk -v s="$sys" '{ a[NR] = $1 }
	END { if (NR) printf "%.2f %.2f %s\n", a[int((NR + 1) / 2)] / 1000, a[NR] / 1000, s }'
EOF
	for be in kmod sim; do
		if out=$(in_root bash /tmp/latency.sh $be "${LAT_N:-100}" 2>&1) &&
		   set -- $out && [ $# = 4 ]; then
			eval "lat_$be=\"$*\""
		else
			echo "# [$r] latency with backend=$be: $out"
			sed 's/^/#   /' "$R/tmp/lat-$be.log" | tail -n 5
			eval "lat_$be="
		fi
	done
	if [ -n "$lat_kmod" ] && [ -n "$lat_sim" ]; then
		echo "ok - [$r] per-allocation latency of truncate -s 4M measured (kmod and sim, ${LAT_N:-100} each)"
		set -- $lat_kmod
		echo "# [$r] truncate -s 4M, kmod (real CMA): truncate(1) median $1 ms, worst $2 ms; truncate(2) median $3 ms, worst $4 ms"
		set -- $lat_sim
		echo "# [$r] truncate -s 4M, sim:             truncate(1) median $1 ms, worst $2 ms; truncate(2) median $3 ms, worst $4 ms"
	else
		echo "not ok - [$r] per-allocation latency of truncate -s 4M measured (kmod and sim, ${LAT_N:-100} each)"
		rc=1
	fi
fi

umount "$R/tmp" "$R/dev" "$R/sys" "$R/proc" /dev/shm /dev/pts 2>/dev/null
if rmmod cmabuf; then
	echo "ok - [$r] rmmod cmabuf after the bats suite (no buffer left behind)"
else
	echo "not ok - [$r] rmmod cmabuf after the bats suite (no buffer left behind)"
	grep -E '^Cma' /proc/meminfo | sed 's/^/# /'
	rc=1
fi
exit $rc
