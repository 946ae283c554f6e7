# shellcheck shell=bash
# Helpers for tests/load.bats and tests/faults.bats (load after helpers/common).

STRESS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# build_stress_tools: exerciser and loadgen into $BATS_FILE_TMPDIR/bin;
# exports EXERCISER and LOADGEN (empty when there is no C compiler).
# CMAFS_STRESS_BIN: a directory with both already built (the VMs' guest).
build_stress_tools() {
	local bin=$BATS_FILE_TMPDIR/bin
	EXERCISER='' LOADGEN=''
	if [[ -n ${CMAFS_STRESS_BIN:-} ]]; then
		EXERCISER=$CMAFS_STRESS_BIN/exerciser LOADGEN=$CMAFS_STRESS_BIN/loadgen
	elif command -v "${CC:-cc}" >/dev/null; then
		mkdir -p "$bin"
		"${CC:-cc}" -O2 -Wall -Wextra -Werror -o "$bin/exerciser" "$STRESS_DIR/exerciser.c" || return 1
		"${CC:-cc}" -O2 -Wall -Wextra -Werror -pthread -o "$bin/loadgen" "$STRESS_DIR/loadgen.c" || return 1
		EXERCISER=$bin/exerciser LOADGEN=$bin/loadgen
	fi
	export EXERCISER LOADGEN
}

require_stress_tools() {
	[[ -n ${LOADGEN:-} && -x ${LOADGEN:-} ]] || skip "no C compiler for tests/stress tools"
}

# assert_quiescent_exact [MOUNT]: with nothing open, .stats matches the
# files exactly: buffers = regular files with data, used_bytes = sum of
# their page-rounded sizes, orphan_buffers 0, files = regular files.
# Releases and trims reach the daemon asynchronously: polled (<= 10 s).
assert_quiescent_exact() {
	local mnt=${1:-$MNT} s page sz f i want_buf want_used want_files ok
	page=$(page_size)
	for ((i = 0; i < 100; i++)); do
		want_buf=0 want_used=0 want_files=0
		while IFS= read -r -d '' f; do
			case $f in "$mnt/.stats" | "$mnt/.buffers" | "$mnt/.map") continue ;; esac
			sz=$(stat -c %s "$f") || continue
			want_files=$((want_files + 1))
			if ((sz > 0)); then
				want_buf=$((want_buf + 1))
				want_used=$((want_used + (sz + page - 1) / page * page))
			fi
		done < <(find "$mnt" -type f -print0)
		s=$(timeout 60 cat "$mnt/.stats") || fail "reading .stats failed or stalled"
		ok=1
		[[ $(stat_key orphan_buffers "$s") == 0 ]] || ok=0
		[[ $(stat_key buffers "$s") == "$want_buf" ]] || ok=0
		[[ $(stat_key used_bytes "$s") == "$want_used" ]] || ok=0
		if f=$(stat_key files "$s" 2>/dev/null); then [[ $f == "$want_files" ]] || ok=0; fi
		((ok)) && break
		_cmafs_nap 0.1
	done
	assert_stats_consistent "$s"
	((ok)) || fail "at quiescence expected buffers $want_buf, used_bytes $want_used, files $want_files, orphan_buffers 0; .stats: $s"
	echo "# quiescent: $want_files files, $want_buf buffers, $want_used bytes" >&3
}

# mount_on DIR [OPTION...] (MOUNT_WRAP=(CMD...) runs the daemon through CMD): a cmafs mount on an existing directory (cmafs_mount
# always makes a new one); exports MNT, LOG, CMAFS_PID; recorded for teardown.
mount_on() {
	local d=$1 opts=("backend=$CMAFS_BACKEND") o i
	shift
	[[ $CMAFS_BACKEND == sim && -n ${CMAFS_POOL:-} ]] && opts+=("pool=$CMAFS_POOL")
	for o in "$@" $CMAFS_TEST_OPTS; do [[ -n $o ]] && opts+=("$o"); done
	local IFS=,
	local optstr="${opts[*]}"
	unset IFS
	MNT=$d LOG=$BATS_TEST_TMPDIR/cmafs.$RANDOM.log
	# MOUNT_WRAP: e.g. (env --default-signal=INT): a background job of a
	# non-interactive shell starts with SIGINT ignored, and libfuse leaves an
	# ignored signal alone.  env execs, so CMAFS_PID is the daemon's.
	"${MOUNT_WRAP[@]}" "$CMAFS_BIN" -f -o "$optstr" "$MNT" >"$LOG" 2>&1 3>&- &
	CMAFS_PID=$!
	export MNT LOG CMAFS_PID
	echo "$MNT $CMAFS_PID $LOG" >>"$BATS_TEST_TMPDIR/cmafs-mounts"
	for ((i = 0; i < 100; i++)); do
		_cmafs_alive "$CMAFS_PID" || { cat "$LOG" >&2; return 1; }
		mountpoint -q "$MNT" && cat "$MNT/.stats" >/dev/null 2>&1 && return 0
		_cmafs_nap
	done
	cat "$LOG" >&2
	return 1
}

# wait_file FILE SECONDS: until FILE exists.
wait_file() {
	local end=$((SECONDS + $2))
	while ((SECONDS <= end)); do
		[[ -e $1 ]] && return 0
		_cmafs_nap 0.1
	done
	return 1
}

# wait_exit PID SECONDS: until PID (a child of this shell) ended; sets
# EXIT_STATUS.  Fails (and kills it) if it did not end in time.  Not in $(...):
# only the shell that started PID can collect its status.
wait_exit() {
	EXIT_STATUS=
	# Seconds, not a count of naps: under load in the VMs (TCG, one CPU)
	# every exec takes long, and the deadline must stay the deadline.
	local end=$((SECONDS + $2))
	while ((SECONDS <= end)); do
		_cmafs_alive "$1" || break
		_cmafs_nap 0.05
	done
	if _cmafs_alive "$1"; then
		kill -9 "$1" 2>/dev/null
		wait "$1" 2>/dev/null
		return 1
	fi
	wait "$1"
	EXIT_STATUS=$?
	return 0
}
