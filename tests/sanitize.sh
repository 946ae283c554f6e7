#!/usr/bin/env bash
# tests/sanitize.sh - the host suite against instrumented daemons.  Prints TAP.
#
#   tests/sanitize.sh [asan] [valgrind]      (default: both; make check-asan)
#
# asan:     copies the sources (Makefile, cmafs/, include/, tests/unit/) to
#           $SAN_OUT/asan, builds the daemon and the unit tests there with
#           -fsanitize=address,undefined (the main tree's objects are never
#           touched), runs every unit test, then `bats tests/` once per
#           passthrough mode with CMAFS_BIN pointing at the ASan daemon.
#           Every sanitizer report (ASan, UBSan, and LeakSanitizer when a
#           daemon exits) goes to a file under $SAN_OUT/asan/reports; after
#           each step a "no sanitizer reports" line fails if any appeared, and
#           shows them.
# valgrind: builds a plain -O1 -g copy in $SAN_OUT/valgrind, mounts it under
#           valgrind memcheck (--leak-check=full, definite leaks are errors)
#           through a CMAFS_BIN wrapper, runs a subset of the bats files, and
#           requires every daemon's log to end with "ERROR SUMMARY: 0 errors".
#
# Environment:
#   SAN_OUT      work directory (default build/, which is git-ignored)
#   SAN_CC       compiler for both builds (default: cc)
#   SAN_BATS     bats files for the asan run (default: tests/, i.e. all)
#   VG_BATS      bats files for the valgrind run
#                (default: tests/files.bats tests/xattr.bats tests/badinput.bats)
#   VG_MODES     passthrough modes for valgrind (default: off)
#   CMAFS_PASSTHROUGH_MODES  modes for the asan run (default: off on)
#
# Reproducing one failure by hand:
#   ASAN_OPTIONS=log_path=/tmp/asan CMAFS_BIN=build/asan/cmafs/cmafs \
#       CMAFS_TEST_OPTS=passthrough=off bats -f 'NAME' tests/FILE.bats
set -u
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
OUT=${SAN_OUT:-$ROOT/build}
[[ $OUT == /* ]] || OUT=$ROOT/$OUT
SAN_CC=${SAN_CC:-${CC:-cc}}
MODES=${CMAFS_PASSTHROUGH_MODES:-off on}
VG_MODES=${VG_MODES:-off}	# passthrough=on is covered by the ASan run
VG_BATS=${VG_BATS:-tests/files.bats tests/xattr.bats tests/badinput.bats}
SAN_BATS=${SAN_BATS:-tests/}

n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; }
diag() { sed 's/^/# /'; }

# copy_tree DIR: the sources a build needs, copied only where they changed
# (so make rebuilds only what changed); files gone from the tree go too.
copy_tree() {
	local dst=$1 f
	mkdir -p "$dst/cmafs" "$dst/include" "$dst/tests/unit" || return 1
	for f in Makefile cmafs/*.c cmafs/*.h include/*.h tests/unit/*.c tests/unit/*.h; do
		[[ -f $f ]] || continue
		cmp -s "$f" "$dst/$f" || cp -p "$f" "$dst/$f" || return 1
	done
	for f in "$dst"/cmafs/*.[ch] "$dst"/include/*.h "$dst"/tests/unit/*.[ch]; do
		[[ -f $f && ! -f $ROOT/${f#"$dst"/} ]] && rm -f "$f" "${f%.c}.o"
	done
	return 0
}

# build DIR CFLAGS LDFLAGS: daemon + unit tests; TAP line; 0 on success.
build() {
	local dir=$1 cflags=$2 ldflags=$3 what=$4 log units
	log=$dir/build.log
	copy_tree "$dir" || { notok "$what: copy the sources to $dir"; return 1; }
	units=$(cd "$dir" && for f in tests/unit/test_*.c; do [[ -f $f ]] && echo "${f%.c}"; done)
	# shellcheck disable=SC2086
	if make --no-print-directory -C "$dir" CC="$SAN_CC" CFLAGS="$cflags" \
		LDFLAGS="$ldflags" cmafs/cmafs $units >"$log" 2>&1; then
		ok "$what: build the daemon and unit tests in ${dir#"$ROOT"/} ($SAN_CC $cflags)"
	else
		notok "$what: build in ${dir#"$ROOT"/} ($SAN_CC $cflags)"
		tail -n 30 "$log" | diag
		return 1
	fi
}

# check_reports DIR WHAT STEP: TAP line "no sanitizer reports during WHAT";
# the reports found are moved to DIR/STEP, so each step sees only its own.
check_reports() {
	local dir=$1 what=$2 step=$3 f files
	mapfile -t files < <(find "$dir" -maxdepth 1 -type f | sort)
	if ((${#files[@]} == 0)); then
		ok "no sanitizer reports during $what"
		return
	fi
	mkdir -p "$dir/$step"
	mv "${files[@]}" "$dir/$step/"
	notok "no sanitizer reports during $what: ${#files[@]} report file(s) in ${dir#"$ROOT"/}/$step"
	# every report's summary, and the stacks of the first three
	local i=0
	for f in "${files[@]}"; do
		f=$dir/$step/$(basename "$f")
		echo "--- $f: $(grep -m1 -E '^SUMMARY' "$f")"
		((i++ < 3)) || continue
		grep -E '^(==.*ERROR|Direct|Indirect|READ|WRITE|    #[0-9]|.*runtime error)' "$f" | head -n 40
	done | diag
}

# run_bats LABEL TAPFILE ARGS...: one TAP line for a whole bats run; the
# failing tests and their output as diagnostics.
run_bats() {
	local label=$1 tap=$2 rc total nok nskip start=$SECONDS
	shift 2
	bats --tap "$@" >"$tap" 2>&1
	rc=$?
	total=$(grep -cE '^(not )?ok ' "$tap")
	nok=$(grep -cE '^not ok ' "$tap")
	nskip=$(grep -E '^ok ' "$tap" | grep -ciE '# skip')
	if ((rc == 0 && nok == 0 && total > 0)); then
		ok "$label: $total tests pass ($nskip skipped) in $((SECONDS - start)) s"
	else
		notok "$label: $nok of $total tests fail (bats status $rc, $((SECONDS - start)) s; full TAP in ${tap#"$ROOT"/})"
		# each failing test with the lines bats prints under it
		# (without the daemon log lines common.bash appends)
		awk '/^not ok /{p=1; print; next} /^ok /{p=0} p' "$tap" |
			grep -vE '^# (cmafs:|fuse:)' | head -n 80 | diag
	fi
}

run_asan() {
	local dir=$OUT/asan rep t mode out
	local flags='-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer'
	build "$dir" "$flags" '-fsanitize=address,undefined' asan || return
	rep=$dir/reports
	rm -rf "$rep" && mkdir -p "$rep"
	# Reports to files (the daemon's stderr is a test's log); leaks at exit.
	export ASAN_OPTIONS="log_path=$rep/asan:detect_leaks=1:abort_on_error=0:halt_on_error=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1"
	export UBSAN_OPTIONS="log_path=$rep/ubsan:print_stacktrace=1:halt_on_error=0"
	export LSAN_OPTIONS="log_path=$rep/lsan"

	for t in "$dir"/tests/unit/test_*; do
		[[ -x $t && $t != *.c && $t != *.h ]] || continue
		if out=$("$t" 2>&1) && ! grep -q '^not ok' <<<"$out"; then
			ok "asan: unit $(basename "$t")"
		else
			notok "asan: unit $(basename "$t")"
			grep -E '^(not ok|#)' <<<"$out" | head -n 40 | diag
		fi
	done
	check_reports "$rep" "the unit tests" unit

	for mode in $MODES; do
		# shellcheck disable=SC2086
		CMAFS_BIN=$dir/cmafs/cmafs CMAFS_TEST_OPTS="passthrough=$mode" \
			run_bats "asan: bats passthrough=$mode" "$dir/bats-$mode.tap" $SAN_BATS
		check_reports "$rep" "bats passthrough=$mode (ASan daemon)" "bats-$mode"
	done
	unset ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS
}

run_valgrind() {
	local dir=$OUT/valgrind rep wrap mode f logs bad
	if ! command -v valgrind >/dev/null; then
		ok "valgrind # skip valgrind not installed"
		return
	fi
	build "$dir" '-O1 -g' '' valgrind || return
	rep=$dir/reports
	rm -rf "$rep" && mkdir -p "$rep"
	wrap=$dir/cmafs-vg
	# exec: the pid bats waits for is the daemon's
	cat >"$wrap" <<-EOF
		#!/bin/sh
		exec valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite \\
			--errors-for-leak-kinds=definite --error-exitcode=99 --track-origins=yes \\
			--num-callers=30 --log-file="$rep/vg.%p" "$dir/cmafs/cmafs" "\$@"
	EOF
	chmod +x "$wrap"
	for mode in $VG_MODES; do
		# shellcheck disable=SC2086
		CMAFS_BIN=$wrap CMAFS_TEST_OPTS="passthrough=$mode" \
			run_bats "valgrind: $VG_BATS passthrough=$mode" "$dir/bats-$mode.tap" $VG_BATS
	done
	mapfile -t logs < <(find "$rep" -name 'vg.*' -type f | sort)
	bad=()
	for f in "${logs[@]}"; do
		grep -q 'ERROR SUMMARY: 0 errors' "$f" || bad+=("$f")
	done
	if ((${#logs[@]} == 0)); then
		notok "valgrind: no daemon ran under valgrind (no logs in ${rep#"$ROOT"/})"
	elif ((${#bad[@]} == 0)); then
		ok "valgrind: ${#logs[@]} daemons ran clean (0 errors, no definite leaks)"
	else
		notok "valgrind: ${#bad[@]} of ${#logs[@]} daemons had errors, definite leaks or did not exit normally"
		for f in "${bad[@]:3}"; do
			echo "--- $f: $(grep -m1 -o 'Command:.*' "$f"): $(grep -m1 -o 'ERROR SUMMARY:.*' "$f")"
		done
		for f in "${bad[@]:0:3}"; do
			echo "--- $f ($(head -n 20 "$f" | grep -m1 -o 'Command:.*'))"
			grep -vE '^==[0-9]+== *$|Copyright|Using Valgrind|Parent PID|For lists|rerun with|HEAP SUMMARY|in use at exit|total heap usage|^==[0-9]+== +(indirectly|possibly|still) ' "$f" |
				sed -n '/Command:/,$p' | head -n 60
		done | diag
	fi
}

what=("$@")
((${#what[@]})) || what=(asan valgrind)
mkdir -p "$OUT" || exit 2
start=$SECONDS
for w in "${what[@]}"; do
	case $w in
	asan) run_asan ;;
	valgrind) run_valgrind ;;
	*) notok "unknown part '$w' (asan or valgrind)" ;;
	esac
done
echo "# sanitize.sh: ${what[*]} took $((SECONDS - start)) s"
echo "1..$n"
((failed == 0))
