/*
 * backup-object.h: one stored backup object, in either direction.  A put
 * pipes plaintext through a bstream writer (compress, encrypt under the
 * object's name) into one streaming S3 upload, so memory is the writer's
 * chunk plus the upload's part buffers whatever the object's size.  A get
 * streams the object (ranged GETs) through a bstream reader to a sink; the
 * sink sees only authenticated plaintext, and the object is complete and
 * authentic only when backup_get() returns 0.
 *
 * Object names are the logical names of docs/backups.md ("wal/…",
 * "backups/<id>/bundle-0003"); the S3 key adds the target's prefix and
 * the datastore id.  Every failure sets a heap message naming the object
 * (never a secret).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "backup-keys.h"
#include "s3.h"

#define BACKUP_MESSAGE_MAX 1024

struct backup_put;

/* Starts writing object `name`.  0 or -errno and *ret_message. */
int backup_put_begin(struct s3_client *c, const struct backup_target *t, const char *name, struct backup_put **ret,
		     char **ret_message);

/* Adds plaintext. */
int backup_put_write(struct backup_put *p, const void *buf, size_t len, char **ret_message);

/* Seals the stream and completes the upload; then the object exists.
 * ret_plain/ret_stored (may be NULL) get the byte counts. */
int backup_put_finish(struct backup_put *p, uint64_t *ret_plain, uint64_t *ret_stored, char **ret_message);

/* Frees (an unfinished upload is aborted). NULL fine. */
void backup_put_free(struct backup_put *p);

/* Stores a whole buffer as object `name`. */
int backup_put_buffer(struct s3_client *c, const struct backup_target *t, const char *name, const void *buf,
		      size_t len, char **ret_message);

/* Streams object `name` to sink (plaintext pieces).  -ENOENT (and no
 * message) when the object does not exist; -EBADMSG when it fails to
 * open (message names the object and the reason).  ret_stored (may be
 * NULL) gets the stored size. */
int backup_get(struct s3_client *c, const struct backup_target *t, const char *name,
	       int (*sink)(void *ud, const void *buf, size_t len), void *ud, uint64_t *ret_stored,
	       char **ret_message);

/* Reads a whole object of at most max plaintext bytes into a heap buffer
 * (NUL-terminated). */
int backup_get_buffer(struct s3_client *c, const struct backup_target *t, const char *name, size_t max,
		      char **ret, size_t *ret_len, char **ret_message);

/* A heap message "what: s3 error text" (helper for the callers). */
char *backup_s3_message(const char *what, const struct s3_error *e, int r);

static inline void backup_put_freep(struct backup_put **p) { backup_put_free(*p); }
#define _cleanup_backup_put_ __attribute__((cleanup(backup_put_freep)))
static inline void s3_client_freep(struct s3_client **c) { s3_client_free(*c); }
#define _cleanup_s3_client_ __attribute__((cleanup(s3_client_freep)))
