/*
 * exec.h: the agent's executors, one table row per job type: a validator
 * for the type's params (the schema: unknown members refused, paths
 * confined) and a function that runs the job.  Each family lives in its
 * own exec-<family>.c; this module holds the table and small helpers the
 * validators share.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "client.h"

struct services;

#define EXEC_REASON_MAX 256 /* buffer for a validator's refusal reason */

/* What the validators and executors may know about the agent. */
struct exec_config {
	const char *state_dir; /* agent state (debug log, certs.json) */
	const char *tls_dir;   /* the only place tls.issue may write */
	const char *db_dir;    /* database files (docs/datastores.md) */
	struct services *services; /* supervised processes (service.h) */
};

/* One running job. */
struct exec_context {
	const struct exec_config *config;
	const char *jti;             /* the job's id (for calls about this job) */
	const char *ds;              /* the job's datastore id (unchecked: executors check uuid_is_valid), or NULL */
	struct client *client;       /* gateway client (mTLS) */
	const char *gateway_url;     /* https://host:port, no trailing '/' */
	/* Called at least once a second by long-running executors: pings the
	 * watchdog and returns false when the agent must stop now (SIGTERM). */
	bool (*keepalive)(void *userdata);
	void *userdata;
};

struct exec_type {
	const char *name; /* as in lib/protocol.c's table */
	/* Returns 0 when params fit the schema, else -EINVAL and a reason in
	 * `reason` (never echoing a value that might be secret). */
	int (*validate)(json_t *params, const struct exec_config *cfg, char *reason, size_t reason_len);
	/* Runs the job.  Returns 0 and *ret_output (a new object), or -errno
	 * and *ret_message (heap, may be NULL) for a failure; -ECANCELED when
	 * keepalive asked to stop, in which case the job counts as not
	 * finished (it is interrupted, or run again after a restart). */
	int (*run)(json_t *params, const struct exec_context *ctx, json_t **ret_output, char **ret_message);
};

/* The executor for `name`, or NULL when the agent does not run that type,
 * lib/protocol.c does not know it, or it is a debug type and debug jobs are
 * not allowed. */
const struct exec_type *exec_lookup(const char *name, bool allow_debug);

/* Validator helper: -EINVAL with a reason when `params` has a member not in
 * the NULL-terminated `known` list. */
int exec_check_members(json_t *params, const char *const *known, char *reason, size_t reason_len);

/* Validator helper: an absolute path confined to `dir` (lib
 * path_is_confined), at most 1024 bytes, no control characters. */
int exec_check_path(json_t *params, const char *member, bool required, const char *dir, char *reason,
		    size_t reason_len);

/* Formats a reason; always returns -EINVAL. */
int exec_reason(char *reason, size_t reason_len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A heap message for an executor's *ret_message, or NULL without memory. */
char *exec_message(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
