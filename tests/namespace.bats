#!/usr/bin/env bats
# SPEC section 3, first bullet: the namespace behaves as on tmpfs -
# directories, symlinks, hard links (two names, one buffer), FIFOs, sockets
# and device nodes (plain entries), rename, permissions, ownership from the
# caller (allow_other,default_permissions), timestamps, name lengths.

load helpers/common

setup_file() {
	export CMAFS_POOL=64M
	ensure_test_user
	cmafs_setup_file allow_other,default_permissions
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

@test "the root directory is mode 1777, owned by the mounting user" {
	run -0 stat -c '%a %u %g %F' "$MNT"
	assert_output "1777 0 0 directory"
}

@test "mkdir, nested directories, link counts; rmdir of a non-empty directory is ENOTEMPTY" {
	mkdir -p "$MNT/d/a/b" "$MNT/d/c"
	run -0 stat -c '%F %h' "$MNT/d"
	assert_output "directory 4"
	run -0 stat -c %h "$MNT/d/a/b"
	assert_output 2
	run -1 op mkdir "$MNT/d"
	assert_output EEXIST
	run -1 op rmdir "$MNT/d"
	assert_output ENOTEMPTY
	run -1 op rmdir "$MNT/d/a"
	assert_output ENOTEMPTY
	touch "$MNT/d/c/file"
	run -1 op rmdir "$MNT/d/c"
	assert_output ENOTEMPTY
	run -1 op rmdir "$MNT/d/c/file"
	assert_output ENOTDIR
	run -1 op unlink "$MNT/d/c"
	assert_output EISDIR
	rm "$MNT/d/c/file"
	run -0 op rmdir "$MNT/d/c"
	run -0 op rmdir "$MNT/d/a/b"
	run -0 stat -c %h "$MNT/d"
	assert_output 3
	assert_dir_not_exist "$MNT/d/c"
	run -1 op mkdir "$MNT/nope/x"
	assert_output ENOENT
}

@test "readdir lists every entry of a large directory exactly once" {
	mkdir "$MNT/many"
	local i name
	for ((i = 0; i < 300; i++)); do
		printf -v name 'entry-%03d-%0100d' "$i" 0
		: >"$MNT/many/$name"
	done
	run -0 bash -c "ls -f '$MNT/many' | grep -c '^entry-'"
	assert_output 300
	run -0 bash -c "ls -f '$MNT/many' | grep '^entry-' | sort -u | wc -l"
	assert_output 300
	run -0 ls -a "$MNT/many"
	assert_line --index 0 .
	assert_line --index 1 ..
}

@test "symlink and readlink: relative, absolute and dangling targets" {
	echo data >"$MNT/target"
	ln -s target "$MNT/rel"
	ln -s "$MNT/target" "$MNT/abs"
	ln -s does/not/exist "$MNT/dangling"
	run -0 readlink "$MNT/rel"
	assert_output target
	run -0 readlink "$MNT/abs"
	assert_output "$MNT/target"
	run -0 cat "$MNT/rel"
	assert_output data
	run -0 stat -c '%F %s' "$MNT/rel"
	assert_output "symbolic link 6"
	run -0 stat -L -c '%F' "$MNT/rel"
	assert_output "regular file"
	run -1 cat "$MNT/dangling"
	assert_output --partial 'No such file'
	local long
	long=$(printf 'x%.0s' {1..1000})
	ln -s "$long" "$MNT/longlink"
	run -0 readlink "$MNT/longlink"
	assert_output "$long"
}

@test "hard links share one buffer: same phys_addr, writes visible through both, unlink keeps the other" {
	local b0
	truncate -s 8K "$MNT/one"
	b0=$(stat_key buffers)
	ln "$MNT/one" "$MNT/two"
	run -0 stat -c '%h %i' "$MNT/one"
	assert_output "2 $(stat -c %i "$MNT/two")"
	assert_equal "$(xattr "$MNT/one" user.cma.phys_addr)" "$(xattr "$MNT/two" user.cma.phys_addr)"
	assert_equal "$(stat_key buffers)" "$b0"
	printf 'via one' | dd of="$MNT/one" conv=notrunc status=none
	run -0 head -c 7 "$MNT/two"
	assert_output 'via one'
	truncate -s 1M "$MNT/two"
	run -0 stat -c %s "$MNT/one"
	assert_output 1048576
	assert_equal "$(xattr "$MNT/one" user.cma.phys_addr)" "$(xattr "$MNT/two" user.cma.phys_addr)"
	rm "$MNT/one"
	run -0 stat -c '%h %s' "$MNT/two"
	assert_output "1 1048576"
	run -0 head -c 7 "$MNT/two"
	assert_output 'via one'
	assert_equal "$(stat_key buffers)" "$b0"
	assert_equal "$(stat_key orphan_buffers)" 0
	rm "$MNT/two"
	assert_equal "$(stat_key buffers)" "$((b0 - 1))"
}

@test "a FIFO is a plain entry without a buffer and passes data" {
	local b0
	b0=$(stat_key buffers)
	mkfifo "$MNT/fifo"
	run -0 stat -c '%F %s' "$MNT/fifo"
	assert_output "fifo 0"
	run -1 op getxattr "$MNT/fifo" user.cma.phys_addr
	assert_output ENODATA
	(echo through-the-fifo >"$MNT/fifo" &)
	run -0 timeout 5 cat "$MNT/fifo"
	assert_output through-the-fifo
	assert_equal "$(stat_key buffers)" "$b0"
}

@test "device nodes and sockets are plain entries with their type and rdev" {
	local b0
	b0=$(stat_key buffers)
	mknod "$MNT/cdev" c 1 3
	mknod "$MNT/bdev" b 7 0
	run -0 op mknod "$MNT/sock" sock
	run -0 op mknod "$MNT/fifo2" fifo
	run -0 stat -c '%F %t %T %s' "$MNT/cdev"
	assert_output "character special file 1 3 0"
	run -0 stat -c '%F %t %T' "$MNT/bdev"
	assert_output "block special file 7 0"
	run -0 stat -c %F "$MNT/sock"
	assert_output socket
	run -0 stat -c %F "$MNT/fifo2"
	assert_output fifo
	run -1 op getxattr "$MNT/cdev" user.cma.phys_addr
	assert_output ENODATA
	assert_equal "$(stat_key buffers)" "$b0"
	rm "$MNT/cdev" "$MNT/bdev" "$MNT/sock" "$MNT/fifo2"
	assert_file_not_exist "$MNT/sock"
}

@test "rename moves a file within and across directories; buffer and data follow" {
	mkdir "$MNT/src" "$MNT/dst"
	printf 'moving' >"$MNT/src/f"
	local a
	a=$(xattr "$MNT/src/f" user.cma.phys_addr)
	mv "$MNT/src/f" "$MNT/src/g"
	mv "$MNT/src/g" "$MNT/dst/h"
	assert_file_not_exist "$MNT/src/f"
	assert_file_not_exist "$MNT/src/g"
	run -0 cat "$MNT/dst/h"
	assert_output moving
	assert_equal "$(xattr "$MNT/dst/h" user.cma.phys_addr)" "$a"
	mv "$MNT/src" "$MNT/dst/sub"
	assert_dir_exist "$MNT/dst/sub"
	run -0 stat -c %h "$MNT/dst"
	assert_output 3
}

@test "rename over an existing file replaces it and frees its buffer" {
	printf 'new' >"$MNT/new"
	truncate -s 1M "$MNT/old"
	local b0 f0
	b0=$(stat_key buffers) f0=$(stat_key frees)
	mv "$MNT/new" "$MNT/old"
	run -0 cat "$MNT/old"
	assert_output new
	assert_file_not_exist "$MNT/new"
	assert_equal "$(stat_key buffers)" "$((b0 - 1))"
	assert_equal "$(stat_key frees)" "$((f0 + 1))"
}

@test "rename over a file that is open orphans its buffer until the last close" {
	printf 'replacement' >"$MNT/r-new"
	printf 'still readable' >"$MNT/r-old"
	local fd b0
	b0=$(stat_key buffers)
	exec {fd}<"$MNT/r-old"
	mv "$MNT/r-new" "$MNT/r-old"
	run -0 stat_key orphan_buffers
	assert_output 1
	assert_equal "$(stat_key buffers)" "$b0"
	run -0 cat <&$fd
	exec {fd}<&-
	assert_output 'still readable'
	wait_stat orphan_buffers 0
	wait_stat buffers $((b0 - 1))
}

@test "RENAME_NOREPLACE fails with EEXIST and changes nothing" {
	echo A >"$MNT/a"
	echo B >"$MNT/b"
	run -1 op rename "$MNT/a" "$MNT/b" noreplace
	assert_output EEXIST
	run -0 cat "$MNT/a" "$MNT/b"
	assert_output $'A\nB'
	run -0 op rename "$MNT/a" "$MNT/c" noreplace
	run -0 cat "$MNT/c"
	assert_output A
}

@test "RENAME_EXCHANGE swaps two entries" {
	echo A >"$MNT/a"
	mkdir "$MNT/dir"
	run -0 op rename "$MNT/a" "$MNT/dir" exchange
	run -0 stat -c %F "$MNT/a"
	assert_output directory
	run -0 cat "$MNT/dir"
	assert_output A
	run -1 op rename "$MNT/a" "$MNT/missing" exchange
	assert_output ENOENT
}

@test "rename errors: ENOTEMPTY, ENOTDIR, EISDIR, EINVAL (into itself)" {
	mkdir -p "$MNT/d1" "$MNT/d2/x"
	touch "$MNT/f"
	run -1 op rename "$MNT/d1" "$MNT/d2"
	assert_output ENOTEMPTY
	run -1 op rename "$MNT/d1" "$MNT/f"
	assert_output ENOTDIR
	run -1 op rename "$MNT/f" "$MNT/d1"
	assert_output EISDIR
	run -1 op rename "$MNT/d2" "$MNT/d2/x/inside"
	assert_output EINVAL
	rmdir "$MNT/d2/x"
	run -0 op rename "$MNT/d1" "$MNT/d2"
	assert_dir_not_exist "$MNT/d1"
}

@test "chmod and chown change mode and ownership" {
	touch "$MNT/perm"
	chmod 0640 "$MNT/perm"
	chown 1234:5678 "$MNT/perm"
	run -0 stat -c '%a %u %g' "$MNT/perm"
	assert_output "640 1234 5678"
	chmod 4755 "$MNT/perm"
	run -0 stat -c %a "$MNT/perm"
	assert_output 4755
	mkdir "$MNT/pdir"
	chmod 0700 "$MNT/pdir"
	run -0 stat -c %a "$MNT/pdir"
	assert_output 700
}

@test "timestamps: touch -d sets them to the nanosecond; write and truncate update mtime and ctime" {
	touch "$MNT/t"
	touch -d '2001-02-03 04:05:06.123456789 UTC' "$MNT/t"
	run -0 stat -c '%X %Y' "$MNT/t"
	assert_output "981173106 981173106"
	run -0 stat -c %y "$MNT/t"
	assert_output --partial '.123456789'
	touch -a -d '@1000000000' "$MNT/t"
	run -0 stat -c '%X %Y' "$MNT/t"
	assert_output "1000000000 981173106"
	local c0
	c0=$(stat -c %Z "$MNT/t")
	echo data >"$MNT/t"
	(($(stat -c %Y "$MNT/t") > 1500000000)) || fail "write did not update mtime"
	touch -d '@1000000000' "$MNT/t"
	truncate -s 1M "$MNT/t"
	(($(stat -c %Y "$MNT/t") > 1500000000)) || fail "truncate did not update mtime"
	(($(stat -c %Z "$MNT/t") >= c0)) || fail "ctime went backwards"
	mkdir "$MNT/td"
	touch -d '@1000000000' "$MNT/td"
	touch "$MNT/td/new"
	(($(stat -c %Y "$MNT/td") > 1500000000)) || fail "creating an entry did not update the directory mtime"
}

@test "names of 255 bytes work; 256 bytes fail with ENAMETOOLONG" {
	local n255 n256
	n255=$(printf 'n%.0s' {1..255})
	n256=$(printf 'n%.0s' {1..256})
	echo ok255 >"$MNT/$n255"
	truncate -s 8K "$MNT/$n255"
	run -0 head -c 5 "$MNT/$n255"
	assert_output ok255
	run -0 ls "$MNT"
	assert_line "$n255"
	mkdir "$MNT/d$(printf 'd%.0s' {1..254})"
	run -1 op open "$MNT/$n256" creat,w
	assert_output ENAMETOOLONG
	run -1 op mkdir "$MNT/$n256"
	assert_output ENAMETOOLONG
	run -1 op symlink x "$MNT/$n256"
	assert_output ENAMETOOLONG
	run -1 op rename "$MNT/$n255" "$MNT/$n256"
	assert_output ENAMETOOLONG
	run -1 op stat "$MNT/$n256"
	assert_output ENAMETOOLONG
	assert_file_exist "$MNT/$n255"
}

@test "new entries are owned by the calling user and group" {
	run -0 as_user touch "$MNT/u-file"
	run -0 as_user mkdir "$MNT/u-dir"
	run -0 as_user ln -s u-file "$MNT/u-link"
	run -0 as_user mkfifo "$MNT/u-fifo"
	run -0 as_user truncate -s 4K "$MNT/u-sized"
	local f
	for f in u-file u-dir u-link u-fifo u-sized; do
		run -0 stat -c '%u %g' "$MNT/$f"
		assert_output "$TEST_UID $TEST_GID"
	done
	run -0 as_user touch "$MNT/u-dir/inner"
	run -0 stat -c '%u %g' "$MNT/u-dir/inner"
	assert_output "$TEST_UID $TEST_GID"
}

@test "in a setgid directory new entries take its group and subdirectories stay setgid" {
	mkdir "$MNT/sg"
	chgrp 4321 "$MNT/sg"
	chmod 2777 "$MNT/sg"
	run -0 as_user touch "$MNT/sg/f"
	run -0 as_user mkdir "$MNT/sg/d"
	run -0 stat -c '%u %g' "$MNT/sg/f"
	assert_output "$TEST_UID 4321"
	run -0 stat -c '%u %g %A' "$MNT/sg/d"
	assert_output --regexp "^$TEST_UID 4321 d.....s...\$"
}

@test "the umask applies to new files and directories" {
	(umask 027 && touch "$MNT/um-f" && mkdir "$MNT/um-d")
	run -0 stat -c %a "$MNT/um-f" "$MNT/um-d"
	assert_output $'640\n750'
	(umask 0 && touch "$MNT/um-0")
	run -0 stat -c %a "$MNT/um-0"
	assert_output 666
}

@test "permissions are enforced for other users (default_permissions, sticky root)" {
	echo secret >"$MNT/rootfile"
	chmod 0600 "$MNT/rootfile"
	run -1 as_user cat "$MNT/rootfile"
	assert_output --partial 'Permission denied'
	chmod 0644 "$MNT/rootfile"
	run -0 as_user cat "$MNT/rootfile"
	assert_output secret
	run -1 as_user python3 "$OP" open "$MNT/rootfile" w
	assert_output EACCES
	run -1 as_user python3 "$OP" truncate "$MNT/rootfile" 1M
	assert_output EACCES
	run -1 as_user python3 "$OP" chmod "$MNT/rootfile" 0666
	assert_output EPERM
	# sticky root directory: others may not remove or rename it
	run -1 as_user python3 "$OP" unlink "$MNT/rootfile"
	assert_output EPERM
	run -1 as_user python3 "$OP" rename "$MNT/rootfile" "$MNT/stolen"
	assert_output EPERM
	run -0 cat "$MNT/rootfile"
	assert_output secret
	run -0 stat -c %s "$MNT/rootfile"
	assert_output 7
}
