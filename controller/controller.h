/*
 * controller.h: the daemon's state object.  It owns the configuration,
 * keys, store, rate limiters, long-poll table, runner, operations engine,
 * metrics and both
 * listeners; the modules reach each other through it.
 *
 * Lifecycle: controller_new() loads keys and opens the store (failures are
 * reported and exit before readiness), controller_start() binds the
 * listeners and starts the ticker, controller_run() waits for SIGTERM or
 * SIGINT, controller_free() stops gracefully: long polls are resumed and
 * answered before the listeners stop.
 */
#pragma once

#include "config.h"

struct config;
struct keys;
struct store;
struct ratelimit;
struct longpoll;
struct runner;
struct ops;
struct metrics;
struct http_server;

struct controller {
	struct config *config;            /* owned */
	struct keys *keys;                /* owned */
	struct store *store;              /* owned */
	struct ratelimit *rl_api;         /* per API token hash */
	struct ratelimit *rl_gateway;     /* per node id */
	struct ratelimit *rl_enroll;      /* per peer address: enrolment */
	struct ratelimit *rl_auth_fail;   /* per peer address: failed credentials */
	struct longpoll *longpoll;        /* agents waiting for jobs */
	struct runner *runner;            /* job lifecycle and ticker */
	struct ops *ops;                  /* datastore operations engine (driven by the ticker) */
	struct metrics *metrics;          /* counters */
	struct http_server *api;          /* API listener */
	struct http_server *gateway;      /* agent gateway listener */
};

/* Takes ownership of `config`.  Returns 0 or -errno (after logging why). */
int controller_new(struct config *config, struct controller **ret);
/* Binds both listeners and starts the ticker.  Returns 0 or -errno. */
int controller_start(struct controller *c);
/* Blocks until SIGTERM/SIGINT.  Signals must have been blocked by
 * controller_block_signals() before any thread was started. */
int controller_run(struct controller *c);
/* Blocks the signals controller_run() waits for (call first in main). */
int controller_block_signals(void);
/* Stops listeners gracefully and frees everything; NULL is fine. */
void controller_free(struct controller *c);
