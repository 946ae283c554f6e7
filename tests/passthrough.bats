#!/usr/bin/env bats
# SPEC section 4 with passthrough in effect (sim): a mapping of a /cma file is
# the buffer itself.  Checked against the buffer's own descriptor, which for
# the sim backend is the daemon's memfd, reached through /proc/PID/fd.

load helpers/common

setup_file() {
	export CMAFS_POOL=64M
	cmafs_setup_file
}
teardown_file() { cmafs_teardown_file; }

setup() {
	require_daemon
	require_backend sim
	require_passthrough on
	PAGE=$(page_size)
}

teardown() {
	cmafs_clean_root
	cmafs_teardown
}

# The daemon's memfd of SIZE bytes (exactly one).
buffer_fd() {
	local f n=0 found=
	for f in /proc/"$CMAFS_PID"/fd/*; do
		[[ $(readlink "$f") == *cmafs-sim* && $(stat -L -c %s "$f") == "$1" ]] || continue
		found=$f n=$((n + 1))
	done
	((n == 1)) || fail "expected one memfd of $1 bytes, found $n"
	echo "$found"
}

@test "passthrough: another process's MAP_SHARED mapping sees writes to the buffer's descriptor at once" {
	local size=$((4 * PAGE)) dev
	truncate -s $size "$MNT/f"
	dev=$(buffer_fd $size)
	run -0 python3 - "$MNT/f" "$dev" "$size" <<'PY'
import mmap, os, sys
path, dev, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
r, w = os.pipe()
if os.fork() == 0:                      # the mapping process
    m = mmap.mmap(os.open(path, os.O_RDWR), size, mmap.MAP_SHARED)
    os.write(w, b"m")                   # mapped: go ahead
    import time
    for _ in range(500):                # no sync of any kind, just look
        if m[8192:8197] == b"fresh":
            os._exit(0)
        time.sleep(0.01)
    os._exit(1)
os.read(r, 1)
fd = os.open(dev, os.O_RDWR)            # the "device": the buffer's own fd
os.pwrite(fd, b"fresh", 8192)
_, st = os.wait()
print("seen" if os.waitstatus_to_exitcode(st) == 0 else "not seen")
PY
	assert_output seen
}

@test "passthrough: a store through the mapping is seen by read() at once" {
	local size=$((2 * PAGE))
	truncate -s $size "$MNT/g"
	run -0 python3 - "$MNT/g" "$size" <<'PY'
import mmap, os, sys
path, size = sys.argv[1], int(sys.argv[2])
m = mmap.mmap(os.open(path, os.O_RDWR), size, mmap.MAP_SHARED)
m[100:108] = b"instant!"
other = os.open(path, os.O_RDONLY)      # a separate descriptor, no msync
print(os.pread(other, 8, 100).decode())
PY
	assert_output instant!
}

@test "passthrough: the mapping's pages are the buffer's own pages (/proc/self/pagemap)" {
	local size=$((8 * PAGE)) dev
	truncate -s $size "$MNT/h"
	dev=$(buffer_fd $size)
	run -0 python3 - "$MNT/h" "$dev" "$size" <<'PY'
import ctypes, mmap, os, struct, sys
path, dev, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
page = os.sysconf("SC_PAGE_SIZE")
def pfns(m):
    buf = (ctypes.c_char * len(m)).from_buffer(m)
    addr = ctypes.addressof(buf)
    for off in range(0, size, page):
        m[off] = m[off]                 # fault it in
    with open("/proc/self/pagemap", "rb") as pm:
        pm.seek(addr // page * 8)
        ents = struct.unpack("%dQ" % (size // page), pm.read(size // page * 8))
    del buf
    assert all(e >> 63 for e in ents), "not present"
    return [e & ((1 << 55) - 1) for e in ents]
a = mmap.mmap(os.open(path, os.O_RDWR), size, mmap.MAP_SHARED)
b = mmap.mmap(os.open(dev, os.O_RDWR), size, mmap.MAP_SHARED)
pa, pb = pfns(a), pfns(b)
assert all(pa), "PFNs hidden (need CAP_SYS_ADMIN)"
print("same" if pa == pb else "different %s %s" % (pa[:2], pb[:2]))
PY
	assert_output same
}
