/*
 * test-ctl-api-ds.c: the datastore API's body parsers, error mapping and
 * renderers (api-datastores.c), the same functions the fuzz target
 * tests/fuzz/fuzz-ds-body.c drives.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api-datastores.h"
#include "config.h"
#include "controller.h"
#include "fileio.h"
#include "store.h"

#define DS "0b7c3e7e-2a51-4e0e-9f44-3a8d2c1b0a11"
#define N0 "1b7c3e7e-2a51-4e0e-9f44-3a8d2c1b0a00"
#define N1 "1b7c3e7e-2a51-4e0e-9f44-3a8d2c1b0a01"
#define N2 "1b7c3e7e-2a51-4e0e-9f44-3a8d2c1b0a02"
#define OP "2b7c3e7e-2a51-4e0e-9f44-3a8d2c1b0a11"

static json_t *J(const char *s)
{
	json_t *j = json_loads(s, JSON_REJECT_DUPLICATES, NULL);
	assert_non_null(j);
	return j;
}

static void expect_refused(int (*parse)(json_t *, void *, char *), const char *const *bad, size_t n)
{
	char reason[OPS_REASON_MAX];
	for (size_t i = 0; i < n; i++) {
		json_t *j = J(bad[i]);
		reason[0] = 0;
		if (parse(j, NULL, reason) != -EINVAL)
			fail_msg("accepted: %s", bad[i]);
		assert_true(reason[0] != 0);
		json_decref(j);
	}
}

static int parse_create(json_t *j, void *unused, char *reason)
{
	struct ops_create_spec s;
	return ads_parse_create(j, &s, reason);
}

static void test_create(void **state)
{
	char reason[OPS_REASON_MAX];
	struct ops_create_spec s;
	json_t *j = J("{\"name\":\"orders\"}");
	assert_int_equal(ads_parse_create(j, &s, reason), 0);
	assert_string_equal(s.name, "orders");
	assert_string_equal(s.engine, "postgres");
	assert_string_equal(s.version, "15");
	assert_int_equal(s.nodes, 1);
	assert_null(s.size);
	assert_null(s.settings);
	json_decref(j);

	j = J("{\"name\":\"orders-2\",\"engine\":\"postgres\",\"version\":\"15\",\"nodes\":3,"
	      "\"size\":{\"cpus\":2,\"memory_mb\":4096,\"disk_gb\":50},"
	      "\"settings\":{\"work_mem\":\"64MB\",\"log_min_duration_statement\":\"250\"}}");
	assert_int_equal(ads_parse_create(j, &s, reason), 0);
	assert_int_equal(s.nodes, 3);
	assert_non_null(s.size);
	assert_int_equal(json_object_size(s.settings), 2);
	json_decref(j);

	static const char *const bad[] = {
		"[]",
		"{}",
		"{\"name\":\"Orders\"}",
		"{\"name\":\"-x\"}",
		"{\"name\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}", /* 41 */
		"{\"name\":\"x\",\"nodes\":0}",
		"{\"name\":\"x\",\"nodes\":10}",
		"{\"name\":\"x\",\"nodes\":\"1\"}",
		"{\"name\":\"x\",\"engine\":\"Postgres\"}",
		"{\"name\":\"x\",\"engine\":\"\"}",
		"{\"name\":\"x\",\"version\":15}",
		"{\"name\":\"x\",\"size\":[]}",
		"{\"name\":\"x\",\"size\":{\"cpus\":0}}",
		"{\"name\":\"x\",\"size\":{\"gpus\":1}}",
		"{\"name\":\"x\",\"size\":{\"disk_gb\":1.5}}",
		"{\"name\":\"x\",\"settings\":[]}",
		"{\"name\":\"x\",\"settings\":{\"work_mem\":null}}",
		"{\"name\":\"x\",\"settings\":{\"work_mem\":64}}",
		"{\"name\":\"x\",\"settings\":{\"Work_mem\":\"1\"}}",
		"{\"name\":\"x\",\"settings\":{\"_x\":\"1\"}}",
		"{\"name\":\"x\",\"settings\":{\"x\":\"a\\nb\"}}",
		"{\"name\":\"x\",\"password\":\"p\"}",
	};
	expect_refused(parse_create, bad, sizeof(bad) / sizeof(bad[0]));

	/* Limits: 100 settings, 1024-byte values, 63-byte names. */
	json_t *set = json_object();
	for (int i = 0; i < CAIRN_DS_SETTINGS_MAX; i++) {
		char k[16];
		snprintf(k, sizeof(k), "p%d", i);
		json_object_set_new(set, k, json_string("1"));
	}
	assert_int_equal(ads_check_settings(set, false, reason), 0);
	json_object_set_new(set, "one_more", json_string("1"));
	assert_int_equal(ads_check_settings(set, false, reason), -EINVAL);
	json_decref(set);
	char v[CAIRN_DS_SETTING_VALUE_MAX + 2];
	memset(v, 'a', sizeof(v) - 1);
	v[sizeof(v) - 1] = 0;
	set = json_pack("{s:s}", "x", v);
	assert_int_equal(ads_check_settings(set, false, reason), -EINVAL);
	json_decref(set);
	v[CAIRN_DS_SETTING_VALUE_MAX] = 0;
	set = json_pack("{s:s}", "x", v);
	assert_int_equal(ads_check_settings(set, false, reason), 0);
	json_decref(set);
	char name[ADS_SETTING_NAME_MAX + 2];
	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = 0;
	set = json_pack("{s:s}", name, "1");
	assert_int_equal(ads_check_settings(set, false, reason), -EINVAL);
	json_decref(set);
}

static int parse_nodes(json_t *j, void *unused, char *reason)
{
	int n;
	return ads_parse_add_nodes(j, &n, reason);
}

static int parse_patch(json_t *j, void *unused, char *reason)
{
	json_t *p;
	return ads_parse_settings_patch(j, &p, reason);
}

static void test_nodes_and_patch(void **state)
{
	char reason[OPS_REASON_MAX];
	int n = 0;
	json_t *j = J("{\"count\":8}"), *p = NULL;
	assert_int_equal(ads_parse_add_nodes(j, &n, reason), 0);
	assert_int_equal(n, 8);
	json_decref(j);
	j = J("{}");
	assert_int_equal(ads_parse_add_nodes(j, &n, reason), 0);
	assert_int_equal(n, 1);
	json_decref(j);
	static const char *const bad_nodes[] = { "[]", "{\"count\":0}", "{\"count\":9}",
						 "{\"count\":1.0}", "{\"count\":1,\"x\":1}" };
	expect_refused(parse_nodes, bad_nodes, sizeof(bad_nodes) / sizeof(bad_nodes[0]));

	j = J("{\"settings\":{\"work_mem\":\"8MB\",\"max_connections\":null}}");
	assert_int_equal(ads_parse_settings_patch(j, &p, reason), 0);
	assert_ptr_equal(p, json_object_get(j, "settings"));
	json_decref(j);
	static const char *const bad_patch[] = { "{}", "{\"settings\":{}}", "{\"settings\":null}",
						 "{\"settings\":{\"a\":1}}", "{\"settings\":{\"a\":\"1\"},\"x\":1}" };
	expect_refused(parse_patch, bad_patch, sizeof(bad_patch) / sizeof(bad_patch[0]));
}

static void test_errno(void **state)
{
	assert_int_equal(ads_status_for_errno(-EINVAL), 400);
	assert_int_equal(ads_status_for_errno(-ENOENT), 404);
	assert_int_equal(ads_status_for_errno(-EEXIST), 409);
	assert_int_equal(ads_status_for_errno(-EBUSY), 409);
	assert_int_equal(ads_status_for_errno(-EPERM), 409);
	assert_int_equal(ads_status_for_errno(-EAGAIN), 503);
	assert_int_equal(ads_status_for_errno(-ENOMEM), 500);
	assert_int_equal(ads_status_for_errno(-EIO), 500);
}

static struct store_datastore sample_ds(void)
{
	struct store_datastore d = {
		.id = DS, .name = "orders", .engine = "postgres", .version = "15", .port = 5432,
		.state = "ready", .epoch = 2, .primary_node_id = N0,
		.settings = "{\"work_mem\":\"8MB\"}", .size = NULL, .admin_user = "cairn_admin",
		.admin_secret = "SEALED-SECRET", .next_ordinal = 3,
		.created_at = 1767225600, .updated_at = 1767225660,
	};
	return d;
}

static void sample_members(struct store_member m[3])
{
	m[0] = (struct store_member){ .ds_id = DS, .ordinal = 0, .node_id = N0, .name = "orders-0",
				      .role = "primary", .state = "ready", .address = "198.18.0.11" };
	m[1] = (struct store_member){ .ds_id = DS, .ordinal = 1, .node_id = N1, .name = "orders-1",
				      .role = "replica", .state = "ready", .address = "198.18.0.12" };
	m[2] = (struct store_member){ .ds_id = DS, .ordinal = 2, .node_id = N2, .name = "orders-2",
				      .role = "replica", .state = "provisioning", .address = NULL };
}

static void test_render_datastore(void **state)
{
	struct store_datastore d = sample_ds();
	struct store_member m[3];
	sample_members(m);
	json_t *st = J("{\"ds\":\"" DS "\",\"running\":true}");
	json_t *members = json_array();
	json_array_append_new(members, ads_member_to_json(&m[0], true, st));
	json_array_append_new(members, ads_member_to_json(&m[2], false, NULL));
	json_t *op = J("{\"id\":\"" OP "\"}");
	json_t *o = ads_datastore_to_json(&d, HEALTH_DEGRADED, members, op);
	assert_non_null(o);

	static const char *const keys[] = { "id", "name", "engine", "version", "port", "state",
					    "health", "epoch", "primary", "settings", "size",
					    "created_at", "updated_at", "members", "operation" };
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (!json_object_get(o, keys[i]))
			fail_msg("datastore JSON lacks %s", keys[i]);
	assert_string_equal(json_string_value(json_object_get(o, "health")), "degraded");
	assert_string_equal(json_string_value(json_object_get(o, "primary")), N0);
	assert_string_equal(json_string_value(json_object_get(o, "created_at")), "2026-01-01T00:00:00Z");
	assert_true(json_is_object(json_object_get(o, "size")));
	assert_string_equal(json_string_value(json_object_get(json_object_get(o, "settings"), "work_mem")),
			    "8MB");
	/* Never the sealed secret nor its column. */
	char *text = json_dumps(o, 0);
	assert_null(strstr(text, "SEALED"));
	assert_null(strstr(text, "admin_secret"));
	free(text);

	json_t *m0 = json_array_get(json_object_get(o, "members"), 0);
	static const char *const mkeys[] = { "ordinal", "name", "node_id", "role", "state",
					     "address", "reachable", "status" };
	for (size_t i = 0; i < sizeof(mkeys) / sizeof(mkeys[0]); i++)
		if (!json_object_get(m0, mkeys[i]))
			fail_msg("member JSON lacks %s", mkeys[i]);
	assert_true(json_is_true(json_object_get(m0, "reachable")));
	assert_true(json_is_true(json_object_get(json_object_get(m0, "status"), "running")));
	json_t *m2 = json_array_get(json_object_get(o, "members"), 1);
	assert_true(json_is_null(json_object_get(m2, "address")));
	assert_true(json_is_null(json_object_get(m2, "status")));
	json_decref(o);

	/* No members, no operation. */
	o = ads_datastore_to_json(&d, HEALTH_UNKNOWN, NULL, NULL);
	assert_int_equal(json_array_size(json_object_get(o, "members")), 0);
	assert_null(json_object_get(o, "operation"));
	assert_string_equal(json_string_value(json_object_get(o, "health")), "unknown");
	json_decref(o);
	json_decref(op);
	json_decref(members);
	json_decref(st);
}

static void test_render_operation(void **state)
{
	struct store_member m[3];
	sample_members(m);
	struct store_operation op = { .id = OP, .ds_id = DS, .kind = "create", .state = "running",
				      .created_at = 1767225600 };
	struct store_step steps[3] = {
		{ .op_id = OP, .idx = 0, .name = "provision", .kind = "provision", .member_ordinal = 1,
		  .deps = "[]", .state = "succeeded", .started_at = 1767225600, .finished_at = 1767225630 },
		{ .op_id = OP, .idx = 1, .name = "pkg.install", .kind = "job", .member_ordinal = 1,
		  .deps = "[0]", .state = "running", .job_id = N2, .message = "step note" },
		{ .op_id = OP, .idx = 2, .name = "finish", .kind = "internal", .member_ordinal = -1,
		  .deps = "[0,1]", .state = "pending" },
	};
	struct ads_step_job jobs[3] = { {}, { "running", "apt-get install" }, {} };

	json_t *o = ads_operation_to_json(&op, steps, 3, jobs, m, 3, true);
	assert_non_null(o);
	static const char *const keys[] = { "id", "datastore", "kind", "state", "message",
					    "created_at", "finished_at", "progress", "steps" };
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (!json_object_get(o, keys[i]))
			fail_msg("operation JSON lacks %s", keys[i]);
	json_t *pr = json_object_get(o, "progress");
	assert_int_equal(json_integer_value(json_object_get(pr, "done")), 1);
	assert_int_equal(json_integer_value(json_object_get(pr, "total")), 3);
	assert_true(json_is_null(json_object_get(o, "finished_at")));
	json_t *s = json_object_get(o, "steps");
	assert_int_equal(json_array_size(s), 3);
	json_t *s1 = json_array_get(s, 1);
	static const char *const skeys[] = { "index", "name", "kind", "member", "state", "job_id",
					     "job_state", "message", "started_at", "finished_at" };
	for (size_t i = 0; i < sizeof(skeys) / sizeof(skeys[0]); i++)
		if (!json_object_get(s1, skeys[i]))
			fail_msg("step JSON lacks %s", skeys[i]);
	assert_string_equal(json_string_value(json_object_get(s1, "member")), "orders-1");
	assert_string_equal(json_string_value(json_object_get(s1, "job_state")), "running");
	assert_string_equal(json_string_value(json_object_get(s1, "message")), "apt-get install");
	json_t *s0 = json_array_get(s, 0);
	assert_true(json_is_null(json_object_get(s0, "job_state")));
	assert_string_equal(json_string_value(json_object_get(s0, "finished_at")), "2026-01-01T00:00:30Z");
	assert_true(json_is_null(json_object_get(json_array_get(s, 2), "member")));
	json_decref(o);

	/* List form: progress, no steps. */
	o = ads_operation_to_json(&op, steps, 3, NULL, NULL, 0, false);
	assert_non_null(json_object_get(o, "progress"));
	assert_null(json_object_get(o, "steps"));
	json_decref(o);
	/* A member the list does not know: its ordinal. */
	o = ads_operation_to_json(&op, steps, 3, NULL, NULL, 0, true);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(json_object_get(o, "steps"), 1),
							    "member")), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(o, "steps"), 1),
							      "message")), "step note");
	json_decref(o);
}

static void test_connection(void **state)
{
	struct store_datastore d = sample_ds();
	struct store_member m[3];
	sample_members(m);
	m[2].address = "198.18.0.13";
	json_t *o = ads_connection_to_json(&d, m, 3, "-----BEGIN CERTIFICATE-----\n", "pw");
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "host")), "198.18.0.11");
	assert_int_equal(json_integer_value(json_object_get(o, "port")), 5432);
	assert_int_equal(json_array_size(json_object_get(o, "replicas")), 2);
	assert_string_equal(json_string_value(json_object_get(o, "dbname")), "postgres");
	assert_string_equal(json_string_value(json_object_get(o, "user")), "cairn_admin");
	assert_string_equal(json_string_value(json_object_get(o, "sslmode")), "verify-full");
	assert_non_null(json_object_get(o, "ca_pem"));
	assert_string_equal(json_string_value(json_object_get(o, "password")), "pw");
	json_decref(o);
	/* Without the password; a removed member is no replica. */
	m[2].state = "removed";
	o = ads_connection_to_json(&d, m, 3, "ca", NULL);
	assert_null(json_object_get(o, "password"));
	assert_int_equal(json_array_size(json_object_get(o, "replicas")), 1);
	json_decref(o);
	/* No primary address yet. */
	o = ads_connection_to_json(&d, NULL, 0, "ca", NULL);
	assert_true(json_is_null(json_object_get(o, "host")));
	json_decref(o);
}

static void test_sd(void **state)
{
	struct store_datastore d = sample_ds();
	struct store_member m[3];
	sample_members(m);
	json_t *g = json_array();
	assert_int_equal(ads_sd_append(g, &d, m, 3), 0);
	/* Two ready members with addresses, two exporters each. */
	assert_int_equal(json_array_size(g), 4);
	json_t *g0 = json_array_get(g, 0), *l = json_object_get(g0, "labels");
	assert_string_equal(json_string_value(json_array_get(json_object_get(g0, "targets"), 0)),
			    "198.18.0.11:9100");
	assert_string_equal(json_string_value(json_object_get(l, "__scheme__")), "https");
	assert_string_equal(json_string_value(json_object_get(l, "job")), "node");
	assert_string_equal(json_string_value(json_object_get(l, "cairn_datastore")), "orders");
	assert_string_equal(json_string_value(json_object_get(l, "cairn_datastore_id")), DS);
	assert_string_equal(json_string_value(json_object_get(l, "cairn_node")), "orders-0");
	assert_string_equal(json_string_value(json_object_get(l, "cairn_node_id")), N0);
	assert_string_equal(json_string_value(json_object_get(l, "cairn_role")), "primary");
	json_t *g1 = json_array_get(g, 1);
	assert_string_equal(json_string_value(json_array_get(json_object_get(g1, "targets"), 0)),
			    "198.18.0.11:9187");
	assert_string_equal(json_string_value(json_object_get(json_object_get(g1, "labels"), "job")),
			    "postgres");
	assert_string_equal(json_string_value(json_object_get(json_object_get(json_array_get(g, 3),
									      "labels"), "cairn_role")),
			    "replica");
	/* IPv6 in brackets. */
	json_decref(g);
	g = json_array();
	m[0].address = "fd00::1";
	assert_int_equal(ads_sd_append(g, &d, m, 1), 0);
	assert_string_equal(json_string_value(json_array_get(json_object_get(json_array_get(g, 0), "targets"), 0)),
			    "[fd00::1]:9100");
	json_decref(g);
	/* A deleted datastore adds nothing. */
	g = json_array();
	d.state = "deleted";
	assert_int_equal(ads_sd_append(g, &d, m, 3), 0);
	assert_int_equal(json_array_size(g), 0);
	json_decref(g);
}

/* ads_load_health() over a real store: members, their nodes' last
 * reports and reachability. */
static void test_load_health(void **state)
{
	char dir[] = "/tmp/test-ctl-api-ds-XXXXXX";
	struct store *s = NULL;
	struct config cfg = { .status_interval_s = 60, .node_unreachable_s = 180 };
	struct controller c = { .config = &cfg };
	struct store_member m[3];
	struct store_datastore d = sample_ds();
	int64_t now = 1767225600;
	enum health h = _HEALTH_INVALID;
	json_t *members = NULL;

	assert_non_null(mkdtemp(dir));
	assert_int_equal(store_open(dir, &s, NULL), 0);
	c.store = s;
	sample_members(m);
	assert_int_equal(store_datastore_insert(s, &d), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(store_node_create(s, m[i].node_id, m[i].name, m[i].node_id, now + 3600, now), 0);
		assert_int_equal(store_member_insert(s, &m[i]), 0);
	}
	/* No reports yet. */
	assert_int_equal(ads_load_health(&c, &d, now, &h, &members), 0);
	assert_int_equal(h, HEALTH_UNKNOWN);
	assert_int_equal(json_array_size(members), 3);
	assert_false(json_is_true(json_object_get(json_array_get(members, 0), "reachable")));
	json_decref(members);

	assert_int_equal(store_node_set_status(s, N0, NULL,
					       "{\"databases\":[{\"ds\":\"" DS "\",\"running\":true,"
					       "\"role\":\"primary\",\"replicas\":[{\"slot\":\"cairn_m1\","
					       "\"active\":true}]}]}", now),
			 0);
	assert_int_equal(store_node_set_status(s, N1, NULL,
					       "{\"databases\":[{\"ds\":\"" DS "\",\"running\":true,"
					       "\"role\":\"replica\"}]}", now - 100),
			 0);
	/* Member 2 is still provisioning and silent: degraded. */
	assert_int_equal(ads_load_health(&c, &d, now, &h, &members), 0);
	assert_int_equal(h, HEALTH_DEGRADED);
	json_t *m0 = json_array_get(members, 0);
	assert_true(json_is_true(json_object_get(m0, "reachable")));
	assert_string_equal(json_string_value(json_object_get(json_object_get(m0, "status"), "role")),
			    "primary");
	json_decref(members);

	/* Without member 2 (removed): healthy; 81 s later member 1 is unreachable. */
	m[2].state = "removed";
	assert_int_equal(store_member_update(s, &m[2]), 0);
	assert_int_equal(ads_load_health(&c, &d, now, &h, NULL), 0);
	assert_int_equal(h, HEALTH_HEALTHY);
	assert_int_equal(ads_load_health(&c, &d, now + 81, &h, NULL), 0);
	assert_int_equal(h, HEALTH_DEGRADED);
	assert_int_equal(ads_load_health(&c, &d, now + 181, &h, NULL), 0);
	assert_int_equal(h, HEALTH_UNAVAILABLE);

	store_close(s);
	static const char *const files[] = { STORE_DB_NAME, STORE_DB_NAME "-wal", STORE_DB_NAME "-shm" };
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char *p = path_join(dir, files[i]);
		unlink(p);
		free(p);
	}
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create),
		cmocka_unit_test(test_nodes_and_patch),
		cmocka_unit_test(test_errno),
		cmocka_unit_test(test_render_datastore),
		cmocka_unit_test(test_render_operation),
		cmocka_unit_test(test_connection),
		cmocka_unit_test(test_sd),
		cmocka_unit_test(test_load_health),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
