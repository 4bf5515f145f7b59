/*
 * longpoll.h: agents waiting in GET /v1/agent/jobs.  A waiter is a
 * suspended request with a deadline, filed under its node id; it is
 * resumed when a job for the node arrives (longpoll_wake), when its
 * deadline passes (longpoll_expire, from the runner's ticker), or at
 * shutdown.  libmicrohttpd never times out a suspended connection, so
 * every waiter has a deadline.
 *
 * A waiter is removed from the table before its request is resumed, and
 * resumption happens outside the table's lock; the request cannot finish
 * while suspended, so the waiter stays valid until then.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct http_request;
struct longpoll;

enum longpoll_reason {
	LONGPOLL_WAITING,   /* still in the table */
	LONGPOLL_JOB,       /* a job for the node arrived */
	LONGPOLL_DEADLINE,  /* the wait ended */
	LONGPOLL_SHUTDOWN,  /* the controller is stopping */
};

struct longpoll_waiter {
	char node_id[UUID_STRING_MAX];       /* key */
	struct http_request *req;            /* the suspended request */
	int64_t deadline_ms;                 /* monotonic */
	enum longpoll_reason reason;         /* why it was resumed */
	struct longpoll_waiter *prev, *next; /* bucket chain */
	struct longpoll_waiter *resume_next; /* resumption list (lock-free part) */
};

struct longpoll *longpoll_new(void);
void longpoll_free(struct longpoll *lp);

/* A counter bumped by every wake.  A handler reads it before it looks for
 * jobs and passes it to longpoll_wait(), which refuses to suspend when a
 * wake happened in between (so no job can slip past a waiting agent). */
uint64_t longpoll_generation(struct longpoll *lp);

/* Files the waiter (node_id, req and deadline_ms filled in) and suspends
 * its request, atomically with respect to wake/expire.  Returns 0,
 * -EAGAIN when a wake happened since `generation` (look again), or
 * -ESHUTDOWN when the controller is stopping (the caller answers at once). */
int longpoll_wait(struct longpoll *lp, struct longpoll_waiter *w, uint64_t generation);

/* Resumes every waiter of the node.  Thread-safe. */
void longpoll_wake(struct longpoll *lp, const char *node_id);
/* Resumes waiters whose deadline is <= now_ms.  Returns the next deadline
 * (INT64_MAX when none). */
int64_t longpoll_expire(struct longpoll *lp, int64_t now_ms);
/* Resumes everyone and refuses new waiters. */
void longpoll_shutdown(struct longpoll *lp);
/* Waiters in the table. */
size_t longpoll_count(struct longpoll *lp);
