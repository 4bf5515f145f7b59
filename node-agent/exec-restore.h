/*
 * exec-restore.h: restoring a stored backup (docs/backups.md): the core
 * that writes a backup into a new directory (used by pg.restore,
 * backup.drill and `cairn-agent backup restore`), the pg.restore executor
 * and the backup.drill executor.
 */
#pragma once

#include <stdbool.h>

#include "backup-keys.h"
#include "exec.h"

#define RESTORE_MARKER "cairn.restored" /* <PGDATA>/cairn.restored: the backup id restored there */
#define RESTORE_DRILL_PORT 5432
#define RESTORE_DRILL_TIMEOUT_MS (6 * 3600 * 1000)

/* Writes backup_id into `dir` (made 0700; it must not exist): every
 * directory and file of the manifest (each file's size and SHA-256
 * checked, fsynced), backup_label, empty pg_wal; with_wal: also WAL from
 * start_wal to stop_wal into pg_wal.  ret_manifest (may be NULL) gets the
 * manifest.  keepalive may be NULL. */
int backup_restore_into(const struct backup_target *t, const char *backup_id, const char *dir, bool with_wal,
			bool (*keepalive)(void *), void *userdata, json_t **ret_manifest, char **ret_message);

/* The restore_command (or archive_command) setting's value for ds:
 * "<agent> wal-fetch [--socket S] --ds <ds> %f %p".  Heap or NULL. */
char *backup_restore_command(const char *ds, char **ret_message);

int exec_pg_restore_validate(json_t *params, const struct exec_config *cfg, char *reason, size_t reason_len);
int exec_pg_restore_run(json_t *params, const struct exec_context *ctx, json_t **ret_output, char **ret_message);
int exec_backup_drill_validate(json_t *params, const struct exec_config *cfg, char *reason, size_t reason_len);
int exec_backup_drill_run(json_t *params, const struct exec_context *ctx, json_t **ret_output, char **ret_message);
