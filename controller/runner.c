/*
 * runner.c: job lifecycle.  Each public entry point is one store
 * transaction; long polls are woken only after the commit, so an agent
 * never sees an attempt that could still roll back.
 *
 * Attempts are created when due (at submission, or by the ticker for
 * retries and future not_before), so their iat/nbf are the real issue
 * time and delivery seqs follow delivery order.  The first attempt's jti
 * is the job id.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backup.h"
#include "config.h"
#include "controller.h"
#include "job.h"
#include "jws.h"
#include "keys.h"
#include "log.h"
#include "longpoll.h"
#include "macro.h"
#include "metrics.h"
#include "operations.h"
#include "runner.h"
#include "secrets.h"
#include "store.h"

struct runner {
	struct controller *c;     /* owner */
	pthread_t thread;         /* ticker */
	bool running;             /* ticker started */
	pthread_mutex_t lock;     /* guards stop and cond */
	pthread_cond_t cond;      /* wakes the ticker to stop */
	bool stop;                /* ticker must exit */
	int64_t last_db_tick;     /* wall second of the last store pass */
	int64_t last_sched_tick;  /* wall second of the last backup schedule pass */
};

enum runner_decision runner_decide(enum cairn_job_state attempt_state, bool idempotent,
				   int attempt_n, int max_attempts)
{
	if (attempt_state == CAIRN_JOB_SUCCEEDED)
		return RUNNER_SUCCEED;
	if ((attempt_state == CAIRN_JOB_FAILED || attempt_state == CAIRN_JOB_INTERRUPTED ||
	     attempt_state == CAIRN_JOB_TIMED_OUT) &&
	    idempotent && attempt_n < max_attempts)
		return RUNNER_RETRY;
	return RUNNER_FINISH;
}

int64_t runner_attempt_deadline(enum cairn_job_state state, int64_t exp, int64_t started_at,
				int64_t timeout_s, int64_t skew_s)
{
	if (state == CAIRN_JOB_RUNNING && started_at > 0)
		return started_at + timeout_s + RUNNER_RUN_GRACE_S;
	return exp + skew_s;
}

int64_t runner_retry_at(int64_t now, int64_t base_s, int64_t max_s, int attempt_n)
{
	unsigned a = attempt_n > 1 ? (unsigned)(attempt_n - 1) : 0;
	if (a > 40)
		a = 40;
	int64_t ms = backoff_ms(base_s * 1000, max_s * 1000, a);
	int64_t s = (ms + 999) / 1000;
	return now + (s < 1 ? 1 : s);
}

struct runner *runner_new(struct controller *c)
{
	struct runner *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->c = c;
	pthread_mutex_init(&r->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->cond, &ca);
	pthread_condattr_destroy(&ca);
	return r;
}

void runner_free(struct runner *r)
{
	if (!r)
		return;
	runner_stop(r);
	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

static void event(struct runner *r, const char *job_id, const char *jti, int64_t now,
		  const char *fmt, ...) _printf_(5, 6);
static void event(struct runner *r, const char *job_id, const char *jti, int64_t now,
		  const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* The audit trail is best effort inside the transaction: a failure
	 * here is logged by the store and does not undo the transition. */
	(void)store_event_add(r->c->store, job_id, jti, now, "state", msg);
}

static int jws_aad(const char *node_id, char aad[static SECRETS_AAD_MAX])
{
	int n = snprintf(aad, SECRETS_AAD_MAX, RUNNER_SEALED_JWS_AAD_PREFIX "%s", node_id);
	return n > 0 && n < SECRETS_AAD_MAX ? 0 : -ENAMETOOLONG;
}

int runner_seal_jws(const uint8_t kek[static AEAD_KEY_LEN], const char *node_id, const char *jws,
		    char **ret)
{
	_cleanup_free_ char *b = NULL;
	char aad[SECRETS_AAD_MAX], *s = NULL;
	int q = jws_aad(node_id, aad);
	if (q < 0)
		return q;
	q = secrets_seal(kek, aad, jws, strlen(jws), &b);
	if (q < 0)
		return q;
	if (asprintf(&s, RUNNER_SEALED_JWS_PREFIX "%s", b) < 0)
		return -ENOMEM;
	*ret = s;
	return 0;
}

int runner_open_jws(const uint8_t kek[static AEAD_KEY_LEN], const char *node_id, const char *stored,
		    char **ret)
{
	unsigned char *clear = NULL;
	char aad[SECRETS_AAD_MAX];
	size_t len = 0;
	int q;

	if (strncmp(stored, RUNNER_SEALED_JWS_PREFIX, strlen(RUNNER_SEALED_JWS_PREFIX)) != 0) {
		char *s = strdup(stored);
		if (!s)
			return -ENOMEM;
		*ret = s;
		return 0;
	}
	if ((q = jws_aad(node_id, aad)) < 0)
		return q;
	q = secrets_open(kek, aad, stored + strlen(RUNNER_SEALED_JWS_PREFIX), &clear, &len);
	if (q < 0)
		return q;
	*ret = (char *)clear;
	return 1;
}

/* Creates, signs and stores attempt n of `job` (inside a transaction) and
 * updates the job row.  Returns 0 or -errno. */
static int create_attempt(struct runner *r, struct store_job *job, const char *jti, int64_t now)
{
	struct store *s = r->c->store;
	_cleanup_json_ json_t *params = NULL, *payload = NULL;
	_cleanup_free_ char *jws = NULL;
	int64_t seq;
	int q;

	params = json_loads(job->params, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(params))
		return -EINVAL;
	/* Secret params are opened only here, to sign; the stored attempt
	 * then holds the JWS sealed (gateway.c opens it for the pull). */
	int n_secrets = secrets_job_open(r->c->keys->kek, job->id, job->type, params);
	if (n_secrets < 0) {
		log_error_errno(n_secrets, "job %s: its secret parameters do not open", job->id);
		return n_secrets;
	}
	q = store_node_next_seq(s, job->node_id, &seq);
	if (q < 0)
		return q;

	struct job_claims claims = {
		.sub = job->node_id,
		.iat = now,
		.nbf = now,
		.exp = now + job->ttl_s,
		.seq = seq,
		.ds = job->ds,
		.epoch = job->epoch,
		.type = job->type,
		.params = params,
	};
	snprintf(claims.jti, sizeof(claims.jti), "%s", jti);
	payload = job_claims_to_json(&claims);
	if (!payload)
		return -ENOMEM;
	q = jws_sign(r->c->keys->job_key, r->c->keys->job_kid, payload, &jws);
	/* The payload shares params: their clear secrets go now. */
	if (n_secrets > 0)
		secrets_job_wipe(job->type, params);
	if (q < 0)
		return q;
	if (n_secrets > 0) {
		char *sealed = NULL;
		q = runner_seal_jws(r->c->keys->kek, job->node_id, jws, &sealed);
		freezero_strp(&jws);
		if (q < 0)
			return q;
		jws = sealed;
	}

	struct store_attempt a = {
		.n = job->attempt + 1,
		.seq = seq,
		.jws = jws,
		.state = CAIRN_JOB_PENDING,
		.nbf = claims.nbf,
		.exp = claims.exp,
		.deadline_at = runner_attempt_deadline(CAIRN_JOB_PENDING, claims.exp, 0, job->timeout_s,
						       CAIRN_SKEW_DEFAULT_S),
	};
	snprintf(a.jti, sizeof(a.jti), "%s", jti);
	snprintf(a.job_id, sizeof(a.job_id), "%s", job->id);
	snprintf(a.node_id, sizeof(a.node_id), "%s", job->node_id);
	q = store_attempt_insert(s, &a);
	if (q < 0)
		return q;

	job->attempt = a.n;
	job->state = CAIRN_JOB_PENDING;
	job->next_attempt_at = 0;
	job->updated_at = now;
	q = store_job_update(s, job);
	if (q < 0)
		return q;
	event(r, job->id, jti, now, "attempt %d created (seq %" PRIi64 ")", a.n, seq);
	return 0;
}

int runner_submit(struct runner *r, const struct runner_job_spec *spec,
		  char ret_id[static UUID_STRING_MAX])
{
	struct controller *c = r->c;
	const struct cairn_job_type_info *ti = cairn_job_type_lookup(spec->type);
	_cleanup_free_ char *params = NULL;
	_cleanup_json_ json_t *copy = NULL;
	struct store_node node = {};
	struct store_job job = {};
	int64_t now = now_s();
	int q;

	if (!ti || !json_is_object(spec->params))
		return -EINVAL;
	q = uuid_random(job.id);
	if (q < 0)
		return q;
	/* The row never holds a secret param in clear (docs/backups.md
	 * "Secret job parameters"). */
	copy = json_deep_copy(spec->params);
	if (!copy)
		return -ENOMEM;
	q = secrets_job_seal(c->keys->kek, job.id, spec->type, copy);
	if (q < 0)
		return q;
	params = json_dumps(copy, JSON_COMPACT | JSON_SORT_KEYS);
	if (!params)
		return -ENOMEM;
	snprintf(job.node_id, sizeof(job.node_id), "%s", spec->node_id);
	job.type = (char *)spec->type;
	job.params = params;
	job.ds = (char *)spec->ds;
	job.epoch = spec->ds ? spec->epoch : 0;
	job.state = CAIRN_JOB_PENDING;
	job.idempotent = ti->idempotent;
	job.max_attempts = ti->idempotent ? (int)(spec->max_attempts ?: c->config->job_max_attempts) : 1;
	job.ttl_s = spec->ttl_s ?: c->config->job_ttl_s;
	job.timeout_s = spec->timeout_s ?: ti->default_timeout_s;
	job.not_before = spec->not_before > now ? spec->not_before : now;
	job.next_attempt_at = job.not_before > now ? job.not_before : 0;
	job.created_at = job.updated_at = now;

	q = store_tx_begin(c->store);
	if (q < 0)
		return q;
	q = store_node_get(c->store, spec->node_id, &node);
	if (q < 0)
		goto fail;
	if (node.state == STORE_NODE_REVOKED) {
		q = -ESTALE;
		goto fail;
	}
	q = store_job_insert(c->store, &job);
	if (q < 0)
		goto fail;
	event(r, job.id, job.id, now, "submitted");
	if (!job.next_attempt_at) {
		q = create_attempt(r, &job, job.id, now);
		if (q < 0)
			goto fail;
	}
	q = store_tx_commit(c->store);
	store_node_done(&node);
	if (q < 0)
		return q;
	log_info("job %s (%s) submitted for node %s", job.id, spec->type, spec->node_id);
	if (!job.next_attempt_at)
		longpoll_wake(c->longpoll, spec->node_id);
	memcpy(ret_id, job.id, UUID_STRING_MAX);
	return 0;
fail:
	store_tx_rollback(c->store);
	store_node_done(&node);
	return q;
}

int runner_submit_raw(struct runner *r, const char *node_id, const char *raw,
		      char ret_id[static UUID_STRING_MAX])
{
	struct controller *c = r->c;
	_cleanup_jws_ struct jws *jws = NULL;
	_cleanup_json_ json_t *payload = NULL;
	const char *reason = NULL;
	struct store_node node = {};
	struct store_job job = {};
	char type[65] = "raw";
	int64_t now = now_s(), seq;
	int q;

	/* Read what we can (jti, type); the JWS itself is queued verbatim. */
	if (jws_parse(raw, strlen(raw), &jws, &payload, &reason) >= 0 && !payload)
		payload = json_incref(jws->payload);
	if (!payload || job_payload_jti(payload, job.id) < 0) {
		q = uuid_random(job.id);
		if (q < 0)
			return q;
	}
	const char *t = json_string_value(json_object_get(payload, "type"));
	if (t && strlen(t) < sizeof(type) && hostname_is_valid(t))
		snprintf(type, sizeof(type), "%s", t);

	snprintf(job.node_id, sizeof(job.node_id), "%s", node_id);
	job.type = type;
	job.params = (char *)"{}";
	job.state = CAIRN_JOB_PENDING;
	job.attempt = 1;
	job.max_attempts = 1;
	job.raw = true;
	job.ttl_s = job.timeout_s = RUNNER_RAW_TIMEOUT_S;
	job.not_before = job.created_at = job.updated_at = now;

	q = store_tx_begin(c->store);
	if (q < 0)
		return q;
	q = store_node_get(c->store, node_id, &node);
	if (q < 0)
		goto fail;
	if (node.state == STORE_NODE_REVOKED) {
		q = -ESTALE;
		goto fail;
	}
	struct store_attempt probe = {};
	if (store_attempt_get(c->store, job.id, &probe) >= 0) {
		store_attempt_done(&probe);
		q = -EEXIST;
		goto fail;
	}
	q = store_job_insert(c->store, &job);
	if (q < 0)
		goto fail;
	q = store_node_next_seq(c->store, node_id, &seq);
	if (q < 0)
		goto fail;
	struct store_attempt a = {
		.n = 1,
		.seq = seq,
		.jws = (char *)raw,
		.state = CAIRN_JOB_PENDING,
		.nbf = now,
		.exp = now + RUNNER_RAW_TIMEOUT_S,
		.deadline_at = now + RUNNER_RAW_TIMEOUT_S,
	};
	memcpy(a.jti, job.id, UUID_STRING_MAX);
	memcpy(a.job_id, job.id, UUID_STRING_MAX);
	memcpy(a.node_id, job.node_id, UUID_STRING_MAX);
	q = store_attempt_insert(c->store, &a);
	if (q < 0)
		goto fail;
	event(r, job.id, job.id, now, "raw attempt queued (seq %" PRIi64 ")", seq);
	q = store_tx_commit(c->store);
	store_node_done(&node);
	if (q < 0)
		return q;
	log_info("raw job %s queued for node %s", job.id, node_id);
	longpoll_wake(c->longpoll, node_id);
	memcpy(ret_id, job.id, UUID_STRING_MAX);
	return 0;
fail:
	store_tx_rollback(c->store);
	store_node_done(&node);
	return q;
}

int runner_event(struct runner *r, const char *node_id, const char *jti, const char *kind,
		 const char *message)
{
	struct controller *c = r->c;
	struct store_attempt a = {};
	struct store_job job = {};
	int64_t now = now_s();
	int q;

	q = store_tx_begin(c->store);
	if (q < 0)
		return q;
	q = store_attempt_get(c->store, jti, &a);
	if (q >= 0 && !streq(a.node_id, node_id))
		q = -ENOENT;
	if (q < 0)
		goto fail;
	q = store_job_get(c->store, a.job_id, &job);
	if (q < 0)
		goto fail;

	if (streq(kind, "started") &&
	    (a.state == CAIRN_JOB_PENDING || a.state == CAIRN_JOB_SENT)) {
		a.state = CAIRN_JOB_RUNNING;
		a.started_at = now;
		if (!a.sent_at)
			a.sent_at = now;
		if (!job.raw)
			a.deadline_at = runner_attempt_deadline(CAIRN_JOB_RUNNING, a.exp, now,
								job.timeout_s, CAIRN_SKEW_DEFAULT_S);
		q = store_attempt_update(c->store, &a);
		if (q < 0)
			goto fail;
		if (job.attempt == a.n && !cairn_job_state_is_final(job.state)) {
			job.state = CAIRN_JOB_RUNNING;
			job.updated_at = now;
			q = store_job_update(c->store, &job);
			if (q < 0)
				goto fail;
		}
	}
	q = store_event_add(c->store, a.job_id, jti, now, kind, message);
	if (q < 0)
		goto fail;
	if (q == 1)
		metrics_event_dropped(c->metrics);
	q = store_tx_commit(c->store);
	store_attempt_done(&a);
	store_job_done(&job);
	return q;
fail:
	store_tx_rollback(c->store);
	store_attempt_done(&a);
	store_job_done(&job);
	return q;
}

/* Applies a final state to an attempt and its job (inside a transaction).
 * `node_id` NULL skips the ownership check (timeouts).  When the job
 * became final, its id is written to ret_final (else ret_final[0] = 0) so
 * the caller can tell the operations engine after the commit. */
static int finish_attempt(struct runner *r, const char *node_id, const char *jti,
			  enum cairn_job_state state, const char *message, const char *output,
			  int64_t now, char ret_final[static UUID_STRING_MAX])
{
	struct controller *c = r->c;
	struct store_attempt a = {};
	struct store_job job = {};
	int q;

	ret_final[0] = 0;
	q = store_attempt_get(c->store, jti, &a);
	if (q >= 0 && node_id && !streq(a.node_id, node_id))
		q = -ENOENT;
	if (q < 0)
		goto out;

	/* Final stays final, except that the agent's own word replaces a
	 * timeout the controller decided (a late result). */
	bool late = a.state == CAIRN_JOB_TIMED_OUT && cairn_job_state_is_agent_result(state);
	if (cairn_job_state_is_final(a.state) && !late) {
		q = 0;
		goto out;
	}
	a.state = state;
	a.finished_at = now;
	free(a.message);
	free(a.output);
	a.message = message ? strdup(message) : NULL;
	a.output = output ? strdup(output) : NULL;
	if ((message && !a.message) || (output && !a.output)) {
		q = -ENOMEM;
		goto out;
	}
	q = store_attempt_update(c->store, &a);
	if (q < 0)
		goto out;
	event(r, a.job_id, jti, now, "attempt %d %s%s", a.n, cairn_job_state_to_string(state),
	      late ? " (late)" : "");

	q = store_job_get(c->store, a.job_id, &job);
	if (q < 0)
		goto out;
	if (cairn_job_state_is_final(job.state))
		goto out; /* recorded on the attempt only */
	if (a.n != job.attempt && state != CAIRN_JOB_SUCCEEDED)
		goto out; /* an older attempt failing late changes nothing */

	free(job.message);
	job.message = NULL;
	switch (runner_decide(state, job.idempotent, a.n, job.max_attempts)) {
	case RUNNER_SUCCEED:
		job.state = CAIRN_JOB_SUCCEEDED;
		job.finished_at = now;
		job.next_attempt_at = 0;
		job.message = a.message ? strdup(a.message) : NULL;
		free(job.output);
		job.output = a.output ? strdup(a.output) : NULL;
		q = store_attempts_cancel_open(c->store, job.id, jti, now);
		if (q < 0)
			goto out;
		break;
	case RUNNER_RETRY:
		job.state = CAIRN_JOB_PENDING;
		job.next_attempt_at = runner_retry_at(now, c->config->retry_base_s,
						      c->config->retry_max_s, a.n);
		(void)!asprintf(&job.message, "attempt %d %s%s%s; retrying", a.n,
				cairn_job_state_to_string(state), a.message ? ": " : "",
				a.message ?: "");
		event(r, job.id, jti, now, "attempt %d due at %" PRIi64, a.n + 1, job.next_attempt_at);
		break;
	case RUNNER_FINISH:
		job.state = state;
		job.finished_at = now;
		job.next_attempt_at = 0;
		job.message = a.message ? strdup(a.message) : NULL;
		free(job.output);
		job.output = a.output ? strdup(a.output) : NULL;
		break;
	}
	job.updated_at = now;
	q = store_job_update(c->store, &job);
	if (q >= 0 && cairn_job_state_is_final(job.state))
		memcpy(ret_final, job.id, UUID_STRING_MAX);
	if (q >= 0 && cairn_job_state_is_final(job.state))
		log_info("job %s (%s) on node %s: %s", job.id, job.type, job.node_id,
			 cairn_job_state_to_string(job.state));
out:
	store_attempt_done(&a);
	store_job_done(&job);
	return q < 0 ? q : 0;
}

int runner_result(struct runner *r, const char *node_id, const char *jti,
		  enum cairn_job_state state, const char *message, const char *output_json)
{
	struct store *s = r->c->store;
	char final[UUID_STRING_MAX];
	int q;

	if (!cairn_job_state_is_agent_result(state))
		return -EINVAL;
	q = store_tx_begin(s);
	if (q < 0)
		return q;
	q = finish_attempt(r, node_id, jti, state, message, output_json, now_s(), final);
	if (q < 0) {
		store_tx_rollback(s);
		return q;
	}
	q = store_tx_commit(s);
	/* After the commit, outside the store lock (lock order: ops → store). */
	if (q >= 0 && final[0])
		ops_job_finished(r->c->ops, final);
	return q;
}

/* Times out overdue attempts; each in its own transaction. */
static void tick_timeouts(struct runner *r, int64_t now)
{
	struct store *s = r->c->store;
	char(*ids)[UUID_STRING_MAX] = NULL;
	size_t n = 0;

	if (store_attempts_overdue(s, now, RUNNER_BATCH_MAX, &ids, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		char final[UUID_STRING_MAX];
		if (store_tx_begin(s) < 0)
			break;
		int q = finish_attempt(r, NULL, ids[i], CAIRN_JOB_TIMED_OUT, "no result before the deadline",
				       NULL, now, final);
		if (q < 0) {
			store_tx_rollback(s);
			log_warning_errno(q, "cannot time out attempt %s", ids[i]);
			continue;
		}
		if (store_tx_commit(s) >= 0) {
			log_info("attempt %s timed out", ids[i]);
			if (final[0])
				ops_job_finished(r->c->ops, final);
		}
	}
	free(ids);
}

/* Creates attempts that are due (retries, future not_before). */
static void tick_due(struct runner *r, int64_t now)
{
	struct store *s = r->c->store;
	char(*ids)[UUID_STRING_MAX] = NULL;
	size_t n = 0;

	if (store_jobs_due(s, now, RUNNER_BATCH_MAX, &ids, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		struct store_job job = {};
		char jti[UUID_STRING_MAX];
		int q;

		if (store_tx_begin(s) < 0)
			break;
		q = store_job_get(s, ids[i], &job);
		if (q >= 0 && (job.state != CAIRN_JOB_PENDING || !job.next_attempt_at ||
			       job.next_attempt_at > now))
			q = -EALREADY;
		if (q >= 0) {
			if (job.attempt == 0)
				memcpy(jti, job.id, sizeof(jti));
			else
				q = uuid_random(jti);
		}
		if (q >= 0)
			q = create_attempt(r, &job, jti, now);
		if (q < 0) {
			store_tx_rollback(s);
			if (q != -EALREADY)
				log_warning_errno(q, "cannot create the next attempt of job %s", ids[i]);
		} else if (store_tx_commit(s) >= 0)
			longpoll_wake(r->c->longpoll, job.node_id);
		store_job_done(&job);
	}
	free(ids);
}

void runner_tick(struct runner *r, int64_t now)
{
	tick_timeouts(r, now);
	tick_due(r, now);
	/* Datastore operations (NULL-safe: unit tests run without them). */
	ops_tick(r->c->ops, now);
	/* Scheduled backups, once a second is plenty. */
	if (r->c->ops && now != r->last_sched_tick) {
		r->last_sched_tick = now;
		backup_schedule_tick(r->c, now);
	}
}

static void *ticker(void *arg)
{
	struct runner *r = arg;
	pthread_mutex_lock(&r->lock);
	while (!r->stop) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += RUNNER_TICK_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&r->cond, &r->lock, &ts);
		if (r->stop)
			break;
		pthread_mutex_unlock(&r->lock);

		longpoll_expire(r->c->longpoll, now_mono_ms());
		int64_t now = now_s();
		if (now != r->last_db_tick) {
			r->last_db_tick = now;
			runner_tick(r, now);
		}

		pthread_mutex_lock(&r->lock);
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

int runner_start(struct runner *r)
{
	int q = pthread_create(&r->thread, NULL, ticker, r);
	if (q != 0)
		return -q;
	r->running = true;
	return 0;
}

void runner_stop(struct runner *r)
{
	if (!r->running)
		return;
	pthread_mutex_lock(&r->lock);
	r->stop = true;
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->lock);
	pthread_join(r->thread, NULL);
	r->running = false;
}
