#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The documentation runs.  Every code block of README.md, and every block of
# cmafs(8)'s EXAMPLES (and any other block of the page that carries a
# marker), is taken from the document itself and run against a real sim
# mount; where a block shows output, the output is compared.  Then what the
# docs promise around them: examples/c/cma_alloc.c's build line and SIZE,
# make demo's tour, scripts/install-deps without apt-get, make help, and
# the version numbers.  TAP on stdout; exits non-zero on any failure.
#
# Marking blocks (the documents stay the single source):
#   README.md  the line just before a ``` fence is
#                <!-- docs-run: MODE [FLAG...] -->
#   cmafs(8)   the line just before a .Bd -literal is the roff comment
#                .\" docs-run: MODE [FLAG...]
# A README block, or a block of cmafs(8)'s EXAMPLES, without a marker is a
# failure: each new block is either run or skipped for a stated reason.
#
# MODE:
#   session      "$ command" lines, each followed by the output the docs show
#                for it (nothing: it prints nothing); every command runs, and
#                its standard output must equal the shown lines (standard
#                error is not compared: it only goes to the diagnostics)
#   sh           every line is shell; it runs, the output is not compared
#   fstab        each line is an /etc/fstab entry: mount(8) mounts it, the
#                mount must answer, then it is unmounted
#   python       a python3 program, run with python/ (the cmafs module) on PYTHONPATH
#                (by the first of $PYTHON, python3, /usr/bin/python3 that has
#                numpy) and CMAFS_MOUNT=/cma
#   c-fragment   the statements of a C function (its #include lines apart):
#                compiled inside one with cc -Wall -Wextra -Werror -Iinclude
#                (plus the libc headers it uses), then run with size = 1 MiB
#   skip REASON  not run: "ok - ... # skip REASON"
# FLAG:
#   mounts       the block mounts /cma (or /tmp/cma) itself: it gets an
#                empty directory there, must leave a cmafs mount on it
#                (checked within 5 s), which is then unmounted
#   dma-stub     (python) `dma` is an object whose transfer(address, nbytes)
#                does nothing: the board's DMA engine driver stands there
#
# How the blocks run, in document order, each in a fresh bash (sh, session:
# `set -e` semantics; a command that fails ends the block), stdin
# /dev/null, a 120 s limit, in one working directory where include/,
# examples/ and cmafs/ are the tree's and frame.raw is a file of 8294400
# bytes (a 1920x1080 frame of 32-bit pixels):
#   /cma         a sim mount made here:  cmafs/cmafs -f -o backend=sim,pool=256M
#                (a block with the mounts flag gets an empty directory instead)
#   /tmp/cma     an empty directory of this run
#   cmafs        (on PATH, and on mount.fuse3's PATH for fstab lines: in a
#                private mount namespace /usr/local/sbin holds it) the
#                tree's daemon with -o backend=sim,pool=256M put before the
#                block's own options: there is no /dev/cmabuf here
#   setfattr     a shell function: the real one, and for user.cma.cache and
#                user.cma.align the value set is read back after the block
#                (as setfattr(1) sends it: "..." is text, 0x... bytes); each
#                must hold, so an attribute that did not take is a failure
# Normalisation before outputs are compared: 0x followed by hexadecimal
# digits (addresses) becomes 0xADDR, trailing blanks of a line and trailing
# empty lines are dropped.  Nothing else varies.
#
#   CMAFS_BIN  daemon (default cmafs/cmafs)
set -u
cd "$(dirname "$0")/.." || exit 2
root=$PWD
CMAFS_BIN=${CMAFS_BIN:-$root/cmafs/cmafs}
README=README.md
MAN=man/cmafs.8
CMA_ALLOC=examples/c/cma_alloc.c
POOL=256M
tmp=$(mktemp -d /tmp/cmafs-docs-run.XXXXXX)
chmod 755 "$tmp"
work=$tmp/work bin=$tmp/bin cma=$tmp/cma
n=0 failed=0 pid=""
start=$SECONDS

ok() { n=$((n + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; }
skip() { n=$((n + 1)); echo "ok $n - $1 # skip $2"; }
diag() { sed 's/^/# /'; }
# check NAME STATUS OUTPUT-FILE: ok for status 0, else the output's tail.
check() {
	if [ "$2" -eq 0 ]; then
		ok "$1"
	else
		notok "$1 (exit $2)"
		tail -n 40 "$3" | diag
	fi
}

# unmount_all DIR: every mount under DIR, deepest first; waits until gone.
unmount_all() {
	local m
	# shellcheck disable=SC2013 # mount points of this run have no blanks
	for m in $(awk -v d="$1/" 'index($2, d) == 1 { print $2 }' /proc/self/mounts | sort -r); do
		fusermount3 -u "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
	done
	for _ in $(seq 100); do
		awk -v d="$1/" 'index($2, d) == 1 { f = 1 } END { exit !f }' /proc/self/mounts || return 0
		sleep 0.05
	done
	return 1
}

cleanup() {
	unmount_all "$tmp"
	if [ -n "$pid" ]; then
		for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
	fi
	rm -rf --one-file-system "$tmp"
}
trap cleanup EXIT

# A mounted, answering cmafs on DIR within 5 s?
wait_mount() {
	for _ in $(seq 100); do
		mountpoint -q "$1" && [ -r "$1/.stats" ] && return 0
		sleep 0.05
	done
	return 1
}

# bytes VALUE: a size as the daemon reads it (decimal or 0x, K M G T, iB).
bytes() {
	local v=${1,,} shift=0
	[[ $v =~ ^(0x[0-9a-f]+|[0-9]+)([kmgt](ib)?)?$ ]] || { echo "?$1"; return; }
	case ${BASH_REMATCH[2]:0:1} in k) shift=10 ;; m) shift=20 ;; g) shift=30 ;; t) shift=40 ;; esac
	echo $(($(printf '%d' "${BASH_REMATCH[1]}") << shift))
}

# make as a user runs it, whatever make this suite runs under (make check).
mk() { env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make --no-print-directory "$@"; }

normalise() { sed -E 's/0x[0-9a-fA-F]+/0xADDR/g; s/[[:space:]]+$//' | sed -e ':a' -e '/^\n*$/{$d;N;ba' -e '}'; }

if [ ! -x "$CMAFS_BIN" ]; then
	notok "cmafs daemon not built ($CMAFS_BIN)"
	echo "1..$n"
	exit 1
fi

# A Python that has numpy, for the python blocks, as tests/examples.sh
# finds one (Debian's python3-numpy is not in every python3 on PATH).
python=""
for p in ${PYTHON:-} python3 /usr/bin/python3; do
	if command -v "$p" >/dev/null && "$p" -c 'import numpy' 2>/dev/null; then
		python=$p
		break
	fi
done

# --- the scene -------------------------------------------------------------
mkdir -p "$work" "$bin" "$tmp/blocks"
ln -s "$root/include" "$root/examples" "$root/lib" "$work/"
mkdir "$work/cmafs"
ln -s "$CMAFS_BIN" "$work/cmafs/cmafs"
head -c 8294400 /dev/urandom >"$work/frame.raw"
printf '#!/bin/sh\n# cmafs of the tree, with the sim backend (no /dev/cmabuf here)\nexec %q -o backend=sim,pool=%s "$@"\n' \
	"$CMAFS_BIN" "$POOL" >"$bin/cmafs"
chmod 755 "$bin/cmafs"
cat >"$tmp/prelude.bash" <<'EOF'
# docs-run: setfattr records what it set on user.cma.cache and .align
setfattr() {
	command setfattr "$@" || return
	local name="" value="" f
	local -a files=()
	while [ $# -gt 0 ]; do
		case $1 in
		-n) name=$2; shift 2 ;;
		-v) value=$2; shift 2 ;;
		--name=*) name=${1#--name=}; shift ;;
		--value=*) value=${1#--value=}; shift ;;
		-*) shift ;;
		*) files+=("$1"); shift ;;
		esac
	done
	case $name in user.cma.cache | user.cma.align)
		for f in "${files[@]}"; do
			printf '%s\t%s\t%s\n' "$name" "$value" "$(realpath -- "$f")" >>"$DOCSRUN_SETS"
		done ;;
	esac
}
trap 'echo "docs-run: failed: $BASH_COMMAND" >&2' ERR
set -e
EOF

mkdir "$cma"
"$CMAFS_BIN" -f -o "backend=sim,pool=$POOL" "$cma" 2>"$tmp/cma.log" &
pid=$!
if ! wait_mount "$cma"; then
	notok "a sim mount for the blocks' /cma (cmafs -f -o backend=sim,pool=$POOL)"
	diag <"$tmp/cma.log"
	echo "1..$n"
	exit 1
fi

# --- the blocks, as the documents have them --------------------------------
# Each block becomes $tmp/blocks/NNN.{src,mode,text}.
awk -v out="$tmp/blocks" -v src="$README" '
	function emit(line) { print line > (f ".text") }
	!infence && /^[ \t]*```/ {
		infence = 1; k++
		f = sprintf("%s/%03d", out, k)
		match($0, /^[ \t]*/); ind = RLENGTH
		mode = "UNMARKED"
		if (prev ~ /<!-- docs-run: .* -->/) {
			mode = prev; sub(/.*<!-- docs-run: */, "", mode); sub(/ *-->.*/, "", mode)
		}
		print src ":" NR > (f ".src"); print mode > (f ".mode"); printf "" > (f ".text")
		prev = $0; next
	}
	infence && /^[ \t]*```[ \t]*$/ { infence = 0; close(f ".text"); prev = $0; next }
	infence { emit(substr($0, ind + 1)) }
	{ prev = $0 }
' "$README"
nreadme=$(find "$tmp/blocks" -name '*.src' | wc -l)
awk -v out="$tmp/blocks" -v src="$MAN" -v k="$nreadme" '
	/^\.Sh / { sect = $2 }
	!inblock && /^\.Bd -literal/ {
		mode = ""
		if (prev ~ /^\.\\" docs-run: /) { mode = prev; sub(/^\.\\" docs-run: */, "", mode) }
		else if (sect == "EXAMPLES") mode = "UNMARKED"
		prev = $0
		if (mode == "") next
		inblock = 1; k++
		f = sprintf("%s/%03d", out, k)
		print src ":" NR > (f ".src"); print mode > (f ".mode"); printf "" > (f ".text")
		next
	}
	inblock && /^\.Ed/ { inblock = 0; close(f ".text"); prev = $0; next }
	inblock { print > (f ".text") }
	{ prev = $0 }
' "$MAN"
# Roff escapes in the page's blocks, as a reader sees them.
for s in "$tmp"/blocks/*.src; do
	b=${s%.src}
	case $(cat "$s") in "$MAN":*)
		sed -i -e 's/\\e/\x01/g; s/\\&//g; s/\\-/-/g; s/\\(dq/"/g' \
			-e "s/\\\\(aq/'/g; s/\x01/\\\\/g" "$b.text" ;;
	esac
done

# subst BLOCKDIR MOUNTS: the doc's /tmp/cma and /cma made real, on stdin.
subst() {
	local cmadir=$cma
	[ "$2" = 1 ] && cmadir=$1/cma
	sed -E -e 's#(^|[^[:alnum:]_./-])/tmp/cma($|[^[:alnum:]_.-])#\1@TMPCMA@\2#g' \
		-e 's#(^|[^[:alnum:]_./-])/cma($|[^[:alnum:]_.-])#\1@CMA@\2#g' \
		-e 's#(^|[^[:alnum:]_./-])/cma($|[^[:alnum:]_.-])#\1@CMA@\2#g' \
		-e "s#@TMPCMA@#$1/tmpcma#g; s#@CMA@#$cmadir#g"
}

# run_bash SCRIPT LOG: the script in the working directory, as described.
run_bash() {
	(cd "$work" && PATH=$bin:$PATH DOCSRUN_SETS=$sets timeout 120 bash "$1") >"$2" 2>&1 </dev/null
}

# The attributes a block set hold afterwards (files it removed excepted).
check_sets() {
	local what=$1 name value file want got shown="" bad=""
	[ -s "$sets" ] || return 0
	while IFS=$'\t' read -r name value file; do
		[ -e "$file" ] || continue
		case $value in
		\"*\") want=${value:1:${#value}-2} ;;
		0[xX]* | 0[sS]*) want="(the bytes of $value)" ;;
		*) want=$value ;;
		esac
		[ "$name" = user.cma.align ] && want=$(bytes "$want")
		got=$(getfattr --only-values --absolute-names -n "$name" "$file" 2>&1)
		shown="$shown $name=$got on ${file##*/}"
		[ "$got" = "$want" ] || bad="$bad$name on ${file##*/}: set \"$value\", reads \"$got\"
"
	done < <(tac "$sets" | awk -F'\t' '!seen[$1 FS $3]++')
	if [ -z "$bad" ]; then
		ok "$what: the attributes it sets hold afterwards:$shown"
	else
		notok "$what: the attributes it sets hold afterwards"
		printf '%s' "$bad" | diag
	fi
}

run_session() { # what text blockdir flags
	local what=$1 text=$2 d=$3 i=0 line script=$3/session.bash rc bad=0
	mkdir -p "$d/out"
	cat "$tmp/prelude.bash" >"$script"
	while IFS= read -r line; do
		if [[ $line == '$ '* ]]; then
			i=$((i + 1))
			: >"$d/out/$i.exp"
			printf '%s\n' "${line#\$ }" >"$d/out/$i.cmd"
			# shellcheck disable=SC2016 # $? and $__rc are the script's
			printf 'echo %d >%q\n{ %s\n} >%q 2>%q; __rc=$?\n[ $__rc -eq 0 ] || { echo "docs-run: exit status $__rc" >>%q; exit $__rc; }\n' \
				"$i" "$d/out/at" "${line#\$ }" "$d/out/$i.out" "$d/out/$i.err" "$d/out/$i.err" >>"$script"
		elif [ $i -gt 0 ]; then
			printf '%s\n' "$line" >>"$d/out/$i.exp"
		fi
	done < <(subst "$d" 0 <"$text")
	run_bash "$script" "$d/log"
	rc=$?
	if [ $rc -ne 0 ]; then
		at=$(cat "$d/out/at" 2>/dev/null || echo 0)
		notok "$what: all $i commands run (exit $rc at command $at)"
		{ [ "$at" -gt 0 ] && echo "\$ $(cat "$d/out/$at.cmd")" && cat "$d/out/$at.out" "$d/out/$at.err"; cat "$d/log"; } 2>/dev/null | tail -n 30 | diag
		return
	fi
	ok "$what: all $i commands run"
	local diffs=""
	for ((k = 1; k <= i; k++)); do
		if ! cmp -s <(normalise <"$d/out/$k.exp") <(normalise <"$d/out/$k.out"); then
			bad=1
			diffs="$diffs\$ $(cat "$d/out/$k.cmd")
$(diff <(normalise <"$d/out/$k.exp") <(normalise <"$d/out/$k.out") | sed 's/^</shown:/; s/^>/got:  /' | grep -v '^[0-9]')
"
		fi
	done
	if [ $bad -eq 0 ]; then
		ok "$what: each command prints what the docs show"
	else
		notok "$what: each command prints what the docs show"
		printf '%s' "$diffs" | diag
	fi
	check_sets "$what"
}

run_sh() { # what text blockdir mounts
	local what=$1 text=$2 d=$3 mounts=$4 rc
	{ cat "$tmp/prelude.bash"; subst "$d" "$mounts" <"$text"; } >"$d/block.bash"
	run_bash "$d/block.bash" "$d/log"
	rc=$?
	check "$what: runs" $rc "$d/log"
	[ $rc -eq 0 ] || return
	check_sets "$what"
	if [ "$mounts" = 1 ]; then
		local m="" c
		for c in "$d/cma" "$d/tmpcma"; do grep -qF "$c" "$d/block.bash" && m=$c; done
		if [ -n "$m" ] && wait_mount "$m" && [ "$(findmnt -n -o FSTYPE --target "$m")" = fuse.cmafs ]; then
			ok "$what: leaves a cmafs mount that answers"
		else
			notok "$what: leaves a cmafs mount that answers"
			diag <"$d/log"
		fi
	fi
}

run_fstab() { # what text blockdir
	local what=$1 text=$2 d=$3 rc src dir rest
	mkdir -p "$d/sbin"
	cp "$bin/cmafs" "$d/sbin/cmafs"
	subst "$d" 1 <"$text" >"$d/fstab"
	if ! command -v unshare >/dev/null || [ "$(id -u)" -ne 0 ]; then
		skip "$what: mount(8) mounts it" "needs root and unshare(1) for a private mount namespace"
		return
	fi
	# shellcheck disable=SC2094 # the loop reads fstab, nothing writes it
	while read -r src dir rest; do
		case $src in '' | '#'*) continue ;; esac
		mkdir -p "$dir"
		# shellcheck disable=SC2016,SC2094 # the inner script's $1..$3; fstab is only read
		unshare --mount --propagation private sh -euc '
			mount --bind "$1" /usr/local/sbin
			mount -T "$2" "$3"
			for i in $(seq 100); do [ -r "$3/.stats" ] && break; sleep 0.05; done
			grep -q "^pool_bytes: " "$3/.stats"
			findmnt -n -o FSTYPE,OPTIONS --target "$3" | grep -q "^fuse.cmafs .*allow_other"
			umount "$3"' sh "$d/sbin" "$d/fstab" "$dir" >"$d/log" 2>&1 </dev/null
		rc=$?
		check "$what: mount(8) mounts '$src $dir ${rest%% *} ...' (cmafs on mount.fuse3's PATH), cmafs answers, umount" $rc "$d/log"
	done <"$d/fstab"
}

run_python() { # what text blockdir flags
	local what=$1 text=$2 d=$3 flags=$4 rc
	if [ -z "$python" ]; then
		skip "$what: runs" "no python3 with numpy (apt-get install python3-numpy)"
		return
	fi
	{
		case " $flags " in *" dma-stub "*)
			printf 'class _Dma:  # docs-run: the board DMA engine driver\n'
			printf '    def transfer(self, address, nbytes):\n        assert address > 0 and nbytes > 0\n'
			printf 'dma = _Dma()\n' ;;
		esac
		subst "$d" 0 <"$text"
	} >"$d/block.py"
	(cd "$work" && CMAFS_MOUNT=$cma PYTHONPATH=$root/python PYTHONDONTWRITEBYTECODE=1 \
		timeout 120 "$python" "$d/block.py") >"$d/log" 2>&1 </dev/null
	rc=$?
	check "$what: runs" $rc "$d/log"
}

run_c_fragment() { # what text blockdir
	local what=$1 text=$2 d=$3 rc path
	{
		printf '#define _GNU_SOURCE\n#include <fcntl.h>\n#include <stddef.h>\n'
		printf '#include <sys/ioctl.h>\n#include <sys/mman.h>\n#include <unistd.h>\n'
		subst "$d" 0 <"$text" | grep '^#include'
		printf 'static void fragment(size_t size)\n{\n'
		subst "$d" 0 <"$text" | grep -v '^#include'
		printf '}\n\nint main(void)\n{\n\tfragment(1 << 20);\n\treturn 0;\n}\n'
	} >"$d/fragment.c"
	(cd "$work" && cc -std=c11 -Wall -Wextra -Werror -Iinclude -o "$d/fragment" "$d/fragment.c") >"$d/log" 2>&1
	rc=$?
	check "$what: compiles inside a function (cc -Wall -Wextra -Werror -Iinclude)" $rc "$d/log"
	[ $rc -eq 0 ] || { diag <"$d/fragment.c"; return; }
	(cd "$work" && timeout 60 "$d/fragment") >"$d/log" 2>&1
	rc=$?
	path=$(grep -o "\"$cma/[^\"]*\"" "$d/fragment.c" | head -n 1 | tr -d '"')
	local size="" cache=""
	if [ -n "$path" ] && [ -e "$path" ]; then
		size=$(getfattr --only-values --absolute-names -n user.cma.size "$path" 2>/dev/null)
		cache=$(getfattr --only-values --absolute-names -n user.cma.cache "$path" 2>/dev/null)
		rm -f "$path"
	fi
	want=uncached
	grep -q CMAFS_CACHE_CACHED "$d/fragment.c" && want=cached
	if [ $rc -eq 0 ] && [ "$size" = 1048576 ] && [ "$cache" = "$want" ]; then
		ok "$what: runs (size = 1 MiB): ${path##*/} is a 1 MiB $cache buffer"
	else
		notok "$what: runs (size = 1 MiB): ${path##*/} is a 1 MiB $want buffer"
		echo "exit $rc, user.cma.size '$size', user.cma.cache '$cache'" | diag
		diag <"$d/log"
	fi
}

for s in "$tmp"/blocks/*.src; do
	b=${s%.src}
	src=$(cat "$s")
	read -r mode flags <"$b.mode"
	first=$(grep -m1 -v '^[[:space:]]*$' "$b.text" | cut -c1-50)
	what="$src $mode [$first]"
	d=$b.d
	mkdir -p "$d"
	sets=$d/sets
	: >"$sets"
	mounts=0
	case " $flags " in *" mounts "*) mounts=1 ;; esac
	case $mode in
	UNMARKED) notok "$src: block without a docs-run marker [$first]" ;;
	skip) skip "$src [$first]" "$flags" ;;
	session) run_session "$what" "$b.text" "$d" ;;
	sh) run_sh "$what" "$b.text" "$d" "$mounts" ;;
	fstab) run_fstab "$what" "$b.text" "$d" ;;
	python) run_python "$what" "$b.text" "$d" "$flags" ;;
	c-fragment) run_c_fragment "$what" "$b.text" "$d" ;;
	*) notok "$src: unknown docs-run mode '$mode'" ;;
	esac
	unmount_all "$d"
done

# --- examples/c/cma_alloc.c ------------------------------------------------
# Its header's build lines that need no installation run from a checkout.
lines=$(sed -n '1,/\*\//p' "$CMA_ALLOC" | sed -n 's/^ \*[[:space:]]*\(cc .*\)$/\1/p' | grep -v 'pkg-config')
if [ -z "$lines" ]; then
	notok "$CMA_ALLOC: its header gives a build line that works from a checkout (found none)"
else
	: >"$tmp/cc.log"
	rc=0
	while IFS= read -r l; do
		echo "\$ $l" >>"$tmp/cc.log"
		(cd "$work" && rm -f cma_alloc && bash -ec "$l" && test -x cma_alloc) >>"$tmp/cc.log" 2>&1 || rc=1
	done <<<"$lines"
	check "$CMA_ALLOC: its header's build line works from a checkout: $(paste -sd';' <<<"$lines")" $rc "$tmp/cc.log"
fi
if cc -std=c11 -Wall -Wextra -Werror -Iinclude -o "$tmp/cma_alloc" "$CMA_ALLOC" lib/libcmafs.a >"$tmp/cc.log" 2>&1; then
	"$tmp/cma_alloc" -k "$cma/size-100M" 100M >"$tmp/ca.log" 2>&1
	rc=$?
	got=$(stat -c %s "$cma/size-100M" 2>/dev/null)
	alloc=$(getfattr --only-values --absolute-names -n user.cma.size "$cma/size-100M" 2>/dev/null)
	rm -f "$cma/size-100M"
	if [ $rc -eq 0 ] && [ "$got" = 104857600 ] && [ "$alloc" = 104857600 ]; then
		ok "cma_alloc FILE 100M: a 100 MiB file and buffer"
	else
		notok "cma_alloc FILE 100M: a 100 MiB file and buffer (exit $rc, st_size '$got', user.cma.size '$alloc')"
		diag <"$tmp/ca.log"
	fi
	"$tmp/cma_alloc" "$cma/size-bad" 12xyz >"$tmp/ca.log" 2>&1
	rc=$?
	if [ $rc -eq 2 ] && grep -q 'bad SIZE "12xyz"' "$tmp/ca.log" && [ ! -e "$cma/size-bad" ]; then
		ok "cma_alloc FILE 12xyz: refused, exit 2, with a message naming the SIZE, no file"
	else
		notok "cma_alloc FILE 12xyz: refused, exit 2, with a message naming the SIZE, no file (exit $rc)"
		diag <"$tmp/ca.log"
		rm -f "$cma/size-bad"
	fi
else
	notok "$CMA_ALLOC builds"
	diag <"$tmp/cc.log"
fi

# --- make demo -------------------------------------------------------------
(CMAFS_BIN=$CMAFS_BIN timeout 120 examples/demo.sh) >"$tmp/demo.log" 2>&1 </dev/null
check "make demo's tour (examples/demo.sh) runs" $? "$tmp/demo.log"
if [ "$(mk -s -n demo 2>/dev/null | head -n 1)" = "scripts/install-deps build" ] &&
	[ "$(mk -s -n check 2>/dev/null | head -n 1)" = "scripts/install-deps test" ] &&
	[ "$(mk -s -n deps 2>/dev/null | head -n 1)" = "scripts/install-deps all" ]; then
	ok "make demo installs the build set, make check the test set, make deps all"
else
	notok "make demo installs the build set, make check the test set, make deps all"
	for t in demo check deps; do echo "make -n $t: $(mk -s -n $t 2>&1 | head -n 1)"; done | diag
fi

# --- scripts/install-deps without apt-get -----------------------------------
noapt=$tmp/noapt
mkdir "$noapt"
for t in sh env id cat grep sed; do ln -s "$(command -v "$t")" "$noapt/$t"; done
env PATH="$noapt" scripts/install-deps build >"$tmp/deps.log" 2>&1
rc=$?
missing=""
for w in gcc make pkg-config fuse3 attr pkgconf-pkg-config 'dnf install' 'pacman -S'; do
	grep -qF -- "$w" "$tmp/deps.log" || missing="$missing '$w'"
done
if [ $rc -eq 1 ] && [ -z "$missing" ] && ! grep -q 'not found' "$tmp/deps.log"; then
	ok "install-deps build without apt-get: names the missing packages (Debian, dnf, pacman), exit 1"
else
	notok "install-deps build without apt-get: names the missing packages (Debian, dnf, pacman), exit 1 (exit $rc; missing:$missing)"
	diag <"$tmp/deps.log"
fi
scripts/install-deps no-such-set >"$tmp/deps.log" 2>&1
rc=$?
if [ $rc -eq 2 ] && grep -q '^usage:' "$tmp/deps.log"; then
	ok "install-deps with an unknown set: usage, exit 2"
else
	notok "install-deps with an unknown set: usage, exit 2 (exit $rc)"
	diag <"$tmp/deps.log"
fi

# --- make help -------------------------------------------------------------
# The targets make knows: .PHONY's, and every rule's that names no file.
known=$(mk -qp 2>/dev/null | awk '
	/^# Not a target/ { skip = 1; next }
	/^\.PHONY:/ { for (i = 2; i <= NF; i++) print $i; next }
	/^[A-Za-z0-9_-]+:([^=]|$)/ && !skip { t = $1; sub(/:.*/, "", t); print t }
	{ skip = 0 }' | grep -vx Makefile | sort -u)
listed=$(mk -s help 2>/dev/null | awk '/^  [a-z]/ { print $1 }' | sort -u)
missing=$(comm -23 <(echo "$known") <(echo "$listed") | tr '\n' ' ')
if [ -n "$known" ] && [ -z "$missing" ]; then
	ok "make help lists every target make knows ($(echo "$known" | wc -l))"
else
	notok "make help lists every target make knows"
	echo "not listed: ${missing:-(no targets found)}" | diag
fi

# --- versions --------------------------------------------------------------
mkver=$(sed -n 's/^VERSION *:= *//p' Makefile)
dkver=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' kmod/dkms.conf)
if [ -n "$mkver" ] && [ "$mkver" = "$dkver" ]; then
	ok "kmod/dkms.conf PACKAGE_VERSION is the Makefile's VERSION ($mkver)"
else
	notok "kmod/dkms.conf PACKAGE_VERSION is the Makefile's VERSION (Makefile '$mkver', dkms.conf '$dkver')"
fi
chver=$(sed -n '1s/^cmafs (\([^)]*\)).*/\1/p' debian/changelog)
if [ -n "$mkver" ] && [ "$mkver" = "$chver" ]; then
	ok "debian/changelog's version is the Makefile's VERSION ($mkver)"
else
	notok "debian/changelog's version is the Makefile's VERSION (Makefile '$mkver', debian/changelog '$chver')"
fi
if "$CMAFS_BIN" -V 2>&1 | grep -q "^cmafs $mkver,"; then
	ok "cmafs -V says the Makefile's VERSION ($mkver)"
else
	notok "cmafs -V says the Makefile's VERSION ($mkver)"
	"$CMAFS_BIN" -V 2>&1 | diag
fi

echo "# docs-run: $((SECONDS - start)) s"
echo "1..$n"
[ $failed -eq 0 ]
