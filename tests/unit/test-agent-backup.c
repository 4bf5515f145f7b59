/*
 * test-agent-backup.c: the pure parts of the agent's backups: WAL names and
 * their object names, the control socket's request parser, the manifest
 * checks (paths, offsets, limits), the data-directory exclusions and
 * walker order, the bundle splitter (offsets, digests, truncation, excess,
 * verify-only mode), the data key's decoding and fingerprint, and the key
 * store.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "backup-ctl.h"
#include "backup-keys.h"
#include "backup-manifest.h"
#include "backup-wal.h"
#include "backup-walk.h"
#include "exec.h"
#include "fileio.h"
#include "macro.h"
#include "util.h"

#define DS "3f0e8c52-8d0a-4c1e-9b7a-0a1b2c3d4e5f"

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void rm_rf(const char *dir)
{
	(void)nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void test_wal_names(void **state)
{
	char obj[96], next[25];

	(void)state;
	assert_true(backup_wal_name_is_valid("000000010000000000000003"));
	assert_true(backup_wal_name_is_valid("00000002.history"));
	assert_true(backup_wal_name_is_valid("000000010000000000000003.partial"));
	assert_true(backup_wal_name_is_valid("000000010000000000000003.00000028.backup"));
	assert_false(backup_wal_name_is_valid("00000001000000000000000g"));
	assert_false(backup_wal_name_is_valid("000000010000000000000003/../x"));
	assert_false(backup_wal_name_is_valid("00000001000000000000003"));
	assert_false(backup_wal_name_is_valid("RECOVERYXLOG"));
	assert_false(backup_wal_name_is_valid(""));
	assert_int_equal(backup_wal_object_name("000000010000000000000003", obj), 0);
	assert_string_equal(obj, "wal/00000001/000000010000000000000003");
	assert_int_equal(backup_wal_object_name("00000002.history", obj), 0);
	assert_string_equal(obj, "wal/00000002.history");
	assert_int_equal(backup_wal_object_name("../etc", obj), -EINVAL);
	assert_int_equal(backup_wal_next_segment("0000000100000000000000FF", next), 0);
	assert_string_equal(next, "000000010000000100000000");
	assert_int_equal(backup_wal_next_segment("000000010000000000000003", next), 0);
	assert_string_equal(next, "000000010000000000000004");
}

static void expect_request(const char *line, int want)
{
	struct backup_ctl_request req;

	if (backup_ctl_parse_request(line, strlen(line), &req) != want)
		fail_msg("request '%s': expected %d", line, want);
}

static void test_ctl_parse(void **state)
{
	struct backup_ctl_request req;
	const char *ok = "{\"op\":\"wal-push\",\"ds\":\"" DS "\",\"name\":\"000000010000000000000003\"}";
	char big[BACKUP_CTL_LINE_MAX + 2];

	(void)state;
	assert_int_equal(backup_ctl_parse_request(ok, strlen(ok), &req), 0);
	assert_int_equal(req.op, BACKUP_CTL_WAL_PUSH);
	assert_string_equal(req.ds, DS);
	assert_string_equal(req.name, "000000010000000000000003");
	expect_request("{\"op\":\"wal-fetch\",\"ds\":\"" DS "\",\"name\":\"00000002.history\"}", 0);
	expect_request("{\"op\":\"wal-rm\",\"ds\":\"" DS "\",\"name\":\"000000010000000000000003\"}", -EINVAL);
	expect_request("{\"op\":\"wal-push\",\"ds\":\"" DS "\",\"name\":\"../../etc/passwd\"}", -EINVAL);
	expect_request("{\"op\":\"wal-push\",\"ds\":\"not-a-uuid\",\"name\":\"000000010000000000000003\"}", -EINVAL);
	expect_request("{\"op\":\"wal-push\",\"ds\":\"3F0E8C52-8D0A-4C1E-9B7A-0A1B2C3D4E5F\",\"name\":"
		       "\"000000010000000000000003\"}",
		       -EINVAL);
	expect_request("{\"op\":\"wal-push\",\"ds\":\"" DS "\",\"name\":\"000000010000000000000003\",\"x\":1}",
		       -EINVAL);
	expect_request("{\"op\":\"wal-push\",\"op\":\"wal-push\",\"ds\":\"" DS "\"}", -EINVAL);
	expect_request("[1,2,3]", -EINVAL);
	expect_request("{", -EINVAL);
	assert_int_equal(backup_ctl_parse_request("", 0, &req), -EINVAL);
	memset(big, ' ', sizeof(big));
	assert_int_equal(backup_ctl_parse_request(big, sizeof(big), &req), -EINVAL);
	assert_int_equal(backup_ctl_parse_request("{\"op\"\0:1}", 9, &req), -EINVAL);
}

static json_t *manifest_ok(void)
{
	return json_pack(
		"{s:i,s:s,s:s,s:s,s:s,s:s,s:s,s:i,s:s,s:n,"
		"s:[{s:s,s:i,s:i},{s:s,s:i,s:i}],"
		"s:[{s:s,s:i,s:b},{s:s,s:i,s:i,s:s,s:i,s:i,s:i},{s:s,s:i,s:i,s:s,s:i,s:i,s:i},{s:s,s:i,s:i,s:s,s:i,s:i,s:i}]}",
		"format", 1, "backup_id", "b1", "datastore_id", DS, "start_lsn", "0/3000028", "stop_lsn", "0/3000138",
		"start_wal", "000000010000000000000003", "stop_wal", "000000010000000000000003", "timeline", 1,
		"backup_label", "START WAL LOCATION: 0/3000028 (file 000000010000000000000003)\n", "tablespace_map",
		"bundles", "name", "bundle-0000", "plain_bytes", 15, "stored_bytes", 70, "name", "bundle-0001",
		"plain_bytes", 3, "stored_bytes", 60, "files", "path", "base", "mode", 0700, "dir", 1, "path",
		"base/1", "size", 10, "mode", 0600, "sha256",
		"0000000000000000000000000000000000000000000000000000000000000000", "bundle", 0, "offset", 0, "mtime",
		1, "path", "base/2", "size", 5, "mode", 0600, "sha256",
		"0000000000000000000000000000000000000000000000000000000000000000", "bundle", 0, "offset", 10,
		"mtime", 1, "path", "PG_VERSION", "size", 3, "mode", 0600, "sha256",
		"0000000000000000000000000000000000000000000000000000000000000000", "bundle", 1, "offset", 0, "mtime",
		1);
}

static void expect_manifest_refused(json_t *m, const char *needle)
{
	char reason[256] = "";

	if (backup_manifest_check(m, reason, sizeof(reason)) != -EINVAL)
		fail_msg("manifest accepted (expected '%s')", needle);
	if (!strstr(reason, needle))
		fail_msg("reason '%s' lacks '%s'", reason, needle);
	json_decref(m);
}

static void test_manifest(void **state)
{
	char reason[256] = "", *text;
	json_t *m = manifest_ok(), *back = NULL;

	(void)state;
	assert_non_null(m);
	assert_int_equal(backup_manifest_check(m, reason, sizeof(reason)), 0);
	text = json_dumps(m, JSON_COMPACT);
	assert_int_equal(backup_manifest_parse(text, strlen(text), &back, reason, sizeof(reason)), 0);
	assert_true(json_equal(m, back));
	free(text);
	json_decref(back);
	json_decref(m);

	m = manifest_ok();
	json_object_set_new(json_array_get(json_object_get(m, "files"), 1), "path", json_string("../escape"));
	expect_manifest_refused(m, "bad path");
	m = manifest_ok();
	json_object_set_new(json_array_get(json_object_get(m, "files"), 1), "path", json_string("/etc/passwd"));
	expect_manifest_refused(m, "bad path");
	m = manifest_ok();
	json_object_set_new(json_array_get(json_object_get(m, "files"), 1), "path", json_string("base//1"));
	expect_manifest_refused(m, "bad path");
	m = manifest_ok();
	json_object_set_new(json_array_get(json_object_get(m, "files"), 2), "offset", json_integer(11));
	expect_manifest_refused(m, "offset does not follow");
	m = manifest_ok();
	json_object_set_new(json_array_get(json_object_get(m, "files"), 3), "bundle", json_integer(2));
	expect_manifest_refused(m, "no such bundle");
	m = manifest_ok();
	json_object_set_new(json_array_get(json_object_get(m, "bundles"), 0), "plain_bytes", json_integer(16));
	expect_manifest_refused(m, "plain_bytes");
	m = manifest_ok();
	json_object_set_new(m, "format", json_integer(2));
	expect_manifest_refused(m, "format");
	m = manifest_ok();
	json_object_set_new(m, "stop_wal", json_string("000000010000000000000002"));
	expect_manifest_refused(m, "stop_wal");
	m = manifest_ok();
	json_object_set_new(m, "tablespace_map", json_string("16384 /x"));
	expect_manifest_refused(m, "tablespaces");
	m = manifest_ok();
	json_object_set_new(json_array_get(json_object_get(m, "files"), 1), "size", json_integer(-1));
	expect_manifest_refused(m, "malformed");
	m = manifest_ok();
	json_object_set_new(json_array_get(json_object_get(m, "bundles"), 1), "name", json_string("../x"));
	expect_manifest_refused(m, "bundles[1]");
	assert_int_equal(backup_manifest_parse("{\"a\":1,\"a\":2}", 13, &back, reason, sizeof(reason)), -EINVAL);
	assert_int_equal(backup_manifest_parse("not json", 8, &back, reason, sizeof(reason)), -EINVAL);

	assert_true(backup_id_is_valid("b-0001"));
	assert_false(backup_id_is_valid("../b"));
	assert_false(backup_id_is_valid(""));
}

static void test_verdicts(void **state)
{
	(void)state;
	assert_int_equal(backup_walk_verdict("pg_wal", true), BACKUP_WALK_DIR_ONLY);
	assert_int_equal(backup_walk_verdict("pg_replslot", true), BACKUP_WALK_DIR_ONLY);
	assert_int_equal(backup_walk_verdict("pg_stat_tmp", true), BACKUP_WALK_DIR_ONLY);
	assert_int_equal(backup_walk_verdict("pg_subtrans", true), BACKUP_WALK_DIR_ONLY);
	assert_int_equal(backup_walk_verdict("base/pg_wal", true), BACKUP_WALK_INCLUDE);
	assert_int_equal(backup_walk_verdict("postmaster.pid", false), BACKUP_WALK_SKIP);
	assert_int_equal(backup_walk_verdict("postmaster.opts", false), BACKUP_WALK_SKIP);
	assert_int_equal(backup_walk_verdict("global/pg_internal.init", false), BACKUP_WALK_SKIP);
	assert_int_equal(backup_walk_verdict("base/5/pgsql_tmp", true), BACKUP_WALK_SKIP);
	assert_int_equal(backup_walk_verdict("base/pgsql_tmp123.4", false), BACKUP_WALK_SKIP);
	assert_int_equal(backup_walk_verdict("standby.signal", false), BACKUP_WALK_SKIP);
	assert_int_equal(backup_walk_verdict("recovery.signal", false), BACKUP_WALK_SKIP);
	assert_int_equal(backup_walk_verdict("backup_label", false), BACKUP_WALK_SKIP);
	assert_int_equal(backup_walk_verdict("backup_label.old", false), BACKUP_WALK_SKIP);
	assert_int_equal(backup_walk_verdict("cairn-archive.conf", false), BACKUP_WALK_SKIP);
	assert_int_equal(backup_walk_verdict("cairn-recovery.conf", false), BACKUP_WALK_SKIP);
	assert_int_equal(backup_walk_verdict("cairn.restored", false), BACKUP_WALK_SKIP);
	assert_int_equal(backup_walk_verdict("base/backup_label", false), BACKUP_WALK_INCLUDE);
	assert_int_equal(backup_walk_verdict("base/5/1259", false), BACKUP_WALK_INCLUDE);
	assert_int_equal(backup_walk_verdict("PG_VERSION", false), BACKUP_WALK_INCLUDE);
}

static void put(const char *dir, const char *rel, const char *text)
{
	char *p = path_join(dir, rel);

	assert_non_null(p);
	assert_int_equal(write_string_atomic(p, text, 0600), 0);
	free(p);
}

static void test_walk(void **state)
{
	char tmpl[] = "/tmp/test-bk-walk.XXXXXX", *dir = mkdtemp(tmpl), sub[512];
	struct backup_walk w = { 0 };
	char *msg = NULL;
	const char *want[] = { "PG_VERSION", "base", "base/1", "base/1/1259", "pg_stat_tmp", "pg_wal", NULL };

	(void)state;
	assert_non_null(dir);
	put(dir, "PG_VERSION", "15\n");
	put(dir, "postmaster.pid", "1\n");
	put(dir, "backup_label", "x");
	snprintf(sub, sizeof(sub), "%s/base/1", dir);
	assert_int_equal(mkdir_p(sub, 0700), 0);
	put(dir, "base/1/1259", "data");
	put(dir, "base/1/pg_internal.init", "x");
	snprintf(sub, sizeof(sub), "%s/pg_wal/archive_status", dir);
	assert_int_equal(mkdir_p(sub, 0700), 0);
	put(dir, "pg_wal/000000010000000000000001", "wal");
	snprintf(sub, sizeof(sub), "%s/pg_stat_tmp", dir);
	assert_int_equal(mkdir_p(sub, 0700), 0);
	put(dir, "pg_stat_tmp/x", "t");
	assert_int_equal(backup_walk(dir, &w, &msg), 0);
	for (size_t i = 0; i < w.n || want[i]; i++) {
		if (i >= w.n || !want[i])
			fail_msg("walk: %zu entries, expected %s at %zu", w.n, want[i] ? want[i] : "(end)", i);
		assert_string_equal(w.e[i].path, want[i]);
	}
	assert_true(w.e[1].dir);
	assert_int_equal(w.e[3].size, 4);
	backup_walk_done(&w);

	/* A symbolic link (a tablespace) is refused by name. */
	snprintf(sub, sizeof(sub), "%s/pg_tblspc", dir);
	assert_int_equal(mkdir_p(sub, 0700), 0);
	snprintf(sub, sizeof(sub), "%s/pg_tblspc/16384", dir);
	assert_int_equal(symlink("/tmp", sub), 0);
	assert_int_equal(backup_walk(dir, &w, &msg), -ENOTSUP);
	assert_non_null(msg);
	assert_non_null(strstr(msg, "pg_tblspc/16384"));
	free(msg);
	rm_rf(dir);
}

static void hex_sha(const char *s, size_t n, char ret[65])
{
	assert_int_equal(sha256_hex(s, n, ret), 0);
}

static void test_splitter(void **state)
{
	char tmpl[] = "/tmp/test-bk-split.XXXXXX", *dir = mkdtemp(tmpl);
	char h1[65], h2[65], h3[65], *back = NULL;
	struct backup_splitter s;
	int dfd;

	(void)state;
	assert_non_null(dir);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(dfd >= 0);
	hex_sha("hello", 5, h1);
	hex_sha("", 0, h2);
	hex_sha("world!", 6, h3);
	struct backup_split_file f[] = {
		{ .path = "a/b/one", .size = 5, .mode = 0600, .mtime = 1000, .sha256 = h1 },
		{ .path = "a/empty", .size = 0, .mode = 0600, .mtime = 1000, .sha256 = h2 },
		{ .path = "two", .size = 6, .mode = 0640, .mtime = 1000, .sha256 = h3 },
	};

	/* Any split of the stream gives the same files. */
	assert_int_equal(backup_splitter_init(&s, dfd, f, 3), 0);
	assert_int_equal(backup_splitter_feed(&s, "hel", 3), 0);
	assert_int_equal(backup_splitter_feed(&s, "low", 3), 0);
	assert_int_equal(backup_splitter_feed(&s, "orld!", 5), 0);
	assert_int_equal(backup_splitter_finish(&s), 0);
	backup_splitter_done(&s);
	char p[600];
	snprintf(p, sizeof(p), "%s/a/b/one", dir);
	assert_int_equal(read_file_full(p, 100, &back, NULL), 0);
	assert_string_equal(back, "hello");
	free(back);
	snprintf(p, sizeof(p), "%s/a/empty", dir);
	assert_int_equal(access(p, F_OK), 0);

	/* Verify-only: a wrong byte names the file. */
	assert_int_equal(backup_splitter_init(&s, -1, f, 3), 0);
	assert_int_equal(backup_splitter_feed(&s, "hellX", 5), -EBADMSG);
	assert_non_null(strstr(s.error, "a/b/one"));
	backup_splitter_done(&s);
	/* Short stream. */
	assert_int_equal(backup_splitter_init(&s, -1, f, 3), 0);
	assert_int_equal(backup_splitter_feed(&s, "helloworld", 10), 0);
	assert_int_equal(backup_splitter_finish(&s), -EBADMSG);
	assert_non_null(strstr(s.error, "two"));
	backup_splitter_done(&s);
	/* Excess bytes. */
	assert_int_equal(backup_splitter_init(&s, -1, f, 3), 0);
	assert_int_equal(backup_splitter_feed(&s, "helloworld!!", 12), -EBADMSG);
	backup_splitter_done(&s);
	/* Verify-only writes nothing, and a file that exists is never overwritten. */
	assert_int_equal(backup_splitter_init(&s, dfd, f, 3), 0);
	assert_int_equal(backup_splitter_feed(&s, "hello", 5), -EEXIST);
	backup_splitter_done(&s);
	close(dfd);
	rm_rf(dir);
}

static void test_status_annotate(void **state)
{
	char tmpl[] = "/tmp/test-bk-status.XXXXXX", *dir = mkdtemp(tmpl), sub[512];
	json_t *dbs = json_pack("[{s:s},{s:s},{s:s}]", "ds", DS, "ds", "7c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f", "ds",
				"5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b");
	struct backup_target t = { .ds = "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b" };

	(void)state;
	snprintf(sub, sizeof(sub), "%s/backup", dir);
	assert_int_equal(mkdir_p(sub, 0700), 0);
	put(sub, DS ".json", "{}");
	assert_int_equal(backup_keys_set(&t), 0);
	struct exec_config scfg = { .state_dir = dir, .db_dir = dir };
	backup_status_annotate(dbs, &scfg);
	json_t *b0 = json_object_get(json_array_get(dbs, 0), "backup");
	assert_true(json_is_true(json_object_get(b0, "configured")));
	assert_true(json_is_false(json_object_get(b0, "keys_loaded")));
	assert_null(json_object_get(json_array_get(dbs, 1), "backup"));
	json_t *b2 = json_object_get(json_array_get(dbs, 2), "backup");
	assert_true(json_is_false(json_object_get(b2, "configured")));
	assert_true(json_is_true(json_object_get(b2, "keys_loaded")));
	backup_status_annotate(NULL, &scfg);
	backup_keys_clear();
	json_decref(dbs);
	rm_rf(dir);
}

static void test_keys(void **state)
{
	uint8_t key[32];
	char fp[BACKUP_FINGERPRINT_HEX];
	struct backup_target t = { 0 }, got;
	json_t *s3 = json_pack("{s:s,s:s,s:s,s:s,s:s}", "endpoint", "http://127.0.0.1:9000", "bucket", "b", "prefix",
			       "/p/q/", "access_key", "AK", "secret_key", "SK");
	json_t *dk = json_string("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
	char reason[256];
	char *k;

	(void)state;
	assert_int_equal(backup_key_decode("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", key), 0);
	for (int i = 0; i < 32; i++)
		assert_int_equal(key[i], i);
	assert_int_equal(backup_key_decode("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==", key), -EINVAL);
	assert_int_equal(backup_key_decode("not base64 at all not base64 at all not bas=", key), -EINVAL);
	assert_int_equal(backup_key_fingerprint(key, fp), 0);
	assert_int_equal(strlen(fp), 16);
	assert_int_equal(backup_target_from_json(DS, s3, dk, 0, &t, reason, sizeof(reason)), 0);
	assert_string_equal(t.prefix, "p/q");
	k = backup_object_key(&t, "wal/00000001/000000010000000000000003");
	assert_string_equal(k, "p/q/" DS "/wal/00000001/000000010000000000000003");
	free(k);
	assert_false(backup_keys_loaded(DS));
	assert_int_equal(backup_keys_get(DS, &got), -ENOKEY);
	assert_int_equal(backup_keys_set(&t), 0);
	assert_true(backup_keys_loaded(DS));
	assert_int_equal(backup_keys_get(DS, &got), 0);
	assert_memory_equal(got.data_key, key, 32);
	assert_string_equal(got.secret_key, "SK");
	backup_keys_drop(DS);
	assert_false(backup_keys_loaded(DS));
	/* A refusal names the member, never the value. */
	json_object_set_new(s3, "secret_key", json_integer(5));
	assert_int_equal(backup_check_s3_json(s3, "s3", reason, sizeof(reason)), -EINVAL);
	assert_non_null(strstr(reason, "s3.secret_key"));
	json_decref(s3);
	json_decref(dk);
	backup_target_wipe(&t);
	backup_target_wipe(&got);
}

#define S3OK "{\"endpoint\":\"https://s3.example:9000\",\"bucket\":\"db-backups\",\"prefix\":\"cairn\",\"access_key\":\"AK\",\"secret_key\":\"SECRETVALUE\"}"
#define KEYOK "\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\""
#define VER "SCRAM-SHA-256$4096:c2FsdHNhbHRzYWx0c2FsdA==$c3RvcmVka2V5c3RvcmVka2V5c3RvcmVka2V5c3Q=:c2VydmVya2V5c2VydmVya2V5c2VydmVya2V5c2U="
#define INIT "\"repl_cn\":\"repl." DS "\",\"version\":\"15\",\"port\":5432,\"settings\":{},\"cluster_name\":\"x\",\"admin_verifier\":\"" VER "\""

static void expect_schema(const char *type, const char *params, bool ok, const char *needle)
{
	static const struct exec_config cfg = { .state_dir = "/var/lib/cairn", .db_dir = "/var/lib/cairn-db",
						.tls_dir = "/etc/cairn/tls" };
	const struct exec_type *t = exec_lookup(type, false);
	json_t *p = json_loads(params, 0, NULL);
	char reason[EXEC_REASON_MAX] = "";
	int r;

	assert_non_null(t);
	if (!p)
		fail_msg("bad test JSON: %s", params);
	r = t->validate(p, &cfg, reason, sizeof(reason));
	json_decref(p);
	if (ok && r != 0)
		fail_msg("%s %s refused: %s", type, params, reason);
	if (!ok && r != -EINVAL)
		fail_msg("%s %s accepted", type, params);
	if (needle && !strstr(reason, needle))
		fail_msg("%s: reason '%s' lacks '%s'", type, reason, needle);
	if (strstr(reason, "SECRETVALUE") || strstr(reason, "AAECAwQF") || strstr(reason, "4096:"))
		fail_msg("%s: a secret in the reason '%s'", type, reason);
}

static void test_schemas(void **state)
{
	(void)state;
	expect_schema("backup.configure", "{\"s3\":" S3OK ",\"data_key\":" KEYOK "}", true, NULL);
	expect_schema("backup.configure", "{\"s3\":" S3OK ",\"data_key\":" KEYOK ",\"compression_level\":19}", true,
		      NULL);
	expect_schema("backup.configure", "{\"s3\":" S3OK ",\"data_key\":" KEYOK ",\"compression_level\":20}", false,
		      "compression_level");
	expect_schema("backup.configure", "{\"s3\":" S3OK ",\"data_key\":\"c2hvcnQ=\"}", false, "data_key");
	expect_schema("backup.configure", "{\"s3\":" S3OK ",\"data_key\":" KEYOK ",\"x\":1}", false, "unknown member");
	expect_schema("backup.configure",
		      "{\"s3\":{\"endpoint\":\"ftp://x\",\"bucket\":\"b\",\"access_key\":\"a\",\"secret_key\":\"SECRETVALUE\"},"
		      "\"data_key\":" KEYOK "}",
		      false, "endpoint");
	expect_schema("backup.configure",
		      "{\"s3\":{\"endpoint\":\"https://x\",\"bucket\":\"b\",\"access_key\":\"a\"},\"data_key\":" KEYOK "}",
		      false, "secret_key");
	expect_schema("backup.full", "{\"backup_id\":\"b-1\"}", true, NULL);
	expect_schema("backup.full", "{\"backup_id\":\"b-1\",\"bundle_size\":268435456,\"parallel\":2}", true, NULL);
	expect_schema("backup.full", "{\"backup_id\":\"../b\"}", false, "backup_id");
	expect_schema("backup.full", "{\"backup_id\":\"b\",\"parallel\":0}", false, "parallel");
	expect_schema("backup.full", "{\"backup_id\":\"b\",\"bundle_size\":1}", false, "bundle_size");
	expect_schema("backup.verify", "{\"backup_id\":\"b\"}", true, NULL);
	expect_schema("backup.drill", "{\"backup_id\":\"b\",\"x\":1}", false, "unknown member");
	expect_schema("backup.delete", "{\"backup_ids\":[\"a\",\"b\"],\"wal_before\":\"000000010000000000000003\"}",
		      true, NULL);
	expect_schema("backup.delete", "{\"backup_ids\":[],\"wal_before\":null}", true, NULL);
	expect_schema("backup.delete", "{\"backup_ids\":[\"a/b\"]}", false, "backup_ids[0]");
	expect_schema("backup.delete", "{\"backup_ids\":[],\"wal_before\":\"x\"}", false, "wal_before");
	expect_schema("pg.restore",
		      "{" INIT ",\"backup_id\":\"b\",\"source\":{\"ds_id\":\"" DS "\",\"s3\":" S3OK
		      ",\"data_key\":" KEYOK "},\"target\":{\"type\":\"time\",\"value\":\"2026-11-23T10:00:00Z\"}}",
		      true, NULL);
	expect_schema("pg.restore",
		      "{" INIT ",\"backup_id\":\"b\",\"source\":{\"ds_id\":\"" DS "\",\"s3\":" S3OK
		      ",\"data_key\":" KEYOK "},\"target\":{\"type\":\"lsn\",\"value\":\"0/3000138\"}}",
		      true, NULL);
	expect_schema("pg.restore",
		      "{" INIT ",\"backup_id\":\"b\",\"source\":{\"ds_id\":\"" DS "\",\"s3\":" S3OK
		      ",\"data_key\":" KEYOK "},\"target\":{\"type\":\"time\",\"value\":\"now'; DROP\"}}",
		      false, "target");
	expect_schema("pg.restore",
		      "{" INIT ",\"backup_id\":\"b\",\"source\":{\"ds_id\":\"" DS "\",\"s3\":" S3OK
		      ",\"data_key\":" KEYOK "},\"target\":{\"type\":\"lsn\",\"value\":\"0/3000138'\"}}",
		      false, "target");
	expect_schema("pg.restore",
		      "{" INIT ",\"backup_id\":\"b\",\"source\":{\"ds_id\":\"../x\",\"s3\":" S3OK ",\"data_key\":" KEYOK "}}",
		      false, "source.ds_id");
	expect_schema("pg.restore", "{" INIT ",\"backup_id\":\"b\"}", false, "source");
	/* RFC 3339 times only: fractions and numeric offsets are fine; a
	 * short field, a missing zone or a word is not. */
	static const char *const times_ok[] = { "2026-11-23T15:35:10.476Z", "2026-11-23T15:35:10+02:00",
						"2026-11-23 15:35:10.123456789-05:30" };
	static const char *const times_bad[] = { "2026-1-23T15:35:10Z", "2026-11-23T15:35:10", "2026-11-23T25:00:00Z",
						 "2026-11-23T15:35:10.Z", "2026-11-23T15:35:10+0200", "yesterday" };
	for (size_t i = 0; i < ELEMENTSOF(times_ok) + ELEMENTSOF(times_bad); i++) {
		bool ok = i < ELEMENTSOF(times_ok);
		char body[1024];
		snprintf(body, sizeof(body),
			 "{" INIT ",\"backup_id\":\"b\",\"source\":{\"ds_id\":\"" DS "\",\"s3\":" S3OK
			 ",\"data_key\":" KEYOK "},\"target\":{\"type\":\"time\",\"value\":\"%s\"}}",
			 ok ? times_ok[i] : times_bad[i - ELEMENTSOF(times_ok)]);
		expect_schema("pg.restore", body, ok, ok ? NULL : "target");
	}
}

/* Runs the wal-push/wal-fetch client in a child (as uid when not 0);
 * returns its exit status. */
static int run_client(const char *sock, const char *verb, const char *a, const char *b, uid_t uid)
{
	pid_t pid = fork();
	int st = 0;

	assert_true(pid >= 0);
	if (pid == 0) {
		char *argv[] = { (char *)verb, (char *)"--socket", (char *)sock, (char *)"--ds", (char *)DS,
				 (char *)a, (char *)b, NULL };

		if (uid != 0 && (setgid(uid) < 0 || setuid(uid) < 0))
			_exit(99);
		_exit(backup_ctl_client_main(verb, 7, argv));
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* The real socket: SCM_RIGHTS, SO_PEERCRED, one line each way. */
static void test_ctl_socket(void **state)
{
	char tmpl[] = "/tmp/test-bk-ctl.XXXXXX", *dir = mkdtemp(tmpl), sock[256], seg[256], fetched[256];
	struct exec_config cfg = { 0 };
	struct backup_ctl *s = NULL;

	(void)state;
	if (geteuid() != 0)
		skip();
	assert_non_null(dir);
	assert_int_equal(chmod(dir, 0755), 0);
	cfg = (struct exec_config){ .state_dir = dir, .db_dir = dir };
	snprintf(sock, sizeof(sock), "%s/run/agent.sock", dir);
	snprintf(seg, sizeof(seg), "%s/000000010000000000000003", dir);
	snprintf(fetched, sizeof(fetched), "%s/fetched", dir);
	put(dir, "000000010000000000000003", "wal bytes");
	assert_int_equal(chmod(seg, 0644), 0);
	assert_int_equal(backup_ctl_start(&cfg, sock, &s), 0);
	/* Root, no backup configured: success without storing. */
	assert_int_equal(run_client(sock, "wal-push", seg, "000000010000000000000003", 0), 0);
	/* nobody owns no data directory: refused. */
	assert_int_equal(run_client(sock, "wal-push", seg, "000000010000000000000003", 65534), 1);
	/* Configured but no keys: wal-push fails, PostgreSQL keeps the WAL. */
	char sub[300];
	snprintf(sub, sizeof(sub), "%s/backup", dir);
	assert_int_equal(mkdir_p(sub, 0700), 0);
	put(sub, DS ".json", "{}");
	assert_int_equal(run_client(sock, "wal-push", seg, "000000010000000000000003", 0), 1);
	/* wal-fetch without keys fails and leaves no partial file. */
	assert_int_equal(run_client(sock, "wal-fetch", "000000010000000000000003", fetched, 0), 1);
	assert_int_equal(access(fetched, F_OK), -1);
	/* A name that is not a WAL file never leaves the client. */
	assert_int_equal(run_client(sock, "wal-push", seg, "../../etc/passwd", 0), 1);
	backup_ctl_stop(s);
	assert_int_equal(access(sock, F_OK), -1);
	rm_rf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wal_names), cmocka_unit_test(test_ctl_parse), cmocka_unit_test(test_manifest),
		cmocka_unit_test(test_verdicts),  cmocka_unit_test(test_walk),	    cmocka_unit_test(test_splitter),
		cmocka_unit_test(test_keys),	  cmocka_unit_test(test_status_annotate), cmocka_unit_test(test_schemas),
		cmocka_unit_test(test_ctl_socket),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
