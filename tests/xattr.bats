#!/usr/bin/env bats
# SPEC section 5: the user.cma.* extended attributes, other user.* attributes,
# their errors (EINVAL, ENODATA, ERANGE, EACCES, EBUSY, EPERM) and the ioctls.

load helpers/common

setup_file() {
	export CMAFS_POOL=64M CMAFS_PHYS_BASE=0x30000000
	ensure_test_user
	build_tools
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

@test "getfattr -d -m - lists the cma attributes (address/size ones only with a buffer)" {
	touch "$MNT/l"
	run -0 op listxattr "$MNT/l"
	assert_output "user.cma.align user.cma.cache user.cma.mmap"
	truncate -s 1 "$MNT/l"
	run -0 op listxattr "$MNT/l"
	assert_output "user.cma.align user.cma.cache user.cma.dma_addr user.cma.mmap user.cma.phys_addr user.cma.size"
	run -0 getfattr --absolute-names -d -m - "$MNT/l"
	assert_line --regexp '^user\.cma\.phys_addr="0x[0-9a-f]+"$'
	assert_line --regexp '^user\.cma\.dma_addr="0x[0-9a-f]+"$'
	assert_line "user.cma.size=\"$PAGE\""
	assert_line 'user.cma.cache="uncached"'
	assert_line "user.cma.align=\"$PAGE\""
	assert_line --regexp '^user\.cma\.mmap="(direct|cached)"$'
	refute_line --partial user.cma.sync
}

@test "user.cma.phys_addr: lowercase 0x hex, no padding, inside the pool; ENODATA without a buffer" {
	touch "$MNT/p"
	run -1 op getxattr "$MNT/p" user.cma.phys_addr
	assert_output ENODATA
	truncate -s 3M "$MNT/p"
	run -0 xattr "$MNT/p" user.cma.phys_addr
	assert_output --regexp '^0x[1-9a-f][0-9a-f]*$'
	assert_phys_in_pool "$output" 3145728
	truncate -s 0 "$MNT/p"
	run -1 op getxattr "$MNT/p" user.cma.phys_addr
	assert_output ENODATA
	run -1 op getxattr "$MNT/p" user.cma.dma_addr
	assert_output ENODATA
}

@test "sim: user.cma.dma_addr equals phys_addr" {
	require_backend sim
	truncate -s 1 "$MNT/d"
	assert_equal "$(xattr "$MNT/d" user.cma.dma_addr)" "$(xattr "$MNT/d" user.cma.phys_addr)"
}

@test "user.cma.size is the page-rounded allocation; ENODATA without a buffer" {
	touch "$MNT/s"
	run -1 op getxattr "$MNT/s" user.cma.size
	assert_output ENODATA
	truncate -s $((PAGE + 1)) "$MNT/s"
	run -0 xattr "$MNT/s" user.cma.size
	assert_output $((2 * PAGE))
}

@test "read-only attributes refuse set and remove (EPERM); unknown user.cma.* names" {
	truncate -s 1 "$MNT/ro"
	local a before
	before=$(xattr "$MNT/ro" user.cma.phys_addr)
	for a in phys_addr dma_addr size mmap; do
		run -1 op setxattr "$MNT/ro" "user.cma.$a" 0x1000
		assert_output EPERM
		run -1 op removexattr "$MNT/ro" "user.cma.$a"
		assert_output EPERM
	done
	assert_equal "$(xattr "$MNT/ro" user.cma.phys_addr)" "$before"
	run -1 op removexattr "$MNT/ro" user.cma.cache
	assert_output EPERM
	run -1 op setxattr "$MNT/ro" user.cma.bogus 1
	assert_output EINVAL
	run -1 op getxattr "$MNT/ro" user.cma.bogus
	assert_output ENODATA
}

@test "user.cma.cache: default uncached; cached/writecombine set before sizing; bad value EINVAL" {
	touch "$MNT/c"
	run -0 xattr "$MNT/c" user.cma.cache
	assert_output uncached
	setfattr -n user.cma.cache -v cached "$MNT/c"
	run -0 xattr "$MNT/c" user.cma.cache
	assert_output cached
	run -1 op setxattr "$MNT/c" user.cma.cache bogus
	assert_output EINVAL
	run -1 op setxattr "$MNT/c" user.cma.cache "cached extra"
	assert_output EINVAL
	run -0 xattr "$MNT/c" user.cma.cache
	assert_output cached
	truncate -s 8K "$MNT/c"
	run -0 xattr "$MNT/c" user.cma.cache
	assert_output cached
	if [[ -n $IOCTL_TOOL ]]; then
		run -0 "$IOCTL_TOOL" info "$MNT/c"
		assert_output --partial "cache=1 "
	fi
	# trailing newline is accepted
	run -0 op setxattr "$MNT/c" user.cma.cache $'writecombine\n'
	run -0 xattr "$MNT/c" user.cma.cache
	assert_output writecombine
}

@test "user.cma.cache: changing it while the sized file is open gives EBUSY; closed it keeps the data" {
	printf 'cache-data' >"$MNT/cb"
	local fd
	exec {fd}<"$MNT/cb"
	run -1 op setxattr "$MNT/cb" user.cma.cache cached
	exec {fd}<&-
	assert_output EBUSY
	run -0 xattr "$MNT/cb" user.cma.cache
	assert_output uncached
	local i
	# the release of fd 4 reaches the daemon asynchronously
	for ((i = 0; i < 100; i++)); do
		op setxattr "$MNT/cb" user.cma.cache cached >/dev/null && break
		sleep 0.05
	done
	run -0 xattr "$MNT/cb" user.cma.cache
	assert_output cached
	run -0 cat "$MNT/cb"
	assert_output cache-data
	# a mapping keeps the file open even after its descriptor is closed
	run -0 python3 - "$MNT/cb" "$OP" <<'PY'
import mmap, os, subprocess, sys
p, op = sys.argv[1], sys.argv[2]
fd = os.open(p, os.O_RDWR)
m = mmap.mmap(fd, 10, mmap.MAP_SHARED)
os.close(fd)
r = subprocess.run([sys.executable, op, "setxattr", p, "user.cma.cache", "uncached"],
                   capture_output=True, text=True)
print(r.stdout.strip())
m.close()
PY
	assert_output EBUSY
	run -0 xattr "$MNT/cb" user.cma.cache
	assert_output cached
}

@test "user.cma.align: power of two >= page size in several notations, else EINVAL unchanged" {
	touch "$MNT/a"
	run -0 xattr "$MNT/a" user.cma.align
	assert_output "$PAGE"
	setfattr -n user.cma.align -v 2M "$MNT/a"
	run -0 xattr "$MNT/a" user.cma.align
	assert_output 2097152
	setfattr -n user.cma.align -v 64K "$MNT/a"
	run -0 xattr "$MNT/a" user.cma.align
	assert_output 65536
	# (setfattr itself would decode a 0x value as hex bytes)
	run -0 op setxattr "$MNT/a" user.cma.align "$(printf '0x%x' $((4 * PAGE)))"
	run -0 xattr "$MNT/a" user.cma.align
	assert_output $((4 * PAGE))
	setfattr -n user.cma.align -v 1048576 "$MNT/a"
	local bad
	for bad in 0 3000 $((3 * PAGE)) $((PAGE / 2)) abc "" "1M junk" -4096; do
		run -1 op setxattr "$MNT/a" user.cma.align "$bad"
		assert_output EINVAL
	done
	run -0 xattr "$MNT/a" user.cma.align
	assert_output 1048576
	truncate -s 1 "$MNT/a"
	(($(hex2dec "$(xattr "$MNT/a" user.cma.phys_addr)") % 1048576 == 0)) || fail "not 1 MiB aligned"
}

@test "user.cma.sync: device/cpu with optional range; bad values EINVAL; no buffer ENODATA; not readable" {
	touch "$MNT/y"
	run -1 op setxattr "$MNT/y" user.cma.sync device
	assert_output ENODATA
	truncate -s 16K "$MNT/y"
	run -0 op setxattr "$MNT/y" user.cma.sync device
	run -0 op setxattr "$MNT/y" user.cma.sync cpu
	run -0 op setxattr "$MNT/y" user.cma.sync "device 0 4096"
	run -0 op setxattr "$MNT/y" user.cma.sync "cpu 4096 12288"
	local bad
	for bad in sideways "device 0" "device 0 99999999" "cpu 16384 1" "device x y" ""; do
		run -1 op setxattr "$MNT/y" user.cma.sync "$bad"
		assert_output EINVAL
	done
	run -1 op getxattr "$MNT/y" user.cma.sync
	assert_output ENODATA
}

@test "user.cma.mmap is direct or cached, as .stats says" {
	touch "$MNT/m"
	run -0 xattr "$MNT/m" user.cma.mmap
	assert_output "$(stat_key mmap)"
}

@test "ERANGE: a buffer too small for a value or the name list; size query returns the length" {
	truncate -s 1 "$MNT/r"
	local v
	v=$(xattr "$MNT/r" user.cma.phys_addr)
	run -0 op getxattr "$MNT/r" user.cma.phys_addr 0
	assert_output "${#v}"
	run -1 op getxattr "$MNT/r" user.cma.phys_addr 2
	assert_output ERANGE
	run -1 op getxattr "$MNT/r" user.cma.phys_addr $((${#v} - 1))
	assert_output ERANGE
	run -0 op getxattr "$MNT/r" user.cma.phys_addr "${#v}"
	assert_output "$v"
	run -1 op getxattr "$MNT/r" user.cma.cache 3
	assert_output ERANGE
	setfattr -n user.long -v "$(printf '%0100d' 0)" "$MNT/r"
	run -1 op getxattr "$MNT/r" user.long 99
	assert_output ERANGE
	run -1 op listxattr "$MNT/r" 10
	assert_output ERANGE
	run -0 op listxattr "$MNT/r" 0
	local need=$output
	run -0 op listxattr "$MNT/r" "$need"
	assert_output --partial user.long
}

@test "EACCES: another user may not read phys_addr/dma_addr of a file it does not own" {
	truncate -s 1 "$MNT/priv"
	chmod 0644 "$MNT/priv"
	run -1 as_user python3 "$OP" getxattr "$MNT/priv" user.cma.phys_addr
	assert_output EACCES
	run -1 as_user python3 "$OP" getxattr "$MNT/priv" user.cma.dma_addr
	assert_output EACCES
	run -1 as_user getfattr -n user.cma.phys_addr "$MNT/priv"
	assert_output --partial 'Permission denied'
	# the ioctl is guarded the same way
	if [[ -n $IOCTL_TOOL ]]; then
		run -1 as_user "$IOCTL_TOOL" info "$MNT/priv"
		assert_output EACCES
	fi
	# other attributes are not privileged
	run -0 as_user python3 "$OP" getxattr "$MNT/priv" user.cma.size
	assert_output "$PAGE"
	# root reads it
	run -0 xattr "$MNT/priv" user.cma.phys_addr
	assert_output --regexp '^0x[0-9a-f]+$'
}

@test "the owner (not root) reads phys_addr of its own file" {
	run -0 as_user truncate -s 8K "$MNT/mine"
	run -0 stat -c '%u' "$MNT/mine"
	assert_output "$TEST_UID"
	run -0 as_user python3 "$OP" getxattr "$MNT/mine" user.cma.phys_addr
	assert_output "$(xattr "$MNT/mine" user.cma.phys_addr)"
	if [[ -n $IOCTL_TOOL ]]; then
		run -0 as_user "$IOCTL_TOOL" info "$MNT/mine"
		assert_output --partial "phys=$(xattr "$MNT/mine" user.cma.phys_addr) "
	fi
}

@test "other user.* attributes are stored like on tmpfs (create/replace/remove)" {
	touch "$MNT/u"
	setfattr -n user.project -v frame-grabber "$MNT/u"
	run -0 xattr "$MNT/u" user.project
	assert_output frame-grabber
	run -0 op listxattr "$MNT/u"
	assert_output --partial user.project
	run -1 op setxattr "$MNT/u" user.project other create
	assert_output EEXIST
	run -1 op setxattr "$MNT/u" user.missing v replace
	assert_output ENODATA
	run -0 op setxattr "$MNT/u" user.project replaced replace
	run -0 xattr "$MNT/u" user.project
	assert_output replaced
	# binary values round-trip
	printf 'a\0b\377' >"$BATS_TEST_TMPDIR/bin"
	run -0 op setxattr "$MNT/u" user.bin "@$BATS_TEST_TMPDIR/bin"
	run -0 python3 -c 'import os,sys; sys.exit(os.getxattr(sys.argv[1], "user.bin") != b"a\0b\xff")' "$MNT/u"
	setfattr -x user.project "$MNT/u"
	run -1 op getxattr "$MNT/u" user.project
	assert_output ENODATA
	run -1 op removexattr "$MNT/u" user.project
	assert_output ENODATA
	# they survive sizing the file
	setfattr -n user.k -v v "$MNT/u"
	truncate -s 1M "$MNT/u"
	run -0 xattr "$MNT/u" user.k
	assert_output v
}

@test "user.* attributes: at most 64 KiB per file (ENOSPC beyond)" {
	touch "$MNT/big"
	run -0 op setxattr_len "$MNT/big" user.a 40000
	run -1 op setxattr_len "$MNT/big" user.b 30000
	assert_output ENOSPC
	run -1 op getxattr "$MNT/big" user.b
	assert_output ENODATA
	run -0 op setxattr_len "$MNT/big" user.b 20000
	run -0 op getxattr "$MNT/big" user.a 0
	assert_output 40000
}

@test "namespaces other than user.* are not supported (set EOPNOTSUPP, get ENODATA)" {
	touch "$MNT/t"
	run -1 op setxattr "$MNT/t" trusted.x v
	assert_output EOPNOTSUPP
	run -1 op getxattr "$MNT/t" trusted.x
	assert_output ENODATA
}

@test "directories: no user.cma.* attributes, plain user.* work" {
	mkdir "$MNT/dir"
	run -1 op getxattr "$MNT/dir" user.cma.phys_addr
	assert_output ENODATA
	run -1 op getxattr "$MNT/dir" user.cma.cache
	assert_output ENODATA
	run -1 op setxattr "$MNT/dir" user.cma.align 4096
	assert_output EINVAL
	setfattr -n user.tag -v dir-value "$MNT/dir"
	run -0 xattr "$MNT/dir" user.tag
	assert_output dir-value
	run -0 op listxattr "$MNT/dir"
	assert_output user.tag
}

@test "ioctls: SET_ALIGN, SET_CACHE and SYNC behave like the attributes" {
	require_tools
	touch "$MNT/i"
	run -0 "$IOCTL_TOOL" align "$MNT/i" 2097152
	run -0 xattr "$MNT/i" user.cma.align
	assert_output 2097152
	run -1 "$IOCTL_TOOL" align "$MNT/i" 12345
	assert_output EINVAL
	run -0 "$IOCTL_TOOL" cache "$MNT/i" 2
	run -0 xattr "$MNT/i" user.cma.cache
	assert_output writecombine
	run -1 "$IOCTL_TOOL" cache "$MNT/i" 7
	assert_output EINVAL
	run -1 "$IOCTL_TOOL" sync "$MNT/i" device 0 0
	assert_output ENODATA
	truncate -s 8K "$MNT/i"
	run -0 "$IOCTL_TOOL" sync "$MNT/i" device 0 0
	run -0 "$IOCTL_TOOL" sync "$MNT/i" cpu 4096 4096
	run -1 "$IOCTL_TOOL" sync "$MNT/i" device 4096 8192
	assert_output EINVAL
	run -1 "$IOCTL_TOOL" sync "$MNT/i" 9 0 0
	assert_output EINVAL
	run -1 "$IOCTL_TOOL" sync "$MNT/i" device 0 0 1
	assert_output EINVAL
	(($(hex2dec "$(xattr "$MNT/i" user.cma.phys_addr)") % 2097152 == 0)) || fail "SET_ALIGN not applied"
}
