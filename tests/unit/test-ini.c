/*
 * test-ini.c: unit tests for lib/ini.c: the accepted syntax, comments,
 * limits, typed lookups, unknown keys and sections, and that every error
 * names the right line.
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
#include "ini.h"
#include "macro.h"

static const char sample[] =
	"# Cairn agent\n"
	"; another comment\n"
	"top = level\n"
	"\n"
	"[agent]\n"
	"state_dir = /var/lib/cairn\n"
	"  api_url   =   https://ctl.example:8443       # enrolment\n"
	"poll_wait_s=30\r\n"
	"empty =\n"
	"hash = a#b\n"
	"semi = a;b\n"
	"allow_debug_jobs = yes\n"
	"\tkey-ok.x = v w  \n"
	"[ratelimit]            # token buckets: rate per second, burst\n"
	"api_rate = 20\n"
	"api_rate = 21\n"
	"[agent]\n"
	"skew_s = 120\n";

static struct ini *parse_ok(const char *text)
{
	struct ini *ini = NULL;
	char *err = NULL;
	int r = ini_parse("t.conf", text, strlen(text), &ini, &err);

	if (r < 0)
		fail_msg("parse failed: %s", err ? err : "(no message)");
	assert_null(err);
	return ini;
}

static void test_parse(void **state)
{
	_cleanup_ini_ struct ini *ini = parse_ok(sample);

	assert_string_equal(ini_get(ini, "", "top"), "level");
	assert_string_equal(ini_get(ini, "agent", "state_dir"), "/var/lib/cairn");
	assert_string_equal(ini_get(ini, "agent", "api_url"), "https://ctl.example:8443");
	assert_string_equal(ini_get(ini, "agent", "poll_wait_s"), "30");
	assert_string_equal(ini_get(ini, "agent", "empty"), "");
	assert_string_equal(ini_get(ini, "agent", "hash"), "a#b");
	assert_string_equal(ini_get(ini, "agent", "semi"), "a;b");
	assert_string_equal(ini_get(ini, "agent", "key-ok.x"), "v w");
	assert_string_equal(ini_get(ini, "ratelimit", "api_rate"), "21");
	assert_string_equal(ini_get(ini, "agent", "skew_s"), "120");
	assert_null(ini_get(ini, "agent", "missing"));
	assert_null(ini_get(ini, "nosection", "top"));
	assert_null(ini_get(ini, "", "state_dir"));
	assert_null(ini_get(NULL, "agent", "x"));
}

static void test_parse_misc(void **state)
{
	_cleanup_ini_ struct ini *a = parse_ok("");
	_cleanup_ini_ struct ini *b = parse_ok("\xef\xbb\xbf[s]\nk = v");
	_cleanup_ini_ struct ini *c = parse_ok("[s]\nk = v w  x\t\n[ t ]\nk=1\n");

	assert_null(ini_get(a, "", "k"));
	assert_string_equal(ini_get(b, "s", "k"), "v");
	assert_string_equal(ini_get(c, "s", "k"), "v w  x");
	assert_string_equal(ini_get(c, "t", "k"), "1");
}

/* Parses text and checks the error message exactly. */
static void expect_error(const char *text, size_t len, int code, const char *msg)
{
	struct ini *ini = NULL;
	char *err = NULL;

	assert_int_equal(ini_parse("agent.conf", text, len, &ini, &err), code);
	assert_null(ini);
	assert_non_null(err);
	assert_string_equal(err, msg);
	free(err);
	/* Without ret_error it fails the same way. */
	assert_int_equal(ini_parse("agent.conf", text, len, &ini, NULL), code);
}

#define EXPECT(text, msg) expect_error(text, strlen(text), -EINVAL, msg)

static void test_errors(void **state)
{
	EXPECT("[agent]\nstate_dir\n", "agent.conf:2: expected 'key = value'");
	EXPECT("a = 1\n\n\n\n= 2\n", "agent.conf:5: expected 'key = value'");
	EXPECT("# c\n[agent\n", "agent.conf:2: expected '[section]'");
	EXPECT("[]\n", "agent.conf:1: bad section name");
	EXPECT("[a b]\n", "agent.conf:1: bad section name");
	EXPECT("[a] x\n", "agent.conf:1: unexpected text after ']'");
	EXPECT("\n\n[a]\nbad key = 1\n", "agent.conf:4: bad key name");
	EXPECT("k\xc3\xa9 = 1\n", "agent.conf:1: bad key name");
	EXPECT("a = 1\nb = x\x01y\n", "agent.conf:2: control character in line");
	EXPECT("a = 1\r\rb = 2\n", "agent.conf:1: control character in line");
	static const char nul[] = "a = 1\nb = \0\n";
	expect_error(nul, sizeof(nul) - 1, -EINVAL, "agent.conf:2: control character in line");

	/* Line length limit, counted without the line break. */
	char *line = malloc(INI_LINE_MAX + 16);
	assert_non_null(line);
	memcpy(line, "\nk = ", 5);
	memset(line + 5, 'v', INI_LINE_MAX - 4);
	line[INI_LINE_MAX + 1] = '\n';
	line[INI_LINE_MAX + 2] = '\0';
	/* line 2 is "k = " + INI_LINE_MAX - 4 chars = INI_LINE_MAX: fine */
	{
		_cleanup_ini_ struct ini *ok = parse_ok(line);
		assert_int_equal(strlen(ini_get(ok, "", "k")), INI_LINE_MAX - 4);
	}
	line[INI_LINE_MAX + 1] = 'v';
	line[INI_LINE_MAX + 2] = '\n';
	line[INI_LINE_MAX + 3] = '\0';
	char msg[64];
	snprintf(msg, sizeof(msg), "agent.conf:2: line longer than %d bytes", INI_LINE_MAX);
	EXPECT(line, msg);
	free(line);
}

static void test_limits(void **state)
{
	size_t cap = INI_FILE_MAX + 100, len = 0;
	_cleanup_free_ char *big = malloc(cap);
	char msg[64];

	assert_non_null(big);
	/* INI_ENTRIES_MAX distinct keys pass, one more fails on its line. */
	for (int i = 0; i < INI_ENTRIES_MAX + 1; i++)
		len += (size_t)snprintf(big + len, cap - len, "k%d=1\n", i);
	{
		struct ini *ini = NULL;
		char *err = NULL;
		assert_int_equal(ini_parse("x", big, len, &ini, &err), -EINVAL);
		snprintf(msg, sizeof(msg), "x:%d: more than %d entries", INI_ENTRIES_MAX + 1,
			 INI_ENTRIES_MAX);
		assert_string_equal(err, msg);
		free(err);
	}
	/* Repeating a key does not count as a new entry. */
	len = 0;
	for (int i = 0; i < INI_ENTRIES_MAX * 2; i++)
		len += (size_t)snprintf(big + len, cap - len, "k%d=%d\n", i % 10, i);
	{
		_cleanup_ini_ struct ini *ini = NULL;
		assert_int_equal(ini_parse("x", big, len, &ini, NULL), 0);
		assert_string_equal(ini_get(ini, "", "k9"), "1019");
	}

	memset(big, '#', INI_FILE_MAX + 1);
	{
		struct ini *ini = NULL;
		char *err = NULL;
		assert_int_equal(ini_parse("x", big, INI_FILE_MAX + 1, &ini, &err), -EFBIG);
		assert_non_null(err);
		free(err);
	}
}

static void test_typed(void **state)
{
	static const char text[] = "[c]\n"
				   "job_ttl_s = 3600\n"
				   "neg = -5\n"
				   "bad = 12x\n"
				   "big = 100000\n"
				   "t1 = true\nt2 = yes\nt3 = on\nt4 = 1\n"
				   "f1 = false\nf2 = no\nf3 = off\nf4 = 0\n"
				   "wrong = maybe\n";
	_cleanup_ini_ struct ini *ini = parse_ok(text);
	int64_t v = 7;
	bool b = false;
	char *err = NULL;

	assert_int_equal(ini_get_int(ini, "c", "job_ttl_s", 1, 1, 86400, &v, &err), 0);
	assert_int_equal(v, 3600);
	assert_int_equal(ini_get_int(ini, "c", "absent", 99, 1, 86400, &v, &err), 0);
	assert_int_equal(v, 99);
	assert_int_equal(ini_get_int(ini, "c", "neg", 0, -10, 10, &v, &err), 0);
	assert_int_equal(v, -5);
	assert_null(err);

	v = 7;
	assert_int_equal(ini_get_int(ini, "c", "bad", 0, 0, 100, &v, &err), -EINVAL);
	assert_string_equal(err, "t.conf:4: bad: expected an integer in 0..100");
	free(err);
	err = NULL;
	assert_int_equal(ini_get_int(ini, "c", "big", 0, 1, 86400, &v, &err), -EINVAL);
	assert_string_equal(err, "t.conf:5: big: expected an integer in 1..86400");
	free(err);
	err = NULL;
	assert_int_equal(ini_get_int(ini, "c", "neg", 0, 0, 10, &v, NULL), -EINVAL);
	assert_int_equal(v, 7);

	for (int i = 1; i <= 4; i++) {
		char k[4];
		snprintf(k, sizeof(k), "t%d", i);
		b = false;
		assert_int_equal(ini_get_bool(ini, "c", k, false, &b, NULL), 0);
		assert_true(b);
		snprintf(k, sizeof(k), "f%d", i);
		assert_int_equal(ini_get_bool(ini, "c", k, true, &b, NULL), 0);
		assert_false(b);
	}
	assert_int_equal(ini_get_bool(ini, "c", "absent", true, &b, NULL), 0);
	assert_true(b);
	assert_int_equal(ini_get_bool(ini, "c", "wrong", false, &b, &err), -EINVAL);
	assert_string_equal(err, "t.conf:14: wrong: expected true or false");
	free(err);
}

static void test_check_keys(void **state)
{
	static const char *const agent_keys[] = { "state_dir", "api_url", "poll_wait_s", "empty",
						  "hash", "semi", "allow_debug_jobs", "skew_s",
						  NULL };
	static const char *const sections[] = { "agent", "ratelimit", NULL };
	static const char *const sections_all[] = { "", "agent", "ratelimit", NULL };
	_cleanup_ini_ struct ini *ini = NULL;
	char *err = NULL;

	static const char text[] = "top = 1\n[agent]\nstate_dir = /x\napi_url = u\n"
				   "[other]\nx = 1\n[agent]\nstat_dir = typo\n";
	ini = parse_ok(text);
	assert_int_equal(ini_check_keys(ini, "agent", agent_keys, &err), -EINVAL);
	assert_string_equal(err, "t.conf:8: unknown key 'stat_dir' in [agent]");
	free(err);
	err = NULL;
	assert_int_equal(ini_check_keys(ini, "", agent_keys, &err), -EINVAL);
	assert_string_equal(err, "t.conf:1: unknown key 'top' outside any section");
	free(err);
	err = NULL;
	assert_int_equal(ini_check_keys(ini, "nosuch", agent_keys, &err), 0);
	assert_null(err);

	assert_int_equal(ini_check_sections(ini, sections, &err), -EINVAL);
	assert_string_equal(err, "t.conf:1: key 'top' outside any section");
	free(err);
	err = NULL;
	assert_int_equal(ini_check_sections(ini, sections_all, &err), -EINVAL);
	assert_string_equal(err, "t.conf:6: unknown section [other]");
	free(err);
}

static void test_load(void **state)
{
	char path[] = "/tmp/cairn-test-ini.XXXXXX";
	int fd = mkstemp(path);
	struct ini *ini = NULL;
	char *err = NULL;

	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(write_string_atomic(path, "[a]\nk = v\n", 0600), 0);
	assert_int_equal(ini_load(path, &ini, &err), 0);
	assert_string_equal(ini_get(ini, "a", "k"), "v");
	ini_free(ini);
	ini = NULL;

	assert_int_equal(write_string_atomic(path, "[a]\nk = v\nbroken\n", 0600), 0);
	assert_int_equal(ini_load(path, &ini, &err), -EINVAL);
	char msg[128];
	snprintf(msg, sizeof(msg), "%s:3: expected 'key = value'", path);
	assert_string_equal(err, msg);
	free(err);
	err = NULL;
	unlink(path);

	assert_int_equal(ini_load(path, &ini, &err), -ENOENT);
	assert_non_null(strstr(err, "cannot read"));
	free(err);
	ini_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),     cmocka_unit_test(test_parse_misc),
		cmocka_unit_test(test_errors),    cmocka_unit_test(test_limits),
		cmocka_unit_test(test_typed),     cmocka_unit_test(test_check_keys),
		cmocka_unit_test(test_load),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
