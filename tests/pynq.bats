#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# PYNQ code on cmafs (issue 16): the Python tests of python/tests against a
# mount of this suite's backend (sim on the host, kmod in the arm64 VMs),
# in this run's passthrough mode:
#  - PYNQ's CMA notebook, unchanged, through the pynq names, showing what
#    the notebook shows;
#  - the pynq names: every spelling imports, none without cmafs-pynq.pth,
#    and a real PYNQ is never shadowed;
#  - pynq.xlnk's Xlnk and ContiguousArray, pynq.allocate and its buffer;
#  - 10,000 live one-page buffers in a process limited to 1024 descriptors,
#    all freed by SIGKILL (a persistent named buffer excepted);
#  - the cmafs module's own tests (test_cmafs.py).
# Each test also checks that the pool is back to no buffers after it.
#
#   PYTHON           a python3 with numpy (default: python3, /usr/bin/python3)
#   CMAFS_PYNQ_MANY  live buffers of the scale test (default 10000)

load helpers/common

PYDIR=$(cd "$BATS_TEST_DIRNAME/../python" 2>/dev/null && pwd)

setup_file() {
	local p py=""
	for p in ${PYTHON:-} python3 /usr/bin/python3; do
		command -v "$p" >/dev/null && "$p" -c 'import numpy' 2>/dev/null && { py=$p; break; }
	done
	export PY=$py
	[[ -n $py && -n $PYDIR ]] || return 0
	# 10,000 buffers and their descriptors in the daemon, 16 MiB more, and
	# half the pool for the ENOSPC test: 96 MiB of sim pool.
	export CMAFS_POOL=96M
	# The daemon holds a descriptor per buffer: room for 10,000.
	if (($(id -u) == 0)) && command -v prlimit >/dev/null; then
		export CMAFS_WRAP="prlimit --nofile=20000:20000"
	fi
	cmafs_mount
	unset CMAFS_WRAP
}

teardown_file() {
	cmafs_teardown_file
}

setup() {
	[[ -n $PY ]] || skip "no python3 with numpy (apt-get install python3-numpy)"
	[[ -n $PYDIR ]] || skip "no python/ next to tests/ (the cmafs module)"
}

# pyunit TEST...: python3 -m unittest in python/tests against this mount;
# then no buffer is left in the pool.
pyunit() {
	run env CMAFS_MOUNT="$MNT" PYTHONDONTWRITEBYTECODE=1 \
		sh -c 'cd "$1" && shift && exec "$@"' sh "$PYDIR/tests" \
		"$PY" -m unittest -v "$@"
	echo "$output"
	[[ $status -eq 0 ]] || fail "python3 -m unittest $* failed (status $status)"
	[[ $output == *$'\nOK'* ]] || fail "no OK from unittest"
	wait_stat buffers 0
}

need_cffi() {
	"$PY" -c 'import cffi' 2>/dev/null || skip "no python3-cffi (apt-get install python3-cffi)"
}

@test "PYNQ's CMA notebook runs unchanged (from pynq.drivers import xlnk) and shows what the notebook shows" {
	need_cffi
	pyunit test_pynq.NotebookTest
	[[ $output != *skipped* ]] || skip "a real PYNQ is installed here"
}

@test "the pynq names: every spelling imports; none without cmafs-pynq.pth; a real PYNQ is never shadowed" {
	need_cffi
	pyunit test_pynq.PynqNamesTest
}

@test "Xlnk: cma_alloc (cffi pointers), cma_cast, cma_get_buffer, cma_memcopy, cma_free, cma_get_phy_addr, cma_array, bufmap, ffi, cma_stats, xlnk_reset" {
	need_cffi
	pyunit test_pynq.XlnkTest
}

@test "allocate(shape, dtype, target): PynqBuffer's attributes; a foreign target refused; EFBIG and ENOSPC as RuntimeError and OSError" {
	pyunit test_pynq.AllocateTest
}

@test "10,000 live buffers under ulimit -n 1024; SIGKILL frees them all but a persistent named one" {
	local max
	max=$(awk -F': ' '$1 == "max_buffer_fds" { print $2 }' "$MNT/.stats")
	[[ -z $max || $max -ge ${CMAFS_PYNQ_MANY:-10000} ]] ||
		skip "the daemon may hold only $max buffer descriptors (prlimit needs root)"
	pyunit test_pynq.LifetimeTest
	[[ $output != *skipped* ]] || fail "the scale test was skipped: $output"
}

@test "the cmafs module: allocate, views, cache modes, flush/invalidate, freeing (test_cmafs.py)" {
	pyunit test_cmafs
}
