/*
 * test-agent-journal.c: agent.json and journal/<jti>.json.  The agent's
 * write order for a job is replayed step by step; after every step the
 * "agent is killed" (the journal is reopened from disk, as after a crash)
 * and recovery must do the right thing: finish, re-run only idempotent
 * work, report the rest interrupted, re-send unreported results, and never
 * let a refused job move the acceptance floor.  The files themselves are
 * inspected: valid JSON, mode 0600, no temporaries left behind.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "fileio.h"
#include "journal.h"
#include "macro.h"
#include "protocol.h"
#include "util.h"

#define JTI1 "11111111-1111-4111-8111-111111111111"
#define JTI2 "22222222-2222-4222-8222-222222222222"
#define JTI3 "33333333-3333-4333-8333-333333333333"

static char dir[64];

static int make_dir(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/test-journal-XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int remove_dir(void **state)
{
	_cleanup_free_ char *jd = path_join(dir, JOURNAL_DIR);
	DIR *d = opendir(jd);
	struct dirent *de;

	while (d && (de = readdir(d))) {
		_cleanup_free_ char *p = NULL;

		if (de->d_name[0] == '.')
			continue;
		p = path_join(jd, de->d_name);
		unlink(p);
	}
	if (d)
		closedir(d);
	rmdir(jd);
	{
		_cleanup_free_ char *p = path_join(dir, JOURNAL_STATE_FILE);

		unlink(p);
	}
	rmdir(dir);
	return 0;
}

static bool idempotent(const char *type)
{
	const struct cairn_job_type_info *t = cairn_job_type_lookup(type);

	return t && t->idempotent;
}

/* Every file in the journal and agent.json: parseable JSON, 0600, and no
 * leftovers of write_file_atomic. */
static void check_files(void)
{
	_cleanup_free_ char *jd = path_join(dir, JOURNAL_DIR);
	DIR *d = opendir(jd);
	struct dirent *de;
	struct stat st;

	assert_non_null(d);
	assert_int_equal(stat(jd, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	while ((de = readdir(d))) {
		_cleanup_free_ char *p = NULL, *data = NULL;
		json_t *v;

		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		assert_int_equal(strlen(de->d_name), 36 + 5);
		p = path_join(jd, de->d_name);
		assert_int_equal(stat(p, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0600);
		assert_int_equal(read_file_full(p, JOURNAL_ENTRY_FILE_MAX, &data, NULL), 0);
		v = json_loads(data, JSON_REJECT_DUPLICATES, NULL);
		assert_true(json_is_object(v));
		json_decref(v);
	}
	closedir(d);
	d = opendir(dir);
	while ((de = readdir(d)))
		assert_true(de->d_name[0] != '.' || streq(de->d_name, ".") || streq(de->d_name, "..") ||
			    !"temporary file left in state_dir");
	closedir(d);
}

/* Simulates a restart: fresh journal object and state from disk. */
static void recover(struct agent_state *st, struct journal_step **steps, size_t *n, size_t *open)
{
	_cleanup_journal_ struct journal *j = NULL;

	agent_state_done(st);
	assert_int_equal(journal_open(dir, &j), 0);
	assert_int_equal(journal_state_load(j, st), 0);
	assert_int_equal(journal_recover(j, st, idempotent, steps, n, open), 0);
}

static void test_state_roundtrip(void **state)
{
	_cleanup_journal_ struct journal *j = NULL;
	struct agent_state st = {}, st2 = {};
	_cleanup_free_ char *p = path_join(dir, JOURNAL_STATE_FILE);

	assert_int_equal(journal_open(dir, &j), 0);
	/* missing file: a new agent */
	assert_int_equal(journal_state_load(j, &st), 0);
	assert_int_equal(st.accepted_seq, 0);
	assert_int_equal(st.settled_seq, 0);
	assert_true(json_is_object(st.epochs));
	st.accepted_seq = 42;
	st.settled_seq = 41;
	json_object_set_new(st.epochs, "ds-1", json_integer(3));
	assert_int_equal(journal_state_save(j, &st), 0);
	assert_int_equal(journal_state_load(j, &st2), 0);
	assert_int_equal(st2.accepted_seq, 42);
	assert_int_equal(st2.settled_seq, 41);
	assert_int_equal(json_integer_value(json_object_get(st2.epochs, "ds-1")), 3);
	agent_state_done(&st);
	agent_state_done(&st2);
	check_files();

	/* malformed: refuse rather than forget the floors */
	assert_int_equal(write_string_atomic(p, "{\"accepted_seq\":\"x\"}", 0600), 0);
	assert_int_equal(journal_state_load(j, &st), -EBADMSG);
	assert_int_equal(write_string_atomic(p, "{\"accepted_seq\":1,\"accepted_seq\":2,\"settled_seq\":0,\"epochs\":{}}", 0600), 0);
	assert_int_equal(journal_state_load(j, &st), -EBADMSG);
	assert_int_equal(write_string_atomic(p, "not json", 0600), 0);
	assert_int_equal(journal_state_load(j, &st), -EBADMSG);
}

static void test_entry_roundtrip(void **state)
{
	_cleanup_journal_ struct journal *j = NULL;
	struct journal_entry e = { .jti = JTI1, .seq = 7, .state = JOURNAL_ACCEPTED, .received_at = 100 }, r = {};

	assert_int_equal(journal_open(dir, &j), 0);
	assert_false(journal_has(j, JTI1));
	assert_int_equal(journal_entry_load(j, JTI1, &r), -ENOENT);
	e.type = strdup("tls.issue");
	e.jws = strdup("a.b.c");
	assert_int_equal(journal_entry_save(j, &e), 0);
	assert_true(journal_has(j, JTI1));
	assert_int_equal(journal_entry_load(j, JTI1, &r), 0);
	assert_string_equal(r.jti, JTI1);
	assert_int_equal(r.seq, 7);
	assert_string_equal(r.type, "tls.issue");
	assert_string_equal(r.jws, "a.b.c");
	assert_int_equal(r.state, JOURNAL_ACCEPTED);
	assert_null(r.result);
	assert_false(r.reported);
	assert_int_equal(r.received_at, 100);
	assert_int_equal(r.finished_at, 0);
	journal_entry_done(&r);

	e.state = JOURNAL_DONE;
	e.result = json_pack("{s:s,s:{s:i}}", "state", "succeeded", "output", "x", 1);
	e.finished_at = 200;
	e.reported = true;
	assert_int_equal(journal_entry_save(j, &e), 0);
	assert_int_equal(journal_entry_load(j, JTI1, &r), 0);
	assert_int_equal(r.state, JOURNAL_DONE);
	assert_true(r.reported);
	assert_true(json_equal(r.result, e.result));
	journal_entry_done(&r);
	journal_entry_done(&e);
	check_files();

	/* a jti that is not a UUID never names a file */
	assert_false(journal_has(j, "../agent"));
	assert_int_equal(journal_entry_load(j, "../agent", &r), -EINVAL);
}

/* The agent's order for an accepted job, with a kill after each step. */
static void replay_accepted(const char *type, bool idem)
{
	_cleanup_journal_ struct journal *j = NULL;
	struct agent_state st = {};
	struct journal_entry e = { .jti = JTI1, .seq = 5, .state = JOURNAL_ACCEPTED, .received_at = now_s() };
	struct journal_step *steps = NULL;
	size_t n = 0, open = 0;

	assert_int_equal(journal_open(dir, &j), 0);
	assert_int_equal(journal_state_load(j, &st), 0);
	e.type = strdup(type);
	e.jws = strdup("h.p.s");

	/* 1. entry accepted; killed before agent.json moved: the floor is
	 *    rebuilt from the journal, and the job is finished. */
	assert_int_equal(journal_entry_save(j, &e), 0);
	check_files();
	recover(&st, &steps, &n, &open);
	assert_int_equal(st.accepted_seq, 5);
	assert_int_equal(n, 1);
	assert_int_equal(steps[0].action, JOURNAL_ACTION_RUN);
	assert_string_equal(steps[0].jti, JTI1);
	assert_int_equal(open, 1);
	free(steps);

	/* 2. agent.json written (recovery already did). */
	st.accepted_seq = 5;
	assert_int_equal(journal_state_save(j, &st), 0);
	recover(&st, &steps, &n, &open);
	assert_int_equal(n, 1);
	assert_int_equal(steps[0].action, JOURNAL_ACTION_RUN);
	free(steps);

	/* 3. running, killed mid-run. */
	e.state = JOURNAL_RUNNING;
	assert_int_equal(journal_entry_save(j, &e), 0);
	check_files();
	recover(&st, &steps, &n, &open);
	assert_int_equal(n, 1);
	if (idem) {
		assert_int_equal(steps[0].action, JOURNAL_ACTION_RUN);
		assert_int_equal(open, 1);
	} else {
		struct journal_entry r = {};

		/* never run twice: reported interrupted */
		assert_int_equal(steps[0].action, JOURNAL_ACTION_REPORT);
		assert_int_equal(open, 0);
		assert_int_equal(journal_entry_load(j, JTI1, &r), 0);
		assert_int_equal(r.state, JOURNAL_DONE);
		assert_string_equal(json_string_value(json_object_get(r.result, "state")), "interrupted");
		assert_false(r.reported);
		assert_true(r.finished_at > 0);
		journal_entry_done(&r);
		free(steps);
		/* and a second restart still only reports it */
		recover(&st, &steps, &n, &open);
		assert_int_equal(n, 1);
		assert_int_equal(steps[0].action, JOURNAL_ACTION_REPORT);
		free(steps);
		journal_entry_done(&e);
		agent_state_done(&st);
		return;
	}
	free(steps);

	/* 4. done with its result, killed before the controller answered. */
	e.state = JOURNAL_DONE;
	e.result = json_pack("{s:s}", "state", "succeeded");
	e.finished_at = now_s();
	assert_int_equal(journal_entry_save(j, &e), 0);
	recover(&st, &steps, &n, &open);
	assert_int_equal(n, 1);
	assert_int_equal(steps[0].action, JOURNAL_ACTION_REPORT);
	assert_int_equal(open, 0);
	free(steps);

	/* 5. reported; settled_seq written. Nothing left to do. */
	e.reported = true;
	assert_int_equal(journal_entry_save(j, &e), 0);
	st.settled_seq = 5;
	assert_int_equal(journal_state_save(j, &st), 0);
	recover(&st, &steps, &n, &open);
	assert_int_equal(n, 0);
	assert_int_equal(st.accepted_seq, 5);
	assert_int_equal(st.settled_seq, 5);
	free(steps);
	check_files();
	journal_entry_done(&e);
	agent_state_done(&st);
}

static void test_order_idempotent(void **state)
{
	replay_accepted("tls.issue", true);
}

static void test_order_non_idempotent(void **state)
{
	replay_accepted("debug.sleep", false);
}

static void test_running_unknown_type_is_interrupted(void **state)
{
	replay_accepted("no.such.type", false);
}

static void test_rejected_does_not_move_floor(void **state)
{
	_cleanup_journal_ struct journal *j = NULL;
	struct agent_state st = {};
	struct journal_step *steps = NULL;
	size_t n = 0;
	/* a verified-but-refused job (e.g. expired) with a high seq, and a
	 * forged one (seq 0: its seq was never trusted) */
	struct journal_entry a = { .jti = JTI1, .seq = 900, .state = JOURNAL_DONE, .received_at = 1, .finished_at = 1 };
	struct journal_entry b = { .jti = JTI2, .seq = 0, .state = JOURNAL_DONE, .received_at = 1, .finished_at = 1 };
	struct journal_entry c = { .jti = JTI3, .seq = 4, .state = JOURNAL_DONE, .received_at = 1, .finished_at = 1,
				   .reported = true };

	assert_int_equal(journal_open(dir, &j), 0);
	a.result = json_pack("{s:s,s:s}", "state", "rejected", "message", "time: expired (exp)");
	b.result = json_pack("{s:s,s:s}", "state", "rejected", "message", "signature: does not verify");
	c.result = json_pack("{s:s}", "state", "succeeded");
	assert_int_equal(journal_entry_save(j, &a), 0);
	assert_int_equal(journal_entry_save(j, &b), 0);
	assert_int_equal(journal_entry_save(j, &c), 0);
	recover(&st, &steps, &n, NULL);
	assert_int_equal(st.accepted_seq, 4);
	/* unreported rejections are re-sent, in seq order */
	assert_int_equal(n, 2);
	assert_string_equal(steps[0].jti, JTI2);
	assert_string_equal(steps[1].jti, JTI1);
	assert_int_equal(steps[0].action, JOURNAL_ACTION_REPORT);
	free(steps);
	journal_entry_done(&a);
	journal_entry_done(&b);
	journal_entry_done(&c);
	agent_state_done(&st);
}

static void test_recover_refuses_malformed(void **state)
{
	_cleanup_journal_ struct journal *j = NULL;
	_cleanup_free_ char *p = NULL;
	struct agent_state st = {};
	struct journal_step *steps = NULL;
	size_t n = 0;

	assert_int_equal(journal_open(dir, &j), 0);
	assert_int_equal(journal_state_load(j, &st), 0);
	assert_true(asprintf(&p, "%s/%s/%s.json", dir, JOURNAL_DIR, JTI1) > 0);
	assert_int_equal(write_string_atomic(p, "{\"jti\":\"" JTI1 "\",\"state\":\"weird\"}", 0600), 0);
	assert_int_equal(journal_recover(j, &st, idempotent, &steps, &n, NULL), -EBADMSG);
	/* a file whose jti does not match its name */
	assert_int_equal(write_string_atomic(p,
		"{\"jti\":\"" JTI2 "\",\"seq\":1,\"type\":null,\"state\":\"accepted\",\"result\":null,"
		"\"reported\":false,\"received_at\":1,\"finished_at\":null,\"jws\":null}", 0600), 0);
	assert_int_equal(journal_recover(j, &st, idempotent, &steps, &n, NULL), -EBADMSG);
	/* stray files are ignored */
	unlink(p);
	free(p);
	p = NULL;
	assert_true(asprintf(&p, "%s/%s/.#tmpfile", dir, JOURNAL_DIR) > 0);
	assert_int_equal(write_string_atomic(p, "junk", 0600), 0);
	assert_int_equal(journal_recover(j, &st, idempotent, &steps, &n, NULL), 0);
	assert_int_equal(n, 0);
	free(steps);
	unlink(p);
	agent_state_done(&st);
}

static void test_prune(void **state)
{
	_cleanup_journal_ struct journal *j = NULL;
	int64_t now = 2000000000;
	size_t count = 0;
	DIR *d;
	struct dirent *de;
	_cleanup_free_ char *jd = path_join(dir, JOURNAL_DIR);

	assert_int_equal(journal_open(dir, &j), 0);
	/* 1005 recent done+reported, 3 old done+reported, 1 old unreported,
	 * 1 old open */
	for (unsigned i = 0; i < 1010; i++) {
		struct journal_entry e = { .seq = i + 1, .state = JOURNAL_DONE, .reported = true, .received_at = 1 };

		snprintf(e.jti, sizeof(e.jti), "00000000-0000-4000-8000-%012u", i);
		e.finished_at = i < 1005 ? now - 60 - i : now - JOURNAL_KEEP_S - 10;
		if (i == 1008)
			e.reported = false;
		if (i == 1009) {
			e.state = JOURNAL_ACCEPTED;
			e.reported = false;
			e.finished_at = 0;
		} else
			e.result = json_pack("{s:s}", "state", "succeeded");
		assert_int_equal(journal_entry_save(j, &e), 0);
		journal_entry_done(&e);
	}
	/* 3 old ones go for age, then the 5 oldest recent ones for the cap */
	assert_int_equal(journal_prune(j, now), 3 + 5);
	d = opendir(jd);
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			count++;
	closedir(d);
	assert_int_equal(count, 1000 + 2);
	assert_true(journal_has(j, "00000000-0000-4000-8000-000000001008"));
	assert_true(journal_has(j, "00000000-0000-4000-8000-000000001009"));
	assert_true(journal_has(j, "00000000-0000-4000-8000-000000000000"));  /* newest */
	assert_false(journal_has(j, "00000000-0000-4000-8000-000000001004")); /* oldest recent */
	assert_false(journal_has(j, "00000000-0000-4000-8000-000000001005")); /* old */
	/* idempotent */
	assert_int_equal(journal_prune(j, now), 0);
	check_files();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_state_roundtrip, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_entry_roundtrip, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_order_idempotent, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_order_non_idempotent, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_running_unknown_type_is_interrupted, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_rejected_does_not_move_floor, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_recover_refuses_malformed, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_prune, make_dir, remove_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
