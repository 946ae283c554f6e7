# shellcheck shell=bash
# Common helpers for the cmafs bats suites.
#
#   load helpers/common        (from tests/*.bats)
#
# Environment:
#   CMAFS_BIN        daemon binary (default: tests/../cmafs/cmafs)
#   CMAFS_BACKEND    sim (default) or kmod
#   CMAFS_TEST_OPTS  extra -o options appended to every mount
#                    (e.g. passthrough=off or passthrough=on)
#   CMAFS_POOL       sim pool size for the next cmafs_mount (default: daemon's)
#   CMAFS_PHYS_BASE  sim phys_base for the next cmafs_mount (default: daemon's)
#   CMAFS_WRAP       a prefix command the next cmafs_mount runs the daemon
#                    under, split on blanks and exec'ing it (so CMAFS_PID is
#                    still the daemon's), e.g. "prlimit --nofile=300:300"
#
# cmafs_mount may be called from setup_file (mount for the whole file) or
# from a test/setup (mount for that test); teardown/teardown_file must call
# cmafs_teardown / cmafs_teardown_file, which unmount whatever that scope
# mounted, even after a failure.

bats_require_minimum_version 1.5.0

load /usr/lib/bats/bats-support/load
load /usr/lib/bats/bats-assert/load
load /usr/lib/bats/bats-file/load

HELPERS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TESTS_DIR=$(cd "$HELPERS_DIR/.." && pwd)
: "${CMAFS_BIN:=$TESTS_DIR/../cmafs/cmafs}"
: "${CMAFS_BACKEND:=sim}"
: "${CMAFS_TEST_OPTS:=}"
export CMAFS_BIN CMAFS_BACKEND CMAFS_TEST_OPTS
export OP="$HELPERS_DIR/op.py"
export TEST_USER=cmafstest

# Where this scope records its mounts ("mountpoint pid log" per line).
_cmafs_registry() {
	if [[ -n ${BATS_TEST_TMPDIR:-} ]]; then
		echo "$BATS_TEST_TMPDIR/cmafs-mounts"
	else
		echo "$BATS_FILE_TMPDIR/cmafs-mounts"
	fi
}

# cmafs_register MOUNTPOINT PID LOG: unmount it (and wait for PID) at the
# teardown of this scope, as for cmafs_mount's own; tab-separated, so that a
# mount point may hold blanks.
cmafs_register() {
	printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$(_cmafs_registry)"
}

# The helpers that poll use shell builtins only: in the arm64 VMs (TCG)
# every fork+exec costs ~60 ms.
_cmafs_alive() { # pid -> 0 while the process exists and is not a zombie
	local st
	{ read -r st <"/proc/$1/stat"; } 2>/dev/null || return 1
	st=${st##*) }
	st=${st%% *}
	[[ -n $st && $st != Z && $st != X ]]
}

# _cmafs_mounted DIR: 0 while DIR is a mount point in /proc/self/mountinfo
# (unlike mountpoint(1), also when its daemon is dead: ENOTCONN).
_cmafs_mounted() {
	local _id _pid _dev _root mp _rest
	# (mountinfo writes a blank as \040)
	while read -r _id _pid _dev _root mp _rest; do
		[[ $mp == "${1// /\\040}" ]] && return 0
	done </proc/self/mountinfo
	return 1
}

# _cmafs_nap [SECONDS]: sleep(1) without an exec (a read that times out on
# a pipe nobody writes to).
_cmafs_nap() {
	[[ -n ${_CMAFS_NAP_FD:-} ]] || exec {_CMAFS_NAP_FD}<> <(:)
	read -rt "${1:-0.05}" -u "$_CMAFS_NAP_FD" _ 2>/dev/null || :
}

# cmafs_tmp: a world-traversable scratch directory (mount points, tools the
# unprivileged test user runs); removed by the teardown of the scope that
# created it.
cmafs_tmp() {
	[[ -n ${CMAFS_TMP:-} && -d ${CMAFS_TMP:-} ]] && return 0
	CMAFS_TMP=$(mktemp -d /tmp/cmafs-bats.XXXXXX)
	chmod 755 "$CMAFS_TMP"
	export CMAFS_TMP
	if [[ -n ${BATS_TEST_TMPDIR:-} ]]; then
		echo "$CMAFS_TMP" >"$BATS_TEST_TMPDIR/cmafs-tmp"
	fi
}

# cmafs_mount [OPTION...]: mount a fresh pool; exports MNT, LOG, CMAFS_PID.
# Each argument is one -o option (or a comma list).  Mount points live in a
# world-traversable directory so that an unprivileged test user reaches them.
cmafs_mount() {
	local opts=() o
	[[ -x $CMAFS_BIN ]] || { echo "cmafs binary $CMAFS_BIN not built" >&2; return 1; }
	opts+=("backend=$CMAFS_BACKEND")
	if [[ $CMAFS_BACKEND == sim ]]; then
		[[ -n ${CMAFS_POOL:-} ]] && opts+=("pool=$CMAFS_POOL")
		[[ -n ${CMAFS_PHYS_BASE:-} ]] && opts+=("phys_base=$CMAFS_PHYS_BASE")
	fi
	for o in "$@" $CMAFS_TEST_OPTS; do [[ -n $o ]] && opts+=("$o"); done
	local IFS=,
	local optstr="${opts[*]}"
	unset IFS

	cmafs_tmp
	local dir
	dir=$(mktemp -d "$CMAFS_TMP/mnt.XXXXXX")
	chmod 755 "$dir"
	MNT=$dir/mnt
	LOG=$dir/cmafs.log
	mkdir "$MNT"
	# FD 3 must not leak into the daemon, or bats waits for it forever.
	local wrap=()
	[[ -n ${CMAFS_WRAP:-} ]] && read -ra wrap <<<"$CMAFS_WRAP"
	"${wrap[@]}" "$CMAFS_BIN" -f -o "$optstr" "$MNT" >"$LOG" 2>&1 3>&- &
	CMAFS_PID=$!
	export MNT LOG CMAFS_PID
	cmafs_register "$MNT" "$CMAFS_PID" "$LOG"

	local i
	for ((i = 0; i < 100; i++)); do
		if ! _cmafs_alive "$CMAFS_PID"; then
			echo "cmafs exited before mounting (-o $optstr); log:" >&2
			cat "$LOG" >&2
			return 1
		fi
		if _cmafs_mounted "$MNT" && { : <"$MNT/.stats"; } 2>/dev/null; then
			return 0
		fi
		_cmafs_nap
	done
	echo "cmafs did not mount $MNT within 5 s (-o $optstr); log:" >&2
	cat "$LOG" >&2
	return 1
}

# cmafs_umount [MOUNTPOINT [PID]]: unmount, wait (<= 10 s) for the daemon to
# exit; fails if it did not (then it is killed so nothing lingers).
cmafs_umount() {
	local mnt=${1:-$MNT} pid=${2:-$CMAFS_PID} i rc=0
	if _cmafs_mounted "$mnt"; then
		fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -uz "$mnt" 2>/dev/null ||
			umount -l "$mnt" 2>/dev/null || true
	fi
	for ((i = 0; i < 200; i++)); do
		_cmafs_alive "$pid" || break
		_cmafs_nap
	done
	if _cmafs_alive "$pid"; then
		echo "cmafs (pid $pid) still running 10 s after unmounting $mnt" >&2
		kill -9 "$pid" 2>/dev/null
		rc=1
	fi
	_cmafs_mounted "$mnt" && { umount -l "$mnt" 2>/dev/null; rc=1; }
	local reg
	reg=$(_cmafs_registry)
	[[ -f $reg ]] && sed -i "\\|^$mnt |d" "$reg"
	return $rc
}

_cmafs_umount_registry() {
	local reg=$1 mnt pid log rc=0
	[[ -f $reg ]] || return 0
	while IFS=$'\t' read -r mnt pid log; do
		[[ -n $mnt ]] || continue
		cmafs_umount "$mnt" "$pid" || rc=1
	done < <(tac "$reg")
	rm -f "$reg"
	return $rc
}

# For teardown(): show the daemon log of a failed test, unmount test mounts.
cmafs_teardown() {
	local reg
	if [[ -z ${BATS_TEST_COMPLETED:-} && -n ${LOG:-} && -f ${LOG:-} ]]; then
		echo "--- last lines of $LOG ---" >&2
		tail -n 20 "$LOG" >&2
	fi
	_cmafs_umount_registry "$BATS_TEST_TMPDIR/cmafs-mounts" || return 1
	if [[ -f $BATS_TEST_TMPDIR/cmafs-tmp ]]; then
		rm -rf --one-file-system "$(cat "$BATS_TEST_TMPDIR/cmafs-tmp")"
	fi
}

# Remove every entry of the mount's root (not .stats); never fails.
cmafs_clean_root() {
	[[ -n ${MNT:-} ]] && _cmafs_mounted "$MNT" || return 0
	find "$MNT" -mindepth 1 -maxdepth 1 ! -name .stats ! -name .buffers ! -name .map -exec rm -rf {} + 2>/dev/null
	return 0
}

# For teardown_file().
cmafs_teardown_file() {
	local rc=0
	_cmafs_umount_registry "$BATS_FILE_TMPDIR/cmafs-mounts" || rc=1
	[[ -n ${CMAFS_TMP:-} ]] && rm -rf --one-file-system "$CMAFS_TMP" 2>/dev/null
	return $rc
}

# Mount for the whole file; skips every test (with the reason) if the daemon
# is not built.
cmafs_setup_file() {
	if [[ ! -x $CMAFS_BIN ]]; then
		export CMAFS_NOT_BUILT=1
		return 0
	fi
	cmafs_mount "$@"
}

require_daemon() {
	[[ -z ${CMAFS_NOT_BUILT:-} && -x $CMAFS_BIN ]] || skip "cmafs daemon not built ($CMAFS_BIN)"
}

: "${CMAFS_PAGE_SIZE:=$(getconf PAGESIZE)}"
export CMAFS_PAGE_SIZE
page_size() { echo "$CMAFS_PAGE_SIZE"; }

# Page-rounded size of N bytes.
page_round() {
	local p
	p=$(page_size)
	echo $(((($1) + p - 1) / p * p))
}

# The whole .stats text (one consistent snapshot).
stats() {
	local t
	t=$(<"${1:-$MNT}/.stats") || return
	printf '%s\n' "$t"
}

# stat_key KEY [SNAPSHOT_TEXT]: one value from .stats (or from a snapshot).
stat_key() {
	local text line
	if (($# > 1)); then text=$2; else text=$(<"$MNT/.stats") || return; fi
	while IFS= read -r line; do
		[[ ${line%%: *} == "$1" ]] || continue
		printf '%s\n' "${line#*: }"
		return 0
	done <<<"$text"
	return 1
}

# wait_stat KEY VALUE: poll (<= 5 s) until .stats shows KEY: VALUE.  Releases
# (close, munmap) reach the daemon asynchronously, so counts that depend on
# them are awaited; the final value is still asserted.
wait_stat() {
	local i v
	for ((i = 0; i < 100; i++)); do
		v=$(stat_key "$1") && [[ $v == "$2" ]] && return 0
		_cmafs_nap
	done
	echo "wait_stat: .stats $1 is '$v', expected '$2'" >&2
	stats >&2
	return 1
}

# wait_xattr FILE NAME VALUE: same for an attribute (e.g. trimming at close).
wait_xattr() {
	local i v
	for ((i = 0; i < 100; i++)); do
		v=$(xattr "$1" "$2" 2>/dev/null) && [[ $v == "$3" ]] && return 0
		_cmafs_nap
	done
	echo "wait_xattr: $2 of $1 is '$v', expected '$3'" >&2
	return 1
}

# wait_trim FILE: the allocation of a file written with write() is trimmed
# to its page-rounded size when the last writer's release reaches the daemon.
wait_trim() { wait_xattr "$1" user.cma.size "$(page_round "$(stat -c %s "$1")")"; }

# xattr FILE NAME: value of an extended attribute.
xattr() { getfattr --absolute-names --only-values -n "$2" "$1"; }

# op ...: run a single syscall through op.py; prints OK/value or errno name.
op() { python3 "$OP" "$@"; }

# The .stats backend/mmap of the current mount.
actual_mmap_mode() { stat_key mmap; }

require_backend() {
	[[ $CMAFS_BACKEND == "$1" ]] || skip "only for backend=$1 (running with backend=$CMAFS_BACKEND)"
}

# Growth by write() used to be accounted after the fact under passthrough
# with sim (not refused); the daemon now serves writes itself, so they are
# always refusable.  Kept (a no-op) for the suites that call it.
require_refusable_writes() { :; }

# require_passthrough on|off: whether the mount in effect maps buffers
# directly (passthrough active, .stats "mmap: direct") or not.
require_passthrough() {
	local m
	m=$(stat_key mmap)
	case $1 in
	on) [[ $m == direct ]] || skip "needs passthrough in effect (this mount: mmap: $m)" ;;
	off) [[ $m == cached ]] || skip "needs passthrough off (this mount: mmap: $m)" ;;
	esac
}

# The unprivileged test user (created if missing); sets TEST_UID/TEST_GID.
ensure_test_user() {
	if ! id -u "$TEST_USER" >/dev/null 2>&1; then
		useradd --system --no-create-home --shell /usr/sbin/nologin "$TEST_USER" >/dev/null 2>&1 ||
			id -u "$TEST_USER" >/dev/null 2>&1 || return 1
	fi
	TEST_UID=$(id -u "$TEST_USER")
	TEST_GID=$(id -g "$TEST_USER")
	export TEST_UID TEST_GID
}

# as_user CMD...: run CMD as the test user (no supplementary groups).
# The system PATH: root's may hold shims (pyenv) the test user cannot run.
# The checkout may be private (a clone in a 0700 directory), so $OP is run
# from a world-readable copy.
as_user() {
	local a args=() shared=/tmp/cmafs-test-helpers
	for a in "$@"; do
		if [[ $a == "$OP" ]]; then
			mkdir -p -m 755 "$shared"
			install -m 644 "$OP" "$shared/op.py"
			a=$shared/op.py
		fi
		args+=("$a")
	done
	setpriv --reuid="$TEST_UID" --regid="$TEST_GID" --clear-groups -- \
		env PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin HOME=/ "${args[@]}"
}

# md5 of a file or of a range: md5_of FILE [SKIP_BYTES COUNT_BYTES]
md5_of() {
	if (($# == 3)); then
		dd if="$1" iflag=skip_bytes,count_bytes skip="$2" count="$3" status=none | md5sum | cut -d' ' -f1
	else
		md5sum <"$1" | cut -d' ' -f1
	fi
}

# Bytes [off, off+len) of FILE are all zero.
assert_zero_range() {
	local f=$1 off=$2 len=$3
	cmp -n "$len" <(dd if="$f" iflag=skip_bytes,count_bytes skip="$off" count="$len" status=none) /dev/zero >/dev/null ||
		fail "bytes [$off, $((off + len))) of $f are not all zero"
}

# sim: the daemon's memfd (as /proc/PID/fd/N) whose size is SIZE; exactly one.
sim_memfd_of_size() {
	local f found=() s
	for f in /proc/"$CMAFS_PID"/fd/*; do
		[[ $(readlink "$f" 2>/dev/null) == *cmafs-sim* ]] || continue
		s=$(stat -L -c %s "$f" 2>/dev/null) || continue
		[[ $s == "$1" ]] && found+=("$f")
	done
	((${#found[@]} == 1)) || { echo "sim_memfd_of_size $1: ${#found[@]} matches" >&2; return 1; }
	echo "${found[0]}"
}

# sim: number of buffer memfds the daemon holds.
sim_memfd_count() {
	local f n=0
	for f in /proc/"$CMAFS_PID"/fd/*; do
		[[ $(readlink "$f" 2>/dev/null) == *cmafs-sim* ]] && n=$((n + 1))
	done
	echo $n
}

hex2dec() { printf '%d' "$1"; }

# assert_cmafs_alive: the daemon of the current mount is still running and
# its mount answers (.stats can be stat'ed and read).
assert_cmafs_alive() {
	_cmafs_alive "$CMAFS_PID" || { fail "the daemon (pid $CMAFS_PID) died; log: $(tail -n 5 "$LOG")"; return 1; }
	stat "$MNT/.stats" >/dev/null || { fail "$MNT/.stats does not answer"; return 1; }
	stat_key pool_bytes >/dev/null || { fail ".stats is not readable"; return 1; }
}

# The number of descriptors the daemon holds open.
cmafs_fd_count() {
	local f n=0
	for f in /proc/"$CMAFS_PID"/fd/*; do n=$((n + 1)); done
	echo $n
}

# The daemon's resident set size in KiB (VmRSS).
cmafs_rss_kb() {
	local k v _
	while read -r k v _; do
		[[ $k == VmRSS: ]] && { echo "$v"; return 0; }
	done <"/proc/$CMAFS_PID/status"
	return 1
}

# Build tests/tools/cmafs-ioctl (world-executable, for the test user too);
# exports IOCTL_TOOL.  CMAFS_IOCTL_TOOL names a prebuilt (e.g. cross-built)
# one; without it and without a C compiler, tests that need it skip.
build_tools() {
	cmafs_tmp
	IOCTL_TOOL=
	if [[ -n ${CMAFS_IOCTL_TOOL:-} ]]; then
		cp "$CMAFS_IOCTL_TOOL" "$CMAFS_TMP/cmafs-ioctl" && IOCTL_TOOL=$CMAFS_TMP/cmafs-ioctl
	elif command -v cc >/dev/null; then
		cc -O1 -Wall -I"$TESTS_DIR/../include" -o "$CMAFS_TMP/cmafs-ioctl" \
			"$TESTS_DIR/tools/cmafs-ioctl.c" || return 1
		IOCTL_TOOL=$CMAFS_TMP/cmafs-ioctl
	fi
	export IOCTL_TOOL
}

require_tools() {
	[[ -n ${IOCTL_TOOL:-} && -x ${IOCTL_TOOL:-} ]] ||
		skip "tests/tools/cmafs-ioctl not available (no cc; set CMAFS_IOCTL_TOOL)"
}

# assert_phys_in_pool ADDR SIZE: sim: [ADDR, ADDR+SIZE) inside
# [phys_base, phys_base + pool_bytes).  kmod: ADDR is non-zero.
assert_phys_in_pool() {
	local a s base pool b
	a=$(hex2dec "$1") s=$2
	((a > 0)) || fail "phys_addr $1 is zero"
	[[ $CMAFS_BACKEND == sim ]] || return 0
	base=$(hex2dec "${CMAFS_PHYS_BASE:-0x10000000}")
	# .stats may show it (extra key); then it must agree with the option
	if b=$(stat_key phys_base 2>/dev/null); then
		assert_equal "$(hex2dec "$b")" "$base"
	fi
	pool=$(stat_key pool_bytes)
	((a >= base && a + s <= base + pool)) ||
		fail "phys_addr $1 + $s outside [$(printf 0x%x "$base"), $(printf 0x%x $((base + pool))))"
}

# assert_stats_consistent SNAPSHOT: what every .stats snapshot satisfies,
# at any instant (a sim pool: used + free = pool).  Parsed in one pass
# without a subshell: tests check hundreds of snapshots, in the VMs too.
assert_stats_consistent() {
	local s=$1 line
	local -A st=()
	while IFS= read -r line; do
		[[ $line == *': '* ]] && st[${line%%: *}]=${line#*: }
	done <<<"$s"
	local k
	for k in pool_bytes used_bytes free_bytes largest_free_bytes buffers allocs frees orphan_buffers; do
		[[ ${st[$k]:-} =~ ^[0-9]+$ ]] || { fail "no numeric $k: $s"; return 1; }
	done
	local pool=${st[pool_bytes]} used=${st[used_bytes]} free=${st[free_bytes]}
	local largest=${st[largest_free_bytes]} buffers=${st[buffers]}
	local allocs=${st[allocs]} frees=${st[frees]} orphans=${st[orphan_buffers]}
	local ps=$CMAFS_PAGE_SIZE
	if [[ ${st[backend]:-} == kmod ]]; then
		# The CMA area is shared with the rest of the system and free is
		# CmaFree: our buffers in it (all but those from the page
		# allocator) are at most what is not free.  CmaFree lags by what
		# the per-CPU counters have not folded yet: 4 MiB of slack.
		local buddy=${st[helper_buddy_bytes]:-0}
		((used + free <= pool + buddy + 4194304)) ||
			{ fail "used $used + free $free > pool $pool + buddy $buddy: $s"; return 1; }
	else
		((used + free == pool)) || { fail "used $used + free $free != pool $pool: $s"; return 1; }
	fi
	((largest <= free)) || { fail "largest_free $largest > free $free: $s"; return 1; }
	((allocs - frees == buffers)) ||
		{ fail "allocs $allocs - frees $frees != buffers $buffers: $s"; return 1; }
	((orphans <= buffers)) || { fail "orphans $orphans > buffers $buffers: $s"; return 1; }
	((used % ps == 0 && free % ps == 0)) || { fail "used/free not page multiples: $s"; return 1; }
}
