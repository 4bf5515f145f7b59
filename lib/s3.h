/*
 * s3.h: a small S3 client over libcurl (multi interface) and OpenSSL.
 *
 * What the agent needs for backups and restores, and no more: PUT/GET/HEAD
 * of small objects, batch delete, listing, a streaming multipart upload
 * whose memory is (parallel + 1) part buffers whatever the object size, a
 * streaming download of ranged GETs in parallel delivered in order, and the
 * cleanup of stale multipart uploads.  Requests are signed with AWS SigV4
 * (lib/sigv4), path-style or virtual-hosted, for any endpoint and region,
 * with an optional session token.
 *
 * A client is single-threaded: one curl multi per client carries every
 * request, so connections (and TLS sessions) are reused across requests,
 * parts and ranges.  Transient failures (5xx, 408, 429, timeouts, connection
 * errors) are retried with exponential backoff and full jitter (200 ms base,
 * 10 s cap) up to max_attempts; other 4xx return at once with S3's error
 * parsed.  Every response body read has a maximum.  No secret ever reaches
 * an error message.  docs/s3.md is the operator-facing description.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "s3xml.h"

#define S3_PART_SIZE_DEFAULT (8U * 1024U * 1024U)
#define S3_PART_SIZE_MIN (5U * 1024U * 1024U)
#define S3_PART_SIZE_MAX (512U * 1024U * 1024U)
#define S3_PARALLEL_DEFAULT 4U
#define S3_PARALLEL_MAX 64U
#define S3_ATTEMPTS_DEFAULT 5U
#define S3_PARTS_MAX 10000U /* S3's limit of parts per upload */
#define S3_KEY_MAX 1024U    /* S3's limit of a key, bytes */
#define S3_DELETE_BATCH 1000U
#define S3_BACKOFF_BASE_MS 200
#define S3_BACKOFF_MAX_MS 10000

struct s3_config {
	const char *endpoint;      /* "https://host[:port]" or "http://…" (loopback tests) */
	const char *region;        /* signing region, "us-east-1" when NULL */
	const char *bucket;        /* bucket name */
	const char *access_key;    /* access key id */
	const char *secret_key;    /* secret access key */
	const char *session_token; /* STS session token or NULL */
	bool virtual_hosted;       /* bucket.host/key instead of host/bucket/key */
	const char *ca_file;       /* PEM CA bundle; NULL: the system store */
	size_t part_size;          /* multipart part and download range size; 0: 8 MiB; min 5 MiB */
	unsigned parallel;         /* parts or ranges in flight; 0: 4 */
	unsigned max_attempts;     /* tries per request; 0: 5 */
	unsigned connect_timeout_s;   /* 0: 10 s */
	unsigned low_speed_timeout_s; /* abort a transfer under 1 B/s for this long; 0: 30 s */
	unsigned list_max_keys;    /* ListObjectsV2 page size; 0: 1000 */
};

/* Why an operation failed.  op/key say which request; http_status is 0 for
 * a transport failure (code "Transport", message from curl). */
struct s3_error {
	char op[32];          /* "PUT", "GET", "UploadPart", … */
	long http_status;     /* HTTP status or 0 */
	char code[64];        /* S3 error code, "Transport", or "" */
	char message[256];    /* S3's or curl's message */
	char request_id[96];  /* x-amz-request-id or <RequestId> */
	char key[256];        /* object key (truncated) or "" for bucket-level */
};

/* Longest text s3_error_format() writes. */
#define S3_ERROR_TEXT_MAX 768U

struct s3_client;
struct s3_upload;

/* Formats e as "s3 PUT backups/x: 403 SignatureDoesNotMatch: … (request id …)"
 * into buf (size n, NUL-terminated, truncated); returns buf. */
const char *s3_error_format(const struct s3_error *e, char *buf, size_t n);

/* Checks cfg and makes a client.  Copies every string it needs; the
 * secrets are wiped when the client is freed.  -EINVAL on a bad endpoint,
 * bucket, missing credentials or out-of-range sizes; -ENOMEM. */
int s3_client_new(const struct s3_config *cfg, struct s3_client **ret);

/* Frees the client (NULL fine).  Uploads must be freed first. */
void s3_client_free(struct s3_client *c);

/* PUT of a whole object from memory (one request). */
int s3_put(struct s3_client *c, const char *key, const void *data, size_t len, struct s3_error *err);

/* GET of a whole object into memory, at most max bytes (-E2BIG beyond).
 * *ret is NUL-terminated (one byte past *ret_len), free() it. */
int s3_get(struct s3_client *c, const char *key, size_t max, void **ret, size_t *ret_len, struct s3_error *err);

/* HEAD: object size.  -ENOENT when absent. */
int s3_head(struct s3_client *c, const char *key, uint64_t *ret_size, struct s3_error *err);

/* Deletes keys with DeleteObjects in batches of S3_DELETE_BATCH.  Absent
 * keys are not an error (S3's semantics).  -EIO when S3 reports a key it
 * could not delete (err names the first). */
int s3_delete(struct s3_client *c, const char *const *keys, size_t n, struct s3_error *err);

/* Lists keys under prefix (ListObjectsV2, following continuation tokens),
 * calling cb for each object in key order; cb returning < 0 stops the
 * listing and that value is returned.  The object passed to cb lives until
 * cb returns. */
int s3_list(struct s3_client *c, const char *prefix, int (*cb)(void *ud, const struct s3_object *o), void *ud,
	    struct s3_error *err);

/* Starts a streaming upload of key.  Nothing is sent before the first
 * part is full (or s3_upload_finish()). */
int s3_upload_begin(struct s3_client *c, const char *key, struct s3_upload **ret);

/* Copies buf into the current part buffer; a full part starts uploading
 * (the first one after CreateMultipartUpload).  Blocks, driving transfers,
 * while all parallel + 1 buffers are busy.  After a failure every later call
 * returns the same error. */
int s3_upload_write(struct s3_upload *u, const void *buf, size_t len, struct s3_error *err);

/* Completes the upload: a single PUT when the object fit in one part, else
 * the last part and CompleteMultipartUpload (an <Error> in its 200 answer
 * is a failure).  Then the object exists. */
int s3_upload_finish(struct s3_upload *u, struct s3_error *err);

/* Frees an upload (NULL fine); an unfinished multipart upload is aborted
 * (AbortMultipartUpload, best effort). */
void s3_upload_free(struct s3_upload *u);

/* Bytes accepted by s3_upload_write() so far. */
uint64_t s3_upload_size(const struct s3_upload *u);

/* Streams key to sink: HEAD for the size, then ranged GETs of part_size,
 * `parallel` in flight, delivered in order; a failed range is retried from
 * where it stopped.  sink returning < 0 aborts and that value is returned. */
int s3_download(struct s3_client *c, const char *key, int (*sink)(void *ud, const void *buf, size_t len), void *ud,
		struct s3_error *err);

/* Aborts the multipart uploads under prefix started more than older_than_s
 * seconds ago.  Returns how many were aborted, or -errno. */
int s3_abort_stale_uploads(struct s3_client *c, const char *prefix, int64_t older_than_s, struct s3_error *err);
