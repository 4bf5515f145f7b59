/*
 * test-log.c: unit tests for lib/log.c: levels, return values, the stderr
 * line format, field quoting, one line per message even with hostile text,
 * target detection, and whole lines under concurrent threads.
 */
#include <fcntl.h>
#include <pthread.h>
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
#include "log.h"
#include "macro.h"

static char capture_path[] = "/tmp/cairn-test-log.XXXXXX";
static int saved_stderr = -1;

/* Sends stderr to a fresh temporary file. */
static int capture_start(void **state)
{
	int fd;

	memcpy(capture_path + sizeof(capture_path) - 7, "XXXXXX", 6);
	fd = mkostemp(capture_path, O_CLOEXEC);
	if (fd < 0)
		return -1;
	fflush(stderr);
	saved_stderr = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	close(fd);
	return 0;
}

static int capture_stop(void **state)
{
	fflush(stderr);
	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	unlink(capture_path);
	return 0;
}

static char *captured(void)
{
	char *data = NULL;

	assert_int_equal(read_file_full(capture_path, 1 << 24, &data, NULL), 0);
	/* cmocka reports failures on stderr: show what was captured. */
	printf("captured:\n%.2000s", data);
	return data;
}

static size_t count_lines(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		if (*s == '\n')
			n++;
	return n;
}

static void test_levels(void **state)
{
	assert_int_equal(log_level_from_string("debug"), LOG_DEBUG);
	assert_int_equal(log_level_from_string("info"), LOG_INFO);
	assert_int_equal(log_level_from_string("notice"), LOG_NOTICE);
	assert_int_equal(log_level_from_string("warning"), LOG_WARNING);
	assert_int_equal(log_level_from_string("err"), LOG_ERR);
	assert_int_equal(log_level_from_string("error"), LOG_ERR);
	assert_int_equal(log_level_from_string("INFO"), -EINVAL);
	assert_int_equal(log_level_from_string(""), -EINVAL);
	assert_int_equal(log_level_from_string(NULL), -EINVAL);
}

static void test_format(void **state)
{
	_cleanup_free_ char *out = NULL;
	const char *const fields[] = { "NODE_ID=abc", "REASON=bad sig \"x\"", "EMPTY=", NULL };

	log_open(LOG_TARGET_STDERR, "cairn-test", LOG_INFO);
	errno = 1234;
	assert_int_equal(log_info("hello %d", 42), 0);
	assert_int_equal(errno, 1234);
	assert_int_equal(log_error_errno(-ENOENT, "open %s", "/x"), -ENOENT);
	assert_int_equal(log_warning_errno(EACCES, "positive"), -EACCES);
	assert_int_equal(log_full(LOG_NOTICE, 0, fields, "with fields"), 0);
	assert_int_equal(log_debug("hidden"), 0);
	assert_int_equal(log_full(LOG_DEBUG, -EIO, NULL, "hidden too"), -EIO);

	out = captured();
	assert_int_equal(count_lines(out), 4);
	assert_null(strstr(out, "hidden"));
	/* "2026-11-23T10:00:00Z info cairn-test: hello 42" */
	assert_int_equal(out[4], '-');
	assert_int_equal(out[10], 'T');
	assert_int_equal(out[19], 'Z');
	assert_true(strncmp(out + 20, " info cairn-test: hello 42\n", 27) == 0);
	assert_non_null(strstr(out, " error cairn-test: open /x: No such file or directory\n"));
	assert_non_null(strstr(out, " warning cairn-test: positive: Permission denied\n"));
	assert_non_null(strstr(out, " notice cairn-test: with fields NODE_ID=abc "
				    "REASON=\"bad sig \\\"x\\\"\" EMPTY=\"\"\n"));
}

static void test_one_line(void **state)
{
	_cleanup_free_ char *out = NULL;
	const char *const fields[] = { "PEER=a\nb", NULL };
	char big[10000];

	log_open(LOG_TARGET_STDERR, "t", LOG_DEBUG);
	log_info("forged\n2026-01-01T00:00:00Z info t: admin logged in\r\x1b[31m");
	log_full(LOG_INFO, 0, fields, "field");
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	log_info("%s", big);
	log_debug("debug shown");

	out = captured();
	assert_int_equal(count_lines(out), 4);
	assert_non_null(strstr(out, "forged?2026"));
	assert_non_null(strstr(out, "PEER=a?b\n"));
	assert_non_null(strstr(out, "xxx...\n"));
	assert_non_null(strstr(out, " debug t: debug shown\n"));
	/* The long line was cut at the named maximum. */
	char *third = strstr(out, "xxx");
	assert_true(strchr(third, '\n') - third < 4096);
}

static void test_journal_fallback(void **state)
{
	_cleanup_free_ char *out = NULL;
	struct stat st;
	char env[64];

	/* Without journald a journal target falls back to stderr, because
	 * sd_journal_send() would drop messages silently. */
	if (access("/run/systemd/journal/socket", F_OK) == 0)
		skip();
	log_open(LOG_TARGET_JOURNAL, "j", LOG_INFO);
	assert_false(log_is_journal());
	log_info("to journal");
	out = captured();
	assert_non_null(strstr(out, " info j: to journal\n"));

	/* Even a JOURNAL_STREAM naming our stderr. */
	assert_int_equal(fstat(STDERR_FILENO, &st), 0);
	snprintf(env, sizeof(env), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	unsetenv("INVOCATION_ID");
	setenv("JOURNAL_STREAM", env, 1);
	log_open(LOG_TARGET_AUTO, "j", LOG_INFO);
	assert_false(log_is_journal());
	setenv("INVOCATION_ID", "0123", 1);
	log_open(LOG_TARGET_AUTO, "j", LOG_INFO);
	assert_false(log_is_journal());
	unsetenv("INVOCATION_ID");
	unsetenv("JOURNAL_STREAM");
}

static void test_journal_detect(void **state)
{
	struct stat st;
	char env[64];

	if (access("/run/systemd/journal/socket", F_OK) < 0)
		skip();
	assert_int_equal(fstat(STDERR_FILENO, &st), 0);
	snprintf(env, sizeof(env), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	unsetenv("INVOCATION_ID");
	setenv("JOURNAL_STREAM", env, 1);
	log_open(LOG_TARGET_AUTO, "j", LOG_INFO);
	assert_true(log_is_journal());
	log_open(LOG_TARGET_STDERR, "j", LOG_INFO);
	assert_false(log_is_journal());
	/* One naming another file does not select the journal. */
	setenv("JOURNAL_STREAM", "1:2", 1);
	log_open(LOG_TARGET_AUTO, "j", LOG_INFO);
	assert_false(log_is_journal());
	setenv("JOURNAL_STREAM", "garbage", 1);
	log_open(LOG_TARGET_AUTO, "j", LOG_INFO);
	assert_false(log_is_journal());
	unsetenv("JOURNAL_STREAM");
	log_open(LOG_TARGET_AUTO, "j", LOG_INFO);
	assert_false(log_is_journal());
}

#define THREADS 4
#define LINES_PER_THREAD 500

static void *log_thread(void *arg)
{
	const char *const fields[] = { "THREAD=x", NULL };

	for (int i = 0; i < LINES_PER_THREAD; i++)
		log_full(LOG_INFO, 0, fields, "thread %ld line %d %s", (long)(intptr_t)arg, i,
			 "padding padding padding padding padding padding padding padding");
	return NULL;
}

static void test_threads(void **state)
{
	_cleanup_free_ char *out = NULL;
	pthread_t t[THREADS];

	log_open(LOG_TARGET_STDERR, "mt", LOG_INFO);
	for (intptr_t i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, log_thread, (void *)i), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);

	out = captured();
	assert_int_equal(count_lines(out), THREADS * LINES_PER_THREAD);
	/* Every line is whole: starts with a time stamp, ends with the field. */
	for (char *l = out; *l; l = strchr(l, '\n') + 1) {
		char *nl = strchr(l, '\n');
		assert_int_equal(l[19], 'Z');
		assert_true(strncmp(nl - 8, "THREAD=x", 8) == 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_levels),
		cmocka_unit_test_setup_teardown(test_format, capture_start, capture_stop),
		cmocka_unit_test_setup_teardown(test_one_line, capture_start, capture_stop),
		cmocka_unit_test_setup_teardown(test_journal_fallback, capture_start, capture_stop),
		cmocka_unit_test_setup_teardown(test_journal_detect, capture_start, capture_stop),
		cmocka_unit_test_setup_teardown(test_threads, capture_start, capture_stop),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
