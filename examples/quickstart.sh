#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The 30-second tour of cmafs as a shell session, against a mounted pool:
#
#   examples/quickstart.sh [MOUNTPOINT]        (default: $CMAFS_MOUNT or /cma)
#
# Mount one first, e.g.  cmafs -o backend=sim,pool=64M /cma
# Every step is printed as it would be typed, and its result is checked; the
# script stops with a message and status 1 at the first surprise, and removes
# its file in any case.
set -euo pipefail

mnt=${1:-${CMAFS_MOUNT:-/cma}}
f=$mnt/frame0-$$
PY=${PYTHON:-python3}

die() { echo "quickstart: $*" >&2; exit 1; }
cleanup() { rm -f "$f"; }
trap cleanup EXIT

[[ -r $mnt/.stats ]] || die "no cmafs mount at $mnt (mount one: cmafs -o backend=sim $mnt)"
say() { printf '$ %s\n' "$*"; }
stat_key() { awk -F': ' -v k="$1" '$1 == k { print $2 }' "$mnt/.stats"; }
page=$(getconf PAGESIZE)
buffers0=$(stat_key buffers)
used0=$(stat_key used_bytes)

# 1. truncate allocates one contiguous, zero-filled buffer.
say "truncate -s 4M $f"
truncate -s 4M "$f"
[[ $(stat -c %s "$f") == 4194304 ]] || die "st_size is not 4 MiB"
[[ $(stat_key buffers) == $((buffers0 + 1)) ]] || die ".stats buffers did not go up by one"
[[ $(stat_key used_bytes) == $((used0 + 4194304)) ]] || die ".stats used_bytes did not grow by 4 MiB"

# 2. Its physical address: what a DMA engine is programmed with.
say "getfattr -n user.cma.phys_addr $f"
getfattr --absolute-names -n user.cma.phys_addr "$f"
phys=$(getfattr --absolute-names --only-values -n user.cma.phys_addr "$f")
[[ $phys =~ ^0x[0-9a-f]+$ ]] || die "phys_addr '$phys' is not a hex address"
(( phys % page == 0 )) || die "phys_addr $phys is not page-aligned"
size=$(getfattr --absolute-names --only-values -n user.cma.size "$f")
[[ $size == 4194304 ]] || die "user.cma.size is $size, not 4194304"

# 3. Fill it through a mapping, from any language.
say "$PY -c '...mmap(\"$f\")...'"
"$PY" - "$f" <<'EOF'
import mmap, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
with mmap.mmap(fd, 0) as m:
    m[:] = bytes(range(256)) * (len(m) // 256)
    m.flush()
os.close(fd)
EOF

# 4. fsync: everything is in the buffer, caches cleaned for the device.
say "sync $f"
sync "$f"
cmp -s <(head -c 4194304 "$f") \
	<("$PY" -c 'import sys; sys.stdout.buffer.write(bytes(range(256)) * 16384)') ||
	die "the buffer does not hold what was written through the mapping"
echo "# read back: 4 MiB as written"

# 5. Pool usage.
say "cat $mnt/.stats"
cat "$mnt/.stats"

# 6. rm frees it.
say "rm $f"
rm "$f"
for _ in $(seq 100); do
	[[ $(stat_key buffers) == "$buffers0" ]] && break
	sleep 0.05
done
[[ $(stat_key buffers) == "$buffers0" ]] || die ".stats buffers did not go back to $buffers0"
[[ $(stat_key used_bytes) == "$used0" ]] || die ".stats used_bytes did not go back to $used0"
echo "# freed: used_bytes back to $used0"
