/*
 * metrics.c: fixed arrays of counters under one mutex (request paths are
 * short), rendered with open_memstream.  Status codes are bucketed by
 * exact code from a small known list plus "other", so a peer cannot grow
 * the label set.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "controller.h"
#include "longpoll.h"
#include "macro.h"
#include "metrics.h"
#include "store.h"

static const unsigned codes[] = { 0, 200, 201, 400, 401, 403, 404, 405, 409, 410, 413, 415, 429, 500, 503 };
#define N_CODES (ELEMENTSOF(codes) + 1) /* + other */
static const double buckets_s[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60 };
#define N_BUCKETS ELEMENTSOF(buckets_s)

struct metrics {
	pthread_mutex_t lock;                                  /* guards the arrays */
	uint64_t requests[_HTTP_LISTENER_MAX][N_CODES];         /* by listener and code */
	uint64_t latency_bucket[_HTTP_LISTENER_MAX][N_BUCKETS]; /* cumulative histogram */
	uint64_t latency_count[_HTTP_LISTENER_MAX];
	double latency_sum_s[_HTTP_LISTENER_MAX];
	uint64_t ratelimited[_HTTP_LISTENER_MAX];
	uint64_t auth_failed[_HTTP_LISTENER_MAX];
	uint64_t events_dropped;
};

struct metrics *metrics_new(void)
{
	struct metrics *m = calloc(1, sizeof(*m));
	if (m)
		pthread_mutex_init(&m->lock, NULL);
	return m;
}

void metrics_free(struct metrics *m)
{
	if (!m)
		return;
	pthread_mutex_destroy(&m->lock);
	free(m);
}

static size_t code_index(unsigned status)
{
	for (size_t i = 0; i < ELEMENTSOF(codes); i++)
		if (codes[i] == status)
			return i;
	return ELEMENTSOF(codes);
}

void metrics_request(struct metrics *m, enum http_listener l, unsigned status, int64_t latency_ms)
{
	double s = (double)(latency_ms < 0 ? 0 : latency_ms) / 1000.0;
	pthread_mutex_lock(&m->lock);
	m->requests[l][code_index(status)]++;
	for (size_t i = 0; i < N_BUCKETS; i++)
		if (s <= buckets_s[i])
			m->latency_bucket[l][i]++;
	m->latency_count[l]++;
	m->latency_sum_s[l] += s;
	pthread_mutex_unlock(&m->lock);
}

void metrics_ratelimited(struct metrics *m, enum http_listener l)
{
	pthread_mutex_lock(&m->lock);
	m->ratelimited[l]++;
	pthread_mutex_unlock(&m->lock);
}

void metrics_auth_failed(struct metrics *m, enum http_listener l)
{
	pthread_mutex_lock(&m->lock);
	m->auth_failed[l]++;
	pthread_mutex_unlock(&m->lock);
}

void metrics_event_dropped(struct metrics *m)
{
	pthread_mutex_lock(&m->lock);
	m->events_dropped++;
	pthread_mutex_unlock(&m->lock);
}

int metrics_render(struct metrics *m, struct controller *c, char **ret)
{
	int64_t jobs[_CAIRN_JOB_STATE_MAX], nodes[_STORE_NODE_STATE_MAX];
	char *buf = NULL;
	size_t size = 0;
	int r;

	r = store_job_count_by_state(c->store, jobs);
	if (r < 0)
		return r;
	r = store_node_count_by_state(c->store, nodes);
	if (r < 0)
		return r;

	FILE *f = open_memstream(&buf, &size);
	if (!f)
		return -errno;

	fputs("# HELP cairn_jobs Jobs by state.\n# TYPE cairn_jobs gauge\n", f);
	for (int i = 0; i < _CAIRN_JOB_STATE_MAX; i++)
		fprintf(f, "cairn_jobs{state=\"%s\"} %" PRIi64 "\n", cairn_job_state_to_string(i), jobs[i]);
	fputs("# HELP cairn_nodes Nodes by state.\n# TYPE cairn_nodes gauge\n", f);
	for (int i = 0; i < _STORE_NODE_STATE_MAX; i++)
		fprintf(f, "cairn_nodes{state=\"%s\"} %" PRIi64 "\n", store_node_state_to_string(i),
			nodes[i]);
	fputs("# HELP cairn_agents_connected Agents waiting in a long poll.\n"
	      "# TYPE cairn_agents_connected gauge\n",
	      f);
	fprintf(f, "cairn_agents_connected %zu\n", longpoll_count(c->longpoll));

	pthread_mutex_lock(&m->lock);
	fputs("# HELP cairn_http_requests_total Requests answered, by listener and status code.\n"
	      "# TYPE cairn_http_requests_total counter\n",
	      f);
	for (int l = 0; l < _HTTP_LISTENER_MAX; l++)
		for (size_t i = 0; i < N_CODES; i++) {
			if (!m->requests[l][i])
				continue;
			char code[16];
			if (i < ELEMENTSOF(codes))
				snprintf(code, sizeof(code), "%u", codes[i]);
			else
				snprintf(code, sizeof(code), "other");
			fprintf(f, "cairn_http_requests_total{listener=\"%s\",code=\"%s\"} %" PRIu64 "\n",
				http_listener_to_string(l), code, m->requests[l][i]);
		}
	fputs("# HELP cairn_http_request_duration_seconds Request latency, by listener.\n"
	      "# TYPE cairn_http_request_duration_seconds histogram\n",
	      f);
	for (int l = 0; l < _HTTP_LISTENER_MAX; l++) {
		const char *ln = http_listener_to_string(l);
		for (size_t i = 0; i < N_BUCKETS; i++)
			fprintf(f, "cairn_http_request_duration_seconds_bucket{listener=\"%s\",le=\"%g\"} %" PRIu64 "\n",
				ln, buckets_s[i], m->latency_bucket[l][i]);
		fprintf(f, "cairn_http_request_duration_seconds_bucket{listener=\"%s\",le=\"+Inf\"} %" PRIu64 "\n",
			ln, m->latency_count[l]);
		fprintf(f, "cairn_http_request_duration_seconds_sum{listener=\"%s\"} %.6f\n", ln,
			m->latency_sum_s[l]);
		fprintf(f, "cairn_http_request_duration_seconds_count{listener=\"%s\"} %" PRIu64 "\n", ln,
			m->latency_count[l]);
	}
	fputs("# HELP cairn_http_rate_limited_total Requests answered 429.\n"
	      "# TYPE cairn_http_rate_limited_total counter\n",
	      f);
	for (int l = 0; l < _HTTP_LISTENER_MAX; l++)
		fprintf(f, "cairn_http_rate_limited_total{listener=\"%s\"} %" PRIu64 "\n",
			http_listener_to_string(l), m->ratelimited[l]);
	fputs("# HELP cairn_http_auth_failures_total Requests refused for credentials.\n"
	      "# TYPE cairn_http_auth_failures_total counter\n",
	      f);
	for (int l = 0; l < _HTTP_LISTENER_MAX; l++)
		fprintf(f, "cairn_http_auth_failures_total{listener=\"%s\"} %" PRIu64 "\n",
			http_listener_to_string(l), m->auth_failed[l]);
	fputs("# HELP cairn_agent_events_dropped_total Agent events beyond the per-attempt maximum.\n"
	      "# TYPE cairn_agent_events_dropped_total counter\n",
	      f);
	fprintf(f, "cairn_agent_events_dropped_total %" PRIu64 "\n", m->events_dropped);
	pthread_mutex_unlock(&m->lock);

	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	*ret = buf;
	return 0;
}
