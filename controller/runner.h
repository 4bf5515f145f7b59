/*
 * runner.h: the job lifecycle in the controller (docs/protocol.md "Job
 * lifecycle in the controller").  It creates jobs and their signed
 * attempts, applies agents' events and results, times attempts out,
 * schedules retries with backoff, and wakes long polls when an attempt
 * becomes servable.  Every transition is committed before the caller
 * answers.  A ticker thread (RUNNER_TICK_MS) drives deadlines and retries.
 *
 * The decisions themselves are pure functions (runner_decide,
 * runner_attempt_deadline, runner_retry_at) so tests can pin them down.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "aead.h"
#include "protocol.h"
#include "util.h"

#define RUNNER_TICK_MS 200
#define RUNNER_RUN_GRACE_S 30          /* after started + timeout_s */
#define RUNNER_RAW_TIMEOUT_S 300       /* raw jobs ([testing]) */
#define RUNNER_BATCH_MAX 256           /* rows handled per tick and query */

struct controller;
struct runner;
struct store_attempt;

struct runner_job_spec {
	const char *node_id;    /* target node */
	const char *type;       /* known job type */
	json_t *params;         /* object (borrowed) */
	const char *ds;         /* datastore or NULL */
	int64_t epoch;          /* >= 0, 0 when ds is NULL */
	int64_t not_before;     /* 0: now */
	int64_t ttl_s;          /* 0: job_ttl_s */
	int64_t timeout_s;      /* 0: the type's default */
	int64_t max_attempts;   /* 0: job_max_attempts (idempotent types only; others 1) */
};

struct runner *runner_new(struct controller *c);
void runner_free(struct runner *r);
/* Starts / stops the ticker thread. */
int runner_start(struct runner *r);
void runner_stop(struct runner *r);

/* Creates a job (and its first attempt when due now).  Returns 0 and the
 * job id, -ENOENT for an unknown node, -ESTALE for a revoked one, -EINVAL
 * for an unknown type, or -errno. */
int runner_submit(struct runner *r, const struct runner_job_spec *spec,
		  char ret_id[static UUID_STRING_MAX]);
/* Queues a raw JWS verbatim (tests only).  -EEXIST when its jti is taken. */
int runner_submit_raw(struct runner *r, const char *node_id, const char *jws,
		      char ret_id[static UUID_STRING_MAX]);

/* Agent reports.  -ENOENT when the jti is not an attempt for this node. */
int runner_event(struct runner *r, const char *node_id, const char *jti, const char *kind,
		 const char *message);
int runner_result(struct runner *r, const char *node_id, const char *jti,
		  enum cairn_job_state state, const char *message, const char *output_json);

/* One pass of the ticker's work at wall time `now` (exposed for tests). */
void runner_tick(struct runner *r, int64_t now);

/* An attempt of a job with secret parameters is stored with its JWS
 * sealed under the KEK (AAD RUNNER_SEALED_JWS_AAD_PREFIX + node id) and
 * prefixed RUNNER_SEALED_JWS_PREFIX (':' never occurs in a compact JWS).
 * runner_open_jws gives back a heap copy of the JWS to serve: 0 for a
 * clear one, 1 for one it opened (wipe it), -EBADMSG when it does not
 * open. */
#define RUNNER_SEALED_JWS_PREFIX "sealed:"
#define RUNNER_SEALED_JWS_AAD_PREFIX "cairn-job-jws:"
int runner_seal_jws(const uint8_t kek[static AEAD_KEY_LEN], const char *node_id, const char *jws,
		    char **ret);
int runner_open_jws(const uint8_t kek[static AEAD_KEY_LEN], const char *node_id, const char *stored,
		    char **ret);

/* Pure decisions. */
enum runner_decision {
	RUNNER_FINISH, /* the job takes the attempt's state */
	RUNNER_RETRY,  /* a new attempt after backoff */
	RUNNER_SUCCEED, /* the job succeeds */
};
/* What a final attempt state means for a job that is not final, when the
 * attempt is the job's current one. */
enum runner_decision runner_decide(enum cairn_job_state attempt_state, bool idempotent,
				   int attempt_n, int max_attempts);
/* When an attempt in `state` times out: never started → exp + skew;
 * started → started_at + timeout_s + RUNNER_RUN_GRACE_S. */
int64_t runner_attempt_deadline(enum cairn_job_state state, int64_t exp, int64_t started_at,
				int64_t timeout_s, int64_t skew_s);
/* When attempt n+1 is due after attempt n (1-based) ended at `now`:
 * now + full-jitter backoff (base doubling per attempt, capped), >= now+1. */
int64_t runner_retry_at(int64_t now, int64_t base_s, int64_t max_s, int attempt_n);
