/*
 * test-cli-datastores.c: argument parsing of `cairnctl datastore …` and
 * `cairnctl op …` (what reaches the API and what is refused before it),
 * the progress line of `op watch` and the psql command `create` prints.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cmd-datastores.h"
#include "cmd-ops.h"
#include "macro.h"

#define DS_PARSE(ret, ...)                                                                  \
	({                                                                                  \
		const char *_v[] = { __VA_ARGS__ };                                         \
		ds_args_parse((int)ELEMENTSOF(_v), (char **)_v, ret);                       \
	})
#define OPS_PARSE(ret, ...)                                                                 \
	({                                                                                  \
		const char *_v[] = { __VA_ARGS__ };                                         \
		ops_args_parse((int)ELEMENTSOF(_v), (char **)_v, ret);                      \
	})

static void assert_json_eq(json_t *v, const char *expected)
{
	_cleanup_json_ json_t *e = json_loads(expected, 0, NULL);

	assert_non_null(e);
	if (!json_equal(v, e)) {
		char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
		fprintf(stderr, "got %s, expected %s\n", s, expected);
		free(s);
		fail();
	}
}

static void test_create(void **state)
{
	struct ds_args a;
	_cleanup_json_ json_t *body = NULL;

	assert_int_equal(DS_PARSE(&a, "create", "db1", "--nodes", "3", "--set", "work_mem=64MB", "--set",
				  "log_min_duration_statement=250", "--size", "cpus=2,memory_mb=4096,disk_gb=50", "--wait",
				  "--version", "15"),
			 0);
	assert_int_equal(a.cmd, DS_CREATE);
	assert_string_equal(a.name, "db1");
	assert_true(a.wait);
	assert_string_equal(a.ca_out, "./db1-ca.pem");
	body = ds_create_body(&a);
	assert_json_eq(body, "{\"name\":\"db1\",\"engine\":\"postgres\",\"version\":\"15\",\"nodes\":3,"
			     "\"size\":{\"cpus\":2,\"memory_mb\":4096,\"disk_gb\":50},"
			     "\"settings\":{\"work_mem\":\"64MB\",\"log_min_duration_statement\":\"250\"}}");
	ds_args_done(&a);
	json_decref(body);

	/* defaults: one node, version 15, empty size and settings */
	assert_int_equal(DS_PARSE(&a, "create", "x", "--ca-out", "/tmp/x.pem"), 0);
	body = ds_create_body(&a);
	assert_json_eq(body, "{\"name\":\"x\",\"engine\":\"postgres\",\"version\":\"15\",\"nodes\":1,"
			     "\"size\":{},\"settings\":{}}");
	assert_string_equal(a.ca_out, "/tmp/x.pem");
	assert_false(a.wait);
	ds_args_done(&a);
	/* a value may hold '=' and spaces */
	assert_int_equal(DS_PARSE(&a, "create", "x", "--set", "search_path=a, b=c"), 0);
	assert_string_equal(json_string_value(json_object_get(a.settings, "search_path")), "a, b=c");
	ds_args_done(&a);
}

static void test_create_refusals(void **state)
{
	struct ds_args a;
	char long_name[48];

	memset(long_name, 'a', 41);
	long_name[41] = 0;
	assert_int_equal(DS_PARSE(&a, "create"), -EINVAL);
	assert_int_equal(DS_PARSE(&a, "create", "Db1"), -EINVAL);
	assert_int_equal(DS_PARSE(&a, "create", "-db"), -EINVAL);
	assert_int_equal(DS_PARSE(&a, "create", "db-"), -EINVAL);
	assert_int_equal(DS_PARSE(&a, "create", "d_b"), -EINVAL);
	assert_int_equal(DS_PARSE(&a, "create", long_name), -EINVAL);
	assert_int_equal(DS_PARSE(&a, "create", "a", "b"), -EINVAL);
	assert_int_equal(DS_PARSE(&a, "create", "db", "--nodes", "0"), -EINVAL);
	assert_int_equal(DS_PARSE(&a, "create", "db", "--nodes", "10"), -EINVAL);
	assert_int_equal(DS_PARSE(&a, "create", "db", "--nodes", "3x"), -EINVAL);
	assert_int_equal(DS_PARSE(&a, "create", "db", "--version", "15.4"), -EINVAL);
	assert_int_equal(DS_PARSE(&a, "create", "db", "--set", "work_mem"), -EINVAL);
	assert_int_equal(DS_PARSE(&a, "create", "db", "--set", "Work_mem=1"), -EINVAL);
	assert_int_equal(DS_PARSE(&a, "create", "db", "--set", "work-mem=1"), -EINVAL);
	assert_int_equal(DS_PARSE(&a, "create", "db", "--set", "=1"), -EINVAL);
	assert_int_equal(DS_PARSE(&a, "create", "db", "--set", "a=1", "--set", "a=2"), -EINVAL);
	assert_int_equal(DS_PARSE(&a, "create", "db", "--set", "a=x\ny"), -EINVAL);
	assert_int_equal(DS_PARSE(&a, "create", "db", "--unset", "a"), -EINVAL);
	assert_int_equal(DS_PARSE(&a, "create", "db", "--size", "cpus=2,ram=4"), -EINVAL);
	assert_int_equal(DS_PARSE(&a, "create", "db", "--size", "cpus=2,cpus=4"), -EINVAL);
	assert_int_equal(DS_PARSE(&a, "create", "db", "--size", "cpus=0"), -EINVAL);
	assert_int_equal(DS_PARSE(&a, "create", "db", "--size", "cpus"), -EINVAL);
	assert_int_equal(DS_PARSE(&a, "create", "db", "--size", ""), -EINVAL);
	assert_int_equal(DS_PARSE(&a, "create", "db", "--add", "1"), -EINVAL);
	assert_int_equal(DS_PARSE(&a, "create", "db", "--bogus"), -EINVAL);
	assert_int_equal(DS_PARSE(&a, "frobnicate", "db"), -EINVAL);
}

static void test_setting_limits(void **state)
{
	_cleanup_json_ json_t *s = json_object();
	_cleanup_free_ char *big = malloc(1100), *ok = malloc(1100);
	char name[80];

	memset(big, 'v', 1100);
	memcpy(big, "x=", 2);
	big[1027] = 0; /* value of 1025 characters */
	assert_int_equal(ds_setting_add(s, big, false), -EINVAL);
	memset(ok, 'v', 1100);
	memcpy(ok, "x=", 2);
	ok[1026] = 0; /* 1024 */
	assert_int_equal(ds_setting_add(s, ok, false), 0);
	memset(name, 'n', sizeof(name));
	name[64] = 0; /* 64 characters: one too many */
	assert_int_equal(ds_setting_add(s, name, true), -EINVAL);
	name[63] = 0;
	assert_int_equal(ds_setting_add(s, name, true), 0);
	assert_true(json_is_null(json_object_get(s, name)));
	for (int i = (int)json_object_size(s); i < 100; i++) {
		char kv[32];

		snprintf(kv, sizeof(kv), "p%d=1", i);
		assert_int_equal(ds_setting_add(s, kv, false), 0);
	}
	assert_int_equal(ds_setting_add(s, "one_more=1", false), -EINVAL);
}

static void test_other_commands(void **state)
{
	struct ds_args a;

	assert_int_equal(DS_PARSE(&a, "list"), 0);
	assert_int_equal(a.cmd, DS_LIST);
	ds_args_done(&a);
	assert_int_equal(DS_PARSE(&a, "list", "x"), -EINVAL);
	assert_int_equal(DS_PARSE(&a, "show", "db1"), 0);
	assert_int_equal(a.cmd, DS_SHOW);
	ds_args_done(&a);
	assert_int_equal(DS_PARSE(&a, "show"), -EINVAL);
	assert_int_equal(DS_PARSE(&a, "show", "../x"), -EINVAL);
	assert_int_equal(DS_PARSE(&a, "show", "db1", "--wait"), -EINVAL);

	assert_int_equal(DS_PARSE(&a, "delete", "db1", "--wait"), 0);
	assert_int_equal(a.cmd, DS_DELETE);
	assert_true(a.wait);
	ds_args_done(&a);

	assert_int_equal(DS_PARSE(&a, "scale", "db1", "--add", "2"), 0);
	assert_int_equal(a.add, 2);
	assert_null(a.remove);
	ds_args_done(&a);
	assert_int_equal(DS_PARSE(&a, "scale", "db1", "--remove", "db1-2", "--wait"), 0);
	assert_string_equal(a.remove, "db1-2");
	assert_true(a.wait);
	ds_args_done(&a);
	assert_int_equal(DS_PARSE(&a, "scale", "db1"), -EINVAL);
	assert_int_equal(DS_PARSE(&a, "scale", "db1", "--add", "1", "--remove", "db1-1"), -EINVAL);
	assert_int_equal(DS_PARSE(&a, "scale", "db1", "--add", "9"), -EINVAL);
	assert_int_equal(DS_PARSE(&a, "scale", "db1", "--remove", "a/b"), -EINVAL);

	assert_int_equal(DS_PARSE(&a, "config", "db1", "--set", "work_mem=8MB", "--unset", "jit", "--wait"), 0);
	assert_int_equal(a.cmd, DS_CONFIG);
	assert_json_eq(a.settings, "{\"work_mem\":\"8MB\",\"jit\":null}");
	ds_args_done(&a);
	assert_int_equal(DS_PARSE(&a, "config", "db1"), -EINVAL);
	assert_int_equal(DS_PARSE(&a, "config", "db1", "--set", "a=1", "--unset", "a"), -EINVAL);
	assert_int_equal(DS_PARSE(&a, "config", "db1", "--size", "cpus=1"), -EINVAL);

	assert_int_equal(DS_PARSE(&a, "connection", "db1"), 0);
	assert_string_equal(a.ca_out, "./db1-ca.pem");
	ds_args_done(&a);
	assert_int_equal(DS_PARSE(&a, "connection", "db1", "--wait"), -EINVAL);
}

static void test_ops_args(void **state)
{
	struct ops_args a;

	assert_int_equal(OPS_PARSE(&a, "show", "op1"), 0);
	assert_int_equal(a.cmd, OPS_SHOW);
	assert_string_equal(a.id, "op1");
	assert_int_equal(OPS_PARSE(&a, "watch", "op1", "--timeout", "30"), 0);
	assert_int_equal(a.cmd, OPS_WATCH);
	assert_int_equal(a.timeout_s, 30);
	assert_int_equal(OPS_PARSE(&a, "list"), 0);
	assert_null(a.datastore);
	assert_int_equal(OPS_PARSE(&a, "list", "--datastore", "db1"), 0);
	assert_string_equal(a.datastore, "db1");
	assert_int_equal(OPS_PARSE(&a, "retry", "op1", "--wait"), 0);
	assert_true(a.wait);

	assert_int_equal(OPS_PARSE(&a, "show"), -EINVAL);
	assert_int_equal(OPS_PARSE(&a, "show", "a", "b"), -EINVAL);
	assert_int_equal(OPS_PARSE(&a, "watch", "op1", "--timeout", "-1"), -EINVAL);
	assert_int_equal(OPS_PARSE(&a, "watch", "op1", "--datastore", "x"), -EINVAL);
	assert_int_equal(OPS_PARSE(&a, "list", "x"), -EINVAL);
	assert_int_equal(OPS_PARSE(&a, "retry", "op1", "--timeout", "3"), -EINVAL);
	assert_int_equal(OPS_PARSE(&a, "cancel", "op1"), -EINVAL);
}

static void test_step_line(void **state)
{
	_cleanup_json_ json_t *s1 = json_pack("{s:i, s:s, s:s, s:s, s:s}", "index", 4, "name", "pg.init", "kind", "job",
					       "node_id", "n0", "state", "running");
	_cleanup_json_ json_t *s2 = json_pack("{s:i, s:s, s:s, s:s, s:s}", "index", 9, "name", "pg.replica", "kind",
					       "job", "state", "failed", "message", "could not connect\x1b[2J to primary");
	_cleanup_json_ json_t *s3 = json_pack("{s:s, s:s}", "name", "finish", "state", "succeeded");
	_cleanup_json_ json_t *s4 = json_pack("{s:s, s:s, s:{s:s}}", "name", "pg.slots", "state", "failed", "job",
					       "message", "slot in use");
	_cleanup_free_ char *l1 = ops_step_line(s1, 0, 17, "db1-0"), *l2 = ops_step_line(s2, 0, 17, "db1-1"),
			    *l3 = ops_step_line(s3, 16, 17, NULL), *l4 = ops_step_line(s4, 2, 17, "db1-0");

	assert_string_equal(l1, "[5/17] pg.init on db1-0: running");
	assert_string_equal(l2, "[10/17] pg.replica on db1-1: failed: could not connect [2J to primary");
	assert_string_equal(l3, "[17/17] finish: succeeded");
	assert_string_equal(l4, "[3/17] pg.slots on db1-0: failed: slot in use");
}

static void test_psql_command(void **state)
{
	_cleanup_json_ json_t *c = json_pack("{s:s, s:i, s:s, s:s, s:s, s:s}", "host", "198.18.0.11", "port", 5432,
					      "dbname", "postgres", "user", "cairn_admin", "sslmode", "verify-full",
					      "password", "secret-never-printed");
	_cleanup_free_ char *p1 = ds_psql_command(c, "/root/demo-ca.pem"),
			    *p2 = ds_psql_command(c, "/tmp/my dir/it's \"x\".pem");

	assert_string_equal(p1, "psql \"host=198.18.0.11 port=5432 dbname=postgres user=cairn_admin "
				"sslmode=verify-full sslrootcert=/root/demo-ca.pem\"");
	assert_null(strstr(p1, "secret"));
	assert_string_equal(p2, "psql \"host=198.18.0.11 port=5432 dbname=postgres user=cairn_admin "
				"sslmode=verify-full sslrootcert='/tmp/my dir/it\\\\'s \\\"x\\\".pem'\"");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create),       cmocka_unit_test(test_create_refusals),
		cmocka_unit_test(test_setting_limits), cmocka_unit_test(test_other_commands),
		cmocka_unit_test(test_ops_args),     cmocka_unit_test(test_step_line),
		cmocka_unit_test(test_psql_command),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
