#!/usr/bin/env bats
# Issue 17: the daemon as a system tool.  What it refuses to mount on (and
# says why), a line on every exit with its cause, where its lines go
# (-o log=), and the rate limit that keeps a loop of refusals from flooding
# the log.  Each test starts its own daemons.

load helpers/common

setup() {
	require_daemon
	cmafs_tmp
	W=$(mktemp -d "$CMAFS_TMP/lc.XXXXXX")
}

teardown() {
	local m
	for m in "$W"/*/; do
		m=${m%/}
		_cmafs_mounted "$m" && { fusermount3 -uz "$m" 2>/dev/null || umount -l "$m"; }
	done
	cmafs_teardown
}

# start_fg DIR LOG [OPTIONS]: cmafs -f on DIR in the background; PID in FGPID.
start_fg() {
	"$CMAFS_BIN" -f -o "backend=sim,pool=16M${3:+,$3}" "$1" >"$2" 2>&1 3>&- &
	FGPID=$!
	local i
	for ((i = 0; i < 100; i++)); do
		_cmafs_mounted "$1" && { : <"$1/.stats"; } 2>/dev/null && return 0
		_cmafs_alive "$FGPID" || return 1
		_cmafs_nap
	done
	return 1
}

# wait_fg: the exit status of the daemon start_fg started, in RC.
wait_fg() {
	RC=0
	wait "$FGPID" || RC=$?
}

@test "lifecycle: a regular file as mount point is refused with one line; nothing is mounted" {
	touch "$W/file"
	run -1 "$CMAFS_BIN" -f -o backend=sim "$W/file"
	assert_output --partial "is not a directory"
	assert_equal "${#lines[@]}" 1
	_cmafs_mounted "$W/file" && fail "something is mounted on the file"
	run -1 "$CMAFS_BIN" -f -o backend=sim "$W/missing"
	assert_output --partial "No such file or directory"
}

@test "lifecycle: a second mount on the same directory is refused; the first keeps serving" {
	mkdir "$W/m"
	start_fg "$W/m" "$W/log1" || fail "first mount: $(cat "$W/log1")"
	truncate -s 8K "$W/m/keep"
	run -1 "$CMAFS_BIN" -f -o backend=sim "$W/m"
	assert_output --partial "cmafs is already mounted there"
	assert_output --partial "fusermount3 -u $W/m"
	assert_equal "$(stat -c %s "$W/m/keep")" 8192
	[[ $(awk -v m="$W/m" '$2 == m' /proc/self/mounts | wc -l) == 1 ]] || fail "mounted twice"
	fusermount3 -u "$W/m"
	wait_fg
	assert_equal "$RC" 0
}

@test "lifecycle: a non-empty directory is mounted over with a warning" {
	mkdir "$W/m"
	touch "$W/m/hidden"
	start_fg "$W/m" "$W/log" || fail "$(cat "$W/log")"
	grep -q "is not empty: its files are hidden while cmafs is mounted" "$W/log" ||
		fail "no warning: $(cat "$W/log")"
	[[ ! -e $W/m/hidden ]] || fail "the old file shows through"
	fusermount3 -u "$W/m"
	wait "$FGPID"
	[[ -e $W/m/hidden ]] || fail "the old file is gone after unmounting"
}

@test "lifecycle: after SIGKILL the stale mount is named with the command that clears it; cleared, it mounts again" {
	mkdir "$W/m"
	start_fg "$W/m" "$W/log" || fail "$(cat "$W/log")"
	kill -9 "$FGPID"
	wait "$FGPID" || true
	run -1 "$CMAFS_BIN" -f -o backend=sim "$W/m"
	assert_output --partial "a dead FUSE mount is still there"
	assert_output --partial "fusermount3 -uz $W/m"
	fusermount3 -uz "$W/m"
	start_fg "$W/m" "$W/log2" || fail "$(cat "$W/log2")"
	fusermount3 -u "$W/m"
	wait_fg
	assert_equal "$RC" 0
}

@test "lifecycle: every exit says why (SIGTERM, unmount), with the buffers it frees" {
	mkdir "$W/m"
	start_fg "$W/m" "$W/log" || fail "$(cat "$W/log")"
	truncate -s 4K "$W/m/a" "$W/m/b"
	kill -TERM "$FGPID"
	wait_fg
	assert_equal "$RC" 0
	grep -q "Terminated: unmounting $W/m, freeing 2 buffers" "$W/log" || fail "$(cat "$W/log")"
	start_fg "$W/m" "$W/log2" || fail "$(cat "$W/log2")"
	fusermount3 -u "$W/m"
	wait_fg
	assert_equal "$RC" 0
	grep -q "$W/m was unmounted: exiting, 0 buffers freed" "$W/log2" || fail "$(cat "$W/log2")"
}

@test "lifecycle: a misspelt option is named before any backend is probed" {
	mkdir "$W/m"
	# backend=auto (the default) without /dev/cmabuf would say "not found"
	run -1 "$CMAFS_BIN" -f -o backed=sim "$W/m"
	assert_output --partial "unknown option"
	assert_output --partial "backed=sim"
	refute_output --partial "/dev/cmabuf"
}

@test "lifecycle: a sim pool larger than the machine's memory is warned about" {
	local kb
	kb=$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)
	mkdir "$W/m"
	start_fg "$W/m" "$W/log" "pool=$(((kb / 1024 + 1024) / 1024 * 1024 + 1024))M" || fail "$(cat "$W/log")"
	grep -q "is more than this machine's memory (MemTotal $kb kB)" "$W/log" || fail "$(cat "$W/log")"
	fusermount3 -u "$W/m"
	wait "$FGPID"
	start_fg "$W/m" "$W/log2" || fail "$(cat "$W/log2")"
	run grep -c "machine's memory" "$W/log2"
	assert_output 0
	fusermount3 -u "$W/m"
	wait "$FGPID"
}

@test "logging: -o log=FILE takes the lines, daemonised too; a bad value is refused with what is accepted" {
	mkdir "$W/m"
	run -0 "$CMAFS_BIN" -o "backend=sim,pool=16M,log=$W/file.log" "$W/m"
	for ((i = 0; i < 100; i++)); do _cmafs_mounted "$W/m" && break; _cmafs_nap; done
	op fallocate "$W/m/x" 0 4096 3 2>/dev/null || true
	touch "$W/m/x"
	run -1 op fallocate "$W/m/x" 0 4096 1
	fusermount3 -u "$W/m"
	for ((i = 0; i < 100; i++)); do grep -q "was unmounted" "$W/file.log" && break; _cmafs_nap; done
	grep -q "fallocate (mode != 0) /x: Operation not supported (uid 0)" "$W/file.log" ||
		fail "no refusal line in the file: $(cat "$W/file.log")"
	grep -q "was unmounted: exiting" "$W/file.log" || fail "no exit line: $(cat "$W/file.log")"
	run -1 "$CMAFS_BIN" -f -o backend=sim,log=relative.log "$W/m"
	assert_output --partial "expected syslog, stderr or the absolute path of a file"
}

@test "logging: daemonised without a syslog daemon, the lines go to standard error" {
	if python3 -c 'import socket; s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.connect("/dev/log")' 2>/dev/null; then
		skip "a syslog daemon listens on /dev/log here: the fallback cannot be seen"
	fi
	mkdir "$W/m"
	"$CMAFS_BIN" -o backend=sim,pool=16M "$W/m" 2>"$W/err" 3>&-
	for ((i = 0; i < 100; i++)); do _cmafs_mounted "$W/m" && break; _cmafs_nap; done
	touch "$W/m/x"
	op fallocate "$W/m/x" 0 4096 1 || true
	fusermount3 -u "$W/m"
	for ((i = 0; i < 100; i++)); do grep -q "was unmounted" "$W/err" && break; _cmafs_nap; done
	grep -q "syslog is not reachable (nothing listens on /dev/log): logging to standard error" "$W/err" ||
		fail "$(cat "$W/err")"
	grep -q "fallocate (mode != 0) /x: Operation not supported" "$W/err" || fail "$(cat "$W/err")"
}

@test "logging: a daemonised mount inside \$(...) returns: the daemon does not keep its caller's pipe" {
	mkdir "$W/m"
	local out rc=0
	# with a syslog daemon the pipe is closed anyway; without one, stderr
	# would be kept, and a pipe is not
	out=$(timeout 20 "$CMAFS_BIN" -o backend=sim,pool=16M "$W/m" 2>&1) || rc=$?
	assert_equal "$rc" 0
	_cmafs_mounted "$W/m" || fail "not mounted: $out"
	if ! python3 -c 'import socket; s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.connect("/dev/log")' 2>/dev/null; then
		[[ $out == *"standard error is a pipe: no more lines; use -o log=FILE"* ]] || fail "$out"
	fi
	fusermount3 -u "$W/m"
}

@test "logging: 2000 refusals in a loop log a burst of 10, then one 'N lines suppressed' line when the site speaks again" {
	mkdir "$W/m"
	start_fg "$W/m" "$W/log" || fail "$(cat "$W/log")"
	touch "$W/m/x"
	python3 -c '
import ctypes, ctypes.util, os, sys
libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
fd = os.open(sys.argv[1], os.O_RDWR)
for _ in range(2000):
    assert libc.fallocate(fd, 1, 0, 4096) < 0
' "$W/m/x"
	local n
	n=$(grep -c "fallocate (mode != 0)" "$W/log")
	assert_equal "$n" 10
	# the next interval: the count of what was dropped, then the line
	sleep 5.2
	op fallocate "$W/m/x" 0 4096 1 || true
	grep -q "^cmafs: 1990 lines suppressed$" "$W/log" || fail "$(tail -n 5 "$W/log")"
	assert_equal "$(grep -c "fallocate (mode != 0)" "$W/log")" 11
	fusermount3 -u "$W/m"
	wait "$FGPID"
}

@test "--help lists only what works: every cmafs option is parsed, libfuse's thread options are not offered" {
	run -0 "$CMAFS_BIN" --help
	refute_output --partial "max_idle_threads"
	refute_output --partial "clone_fd"
	refute_output --regexp '(^|[[:space:]])-s[[:space:]]'
	local o src=$TESTS_DIR/../cmafs/options.c
	# (The VMs carry the tests and the daemon, not its sources.)
	[[ -f $src ]] || skip "cmafs/options.c is not here to compare --help with (the thread options were checked)"
	for o in $(grep -o -- '-o [a-z_]*=' <<<"$output" | cut -c4-); do
		grep -q "FUSE_OPT_KEY(\"$o\"" "$src" ||
			fail "--help offers $o, which cmafs/options.c does not parse"
	done
}
