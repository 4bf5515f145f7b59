/*
 * metrics.h: counters behind GET /metrics (Prometheus text exposition).
 * Request counts and latency by listener and status code, rate-limited
 * answers and dropped agent events are counted here as they happen; job
 * and node counts come from the store, and connected agents from the
 * long-poll table, at scrape time; so do the datastore families
 * (docs/datastores.md "Controller metrics added"): operations by kind and
 * state, finished operations' durations, datastores by state and health,
 * reachable nodes.
 */
#pragma once

#include <stdint.h>

#include "http.h"

/* Finished operations read per state for the duration histogram (the
 * newest ones; the store caps a list at STORE_LIST_MAX). */
#define METRICS_OPERATIONS_MAX 500

struct metrics;
struct controller;

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

/* One finished request (status 0: the connection ended without answer). */
void metrics_request(struct metrics *m, enum http_listener l, unsigned status, int64_t latency_ms);
void metrics_ratelimited(struct metrics *m, enum http_listener l);
void metrics_event_dropped(struct metrics *m);
void metrics_auth_failed(struct metrics *m, enum http_listener l);

/* Renders the exposition text.  Returns 0 and a heap string, or -errno. */
int metrics_render(struct metrics *m, struct controller *c, char **ret);
