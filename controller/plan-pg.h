/*
 * plan-pg.h: the PostgreSQL plans (docs/datastores.md "Plans") and the
 * params builder of each job step.  Pure functions over store rows: a plan
 * is a list of steps (name, kind, member, deps, args); params are built
 * when a step starts, from the datastore and its members as they are then,
 * so a plan never needs addresses in advance.
 *
 * Step names: a job type ("pkg.install", "tls.issue", "pg.init", …),
 * "provision", "deprovision", or the internal "finish".  Step args (JSON
 * objects the planner writes and the builder reads):
 *   tls.issue   {"cert":"server"|"repl"|"exporter"}
 *   pg.init     {"admin_verifier":"SCRAM-SHA-256$…"}   (a verifier, not a secret)
 *   pg.service  {"action":"restart","if_pending_restart":true}
 *               or {"action":"restart","if_restart_needed_step":<index>}
 *   backup.full, backup.drill {"backup_id"}; backup.verify {"backup_id","drill"}
 *   pg.restore  {"admin_verifier","source_ds","backup_id","target"}
 *   finish      {"ds_state":"ready"|"deleted","ready":[ordinals],"removed":[ordinals]}
 * others {}.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "store.h"

#define PLAN_STEPS_MAX 256          /* steps of one operation */
#define PLAN_REASON_MAX 256
#define PLAN_TLS_DIR_DEFAULT "/etc/cairn/tls"
#define PLAN_STEP_FINISH "finish"
#define PLAN_STEP_PROVISION "provision"
#define PLAN_STEP_DEPROVISION "deprovision"
#define PLAN_DS_STATE_KEEP "keep"                     /* finish: leave the datastore's state */
#define PLAN_ARG_IF_RESTART_NEEDED "if_restart_needed_step" /* pg.service of backup_config */

/* A plan under construction: steps with heap name/kind/deps/args; the
 * op_id is filled in by whoever stores it. */
struct plan {
	struct store_step *steps;
	size_t n, cap;
};

void plan_done(struct plan *p);

/* create: ordinals 0..nodes-1, 0 the first primary. */
int plan_pg_create(int nodes, const char *admin_verifier, struct plan *ret);
/* restore: as create, with pg.restore (args: {"admin_verifier",
 * "source_ds", "backup_id", "target"}) instead of pg.init. */
int plan_pg_restore(int nodes, json_t *restore_args, struct plan *ret);
/* backup_config: backup.configure on every member (parallel), then
 * pg.service restarts one after another, replicas first, each carrying
 * PLAN_ARG_IF_RESTART_NEEDED = the index of its member's
 * backup.configure step (skipped unless that job's output says
 * restart_needed). */
int plan_backup_configure(int primary, const int *replicas, size_t n_replicas, struct plan *ret);
/* backup: backup.full on `ordinal` → backup.delete (retention) on the
 * primary → finish (the datastore's state is kept). */
int plan_backup(int ordinal, int primary, const char *backup_id, struct plan *ret);
/* verify: backup.verify (→ backup.drill) on `ordinal` → finish. */
int plan_verify(int ordinal, const char *backup_id, bool drill, struct plan *ret);
/* add_node: new replicas `ordinals` (n of them) on a datastore whose
 * primary is `primary`. */
int plan_pg_add_node(int primary, const int *ordinals, size_t n, struct plan *ret);
/* remove_node: the replica `ordinal`. */
int plan_pg_remove_node(int primary, int ordinal, struct plan *ret);
/* configure: pg.config everywhere, restarts replicas first, primary last. */
int plan_pg_configure(int primary, const int *replicas, size_t n_replicas, struct plan *ret);
/* destroy: every member in `ordinals`. */
int plan_pg_destroy(const int *ordinals, size_t n, struct plan *ret);

/* The job params of job step `st` of datastore `ds` whose live members
 * are `members` (removed ones excluded).  `tls_dir` is the agent's
 * tls_dir on the step's node (NULL: PLAN_TLS_DIR_DEFAULT).  Returns 0 and
 * a new object, or -EINVAL with a reason (unknown step, missing address,
 * no primary, bad args). */
int plan_pg_params(const struct store_datastore *ds, const struct store_member *members,
		   size_t n_members, const struct store_step *st, const char *tls_dir, json_t **ret,
		   char reason[static PLAN_REASON_MAX]);

/* From a node's facts (JSON text, the node.facts shape): the first
 * IPv4 address that is not loopback (heap), or -ENOENT. */
int plan_pg_address_from_facts(const char *facts_json, char **ret);
/* The agent's tls_dir from facts ("tls_dir", an absolute path), else
 * PLAN_TLS_DIR_DEFAULT.  Heap string or NULL (ENOMEM). */
char *plan_pg_tls_dir_from_facts(const char *facts_json);

/* Step arrays helpers: index of the first step named `name` about
 * `ordinal` (and with args "cert" = `cert` when non-NULL), or -1. */
int plan_find(const struct plan *p, const char *name, int ordinal, const char *cert);
