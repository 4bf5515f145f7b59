/*
 * test-agent-pg.c: the PostgreSQL executors' schemas (pkg.install and
 * pg.*: unknown members, slot and setting names, managed settings,
 * verifiers, hosts) and the pure renderers of postgresql.conf,
 * cairn.conf, pg_hba.conf and pg_ident.conf; os-release families and
 * package names; pgstatus on a db_dir without instances.
 */
#include <errno.h>
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

#include "exec-pg.h"
#include "exec-pkg.h"
#include "exec.h"
#include "macro.h"
#include "pgstatus.h"
#include "protocol.h"

#define DS "0b7c6a8e-1f2d-4c3b-9a8e-5d4c3b2a1f0e"
#define VERIFIER "SCRAM-SHA-256$4096:c2FsdHNhbHRzYWx0c2FsdA==$c3RvcmVka2V5c3RvcmVka2V5c3RvcmVka2V5c3Q=:c2VydmVya2V5c2VydmVya2V5c2VydmVya2V5c2U="

static const struct exec_config cfg = { .state_dir = "/var/lib/cairn", .tls_dir = "/etc/cairn/tls",
					.db_dir = "/var/lib/cairn-db" };

static void expect_valid(const char *type, const char *params_json)
{
	const struct exec_type *t = exec_lookup(type, false);
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
	const struct exec_type *t = exec_lookup(type, false);
	json_t *p = json_loads(params_json, 0, NULL);
	char reason[EXEC_REASON_MAX] = "";

	assert_non_null(t);
	assert_non_null(p);
	if (t->validate(p, &cfg, reason, sizeof(reason)) != -EINVAL)
		fail_msg("%s %s accepted", type, params_json);
	if (needle && !strstr(reason, needle))
		fail_msg("%s %s: reason '%s' lacks '%s'", type, params_json, reason, needle);
	/* A refusal never echoes the verifier. */
	assert_null(strstr(reason, "4096:"));
	json_decref(p);
}

#define INIT_OK                                                                                                       \
	"\"version\":\"15\",\"port\":5432,\"settings\":{\"work_mem\":\"8MB\"},\"admin_verifier\":\"" VERIFIER       \
	"\",\"repl_cn\":\"repl." DS "\",\"cluster_name\":\"db-0\""
#define REPLICA_OK                                                                                                    \
	"\"version\":\"15\",\"port\":5432,\"settings\":{},\"primary_host\":\"198.18.0.11\",\"primary_port\":5432,"  \
	"\"slot\":\"cairn_m1\",\"repl_cn\":\"repl." DS "\",\"cluster_name\":\"db-1\""

static void test_pg_init_schema(void **state)
{
	(void)state;
	expect_valid("pg.init", "{" INIT_OK "}");
	expect_invalid("pg.init", "{" INIT_OK ",\"data_dir\":\"/tmp\"}", "data_dir");
	expect_invalid("pg.init", "{\"version\":\"15\"}", NULL);
	expect_invalid("pg.init",
		       "{\"version\":\"9\",\"port\":5432,\"settings\":{},\"admin_verifier\":\"" VERIFIER
		       "\",\"repl_cn\":\"repl." DS "\",\"cluster_name\":\"x\"}",
		       "version");
	expect_invalid("pg.init",
		       "{\"version\":\"15\",\"port\":0,\"settings\":{},\"admin_verifier\":\"" VERIFIER
		       "\",\"repl_cn\":\"repl." DS "\",\"cluster_name\":\"x\"}",
		       "port");
	expect_invalid("pg.init",
		       "{\"version\":\"15\",\"port\":5432,\"settings\":{},\"admin_verifier\":\"md5abc\","
		       "\"repl_cn\":\"repl." DS "\",\"cluster_name\":\"x\"}",
		       "admin_verifier");
	expect_invalid("pg.init",
		       "{\"version\":\"15\",\"port\":5432,\"settings\":{},\"admin_verifier\":\"SCRAM-SHA-256$4096:a'b$c:d\","
		       "\"repl_cn\":\"repl." DS "\",\"cluster_name\":\"x\"}",
		       "admin_verifier");
	expect_invalid("pg.init",
		       "{\"version\":\"15\",\"port\":5432,\"settings\":{},\"admin_verifier\":\"" VERIFIER
		       "\",\"repl_cn\":\"cairn\",\"cluster_name\":\"x\"}",
		       "repl_cn");
	expect_invalid("pg.init",
		       "{\"version\":\"15\",\"port\":5432,\"settings\":{},\"admin_verifier\":\"" VERIFIER
		       "\",\"repl_cn\":\"repl." DS "\",\"cluster_name\":\"a'b\"}",
		       "cluster_name");
	expect_invalid("pg.init",
		       "{\"version\":\"15\",\"port\":5432,\"settings\":{\"ssl\":\"off\"},\"admin_verifier\":\"" VERIFIER
		       "\",\"repl_cn\":\"repl." DS "\",\"cluster_name\":\"x\"}",
		       "managed");
}

static void test_settings(void **state)
{
	(void)state;
	static const char *const ok[] = { "work_mem", "shared_buffers", "auto_explain.log_min_duration", "a", NULL };
	static const char *const bad[] = { "listen_addresses", "port", "ssl", "ssl_ciphers", "data_directory",
					   "hba_file", "ident_file", "config_file", "external_pid_file",
					   "unix_socket_directories", "unix_socket_permissions", "primary_conninfo",
					   "primary_slot_name", "restore_command", "archive_command", "archive_mode",
					   "include", "include_dir", "shared_preload_libraries", "password_encryption",
					   "cluster_name", "Work_mem", "1abc", "a-b", "", NULL };
	char reason[EXEC_REASON_MAX];
	char big[CAIRN_DS_SETTING_VALUE_MAX + 2];
	json_t *s;

	for (size_t i = 0; ok[i]; i++)
		assert_true(exec_pg_setting_name_is_valid(ok[i]));
	for (size_t i = 0; bad[i]; i++)
		if (exec_pg_setting_name_is_valid(bad[i]))
			fail_msg("'%s' accepted", bad[i]);
	assert_false(exec_pg_setting_name_is_valid("a234567890123456789012345678901234567890123456789012345678901234"));

	s = json_pack("{s:s}", "work_mem", "8MB\n");
	assert_int_equal(exec_pg_check_settings(s, reason, sizeof(reason)), -EINVAL);
	json_decref(s);
	s = json_pack("{s:i}", "work_mem", 8);
	assert_int_equal(exec_pg_check_settings(s, reason, sizeof(reason)), -EINVAL);
	json_decref(s);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	s = json_pack("{s:s}", "work_mem", big);
	assert_int_equal(exec_pg_check_settings(s, reason, sizeof(reason)), -EINVAL);
	big[sizeof(big) - 2] = 0;
	json_object_set_new(s, "work_mem", json_string(big));
	assert_int_equal(exec_pg_check_settings(s, reason, sizeof(reason)), 0);
	json_decref(s);
	s = json_object();
	for (int i = 0; i <= CAIRN_DS_SETTINGS_MAX; i++) {
		char name[16];
		snprintf(name, sizeof(name), "x%d", i);
		json_object_set_new(s, name, json_string("1"));
	}
	assert_int_equal(exec_pg_check_settings(s, reason, sizeof(reason)), -EINVAL);
	json_decref(s);
	assert_int_equal(exec_pg_check_settings(json_null(), reason, sizeof(reason)), -EINVAL);
}

static void test_pg_replica_schema(void **state)
{
	(void)state;
	expect_valid("pg.replica", "{" REPLICA_OK "}");
	expect_valid("pg.replica",
		     "{\"version\":\"15\",\"port\":5432,\"settings\":{},\"primary_host\":\"db-0.example.com\","
		     "\"primary_port\":5432,\"slot\":\"cairn_m1\",\"repl_cn\":\"repl." DS "\",\"cluster_name\":\"db-1\"}");
	expect_invalid("pg.replica", "{" REPLICA_OK ",\"pgdata\":\"/x\"}", "pgdata");
	expect_invalid("pg.replica",
		       "{\"version\":\"15\",\"port\":5432,\"settings\":{},\"primary_host\":\"a b\","
		       "\"primary_port\":5432,\"slot\":\"cairn_m1\",\"repl_cn\":\"repl." DS "\",\"cluster_name\":\"x\"}",
		       "primary_host");
	expect_invalid("pg.replica",
		       "{\"version\":\"15\",\"port\":5432,\"settings\":{},\"primary_host\":\"h' sslmode=disable\","
		       "\"primary_port\":5432,\"slot\":\"cairn_m1\",\"repl_cn\":\"repl." DS "\",\"cluster_name\":\"x\"}",
		       "primary_host");
	expect_invalid("pg.replica",
		       "{\"version\":\"15\",\"port\":5432,\"settings\":{},\"primary_host\":\"h\","
		       "\"primary_port\":5432,\"slot\":\"Cairn-1\",\"repl_cn\":\"repl." DS "\",\"cluster_name\":\"x\"}",
		       "slot");
	expect_invalid("pg.replica",
		       "{\"version\":\"15\",\"port\":5432,\"settings\":{},\"primary_host\":\"h\","
		       "\"primary_port\":70000,\"slot\":\"s\",\"repl_cn\":\"repl." DS "\",\"cluster_name\":\"x\"}",
		       "primary_port");
}

static void test_small_schemas(void **state)
{
	(void)state;
	expect_valid("pg.slots", "{\"slots\":[]}");
	expect_valid("pg.slots", "{\"slots\":[\"cairn_m1\",\"cairn_m2\"]}");
	expect_invalid("pg.slots", "{\"slots\":[\"cairn_m1\",\"cairn_m1\"]}", "twice");
	expect_invalid("pg.slots", "{\"slots\":[\"bad-name\"]}", "slots[0]");
	expect_invalid("pg.slots", "{\"slots\":\"cairn_m1\"}", "slots");
	expect_invalid("pg.slots", "{\"slots\":[],\"x\":1}", "x");

	expect_valid("pg.config", "{\"settings\":{}}");
	expect_valid("pg.config", "{\"settings\":{\"work_mem\":\"64MB\",\"log_line_prefix\":\"%m [%p] '\\\\x' \"}}");
	expect_invalid("pg.config", "{}", "settings");
	expect_invalid("pg.config", "{\"settings\":{\"include_dir\":\"/etc\"}}", "managed");

	expect_valid("pg.service", "{\"action\":\"start\"}");
	expect_valid("pg.service", "{\"action\":\"restart\",\"if_pending_restart\":true}");
	expect_valid("pg.service", "{\"action\":\"stop\",\"if_pending_restart\":false}");
	expect_invalid("pg.service", "{\"action\":\"kill\"}", "action");
	expect_invalid("pg.service", "{\"action\":\"reload\",\"if_pending_restart\":true}", "only with");
	expect_invalid("pg.service", "{\"action\":\"restart\",\"if_pending_restart\":1}", "boolean");

	expect_valid("pg.destroy", "{}");
	expect_invalid("pg.destroy", "{\"path\":\"/\"}", "path");
	expect_invalid("pg.destroy", "[]", NULL);

	expect_valid("pkg.install", "{\"engine\":\"postgres\",\"version\":\"15\"}");
	expect_valid("pkg.install", "{\"engine\":\"postgres\",\"version\":\"16\",\"packages\":[\"server\",\"client\"]}");
	expect_invalid("pkg.install", "{\"engine\":\"mysql\",\"version\":\"15\"}", "engine");
	expect_invalid("pkg.install", "{\"engine\":\"postgres\",\"version\":\"15;rm\"}", "version");
	expect_invalid("pkg.install", "{\"engine\":\"postgres\",\"version\":\"15\",\"packages\":[\"vim\"]}", "packages");
	expect_invalid("pkg.install", "{\"engine\":\"postgres\",\"version\":\"15\",\"packages\":[]}", "packages");
	expect_invalid("pkg.install",
		       "{\"engine\":\"postgres\",\"version\":\"15\",\"packages\":[\"server\",\"server\"]}", "twice");
	expect_invalid("pkg.install", "{\"engine\":\"postgres\",\"version\":\"15\",\"repo\":\"x\"}", "repo");
}

static void test_slot_and_ds(void **state)
{
	(void)state;
	assert_true(exec_pg_slot_is_valid("cairn_m0"));
	assert_true(exec_pg_slot_is_valid("a"));
	assert_false(exec_pg_slot_is_valid(""));
	assert_false(exec_pg_slot_is_valid("A"));
	assert_false(exec_pg_slot_is_valid("a-b"));
	assert_false(exec_pg_slot_is_valid("a234567890123456789012345678901234567890123456789012345678901234"));
	assert_true(exec_pg_slot_is_valid("a23456789012345678901234567890123456789012345678901234567890123"));
	assert_false(exec_pg_slot_is_valid(NULL));
	assert_true(exec_pg_ds_is_valid(DS));
	assert_false(exec_pg_ds_is_valid("0B7C6A8E-1F2D-4C3B-9A8E-5D4C3B2A1F0E"));
	assert_false(exec_pg_ds_is_valid("../../etc"));
	assert_false(exec_pg_ds_is_valid(NULL));
}

static void test_render_postgresql_conf(void **state)
{
	(void)state;
	struct exec_pg_conf c = { .db_dir = "/var/lib/cairn-db", .tls_dir = "/etc/cairn/tls", .ds = DS,
				  .cluster_name = "db-0", .port = 5433 };
	_cleanup_free_ char *s = exec_pg_render_postgresql_conf(&c);

	assert_non_null(s);
	assert_non_null(strstr(s, "include_if_exists 'postgresql.initdb.conf'\n"));
	assert_non_null(strstr(s, "\nlisten_addresses = '*'\n"));
	assert_non_null(strstr(s, "\nport = 5433\n"));
	assert_non_null(strstr(s, "\nssl = on\n"));
	assert_non_null(strstr(s, "\nssl_cert_file = '/etc/cairn/tls/" DS "/server.crt'\n"));
	assert_non_null(strstr(s, "\nssl_key_file = '/etc/cairn/tls/" DS "/server.key'\n"));
	assert_non_null(strstr(s, "\nssl_ca_file = '/etc/cairn/tls/" DS "/ca.crt'\n"));
	assert_non_null(strstr(s, "\nssl_min_protocol_version = 'TLSv1.2'\n"));
	assert_non_null(strstr(s, "\npassword_encryption = 'scram-sha-256'\n"));
	assert_non_null(strstr(s, "\nunix_socket_directories = '/var/lib/cairn-db/" DS "/run'\n"));
	assert_non_null(strstr(s, "\nwal_level = replica\n"));
	assert_non_null(strstr(s, "\nmax_wal_senders = "));
	assert_non_null(strstr(s, "\nmax_replication_slots = "));
	assert_non_null(strstr(s, "\nhot_standby = on\n"));
	assert_non_null(strstr(s, "\ncluster_name = 'db-0'\n"));
	/* cairn.conf comes last so that user settings are read after ours. */
	assert_non_null(strstr(s, "\ninclude_if_exists 'cairn.conf'\n"));
	assert_string_equal(strstr(s, "include_if_exists 'cairn.conf'\n"), "include_if_exists 'cairn.conf'\n");

	/* A quote in a configured directory cannot end the string early. */
	c.db_dir = "/srv/it's";
	free(s);
	s = exec_pg_render_postgresql_conf(&c);
	assert_non_null(strstr(s, "unix_socket_directories = '/srv/it''s/" DS "/run'\n"));
	c.ds = NULL;
	assert_null(exec_pg_render_postgresql_conf(&c));
}

static void test_render_settings(void **state)
{
	(void)state;
	json_t *set = json_pack("{s:s,s:s,s:s}", "work_mem", "8MB", "log_line_prefix", "%m '%u' \\", "a.b", "x");
	_cleanup_free_ char *s = exec_pg_render_settings(set);

	assert_non_null(s);
	assert_string_equal(s, "# Written by cairn-agent (pg.config): do not edit.\n"
			       "a.b = 'x'\n"
			       "log_line_prefix = '%m ''%u'' \\\\'\n"
			       "work_mem = '8MB'\n");
	json_object_set_new(set, "port", json_string("1"));
	assert_null(exec_pg_render_settings(set));
	json_decref(set);

	set = json_object();
	free(s);
	s = exec_pg_render_settings(set);
	assert_string_equal(s, "# Written by cairn-agent (pg.config): do not edit.\n");
	json_decref(set);
}

static void test_render_hba_ident(void **state)
{
	(void)state;
	_cleanup_free_ char *hba = exec_pg_render_hba(), *ident = exec_pg_render_ident(DS);

	assert_string_equal(hba, "# Written by cairn-agent: do not edit.\n"
				 "local   all          postgres           peer map=cairn_local\n"
				 "local   all          cairn_monitor      peer map=cairn_local\n"
				 "hostssl replication  cairn_replication  all  cert map=cairn_cert\n"
				 "hostssl all          postgres           all  reject\n"
				 "hostssl all          cairn_replication  all  reject\n"
				 "hostssl all          cairn_monitor      all  reject\n"
				 "hostssl all          all                all  scram-sha-256\n");
	/* No plain TCP line at all. */
	assert_null(strstr(hba, "\nhost "));
	assert_null(strstr(hba, "trust"));
	assert_string_equal(ident, "# Written by cairn-agent: do not edit.\n"
				   "# MAPNAME    SYSTEM-USERNAME  PG-USERNAME\n"
				   "cairn_local  root             postgres\n"
				   "cairn_local  postgres         postgres\n"
				   "cairn_local  prometheus       cairn_monitor\n"
				   "cairn_cert   repl." DS "  cairn_replication\n");
	assert_null(exec_pg_render_ident("not-a-uuid"));
}

static void test_conninfo_quote(void **state)
{
	(void)state;
	_cleanup_free_ char *a = exec_pg_conninfo_quote("/a b/c"), *b = exec_pg_conninfo_quote("x' sslmode=disable \\");

	assert_string_equal(a, "'/a b/c'");
	assert_string_equal(b, "'x\\' sslmode=disable \\\\'");
}

static void test_pkg(void **state)
{
	(void)state;
	_cleanup_free_ char *d = exec_pkg_bin_dir(EXEC_PKG_DEBIAN, "15"), *r = exec_pkg_bin_dir(EXEC_PKG_RHEL, "16");
	_cleanup_free_ char *n1 = exec_pkg_name(EXEC_PKG_DEBIAN, "server", "15"),
			    *n2 = exec_pkg_name(EXEC_PKG_DEBIAN, "client", "15"),
			    *n3 = exec_pkg_name(EXEC_PKG_RHEL, "server", "15"),
			    *n4 = exec_pkg_name(EXEC_PKG_DEBIAN, "postgres_exporter", "15");

	assert_int_equal(exec_pkg_family_from_os_release("PRETTY_NAME=\"Debian GNU/Linux 12\"\nID=debian\n"),
			 EXEC_PKG_DEBIAN);
	assert_int_equal(exec_pkg_family_from_os_release("ID=ubuntu\nID_LIKE=debian\n"), EXEC_PKG_DEBIAN);
	assert_int_equal(exec_pkg_family_from_os_release("ID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\n"),
			 EXEC_PKG_RHEL);
	assert_int_equal(exec_pkg_family_from_os_release("ID=\"almalinux\"\n"), EXEC_PKG_RHEL);
	assert_int_equal(exec_pkg_family_from_os_release("ID=linuxmint\nID_LIKE=\"ubuntu debian\"\n"), EXEC_PKG_DEBIAN);
	assert_int_equal(exec_pkg_family_from_os_release("ID=arch\n"), -EOPNOTSUPP);
	assert_int_equal(exec_pkg_family_from_os_release("ID_DEBIAN=1\n"), -EOPNOTSUPP);
	assert_string_equal(d, "/usr/lib/postgresql/15/bin");
	assert_string_equal(r, "/usr/pgsql-16/bin");
	assert_string_equal(n1, "postgresql-15");
	assert_string_equal(n2, "postgresql-client-15");
	assert_string_equal(n3, "postgresql15-server");
	assert_string_equal(n4, "prometheus-postgres-exporter");
	assert_null(exec_pkg_name(EXEC_PKG_DEBIAN, "vim", "15"));
	assert_true(exec_pkg_version_is_valid("12"));
	assert_false(exec_pkg_version_is_valid("11"));
	assert_false(exec_pkg_version_is_valid("9"));
	assert_false(exec_pkg_version_is_valid("150"));
	assert_false(exec_pkg_version_is_valid("1a"));
}

static void test_pgstatus_empty(void **state)
{
	(void)state;
	char dir[] = "/tmp/test-agent-pg-XXXXXX";
	struct exec_config c = { .db_dir = "/nonexistent/cairn-db" };
	json_t *arr = NULL;

	assert_int_equal(pgstatus_collect(&c, &arr), 0);
	assert_int_equal(json_array_size(arr), 0);
	json_decref(arr);
	assert_non_null(mkdtemp(dir));
	c.db_dir = dir;
	assert_int_equal(pgstatus_collect(&c, &arr), 0);
	assert_int_equal(json_array_size(arr), 0);
	json_decref(arr);
	/* An instance whose server is not there says running false at once. */
	struct pg_instance inst = { .version = "15", .port = 1 };
	char sub[sizeof(dir) + 64];
	snprintf(sub, sizeof(sub), "%s/%s", dir, DS);
	assert_int_equal(mkdir(sub, 0700), 0);
	assert_int_equal(pgstatus_instance_save(dir, DS, &inst), 0);
	assert_int_equal(pgstatus_collect(&c, &arr), 0);
	assert_int_equal(json_array_size(arr), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 0), "ds")), DS);
	assert_true(json_is_false(json_object_get(json_array_get(arr, 0), "running")));
	json_decref(arr);
	snprintf(sub, sizeof(sub), "%s/%s/instance.json", dir, DS);
	unlink(sub);
	snprintf(sub, sizeof(sub), "%s/%s", dir, DS);
	rmdir(sub);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pg_init_schema),	   cmocka_unit_test(test_settings),
		cmocka_unit_test(test_pg_replica_schema),  cmocka_unit_test(test_small_schemas),
		cmocka_unit_test(test_slot_and_ds),	   cmocka_unit_test(test_render_postgresql_conf),
		cmocka_unit_test(test_render_settings),	   cmocka_unit_test(test_render_hba_ident),
		cmocka_unit_test(test_conninfo_quote),	   cmocka_unit_test(test_pkg),
		cmocka_unit_test(test_pgstatus_empty),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
