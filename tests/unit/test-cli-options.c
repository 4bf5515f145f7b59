/*
 * test-cli-options.c: cairnctl's global options, environment and config
 * file, and the rule that a token never comes from argv.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fileio.h"
#include "macro.h"
#include "options.h"

static char dir[64];

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/test-cli-XXXXXX");
	assert_non_null(mkdtemp(dir));
	setenv("HOME", dir, 1);
	unsetenv("CAIRN_URL");
	unsetenv("CAIRN_CA");
	unsetenv("CAIRN_TOKEN");
	return 0;
}

static int teardown(void **state)
{
	static const char *const files[] = { "cli.conf", "token", ".config/cairn/cairnctl.conf" };

	for (size_t i = 0; i < ELEMENTSOF(files); i++) {
		_cleanup_free_ char *p = path_join(dir, files[i]);
		unlink(p);
	}
	{
		_cleanup_free_ char *a = path_join(dir, ".config/cairn"), *b = path_join(dir, ".config");
		rmdir(a);
		rmdir(b);
	}
	rmdir(dir);
	return 0;
}

static int parse(struct ctl_options *o, int argc, const char **argv)
{
	return ctl_options_parse(argc, (char **)argv, o);
}

static void test_flags(void **state)
{
	const char *argv[] = { "cairnctl", "--url", "https://127.0.0.1:8443/", "--ca", "/x/ca.pem", "--output",
			       "json", "nodes", "list", "--extra", NULL };
	struct ctl_options o;

	assert_int_equal(parse(&o, 10, argv), 0);
	assert_string_equal(o.url, "https://127.0.0.1:8443");
	assert_string_equal(o.ca_file, "/x/ca.pem");
	assert_int_equal(o.output, CTL_OUTPUT_JSON);
	assert_int_equal(o.argc, 3); /* parsing stopped at the command */
	assert_string_equal(o.argv[0], "nodes");
	assert_string_equal(o.argv[2], "--extra");
	ctl_options_done(&o);
}

static void test_refusals(void **state)
{
	struct ctl_options o;
	const char *tok[] = { "cairnctl", "--url", "https://h", "--token", "cat_x", "nodes", "list", NULL };
	const char *out[] = { "cairnctl", "--url", "https://h", "--output", "yaml", "nodes", NULL };
	const char *nocmd[] = { "cairnctl", "--url", "https://h", NULL };
	const char *nourl[] = { "cairnctl", "nodes", "list", NULL };
	const char *http[] = { "cairnctl", "--url", "http://h", "nodes", NULL };

	assert_int_equal(parse(&o, 7, tok), -EINVAL);
	assert_int_equal(parse(&o, 6, out), -EINVAL);
	assert_int_equal(parse(&o, 3, nocmd), -EINVAL);
	assert_int_equal(parse(&o, 3, nourl), -EINVAL);
	assert_int_equal(parse(&o, 4, http), -EINVAL);
}

static void test_env_and_config(void **state)
{
	_cleanup_free_ char *conf = path_join(dir, ".config/cairn/cairnctl.conf"), *cdir = path_join(dir, ".config/cairn");
	_cleanup_free_ char *tokf = path_join(dir, "token"), *text = NULL, *other = path_join(dir, "cli.conf");
	const char *argv[] = { "cairnctl", "jobs", "list", NULL };
	const char *argv_cfg[] = { "cairnctl", "--config", other, "jobs", "list", NULL };
	const char *argv_missing[] = { "cairnctl", "--config", "/nonexistent/x.conf", "--url", "https://h", "jobs", NULL };
	struct ctl_options o;

	assert_int_equal(mkdir_p(cdir, 0700), 0);
	assert_true(asprintf(&text, "[cairnctl]\nurl = https://conf:8443\nca_file = /conf/ca.pem\ntoken_file = %s\n", tokf) > 0);
	assert_int_equal(write_string_atomic(conf, text, 0600), 0);
	assert_int_equal(write_string_atomic(tokf, "cat_fromfile\n", 0600), 0);

	/* config file */
	assert_int_equal(parse(&o, 3, argv), 0);
	assert_string_equal(o.url, "https://conf:8443");
	assert_string_equal(o.ca_file, "/conf/ca.pem");
	assert_int_equal(ctl_options_load_token(&o), 0);
	assert_string_equal(o.token, "cat_fromfile");
	ctl_options_done(&o);

	/* environment beats the file */
	setenv("CAIRN_URL", "https://env:1", 1);
	setenv("CAIRN_CA", "/env/ca.pem", 1);
	setenv("CAIRN_TOKEN", "cat_fromenv", 1);
	assert_int_equal(parse(&o, 3, argv), 0);
	assert_string_equal(o.url, "https://env:1");
	assert_string_equal(o.ca_file, "/env/ca.pem");
	assert_int_equal(ctl_options_load_token(&o), 0);
	assert_string_equal(o.token, "cat_fromenv");
	ctl_options_done(&o);
	unsetenv("CAIRN_URL");
	unsetenv("CAIRN_CA");
	unsetenv("CAIRN_TOKEN");

	/* an explicit --config that is missing is an error; unknown keys too */
	assert_int_equal(parse(&o, 6, argv_missing), -EINVAL);
	assert_int_equal(write_string_atomic(other, "[cairnctl]\nurl = https://x\ntoken = cat_inline\n", 0600), 0);
	assert_int_equal(parse(&o, 5, argv_cfg), -EINVAL);

	/* no token anywhere */
	assert_int_equal(write_string_atomic(other, "[cairnctl]\nurl = https://x\n", 0600), 0);
	assert_int_equal(parse(&o, 5, argv_cfg), 0);
	assert_int_equal(ctl_options_load_token(&o), -ENOKEY);
	ctl_options_done(&o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_flags, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_env_and_config, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
