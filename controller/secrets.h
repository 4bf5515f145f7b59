/*
 * secrets.h: values the controller keeps sealed under its KEK
 * (AES-256-GCM, lib/aead.h), in base64url text so they fit a TEXT column
 * or a JSON string.  The AAD names the value's place, so a sealed value
 * copied elsewhere does not open:
 *
 *   cairn-job-secret:<job-id>:<dotted path>   secret job parameters
 *   cairn-ds-data-key:<ds-id>                 a datastore's backup data key
 *   cairn-backup-s3:<ds-id>:<member>          S3 secrets of a backup config
 *
 * Secret job parameters (docs/backups.md "Secret job parameters"): when a
 * job row is written, every parameter the job type table lists as secret
 * is replaced by {"$sealed": "<base64url>"}; it is opened only to sign an
 * attempt for delivery.  Nothing here logs a value.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "aead.h"

#define SECRETS_JOB_AAD_PREFIX "cairn-job-secret:"
#define SECRETS_DATA_KEY_AAD_PREFIX "cairn-ds-data-key:"
#define SECRETS_S3_AAD_PREFIX "cairn-backup-s3:"
#define SECRETS_SEALED_MEMBER "$sealed"
#define SECRETS_AAD_MAX 256
#define SECRETS_DATA_KEY_LEN 32

/* Seals `len` bytes under `kek` with `aad`; *ret is base64url text.
 * Returns 0 or -errno. */
int secrets_seal(const uint8_t kek[static AEAD_KEY_LEN], const char *aad, const void *pt,
		 size_t len, char **ret);
/* Opens what secrets_seal made.  *ret is NUL-terminated (wipe it:
 * freezero).  -EBADMSG when it does not open (wrong aad, key or bytes). */
int secrets_open(const uint8_t kek[static AEAD_KEY_LEN], const char *aad, const char *sealed,
		 unsigned char **ret, size_t *ret_len);

/* Seals, in place, every secret parameter of job type `type` in `params`
 * (an object) for job `job_id`.  Null values and values already sealed are
 * left alone.  Returns the number sealed or -errno. */
int secrets_job_seal(const uint8_t kek[static AEAD_KEY_LEN], const char *job_id, const char *type,
		     json_t *params);
/* Opens, in place, every sealed secret parameter.  Returns the number
 * opened, or -EBADMSG (the params are then partly opened: discard them). */
int secrets_job_open(const uint8_t kek[static AEAD_KEY_LEN], const char *job_id, const char *type,
		     json_t *params);

/* Wipes, in place, the clear string values of the secret parameters of
 * job type `type` in `params` (before the object is freed). */
void secrets_job_wipe(const char *type, json_t *params);
