/*
 * backup-manifest.h: the backup manifest, format 1 (docs/backups.md
 * "Manifest").  Built by backup.full from what it stored, parsed by every
 * reader (verify, drill, restore, the offline sub-command).  A parsed
 * manifest is checked whole before anything acts on it: sizes within
 * limits, every path relative and confined (no "..", no absolute path, no
 * control characters), every file in an existing bundle at the offset
 * that the files before it in that bundle imply, each bundle's
 * plain_bytes the sum of its files.  So a manifest that decrypted (it is
 * authenticated) but was made by a buggy or hostile writer can still not
 * make a restore write outside its directory.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define BACKUP_MANIFEST_FORMAT 1
#define BACKUP_MANIFEST_MAX (256U * 1024U * 1024U) /* bytes of JSON */
#define BACKUP_MANIFEST_FILES_MAX 4000000U
#define BACKUP_MANIFEST_BUNDLES_MAX 100000U
#define BACKUP_MANIFEST_PATH_MAX 1024
#define BACKUP_MANIFEST_LABEL_MAX (64 * 1024)
#define BACKUP_ID_MAX 64

/* True for a relative path of at most BACKUP_MANIFEST_PATH_MAX bytes made
 * of printable ASCII components other than "", "." and "..". */
bool backup_path_is_safe(const char *path);

/* True for a backup id: [A-Za-z0-9_-]{1,64} (the controller's ids are uuids). */
bool backup_id_is_valid(const char *id);

/* Checks a manifest object as above.  0 or -EINVAL with a reason. */
int backup_manifest_check(json_t *m, char *reason, size_t reason_len);

/* Parses and checks manifest text.  0 and a new object, or -EINVAL with a
 * reason. */
int backup_manifest_parse(const char *buf, size_t len, json_t **ret, char *reason, size_t reason_len);

/* The bundle object name of index i ("backups/<id>/bundle-0003"). */
int backup_bundle_name(const char *backup_id, size_t i, char *ret, size_t n);
