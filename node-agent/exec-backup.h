/*
 * exec-backup.h: the backup executors (docs/backups.md "Jobs"):
 * backup.configure, backup.full, backup.verify, backup.drill,
 * backup.delete, and the pieces of them the offline sub-command and
 * pg.restore share (verification of a stored backup, progress events).
 */
#pragma once

#include <stdint.h>

#include "backup-keys.h"
#include "s3.h"
#include "exec.h"

#define BACKUP_BUNDLE_SIZE_DEFAULT (256ULL * 1024 * 1024)
#define BACKUP_BUNDLE_SIZE_MIN (1ULL * 1024 * 1024)
#define BACKUP_BUNDLE_SIZE_MAX (32ULL * 1024 * 1024 * 1024) /* under 10000 parts of 5 MiB */
#define BACKUP_PARALLEL_DEFAULT 2
#define BACKUP_PARALLEL_MAX 16
#define BACKUP_ARCHIVE_WAIT_MS (15 * 60 * 1000) /* for stop_wal to reach the archive */
#define BACKUP_PROGRESS_INTERVAL_MS 5000

struct backup_verify_stats {
	uint64_t files;
	uint64_t bytes;
	uint64_t wal_segments;
};

/* Checks a stored backup: manifest, every bundle against every file's
 * SHA-256, and every WAL segment from start_wal to stop_wal decrypts.
 * keepalive may be NULL.  0 or -errno and a message naming the object. */
int backup_verify_stored(const struct backup_target *t, const char *backup_id, bool (*keepalive)(void *),
			 void *userdata, struct backup_verify_stats *ret, char **ret_message);

/* Downloads, decrypts and checks the manifest of backup_id (its
 * backup_id and datastore_id must match). */
int backup_fetch_manifest(struct s3_client *c, const struct backup_target *t, const char *backup_id, json_t **ret,
			  char **ret_message);

/* Downloads bundle bi of a checked manifest and splits it into its files
 * under dirfd (dirfd < 0: checks only).  ret_bytes (may be NULL): file
 * bytes. */
int backup_get_bundle(struct s3_client *c, const struct backup_target *t, json_t *manifest, size_t bi, int dirfd,
		      uint64_t *ret_bytes, char **ret_message);

/* Sends a progress event for the running job (best effort). */
void backup_progress_event(const struct exec_context *ctx, const char *message, double progress);

int exec_backup_configure_validate(json_t *params, const struct exec_config *cfg, char *reason, size_t reason_len);
int exec_backup_configure_run(json_t *params, const struct exec_context *ctx, json_t **ret_output,
			      char **ret_message);
int exec_backup_full_validate(json_t *params, const struct exec_config *cfg, char *reason, size_t reason_len);
int exec_backup_full_run(json_t *params, const struct exec_context *ctx, json_t **ret_output, char **ret_message);
int exec_backup_verify_validate(json_t *params, const struct exec_config *cfg, char *reason, size_t reason_len);
int exec_backup_verify_run(json_t *params, const struct exec_context *ctx, json_t **ret_output, char **ret_message);
int exec_backup_delete_validate(json_t *params, const struct exec_config *cfg, char *reason, size_t reason_len);
int exec_backup_delete_run(json_t *params, const struct exec_context *ctx, json_t **ret_output, char **ret_message);
