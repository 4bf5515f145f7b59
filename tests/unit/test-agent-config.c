/*
 * test-agent-config.c: agent.conf keys, defaults, ranges and refusals.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include <cmocka.h>

#include "../../node-agent/config.h" /* not the autoconf config.h */
#include "macro.h"
#include "protocol.h"

static int parse(const char *text, struct agent_config **ret, char **ret_error)
{
	return agent_config_parse("agent.conf", text, strlen(text), ret, ret_error);
}

static void expect_error(const char *text, const char *needle)
{
	struct agent_config *c = NULL;
	_cleanup_free_ char *error = NULL;

	assert_int_equal(parse(text, &c, &error), -EINVAL);
	assert_null(c);
	assert_non_null(error);
	if (needle && !strstr(error, needle))
		fail_msg("error '%s' does not mention '%s'", error, needle);
}

static void test_defaults(void **state)
{
	_cleanup_agent_config_ struct agent_config *c = NULL;

	assert_int_equal(parse("[agent]\napi_url = https://ctl.example:8443\n", &c, NULL), 0);
	assert_string_equal(c->state_dir, "/var/lib/cairn");
	assert_string_equal(c->api_url, "https://ctl.example:8443");
	assert_null(c->gateway_url);
	assert_string_equal(c->ca_file, "/etc/cairn/ca.pem");
	assert_string_equal(c->token_file, "/etc/cairn/join.token");
	assert_string_equal(c->tls_dir, "/etc/cairn/tls");
	assert_int_equal(c->poll_wait_s, 30);
	assert_int_equal(c->skew_s, CAIRN_SKEW_DEFAULT_S);
	assert_int_equal(c->log_level, LOG_INFO);
	assert_false(c->allow_debug_jobs);
}

static void test_all_keys(void **state)
{
	_cleanup_agent_config_ struct agent_config *c = NULL;
	const char *text = "# comment\n"
			   "[agent]\n"
			   "state_dir = /srv/agent1/\n"
			   "api_url = https://127.0.0.1:8443/\n"
			   "gateway_url = https://127.0.0.1:8444\n"
			   "ca_file = /srv/agent1-etc/ca.pem\n"
			   "token_file = /srv/agent1-etc/join.token\n"
			   "tls_dir = /srv/agent1-tls\n"
			   "poll_wait_s = 0\n"
			   "skew_s = 5\n"
			   "log_level = debug\n"
			   "allow_debug_jobs = true\n";

	assert_int_equal(parse(text, &c, NULL), 0);
	assert_string_equal(c->state_dir, "/srv/agent1");        /* trailing '/' dropped */
	assert_string_equal(c->api_url, "https://127.0.0.1:8443"); /* idem */
	assert_string_equal(c->gateway_url, "https://127.0.0.1:8444");
	assert_string_equal(c->tls_dir, "/srv/agent1-tls");
	assert_int_equal(c->poll_wait_s, 0);
	assert_int_equal(c->skew_s, 5);
	assert_int_equal(c->log_level, LOG_DEBUG);
	assert_true(c->allow_debug_jobs);
}

static void test_refusals(void **state)
{
	expect_error("[agent]\nstat_dir = /x\n", "stat_dir");               /* typo */
	expect_error("top = 1\n[agent]\n", "top");                          /* outside [agent] */
	expect_error("[agent]\npoll_wait_s = 61\n", "poll_wait_s");
	expect_error("[agent]\npoll_wait_s = -1\n", "poll_wait_s");
	expect_error("[agent]\npoll_wait_s = 5s\n", "poll_wait_s");
	expect_error("[agent]\nskew_s = 3601\n", "skew_s");
	expect_error("[agent]\napi_url = http://ctl:8443\n", "api_url");
	expect_error("[agent]\ngateway_url = ctl:8444\n", "gateway_url");
	expect_error("[agent]\napi_url = https://ctl:8443/?x=1\n", "api_url");
	expect_error("[agent]\nstate_dir = var/lib/cairn\n", "state_dir");
	expect_error("[agent]\nstate_dir = /var/lib/../cairn\n", "state_dir");
	expect_error("[agent]\ntls_dir = /etc//tls\n", "tls_dir");
	expect_error("[agent]\ntls_dir = /\n", "tls_dir");
	expect_error("[agent]\nlog_level = loud\n", "log_level");
	expect_error("[agent]\nallow_debug_jobs = maybe\n", "allow_debug_jobs");
	/* tls.issue must never reach the agent's own key */
	expect_error("[agent]\nstate_dir = /var/lib/cairn\ntls_dir = /var/lib/cairn\n", "tls_dir");
	expect_error("[agent]\nstate_dir = /var/lib/cairn\ntls_dir = /var/lib/cairn/tls\n", "tls_dir");
	expect_error("[agent]\nstate_dir = /var/lib/cairn/x\ntls_dir = /var/lib\n", "tls_dir");
	expect_error("[agent\n", NULL);
	expect_error("[agnet]\napi_url = https://x\n", "agnet"); /* misspelt section */
}

static void test_overlap_prefix_only(void **state)
{
	_cleanup_agent_config_ struct agent_config *c = NULL;

	/* /var/lib/cairn-tls is not inside /var/lib/cairn */
	assert_int_equal(parse("[agent]\nstate_dir = /var/lib/cairn\ntls_dir = /var/lib/cairn-tls\n", &c, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_all_keys),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_overlap_prefix_only),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
