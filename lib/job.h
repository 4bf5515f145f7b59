/*
 * job.h: the job payload (DESIGN.md "Jobs"), built by the controller and
 * checked by the agent.  This module checks form only (members, types,
 * ranges); the agent's verify module applies the rules that need its own
 * state (sub, seq floor, time, epoch, params schema).
 */
#pragma once

#include <stdint.h>

#include <jansson.h>

#include "util.h"

/* Limits of the form checks (named maxima, DESIGN.md leaves them open). */
#define JOB_DS_MAX 64                            /* datastore id length */
#define JOB_TYPE_MAX 64                          /* job type name length */
#define JOB_TIME_MAX INT64_C(9007199254740991)   /* iat/nbf/exp: 0 … 2^53-1 */

struct job_claims {
	char jti[UUID_STRING_MAX]; /* job attempt id, UUID */
	char *sub;                 /* node id */
	int64_t iat, nbf, exp;     /* seconds since the epoch */
	int64_t seq;               /* 1 … 2^53-1 */
	char *ds;                  /* datastore id, or NULL */
	int64_t epoch;             /* >= 0; 0 when ds is NULL */
	char *type;                /* job type name */
	json_t *params;            /* object (owned reference) */
};

/* Reads and checks every member: all present with the right type, jti a
 * UUID, sub 1..CAIRN_NODE_ID_MAX bytes, iat/nbf/exp integers in
 * 0..JOB_TIME_MAX, seq in range, ds a string (1..JOB_DS_MAX) or null,
 * epoch >= 0 (0 when ds is null), type 1..JOB_TYPE_MAX bytes, params an
 * object, no unknown member.  Numbers must be JSON integers (1.0 fails).  On failure returns -EINVAL with a
 * static *ret_reason.  On success fills *ret (free with job_claims_done). */
int job_claims_from_json(json_t *payload, struct job_claims *ret, const char **ret_reason);

/* Builds the payload object (new reference) or NULL. */
json_t *job_claims_to_json(const struct job_claims *c);

/* Frees the members (not the struct). */
void job_claims_done(struct job_claims *c);

/* Reads just a UUID `jti` from a payload that may be otherwise invalid.
 * Returns 0 or -ENOENT. */
int job_payload_jti(json_t *payload, char ret[static UUID_STRING_MAX]);
