/*
 * longpoll.c: a chained hash table of waiters by node id under one mutex.
 * Expiry scans the table (every ~200 ms from the ticker); with tens of
 * thousands of agents that is a few hundred microseconds.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "longpoll.h"
#include "macro.h"

#define LONGPOLL_BUCKETS 4096

struct longpoll {
	pthread_mutex_t lock;                                /* guards all below */
	struct longpoll_waiter *buckets[LONGPOLL_BUCKETS];   /* by hash of node id */
	size_t n;                                            /* waiters filed */
	uint64_t generation;                                 /* bumped by every wake */
	bool shutdown;                                       /* refusing waiters */
};

static size_t bucket_of(const char *node_id)
{
	uint32_t h = 2166136261u;
	for (const char *p = node_id; *p; p++) {
		h ^= (unsigned char)*p;
		h *= 16777619u;
	}
	return h % LONGPOLL_BUCKETS;
}

struct longpoll *longpoll_new(void)
{
	struct longpoll *lp = calloc(1, sizeof(*lp));
	if (lp)
		pthread_mutex_init(&lp->lock, NULL);
	return lp;
}

void longpoll_free(struct longpoll *lp)
{
	if (!lp)
		return;
	pthread_mutex_destroy(&lp->lock);
	free(lp);
}

static void unlink_waiter(struct longpoll *lp, struct longpoll_waiter *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		lp->buckets[bucket_of(w->node_id)] = w->next;
	if (w->next)
		w->next->prev = w->prev;
	w->prev = w->next = NULL;
	lp->n--;
}

uint64_t longpoll_generation(struct longpoll *lp)
{
	pthread_mutex_lock(&lp->lock);
	uint64_t g = lp->generation;
	pthread_mutex_unlock(&lp->lock);
	return g;
}

int longpoll_wait(struct longpoll *lp, struct longpoll_waiter *w, uint64_t generation)
{
	pthread_mutex_lock(&lp->lock);
	if (lp->shutdown) {
		pthread_mutex_unlock(&lp->lock);
		return -ESHUTDOWN;
	}
	if (lp->generation != generation) {
		pthread_mutex_unlock(&lp->lock);
		return -EAGAIN;
	}
	size_t b = bucket_of(w->node_id);
	w->reason = LONGPOLL_WAITING;
	w->prev = NULL;
	w->next = lp->buckets[b];
	w->resume_next = NULL;
	if (w->next)
		w->next->prev = w;
	lp->buckets[b] = w;
	lp->n++;
	/* Suspended under the lock: nobody can resume it before this. */
	http_suspend(w->req);
	pthread_mutex_unlock(&lp->lock);
	return 0;
}

static void resume_list(struct longpoll_waiter *list)
{
	while (list) {
		struct longpoll_waiter *next = list->resume_next;
		/* After this call the request may finish and free `list`. */
		http_resume(list->req);
		list = next;
	}
}

void longpoll_wake(struct longpoll *lp, const char *node_id)
{
	struct longpoll_waiter *list = NULL;
	pthread_mutex_lock(&lp->lock);
	lp->generation++;
	for (struct longpoll_waiter *w = lp->buckets[bucket_of(node_id)], *next; w; w = next) {
		next = w->next;
		if (!streq(w->node_id, node_id))
			continue;
		unlink_waiter(lp, w);
		w->reason = LONGPOLL_JOB;
		w->resume_next = list;
		list = w;
	}
	pthread_mutex_unlock(&lp->lock);
	resume_list(list);
}

int64_t longpoll_expire(struct longpoll *lp, int64_t now_ms)
{
	struct longpoll_waiter *list = NULL;
	int64_t next_deadline = INT64_MAX;
	pthread_mutex_lock(&lp->lock);
	for (size_t b = 0; b < LONGPOLL_BUCKETS && lp->n > 0; b++)
		for (struct longpoll_waiter *w = lp->buckets[b], *next; w; w = next) {
			next = w->next;
			if (w->deadline_ms > now_ms) {
				next_deadline = MIN(next_deadline, w->deadline_ms);
				continue;
			}
			unlink_waiter(lp, w);
			w->reason = LONGPOLL_DEADLINE;
			w->resume_next = list;
			list = w;
		}
	pthread_mutex_unlock(&lp->lock);
	resume_list(list);
	return next_deadline;
}

void longpoll_shutdown(struct longpoll *lp)
{
	struct longpoll_waiter *list = NULL;
	pthread_mutex_lock(&lp->lock);
	lp->shutdown = true;
	for (size_t b = 0; b < LONGPOLL_BUCKETS; b++)
		while (lp->buckets[b]) {
			struct longpoll_waiter *w = lp->buckets[b];
			unlink_waiter(lp, w);
			w->reason = LONGPOLL_SHUTDOWN;
			w->resume_next = list;
			list = w;
		}
	pthread_mutex_unlock(&lp->lock);
	resume_list(list);
}

size_t longpoll_count(struct longpoll *lp)
{
	pthread_mutex_lock(&lp->lock);
	size_t n = lp->n;
	pthread_mutex_unlock(&lp->lock);
	return n;
}
