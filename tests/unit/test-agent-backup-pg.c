/*
 * test-agent-backup-pg.c: the backup executors end to end against a real
 * PostgreSQL 15 and a real S3 server, in one process that plays the agent
 * (control socket, key store, service supervisor):
 *   pg.init (A) → rows → backup.configure → backup.full → more rows →
 *   backup.verify → pg.restore (B from A's backup, latest) has every row →
 *   pg.restore (C, target = the backup's stop LSN) has only the first rows →
 *   backup.full on a replica of A (a second db_dir) →
 *   backup.drill → backup.delete → the offline decrypt of an object.
 * PostgreSQL's archive_command and restore_command run this very program
 * as `wal-push`/`wal-fetch` (main() hands those to the agent's client).
 *
 * It needs root, PostgreSQL 15 and tests/integration/backup-pg.sh (which
 * starts s3rver, makes the TLS files and sets BK_* and S3_* variables);
 * without them it exits 77 (skip).
 */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backup-ctl.h"
#include "backup-keys.h"
#include "exec.h"
#include "macro.h"
#include "pgstatus.h"
#include "service.h"
#include "proc.h"
#include "fileio.h"
#include "util.h"

#define DS_A "3f0e8c52-8d0a-4c1e-9b7a-0a1b2c3d4e5f"
#define DS_B "7c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"
#define DS_C "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b"
#define VERIFIER                                                                                                       \
	"SCRAM-SHA-256$4096:c2FsdHNhbHRzYWx0c2FsdA==$c3RvcmVka2V5c3RvcmVka2V5c3RvcmVka2V5c3Q=:"                       \
	"c2VydmVya2V5c2VydmVya2V5c2VydmVya2V5c2U="
#define DATA_KEY "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

static int failures;
static bool expect_failure; /* run_job: a failure is the expected outcome */

static bool keepalive(void *ud)
{
	(void)ud;
	return true;
}

static void check(bool ok, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	printf("%s - ", ok ? "ok" : "FAIL");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	fflush(stdout);
	if (!ok)
		failures++;
}

static struct exec_config cfg;
static struct exec_config *job_cfg = &cfg; /* the "node" run_job runs on */

static json_t *run_job(const char *type, const char *ds, json_t *params)
{
	const struct exec_type *t = exec_lookup(type, false);
	struct exec_context ctx = { .config = job_cfg, .jti = "00000000-0000-4000-8000-000000000001", .ds = ds,
				    .keepalive = keepalive };
	char reason[EXEC_REASON_MAX] = "";
	json_t *out = NULL;
	char *msg = NULL;
	int r;

	if (!t || t->validate(params, job_cfg, reason, sizeof(reason)) < 0) {
		check(false, "%s: params refused: %s", type, reason);
		json_decref(params);
		return NULL;
	}
	r = t->run(params, &ctx, &out, &msg);
	json_decref(params);
	if (r < 0) {
		check(expect_failure, "%s on %s fails: %s (%s)", type, ds, msg ? msg : "(no message)", strerror(-r));
		free(msg);
		return NULL;
	}
	free(msg);
	char *dump = json_dumps(out, JSON_COMPACT);
	check(true, "%s on %s: %s", type, ds, dump);
	free(dump);
	return out;
}

static json_t *s3_json(void)
{
	return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "endpoint", getenv("S3_ENDPOINT"), "region", "us-east-1",
			 "bucket", getenv("S3_BUCKET"), "prefix", "cit/backups", "access_key",
			 getenv("AWS_ACCESS_KEY_ID"), "secret_key", getenv("AWS_SECRET_ACCESS_KEY"));
}

static json_t *init_params(const char *ds, int port, const char *name)
{
	char cn[64];

	snprintf(cn, sizeof(cn), "repl.%s", ds);
	return json_pack("{s:s,s:i,s:s,s:s,s:{},s:s}", "version", "15", "port", port, "admin_verifier", VERIFIER,
			 "cluster_name", name, "settings", "repl_cn", cn);
}

static int sql(const char *ds, int port, const char *q, char *ret, size_t n)
{
	PGconn *c = NULL;
	char *err = NULL;
	int r = pgstatus_connect(cfg.db_dir, ds, port, 5000, 60000, &c, &err);
	PGresult *res;

	if (r < 0) {
		printf("# connect %s: %s\n", ds, err ? err : strerror(-r));
		free(err);
		return r;
	}
	res = PQexec(c, q);
	if (PQresultStatus(res) != PGRES_TUPLES_OK && PQresultStatus(res) != PGRES_COMMAND_OK) {
		printf("# %s: %s", q, PQresultErrorMessage(res));
		r = -EIO;
	} else if (ret && n)
		snprintf(ret, n, "%s", PQntuples(res) > 0 ? PQgetvalue(res, 0, 0) : "");
	PQclear(res);
	PQfinish(c);
	return r;
}

/* Runs a program as postgres; 0 when it exited 0. */
static int as_postgres(const char *const *argv)
{
	struct proc_result res = { 0 };
	struct proc_spec spec = { .argv = argv, .user = "postgres", .timeout_ms = 300 * 1000 };
	int r = proc_run(&spec, &res);

	if (r >= 0 && res.exit_status != 0) {
		printf("# %s: status %d: %s\n", argv[0], res.exit_status, proc_tail(*res.err ? res.err : res.out, 500));
		r = -EIO;
	}
	proc_result_done(&res);
	return r;
}

static int append(const char *path, const char *text)
{
	FILE *f = fopen(path, "ae");
	int r = 0;

	if (!f)
		return -errno;
	if (fputs(text, f) < 0)
		r = -EIO;
	if (fclose(f) != 0)
		r = -EIO;
	return r;
}

/* Peak RSS of this process (the agent's part: PostgreSQL runs apart). */
static void print_hwm(const char *when)
{
	char *text = NULL;

	if (read_file_full("/proc/self/status", 64 * 1024, &text, NULL) >= 0) {
		const char *h = strstr(text, "VmHWM:");
		if (h)
			printf("# %s: %.*s\n", when, (int)strcspn(h, "\n"), h);
	}
	free(text);
}

struct switcher {
	const char *ds;
	int port;
	volatile bool stop;
};

/* The primary switches WAL every second while a replica's backup waits
 * for its stop segment (archive_timeout would, in 60 s). */
static void *switcher_thread(void *arg)
{
	struct switcher *w = arg;

	while (!w->stop) {
		(void)sql(w->ds, w->port, "SELECT pg_switch_wal()", NULL, 0);
		usleep(1000 * 1000);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	const char *db = getenv("BK_DB_DIR"), *tls = getenv("BK_TLS_DIR"), *st = getenv("BK_STATE_DIR");
	int64_t port64 = 0;
	int port_a, port_b, port_c;
	struct services *svc = NULL;
	struct backup_ctl *ctl = NULL;
	json_t *out, *p;
	char v[256], stop_lsn[64] = "", start_wal[25] = "000000010000000000000003", backup_id[] = "b-0001";
	int r;

	if (argc >= 2 && (streq(argv[1], "wal-push") || streq(argv[1], "wal-fetch")))
		return backup_ctl_client_main(argv[1], argc - 1, argv + 1);
	(void)parse_int64(getenv("BK_PORT_A") ?: "0", 0, 65000, &port64);
	port_a = (int)port64;
	port_b = port_a + 1;
	port_c = port_a + 2;
	if (geteuid() != 0 || !db || !tls || !st || !getenv("S3_ENDPOINT") || port_a <= 0) {
		printf("SKIP: run by tests/integration/backup-pg.sh (root, PostgreSQL 15, s3rver)\n");
		return 77;
	}
	r = services_new(st, "direct", &svc);
	if (r < 0) {
		printf("services_new: %s\n", strerror(-r));
		return 1;
	}
	cfg = (struct exec_config){ .state_dir = st, .tls_dir = tls, .db_dir = db, .services = svc };
	r = backup_ctl_start(&cfg, backup_ctl_socket_path(), &ctl);
	check(r >= 0, "control socket at %s", backup_ctl_socket_path());

	/* A primary with rows, configured for backups. */
	out = run_job("pg.init", DS_A, init_params(DS_A, port_a, "a"));
	if (!out)
		goto end;
	json_decref(out);
	check(sql(DS_A, port_a, "CREATE TABLE t (i int, pad text); INSERT INTO t SELECT g, repeat('x', 200) FROM "
				"generate_series(1, 50000) g",
		  NULL, 0) >= 0,
	      "rows written in A");
	/* BK_BIG_MB: an incompressible table of that size, for the memory
	 * bound (backup-pg.sh's "big" mode, without sanitizers). */
	if (getenv("BK_BIG_MB")) {
		int64_t mb = 0;
		char q[256];

		(void)parse_int64(getenv("BK_BIG_MB"), 1, 100000, &mb);
		snprintf(q, sizeof(q),
			 "CREATE TABLE big AS SELECT g, decode(md5(random()::text) || md5(random()::text), 'hex') || "
			 "gen_random_uuid()::text::bytea AS b FROM generate_series(1, %" PRId64 " * 1024 * 1024 / 110) g",
			 mb);
		check(sql(DS_A, port_a, q, NULL, 0) >= 0, "big table of about %" PRId64 " MiB", mb);
	}
	p = json_pack("{s:o,s:s,s:i}", "s3", s3_json(), "data_key", DATA_KEY, "compression_level", 3);
	out = run_job("backup.configure", DS_A, p);
	check(out && json_is_false(json_object_get(out, "restart_needed")), "restart not needed (archive_mode on)");
	json_decref(out);
	check(sql(DS_A, port_a, "SELECT pg_switch_wal()", NULL, 0) >= 0, "switch WAL (archived through wal-push)");

	{
		json_t *dbs = json_pack("[{s:s,s:b,s:s}]", "ds", DS_A, "running", 1, "role", "primary");
		json_t *b;

		backup_status_annotate(dbs, &cfg);
		b = json_object_get(json_array_get(dbs, 0), "backup");
		check(json_is_true(json_object_get(b, "keys_loaded")) &&
			      json_is_string(json_object_get(b, "last_archived_wal")),
		      "status: backup configured, keys loaded, archiver seen (%s)",
		      json_string_value(json_object_get(b, "last_archived_wal")) ?: "none");
		json_decref(dbs);
	}

	/* The full backup, in small bundles to have several of them. */
	p = json_pack("{s:s,s:I,s:i}", "backup_id", backup_id, "bundle_size", (json_int_t)(2 * 1024 * 1024),
		      "parallel", 3);
	out = run_job("backup.full", DS_A, p);
	check(out != NULL, "backup.full");
	print_hwm("after backup.full");
	if (out) {
		snprintf(stop_lsn, sizeof(stop_lsn), "%s", json_string_value(json_object_get(out, "stop_lsn")));
		snprintf(start_wal, sizeof(start_wal), "%s", json_string_value(json_object_get(out, "start_wal")));
	}
	json_decref(out);

	/* Rows after the backup, then archived. */
	check(sql(DS_A, port_a, "INSERT INTO t SELECT g, 'after' FROM generate_series(50001, 50100) g", NULL, 0) >= 0,
	      "rows after the backup");
	check(sql(DS_A, port_a, "SELECT pg_switch_wal()", NULL, 0) >= 0, "switch WAL");
	for (int i = 0; i < 100; i++) {
		char cnt[32] = "";

		(void)sql(DS_A, port_a,
			  "SELECT CASE WHEN last_archived_wal >= pg_walfile_name(pg_current_wal_lsn() - 1) THEN 'y' "
			  "ELSE 'n' END FROM pg_stat_archiver",
			  cnt, sizeof(cnt));
		if (streq(cnt, "y"))
			break;
		usleep(200 * 1000);
	}

	out = run_job("backup.verify", DS_A, json_pack("{s:s}", "backup_id", backup_id));
	check(out && json_integer_value(json_object_get(out, "files")) > 100, "verify: files checked");
	json_decref(out);

	/* B: restored from A's backup, to the end of the archive. */
	p = init_params(DS_B, port_b, "b");
	json_object_set_new(p, "backup_id", json_string(backup_id));
	json_object_set_new(p, "source", json_pack("{s:s,s:o,s:s}", "ds_id", DS_A, "s3", s3_json(), "data_key", DATA_KEY));
	json_object_set_new(p, "target", json_pack("{s:s}", "type", "latest"));
	out = run_job("pg.restore", DS_B, p);
	json_decref(out);
	v[0] = 0;
	(void)sql(DS_B, port_b, "SELECT count(*) FROM t", v, sizeof(v));
	check(streq(v, "50100"), "B has every row (%s of 50100)", v);
	print_hwm("after pg.restore");
	v[0] = 0;
	(void)sql(DS_B, port_b, "SELECT pg_is_in_recovery()::text", v, sizeof(v));
	check(streq(v, "false"), "B is promoted (%s)", v);

	/* C: to the backup's stop LSN only. */
	p = init_params(DS_C, port_c, "c");
	json_object_set_new(p, "backup_id", json_string(backup_id));
	json_object_set_new(p, "source", json_pack("{s:s,s:o,s:s}", "ds_id", DS_A, "s3", s3_json(), "data_key", DATA_KEY));
	json_object_set_new(p, "target", json_pack("{s:s,s:s}", "type", "lsn", "value", stop_lsn));
	out = run_job("pg.restore", DS_C, p);
	json_decref(out);
	v[0] = 0;
	(void)sql(DS_C, port_c, "SELECT count(*) FROM t", v, sizeof(v));
	check(streq(v, "50000"), "C (target lsn %s) has the rows of the backup only (%s of 50000)", stop_lsn, v);

	/* A replica of A on "another node" (a second db_dir) takes a backup:
	 * pg_backup_start on a standby, stop_wal archived by the primary. */
	{
		struct exec_config cfg2 = cfg;
		char db2[512], data2[700], run2[700], base2[600], sock_a[600], port_s[16], conf[1200], hba[600],
			log2[800];
		struct pg_instance inst = { .version = "15", .port = port_a + 3 };
		struct switcher w = { .ds = DS_A, .port = port_a };
		pthread_t th;
		uid_t uid;
		gid_t gid;

		snprintf(db2, sizeof(db2), "%s-replica", db);
		snprintf(base2, sizeof(base2), "%s/" DS_A, db2);
		snprintf(data2, sizeof(data2), "%s/data", base2);
		snprintf(run2, sizeof(run2), "%s/run", base2);
		snprintf(log2, sizeof(log2), "%s/log", run2);
		snprintf(sock_a, sizeof(sock_a), "%s/" DS_A "/run", db);
		snprintf(hba, sizeof(hba), "%s/" DS_A "/data/pg_hba.conf", db);
		snprintf(port_s, sizeof(port_s), "%d", port_a);
		(void)proc_user("postgres", &uid, &gid);
		check(mkdir_p(run2, 0755) >= 0 && chown(base2, uid, gid) >= 0 && chown(run2, uid, gid) >= 0,
		      "second node's directories");
		check(append(hba, "local replication postgres peer map=cairn_local\n") >= 0 &&
			      sql(DS_A, port_a, "SELECT pg_reload_conf()", NULL, 0) >= 0,
		      "primary takes local replication (test only)");
		check(as_postgres((const char *const[]){ "/usr/lib/postgresql/15/bin/pg_basebackup", "-h", sock_a, "-p",
							 port_s, "-U", "postgres", "-D", data2, "-R", "-X", "stream",
							 "-c", "fast", NULL }) >= 0,
		      "pg_basebackup of A");
		snprintf(conf, sizeof(conf), "port = %d\nunix_socket_directories = '%s'\nssl = off\n", inst.port, run2);
		{
			char *auto_conf = path_join(data2, "postgresql.auto.conf");

			check(auto_conf && append(auto_conf, conf) >= 0, "replica settings");
			free(auto_conf);
		}
		check(pgstatus_instance_save(db2, DS_A, &inst) >= 0, "replica instance.json");
		check(as_postgres((const char *const[]){ "/usr/lib/postgresql/15/bin/pg_ctl", "-D", data2, "-l", log2,
							 "-w", "-t", "120", "start", NULL }) >= 0,
		      "replica started");
		cfg2.db_dir = db2;
		job_cfg = &cfg2;
		pthread_create(&th, NULL, switcher_thread, &w);
		out = run_job("backup.full", DS_A, json_pack("{s:s}", "backup_id", "b-replica"));
		w.stop = true;
		pthread_join(th, NULL);
		job_cfg = &cfg;
		check(out && streq(json_string_value(json_object_get(out, "role")) ?: "", "replica"),
		      "backup taken on the replica");
		json_decref(out);
		out = run_job("backup.verify", DS_A, json_pack("{s:s}", "backup_id", "b-replica"));
		check(out != NULL, "the replica's backup verifies");
		json_decref(out);
		(void)as_postgres((const char *const[]){ "/usr/lib/postgresql/15/bin/pg_ctl", "-D", data2, "-m", "fast",
							 "-w", "stop", NULL });
	}

	out = run_job("backup.drill", DS_A, json_pack("{s:s}", "backup_id", backup_id));
	check(out && json_integer_value(json_object_get(out, "pg_class_rows")) > 100, "drill ran a query");
	json_decref(out);

	out = run_job("backup.delete", DS_A, json_pack("{s:[s],s:n}", "backup_ids", backup_id, "wal_before"));
	check(out != NULL, "delete");
	json_decref(out);
	expect_failure = true;
	out = run_job("backup.verify", DS_A, json_pack("{s:s}", "backup_id", backup_id));
	expect_failure = false;
	check(!out, "verify after delete fails");
	json_decref(out);

	/* wal-fetch writes a stored segment; pushing it again (a retry) is
	 * success; a different file under a stored name is refused. */
	{
		struct backup_ctl_request req = { .op = BACKUP_CTL_WAL_FETCH, .ds = DS_A };
		char path[600], *err = NULL;
		int fd;

		memcpy(req.name, start_wal, sizeof(start_wal));
		snprintf(path, sizeof(path), "%s/fetched", st);
		fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		r = backup_ctl_handle(&cfg, &req, fd, 0, &err);
		check(r == 0 && lseek(fd, 0, SEEK_END) == 16 * 1024 * 1024, "wal-fetch of %s (%s)", req.name,
		      err ? err : "");
		free(err);
		err = NULL;
		req.op = BACKUP_CTL_WAL_PUSH;
		r = backup_ctl_handle(&cfg, &req, fd, 0, &err);
		check(r == 0, "push of the same contents again is success (%s)", err ? err : "");
		free(err);
		err = NULL;
		close(fd);
		snprintf(path, sizeof(path), "%s/" DS_A "/data/PG_VERSION", db);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		r = backup_ctl_handle(&cfg, &req, fd, 0, &err);
		check(r == -EEXIST && err && strstr(err, "DIFFERENT"), "different contents refused: %s", err ? err : "");
		free(err);
		err = NULL;
		r = backup_ctl_handle(&cfg, &req, fd, 4242, &err);
		check(r == -EPERM, "a caller that does not own the data directory is refused: %s", err ? err : "");
		free(err);
		err = NULL;
		req.op = BACKUP_CTL_WAL_FETCH;
		r = backup_ctl_handle(&cfg, &req, fd, 0, &err);
		check(r == -EINVAL, "wal-fetch into a read-only descriptor is refused (%s)", err ? err : "");
		free(err);
		err = NULL;
		close(fd);
		snprintf(path, sizeof(path), "%s/fetched", st);
		fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		memcpy(req.name, "0000000100000000000000FF", 25);
		r = backup_ctl_handle(&cfg, &req, fd, 0, &err);
		check(r == -ENOENT, "wal-fetch of a name not archived: ENOENT (%s)", err ? err : "");
		free(err);
		close(fd);
	}

	/* A backup that stays, for the offline sub-command (backup-pg.sh). */
	out = run_job("backup.full", DS_A, json_pack("{s:s}", "backup_id", "b-0002"));
	check(out != NULL, "second backup.full (default bundle size and streams)");
	json_decref(out);

	/* pg.restore again on B (same backup): a rerun only brings it up. */
	p = init_params(DS_B, port_b, "b");
	json_object_set_new(p, "backup_id", json_string(backup_id));
	json_object_set_new(p, "source", json_pack("{s:s,s:o,s:s}", "ds_id", DS_A, "s3", s3_json(), "data_key", DATA_KEY));
	out = run_job("pg.restore", DS_B, p);
	check(out != NULL, "pg.restore rerun on B");
	json_decref(out);

	/* In place: C (stopped) gets b-0002 instead of what it had. */
	p = init_params(DS_C, port_c, "c");
	json_object_set_new(p, "backup_id", json_string("b-0002"));
	json_object_set_new(p, "source", json_pack("{s:s,s:o,s:s}", "ds_id", DS_A, "s3", s3_json(), "data_key", DATA_KEY));
	expect_failure = true;
	out = run_job("pg.restore", DS_C, json_deep_copy(p));
	expect_failure = false;
	check(!out, "pg.restore in place refused while C runs");
	json_decref(out);
	(void)service_stop(svc, "pg-" DS_C);
	out = run_job("pg.restore", DS_C, p);
	check(out != NULL, "pg.restore in place on C once stopped");
	json_decref(out);
	v[0] = 0;
	(void)sql(DS_C, port_c, "SELECT count(*) FROM t", v, sizeof(v));
	check(streq(v, "50100"), "C now has b-0002's rows (%s of 50100)", v);
end:
	(void)service_stop(svc, "pg-" DS_A);
	(void)service_stop(svc, "pg-" DS_B);
	(void)service_stop(svc, "pg-" DS_C);
	backup_ctl_stop(ctl);
	services_free(svc);
	backup_keys_clear();
	printf("%d failure(s)\n", failures);
	return failures ? 1 : 0;
}
