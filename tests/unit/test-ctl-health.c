/*
 * test-ctl-health.c: the health rules of docs/datastores.md "Status
 * reports" (health.c) and the status report's `databases` array as the
 * gateway accepts and stores it (gateway_parse_status).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "health.h"

#define DS "0b7c3e7e-2a51-4e0e-9f44-3a8d2c1b0a11"
#define DS2 "1b7c3e7e-2a51-4e0e-9f44-3a8d2c1b0a12"

static json_t *J(const char *s)
{
	json_t *j = json_loads(s, JSON_REJECT_DUPLICATES, NULL);
	assert_non_null(j);
	return j;
}

static void test_names(void **state)
{
	for (int h = 0; h < _HEALTH_MAX; h++)
		assert_int_equal(health_from_string(health_to_string(h)), h);
	assert_int_equal(health_from_string("fine"), _HEALTH_INVALID);
	assert_int_equal(health_from_string(NULL), _HEALTH_INVALID);
	assert_string_equal(health_to_string(_HEALTH_INVALID), "unknown");
}

static void test_reachable(void **state)
{
	assert_int_equal(health_unreachable_s(60), 180);
	assert_int_equal(health_unreachable_s(0), 3);
	assert_int_equal(health_unreachable_s(INT64_MAX), INT64_MAX);
	assert_false(health_member_reachable(0, 1000, 180));
	assert_true(health_member_reachable(1000, 1000, 180));
	assert_true(health_member_reachable(1000, 1180, 180));
	assert_false(health_member_reachable(1000, 1181, 180));
	assert_true(health_member_reachable(2000, 1000, 180)); /* clock stepped back */
}

static void test_member_status(void **state)
{
	const char *h = "{\"load\":1,\"databases\":[{\"ds\":\"" DS2 "\",\"running\":false},"
			"{\"ds\":\"" DS "\",\"running\":true,\"role\":\"primary\"}]}";
	json_t *s = health_member_status(h, DS);
	assert_non_null(s);
	assert_true(json_is_true(json_object_get(s, "running")));
	json_decref(s);
	s = health_member_status(h, DS2);
	assert_non_null(s);
	assert_true(json_is_false(json_object_get(s, "running")));
	json_decref(s);
	assert_null(health_member_status(h, "2b7c3e7e-2a51-4e0e-9f44-3a8d2c1b0a13"));
	assert_null(health_member_status(NULL, DS));
	assert_null(health_member_status("not json", DS));
	assert_null(health_member_status("{\"databases\":{}}", DS));
	assert_null(health_member_status("{\"databases\":[1,\"x\",{\"ds\":3}]}", DS));
	assert_null(health_member_status("[]", DS));
}

static json_t *primary_status(bool running, const char *replicas)
{
	char buf[512];
	snprintf(buf, sizeof(buf), "{\"ds\":\"" DS "\",\"running\":%s,\"role\":\"primary\"%s%s}",
		 running ? "true" : "false", replicas ? ",\"replicas\":" : "", replicas ?: "");
	return J(buf);
}

static void test_datastore(void **state)
{
	json_t *p = primary_status(true, "[{\"slot\":\"cairn_m1\",\"active\":true},"
					 "{\"slot\":\"cairn_m2\",\"active\":true}]");
	json_t *r = J("{\"ds\":\"" DS "\",\"running\":true,\"role\":\"replica\"}");
	json_t *down = J("{\"ds\":\"" DS "\",\"running\":false,\"role\":\"replica\"}");
	struct health_member m[3] = {
		{ 0, "primary", "ready", true, p },
		{ 1, "replica", "ready", true, r },
		{ 2, "replica", "ready", true, r },
	};

	/* No members, no reports. */
	assert_int_equal(health_datastore(NULL, 0), HEALTH_UNKNOWN);
	struct health_member none[2] = { { 0, "primary", "provisioning", false, NULL },
					 { 1, "replica", "provisioning", true, NULL } };
	assert_int_equal(health_datastore(none, 2), HEALTH_UNKNOWN);

	assert_int_equal(health_datastore(m, 3), HEALTH_HEALTHY);
	assert_int_equal(health_datastore(m, 1), HEALTH_HEALTHY);

	/* A replica whose node went quiet. */
	m[2].reachable = false;
	assert_int_equal(health_datastore(m, 3), HEALTH_DEGRADED);
	m[2].reachable = true;
	/* A replica that is down. */
	m[1].status = down;
	assert_int_equal(health_datastore(m, 3), HEALTH_DEGRADED);
	m[1].status = r;
	/* A replica that runs but does not stream (its slot inactive). */
	json_t *p2 = primary_status(true, "[{\"slot\":\"cairn_m1\",\"active\":false},"
					  "{\"slot\":\"cairn_m2\",\"active\":true}]");
	m[0].status = p2;
	assert_int_equal(health_datastore(m, 3), HEALTH_DEGRADED);
	/* Slot missing from the primary's list. */
	json_t *p3 = primary_status(true, "[{\"slot\":\"cairn_m1\",\"active\":true}]");
	m[0].status = p3;
	assert_int_equal(health_datastore(m, 3), HEALTH_DEGRADED);
	/* The primary's report has no list: the replicas' own word counts. */
	json_t *p4 = primary_status(true, NULL);
	m[0].status = p4;
	assert_int_equal(health_datastore(m, 3), HEALTH_HEALTHY);
	/* A replica without a report. */
	m[2].status = NULL;
	assert_int_equal(health_datastore(m, 3), HEALTH_DEGRADED);
	m[2].status = r;
	m[0].status = p;

	/* The primary down, unreachable or silent. */
	json_t *pd = primary_status(false, NULL);
	m[0].status = pd;
	assert_int_equal(health_datastore(m, 3), HEALTH_UNAVAILABLE);
	m[0].status = p;
	m[0].reachable = false;
	assert_int_equal(health_datastore(m, 3), HEALTH_UNAVAILABLE);
	m[0].reachable = true;
	m[0].status = NULL;
	assert_int_equal(health_datastore(m, 3), HEALTH_UNAVAILABLE);
	m[0].status = p;

	/* Removed members do not count; no primary at all is unavailable. */
	m[2].state = "removed";
	m[2].status = down;
	assert_int_equal(health_datastore(m, 3), HEALTH_HEALTHY);
	assert_int_equal(health_datastore(m + 1, 2), HEALTH_UNAVAILABLE);

	/* Wrong types read as not running. */
	json_t *odd = J("{\"ds\":\"" DS "\",\"running\":\"yes\"}");
	m[0].status = odd;
	assert_int_equal(health_datastore(m, 3), HEALTH_UNAVAILABLE);

	json_decref(odd);
	json_decref(p);
	json_decref(p2);
	json_decref(p3);
	json_decref(p4);
	json_decref(pd);
	json_decref(r);
	json_decref(down);
}

static void test_status_databases(void **state)
{
	char reason[API_REASON_MAX];
	char *facts = NULL, *health = NULL;
	json_t *j = J("{\"health\":{\"load\":1},\"databases\":[{\"ds\":\"" DS "\",\"running\":true,"
		      "\"role\":\"primary\",\"timeline\":1,\"lsn\":\"0/3000060\",\"connections\":3,"
		      "\"pending_restart\":false,\"replicas\":[{\"slot\":\"cairn_m1\",\"active\":true,"
		      "\"lag_bytes\":0}]},{\"ds\":\"" DS2 "\",\"running\":true,\"role\":\"replica\","
		      "\"replay_lsn\":\"0/3000060\",\"lag_bytes\":0,\"lag_s\":0.5,\"timeline\":null}]}");
	assert_int_equal(gateway_parse_status(j, &facts, &health, reason), 0);
	json_decref(j);
	assert_null(facts);
	assert_non_null(health);
	/* Stored inside the health, where health_member_status() finds it. */
	json_t *s = health_member_status(health, DS2);
	assert_non_null(s);
	assert_string_equal(json_string_value(json_object_get(s, "role")), "replica");
	json_decref(s);
	j = J(health);
	assert_int_equal(json_integer_value(json_object_get(j, "load")), 1);
	json_decref(j);
	free(health);
	health = NULL;

	/* Without health: {"databases":[…]} alone. */
	j = J("{\"databases\":[]}");
	assert_int_equal(gateway_parse_status(j, &facts, &health, reason), 0);
	json_decref(j);
	j = J(health);
	assert_true(json_is_array(json_object_get(j, "databases")));
	json_decref(j);
	free(health);
	health = NULL;

	const char *bad[] = {
		"{\"databases\":{}}",
		"{\"databases\":[1]}",
		"{\"databases\":[{}]}",
		"{\"databases\":[{\"ds\":\"x\"}]}",
		"{\"databases\":[{\"ds\":\"" DS "\",\"extra\":1}]}",
		"{\"databases\":[{\"ds\":\"" DS "\",\"running\":1}]}",
		"{\"databases\":[{\"ds\":\"" DS "\",\"role\":\"leader\"}]}",
		"{\"databases\":[{\"ds\":\"" DS "\",\"lag_bytes\":-1}]}",
		"{\"databases\":[{\"ds\":\"" DS "\",\"lag_s\":\"1\"}]}",
		"{\"databases\":[{\"ds\":\"" DS "\",\"lsn\":\"0/1 2\"}]}",
		"{\"databases\":[{\"ds\":\"" DS "\",\"lsn\":\"0000000000000000000000000000000000000000"
		"0000000000000000000000000\"}]}", /* 65 bytes */
		"{\"databases\":[{\"ds\":\"" DS "\"},{\"ds\":\"" DS "\"}]}",
		"{\"databases\":[{\"ds\":\"" DS "\",\"replicas\":{}}]}",
		"{\"databases\":[{\"ds\":\"" DS "\",\"replicas\":[{\"slot\":\"A\"}]}]}",
		"{\"databases\":[{\"ds\":\"" DS "\",\"replicas\":[{\"slot\":\"a\",\"x\":1}]}]}",
		"{\"databases\":[{\"ds\":\"" DS "\",\"replicas\":[{\"active\":true}]}]}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		j = J(bad[i]);
		if (gateway_parse_status(j, &facts, &health, reason) != -EINVAL)
			fail_msg("accepted: %s", bad[i]);
		json_decref(j);
	}

	/* At most 16 entries. */
	json_t *dbs = json_array();
	for (int i = 0; i < 17; i++) {
		char id[64];
		snprintf(id, sizeof(id), "0b7c3e7e-2a51-4e0e-9f44-3a8d2c1b0a%02d", i);
		json_array_append_new(dbs, json_pack("{s:s}", "ds", id));
	}
	assert_int_equal(gateway_check_databases(dbs, reason), -EINVAL);
	json_array_remove(dbs, 16);
	assert_int_equal(gateway_check_databases(dbs, reason), 0);
	json_decref(dbs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_reachable),
		cmocka_unit_test(test_member_status),
		cmocka_unit_test(test_datastore),
		cmocka_unit_test(test_status_databases),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
