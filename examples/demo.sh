#!/usr/bin/env bash
# The main job in one minute: a pool mounted on a temporary directory, a
# buffer created with truncate, its physical address read with getfattr,
# filled, synced, accounted, freed -- and the pool always unmounted again.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cmafs=${CMAFS_BIN:-$here/cmafs/cmafs}
mnt=$(mktemp -d /tmp/cmafs-demo.XXXXXX)
log=$mnt.log

cleanup() {
	fusermount3 -u "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true
	rmdir "$mnt" 2>/dev/null || true
	rm -f "$log"
}
trap cleanup EXIT

step() { printf '\n$ %s\n' "$*"; eval "$@"; }

"$cmafs" -o backend=sim,pool=64M "$mnt" 2>"$log" || { cat "$log"; exit 1; }
cd "$mnt"
echo "# a simulated 64 MiB CMA pool is mounted on $mnt"
step 'truncate -s 4M frame0'
step 'getfattr -n user.cma.phys_addr frame0'
step 'getfattr -n user.cma.cache frame0'
step "printf 'pixels' | dd of=frame0 conv=notrunc status=none"
step 'sync frame0'
step 'head -c 6 frame0; echo'
step 'cat .stats'
step 'rm frame0'
step 'grep -E "^(used_bytes|buffers|frees):" .stats'
cd /
echo
echo "# unmounting $mnt"
