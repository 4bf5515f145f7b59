/*
 * test-agent-proc.c: proc_run — exit status, captured streams and their
 * bound, stdin from a buffer, the clean environment, the time limit,
 * keepalive cancellation, missing programs and users, and proc_tail.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "macro.h"
#include "proc.h"

static void test_exit_and_output(void **state)
{
	(void)state;
	const char *argv[] = { "/bin/sh", "-c", "echo out; echo err >&2; exit 3", NULL };
	struct proc_spec spec = { .argv = argv, .timeout_ms = 10000 };
	struct proc_result r = { 0 };

	assert_int_equal(proc_run(&spec, &r), 0);
	assert_int_equal(r.exit_status, 3);
	assert_string_equal(r.out, "out\n");
	assert_string_equal(r.err, "err\n");
	assert_false(r.timed_out);
	proc_result_done(&r);
}

static void test_stdin_and_env(void **state)
{
	(void)state;
	const char *argv[] = { "/bin/sh", "-c", "cat; echo \"$FOO-$HOME-${PATH:+p}\"", NULL };
	const char *env[] = { "FOO=bar", NULL };
	static const char in[] = "secret-on-stdin\n";
	struct proc_spec spec = { .argv = argv, .env = env, .stdin_data = in, .stdin_len = sizeof(in) - 1,
				  .timeout_ms = 10000 };
	struct proc_result r = { 0 };

	assert_int_equal(proc_run(&spec, &r), 0);
	assert_int_equal(r.exit_status, 0);
	assert_string_equal(r.out, "secret-on-stdin\nbar--p\n");
	proc_result_done(&r);
}

static void test_output_bound(void **state)
{
	(void)state;
	const char *argv[] = { "/bin/sh", "-c", "head -c 200000 /dev/zero | tr '\\0' x", NULL };
	struct proc_spec spec = { .argv = argv, .timeout_ms = 10000 };
	struct proc_result r = { 0 };

	assert_int_equal(proc_run(&spec, &r), 0);
	assert_int_equal(r.exit_status, 0);
	assert_int_equal(strlen(r.out), PROC_OUTPUT_MAX);
	proc_result_done(&r);
}

static void test_timeout(void **state)
{
	(void)state;
	const char *argv[] = { "/bin/sleep", "30", NULL };
	struct proc_spec spec = { .argv = argv, .timeout_ms = 300 };
	struct proc_result r = { 0 };

	assert_int_equal(proc_run(&spec, &r), -ETIMEDOUT);
	assert_true(r.timed_out);
	assert_int_equal(r.exit_status, 128 + 15);
	proc_result_done(&r);
}

static int calls;
static bool stop_on_second(void *userdata)
{
	(void)userdata;
	return ++calls < 2;
}

static void test_keepalive_cancel(void **state)
{
	(void)state;
	const char *argv[] = { "/bin/sleep", "30", NULL };
	struct proc_spec spec = { .argv = argv, .timeout_ms = 60000, .keepalive = stop_on_second };
	struct proc_result r = { 0 };

	calls = 0;
	assert_int_equal(proc_run(&spec, &r), -ECANCELED);
	assert_true(calls >= 2);
	proc_result_done(&r);
}

static void test_missing(void **state)
{
	(void)state;
	const char *argv[] = { "/nonexistent/prog", NULL };
	const char *argv2[] = { "/bin/true", NULL };
	const char *rel[] = { "true", NULL };
	struct proc_spec spec = { .argv = argv, .timeout_ms = 1000 };
	struct proc_result r = { 0 };

	assert_int_equal(proc_run(&spec, &r), -ENOENT);
	spec.argv = rel;
	assert_int_equal(proc_run(&spec, &r), -EINVAL);
	spec.argv = argv2;
	spec.user = "no-such-user-cairn";
	assert_int_equal(proc_run(&spec, &r), -ESRCH);
}

static void test_user(void **state)
{
	(void)state;
	const char *argv[] = { "/usr/bin/id", "-u", NULL };
	struct proc_spec spec = { .argv = argv, .user = "nobody", .timeout_ms = 10000 };
	struct proc_result r = { 0 };
	uid_t uid;
	gid_t gid;
	char want[32];

	assert_int_equal(proc_user("root", &uid, &gid), 0);
	assert_int_equal(uid, 0);
	assert_int_equal(proc_user("no-such-user-cairn", &uid, &gid), -ESRCH);
	if (geteuid() != 0)
		skip();
	assert_int_equal(proc_user("nobody", &uid, &gid), 0);
	assert_int_equal(proc_run(&spec, &r), 0);
	snprintf(want, sizeof(want), "%u\n", (unsigned)uid);
	assert_string_equal(r.out, want);
	proc_result_done(&r);
}

static void test_grandchild_keeps_pipe(void **state)
{
	(void)state;
	/* The background sleep holds stdout; proc_run must not wait for it. */
	const char *argv[] = { "/bin/sh", "-c", "sleep 3 & echo hi", NULL };
	struct proc_spec spec = { .argv = argv, .timeout_ms = 10000 };
	struct proc_result r = { 0 };
	time_t t0 = time(NULL);

	assert_int_equal(proc_run(&spec, &r), 0);
	assert_int_equal(r.exit_status, 0);
	assert_string_equal(r.out, "hi\n");
	assert_true(time(NULL) - t0 < 2);
	proc_result_done(&r);
}

static void test_tail(void **state)
{
	(void)state;
	assert_string_equal(proc_tail("a\nb\nc\n", 100), "a\nb\nc\n");
	assert_string_equal(proc_tail("line one\nline two\n", 10), "line two\n");
	assert_string_equal(proc_tail(NULL, 10), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exit_and_output), cmocka_unit_test(test_stdin_and_env),
		cmocka_unit_test(test_output_bound),    cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_keepalive_cancel), cmocka_unit_test(test_missing),
		cmocka_unit_test(test_user),            cmocka_unit_test(test_tail), cmocka_unit_test(test_grandchild_keeps_pipe),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
