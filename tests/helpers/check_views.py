#!/usr/bin/env python3
"""Checks the /.buffers and /.map views of a cmafs mount (cmafs(8), "THE
BUFFERS AND MAP FILES"): each snapshot agrees with itself.

  check_views.py MNT [SECONDS]   read both views again and again for
                                 SECONDS (default: once); print
                                 "N snapshots" or the first inconsistency
                                 and exit 1.  As root: every address is
                                 shown, so the map's runs are checked too.
"""
import os
import re
import sys
import time

RUN = re.compile(r"^(-|0x([0-9a-f]+)-0x([0-9a-f]+)) (used|free|other) (\d+)(?: (\S+))?$")


def header(lines, keys):
    vals = {}
    for k in keys:
        line = lines.pop(0)
        name, _, v = line.partition(": ")
        if name != k or not v.isdigit():
            raise ValueError("expected '%s: N', got %r" % (k, line))
        vals[k] = int(v)
    return vals


def check_buffers(text, page):
    lines = text.splitlines()
    h = header(lines, ["buffers", "bytes"])
    if len(lines) != h["buffers"]:
        raise ValueError("buffers: %d but %d lines" % (h["buffers"], len(lines)))
    total = 0
    for line in lines:
        f = line.split(" ")
        kv = dict(x.split("=", 1) for x in f[1:])
        for k in ("uid", "size", "bytes", "cache", "mmap", "opens", "orphan", "phys", "dma"):
            if k not in kv:
                raise ValueError("no %s= in %r" % (k, line))
        b = int(kv["bytes"])
        if b % page or b < int(kv["size"]) or b == 0:
            raise ValueError("bytes %d vs size %s in %r" % (b, kv["size"], line))
        total += b
    if total != h["bytes"]:
        raise ValueError("bytes: %d but the lines add up to %d" % (h["bytes"], total))
    return h


def check_map(text, page, pool_alone):
    lines = text.splitlines()
    h = header(lines, ["pool_bytes", "used_bytes", "free_bytes", "largest_free_bytes"])
    used = free = largest = 0
    prev_end = None
    for line in lines:
        m = RUN.match(line)
        if not m:
            raise ValueError("not a run: %r" % line)
        pages = int(m.group(5))
        if m.group(2) is not None:
            start, end = int(m.group(2), 16), int(m.group(3), 16)
            if end - start != pages * page:
                raise ValueError("run size: %r" % line)
            # kmod under passthrough: a write may move a buffer while the
            # view renders (cmafs(8)), so only a sim pool must never overlap
            if pool_alone and prev_end is not None and start < prev_end:
                raise ValueError("runs out of order or overlapping at %r" % line)
            if pool_alone and prev_end is not None and start != prev_end:
                raise ValueError("hole before %r" % line)
            prev_end = end
        if m.group(4) == "used":
            used += pages * page
        elif m.group(4) == "free":
            free += pages * page
            largest = max(largest, pages * page)
    if pool_alone:
        if (used, free, largest) != (h["used_bytes"], h["free_bytes"], h["largest_free_bytes"]):
            raise ValueError("runs: used %d free %d largest %d; header %r" % (used, free, largest, h))
        if used + free != h["pool_bytes"]:
            raise ValueError("runs cover %d of the pool's %d bytes" % (used + free, h["pool_bytes"]))
    return used


def main():
    mnt = sys.argv[1]
    secs = float(sys.argv[2]) if len(sys.argv) > 2 else 0
    page = os.sysconf("SC_PAGE_SIZE")
    with open(os.path.join(mnt, ".stats")) as f:
        # a sim pool is the mount's alone: its runs tile it exactly
        alone = "backend: sim\n" in f.read()
    end = time.monotonic() + secs
    n = 0
    while True:
        with open(os.path.join(mnt, ".map")) as f:
            m = f.read()
        with open(os.path.join(mnt, ".buffers")) as f:
            b = f.read()
        try:
            used = check_map(m, page, alone)
            h = check_buffers(b, page)
            if secs == 0 and used != h["bytes"]:
                raise ValueError("map used %d, buffers %d" % (used, h["bytes"]))
        except ValueError as e:
            print("inconsistent snapshot (%s)\n.map:\n%s\n.buffers:\n%s" % (e, m, b))
            return 1
        n += 1
        if time.monotonic() >= end:
            break
    print("%d snapshots" % n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
