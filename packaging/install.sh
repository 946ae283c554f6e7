#!/bin/sh
# SPDX-License-Identifier: MIT
#
# install.sh install|uninstall|list -- what `make install` and `make uninstall`
# run (mk/install.mk passes every directory in the environment).
#
# install copies the files below and writes a manifest of the files it
# installed and the directories it had to create ($DOCDIR/installed-files);
# uninstall removes those files and then those directories (when empty), so
# that install + uninstall leaves the system as it was.  Without a manifest
# uninstall still removes every file install would have installed.
# list prints the destination paths (without DESTDIR), one per line.
set -eu

: "${DESTDIR=}" "${PREFIX:=/usr/local}" "${VERSION:?VERSION not set}"
: "${BINDIR:=$PREFIX/bin}" "${MANDIR:=$PREFIX/share/man}" "${LIBDIR:=$PREFIX/lib}"
: "${INCLUDEDIR:=$PREFIX/include}" "${PKGCONFIGDIR:=$PREFIX/share/pkgconfig}"
: "${SYSTEMDUNITDIR:=$PREFIX/lib/systemd/system}"
: "${UDEVRULESDIR:=/etc/udev/rules.d}" "${SYSUSERSDIR:=$PREFIX/lib/sysusers.d}"
: "${DOCDIR:=$PREFIX/share/doc/cmafs}" "${MODSRCDIR:=/usr/src/cmabuf-$VERSION}"
: "${SRCDIR:=.}"

# Where the system's python3 imports modules from, for this PREFIX: the
# entry of its sys.path under PREFIX/lib/python3* (Debian:
# /usr/local/lib/python3.X/dist-packages for /usr/local,
# /usr/lib/python3/dist-packages for /usr), else its purelib scheme for
# PREFIX.  /usr/bin/python3 first: a python3 of pyenv or a venv on PATH is
# not the system's.
pythondir() {
	for py in ${PYTHON:-} /usr/bin/python3 python3; do
		command -v "$py" >/dev/null 2>&1 || continue
		"$py" -c '
import sys, sysconfig
p = sys.argv[1].rstrip("/")
for d in sys.path:
    if d.startswith(p + "/lib/python3") and d.endswith(("/dist-packages", "/site-packages")):
        print(d)
        break
else:
    print(sysconfig.get_path("purelib", "posix_prefix", vars={"base": p, "platbase": p}))
' "$PREFIX" 2>/dev/null && return 0
	done
	echo "$PREFIX/lib/python3/dist-packages"
}
[ -n "${PYTHONDIR:-}" ] || PYTHONDIR=$(pythondir)

manifest=$DOCDIR/installed-files
cd "$SRCDIR"

# The plan: "MODE SOURCE DEST" lines.  SOURCE "@name" is generated below;
# MODE "link" makes DEST a symbolic link to SOURCE.
plan() {
	echo "755 cmafs/cmafs $BINDIR/cmafs"
	# libcmafs: the development link, the SONAME's file, the archive.
	echo "644 include/libcmafs.h $INCLUDEDIR/libcmafs.h"
	echo "644 lib/libcmafs.so.0 $LIBDIR/libcmafs.so.0"
	echo "link libcmafs.so.0 $LIBDIR/libcmafs.so"
	echo "644 lib/libcmafs.a $LIBDIR/libcmafs.a"
	echo "644 @libcmafs.pc $PKGCONFIGDIR/libcmafs.pc"
	echo "644 man/libcmafs.3 $MANDIR/man3/libcmafs.3"
	echo "644 man/cmafs.8 $MANDIR/man8/cmafs.8"
	[ -f man/cmabuf.4 ] && echo "644 man/cmabuf.4 $MANDIR/man4/cmabuf.4"
	echo "644 include/cmafs.h $INCLUDEDIR/cmafs.h"
	[ -f include/cmabuf.h ] && echo "644 include/cmabuf.h $INCLUDEDIR/cmabuf.h"
	echo "644 @cmafs.pc $PKGCONFIGDIR/cmafs.pc"
	echo "644 @cmafs.service $SYSTEMDUNITDIR/cmafs.service"
	echo "644 packaging/60-cmabuf.rules $UDEVRULESDIR/60-cmabuf.rules"
	echo "644 packaging/cmafs-sysusers.conf $SYSUSERSDIR/cmafs.conf"
	echo "644 packaging/fstab.sample $DOCDIR/fstab.sample"
	echo "644 README.md $DOCDIR/README.md"
	echo "755 examples/quickstart.sh $DOCDIR/examples/quickstart.sh"
	echo "644 examples/c/cma_alloc.c $DOCDIR/examples/c/cma_alloc.c"
	echo "644 python/tests/pynq_cma_notebook.py $DOCDIR/examples/python/pynq_cma_notebook.py"
	# The Python module, and the pynq names for where PYNQ is not installed
	# (cmafs-pynq.pth: a fallback that never shadows a real PYNQ).
	for f in python/cmafs/*.py python/cmafs/_pynq/pynq/*.py \
		python/cmafs/_pynq/pynq/drivers/*.py python/_cmafs_pynq.py python/cmafs-pynq.pth; do
		echo "644 $f $PYTHONDIR/${f#python/}"
	done
	# The kernel helper's sources, laid out as DKMS builds them.
	for f in kmod/*.c kmod/*.h kmod/Kbuild kmod/Makefile; do
		case $f in *.mod.c) continue ;; esac	# build products
		[ -f "$f" ] && echo "644 $f $MODSRCDIR/${f#kmod/}"
	done
	[ -f kmod/dkms.conf ] && echo "644 @dkms.conf $MODSRCDIR/dkms.conf"
	[ -f include/cmabuf.h ] && echo "644 include/cmabuf.h $MODSRCDIR/include/cmabuf.h"
	return 0
}

generate() { # name -> stdout
	case $1 in
	cmafs.pc)
		sed -e "s|@PREFIX@|$PREFIX|g" -e "s|@INCLUDEDIR@|$INCLUDEDIR|g" \
			-e "s|@VERSION@|$VERSION|g" packaging/cmafs.pc.in ;;
	libcmafs.pc)
		sed -e "s|@PREFIX@|$PREFIX|g" -e "s|@INCLUDEDIR@|$INCLUDEDIR|g" \
			-e "s|@LIBDIR@|$LIBDIR|g" -e "s|@VERSION@|$VERSION|g" lib/libcmafs.pc.in ;;
	cmafs.service)
		sed -e "s|@BINDIR@|$BINDIR|g" packaging/cmafs.service.in ;;
	dkms.conf)
		# DKMS wants the tree in /usr/src/PACKAGE_NAME-PACKAGE_VERSION.
		sed -e "s|^PACKAGE_VERSION=.*|PACKAGE_VERSION=\"$VERSION\"|" kmod/dkms.conf ;;
	esac
}

# mkdirs DIR: create DIR under DESTDIR, recording each directory created.
mkdirs() {
	missing="" d=$1
	while [ -n "$d" ] && [ "$d" != / ] && [ ! -d "$DESTDIR$d" ]; do
		missing="$d $missing"
		d=$(dirname "$d")
	done
	for d in $missing; do
		install -d -m 755 "$DESTDIR$d"
		echo "d $d" >>"$newmanifest"
	done
}

reload_system() {
	[ -z "$DESTDIR" ] || return 0
	if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
		systemctl daemon-reload || true
	fi
	if [ -S /run/udev/control ] && command -v udevadm >/dev/null; then
		udevadm control --reload-rules || true
	fi
	# The loader finds a new libcmafs.so.0 in $LIBDIR only through its cache.
	if command -v ldconfig >/dev/null; then
		ldconfig || true
	fi
}

do_install() {
	plan | while read -r mode src dest; do
		case $mode:$src in link:* | *:@*) ;; *) [ -f "$src" ] || {
			echo "install: $src is missing (run make first)" >&2; exit 1; } ;;
		esac
	done
	newmanifest=$(mktemp)
	trap 'rm -f "$newmanifest"' EXIT
	# Directories an earlier install created stay ours.
	[ -f "$DESTDIR$manifest" ] && grep '^d ' "$DESTDIR$manifest" >>"$newmanifest" || true
	plan | while read -r mode src dest; do
		mkdirs "$(dirname "$dest")"
		case $mode:$src in
		link:*)
			ln -sfn "$src" "$DESTDIR$dest" ;;
		*:@*)
			tmp=$(mktemp)
			generate "${src#@}" >"$tmp"
			install -m "$mode" "$tmp" "$DESTDIR$dest"
			rm -f "$tmp" ;;
		*)
			install -m "$mode" "$src" "$DESTDIR$dest" ;;
		esac
		echo "f $dest" >>"$newmanifest"
		echo "  $DESTDIR$dest"
	done
	mkdirs "$(dirname "$manifest")"
	echo "f $manifest" >>"$newmanifest"
	awk '!seen[$0]++' "$newmanifest" >"$DESTDIR$manifest"
	chmod 644 "$DESTDIR$manifest"
	reload_system
	if [ -z "$DESTDIR" ]; then
		# shellcheck disable=SC2194 # is BINDIR in /bin/sh's default PATH?
		case ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:" in
		*":$BINDIR:"*) ;;
		*) echo "note: $BINDIR is not in the PATH mount.fuse3 uses; use the source 'cmafs#cmafs' with type 'fuse' in /etc/fstab, or a link in /usr/local/bin" >&2 ;;
		esac
		getent group cma >/dev/null 2>&1 ||
			echo "note: for non-root access to /dev/cmabuf: groupadd --system cma (see $UDEVRULESDIR/60-cmabuf.rules)" >&2
	fi
}

do_uninstall() {
	list=$(mktemp)
	trap 'rm -f "$list"' EXIT
	{
		[ -f "$DESTDIR$manifest" ] && grep '^f ' "$DESTDIR$manifest" | cut -c3-
		plan | while read -r mode src dest; do echo "$dest"; done
		echo "$manifest"
	} | awk '!seen[$0]++' >"$list"
	dirs=""
	[ -f "$DESTDIR$manifest" ] && dirs=$(grep '^d ' "$DESTDIR$manifest" | cut -c3- | sort -r)
	while read -r f; do
		if [ -e "$DESTDIR$f" ] || [ -L "$DESTDIR$f" ]; then
			rm -f "$DESTDIR$f"
			echo "  removed $DESTDIR$f"
		fi
		# What python3 compiled from it.
		case $f in *.py)
			pyc=$(dirname "$f")/__pycache__
			b=$(basename "$f" .py)
			rm -f "$DESTDIR$pyc/$b".*.pyc
			rmdir "$DESTDIR$pyc" 2>/dev/null || true ;;
		esac
	done <"$list"
	# Directories that are only ours, deepest first (rmdir keeps non-empty ones).
	for d in $dirs "$MODSRCDIR/include" "$MODSRCDIR" "$DOCDIR/examples/c" \
		"$DOCDIR/examples/python" "$DOCDIR/examples" "$DOCDIR" \
		"$PYTHONDIR/cmafs/_pynq/pynq/drivers" "$PYTHONDIR/cmafs/_pynq/pynq" \
		"$PYTHONDIR/cmafs/_pynq" "$PYTHONDIR/cmafs"; do
		[ -d "$DESTDIR$d" ] && rmdir "$DESTDIR$d" 2>/dev/null || true
	done
	reload_system
	if [ -z "$DESTDIR" ] && command -v dkms >/dev/null &&
		dkms status "cmabuf/$VERSION" 2>/dev/null | grep -q .; then
		echo "note: DKMS still knows cmabuf/$VERSION: dkms remove cmabuf/$VERSION --all" >&2
	fi
}

case ${1:-} in
install) do_install ;;
uninstall) do_uninstall ;;
list) plan | while read -r mode src dest; do echo "$dest"; done; echo "$manifest" ;;
*) echo "usage: $0 install|uninstall|list" >&2; exit 2 ;;
esac
