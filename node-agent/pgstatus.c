/*
 * pgstatus.c: local PostgreSQL connections and status entries.
 *
 * Connections use libpq's asynchronous connect (PQconnectStartParams and
 * PQconnectPoll driven by poll() against our own deadline), so the bound
 * is ours and not libpq's whole-second connect_timeout.  A status entry
 * asks a few cheap catalog functions; a server that is down, starting or
 * refusing gives {"running":false} and the role read from PGDATA.
 */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "macro.h"
#include "pgstatus.h"
#include "util.h"

static char *pgs_path(const char *db_dir, const char *ds, const char *leaf)
{
	char *p = NULL;

	if (asprintf(&p, "%s/%s/%s", db_dir, ds, leaf) < 0)
		return NULL;
	return p;
}

int pgstatus_instance_load(const char *db_dir, const char *ds, struct pg_instance *ret)
{
	_cleanup_free_ char *path = pgs_path(db_dir, ds, PGSTATUS_INSTANCE_FILE), *data = NULL;
	_cleanup_json_ json_t *j = NULL;
	struct pg_instance inst = { 0 };
	const char *v;
	json_int_t port;
	int r;

	if (!path)
		return -ENOMEM;
	r = read_file_full(path, PGSTATUS_INSTANCE_FILE_MAX, &data, NULL);
	if (r < 0)
		return r;
	j = json_loads(data, JSON_REJECT_DUPLICATES, NULL);
	v = json_string_value(json_object_get(j, "version"));
	port = json_integer_value(json_object_get(j, "port"));
	if (!v || strlen(v) >= sizeof(inst.version) || port < 1 || port > 65535)
		return -EBADMSG;
	memcpy(inst.version, v, strlen(v) + 1);
	inst.port = (int)port;
	*ret = inst;
	return 0;
}

int pgstatus_instance_save(const char *db_dir, const char *ds, const struct pg_instance *inst)
{
	_cleanup_free_ char *path = pgs_path(db_dir, ds, PGSTATUS_INSTANCE_FILE), *dump = NULL;
	_cleanup_json_ json_t *j = json_pack("{s:s,s:s,s:i}", "ds", ds, "version", inst->version, "port", inst->port);

	if (!path || !j)
		return -ENOMEM;
	dump = json_dumps(j, JSON_COMPACT);
	if (!dump)
		return -ENOMEM;
	return write_string_atomic(path, dump, 0644);
}

int pgstatus_connect(const char *db_dir, const char *ds, int port, int64_t timeout_ms, int64_t statement_timeout_ms,
		     PGconn **ret, char **ret_error)
{
	_cleanup_free_ char *sock = pgs_path(db_dir, ds, "run");
	char port_s[16], options[64];
	const char *keys[] = { "host", "port", "user", "dbname", "application_name", "options", "sslmode", NULL };
	const char *vals[] = { sock, port_s, "postgres", "postgres", "cairn-agent", options, "disable", NULL };
	PGconn *c;
	int64_t deadline = now_mono_ms() + timeout_ms;
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;

	if (!sock)
		return -ENOMEM;
	snprintf(port_s, sizeof(port_s), "%d", port);
	snprintf(options, sizeof(options), "-c statement_timeout=%lld", (long long)statement_timeout_ms);
	c = PQconnectStartParams(keys, vals, 0);
	if (!c)
		return -ENOMEM;
	if (PQstatus(c) == CONNECTION_BAD)
		goto bad;
	for (;;) {
		struct pollfd pfd;
		int64_t left = deadline - now_mono_ms();

		if (st == PGRES_POLLING_OK)
			break;
		if (st == PGRES_POLLING_FAILED)
			goto bad;
		if (left <= 0) {
			PQfinish(c);
			if (ret_error)
				*ret_error = strdup("timed out connecting");
			return -ETIMEDOUT;
		}
		pfd = (struct pollfd){ .fd = PQsocket(c), .events = st == PGRES_POLLING_READING ? POLLIN : POLLOUT };
		if (pfd.fd < 0)
			goto bad;
		if (poll(&pfd, 1, (int)MIN(left, 1000)) < 0 && errno != EINTR)
			goto bad;
		if (pfd.revents || st == PGRES_POLLING_WRITING)
			st = PQconnectPoll(c);
	}
	*ret = c;
	return 0;
bad:
	if (ret_error) {
		const char *m = PQerrorMessage(c);
		size_t n = strlen(m);
		while (n > 0 && (m[n - 1] == '\n' || m[n - 1] == ' '))
			n--;
		*ret_error = strndup(m, n);
	}
	PQfinish(c);
	return -ECONNREFUSED;
}

bool pgstatus_ping(const char *db_dir, const char *ds, int port)
{
	_cleanup_free_ char *sock = pgs_path(db_dir, ds, "run");
	char port_s[16];
	const char *keys[] = { "host", "port", "user", "dbname", "connect_timeout", NULL };
	const char *vals[] = { sock, port_s, "postgres", "postgres", "2", NULL };

	if (!sock)
		return false;
	snprintf(port_s, sizeof(port_s), "%d", port);
	return PQpingParams(keys, vals, 0) == PQPING_OK;
}

/* One row of text values from a query, or NULL. */
static PGresult *pgs_query(PGconn *c, const char *sql)
{
	PGresult *res = PQexec(c, sql);

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) < 1) {
		PQclear(res);
		return NULL;
	}
	return res;
}

static json_t *pgs_int(PGresult *res, int col)
{
	int64_t v;

	if (PQgetisnull(res, 0, col) || parse_int64(PQgetvalue(res, 0, col), INT64_MIN, INT64_MAX, &v) < 0)
		return json_integer(0);
	return json_integer(v);
}

static json_t *pgs_str(PGresult *res, int col)
{
	return PQgetisnull(res, 0, col) ? json_null() : json_string(PQgetvalue(res, 0, col));
}

json_t *pgstatus_instance(const char *db_dir, const char *ds)
{
	_cleanup_free_ char *standby = pgs_path(db_dir, ds, "data/standby.signal"), *err = NULL;
	_cleanup_pgconn_ PGconn *c = NULL;
	_cleanup_pgresult_ PGresult *res = NULL;
	struct pg_instance inst;
	bool replica = standby && access(standby, F_OK) == 0;
	json_t *e = json_pack("{s:s,s:b,s:s}", "ds", ds, "running", false, "role", replica ? "replica" : "primary");

	if (!e)
		return NULL;
	if (pgstatus_instance_load(db_dir, ds, &inst) < 0 ||
	    pgstatus_connect(db_dir, ds, inst.port, PGSTATUS_CONNECT_TIMEOUT_MS, PGSTATUS_STATEMENT_TIMEOUT_MS, &c,
			     &err) < 0)
		return e;

	res = pgs_query(c, "SELECT pg_is_in_recovery(),"
			   " (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()),"
			   " (SELECT count(*) > 0 FROM pg_settings WHERE pending_restart),"
			   " (SELECT timeline_id FROM pg_control_checkpoint())");
	if (!res)
		return e;
	replica = streq(PQgetvalue(res, 0, 0), "t");
	json_object_set_new(e, "running", json_true());
	json_object_set_new(e, "role", json_string(replica ? "replica" : "primary"));
	json_object_set_new(e, "connections", pgs_int(res, 1));
	json_object_set_new(e, "pending_restart", json_boolean(streq(PQgetvalue(res, 0, 2), "t")));
	json_object_set_new(e, "timeline", pgs_int(res, 3));
	PQclear(TAKE_PTR(res));

	/* Lags are clamped at 0: after a restart a standby's receive LSN
	 * starts at the segment it streams from, behind what it already
	 * replayed, until new WAL arrives (the gateway refuses negatives). */
	if (replica) {
		res = pgs_query(c, "SELECT pg_last_wal_receive_lsn()::text, pg_last_wal_replay_lsn()::text,"
				   " GREATEST(COALESCE(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), 0), 0)::bigint,"
				   " CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0"
				   " ELSE COALESCE(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0) END,"
				   " (SELECT received_tli FROM pg_stat_wal_receiver)");
		if (res) {
			double lag_s = PQgetisnull(res, 0, 3) ? 0.0 : strtod(PQgetvalue(res, 0, 3), NULL);

			json_object_set_new(e, "lsn", pgs_str(res, 0));
			json_object_set_new(e, "replay_lsn", pgs_str(res, 1));
			json_object_set_new(e, "lag_bytes", pgs_int(res, 2));
			json_object_set_new(e, "lag_s", json_real(lag_s < 0 ? 0.0 : lag_s));
			if (!PQgetisnull(res, 0, 4))
				json_object_set_new(e, "timeline", pgs_int(res, 4));
		}
		return e;
	}

	res = pgs_query(c, "SELECT pg_current_wal_lsn()::text");
	if (res)
		json_object_set_new(e, "lsn", pgs_str(res, 0));
	PQclear(TAKE_PTR(res));
	res = PQexec(c, "SELECT s.slot_name, s.active,"
			" GREATEST(COALESCE(pg_wal_lsn_diff(pg_current_wal_lsn(), COALESCE(r.replay_lsn, s.restart_lsn)), 0), 0)::bigint"
			" FROM pg_replication_slots s LEFT JOIN pg_stat_replication r ON r.pid = s.active_pid"
			" WHERE s.slot_type = 'physical' ORDER BY s.slot_name LIMIT 64");
	if (PQresultStatus(res) == PGRES_TUPLES_OK) {
		json_t *arr = json_array();

		for (int i = 0; arr && i < PQntuples(res); i++) {
			int64_t lag = 0;

			(void)parse_int64(PQgetvalue(res, i, 2), INT64_MIN, INT64_MAX, &lag);
			json_array_append_new(arr, json_pack("{s:s,s:b,s:I}", "slot", PQgetvalue(res, i, 0), "active",
							     streq(PQgetvalue(res, i, 1), "t"), "lag_bytes",
							     (json_int_t)lag));
		}
		if (arr)
			json_object_set_new(e, "replicas", arr);
	}
	return e;
}

static int pgs_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int pgstatus_collect(const struct exec_config *cfg, json_t **ret_array)
{
	_cleanup_json_ json_t *arr = json_array();
	char *names[PGSTATUS_INSTANCES_MAX];
	size_t n = 0;
	struct dirent *de;
	DIR *d;

	if (!arr)
		return -ENOMEM;
	if (!cfg || !cfg->db_dir) {
		*ret_array = TAKE_PTR(arr);
		return 0;
	}
	d = opendir(cfg->db_dir);
	if (!d) {
		if (errno != ENOENT)
			return -errno;
		*ret_array = TAKE_PTR(arr);
		return 0;
	}
	while ((de = readdir(d)) && n < PGSTATUS_INSTANCES_MAX) {
		struct pg_instance inst;

		if (!uuid_is_valid(de->d_name) || pgstatus_instance_load(cfg->db_dir, de->d_name, &inst) < 0)
			continue;
		names[n] = strdup(de->d_name);
		if (names[n])
			n++;
	}
	closedir(d);
	qsort(names, n, sizeof(names[0]), pgs_name_cmp);
	for (size_t i = 0; i < n; i++) {
		json_t *e = pgstatus_instance(cfg->db_dir, names[i]);
		if (e)
			json_array_append_new(arr, e);
		free(names[i]);
	}
	*ret_array = TAKE_PTR(arr);
	return 0;
}
