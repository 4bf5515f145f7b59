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
#include "controller.h"
#include "fileio.h"
#include "jws.h"
#include "keys.h"
#include "longpoll.h"
#include "macro.h"
#include "metrics.h"
#include "operations.h"
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_secrets_seal_open),
		cmocka_unit_test_setup_teardown(test_secrets_in_store, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
