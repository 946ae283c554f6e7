# make install / make uninstall (included by the top-level Makefile).
#
#   make install                        # PREFIX=/usr/local
#   make install PREFIX=/usr DESTDIR=/tmp/stage
#   make uninstall                      # same PREFIX/DESTDIR as install
#   make install-list                   # what install would install
#
# Everything goes under $(DESTDIR)$(PREFIX), except what other programs only
# look for in fixed places (override any of these on the command line):
#   UDEVRULESDIR  /etc/udev/rules.d when PREFIX is not /usr (udev does not
#                 read /usr/local), else /usr/lib/udev/rules.d
#   MODSRCDIR     /usr/src/cmabuf-$(VERSION): DKMS only looks in /usr/src
#   PYTHONDIR     where the system's python3 imports from under PREFIX
#                 (Debian: /usr/local/lib/python3.X/dist-packages, or
#                 /usr/lib/python3/dist-packages for PREFIX=/usr); computed
#                 by packaging/install.sh from /usr/bin/python3's sys.path
#                 (PYTHON=... to ask another python3)
# The daemon goes to $(PREFIX)/bin, where mount.fuse3 finds it (it runs
# "cmafs" through /bin/sh's default PATH) for mount -t fuse.cmafs and
# /etc/fstab lines.  See packaging/install.sh for the file list.

PREFIX         ?= /usr/local
DESTDIR        ?=
BINDIR         ?= $(PREFIX)/bin
LIBDIR         ?= $(PREFIX)/lib
MANDIR         ?= $(PREFIX)/share/man
INCLUDEDIR     ?= $(PREFIX)/include
PKGCONFIGDIR   ?= $(PREFIX)/share/pkgconfig
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR    ?= $(PREFIX)/lib/sysusers.d
DOCDIR         ?= $(PREFIX)/share/doc/cmafs
UDEVRULESDIR   ?= $(if $(filter /usr,$(PREFIX)),/usr/lib/udev/rules.d,/etc/udev/rules.d)
MODSRCDIR      ?= /usr/src/cmabuf-$(VERSION)
PYTHONDIR      ?=
PYTHON         ?=

INSTALL_ENV = DESTDIR='$(DESTDIR)' PREFIX='$(PREFIX)' VERSION='$(VERSION)' \
	BINDIR='$(BINDIR)' LIBDIR='$(LIBDIR)' MANDIR='$(MANDIR)' INCLUDEDIR='$(INCLUDEDIR)' \
	PKGCONFIGDIR='$(PKGCONFIGDIR)' SYSTEMDUNITDIR='$(SYSTEMDUNITDIR)' \
	SYSUSERSDIR='$(SYSUSERSDIR)' DOCDIR='$(DOCDIR)' \
	UDEVRULESDIR='$(UDEVRULESDIR)' MODSRCDIR='$(MODSRCDIR)' \
	PYTHONDIR='$(PYTHONDIR)' PYTHON='$(PYTHON)'

.PHONY: install uninstall install-list
install: cmafs/cmafs lib ## install under DESTDIR/PREFIX (PREFIX=/usr/local by default)
	@echo "installing into $(DESTDIR)$(PREFIX) (module sources: $(DESTDIR)$(MODSRCDIR))"
	@$(INSTALL_ENV) sh packaging/install.sh install

uninstall: ## remove what install installed (same PREFIX, DESTDIR)
	@$(INSTALL_ENV) sh packaging/install.sh uninstall

install-list: ## the files install would install
	@$(INSTALL_ENV) sh packaging/install.sh list
