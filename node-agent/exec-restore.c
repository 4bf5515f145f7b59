/*
 * exec-restore.c: restoring stored backups (see exec-restore.h).  The
 * data is streamed from S3 through the bstream reader into the files the
 * manifest names, each checked against its SHA-256 before the directory
 * is used; nothing is put in place (renamed to PGDATA) before every file
 * is complete.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup-ctl.h"
#include "backup-manifest.h"
#include "backup-object.h"
#include "backup-wal.h"
#include "backup-walk.h"
#include "exec-backup.h"
#include "exec-pg.h"
#include "exec-pkg.h"
#include "exec-restore.h"
#include "fileio.h"
#include "log.h"
#include "macro.h"
#include "pgstatus.h"
#include "proc.h"
#include "util.h"

#define RS_FAIL(r, ...)                                                        \
	({                                                                     \
		if (ret_message && !*ret_message)                              \
			*ret_message = exec_message(__VA_ARGS__);                    \
		(r);                                                           \
	})

static int rs_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

static int rs_rm_rf(const char *path)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (nftw(path, rs_rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0)
		return errno ? -errno : -EIO;
	return 0;
}

static uid_t rs_uid;
static gid_t rs_gid;

static int rs_chown_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return lchown(path, rs_uid, rs_gid) < 0 ? -1 : 0;
}

/* chown -R postgres (single-threaded use: the job thread). */
static int rs_chown_tree(const char *path)
{
	int r = proc_user("postgres", &rs_uid, &rs_gid);

	if (r < 0)
		return r;
	if (nftw(path, rs_chown_one, 16, FTW_PHYS | FTW_MOUNT) < 0)
		return errno ? -errno : -EIO;
	return 0;
}

static int rs_write_at(int dirfd, const char *name, const char *text)
{
	_cleanup_close_ int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	size_t n = strlen(text), off = 0;

	if (fd < 0)
		return -errno;
	while (off < n) {
		ssize_t k = write(fd, text + off, n - off);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		off += (size_t)k;
	}
	return fsync(fd) < 0 ? -errno : 0;
}

int backup_restore_into(const struct backup_target *t, const char *backup_id, const char *dir, bool with_wal,
			bool (*keepalive)(void *), void *userdata, json_t **ret_manifest, char **ret_message)
{
	_cleanup_s3_client_ struct s3_client *c = NULL;
	_cleanup_json_ json_t *m = NULL;
	_cleanup_close_ int dfd = -1;
	size_t i, nb;
	json_t *e;
	int r;

	if (mkdir(dir, 0700) < 0)
		return RS_FAIL(-errno, "cannot create %s: %s", dir, strerror(errno));
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return RS_FAIL(-errno, "cannot open %s: %s", dir, strerror(errno));
	/* Two ranges of 5 MiB in flight: the restore stays near the
	 * backup's memory (docs/backups.md: under 64 MB, target 32). */
	r = backup_target_client(t, 2, &c);
	if (r < 0)
		return RS_FAIL(r, "bad S3 configuration: %s", strerror(-r));
	r = backup_fetch_manifest(c, t, backup_id, &m, ret_message);
	if (r < 0)
		return r;
	json_array_foreach(json_object_get(m, "files"), i, e) {
		const char *path = json_string_value(json_object_get(e, "path"));

		if (!json_is_true(json_object_get(e, "dir")))
			continue;
		r = backup_mkdirs_at(dfd, path, true);
		if (r >= 0 && fchmodat(dfd, path, (mode_t)json_integer_value(json_object_get(e, "mode")) & 0777, 0) < 0)
			r = -errno;
		if (r < 0)
			return RS_FAIL(r, "cannot create %s/%s: %s", dir, path, strerror(-r));
	}
	nb = json_array_size(json_object_get(m, "bundles"));
	for (i = 0; i < nb; i++) {
		if (keepalive && !keepalive(userdata))
			return -ECANCELED;
		r = backup_get_bundle(c, t, m, i, dfd, NULL, ret_message);
		if (r < 0)
			return r;
	}
	r = rs_write_at(dfd, "backup_label", json_string_value(json_object_get(m, "backup_label")));
	if (r < 0)
		return RS_FAIL(r, "cannot write %s/backup_label: %s", dir, strerror(-r));
	if ((mkdirat(dfd, "pg_wal", 0700) < 0 && errno != EEXIST) ||
	    (mkdirat(dfd, "pg_wal/archive_status", 0700) < 0 && errno != EEXIST))
		return RS_FAIL(-errno, "cannot create %s/pg_wal: %s", dir, strerror(errno));
	if (with_wal) {
		char seg[25], stop[25];

		memcpy(seg, json_string_value(json_object_get(m, "start_wal")), 25);
		memcpy(stop, json_string_value(json_object_get(m, "stop_wal")), 25);
		for (;;) {
			_cleanup_free_ char *p = NULL;
			_cleanup_close_ int fd = -1;

			if (keepalive && !keepalive(userdata))
				return -ECANCELED;
			if (asprintf(&p, "pg_wal/%s", seg) < 0)
				return -ENOMEM;
			fd = openat(dfd, p, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
			if (fd < 0)
				return RS_FAIL(-errno, "cannot create %s/%s: %s", dir, p, strerror(errno));
			r = backup_wal_fetch(t, seg, fd, ret_message);
			if (r == -ENOENT)
				return RS_FAIL(r, "WAL segment %s is missing from the archive", seg);
			if (r < 0)
				return r;
			if (streq(seg, stop))
				break;
			r = backup_wal_next_segment(seg, seg);
			if (r < 0)
				return r;
		}
	}
	if (syncfs(dfd) < 0)
		return RS_FAIL(-errno, "cannot sync %s: %s", dir, strerror(errno));
	if (ret_manifest)
		*ret_manifest = TAKE_PTR(m);
	return 0;
}

char *backup_restore_command(const char *ds, char **ret_message)
{
	return backup_ctl_command("wal-fetch", ds, "%f %p", ret_message);
}

/* ---- pg.restore ---- */

#define RS_PG_TIME_MAX 48

/* An RFC 3339 time ("2026-11-23T15:35:10.476Z", "…+02:00") as PostgreSQL
 * reads it in postgresql.conf: "2026-11-23 15:35:10.476+00:00".  The
 * offset must be numeric: recovery_target_time is checked before the
 * time zone abbreviations are loaded, so "Z" or "UTC" are refused there.
 * False for anything else. */
static bool rs_time_to_pg(const char *s, char ret[static RS_PG_TIME_MAX])
{
	unsigned Y, M, D, h, m, sec, oh = 0, om = 0;
	char frac[10] = "", sign = '+';
	size_t n = s ? strlen(s) : 0, i;
	int k;

	if (n < 20 || n > 40)
		return false;
	for (i = 0; i < 19; i++) {
		bool digit = s[i] >= '0' && s[i] <= '9';
		if (i == 4 || i == 7 ? s[i] != '-' : i == 10 ? !strchr("Tt ", s[i]) : i == 13 || i == 16 ? s[i] != ':' : !digit)
			return false;
	}
	if (sscanf(s, "%4u-%2u-%2u%*1[Tt ]%2u:%2u:%2u", &Y, &M, &D, &h, &m, &sec) != 6)
		return false;
	i = 19;
	if (s[i] == '.') {
		size_t f = 0;
		for (i++; s[i] >= '0' && s[i] <= '9'; i++)
			if (f < 6)
				frac[f++] = s[i];
		if (f == 0)
			return false;
		frac[f] = 0;
	}
	if (s[i] == 'Z' || s[i] == 'z') {
		if (s[i + 1])
			return false;
	} else if (s[i] == '+' || s[i] == '-') {
		char end;
		sign = s[i];
		if (sscanf(s + i + 1, "%2u:%2u%c", &oh, &om, &end) != 2 || strlen(s + i + 1) != 5)
			return false;
	} else
		return false;
	if (Y < 1970 || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60 || oh > 23 || om > 59)
		return false;
	k = snprintf(ret, RS_PG_TIME_MAX, "%04u-%02u-%02u %02u:%02u:%02u%s%s%c%02u:%02u", Y, M, D, h, m, sec,
		     *frac ? "." : "", frac, sign, oh, om);
	return k > 0 && k < RS_PG_TIME_MAX;
}

static bool rs_time_is_valid(const char *s)
{
	char buf[RS_PG_TIME_MAX];

	return rs_time_to_pg(s, buf);
}

static bool rs_lsn_is_valid(const char *s)
{
	unsigned hi, lo;
	char end;

	return s && strlen(s) <= 17 && sscanf(s, "%X/%X%c", &hi, &lo, &end) == 2;
}

int exec_pg_restore_validate(json_t *params, const struct exec_config *cfg, char *reason, size_t reason_len)
{
	static const char *const known[] = { "version", "port", "settings", "admin_verifier", "repl_cn",
					     "cluster_name", "source", "backup_id", "target", NULL };
	static const char *const src_known[] = { "ds_id", "s3", "data_key", NULL };
	json_t *src = json_object_get(params, "source"), *tgt = json_object_get(params, "target");
	uint8_t key[BSTREAM_KEY_LEN];
	int r;

	(void)cfg;
	if ((r = exec_check_members(params, known, reason, reason_len)) < 0 ||
	    (r = exec_pg_check_init_params(params, reason, reason_len)) < 0)
		return r;
	if (!backup_id_is_valid(json_string_value(json_object_get(params, "backup_id"))))
		return exec_reason(reason, reason_len, "backup_id: expected [A-Za-z0-9_-]{1,64}");
	if (!json_is_object(src))
		return exec_reason(reason, reason_len, "source: expected an object");
	if ((r = exec_check_members(src, src_known, reason, reason_len)) < 0 ||
	    (r = backup_check_s3_json(json_object_get(src, "s3"), "source.s3", reason, reason_len)) < 0)
		return r;
	if (!exec_pg_ds_is_valid(json_string_value(json_object_get(src, "ds_id"))))
		return exec_reason(reason, reason_len, "source.ds_id: expected a datastore id");
	if (backup_key_decode(json_string_value(json_object_get(src, "data_key")), key) < 0)
		return exec_reason(reason, reason_len, "source.data_key: expected base64 of 32 bytes");
	explicit_bzero(key, sizeof(key));
	if (tgt && !json_is_null(tgt)) {
		const char *type = json_string_value(json_object_get(tgt, "type"));
		const char *value = json_string_value(json_object_get(tgt, "value"));

		if (!json_is_object(tgt) || !type)
			return exec_reason(reason, reason_len, "target: expected {type, value}");
		if (streq(type, "time") ? !rs_time_is_valid(value)
		    : streq(type, "lsn")  ? !rs_lsn_is_valid(value)
		    : !streq(type, "latest"))
			return exec_reason(reason, reason_len, "target: bad type or value");
	}
	return 0;
}

static char *rs_recovery_conf(const char *source_ds, json_t *target, char **ret_message)
{
	_cleanup_free_ char *cmd = backup_restore_command(source_ds, ret_message);
	const char *type = json_string_value(json_object_get(target, "type"));
	const char *value = json_string_value(json_object_get(target, "value"));
	_cleanup_free_ char *tline = NULL;

	if (!cmd)
		return NULL;
	if (type && streq(type, "time")) {
		char pgtime[RS_PG_TIME_MAX];
		if (!rs_time_to_pg(value, pgtime)) {
			*ret_message = strdup("target.value: not an RFC 3339 time");
			return NULL;
		}
		tline = exec_message("recovery_target_time = '%s'\n", pgtime);
	}
	else if (type && streq(type, "lsn"))
		tline = exec_message("recovery_target_lsn = '%s'\n", value);
	else
		tline = strdup("");
	if (!tline)
		return NULL;
	return exec_message("# Written by cairn-agent (pg.restore): removed after the promotion.\n"
		      "restore_command = '%s'\n"
		      "recovery_target_timeline = 'latest'\n"
		      "%s"
		      "recovery_target_action = 'promote'\n",
		      cmd, tline);
}

int exec_pg_restore_run(json_t *params, const struct exec_context *ctx, json_t **ret_output, char **ret_message)
{
	json_t *src = json_object_get(params, "source");
	const char *source_ds = json_string_value(json_object_get(src, "ds_id"));
	const char *backup_id = json_string_value(json_object_get(params, "backup_id"));
	_cleanup_target_ struct backup_target *t = NULL;
	_cleanup_free_ char *data = NULL, *tmp = NULL, *rec = NULL, *archive = NULL, *replaced = NULL, *marker = NULL;
	char reason[EXEC_REASON_MAX] = "";
	bool in_place = false;
	int r, state;

	if (!exec_pg_ds_is_valid(ctx->ds))
		return RS_FAIL(-EINVAL, "the job names no valid datastore id");
	t = malloc(sizeof(*t));
	if (!t)
		return -ENOMEM;
	r = backup_target_from_json(source_ds, json_object_get(src, "s3"), json_object_get(src, "data_key"), 0, t,
				    reason, sizeof(reason));
	if (r < 0)
		return RS_FAIL(r, "source: %s", reason);
	/* The source's keys stay held: PostgreSQL's restore_command asks for
	 * WAL through them until the recovery ends (and after an agent
	 * restart the controller sends the job again). */
	r = backup_keys_set(t);
	if (r < 0)
		return RS_FAIL(r, "cannot hold the source's keys: %s", strerror(-r));
	rec = rs_recovery_conf(source_ds, json_object_get(params, "target"), ret_message);
	if (!rec)
		return -EINVAL;
	state = exec_pg_restore_prepare(ctx, ret_message);
	if (state < 0)
		return state;
	if (asprintf(&data, "%s/%s/data", ctx->config->db_dir, ctx->ds) < 0 || asprintf(&tmp, "%s.restore", data) < 0 ||
	    asprintf(&replaced, "%s.replaced", data) < 0 || !(marker = path_join(data, RESTORE_MARKER)))
		return -ENOMEM;
	if (state == 1) {
		_cleanup_free_ char *done = NULL;
		struct pg_instance inst;

		/* This backup restored before (a rerun): bring it up, finish
		 * the recovery, set the roles. */
		if (read_one_line(marker, 128, &done) >= 0 && streq(done, backup_id))
			return exec_pg_restore_finish(params, ctx, NULL, rec, ret_output, ret_message);
		/* In place (restore_in_place): the controller stopped it. */
		if (pgstatus_instance_load(ctx->config->db_dir, ctx->ds, &inst) >= 0 &&
		    pgstatus_ping(ctx->config->db_dir, ctx->ds, inst.port))
			return RS_FAIL(-EBUSY, "PostgreSQL of %s is running: a restore in place needs it stopped first",
				       ctx->ds);
		in_place = true;
	}
	r = rs_rm_rf(tmp);
	if (r < 0)
		return RS_FAIL(r, "cannot remove the leftover %s: %s", tmp, strerror(-r));
	log_info("pg.restore of %s: restoring backup %s of %s", ctx->ds, backup_id, source_ds);
	r = backup_restore_into(t, backup_id, tmp, false, ctx->keepalive, ctx->userdata, NULL, ret_message);
	if (r < 0)
		return r;
	/* The source's archiving settings must not follow: this datastore
	 * archives into its own place once backup.configure says where. */
	archive = path_join(tmp, EXEC_PG_ARCHIVE_CONF);
	if (!archive)
		return -ENOMEM;
	(void)unlink(archive);
	{
		_cleanup_free_ char *line = exec_message("%s\n", backup_id);
		_cleanup_close_ int tfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (!line || tfd < 0 || (r = rs_write_at(tfd, RESTORE_MARKER, line)) < 0)
			return RS_FAIL(r < 0 ? r : -ENOMEM, "cannot write %s/%s", tmp, RESTORE_MARKER);
	}
	r = rs_chown_tree(tmp);
	if (r < 0)
		return RS_FAIL(r, "cannot give %s to postgres: %s", tmp, strerror(-r));
	if (in_place) {
		/* The old data stays aside until the restored one runs. */
		r = rs_rm_rf(replaced);
		if (r >= 0 && rename(data, replaced) < 0)
			r = -errno;
		if (r < 0)
			return RS_FAIL(r, "cannot move %s aside: %s", data, strerror(-r));
	}
	r = exec_pg_restore_finish(params, ctx, tmp, rec, ret_output, ret_message);
	if (r < 0)
		return r;
	(void)rs_rm_rf(replaced);
	if (*ret_output)
		(void)json_object_set_new(*ret_output, "backup_id", json_string(backup_id));
	return 0;
}

/* ---- backup.drill ---- */

int exec_backup_drill_validate(json_t *params, const struct exec_config *cfg, char *reason, size_t reason_len)
{
	static const char *const known[] = { "backup_id", NULL };
	int r;

	(void)cfg;
	if ((r = exec_check_members(params, known, reason, reason_len)) < 0)
		return r;
	if (!backup_id_is_valid(json_string_value(json_object_get(params, "backup_id"))))
		return exec_reason(reason, reason_len, "backup_id: expected [A-Za-z0-9_-]{1,64}");
	return 0;
}

static int rs_pg_ctl(const char *bin, const char *const *args, const struct exec_context *ctx, char **ret_message)
{
	static const char *const env[] = { "LC_ALL=C.UTF-8", NULL };
	const char *argv[16] = { bin };
	struct proc_result res = { 0 };
	size_t n = 1;
	int r;

	for (; *args && n < ELEMENTSOF(argv) - 1; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	struct proc_spec spec = { .argv = argv, .env = env, .user = "postgres", .timeout_ms = RESTORE_DRILL_TIMEOUT_MS,
				  .keepalive = ctx->keepalive, .userdata = ctx->userdata };
	r = proc_run(&spec, &res);
	if (r >= 0 && res.exit_status != 0) {
		r = -EIO;
		if (ret_message && !*ret_message)
			*ret_message = exec_message("pg_ctl failed (status %d): %s", res.exit_status,
					      proc_tail(*res.err ? res.err : res.out, 1000));
	}
	proc_result_done(&res);
	return r;
}

int exec_backup_drill_run(json_t *params, const struct exec_context *ctx, json_t **ret_output, char **ret_message)
{
	const char *backup_id = json_string_value(json_object_get(params, "backup_id"));
	_cleanup_target_ struct backup_target *t = NULL;
	_cleanup_free_ char *dir = NULL, *bindir = NULL, *pg_ctl = NULL, *cmd = NULL, *conf = NULL, *log = NULL,
			    *conninfo = NULL, *logopt = NULL;
	_cleanup_json_ json_t *m = NULL;
	_cleanup_close_ int dfd = -1;
	struct pg_instance inst;
	PGconn *pg = NULL;
	int64_t tables = -1;
	int r, r2;

	if (!exec_pg_ds_is_valid(ctx->ds))
		return RS_FAIL(-EINVAL, "the job names no valid datastore id");
	t = malloc(sizeof(*t));
	if (!t)
		return -ENOMEM;
	if (backup_keys_get(ctx->ds, t) < 0)
		return RS_FAIL(-ENOKEY, "backup keys of datastore %s are not loaded (backup.configure must run first)",
			       ctx->ds);
	r = pgstatus_instance_load(ctx->config->db_dir, ctx->ds, &inst);
	if (r < 0)
		return RS_FAIL(r, "no PostgreSQL instance of datastore %s on this node", ctx->ds);
	bindir = exec_pkg_find_bin_dir(inst.version);
	if (!bindir || !(pg_ctl = path_join(bindir, "pg_ctl")))
		return RS_FAIL(-ENOENT, "PostgreSQL %s is not installed", inst.version);
	if (asprintf(&dir, "%s/.drill-%s", ctx->config->db_dir, backup_id) < 0 ||
	    asprintf(&log, "%s/drill.log", dir) < 0)
		return -ENOMEM;
	r = rs_rm_rf(dir);
	if (r < 0)
		return RS_FAIL(r, "cannot remove the leftover %s: %s", dir, strerror(-r));
	r = backup_restore_into(t, backup_id, dir, false, ctx->keepalive, ctx->userdata, &m, ret_message);
	if (r < 0)
		goto out;
	cmd = backup_restore_command(ctx->ds, ret_message);
	if (!cmd) {
		r = -EINVAL;
		goto out;
	}
	conf = exec_message("# backup.drill of %s\n"
		      "include_if_exists 'postgresql.initdb.conf'\n"
		      "listen_addresses = ''\n"
		      "port = %d\n"
		      "unix_socket_directories = '%s'\n"
		      "ssl = off\n"
		      "archive_mode = off\n"
		      "hot_standby = on\n"
		      "# at least the source's (pg.init's) values, or recovery stops\n"
		      "max_wal_senders = 16\n"
		      "max_replication_slots = 16\n"
		      "logging_collector = off\n"
		      "restore_command = '%s'\n"
		      "recovery_target = 'immediate'\n"
		      "recovery_target_action = 'promote'\n"
		      "include_if_exists 'cairn.conf'\n",
		      backup_id, RESTORE_DRILL_PORT, dir, cmd);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (!conf || dfd < 0) {
		r = -ENOMEM;
		goto out;
	}
	(void)unlinkat(dfd, EXEC_PG_ARCHIVE_CONF, 0);
	if ((r = rs_write_at(dfd, "postgresql.conf", conf)) < 0 ||
	    (r = rs_write_at(dfd, "pg_hba.conf", "local all all peer map=drill\n")) < 0 ||
	    (r = rs_write_at(dfd, "pg_ident.conf", "drill root postgres\ndrill postgres postgres\n")) < 0 ||
	    (r = rs_write_at(dfd, "recovery.signal", "")) < 0 || (r = rs_chown_tree(dir)) < 0) {
		r = RS_FAIL(r, "cannot prepare %s: %s", dir, strerror(-r));
		goto out;
	}
	r = rs_pg_ctl(pg_ctl, (const char *const[]){ "-D", dir, "-l", log, "-w", "-t", "3600", "start", NULL }, ctx,
		      NULL);
	if (r < 0) {
		_cleanup_free_ char *text = NULL;
		size_t len = 0;

		(void)read_file_full(log, 1024 * 1024, &text, &len);
		const char *tail = text ? proc_tail(text, 1000) : "";
		r = RS_FAIL(r, "the drill instance did not start: %s", tail);
		goto out;
	}
	conninfo = exec_message("host=%s port=%d dbname=postgres user=postgres connect_timeout=10", dir, RESTORE_DRILL_PORT);
	pg = conninfo ? PQconnectdb(conninfo) : NULL;
	if (!pg || PQstatus(pg) != CONNECTION_OK) {
		r = RS_FAIL(-ECONNREFUSED, "cannot connect to the drill instance: %s",
			    pg ? PQerrorMessage(pg) : "out of memory");
		goto stop;
	}
	for (int64_t deadline = now_mono_ms() + RESTORE_DRILL_TIMEOUT_MS;;) {
		PGresult *res = PQexec(pg, "SELECT pg_is_in_recovery()");
		bool rec = PQresultStatus(res) == PGRES_TUPLES_OK && streq(PQgetvalue(res, 0, 0), "t");

		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			r = RS_FAIL(-EIO, "drill instance: %s", PQresultErrorMessage(res));
			PQclear(res);
			goto stop;
		}
		PQclear(res);
		if (!rec)
			break;
		if (!ctx->keepalive(ctx->userdata) || now_mono_ms() > deadline) {
			r = -ECANCELED;
			goto stop;
		}
		(void)usleep(500 * 1000);
	}
	{
		PGresult *res = PQexec(pg, "SELECT count(*) FROM pg_class");

		if (PQresultStatus(res) == PGRES_TUPLES_OK)
			(void)parse_int64(PQgetvalue(res, 0, 0), 0, INT64_MAX, &tables);
		else
			r = RS_FAIL(-EIO, "drill query failed: %s", PQresultErrorMessage(res));
		PQclear(res);
	}
stop:
	if (pg)
		PQfinish(pg);
	r2 = rs_pg_ctl(pg_ctl, (const char *const[]){ "-D", dir, "-m", "fast", "-w", "-t", "300", "stop", NULL }, ctx,
		       r < 0 ? NULL : ret_message);
	if (r >= 0 && r2 < 0)
		r = r2;
out:
	(void)rs_rm_rf(dir);
	if (r < 0)
		return r;
	*ret_output = json_pack("{s:s,s:I,s:s}", "backup_id", backup_id, "pg_class_rows", (json_int_t)tables,
				"stop_lsn", json_string_value(json_object_get(m, "stop_lsn")));
	return *ret_output ? 0 : -ENOMEM;
}
