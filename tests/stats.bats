#!/usr/bin/env bats
# SPEC section 6: the /.stats file (content, consistency, read-only rules)
# and statfs (df / stat -f) reporting the same pool.

load helpers/common

setup_file() {
	export CMAFS_POOL=64M
	cmafs_setup_file
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

NUMERIC_KEYS="pool_bytes used_bytes free_bytes largest_free_bytes buffers orphan_buffers allocs alloc_failures frees"


@test ".stats lists every documented key, one 'key: value' per line" {
	run -0 cat "$MNT/.stats"
	local line k
	while IFS= read -r line; do
		[[ $line =~ ^[a-z_]+:\ [^[:space:]]+$ ]] || fail "malformed line: '$line'"
	done <<<"$output"
	for k in backend mmap passthrough_api $NUMERIC_KEYS; do
		stat_key "$k" "$output" >/dev/null || fail "key $k missing"
	done
	for k in $NUMERIC_KEYS resizes files; do
		stat_key "$k" "$output" >/dev/null || continue
		[[ $(stat_key "$k" "$output") =~ ^[0-9]+$ ]] || fail "$k is not a decimal number"
	done
	assert_equal "$(stat_key backend "$output")" "$CMAFS_BACKEND"
	[[ $(stat_key mmap "$output") =~ ^(direct|cached)$ ]] || fail "mmap: $(stat_key mmap "$output")"
	[[ $(stat_key passthrough_api "$output") =~ ^(libfuse|shim)$ ]] || fail "passthrough_api: $(stat_key passthrough_api "$output")"
	# each key appears once
	assert_equal "$(cut -d: -f1 <<<"$output" | sort | uniq -d)" ""
	assert_stats_consistent "$output"
}

@test "sim: pool_bytes is the pool= option, all free on a fresh mount" {
	require_backend sim
	CMAFS_POOL=24M cmafs_mount
	local s
	s=$(stats)
	assert_equal "$(stat_key pool_bytes "$s")" 25165824
	assert_equal "$(stat_key free_bytes "$s")" 25165824
	assert_equal "$(stat_key largest_free_bytes "$s")" 25165824
	assert_equal "$(stat_key used_bytes "$s")" 0
	assert_equal "$(stat_key buffers "$s")" 0
	assert_equal "$(stat_key allocs "$s")" 0
	assert_equal "$(stat_key frees "$s")" 0
	assert_equal "$(stat_key alloc_failures "$s")" 0
}

@test "kmod: .stats shows cma_total_bytes and cma_free_bytes from /proc/meminfo" {
	require_backend kmod
	local s total
	s=$(stats)
	total=$(awk '/^CmaTotal:/ { print $2 * 1024 }' /proc/meminfo)
	assert_equal "$(stat_key cma_total_bytes "$s")" "$total"
	[[ $(stat_key cma_free_bytes "$s") =~ ^[0-9]+$ ]]
}

@test "the mmap line matches the passthrough= mode and each file's user.cma.mmap" {
	local m
	m=$(stat_key mmap)
	case " ${CMAFS_TEST_OPTS//,/ } " in
	*" passthrough=off "*) assert_equal "$m" cached ;;
	*" passthrough=on "*) assert_equal "$m" direct ;;
	esac
	touch "$MNT/m"
	run -0 xattr "$MNT/m" user.cma.mmap
	assert_output "$m"
}

@test "a scripted sequence: every .stats number adds up" {
	CMAFS_POOL=64M cmafs_mount
	local pool s M=1048576
	pool=$(stat_key pool_bytes)
	truncate -s 4M "$MNT/a"
	s=$(stats)
	assert_equal "$(stat_key used_bytes "$s") $(stat_key buffers "$s") $(stat_key allocs "$s")" "$((4 * M)) 1 1"
	truncate -s 1 "$MNT/b"
	truncate -s 8K "$MNT/c"
	s=$(stats)
	assert_equal "$(stat_key used_bytes "$s") $(stat_key buffers "$s") $(stat_key allocs "$s")" "$((4 * M + PAGE + 8192)) 3 3"
	truncate -s 0 "$MNT/c"
	truncate -s 2M "$MNT/a"
	touch "$MNT/x" "$MNT/d"
	run -1 op truncate "$MNT/x" $((2 * pool))
	assert_output EFBIG
	rm "$MNT/b"
	s=$(stats)
	assert_stats_consistent "$s"
	assert_equal "$(stat_key used_bytes "$s")" "$((2 * M))"
	# (kmod: free_bytes is CmaFree, which the rest of the system moves too.)
	[[ $CMAFS_BACKEND != sim ]] || assert_equal "$(stat_key free_bytes "$s")" "$((pool - 2 * M))"
	assert_equal "$(stat_key buffers "$s")" 1
	assert_equal "$(stat_key orphan_buffers "$s")" 0
	assert_equal "$(stat_key allocs "$s")" 3
	assert_equal "$(stat_key frees "$s")" 2
	assert_equal "$(stat_key alloc_failures "$s")" 1
	assert_equal "$(stat_key resizes "$s")" 1
	assert_equal "$(stat_key files "$s")" 4
	if [[ $CMAFS_BACKEND == sim ]]; then
		assert_equal "$(stat_key largest_free_bytes "$s")" "$((pool - 2 * M))"
	fi
	# statfs says the same
	if [[ $CMAFS_BACKEND == sim ]]; then
		run -0 stat -f -c '%S %b %f %a' "$MNT"
		assert_output "$PAGE $((pool / PAGE)) $(((pool - 2 * M) / PAGE)) $(((pool - 2 * M) / PAGE))"
	fi
	# removing the rest returns the pool
	rm "$MNT/a" "$MNT/c" "$MNT/d" "$MNT/x"
	s=$(stats)
	assert_equal "$(stat_key used_bytes "$s") $(stat_key buffers "$s") $(stat_key frees "$s") $(stat_key files "$s")" "0 0 3 0"
	[[ $CMAFS_BACKEND != sim ]] || assert_equal "$(stat_key free_bytes "$s")" "$pool"
	[[ $CMAFS_BACKEND != sim ]] || assert_equal "$(stat_key largest_free_bytes "$s")" "$pool"
}

@test "statfs: block size = page size, blocks = pool, free = avail = free_bytes, namemax 255" {
	truncate -s 3M "$MNT/s1"
	truncate -s 5000 "$MNT/s2"
	local s
	s=$(stats)
	run -0 stat -f -c '%s %S %b %f %a %l' "$MNT"
	assert_output "$PAGE $PAGE $(($(stat_key pool_bytes "$s") / PAGE)) $(($(stat_key free_bytes "$s") / PAGE)) $(($(stat_key free_bytes "$s") / PAGE)) 255"
}

@test "df agrees with .stats (size = pool, used = pool - free_bytes, avail = free_bytes)" {
	truncate -s 7M "$MNT/d1"
	local s pool free
	s=$(stats)
	run -0 df -B1 --output=size,used,avail "$MNT"
	pool=$(stat_key pool_bytes "$s") free=$(stat_key free_bytes "$s")
	if [[ $CMAFS_BACKEND == kmod ]]; then
		# CmaFree moves between two readings: the size, and used + avail.
		[[ ${lines[1]} =~ ^\ *$pool\ +([0-9]+)\ +([0-9]+)$ ]] || fail "df: ${lines[1]}"
		assert_equal "$((BASH_REMATCH[1] + BASH_REMATCH[2]))" "$pool"
	else
		assert_line --index 1 --regexp "^ *$pool +$((pool - free)) +$free\$"
	fi
	assert_equal "$(stat_key used_bytes "$s")" $((7 * 1048576))
}

@test "one open of .stats is one snapshot, even read in pieces while the pool changes" {
	run -0 python3 - "$MNT" <<'PY'
import os, subprocess, sys
mnt = sys.argv[1]
before = open(mnt + "/.stats").read()
fd = os.open(mnt + "/.stats", os.O_RDONLY)
parts = [os.read(fd, 7)]
subprocess.run(["truncate", "-s", "2M", mnt + "/snap"], check=True)
while True:
    b = os.read(fd, 5)
    if not b:
        break
    parts.append(b)
os.close(fd)
text = b"".join(parts).decode()
after = open(mnt + "/.stats").read()
assert text == before, (text, before)
assert after != before, "2 MiB allocation did not change .stats"
print("ok")
PY
	assert_output ok
}

@test ".stats is mode 0444, a regular file owned by the mounting user, listed by ls -a" {
	run -0 stat -c '%a %u %g %F' "$MNT/.stats"
	assert_output --regexp '^444 0 0 regular (empty )?file$'
	run -0 ls -a "$MNT"
	assert_line .stats
	run -0 ls "$MNT"
	refute_output --partial .stats
}

@test ".stats cannot be opened for writing (EACCES)" {
	local f
	for f in w rw w,trunc; do
		run -1 op open "$MNT/.stats" "$f"
		assert_output EACCES
	done
	run -0 stat -c %a "$MNT/.stats"
	assert_output 444
	grep -q '^pool_bytes: ' "$MNT/.stats"
}

@test ".stats cannot be truncated, chmod-ed, chown-ed or touched (EPERM)" {
	run -1 op truncate "$MNT/.stats" 0
	assert_output EPERM
	run -1 op chmod "$MNT/.stats" 0666
	assert_output EPERM
	run -1 op chown "$MNT/.stats" 1234 1234
	assert_output EPERM
	run -1 op utime "$MNT/.stats" 1000000000
	assert_output EPERM
	run -0 stat -c '%a %u' "$MNT/.stats"
	assert_output "444 0"
	grep -q '^pool_bytes: ' "$MNT/.stats"
}

@test ".stats cannot be removed, renamed, or replaced by a rename (EPERM)" {
	run -1 op unlink "$MNT/.stats"
	assert_output EPERM
	run -1 op rename "$MNT/.stats" "$MNT/moved"
	assert_output EPERM
	touch "$MNT/other"
	run -1 op rename "$MNT/other" "$MNT/.stats"
	assert_output EPERM
	run -1 op rename "$MNT/other" "$MNT/.stats" exchange
	assert_output EPERM
	assert_file_exist "$MNT/other"
	assert_file_not_exist "$MNT/moved"
	grep -q '^pool_bytes: ' "$MNT/.stats"
	run -1 op link "$MNT/other" "$MNT/.stats"
	assert_output EEXIST
}

@test "creating .stats at the root fails with EEXIST (O_EXCL, mkdir, mknod, symlink)" {
	run -1 op open "$MNT/.stats" creat,excl,w
	assert_output EEXIST
	run -1 op mkdir "$MNT/.stats"
	assert_output EEXIST
	run -1 op mkfifo "$MNT/.stats"
	assert_output EEXIST
	run -1 op symlink target "$MNT/.stats"
	assert_output EEXIST
	grep -q '^pool_bytes: ' "$MNT/.stats"
}

@test ".stats takes no extended attributes (EPERM)" {
	run -1 op setxattr "$MNT/.stats" user.note hello
	assert_output EPERM
	run -1 op removexattr "$MNT/.stats" user.note
	assert_output --regexp '^(EPERM|ENODATA)$'
}

@test ".stats in a subdirectory is an ordinary file" {
	mkdir "$MNT/sub"
	truncate -s 8K "$MNT/sub/.stats"
	echo hello >"$MNT/sub/.stats"
	run -0 cat "$MNT/sub/.stats"
	assert_output hello
	rm "$MNT/sub/.stats"
	assert_file_not_exist "$MNT/sub/.stats"
}

@test ".stats is readable by another user on an allow_other mount" {
	ensure_test_user
	cmafs_mount allow_other,default_permissions
	run -0 as_user cat "$MNT/.stats"
	assert_line --regexp '^pool_bytes: [0-9]+$'
	run -1 as_user python3 "$OP" open "$MNT/.stats" w
	assert_output EACCES
}
