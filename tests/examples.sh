#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs every example of examples/ against a simulated pool it mounts itself,
# once per passthrough mode (${CMAFS_PASSTHROUGH_MODES:-off on}); each example
# checks its own result.  TAP on stdout; exits non-zero on any failure.
#
#   CMAFS_BIN  daemon (default cmafs/cmafs)
set -u
cd "$(dirname "$0")/.." || exit 2
root=$PWD
CMAFS_BIN=${CMAFS_BIN:-$root/cmafs/cmafs}
tmp=$(mktemp -d /tmp/cmafs-examples.XXXXXX)
chmod 755 "$tmp"
n=0 failed=0
mnt="" pid=""

ok() { n=$((n + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; }
diag() { sed 's/^/# /'; }

# check NAME CMD...: one test; its output becomes diagnostics on failure.
check() {
	local name=$1 out rc
	shift
	out=$("$@" 2>&1)
	rc=$?
	if [ $rc -eq 0 ]; then
		ok "$name"
	else
		notok "$name (exit $rc)"
		printf '%s\n' "$out" | tail -n 40 | diag
	fi
	return $rc
}

umount_pool() {
	[ -n "$mnt" ] || return 0
	if mountpoint -q "$mnt"; then
		fusermount3 -u "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null
	fi
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "daemon $pid still running after unmount" >&2
		kill -9 "$pid" 2>/dev/null
		return 1
	fi
	mnt=""
	return 0
}

cleanup() {
	umount_pool >/dev/null 2>&1
	rm -rf --one-file-system "$tmp"
}
trap cleanup EXIT

# A Python that has numpy (Debian's python3-numpy is not in every python3).
python=""
for p in ${PYTHON:-} python3 /usr/bin/python3; do
	if command -v "$p" >/dev/null && "$p" -c 'import numpy' 2>/dev/null; then
		python=$p
		break
	fi
done

if [ ! -x "$CMAFS_BIN" ]; then
	notok "cmafs daemon not built ($CMAFS_BIN)"
	echo "1..$n"
	exit 1
fi

# It maps with libcmafs: the static library make (make lib) built.
check "examples/c/cma_alloc.c builds with cc -Iinclude -Wall -Wextra -Werror, linked with lib/libcmafs.a" \
	cc -std=c11 -Wall -Wextra -Werror -Iinclude -o "$tmp/cma_alloc" examples/c/cma_alloc.c lib/libcmafs.a
built_c=$?
# The DMA example: its copy needs a DMA engine (tests/dma.bats runs it in the
# VMs, which have QEMU's edu device); here it builds and fills a buffer.
check "examples/c/cma_dma.c builds with cc -Iinclude -Wall -Wextra -Werror, linked with lib/libcmafs.a" \
	cc -std=c11 -Wall -Wextra -Werror -Iinclude -o "$tmp/cma_dma" examples/c/cma_dma.c lib/libcmafs.a
built_dma=$?
# The V4L2 example captures only with a device (tests/vivid.bats runs it in
# the VMs with vivid); here it builds.
check "examples/c/v4l2_capture.c builds with cc -Iinclude -Wall -Wextra -Werror, linked with lib/libcmafs.a" \
	cc -std=c11 -Wall -Wextra -Werror -Iinclude -o "$tmp/v4l2_capture" examples/c/v4l2_capture.c lib/libcmafs.a

for mode in ${CMAFS_PASSTHROUGH_MODES:-off on}; do
	mnt=$tmp/mnt-$mode
	log=$tmp/cmafs-$mode.log
	mkdir -p "$mnt"
	"$CMAFS_BIN" -f -o "backend=sim,pool=64M,passthrough=$mode" "$mnt" 2>"$log" &
	pid=$!
	up=0
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		mountpoint -q "$mnt" && [ -r "$mnt/.stats" ] && { up=1; break; }
		sleep 0.05
	done
	if [ $up -ne 1 ]; then
		if [ "$mode" = on ] && grep -q 'passthrough=on' "$log"; then
			ok "passthrough=on: examples # skip $(grep -m1 'passthrough=on' "$log")"
		else
			notok "passthrough=$mode: cmafs mounts a sim pool"
			diag <"$log"
		fi
		umount_pool
		continue
	fi
	mmapmode=$(awk -F': ' '$1 == "mmap" { print $2 }' "$mnt/.stats")
	tag="passthrough=$mode (mmap: $mmapmode)"

	check "$tag: examples/quickstart.sh (SPEC section 1 session)" \
		examples/quickstart.sh "$mnt"

	if [ $built_c -eq 0 ]; then
		check "$tag: cma_alloc: 1000000 bytes, ioctls, readback, sync for CPU" \
			"$tmp/cma_alloc" "$mnt/c-big" 1000000
		check "$tag: cma_alloc: one page" "$tmp/cma_alloc" "$mnt/c-page" "$(getconf PAGESIZE)"
		if "$tmp/cma_alloc" "$mnt/c-huge" $((65 << 20)) >"$tmp/huge.out" 2>&1; then
			notok "$tag: cma_alloc: larger than the pool fails"
		elif grep -q 'File too large' "$tmp/huge.out" && [ ! -e "$mnt/c-huge" ]; then
			ok "$tag: cma_alloc: larger than the pool fails with EFBIG and cleans up"
		else
			notok "$tag: cma_alloc: larger than the pool fails with EFBIG and cleans up"
			diag <"$tmp/huge.out"
		fi
	else
		ok "$tag: cma_alloc # skip did not build"
	fi

	if [ $built_dma -eq 0 ]; then
		truncate -s 64K "$mnt/dma-fill"
		check "$tag: cma_dma fill: a buffer filled through its own mapping" \
			"$tmp/cma_dma" fill "$mnt/dma-fill" 1
		# The pattern is in the buffer: 8 bytes of it, as read(2) sees them.
		if [ "$(od -An -tx1 -N8 "$mnt/dma-fill" | tr -d ' ')" != 0000000000000000 ]; then
			ok "$tag: cma_dma fill: the pattern is in the file"
		else
			notok "$tag: cma_dma fill: the pattern is in the file"
		fi
		rm -f "$mnt/dma-fill"
	else
		ok "$tag: cma_dma # skip did not build"
	fi

	if [ -n "$python" ]; then
		# The cmafs module and PYNQ's API over it (python/tests: the
		# notebook, Xlnk, allocate, 10,000 buffers, SIGKILL).
		check "$tag: python/tests: python3 -m unittest (cmafs module, PYNQ notebook and API)" \
			env CMAFS_MOUNT="$mnt" PYTHONDONTWRITEBYTECODE=1 \
			"$python" -m unittest discover -s python/tests -p 'test_*.py'
	else
		ok "$tag: python/tests # skip no python3 with numpy (apt-get install python3-numpy)"
	fi

	# The examples gave everything back.
	buffers=""
	for _ in $(seq 100); do
		buffers=$(awk -F': ' '$1 == "buffers" { print $2 }' "$mnt/.stats")
		[ "$buffers" = 0 ] && break
		sleep 0.05
	done
	if [ "$buffers" = 0 ] && ! find "$mnt" -mindepth 1 ! -name .stats ! -name .buffers ! -name .map | grep -q .; then
		ok "$tag: no buffers or files left in the pool"
	else
		notok "$tag: no buffers or files left in the pool"
		{ ls -la "$mnt"; cat "$mnt/.stats"; } | diag
	fi
	if umount_pool; then
		ok "$tag: unmounted, daemon exited"
	else
		notok "$tag: unmounted, daemon exited"
	fi
done

echo "1..$n"
[ $failed -eq 0 ]
