/*
 * test-ctl-runner.c: job lifecycle decisions, as pure functions and on a
 * real store with real keys: signing, retries with backoff, timeouts, late
 * results, revocation, deferred attempts.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller/config.h" /* not the autoconf config.h */
#include "controller.h"
#include "fileio.h"
#include "job.h"
#include "jws.h"
#include "keys.h"
#include "longpoll.h"
#include "macro.h"
#include "metrics.h"
#include "runner.h"
#include "store.h"

/* ---- pure decisions -------------------------------------------------- */

static void test_decide(void **state)
{
	assert_int_equal(runner_decide(CAIRN_JOB_SUCCEEDED, true, 1, 5), RUNNER_SUCCEED);
	assert_int_equal(runner_decide(CAIRN_JOB_SUCCEEDED, false, 1, 1), RUNNER_SUCCEED);
	assert_int_equal(runner_decide(CAIRN_JOB_FAILED, true, 1, 5), RUNNER_RETRY);
	assert_int_equal(runner_decide(CAIRN_JOB_INTERRUPTED, true, 4, 5), RUNNER_RETRY);
	assert_int_equal(runner_decide(CAIRN_JOB_TIMED_OUT, true, 2, 5), RUNNER_RETRY);
	assert_int_equal(runner_decide(CAIRN_JOB_FAILED, true, 5, 5), RUNNER_FINISH);
	assert_int_equal(runner_decide(CAIRN_JOB_FAILED, false, 1, 5), RUNNER_FINISH);
	assert_int_equal(runner_decide(CAIRN_JOB_REJECTED, true, 1, 5), RUNNER_FINISH);
	assert_int_equal(runner_decide(CAIRN_JOB_CANCELLED, true, 1, 5), RUNNER_FINISH);
}

static void test_deadline(void **state)
{
	assert_int_equal(runner_attempt_deadline(CAIRN_JOB_PENDING, 1000, 0, 60, 120), 1120);
	assert_int_equal(runner_attempt_deadline(CAIRN_JOB_SENT, 1000, 0, 60, 120), 1120);
	assert_int_equal(runner_attempt_deadline(CAIRN_JOB_RUNNING, 1000, 500, 60, 120),
			 500 + 60 + RUNNER_RUN_GRACE_S);
}

static void test_retry_at(void **state)
{
	for (int i = 0; i < 200; i++) {
		int64_t t = runner_retry_at(1000, 2, 300, 1);
		assert_true(t >= 1001 && t <= 1002);
		t = runner_retry_at(1000, 2, 300, 3); /* 8 s, full jitter from 4 */
		assert_true(t >= 1004 && t <= 1008);
		t = runner_retry_at(1000, 2, 300, 20); /* capped */
		assert_true(t >= 1001 && t <= 1300);
		t = runner_retry_at(1000, 2, 300, 1000000);
		assert_true(t >= 1001 && t <= 1300);
	}
}

/* ---- on a store ------------------------------------------------------ */

struct fixture {
	char dir[64];
	struct controller c;
	char node[UUID_STRING_MAX];
	char other[UUID_STRING_MAX];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char *err = NULL;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test-ctl-runner-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	char conf[256];
	snprintf(conf, sizeof(conf), "[controller]\nstate_dir = %s\nserver_names = localhost\n", f->dir);
	assert_int_equal(config_parse("t.conf", conf, strlen(conf), &f->c.config, &err), 0);
	assert_int_equal(store_open(f->dir, &f->c.store, &err), 0);
	assert_int_equal(keys_setup(f->dir, f->c.config->server_names, f->c.store, &f->c.keys, &err), 0);
	f->c.longpoll = longpoll_new();
	f->c.metrics = metrics_new();
	f->c.runner = runner_new(&f->c);
	assert_non_null(f->c.runner);

	int64_t now = now_s();
	char hash[65];
	sha256_hex("cjt_t", 5, hash);
	uuid_random(f->node);
	assert_int_equal(store_node_create(f->c.store, f->node, "n1", hash, now + 60, now), 0);
	assert_int_equal(store_node_enroll(f->c.store, f->node, hash, now, "01", now + 600), 0);
	uuid_random(f->other);
	assert_int_equal(store_node_create(f->c.store, f->other, "n2", NULL, 0, now), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	runner_free(f->c.runner);
	metrics_free(f->c.metrics);
	longpoll_free(f->c.longpoll);
	keys_free(f->c.keys);
	store_close(f->c.store);
	config_free(f->c.config);
	const char *files[] = { "ca.key", "ca.pem", "job-signing.key", "kek.key", "server.key",
				"server.pem", "admin.token", STORE_DB_NAME, STORE_DB_NAME "-wal",
				STORE_DB_NAME "-shm" };
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char *p = path_join(f->dir, files[i]);
		unlink(p);
		free(p);
	}
	rmdir(f->dir);
	free(f);
	return 0;
}

static char *submit(struct fixture *f, const char *type, json_t *params, int64_t not_before)
{
	static char id[UUID_STRING_MAX];
	struct runner_job_spec spec = {
		.node_id = f->node,
		.type = type,
		.params = params,
		.not_before = not_before,
		.ttl_s = 60,
	};
	assert_int_equal(runner_submit(f->c.runner, &spec, id), 0);
	return id;
}

static struct store_job job_get(struct fixture *f, const char *id)
{
	struct store_job j = {};
	assert_int_equal(store_job_get(f->c.store, id, &j), 0);
	return j;
}

static void current_jti(struct fixture *f, const char *job_id, char ret[static UUID_STRING_MAX])
{
	struct store_attempt *as = NULL;
	size_t n = 0;
	assert_int_equal(store_attempt_list(f->c.store, job_id, &as, &n), 0);
	assert_true(n > 0);
	memcpy(ret, as[n - 1].jti, UUID_STRING_MAX);
	store_attempt_array_free(as, n);
}

static void test_submit_signs(void **state)
{
	struct fixture *f = *state;
	json_t *params = json_object();
	char *id = submit(f, "node.facts", params, 0);
	json_decref(params);

	struct store_attempt a = {};
	assert_int_equal(store_attempt_get(f->c.store, id, &a), 0);
	assert_int_equal(a.n, 1);
	assert_int_equal(a.seq, 1);
	assert_int_equal(a.state, CAIRN_JOB_PENDING);
	assert_int_equal(a.deadline_at, a.exp + CAIRN_SKEW_DEFAULT_S);

	struct jws *jws = NULL;
	const char *reason = NULL;
	assert_int_equal(jws_parse(a.jws, strlen(a.jws), &jws, NULL, &reason), 0);
	assert_int_equal(jws_verify(jws, f->c.keys->job_key), 0);
	struct job_claims cl = {};
	assert_int_equal(job_claims_from_json(jws->payload, &cl, &reason), 0);
	assert_string_equal(cl.jti, id);
	assert_string_equal(cl.sub, f->node);
	assert_int_equal(cl.seq, 1);
	assert_int_equal(cl.exp - cl.nbf, 60);
	assert_string_equal(cl.type, "node.facts");
	job_claims_done(&cl);
	jws_free(jws);
	store_attempt_done(&a);

	/* Unknown node, unknown type. */
	char other[UUID_STRING_MAX];
	struct runner_job_spec spec = { .node_id = "00000000-0000-4000-8000-000000000000",
					.type = "node.facts", .params = json_object() };
	assert_int_equal(runner_submit(f->c.runner, &spec, other), -ENOENT);
	spec.node_id = f->node;
	spec.type = "no.such";
	assert_int_equal(runner_submit(f->c.runner, &spec, other), -EINVAL);
	json_decref(spec.params);
}

static void test_retry_then_success(void **state)
{
	struct fixture *f = *state;
	json_t *params = json_object();
	char id[UUID_STRING_MAX], jti2[UUID_STRING_MAX];
	memcpy(id, submit(f, "node.facts", params, 0), sizeof(id));
	json_decref(params);
	int64_t now = now_s();

	/* Started, then failed: a retry is scheduled, not created yet. */
	assert_int_equal(runner_event(f->c.runner, f->node, id, "started", NULL), 0);
	struct store_job j = job_get(f, id);
	assert_int_equal(j.state, CAIRN_JOB_RUNNING);
	store_job_done(&j);
	assert_int_equal(runner_result(f->c.runner, f->node, id, CAIRN_JOB_FAILED, "disk full", NULL), 0);
	j = job_get(f, id);
	assert_int_equal(j.state, CAIRN_JOB_PENDING);
	assert_int_equal(j.attempt, 1);
	assert_true(j.next_attempt_at >= now + 1 && j.next_attempt_at <= now + 3);
	assert_null(j.finished_at ? "finished" : NULL);
	int64_t due = j.next_attempt_at;
	store_job_done(&j);

	/* A second result for the final attempt changes nothing. */
	assert_int_equal(runner_result(f->c.runner, f->node, id, CAIRN_JOB_SUCCEEDED, NULL, NULL), 0);
	j = job_get(f, id);
	assert_int_equal(j.state, CAIRN_JOB_PENDING);
	store_job_done(&j);

	/* Not before it is due; then attempt 2 with a new jti and seq. */
	runner_tick(f->c.runner, due - 1);
	j = job_get(f, id);
	assert_int_equal(j.attempt, 1);
	store_job_done(&j);
	runner_tick(f->c.runner, due);
	j = job_get(f, id);
	assert_int_equal(j.attempt, 2);
	assert_int_equal(j.next_attempt_at, 0);
	store_job_done(&j);
	current_jti(f, id, jti2);
	assert_string_not_equal(jti2, id);
	struct store_attempt a = {};
	assert_int_equal(store_attempt_get(f->c.store, jti2, &a), 0);
	assert_int_equal(a.seq, 2);
	assert_int_equal(a.n, 2);
	store_attempt_done(&a);

	/* Another node cannot report it. */
	assert_int_equal(runner_result(f->c.runner, f->other, jti2, CAIRN_JOB_SUCCEEDED, NULL, NULL),
			 -ENOENT);
	assert_int_equal(runner_result(f->c.runner, f->node, jti2, CAIRN_JOB_SUCCEEDED, "ok",
				       "{\"x\":1}"),
			 0);
	j = job_get(f, id);
	assert_int_equal(j.state, CAIRN_JOB_SUCCEEDED);
	assert_string_equal(j.output, "{\"x\":1}");
	assert_true(j.finished_at > 0);
	store_job_done(&j);
}

static void test_not_idempotent_and_rejected(void **state)
{
	struct fixture *f = *state;
	json_t *params = json_pack("{s:i}", "seconds", 1);
	char id[UUID_STRING_MAX];
	memcpy(id, submit(f, "debug.sleep", params, 0), sizeof(id));
	json_decref(params);
	struct store_job j = job_get(f, id);
	assert_int_equal(j.max_attempts, 1);
	assert_false(j.idempotent);
	store_job_done(&j);
	assert_int_equal(runner_result(f->c.runner, f->node, id, CAIRN_JOB_INTERRUPTED, NULL, NULL), 0);
	j = job_get(f, id);
	assert_int_equal(j.state, CAIRN_JOB_INTERRUPTED);
	store_job_done(&j);

	params = json_object();
	memcpy(id, submit(f, "node.facts", params, 0), sizeof(id));
	json_decref(params);
	assert_int_equal(runner_result(f->c.runner, f->node, id, CAIRN_JOB_REJECTED, "bad sig", NULL), 0);
	j = job_get(f, id);
	assert_int_equal(j.state, CAIRN_JOB_REJECTED);
	assert_string_equal(j.message, "bad sig");
	store_job_done(&j);
}

static void test_timeout_and_late_result(void **state)
{
	struct fixture *f = *state;
	json_t *params = json_object();
	char id[UUID_STRING_MAX];
	memcpy(id, submit(f, "node.facts", params, 0), sizeof(id));
	json_decref(params);
	struct store_attempt a = {};
	assert_int_equal(store_attempt_get(f->c.store, id, &a), 0);
	int64_t deadline = a.deadline_at;
	store_attempt_done(&a);

	runner_tick(f->c.runner, deadline - 1);
	assert_int_equal(store_attempt_get(f->c.store, id, &a), 0);
	assert_int_equal(a.state, CAIRN_JOB_PENDING);
	store_attempt_done(&a);

	runner_tick(f->c.runner, deadline);
	assert_int_equal(store_attempt_get(f->c.store, id, &a), 0);
	assert_int_equal(a.state, CAIRN_JOB_TIMED_OUT);
	store_attempt_done(&a);
	struct store_job j = job_get(f, id);
	assert_int_equal(j.state, CAIRN_JOB_PENDING);
	assert_true(j.next_attempt_at > 0);
	store_job_done(&j);

	/* The agent's late success wins: the job succeeds, the retry is off. */
	assert_int_equal(runner_result(f->c.runner, f->node, id, CAIRN_JOB_SUCCEEDED, NULL, NULL), 0);
	j = job_get(f, id);
	assert_int_equal(j.state, CAIRN_JOB_SUCCEEDED);
	assert_int_equal(j.next_attempt_at, 0);
	assert_int_equal(j.attempt, 1);
	store_job_done(&j);
}

static void test_running_timeout(void **state)
{
	struct fixture *f = *state;
	json_t *params = json_object();
	char id[UUID_STRING_MAX];
	struct runner_job_spec spec = { .node_id = f->node, .type = "node.facts", .params = params,
					.timeout_s = 5, .max_attempts = 1 };
	assert_int_equal(runner_submit(f->c.runner, &spec, id), 0);
	json_decref(params);
	assert_int_equal(runner_event(f->c.runner, f->node, id, "started", NULL), 0);
	struct store_attempt a = {};
	assert_int_equal(store_attempt_get(f->c.store, id, &a), 0);
	assert_int_equal(a.state, CAIRN_JOB_RUNNING);
	assert_int_equal(a.deadline_at, a.started_at + 5 + RUNNER_RUN_GRACE_S);
	int64_t deadline = a.deadline_at;
	store_attempt_done(&a);
	runner_tick(f->c.runner, deadline);
	struct store_job j = job_get(f, id);
	assert_int_equal(j.state, CAIRN_JOB_TIMED_OUT);
	store_job_done(&j);
}

static void test_deferred_and_revoke(void **state)
{
	struct fixture *f = *state;
	json_t *params = json_object();
	int64_t later = now_s() + 1000;
	char id[UUID_STRING_MAX];
	memcpy(id, submit(f, "node.facts", params, later), sizeof(id));
	json_decref(params);

	struct store_attempt a = {};
	assert_int_equal(store_attempt_get(f->c.store, id, &a), -ENOENT);
	runner_tick(f->c.runner, later);
	assert_int_equal(store_attempt_get(f->c.store, id, &a), 0);
	assert_int_equal(a.nbf, later);
	store_attempt_done(&a);

	assert_int_equal(store_node_revoke(f->c.store, f->node, now_s()), 0);
	struct store_job j = job_get(f, id);
	assert_int_equal(j.state, CAIRN_JOB_CANCELLED);
	store_job_done(&j);
	params = json_object();
	struct runner_job_spec spec = { .node_id = f->node, .type = "node.facts", .params = params };
	assert_int_equal(runner_submit(f->c.runner, &spec, id), -ESTALE);
	json_decref(params);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decide),
		cmocka_unit_test(test_deadline),
		cmocka_unit_test(test_retry_at),
		cmocka_unit_test_setup_teardown(test_submit_signs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retry_then_success, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_idempotent_and_rejected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout_and_late_result, setup, teardown),
		cmocka_unit_test_setup_teardown(test_running_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deferred_and_revoke, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
