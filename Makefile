# cmafs - top-level build.  `make demo` and `make check` are the two commands
# a new user needs; everything else is reached from them.

VERSION := 0.1.0
CC      ?= cc
PKG_CONFIG ?= pkg-config
CFLAGS  ?= -O2 -g
FUSE_CFLAGS := $(shell $(PKG_CONFIG) --cflags fuse3 2>/dev/null)
FUSE_LIBS   := $(shell $(PKG_CONFIG) --libs fuse3 2>/dev/null)
override CFLAGS += -std=c11 -D_GNU_SOURCE -DFUSE_USE_VERSION=35 \
	-DCMAFS_VERSION=\"$(VERSION)\" -Wall -Wextra -Werror -Iinclude -Icmafs $(FUSE_CFLAGS)
LDLIBS  += $(FUSE_LIBS) -lpthread

DAEMON_SRCS := $(sort $(wildcard cmafs/*.c))
DAEMON_OBJS := $(DAEMON_SRCS:.c=.o)
LIB_OBJS    := $(filter-out cmafs/main.o,$(DAEMON_OBJS))

UNIT_SRCS   := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS   := $(UNIT_SRCS:.c=)

.PHONY: all deps check test unit bats vm-check demo bench bench-hostage clean
all: cmafs/cmafs

cmafs/cmafs: $(DAEMON_OBJS)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

cmafs/%.o: cmafs/%.c $(wildcard cmafs/*.h) include/cmafs.h
	$(CC) $(CFLAGS) -c -o $@ $<

# Unit tests link the archive, so each pulls in only the code it tests.
cmafs/libcmafs.a: $(LIB_OBJS)
	$(AR) rcs $@ $^

tests/unit/test_%: tests/unit/test_%.c cmafs/libcmafs.a tests/unit/tap.h
	$(CC) $(CFLAGS) -Itests/unit $(LDFLAGS) -o $@ $< cmafs/libcmafs.a $(LDLIBS)

# Installs missing Debian packages (as root) or says which line to run.
deps:
	@scripts/install-deps

unit: $(UNIT_BINS)
	@for t in $(UNIT_BINS); do $$t; done

bats: cmafs/cmafs
	@bats --tap tests/*.bats

vm-check:
	@$(MAKE) --no-print-directory -C tests/vm check

# One TAP stream per suite; tests/tap-summary prints "N passed, N failed".
check: deps
	@$(MAKE) --no-print-directory all $(UNIT_BINS)
	@tests/run-all

demo: deps
	@$(MAKE) --no-print-directory all
	@examples/demo.sh

bench: all
	@bench/run

# A second user's request latency while a first one attacks (issue 20).
bench-hostage: all
	@bench/hostage

# install/uninstall, man page lint and examples live in their own fragments.
-include mk/*.mk

clean:
	rm -f cmafs/*.o cmafs/*.a cmafs/cmafs $(UNIT_BINS)
	-$(MAKE) -C kmod clean
