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
#include <string.h>

#include "api-datastores.h"
#include "config.h"
#include "controller.h"
#include "health.h"
#include "longpoll.h"
#include "macro.h"
#include "metrics.h"
#include "store.h"

static const unsigned codes[] = { 0, 200, 201, 400, 401, 403, 404, 405, 409, 410, 413, 415, 429, 500, 503 };
#define N_CODES (ELEMENTSOF(codes) + 1) /* + other */
static const char *const op_kinds[] = { "create",        "add_node", "remove_node", "configure",
					"destroy",       "backup",   "backup_config", "verify",
					"restore",       "restore_in_place" };
static const char *const backup_states[] = { "running", "completed", "failed", "deleting", "deleted" };
static const char *const op_states[] = { "running", "succeeded", "failed" };
static const char *const ds_states[] = { "creating", "ready", "updating", "failed", "deleting", "deleted" };
/* Operations take minutes to an hour (pg.replica may copy for 3600 s). */
static const double op_buckets_s[] = { 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200 };
#define N_OP_BUCKETS ELEMENTSOF(op_buckets_s)
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

static size_t index_of(const char *const *names, size_t n, const char *s)
{
	for (size_t i = 0; s && i < n; i++)
		if (streq(names[i], s))
			return i;
	return n;
}

/* Operation counts and durations, datastores by state and health, and
 * reachable nodes: all read from the store at scrape time (operations are
 * human-scale events, so the finished ones are few). */
static int render_datastores(struct controller *c, FILE *f)
{
	int64_t now = now_s(), reachable = 0;
	int64_t ds_count[ELEMENTSOF(ds_states)] = {}, health_count[_HEALTH_MAX] = {};
	uint64_t op_bucket[ELEMENTSOF(op_kinds)][N_OP_BUCKETS] = {}, op_n[ELEMENTSOF(op_kinds)] = {};
	double op_sum[ELEMENTSOF(op_kinds)] = {};
	struct store_datastore *ds = NULL;
	struct store_node *nodes = NULL;
	size_t n = 0;
	int r;

	fputs("# HELP cairn_operations Datastore operations in the store, by kind and state.\n"
	      "# TYPE cairn_operations gauge\n",
	      f);
	for (size_t k = 0; k < ELEMENTSOF(op_kinds); k++)
		for (size_t st = 0; st < ELEMENTSOF(op_states); st++) {
			int64_t count = 0;
			r = store_operation_count(c->store, op_kinds[k], op_states[st], &count);
			if (r < 0)
				return r;
			fprintf(f, "cairn_operations{kind=\"%s\",state=\"%s\"} %" PRIi64 "\n", op_kinds[k],
				op_states[st], count);
		}

	for (size_t st = 1; st < ELEMENTSOF(op_states); st++) {
		struct store_operation *ops = NULL;
		r = store_operation_list(c->store, NULL, op_states[st], METRICS_OPERATIONS_MAX, &ops, &n);
		if (r < 0)
			return r;
		for (size_t i = 0; i < n; i++) {
			size_t k = index_of(op_kinds, ELEMENTSOF(op_kinds), ops[i].kind);
			if (k == ELEMENTSOF(op_kinds) || !ops[i].finished_at)
				continue;
			double d = (double)MAX(ops[i].finished_at - ops[i].created_at, 0);
			for (size_t b = 0; b < N_OP_BUCKETS; b++)
				if (d <= op_buckets_s[b])
					op_bucket[k][b]++;
			op_n[k]++;
			op_sum[k] += d;
		}
		store_operation_array_free(ops, n);
	}
	fputs("# HELP cairn_operation_duration_seconds Duration of finished datastore operations, by kind.\n"
	      "# TYPE cairn_operation_duration_seconds histogram\n",
	      f);
	for (size_t k = 0; k < ELEMENTSOF(op_kinds); k++) {
		for (size_t b = 0; b < N_OP_BUCKETS; b++)
			fprintf(f, "cairn_operation_duration_seconds_bucket{kind=\"%s\",le=\"%g\"} %" PRIu64 "\n",
				op_kinds[k], op_buckets_s[b], op_bucket[k][b]);
		fprintf(f, "cairn_operation_duration_seconds_bucket{kind=\"%s\",le=\"+Inf\"} %" PRIu64 "\n",
			op_kinds[k], op_n[k]);
		fprintf(f, "cairn_operation_duration_seconds_sum{kind=\"%s\"} %.0f\n", op_kinds[k], op_sum[k]);
		fprintf(f, "cairn_operation_duration_seconds_count{kind=\"%s\"} %" PRIu64 "\n", op_kinds[k],
			op_n[k]);
	}

	r = store_datastore_list(c->store, true, &ds, &n);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		size_t st = index_of(ds_states, ELEMENTSOF(ds_states), ds[i].state);
		if (st < ELEMENTSOF(ds_states))
			ds_count[st]++;
		if (ds[i].state && streq(ds[i].state, "deleted"))
			continue;
		enum health h = HEALTH_UNKNOWN;
		if (ads_load_health(c, &ds[i], now, &h, NULL) < 0)
			h = HEALTH_UNKNOWN;
		health_count[h]++;
	}
	store_datastore_array_free(ds, n);
	fputs("# HELP cairn_datastores Datastores by state.\n# TYPE cairn_datastores gauge\n", f);
	for (size_t st = 0; st < ELEMENTSOF(ds_states); st++)
		fprintf(f, "cairn_datastores{state=\"%s\"} %" PRIi64 "\n", ds_states[st], ds_count[st]);
	fputs("# HELP cairn_datastore_health Datastores that are not deleted, by health.\n"
	      "# TYPE cairn_datastore_health gauge\n",
	      f);
	for (int h = 0; h < _HEALTH_MAX; h++)
		fprintf(f, "cairn_datastore_health{health=\"%s\"} %" PRIi64 "\n", health_to_string(h),
			health_count[h]);

	r = store_node_list(c->store, &nodes, &n);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++)
		if (nodes[i].state == STORE_NODE_ENROLLED &&
		    health_member_reachable(nodes[i].last_seen_at, now, ads_unreachable_s(c)))
			reachable++;
	store_node_array_free(nodes, n);
	fputs("# HELP cairn_nodes_reachable Enrolled nodes that reported within node_unreachable_s.\n"
	      "# TYPE cairn_nodes_reachable gauge\n",
	      f);
	fprintf(f, "cairn_nodes_reachable %" PRIi64 "\n", reachable);
	return 0;
}

/* docs/backups.md "Metrics added".  Datastores are named by their name
 * (a DNS label: nothing to escape). */
static int render_backups(struct controller *c, FILE *f)
{
	struct store_backup_config *cfg = NULL;
	size_t n = 0;
	int64_t now = now_s();
	int r;

	fputs("# HELP cairn_backups Backups in the catalogue, by state.\n# TYPE cairn_backups gauge\n", f);
	for (size_t i = 0; i < ELEMENTSOF(backup_states); i++) {
		int64_t count = 0;
		if ((r = store_backup_count(c->store, backup_states[i], &count)) < 0)
			return r;
		fprintf(f, "cairn_backups{state=\"%s\"} %" PRIi64 "\n", backup_states[i], count);
	}
	if ((r = store_backup_config_list(c->store, &cfg, &n)) < 0)
		return r;
	_cleanup_free_ char *succ = NULL, *dur = NULL, *size = NULL, *lag = NULL;
	size_t ls = 0, ld = 0, lz = 0, ll = 0;
	FILE *fs = open_memstream(&succ, &ls), *fd = open_memstream(&dur, &ld),
	     *fz = open_memstream(&size, &lz), *fl = open_memstream(&lag, &ll);
	if (!fs || !fd || !fz || !fl)
		r = -ENOMEM;
	for (size_t i = 0; r >= 0 && i < n; i++) {
		struct store_datastore ds = {};
		struct store_backup *b = NULL;
		size_t nb = 0;
		if (store_datastore_get(c->store, cfg[i].ds_id, &ds) < 0)
			continue;
		if (streq(ds.state, "deleted")) {
			store_datastore_done(&ds);
			continue;
		}
		if (store_backup_list(c->store, ds.id, "completed", &b, &nb) >= 0 && nb > 0) {
			fprintf(fs, "cairn_backup_last_success_timestamp_seconds{datastore=\"%s\"} %" PRIi64 "\n",
				ds.name, b[0].finished_at);
			fprintf(fd, "cairn_backup_last_duration_seconds{datastore=\"%s\"} %.3f\n", ds.name,
				(double)b[0].duration_ms / 1000.0);
			fprintf(fz, "cairn_backup_last_size_bytes{datastore=\"%s\",kind=\"plain\"} %" PRIi64 "\n",
				ds.name, b[0].plain_bytes);
			fprintf(fz, "cairn_backup_last_size_bytes{datastore=\"%s\",kind=\"stored\"} %" PRIi64 "\n",
				ds.name, b[0].stored_bytes);
		}
		store_backup_array_free(b, nb);
		/* WAL archive lag: the primary's last archived time. */
		struct store_node node = {};
		if (ds.primary_node_id && store_node_get(c->store, ds.primary_node_id, &node) >= 0) {
			_cleanup_json_ json_t *st = health_member_status(node.health, ds.id);
			json_t *at = json_object_get(json_object_get(st, "backup"), "last_archived_at");
			if (json_is_integer(at) && json_integer_value(at) > 0)
				fprintf(fl, "cairn_wal_archive_lag_seconds{datastore=\"%s\"} %" PRIi64 "\n", ds.name,
					MAX(now - (int64_t)json_integer_value(at), 0));
			store_node_done(&node);
		}
		store_datastore_done(&ds);
	}
	store_backup_config_array_free(cfg, n);
	if (fs)
		fclose(fs);
	if (fd)
		fclose(fd);
	if (fz)
		fclose(fz);
	if (fl)
		fclose(fl);
	if (r < 0)
		return r;
	fputs("# HELP cairn_backup_last_success_timestamp_seconds When the newest completed backup finished.\n"
	      "# TYPE cairn_backup_last_success_timestamp_seconds gauge\n",
	      f);
	fputs(succ ?: "", f);
	fputs("# HELP cairn_backup_last_duration_seconds How long the newest completed backup took.\n"
	      "# TYPE cairn_backup_last_duration_seconds gauge\n",
	      f);
	fputs(dur ?: "", f);
	fputs("# HELP cairn_backup_last_size_bytes Size of the newest completed backup (plain or stored).\n"
	      "# TYPE cairn_backup_last_size_bytes gauge\n",
	      f);
	fputs(size ?: "", f);
	fputs("# HELP cairn_wal_archive_lag_seconds Seconds since the primary last archived a WAL segment.\n"
	      "# TYPE cairn_wal_archive_lag_seconds gauge\n",
	      f);
	fputs(lag ?: "", f);
	return 0;
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
	r = render_datastores(c, f);
	if (r >= 0)
		r = render_backups(c, f);
	if (r < 0) {
		fclose(f);
		free(buf);
		return r;
	}

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
