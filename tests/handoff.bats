#!/usr/bin/env bats
# Issue 13, the descriptor hand-off: any process gets the buffer's own
# descriptor over the daemon's socket (include/cmafs.h), and a mapping of
# it is the buffer on every kernel, with or without passthrough or root.
# tests/helpers/handoff.py speaks the protocol with Python's standard
# library only.

load helpers/common

setup_file() {
	export CMAFS_POOL=64M
	ensure_test_user
	cmafs_tmp
	# The test user runs the client too: a world-readable copy.
	install -m 644 "$HELPERS_DIR/handoff.py" "$CMAFS_TMP/handoff.py"
	export HO=$CMAFS_TMP/handoff.py
	cmafs_setup_file allow_other
}
teardown_file() { cmafs_teardown_file; }

setup() {
	require_daemon
	PAGE=$(page_size)
}

teardown() {
	cmafs_clean_root
	cmafs_teardown
}

ho() { python3 "$HO" "$@"; }

# wait_until CMD...: poll CMD (<= 10 s) until it succeeds.
wait_until() {
	local i
	for ((i = 0; i < 200; i++)); do
		"$@" 2>/dev/null && return 0
		_cmafs_nap 0.05
	done
	fail "timed out waiting for: $*"
}
socket_is() { [[ $(xattr "$1" user.cma.socket) == "$2" ]]; }
uho() { as_user python3 "$HO" "$@"; }

@test "the socket: user.cma.socket on every file, listed on the root only, a socket anyone may connect to" {
	mkdir "$MNT/d"
	truncate -s 4K "$MNT/f"
	local sock
	sock=$(xattr "$MNT" user.cma.socket)
	[[ $sock == /* ]] || fail "user.cma.socket is '$sock'"
	assert_equal "$(xattr "$MNT/f" user.cma.socket)" "$sock"
	assert_equal "$(xattr "$MNT/d" user.cma.socket)" "$sock"
	[[ -S $sock ]] || fail "$sock is not a socket"
	assert_equal "$(stat -c %a "$sock")" 666
	# root's daemon keeps it in root's own directory
	assert_equal "$(stat -c '%U %a' "$(dirname "$sock")")" "root 755"
	run getfattr --absolute-names -d -m 'user.cma.socket' "$MNT"
	assert_output --partial "user.cma.socket"
	run getfattr --absolute-names -d -m 'user.cma.socket' "$MNT/f"
	refute_output --partial "user.cma.socket"
	run -1 op setxattr "$MNT/f" user.cma.socket /tmp/x
	assert_output EPERM
}

@test "a store through a hand-off mapping is in the buffer at once, no sync; a mount mapping without passthrough is not (control)" {
	truncate -s 1M "$MNT/f"
	run ho store "$MNT/f" 0x1000 direct-store
	assert_output stored
	# Read back through another hand-off: the buffer's memory, not the mount.
	run ho pread "$MNT/f" 0x1000 12
	assert_output direct-store
	run ho mapread "$MNT/f" 0x1000 12
	assert_output direct-store
	# ... and the mount agrees.
	assert_equal "$(dd if="$MNT/f" bs=1 skip=4096 count=12 status=none)" direct-store

	# The control: a page-cache mapping through the mount (no passthrough)
	# leaves the buffer unchanged until fsync.
	[[ $(xattr "$MNT/f" user.cma.mmap) == cached ]] || skip "mmap through this mount is direct (passthrough): no page-cache copy to compare with"
	run ho control "$MNT/f" 0x2000 cached-store
	assert_output "before_fsync=zeros after_fsync=cached-store"
}

@test "a write to the buffer descriptor (the device's stand-in) is seen through a hand-off mapping at once" {
	truncate -s 64K "$MNT/f"
	# The mapping is made first, the store comes after, from another process.
	python3 - "$HO" "$MNT/f" <<'EOF'
import importlib.util, mmap, os, subprocess, sys
spec = importlib.util.spec_from_file_location("ho", sys.argv[1])
ho = importlib.util.module_from_spec(spec); spec.loader.exec_module(ho)
_, fd = ho.buffer_fd(sys.argv[2], "ro")
m = mmap.mmap(fd, 65536, mmap.MAP_SHARED, mmap.PROT_READ)
before = m[100:110]
_, w = ho.buffer_fd(sys.argv[2], "rw")
os.pwrite(w, b"from-dev!!", 100)
assert before == b"\0" * 10, before
assert m[100:110] == b"from-dev!!", m[100:110]
EOF
}

@test "a read-only grant cannot be mapped writable, made writable, written or truncated" {
	truncate -s 64K "$MNT/f"
	run ho rogrant "$MNT/f"
	assert_output --regexp '^mmap_rw=EACCES mprotect=EACCES write=EBADF ftruncate=(EINVAL|EBADF)$'
	# the flags say so
	run ho get "$MNT/f" ro
	assert_output --regexp '^error=0 flags=[02] '
	run ho get "$MNT/f" rw
	assert_output --regexp '^error=0 flags=[13] '
}

@test "the grant follows the peer's credentials, not the descriptor it sends" {
	truncate -s 64K "$MNT/secret"
	chmod 600 "$MNT/secret"
	local sock
	sock=$(xattr "$MNT" user.cma.socket)
	# root opened it; the test user only passes the descriptor on
	run as_user python3 "$HO" sendfd 5 "$sock" 5<>"$MNT/secret"
	assert_output --regexp '^error=EACCES '
	grep -q "descriptor hand-off refused to uid $TEST_UID .*Permission denied" "$LOG" ||
		fail "no log line for the refusal: $(tail -3 "$LOG")"
	# control: the same descriptor from root is granted
	run python3 "$HO" sendfd 5 "$sock" 5<>"$MNT/secret"
	assert_output --regexp '^error=0 flags=[13] cache=[0-9] size=65536 fd=size:65536$'
	# readable by all: the user gets a read-only grant of its own descriptor
	chmod 644 "$MNT/secret"
	run uho get "$MNT/secret" ro
	assert_output --regexp '^error=0 flags=[02] '
	# but not a writable one through root's read-write descriptor
	run as_user python3 "$HO" sendfd 5 "$sock" 5<>"$MNT/secret"
	assert_output --regexp '^error=EACCES '
}

@test "names that are not a buffer: clear errors, and the daemon goes on" {
	local sock
	sock=$(xattr "$MNT" user.cma.socket)
	mkdir "$MNT/dir"
	truncate -s 0 "$MNT/empty"
	truncate -s 4K "$MNT/f"
	ln -s /etc/passwd "$MNT/out"
	run ho get "$MNT/empty" ro
	assert_output --regexp '^error=ENODATA '
	run ho get "$MNT/f" wo
	assert_output --regexp '^error=EACCES '
	run ho get "$MNT/f" path
	assert_output --regexp '^error=EBADF '
	run ho get "$MNT/dir" ro "$sock"
	assert_output --regexp '^error=EISDIR '
	run ho get "$MNT/.stats" ro "$sock"
	assert_output --regexp '^error=EINVAL '
	run ho get "$MNT/out" ro "$sock"
	assert_output --regexp '^error=EXDEV '
	run ho get "$MNT/../" ro "$sock"
	assert_output --regexp '^error=(EXDEV|EISDIR) '
	run ho get /etc/passwd ro "$sock"
	assert_output --regexp '^error=EXDEV '
	# the same file, removed but still open, is still a buffer (as mmap is)
	assert_cmafs_alive
	run ho get "$MNT/f" ro
	assert_output --regexp '^error=0 '
}

@test "garbage, short, long and versioned requests: EPROTO, EMSGSIZE, EPROTONOSUPPORT, EINVAL" {
	local sock
	sock=$(xattr "$MNT" user.cma.socket)
	run ho raw "$sock" 00 1
	assert_output 'error=EPROTO fds=0'
	run ho raw "$sock" 4d464d53010001000000000000000000 1 # wrong magic
	assert_output 'error=EPROTO fds=0'
	run ho raw "$sock" 434d4653020001000000000000000000 1 # version 2
	assert_output 'error=EPROTONOSUPPORT fds=0'
	run ho raw "$sock" 434d4653010002000000000000000000 1 # op 2
	assert_output 'error=EINVAL fds=0'
	run ho raw "$sock" 434d4653010001000100000000000000 1 # a flag
	assert_output 'error=EINVAL fds=0'
	run ho raw "$sock" 434d4653010001000000000000000000 0 # no descriptor
	assert_output 'error=EINVAL fds=0'
	run ho raw "$sock" 434d4653010001000000000000000000 3 # three
	assert_output 'error=EINVAL fds=0'
	run ho raw "$sock" "434d4653010001000000000000000000$(printf '%0256d' 0)" 1
	assert_output 'error=EMSGSIZE fds=0'
	# A client that closes before its reply costs nothing.
	python3 -c '
import socket, sys, os, struct
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET); s.connect(sys.argv[1])
socket.send_fds(s, [struct.pack("=IHHII", 0x53464d43, 1, 1, 0, 0)], [os.open(sys.argv[2], os.O_RDONLY)])
s.close()' "$sock" "$MNT/.stats"
	assert_cmafs_alive
	truncate -s 4K "$MNT/f"
	run ho get "$MNT/f" ro
	assert_output --regexp '^error=0 '
}

@test "1,000 clients at once: some served, the rest told EAGAIN, the request loop never waits" {
	local sock
	sock=$(xattr "$MNT" user.cma.socket)
	truncate -s 4K "$MNT/f"
	# While the flood runs, the mount keeps answering.
	ho flood "$sock" 1000 >"$BATS_TEST_TMPDIR/flood" &
	local pid=$! n=0
	while kill -0 "$pid" 2>/dev/null; do
		stat "$MNT/f" >/dev/null || fail "the mount stopped answering during the flood"
		n=$((n + 1))
	done
	wait "$pid"
	run cat "$BATS_TEST_TMPDIR/flood"
	# 32 connections at most; every other one is refused with EAGAIN
	assert_output --regexp '^answered=([1-9][0-9]*) eagain=([1-9][0-9]*) other=0$'
	local a e
	read -r a e _ < <(sed 's/[a-z]*=//g' "$BATS_TEST_TMPDIR/flood")
	assert_equal "$((a + e))" 1000
	((a <= 32)) || fail "$a clients served at once (limit 32)"
	grep -q "too many connections" "$LOG" || fail "no log line for the refusals"
	# one user cannot take every slot: 8 each
	run as_user python3 "$HO" flood "$sock" 20
	assert_output 'answered=8 eagain=12 other=0'
	# and the hand-off still works afterwards
	run ho get "$MNT/f" ro
	assert_output --regexp '^error=0 '
}

@test "a handed-out descriptor holds the buffer: rm frees it at its last unmap, .stats counts it an orphan until then" {
	truncate -s 2M "$MNT/f"
	local used buffers
	used=$(stat_key used_bytes)
	buffers=$(stat_key buffers)
	ho hold "$MNT/f" "$BATS_TEST_TMPDIR/ready" "$BATS_TEST_TMPDIR/gone" &
	local pid=$!
	wait_until test -e "$BATS_TEST_TMPDIR/ready"
	rm "$MNT/f"
	assert_equal "$(stat_key orphan_buffers)" 1
	assert_equal "$(stat_key buffers)" "$buffers"
	assert_equal "$(stat_key used_bytes)" "$used"
	touch "$BATS_TEST_TMPDIR/gone"
	wait "$pid"
	assert_equal "$(stat_key orphan_buffers)" 0
	assert_equal "$(stat_key buffers)" $((buffers - 1))
	assert_equal "$(stat_key used_bytes)" $((used - 2 * 1024 * 1024))
}

@test "resizes through the mount keep working: a hand-off made before sees the bytes after" {
	truncate -s 64K "$MNT/f"
	ho store "$MNT/f" 100 before-resize
	truncate -s 4M "$MNT/f"
	run ho pread "$MNT/f" 100 13
	assert_output before-resize
	run ho get "$MNT/f" ro
	assert_output --regexp "size=$((4 * 1024 * 1024)) fd=size:$((4 * 1024 * 1024))\$"
	truncate -s 8K "$MNT/f"
	run ho get "$MNT/f" ro
	assert_output --regexp 'size=8192 fd=size:8192$'
}

@test "kmod: the mapping's frames are the buffer's, from phys_addr on; a non-owner's descriptor tells no address" {
	require_backend kmod
	truncate -s 256K "$MNT/f"
	run ho pfns "$MNT/f"
	local phys
	phys=$(xattr "$MNT/f" user.cma.phys_addr)
	assert_output "phys=$phys pfn0=$phys contiguous=yes"
	chmod 644 "$MNT/f"
	run ho info "$MNT/f" ro
	assert_output --regexp "^phys=$phys dma=0x[0-9a-f]+ files=2 maps=0\$"
	run uho info "$MNT/f" ro
	assert_output 'phys=0x0 dma=0x0 files=2 maps=0'
}

@test "unmount and SIGTERM remove the socket; a socket left by a killed daemon does not stop the next mount" {
	cmafs_mount allow_other
	local sock
	sock=$(xattr "$MNT" user.cma.socket)
	[[ -S $sock ]]
	cmafs_umount
	[[ ! -e $sock ]] || fail "$sock is still there after unmount"
	# SIGTERM too
	cmafs_mount allow_other
	sock=$(xattr "$MNT" user.cma.socket)
	kill -TERM "$CMAFS_PID"
	wait_until eval '! _cmafs_alive "$CMAFS_PID"'
	[[ ! -e $sock ]] || fail "$sock is still there after SIGTERM"
	grep -q "Terminated: unmounting" "$LOG" || fail "no exit line: $(tail -3 "$LOG")"

	local mnt=$MNT
	cmafs_mount allow_other
	sock=$(xattr "$MNT" user.cma.socket)
	kill -9 "$CMAFS_PID"
	fusermount3 -uz "$MNT"
	[[ -S $sock ]] || fail "expected the killed daemon's socket to stay"
	# the same mount point again
	"$CMAFS_BIN" -f -o "backend=$CMAFS_BACKEND,allow_other${CMAFS_TEST_OPTS:+,$CMAFS_TEST_OPTS}" "$MNT" >"$LOG.2" 2>&1 3>&- &
	local pid=$!
	cmafs_register "$MNT" "$pid" "$LOG.2"
	wait_until socket_is "$MNT" "$sock"
	truncate -s 4K "$MNT/f"
	run ho get "$MNT/f" ro
	assert_output --regexp '^error=0 '
	: "$mnt"
}

@test "socket=none: no socket, no attribute; socket=PATH: there" {
	cmafs_mount socket=none
	run -1 op getxattr "$MNT" user.cma.socket
	assert_output ENODATA
	cmafs_umount
	cmafs_mount "socket=$CMAFS_TMP/my.sock"
	assert_equal "$(xattr "$MNT" user.cma.socket)" "$CMAFS_TMP/my.sock"
	[[ -S $CMAFS_TMP/my.sock ]]
}

@test "an unprivileged daemon (user_allow_other) hands out direct mappings too" {
	[[ -u /bin/fusermount3 || -u /usr/bin/fusermount3 ]] || skip "fusermount3 is not setuid here"
	local conf=/etc/fuse.conf saved= fusemode
	[[ -f $conf ]] && saved=$(cat "$conf")
	grep -qx user_allow_other "$conf" 2>/dev/null || echo user_allow_other >>"$conf"
	# Debian's /dev/fuse is 0666; some containers make it root's only.
	fusemode=$(stat -c %a /dev/fuse)
	chmod 666 /dev/fuse
	local dir
	dir=$(mktemp -d "$CMAFS_TMP/user.XXXXXX")
	chmod 755 "$dir"
	install -m 755 "$CMAFS_BIN" "$dir/cmafs"
	mkdir "$dir/mnt"
	chown "$TEST_UID:$TEST_GID" "$dir/mnt"
	# passthrough=auto: a user's daemon has none (no CAP_SYS_ADMIN)
	as_user "$dir/cmafs" -f -o "backend=sim,pool=16M,allow_other" "$dir/mnt" >"$dir/log" 2>&1 3>&- &
	local pid=$!
	cmafs_register "$dir/mnt" "$pid" "$dir/log"
	local i
	for ((i = 0; i < 100; i++)); do
		_cmafs_mounted "$dir/mnt" && break
		_cmafs_nap 0.05
	done
	if [[ -n $saved ]]; then printf '%s\n' "$saved" >"$conf"; else rm -f "$conf"; fi
	chmod "$fusemode" /dev/fuse
	_cmafs_mounted "$dir/mnt" || fail "the user's daemon did not mount: $(cat "$dir/log")"
	local sock
	sock=$(xattr "$dir/mnt" user.cma.socket)
	[[ $sock == /tmp/cmafs-$TEST_UID/*-mnt.sock ]] || fail "socket at $sock"
	assert_equal "$(stat -c '%u %a' "/tmp/cmafs-$TEST_UID")" "$TEST_UID 711"
	as_user truncate -s 64K "$dir/mnt/f"
	# The mount's own mapping is a page-cache copy (no passthrough for a user)
	assert_equal "$(xattr "$dir/mnt/f" user.cma.mmap)" cached
	run uho store "$dir/mnt/f" 8 user-direct
	assert_output stored
	# The daemon's memfd holds it at once: no sync was made.
	local memfd p daemon=
	for p in /proc/[0-9]*; do
		[[ $(readlink "$p/exe" 2>/dev/null) == "$dir/cmafs" ]] && daemon=${p#/proc/}
	done
	memfd=$(CMAFS_PID=$daemon sim_memfd_of_size 65536)
	assert_equal "$(dd if="$memfd" bs=1 skip=8 count=11 status=none)" user-direct
	# root, another user of this allow_other mount, gets one too
	run ho get "$dir/mnt/f" ro
	assert_output --regexp '^error=0 '
}

@test "out of descriptors: the socket pauses instead of spinning, logs it, and serves again once descriptors are back" {
	# Few descriptors: the daemon's own, a few buffers, and no room for 32
	# clients (root could raise the limit again: not without CAP_SYS_RESOURCE).
	CMAFS_WRAP="setpriv --bounding-set=-sys_resource --inh-caps=-sys_resource prlimit --nofile=40:40" \
		cmafs_mount allow_other
	local sock
	sock=$(xattr "$MNT" user.cma.socket)
	truncate -s 4K "$MNT/f"
	# Hold many connections open (each costs the daemon a descriptor).
	python3 - "$sock" "$BATS_TEST_TMPDIR/ready" "$BATS_TEST_TMPDIR/gone" <<'PY' &
import os, socket, sys, time
conns = []
for _ in range(40):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.setblocking(False)
    try:
        s.connect(sys.argv[1])
    except BlockingIOError:
        pass
    conns.append(s)
open(sys.argv[2], "w").close()
end = time.monotonic() + 60
while not os.path.exists(sys.argv[3]) and time.monotonic() < end:
    time.sleep(0.05)
PY
	local pid=$!
	wait_until test -e "$BATS_TEST_TMPDIR/ready"
	wait_until grep -q "out of descriptors, not accepting connections" "$LOG"
	# Three seconds with connections pending and no descriptor to take them:
	# a busy loop would burn them all.
	local t0 t1
	t0=$(awk '{print $14 + $15}' "/proc/$CMAFS_PID/stat")
	_cmafs_nap 3
	t1=$(awk '{print $14 + $15}' "/proc/$CMAFS_PID/stat")
	(( (t1 - t0) < 3 * $(getconf CLK_TCK) / 2 )) ||
		fail "the daemon used $(( (t1 - t0) * 100 / $(getconf CLK_TCK) ))/100 s of CPU in 3 s while out of descriptors"
	assert_cmafs_alive
	touch "$BATS_TEST_TMPDIR/gone"
	wait "$pid"
	# Descriptors are back: served again.
	wait_until ho get "$MNT/f" ro
	run ho get "$MNT/f" ro
	assert_output --regexp '^error=0 '
}

@test "a mount point with a blank in its path: the hand-off knows its own mount (mountinfo's \\040)" {
	cmafs_tmp
	local dir
	dir=$(mktemp -d "$CMAFS_TMP/with blank.XXXXXX")
	mkdir "$dir/mnt point"
	"$CMAFS_BIN" -f -o "backend=$CMAFS_BACKEND${CMAFS_TEST_OPTS:+,$CMAFS_TEST_OPTS}" "$dir/mnt point" >"$dir/log" 2>&1 3>&- &
	cmafs_register "$dir/mnt point" "$!" "$dir/log"
	wait_until test -r "$dir/mnt point/.stats"
	truncate -s 4K "$dir/mnt point/f"
	run ho get "$dir/mnt point/f" rw
	assert_output --regexp '^error=0 '
	# and a second daemon on it is refused, as on any cmafs mount point
	run -1 "$CMAFS_BIN" -f -o "backend=$CMAFS_BACKEND" "$dir/mnt point"
	assert_output --partial "already"
}
