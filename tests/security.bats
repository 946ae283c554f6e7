#!/usr/bin/env bats
# Issue 6, security: on a shared allow_other,default_permissions mount an
# unprivileged user cannot open, map, resize, read the xattrs of, or remove
# another user's 0600 buffer, nor read addresses of files it does not own;
# quota=SIZE limits each user's buffer bytes (EDQUOT), root exempt.

load helpers/common

setup_file() {
	export CMAFS_POOL=64M
	ensure_test_user
	cmafs_setup_file allow_other,default_permissions,quota=1M
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

uop() { as_user python3 "$OP" "$@"; }

@test "another user's 0600 buffer: no open, no map, no resize, no xattrs, no remove" {
	truncate -s 64K "$MNT/secret"
	printf 'private' | dd of="$MNT/secret" conv=notrunc status=none
	chmod 600 "$MNT/secret"
	local before
	before="$(stat -c %s "$MNT/secret") $(xattr "$MNT/secret" user.cma.phys_addr) $(md5_of "$MNT/secret")"
	run -1 uop open "$MNT/secret" r
	assert_output EACCES
	# A mapping needs a descriptor first: neither read nor read-write opens.
	run -1 uop open "$MNT/secret" rw
	assert_output EACCES
	run -1 uop truncate "$MNT/secret" 1M
	assert_output EACCES
	run -1 uop getxattr "$MNT/secret" user.cma.size
	assert_output EACCES
	run -1 uop getxattr "$MNT/secret" user.cma.phys_addr
	assert_output EACCES
	run -1 uop setxattr "$MNT/secret" user.cma.cache cached
	assert_output EACCES
	# The root directory is sticky (1777), as on tmpfs.
	run -1 uop unlink "$MNT/secret"
	assert_output EPERM
	run -1 uop rename "$MNT/secret" "$MNT/mine"
	assert_output EPERM
	assert_equal "$(stat -c %s "$MNT/secret") $(xattr "$MNT/secret" user.cma.phys_addr) $(md5_of "$MNT/secret")" "$before"
}

@test "a readable file of another user: contents yes, physical and DMA addresses no" {
	truncate -s 8K "$MNT/shared"
	chmod 644 "$MNT/shared"
	run -0 uop getxattr "$MNT/shared" user.cma.size
	assert_output "$((2 * PAGE))"
	run -1 uop getxattr "$MNT/shared" user.cma.phys_addr
	assert_output EACCES
	run -1 uop getxattr "$MNT/shared" user.cma.dma_addr
	assert_output EACCES
	as_user cmp -n 8192 "$MNT/shared" /dev/zero || fail "the reader did not get the zeroed contents"
	grep -q 'getxattr (not the owner) /shared: Permission denied' "$LOG" ||
		fail "the refusal was not logged"
}

@test "quota=1M: a user's buffers stop at 1 MiB with EDQUOT and nothing changes" {
	local u=uid_${TEST_UID}_bytes q0
	as_user touch "$MNT/q1" "$MNT/q2" "$MNT/q3"
	run -0 uop truncate "$MNT/q1" 512K
	[[ $(stat_key "$u") == $((512 * 1024)) ]] || fail "usage not shown: $(stats)"
	q0=$(stat_key quota_failures)
	run -1 uop truncate "$MNT/q2" $((512 * 1024 + PAGE))
	assert_output EDQUOT
	assert_equal "$(stat -c %s "$MNT/q2")" 0
	assert_equal "$(stat_key quota_failures)" $((q0 + 1))
	assert_equal "$(stat_key quota_bytes)" 1048576
	# Exactly up to the limit is allowed; growth by write is limited too.
	run -0 uop truncate "$MNT/q2" 512K
	# (Under passthrough a write() past the end goes from the kernel to the
	# buffer's file and is charged after the fact, not refused: cmafs(8),
	# BUGS.)
	if [[ $(stat_key mmap) == cached ]]; then
		run -1 uop pwrite "$MNT/q1" $((512 * 1024)) x
		assert_output EDQUOT
	fi
	# Freeing gives the room back.
	run -0 uop unlink "$MNT/q2"
	run -0 uop truncate "$MNT/q3" 256K
	grep -q 'Disk quota exceeded' "$LOG" || fail "no refusal line in the log"
}

@test "quota: root is exempt, and chown moves the charge (EDQUOT when it would not fit)" {
	truncate -s 4M "$MNT/big"
	[[ $(stat_key uid_0_bytes) == $((4 * 1024 * 1024)) ]]
	run -1 chown "$TEST_USER" "$MNT/big"
	[[ $output == *"Disk quota exceeded"* ]] || fail "chown: $output"
	assert_equal "$(stat -c %U "$MNT/big")" root
	truncate -s 64K "$MNT/small"
	chown "$TEST_USER" "$MNT/small"
	assert_equal "$(stat_key "uid_${TEST_UID}_bytes")" $((64 * 1024))
	assert_equal "$(stat_key uid_0_bytes)" $((4 * 1024 * 1024))
}
