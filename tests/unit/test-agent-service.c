/*
 * test-agent-service.c: the service supervisor (service.h).  The direct
 * backend for real: /bin/sleep started as user nobody, killed and
 * restarted by services_supervise() after the backoff, stopped, started
 * again, adopted by a new services_new() on the same state directory,
 * its death seen through /proc, removed.  Root is refused.  The systemd
 * unit rendering is checked as text (no systemd on the test machines).
 * exporter.install runs the real exporters (when installed) on the
 * node's first IPv4 address with a throw-away certificate.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
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

#include "exec-exporter.h"
#include "exec-node.h"
#include "exec-tls.h"
#include "exec.h"
#include "fileio.h"
#include "macro.h"
#include "pgstatus.h"
#include "pki.h"
#include "proc.h"
#include "service.h"
#include "util.h"

static char test_dir[] = "/tmp/cairn-test-service-XXXXXX";

static void test_sleep_ms(int64_t ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};

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

static const char *const sleep_argv[] = {"/bin/sleep", "1000", NULL};
static const char *const sleep_env[] = {"CAIRN_TEST=1", NULL};

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

/* A service that ignores its stop signal is killed (with its session)
 * after stop_timeout_ms; the reload signal reaches it; its output goes to
 * <state_dir>/services/<name>.log; a changed spec restarts it. */
static void test_direct_signals(void **state)
{
	(void)state;
	const char *const argv[] = {"/bin/sh", "-c",
	                            "trap '' TERM; trap 'echo got-hup' HUP; echo started $CAIRN_X; "
	                            "while :; do sleep 0.05; done",
	                            NULL};
	const char *const env1[] = {"CAIRN_X=one", NULL};
	const char *const env2[] = {"CAIRN_X=two", NULL};
	struct service_spec spec = {
	        .name = "test-stubborn",
	        .argv = argv,
	        .env = env1,
	        .user = "nobody",
	        .stop_signal = SIGTERM,
	        .reload_signal = SIGHUP,
	        .stop_timeout_ms = 300,
	};
	_cleanup_free_ char *services = path_join(test_dir, "services");
	_cleanup_free_ char *logp = path_join(services, "test-stubborn.log");
	struct services *s = NULL;
	pid_t pid = 0, pid2 = 0;
	int64_t t0;

	if (geteuid() != 0)
		skip();
	assert_int_equal(services_new(test_dir, "direct", &s), 0);
	assert_int_equal(service_start(s, &spec, NULL, NULL, 5000), 0);
	assert_int_equal(service_status(s, "test-stubborn", &pid), 1);
	test_sleep_ms(200);
	assert_int_equal(service_reload(s, "test-stubborn"), 0);
	test_sleep_ms(300);
	{
		_cleanup_free_ char *data = NULL;

		assert_int_equal(read_file_full(logp, 65536, &data, NULL), 0);
		assert_non_null(strstr(data, "started one\n"));
		assert_non_null(strstr(data, "got-hup\n"));
	}
	/* Changed environment: restarted (SIGTERM ignored, so SIGKILL). */
	spec.env = env2;
	t0 = now_mono_ms();
	assert_int_equal(service_start(s, &spec, NULL, NULL, 5000), 0);
	assert_true(now_mono_ms() - t0 >= 300);
	assert_int_equal(service_status(s, "test-stubborn", &pid2), 1);
	assert_true(pid2 != pid);
	assert_int_equal(kill(pid, 0), -1);
	/* The new instance ignores SIGTERM once it said so ("started two"
	 * comes after its trap): on a loaded machine that takes a while. */
	for (int64_t deadline = now_mono_ms() + 10000;;) {
		_cleanup_free_ char *data = NULL;

		if (read_file_full(logp, 65536, &data, NULL) == 0 && strstr(data, "started two\n"))
			break;
		assert_true(now_mono_ms() < deadline);
		test_sleep_ms(20);
	}
	t0 = now_mono_ms();
	assert_int_equal(service_stop(s, "test-stubborn"), 0);
	assert_true(now_mono_ms() - t0 >= 300);
	assert_int_equal(kill(pid2, 0), -1);
	assert_int_equal(service_remove(s, "test-stubborn"), 0);
	services_free(s);
}

static void test_refusals(void **state)
{
	(void)state;
	struct services *s = NULL;
	const char *const argv[] = {"/bin/sleep", "1", NULL};
	const char *const rel[] = {"sleep", "1", NULL};
	const char *const nl[] = {"/bin/sleep", "1\n2", NULL};
	struct service_spec spec = {.name = "test-root", .argv = argv, .user = "root"};

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
	assert_int_equal(services_new(test_dir, "upstart", &(struct services *){NULL}), -EINVAL);
	services_free(s);
}

static void test_unit_render(void **state)
{
	(void)state;
	const char *const argv[] = {"/usr/bin/prometheus-postgres-exporter",
	                            "--web.listen-address=198.18.0.11:9187", "--x=a b\"c\\d$HOME%n",
	                            NULL};
	const char *const env[] = {
	        "DATA_SOURCE_NAME=host=/var/lib/cairn-db/x/run user=cairn_monitor", NULL};
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
	assert_non_null(strstr(text, "\nWorkingDirectory=/\n"));
	assert_non_null(strstr(text, "\nEnvironment=\"DATA_SOURCE_NAME=host=/var/lib/cairn-db/x/"
	                             "run user=cairn_monitor\"\n"));
	assert_non_null(strstr(
	        text,
	        "\nExecStart=\"/usr/bin/prometheus-postgres-exporter\" "
	        "\"--web.listen-address=198.18.0.11:9187\" \"--x=a b\\\"c\\\\d$$HOME%%n\"\n"));
	assert_non_null(strstr(text, "\nExecReload=/bin/kill -HUP $MAINPID\n"));
	assert_non_null(strstr(text, "\nKillSignal=SIGINT\n"));
	assert_non_null(strstr(text, "\nTimeoutStopSec=60000ms\n"));
	assert_non_null(strstr(text, "\nRestart=on-failure\n"));
	assert_non_null(strstr(text, "\n[Install]\nWantedBy=multi-user.target\n"));

	/* systemd's own parser accepts it, where the tool is installed
	 * (it works without a running systemd). */
	if (access("/usr/bin/systemd-analyze", X_OK) == 0) {
		_cleanup_free_ char *unit = path_join(test_dir, "cairn-test-render.service");
		_cleanup_free_ char *vtext = NULL;
		const char *const vargv[] = {"/bin/sleep", "1 2", "$x%y\"z", NULL};
		const char *const cmd[] = {"/usr/bin/systemd-analyze", "verify", "--man=no", unit,
		                           NULL};
		struct service_spec v = spec;
		struct proc_spec ps = {.argv = cmd, .timeout_ms = 60000};
		struct proc_result res = {0};

		v.argv = vargv;
		assert_int_equal(service_unit_render(&v, &vtext), 0);
		assert_int_equal(write_string_atomic(unit, vtext, 0644), 0);
		assert_int_equal(proc_run(&ps, &res), 0);
		if (res.exit_status != 0)
			print_error("systemd-analyze: %s%s\n", res.out, res.err);
		assert_int_equal(res.exit_status, 0);
		proc_result_done(&res);
		unlink(unit);
	}

	spec.reload_signal = 0;
	spec.stop_signal = 0; /* SIGTERM by default */
	spec.cwd = NULL;
	assert_int_equal(service_unit_render(&spec, &text2), 0);
	assert_null(strstr(text2, "ExecReload="));
	assert_null(strstr(text2, "WorkingDirectory="));
	assert_non_null(strstr(text2, "\nKillSignal=SIGTERM\n"));

	spec.user = "root";
	assert_int_equal(service_unit_render(&spec, &(char *){NULL}), -EPERM);
}

static void test_exporter_params(void **state)
{
	(void)state;
	struct exec_config cfg = {.state_dir = "/var/lib/cairn", .tls_dir = "/etc/cairn/tls"};
	char reason[EXEC_REASON_MAX];
	_cleanup_json_ json_t *ok =
	        json_pack("{s:i,s:i}", "node_exporter_port", 9100, "postgres_exporter_port", 9187);
	_cleanup_json_ json_t *same =
	        json_pack("{s:i,s:i}", "node_exporter_port", 9100, "postgres_exporter_port", 9100);
	_cleanup_json_ json_t *extra = json_pack("{s:i,s:i,s:s}", "node_exporter_port", 9100,
	                                         "postgres_exporter_port", 9187, "path", "/x");
	_cleanup_json_ json_t *big =
	        json_pack("{s:i,s:i}", "node_exporter_port", 70000, "postgres_exporter_port", 9187);
	_cleanup_free_ char *yml = exporter_web_config("/etc/cairn/tls/x/exporter.crt",
	                                               "/etc/cairn/tls/x/exporter.key");

	assert_int_equal(exec_exporter_install_validate(ok, &cfg, reason, sizeof(reason)), 0);
	assert_int_equal(exec_exporter_install_validate(same, &cfg, reason, sizeof(reason)),
	                 -EINVAL);
	assert_int_equal(exec_exporter_install_validate(extra, &cfg, reason, sizeof(reason)),
	                 -EINVAL);
	assert_int_equal(exec_exporter_install_validate(big, &cfg, reason, sizeof(reason)),
	                 -EINVAL);
	assert_non_null(
	        strstr(yml, "tls_server_config:\n  cert_file: \"/etc/cairn/tls/x/exporter.crt\"\n"
	                    "  key_file: \"/etc/cairn/tls/x/exporter.key\"\n"));
}

static void test_tls_owner(void **state)
{
	(void)state;
	struct exec_config cfg = {.state_dir = "/var/lib/cairn", .tls_dir = "/etc/cairn/tls"};
	char reason[EXEC_REASON_MAX];
	uid_t uid;
	gid_t gid;
	const char *owners[] = {"postgres", "prometheus"};

	for (size_t i = 0; i < ELEMENTSOF(owners); i++) {
		_cleanup_json_ json_t *p = json_pack("{s:[s],s:s,s:s,s:s}", "names", "a.example",
		                                     "key_path", "/etc/cairn/tls/x/k", "cert_path",
		                                     "/etc/cairn/tls/x/c", "owner", owners[i]);

		if (proc_user(owners[i], &uid, &gid) == 0)
			assert_int_equal(exec_tls_issue_validate(p, &cfg, reason, sizeof(reason)),
			                 0);
		else
			assert_int_equal(exec_tls_issue_validate(p, &cfg, reason, sizeof(reason)),
			                 -EINVAL);
	}
	{
		_cleanup_json_ json_t *p = json_pack("{s:[s],s:s,s:s,s:s}", "names", "a.example",
		                                     "key_path", "/etc/cairn/tls/x/k", "cert_path",
		                                     "/etc/cairn/tls/x/c", "owner", "nobody");
		_cleanup_json_ json_t *q = json_pack("{s:[s],s:s,s:s,s:i}", "names", "a.example",
		                                     "key_path", "/etc/cairn/tls/x/k", "cert_path",
		                                     "/etc/cairn/tls/x/c", "owner", 0);

		assert_int_equal(exec_tls_issue_validate(p, &cfg, reason, sizeof(reason)), -EINVAL);
		assert_non_null(strstr(reason, "params.owner"));
		assert_int_equal(exec_tls_issue_validate(q, &cfg, reason, sizeof(reason)), -EINVAL);
	}
}

static void test_exporter_install(void **state)
{
	(void)state;
	static const char ds[] = "0b6c4a0e-7d4b-4c55-9d0e-2f3b9c1d7a10";
	_cleanup_free_ char *tls = path_join(test_dir, "tls"), *db = path_join(test_dir, "db");
	_cleanup_free_ char *tdir = NULL, *crt = NULL, *key = NULL, *pgname = NULL, *msg = NULL;
	_cleanup_json_ json_t *facts = NULL, *out = NULL;
	_cleanup_json_ json_t *params = json_pack("{s:i,s:i}", "node_exporter_port", 19100,
	                                          "postgres_exporter_port", 19187);
	_cleanup_pkey_ EVP_PKEY *pk = NULL, *cak = NULL;
	_cleanup_x509_ X509 *cert = NULL, *ca = NULL;
	_cleanup_free_ char *cafile = NULL;
	char address[NODE_FACTS_ADDRESS_MAX], want[64];
	struct pg_instance inst = {.version = "15", .port = 5432};
	struct services *s = NULL;
	uid_t uid;
	gid_t gid;

	if (geteuid() != 0 || access(EXPORTER_NODE_BIN, X_OK) < 0 ||
	    access(EXPORTER_POSTGRES_BIN, X_OK) < 0 || proc_user(EXPORTER_USER, &uid, &gid) < 0)
		skip();
	assert_int_equal(node_facts_collect(NULL, &facts), 0);
	if (node_facts_first_ipv4(facts, address) < 0)
		skip();
	assert_non_null(tls);
	assert_non_null(db);
	tdir = path_join(tls, ds);
	crt = path_join(tdir, "exporter.crt");
	key = path_join(tdir, "exporter.key");
	assert_int_equal(chmod(test_dir, 0755), 0);
	assert_int_equal(mkdir_p(tdir, 0755), 0);
	cafile = path_join(tdir, "ca.crt");
	assert_int_equal(pki_key_generate(&cak), 0);
	assert_int_equal(pki_ca_create(cak, "exporter-test-ca", 3600, &ca), 0);
	assert_int_equal(pki_key_generate(&pk), 0);
	{
		const char *const names[] = {address, NULL};
		struct pki_sign_opts o = {
		        .cn = address, .names = names, .ttl_s = 3600, .usage = PKI_USAGE_SERVER};

		assert_int_equal(pki_cert_issue(ca, cak, pk, &o, &cert), 0);
	}
	assert_int_equal(pki_cert_save(cafile, ca), 0);
	assert_int_equal(pki_cert_save(crt, cert), 0);
	assert_int_equal(pki_key_save(key, pk), 0);
	assert_int_equal(chown(key, uid, gid), 0);
	assert_int_equal(services_new(test_dir, "direct", &s), 0);

	struct exec_config cfg = {
	        .state_dir = test_dir, .tls_dir = tls, .db_dir = db, .services = s};
	struct exec_context ctx = {.config = &cfg, .jti = "test", .ds = ds};

	/* No instance yet: refused with a message. */
	assert_int_equal(exec_exporter_install_run(params, &ctx, &out, &msg), -ENOENT);
	assert_non_null(msg);
	assert_int_equal(mkdir_p(db, 0755), 0);
	{
		_cleanup_free_ char *dsdb = path_join(db, ds);
		assert_int_equal(mkdir_p(dsdb, 0755), 0);
	}
	assert_int_equal(pgstatus_instance_save(db, ds, &inst), 0);
	free(msg);
	msg = NULL;
	assert_int_equal(exec_exporter_install_run(params, &ctx, &out, &msg), 0);
	snprintf(want, sizeof(want), "%s:19100", address);
	assert_string_equal(json_string_value(json_array_get(json_object_get(out, "endpoints"), 0)),
	                    want);
	snprintf(want, sizeof(want), "%s:19187", address);
	assert_string_equal(json_string_value(json_array_get(json_object_get(out, "endpoints"), 1)),
	                    want);
	assert_int_equal(service_status(s, EXPORTER_NODE_SERVICE, NULL), 1);
	assert_int_equal(asprintf(&pgname, "postgres-exporter-%s", ds) > 0, 1);
	assert_int_equal(service_status(s, pgname, NULL), 1);
	/* It serves TLS with the certificate (HTTPS GET trusting it). */
	{
		_cleanup_curl_ CURL *c = curl_easy_init();
		char url[96];
		long code = 0;

		assert_non_null(c);
		snprintf(url, sizeof(url), "https://%s:19100/metrics", address);
		curl_easy_setopt(c, CURLOPT_URL, url);
		curl_easy_setopt(c, CURLOPT_CAINFO, cafile);
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
		curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
		assert_int_equal(curl_easy_perform(c), CURLE_OK);
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
		assert_int_equal(code, 200);
	}
	/* Again: idempotent. */
	json_decref(out);
	out = NULL;
	assert_int_equal(exec_exporter_install_run(params, &ctx, &out, &msg), 0);

	assert_int_equal(exporter_remove(&cfg, ds), 0);
	assert_int_equal(service_status(s, EXPORTER_NODE_SERVICE, NULL), -ENOENT);
	assert_int_equal(service_status(s, pgname, NULL), -ENOENT);
	assert_int_equal(exporter_remove(&cfg, ds), 0);
	services_free(s);
}

/* Whatever happened in test_exporter_install, no exporter outlives it. */
static int exporter_teardown(void **state)
{
	(void)state;
	struct services *s = NULL;
	_cleanup_free_ char *pgname = NULL;

	if (services_new(test_dir, "direct", &s) < 0)
		return 0;
	(void)service_remove(s, EXPORTER_NODE_SERVICE);
	if (asprintf(&pgname, "postgres-exporter-%s", "0b6c4a0e-7d4b-4c55-9d0e-2f3b9c1d7a10") > 0)
		(void)service_remove(s, pgname);
	services_free(s);
	return 0;
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(test_dir) ? 0 : -1;
}

static int teardown_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 ? 0 : 0;
}

static int teardown(void **state)
{
	(void)state;
	if (getenv("TEST_KEEP"))
		return 0;
	return nftw(test_dir, teardown_one, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_direct_lifecycle),
	        cmocka_unit_test(test_direct_signals),
	        cmocka_unit_test(test_refusals),
	        cmocka_unit_test(test_unit_render),
	        cmocka_unit_test(test_exporter_params),
	        cmocka_unit_test(test_tls_owner),
	        cmocka_unit_test_teardown(test_exporter_install, exporter_teardown),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
