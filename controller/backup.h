/*
 * backup.h: the controller side of backups (docs/backups.md
 * "Controller"): backup configurations (validated, secrets sealed and
 * redacted), per-datastore data keys, the params of the backup.* and
 * pg.restore job steps, the catalogue updates when those jobs end, and
 * the pure decisions the tests pin down: retention, schedule, restore
 * selection.
 *
 * The operations engine (operations.c) owns the plans and drives them;
 * it calls backup_step_params() when a backup step starts and
 * backup_job_finished() when its job is final.  Nothing here logs a
 * secret.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "operations.h"
#include "store.h"

#define BACKUP_REDACTED "(redacted)"
#define BACKUP_ENDPOINT_MAX 512
#define BACKUP_REGION_MAX 64
#define BACKUP_PREFIX_MAX 256
#define BACKUP_KEY_ID_MAX 256         /* access_key */
#define BACKUP_SECRET_MAX 4096        /* secret_key, session_token */
#define BACKUP_CA_PEM_MAX (64 * 1024)
#define BACKUP_EVERY_MIN_S 300        /* schedule.full_every_s */
#define BACKUP_EVERY_MAX_S (366 * 86400)
#define BACKUP_COUNT_MAX 10000        /* retention.count */
#define BACKUP_BUNDLE_MIN (1024 * 1024)
#define BACKUP_BUNDLE_MAX (INT64_C(16) * 1024 * 1024 * 1024)
#define BACKUP_BUNDLE_DEFAULT (256 * 1024 * 1024)
#define BACKUP_PARALLEL_MAX 16
#define BACKUP_PARALLEL_DEFAULT 2
#define BACKUP_COMPRESSION_DEFAULT 3
#define BACKUP_RETRY_AFTER_FAILURE_S 3600 /* schedule: a failed backup is retried after min(this, every) */
#define BACKUP_RECONFIGURE_EVERY_S 60     /* backup.configure to a node whose keys are not loaded */

struct controller;

/* ---- pure ------------------------------------------------------------- */

/* A parsed PUT body.  `config` is the whole configuration without the
 * secrets (defaults filled in); secret_key/session_token borrow from the
 * body: NULL when absent or null, BACKUP_REDACTED to keep the stored one. */
struct backup_config_spec {
	json_t *config;               /* owned */
	const char *secret_key;
	const char *session_token;
	int64_t full_every_s;         /* 0: no schedule */
};
void backup_config_spec_done(struct backup_config_spec *s);

/* Validates PUT /v1/datastores/{id}/backup-config (docs/backups.md):
 * endpoint https://, or http:// only to 127.0.0.0/8, ::1, localhost or
 * 198.18.0.0/15; bucket names by S3's rules (3–63 of [a-z0-9.-], starting
 * and ending with a letter or digit, no "..", not an IPv4 address);
 * prefix [A-Za-z0-9._/-], no leading or trailing '/', no "//" or "..";
 * region [a-z0-9-]; ranges of the numbers.  0 or -EINVAL and a reason. */
int backup_parse_config(json_t *body, struct backup_config_spec *ret,
			char reason[static OPS_REASON_MAX]);

/* The stored configuration as GET shows it: secrets "(redacted)" when
 * set, null otherwise.  New reference or NULL. */
json_t *backup_config_to_json(const struct store_backup_config *c);

/* A catalogue row as the API shows it; bytes_done < 0 leaves it out. */
json_t *backup_to_json(const struct store_backup *b, int64_t bytes_done);

/* What retention looks at: a catalogue row. */
struct backup_item {
	const char *id;
	const char *state;            /* only "completed" ones are counted or deleted */
	int64_t started_at;
	const char *start_wal;
};
struct backup_policy {
	int64_t count;                /* keep the newest `count` completed (0: no count rule) */
	int64_t max_age_s;            /* and every one younger (0: no age rule) */
};
/* Retention (docs/backups.md "Target, schedule, retention"): writes the
 * indexes of the completed backups to delete into ret_delete (room for
 * n) and their number, and the WAL segment before which WAL may go (the
 * start_wal of the oldest completed backup kept; NULL when none is kept
 * or known).  Never selects the newest completed backup; running, failed
 * and deleting ones are never counted nor selected.  A policy with
 * neither rule keeps everything. */
void backup_retention_select(const struct backup_item *b, size_t n, const struct backup_policy *p,
			     int64_t now, size_t *ret_delete, size_t *ret_n_delete,
			     const char **ret_wal_before);

/* The scheduler: is a full backup due at `now`?  newest_ok_started_at is
 * the start of the newest running or completed backup (0: none),
 * newest_failed_started_at that of the newest failed one (0: none). */
bool backup_schedule_due(int64_t full_every_s, int64_t newest_ok_started_at,
			 int64_t newest_failed_started_at, bool op_running, int64_t now);

/* Restore selection among rows `b` (any order): `backup_id` when given
 * (it must be completed); else with target_time > 0 the newest completed
 * one whose finished_at is before it; else the newest completed.  0 and
 * the index, or -ENOENT. */
struct backup_pick {
	const char *id;
	const char *state;
	int64_t started_at, finished_at;
};
int backup_restore_select(const struct backup_pick *b, size_t n, const char *backup_id,
			  int64_t target_time, size_t *ret_idx);

/* An RFC 3339 UTC time ("2026-11-23T10:00:00Z", fraction allowed and
 * dropped, or an offset "+01:00") to seconds.  0 or -EINVAL. */
int backup_parse_time(const char *s, int64_t *ret);
/* "X/Y" with X and Y 1..8 hex digits. */
bool backup_lsn_ok(const char *s);

/* ---- with the controller ---------------------------------------------- */

/* The datastore's data key (32 bytes), made and stored sealed the first
 * time it is asked for.  ret is wiped by the caller. */
int backup_data_key(struct controller *c, const char *ds_id, uint8_t ret[static 32]);
/* The same, standard base64 (heap; wipe with freezero_strp). */
int backup_data_key_b64(struct controller *c, const char *ds_id, char **ret);

/* Stores a configuration from a parsed PUT body: seals the secrets
 * (keeping stored ones for "(redacted)"), makes the data key.  -EINVAL
 * with a reason when "(redacted)" is sent and nothing is stored. */
int backup_config_store(struct controller *c, const char *ds_id, struct backup_config_spec *spec,
			char reason[static OPS_REASON_MAX]);

/* The job params of a backup step (backup.configure, backup.full,
 * backup.verify, backup.drill, backup.delete, pg.restore) of datastore
 * `ds`.  Returns 0 and a new object, 1 when the step has nothing to do
 * (backup.delete with nothing to delete), -EINVAL with a reason. */
int backup_step_params(struct controller *c, const struct store_datastore *ds,
		       const struct store_step *st, json_t **ret, char reason[static OPS_REASON_MAX]);
/* True for the step names backup_step_params() builds. */
bool backup_step_is_ours(const char *name);

/* A backup step's job was submitted / became final: the catalogue
 * follows (backup row running with its job, completed with the job's
 * output or failed with its message; verify_state).  Idempotent. */
void backup_job_submitted(struct controller *c, const struct store_step *st, const char *job_id);
void backup_job_finished(struct controller *c, const struct store_operation *op,
			 const struct store_step *st, const struct store_job *job);

/* The scheduler's pass (runner tick): a `backup` operation for every
 * datastore whose schedule is due. */
void backup_schedule_tick(struct controller *c, int64_t now);

/* A node reported `backup: {configured, keys_loaded:false}` for
 * datastore `ds_id`: sends it backup.configure (at most once per
 * BACKUP_RECONFIGURE_EVERY_S per node). */
void backup_keys_missing(struct controller *c, const char *node_id, const char *ds_id, int64_t now);
