#!/usr/bin/env bats
# libcmafs (include/libcmafs.h, lib/) on a real mount: its mappings are the
# buffer (stores there at once, without any sync, as a second descriptor of
# the buffer shows), a read-only grant stays read-only, its errors, the
# Python drop-in's buffers, the man page's example and the exports.
# tests/tools/cmafs-map.c does the C side; it links lib/libcmafs.a
# (CMAFS_MAP_TOOL names a prebuilt one, e.g. cross-built for the VMs).

load helpers/common

# The mount's hand-off socket, or the reason there is none.
socket_of() { getfattr --absolute-names --only-values -n user.cma.socket "$1" 2>&1; }

setup_file() {
	ensure_test_user
	cmafs_setup_file allow_other,default_permissions
	[[ -n ${CMAFS_NOT_BUILT:-} ]] && return 0
	local lib=$TESTS_DIR/../lib
	MAP_TOOL=
	if [[ -n ${CMAFS_MAP_TOOL:-} ]]; then
		# Prebuilt (e.g. cross-built, static, for the VMs).
		MAP_TOOL=$CMAFS_TMP/cmafs-map
		cp "$CMAFS_MAP_TOOL" "$MAP_TOOL"
	elif [[ ! -f $lib/libcmafs.a ]]; then
		export CMAFS_NO_LIB="lib/libcmafs.a not built (make lib)"
	elif ! command -v cc >/dev/null; then
		export CMAFS_NO_LIB="no C compiler for tests/tools/cmafs-map.c"
	else
		# In the world-traversable scratch directory: the test user runs it.
		MAP_TOOL=$CMAFS_TMP/cmafs-map
		cc -std=c11 -O1 -Wall -Wextra -Werror -I"$TESTS_DIR/../include" -o "$MAP_TOOL" \
			"$TESTS_DIR/tools/cmafs-map.c" "$lib/libcmafs.a"
	fi
	export MAP_TOOL
	local why
	if ! why=$(socket_of "$MNT"); then
		CMAFS_NO_SOCKET="the daemon serves no hand-off socket (user.cma.socket: $why)"
		export CMAFS_NO_SOCKET
	fi
}
teardown_file() { cmafs_teardown_file; }

setup() {
	require_daemon
	[[ -z ${CMAFS_NO_LIB:-} ]] || skip "$CMAFS_NO_LIB"
	[[ -z ${CMAFS_NO_SOCKET:-} ]] || skip "$CMAFS_NO_SOCKET"
	MODE=$(actual_mmap_mode)
	# What a libcmafs mapping maps on this mount.
	if [[ $MODE == direct ]]; then KIND=passthrough
	elif [[ $CMAFS_BACKEND == kmod ]]; then KIND=cmabuf
	else KIND=memfd; fi
}

teardown() {
	cmafs_clean_root
	cmafs_teardown
}

# For the tests that compile against the tree's library themselves.
require_cc_lib() {
	command -v cc >/dev/null || skip "no C compiler"
	[[ -f $TESTS_DIR/../lib/libcmafs.a ]] || skip "lib/libcmafs.a not built (make lib)"
}

@test "the socket is named on the root and on every file, and cannot be set" {
	truncate -s 4096 "$MNT/f"
	mkdir "$MNT/d"
	sock=$(socket_of "$MNT")
	[[ -S $sock ]] || fail "user.cma.socket '$sock' is not a socket"
	assert_equal "$(socket_of "$MNT/f")" "$sock"
	assert_equal "$(socket_of "$MNT/d")" "$sock"
	run ! setfattr -n user.cma.socket -v /tmp/elsewhere "$MNT/f"
	assert_equal "$(socket_of "$MNT/f")" "$sock"
}

@test "cmafs_map: the mapping the mount gives directly, else the handed-out buffer" {
	truncate -s 10000 "$MNT/f"
	run -0 "$MAP_TOOL" map "$MNT/f" rw
	assert_output "kind=$KIND cache=0 length=10000"
	touch "$MNT/c"
	setfattr -n user.cma.cache -v cached "$MNT/c"
	truncate -s 1M "$MNT/c"
	run -0 "$MAP_TOOL" map "$MNT/c" ro
	assert_output "kind=$KIND cache=1 length=1048576"
}

@test "a store through a libcmafs mapping is in the buffer at once, without any sync" {
	truncate -s 1M "$MNT/f"
	# Read back through a second, separately handed-out buffer descriptor
	# (pread and a mapping of it), never through the mount.
	run -0 "$MAP_TOOL" store "$MNT/f" 123457 0x5a
	assert_output "kind=$KIND pread=0x5a map=0x5a"
	run -0 "$MAP_TOOL" store "$MNT/f" 0 0xa5
	assert_output "kind=$KIND pread=0xa5 map=0xa5"
}

@test "negative control: without passthrough, a store through the mount's own mapping is not in the buffer before fsync" {
	require_passthrough off
	truncate -s 1M "$MNT/f"
	run -0 "$MAP_TOOL" pcstore "$MNT/f" 4097 0x6b
	assert_output "pread=0x00 map=0x00"
	# Its close wrote the page back (FUSE flushes dirty pages at close).
	run -0 "$MAP_TOOL" peek "$MNT/f" 4097
	assert_output "pread=0x6b map=0x6b"
}

@test "a write by the buffer's descriptor (the device's stand-in) shows in the mapping at once" {
	truncate -s 64K "$MNT/f"
	run -0 "$MAP_TOOL" devwrite "$MNT/f" 40000 0x7c
	assert_output "kind=$KIND map=0x7c"
}

@test "a read-only grant cannot be mapped writable: cmafs_map, mmap PROT_WRITE, mprotect" {
	truncate -s 8K "$MNT/f"
	run -0 "$MAP_TOOL" readonly "$MNT/f"
	assert_output "writable=EACCES mmap=EACCES mprotect=EACCES acc=rdonly"
	# Another user, who may only read the file, gets the same.
	chmod 644 "$MNT/f"
	run -0 as_user "$MAP_TOOL" readonly "$MNT/f"
	assert_output "writable=EACCES mmap=EACCES mprotect=EACCES acc=rdonly"
	run -1 as_user "$MAP_TOOL" map "$MNT/f" rw
	assert_output EACCES
	run -0 as_user "$MAP_TOOL" map "$MNT/f" ro
	assert_output "kind=$KIND cache=0 length=8192"
	# ... and nothing at all without read permission.
	chmod 600 "$MNT/f"
	run -1 as_user "$MAP_TOOL" map "$MNT/f" ro
	assert_output EACCES
}

@test "errors: EXDEV for a file elsewhere, ENODATA for an empty file, EISDIR for a directory" {
	echo x >"$CMAFS_TMP/notcmafs"
	run -0 "$MAP_TOOL" errors "$CMAFS_TMP/notcmafs"
	assert_output "map=EXDEV bufferfd=EXDEV"
	run -0 "$MAP_TOOL" errors /dev/null
	assert_output "map=EXDEV bufferfd=EXDEV"
	# Nor is a user.cma.socket attribute on a file elsewhere followed: the
	# caller's descriptor never goes to a socket anyone could name.
	if setfattr -n user.cma.socket -v "$CMAFS_TMP/lure.sock" "$CMAFS_TMP/notcmafs" 2>/dev/null; then
		python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.bind(sys.argv[1]); s.listen(); s.settimeout(1)
try:
    s.accept(); print("connected")
except socket.timeout:
    print("none")' "$CMAFS_TMP/lure.sock" >"$CMAFS_TMP/lure.out" &
		# Its own pid: a bare wait would also wait for bats's timeout
		# watchdog (BATS_TEST_TIMEOUT, as in the VMs).
		local lure=$!
		for ((i = 0; i < 100; i++)); do [[ -S $CMAFS_TMP/lure.sock ]] && break; _cmafs_nap; done
		run -0 "$MAP_TOOL" errors "$CMAFS_TMP/notcmafs"
		assert_output "map=EXDEV bufferfd=EXDEV"
		wait "$lure"
		assert_equal "$(<"$CMAFS_TMP/lure.out")" none
	fi
	touch "$MNT/empty"
	run -0 "$MAP_TOOL" errors "$MNT/empty"
	assert_output "map=ENODATA bufferfd=ENODATA"
	mkdir "$MNT/dir"
	run -0 "$MAP_TOOL" errors "$MNT/dir"
	assert_output "map=EISDIR bufferfd=EISDIR"
	run -0 "$MAP_TOOL" errors "$MNT"
	assert_output "map=EISDIR bufferfd=EISDIR"
	# .stats is no buffer: refused, by the library (EXDEV: it names no
	# socket) or by the daemon (EINVAL).
	run -0 "$MAP_TOOL" errors "$MNT/.stats"
	assert_output --regexp '^map=E(XDEV|INVAL) bufferfd=E(XDEV|INVAL)$'
	run -1 "$MAP_TOOL" map "$MNT/missing" ro
	assert_output ENOENT
}

@test "cmafs_sync in both directions; map and unmap leak no descriptor" {
	truncate -s 1M "$MNT/f"
	run -0 "$MAP_TOOL" sync "$MNT/f" device
	assert_output "kind=$KIND ok"
	run -0 "$MAP_TOOL" sync "$MNT/f" cpu
	assert_output "kind=$KIND ok"
	run -0 "$MAP_TOOL" fds "$MNT/f" 200
	[[ $output =~ ^before=([0-9]+)\ after=([0-9]+)$ ]] || fail "$output"
	assert_equal "${BASH_REMATCH[2]}" "${BASH_REMATCH[1]}"
}

@test "Python: an allocate() buffer is the buffer itself, coherent without flush()" {
	local py=""
	for p in ${PYTHON:-} python3 /usr/bin/python3; do
		command -v "$p" >/dev/null && "$p" -c 'import numpy' 2>/dev/null && { py=$p; break; }
	done
	[[ -n $py ]] || skip "no python3 with numpy"
	run -0 env CMAFS_MOUNT="$MNT" PYTHONPATH="$TESTS_DIR/../python" PYTHONDONTWRITEBYTECODE=1 \
		"$py" -c '
import subprocess, sys
from cmafs import allocate
with allocate(8192, "u1", name="py-peek") as buf:   # named: a file to peek at
    buf[4321] = 0x3c                          # no flush()
    peek = subprocess.run([sys.argv[1], "peek", buf.path, "4321"],
                          capture_output=True, text=True, check=True)
    print(buf.coherent, buf.cacheable, buf.direct, peek.stdout.strip())
' "$MAP_TOOL"
	assert_output "True False True pread=0x3c map=0x3c"
	wait_stat buffers 0
}

@test "libcmafs(3): the EXAMPLES program compiles against the library and runs" {
	local page=$TESTS_DIR/../man/libcmafs.3 src=$CMAFS_TMP/example.c
	require_cc_lib
	[[ -f $page ]] || fail "no $page"
	awk '/^\.Sh EXAMPLES/ { e = 1 } e && /^\.Bd -literal/ { b = 1; next } b && /^\.Ed/ { exit } b' "$page" |
		sed -e 's/\\e/\\/g; s/\\&//g; s/\\-/-/g' -e "s/\\\\(aq/'/g; s/\\\\(dq/\"/g" >"$src"
	grep -q 'cmafs_map' "$src" || fail "no program in EXAMPLES: $(cat "$src")"
	cc -std=c11 -Wall -Wextra -Werror -I"$TESTS_DIR/../include" -o "$CMAFS_TMP/example" "$src" \
		"$TESTS_DIR/../lib/libcmafs.a"
	truncate -s 4M "$MNT/frame0"
	run -0 "$CMAFS_TMP/example" "$MNT/frame0"
	run -0 "$MAP_TOOL" peek "$MNT/frame0" 0
	assert_output "pread=0xff map=0xff"
}

@test "libcmafs.so.0: SONAME, exactly the calls of libcmafs.h exported, and it links" {
	local so=$TESTS_DIR/../lib/libcmafs.so.0
	require_cc_lib
	[[ -f $so ]] || skip "lib/libcmafs.so.0 not built (make lib)"
	command -v readelf >/dev/null || skip "no readelf"
	run -0 readelf -d "$so"
	assert_output --partial 'Library soname: [libcmafs.so.0]'
	local want
	want=$(grep -oE '^int cmafs_[a-z_]+' "$TESTS_DIR/../include/libcmafs.h" | sed 's/^int //' | sort | paste -sd' ')
	[[ $want == *cmafs_map* ]] || fail "no declarations found in libcmafs.h"
	run -0 bash -c "nm -D --defined-only '$so' | awk '\$2 == \"T\" { sub(/@.*/, \"\", \$3); print \$3 }' | sort | paste -sd' '"
	assert_output "$want"
	# Calls added after the first release carry the later version node.
	run -0 bash -c "nm -D --defined-only '$so' | awk '\$3 ~ /^cmafs_dmabuf@/ { print \$3 }'"
	assert_output "cmafs_dmabuf@@LIBCMAFS_0.1"
	cc -std=c11 -Wall -Werror -I"$TESTS_DIR/../include" -o "$CMAFS_TMP/dyn" "$TESTS_DIR/tools/cmafs-map.c" \
		-L"$TESTS_DIR/../lib" -lcmafs -Wl,-rpath,"$(dirname "$so")"
	truncate -s 4096 "$MNT/f"
	run -0 "$CMAFS_TMP/dyn" map "$MNT/f" rw
	assert_output "kind=$KIND cache=0 length=4096"
}
