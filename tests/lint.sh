#!/usr/bin/env bash
# Static checks, as TAP: cppcheck and clang-tidy on the daemon, no warnings;
# the UAPI layout for 32- and 64-bit targets.
set -u
cd "$(dirname "$0")/.." || exit 2
flags=(-std=c11 -D_GNU_SOURCE -DFUSE_USE_VERSION=35 -DCMAFS_VERSION=\"lint\"
       -Iinclude -Icmafs $(pkg-config --cflags fuse3))
n=0 rc=0
report() { # status description output
	n=$((n + 1))
	if [[ $1 == 0 ]]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
		sed 's/^/# /' <<<"$3" | head -n 40
		rc=1
	fi
}
out=$(cppcheck --quiet --error-exitcode=1 --inline-suppr --std=c11 \
	--enable=warning,style,performance,portability \
	--suppress=unusedStructMember:cmafs/passthrough.c \
	-Iinclude -Icmafs -Ilib cmafs/*.c lib/*.c 2>&1)
report $? "cppcheck: no warnings in cmafs/ and lib/" "$out"
out=$(clang-tidy -quiet cmafs/*.c lib/*.c -- "${flags[@]}" -Ilib 2>&1 |
	grep -E 'warning|error' | grep -vE '^[0-9]+ warnings? (and [0-9]+ errors? )?generated')
[[ -z $out ]]
report $? "clang-tidy: no warnings in cmafs/ and lib/" "$out"
# The UAPI's layout for 32-bit callers: tests/unit/test_uapi_layout.c's
# static checks, compiled for targets whose alignment rules differ.
for t in i386-linux-gnu arm-linux-gnueabihf aarch64-linux-gnu; do
	out=$(clang --target="$t" -std=c11 -DLAYOUT_ONLY -fsyntax-only -Iinclude \
		-I/usr/include -I/usr/include/x86_64-linux-gnu tests/unit/test_uapi_layout.c 2>&1)
	report $? "UAPI structures and ioctl numbers: the same layout for $t" "$out"
done
echo "1..$n"
exit $rc
