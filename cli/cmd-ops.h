/*
 * cmd-ops.h: `cairnctl op show|watch|list|retry`: the operations of
 * datastores (docs/datastores.md "Model", "REST API").  `watch` is also
 * what `datastore … --wait` runs after its 202.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "client.h"
#include "options.h"

#define OPS_WATCH_INTERVAL_MS 1000
#define OPS_WATCH_ERRORS_MAX 30  /* consecutive failed polls before giving up */

enum ops_cmd {
	OPS_SHOW,
	OPS_WATCH,
	OPS_LIST,
	OPS_RETRY,
};

struct ops_args {
	enum ops_cmd cmd;
	const char *id;         /* show, watch, retry */
	const char *datastore;  /* list --datastore NAME */
	int64_t timeout_s;      /* watch --timeout S (0: none) */
	bool wait;              /* retry --wait */
};

/* Parses argv (argv[0] is the subcommand) into *ret.  Returns 0, or
 * -EINVAL after printing the reason on stderr (exit 2). */
int ops_args_parse(int argc, char **argv, struct ops_args *ret);

/* The progress line of one step: "[5/17] pg.init on db1-0: running".
 * The number is the step's "index" + 1 (its array position `pos` + 1 when
 * the step has no index); `member` names the step's node (NULL: none, e.g. an internal step);
 * the step's message follows a failed state.  Heap string or NULL. */
char *ops_step_line(json_t *step, size_t pos, size_t total, const char *member);

/* Follows operation `id` until it is final, printing a line for every step
 * whose state changed (text) and, at the end, the result and, on failure,
 * the failed steps' messages.  Progress goes to `progress` (stdout for
 * `op watch`, stderr when the caller prints JSON).  The final operation
 * is stored in *ret_op when non-NULL.  Returns 0 when it succeeded,
 * CTL_EXIT_TIMEOUT (124) when timeout_s (> 0) passed first, 1 otherwise
 * (failed, interrupted, controller unreachable). */
int ops_watch(struct ctl_client *c, const char *id, int64_t timeout_s, FILE *progress, json_t **ret_op);

/* argv[0] is "op".  Returns the process exit status. */
int cmd_ops(const struct ctl_options *o, struct ctl_client *c, int argc, char **argv);
