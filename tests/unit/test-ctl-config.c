/*
 * test-ctl-config.c: controller.conf defaults, ranges, typos and the
 * line-numbered errors operators see.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "controller/config.h" /* not the autoconf config.h */
#include "macro.h"

static struct config *parse_ok(const char *text)
{
	struct config *c = NULL;
	char *err = NULL;
	int r = config_parse("controller.conf", text, strlen(text), &c, &err);
	if (r < 0)
		fail_msg("unexpected error: %s", err ?: "?");
	free(err);
	return c;
}

static void expect_error(const char *text, const char *needle)
{
	struct config *c = NULL;
	char *err = NULL;
	assert_int_equal(config_parse("controller.conf", text, strlen(text), &c, &err), -EINVAL);
	assert_null(c);
	assert_non_null(err);
	if (!strstr(err, needle))
		fail_msg("error '%s' does not mention '%s'", err, needle);
	free(err);
}

static void test_defaults(void **state)
{
	struct config *c = parse_ok("");
	assert_string_equal(c->state_dir, "/var/lib/cairn-controller");
	assert_int_equal(c->join_token_ttl_s, 3600);
	assert_int_equal(c->node_cert_ttl_s, 604800);
	assert_int_equal(c->job_ttl_s, 3600);
	assert_int_equal(c->job_max_attempts, 5);
	assert_int_equal(c->retry_base_s, 2);
	assert_int_equal(c->retry_max_s, 300);
	assert_int_equal(c->poll_wait_max_s, 60);
	assert_int_equal(c->status_interval_s, 60);
	assert_int_equal(c->connection_limit, 20000);
	assert_int_equal(c->log_level, LOG_INFO);
	assert_true(c->api_rl.rate == 20 && c->api_rl.burst == 50);
	assert_true(c->enroll_rl.rate == 1 && c->enroll_rl.burst == 5);
	assert_string_equal(c->agent_package, "cairn-agent");
	assert_false(c->allow_raw_jobs);
	assert_string_equal(c->server_names[c->server_names[2] ? 1 : 0], "localhost");
	assert_non_null(strstr(c->public_api_url, ":8443"));
	assert_non_null(strstr(c->public_gateway_url, ":8444"));
	config_free(c);
}

static void test_full(void **state)
{
	struct config *c = parse_ok("[controller]\n"
				    "state_dir = /srv/ctl\n"
				    "api_listen = 127.0.0.1:9443\n"
				    "gateway_listen = [::1]:9444\n"
				    "server_names = ctl.example, 198.18.0.1\n"
				    "public_gateway_url = https://gw.example:9444\n"
				    "log_level = debug\n"
				    "job_max_attempts = 3\n"
				    "[ratelimit]\napi_rate = 5\n"
				    "[testing]\nallow_raw_jobs = true\n");
	assert_string_equal(c->state_dir, "/srv/ctl");
	assert_int_equal(c->api_listen.addr.ss_family, AF_INET);
	assert_int_equal(c->gateway_listen.addr.ss_family, AF_INET6);
	assert_string_equal(c->server_names[0], "ctl.example");
	assert_string_equal(c->server_names[1], "198.18.0.1");
	assert_null(c->server_names[2]);
	assert_string_equal(c->public_api_url, "https://ctl.example:9443");
	assert_string_equal(c->public_gateway_url, "https://gw.example:9444");
	assert_int_equal(c->log_level, LOG_DEBUG);
	assert_int_equal(c->job_max_attempts, 3);
	assert_true(c->api_rl.rate == 5);
	assert_true(c->allow_raw_jobs);
	config_free(c);
}

static void test_errors(void **state)
{
	expect_error("[controller]\njob_ttl_s = 10\n", "controller.conf:2");
	expect_error("[controller]\njob_ttl_s = 10\n", "job_ttl_s");
	expect_error("[controller]\n\njob_tll_s = 100\n", "job_tll_s");
	expect_error("[ratelimit]\napi_rte = 1\n", "api_rte");
	expect_error("stray = 1\n", "stray");
	expect_error("[controller]\napi_listen = localhost:8443\n", "api_listen");
	expect_error("[controller]\napi_listen = 127.0.0.1:99999\n", "api_listen");
	expect_error("[controller]\nstate_dir = relative\n", "state_dir");
	expect_error("[controller]\nserver_names = ok.example, bad_name!\n", "server_names");
	expect_error("[controller]\nserver_names = a.example,,b.example\n", "server_names");
	expect_error("[controller]\npublic_api_url = http://plain\n", "public_api_url");
	expect_error("[controller]\npublic_api_url = https://x\"y\n", "public_api_url");
	expect_error("[controller]\nlog_level = loud\n", "log_level");
	expect_error("[controller]\nretry_base_s = 10\nretry_max_s = 5\n", "retry_max_s");
	expect_error("[controller]\npoll_wait_max_s = 61\n", "poll_wait_max_s");
	expect_error("[userdata]\nagent_package = cairn-agent; rm -rf /\n", "agent_package");
	expect_error("[testing]\nallow_raw_jobs = maybe\n", "allow_raw_jobs");
	expect_error("[controller\n", "controller.conf:1");
	expect_error("[ratelimt]\napi_rate = 1\n", "ratelimt");
}

static void test_missing_file(void **state)
{
	struct config *c = NULL;
	char *err = NULL;
	assert_int_equal(config_load("/nonexistent/controller.conf", true, &c, &err), 0);
	assert_non_null(c);
	config_free(c);
	c = NULL;
	assert_true(config_load("/nonexistent/controller.conf", false, &c, &err) < 0);
	assert_non_null(err);
	assert_non_null(strstr(err, "/nonexistent/controller.conf"));
	free(err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_missing_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
