#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# Limits on a shared allow_other,default_permissions mount, each with root's
# reserve: user_inodes=N (per non-root user: files, directories, symlinks,
# special files and each extra hard link; EDQUOT), max_inodes=N (in total;
# non-root users together stop at N - N/16 with ENOSPC, root may go to N),
# user_xattr=SIZE (per non-root user: bytes of user.* names and values plus
# symlink targets; EDQUOT), max_xattr=SIZE (in total, with the same 1/16
# reserve; ENOSPC), and the buffer descriptors the daemon may hold
# (RLIMIT_NOFILE - 64, the same 1/16 reserve; ENOSPC).  Freeing gives the
# room back; .stats shows the counts and the limits.  Every test mounts a
# pool of its own with the options it needs.

load helpers/common

setup_file() {
	export CMAFS_POOL=64M
	ensure_test_user
}
teardown_file() { cmafs_teardown_file; }

setup() {
	require_daemon
	PAGE=$(page_size)
	UI=uid_${TEST_UID}_inodes
	UX=uid_${TEST_UID}_xattr_bytes
}

teardown() { cmafs_teardown; }

uop() { as_user python3 "$OP" "$@"; }

# lmount OPTION...: a shared mount of this test's own.
lmount() { cmafs_mount allow_other,default_permissions "$@"; }

# log_count REGEX: lines of the daemon's log matching REGEX.
log_count() { grep -cE "$1" "$LOG" || true; }

# fill_as WHO KIND DIR PREFIX: as WHO (user or root), create entries
# DIR/PREFIXnnnn until one fails; KIND file (empty files) or buffer (files
# sized to a page).  Prints "COUNT ERRNO".
fill_as() {
	local who=$1
	shift
	local cmd=(python3 -c '
import errno, os, sys
kind, d, prefix, page = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
n = 0
try:
    while n < 100000:
        fd = os.open(os.path.join(d, "%s%04d" % (prefix, n)), os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o644)
        try:
            if kind == "buffer":
                os.ftruncate(fd, page)
        finally:
            os.close(fd)
        n += 1
    print(n, "none")
except OSError as e:
    print(n, errno.errorcode.get(e.errno, e.errno))
' "$@" "$PAGE")
	if [[ $who == user ]]; then as_user "${cmd[@]}"; else "${cmd[@]}"; fi
}

@test "limits: the defaults (max_inodes 65536, user_inodes 16384, max_xattr_bytes 16 MiB, user_xattr_bytes 1 MiB) and exact per-user counts in .stats" {
	lmount
	local s i0 x0
	s=$(stats)
	assert_equal "$(stat_key max_inodes "$s")" 65536
	assert_equal "$(stat_key user_inodes "$s")" 16384
	assert_equal "$(stat_key max_xattr_bytes "$s")" 16777216
	assert_equal "$(stat_key user_xattr_bytes "$s")" 1048576
	local k
	for k in inodes xattr_bytes buffer_fds max_buffer_fds; do
		[[ $(stat_key "$k" "$s") =~ ^[0-9]+$ ]] || fail "no numeric $k in .stats: $s"
	done
	assert_equal "$(stat_key xattr_bytes "$s")" 0
	assert_equal "$(stat_key buffer_fds "$s")" 0
	run -1 stat_key "$UI" "$s"
	run -1 stat_key "$UX" "$s"
	i0=$(stat_key inodes "$s")
	x0=$(stat_key xattr_bytes "$s")
	# three files and a directory
	as_user touch "$MNT/a" "$MNT/b" "$MNT/c"
	as_user mkdir "$MNT/d"
	assert_equal "$(stat_key "$UI")" 4
	assert_equal "$(stat_key inodes)" $((i0 + 4))
	# "user.k" (6 bytes) + "12345" (5 bytes)
	run -0 uop setxattr "$MNT/a" user.k 12345
	assert_equal "$(stat_key "$UX")" 11
	assert_equal "$(stat_key xattr_bytes)" $((x0 + 11))
	# a symlink: one more inode, and its target's 10 bytes (11 if the
	# daemon counts the target's terminating NUL too)
	run -0 uop symlink 0123456789 "$MNT/s"
	assert_equal "$(stat_key "$UI")" 5
	[[ $(stat_key "$UX") =~ ^(21|22)$ ]] || fail "$UX is $(stat_key "$UX") after a 10-byte symlink, expected 21 (or 22)"
	# a buffer holds one descriptor in the daemon; under passthrough so
	# does each empty file that was opened (a, c: see security.bats)
	run -0 uop truncate "$MNT/b" 8K
	if [[ $(stat_key mmap) == direct ]]; then
		assert_equal "$(stat_key buffer_fds)" 3
	else
		assert_equal "$(stat_key buffer_fds)" 1
	fi
	assert_equal "$(stat_key "uid_${TEST_UID}_bytes")" 8192
	# everything freed: the per-user keys are gone, the totals are back
	rm -rf "${MNT:?}"/{a,b,c,d,s}
	wait_stat buffer_fds 0
	wait_stat inodes "$i0"
	s=$(stats)
	assert_equal "$(stat_key inodes "$s")" "$i0"
	assert_equal "$(stat_key xattr_bytes "$s")" "$x0"
	run -1 stat_key "$UI" "$s"
	run -1 stat_key "$UX" "$s"
	assert_cmafs_alive
}

@test "limits: user_inodes=8: files, directories, symlinks, special files and hard links count; the 9th is EDQUOT, logged; root still creates; freeing gives room back" {
	lmount user_inodes=8
	assert_equal "$(stat_key user_inodes)" 8
	local i0 n0
	i0=$(stat_key inodes)
	as_user touch "$MNT/f1" "$MNT/f2" "$MNT/f3"
	as_user mkdir "$MNT/d"
	assert_equal "$(stat_key "$UI")" 4
	run -0 uop symlink target "$MNT/s"
	run -0 uop mkfifo "$MNT/fifo"
	run -0 uop link "$MNT/f1" "$MNT/l1"
	assert_equal "$(stat_key "$UI")" 7
	run -0 uop open "$MNT/d/f4" w,creat
	assert_equal "$(stat_key "$UI")" 8
	assert_equal "$(stat_key inodes)" $((i0 + 8))
	n0=$(log_count user_inodes)
	run -1 uop open "$MNT/f9" w,creat
	assert_output EDQUOT
	run -1 uop open "$MNT/d/f9" w,creat,excl
	assert_output EDQUOT
	run -1 uop mkdir "$MNT/d2"
	assert_output EDQUOT
	run -1 uop symlink target "$MNT/s2"
	assert_output EDQUOT
	run -1 uop link "$MNT/f2" "$MNT/l2"
	assert_output EDQUOT
	run -1 uop mkfifo "$MNT/fifo2"
	assert_output EDQUOT
	run -1 uop mknod "$MNT/sock2" sock
	assert_output EDQUOT
	local x
	for x in f9 d/f9 d2 s2 l2 fifo2 sock2; do
		[[ ! -e $MNT/$x && ! -L $MNT/$x ]] || fail "$x was created"
	done
	assert_equal "$(stat_key "$UI")" 8
	assert_equal "$(stat -c %h "$MNT/f2")" 1
	(($(log_count user_inodes) > n0)) || fail "no log line names user_inodes: $(tail -n 5 "$LOG")"
	# a rename is no new inode
	run -0 uop rename "$MNT/f2" "$MNT/f2b"
	assert_equal "$(stat_key "$UI")" 8
	# root is not limited
	touch "$MNT/rootfile"
	mkdir "$MNT/rootdir"
	ln -s x "$MNT/rootlink"
	assert_equal "$(stat_key inodes)" $((i0 + 11))
	assert_equal "$(stat_key "$UI")" 8
	# freeing: the extra link, then the FIFO
	run -0 uop unlink "$MNT/l1"
	wait_stat "$UI" 7
	run -0 uop open "$MNT/f9" w,creat
	run -1 uop mkdir "$MNT/d2"
	assert_output EDQUOT
	run -0 uop unlink "$MNT/fifo"
	wait_stat "$UI" 7
	run -0 uop mkdir "$MNT/d2"
	assert_equal "$(stat_key "$UI")" 8
	assert_cmafs_alive
}

@test "limits: max_inodes=64: users together stop at 60 (64 - 64/16) with ENOSPC, root goes on to 64; freeing gives room back" {
	lmount max_inodes=64
	assert_equal "$(stat_key max_inodes)" 64
	local i0
	i0=$(stat_key inodes)
	((i0 < 60)) || fail "inodes is $i0 on a fresh mount"
	mkdir -m 1777 "$MNT/u" "$MNT/r"
	run -0 fill_as user file "$MNT/u" f
	assert_output "$((60 - i0 - 2)) ENOSPC"
	assert_equal "$(stat_key inodes)" 60
	assert_equal "$(stat_key "$UI")" $((60 - i0 - 2))
	run -1 uop mkdir "$MNT/u/dir"
	assert_output ENOSPC
	run -1 uop symlink x "$MNT/u/sym"
	assert_output ENOSPC
	# root's reserve
	run -0 fill_as root file "$MNT/r" f
	assert_output "4 ENOSPC"
	assert_equal "$(stat_key inodes)" 64
	run -1 op mkdir "$MNT/r/dir"
	assert_output ENOSPC
	# freeing: root's four, then the user is at the edge again
	rm -f "$MNT"/r/f000[0-3]
	wait_stat inodes 60
	run -1 uop open "$MNT/u/again" w,creat
	assert_output ENOSPC
	run -0 uop unlink "$MNT/u/f0000"
	wait_stat inodes 59
	run -0 uop open "$MNT/u/again" w,creat
	assert_equal "$(stat_key inodes)" 60
	assert_cmafs_alive
}

@test "limits: user_xattr=1000: user.* names + values and symlink targets count; beyond is EDQUOT, the old value kept; root not limited; removal gives room back" {
	lmount user_xattr=1000
	assert_equal "$(stat_key user_xattr_bytes)" 1000
	local x0
	x0=$(stat_key xattr_bytes)
	as_user touch "$MNT/a"
	# "user.a" (6) + 494 = 500, twice
	run -0 uop setxattr_len "$MNT/a" user.a 494
	assert_equal "$(stat_key "$UX")" 500
	run -0 uop setxattr_len "$MNT/a" user.b 494
	assert_equal "$(stat_key "$UX")" 1000
	run -1 uop setxattr_len "$MNT/a" user.c 1
	assert_output EDQUOT
	run -1 uop setxattr_len "$MNT/a" user.a 495
	assert_output EDQUOT
	run -0 uop getxattr "$MNT/a" user.a 0
	assert_output 494
	run -1 uop getxattr "$MNT/a" user.c
	assert_output ENODATA
	assert_equal "$(stat_key "$UX")" 1000
	# a symlink's target counts: 400 bytes (401 with its NUL)
	run -0 uop removexattr "$MNT/a" user.b
	assert_equal "$(stat_key "$UX")" 500
	run -0 uop symlink "$(printf 't%.0s' {1..400})" "$MNT/s"
	local c=$(($(stat_key "$UX") - 500))
	((c == 400 || c == 401)) || fail "a 400-byte symlink target is charged $c bytes"
	# room left: 500 - c, of which "user.b" takes 6
	run -1 uop setxattr_len "$MNT/a" user.b $((500 - c - 6 + 1))
	assert_output EDQUOT
	run -0 uop setxattr_len "$MNT/a" user.b $((500 - c - 6))
	assert_equal "$(stat_key "$UX")" 1000
	run -1 uop symlink t "$MNT/s2"
	assert_output EDQUOT
	[[ ! -L $MNT/s2 ]] || fail "s2 was created"
	# root is not limited
	touch "$MNT/r"
	run -0 op setxattr_len "$MNT/r" user.big 5000
	assert_equal "$(stat_key xattr_bytes)" $((x0 + 1000 + 5008))
	assert_equal "$(stat_key "$UX")" 1000
	# removing the symlink gives its bytes back
	run -0 uop unlink "$MNT/s"
	wait_stat "$UX" $((1000 - c))
	run -0 uop setxattr_len "$MNT/a" user.c $((c - 6))
	assert_equal "$(stat_key "$UX")" 1000
	assert_cmafs_alive
}

@test "limits: max_xattr=16384: users together stop at 15360 (16384 - 16384/16) with ENOSPC, root goes on to 16384; removal gives room back" {
	lmount max_xattr=16384
	assert_equal "$(stat_key max_xattr_bytes)" 16384
	assert_equal "$(stat_key xattr_bytes)" 0
	as_user touch "$MNT/a" "$MNT/b"
	touch "$MNT/r"
	run -0 uop setxattr_len "$MNT/a" user.a 15354
	assert_equal "$(stat_key xattr_bytes)" 15360
	run -1 uop setxattr_len "$MNT/b" user.b 1
	assert_output ENOSPC
	run -1 uop symlink t "$MNT/s"
	assert_output ENOSPC
	run -1 uop getxattr "$MNT/b" user.b
	assert_output ENODATA
	# root's reserve
	run -0 op setxattr_len "$MNT/r" user.r 1018
	assert_equal "$(stat_key xattr_bytes)" 16384
	run -1 op setxattr_len "$MNT/r" user.s 1
	assert_output ENOSPC
	# removal gives room back
	run -0 op removexattr "$MNT/r" user.r
	run -0 uop removexattr "$MNT/a" user.a
	assert_equal "$(stat_key xattr_bytes)" 0
	run -0 uop setxattr_len "$MNT/b" user.b 94
	assert_equal "$(stat_key xattr_bytes)" 100
	assert_equal "$(stat_key "$UX")" 100
	assert_cmafs_alive
}

@test "limits: buffer descriptors under RLIMIT_NOFILE 300: max_buffer_fds 236; users stop at 222 with ENOSPC and a log line, root goes on to 236" {
	command -v prlimit >/dev/null || skip "prlimit (util-linux) not installed"
	# Without CAP_SYS_RESOURCE, or root's daemon raises the hard limit
	# back up (it takes all the descriptors it may).
	CMAFS_WRAP="setpriv --bounding-set=-sys_resource --inh-caps=-sys_resource prlimit --nofile=300:300" lmount
	assert_equal "$(stat_key max_buffer_fds)" 236
	assert_equal "$(stat_key buffer_fds)" 0
	mkdir -m 1777 "$MNT/u" "$MNT/r"
	local n0
	n0=$(log_count 'buffer_fds|descriptor')
	run -0 fill_as user buffer "$MNT/u" f
	assert_output "222 ENOSPC"
	assert_equal "$(stat_key buffer_fds)" 222
	assert_equal "$(stat_key buffers)" 222
	(($(log_count 'buffer_fds|descriptor') > n0)) || fail "no log line about descriptors: $(tail -n 5 "$LOG")"
	# the file whose allocation failed has no buffer
	assert_equal "$(stat -c %s "$MNT/u/f0222")" 0
	# root's reserve
	run -0 fill_as root buffer "$MNT/r" f
	assert_output "14 ENOSPC"
	assert_equal "$(stat_key buffer_fds)" 236
	assert_cmafs_alive
	# freeing gives room back
	rm -f "$MNT"/r/*
	wait_stat buffer_fds 222
	run -1 uop truncate "$MNT/u/f0222" 4K
	assert_output ENOSPC
	run -0 uop unlink "$MNT/u/f0000"
	wait_stat buffer_fds 221
	run -0 uop truncate "$MNT/u/f0222" 4K
	assert_equal "$(stat_key buffer_fds)" 222
	assert_cmafs_alive
}
