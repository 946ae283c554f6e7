# Sanitizers, valgrind and fuzzing (included by the top-level Makefile).
#
#   make check-asan       ASan+UBSan build of the daemon and unit tests in
#                         build/asan (a copy: the tree's objects stay as they
#                         are), unit tests + `bats tests/` in both passthrough
#                         modes against it (fails on any sanitizer report,
#                         LeakSanitizer at daemon exit included), then a
#                         valgrind memcheck run over a subset
#   make check-valgrind   only the valgrind part (build/valgrind)
#   make fuzz             the parsers under libFuzzer, FUZZ_TIME s per target
#                         (default 60 here; make check runs 12 s per target)
#   make fuzz-syscalls    the whole mount under random system calls: an
#                         ASan+UBSan daemon (built in build/fsfuzz-asan) is
#                         mounted with allow_other and quota=16M in each
#                         passthrough mode, and tests/tools/fsfuzz runs as two
#                         unprivileged users for FSFUZZ_TIME s (default 120
#                         here; make check runs 20 s per mode), on names they
#                         share: open/read/write/truncate/fallocate/mmap/
#                         ioctl/xattr/rename/link/mkdir/readdir/... with wild
#                         arguments.  Results are ignored; the daemon must
#                         stay up, answer, agree with the files left, free
#                         everything once they are removed, exit 0 at
#                         unmount and write no sanitizer report.  As root.
#                         FSFUZZ_SEED=N reproduces a run; FSFUZZ_TIME=600
#                         is the longer one.
#
# All of them print TAP; see tests/sanitize.sh, tests/fuzz/run and
# tests/fuzz/syscalls for the knobs (SAN_CC, SAN_BATS, VG_BATS,
# CMAFS_PASSTHROUGH_MODES, FUZZ_CC, FSFUZZ_SEED, FSFUZZ_SRC, ...).

.PHONY: check-asan check-valgrind fuzz fuzz-syscalls

check-asan: ## ASan+UBSan daemon under the unit and bats tests, then valgrind
	@tests/sanitize.sh asan valgrind

check-valgrind: ## the valgrind part of check-asan only
	@tests/sanitize.sh valgrind

fuzz: ## the parsers under libFuzzer (FUZZ_TIME s per target)
	@FUZZ_TIME=$${FUZZ_TIME:-60} tests/fuzz/run

fuzz-syscalls: ## the mount under random system calls (FSFUZZ_TIME s)
	@FSFUZZ_TIME=$${FSFUZZ_TIME:-120} tests/fuzz/syscalls
