/*
 * backup-keys.h: the backup targets the agent holds in memory, one per
 * datastore (docs/backups.md "Backup configuration").  A target is the S3
 * endpoint and credentials plus the datastore's 32-byte data key: the
 * secrets live only here, in one mmap'd region that is mlock'd (never
 * swapped), excluded from core dumps, and wiped when an entry is replaced
 * or dropped.  The store is shared by the job thread (backup.configure,
 * backup.full, pg.restore) and the control socket thread (wal-push,
 * wal-fetch), so every access goes through a mutex and readers get a
 * copy, which they wipe with backup_target_wipe().
 *
 * The module also holds the small helpers every backup path shares: the
 * S3 key of an object, an S3 client for a target, base64 of a data key,
 * and the key's fingerprint.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "bstream.h"
#include "s3.h"

#define BACKUP_KEYS_MAX 64              /* datastores whose keys one agent holds */
#define BACKUP_ENDPOINT_MAX 512
#define BACKUP_REGION_MAX 64
#define BACKUP_BUCKET_MAX 64            /* S3 bucket names are 3..63 */
#define BACKUP_PREFIX_MAX 256
#define BACKUP_ACCESS_KEY_MAX 256
#define BACKUP_SECRET_KEY_MAX 256
#define BACKUP_SESSION_TOKEN_MAX 4096
#define BACKUP_PATH_MAX 1024
#define BACKUP_DS_MAX 37                /* a uuid and its NUL */
#define BACKUP_FINGERPRINT_HEX 17       /* 8 bytes hex and NUL */

struct backup_target {
	char ds[BACKUP_DS_MAX];
	char endpoint[BACKUP_ENDPOINT_MAX];
	char region[BACKUP_REGION_MAX];
	char bucket[BACKUP_BUCKET_MAX];
	char prefix[BACKUP_PREFIX_MAX];     /* no leading or trailing '/', may be empty */
	char access_key[BACKUP_ACCESS_KEY_MAX];
	char secret_key[BACKUP_SECRET_KEY_MAX];
	char session_token[BACKUP_SESSION_TOKEN_MAX]; /* "" when none */
	char ca_file[BACKUP_PATH_MAX];      /* "" for the system store */
	bool virtual_hosted;
	int level;                          /* zstd level */
	uint8_t data_key[BSTREAM_KEY_LEN];
};

/* Wipes a target copy (secrets included). */
void backup_target_wipe(struct backup_target *t);
/* Wipes and frees a heap copy (for _cleanup_target_). */
void backup_target_freep(struct backup_target **t);
#define _cleanup_target_ _cleanup_(backup_target_freep)

/* Fills t from a job's `s3` object and base64 `data_key` (as in
 * backup.configure and pg.restore's `source`), for datastore ds.  The CA
 * PEM, when given, is not kept here: the caller writes it to a file and
 * sets t->ca_file.  0, or -EINVAL with a reason naming the member (never a
 * value). */
int backup_target_from_json(const char *ds, json_t *s3, json_t *data_key, int level, struct backup_target *t,
			    char *reason, size_t reason_len);

/* Checks the members of an `s3` object as the validators do. */
int backup_check_s3_json(json_t *s3, const char *where, char *reason, size_t reason_len);

/* Decodes standard base64 of exactly 32 bytes.  0 or -EINVAL. */
int backup_key_decode(const char *b64, uint8_t ret[static BSTREAM_KEY_LEN]);

/* HMAC-SHA256(key, "cairn-key-fingerprint"), 8 bytes, hex. */
int backup_key_fingerprint(const uint8_t key[static BSTREAM_KEY_LEN], char ret[static BACKUP_FINGERPRINT_HEX]);

/* The S3 key of an object: "<prefix>/<ds>/<name>" ("<ds>/<name>" without
 * a prefix).  Heap string or NULL. */
char *backup_object_key(const struct backup_target *t, const char *name);

/* An S3 client for t with `parallel` requests in flight (0: default). */
int backup_target_client(const struct backup_target *t, unsigned parallel, struct s3_client **ret);

/* Stores (or replaces, wiping the old one) the target of t->ds.  0,
 * -ENOSPC when BACKUP_KEYS_MAX other datastores are held, -ENOMEM when
 * the locked region cannot be made. */
int backup_keys_set(const struct backup_target *t);

/* Copies the target of ds into *ret.  0 or -ENOKEY when none is held. */
int backup_keys_get(const char *ds, struct backup_target *ret);

/* True when the keys of ds are held. */
bool backup_keys_loaded(const char *ds);

/* Wipes and forgets the target of ds (no error when absent). */
void backup_keys_drop(const char *ds);

/* Wipes every entry (tests, shutdown). */
void backup_keys_clear(void);

/* pg.destroy: drops the keys of ds and removes its non-secret backup
 * files under state_dir (the stored objects stay). */
void backup_forget(const char *state_dir, const char *ds);
