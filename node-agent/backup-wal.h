/*
 * backup-wal.h: the WAL archive of a datastore (docs/backups.md): what
 * `wal-push` stores and `wal-fetch` returns, done by the agent on the
 * descriptor the client passed.  Segments live at wal/<TLI>/<name>,
 * timeline history files at wal/<TLI>.history.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "backup-keys.h"

#define BACKUP_WAL_NAME_MAX 64
#define BACKUP_WAL_SEGMENT_MAX (1024 * 1024 * 1024) /* PostgreSQL's largest wal_segment_size */

/* True for a name PostgreSQL archives: a segment (24 upper-case hex
 * digits), optionally ".partial" or ".XXXXXXXX.backup", or a history file
 * "XXXXXXXX.history". */
bool backup_wal_name_is_valid(const char *name);

/* True for a plain 24-hex segment name. */
bool backup_wal_is_segment(const char *name);

/* The object name of a WAL file ("wal/00000001/0000000100…03",
 * "wal/00000002.history") into ret.  -EINVAL for a bad name. */
int backup_wal_object_name(const char *name, char ret[static 96]);

/* The segment after `seg` for 16 MiB segments (the only size Cairn
 * makes).  -EINVAL for a bad name. */
int backup_wal_next_segment(const char *seg, char ret[static 25]);

/* Stores the WAL file open on fd as `name`.  Already stored: decrypts it
 * and compares SHA-256 with the file: equal is success, different is
 * -EEXIST (never overwritten).  *ret_message on failure. */
int backup_wal_push(const struct backup_target *t, int fd, const char *name, char **ret_message);

/* Writes `name` from the archive to fd (truncated first) and fsyncs it.
 * -ENOENT without a message when it is not in the archive. */
int backup_wal_fetch(const struct backup_target *t, const char *name, int fd, char **ret_message);

/* True when object `name` exists (HEAD).  0/1 or -errno. */
int backup_wal_exists(const struct backup_target *t, const char *name, char **ret_message);

/* Path of the non-secret description of ds's backup configuration:
 * <state_dir>/backup/<ds>.json.  Heap string or NULL. */
char *backup_config_path(const char *state_dir, const char *ds);
