# shellcheck shell=bash
# The kernel's CMA area as the kmod backend's tests see it: CmaFree read
# settled, and the helper's own count of buffers (kmod.bats, vivid.bats).

# cma_state [BYTES]: "CMAFREE_KB BUFFERS BYTES": CmaFree (/proc/meminfo) and
# the helper's own count of live buffers and their bytes (CMABUF_IOC_STATS),
# after waiting (<= 5 s) for the helper's bytes to be BYTES if given.
# CmaFree is read settled: pages freed to the kernel linger on its per-CPU
# free lists, uncounted, and are handed out to ordinary (movable)
# allocations from there; a contiguous allocation drains those lists.  So
# it is read while a 2-page probe buffer of the helper is held (that
# allocation drained them), after /proc/sys/vm/stat_refresh has folded the
# per-CPU counters, and the probe is counted as free.
cma_state() {
	python3 - "${1:-}" <<'EOF'
import fcntl, os, struct, sys, time
def ioc(d, nr, size): return (d << 30) | (size << 16) | (0xCB << 8) | nr
dev = os.open("/dev/cmabuf", os.O_RDWR)
def stats():
    st = bytearray(96)                  # struct cmabuf_stats
    fcntl.ioctl(dev, ioc(2, 2, 96), st)
    return struct.unpack_from("=QQ", st)
want = int(sys.argv[1]) if sys.argv[1] else None
for _ in range(100):
    if want is None or stats()[1] == want:
        break
    time.sleep(0.05)
page = os.sysconf("SC_PAGE_SIZE")
a = bytearray(struct.pack("=QQIIiIQQ4Q", 2 * page, 0, 0, 1, -1, 0, 0, 0, 0, 0, 0, 0))  # struct cmabuf_alloc
fcntl.ioctl(dev, ioc(3, 1, 80), a)
fd = struct.unpack_from("=QQIIi", a)[4]
buffers, nbytes = stats()
try:
    with open("/proc/sys/vm/stat_refresh", "w") as f:
        f.write("1")
except OSError:
    time.sleep(1.5)
with open("/proc/meminfo") as f:
    free = next(int(l.split()[1]) for l in f if l.startswith("CmaFree:"))
os.close(fd)
print(free + 2 * page // 1024, buffers - 1, nbytes - 2 * page)
EOF
}

# assert_cma_state "FREE_KB BUFFERS BYTES" [WAIT_BYTES]: the helper's
# buffers and bytes exactly, CmaFree within CMA_SLACK_KB (default 4096).
# Free CMA pages are lent to ordinary movable allocations (page cache,
# process memory: what bats and python do meanwhile) and come back when
# those are freed or migrated away, so CmaFree moves by a few MiB with no
# buffer involved (up to 2.4 MiB measured in the 6.1 guest); the helper's
# own counters are exact.
assert_cma_state() {
	local got w g slack=${CMA_SLACK_KB:-4096} d
	got=$(cma_state "${2:-}") || fail "cma_state failed"
	read -ra w <<<"$1"
	read -ra g <<<"$got"
	d=$((g[0] - w[0]))
	((g[1] == w[1] && g[2] == w[2] && d <= slack && -d <= slack)) && return 0
	fail "CmaFree ${g[0]} kB (expected ${w[0]} +- $slack: off by $d kB), helper: ${g[1]} buffers of ${g[2]} bytes (expected ${w[1]} of ${w[2]})"
}
