#!/usr/bin/env bats
# A real DMA master moves the bytes: QEMU's edu device (the bats VMs of
# tests/vm boot with -device edu,dma_mask=0xffffffffff) copies cmafs
# buffers into its own memory and back out into other cmafs buffers, at
# the addresses of user.cma.dma_addr, with examples/c/cma_dma.c (which
# maps BAR0 through sysfs and turns bus mastering on: root).  Contiguity
# as the device sees it: 4095 bytes (edu's limit) at the first page, across
# the middle page boundary and at the very end, for each cache mode, the
# buffer filled through a plain mmap + fsync and through its own mapping
# (cmafs_map), on the suite's mount and, where that one maps directly
# (passthrough), on a passthrough=off one too (the page cache; the
# hand-off).  Every transfer takes
# 100 ms of the device's timer, so they are few.  Skips (saying why) where
# there is no edu device or the backend is not kmod (sim's addresses are
# not memory's).  CMAFS_DMA_TOOL names a prebuilt cma_dma (the VMs'
# cross-built one).

load helpers/common

XFER=4095	# bytes per edu transfer (see cma_dma.c)

edu_device() { # the sysfs directory of the first edu device, if any
	local d
	for d in /sys/bus/pci/devices/*; do
		[[ -r $d/vendor && -r $d/device ]] || continue
		[[ $(<"$d/vendor") == 0x1234 && $(<"$d/device") == 0x11e8 ]] || continue
		echo "$d"
		return 0
	done
	return 1
}

setup_file() {
	if ! edu_device >/dev/null; then
		export DMA_SKIP="no edu PCI device (1234:11e8, QEMU's -device edu: the bats VMs of tests/vm have one)"
		return 0
	fi
	if [[ $CMAFS_BACKEND != kmod ]]; then
		export DMA_SKIP="only for backend=kmod (running with backend=$CMAFS_BACKEND: its addresses are not memory's)"
		return 0
	fi
	if [[ $(id -u) != 0 ]]; then
		export DMA_SKIP="not root (BAR0 and the PCI command register in sysfs need root)"
		return 0
	fi
	cmafs_setup_file
	[[ -n ${CMAFS_NOT_BUILT:-} ]] && return 0
	# Where this mount maps directly (passthrough), the round trips also
	# run on a second one that does not: a plain mmap is then the page
	# cache, and cmafs_map takes the buffer's descriptor from the hand-off.
	MNT_CACHED=
	if [[ $(stat_key mmap) == direct ]]; then
		local main=$MNT main_log=$LOG main_pid=$CMAFS_PID
		CMAFS_TEST_OPTS=passthrough=off cmafs_mount
		MNT_CACHED=$MNT
		MNT=$main LOG=$main_log CMAFS_PID=$main_pid
	fi
	export MNT_CACHED
	DMA=$CMAFS_TMP/cma_dma
	if [[ -n ${CMAFS_DMA_TOOL:-} ]]; then
		cp "$CMAFS_DMA_TOOL" "$DMA"
	elif [[ -f $TESTS_DIR/../lib/libcmafs.a ]] && command -v cc >/dev/null; then
		cc -std=c11 -O1 -Wall -Wextra -Werror -I"$TESTS_DIR/../include" -o "$DMA" \
			"$TESTS_DIR/../examples/c/cma_dma.c" "$TESTS_DIR/../lib/libcmafs.a"
	else
		export DMA_SKIP="no cma_dma (set CMAFS_DMA_TOOL, or make lib and a C compiler)"
	fi
	export DMA
}

teardown() { cmafs_teardown; }
teardown_file() { cmafs_teardown_file; }

setup() {
	[[ -z ${DMA_SKIP:-} ]] || skip "$DMA_SKIP"
	require_daemon
}

# new_buf NAME SIZE CACHE: a buffer of that cache mode (chosen first).
new_buf() {
	touch "$MNT/$1"
	setfattr -n user.cma.cache -v "$3" "$MNT/$1"
	truncate -s "$2" "$MNT/$1"
	assert_equal "$(xattr "$MNT/$1" user.cma.cache)" "$3"
}

# fill_mmap FILE: random bytes through a plain mmap of the file (the page
# cache without passthrough), msync and fsync.
fill_mmap() {
	python3 - "$1" <<'PY'
import mmap, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
n = os.fstat(fd).st_size
m = mmap.mmap(fd, n)
m[:] = os.urandom(n)
m.flush()
m.close()
os.fsync(fd)
os.close(fd)
PY
}

dma_addr() { printf '%d' "$(xattr "$1" user.cma.dma_addr)"; }

# dma_copy SRC|@ADDR SOFF DST DOFF: XFER bytes through the device, then
# user.cma.sync=cpu on DST (cma_dma -n leaves both to the caller).
dma_copy() {
	"$DMA" -n copy "$1" "$2" "$3" "$4" "$XFER" || return
	setfattr -n user.cma.sync -v cpu "$3"
}

# same SRC SOFF DST DOFF: the XFER bytes are equal (read through the mount).
same() { cmp -n "$XFER" -i "$2:$4" "$1" "$3"; }

# roundtrip CACHE FILL: on each mount (the suite's, and MNT_CACHED),
# FILL (mmap: plain mmap + fsync; direct: the buffer's own mapping,
# libcmafs's cmafs_map) a 1 MiB buffer, DMA its first, a middle and its
# last 4095 bytes into the device and out into a second buffer of the same
# mode; then the negative control: a transfer from one page further on
# does not match (and is that page's bytes).
roundtrip() {
	local mounts=("$MNT" ${MNT_CACHED:+"$MNT_CACHED"}) MNT
	for MNT in "${mounts[@]}"; do
		roundtrip1 "$@"
	done
}

roundtrip1() {
	local cache=$1 how=$2 size=$((1 << 20)) src dst off kind
	src=$MNT/src-$cache-$how dst=$MNT/dst-$cache-$how
	new_buf "src-$cache-$how" $size "$cache"
	new_buf "dst-$cache-$how" $size "$cache"
	if [[ $how == mmap ]]; then
		fill_mmap "$src"
		kind="plain mmap ($(xattr "$src" user.cma.mmap)) + fsync"
	else
		run "$DMA" fill "$src" $RANDOM
		assert_success
		kind="cmafs_map (${output##* }) + cmafs_sync"
	fi
	for off in 0 $((size / 2 - 2048)) $((size - XFER)); do
		run dma_copy "$src" $off "$dst" $off
		assert_success
		run same "$src" $off "$dst" $off
		assert_success
	done
	# Negative control: the source address one page off.
	run dma_copy "@$(($(dma_addr "$src") + 4096))" 0 "$dst" 0
	assert_success
	run same "$src" 0 "$dst" 0
	assert_failure
	run same "$src" 4096 "$dst" 0
	assert_success
	echo "# edu round trip, cache=$cache, filled through $kind: 3 x $XFER bytes match at 0, $((size / 2 - 2048)), $((size - XFER)); one page off: mismatch" >&3
	rm -f "$src" "$dst"
}

@test "edu round trip: uncached, filled through a plain mmap + fsync" { roundtrip uncached mmap; }
@test "edu round trip: uncached, filled through the buffer's own mapping" { roundtrip uncached direct; }
@test "edu round trip: cached, filled through a plain mmap + fsync" { roundtrip cached mmap; }
@test "edu round trip: cached, filled through the buffer's own mapping" { roundtrip cached direct; }
@test "edu round trip: writecombine, filled through a plain mmap + fsync" { roundtrip writecombine mmap; }
@test "edu round trip: writecombine, filled through the buffer's own mapping" { roundtrip writecombine direct; }

@test "edu: DMAs between random ones of many live buffers touch exactly their ranges" {
	local n=16 i a b so doff sz seed=${SEED:-$RANDOM} modes=(uncached cached writecombine)
	local model=$BATS_TEST_TMPDIR/model
	mkdir -p "$model"
	RANDOM=$seed
	echo "# seed $seed" >&3
	for ((i = 0; i < n; i++)); do
		sz=$(((RANDOM % 64 + 2) * 4096))
		new_buf "b$i" $sz "${modes[i % 3]}"
		run "$DMA" fill "$MNT/b$i" $((seed + i))
		assert_success
		cp "$MNT/b$i" "$model/b$i"
	done
	for ((i = 0; i < 10; i++)); do
		a=$((RANDOM % n)) b=$(((a + 1 + RANDOM % (n - 1)) % n))
		so=$(((RANDOM * 32768 + RANDOM) % ($(stat -c %s "$MNT/b$a") - XFER + 1)))
		doff=$(((RANDOM * 32768 + RANDOM) % ($(stat -c %s "$MNT/b$b") - XFER + 1)))
		run dma_copy "$MNT/b$a" $so "$MNT/b$b" $doff
		assert_success
		dd if="$model/b$a" of="$model/b$b" bs=$XFER count=1 skip=$so seek=$doff \
			iflag=skip_bytes oflag=seek_bytes conv=notrunc status=none
	done
	# Every buffer is its model: each DMA wrote where it was sent, only.
	for ((i = 0; i < n; i++)); do
		run cmp "$MNT/b$i" "$model/b$i"
		assert_success
	done
	# Negative control: one more DMA the model does not know of.
	run dma_copy "$MNT/b0" 0 "$MNT/b1" 0
	assert_success
	run cmp "$MNT/b1" "$model/b1"
	assert_failure
	rm -f "$MNT"/b*
}

@test "edu: after a resize the new address is the file's and the old one is not" {
	local old new size
	new_buf a $((64 * 4096)) cached
	new_buf blocker $((16 * 4096)) cached	# no room to grow in place
	new_buf dst $((1 << 20)) cached
	old=$(dma_addr "$MNT/a")
	truncate -s 4M "$MNT/a"
	new=$(dma_addr "$MNT/a")
	[[ $new != "$old" ]] || fail "the buffer did not move ($(printf 0x%x "$old"))"
	run "$DMA" fill "$MNT/a" 7
	assert_success
	size=$(stat -c %s "$MNT/a")
	run dma_copy "$MNT/a" $((size - XFER)) "$MNT/dst" 0
	assert_success
	run same "$MNT/a" $((size - XFER)) "$MNT/dst" 0
	assert_success
	# The old address: not the file's bytes any more.
	run dma_copy "@$old" 4096 "$MNT/dst" 4096
	assert_success
	run same "$MNT/a" 4096 "$MNT/dst" 4096
	assert_failure
	# While the new one is.
	run dma_copy "@$new" 4096 "$MNT/dst" 4096
	assert_success
	run same "$MNT/a" 4096 "$MNT/dst" 4096
	assert_success
	echo "# resize: 0x$(printf %x "$old") -> 0x$(printf %x "$new")" >&3
	rm -f "$MNT/a" "$MNT/blocker" "$MNT/dst"
}
