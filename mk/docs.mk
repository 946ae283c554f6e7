# Manual pages (included by the top-level Makefile).
#   make man-lint     mandoc -Tlint -Wwarning on every page (make check runs
#                     the same, and checks the pages against the code, in
#                     tests/docs.sh)
# Read a page before installing it:  man -l man/cmafs.8
MAN_PAGES := $(sort $(wildcard man/*.[1-9]))

.PHONY: man-lint
man-lint: ## mandoc -Tlint -Wwarning on the man pages
	@command -v mandoc >/dev/null || { echo "man-lint: mandoc missing (make deps)" >&2; exit 1; }
	mandoc -Tlint -Wwarning $(MAN_PAGES)
