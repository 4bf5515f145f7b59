/*
 * test-cli-output.c: cairnctl's text output: aligned tables, values of
 * every JSON kind, control characters kept off the terminal, problem+json
 * messages and the `jobs watch` line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "client.h"
#include "cmd-jobs.h"
#include "macro.h"
#include "output.h"

static void test_table(void **state)
{
	static const char *const h[] = { "ID", "NAME", "STATE" };
	static const char *const r1[] = { "1", "db-1", "enrolled" };
	static const char *const r2[] = { "22", "a\x1b[31mred", NULL };
	struct ctl_table *t = ctl_table_new(3, h);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(t);
	assert_int_equal(ctl_table_add(t, r1), 0);
	assert_int_equal(ctl_table_add(t, r2), 0);
	ctl_table_print(t, f);
	fclose(f);
	/* NAME is as wide as its widest cell, "a [31mred" (the escape
	 * character shown as a space). */
	assert_string_equal(buf, "ID  NAME       STATE\n"
				 "1   db-1       enrolled\n"
				 "22  a [31mred  -\n");
	free(buf);
	ctl_table_free(t);
	ctl_table_free(NULL);
}

static void test_text(void **state)
{
	json_t *o = json_pack("{s:s,s:i,s:b,s:n,s:[i,i],s:f}", "s", "x\ty", "i", 42, "b", 1, "n", "a", 1, 2, "r", 0.5);
	static const struct {
		const char *key, *want;
	} cases[] = { { "s", "x y" }, { "i", "42" }, { "b", "true" }, { "n", "-" },
		      { "missing", "-" }, { "a", "[1,2]" }, { "r", "0.5" } };

	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		_cleanup_free_ char *v = ctl_text(o, cases[i].key);

		assert_string_equal(v, cases[i].want);
	}
	json_decref(o);
}

static void test_long_cell_cut(void **state)
{
	char big[1000];
	json_t *o;
	_cleanup_free_ char *v = NULL;

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	o = json_pack("{s:s}", "m", big);
	v = ctl_text(o, "m");
	assert_int_equal(strlen(v), CTL_CELL_MAX + 3);
	assert_string_equal(v + CTL_CELL_MAX, "...");
	json_decref(o);
}

static void test_problem(void **state)
{
	json_t *p = json_pack("{s:s,s:s,s:i,s:s}", "type", "https://cairn.dev/problems/not-found", "title", "Not Found",
			      "status", 404, "detail", "no node 6b1c");
	_cleanup_free_ char *m1 = ctl_problem_message(404, p), *m2 = ctl_problem_message(502, NULL);

	assert_string_equal(m1, "error: Not Found: no node 6b1c");
	assert_string_equal(m2, "error: HTTP 502");
	json_decref(p);
}

static void test_watch_line(void **state)
{
	json_t *j = json_pack("{s:s,s:s,s:i,s:s}", "updated_at", "2026-11-23T10:00:00Z", "state", "failed", "attempt",
			      2, "message", "controller refused the CSR");
	_cleanup_free_ char *l = cmd_jobs_watch_line(j);

	assert_string_equal(l, "2026-11-23T10:00:00Z  failed      attempt 2  controller refused the CSR");
	json_object_del(j, "message");
	free(l);
	l = cmd_jobs_watch_line(j);
	assert_string_equal(l, "2026-11-23T10:00:00Z  failed      attempt 2");
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_long_cell_cut),
		cmocka_unit_test(test_problem),
		cmocka_unit_test(test_watch_line),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
