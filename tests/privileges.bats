#!/usr/bin/env bats
# Setuid/setgid bits and times, against tmpfs's own behaviour on this
# kernel (issue 19, point 2): the same steps on a tmpfs and on the mount
# must leave the same modes and update the same times, in both passthrough
# modes.  Writers without CAP_FSETID lose setuid, and setgid where it is
# group-exec or they are not in the group; root keeps both; chown drops
# them; open(O_TRUNC) sets new times, of an empty file too.

load helpers/common

setup_file() {
	ensure_test_user
	cmafs_setup_file allow_other,default_permissions
	cmafs_tmp
	TMPFS=$CMAFS_TMP/tmpfs
	mkdir -p "$TMPFS"
	mount -t tmpfs -o mode=1777 tmpfs "$TMPFS"
	export TMPFS
}

teardown_file() {
	umount "$TMPFS" 2>/dev/null
	cmafs_teardown_file
}

setup() { require_daemon; }

teardown() {
	cmafs_clean_root
	rm -rf "${TMPFS:?}"/*
	cmafs_teardown
}

# steps DIR: the scenario; prints "step mode" lines.
steps() {
	local d=$1 f=$1/f
	printf 'data' >"$f"
	chmod 6777 "$f"
	as_user sh -c "printf x >>'$f'"
	echo "user-append $(stat -c %a "$f")"
	chmod 6777 "$f"
	as_user dd of="$f" bs=1 count=1 seek=2 conv=notrunc status=none </dev/zero
	echo "user-pwrite $(stat -c %a "$f")"
	chmod 6777 "$f"
	printf y >>"$f"
	echo "root-append $(stat -c %a "$f")"
	chmod 2766 "$f"
	as_user sh -c "printf x >>'$f'"
	echo "user-append-setgid-no-gx $(stat -c %a "$f")"
	chmod 2766 "$f"
	chgrp "$TEST_GID" "$f"
	chmod 2766 "$f"
	as_user sh -c "printf x >>'$f'"
	echo "member-append-setgid-no-gx $(stat -c %a "$f")"
	chgrp 0 "$f"
	chmod 6777 "$f"
	as_user truncate -s 10 "$f"
	echo "user-truncate $(stat -c %a "$f")"
	chmod 6777 "$f"
	truncate -s 20 "$f"
	echo "root-truncate $(stat -c %a "$f")"
	chmod 6777 "$f"
	as_user fallocate -l 8192 "$f"
	echo "user-fallocate $(stat -c %a "$f")"
	chmod 6777 "$f"
	chown "$TEST_UID" "$f"
	echo "root-chown $(stat -c %a "$f")"
	chown 0 "$f"
}

@test "privileges: setuid/setgid after writes, truncates, fallocate and chown are what tmpfs makes of them" {
	local want got
	want=$(steps "$TMPFS")
	got=$(steps "$MNT")
	echo "# tmpfs: $(tr '\n' ' ' <<<"$want")" >&3
	# kmod under passthrough without a quota passes writes to the kernel,
	# whose FUSE keeps a setgid bit without group-exec for a writer outside
	# the group (the rule of Linux < 6.2; tmpfs follows the newer one):
	# cmafs(8), BUGS.
	if [[ $CMAFS_BACKEND == kmod && $(stat_key mmap) == direct ]]; then
		want=$(sed 's/^user-append-setgid-no-gx 766$/user-append-setgid-no-gx 2766/' <<<"$want")
	fi
	assert_equal "$got" "$want"
	# the negative control: tmpfs did clear something
	[[ $want == *"user-append 777"* ]] || fail "tmpfs kept the bits: $want"
}

@test "privileges: open(O_TRUNC) sets new mtime and ctime, of a non-empty and of an empty file, as on tmpfs" {
	local d t
	for d in "$TMPFS" "$MNT"; do
		echo data >"$d/g"
		touch -d @1000000000 "$d/g"
		: >"$d/g"
		t=$(stat -c %Y "$d/g")
		((t > 1500000000)) || fail "$d: O_TRUNC of a non-empty file left mtime $t"
		(($(stat -c %Z "$d/g") > 1500000000)) || fail "$d: ctime not updated"
		touch -d @1000000000 "$d/g"
		: >"$d/g"
		t=$(stat -c %Y "$d/g")
		((t > 1500000000)) || fail "$d: O_TRUNC of an empty file left mtime $t"
	done
}
