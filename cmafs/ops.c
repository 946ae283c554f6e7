// SPDX-License-Identifier: MIT
/* ops - the operation table and the INIT handshake. */
#include "fs.h"
#include "ops.h"
#include "passthrough.h"

static void cmafs_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	/* Another cache in front of the buffer would hide device writes. */
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	pt_init(conn);
}

void ops_build(struct fuse_lowlevel_ops *ops)
{
	ops->init = cmafs_init;
	ops_node_init(ops);
	ops_file_init(ops);
	ops_xattr_init(ops);
}
