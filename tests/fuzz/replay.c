// SPDX-License-Identifier: MIT
/*
 * replay - runs inputs through a libFuzzer target without libFuzzer, for
 * compilers that lack -fsanitize=fuzzer (gcc, cross compilers):
 *
 *	replay FILE...      each FILE is one input (a crash-* file too)
 *
 * Build it with the target and ASan/UBSan, e.g.
 *	cc -fsanitize=address,undefined tests/fuzz/replay.c tests/fuzz/fuzz_parse.c cmafs/parse.c ...
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

int main(int argc, char *argv[])
{
	int i, n = 0;

	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	for (i = 1; i < argc; i++) {
		FILE *f = fopen(argv[i], "rb");
		uint8_t *buf = NULL;
		long len;

		if (!f || fseek(f, 0, SEEK_END) || (len = ftell(f)) < 0 ||
		    fseek(f, 0, SEEK_SET)) {
			perror(argv[i]);
			return 2;
		}
		buf = malloc((size_t)len + 1);
		if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) {
			perror(argv[i]);
			return 2;
		}
		fclose(f);
		LLVMFuzzerTestOneInput(buf, (size_t)len);
		free(buf);
		n++;
	}
	fprintf(stderr, "replay: %d inputs, no failure\n", n);
	return 0;
}
