/*
 * store.h: the controller's durable state (SQLite in WAL mode; the SQL is
 * kept to what PostgreSQL also accepts).  This is the only module that
 * speaks SQL.  Everything the controller acknowledges is committed here
 * first (synchronous=FULL).
 *
 * Threads: one connection guarded by a recursive mutex.  Every function
 * takes the lock for its own statements; store_tx_begin() takes it for a
 * whole transaction, so that a caller can compose several functions into
 * one atomic step (store_tx_commit/rollback release it).
 *
 * Rows come back as plain structs; timestamps are integer seconds with 0
 * meaning NULL; JSON columns are kept as text (json_t at the edges).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "protocol.h"
#include "util.h"

#define STORE_DB_NAME "controller.db"
#define STORE_BUSY_TIMEOUT_MS 5000
#define STORE_EVENTS_PER_ATTEMPT_MAX 200
#define STORE_LIST_MAX 500

struct store;

enum store_node_state {
	STORE_NODE_PENDING,
	STORE_NODE_ENROLLED,
	STORE_NODE_REVOKED,
	_STORE_NODE_STATE_MAX,
	_STORE_NODE_STATE_INVALID = -EINVAL,
};
const char *store_node_state_to_string(enum store_node_state s);
enum store_node_state store_node_state_from_string(const char *s);

struct store_node {
	char id[UUID_STRING_MAX];     /* UUID */
	char *name;                   /* DNS label */
	enum store_node_state state;  /* pending, enrolled, revoked */
	char *join_token_hash;        /* SHA-256 hex of the current join token, or NULL */
	int64_t join_expires_at;      /* when the join token expires (0: none) */
	int64_t created_at;           /* slot created */
	int64_t enrolled_at;          /* 0 until enrolled */
	int64_t revoked_at;           /* 0 unless revoked */
	char *cert_serial;            /* hex serial of the current node certificate, or NULL */
	int64_t cert_not_after;       /* its expiry (0: none) */
	int64_t last_seq;             /* last delivery seq allocated to the node */
	int64_t settled_seq;          /* the `after` of the node's last pull */
	int64_t last_seen_at;         /* last status report (0: never) */
	char *facts;                  /* JSON text or NULL */
	char *health;                 /* JSON text or NULL */
};

struct store_job {
	char id[UUID_STRING_MAX];       /* the first attempt's jti */
	char node_id[UUID_STRING_MAX];  /* node the job is for */
	char *type;                     /* job type name */
	char *params;                   /* JSON object text */
	char *ds;                       /* datastore id or NULL */
	int64_t epoch;                  /* fencing term */
	enum cairn_job_state state;     /* the job's state */
	int attempt;                    /* attempts created so far */
	int max_attempts;               /* limit (1 for non-idempotent types) */
	bool idempotent;                /* may be retried */
	bool raw;                       /* queued verbatim ([testing] allow_raw_jobs) */
	int64_t ttl_s;                  /* exp - nbf of each attempt */
	int64_t timeout_s;              /* run time after `started` */
	int64_t not_before;             /* earliest nbf */
	int64_t next_attempt_at;        /* when the next attempt is due (0: none) */
	int64_t created_at, updated_at, finished_at;
	char *message;                  /* final message or NULL */
	char *output;                   /* final output JSON text or NULL */
};

struct store_attempt {
	char jti[UUID_STRING_MAX];      /* attempt id (the JWS's jti) */
	char job_id[UUID_STRING_MAX];   /* job it belongs to */
	char node_id[UUID_STRING_MAX];  /* node it is for */
	int n;                          /* 1-based attempt number */
	int64_t seq;                    /* delivery seq */
	char *jws;                      /* the signed job */
	enum cairn_job_state state;     /* attempt state */
	int64_t nbf, exp;               /* validity */
	int64_t deadline_at;            /* when it times out unless final */
	int64_t sent_at, started_at, finished_at;
	char *message;                  /* agent's message or NULL */
	char *output;                   /* agent's output JSON text or NULL */
	int64_t events_dropped;         /* agent events beyond the per-attempt maximum */
};

struct store_event {
	int64_t at;                     /* when recorded */
	char jti[UUID_STRING_MAX];      /* attempt */
	char *kind;                     /* started, progress, log, state */
	char *message;                  /* free text or NULL */
};

/* Opens (creating) <dir>/controller.db and applies pending migrations.
 * Returns 0 or -errno; *ret_error (optional) gets a heap message. */
int store_open(const char *dir, struct store **ret, char **ret_error);
void store_close(struct store *s);
static inline void store_closep(struct store **s) { store_close(*s); }
#define _cleanup_store_ __attribute__((cleanup(store_closep)))

/* Schema version after migrations. */
int store_schema_version(struct store *s);

/* Transactions (BEGIN IMMEDIATE).  begin takes the store lock and keeps it
 * until commit or rollback; transactions do not nest. */
int store_tx_begin(struct store *s);
int store_tx_commit(struct store *s);
void store_tx_rollback(struct store *s);

/* Tokens: hashes only. */
int store_token_add(struct store *s, const char *hash_hex, const char *name, int64_t now);
/* 0 when a token with this hash exists (compared in constant time),
 * -ENOENT otherwise. */
int store_token_check(struct store *s, const char *hash_hex);
int store_token_count(struct store *s, int64_t *ret);

/* Nodes. */
void store_node_done(struct store_node *n);
void store_node_array_free(struct store_node *a, size_t n);
/* -EEXIST when a node that is not revoked has the same name. */
int store_node_create(struct store *s, const char *id, const char *name, const char *join_hash,
		      int64_t join_expires_at, int64_t now);
int store_node_get(struct store *s, const char *id, struct store_node *ret);
int store_node_get_by_join_hash(struct store *s, const char *join_hash, struct store_node *ret);
int store_node_list(struct store *s, struct store_node **ret, size_t *ret_n);
/* Replaces the join token of a pending node; -EBUSY when not pending. */
int store_node_set_join_token(struct store *s, const char *id, const char *join_hash,
			      int64_t join_expires_at);
/* Consumes the join token and records the certificate, atomically and only
 * while the slot is pending, holds this token and it has not expired;
 * -EACCES otherwise. */
int store_node_enroll(struct store *s, const char *id, const char *join_hash, int64_t now,
		      const char *cert_serial, int64_t cert_not_after);
int store_node_set_cert(struct store *s, const char *id, const char *cert_serial,
			int64_t cert_not_after);
/* Revokes the node and cancels its non-final jobs and attempts in one
 * transaction.  -ENOENT unknown, -EALREADY already revoked. */
int store_node_revoke(struct store *s, const char *id, int64_t now);
int store_node_set_status(struct store *s, const char *id, const char *facts_json,
			  const char *health_json, int64_t now);
/* Allocates the node's next delivery seq (call inside a transaction). */
int store_node_next_seq(struct store *s, const char *id, int64_t *ret);
int store_node_count_by_state(struct store *s, int64_t ret[static _STORE_NODE_STATE_MAX]);

/* Jobs and attempts. */
void store_job_done(struct store_job *j);
void store_job_array_free(struct store_job *a, size_t n);
void store_attempt_done(struct store_attempt *a);
void store_attempt_array_free(struct store_attempt *a, size_t n);
void store_event_array_free(struct store_event *a, size_t n);

int store_job_insert(struct store *s, const struct store_job *j);
/* Writes state, attempt, next_attempt_at, updated_at, finished_at, message
 * and output of the job. */
int store_job_update(struct store *s, const struct store_job *j);
int store_job_get(struct store *s, const char *id, struct store_job *ret);
/* Newest first; node_id/state may be NULL/negative for "any". */
int store_job_list(struct store *s, const char *node_id, int state, unsigned limit,
		   struct store_job **ret, size_t *ret_n);
int store_job_count_by_state(struct store *s, int64_t ret[static _CAIRN_JOB_STATE_MAX]);
/* Ids of jobs that are not final and whose next attempt is due. */
int store_jobs_due(struct store *s, int64_t now, unsigned limit, char (**ret)[UUID_STRING_MAX],
		   size_t *ret_n);

int store_attempt_insert(struct store *s, const struct store_attempt *a);
/* Writes state, deadline_at, sent_at, started_at, finished_at, message,
 * output of the attempt. */
int store_attempt_update(struct store *s, const struct store_attempt *a);
int store_attempt_get(struct store *s, const char *jti, struct store_attempt *ret);
int store_attempt_list(struct store *s, const char *job_id, struct store_attempt **ret,
		       size_t *ret_n);
/* Cancels every non-final attempt of the job except `keep_jti` (may be NULL). */
int store_attempts_cancel_open(struct store *s, const char *job_id, const char *keep_jti,
			       int64_t now);
/* jtis of non-final attempts whose deadline passed. */
int store_attempts_overdue(struct store *s, int64_t now, unsigned limit,
			   char (**ret)[UUID_STRING_MAX], size_t *ret_n);

/* The pull: in one transaction, records `after` as the node's settled_seq
 * and selects the node's attempts with seq > after, state
 * pending/sent/running and nbf <= now, in seq order, at most max_jobs and
 * max_bytes of JWS text in total; served pending attempts (and their jobs)
 * become sent.  Appends the JWS strings to `array`.  Returns the count. */
int store_pull(struct store *s, const char *node_id, int64_t after, int64_t now,
	       unsigned max_jobs, size_t max_bytes, json_t *array);

/* Events.  Agent events beyond STORE_EVENTS_PER_ATTEMPT_MAX per attempt
 * are dropped and counted on the attempt: returns 1 when dropped, 0 when
 * stored.  `state` events are the controller's own and always stored. */
int store_event_add(struct store *s, const char *job_id, const char *jti, int64_t at,
		    const char *kind, const char *message);
int store_event_list(struct store *s, const char *job_id, struct store_event **ret,
		     size_t *ret_n);

/* ------------------------------------------------------------------
 * Datastores, members, operations and steps (migration 2;
 * docs/datastores.md "Model").  States are stored as their names.
 * ------------------------------------------------------------------ */

struct store_datastore {
	char id[UUID_STRING_MAX];
	char *name;                   /* DNS label, unique among non-deleted */
	char *engine;                 /* "postgres" */
	char *version;                /* major, "15" */
	int port;                     /* 5432 */
	char *state;                  /* creating, ready, updating, failed, deleting, deleted */
	int64_t epoch;                /* fencing term, >= 1 */
	char *primary_node_id;        /* or NULL before the first member exists */
	char *settings;               /* JSON object text (user PostgreSQL parameters) */
	char *size;                   /* JSON object text (size hints) */
	char *admin_user;             /* "cairn_admin" */
	char *admin_secret;           /* base64url of the password sealed under the KEK; never shown */
	int next_ordinal;             /* ordinal the next member gets */
	int64_t created_at, updated_at;
};

struct store_member {
	char ds_id[UUID_STRING_MAX];
	int ordinal;
	char node_id[UUID_STRING_MAX];
	char *name;                   /* <ds-name>-<ordinal> */
	char *role;                   /* primary, replica */
	char *state;                  /* provisioning, joining, ready, removing, removed */
	char *address;                /* what clients connect to, or NULL until known */
	char *machine_id;             /* provisioner's id, or NULL */
	int64_t created_at, updated_at;
};

struct store_operation {
	char id[UUID_STRING_MAX];
	char ds_id[UUID_STRING_MAX];
	char *kind;                   /* create, add_node, remove_node, configure, destroy */
	char *state;                  /* running, succeeded, failed */
	char *params;                 /* JSON object text (the request) */
	char *message;                /* why it failed, or NULL */
	int64_t created_at, updated_at, finished_at;
};

struct store_step {
	char op_id[UUID_STRING_MAX];
	int idx;                      /* 0-based position in the plan */
	char *name;                   /* job type, "provision", "deprovision" or an internal name */
	char *kind;                   /* job, provision, deprovision, internal */
	int member_ordinal;           /* member the step is about, -1 for none */
	char *deps;                   /* JSON array of step indexes */
	char *args;                   /* JSON object text: planner's arguments for the params builder */
	char *state;                  /* pending, running, succeeded, failed */
	char *job_id;                 /* job of a running/finished job step, or NULL */
	char *message;                /* last message, or NULL */
	int64_t started_at, finished_at;
};

void store_datastore_done(struct store_datastore *d);
void store_datastore_array_free(struct store_datastore *a, size_t n);
void store_member_done(struct store_member *m);
void store_member_array_free(struct store_member *a, size_t n);
void store_operation_done(struct store_operation *o);
void store_operation_array_free(struct store_operation *a, size_t n);
void store_step_done(struct store_step *s);
void store_step_array_free(struct store_step *a, size_t n);

/* -EEXIST when a datastore that is not deleted has the same name. */
int store_datastore_insert(struct store *s, const struct store_datastore *d);
/* Writes state, epoch, primary_node_id, settings, next_ordinal, updated_at. */
int store_datastore_update(struct store *s, const struct store_datastore *d);
/* By id, or by name among datastores that are not deleted.  -ENOENT. */
int store_datastore_get(struct store *s, const char *id_or_name, struct store_datastore *ret);
/* Oldest first; `include_deleted` false hides deleted ones. */
int store_datastore_list(struct store *s, bool include_deleted, struct store_datastore **ret,
			 size_t *ret_n);

int store_member_insert(struct store *s, const struct store_member *m);
/* Writes node_id, role, state, address, machine_id, updated_at. */
int store_member_update(struct store *s, const struct store_member *m);
int store_member_get(struct store *s, const char *ds_id, int ordinal, struct store_member *ret);
/* The member whose node is `node_id` (any datastore).  -ENOENT. */
int store_member_get_by_node(struct store *s, const char *node_id, struct store_member *ret);
/* Ordinal order; `include_removed` false hides removed members. */
int store_member_list(struct store *s, const char *ds_id, bool include_removed,
		      struct store_member **ret, size_t *ret_n);

/* Inserts the operation and its steps (call inside a transaction). */
int store_operation_insert(struct store *s, const struct store_operation *o,
			   const struct store_step *steps, size_t n_steps);
/* Writes state, message, updated_at, finished_at. */
int store_operation_update(struct store *s, const struct store_operation *o);
int store_operation_get(struct store *s, const char *id, struct store_operation *ret);
/* Newest first; ds_id NULL for all; state NULL for any. */
int store_operation_list(struct store *s, const char *ds_id, const char *state, unsigned limit,
			 struct store_operation **ret, size_t *ret_n);
/* The datastore's running operation.  -ENOENT when none. */
int store_operation_running(struct store *s, const char *ds_id, struct store_operation *ret);
int store_operation_count(struct store *s, const char *kind, const char *state, int64_t *ret);

/* Writes state, job_id, message, started_at, finished_at. */
int store_step_update(struct store *s, const struct store_step *st);
int store_step_list(struct store *s, const char *op_id, struct store_step **ret, size_t *ret_n);
/* The step whose job is `job_id`.  -ENOENT. */
int store_step_get_by_job(struct store *s, const char *job_id, struct store_step *ret);

/* ------------------------------------------------------------------
 * Backups (migration 3; docs/backups.md "Controller").
 * ------------------------------------------------------------------ */

/* A datastore's backup configuration: `config` is the JSON text of the
 * PUT body without the S3 secrets, which are kept apart, sealed under the
 * KEK (secrets.h).  full_every_s 0: no schedule. */
struct store_backup_config {
	char ds_id[UUID_STRING_MAX];
	char *config;                 /* JSON object text, no secret in it */
	char *secret_key;             /* sealed, or NULL */
	char *session_token;          /* sealed, or NULL */
	int64_t full_every_s;         /* 0: not scheduled */
	int64_t created_at, updated_at;
};

struct store_backup {
	char id[UUID_STRING_MAX];
	char ds_id[UUID_STRING_MAX];
	char *state;                  /* running, completed, failed, deleting, deleted */
	char *node_id;                /* where it runs/ran, or NULL */
	char *operation_id;           /* the backup operation, or NULL */
	char *job_id;                 /* its backup.full job, or NULL */
	int64_t started_at, finished_at;
	int64_t duration_ms;
	int64_t timeline;             /* 0: unknown */
	char *start_lsn, *stop_lsn, *start_wal, *stop_wal;
	int64_t plain_bytes, stored_bytes, files;
	int64_t verified_at;          /* 0: never */
	char *verify_state;           /* NULL, ok, failed */
	char *message;                /* why it failed, or NULL */
};

void store_backup_config_done(struct store_backup_config *c);
void store_backup_config_array_free(struct store_backup_config *a, size_t n);
void store_backup_done(struct store_backup *b);
void store_backup_array_free(struct store_backup *a, size_t n);

/* Inserts or replaces the datastore's configuration (created_at kept). */
int store_backup_config_put(struct store *s, const struct store_backup_config *c);
int store_backup_config_get(struct store *s, const char *ds_id, struct store_backup_config *ret);
/* -ENOENT when there is none. */
int store_backup_config_delete(struct store *s, const char *ds_id);
/* Every configuration, datastore id order. */
int store_backup_config_list(struct store *s, struct store_backup_config **ret, size_t *ret_n);

/* The datastore's sealed data key (heap), -ENOENT when none was made. */
int store_data_key_get(struct store *s, const char *ds_id, char **ret_sealed);
/* Records it unless one exists: 0 when stored, -EEXIST when one was
 * there already (read it back: the first one wins). */
int store_data_key_insert(struct store *s, const char *ds_id, const char *sealed, int64_t now);

int store_backup_insert(struct store *s, const struct store_backup *b);
/* Writes every column but id, datastore_id, started_at. */
int store_backup_update(struct store *s, const struct store_backup *b);
int store_backup_get(struct store *s, const char *id, struct store_backup *ret);
/* Newest first (started_at); state NULL for any. */
int store_backup_list(struct store *s, const char *ds_id, const char *state,
		      struct store_backup **ret, size_t *ret_n);
/* Every backup in `state` (NULL: any), for metrics. */
int store_backup_count(struct store *s, const char *state, int64_t *ret);
/* Backups of operation `op_id` still running become failed with `message`. */
int store_backup_fail_running(struct store *s, const char *op_id, const char *message, int64_t now);
