#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The documentation against the code: man pages lint clean and describe every
# option, attribute, ioctl, .stats key and log line the code really has (the
# keys and log lines taken from a running daemon); README links resolve.
# TAP on stdout; exits non-zero on any failure.
set -u
cd "$(dirname "$0")/.." || exit 2
CMAFS_BIN=${CMAFS_BIN:-$PWD/cmafs/cmafs}
tmp=$(mktemp -d /tmp/cmafs-docs.XXXXXX)
mnt="" pid=""
n=0 failed=0

ok() { n=$((n + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; }
skip() { n=$((n + 1)); echo "ok $n - $1 # skip $2"; }
diag() { sed 's/^/# /'; }
# result NAME MISSING_LIST: ok when the list is empty, else diagnose it.
result() {
	# shellcheck disable=SC2086 # $2 is a list
	if [ -z "$2" ]; then ok "$1"; else notok "$1"; printf 'missing: %s\n' $2 | diag; fi
}

cleanup() {
	if [ -n "$mnt" ] && mountpoint -q "$mnt"; then
		fusermount3 -u "$mnt" 2>/dev/null || umount -l "$mnt"
		for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
	fi
	rm -rf --one-file-system "$tmp"
}
trap cleanup EXIT

man8=man/cmafs.8
man4=man/cmabuf.4
# The text of a page as a reader sees it (no macros, no hyphenation breaks).
render() { mandoc -Tascii -O width=250 "$1" 2>/dev/null | col -bx; }

# 1-2. lint
for p in "$man8" "$man4"; do
	if [ ! -f "$p" ]; then
		notok "$p exists"
		continue
	fi
	if out=$(mandoc -Tlint -Wwarning "$p" 2>&1); then
		ok "$p: mandoc -Tlint -Wwarning is clean"
	else
		notok "$p: mandoc -Tlint -Wwarning is clean"
		printf '%s\n' "$out" | diag
	fi
done
[ -f "$man8" ] || { echo "1..$n"; exit 1; }
text8=$(render "$man8")
text4=$( [ -f "$man4" ] && render "$man4")

# 3. every -o option the daemon parses (cmafs/options.c) is in cmafs(8)
missing=""
for o in $(grep -o 'FUSE_OPT_KEY("[a-z_]*=' cmafs/options.c | sed 's/FUSE_OPT_KEY("//'); do
	grep -qF -- "$o" <<<"$text8" || missing="$missing $o"
done
result "cmafs(8) documents every option of cmafs/options.c" "$missing"

# 4. ... and every option and flag of cmafs -h
if [ -x "$CMAFS_BIN" ]; then
	missing=""
	for o in $("$CMAFS_BIN" -h 2>/dev/null | sed -n '/^cmafs options:/,/^$/p' | grep -o -- '-o [a-z_]*=' | cut -c4-); do
		grep -qF -- "$o" <<<"$text8" || missing="$missing $o"
	done
	result "cmafs(8) documents every option cmafs -h lists" "$missing"
else
	skip "cmafs(8) documents every option cmafs -h lists" "daemon not built"
fi

# 5. every user.cma.* attribute of cmafs/ops_xattr.c
missing=""
for a in $(sed -n '/cma_names\[\] = {/,/};/p' cmafs/ops_xattr.c | grep -o '"[a-z_]*"' | tr -d '"') sync; do
	grep -qF "user.cma.$a" <<<"$text8" || missing="$missing user.cma.$a"
done
result "cmafs(8) documents every user.cma.* attribute" "$missing"

# 6. every ioctl and constant of include/cmafs.h
missing=""
for c in $(grep -o '^#define CMAFS_[A-Z_]*' include/cmafs.h | cut -d' ' -f2 | grep -v -e '_H$' -e MAGIC); do
	grep -qF "$c" <<<"$text8" || missing="$missing $c"
done
result "cmafs(8) documents every ioctl and constant of include/cmafs.h" "$missing"

# 7. every ioctl of include/cmabuf.h in cmabuf(4)
if [ -f "$man4" ] && [ -f include/cmabuf.h ]; then
	missing=""
	for c in $(grep -o '^#define CMABUF_IOC_[A-Z_]*' include/cmabuf.h | cut -d' ' -f2 | grep -v MAGIC); do
		grep -qF "$c" <<<"$text4" || missing="$missing $c"
	done
	result "cmabuf(4) documents every ioctl of include/cmabuf.h" "$missing"
else
	skip "cmabuf(4) documents every ioctl of include/cmabuf.h" "no page or header yet"
fi

# 8. module parameters of kmod/*.c in cmabuf(4)
if [ -f "$man4" ] && ls kmod/*.c >/dev/null 2>&1; then
	missing=""
	for prm in $(grep -ho 'module_param[_a-z]*( *[a-z_0-9]*' kmod/*.c | sed 's/.*( *//'); do
		grep -qw -- "$prm" <<<"$text4" || missing="$missing $prm"
	done
	result "cmabuf(4) documents every module parameter of kmod/" "$missing"
else
	skip "cmabuf(4) documents every module parameter of kmod/" "no page or sources yet"
fi

# 9-12. against a running daemon: .stats keys and the log lines it prints
if [ -x "$CMAFS_BIN" ]; then
	mnt=$tmp/mnt
	mkdir "$mnt"
	"$CMAFS_BIN" -f -o backend=sim,pool=1M "$mnt" 2>"$tmp/log" &
	pid=$!
	for _ in $(seq 100); do
		mountpoint -q "$mnt" && [ -r "$mnt/.stats" ] && break
		sleep 0.05
	done
	if mountpoint -q "$mnt"; then
		missing=""
		for k in $(cut -d: -f1 "$mnt/.stats"); do
			grep -qE "(^|[ ,])$k([ ,]|$)" <<<"$text8" || missing="$missing $k"
		done
		result "cmafs(8) documents every .stats key a sim mount shows" "$missing"

		truncate -s 2M "$mnt/big" 2>/dev/null
		line=$(grep -m1 'alloc failed' "$tmp/log")
		# The documented form, with the numbers as placeholders.
		if [[ $line =~ ^cmafs:\ alloc\ failed,\ req-size:\ [0-9]+\ pages,\ free:\ [0-9]+\ pages,\ largest\ free:\ [0-9]+\ pages\ \(/big,\ uid\ [0-9]+\)$ ]] &&
			grep -qF 'cmafs: alloc failed, req-size: P pages, free: F pages, largest free: L pages (path, uid U)' <<<"$text8"; then
			ok "the alloc failure line is the one cmafs(8) documents"
		else
			notok "the alloc failure line is the one cmafs(8) documents"
			echo "daemon printed: $line" | diag
		fi

		# A refusal is logged as "cmafs: OPERATION PATH: error (uid U; hint)".
		touch "$mnt/ro"
		setfattr -n user.cma.size -v 1 "$mnt/ro" 2>/dev/null
		for _ in $(seq 20); do grep -q 'user.cma.size' "$tmp/log" && break; sleep 0.05; done
		line=$(grep -m1 'user.cma.size' "$tmp/log")
		if [[ $line == "cmafs: setxattr user.cma.size /ro: Operation not permitted (uid $(id -u); phys_addr, dma_addr, size, mmap and socket are read-only)" ]] &&
			grep -qF 'cmafs: operation path: error (uid U[; what would be accepted])' <<<"$text8"; then
			ok "the refusal line has the form cmafs(8) documents"
		else
			notok "the refusal line has the form cmafs(8) documents"
			echo "daemon printed: $line" | diag
		fi
	else
		notok "a sim mount for checking .stats keys and log lines"
		diag <"$tmp/log"
	fi

	msg=$("$CMAFS_BIN" -f -o backend=sim,pool=12Q "$tmp" 2>&1)
	if [[ $msg == 'cmafs: bad value for pool=: "12Q" (expected a size such as 64M)' ]] &&
		grep -qF "$msg" <<<"$text8"; then
		ok "the bad-option line is the one cmafs(8) shows"
	else
		notok "the bad-option line is the one cmafs(8) shows"
		echo "daemon printed: $msg" | diag
	fi

	if [ -e /dev/cmabuf ]; then
		skip "the no-helper line is documented" "/dev/cmabuf exists here"
	else
		msg=$("$CMAFS_BIN" -f "$tmp" 2>&1)
		if grep -qF -- "$msg" <<<"$text8"; then
			ok "the no-helper line (backend=auto without /dev/cmabuf) is documented"
		else
			notok "the no-helper line (backend=auto without /dev/cmabuf) is documented"
			echo "daemon printed: $msg" | diag
		fi
	fi
else
	skip "documented .stats keys and log lines" "daemon not built"
fi

# 13. README: the two commands first, the sections the issue asks for, and
# every relative link resolves.
if [ -f README.md ]; then
	first=$(grep -n -m2 -oE 'make (demo|check)' README.md | head -2 | cut -d: -f1 | tail -1)
	if grep -q 'make demo' README.md && grep -q 'make check' README.md &&
		[ -n "$first" ] && [ "$first" -le 20 ]; then
		ok "README: make demo and make check come first"
	else
		notok "README: make demo and make check come first"
	fi
	missing=""
	for h in '## Performance' 'make bench' 'cma=' 'Troubleshooting' 'man/cmafs.8' 'man/cmabuf.4'; do
		grep -qF -- "$h" README.md || missing="$missing '$h'"
	done
	result "README: performance section, board setup, troubleshooting, man page links" "$missing"
	missing=""
	for l in $(grep -oE '\]\([^)#:]+\)' README.md | sed 's/^](//; s/)$//'); do
		[ -e "$l" ] || missing="$missing $l"
	done
	result "README: every relative link points at a file of the tree" "$missing"
	# The log line README tells users to look for is the daemon's.
	if grep -qF 'cmafs: alloc failed, req-size:' README.md; then
		ok "README quotes the daemon's alloc failure line"
	else
		notok "README quotes the daemon's alloc failure line"
	fi
else
	notok "README.md exists"
fi

# 14. the fstab sample: every line that is not a comment is a valid entry.
bad=""
while read -r src dir type _ _ pass rest; do
	case $src in ''|'#'*) continue ;; esac
	[ "$type" = fuse.cmafs ] && [ -n "$pass" ] && [ -z "$rest" ] || bad="$bad $src:$dir"
done <packaging/fstab.sample
result "packaging/fstab.sample: valid fuse.cmafs entries" "$bad"

echo "1..$n"
[ $failed -eq 0 ]
