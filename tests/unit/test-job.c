/*
 * test-job.c: unit tests for lib/job.c: a valid payload round-trips, and
 * each member missing, of the wrong type or out of range is refused, as is
 * any unknown member.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "job.h"
#include "macro.h"
#include "protocol.h"

static const char good_text[] =
	"{\"jti\":\"6b1c6d0e-2f4a-4b8e-9c1d-0123456789ab\","
	"\"sub\":\"0f0e0d0c-0b0a-4909-8807-060504030201\","
	"\"iat\":1795428000,\"nbf\":1795428000,\"exp\":1795431600,\"seq\":7,"
	"\"ds\":null,\"epoch\":0,\"type\":\"node.facts\",\"params\":{}}";

static json_t *good(void)
{
	json_t *j = json_loads(good_text, JSON_REJECT_DUPLICATES, NULL);
	assert_non_null(j);
	return j;
}

/* Sets member to the JSON text v (or deletes it when v is NULL) and
 * expects refusal with reason. */
static void expect_refused(const char *member, const char *v, const char *reason)
{
	_cleanup_json_ json_t *j = good();
	struct job_claims c = { .seq = 99 };
	const char *why = NULL;

	if (v) {
		json_t *x = json_loads(v, JSON_DECODE_ANY, NULL);
		assert_non_null(x);
		json_object_set_new(j, member, x);
	} else
		json_object_del(j, member);
	assert_int_equal(job_claims_from_json(j, &c, &why), -EINVAL);
	assert_int_equal(c.seq, 99); /* untouched */
	assert_null(c.sub);
	if (!why || !streq(why, reason))
		fail_msg("%s=%s: expected \"%s\", got \"%s\"", member, v ? v : "(absent)", reason,
			 why ? why : "(null)");
}

/* Sets member to v and expects acceptance. */
static void expect_ok(const char *member, const char *v)
{
	_cleanup_json_ json_t *j = good();
	struct job_claims c = {};
	const char *why = NULL;

	json_object_set_new(j, member, json_loads(v, JSON_DECODE_ANY, NULL));
	if (job_claims_from_json(j, &c, &why) < 0)
		fail_msg("%s=%s refused: %s", member, v, why);
	job_claims_done(&c);
}

static void test_good(void **state)
{
	_cleanup_json_ json_t *j = good();
	_cleanup_json_ json_t *back = NULL;
	struct job_claims c = {};
	const char *why = NULL;

	assert_int_equal(job_claims_from_json(j, &c, &why), 0);
	assert_string_equal(c.jti, "6b1c6d0e-2f4a-4b8e-9c1d-0123456789ab");
	assert_string_equal(c.sub, "0f0e0d0c-0b0a-4909-8807-060504030201");
	assert_int_equal(c.iat, 1795428000);
	assert_int_equal(c.nbf, 1795428000);
	assert_int_equal(c.exp, 1795431600);
	assert_int_equal(c.seq, 7);
	assert_null(c.ds);
	assert_int_equal(c.epoch, 0);
	assert_string_equal(c.type, "node.facts");
	assert_true(json_is_object(c.params));

	back = job_claims_to_json(&c);
	assert_non_null(back);
	assert_true(json_equal(back, j));
	job_claims_done(&c);
	assert_null(c.sub);
	assert_null(c.params);
	job_claims_done(&c);
	job_claims_done(NULL);

	/* With a datastore and params. */
	json_object_set_new(j, "ds", json_string("ds-1"));
	json_object_set_new(j, "epoch", json_integer(5));
	json_object_set_new(j, "params", json_pack("{s:[s]}", "names", "db-1.example"));
	assert_int_equal(job_claims_from_json(j, &c, &why), 0);
	assert_string_equal(c.ds, "ds-1");
	assert_int_equal(c.epoch, 5);
	json_decref(back);
	back = job_claims_to_json(&c);
	assert_true(json_equal(back, j));
	/* params is a reference to the payload's own object. */
	assert_ptr_equal(c.params, json_object_get(j, "params"));
	job_claims_done(&c);

	/* to_json without params gives an empty object. */
	struct job_claims d = { .jti = "6b1c6d0e-2f4a-4b8e-9c1d-0123456789ab", .sub = "n",
				.seq = 1, .type = "node.facts" };
	json_t *x = job_claims_to_json(&d);
	assert_true(json_is_object(json_object_get(x, "params")));
	assert_true(json_is_null(json_object_get(x, "ds")));
	json_decref(x);
	d.sub = NULL;
	assert_null(job_claims_to_json(&d));
}

static void test_members(void **state)
{
	static const char *const members[] = { "jti", "sub", "iat", "nbf", "exp",
					       "seq", "ds", "epoch", "type", "params" };
	char reason[64];

	for (size_t i = 0; i < ELEMENTSOF(members); i++) {
		snprintf(reason, sizeof(reason), "%s missing", members[i]);
		expect_refused(members[i], NULL, reason);
	}
	expect_refused("extra", "1", "payload has unknown member");
	expect_refused("JTI", "\"6b1c6d0e-2f4a-4b8e-9c1d-0123456789ab\"", "payload has unknown member");
	expect_refused("crit", "[]", "payload has unknown member");

	const char *why = NULL;
	struct job_claims c;
	_cleanup_json_ json_t *arr = json_array();
	assert_int_equal(job_claims_from_json(arr, &c, &why), -EINVAL);
	assert_string_equal(why, "payload is not a JSON object");
	assert_int_equal(job_claims_from_json(NULL, &c, &why), -EINVAL);
}

static void test_types(void **state)
{
	/* jti */
	expect_refused("jti", "1", "jti is not a UUID");
	expect_refused("jti", "null", "jti is not a UUID");
	expect_refused("jti", "\"\"", "jti is not a UUID");
	expect_refused("jti", "\"not-a-uuid\"", "jti is not a UUID");
	expect_refused("jti", "\"6b1c6d0e-2f4a-4b8e-9c1d-0123456789ab \"", "jti is not a UUID");
	expect_refused("jti", "\"6b1c6d0e2f4a4b8e9c1d0123456789ab\"", "jti is not a UUID");
	expect_ok("jti", "\"6B1C6D0E-2F4A-4B8E-9C1D-0123456789AB\"");

	/* sub */
	expect_refused("sub", "1", "sub is not a string");
	expect_refused("sub", "null", "sub is not a string");
	expect_refused("sub", "\"\"", "sub is empty or too long");
	expect_refused("sub", "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"",
		       "sub is empty or too long");
	expect_ok("sub", "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"");

	/* times: integers only */
	static const char *const times[] = { "iat", "nbf", "exp" };
	for (size_t i = 0; i < ELEMENTSOF(times); i++) {
		char reason[64];
		snprintf(reason, sizeof(reason), "%s is not an integer in range", times[i]);
		expect_refused(times[i], "1795428000.0", reason);
		expect_refused(times[i], "1.7954e9", reason);
		expect_refused(times[i], "\"1795428000\"", reason);
		expect_refused(times[i], "null", reason);
		expect_refused(times[i], "true", reason);
		expect_refused(times[i], "-1", reason);
		expect_refused(times[i], "9007199254740992", reason);
		expect_ok(times[i], "0");
		expect_ok(times[i], "9007199254740991");
	}

	/* seq: 1 … 2^53-1 */
	expect_refused("seq", "0", "seq is not an integer in 1..2^53-1");
	expect_refused("seq", "-1", "seq is not an integer in 1..2^53-1");
	expect_refused("seq", "9007199254740992", "seq is not an integer in 1..2^53-1");
	expect_refused("seq", "9223372036854775807", "seq is not an integer in 1..2^53-1");
	expect_refused("seq", "1.0", "seq is not an integer in 1..2^53-1");
	expect_refused("seq", "1e0", "seq is not an integer in 1..2^53-1");
	expect_refused("seq", "\"1\"", "seq is not an integer in 1..2^53-1");
	expect_ok("seq", "1");
	expect_ok("seq", "9007199254740991");

	/* ds and epoch */
	expect_refused("ds", "1", "ds is not a string or null");
	expect_refused("ds", "{}", "ds is not a string or null");
	expect_refused("ds", "\"\"", "ds is empty or too long");
	expect_refused("epoch", "-1", "epoch is not an integer >= 0");
	expect_refused("epoch", "0.0", "epoch is not an integer >= 0");
	expect_refused("epoch", "null", "epoch is not an integer >= 0");
	expect_refused("epoch", "1", "epoch must be 0 when ds is null");
	expect_ok("ds", "\"ds-1\"");
	{
		_cleanup_json_ json_t *j = good();
		struct job_claims c = {};
		const char *why = NULL;
		json_object_set_new(j, "ds", json_string("ds-1"));
		json_object_set_new(j, "epoch", json_integer(CAIRN_SEQ_MAX));
		assert_int_equal(job_claims_from_json(j, &c, &why), 0);
		job_claims_done(&c);
		json_object_set_new(j, "epoch", json_integer(CAIRN_SEQ_MAX + 1));
		assert_int_equal(job_claims_from_json(j, &c, &why), -EINVAL);
	}

	/* type and params */
	expect_refused("type", "1", "type is not a string");
	expect_refused("type", "\"\"", "type is empty or too long");
	expect_refused("type", "null", "type is not a string");
	expect_ok("type", "\"no.such.type\""); /* known-ness is the agent's rule */
	expect_refused("params", "[]", "params is not an object");
	expect_refused("params", "null", "params is not an object");
	expect_refused("params", "\"{}\"", "params is not an object");
}

static void test_payload_jti(void **state)
{
	_cleanup_json_ json_t *j = good();
	char jti[UUID_STRING_MAX] = "unchanged";

	json_object_set_new(j, "seq", json_string("garbage"));
	assert_int_equal(job_payload_jti(j, jti), 0);
	assert_string_equal(jti, "6b1c6d0e-2f4a-4b8e-9c1d-0123456789ab");

	memcpy(jti, "unchanged", 10);
	json_object_set_new(j, "jti", json_string("x"));
	assert_int_equal(job_payload_jti(j, jti), -ENOENT);
	json_object_set_new(j, "jti", json_integer(1));
	assert_int_equal(job_payload_jti(j, jti), -ENOENT);
	json_object_del(j, "jti");
	assert_int_equal(job_payload_jti(j, jti), -ENOENT);
	assert_int_equal(job_payload_jti(NULL, jti), -ENOENT);
	assert_string_equal(jti, "unchanged");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_members),
		cmocka_unit_test(test_types),
		cmocka_unit_test(test_payload_jti),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
