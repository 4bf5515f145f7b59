/*
 * test-ctl-store.c: the controller store on a real SQLite file: migrations,
 * node and job transitions, the pull, event limits, and that everything
 * survives closing and reopening (a restart).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "macro.h"
#include "store.h"
#include "util.h"

static char dir[] = "/tmp/test-ctl-store-XXXXXX";

static int setup(void **state)
{
	char tmpl[] = "/tmp/test-ctl-store-XXXXXX";
	assert_non_null(mkdtemp(tmpl));
	memcpy(dir, tmpl, sizeof(tmpl));
	struct store *s = NULL;
	assert_int_equal(store_open(dir, &s, NULL), 0);
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	store_close(*state);
	char *p = path_join(dir, STORE_DB_NAME);
	unlink(p);
	free(p);
	p = path_join(dir, STORE_DB_NAME "-wal");
	unlink(p);
	free(p);
	p = path_join(dir, STORE_DB_NAME "-shm");
	unlink(p);
	free(p);
	rmdir(dir);
	return 0;
}

static struct store *reopen(struct store *s)
{
	store_close(s);
	struct store *n = NULL;
	assert_int_equal(store_open(dir, &n, NULL), 0);
	return n;
}

static void make_node(struct store *s, char id[static UUID_STRING_MAX], const char *name,
		      const char *hash)
{
	assert_int_equal(uuid_random(id), 0);
	assert_int_equal(store_node_create(s, id, name, hash, now_s() + 3600, now_s()), 0);
}

static void test_migrations(void **state)
{
	struct store *s = *state;
	assert_int_equal(store_schema_version(s), 3);
	s = reopen(s);
	*state = s;
	assert_int_equal(store_schema_version(s), 3);
}

static void test_tokens(void **state)
{
	struct store *s = *state;
	char h[65];
	int64_t n = -1;
	assert_int_equal(store_token_count(s, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(sha256_hex("cat_x", 5, h), 0);
	assert_int_equal(store_token_add(s, h, "admin", now_s()), 0);
	assert_int_equal(store_token_add(s, h, "admin", now_s()), 0); /* idempotent */
	assert_int_equal(store_token_check(s, h), 0);
	h[0] = h[0] == 'a' ? 'b' : 'a';
	assert_int_equal(store_token_check(s, h), -ENOENT);
	assert_int_equal(store_token_count(s, &n), 0);
	assert_int_equal(n, 1);
}

static void test_nodes(void **state)
{
	struct store *s = *state;
	char a[UUID_STRING_MAX], b[UUID_STRING_MAX], hash[65], hash2[65];
	struct store_node n = {};
	int64_t now = now_s();

	sha256_hex("cjt_a", 5, hash);
	sha256_hex("cjt_b", 5, hash2);
	make_node(s, a, "db-1", hash);
	uuid_random(b);
	assert_int_equal(store_node_create(s, b, "db-1", NULL, 0, now), -EEXIST);

	assert_int_equal(store_node_get_by_join_hash(s, hash, &n), 0);
	assert_string_equal(n.id, a);
	assert_int_equal(n.state, STORE_NODE_PENDING);
	store_node_done(&n);

	/* New join token: the old one no longer enrols. */
	assert_int_equal(store_node_set_join_token(s, a, hash2, now + 60), 0);
	assert_int_equal(store_node_enroll(s, a, hash, now, "AA", now + 100), -EACCES);
	assert_int_equal(store_node_enroll(s, a, hash2, now, "AA", now + 100), 0);
	/* Single use. */
	assert_int_equal(store_node_enroll(s, a, hash2, now, "BB", now + 100), -EACCES);
	assert_int_equal(store_node_set_join_token(s, a, hash, now + 60), -EBUSY);
	assert_int_equal(store_node_get(s, a, &n), 0);
	assert_int_equal(n.state, STORE_NODE_ENROLLED);
	assert_string_equal(n.cert_serial, "AA");
	assert_null(n.join_token_hash);
	store_node_done(&n);

	/* Expired tokens do not enrol. */
	make_node(s, b, "db-2", hash);
	assert_int_equal(store_node_set_join_token(s, b, hash, now - 1), 0);
	assert_int_equal(store_node_enroll(s, b, hash, now, "CC", now + 100), -EACCES);

	int64_t seq;
	assert_int_equal(store_node_next_seq(s, a, &seq), 0);
	assert_int_equal(seq, 1);
	assert_int_equal(store_node_next_seq(s, a, &seq), 0);
	assert_int_equal(seq, 2);

	assert_int_equal(store_node_set_status(s, a, "{\"os\":1}", NULL, now), 0);
	assert_int_equal(store_node_set_status(s, a, NULL, "{\"h\":2}", now), 0);
	assert_int_equal(store_node_get(s, a, &n), 0);
	assert_string_equal(n.facts, "{\"os\":1}");
	assert_string_equal(n.health, "{\"h\":2}");
	store_node_done(&n);

	/* A revoked node's name can be used again. */
	assert_int_equal(store_node_revoke(s, b, now), 0);
	assert_int_equal(store_node_revoke(s, b, now), -EALREADY);
	char c[UUID_STRING_MAX];
	make_node(s, c, "db-2", NULL);

	int64_t counts[_STORE_NODE_STATE_MAX];
	assert_int_equal(store_node_count_by_state(s, counts), 0);
	assert_int_equal(counts[STORE_NODE_PENDING], 1);
	assert_int_equal(counts[STORE_NODE_ENROLLED], 1);
	assert_int_equal(counts[STORE_NODE_REVOKED], 1);

	struct store_node *list = NULL;
	size_t nl = 0;
	assert_int_equal(store_node_list(s, &list, &nl), 0);
	assert_int_equal(nl, 3);
	store_node_array_free(list, nl);
}

static void add_job(struct store *s, const char *node_id, char ret_id[static UUID_STRING_MAX],
		    int64_t nbf)
{
	int64_t seq, now = now_s();
	struct store_job j = {
		.type = (char *)"node.facts",
		.params = (char *)"{}",
		.state = CAIRN_JOB_PENDING,
		.attempt = 1,
		.max_attempts = 5,
		.idempotent = true,
		.ttl_s = 3600,
		.timeout_s = 60,
		.not_before = nbf,
		.created_at = now,
		.updated_at = now,
	};
	uuid_random(j.id);
	snprintf(j.node_id, sizeof(j.node_id), "%s", node_id);
	assert_int_equal(store_job_insert(s, &j), 0);
	assert_int_equal(store_node_next_seq(s, node_id, &seq), 0);
	struct store_attempt a = {
		.n = 1,
		.seq = seq,
		.jws = (char *)"a.b.c",
		.state = CAIRN_JOB_PENDING,
		.nbf = nbf,
		.exp = nbf + 3600,
		.deadline_at = nbf + 3720,
	};
	memcpy(a.jti, j.id, UUID_STRING_MAX);
	memcpy(a.job_id, j.id, UUID_STRING_MAX);
	memcpy(a.node_id, node_id, UUID_STRING_MAX);
	assert_int_equal(store_attempt_insert(s, &a), 0);
	memcpy(ret_id, j.id, UUID_STRING_MAX);
}

static void test_jobs_and_pull(void **state)
{
	struct store *s = *state;
	char node[UUID_STRING_MAX], j1[UUID_STRING_MAX], j2[UUID_STRING_MAX], j3[UUID_STRING_MAX];
	int64_t now = now_s();

	make_node(s, node, "n1", NULL);
	add_job(s, node, j1, now);
	add_job(s, node, j2, now);
	add_job(s, node, j3, now + 1000); /* not yet valid: held */

	json_t *a = json_array();
	assert_int_equal(store_pull(s, node, 0, now, 64, 1 << 20, a), 2);
	assert_int_equal(json_array_size(a), 2);
	json_decref(a);

	struct store_attempt at = {};
	assert_int_equal(store_attempt_get(s, j1, &at), 0);
	assert_int_equal(at.state, CAIRN_JOB_SENT);
	assert_int_equal(at.sent_at, now);
	store_attempt_done(&at);
	struct store_job job = {};
	assert_int_equal(store_job_get(s, j1, &job), 0);
	assert_int_equal(job.state, CAIRN_JOB_SENT);
	store_job_done(&job);

	/* after = 1: only seq 2 again (sent attempts are served until final). */
	a = json_array();
	assert_int_equal(store_pull(s, node, 1, now, 64, 1 << 20, a), 1);
	json_decref(a);
	struct store_node n = {};
	assert_int_equal(store_node_get(s, node, &n), 0);
	assert_int_equal(n.settled_seq, 1);
	store_node_done(&n);

	/* The byte limit holds. */
	a = json_array();
	assert_int_equal(store_pull(s, node, 0, now, 64, 10, a), 1);
	json_decref(a);
	a = json_array();
	assert_int_equal(store_pull(s, node, 0, now, 1, 1 << 20, a), 1);
	json_decref(a);

	/* Final attempts are not served. */
	assert_int_equal(store_attempt_get(s, j1, &at), 0);
	at.state = CAIRN_JOB_SUCCEEDED;
	at.finished_at = now;
	assert_int_equal(store_attempt_update(s, &at), 0);
	store_attempt_done(&at);
	a = json_array();
	assert_int_equal(store_pull(s, node, 0, now, 64, 1 << 20, a), 1);
	json_decref(a);

	/* Overdue and due lists. */
	char(*ids)[UUID_STRING_MAX] = NULL;
	size_t nids = 0;
	assert_int_equal(store_attempts_overdue(s, now + 3720, 10, &ids, &nids), 0);
	assert_int_equal(nids, 1);
	assert_string_equal(ids[0], j2);
	free(ids);

	/* Listing: newest first, by state, limit. */
	struct store_job *jobs = NULL;
	size_t nj = 0;
	assert_int_equal(store_job_list(s, node, -1, 2, &jobs, &nj), 0);
	assert_int_equal(nj, 2);
	store_job_array_free(jobs, nj);
	assert_int_equal(store_job_list(s, NULL, CAIRN_JOB_PENDING, 100, &jobs, &nj), 0);
	assert_int_equal(nj, 1);
	assert_string_equal(jobs[0].id, j3);
	store_job_array_free(jobs, nj);

	/* Revocation cancels every open job and attempt. */
	assert_int_equal(store_node_revoke(s, node, now), 0);
	assert_int_equal(store_job_get(s, j3, &job), 0);
	assert_int_equal(job.state, CAIRN_JOB_CANCELLED);
	store_job_done(&job);
	assert_int_equal(store_job_get(s, j1, &job), 0);
	assert_int_equal(job.state, CAIRN_JOB_CANCELLED); /* its row was still open */
	store_job_done(&job);
	assert_int_equal(store_attempt_get(s, j2, &at), 0);
	assert_int_equal(at.state, CAIRN_JOB_CANCELLED);
	store_attempt_done(&at);
	assert_int_equal(store_attempt_get(s, j1, &at), 0);
	assert_int_equal(at.state, CAIRN_JOB_SUCCEEDED); /* final stays final */
	store_attempt_done(&at);
}

static void test_events(void **state)
{
	struct store *s = *state;
	char node[UUID_STRING_MAX], j[UUID_STRING_MAX];
	make_node(s, node, "ev", NULL);
	add_job(s, node, j, now_s());
	for (int i = 0; i < STORE_EVENTS_PER_ATTEMPT_MAX; i++)
		assert_int_equal(store_event_add(s, j, j, now_s(), "log", "line"), 0);
	assert_int_equal(store_event_add(s, j, j, now_s(), "log", "one too many"), 1);
	assert_int_equal(store_event_add(s, j, j, now_s(), "state", "controller's own"), 0);
	struct store_attempt a = {};
	assert_int_equal(store_attempt_get(s, j, &a), 0);
	assert_int_equal(a.events_dropped, 1);
	store_attempt_done(&a);
	struct store_event *ev = NULL;
	size_t n = 0;
	assert_int_equal(store_event_list(s, j, &ev, &n), 0);
	assert_int_equal(n, STORE_EVENTS_PER_ATTEMPT_MAX + 1);
	assert_string_equal(ev[n - 1].kind, "state");
	store_event_array_free(ev, n);
}

static void test_restart_survives(void **state)
{
	struct store *s = *state;
	char node[UUID_STRING_MAX], j[UUID_STRING_MAX];
	make_node(s, node, "keep", NULL);
	add_job(s, node, j, now_s());

	/* A transaction that is rolled back leaves nothing. */
	char other[UUID_STRING_MAX];
	assert_int_equal(store_tx_begin(s), 0);
	make_node(s, other, "gone", NULL);
	store_tx_rollback(s);

	s = reopen(s);
	*state = s;
	struct store_node n = {};
	assert_int_equal(store_node_get(s, node, &n), 0);
	assert_string_equal(n.name, "keep");
	assert_int_equal(n.last_seq, 1);
	store_node_done(&n);
	assert_int_equal(store_node_get(s, other, &n), -ENOENT);
	struct store_attempt a = {};
	assert_int_equal(store_attempt_get(s, j, &a), 0);
	assert_string_equal(a.jws, "a.b.c");
	store_attempt_done(&a);
}


/* ---- datastores, members, operations, steps (migration 2) ------------ */

static void make_ds(struct store *s, struct store_datastore *d, const char *name)
{
	memset(d, 0, sizeof(*d));
	assert_int_equal(uuid_random(d->id), 0);
	d->name = (char *)name;
	d->engine = (char *)"postgres";
	d->version = (char *)"15";
	d->port = 5432;
	d->state = (char *)"creating";
	d->epoch = 1;
	d->settings = (char *)"{\"work_mem\":\"8MB\"}";
	d->size = (char *)"{\"cpus\":2}";
	d->admin_user = (char *)"cairn_admin";
	d->admin_secret = (char *)"c2VhbGVk";
	d->next_ordinal = 2;
	d->created_at = d->updated_at = 1000;
	assert_int_equal(store_datastore_insert(s, d), 0);
}

static void test_datastores(void **state)
{
	struct store *s = *state;
	struct store_datastore a, b, got = {};
	struct store_datastore *list = NULL;
	size_t n = 0;

	make_ds(s, &a, "alpha");
	/* A live name is unique. */
	struct store_datastore dup = a;
	assert_int_equal(uuid_random(dup.id), 0);
	assert_int_equal(store_datastore_insert(s, &dup), -EEXIST);

	assert_int_equal(store_datastore_get(s, a.id, &got), 0);
	assert_string_equal(got.name, "alpha");
	assert_string_equal(got.settings, "{\"work_mem\":\"8MB\"}");
	assert_string_equal(got.admin_secret, "c2VhbGVk");
	assert_int_equal(got.epoch, 1);
	assert_int_equal(got.next_ordinal, 2);
	assert_null(got.primary_node_id);
	store_datastore_done(&got);
	assert_int_equal(store_datastore_get(s, "alpha", &got), 0);
	assert_string_equal(got.id, a.id);

	/* Update, then delete: the name is free again and hidden by name. */
	free(got.state);
	got.state = strdup("deleted");
	got.epoch = 3;
	got.primary_node_id = strdup("p");
	got.updated_at = 2000;
	assert_int_equal(store_datastore_update(s, &got), 0);
	store_datastore_done(&got);
	assert_int_equal(store_datastore_get(s, "alpha", &got), -ENOENT);
	assert_int_equal(store_datastore_get(s, a.id, &got), 0);
	assert_int_equal(got.epoch, 3);
	assert_string_equal(got.primary_node_id, "p");
	store_datastore_done(&got);
	make_ds(s, &b, "alpha");

	assert_int_equal(store_datastore_list(s, false, &list, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(list[0].id, b.id);
	store_datastore_array_free(list, n);
	assert_int_equal(store_datastore_list(s, true, &list, &n), 0);
	assert_int_equal(n, 2);
	store_datastore_array_free(list, n);
}

static void test_members_ops_steps(void **state)
{
	struct store *s = *state;
	struct store_datastore d;
	struct store_member m = {}, got = {}, *ml = NULL;
	struct store_operation op = {}, og = {}, *ol = NULL;
	struct store_step steps[2] = {}, sg = {}, *sl = NULL;
	size_t n = 0;
	int64_t count = -1;

	make_ds(s, &d, "beta");
	for (int i = 0; i < 2; i++) {
		m = (struct store_member){ .ordinal = i, .created_at = 1, .updated_at = 1 };
		memcpy(m.ds_id, d.id, UUID_STRING_MAX);
		assert_int_equal(uuid_random(m.node_id), 0);
		m.name = i ? (char *)"beta-1" : (char *)"beta-0";
		m.role = i ? (char *)"replica" : (char *)"primary";
		m.state = (char *)"provisioning";
		assert_int_equal(store_member_insert(s, &m), 0);
	}
	assert_int_equal(store_member_insert(s, &m), -EEXIST);
	assert_int_equal(store_member_get(s, d.id, 1, &got), 0);
	assert_string_equal(got.name, "beta-1");
	assert_null(got.address);
	free(got.state);
	got.state = strdup("removed");
	got.address = strdup("198.18.0.5");
	got.machine_id = strdup("vm-1");
	assert_int_equal(store_member_update(s, &got), 0);
	char node1[UUID_STRING_MAX];
	memcpy(node1, got.node_id, UUID_STRING_MAX);
	store_member_done(&got);
	assert_int_equal(store_member_get_by_node(s, node1, &got), 0);
	assert_string_equal(got.address, "198.18.0.5");
	assert_string_equal(got.machine_id, "vm-1");
	store_member_done(&got);
	assert_int_equal(store_member_get_by_node(s, "nope", &got), -ENOENT);
	assert_int_equal(store_member_list(s, d.id, false, &ml, &n), 0);
	assert_int_equal(n, 1);
	store_member_array_free(ml, n);
	assert_int_equal(store_member_list(s, d.id, true, &ml, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(ml[0].ordinal, 0);
	store_member_array_free(ml, n);

	/* Two operations in the same second: seq orders them. */
	char first[UUID_STRING_MAX];
	for (int k = 0; k < 2; k++) {
		op = (struct store_operation){ .created_at = 5, .updated_at = 5 };
		assert_int_equal(uuid_random(op.id), 0);
		memcpy(op.ds_id, d.id, UUID_STRING_MAX);
		op.kind = (char *)"create";
		op.state = k ? (char *)"running" : (char *)"failed";
		op.params = (char *)"{}";
		for (int i = 0; i < 2; i++) {
			steps[i] = (struct store_step){ .idx = i, .member_ordinal = i - 1 };
			steps[i].name = i ? (char *)"finish" : (char *)"pg.init";
			steps[i].kind = i ? (char *)"internal" : (char *)"job";
			steps[i].deps = i ? (char *)"[0]" : (char *)"[]";
			steps[i].args = (char *)"{}";
			steps[i].state = (char *)"pending";
		}
		assert_int_equal(store_tx_begin(s), 0);
		assert_int_equal(store_operation_insert(s, &op, steps, 2), 0);
		assert_int_equal(store_tx_commit(s), 0);
		if (!k)
			memcpy(first, op.id, UUID_STRING_MAX);
	}
	assert_int_equal(store_operation_list(s, d.id, NULL, 10, &ol, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(ol[0].id, op.id);
	assert_string_equal(ol[1].id, first);
	store_operation_array_free(ol, n);
	assert_int_equal(store_operation_list(s, NULL, "failed", 10, &ol, &n), 0);
	assert_int_equal(n, 1);
	store_operation_array_free(ol, n);
	assert_int_equal(store_operation_running(s, d.id, &og), 0);
	assert_string_equal(og.id, op.id);
	free(og.state);
	og.state = strdup("succeeded");
	og.message = strdup("done");
	og.finished_at = 9;
	assert_int_equal(store_operation_update(s, &og), 0);
	store_operation_done(&og);
	assert_int_equal(store_operation_running(s, d.id, &og), -ENOENT);
	assert_int_equal(store_operation_get(s, op.id, &og), 0);
	assert_string_equal(og.message, "done");
	assert_int_equal(og.finished_at, 9);
	store_operation_done(&og);
	assert_int_equal(store_operation_count(s, "create", NULL, &count), 0);
	assert_int_equal(count, 2);
	assert_int_equal(store_operation_count(s, NULL, "succeeded", &count), 0);
	assert_int_equal(count, 1);

	assert_int_equal(store_step_list(s, op.id, &sl, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(sl[1].deps, "[0]");
	assert_int_equal(sl[0].member_ordinal, -1);
	free(sl[0].state);
	sl[0].state = strdup("running");
	sl[0].job_id = strdup("job-1");
	sl[0].started_at = 7;
	assert_int_equal(store_step_update(s, &sl[0]), 0);
	store_step_array_free(sl, n);
	assert_int_equal(store_step_get_by_job(s, "job-1", &sg), 0);
	assert_string_equal(sg.op_id, op.id);
	assert_int_equal(sg.idx, 0);
	assert_string_equal(sg.state, "running");
	assert_int_equal(sg.started_at, 7);
	store_step_done(&sg);
	assert_int_equal(store_step_get_by_job(s, "job-2", &sg), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_migrations, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tokens, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nodes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_jobs_and_pull, setup, teardown),
		cmocka_unit_test_setup_teardown(test_events, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_survives, setup, teardown),
		cmocka_unit_test_setup_teardown(test_datastores, setup, teardown),
		cmocka_unit_test_setup_teardown(test_members_ops_steps, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
