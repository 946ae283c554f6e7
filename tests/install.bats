#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# make install / make uninstall (mk/install.mk, packaging/):
#  - into a DESTDIR: exactly the expected files, modes and contents, and
#    uninstall empties the DESTDIR again;
#  - into / on this machine (root only): the daemon found by mount.fuse3, an
#    /etc/fstab line mounted with `mount /cma`, the systemd unit's command,
#    pkg-config and man; then uninstall, and nothing is left behind.
# /etc/fstab is backed up and restored, /cma removed if we created it, and
# uninstall run, whatever happens (teardown_file).
#
# CMAFS_SKIP_ROOT_INSTALL=1 skips the tests that install into /.

load helpers/common

ROOT=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
VERSION=$(sed -n 's/^VERSION *:= *//p' "$ROOT/Makefile")
FSTAB=/etc/fstab

mk() { make --no-print-directory -C "$ROOT" "$@"; }

# Where Debian's python3 imports modules from under PREFIX: the first entry
# of its sys.path there (/usr/local/lib/python3.X/dist-packages for
# /usr/local, /usr/lib/python3/dist-packages for /usr).
py_dir() { # PREFIX
	/usr/bin/python3 -c 'import sys
print(next(d for d in sys.path if d.startswith(sys.argv[1] + "/lib/python3") and d.endswith("-packages")))' "$1"
}

# Files a default-PREFIX install puts under DESTDIR, computed from the tree
# the way the issue describes them (not from packaging/install.sh).
expected_files() { # PREFIX UDEVDIR
	local p=$1 f py
	py=$(py_dir "$p")
	{
		echo "$p/bin/cmafs"
		echo "$p/share/man/man8/cmafs.8"
		[[ -f $ROOT/man/cmabuf.4 ]] && echo "$p/share/man/man4/cmabuf.4"
		echo "$p/include/cmafs.h"
		echo "$p/include/cmabuf.h"
		echo "$p/share/pkgconfig/cmafs.pc"
		# libcmafs(3): header, shared (with its link) and static, pkg-config
		echo "$p/include/libcmafs.h"
		echo "$p/lib/libcmafs.so.0"
		echo "$p/lib/libcmafs.so"
		echo "$p/lib/libcmafs.a"
		echo "$p/share/pkgconfig/libcmafs.pc"
		echo "$p/share/man/man3/libcmafs.3"
		echo "$p/lib/systemd/system/cmafs.service"
		echo "$p/lib/sysusers.d/cmafs.conf"
		echo "$2/60-cmabuf.rules"
		for f in fstab.sample README.md installed-files examples/quickstart.sh \
			examples/c/cma_alloc.c examples/python/pynq_cma_notebook.py; do
			echo "$p/share/doc/cmafs/$f"
		done
		# The Python module and the pynq names (a fallback for where PYNQ
		# is not installed: cmafs-pynq.pth, _cmafs_pynq.py).
		for f in cmafs/__init__.py cmafs/xlnk.py cmafs/_pynq/pynq/__init__.py \
			cmafs/_pynq/pynq/buffer.py cmafs/_pynq/pynq/xlnk.py \
			cmafs/_pynq/pynq/drivers/__init__.py cmafs/_pynq/pynq/drivers/xlnk.py \
			_cmafs_pynq.py cmafs-pynq.pth; do
			echo "$py/$f"
		done
		for f in "$ROOT"/kmod/*.c "$ROOT"/kmod/*.h "$ROOT"/kmod/Kbuild "$ROOT"/kmod/Makefile "$ROOT"/kmod/dkms.conf; do
			[[ -f $f && $f != *.mod.c ]] && echo "/usr/src/cmabuf-$VERSION/${f##*/}"
		done
		echo "/usr/src/cmabuf-$VERSION/include/cmabuf.h"
	} | sort
}

# PIDs of running daemons started from BINARY.
daemon_pids() {
	local p exe
	for p in /proc/[0-9]*; do
		exe=$(readlink "$p/exe" 2>/dev/null) || continue
		[[ $exe == "$1" || $exe == "$1 (deleted)" ]] && echo "${p#/proc/}"
	done
	return 0
}

wait_gone() { # PID...: <= 10 s
	local i p alive
	for ((i = 0; i < 200; i++)); do
		alive=0
		for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1; done
		((alive)) || return 0
		sleep 0.05
	done
	return 1
}

# What the root install could leave behind.
snapshot() {
	{
		find /usr/local /usr/src /etc/udev /etc/systemd -xdev 2>/dev/null
		find /usr /etc -xdev \( -name '*cmafs*' -o -name '*cmabuf*' \) 2>/dev/null
		ls -d /cma 2>/dev/null
		md5sum "$FSTAB"
	} | sort -u
}

root_install_possible() {
	[[ ${CMAFS_SKIP_ROOT_INSTALL:-0} == 1 ]] && { echo "CMAFS_SKIP_ROOT_INSTALL=1"; return 1; }
	(($(id -u) == 0)) || { echo "needs root"; return 1; }
	[[ -x /sbin/mount.fuse3 || -x /usr/sbin/mount.fuse3 ]] || { echo "no mount.fuse3 (fuse3 package)"; return 1; }
	mountpoint -q /cma 2>/dev/null && { echo "/cma is mounted on this machine"; return 1; }
	awk '$1 !~ /^#/ && $2 == "/cma"' "$FSTAB" 2>/dev/null | grep -q . && { echo "$FSTAB already has a /cma line"; return 1; }
	[[ -e /usr/local/bin/cmafs ]] && { echo "cmafs is already installed in /usr/local"; return 1; }
	[[ -e /usr/src/cmabuf-$VERSION ]] && { echo "/usr/src/cmabuf-$VERSION exists"; return 1; }
	return 0
}

setup_file() {
	[[ -x $CMAFS_BIN ]] || export CMAFS_NOT_BUILT=1
	export STATE=$BATS_FILE_TMPDIR
	if why=$(root_install_possible); then
		ensure_test_user
		snapshot >"$STATE/before"
		cp -p "$FSTAB" "$STATE/fstab.orig"
		[[ -e /cma ]] || touch "$STATE/created-cma"
		touch "$STATE/root-ok"
	else
		echo "$why" >"$STATE/root-skip"
	fi
}

teardown_file() {
	# Whatever happened: nothing mounted, fstab as it was, nothing installed.
	if [[ -f $STATE/root-ok ]]; then
		if mountpoint -q /cma; then
			umount /cma 2>/dev/null || fusermount3 -uz /cma 2>/dev/null || umount -l /cma
		fi
		[[ -f $STATE/fstab.orig ]] && cat "$STATE/fstab.orig" >"$FSTAB"
		[[ -e /usr/local/bin/cmafs || -e /usr/local/share/doc/cmafs ]] && mk uninstall >/dev/null 2>&1
		[[ -f $STATE/created-cma && -d /cma ]] && rmdir /cma
	fi
	return 0
}

setup() {
	[[ -z ${CMAFS_NOT_BUILT:-} ]] || skip "cmafs daemon not built ($CMAFS_BIN)"
	D=$BATS_TEST_TMPDIR/stage
	mkdir -p "$D"
}

teardown() {
	# A root test that failed half-way leaves no mount for the next one.
	if [[ -f ${STATE:-/nonexistent}/root-ok ]] && mountpoint -q /cma; then
		umount /cma 2>/dev/null || fusermount3 -uz /cma 2>/dev/null || umount -l /cma
	fi
	return 0
}

require_root_install() {
	[[ -f $STATE/root-skip ]] && skip "install into /: $(cat "$STATE/root-skip")"
	return 0
}

@test "install DESTDIR: exactly the expected files" {
	run -0 mk install DESTDIR="$D"
	diff -u <(expected_files /usr/local /etc/udev/rules.d) <(cd "$D" && find . -type f -o -type l | sed 's/^\.//' | sort)
}

@test "install DESTDIR: modes, and the daemon and pages are the tree's" {
	mk install DESTDIR="$D" >/dev/null
	[[ $(stat -c %a "$D/usr/local/bin/cmafs") == 755 ]]
	local f
	while read -r f; do
		[[ $f == */bin/cmafs || $f == */quickstart.sh ]] && continue
		# the development link libcmafs.so -> libcmafs.so.0
		if [[ -L $D$f ]]; then
			[[ $(readlink "$D$f") == libcmafs.so.0 ]] || fail "$f links to $(readlink "$D$f")"
			continue
		fi
		[[ $(stat -c %a "$D$f") == 644 ]] || fail "$f has mode $(stat -c %a "$D$f")"
	done < <(expected_files /usr/local /etc/udev/rules.d)
	cmp "$ROOT/cmafs/cmafs" "$D/usr/local/bin/cmafs"
	cmp "$ROOT/man/cmafs.8" "$D/usr/local/share/man/man8/cmafs.8"
	cmp "$ROOT/include/cmafs.h" "$D/usr/local/include/cmafs.h"
	run -0 "$D/usr/local/bin/cmafs" -V
	assert_output --partial "cmafs $VERSION"
	run -0 mandoc -Tlint -Wwarning "$D/usr/local/share/man/man8/cmafs.8"
}

@test "install DESTDIR: pkg-config file gives the header; a C program builds with it" {
	mk install DESTDIR="$D" >/dev/null
	export PKG_CONFIG_PATH=$D/usr/local/share/pkgconfig PKG_CONFIG_SYSROOT_DIR=$D
	run -0 pkg-config --modversion cmafs
	assert_output "$VERSION"
	run -0 pkg-config --cflags cmafs
	assert_equal "$(echo $output)" "-I$D/usr/local/include"
	# shellcheck disable=SC2046
	cc -std=c11 -Wall -Werror -o "$BATS_TEST_TMPDIR/cma_alloc" \
		"$ROOT/examples/c/cma_alloc.c" $(pkg-config --cflags --libs libcmafs)
}

@test "install DESTDIR: systemd unit, udev rule and dkms.conf point at the right places" {
	mk install DESTDIR="$D" >/dev/null
	local unit=$D/usr/local/lib/systemd/system/cmafs.service
	run -0 grep '^ExecStart=' "$unit"
	assert_output 'ExecStart=/usr/local/bin/cmafs -o allow_other $CMAFS_OPTIONS /cma'
	grep -q '^Type=forking' "$unit"
	grep -q '^WantedBy=' "$unit"
	run -0 grep -v '^#' "$D/etc/udev/rules.d/60-cmabuf.rules"
	assert_output --partial 'KERNEL=="cmabuf"'
	assert_output --partial 'GROUP="cma"'
	assert_output --partial 'MODE="0660"'
	if [[ -f $ROOT/kmod/dkms.conf ]]; then
		local conf=$D/usr/src/cmabuf-$VERSION/dkms.conf
		grep -qx 'PACKAGE_NAME="cmabuf"' "$conf"
		grep -qx "PACKAGE_VERSION=\"$VERSION\"" "$conf"   # = the directory DKMS looks in
		# The module builds from the installed tree's layout: Kbuild finds the header.
		[[ -f $D/usr/src/cmabuf-$VERSION/include/cmabuf.h ]]
	fi
}

@test "install DESTDIR: python3 imports cmafs, and the pynq names where PYNQ is absent, from the installed directory" {
	mk install DESTDIR="$D" >/dev/null
	local py
	py=$(py_dir /usr/local)
	# As the installed site directory (its .pth processed), from /, where
	# no checkout's python/ can be found instead.
	run -0 env -u PYTHONPATH sh -c 'cd / && /usr/bin/python3 -E -c "
import site, sys
site.addsitedir(sys.argv[1])
import cmafs, pynq
from pynq.drivers import xlnk
print(cmafs.__file__, pynq.__file__, pynq.provided_by, xlnk.xlnk is cmafs.Xlnk)
" "$1"' sh "$D$py"
	assert_output "$D$py/cmafs/__init__.py $D$py/cmafs/_pynq/pynq/__init__.py cmafs True"
}

@test "install PREFIX=/usr: udev rule and unit where udev and systemd read them" {
	run -0 mk install DESTDIR="$D" PREFIX=/usr
	[[ -f $D/usr/bin/cmafs ]]
	[[ -f $D/usr/lib/udev/rules.d/60-cmabuf.rules ]]
	[[ -f $D/usr/lib/systemd/system/cmafs.service ]]
	[[ -f $D/usr/share/pkgconfig/cmafs.pc ]]
	[[ ! -e $D/etc ]]
	grep -q '^ExecStart=/usr/bin/cmafs ' "$D/usr/lib/systemd/system/cmafs.service"
	grep -qx 'prefix=/usr' "$D/usr/share/pkgconfig/cmafs.pc"
	# Debian's python3 imports from /usr/lib/python3/dist-packages.
	[[ -f $D$(py_dir /usr)/cmafs/__init__.py ]]
	[[ -f $D$(py_dir /usr)/cmafs-pynq.pth ]]
}

@test "uninstall DESTDIR: removes every file and every directory install created" {
	mk install DESTDIR="$D" >/dev/null
	mk install DESTDIR="$D" >/dev/null          # twice: still one manifest
	mkdir -p "$D/usr/local/share/man/man1"      # someone else's
	touch "$D/usr/local/share/man/man1/other.1"
	run -0 mk uninstall DESTDIR="$D"
	diff <(find "$D" -mindepth 1 | sort) <(printf '%s\n' "$D/usr" "$D/usr/local" "$D/usr/local/share" \
		"$D/usr/local/share/man" "$D/usr/local/share/man/man1" "$D/usr/local/share/man/man1/other.1" | sort)
}

@test "root: make install into / puts cmafs where mount.fuse3 finds it" {
	require_root_install
	run -0 mk install
	[[ -x /usr/local/bin/cmafs ]]
	# mount(8) drops PATH; mount.fuse3 runs /bin/sh with its default PATH.
	run -0 env -i /bin/sh -c 'command -v cmafs'
	assert_output /usr/local/bin/cmafs
}

@test "root: an /etc/fstab line, mount /cma, use it, umount /cma" {
	require_root_install
	[[ -x /usr/local/bin/cmafs ]] || fail "not installed (previous test failed)"
	local opts="backend=sim,pool=32M,allow_other,nofail${CMAFS_TEST_OPTS:+,$CMAFS_TEST_OPTS}"
	mkdir -p /cma
	printf '# cmafs test (tests/install.bats), removed at the end\ncmafs /cma fuse.cmafs %s 0 0\n' "$opts" >>"$FSTAB"
	run mount /cma
	[[ $status -eq 0 ]] || fail "mount /cma failed: $output"
	mountpoint -q /cma
	run -0 findmnt -n -o FSTYPE,SOURCE /cma
	assert_output --regexp '^fuse\.cmafs +cmafs$'
	local pids
	pids=$(daemon_pids /usr/local/bin/cmafs)
	[[ -n $pids ]] || fail "no daemon running from /usr/local/bin/cmafs"
	# What reached the daemon: our options, not mount(8)'s own.
	local argv
	argv=$(tr '\0' ' ' </proc/"${pids%% *}"/cmdline)
	[[ $argv == *backend=sim* && $argv == *pool=32M* && $argv == *allow_other* ]] || fail "argv: $argv"
	[[ $argv != *nofail* ]] || fail "nofail reached the daemon: $argv"
	# The pool works, with the options of the fstab line.
	run -0 cat /cma/.stats
	assert_line 'backend: sim'
	assert_line 'pool_bytes: 33554432'
	truncate -s 1M /cma/installed-test
	run -0 getfattr --absolute-names --only-values -n user.cma.phys_addr /cma/installed-test
	assert_output --regexp '^0x[0-9a-f]+$'
	rm /cma/installed-test
	# allow_other: another user reads the pool.
	run -0 as_user cat /cma/.stats
	run -0 umount /cma
	if mountpoint -q /cma; then fail "/cma still mounted after umount"; fi
	# shellcheck disable=SC2086
	wait_gone $pids || fail "daemon still running after umount /cma"
}

@test "root: the systemd unit's ExecStart mounts /cma before it returns" {
	require_root_install
	local unit=/usr/local/lib/systemd/system/cmafs.service line cmd
	[[ -f $unit ]] || fail "not installed"
	if command -v systemd-analyze >/dev/null; then
		run systemd-analyze verify "$unit"
		[[ $status -eq 0 ]] || fail "systemd-analyze verify: $output"
	fi
	line=$(sed -n 's/^ExecStart=//p' "$unit")
	cmd=${line//\$CMAFS_OPTIONS/-o backend=sim,pool=16M}
	sed -n 's/^ExecStartPre=\([^-].*\)/\1/p' "$unit" | sh -e
	# shellcheck disable=SC2086
	run -0 $cmd
	mountpoint -q /cma || fail "/cma not mounted when '$cmd' returned (Type=forking needs that)"
	run -0 cat /cma/.stats
	assert_line 'pool_bytes: 16777216'
	local pids
	pids=$(daemon_pids /usr/local/bin/cmafs)
	# systemd stops the service with SIGTERM: that must unmount.
	# shellcheck disable=SC2086
	kill -TERM $pids
	# shellcheck disable=SC2086
	wait_gone $pids || fail "daemon ignored SIGTERM"
	! mountpoint -q /cma || fail "/cma still mounted after SIGTERM"
}

@test "root: after a crash (SIGKILL) the unit's own steps clear the dead mount and mount /cma again; it restarts on failure" {
	require_root_install
	local unit=/usr/local/lib/systemd/system/cmafs.service line cmd pids pre
	[[ -f $unit ]] || fail "not installed"
	grep -qx 'Restart=on-failure' "$unit" || fail "the unit does not restart on failure"
	line=$(sed -n 's/^ExecStart=//p' "$unit")
	cmd=${line//\$CMAFS_OPTIONS/-o backend=sim,pool=16M}
	# start as systemd would: every ExecStartPre ('-': failure ignored)
	start_unit() {
		while IFS= read -r pre; do
			if [[ $pre == -* ]]; then sh -c "${pre#-}" || true; else sh -ec "$pre"; fi
		done < <(sed -n 's/^ExecStartPre=//p' "$unit")
		# shellcheck disable=SC2086
		$cmd
	}
	run -0 start_unit
	mountpoint -q /cma || fail "/cma not mounted"
	pids=$(daemon_pids /usr/local/bin/cmafs)
	# shellcheck disable=SC2086
	kill -KILL $pids
	# shellcheck disable=SC2086
	wait_gone $pids || fail "daemon survived SIGKILL"
	run -1 stat /cma/.stats
	assert_output --partial "Transport endpoint is not connected"
	# without the unit's cleanup the mount is refused with the command
	# shellcheck disable=SC2086
	run -1 $cmd
	assert_output --partial "fusermount3 -uz /cma"
	run -0 start_unit
	run -0 cat /cma/.stats
	assert_line 'pool_bytes: 16777216'
	pids=$(daemon_pids /usr/local/bin/cmafs)
	# shellcheck disable=SC2086
	kill -TERM $pids
	# shellcheck disable=SC2086
	wait_gone $pids || fail "daemon ignored SIGTERM"
}

@test "root: pkg-config and man find the installed files" {
	require_root_install
	run -0 pkg-config --cflags cmafs
	assert_equal "$(echo $output)" -I/usr/local/include
	# shellcheck disable=SC2046
	cc -std=c11 -Wall -Werror -o "$BATS_TEST_TMPDIR/cma_alloc" \
		/usr/local/share/doc/cmafs/examples/c/cma_alloc.c $(pkg-config --cflags --libs libcmafs)
	# the shared library is found where it was installed
	"$BATS_TEST_TMPDIR/cma_alloc" 2>&1 | grep -qv "error while loading shared libraries" ||
		fail "cma_alloc does not find libcmafs.so.0"
	if command -v man >/dev/null; then
		run -0 man -w 8 cmafs
		# (Debian: /usr/local/man is a link to /usr/local/share/man)
		assert_equal "$(realpath "$output")" /usr/local/share/man/man8/cmafs.8
	fi
}

@test "root: python3 imports the installed cmafs from anywhere; PYNQ's CMA notebook runs unchanged against /cma" {
	require_root_install
	[[ -x /usr/local/bin/cmafs ]] || fail "not installed"
	run -0 sh -c 'cd / && /usr/bin/python3 -c "import cmafs; print(cmafs.__file__)"'
	assert_output "$(py_dir /usr/local)/cmafs/__init__.py"
	/usr/bin/python3 -c 'import cffi, numpy' 2>/dev/null || skip "no python3-cffi or python3-numpy"
	/usr/bin/python3 -c 'import pynq; assert pynq.provided_by == "cmafs"' 2>/dev/null ||
		skip "a real PYNQ is installed"
	mkdir -p /cma
	/usr/local/bin/cmafs -o backend=sim,pool=16M${CMAFS_TEST_OPTS:+,$CMAFS_TEST_OPTS} /cma
	local pids
	pids=$(daemon_pids /usr/local/bin/cmafs)
	run /usr/bin/python3 /usr/local/share/doc/cmafs/examples/python/pynq_cma_notebook.py
	local rc=$status out=$output
	run -0 cat /cma/.stats
	local stats=$output
	umount /cma
	# shellcheck disable=SC2086
	wait_gone $pids || fail "daemon still running after umount /cma"
	[[ $rc -eq 0 ]] || fail "the notebook failed: $out"
	assert_equal "$out" "$(printf 'before copy:  0.0\nafter copy:  1.401298464324817e-45')"
	grep -qx 'buffers: 0' <<<"$stats" || fail "buffers left: $stats"
}

@test "root: make uninstall leaves nothing behind" {
	require_root_install
	run -0 mk uninstall
	cat "$STATE/fstab.orig" >"$FSTAB"
	[[ -f $STATE/created-cma && -d /cma ]] && rmdir /cma
	diff -u "$STATE/before" <(snapshot)
}
