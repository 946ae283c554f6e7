// SPDX-License-Identifier: MIT
/*
 * privs: the setuid/setgid bits a caller loses, as the kernel's
 * setattr_should_drop_suidgid() (Linux >= 6.2) decides them.
 */
#include <sys/stat.h>

#include "privs.h"
#include "tap.h"

int main(void)
{
	const mode_t reg = S_IFREG;

	is_int(privs_to_drop(reg | 06777, false, false), 06000,
	       "setuid and group-exec setgid: both go (outside the group)");
	is_int(privs_to_drop(reg | 06777, false, true), 06000,
	       "group-exec setgid goes for a member too");
	is_int(privs_to_drop(reg | 06777, true, false), 0,
	       "CAP_FSETID keeps both");
	is_int(privs_to_drop(reg | 02766, false, true), 0,
	       "setgid without group-exec stays for a member");
	is_int(privs_to_drop(reg | 02766, false, false), 02000,
	       "setgid without group-exec goes for a non-member");
	is_int(privs_to_drop(reg | 04766, false, true), 04000,
	       "setuid alone: only setuid goes");
	is_int(privs_to_drop(reg | 0777, false, false), 0,
	       "no bits: nothing to drop");
	is_int(privs_to_drop(S_IFDIR | 02777, false, false), 0,
	       "directories keep setgid (inheritance, not privilege)");
	return done_testing();
}
