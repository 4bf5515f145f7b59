/*
 * pgstatus.h: what the agent knows about the PostgreSQL instances on its
 * node, for the `databases` array of its status report
 * (docs/datastores.md "Status reports"), and the one way the agent opens
 * a libpq connection to a local instance: over the instance's Unix socket
 * as `postgres` (peer authentication, map cairn_local: root → postgres),
 * with a bounded connect and statement time, so that a hung server can
 * never hold the agent's loop.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "exec.h"

#define PGSTATUS_INSTANCES_MAX 64         /* instances reported per node */
#define PGSTATUS_CONNECT_TIMEOUT_MS 2000  /* status reports */
#define PGSTATUS_STATEMENT_TIMEOUT_MS 3000
#define PGSTATUS_INSTANCE_FILE "instance.json" /* <db_dir>/<ds>/instance.json */
#define PGSTATUS_INSTANCE_FILE_MAX 4096

/* The instance of datastore `ds` as recorded by pg.init / pg.replica in
 * <db_dir>/<ds>/instance.json. */
struct pg_instance {
	char version[8]; /* "15" */
	int port;
};

/* Reads <db_dir>/<ds>/instance.json.  0, -ENOENT when there is none, or
 * -EBADMSG for a file that does not parse. */
int pgstatus_instance_load(const char *db_dir, const char *ds, struct pg_instance *ret);
/* Writes it atomically (0644). */
int pgstatus_instance_save(const char *db_dir, const char *ds, const struct pg_instance *inst);

/* Connects to the instance of `ds` (socket <db_dir>/<ds>/run, `port`) as
 * postgres to database postgres, giving up after timeout_ms; sessions get
 * statement_timeout = statement_timeout_ms (0: none).  Returns 0 and a
 * connection, or -errno and *ret_error (heap, libpq's message; may be
 * NULL) — -ECONNREFUSED when the server does not answer. */
int pgstatus_connect(const char *db_dir, const char *ds, int port, int64_t timeout_ms, int64_t statement_timeout_ms,
		     PGconn **ret, char **ret_error);

/* True when the server of `ds` accepts connections (PQping). */
bool pgstatus_ping(const char *db_dir, const char *ds, int port);

/* One entry of the `databases` array for `ds` (a new object). Never fails
 * for a down server: it says running false. */
json_t *pgstatus_instance(const char *db_dir, const char *ds);

/* The `databases` array for every instance under cfg->db_dir (a directory
 * named by a datastore id holding instance.json).  0 and a new array
 * (empty when db_dir is missing), or -errno. */
int pgstatus_collect(const struct exec_config *cfg, json_t **ret_array);

static inline void pq_finishp(PGconn **p)
{
	if (*p)
		PQfinish(*p);
}
#define _cleanup_pgconn_ __attribute__((cleanup(pq_finishp)))
static inline void pq_clearp(PGresult **p)
{
	if (*p)
		PQclear(*p);
}
#define _cleanup_pgresult_ __attribute__((cleanup(pq_clearp)))
