/* SPDX-License-Identifier: MIT */
/*
 * parse - the strings users hand us: mount option values and xattr values.
 *
 * Pure functions over (pointer, length) so that xattr values, which are not
 * NUL-terminated, and fuzzers use the same code.  Each returns 0 or -EINVAL
 * and writes its result only on success.  Leading/trailing ASCII whitespace
 * and one trailing newline are accepted (values written with echo).
 */
#ifndef CMAFS_PARSE_H
#define CMAFS_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* "4096", "0x1000", "4K", "4k", "16M", "1G", "1T" (binary units); no overflow. */
int parse_size(const char *s, size_t len, uint64_t *out);

/* A size that is also a power of two and >= @page_size. */
int parse_align(const char *s, size_t len, uint64_t page_size, uint64_t *out);

/* "cached" | "uncached" | "writecombine" -> CMAFS_CACHE_* */
int parse_cache(const char *s, size_t len, unsigned int *out);
const char *cache_name(unsigned int cache);

/*
 * "device" | "cpu", optionally followed by "OFFSET LENGTH" (each a size);
 * without a range, *off = 0 and *len = 0 (the whole buffer).
 */
int parse_sync(const char *s, size_t len, unsigned int *direction,
	       uint64_t *off, uint64_t *length);

/* "auto" | "kmod" | "sim" */
enum backend_kind { BACKEND_AUTO, BACKEND_KMOD, BACKEND_SIM };
int parse_backend(const char *s, size_t len, enum backend_kind *out);

/* "auto" | "on" | "off" */
enum tristate { TRI_AUTO, TRI_ON, TRI_OFF };
int parse_tristate(const char *s, size_t len, enum tristate *out);

/* Who sees physical and DMA addresses (-o addresses=). */
enum addr_policy {
	ADDR_OWNER,	/* root and the file's owner (the default) */
	ADDR_ROOT,	/* root only */
	ADDR_ALL,	/* every user of the mount */
};

#endif /* CMAFS_PARSE_H */
