/*
 * test-cli-backups.c: `cairnctl backup` argument parsing and request
 * bodies (cli/cmd-backups.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cmd-backups.h"
#include "macro.h"

static int parse(struct bk_args *a, ...)
{
	char *argv[32];
	int argc = 0;
	va_list ap;
	va_start(ap, a);
	for (char *s; (s = va_arg(ap, char *));)
		argv[argc++] = s;
	va_end(ap);
	argv[argc] = NULL;
	return bk_args_parse(argc, argv, a);
}

static void test_args(void **state)
{
	(void)state;
	struct bk_args a;
	assert_int_equal(parse(&a, "list", "shop", NULL), 0);
	assert_int_equal(a.cmd, BK_LIST);
	assert_string_equal(a.target, "shop");
	assert_false(a.all);
	assert_int_equal(parse(&a, "list", "--all", "shop", NULL), 0);
	assert_true(a.all);
	assert_int_equal(parse(&a, "now", "shop", "--wait", NULL), 0);
	assert_true(a.wait);
	assert_int_equal(parse(&a, "verify", "--drill", "id-1", NULL), 0);
	assert_true(a.drill);
	assert_int_equal(parse(&a, "config", "shop", NULL), 0);
	assert_false(bk_config_sets(&a));
	assert_int_equal(parse(&a, "config", "shop", "--every", "3600", "--keep", "7", NULL), 0);
	assert_true(bk_config_sets(&a));
	assert_int_equal(a.every_s, 3600);
	assert_int_equal(a.keep, 7);
	assert_int_equal(parse(&a, "config", "shop", "--delete", NULL), 0);
	assert_true(a.delete_config);
	assert_int_equal(parse(&a, "restore", "shop", "--to", "copy", "--nodes", "2", "--time",
			       "2026-11-23T10:00:00Z", NULL),
			 0);
	assert_string_equal(a.to, "copy");
	assert_int_equal(a.nodes, 2);
	assert_int_equal(parse(&a, "key", "shop", NULL), 0);
	assert_int_equal(a.cmd, BK_KEY);

	/* Refused: unknown, wrong options, secrets in argv, missing args. */
	assert_int_equal(parse(&a, NULL), -EINVAL);
	assert_int_equal(parse(&a, "bogus", "x", NULL), -EINVAL);
	assert_int_equal(parse(&a, "list", NULL), -EINVAL);
	assert_int_equal(parse(&a, "list", "a", "b", NULL), -EINVAL);
	assert_int_equal(parse(&a, "list", "--drill", "a", NULL), -EINVAL);
	assert_int_equal(parse(&a, "config", "shop", "--password", "s3cr3t", NULL), -EINVAL);
	assert_int_equal(parse(&a, "config", "shop", "--every", "10", NULL), -EINVAL);
	assert_int_equal(parse(&a, "config", "shop", "--compression", "20", NULL), -EINVAL);
	assert_int_equal(parse(&a, "config", "shop", "--delete", "--keep", "2", NULL), -EINVAL);
	assert_int_equal(parse(&a, "restore", "shop", NULL), -EINVAL);
	assert_int_equal(parse(&a, "restore", "shop", "--to", "c", "--time", "t", "--lsn", "0/1", NULL), -EINVAL);
	assert_int_equal(parse(&a, "restore", "shop", "--to", "c", "--compression", "3", NULL), -EINVAL);
	assert_int_equal(parse(&a, "now", "shop", "--drill", NULL), -EINVAL);
}

static void test_bodies(void **state)
{
	(void)state;
	struct bk_args a;
	/* A first configuration needs the target and the secret. */
	assert_int_equal(parse(&a, "config", "shop", "--endpoint", "https://s3", "--bucket", "bkt",
			       "--access-key", "AK", "--secret-key-file", "/dev/null", "--keep", "3", NULL),
			 0);
	json_t *b = bk_config_body(&a, NULL, "SK", NULL, NULL);
	assert_non_null(b);
	json_t *s3 = json_object_get(b, "s3");
	assert_string_equal(json_string_value(json_object_get(s3, "secret_key")), "SK");
	assert_null(json_object_get(s3, "session_token"));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(b, "retention"), "count")), 3);
	json_decref(b);
	assert_null(bk_config_body(&a, NULL, NULL, NULL, NULL));

	/* A change keeps the rest and sends "(redacted)" for the secrets. */
	json_t *cur = json_loads("{\"s3\":{\"endpoint\":\"https://s3\",\"region\":\"us-east-1\",\"bucket\":\"bkt\","
				 "\"prefix\":\"p\",\"access_key\":\"AK\",\"secret_key\":\"(redacted)\","
				 "\"session_token\":\"(redacted)\",\"virtual_hosted\":false,\"ca_pem\":null},"
				 "\"schedule\":{\"full_every_s\":86400},\"retention\":{\"count\":7,\"max_age_s\":null},"
				 "\"compression_level\":3,\"bundle_size\":268435456,\"parallel\":2,\"updated_at\":1}",
				 0, NULL);
	assert_int_equal(parse(&a, "config", "shop", "--parallel", "4", NULL), 0);
	b = bk_config_body(&a, cur, NULL, NULL, NULL);
	assert_non_null(b);
	s3 = json_object_get(b, "s3");
	assert_string_equal(json_string_value(json_object_get(s3, "secret_key")), "(redacted)");
	assert_string_equal(json_string_value(json_object_get(s3, "session_token")), "(redacted)");
	assert_string_equal(json_string_value(json_object_get(s3, "prefix")), "p");
	assert_int_equal(json_integer_value(json_object_get(b, "parallel")), 4);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(b, "schedule"), "full_every_s")), 86400);
	assert_null(json_object_get(b, "updated_at"));
	json_decref(b);
	json_decref(cur);

	assert_int_equal(parse(&a, "restore", "shop", "--to", "copy", "--lsn", "0/3000028", NULL), 0);
	b = bk_restore_body(&a);
	assert_string_equal(json_string_value(json_object_get(b, "name")), "copy");
	assert_string_equal(json_string_value(json_object_get(json_object_get(b, "target"), "lsn")), "0/3000028");
	assert_int_equal(json_integer_value(json_object_get(b, "nodes")), 1);
	json_decref(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_args),
		cmocka_unit_test(test_bodies),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
