/*
 * test-ctl-ops.c: the operations engine.  Pure parts (validation, plans,
 * params, facts helpers), then the driver on a real store with real keys,
 * a fake provisioner program (a shell script in a temp dir) and job
 * results fed through the runner as an agent would.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "controller/config.h" /* not the autoconf config.h */
#include "aead.h"
#include "controller.h"
#include "fileio.h"
#include "keys.h"
#include "longpoll.h"
#include "macro.h"
#include "metrics.h"
#include "operations.h"
#include "plan-pg.h"
#include "provision.h"
#include "runner.h"
#include "secrets.h"
#include "store.h"
#include "util.h"

/* ---- validation ---------------------------------------------------------- */

static void test_validate(void **state)
{
	char reason[OPS_REASON_MAX];
	assert_int_equal(ops_validate_name("shop", reason), 0);
	assert_int_equal(ops_validate_name("a-1", reason), 0);
	assert_int_equal(ops_validate_name("", reason), -EINVAL);
	assert_int_equal(ops_validate_name("1abc", reason), -EINVAL);
	assert_int_equal(ops_validate_name("Abc", reason), -EINVAL);
	assert_int_equal(ops_validate_name("abc-", reason), -EINVAL);
	assert_int_equal(ops_validate_name("a_b", reason), -EINVAL);
	assert_int_equal(ops_validate_name("abcdefghijabcdefghijabcdefghijabcdefghij", reason), 0);
	assert_int_equal(ops_validate_name("abcdefghijabcdefghijabcdefghijabcdefghijk", reason), -EINVAL);
	assert_int_equal(ops_validate_name("dbd1f3c2-9a4e-4c1e-8f7a-0a1b2c3d4e5f", reason), -EINVAL);

	json_t *s = json_pack("{s:s, s:s}", "work_mem", "8MB", "auto_explain.log_min_duration", "1s");
	assert_int_equal(ops_validate_settings(s, false, reason), 0);
	json_object_set_new(s, "x", json_null());
	assert_int_equal(ops_validate_settings(s, false, reason), -EINVAL);
	assert_int_equal(ops_validate_settings(s, true, reason), 0);
	json_decref(s);
	const char *managed[] = { "port", "ssl", "ssl_cert_file", "listen_addresses", "archive_mode",
				  "include_dir", "unix_socket_directories", "cluster_name",
				  "shared_preload_libraries", "primary_conninfo" };
	for (size_t i = 0; i < sizeof(managed) / sizeof(*managed); i++) {
		s = json_pack("{s:s}", managed[i], "x");
		assert_int_equal(ops_validate_settings(s, false, reason), -EINVAL);
		assert_non_null(strstr(reason, "managed"));
		json_decref(s);
	}
	s = json_pack("{s:s}", "Work_mem", "1");
	assert_int_equal(ops_validate_settings(s, false, reason), -EINVAL);
	json_decref(s);
	s = json_pack("{s:i}", "work_mem", 1);
	assert_int_equal(ops_validate_settings(s, false, reason), -EINVAL);
	json_decref(s);
	s = json_pack("{s:s}", "work_mem", "a\nb");
	assert_int_equal(ops_validate_settings(s, false, reason), -EINVAL);
	json_decref(s);
	char big[1100];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	s = json_pack("{s:s}", "work_mem", big);
	assert_int_equal(ops_validate_settings(s, false, reason), -EINVAL);
	json_decref(s);
	s = json_object();
	for (int i = 0; i <= CAIRN_DS_SETTINGS_MAX; i++) {
		char k[16];
		snprintf(k, sizeof(k), "p%d", i);
		json_object_set_new(s, k, json_string("1"));
	}
	assert_int_equal(ops_validate_settings(s, false, reason), -EINVAL);
	json_decref(s);
}

/* ---- [provisioner] and node_unreachable_s -------------------------------- */

static int parse(const char *text, struct config **ret)
{
	char *err = NULL;
	int r = config_parse("t.conf", text, strlen(text), ret, &err);
	free(err);
	return r;
}

static void test_config(void **state)
{
	struct config *c = NULL;
	assert_int_equal(parse("", &c), 0);
	assert_int_equal(c->provisioner.kind, CONFIG_PROVISIONER_NONE);
	assert_int_equal(c->provisioner.timeout_s, 600);
	assert_null(c->provisioner.program);
	assert_string_equal(c->provisioner.local_dir, "/var/lib/cairn-local");
	assert_string_equal(c->provisioner.local_agent, "/usr/sbin/cairn-agent");
	assert_int_equal(c->node_unreachable_s, 3 * c->status_interval_s);
	config_free(c);
	assert_int_equal(parse("[controller]\nstatus_interval_s = 10\nnode_unreachable_s = 7\n"
			       "[provisioner]\nkind = exec\nprogram = /usr/bin/p\ntimeout_s = 30\n",
			       &c),
			 0);
	assert_int_equal(c->node_unreachable_s, 7);
	assert_int_equal(c->provisioner.kind, CONFIG_PROVISIONER_EXEC);
	assert_string_equal(c->provisioner.program, "/usr/bin/p");
	assert_int_equal(c->provisioner.timeout_s, 30);
	config_free(c);
	assert_int_equal(parse("[provisioner]\nkind = local\nlocal_bridge = cairnbr0\n"
			       "local_subnet = 198.18.7.0/24\nlocal_dir = /srv/l\n",
			       &c),
			 0);
	assert_int_equal(c->provisioner.kind, CONFIG_PROVISIONER_LOCAL);
	assert_non_null(strstr(c->provisioner.program, "cairn-provision-local"));
	assert_string_equal(c->provisioner.local_subnet, "198.18.7.0/24");
	config_free(c);
	const char *bad[] = {
		"[provisioner]\nkind = cloud\n",
		"[provisioner]\nkind = exec\n",
		"[provisioner]\nkind = exec\nprogram = rel/p\n",
		"[provisioner]\ntimeout_s = 0\n",
		"[provisioner]\ntimeout_s = 3601\n",
		"[provisioner]\nkind = local\nlocal_bridge = br0\n",
		"[provisioner]\nlocal_subnet = 10.0.0.0/24\n",
		"[provisioner]\nlocal_subnet = 198.18.1.0/16\n",
		"[provisioner]\nlocal_bridge = br 0\n",
		"[provisioner]\nbogus = 1\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		assert_int_equal(parse(bad[i], &c), -EINVAL);
}

/* ---- plans --------------------------------------------------------------- */

static bool has_dep(const struct store_step *st, int dep)
{
	json_t *d = json_loads(st->deps, 0, NULL), *v;
	size_t i;
	bool found = false;
	json_array_foreach(d, i, v) if (json_integer_value(v) == dep) found = true;
	json_decref(d);
	return found;
}

static void test_plan_create(void **state)
{
	struct plan p = {};
	assert_int_equal(plan_pg_create(0, "v", &p), -EINVAL);
	assert_int_equal(plan_pg_create(3, "SCRAM-SHA-256$x", &p), 0);
	/* 5 per member, pg.init, pg.slots, 2 replicas, 3 exporters, finish. */
	assert_int_equal(p.n, 15 + 1 + 1 + 2 + 3 + 1);
	int prov[3], pkg[3], srv[3], repl[3], exp[3];
	for (int i = 0; i < 3; i++) {
		prov[i] = plan_find(&p, "provision", i, NULL);
		pkg[i] = plan_find(&p, "pkg.install", i, NULL);
		srv[i] = plan_find(&p, "tls.issue", i, "server");
		repl[i] = plan_find(&p, "tls.issue", i, "repl");
		exp[i] = plan_find(&p, "tls.issue", i, "exporter");
		assert_true(prov[i] >= 0 && pkg[i] >= 0 && srv[i] >= 0 && repl[i] >= 0 && exp[i] >= 0);
		assert_string_equal(p.steps[prov[i]].kind, "provision");
		assert_string_equal(p.steps[prov[i]].deps, "[]");
		assert_true(has_dep(&p.steps[pkg[i]], prov[i]));
		assert_true(has_dep(&p.steps[srv[i]], pkg[i]));
	}
	int init = plan_find(&p, "pg.init", 0, NULL);
	assert_true(has_dep(&p.steps[init], srv[0]) && has_dep(&p.steps[init], repl[0]) &&
		    has_dep(&p.steps[init], pkg[0]));
	assert_non_null(strstr(p.steps[init].args, "SCRAM-SHA-256$x"));
	int slots = plan_find(&p, "pg.slots", 0, NULL);
	assert_true(has_dep(&p.steps[slots], init));
	for (int i = 0; i < 3; i++)
		assert_true(has_dep(&p.steps[slots], prov[i]));
	assert_int_equal(plan_find(&p, "pg.replica", 0, NULL), -1);
	for (int i = 1; i < 3; i++) {
		int r = plan_find(&p, "pg.replica", i, NULL);
		assert_true(has_dep(&p.steps[r], slots) && has_dep(&p.steps[r], pkg[i]) &&
			    has_dep(&p.steps[r], srv[i]) && has_dep(&p.steps[r], repl[i]));
		int e = plan_find(&p, "exporter.install", i, NULL);
		assert_true(has_dep(&p.steps[e], r) && has_dep(&p.steps[e], exp[i]));
	}
	int e0 = plan_find(&p, "exporter.install", 0, NULL);
	assert_true(has_dep(&p.steps[e0], init));
	int fin = plan_find(&p, "finish", -1, NULL);
	assert_int_equal(fin, (int)p.n - 1);
	for (int i = 0; i < fin; i++)
		assert_true(has_dep(&p.steps[fin], i));
	assert_string_equal(p.steps[fin].kind, "internal");
	assert_non_null(strstr(p.steps[fin].args, "\"ready\":[0,1,2]"));
	for (size_t i = 0; i < p.n; i++) {
		assert_int_equal(p.steps[i].idx, (int)i);
		assert_string_equal(p.steps[i].state, "pending");
	}
	plan_done(&p);
}

static void test_plan_others(void **state)
{
	struct plan p = {};
	int ords[] = { 3, 4 };
	assert_int_equal(plan_pg_add_node(0, ords, 2, &p), 0);
	int slots = plan_find(&p, "pg.slots", 0, NULL);
	assert_true(slots >= 0);
	assert_true(has_dep(&p.steps[slots], plan_find(&p, "provision", 3, NULL)));
	assert_true(has_dep(&p.steps[slots], plan_find(&p, "provision", 4, NULL)));
	assert_true(has_dep(&p.steps[plan_find(&p, "pg.replica", 4, NULL)], slots));
	assert_true(plan_find(&p, "exporter.install", 3, NULL) >= 0);
	assert_int_equal(plan_find(&p, "pg.init", 0, NULL), -1);
	assert_non_null(strstr(p.steps[p.n - 1].args, "\"ready\":[3,4]"));
	plan_done(&p);

	assert_int_equal(plan_pg_remove_node(0, 0, &p), -EINVAL);
	assert_int_equal(plan_pg_remove_node(0, 2, &p), 0);
	assert_int_equal(p.n, 4);
	assert_string_equal(p.steps[0].name, "pg.destroy");
	assert_int_equal(p.steps[0].member_ordinal, 2);
	assert_string_equal(p.steps[1].name, "pg.slots");
	assert_int_equal(p.steps[1].member_ordinal, 0);
	assert_string_equal(p.steps[1].deps, "[0]");
	assert_string_equal(p.steps[2].name, "deprovision");
	assert_string_equal(p.steps[2].deps, "[1]");
	assert_non_null(strstr(p.steps[3].args, "\"removed\":[2]"));
	plan_done(&p);

	int reps[] = { 1, 2 };
	assert_int_equal(plan_pg_configure(0, reps, 2, &p), 0);
	/* 3 pg.config, 3 restarts (1, 2, then 0), finish. */
	assert_int_equal(p.n, 7);
	for (int i = 0; i < 3; i++) {
		assert_string_equal(p.steps[i].name, "pg.config");
		assert_string_equal(p.steps[i].deps, "[]");
	}
	assert_string_equal(p.steps[3].name, "pg.service");
	assert_int_equal(p.steps[3].member_ordinal, 1);
	assert_string_equal(p.steps[3].deps, "[0,1,2]");
	assert_int_equal(p.steps[4].member_ordinal, 2);
	assert_string_equal(p.steps[4].deps, "[0,1,2,3]");
	assert_int_equal(p.steps[5].member_ordinal, 0);
	assert_string_equal(p.steps[5].deps, "[0,1,2,4]");
	assert_string_equal(p.steps[5].args, "{\"action\":\"restart\",\"if_pending_restart\":true}");
	plan_done(&p);

	int all[] = { 0, 1 };
	assert_int_equal(plan_pg_destroy(all, 2, &p), 0);
	assert_int_equal(p.n, 5);
	assert_string_equal(p.steps[1].name, "deprovision");
	assert_string_equal(p.steps[1].deps, "[0]");
	assert_string_equal(p.steps[3].deps, "[2]");
	assert_non_null(strstr(p.steps[4].args, "\"ds_state\":\"deleted\""));
	plan_done(&p);
}

/* ---- params -------------------------------------------------------------- */

static void test_params(void **state)
{
	struct store_datastore ds = {
		.id = "11111111-2222-4333-8444-555555555555",
		.name = (char *)"shop",
		.engine = (char *)"postgres",
		.version = (char *)"15",
		.port = 5432,
		.epoch = 2,
		.primary_node_id = (char *)"node-0",
		.settings = (char *)"{\"work_mem\":\"8MB\"}",
	};
	struct store_member m[3] = {
		{ .ordinal = 0, .node_id = "node-0", .name = (char *)"shop-0", .role = (char *)"primary",
		  .state = (char *)"ready", .address = (char *)"198.18.0.10" },
		{ .ordinal = 1, .node_id = "node-1", .name = (char *)"shop-1", .role = (char *)"replica",
		  .state = (char *)"joining", .address = (char *)"198.18.0.11" },
		{ .ordinal = 2, .node_id = "node-2", .name = (char *)"shop-2", .role = (char *)"replica",
		  .state = (char *)"removing", .address = NULL },
	};
	struct store_step st = { .kind = (char *)"job", .deps = (char *)"[]", .args = (char *)"{}" };
	char reason[PLAN_REASON_MAX];
	json_t *p = NULL;
	char *s;

	st.name = (char *)"tls.issue";
	st.member_ordinal = 1;
	st.args = (char *)"{\"cert\":\"server\"}";
	assert_int_equal(plan_pg_params(&ds, m, 3, &st, "/srv/tls", &p, reason), 0);
	s = json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(s, "{\"ca_path\":\"/srv/tls/11111111-2222-4333-8444-555555555555/ca.crt\","
			       "\"cert_path\":\"/srv/tls/11111111-2222-4333-8444-555555555555/server.crt\","
			       "\"key_path\":\"/srv/tls/11111111-2222-4333-8444-555555555555/server.key\","
			       "\"names\":[\"198.18.0.11\",\"shop-1\"],\"owner\":\"postgres\"}");
	free(s);
	json_decref(p);
	st.args = (char *)"{\"cert\":\"repl\"}";
	assert_int_equal(plan_pg_params(&ds, m, 3, &st, NULL, &p, reason), 0);
	assert_string_equal(json_string_value(json_array_get(json_object_get(p, "names"), 0)),
			    "repl.11111111-2222-4333-8444-555555555555");
	assert_string_equal(json_string_value(json_object_get(p, "key_path")),
			    "/etc/cairn/tls/11111111-2222-4333-8444-555555555555/repl.key");
	json_decref(p);
	st.args = (char *)"{\"cert\":\"exporter\"}";
	assert_int_equal(plan_pg_params(&ds, m, 3, &st, NULL, &p, reason), 0);
	assert_string_equal(json_string_value(json_object_get(p, "owner")), "prometheus");
	assert_non_null(strstr(json_string_value(json_object_get(p, "cert_path")), "/exporter.crt"));
	json_decref(p);
	/* No address yet: refused with a reason. */
	st.member_ordinal = 2;
	st.args = (char *)"{\"cert\":\"server\"}";
	assert_int_equal(plan_pg_params(&ds, m, 3, &st, NULL, &p, reason), -EINVAL);
	assert_non_null(strstr(reason, "address"));

	st.name = (char *)"pg.slots";
	st.member_ordinal = 0;
	st.args = (char *)"{}";
	assert_int_equal(plan_pg_params(&ds, m, 3, &st, NULL, &p, reason), 0);
	s = json_dumps(p, JSON_COMPACT);
	assert_string_equal(s, "{\"slots\":[\"cairn_m1\"]}");
	free(s);
	json_decref(p);

	st.name = (char *)"pg.replica";
	st.member_ordinal = 1;
	assert_int_equal(plan_pg_params(&ds, m, 3, &st, NULL, &p, reason), 0);
	s = json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(s, "{\"cluster_name\":\"shop\",\"port\":5432,\"primary_host\":\"198.18.0.10\","
			       "\"primary_port\":5432,\"repl_cn\":\"repl.11111111-2222-4333-8444-555555555555\","
			       "\"settings\":{\"work_mem\":\"8MB\"},\"slot\":\"cairn_m1\",\"version\":\"15\"}");
	free(s);
	json_decref(p);

	st.name = (char *)"pg.init";
	st.member_ordinal = 0;
	st.args = (char *)"{\"admin_verifier\":\"SCRAM-SHA-256$4096:x$y:z\"}";
	assert_int_equal(plan_pg_params(&ds, m, 3, &st, NULL, &p, reason), 0);
	s = json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(s, "{\"admin_verifier\":\"SCRAM-SHA-256$4096:x$y:z\",\"cluster_name\":\"shop\","
			       "\"port\":5432,\"repl_cn\":\"repl.11111111-2222-4333-8444-555555555555\","
			       "\"settings\":{\"work_mem\":\"8MB\"},\"version\":\"15\"}");
	free(s);
	json_decref(p);

	const struct {
		const char *name, *args, *want;
	} simple[] = {
		{ "pkg.install", "{}", "{\"engine\":\"postgres\",\"version\":\"15\"}" },
		{ "pg.config", "{}", "{\"settings\":{\"work_mem\":\"8MB\"}}" },
		{ "pg.service", "{\"action\":\"restart\",\"if_pending_restart\":true}",
		  "{\"action\":\"restart\",\"if_pending_restart\":true}" },
		{ "exporter.install", "{}", "{\"node_exporter_port\":9100,\"postgres_exporter_port\":9187}" },
		{ "pg.destroy", "{}", "{}" },
	};
	for (size_t i = 0; i < sizeof(simple) / sizeof(*simple); i++) {
		st.name = (char *)simple[i].name;
		st.args = (char *)simple[i].args;
		assert_int_equal(plan_pg_params(&ds, m, 3, &st, NULL, &p, reason), 0);
		s = json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS);
		assert_string_equal(s, simple[i].want);
		free(s);
		json_decref(p);
	}
	st.name = (char *)"pg.bogus";
	assert_int_equal(plan_pg_params(&ds, m, 3, &st, NULL, &p, reason), -EINVAL);
}

static void test_facts(void **state)
{
	char *a = NULL, *d;
	const char *f = "{\"addresses\":[{\"ifname\":\"lo\",\"family\":\"inet\",\"address\":\"127.0.0.1\"},"
			"{\"ifname\":\"eth0\",\"family\":\"inet6\",\"address\":\"fe80::1\"},"
			"{\"ifname\":\"eth0\",\"family\":\"inet\",\"address\":\"198.18.0.7\"}],"
			"\"tls_dir\":\"/var/lib/x/tls\"}";
	assert_int_equal(plan_pg_address_from_facts(f, &a), 0);
	assert_string_equal(a, "198.18.0.7");
	free(a);
	assert_int_equal(plan_pg_address_from_facts("{\"addresses\":[]}", &a), -ENOENT);
	assert_int_equal(plan_pg_address_from_facts(NULL, &a), -ENOENT);
	d = plan_pg_tls_dir_from_facts(f);
	assert_string_equal(d, "/var/lib/x/tls");
	free(d);
	d = plan_pg_tls_dir_from_facts("{\"tls_dir\":\"relative\"}");
	assert_string_equal(d, "/etc/cairn/tls");
	free(d);
	d = plan_pg_tls_dir_from_facts("{\"tls_dir\":\"/a/../b\"}");
	assert_string_equal(d, "/etc/cairn/tls");
	free(d);
	d = plan_pg_tls_dir_from_facts(NULL);
	assert_string_equal(d, "/etc/cairn/tls");
	free(d);
}

/* ---- the provisioner runner ---------------------------------------------- */

static char tmpdir[64];

static char *write_script(const char *name, const char *body)
{
	char *p = path_join(tmpdir, name);
	FILE *f = fopen(p, "we");
	assert_non_null(f);
	fputs(body, f);
	fclose(f);
	chmod(p, 0755);
	return p;
}

static void test_provision_run(void **state)
{
	struct provision_result r = {};
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test-ctl-ops-XXXXXX");
	assert_non_null(mkdtemp(tmpdir));

	char *ok = write_script("ok.sh", "#!/bin/sh\nread -r req\necho \"line one\" >&2\n"
					 "echo '{\"ok\":true,\"machine_id\":\"vm-1\",\"address\":\"198.18.0.9\"}'\n");
	assert_int_equal(provision_run(ok, 10, "t", "{\"version\":1}\n", &r), 0);
	assert_true(r.ok);
	assert_string_equal(r.machine_id, "vm-1");
	assert_string_equal(r.address, "198.18.0.9");
	provision_result_done(&r);

	char *no = write_script("no.sh", "#!/bin/sh\ncat >/dev/null\necho '{\"ok\":false,\"error\":\"quota exceeded\"}'\n");
	assert_int_equal(provision_run(no, 10, "t", "{}", &r), 0);
	assert_false(r.ok);
	assert_string_equal(r.error, "quota exceeded");
	provision_result_done(&r);

	char *ex = write_script("exit.sh", "#!/bin/sh\ncat >/dev/null\nexit 3\n");
	assert_int_equal(provision_run(ex, 10, "t", "{}", &r), 0);
	assert_false(r.ok);
	assert_non_null(strstr(r.error, "status 3"));
	provision_result_done(&r);

	char *slow = write_script("slow.sh", "#!/bin/sh\nsleep 30\n");
	int64_t t0 = now_mono_ms();
	assert_int_equal(provision_run(slow, 1, "t", "{}", &r), 0);
	assert_false(r.ok);
	assert_non_null(strstr(r.error, "no answer"));
	assert_true(now_mono_ms() - t0 < 5000);
	provision_result_done(&r);

	/* A daemon left holding stdout does not stall the run. */
	char *daemon = write_script("daemon.sh", "#!/bin/sh\ncat >/dev/null\n(sleep 20 &)\n"
						 "echo '{\"ok\":true}'\n");
	t0 = now_mono_ms();
	assert_int_equal(provision_run(daemon, 10, "t", "{}", &r), 0);
	assert_true(r.ok);
	assert_true(now_mono_ms() - t0 < 5000);
	provision_result_done(&r);

	/* Exits without reading a large request: EPIPE, not SIGPIPE. */
	char *deaf = write_script("deaf.sh", "#!/bin/sh\necho '{\"ok\":true}'\n");
	size_t reqlen = 200000;
	char *req = malloc(reqlen + 1);
	memset(req, ' ', reqlen);
	req[reqlen] = 0;
	assert_int_equal(provision_run(deaf, 10, "t", req, &r), 0);
	assert_true(r.ok);
	provision_result_done(&r);
	free(req);

	char *big = write_script("big.sh", "#!/bin/sh\ncat >/dev/null\nhead -c 70000 /dev/zero | tr '\\0' a\n");
	assert_int_equal(provision_run(big, 10, "t", "{}", &r), 0);
	assert_false(r.ok);
	assert_non_null(strstr(r.error, "longer"));
	provision_result_done(&r);

	const char *names[] = { "ok.sh", "no.sh", "exit.sh", "slow.sh", "daemon.sh", "big.sh", "deaf.sh" };
	for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++) {
		char *p = path_join(tmpdir, names[i]);
		unlink(p);
		free(p);
	}
	free(ok), free(no), free(ex), free(slow), free(daemon), free(big), free(deaf);
	rmdir(tmpdir);
}

/* ---- the driver ---------------------------------------------------------- */

struct fixture {
	char dir[64];
	char *prov;
	struct controller c;
};

static const char fake_provisioner[] =
	"#!/bin/sh\n"
	"req=$(cat)\n"
	"dir=$(dirname \"$0\")\n"
	"case \"$req\" in\n"
	"*'\"name\":\"quota-'*)\n"
	"  if [ -e \"$dir/allow-quota\" ]; then echo '{\"ok\":true,\"machine_id\":\"vm-q\"}';\n"
	"  else echo '{\"ok\":false,\"error\":\"quota exceeded\"}'; fi ;;\n"
	"*'\"action\":\"create\"'*)\n"
	"  echo create >> \"$dir/calls\"\n"
	"  case \"$req\" in *cjt_*) ;; *) echo '{\"ok\":false,\"error\":\"no token\"}'; exit 0;; esac\n"
	"  echo '{\"ok\":true,\"machine_id\":\"vm-x\"}' ;;\n"
	"*'\"action\":\"destroy\"'*)\n"
	"  echo destroy >> \"$dir/calls\"\n"
	"  echo '{\"ok\":true}' ;;\n"
	"*) echo '{\"ok\":false,\"error\":\"bad request\"}' ;;\n"
	"esac\n";

static int setup_kind(void **state, const char *kind)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char *err = NULL, conf[1024];
	snprintf(f->dir, sizeof(f->dir), "/tmp/test-ctl-ops-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(tmpdir, sizeof(tmpdir), "%s", f->dir);
	f->prov = write_script("prov.sh", fake_provisioner);
	snprintf(conf, sizeof(conf),
		 "[controller]\nstate_dir = %s\nserver_names = localhost\n"
		 "[provisioner]\nkind = %s\nprogram = %s\ntimeout_s = 20\n",
		 f->dir, kind, f->prov);
	assert_int_equal(config_parse("t.conf", conf, strlen(conf), &f->c.config, &err), 0);
	assert_int_equal(store_open(f->dir, &f->c.store, &err), 0);
	assert_int_equal(keys_setup(f->dir, f->c.config->server_names, f->c.store, &f->c.keys, &err), 0);
	f->c.longpoll = longpoll_new();
	f->c.metrics = metrics_new();
	f->c.runner = runner_new(&f->c);
	f->c.ops = ops_new(&f->c);
	assert_non_null(f->c.ops);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_kind(state, "exec");
}

static int setup_none(void **state)
{
	return setup_kind(state, "none");
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	ops_free(f->c.ops);
	runner_free(f->c.runner);
	metrics_free(f->c.metrics);
	longpoll_free(f->c.longpoll);
	keys_free(f->c.keys);
	store_close(f->c.store);
	config_free(f->c.config);
	const char *files[] = { "ca.key", "ca.pem", "job-signing.key", "kek.key", "server.key",
				"server.pem", "admin.token", "prov.sh", "calls", "allow-quota", STORE_DB_NAME,
				STORE_DB_NAME "-wal", STORE_DB_NAME "-shm" };
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char *p = path_join(f->dir, files[i]);
		unlink(p);
		free(p);
	}
	rmdir(f->dir);
	free(f->prov);
	free(f);
	return 0;
}

static void get_op(struct fixture *f, const char *op_id, struct store_operation *ret)
{
	assert_int_equal(store_operation_get(f->c.store, op_id, ret), 0);
}

/* Ticks until the member has a machine id from the provisioner. */
static void wait_machine(struct fixture *f, const char *ds, int ordinal)
{
	for (int i = 0; i < 200; i++) {
		struct store_member m = {};
		ops_tick(f->c.ops, now_s());
		assert_int_equal(store_member_get(f->c.store, ds, ordinal, &m), 0);
		bool done = m.machine_id != NULL;
		store_member_done(&m);
		if (done)
			return;
		usleep(50 * 1000);
	}
	fail_msg("the provisioner never answered");
}

/* Enrols the member's node as an agent would and reports facts. */
static void enrol(struct fixture *f, const char *ds, int ordinal, const char *addr)
{
	struct store_member m = {};
	struct store_node n = {};
	char facts[512];
	int64_t now = now_s();
	assert_int_equal(store_member_get(f->c.store, ds, ordinal, &m), 0);
	assert_int_equal(store_node_get(f->c.store, m.node_id, &n), 0);
	assert_int_equal(n.state, STORE_NODE_PENDING);
	assert_string_equal(n.name, m.name);
	assert_non_null(n.join_token_hash);
	assert_int_equal(store_node_enroll(f->c.store, n.id, n.join_token_hash, now, "01", now + 600), 0);
	snprintf(facts, sizeof(facts),
		 "{\"addresses\":[{\"ifname\":\"eth0\",\"family\":\"inet\",\"address\":\"%s\",\"prefixlen\":24}],"
		 "\"tls_dir\":\"/var/lib/cairn-local/%s/tls\"}",
		 addr, m.name);
	assert_int_equal(store_node_set_status(f->c.store, n.id, facts, NULL, now), 0);
	store_node_done(&n);
	store_member_done(&m);
}

/* The running job steps of the operation: answers each with `state`
 * through the runner, as the agent would.  Returns how many. */
static int answer_jobs(struct fixture *f, const char *op_id, enum cairn_job_state state,
		       const char *only_type, json_t *seen)
{
	struct store_step *steps = NULL;
	size_t n = 0;
	int answered = 0;
	assert_int_equal(store_step_list(f->c.store, op_id, &steps, &n), 0);
	for (size_t i = 0; i < n; i++) {
		struct store_job job = {};
		if (!streq(steps[i].state, "running") || !steps[i].job_id)
			continue;
		if (only_type && !streq(steps[i].name, only_type))
			continue;
		assert_int_equal(store_job_get(f->c.store, steps[i].job_id, &job), 0);
		if (cairn_job_state_is_final(job.state)) {
			store_job_done(&job);
			continue;
		}
		assert_non_null(job.ds);
		assert_int_equal(job.epoch, 1);
		if (seen) {
			char key[64];
			snprintf(key, sizeof(key), "%s/%d", job.type, steps[i].member_ordinal);
			json_object_set_new(seen, key, json_loads(job.params, 0, NULL));
			snprintf(key, sizeof(key), "%s/%d:id", job.type, steps[i].member_ordinal);
			json_object_set_new(seen, key, json_string(job.id));
		}
		char jti[UUID_STRING_MAX];
		memcpy(jti, job.id, sizeof(jti));
		if (job.attempt > 1) {
			struct store_attempt *a = NULL;
			size_t na = 0;
			assert_int_equal(store_attempt_list(f->c.store, job.id, &a, &na), 0);
			memcpy(jti, a[na - 1].jti, sizeof(jti));
			store_attempt_array_free(a, na);
		}
		assert_int_equal(runner_result(f->c.runner, job.node_id, jti, state,
					       state == CAIRN_JOB_SUCCEEDED ? "done" : "it broke", "{}"),
				 0);
		answered++;
		store_job_done(&job);
	}
	store_step_array_free(steps, n);
	return answered;
}

/* Answers every job with success until the operation is final. */
static void run_to_end(struct fixture *f, const char *op_id, json_t *seen)
{
	for (int i = 0; i < 100; i++) {
		struct store_operation op = {};
		ops_tick(f->c.ops, now_s());
		get_op(f, op_id, &op);
		bool running = streq(op.state, "running");
		store_operation_done(&op);
		if (!running)
			return;
		if (answer_jobs(f, op_id, CAIRN_JOB_SUCCEEDED, NULL, seen) == 0)
			usleep(50 * 1000);
	}
	fail_msg("operation did not end");
}

static void create_ready(struct fixture *f, const char *name, int nodes, char ds[static UUID_STRING_MAX],
			 json_t *seen)
{
	char op[UUID_STRING_MAX], reason[OPS_REASON_MAX];
	char *password = NULL;
	struct ops_create_spec spec = { .name = name, .engine = "postgres", .version = "15", .nodes = nodes };
	assert_int_equal(ops_create_datastore(f->c.ops, &spec, ds, op, &password, reason), 0);
	free(password);
	for (int i = 0; i < nodes; i++) {
		char addr[32];
		wait_machine(f, ds, i);
		snprintf(addr, sizeof(addr), "198.18.0.%d", 10 + i);
		enrol(f, ds, i, addr);
	}
	run_to_end(f, op, seen);
	struct store_operation o = {};
	get_op(f, op, &o);
	assert_string_equal(o.state, "succeeded");
	store_operation_done(&o);
}

static void test_create(void **state)
{
	struct fixture *f = *state;
	char ds[UUID_STRING_MAX], op[UUID_STRING_MAX], reason[OPS_REASON_MAX];
	char *password = NULL;
	json_t *size = json_pack("{s:i}", "cpus", 2), *settings = json_pack("{s:s}", "work_mem", "8MB");
	struct ops_create_spec spec = { .name = "shop", .engine = "postgres", .version = "15",
					.nodes = 2, .size = size, .settings = settings };

	spec.version = "14";
	assert_int_equal(ops_create_datastore(f->c.ops, &spec, ds, op, &password, reason), -EINVAL);
	assert_non_null(strstr(reason, "version"));
	spec.version = "15";
	spec.nodes = 10;
	assert_int_equal(ops_create_datastore(f->c.ops, &spec, ds, op, &password, reason), -EINVAL);
	spec.nodes = 2;
	json_t *bad = json_pack("{s:s}", "cpus", "2");
	spec.size = bad;
	assert_int_equal(ops_create_datastore(f->c.ops, &spec, ds, op, &password, reason), -EINVAL);
	spec.size = size;
	json_decref(bad);

	assert_int_equal(ops_create_datastore(f->c.ops, &spec, ds, op, &password, reason), 0);
	assert_int_equal(strlen(password), 43);
	char ds2[UUID_STRING_MAX], op2[UUID_STRING_MAX];
	char *pw2 = NULL;
	assert_int_equal(ops_create_datastore(f->c.ops, &spec, ds2, op2, &pw2, reason), -EEXIST);

	/* The stored secret opens under the KEK with the datastore's AAD only. */
	struct store_datastore d = {};
	assert_int_equal(store_datastore_get(f->c.store, ds, &d), 0);
	assert_string_equal(d.state, "creating");
	assert_int_equal(d.epoch, 1);
	assert_string_equal(d.settings, "{\"work_mem\":\"8MB\"}");
	assert_string_equal(d.size, "{\"cpus\":2}");
	assert_int_equal(d.next_ordinal, 2);
	unsigned char *sealed = NULL, *pt = NULL;
	size_t slen = 0, plen = 0;
	char aad[128];
	assert_int_equal(b64url_decode(d.admin_secret, strlen(d.admin_secret), &sealed, &slen), 0);
	snprintf(aad, sizeof(aad), "cairn-ds-admin:%s", ds);
	assert_int_equal(aead_open(f->c.keys->kek, aad, strlen(aad), sealed, slen, &pt, &plen), 0);
	assert_string_equal((char *)pt, password);
	free(pt);
	assert_int_equal(aead_open(f->c.keys->kek, "x", 1, sealed, slen, &pt, &plen), -EBADMSG);
	free(sealed);

	struct store_member *m = NULL;
	size_t nm = 0;
	assert_int_equal(store_member_list(f->c.store, ds, true, &m, &nm), 0);
	assert_int_equal(nm, 2);
	assert_string_equal(m[0].name, "shop-0");
	assert_string_equal(m[0].role, "primary");
	assert_string_equal(m[1].role, "replica");
	assert_string_equal(m[1].state, "provisioning");
	assert_string_equal(d.primary_node_id, m[0].node_id);
	store_member_array_free(m, nm);
	store_datastore_done(&d);

	/* A second operation is refused while this one runs. */
	char op3[UUID_STRING_MAX];
	assert_int_equal(ops_add_nodes(f->c.ops, "shop", 1, op3, reason), -EBUSY);
	assert_non_null(strstr(reason, op));
	assert_int_equal(ops_destroy(f->c.ops, ds, op3, reason), -EBUSY);

	/* Provisioning: the fake program got the join token on stdin. */
	wait_machine(f, ds, 0);
	wait_machine(f, ds, 1);
	/* Not enrolled yet: nothing but provision steps run. */
	ops_tick(f->c.ops, now_s());
	assert_int_equal(answer_jobs(f, op, CAIRN_JOB_SUCCEEDED, NULL, NULL), 0);
	enrol(f, ds, 0, "198.18.0.10");
	enrol(f, ds, 1, "198.18.0.11");

	json_t *seen = json_object();
	run_to_end(f, op, seen);
	struct store_operation o = {};
	get_op(f, op, &o);
	assert_string_equal(o.state, "succeeded");
	assert_null(o.message);
	assert_true(o.finished_at > 0);
	store_operation_done(&o);
	assert_int_equal(store_datastore_get(f->c.store, ds, &d), 0);
	assert_string_equal(d.state, "ready");
	store_datastore_done(&d);
	assert_int_equal(store_member_list(f->c.store, ds, true, &m, &nm), 0);
	for (size_t i = 0; i < nm; i++) {
		assert_string_equal(m[i].state, "ready");
		assert_string_equal(m[i].machine_id, "vm-x");
	}
	assert_string_equal(m[1].address, "198.18.0.11");
	store_member_array_free(m, nm);

	/* Params were built from the store at step start. */
	json_t *p = json_object_get(seen, "tls.issue/1");
	assert_non_null(p);
	assert_non_null(strstr(json_string_value(json_object_get(p, "ca_path")),
			       "/var/lib/cairn-local/shop-1/tls/"));
	p = json_object_get(seen, "pg.replica/1");
	assert_string_equal(json_string_value(json_object_get(p, "primary_host")), "198.18.0.10");
	assert_string_equal(json_string_value(json_object_get(p, "slot")), "cairn_m1");
	p = json_object_get(seen, "pg.init/0");
	/* Stored sealed (a secret param): open it as the runner does to sign. */
	assert_true(json_is_object(json_object_get(p, "admin_verifier")));
	assert_int_equal(secrets_job_open(f->c.keys->kek, json_string_value(json_object_get(seen, "pg.init/0:id")),
					  "pg.init", p), 1);
	const char *v = json_string_value(json_object_get(p, "admin_verifier"));
	assert_non_null(v);
	assert_int_equal(strncmp(v, "SCRAM-SHA-256$4096:", 19), 0);
	assert_null(strstr(v, password));
	p = json_object_get(seen, "pg.slots/0");
	assert_string_equal(json_string_value(json_array_get(json_object_get(p, "slots"), 0)), "cairn_m1");
	/* type/ordinal: pkg and tls ×2, init, slots, replica, 2 exporters. */
	assert_int_equal(json_object_size(seen), 2 * (2 * 2 + 1 + 1 + 1 + 2));
	json_decref(seen);
	freezero_strp(&password);
	json_decref(size);
	json_decref(settings);
}

static void test_fail_retry_remove_destroy(void **state)
{
	struct fixture *f = *state;
	char ds[UUID_STRING_MAX], op[UUID_STRING_MAX], reason[OPS_REASON_MAX];
	struct store_operation o = {};
	struct store_datastore d = {};

	create_ready(f, "web", 2, ds, NULL);

	/* The primary cannot be removed. */
	assert_int_equal(ops_remove_node(f->c.ops, ds, "web-0", op, reason), -EPERM);
	assert_non_null(strstr(reason, "switchover"));
	assert_int_equal(ops_remove_node(f->c.ops, ds, "web-7", op, reason), -ENOENT);
	json_t *patch = json_pack("{s:s}", "port", "1");
	assert_int_equal(ops_configure(f->c.ops, ds, patch, op, reason), -EINVAL);
	json_decref(patch);

	/* configure: a rejected pg.config fails the operation and the datastore. */
	patch = json_pack("{s:s, s:n}", "work_mem", "16MB", "nothing", NULL);
	assert_int_equal(ops_configure(f->c.ops, ds, patch, op, reason), 0);
	json_decref(patch);
	ops_tick(f->c.ops, now_s());
	assert_int_equal(answer_jobs(f, op, CAIRN_JOB_REJECTED, "pg.config", NULL), 2);
	get_op(f, op, &o);
	assert_string_equal(o.state, "failed");
	assert_non_null(strstr(o.message, "pg.config on web-"));
	assert_non_null(strstr(o.message, "rejected: it broke"));
	store_operation_done(&o);
	assert_int_equal(store_datastore_get(f->c.store, ds, &d), 0);
	assert_string_equal(d.state, "failed");
	assert_string_equal(d.settings, "{\"work_mem\":\"16MB\"}");
	store_datastore_done(&d);
	char other[UUID_STRING_MAX];
	assert_int_equal(ops_add_nodes(f->c.ops, ds, 1, other, reason), -EPERM);

	/* Retry: failed steps run again with new jobs; the operation ends. */
	assert_int_equal(ops_retry(f->c.ops, op, reason), 0);
	assert_int_equal(ops_retry(f->c.ops, op, reason), -EBUSY);
	assert_int_equal(store_datastore_get(f->c.store, ds, &d), 0);
	assert_string_equal(d.state, "updating");
	store_datastore_done(&d);
	run_to_end(f, op, NULL);
	get_op(f, op, &o);
	assert_string_equal(o.state, "succeeded");
	store_operation_done(&o);

	/* remove_node of the replica: revoked, provisioner destroy, removed. */
	assert_int_equal(ops_remove_node(f->c.ops, ds, "web-1", op, reason), 0);
	struct store_member m = {};
	assert_int_equal(store_member_get(f->c.store, ds, 1, &m), 0);
	assert_string_equal(m.state, "removing");
	char node1[UUID_STRING_MAX];
	memcpy(node1, m.node_id, sizeof(node1));
	store_member_done(&m);
	json_t *seen = json_object();
	run_to_end(f, op, seen);
	get_op(f, op, &o);
	assert_string_equal(o.state, "succeeded");
	store_operation_done(&o);
	json_t *slots = json_object_get(json_object_get(seen, "pg.slots/0"), "slots");
	assert_int_equal(json_array_size(slots), 0);
	json_decref(seen);
	assert_int_equal(store_member_get(f->c.store, ds, 1, &m), 0);
	assert_string_equal(m.state, "removed");
	store_member_done(&m);
	struct store_node n = {};
	assert_int_equal(store_node_get(f->c.store, node1, &n), 0);
	assert_int_equal(n.state, STORE_NODE_REVOKED);
	store_node_done(&n);

	/* add_node: ordinal 2, never 1 again. */
	assert_int_equal(ops_add_nodes(f->c.ops, ds, 1, op, reason), 0);
	wait_machine(f, ds, 2);
	enrol(f, ds, 2, "198.18.0.12");
	run_to_end(f, op, NULL);
	get_op(f, op, &o);
	assert_string_equal(o.state, "succeeded");
	store_operation_done(&o);
	assert_int_equal(store_member_get(f->c.store, ds, 2, &m), 0);
	assert_string_equal(m.name, "web-2");
	assert_string_equal(m.state, "ready");
	assert_string_equal(m.role, "replica");
	store_member_done(&m);

	/* destroy: everything goes, the name is free again. */
	assert_int_equal(ops_destroy(f->c.ops, "web", op, reason), 0);
	run_to_end(f, op, NULL);
	get_op(f, op, &o);
	assert_string_equal(o.state, "succeeded");
	store_operation_done(&o);
	assert_int_equal(store_datastore_get(f->c.store, ds, &d), 0);
	assert_string_equal(d.state, "deleted");
	store_datastore_done(&d);
	assert_int_equal(store_datastore_get(f->c.store, "web", &d), -ENOENT);
	assert_int_equal(ops_destroy(f->c.ops, ds, op, reason), -ENOENT);

	/* The provisioner was asked to create 3 and destroy 3 machines. */
	char *calls_path = path_join(f->dir, "calls"), *calls = NULL;
	size_t len = 0;
	assert_int_equal(read_file_full(calls_path, 4096, &calls, &len), 0);
	assert_string_equal(calls, "create\ncreate\ndestroy\ncreate\ndestroy\ndestroy\n");
	free(calls);
	free(calls_path);
}

/* A controller restart while a provision step runs: the step is asked
 * again with a new join token. */
static void test_restart_asks_again(void **state)
{
	struct fixture *f = *state;
	char ds[UUID_STRING_MAX], op[UUID_STRING_MAX], reason[OPS_REASON_MAX];
	char *password = NULL;
	struct ops_create_spec spec = { .name = "again", .engine = "postgres", .version = "15", .nodes = 1 };
	struct store_member m = {};
	struct store_node n = {};

	assert_int_equal(ops_create_datastore(f->c.ops, &spec, ds, op, &password, reason), 0);
	freezero_strp(&password);
	wait_machine(f, ds, 0);
	assert_int_equal(store_member_get(f->c.store, ds, 0, &m), 0);
	assert_int_equal(store_node_get(f->c.store, m.node_id, &n), 0);
	char *hash1 = strdup(n.join_token_hash);
	store_node_done(&n);

	/* "Restart": a new engine on the same store. */
	ops_free(f->c.ops);
	f->c.ops = ops_new(&f->c);
	ops_tick(f->c.ops, now_s());
	assert_int_equal(store_node_get(f->c.store, m.node_id, &n), 0);
	assert_string_not_equal(n.join_token_hash, hash1);
	assert_int_equal(n.state, STORE_NODE_PENDING);
	store_node_done(&n);
	free(hash1);
	/* The step is still the same running one, not started twice. */
	struct store_step *steps = NULL;
	size_t ns = 0;
	assert_int_equal(store_step_list(f->c.store, op, &steps, &ns), 0);
	assert_string_equal(steps[0].name, "provision");
	assert_string_equal(steps[0].state, "running");
	store_step_array_free(steps, ns);
	usleep(300 * 1000);
	enrol(f, ds, 0, "198.18.0.30");
	run_to_end(f, op, NULL);
	struct store_operation o = {};
	get_op(f, op, &o);
	assert_string_equal(o.state, "succeeded");
	store_operation_done(&o);
	store_member_done(&m);
}

/* The provisioner refuses: the step, the operation and the datastore
 * fail with its words; a retry asks again. */
static void test_provisioner_failure(void **state)
{
	struct fixture *f = *state;
	char ds[UUID_STRING_MAX], op[UUID_STRING_MAX], reason[OPS_REASON_MAX];
	char *password = NULL;
	struct ops_create_spec spec = { .name = "quota", .engine = "postgres", .version = "15", .nodes = 1 };
	struct store_operation o = {};

	assert_int_equal(ops_create_datastore(f->c.ops, &spec, ds, op, &password, reason), 0);
	freezero_strp(&password);
	for (int i = 0; i < 200; i++) {
		ops_tick(f->c.ops, now_s());
		get_op(f, op, &o);
		bool failed = streq(o.state, "failed");
		if (failed)
			break;
		store_operation_done(&o);
		usleep(50 * 1000);
	}
	assert_string_equal(o.state, "failed");
	assert_string_equal(o.message, "provision on quota-0: provisioner: quota exceeded");
	store_operation_done(&o);

	char *allow = path_join(f->dir, "allow-quota");
	assert_int_equal(write_file_atomic(allow, "1", 1, 0600), 0);
	free(allow);
	assert_int_equal(ops_retry(f->c.ops, op, reason), 0);
	wait_machine(f, ds, 0);
	enrol(f, ds, 0, "198.18.0.40");
	run_to_end(f, op, NULL);
	get_op(f, op, &o);
	assert_string_equal(o.state, "succeeded");
	store_operation_done(&o);
}

/* kind = none: the slot is made and the step waits for the machine. */
static void test_kind_none(void **state)
{
	struct fixture *f = *state;
	char ds[UUID_STRING_MAX], op[UUID_STRING_MAX], reason[OPS_REASON_MAX];
	char *password = NULL;
	struct ops_create_spec spec = { .name = "manual", .engine = "postgres", .version = "15", .nodes = 1 };
	struct store_member m = {};
	struct store_node n = {};
	struct store_operation o = {};

	assert_int_equal(ops_create_datastore(f->c.ops, &spec, ds, op, &password, reason), 0);
	freezero_strp(&password);
	ops_tick(f->c.ops, now_s());
	ops_tick(f->c.ops, now_s() + 100000); /* no deadline without a provisioner */
	assert_int_equal(store_member_get(f->c.store, ds, 0, &m), 0);
	assert_int_equal(store_node_get(f->c.store, m.node_id, &n), 0);
	assert_int_equal(n.state, STORE_NODE_PENDING);
	assert_string_equal(n.name, "manual-0");
	store_node_done(&n);
	get_op(f, op, &o);
	assert_string_equal(o.state, "running");
	store_operation_done(&o);
	enrol(f, ds, 0, "198.18.0.50");
	run_to_end(f, op, NULL);
	get_op(f, op, &o);
	assert_string_equal(o.state, "succeeded");
	store_operation_done(&o);
	store_member_done(&m);
	assert_int_equal(store_member_get(f->c.store, ds, 0, &m), 0);
	assert_string_equal(m.address, "198.18.0.50");
	assert_null(m.machine_id);

	assert_int_equal(ops_destroy(f->c.ops, ds, op, reason), 0);
	run_to_end(f, op, NULL);
	get_op(f, op, &o);
	assert_string_equal(o.state, "succeeded");
	store_operation_done(&o);
	assert_int_equal(store_node_get(f->c.store, m.node_id, &n), 0);
	assert_int_equal(n.state, STORE_NODE_REVOKED);
	store_node_done(&n);
	store_member_done(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_validate),
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_plan_create),
		cmocka_unit_test(test_plan_others),
		cmocka_unit_test(test_params),
		cmocka_unit_test(test_facts),
		cmocka_unit_test(test_provision_run),
		cmocka_unit_test_setup_teardown(test_create, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fail_retry_remove_destroy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_asks_again, setup, teardown),
		cmocka_unit_test_setup_teardown(test_provisioner_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kind_none, setup_none, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
