// SPDX-License-Identifier: MIT
/*
 * deferred - replies that have to wait: syncs and fsyncs.
 *
 * In cached-mmap mode a sync drops the kernel's page cache of the file,
 * and the kernel first writes dirty pages back to us as WRITE requests.
 * The request loop is single-threaded (it measured twice as fast as
 * libfuse's multi-threaded one on small machines), so the loop must not
 * wait for that itself.  And cache maintenance of a large cached buffer
 * (kmod) takes long.  So every sync is handed to this thread, which
 * replies when it is done, while the loop serves everyone else.
 */
#include <errno.h>
#include <stdlib.h>

#include "deferred.h"
#include "buffer_ops.h"
#include "ops.h"

enum job_kind { JOB_XATTR, JOB_IOCTL, JOB_FSYNC };

struct job {
	struct job *next;
	fuse_req_t req;
	fuse_ino_t ino;
	uint64_t off, len;
	unsigned int direction;
	enum job_kind kind;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct job *head, **tail;
	bool stop, running;
	pthread_t thread;
	struct fs *fs;
} q = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.wake = PTHREAD_COND_INITIALIZER,
	.tail = &q.head,
};

static void run(struct fs *fs, struct job *j)
{
	int err;

	if (j->kind == JOB_FSYNC) {
		fuse_reply_err(j->req, -cma_fsync(fs, j->ino));
		return;
	}
	err = cma_sync(fs, j->ino, j->off, j->len, j->direction);
	if (err)
		reply_refusal(j->req, j->ino, NULL,
			      j->kind == JOB_IOCTL ? "ioctl CMAFS_IOC_SYNC" :
						     "setxattr user.cma.sync",
			      -err);
	else if (j->kind == JOB_IOCTL)
		fuse_reply_ioctl(j->req, 0, NULL, 0);
	else
		fuse_reply_err(j->req, 0);
}

static void *worker(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&q.lock);
	for (;;) {
		struct job *j;

		while (!q.head && !q.stop)
			pthread_cond_wait(&q.wake, &q.lock);
		if (!q.head)
			break;
		j = q.head;
		q.head = j->next;
		if (!q.head)
			q.tail = &q.head;
		pthread_mutex_unlock(&q.lock);
		run(q.fs, j);
		free(j);
		pthread_mutex_lock(&q.lock);
	}
	pthread_mutex_unlock(&q.lock);
	return NULL;
}

int deferred_start(struct fs *fs)
{
	q.fs = fs;
	if (pthread_create(&q.thread, NULL, worker, NULL))
		return -1;
	q.running = true;
	return 0;
}

void deferred_stop(void)
{
	if (!q.running)
		return;
	pthread_mutex_lock(&q.lock);
	q.stop = true;
	pthread_cond_signal(&q.wake);
	pthread_mutex_unlock(&q.lock);
	pthread_join(q.thread, NULL);
	q.running = false;
}

static void submit(fuse_req_t req, const struct job *tmpl)
{
	struct job *j;

	if (!q.running || !(j = malloc(sizeof(*j)))) {
		struct job now = *tmpl;

		run(req_fs(req), &now);
		return;
	}
	*j = *tmpl;
	j->next = NULL;
	pthread_mutex_lock(&q.lock);
	*q.tail = j;
	q.tail = &j->next;
	pthread_cond_signal(&q.wake);
	pthread_mutex_unlock(&q.lock);
}

void deferred_sync(fuse_req_t req, fuse_ino_t ino, uint64_t off, uint64_t len,
		   unsigned int direction, bool ioctl)
{
	submit(req, &(struct job){ .req = req, .ino = ino, .off = off,
				   .len = len, .direction = direction,
				   .kind = ioctl ? JOB_IOCTL : JOB_XATTR });
}

void deferred_fsync(fuse_req_t req, fuse_ino_t ino)
{
	submit(req, &(struct job){ .req = req, .ino = ino,
				   .kind = JOB_FSYNC });
}
