# cmafs - top-level build.  `make demo` and `make check` are the two commands
# a new user needs; everything else is reached from them (make help lists all).

VERSION := 0.1.0
CC      ?= cc
PKG_CONFIG ?= pkg-config
CFLAGS  ?= -O2 -g
FUSE_CFLAGS := $(shell $(PKG_CONFIG) --cflags fuse3 2>/dev/null)
FUSE_LIBS   := $(shell $(PKG_CONFIG) --libs fuse3 2>/dev/null)
# _FILE_OFFSET_BITS=64: 64-bit off_t on 32-bit targets too (armhf); libfuse3
# requires it there and its pkg-config file does not say so.
override CFLAGS += -std=c11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -DFUSE_USE_VERSION=35 \
	-DCMAFS_VERSION=\"$(VERSION)\" -Wall -Wextra -Werror -Iinclude -Icmafs $(FUSE_CFLAGS)
LDLIBS  += $(FUSE_LIBS) -lpthread

DAEMON_SRCS := $(sort $(wildcard cmafs/*.c))
DAEMON_OBJS := $(DAEMON_SRCS:.c=.o)
LIB_OBJS    := $(filter-out cmafs/main.o,$(DAEMON_OBJS))

UNIT_SRCS   := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS   := $(UNIT_SRCS:.c=)

.PHONY: all help deps deps-build deps-test check test unit bats check-userlands vm-check demo bench bench-hostage clean
all: cmafs/cmafs lib ## build the daemon, cmafs/cmafs, and libcmafs (lib/)

cmafs/cmafs: $(DAEMON_OBJS)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

cmafs/%.o: cmafs/%.c $(wildcard cmafs/*.h) include/cmafs.h
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

# Unit tests link the archive, so each pulls in only the code it tests.
cmafs/libdaemon.a: $(LIB_OBJS)
	$(AR) rcs $@ $^

tests/unit/test_%: tests/unit/test_%.c cmafs/libdaemon.a tests/unit/tap.h
	$(CC) $(CPPFLAGS) $(CFLAGS) -Itests/unit $(LDFLAGS) -o $@ $< cmafs/libdaemon.a $(LDLIBS)

# libcmafs, the client library (lib/, include/libcmafs.h): position-
# independent objects for both the shared and the static library, and only
# the calls of lib/libcmafs.map exported, so that the internals can change
# without a new SONAME.
LIBCMAFS_OBJS := $(patsubst %.c,%.pic.o,$(sort $(wildcard lib/*.c)))
.PHONY: lib
lib: lib/libcmafs.so lib/libcmafs.a ## build libcmafs: lib/libcmafs.so.0, .so and .a

lib/%.pic.o: lib/%.c lib/internal.h include/libcmafs.h include/cmafs.h include/cmabuf.h
	$(CC) $(CPPFLAGS) $(CFLAGS) -fPIC -fvisibility=hidden -c -o $@ $<

lib/libcmafs.so.0: $(LIBCMAFS_OBJS) lib/libcmafs.map
	$(CC) $(CFLAGS) $(LDFLAGS) -shared -Wl,-soname,libcmafs.so.0 \
		-Wl,--version-script=lib/libcmafs.map -o $@ $(LIBCMAFS_OBJS)

lib/libcmafs.so: lib/libcmafs.so.0
	ln -sf libcmafs.so.0 $@

lib/libcmafs.a: $(LIBCMAFS_OBJS)
	rm -f $@
	$(AR) rcs $@ $^

# Every target with its line: the "## " comments of the rules below and of
# mk/*.mk.
help: ## this list
	@echo "make TARGET, where TARGET is one of:"
	@sed -n 's/^\([a-z][a-z-]*\):[^#=]*## \(.*\)/\1	\2/p' $(MAKEFILE_LIST) | \
		while IFS='	' read -r t d; do printf '  %-16s %s\n' "$$t" "$$d"; done

# Install missing Debian packages (as root) or say which line to run; on
# other systems, name them (scripts/install-deps).
deps: ## install every package building and testing need (deps-test)
	@scripts/install-deps all

deps-build: ## install the packages building and make demo need
	@scripts/install-deps build

deps-test: ## install deps-build's packages and the test suites' tools
	@scripts/install-deps test

unit: $(UNIT_BINS) ## build and run the unit tests (tests/unit)
	@for t in $(UNIT_BINS); do $$t; done

bats: cmafs/cmafs ## run the bats suites (tests/*.bats) once
	@bats --tap tests/*.bats

check-userlands: all ## every bats file in Debian 13 and unstable userlands (libfuse 3.17, 3.18), root (tests/userlands)
	@tests/userlands/run full

vm-check: ## the kernel helper and bats suite in arm64 and armhf VMs (tests/vm, slow)
	@$(MAKE) --no-print-directory -C tests/vm check

# One TAP stream per suite; tests/tap-summary prints "N passed, N failed".
check: deps-test ## install the test tools, build, run every suite (tests/run-all)
	@$(MAKE) --no-print-directory test

test: ## build and run every suite, installing nothing (tests/run-all)
	@$(MAKE) --no-print-directory all $(UNIT_BINS)
	@tests/run-all

demo: deps-build ## install what building needs, build, tour a sim mount
	@$(MAKE) --no-print-directory all
	@examples/demo.sh

bench: all ## cmafs against tmpfs (bench/run)
	@bench/run

# A second user's request latency while a first one attacks (issue 20).
bench-hostage: all ## one user's latency while another attacks (bench/hostage)
	@bench/hostage

# Issue 13's figures: libcmafs mappings and the hand-off's latency.
.PHONY: bench-handoff
bench-handoff: all ## hand-off mappings against tmpfs and the mount (bench/handoff)
	@bench/handoff

# The same in the arm64 VMs against the helper's own buffers (timing: not in check).
.PHONY: vm-bench
vm-bench: ## hand-off mappings against the helper's own buffers in the arm64 VMs (tests/vm/vm-bench)
	@$(MAKE) --no-print-directory -C tests/vm bench

# install/uninstall, man page lint and examples live in their own fragments.
-include mk/*.mk

clean: ## remove what the build made
	rm -f cmafs/*.o cmafs/*.a cmafs/cmafs $(UNIT_BINS)
	rm -f lib/*.o lib/libcmafs.so lib/libcmafs.so.0 lib/libcmafs.a
	rm -rf build/deb
	-$(MAKE) -C kmod clean
