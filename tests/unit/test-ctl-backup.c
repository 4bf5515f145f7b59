/*
 * test-ctl-backup.c: the controller side of backups (docs/backups.md):
 * secret job parameters sealed in the store and opened only in the signed
 * JWS, the store's backup tables (and the migration of a v2 database),
 * and the pure decisions: retention, schedule, restore selection,
 * backup-config validation and redaction.
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

#include <sqlite3.h>

#include "controller/config.h" /* not the autoconf config.h */
#include "api-backups.h"
#include "backup.h"
#include "controller.h"
#include "fileio.h"
#include "jws.h"
#include "keys.h"
#include "longpoll.h"
#include "macro.h"
#include "metrics.h"
#include "operations.h"
#include "plan-pg.h"
#include "runner.h"
#include "secrets.h"
#include "store.h"
#include "util.h"

struct fixture {
	char dir[64];
	struct controller c;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char *err = NULL, conf[1024];
	snprintf(f->dir, sizeof(f->dir), "/tmp/test-ctl-backup-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(conf, sizeof(conf),
		 "[controller]\nstate_dir = %s\nserver_names = localhost\n[provisioner]\nkind = none\n",
		 f->dir);
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
				"server.pem", "admin.token", STORE_DB_NAME, STORE_DB_NAME "-wal",
				STORE_DB_NAME "-shm" };
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char *p = path_join(f->dir, files[i]);
		unlink(p);
		free(p);
	}
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Every text of column `col` of `table` concatenated (read with a second
 * SQLite connection, as someone with the database file would). */
static char *read_column(struct fixture *f, const char *table, const char *col)
{
	char *path = path_join(f->dir, STORE_DB_NAME), sql[256];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	size_t len = 0;
	char *all = calloc(1, 1);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	snprintf(sql, sizeof(sql), "SELECT %s FROM %s", col, table);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(st, 0);
		size_t n = t ? strlen(t) : 0;
		all = realloc(all, len + n + 2);
		memcpy(all + len, t ?: "", n);
		len += n;
		all[len++] = '\n';
		all[len] = 0;
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	free(path);
	return all;
}

/* Runs SQL on the database with a second connection (to age rows). */
static void db_exec(struct fixture *f, const char *q)
{
	char *path = path_join(f->dir, STORE_DB_NAME), *err = NULL;
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_exec(db, q, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", q, err);
	sqlite3_close(db);
	free(path);
}

static void enrolled_node(struct fixture *f, char id[static UUID_STRING_MAX])
{
	int64_t now = now_s();
	assert_int_equal(uuid_random(id), 0);
	assert_int_equal(store_node_create(f->c.store, id, "n1", "aa", now + 600, now), 0);
	assert_int_equal(store_node_enroll(f->c.store, id, "aa", now, "01", now + 600), 0);
}

/* ---- secret job parameters -------------------------------------------- */

static void test_secrets_seal_open(void **state)
{
	(void)state;
	uint8_t kek[AEAD_KEY_LEN] = { 1, 2, 3 };
	json_t *p = json_pack("{s:{s:s, s:s, s:n}, s:s, s:i}", "s3", "access_key", "AKID", "secret_key",
			      "s3cr3t-value", "session_token", "data_key", "a2V5LWtleS1rZXk=",
			      "compression_level", 3);
	assert_int_equal(secrets_job_seal(kek, "job-1", "backup.configure", p), 2);
	char *text = json_dumps(p, JSON_COMPACT);
	assert_null(strstr(text, "s3cr3t-value"));
	assert_null(strstr(text, "a2V5LWtleS1rZXk="));
	assert_non_null(strstr(text, "AKID"));
	assert_true(json_is_null(json_object_get(json_object_get(p, "s3"), "session_token")));
	free(text);
	/* Sealing twice changes nothing. */
	assert_int_equal(secrets_job_seal(kek, "job-1", "backup.configure", p), 0);

	/* Another job's id (or another key) does not open it. */
	json_t *q = json_deep_copy(p);
	assert_int_equal(secrets_job_open(kek, "job-2", "backup.configure", q), -EBADMSG);
	json_decref(q);
	q = json_deep_copy(p);
	uint8_t other[AEAD_KEY_LEN] = { 9 };
	assert_int_equal(secrets_job_open(other, "job-1", "backup.configure", q), -EBADMSG);
	json_decref(q);
	/* A sealed value moved to another parameter does not open either. */
	q = json_deep_copy(p);
	json_object_set(json_object_get(q, "s3"), "secret_key", json_object_get(q, "data_key"));
	assert_int_equal(secrets_job_open(kek, "job-1", "backup.configure", q), -EBADMSG);
	json_decref(q);

	assert_int_equal(secrets_job_open(kek, "job-1", "backup.configure", p), 2);
	assert_string_equal(json_string_value(json_object_get(json_object_get(p, "s3"), "secret_key")),
			    "s3cr3t-value");
	assert_string_equal(json_string_value(json_object_get(p, "data_key")), "a2V5LWtleS1rZXk=");
	json_decref(p);

	/* Types without secrets are untouched; nested pg.restore paths work. */
	p = json_pack("{s:s}", "x", "y");
	assert_int_equal(secrets_job_seal(kek, "j", "pg.slots", p), 0);
	json_decref(p);
	p = json_pack("{s:{s:s, s:{s:s}, s:s}, s:s}", "source", "ds_id", "d", "s3", "secret_key", "k1",
		      "data_key", "dk", "admin_verifier", "SCRAM-SHA-256$x");
	assert_int_equal(secrets_job_seal(kek, "j", "pg.restore", p), 3);
	assert_int_equal(secrets_job_open(kek, "j", "pg.restore", p), 3);
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(json_object_get(p, "source"), "s3"), "secret_key")),
			    "k1");
	json_decref(p);
}

/* The jobs table and the attempts never hold the clear value; the JWS
 * served to the node does. */
static void test_secrets_in_store(void **state)
{
	struct fixture *f = *state;
	char node[UUID_STRING_MAX], job[UUID_STRING_MAX];
	enrolled_node(f, node);

	json_t *p = json_pack("{s:{s:s, s:s, s:s, s:s, s:s, s:s, s:b}, s:s, s:i}", "s3", "endpoint",
			      "https://s3.example", "region", "us-east-1", "bucket", "b", "prefix", "p",
			      "access_key", "AKID", "secret_key", "very-secret-s3-key", "virtual_hosted",
			      0, "data_key", "ZGF0YS1rZXktZGF0YS1rZXktZGF0YS1rZXktMzI=",
			      "compression_level", 3);
	struct runner_job_spec spec = { .node_id = node, .type = "backup.configure", .params = p };
	assert_int_equal(runner_submit(f->c.runner, &spec, job), 0);
	/* The caller's params are not changed. */
	assert_string_equal(json_string_value(json_object_get(json_object_get(p, "s3"), "secret_key")),
			    "very-secret-s3-key");
	json_decref(p);

	/* pg.init's verifier goes the same way. */
	char job2[UUID_STRING_MAX];
	p = json_pack("{s:s, s:i, s:{}, s:s, s:s, s:s}", "version", "15", "port", 5432, "settings",
		      "admin_verifier", "SCRAM-SHA-256$4096:c2FsdA==$c3RvcmVk:c2VydmVy", "repl_cn", "repl.x",
		      "cluster_name", "x");
	spec = (struct runner_job_spec){ .node_id = node, .type = "pg.init", .params = p };
	assert_int_equal(runner_submit(f->c.runner, &spec, job2), 0);
	json_decref(p);

	char *params = read_column(f, "jobs", "params");
	assert_null(strstr(params, "very-secret-s3-key"));
	assert_null(strstr(params, "ZGF0YS1rZXktZGF0YS1rZXktZGF0YS1rZXktMzI="));
	assert_null(strstr(params, "c3RvcmVk"));
	assert_non_null(strstr(params, "$sealed"));
	assert_non_null(strstr(params, "AKID"));
	free(params);
	char *jws = read_column(f, "job_attempts", "jws");
	assert_true(strncmp(jws, RUNNER_SEALED_JWS_PREFIX, strlen(RUNNER_SEALED_JWS_PREFIX)) == 0);
	free(jws);

	/* The pull (as the gateway serves it) opens them. */
	json_t *jobs = json_array();
	assert_int_equal(store_pull(f->c.store, node, 0, now_s(), 10, 1 << 20, jobs), 2);
	int found = 0;
	for (size_t i = 0; i < json_array_size(jobs); i++) {
		char *clear = NULL;
		struct jws *parsed = NULL;
		const char *reason = NULL;
		assert_int_equal(runner_open_jws(f->c.keys->kek, node,
						 json_string_value(json_array_get(jobs, i)), &clear),
				 1);
		/* Bound to the node. */
		char *other = NULL;
		assert_int_equal(runner_open_jws(f->c.keys->kek, "another-node",
						 json_string_value(json_array_get(jobs, i)), &other),
				 -EBADMSG);
		assert_int_equal(jws_parse(clear, strlen(clear), &parsed, NULL, &reason), 0);
		assert_int_equal(jws_verify(parsed, f->c.keys->job_key), 0);
		json_t *pp = json_object_get(parsed->payload, "params");
		const char *type = json_string_value(json_object_get(parsed->payload, "type"));
		if (streq(type, "backup.configure")) {
			assert_string_equal(json_string_value(json_object_get(json_object_get(pp, "s3"),
									      "secret_key")),
					    "very-secret-s3-key");
			found++;
		} else {
			assert_string_equal(json_string_value(json_object_get(pp, "admin_verifier")),
					    "SCRAM-SHA-256$4096:c2FsdA==$c3RvcmVk:c2VydmVy");
			found++;
		}
		jws_free(parsed);
		freezero_strp(&clear);
	}
	assert_int_equal(found, 2);
	json_decref(jobs);
}


/* ---- pure decisions ----------------------------------------------------- */

static void test_retention(void **state)
{
	(void)state;
	int64_t now = 1000000;
	size_t del[16], nd = 99;
	const char *wal = "x";
	/* Newest first or not: order does not matter. */
	struct backup_item b[] = {
		{ "a", "completed", now - 5000, "W1" }, { "b", "completed", now - 4000, "W2" },
		{ "c", "failed", now - 3500, NULL },    { "d", "completed", now - 3000, "W3" },
		{ "e", "running", now - 10, NULL },     { "f", "completed", now - 2000, "W4" },
		{ "g", "deleting", now - 9000, "W0" },
	};
	struct backup_policy keep2 = { .count = 2 };
	backup_retention_select(b, 7, &keep2, now, del, &nd, &wal);
	assert_int_equal(nd, 2);
	assert_string_equal(b[del[0]].id, "a");
	assert_string_equal(b[del[1]].id, "b");
	assert_string_equal(wal, "W3");

	/* Age keeps younger ones beyond the count. */
	struct backup_policy age = { .count = 1, .max_age_s = 4500 };
	backup_retention_select(b, 7, &age, now, del, &nd, &wal);
	assert_int_equal(nd, 1);
	assert_string_equal(b[del[0]].id, "a");
	assert_string_equal(wal, "W2");

	/* Never the newest completed, even when every rule says go. */
	struct backup_policy tiny = { .max_age_s = 1 };
	backup_retention_select(b, 7, &tiny, now, del, &nd, &wal);
	assert_int_equal(nd, 3);
	for (size_t i = 0; i < nd; i++)
		assert_string_not_equal(b[del[i]].id, "f");
	assert_string_equal(wal, "W4");

	/* No rule: keep everything; WAL from the oldest. */
	struct backup_policy none = {};
	backup_retention_select(b, 7, &none, now, del, &nd, &wal);
	assert_int_equal(nd, 0);
	assert_string_equal(wal, "W1");

	/* Only failed/running: nothing selected, no WAL bound. */
	struct backup_item bad[] = { { "x", "failed", now - 99999, "W" }, { "y", "running", now, NULL } };
	backup_retention_select(bad, 2, &tiny, now, del, &nd, &wal);
	assert_int_equal(nd, 0);
	assert_null(wal);
	backup_retention_select(NULL, 0, &keep2, now, del, &nd, &wal);
	assert_int_equal(nd, 0);
	assert_null(wal);

	/* Ties on started_at are broken by id, deterministically. */
	struct backup_item tie[] = { { "m", "completed", 10, "A" }, { "n", "completed", 10, "B" } };
	struct backup_policy one = { .count = 1 };
	backup_retention_select(tie, 2, &one, now, del, &nd, &wal);
	assert_int_equal(nd, 1);
	assert_string_equal(tie[del[0]].id, "m");
	assert_string_equal(wal, "B");
}

static void test_schedule(void **state)
{
	(void)state;
	int64_t now = 100000;
	assert_false(backup_schedule_due(0, 0, 0, false, now));
	assert_true(backup_schedule_due(3600, 0, 0, false, now));
	assert_false(backup_schedule_due(3600, 0, 0, true, now));
	assert_false(backup_schedule_due(3600, now - 3599, 0, false, now));
	assert_true(backup_schedule_due(3600, now - 3600, 0, false, now));
	/* A failed one is retried after min(every, 1 h), not at once. */
	assert_false(backup_schedule_due(86400, now - 90000, now - 60, false, now));
	assert_true(backup_schedule_due(86400, now - 90000, now - 3600, false, now));
	assert_false(backup_schedule_due(600, 0, now - 599, false, now));
	assert_true(backup_schedule_due(600, 0, now - 600, false, now));
	/* An older failure does not hold back a due backup. */
	assert_true(backup_schedule_due(600, now - 700, now - 800, false, now));
}

static void test_restore_select(void **state)
{
	(void)state;
	struct backup_pick b[] = {
		{ "b1", "completed", 100, 200 }, { "b2", "completed", 300, 400 }, { "b3", "failed", 500, 510 },
		{ "b4", "running", 600, 0 },     { "b5", "completed", 700, 800 },
	};
	size_t i = 99;
	assert_int_equal(backup_restore_select(b, 5, NULL, 0, &i), 0);
	assert_string_equal(b[i].id, "b5");
	assert_int_equal(backup_restore_select(b, 5, NULL, 800, &i), 0);
	assert_string_equal(b[i].id, "b2");
	assert_int_equal(backup_restore_select(b, 5, NULL, 801, &i), 0);
	assert_string_equal(b[i].id, "b5");
	assert_int_equal(backup_restore_select(b, 5, NULL, 401, &i), 0);
	assert_string_equal(b[i].id, "b2");
	assert_int_equal(backup_restore_select(b, 5, NULL, 200, &i), -ENOENT);
	assert_int_equal(backup_restore_select(b, 5, "b1", 0, &i), 0);
	assert_string_equal(b[i].id, "b1");
	assert_int_equal(backup_restore_select(b, 5, "b3", 0, &i), -ENOENT);
	assert_int_equal(backup_restore_select(b, 5, "nope", 0, &i), -ENOENT);
	assert_int_equal(backup_restore_select(NULL, 0, NULL, 0, &i), -ENOENT);

	int64_t t;
	assert_int_equal(backup_parse_time("2026-11-23T10:00:00Z", &t), 0);
	assert_int_equal(t, 1795428000);
	assert_int_equal(backup_parse_time("2026-11-23T11:00:00.123+01:00", &t), 0);
	assert_int_equal(t, 1795428000);
	assert_int_equal(backup_parse_time("2026-11-23 10:00:00Z", &t), -EINVAL);
	assert_int_equal(backup_parse_time("2026-11-23T10:00:00", &t), -EINVAL);
	assert_int_equal(backup_parse_time("2026-13-23T10:00:00Z", &t), -EINVAL);
	assert_int_equal(backup_parse_time("2026-11-23T10:00:00Zjunk", &t), -EINVAL);
	assert_true(backup_lsn_ok("0/3000028"));
	assert_true(backup_lsn_ok("AB/FFFFFFFF"));
	assert_false(backup_lsn_ok("0/"));
	assert_false(backup_lsn_ok("/1"));
	assert_false(backup_lsn_ok("0/123456789"));
	assert_false(backup_lsn_ok("0/1 "));
}

static json_t *J(const char *s)
{
	json_t *j = json_loads(s, JSON_REJECT_DUPLICATES, NULL);
	assert_non_null(j);
	return j;
}

#define S3_OK "\"endpoint\":\"https://s3.example:9000\",\"bucket\":\"db-backups\",\"access_key\":\"AK\",\"secret_key\":\"SK\""

static void test_parse_config(void **state)
{
	(void)state;
	char reason[OPS_REASON_MAX];
	struct backup_config_spec spec = {};
	json_t *j = J("{\"s3\":{" S3_OK ",\"prefix\":\"cairn/prod\",\"region\":\"eu-west-1\","
		      "\"session_token\":null,\"virtual_hosted\":true,\"ca_pem\":null},"
		      "\"schedule\":{\"full_every_s\":86400},\"retention\":{\"count\":7,\"max_age_s\":1209600},"
		      "\"compression_level\":5,\"bundle_size\":268435456,\"parallel\":4}");
	assert_int_equal(backup_parse_config(j, &spec, reason), 0);
	assert_string_equal(spec.secret_key, "SK");
	assert_null(spec.session_token);
	assert_int_equal(spec.full_every_s, 86400);
	char *text = json_dumps(spec.config, JSON_COMPACT | JSON_SORT_KEYS);
	assert_null(strstr(text, "SK\""));
	assert_non_null(strstr(text, "\"prefix\":\"cairn/prod\""));
	assert_non_null(strstr(text, "\"parallel\":4"));
	/* Redaction: GET shows "(redacted)" for stored secrets. */
	struct store_backup_config bc = { .config = text, .secret_key = (char *)"sealed" };
	json_t *shown = backup_config_to_json(&bc);
	char *st = json_dumps(shown, JSON_COMPACT);
	assert_non_null(strstr(st, "\"secret_key\":\"(redacted)\""));
	assert_non_null(strstr(st, "\"session_token\":null"));
	free(st);
	json_decref(shown);
	free(text);
	backup_config_spec_done(&spec);
	json_decref(j);

	/* Defaults. */
	j = J("{\"s3\":{" S3_OK "}}");
	assert_int_equal(backup_parse_config(j, &spec, reason), 0);
	assert_int_equal(json_integer_value(json_object_get(spec.config, "compression_level")), 3);
	assert_int_equal(json_integer_value(json_object_get(spec.config, "parallel")), 2);
	assert_string_equal(json_string_value(json_object_get(json_object_get(spec.config, "s3"), "region")),
			    "us-east-1");
	assert_int_equal(spec.full_every_s, 0);
	backup_config_spec_done(&spec);
	json_decref(j);

	static const char *const good_endpoints[] = {
		"http://127.0.0.1:9000", "http://localhost:9000", "http://198.18.0.1:9000",
		"http://198.19.255.2", "https://s3.amazonaws.com", "http://[::1]:9000",
	};
	for (size_t i = 0; i < ELEMENTSOF(good_endpoints); i++) {
		char body[512];
		snprintf(body, sizeof(body),
			 "{\"s3\":{\"endpoint\":\"%s\",\"bucket\":\"bkt\",\"access_key\":\"a\",\"secret_key\":\"s\"}}",
			 good_endpoints[i]);
		j = J(body);
		assert_int_equal(backup_parse_config(j, &spec, reason), 0);
		backup_config_spec_done(&spec);
		json_decref(j);
	}
	static const char *const bad[] = {
		"[]",
		"{}",
		"{\"s3\":{" S3_OK "},\"extra\":1}",
		"{\"s3\":{" S3_OK ",\"x\":1}}",
		"{\"s3\":{\"endpoint\":\"http://10.0.0.1\",\"bucket\":\"bkt\",\"access_key\":\"a\",\"secret_key\":\"s\"}}",
		"{\"s3\":{\"endpoint\":\"http://198.20.0.1\",\"bucket\":\"bkt\",\"access_key\":\"a\",\"secret_key\":\"s\"}}",
		"{\"s3\":{\"endpoint\":\"ftp://x\",\"bucket\":\"bkt\",\"access_key\":\"a\",\"secret_key\":\"s\"}}",
		"{\"s3\":{\"endpoint\":\"https://u:p@x\",\"bucket\":\"bkt\",\"access_key\":\"a\",\"secret_key\":\"s\"}}",
		"{\"s3\":{\"endpoint\":\"https://\",\"bucket\":\"bkt\",\"access_key\":\"a\",\"secret_key\":\"s\"}}",
		"{\"s3\":{\"endpoint\":\"https://x\",\"bucket\":\"Bkt\",\"access_key\":\"a\",\"secret_key\":\"s\"}}",
		"{\"s3\":{\"endpoint\":\"https://x\",\"bucket\":\"ab\",\"access_key\":\"a\",\"secret_key\":\"s\"}}",
		"{\"s3\":{\"endpoint\":\"https://x\",\"bucket\":\"a..b\",\"access_key\":\"a\",\"secret_key\":\"s\"}}",
		"{\"s3\":{\"endpoint\":\"https://x\",\"bucket\":\"-ab\",\"access_key\":\"a\",\"secret_key\":\"s\"}}",
		"{\"s3\":{\"endpoint\":\"https://x\",\"bucket\":\"192.168.1.1\",\"access_key\":\"a\",\"secret_key\":\"s\"}}",
		"{\"s3\":{" S3_OK ",\"prefix\":\"/a\"}}",
		"{\"s3\":{" S3_OK ",\"prefix\":\"a/\"}}",
		"{\"s3\":{" S3_OK ",\"prefix\":\"a//b\"}}",
		"{\"s3\":{" S3_OK ",\"prefix\":\"a/../b\"}}",
		"{\"s3\":{" S3_OK ",\"prefix\":\"a b\"}}",
		"{\"s3\":{" S3_OK ",\"region\":\"EU\"}}",
		"{\"s3\":{" S3_OK ",\"region\":\"\"}}",
		"{\"s3\":{" S3_OK ",\"virtual_hosted\":1}}",
		"{\"s3\":{" S3_OK ",\"ca_pem\":\"nope\"}}",
		"{\"s3\":{" S3_OK ",\"session_token\":\"\"}}",
		"{\"s3\":{\"endpoint\":\"https://x\",\"bucket\":\"bkt\",\"access_key\":\"a\"}}",
		"{\"s3\":{\"endpoint\":\"https://x\",\"bucket\":\"bkt\",\"secret_key\":\"a\"}}",
		"{\"s3\":{\"endpoint\":\"https://x\",\"bucket\":\"bkt\",\"access_key\":\"a\",\"secret_key\":\"s\\n\"}}",
		"{\"s3\":{" S3_OK "},\"schedule\":{\"full_every_s\":10}}",
		"{\"s3\":{" S3_OK "},\"schedule\":{\"every\":3600}}",
		"{\"s3\":{" S3_OK "},\"retention\":{\"count\":0}}",
		"{\"s3\":{" S3_OK "},\"retention\":[]}",
		"{\"s3\":{" S3_OK "},\"compression_level\":20}",
		"{\"s3\":{" S3_OK "},\"compression_level\":\"3\"}",
		"{\"s3\":{" S3_OK "},\"bundle_size\":1}",
		"{\"s3\":{" S3_OK "},\"parallel\":0}",
		"{\"s3\":{" S3_OK "},\"parallel\":17}",
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		j = J(bad[i]);
		reason[0] = 0;
		if (backup_parse_config(j, &spec, reason) != -EINVAL)
			fail_msg("accepted: %s", bad[i]);
		assert_true(reason[0] != 0);
		json_decref(j);
	}
}

static void test_api_parsers(void **state)
{
	(void)state;
	char reason[OPS_REASON_MAX];
	struct ops_restore_spec r;
	bool drill;
	json_t *j;

	assert_int_equal(abk_parse_backup_now(NULL, reason), 0);
	j = J("{}");
	assert_int_equal(abk_parse_backup_now(j, reason), 0);
	json_decref(j);
	j = J("{\"x\":1}");
	assert_int_equal(abk_parse_backup_now(j, reason), -EINVAL);
	json_decref(j);

	assert_int_equal(abk_parse_verify(NULL, &drill, reason), 0);
	assert_false(drill);
	j = J("{\"drill\":true}");
	assert_int_equal(abk_parse_verify(j, &drill, reason), 0);
	assert_true(drill);
	json_decref(j);
	j = J("{\"drill\":1}");
	assert_int_equal(abk_parse_verify(j, &drill, reason), -EINVAL);
	json_decref(j);

	j = J("{\"name\":\"copy\"}");
	assert_int_equal(abk_parse_restore(j, &r, reason), 0);
	assert_string_equal(r.name, "copy");
	assert_int_equal(r.nodes, 1);
	assert_null(r.backup_id);
	assert_int_equal(r.target_time, 0);
	assert_false(r.in_place);
	json_decref(j);
	j = J("{\"name\":\"copy\",\"nodes\":3,\"target\":{\"time\":\"2026-11-23T10:00:00Z\"},\"in_place\":true}");
	assert_int_equal(abk_parse_restore(j, &r, reason), 0);
	assert_int_equal(r.nodes, 3);
	assert_int_equal(r.target_time, 1795428000);
	assert_true(r.in_place);
	json_decref(j);
	j = J("{\"name\":\"copy\",\"target\":{\"lsn\":\"0/3000028\"},"
	      "\"backup_id\":\"0b7c3e7e-2a51-4e0e-9f44-3a8d2c1b0a11\"}");
	assert_int_equal(abk_parse_restore(j, &r, reason), 0);
	assert_string_equal(r.target_lsn, "0/3000028");
	json_decref(j);
	static const char *const bad[] = {
		"{}", "{\"name\":1}", "{\"name\":\"a\",\"nodes\":0}", "{\"name\":\"a\",\"nodes\":10}",
		"{\"name\":\"a\",\"backup_id\":\"x\"}", "{\"name\":\"a\",\"target\":{}}",
		"{\"name\":\"a\",\"target\":{\"time\":\"yesterday\"}}", "{\"name\":\"a\",\"target\":{\"lsn\":\"3\"}}",
		"{\"name\":\"a\",\"target\":{\"time\":\"2026-11-23T10:00:00Z\",\"lsn\":\"0/1\"}}",
		"{\"name\":\"a\",\"target\":{\"xid\":5}}", "{\"name\":\"a\",\"in_place\":\"yes\"}",
		"{\"name\":\"a\",\"x\":1}",
		"{\"name\":\"a\",\"backup_id\":\"0b7c3e7e-2a51-4e0e-9f44-3a8d2c1b0a11\",\"target\":{\"time\":\"2026-11-23T10:00:00Z\"}}",
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		j = J(bad[i]);
		if (abk_parse_restore(j, &r, reason) != -EINVAL)
			fail_msg("accepted: %s", bad[i]);
		json_decref(j);
	}

	assert_int_equal(abk_bytes_done_from_message("bytes_done=1234 bytes_total=5000"), 1234);
	assert_int_equal(abk_bytes_done_from_message("{\"bytes_done\": 77}"), 77);
	assert_int_equal(abk_bytes_done_from_message("started"), -1);
	assert_int_equal(abk_bytes_done_from_message(NULL), -1);
	assert_int_equal(abk_bytes_done_from_message("bytes_done=99999999999999999999999"), -1);
}

/* ---- store ---------------------------------------------------------------- */

static void sql(sqlite3 *db, const char *q)
{
	char *err = NULL;
	if (sqlite3_exec(db, q, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", q, err);
}

/* A database at version 2 with a datastore, an operation and its steps
 * is migrated: rows kept, new kinds accepted, foreign keys intact. */
static void test_migration_v2(void **state)
{
	struct fixture *f = *state;
	char *path = path_join(f->dir, STORE_DB_NAME), *err = NULL;
	sqlite3 *db = NULL;
	int64_t now = now_s();

	/* Turn the fresh v3 database back into what version 2 made. */
	store_close(f->c.store);
	f->c.store = NULL;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sql(db, "PRAGMA foreign_keys=OFF;"
		"DROP TABLE backups; DROP TABLE backup_configs; DROP TABLE ds_data_keys;"
		"CREATE TABLE operations_v2 (id TEXT PRIMARY KEY, seq BIGINT NOT NULL UNIQUE,"
		" ds_id TEXT NOT NULL REFERENCES datastores (id), kind TEXT NOT NULL CHECK (kind IN"
		" ('create','add_node','remove_node','configure','destroy')), state TEXT NOT NULL CHECK"
		" (state IN ('running','succeeded','failed')), params TEXT NOT NULL, message TEXT,"
		" created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, finished_at BIGINT);"
		"DROP TABLE operations; ALTER TABLE operations_v2 RENAME TO operations;"
		"CREATE INDEX operations_ds ON operations (ds_id, seq);"
		"CREATE INDEX operations_state ON operations (state);"
		"DELETE FROM schema_migrations WHERE version = 3;"
		"INSERT INTO datastores (id, name, engine, version, port, state, epoch, settings, size,"
		" admin_user, created_at, updated_at) VALUES ('d1', 'shop', 'postgres', '15', 5432, 'ready',"
		" 1, '{}', '{}', 'cairn_admin', 1, 1);"
		"INSERT INTO operations (id, seq, ds_id, kind, state, params, created_at, updated_at)"
		" VALUES ('o1', 1, 'd1', 'create', 'succeeded', '{}', 1, 1);"
		"INSERT INTO op_steps (op_id, idx, name, kind, member_ordinal, deps, args, state)"
		" VALUES ('o1', 0, 'finish', 'internal', -1, '[]', '{}', 'succeeded');");
	/* The old CHECK refuses the new kinds. */
	assert_int_not_equal(sqlite3_exec(db, "INSERT INTO operations (id, seq, ds_id, kind, state, params,"
					      " created_at, updated_at) VALUES ('o9', 9, 'd1', 'backup',"
					      " 'running', '{}', 1, 1)",
					  NULL, NULL, NULL),
			     SQLITE_OK);
	sqlite3_close(db);

	assert_int_equal(store_open(f->dir, &f->c.store, &err), 0);
	assert_int_equal(store_schema_version(f->c.store), 3);
	struct store_operation op = {};
	assert_int_equal(store_operation_get(f->c.store, "o1", &op), 0);
	assert_string_equal(op.kind, "create");
	store_operation_done(&op);
	struct store_step *steps = NULL;
	size_t n = 0;
	assert_int_equal(store_step_list(f->c.store, "o1", &steps, &n), 0);
	assert_int_equal(n, 1);
	store_step_array_free(steps, n);

	/* New kinds, the catalogue and configurations work. */
	struct store_operation o2 = { .id = "o2", .ds_id = "d1", .kind = (char *)"backup",
				      .state = (char *)"running", .params = (char *)"{}",
				      .created_at = now, .updated_at = now };
	assert_int_equal(store_operation_insert(f->c.store, &o2, NULL, 0), 0);
	struct store_backup b = { .id = "b1", .ds_id = "d1", .state = (char *)"running",
				  .operation_id = (char *)"o2", .started_at = now - 10 };
	assert_int_equal(store_backup_insert(f->c.store, &b), 0);
	assert_int_equal(store_backup_fail_running(f->c.store, "o2", "it broke", now), 0);
	struct store_backup got = {};
	assert_int_equal(store_backup_get(f->c.store, "b1", &got), 0);
	assert_string_equal(got.state, "failed");
	assert_string_equal(got.message, "it broke");
	assert_int_equal(got.duration_ms, 10000);
	store_backup_done(&got);
	/* A foreign key still holds: a backup of no datastore is refused. */
	struct store_backup orphan = { .id = "b2", .ds_id = "nope", .state = (char *)"running",
				       .started_at = now };
	assert_int_not_equal(store_backup_insert(f->c.store, &orphan), 0);
	struct store_backup_config bc = { .ds_id = "d1", .config = (char *)"{}", .secret_key = (char *)"x",
					  .full_every_s = 3600, .created_at = now, .updated_at = now };
	assert_int_equal(store_backup_config_put(f->c.store, &bc), 0);
	bc.full_every_s = 7200;
	bc.secret_key = NULL;
	assert_int_equal(store_backup_config_put(f->c.store, &bc), 0);
	struct store_backup_config g = {};
	assert_int_equal(store_backup_config_get(f->c.store, "d1", &g), 0);
	assert_int_equal(g.full_every_s, 7200);
	assert_null(g.secret_key);
	store_backup_config_done(&g);
	assert_int_equal(store_backup_config_delete(f->c.store, "d1"), 0);
	assert_int_equal(store_backup_config_delete(f->c.store, "d1"), -ENOENT);
	assert_int_equal(store_data_key_insert(f->c.store, "d1", "k1", now), 0);
	assert_int_equal(store_data_key_insert(f->c.store, "d1", "k2", now), -EEXIST);
	char *k = NULL;
	assert_int_equal(store_data_key_get(f->c.store, "d1", &k), 0);
	assert_string_equal(k, "k1");
	free(k);
	free(path);
}

/* ---- operations ------------------------------------------------------------ */

/* A ready datastore with `n` enrolled members (0 the primary) made
 * directly in the store. */
static void ready_datastore(struct fixture *f, const char *name, int n, char ds_id[static UUID_STRING_MAX])
{
	int64_t now = now_s();
	struct store_datastore d = { .name = (char *)name, .engine = (char *)"postgres",
				     .version = (char *)"15", .port = 5432, .state = (char *)"ready",
				     .epoch = 1, .settings = (char *)"{}", .size = (char *)"{}",
				     .admin_user = (char *)"cairn_admin", .next_ordinal = n,
				     .created_at = now, .updated_at = now };
	char nodes[9][UUID_STRING_MAX];
	assert_int_equal(uuid_random(d.id), 0);
	for (int i = 0; i < n; i++) {
		char nm[64], hash[8];
		snprintf(nm, sizeof(nm), "%s-%d", name, i);
		snprintf(hash, sizeof(hash), "h%s%d", name, i);
		assert_int_equal(uuid_random(nodes[i]), 0);
		assert_int_equal(store_node_create(f->c.store, nodes[i], nm, hash, now + 600, now), 0);
		assert_int_equal(store_node_enroll(f->c.store, nodes[i], hash, now, "01", now + 600), 0);
	}
	d.primary_node_id = nodes[0];
	assert_int_equal(store_datastore_insert(f->c.store, &d), 0);
	for (int i = 0; i < n; i++) {
		char nm[64];
		snprintf(nm, sizeof(nm), "%s-%d", name, i);
		struct store_member m = { .ordinal = i, .name = nm, .role = (char *)(i ? "replica" : "primary"),
					  .state = (char *)"ready", .address = (char *)"198.18.0.10",
					  .created_at = now, .updated_at = now };
		snprintf(m.ds_id, sizeof(m.ds_id), "%s", d.id);
		snprintf(m.node_id, sizeof(m.node_id), "%s", nodes[i]);
		assert_int_equal(store_member_insert(f->c.store, &m), 0);
	}
	memcpy(ds_id, d.id, UUID_STRING_MAX);
}

/* Answers the running job steps of `op` named `type` (NULL: any) with
 * `state` and `output`; returns how many. */
static int answer(struct fixture *f, const char *op, const char *type, int ordinal,
		  enum cairn_job_state state, const char *output)
{
	struct store_step *steps = NULL;
	size_t n = 0;
	int done = 0;
	ops_tick(f->c.ops, now_s());
	assert_int_equal(store_step_list(f->c.store, op, &steps, &n), 0);
	for (size_t i = 0; i < n; i++) {
		struct store_job job = {};
		if (!streq(steps[i].state, "running") || !steps[i].job_id)
			continue;
		if ((type && !streq(steps[i].name, type)) || (ordinal >= 0 && steps[i].member_ordinal != ordinal))
			continue;
		assert_int_equal(store_job_get(f->c.store, steps[i].job_id, &job), 0);
		if (!cairn_job_state_is_final(job.state)) {
			assert_int_equal(runner_result(f->c.runner, job.node_id, job.id, state,
						       state == CAIRN_JOB_SUCCEEDED ? "done" : "it broke", output),
					 0);
			done++;
		}
		store_job_done(&job);
	}
	store_step_array_free(steps, n);
	return done;
}

static const char *step_state(struct fixture *f, const char *op, const char *name, int ordinal)
{
	static char st[32];
	struct store_step *steps = NULL;
	size_t n = 0;
	st[0] = 0;
	assert_int_equal(store_step_list(f->c.store, op, &steps, &n), 0);
	for (size_t i = 0; i < n; i++)
		if (streq(steps[i].name, name) && (ordinal < 0 || steps[i].member_ordinal == ordinal))
			snprintf(st, sizeof(st), "%s", steps[i].state);
	store_step_array_free(steps, n);
	return st;
}

static const char *op_state(struct fixture *f, const char *op)
{
	static char st[32];
	struct store_operation o = {};
	ops_tick(f->c.ops, now_s());
	assert_int_equal(store_operation_get(f->c.store, op, &o), 0);
	snprintf(st, sizeof(st), "%s", o.state);
	store_operation_done(&o);
	return st;
}

static void test_operations(void **state)
{
	struct fixture *f = *state;
	char ds[UUID_STRING_MAX], op[UUID_STRING_MAX], reason[OPS_REASON_MAX], bid[UUID_STRING_MAX];
	struct backup_config_spec spec = {};
	ready_datastore(f, "shop", 2, ds);

	/* No configuration: no backup. */
	assert_int_equal(ops_backup(f->c.ops, ds, bid, op, reason), -EPERM);

	json_t *body = J("{\"s3\":{\"endpoint\":\"http://127.0.0.1:9000\",\"bucket\":\"bkt\","
			 "\"access_key\":\"AK\",\"secret_key\":\"the-s3-secret\"},"
			 "\"retention\":{\"count\":1},\"schedule\":{\"full_every_s\":3600}}");
	assert_int_equal(backup_parse_config(body, &spec, reason), 0);
	assert_int_equal(ops_backup_configure(f->c.ops, "shop", &spec, op, reason), 0);
	backup_config_spec_done(&spec);
	json_decref(body);
	char *cfg = read_column(f, "backup_configs", "config");
	assert_null(strstr(cfg, "the-s3-secret"));
	free(cfg);
	cfg = read_column(f, "backup_configs", "secret_key");
	assert_null(strstr(cfg, "the-s3-secret"));
	free(cfg);

	/* backup.configure on both; only the primary needs a restart. */
	assert_int_equal(answer(f, op, "backup.configure", 1, CAIRN_JOB_SUCCEEDED, "{\"restart_needed\":false}"), 1);
	assert_int_equal(answer(f, op, "backup.configure", 0, CAIRN_JOB_SUCCEEDED, "{\"restart_needed\":true}"), 1);
	ops_tick(f->c.ops, now_s());
	assert_string_equal(step_state(f, op, "pg.service", 1), "succeeded"); /* skipped */
	assert_string_equal(step_state(f, op, "pg.service", 0), "running");
	assert_int_equal(answer(f, op, "pg.service", 0, CAIRN_JOB_SUCCEEDED, "{\"restarted\":true}"), 1);
	assert_string_equal(op_state(f, op), "succeeded");
	char *params = read_column(f, "jobs", "params");
	assert_null(strstr(params, "the-s3-secret"));
	free(params);

	/* "(redacted)" keeps the stored secret; none stored → refused. */
	body = J("{\"s3\":{\"endpoint\":\"http://127.0.0.1:9000\",\"bucket\":\"bkt\","
		 "\"access_key\":\"AK\",\"secret_key\":\"(redacted)\",\"session_token\":\"(redacted)\"}}");
	assert_int_equal(backup_parse_config(body, &spec, reason), 0);
	assert_int_equal(ops_backup_configure(f->c.ops, ds, &spec, op, reason), -EINVAL);
	assert_non_null(strstr(reason, "session_token"));
	backup_config_spec_done(&spec);
	json_decref(body);
	body = J("{\"s3\":{\"endpoint\":\"http://127.0.0.1:9000\",\"bucket\":\"bkt\","
		 "\"access_key\":\"AK2\",\"secret_key\":\"(redacted)\"},\"retention\":{\"count\":1},"
		 "\"schedule\":{\"full_every_s\":3600}}");
	assert_int_equal(backup_parse_config(body, &spec, reason), 0);
	assert_int_equal(ops_backup_configure(f->c.ops, ds, &spec, op, reason), 0);
	backup_config_spec_done(&spec);
	json_decref(body);
	/* Its backup.configure params carry the old secret in the signed job. */
	struct store_step *steps = NULL;
	size_t n = 0;
	ops_tick(f->c.ops, now_s());
	assert_int_equal(store_step_list(f->c.store, op, &steps, &n), 0);
	struct store_job job = {};
	assert_int_equal(store_job_get(f->c.store, steps[0].job_id, &job), 0);
	json_t *jp = json_loads(job.params, 0, NULL);
	assert_int_equal(secrets_job_open(f->c.keys->kek, job.id, job.type, jp), 2);
	assert_string_equal(json_string_value(json_object_get(json_object_get(jp, "s3"), "secret_key")),
			    "the-s3-secret");
	assert_string_equal(json_string_value(json_object_get(json_object_get(jp, "s3"), "access_key")), "AK2");
	const char *dk = json_string_value(json_object_get(jp, "data_key"));
	assert_non_null(dk);
	assert_int_equal(strlen(dk), 44);
	char *key_b64 = NULL;
	assert_int_equal(backup_data_key_b64(&f->c, ds, &key_b64), 0);
	assert_string_equal(key_b64, dk);
	free(key_b64);
	json_decref(jp);
	store_job_done(&job);
	store_step_array_free(steps, n);
	answer(f, op, "backup.configure", -1, CAIRN_JOB_SUCCEEDED, "{\"restart_needed\":false}");
	assert_string_equal(op_state(f, op), "succeeded");

	/* A backup: no status reports, so the primary takes it. */
	char op1[UUID_STRING_MAX], b1[UUID_STRING_MAX];
	assert_int_equal(ops_backup(f->c.ops, ds, b1, op1, reason), 0);
	assert_int_equal(ops_backup(f->c.ops, ds, bid, op, reason), -EBUSY);
	/* the node's keys first (every backup and verify starts with it) */
	answer(f, op1, "backup.configure", -1, CAIRN_JOB_SUCCEEDED, "{\"restart_needed\":false}");
	assert_int_equal(answer(f, op1, "backup.full", 0, CAIRN_JOB_SUCCEEDED,
				"{\"backup_id\":\"x\",\"started_at\":\"2026-11-23T10:00:00Z\","
				"\"finished_at\":\"2026-11-23T10:01:00Z\",\"timeline\":1,\"start_lsn\":\"0/3000028\","
				"\"stop_lsn\":\"0/3000138\",\"start_wal\":\"000000010000000000000003\","
				"\"stop_wal\":\"000000010000000000000003\",\"plain_bytes\":1000,\"stored_bytes\":300,"
				"\"files\":12,\"duration_ms\":60000}"),
			 1);
	/* Retention with one backup: nothing to delete, but the WAL bound. */
	ops_tick(f->c.ops, now_s());
	assert_int_equal(answer(f, op1, "backup.delete", 0, CAIRN_JOB_SUCCEEDED, "{}"), 1);
	assert_string_equal(op_state(f, op1), "succeeded");
	struct store_backup b = {};
	assert_int_equal(store_backup_get(f->c.store, b1, &b), 0);
	assert_string_equal(b.state, "completed");
	assert_true(b.started_at > 1795428000); /* the controller's */
	assert_int_equal(b.finished_at, 1795428060);
	assert_int_equal(b.duration_ms, 60000);
	assert_int_equal(b.plain_bytes, 1000);
	assert_int_equal(b.files, 12);
	assert_string_equal(b.start_wal, "000000010000000000000003");
	store_backup_done(&b);
	struct store_datastore d = {};
	assert_int_equal(store_datastore_get(f->c.store, ds, &d), 0);
	assert_string_equal(d.state, "ready");
	store_datastore_done(&d);

	/* A failed backup fails its row and operation, not the datastore. */
	char op2[UUID_STRING_MAX], b2[UUID_STRING_MAX];
	assert_int_equal(ops_backup(f->c.ops, ds, b2, op2, reason), 0);
	/* the node's keys first (every backup and verify starts with it) */
	answer(f, op2, "backup.configure", -1, CAIRN_JOB_SUCCEEDED, "{\"restart_needed\":false}");
	assert_int_equal(answer(f, op2, "backup.full", -1, CAIRN_JOB_REJECTED, NULL), 1);
	assert_string_equal(op_state(f, op2), "failed");
	assert_int_equal(store_backup_get(f->c.store, b2, &b), 0);
	assert_string_equal(b.state, "failed");
	assert_non_null(strstr(b.message, "it broke"));
	store_backup_done(&b);
	assert_int_equal(store_datastore_get(f->c.store, ds, &d), 0);
	assert_string_equal(d.state, "ready");
	store_datastore_done(&d);

	/* A second good one: retention (count 1) deletes the first (made
	 * older: three backups within one second would tie). */
	char op3[UUID_STRING_MAX], b3[UUID_STRING_MAX], q[256];
	snprintf(q, sizeof(q), "UPDATE backups SET started_at = started_at - 100 WHERE id = '%s'", b1);
	db_exec(f, q);
	assert_int_equal(ops_backup(f->c.ops, ds, b3, op3, reason), 0);
	/* the node's keys first (every backup and verify starts with it) */
	answer(f, op3, "backup.configure", -1, CAIRN_JOB_SUCCEEDED, "{\"restart_needed\":false}");
	assert_int_equal(answer(f, op3, "backup.full", -1, CAIRN_JOB_SUCCEEDED,
				"{\"start_wal\":\"000000010000000000000007\",\"plain_bytes\":1}"),
			 1);
	ops_tick(f->c.ops, now_s());
	assert_int_equal(store_step_list(f->c.store, op3, &steps, &n), 0);
	/* steps: backup.configure, backup.full, backup.delete, finish */
	assert_string_equal(steps[2].name, "backup.delete");
	assert_int_equal(store_job_get(f->c.store, steps[2].job_id, &job), 0);
	jp = json_loads(job.params, 0, NULL);
	assert_int_equal(json_array_size(json_object_get(jp, "backup_ids")), 1);
	assert_string_equal(json_string_value(json_array_get(json_object_get(jp, "backup_ids"), 0)), b1);
	assert_string_equal(json_string_value(json_object_get(jp, "wal_before")), "000000010000000000000007");
	json_decref(jp);
	store_job_done(&job);
	store_step_array_free(steps, n);
	assert_int_equal(store_backup_get(f->c.store, b1, &b), 0);
	assert_string_equal(b.state, "deleting");
	store_backup_done(&b);
	assert_int_equal(answer(f, op3, "backup.delete", -1, CAIRN_JOB_SUCCEEDED, "{}"), 1);
	assert_string_equal(op_state(f, op3), "succeeded");
	assert_int_equal(store_backup_get(f->c.store, b1, &b), 0);
	assert_string_equal(b.state, "deleted");
	store_backup_done(&b);

	/* Verify with a drill. */
	assert_int_equal(ops_verify(f->c.ops, b1, false, op, reason), -EPERM); /* deleted */
	assert_int_equal(ops_verify(f->c.ops, b3, true, op, reason), 0);
	/* the node's keys first (every backup and verify starts with it) */
	answer(f, op, "backup.configure", -1, CAIRN_JOB_SUCCEEDED, "{\"restart_needed\":false}");
	assert_int_equal(answer(f, op, "backup.verify", -1, CAIRN_JOB_SUCCEEDED, "{\"files\":1}"), 1);
	ops_tick(f->c.ops, now_s());
	assert_int_equal(store_backup_get(f->c.store, b3, &b), 0);
	assert_null(b.verify_state);
	store_backup_done(&b);
	assert_int_equal(answer(f, op, "backup.drill", -1, CAIRN_JOB_SUCCEEDED, "{}"), 1);
	assert_string_equal(op_state(f, op), "succeeded");
	assert_int_equal(store_backup_get(f->c.store, b3, &b), 0);
	assert_string_equal(b.verify_state, "ok");
	assert_true(b.verified_at > 0);
	store_backup_done(&b);

	/* Restore into a new datastore: pg.restore instead of pg.init. */
	char nds[UUID_STRING_MAX], *password = NULL;
	struct ops_restore_spec rs = { .source = "shop", .name = "shop-copy", .nodes = 2 };
	rs.in_place = true;
	assert_int_equal(ops_restore(f->c.ops, &rs, nds, op, &password, reason), -EOPNOTSUPP);
	assert_non_null(strstr(reason, "not implemented"));
	rs.in_place = false;
	rs.target_time = 1795428000; /* before every backup finished */
	rs.target_time_text = "2026-11-23T10:00:00Z";
	assert_int_equal(ops_restore(f->c.ops, &rs, nds, op, &password, reason), -ENOENT);
	rs.target_time = 0;
	rs.target_lsn = "0/3000200";
	assert_int_equal(ops_restore(f->c.ops, &rs, nds, op, &password, reason), 0);
	assert_non_null(password);
	freezero_strp(&password);
	assert_int_equal(store_datastore_get(f->c.store, nds, &d), 0);
	assert_string_equal(d.state, "creating");
	store_operation_done(&(struct store_operation){});
	assert_int_equal(store_step_list(f->c.store, op, &steps, &n), 0);
	bool init = false;
	ssize_t ri = -1;
	for (size_t i = 0; i < n; i++) {
		init = init || streq(steps[i].name, "pg.init");
		if (streq(steps[i].name, "pg.restore"))
			ri = (ssize_t)i;
	}
	assert_false(init);
	assert_true(ri >= 0);
	assert_int_equal(steps[ri].member_ordinal, 0);
	json_t *params_o = NULL;
	assert_int_equal(backup_step_params(&f->c, &d, &steps[ri], &params_o, reason), 0);
	assert_string_equal(json_string_value(json_object_get(params_o, "backup_id")), b3);
	json_t *src = json_object_get(params_o, "source");
	assert_string_equal(json_string_value(json_object_get(src, "ds_id")), ds);
	assert_string_equal(json_string_value(json_object_get(json_object_get(src, "s3"), "secret_key")),
			    "the-s3-secret");
	assert_int_equal(strlen(json_string_value(json_object_get(src, "data_key"))), 44);
	assert_string_equal(json_string_value(json_object_get(json_object_get(params_o, "target"), "type")), "lsn");
	assert_non_null(strstr(json_string_value(json_object_get(params_o, "admin_verifier")), "SCRAM-SHA-256$"));
	assert_string_equal(json_string_value(json_object_get(params_o, "cluster_name")), "shop-copy");
	json_decref(params_o);
	store_step_array_free(steps, n);
	/* The new datastore has its own data key once asked. */
	uint8_t k1[32], k2[32];
	assert_int_equal(backup_data_key(&f->c, ds, k1), 0);
	assert_int_equal(backup_data_key(&f->c, nds, k2), 0);
	assert_memory_not_equal(k1, k2, 32);
	store_datastore_done(&d);
}

/* The scheduler: due, then not again while running or recent. */
static void test_scheduler(void **state)
{
	struct fixture *f = *state;
	char ds[UUID_STRING_MAX], op[UUID_STRING_MAX], reason[OPS_REASON_MAX];
	struct backup_config_spec spec = {};
	struct store_backup *b = NULL;
	size_t n = 0;
	ready_datastore(f, "sched", 1, ds);
	json_t *body = J("{\"s3\":{\"endpoint\":\"https://s3.example\",\"bucket\":\"bkt\",\"access_key\":\"AK\","
			 "\"secret_key\":\"SK\"},\"schedule\":{\"full_every_s\":3600}}");
	assert_int_equal(backup_parse_config(body, &spec, reason), 0);
	assert_int_equal(ops_backup_configure(f->c.ops, ds, &spec, op, reason), 0);
	backup_config_spec_done(&spec);
	json_decref(body);
	/* Busy configuring: nothing scheduled. */
	backup_schedule_tick(&f->c, now_s());
	assert_int_equal(store_backup_list(f->c.store, ds, NULL, &b, &n), 0);
	assert_int_equal(n, 0);
	store_backup_array_free(b, n);
	answer(f, op, "backup.configure", -1, CAIRN_JOB_SUCCEEDED, "{\"restart_needed\":false}");
	assert_string_equal(op_state(f, op), "succeeded");
	backup_schedule_tick(&f->c, now_s());
	backup_schedule_tick(&f->c, now_s());
	assert_int_equal(store_backup_list(f->c.store, ds, NULL, &b, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(b[0].state, "running");
	store_backup_array_free(b, n);
	/* A backup_config that failed stops the schedule until it is set again. */
	char sop[UUID_STRING_MAX];
	body = J("{\"s3\":{\"endpoint\":\"https://s3.example\",\"bucket\":\"bkt\",\"access_key\":\"AK\","
		 "\"secret_key\":\"(redacted)\"},\"schedule\":{\"full_every_s\":3600}}");
	assert_int_equal(backup_parse_config(body, &spec, reason), 0);
	/* (the running backup blocks a new operation: finish it first) */
	assert_int_equal(store_backup_list(f->c.store, ds, NULL, &b, &n), 0);
	snprintf(sop, sizeof(sop), "%s", b[0].operation_id);
	store_backup_array_free(b, n);
	/* the node's keys first (every backup and verify starts with it) */
	answer(f, sop, "backup.configure", -1, CAIRN_JOB_SUCCEEDED, "{\"restart_needed\":false}");
	answer(f, sop, "backup.full", -1, CAIRN_JOB_SUCCEEDED, "{}");
	answer(f, sop, "backup.delete", -1, CAIRN_JOB_SUCCEEDED, "{}");
	assert_string_equal(op_state(f, sop), "succeeded");
	assert_int_equal(ops_backup_configure(f->c.ops, ds, &spec, op, reason), 0);
	backup_config_spec_done(&spec);
	json_decref(body); /* spec borrowed its strings */
	answer(f, op, "backup.configure", -1, CAIRN_JOB_REJECTED, NULL);
	assert_string_equal(op_state(f, op), "failed");
	backup_schedule_tick(&f->c, now_s() + 7200);
	assert_int_equal(store_backup_list(f->c.store, ds, NULL, &b, &n), 0);
	assert_int_equal(n, 1);
	store_backup_array_free(b, n);

	/* An hour later (the backup still counts while running or done). */
	backup_schedule_tick(&f->c, now_s() + 1800);
	assert_int_equal(store_backup_list(f->c.store, ds, NULL, &b, &n), 0);
	assert_int_equal(n, 1);
	store_backup_array_free(b, n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_secrets_seal_open),
		cmocka_unit_test(test_retention),
		cmocka_unit_test(test_schedule),
		cmocka_unit_test(test_restore_select),
		cmocka_unit_test(test_parse_config),
		cmocka_unit_test(test_api_parsers),
		cmocka_unit_test_setup_teardown(test_secrets_in_store, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migration_v2, setup, teardown),
		cmocka_unit_test_setup_teardown(test_operations, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scheduler, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
