# Debian packages (included by the top-level Makefile).
#
#   make deb    binary packages of the tree in build/deb/: cmafs, cmabuf-dkms,
#               libcmafs0, libcmafs-dev, python3-cmafs (+ -dbgsym), built by
#               dpkg-buildpackage from debian/ in a copy of the tree
#               (build/deb/cmafs-VERSION: the build's products and the .debs,
#               which dpkg-buildpackage writes next to its tree, stay out of
#               the checkout), then checked with lintian: any tag of any
#               level (error to pedantic and experimental) fails; the two
#               that remain are overridden in debian/cmafs.lintian-overrides,
#               each with its reason.  The files come from `make install`
#               with Debian's directories (debian/rules), split by
#               debian/*.install.  Run dpkg-buildpackage in the tree itself
#               and the .debs land in its parent directory.
#   DEB_BUILD_OPTIONS=nocheck make deb   without the unit tests
# tests/deb/run (make check) installs and purges them in a Debian 12 chroot.
# The tools: debhelper, dh-dkms, dh-python, dpkg-dev, lintian (make deps).

DEB_DIR := build/deb

.PHONY: deb
deb: ## Debian packages in build/deb (dpkg-buildpackage, lintian)
	@command -v dpkg-buildpackage >/dev/null && command -v dh >/dev/null && \
		command -v lintian >/dev/null || { echo "deb: dpkg-dev, debhelper or lintian missing (make deps)" >&2; exit 1; }
	rm -rf $(DEB_DIR)
	mkdir -p $(DEB_DIR)/cmafs-$(VERSION)
	@# The tree as git sees it (tracked and new files, not ignored ones),
	@# or, outside a checkout, all of it but the caches and outputs.
	if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
		git ls-files -z -co --exclude-standard | \
			tar --null -T - --ignore-failed-read -cf - 2>/dev/null; \
	else tar --exclude=./build --exclude=./tests/deb/cache --exclude=./tests/vm/cache \
		--exclude=./tests/vm/out --exclude=./bench/out -cf - .; fi | tar -xf - -C $(DEB_DIR)/cmafs-$(VERSION)
	cd $(DEB_DIR)/cmafs-$(VERSION) && dpkg-buildpackage -b -us -uc >../build.log 2>&1 || \
		{ tail -n 40 ../build.log >&2; echo "deb: dpkg-buildpackage failed, see $(DEB_DIR)/build.log" >&2; exit 1; }
	lintian --fail-on error,warning,info,pedantic,experimental -I -E --pedantic \
		$(DEB_DIR)/cmafs_$(VERSION)_*.changes
	@ls $(DEB_DIR)/*.deb
