/*
 * test-ctl-api.c: the request body parsers of the API and the gateway
 * (the same functions the fuzz target drives).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include <stdio.h>

#include "api.h"
#include "fileio.h"
#include "enroll.h"
#include "gateway.h"

static json_t *J(const char *s)
{
	json_t *j = json_loads(s, JSON_REJECT_DUPLICATES, NULL);
	assert_non_null(j);
	return j;
}

static void test_node_create(void **state)
{
	char name[CAIRN_NODE_NAME_MAX + 1], reason[API_REASON_MAX];
	json_t *j = J("{\"name\":\"db-1\"}");
	assert_int_equal(api_parse_node_create(j, name, reason), 0);
	assert_string_equal(name, "db-1");
	json_decref(j);
	const char *bad[] = { "{}", "{\"name\":\"DB\"}", "{\"name\":\"-a\"}", "{\"name\":\"a-\"}",
			      "{\"name\":\"\"}", "{\"name\":1}", "{\"name\":\"a.b\"}",
			      "{\"name\":\"a\",\"x\":1}",
			      "{\"name\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		j = J(bad[i]);
		assert_int_equal(api_parse_node_create(j, name, reason), -EINVAL);
		json_decref(j);
	}
	j = J("{\"name\":\"a\",\"extra\":1}");
	assert_int_equal(api_parse_node_create(j, name, reason), -EINVAL);
	assert_string_equal(reason, "unknown member 'extra'");
	json_decref(j);
}

static void test_rfc3339(void **state)
{
	int64_t t;
	assert_int_equal(api_parse_rfc3339("1970-01-01T00:00:00Z", &t), 0);
	assert_int_equal(t, 0);
	assert_int_equal(api_parse_rfc3339("2026-11-23T10:00:00Z", &t), 0);
	assert_int_equal(t, 1795428000);
	assert_int_equal(api_parse_rfc3339("2026-02-30T10:00:00Z", &t), -EINVAL);
	assert_int_equal(api_parse_rfc3339("2026-11-23T10:00:00+01:00", &t), -EINVAL);
	assert_int_equal(api_parse_rfc3339("2026-11-23 10:00:00Z", &t), -EINVAL);
	assert_int_equal(api_parse_rfc3339("2026-1a-23T10:00:00Z", &t), -EINVAL);
	assert_int_equal(api_parse_rfc3339(NULL, &t), -EINVAL);
}

static void test_job_submit(void **state)
{
	struct api_job_submit js;
	char reason[API_REASON_MAX];
	json_t *j = J("{\"type\":\"tls.issue\",\"params\":{\"names\":[\"db.example\"],"
		      "\"key_path\":\"/etc/cairn/tls/k.pem\",\"cert_path\":\"/etc/cairn/tls/c.pem\"},"
		      "\"ds\":\"ds-1\",\"epoch\":3,\"not_before\":\"2030-01-01T00:00:00Z\","
		      "\"ttl_s\":600,\"timeout_s\":30,\"max_attempts\":2}");
	assert_int_equal(api_parse_job_submit(j, &js, reason), 0);
	assert_string_equal(js.type, "tls.issue");
	assert_string_equal(js.ds, "ds-1");
	assert_int_equal(js.epoch, 3);
	assert_int_equal(js.ttl_s, 600);
	assert_int_equal(js.max_attempts, 2);
	assert_true(js.not_before > 0);
	assert_int_equal(api_check_params(js.type, js.params, reason), 0);
	json_decref(j);

	const char *bad[] = {
		"{\"type\":\"no.such\"}",
		"{\"type\":\"node.facts\",\"params\":[]}",
		"{\"type\":\"node.facts\",\"epoch\":1}",
		"{\"type\":\"node.facts\",\"ttl_s\":59}",
		"{\"type\":\"node.facts\",\"max_attempts\":21}",
		"{\"type\":\"node.facts\",\"timeout_s\":\"5\"}",
		"{\"type\":\"node.facts\",\"not_before\":\"tomorrow\"}",
		"{\"type\":\"node.facts\",\"unknown\":1}",
		"{\"raw_jws\":\"a.b.c\",\"type\":\"node.facts\"}",
		"{\"raw_jws\":\"\"}",
		"{\"raw_jws\":\"a b\"}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		j = J(bad[i]);
		if (api_parse_job_submit(j, &js, reason) != -EINVAL)
			fail_msg("accepted %s", bad[i]);
		json_decref(j);
	}
	j = J("{\"raw_jws\":\"a.b.c\"}");
	assert_int_equal(api_parse_job_submit(j, &js, reason), 0);
	assert_string_equal(js.raw_jws, "a.b.c");
	json_decref(j);
}

static void test_params(void **state)
{
	char reason[API_REASON_MAX];
	struct {
		const char *type, *params;
		int r;
	} cases[] = {
		{ "node.facts", "{}", 0 },
		{ "node.facts", "{\"x\":1}", -EINVAL },
		{ "debug.sleep", "{\"seconds\":5}", 0 },
		{ "debug.sleep", "{\"seconds\":3601}", -EINVAL },
		{ "debug.sleep", "{}", -EINVAL },
		{ "tls.issue", "{\"names\":[],\"key_path\":\"/a\",\"cert_path\":\"/b\"}", -EINVAL },
		{ "tls.issue", "{\"names\":[\"a\"],\"key_path\":\"/a\",\"cert_path\":\"/a\"}", -EINVAL },
		{ "tls.issue", "{\"names\":[\"a\"],\"key_path\":\"rel\",\"cert_path\":\"/b\"}", -EINVAL },
		{ "tls.issue", "{\"names\":[\"a\"],\"key_path\":\"/x/../a\",\"cert_path\":\"/b\"}", -EINVAL },
		{ "tls.issue", "{\"names\":[\"bad name\"],\"key_path\":\"/a\",\"cert_path\":\"/b\"}", -EINVAL },
		{ "tls.issue", "{\"names\":[\"10.0.0.1\"],\"key_path\":\"/a\",\"cert_path\":\"/b\",\"ttl_s\":86400}", 0 },
		{ "tls.issue", "{\"names\":[\"a\"],\"key_path\":\"/a\",\"cert_path\":\"/b\",\"ttl_s\":1}", -EINVAL },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *p = J(cases[i].params);
		if (api_check_params(cases[i].type, p, reason) != cases[i].r)
			fail_msg("%s %s: expected %d", cases[i].type, cases[i].params, cases[i].r);
		json_decref(p);
	}
}

static void test_gateway_parsers(void **state)
{
	char reason[API_REASON_MAX];
	int64_t after, wait;
	assert_int_equal(gateway_parse_pull_query("12", "90", 30, &after, &wait, reason), -EINVAL);
	assert_int_equal(gateway_parse_pull_query("12", "45", 30, &after, &wait, reason), 0);
	assert_int_equal(after, 12);
	assert_int_equal(wait, 30);
	assert_int_equal(gateway_parse_pull_query(NULL, NULL, 30, &after, &wait, reason), 0);
	assert_int_equal(after, 0);
	assert_int_equal(wait, 0);
	assert_int_equal(gateway_parse_pull_query("-1", NULL, 30, &after, &wait, reason), -EINVAL);
	assert_int_equal(gateway_parse_pull_query("1x", NULL, 30, &after, &wait, reason), -EINVAL);

	const char *kind, *msg;
	json_t *j = J("{\"kind\":\"progress\",\"message\":\"half\",\"progress\":0.5}");
	assert_int_equal(gateway_parse_event(j, &kind, &msg, reason), 0);
	assert_string_equal(kind, "progress");
	json_decref(j);
	j = J("{\"kind\":\"state\"}");
	assert_int_equal(gateway_parse_event(j, &kind, &msg, reason), -EINVAL);
	json_decref(j);
	j = J("{\"kind\":\"log\",\"progress\":2}");
	assert_int_equal(gateway_parse_event(j, &kind, &msg, reason), -EINVAL);
	json_decref(j);

	enum cairn_job_state st;
	char *out = NULL;
	j = J("{\"state\":\"failed\",\"message\":\"no\",\"output\":{\"a\":1}}");
	assert_int_equal(gateway_parse_result(j, &st, &msg, &out, reason), 0);
	assert_int_equal(st, CAIRN_JOB_FAILED);
	assert_string_equal(out, "{\"a\":1}");
	free(out);
	json_decref(j);
	j = J("{\"state\":\"timed_out\"}");
	assert_int_equal(gateway_parse_result(j, &st, &msg, &out, reason), -EINVAL);
	json_decref(j);
	j = J("{\"state\":\"succeeded\",\"output\":[1]}");
	assert_int_equal(gateway_parse_result(j, &st, &msg, &out, reason), -EINVAL);
	json_decref(j);

	char *facts = NULL, *health = NULL;
	j = J("{\"agent\":{\"version\":\"0.1.0\",\"settled_seq\":1},\"facts\":{\"os\":{}}}");
	assert_int_equal(gateway_parse_status(j, &facts, &health, reason), 0);
	assert_string_equal(facts, "{\"os\":{}}");
	assert_null(health);
	free(facts);
	json_decref(j);
	j = J("{\"agent\":{\"surprise\":1}}");
	assert_int_equal(gateway_parse_status(j, &facts, &health, reason), -EINVAL);
	json_decref(j);

	const char *csr, *token;
	j = J("{\"csr\":\"-----BEGIN\"}");
	assert_int_equal(gateway_parse_csr(j, &csr, reason), 0);
	json_decref(j);
	j = J("{\"join_token\":\"cjt_x\",\"csr\":\"pem\"}");
	assert_int_equal(enroll_parse_body(j, &token, &csr, reason), 0);
	json_decref(j);
	j = J("{\"join_token\":\"cjt_x\"}");
	assert_int_equal(enroll_parse_body(j, &token, &csr, reason), -EINVAL);
	json_decref(j);
}

/* Every route of both listeners is in docs/openapi.yaml, with its method. */
static bool openapi_has(const char *doc, const char *pattern, const char *method)
{
	char lower[8];
	size_t i;
	for (i = 0; method[i] && i < sizeof(lower) - 1; i++)
		lower[i] = (char)(method[i] - 'A' + 'a');
	lower[i] = 0;
	for (const char *line = doc; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		if (strncmp(line, "  /", 3) != 0)
			continue;
		/* Compare "  /v1/nodes/{id}/revoke:" with "/v1/nodes/x/revoke", x = '*'. */
		const char *p = line + 2, *q = pattern;
		while (*q && *p && *p != ':') {
			if (*q == '*' && *p == '{') {
				p = strchr(p, '}');
				if (!p)
					break;
				p++;
				q++;
				continue;
			}
			if (*p != *q)
				break;
			p++;
			q++;
		}
		if (!p || *q || *p != ':')
			continue;
		/* The methods are the next lines indented by four spaces. */
		for (const char *m = strchr(line, '\n'); m && strncmp(m + 1, "  /", 3) != 0 && m[1];
		     m = strchr(m + 1, '\n'))
			if (strncmp(m + 1, "    ", 4) == 0 && m[5] != ' ' && strncmp(m + 5, lower, strlen(lower)) == 0 &&
			    m[5 + strlen(lower)] == ':')
				return true;
		return false;
	}
	return false;
}

static void test_openapi_lists_every_route(void **state)
{
	const char *top = getenv("top_srcdir");
	char *doc = NULL, path[4096];
	if (!top)
		skip();
	snprintf(path, sizeof(path), "%s/docs/openapi.yaml", top);
	assert_int_equal(read_file_full(path, 1 << 20, &doc, NULL), 0);
	for (size_t i = 0; i < api_routes_count; i++)
		if (!openapi_has(doc, api_routes[i].pattern, api_routes[i].method))
			fail_msg("openapi.yaml lacks %s %s", api_routes[i].method, api_routes[i].pattern);
	for (size_t i = 0; i < gateway_routes_count; i++)
		if (!openapi_has(doc, gateway_routes[i].pattern, gateway_routes[i].method))
			fail_msg("openapi.yaml lacks %s %s", gateway_routes[i].method, gateway_routes[i].pattern);
	assert_false(openapi_has(doc, "/v1/nodes", "DELETE"));
	free(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_node_create),
		cmocka_unit_test(test_rfc3339),
		cmocka_unit_test(test_job_submit),
		cmocka_unit_test(test_params),
		cmocka_unit_test(test_gateway_parsers),
		cmocka_unit_test(test_openapi_lists_every_route),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
