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
#
# All of them print TAP; see tests/sanitize.sh and tests/fuzz/run for the
# knobs (SAN_CC, SAN_BATS, VG_BATS, CMAFS_PASSTHROUGH_MODES, FUZZ_CC, ...).

.PHONY: check-asan check-valgrind fuzz

check-asan:
	@tests/sanitize.sh asan valgrind

check-valgrind:
	@tests/sanitize.sh valgrind

fuzz:
	@FUZZ_TIME=$${FUZZ_TIME:-60} tests/fuzz/run
