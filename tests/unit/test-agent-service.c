/*
 * test-agent-service.c: the service supervisor (service.h).  The direct
 * backend for real: /bin/sleep started as user nobody, killed and
 * restarted by services_supervise() after the backoff, stopped, started
 * again, adopted by a new services_new() on the same state directory,
 * its death seen through /proc, removed.  Root is refused.  The systemd
 * unit rendering is checked as text (no systemd on the test machines).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "fileio.h"
#include "macro.h"
#include "service.h"
#include "util.h"

static char test_dir[] = "/tmp/cairn-test-service-XXXXXX";

static void test_sleep_ms(int64_t ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* Reads uid of /proc/<pid>/status's "Uid:" line (real uid). */
static long test_pid_uid(pid_t pid)
{
	char path[64], buf[4096];
	_cleanup_close_ int fd = -1;
	ssize_t n;
	const char *p;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	p = strstr(buf, "\nUid:");
	if (!p)
		return -1;
	return strtol(p + 5, NULL, 10);
}

static const char *const sleep_argv[] = { "/bin/sleep", "1000", NULL };
static const char *const sleep_env[] = { "CAIRN_TEST=1", NULL };

static const struct service_spec sleep_spec = {
	.name = "test-sleep",
	.argv = sleep_argv,
	.env = sleep_env,
	.user = "nobody",
	.stop_signal = SIGTERM,
	.stop_timeout_ms = 5000,
};

static int ready_calls;
static bool test_ready(void *userdata)
{
	(void)userdata;
	return ++ready_calls >= 2;
}

static void test_direct_lifecycle(void **state)
{
	(void)state;
	struct services *s = NULL;
	pid_t pid = 0, pid2 = 0, pid3 = 0;
	int64_t t0;
	int status;

	if (geteuid() != 0)
		skip();
	assert_int_equal(services_new(test_dir, "direct", &s), 0);
	assert_int_equal(service_status(s, "test-sleep", NULL), -ENOENT);

	assert_int_equal(service_start(s, &sleep_spec, test_ready, NULL, 5000), 0);
	assert_true(ready_calls >= 2);
	assert_int_equal(service_status(s, "test-sleep", &pid), 1);
	assert_true(pid > 1);
	assert_int_equal(test_pid_uid(pid), 65534);
	/* Same spec again: left running. */
	assert_int_equal(service_start(s, &sleep_spec, NULL, NULL, 1000), 0);
	assert_int_equal(service_status(s, "test-sleep", &pid2), 1);
	assert_int_equal(pid2, pid);

	/* Killed: seen at once, restarted only after the 1 s backoff. */
	assert_int_equal(kill(pid, SIGKILL), 0);
	test_sleep_ms(100);
	t0 = now_mono_ms();
	services_supervise(s, t0);
	assert_int_equal(service_status(s, "test-sleep", NULL), 0);
	services_supervise(s, t0 + 500);
	assert_int_equal(service_status(s, "test-sleep", NULL), 0);
	services_supervise(s, t0 + 1100);
	assert_int_equal(service_status(s, "test-sleep", &pid2), 1);
	assert_true(pid2 != pid);

	/* Stopped: not restarted by supervise. */
	assert_int_equal(service_stop(s, "test-sleep"), 0);
	assert_int_equal(service_status(s, "test-sleep", NULL), 0);
	services_supervise(s, now_mono_ms() + 120000);
	assert_int_equal(service_status(s, "test-sleep", NULL), 0);
	assert_int_equal(service_reload(s, "test-sleep"), -EOPNOTSUPP);

	/* Started again, then the agent "restarts": a new services_new adopts it. */
	assert_int_equal(service_start(s, &sleep_spec, NULL, NULL, 5000), 0);
	assert_int_equal(service_status(s, "test-sleep", &pid2), 1);
	services_free(s);
	s = NULL;
	assert_int_equal(kill(pid2, 0), 0); /* still running without its supervisor */
	assert_int_equal(services_new(test_dir, "direct", &s), 0);
	assert_int_equal(service_status(s, "test-sleep", &pid3), 1);
	assert_int_equal(pid3, pid2);

	/* The adopted one dies: /proc shows a zombie (or nothing), supervise
	 * starts a new one after the backoff. */
	assert_int_equal(kill(pid3, SIGKILL), 0);
	test_sleep_ms(100);
	t0 = now_mono_ms();
	services_supervise(s, t0);
	assert_int_equal(service_status(s, "test-sleep", NULL), 0);
	assert_int_equal(waitpid(pid3, &status, 0), pid3); /* the test is its parent: reap it */
	services_supervise(s, t0 + 1100);
	assert_int_equal(service_status(s, "test-sleep", &pid), 1);
	assert_true(pid != pid3);

	/* Removed: stopped, record gone. */
	assert_int_equal(service_remove(s, "test-sleep"), 0);
	assert_int_equal(service_status(s, "test-sleep", NULL), -ENOENT);
	assert_int_equal(kill(pid, 0), -1);
	assert_int_equal(service_remove(s, "test-sleep"), 0);
	services_free(s);
}

static void test_refusals(void **state)
{
	(void)state;
	struct services *s = NULL;
	const char *const argv[] = { "/bin/sleep", "1", NULL };
	const char *const rel[] = { "sleep", "1", NULL };
	const char *const nl[] = { "/bin/sleep", "1\n2", NULL };
	struct service_spec spec = { .name = "test-root", .argv = argv, .user = "root" };

	assert_int_equal(services_new(test_dir, "direct", &s), 0);
	assert_int_equal(service_start(s, &spec, NULL, NULL, 100), -EPERM);
	spec.user = "no-such-user-cairn";
	assert_int_equal(service_start(s, &spec, NULL, NULL, 100), -ESRCH);
	spec.user = "nobody";
	spec.name = "Bad_Name";
	assert_int_equal(service_start(s, &spec, NULL, NULL, 100), -EINVAL);
	spec.name = "test-rel";
	spec.argv = rel;
	assert_int_equal(service_start(s, &spec, NULL, NULL, 100), -EINVAL);
	spec.argv = nl;
	assert_int_equal(service_start(s, &spec, NULL, NULL, 100), -EINVAL);
	assert_int_equal(service_status(s, "test-root", NULL), -ENOENT);
	assert_int_equal(services_new(test_dir, "upstart", &(struct services *){ NULL }), -EINVAL);
	services_free(s);
}

static void test_unit_render(void **state)
{
	(void)state;
	const char *const argv[] = { "/usr/bin/prometheus-postgres-exporter", "--web.listen-address=198.18.0.11:9187",
				     "--x=a b\"c\\d$HOME%n", NULL };
	const char *const env[] = { "DATA_SOURCE_NAME=host=/var/lib/cairn-db/x/run user=cairn_monitor", NULL };
	struct service_spec spec = {
		.name = "postgres-exporter-x",
		.argv = argv,
		.env = env,
		.user = "nobody",
		.cwd = "/",
		.stop_signal = SIGINT,
		.reload_signal = SIGHUP,
		.stop_timeout_ms = 60000,
	};
	_cleanup_free_ char *text = NULL, *text2 = NULL;

	assert_int_equal(service_unit_render(&spec, &text), 0);
	assert_non_null(strstr(text, "\n[Service]\nType=simple\nUser=nobody\n"));
	assert_non_null(strstr(text, "\nWorkingDirectory=\"/\"\n"));
	assert_non_null(strstr(text, "\nEnvironment=\"DATA_SOURCE_NAME=host=/var/lib/cairn-db/x/run user=cairn_monitor\"\n"));
	assert_non_null(strstr(text, "\nExecStart=\"/usr/bin/prometheus-postgres-exporter\" "
				     "\"--web.listen-address=198.18.0.11:9187\" \"--x=a b\\\"c\\\\d$$HOME%%n\"\n"));
	assert_non_null(strstr(text, "\nExecReload=/bin/kill -HUP $MAINPID\n"));
	assert_non_null(strstr(text, "\nKillSignal=SIGINT\n"));
	assert_non_null(strstr(text, "\nTimeoutStopSec=60000ms\n"));
	assert_non_null(strstr(text, "\nRestart=on-failure\n"));
	assert_non_null(strstr(text, "\n[Install]\nWantedBy=multi-user.target\n"));

	spec.reload_signal = 0;
	spec.stop_signal = 0; /* SIGTERM by default */
	spec.cwd = NULL;
	assert_int_equal(service_unit_render(&spec, &text2), 0);
	assert_null(strstr(text2, "ExecReload="));
	assert_null(strstr(text2, "WorkingDirectory="));
	assert_non_null(strstr(text2, "\nKillSignal=SIGTERM\n"));

	spec.user = "root";
	assert_int_equal(service_unit_render(&spec, &(char *){ NULL }), -EPERM);
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(test_dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	_cleanup_free_ char *services = path_join(test_dir, "services");
	const char *names[] = { "test-sleep.json", "test-sleep.log", NULL };

	for (const char **n = names; *n; n++) {
		_cleanup_free_ char *p = path_join(services, *n);
		if (p)
			unlink(p);
	}
	rmdir(services);
	rmdir(test_dir);
	(void)cmd;
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_direct_lifecycle),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_unit_render),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
