#!/usr/bin/env bats
# A real importer (issue 15): V4L2 captures into cmafs buffers exported as
# dma-bufs.  vivid, the kernel's virtual capture driver, is loaded in the
# arm64 VMs with its dma-contig allocator (tests/vm/vm-check:
# allocators=1), which takes a dma-buf only when it is one contiguous
# range for the device.  examples/c/v4l2_capture.c sizes cmafs files with
# ftruncate, exports them with cmafs_dmabuf() (libcmafs) and queues them
# as V4L2_MEMORY_DMABUF.  Checked: the frame's bytes are in the file (read
# through the mount), in a mapping of the buffer at user.cma.phys_addr
# (pagemap) and in a mapping of the dma-buf; the bottom line of the frame
# equals vivid's own (MMAP) capture of the same format, with a fresh
# buffer as the control that does not; the memory comes back after close,
# after rm while exported and after SIGKILL of the capturing process.  The
# negative control (Linux >= 6.12 with /dev/udmabuf): the same import of a
# dma-buf of scattered pages fails.  Skips off the VMs (no vivid, no
# cross-built tools) and on the sim backend.

load helpers/common
load helpers/cma

FMT=640x480

vivid_node() {
	local d
	for d in /sys/class/video4linux/video*; do
		[[ $(cat "$d/name" 2>/dev/null) == vivid-*-vid-cap ]] || continue
		echo "/dev/${d##*/}"
		return 0
	done
	return 1
}

setup() {
	require_backend kmod
	require_daemon
	V4L2=${CMAFS_V4L2_BIN:-}
	[[ -n $V4L2 && -x $V4L2/v4l2_capture && -x $V4L2/udmabuf-qbuf ]] ||
		skip "no v4l2_capture/udmabuf-qbuf for this machine (CMAFS_V4L2_BIN: the arm64 VMs)"
	[[ -n ${CMAFS_MAP_TOOL:-} && -x $CMAFS_MAP_TOOL ]] ||
		skip "no cmafs-map tool (CMAFS_MAP_TOOL)"
	VDEV=$(vivid_node) || skip "no vivid capture device (vm-check loads vivid with allocators=1)"
	cmafs_mount
}

teardown() {
	[[ -n ${CAP_PID:-} ]] && kill -9 "$CAP_PID" 2>/dev/null
	cmafs_teardown
}

# fnv FILE: the FNV-1a hash of FILE's bytes as read(2) gives them.
fnv() {
	python3 -c '
import sys
h = 14695981039346656037
for b in open(sys.argv[1], "rb").read():
    h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
print("%016x" % h)' "$1"
}

# field NAME TEXT: the word after NAME in TEXT's lines.
field() { sed -n "s/.*\\<$1 \\([^ ]*\\).*/\\1/p" <<<"$2" | head -n 1; }

@test "vivid captures into exported cmafs buffers: the frames are in the files, at their physical addresses" {
	local base out last bytes bpl f phys h frames dmab
	base=$(cma_state)
	mkdir "$MNT/v"
	run "$V4L2/v4l2_capture" -d "$VDEV" -n 6 -b 3 -s $FMT "$MNT/v"
	((status == 0)) || fail "v4l2_capture: $output"
	out=$output
	last=$(field last "$out")
	bytes=$(field sizeimage "$out")
	bpl=$(field bytesperline "$out")
	[[ -n $last && $bytes -gt 0 && $bpl -gt 0 ]] || fail "v4l2_capture said: $out"
	f=$MNT/v/frame$last
	[[ $(stat -c %s "$f") == "$bytes" ]] || fail "frame file size $(stat -c %s "$f"), expected $bytes"
	! cmp -s -n "$bytes" "$f" /dev/zero || fail "the frame in $f is all zeros"

	# The bytes the device wrote, three ways, and where they are.
	phys=$(xattr "$f" user.cma.phys_addr)
	h=$(fnv "$f")
	frames=$("$CMAFS_MAP_TOOL" frames "$f")
	dmab=$("$CMAFS_MAP_TOOL" dmabuf "$f")
	[[ $frames == "phys=$phys contiguous=1 fnv=$h" ]] ||
		fail "mapping of the buffer: '$frames', expected phys=$phys contiguous=1 fnv=$h"
	[[ $dmab == "$frames" ]] || fail "mapping of its dma-buf: '$dmab', of the buffer: '$frames'"

	# The frame is vivid's picture: its bottom line (color bars, below the
	# on-screen text) as in vivid's own buffers.  Control: a fresh buffer.
	"$V4L2/v4l2_capture" -d "$VDEV" -m mmap -n 2 -b 2 -s $FMT \
		-o "$BATS_TEST_TMPDIR/mmap.raw" >/dev/null || fail "MMAP capture failed"
	cmp -s <(tail -c "$bpl" "$f") <(tail -c "$bpl" "$BATS_TEST_TMPDIR/mmap.raw") ||
		fail "the bottom line of the frame differs from vivid's MMAP capture"
	truncate -s "$bytes" "$MNT/control"
	! cmp -s <(tail -c "$bpl" "$MNT/control") <(tail -c "$bpl" "$BATS_TEST_TMPDIR/mmap.raw") ||
		fail "control: a buffer nobody captured into compares equal"

	rm -r "$MNT/v" "$MNT/control"
	wait_stat buffers 0
	assert_cma_state "$base" 0
}

# start_capture: v4l2_capture -w in the background on $MNT/v, until it
# waits with the buffers queued and exported (stdin: a FIFO on fd 4).
start_capture() {
	local i
	mkdir -p "$MNT/v"
	mkfifo "$BATS_TEST_TMPDIR/in"
	"$V4L2/v4l2_capture" -w -d "$VDEV" -n 2 -b 3 -s $FMT "$MNT/v" \
		<"$BATS_TEST_TMPDIR/in" >"$BATS_TEST_TMPDIR/out" 2>&1 3>&- &
	CAP_PID=$!
	exec 4>"$BATS_TEST_TMPDIR/in"
	for ((i = 0; i < 600; i++)); do
		grep -q '^waiting' "$BATS_TEST_TMPDIR/out" && return 0
		kill -0 "$CAP_PID" 2>/dev/null || break
		sleep 0.1
	done
	fail "v4l2_capture did not get to wait: $(cat "$BATS_TEST_TMPDIR/out")"
}

@test "vivid: rm while exported keeps the memory until the capture ends, then every byte comes back" {
	local base held
	base=$(cma_state)
	start_capture
	held=$(stat_key used_bytes)
	((held > 0)) || fail "used_bytes $held while capturing"
	rm -r "$MNT/v"
	sleep 2	# the daemon checks held buffers every second
	[[ $(stat_key buffers) == 3 && $(stat_key orphan_buffers) == 3 ]] ||
		fail "after rm: $(stats)"
	exec 4>&-
	wait "$CAP_PID" || fail "v4l2_capture failed: $(cat "$BATS_TEST_TMPDIR/out")"
	CAP_PID=
	wait_stat buffers 0
	wait_stat used_bytes 0
	assert_cma_state "$base" 0
}

@test "vivid: SIGKILL of the capturing process gives every buffer back" {
	local base
	base=$(cma_state)
	start_capture
	rm -r "$MNT/v"
	kill -9 "$CAP_PID"
	wait "$CAP_PID" 2>/dev/null || true
	CAP_PID=
	exec 4>&-
	wait_stat buffers 0
	assert_cma_state "$base" 0
}

@test "vivid: capture rate into cmafs buffers and into vivid's own (reported, not asserted)" {
	local d m
	d=$("$V4L2/v4l2_capture" -d "$VDEV" -n 30 -b 4 -s $FMT "$MNT") ||
		fail "dmabuf capture failed: $d"
	m=$("$V4L2/v4l2_capture" -d "$VDEV" -m mmap -n 30 -b 4 -s $FMT) ||
		fail "mmap capture failed: $m"
	echo "# vivid $FMT YUYV, 30 frames: cmafs dma-bufs $(field fps "$d") fps, vivid MMAP $(field fps "$m") fps" >&3
	[[ -n $(field fps "$d") && -n $(field fps "$m") ]]
	rm -f "$MNT"/frame*
	wait_stat buffers 0
}

@test "vivid negative control: a dma-buf of scattered pages (udmabuf) is refused by the same import" {
	local before
	[[ -c /dev/udmabuf ]] || skip "no /dev/udmabuf (CONFIG_UDMABUF: Debian's 6.12, not 6.1)"
	before=$(dmesg | grep -c 'contiguous chunk is too small' || true)
	run "$V4L2/udmabuf-qbuf" "$VDEV" $FMT
	((status == 0)) || fail "the control could not be set up: $output"
	[[ $output == "qbuf EFAULT" ]] || fail "QBUF of a udmabuf: '$output', expected qbuf EFAULT"
	(($(dmesg | grep -c 'contiguous chunk is too small') > before)) ||
		fail "no 'contiguous chunk is too small' line in the kernel log"
}
