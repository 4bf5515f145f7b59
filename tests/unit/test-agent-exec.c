/*
 * test-agent-exec.c: the executor table and the params schemas (unknown
 * members, ranges, confined and distinct paths), node.facts on a fake
 * system root, and debug.sleep's execution record.
 */
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

#include "exec-debug.h"
#include "exec-node.h"
#include "exec-tls.h"
#include "exec.h"
#include "fileio.h"
#include "macro.h"

static const struct exec_config cfg = { .state_dir = "/var/lib/cairn", .tls_dir = "/etc/cairn/tls" };

static void expect_valid(const char *type, const char *params_json)
{
	const struct exec_type *t = exec_lookup(type, true);
	json_t *p = json_loads(params_json, 0, NULL);
	char reason[EXEC_REASON_MAX] = "";

	assert_non_null(t);
	assert_non_null(p);
	if (t->validate(p, &cfg, reason, sizeof(reason)) != 0)
		fail_msg("%s %s refused: %s", type, params_json, reason);
	json_decref(p);
}

static void expect_invalid(const char *type, const char *params_json, const char *needle)
{
	const struct exec_type *t = exec_lookup(type, true);
	json_t *p = json_loads(params_json, 0, NULL);
	char reason[EXEC_REASON_MAX] = "";

	assert_non_null(t);
	assert_non_null(p);
	assert_int_equal(t->validate(p, &cfg, reason, sizeof(reason)), -EINVAL);
	if (!strstr(reason, needle))
		fail_msg("%s %s: reason '%s' lacks '%s'", type, params_json, reason, needle);
	json_decref(p);
}

static void test_lookup(void **state)
{
	assert_non_null(exec_lookup("node.facts", false));
	assert_non_null(exec_lookup("tls.issue", false));
	assert_null(exec_lookup("debug.sleep", false));
	assert_non_null(exec_lookup("debug.sleep", true));
	assert_null(exec_lookup("pg.promote", true)); /* not run by this agent version */
	assert_null(exec_lookup("", true));
	assert_null(exec_lookup(NULL, true));
}

static void test_node_facts_params(void **state)
{
	expect_valid("node.facts", "{}");
	expect_invalid("node.facts", "{\"verbose\":true}", "unknown member");
	expect_invalid("node.facts", "[]", "object");
}

static void test_tls_params(void **state)
{
	expect_valid("tls.issue", "{\"names\":[\"db-1.example\"],\"key_path\":\"/etc/cairn/tls/k\",\"cert_path\":\"/etc/cairn/tls/c\"}");
	expect_valid("tls.issue", "{\"names\":[\"db-1.example\",\"10.0.0.5\",\"::1\"],\"key_path\":\"/etc/cairn/tls/pg/k\","
				  "\"cert_path\":\"/etc/cairn/tls/pg/c\",\"ca_path\":\"/etc/cairn/tls/pg/ca\",\"ttl_s\":86400}");
	expect_invalid("tls.issue", "{\"names\":[],\"key_path\":\"/etc/cairn/tls/k\",\"cert_path\":\"/etc/cairn/tls/c\"}", "names");
	expect_invalid("tls.issue", "{\"names\":\"a.example\",\"key_path\":\"/etc/cairn/tls/k\",\"cert_path\":\"/etc/cairn/tls/c\"}", "names");
	expect_invalid("tls.issue", "{\"names\":[\"bad_name\"],\"key_path\":\"/etc/cairn/tls/k\",\"cert_path\":\"/etc/cairn/tls/c\"}", "names[0]");
	expect_invalid("tls.issue", "{\"names\":[\"a.example\",7],\"key_path\":\"/etc/cairn/tls/k\",\"cert_path\":\"/etc/cairn/tls/c\"}", "names[1]");
	expect_invalid("tls.issue", "{\"names\":[\"a.example\"],\"cert_path\":\"/etc/cairn/tls/c\"}", "key_path");
	expect_invalid("tls.issue", "{\"names\":[\"a.example\"],\"key_path\":\"/etc/cairn/tls/k\"}", "cert_path");
	expect_invalid("tls.issue", "{\"names\":[\"a.example\"],\"key_path\":\"/etc/shadow\",\"cert_path\":\"/etc/cairn/tls/c\"}", "key_path");
	expect_invalid("tls.issue", "{\"names\":[\"a.example\"],\"key_path\":\"/etc/cairn/tls\",\"cert_path\":\"/etc/cairn/tls/c\"}", "key_path");
	expect_invalid("tls.issue", "{\"names\":[\"a.example\"],\"key_path\":\"/etc/cairn/tls/./k\",\"cert_path\":\"/etc/cairn/tls/c\"}", "key_path");
	expect_invalid("tls.issue", "{\"names\":[\"a.example\"],\"key_path\":\"/etc/cairn/tls/k\",\"cert_path\":\"/var/lib/cairn/node.crt\"}", "cert_path");
	expect_invalid("tls.issue", "{\"names\":[\"a.example\"],\"key_path\":\"/etc/cairn/tls/k\",\"cert_path\":\"/etc/cairn/tls/c\",\"ca_path\":\"/tmp/ca\"}", "ca_path");
	expect_invalid("tls.issue", "{\"names\":[\"a.example\"],\"key_path\":\"/etc/cairn/tls/k\",\"cert_path\":\"/etc/cairn/tls/k\"}", "differ");
	expect_invalid("tls.issue", "{\"names\":[\"a.example\"],\"key_path\":\"/etc/cairn/tls/k\",\"cert_path\":\"/etc/cairn/tls/c\",\"ca_path\":\"/etc/cairn/tls/c\"}", "differ");
	expect_invalid("tls.issue", "{\"names\":[\"a.example\"],\"key_path\":\"/etc/cairn/tls/k\",\"cert_path\":\"/etc/cairn/tls/c\",\"ttl_s\":1}", "ttl_s");
	expect_invalid("tls.issue", "{\"names\":[\"a.example\"],\"key_path\":\"/etc/cairn/tls/k\",\"cert_path\":\"/etc/cairn/tls/c\",\"ttl_s\":34300801}", "ttl_s");
	expect_invalid("tls.issue", "{\"names\":[\"a.example\"],\"key_path\":\"/etc/cairn/tls/k\",\"cert_path\":\"/etc/cairn/tls/c\",\"owner\":\"root\"}", "params.owner");

	/* 16 names pass, 17 do not */
	{
		char buf[2048];
		size_t n = 0;

		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "{\"names\":[");
		for (int i = 0; i < 17; i++)
			n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s\"n%d.example\"", i ? "," : "", i);
		snprintf(buf + n, sizeof(buf) - n, "],\"key_path\":\"/etc/cairn/tls/k\",\"cert_path\":\"/etc/cairn/tls/c\"}");
		expect_invalid("tls.issue", buf, "names");
	}
}

static void test_debug_params(void **state)
{
	expect_valid("debug.sleep", "{\"seconds\":0}");
	expect_valid("debug.sleep", "{\"seconds\":3600}");
	expect_invalid("debug.sleep", "{}", "seconds");
	expect_invalid("debug.sleep", "{\"seconds\":-1}", "seconds");
	expect_invalid("debug.sleep", "{\"seconds\":3601}", "seconds");
	expect_invalid("debug.sleep", "{\"seconds\":1.5}", "seconds");
	expect_invalid("debug.sleep", "{\"seconds\":1,\"x\":1}", "unknown member");
}

static void write_file(const char *root, const char *rel, const char *text)
{
	_cleanup_free_ char *p = NULL, *d = NULL;

	assert_true(asprintf(&p, "%s%s", root, rel) > 0);
	d = strndup(p, (size_t)(strrchr(p, '/') - p));
	assert_int_equal(mkdir_p(d, 0755), 0);
	assert_int_equal(write_string_atomic(p, text, 0644), 0);
}

static void test_node_facts_collect(void **state)
{
	char root[] = "/tmp/test-facts-XXXXXX";
	json_t *f = NULL, *disks, *os;
	char cmd[128];

	assert_non_null(mkdtemp(root));
	write_file(root, "/etc/os-release", "NAME=\"Debian GNU/Linux\"\nID=debian\nVERSION_ID=\"12\"\n"
					    "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n");
	write_file(root, "/proc/meminfo", "MemTotal:        2048000 kB\nMemFree: 1 kB\n");
	write_file(root, "/sys/block/vda/size", "20971520\n");
	write_file(root, "/sys/block/vda/queue/rotational", "0\n");
	write_file(root, "/sys/block/loop0/size", "8\n");

	assert_int_equal(node_facts_collect(root, &f), 0);
	os = json_object_get(f, "os");
	assert_string_equal(json_string_value(json_object_get(os, "id")), "debian");
	assert_string_equal(json_string_value(json_object_get(os, "version_id")), "12");
	assert_string_equal(json_string_value(json_object_get(os, "pretty_name")), "Debian GNU/Linux 12 (bookworm)");
	assert_int_equal(json_integer_value(json_object_get(f, "memory_bytes")), INT64_C(2048000) * 1024);
	assert_true(json_integer_value(json_object_get(f, "cpus")) >= 1);
	assert_non_null(json_string_value(json_object_get(f, "kernel")));
	assert_non_null(json_string_value(json_object_get(f, "arch")));
	disks = json_object_get(f, "disks");
	assert_int_equal(json_array_size(disks), 1); /* loop devices left out */
	assert_string_equal(json_string_value(json_object_get(json_array_get(disks, 0), "name")), "vda");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(disks, 0), "size_bytes")),
			 INT64_C(20971520) * 512);
	assert_true(json_is_false(json_object_get(json_array_get(disks, 0), "rotational")));
	assert_true(json_is_array(json_object_get(f, "addresses")));
	json_decref(f);

	/* an empty root: parts missing, no failure */
	snprintf(cmd, sizeof(cmd), "%s/none", root);
	assert_int_equal(node_facts_collect(cmd, &f), 0);
	assert_null(json_object_get(f, "memory_bytes"));
	assert_int_equal(json_array_size(json_object_get(f, "disks")), 0);
	json_decref(f);

	/* tidy up */
	{
		static const char *const files[] = { "/etc/os-release", "/proc/meminfo", "/sys/block/vda/size",
						     "/sys/block/vda/queue/rotational", "/sys/block/loop0/size" };
		static const char *const dirs[] = { "/sys/block/vda/queue", "/sys/block/vda", "/sys/block/loop0",
						    "/sys/block", "/sys", "/proc", "/etc", "" };
		for (size_t i = 0; i < ELEMENTSOF(files); i++) {
			_cleanup_free_ char *p = NULL;
			assert_true(asprintf(&p, "%s%s", root, files[i]) > 0);
			unlink(p);
		}
		for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
			_cleanup_free_ char *p = NULL;
			assert_true(asprintf(&p, "%s%s", root, dirs[i]) > 0);
			rmdir(p);
		}
	}
}

static bool keep_going(void *userdata)
{
	(*(int *)userdata)++;
	return true;
}

static bool stop_now(void *userdata)
{
	return false;
}

static void test_debug_sleep_run(void **state)
{
	char dir[] = "/tmp/test-debug-XXXXXX";
	struct exec_config c = { .tls_dir = "/etc/cairn/tls" };
	int pings = 0;
	struct exec_context ctx = { .config = &c, .jti = "11111111-1111-4111-8111-111111111111",
				    .keepalive = keep_going, .userdata = &pings };
	json_t *params = json_pack("{s:i}", "seconds", 0), *out = NULL;
	_cleanup_free_ char *log = NULL, *data = NULL;
	char *msg = NULL;

	assert_non_null(mkdtemp(dir));
	c.state_dir = dir;
	assert_int_equal(exec_debug_sleep_run(params, &ctx, &out, &msg), 0);
	assert_int_equal(json_integer_value(json_object_get(out, "slept_s")), 0);
	assert_true(pings >= 1);
	json_decref(out);
	out = NULL;
	/* a second run appends; a stop request cancels after recording */
	ctx.keepalive = stop_now;
	json_object_set_new(params, "seconds", json_integer(5));
	assert_int_equal(exec_debug_sleep_run(params, &ctx, &out, &msg), -ECANCELED);
	assert_null(out);
	log = path_join(dir, EXEC_DEBUG_LOG);
	assert_int_equal(read_file_full(log, 4096, &data, NULL), 0);
	assert_string_equal(data, "11111111-1111-4111-8111-111111111111\n11111111-1111-4111-8111-111111111111\n");
	unlink(log);
	rmdir(dir);
	json_decref(params);
	free(msg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lookup),
		cmocka_unit_test(test_node_facts_params),
		cmocka_unit_test(test_tls_params),
		cmocka_unit_test(test_debug_params),
		cmocka_unit_test(test_node_facts_collect),
		cmocka_unit_test(test_debug_sleep_run),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
