/*
 * verify.h: the agent's acceptance rules for a job (DESIGN.md "Jobs"),
 * applied in order: form, signature, payload, sub, seq, time, epoch, type,
 * params.  Pure: the answer depends only on the JWS, the state passed in
 * and `now`, so every rule has a unit test.  Nothing here writes state;
 * the caller persists the floors before it runs the job.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "exec.h"
#include "job.h"
#include "jws.h"
#include "util.h"

#define VERIFY_REASON_MAX 256

/* What verification needs to know about the agent. */
struct verify_ctx {
	const char *node_id;                /* our id, compared byte for byte */
	const struct jws_keyring *keyring;  /* trusted job keys by kid */
	int64_t accepted_seq;               /* acceptance floor: seq must be above */
	json_t *epochs;                     /* ds → highest epoch seen (object) */
	int64_t skew_s;                     /* allowed clock skew */
	bool allow_debug;                   /* accept debug.* types */
	const struct exec_config *exec;     /* for the params validators */
};

struct verify_result {
	bool jti_readable;            /* `jti` holds a UUID read from the payload */
	char jti[UUID_STRING_MAX];
	bool signature_ok;            /* the signature verified under a trusted kid */
	int64_t seq;                  /* seq of a verified payload (0 if none could be read) */
	char reason[VERIFY_REASON_MAX]; /* why it was refused ("" when accepted) */
	/* When accepted: */
	struct job_claims claims;     /* the payload (free with verify_result_done) */
	bool have_claims;
	const struct exec_type *exec; /* the executor for claims.type */
};

void verify_result_done(struct verify_result *r);

/* Checks `jws` (len bytes, not NUL-terminated necessarily).  Always fills
 * *ret (release with verify_result_done).  Returns 0 when the job may run,
 * -EPERM when it is refused (ret->reason says why), -ENOMEM. */
int verify_job(const char *jws, size_t len, const struct verify_ctx *ctx, int64_t now, struct verify_result *ret);
