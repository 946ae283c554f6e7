// SPDX-License-Identifier: MIT
/*
 * deferred - replies that have to wait for the kernel.
 *
 * In cached-mmap mode a sync drops the kernel's page cache of the file,
 * and the kernel first writes dirty pages back to us as WRITE requests.
 * The request loop is single-threaded (it measured twice as fast as
 * libfuse's multi-threaded one on small machines), so the loop must not
 * wait for that itself: the sync is handed to this thread, which replies
 * when it is done, while the loop serves the WRITEs.
 */
#include <errno.h>
#include <stdlib.h>

#include "deferred.h"
#include "ops.h"

struct job {
	struct job *next;
	fuse_req_t req;
	fuse_ino_t ino;
	uint64_t off, len;
	unsigned int direction;
	bool ioctl;
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

static void finish(struct job *j, int err)
{
	if (err)
		reply_refusal(j->req, j->ino, NULL,
			      j->ioctl ? "ioctl CMAFS_IOC_SYNC" :
					 "setxattr user.cma.sync", -err);
	else if (j->ioctl)
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
		finish(j, cma_sync(q.fs, j->ino, j->off, j->len,
				   j->direction));
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

void deferred_sync(fuse_req_t req, fuse_ino_t ino, uint64_t off, uint64_t len,
		   unsigned int direction, bool ioctl)
{
	struct job *j;

	/* Without a page cache in between there is nothing to wait for. */
	if (mmap_direct() || !q.running || !(j = calloc(1, sizeof(*j)))) {
		struct job now = { .req = req, .ino = ino, .ioctl = ioctl };

		finish(&now, cma_sync(req_fs(req), ino, off, len, direction));
		return;
	}
	*j = (struct job){ .req = req, .ino = ino, .off = off, .len = len,
			   .direction = direction, .ioctl = ioctl };
	pthread_mutex_lock(&q.lock);
	*q.tail = j;
	q.tail = &j->next;
	pthread_cond_signal(&q.wake);
	pthread_mutex_unlock(&q.lock);
}
