/*
 * operations.h: user actions on datastores become operations — plans of
 * steps with dependencies that this module drives to the end
 * (docs/datastores.md "Model", "Plans").  Each entry point validates the
 * request, then writes the datastore/member changes, the operation and
 * its whole plan in one transaction before it returns, so what the API
 * acknowledges survives a crash.  A driver (ops_tick, called from the
 * runner's ticker, and ops_job_finished, called when a job becomes final)
 * starts steps whose deps succeeded, builds job params from the store as
 * it is at that moment (plan-pg.c), runs provisioners off the ticker
 * thread (provision.c), and finishes or fails operations.
 *
 * Reasons (`reason`, OPS_REASON_MAX bytes) are written for people and
 * never hold a secret.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "util.h"

#define OPS_REASON_MAX 256

struct controller;
struct ops;

struct ops_create_spec {
	const char *name;    /* DNS label, 1..CAIRN_DS_NAME_MAX */
	const char *engine;  /* "postgres" */
	const char *version; /* "15" (majors the agent knows) */
	int nodes;           /* 1..CAIRN_DS_NODES_MAX */
	json_t *size;        /* object or NULL: {"cpus","memory_mb","disk_gb"} integers */
	json_t *settings;    /* object of strings or NULL */
};

struct backup_config_spec;

/* POST /v1/datastores/{id}/restore (docs/backups.md "REST API"). */
struct ops_restore_spec {
	const char *source;           /* source datastore id or name */
	const char *name;             /* the new datastore's name */
	int nodes;                    /* 1..CAIRN_DS_NODES_MAX */
	const char *backup_id;        /* or NULL: selected */
	int64_t target_time;          /* 0: none; else recover to this time */
	const char *target_time_text; /* its RFC 3339 text (sent to the node) */
	const char *target_lsn;       /* or NULL */
	bool in_place;                /* not implemented: -EOPNOTSUPP */
};

struct ops *ops_new(struct controller *c);
void ops_free(struct ops *o);
/* Stops provisioner workers (waits for running programs up to their
 * timeout; their steps stay running and are asked again after restart). */
void ops_stop(struct ops *o);

/* One pass of the driver at wall time `now` (the runner's ticker). */
void ops_tick(struct ops *o, int64_t now);
/* A job became final: moves its step at once. */
void ops_job_finished(struct ops *o, const char *job_id);

/* Each returns 0 and the new operation id in ret_op, or:
 *   -EINVAL  bad request (reason says which member and why)
 *   -ENOENT  no such datastore / member (reason)
 *   -EEXIST  the name is taken (create)
 *   -EBUSY   the datastore has a running operation (reason names it)
 *   -EPERM   not allowed in this state (e.g. removing the primary)
 *   other -errno: internal failure (logged).
 * ret_ds may be NULL where it is not asked. */
int ops_create_datastore(struct ops *o, const struct ops_create_spec *spec,
			 char ret_ds[static UUID_STRING_MAX], char ret_op[static UUID_STRING_MAX],
			 char **ret_password, char reason[static OPS_REASON_MAX]);
int ops_add_nodes(struct ops *o, const char *ds_id_or_name, int count,
		  char ret_op[static UUID_STRING_MAX], char reason[static OPS_REASON_MAX]);
/* `member` is a node id or a member name. */
int ops_remove_node(struct ops *o, const char *ds_id_or_name, const char *member,
		    char ret_op[static UUID_STRING_MAX], char reason[static OPS_REASON_MAX]);
/* `patch`: object, values strings or null (remove). */
int ops_configure(struct ops *o, const char *ds_id_or_name, json_t *patch,
		  char ret_op[static UUID_STRING_MAX], char reason[static OPS_REASON_MAX]);
int ops_destroy(struct ops *o, const char *ds_id_or_name, char ret_op[static UUID_STRING_MAX],
		char reason[static OPS_REASON_MAX]);
/* Backups.  backup_configure stores the configuration (secrets sealed)
 * and starts a backup_config operation in one transaction; backup makes
 * the catalogue row (running) and a backup operation (-EPERM without a
 * configuration); verify needs a completed backup; restore creates a new
 * datastore (like create: *ret_password is shown once) restored from the
 * source's backup (-ENOENT when none fits, -EOPNOTSUPP for in_place). */
int ops_backup_configure(struct ops *o, const char *ds_id_or_name, struct backup_config_spec *spec,
			 char ret_op[static UUID_STRING_MAX], char reason[static OPS_REASON_MAX]);
int ops_backup(struct ops *o, const char *ds_id_or_name, char ret_backup[static UUID_STRING_MAX],
	       char ret_op[static UUID_STRING_MAX], char reason[static OPS_REASON_MAX]);
int ops_verify(struct ops *o, const char *backup_id, bool drill, char ret_op[static UUID_STRING_MAX],
	       char reason[static OPS_REASON_MAX]);
int ops_restore(struct ops *o, const struct ops_restore_spec *spec, char ret_ds[static UUID_STRING_MAX],
		char ret_op[static UUID_STRING_MAX], char **ret_password,
		char reason[static OPS_REASON_MAX]);

/* Failed steps back to pending, the operation (and datastore) running
 * again.  -EBUSY unless the operation is failed and it is the
 * datastore's latest. */
int ops_retry(struct ops *o, const char *op_id, char reason[static OPS_REASON_MAX]);

/* Pure validation (API, tests, fuzzing).  0 or -EINVAL with a reason. */
int ops_validate_name(const char *name, char reason[static OPS_REASON_MAX]);
int ops_validate_settings(json_t *settings, bool allow_null, char reason[static OPS_REASON_MAX]);
