#!/usr/bin/env bats
# Issue 17, inspection: /.buffers lists every buffer and /.map the pool in
# address order (cmafs(8), "THE BUFFERS AND MAP FILES").  Both are views
# like /.stats; addresses go to root and each buffer's owner only, decided
# by the reader; they agree with .stats and with themselves under load.

load helpers/common
load stress/lib

CHECK=$HELPERS_DIR/check_views.py

setup_file() {
	ensure_test_user
	build_stress_tools
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

# line_of VIEW PATH: the line of PATH in a view.
line_of() { grep -F "$2 " "$MNT/$1" | head -n 1; }

@test "views: .buffers and .map sit beside .stats, read-only like it" {
	run -0 ls -a "$MNT"
	assert_line .buffers
	assert_line .map
	assert_line .stats
	local v
	for v in .buffers .map; do
		assert_equal "$(stat -c '%a %s %U' "$MNT/$v")" "444 0 root"
		[[ -f $MNT/$v ]] || fail "$v is not a regular file"
		run -1 op open "$MNT/$v" w
		assert_output EACCES
		run -1 op unlink "$MNT/$v"
		assert_output EPERM
		run -1 op rename "$MNT/$v" "$MNT/x"
		assert_output EPERM
		run -1 op mkdir "$MNT/$v"
		assert_output EEXIST
	done
	# in a subdirectory they are ordinary names
	mkdir "$MNT/sub"
	touch "$MNT/sub/.buffers"
	run -0 op stat "$MNT/sub/.buffers"
}

@test "views: .buffers lists every buffer with its owner, sizes, cache, mmap, opens, orphan state and addresses" {
	truncate -s 5000 "$MNT/a"
	touch "$MNT/c"
	setfattr -n user.cma.cache -v cached "$MNT/c"
	truncate -s 3 "$MNT/c"
	touch "$MNT/empty"
	mkdir "$MNT/d"
	truncate -s 8K "$MNT/d/with space"
	local s a
	s=$(stats)
	run -0 head -n 2 "$MNT/.buffers"
	assert_output "buffers: $(stat_key buffers "$s")
bytes: $(stat_key used_bytes "$s")"
	a=$(xattr "$MNT/a" user.cma.phys_addr)
	assert_equal "$(line_of .buffers /a)" \
		"/a uid=0 size=5000 bytes=$((2 * PAGE)) cache=uncached mmap=$(actual_mmap_mode) opens=0 orphan=no phys=$a dma=$(xattr "$MNT/a" user.cma.dma_addr)"
	[[ $(line_of .buffers /c) == "/c uid=0 size=3 bytes=$PAGE cache=cached "* ]] || fail "$(cat "$MNT/.buffers")"
	run grep -c '^/empty ' "$MNT/.buffers"
	assert_output 0
	# a blank in a name is escaped, so every line is PATH and fields
	[[ $(line_of .buffers '/d/with\040space') == '/d/with\040space uid=0 size=8192 '* ]] || fail "$(cat "$MNT/.buffers")"
	# an open file counts; removed while open it is an orphan
	exec {fd}<"$MNT/a"
	[[ $(line_of .buffers /a) == *" opens=1 orphan=no "* ]] || fail "$(line_of .buffers /a)"
	rm "$MNT/a"
	run -0 grep -E "^\(inode:[0-9]+\) uid=0 size=5000 .* opens=1 orphan=yes phys=$a " "$MNT/.buffers"
	exec {fd}<&-
	wait_stat orphan_buffers 0
	run grep -c 'orphan=yes' "$MNT/.buffers"
	assert_output 0
	run -0 "$CHECK" "$MNT"
}

@test "views: addresses are shown to root and each buffer's owner only; names in unsearchable directories stay hidden" {
	truncate -s 8K "$MNT/root-file"
	as_user truncate -s 4K "$MNT/user-file"
	mkdir -m 700 "$MNT/private"
	truncate -s 4K "$MNT/private/secret-name"
	local mine
	mine=$(as_user getfattr --absolute-names --only-values -n user.cma.phys_addr "$MNT/user-file")
	run -0 as_user cat "$MNT/.buffers"
	assert_line --regexp "^/root-file uid=0 size=8192 .* phys=- dma=-$"
	assert_line --regexp "^/user-file uid=$TEST_UID size=4096 .* phys=$mine dma=0x[0-9a-f]+$"
	assert_line --regexp "^- uid=0 size=4096 .* phys=- dma=-$"
	refute_output --partial secret-name
	run -0 as_user cat "$MNT/.map"
	assert_line --regexp "^$mine-0x[0-9a-f]+ used 1 /user-file$"
	assert_line --regexp "^- used 2 /root-file$"
	assert_line --regexp "^- used 1 -$"
	assert_line --regexp "^- (free|other) [0-9]+$"
	refute_line --regexp '^0x[0-9a-f]+-0x[0-9a-f]+ (free|other) '
	# root sees everything
	run -0 cat "$MNT/.buffers"
	assert_line --regexp "^/private/secret-name uid=0 size=4096 .* phys=0x[0-9a-f]+ dma=0x[0-9a-f]+$"
}

@test "views: sim: .map covers the pool in address order and agrees with .stats and every file's address" {
	require_backend sim
	local i base
	for i in 1 2 3 4 5 6; do truncate -s $((i * 3))K "$MNT/f$i"; done
	rm "$MNT/f2" "$MNT/f5"
	run -0 "$CHECK" "$MNT"
	base=$(stat_key phys_base)
	run -0 sed -n 5p "$MNT/.map"
	[[ $output == "$(printf '0x%x' "$base")-"* ]] || fail "the first run does not start at phys_base $base: $output"
	for i in 1 3 4 6; do
		run -0 grep -E "^$(xattr "$MNT/f$i" user.cma.phys_addr)-0x[0-9a-f]+ used $(((i * 3 * 1024 + PAGE - 1) / PAGE)) /f$i$" "$MNT/.map"
	done
	run -0 sed -n 4p "$MNT/.map"
	assert_output "largest_free_bytes: $(stat_key largest_free_bytes)"
	assert_equal "$(grep -c ' free ' "$MNT/.map")" 3
}

@test "views: under 32 clients, every .buffers and .map snapshot agrees with itself, and both with .stats at quiescence" {
	require_stress_tools
	mkdir -p "$MNT/load"
	"$LOADGEN" -t 6 -w 60 -R "$MNT" -P 4 -T 8 -m 256K "$MNT/load" >"$BATS_TEST_TMPDIR/load.out" 2>&1 &
	local lpid=$!
	run timeout 120 "$CHECK" "$MNT" 6
	((status == 0)) || fail "$output"
	echo "# $output" >&3
	wait "$lpid" || fail "loadgen failed: $(tail -5 "$BATS_TEST_TMPDIR/load.out")"
	run -0 "$CHECK" "$MNT"
	local s
	s=$(stats)
	assert_equal "$(sed -n 1p "$MNT/.buffers")" "buffers: $(stat_key buffers "$s")"
	assert_equal "$(sed -n 2p "$MNT/.map")" "used_bytes: $(stat_key used_bytes "$s")"
}
