/*
 * exec-backup.c: the backup executors (see exec-backup.h and
 * docs/backups.md).  backup.full streams the data directory into bundles
 * with `parallel` worker threads, each with its own S3 client and one
 * multipart upload at a time, so memory is bounded by the streams, never
 * by the data.  The job thread keeps the PostgreSQL session that holds
 * the backup open, pings the watchdog and sends progress events.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "backup-ctl.h"
#include "backup-manifest.h"
#include "backup-object.h"
#include "backup-wal.h"
#include "backup-walk.h"
#include "client.h"
#include "exec-backup.h"
#include "exec-pg.h"
#include "fileio.h"
#include "log.h"
#include "macro.h"
#include "pgstatus.h"
#include "proc.h"
#include "protocol.h"
#include "util.h"

#define BK_READ_BUF (128 * 1024)
#define BK_CONNECT_TIMEOUT_MS 10000
#define BK_FACTS_MAX (16 * 1024)

#define BK_FAIL(r, ...)                                                        \
	({                                                                     \
		if (ret_message && !*ret_message)                              \
			*ret_message = exec_message(__VA_ARGS__);                    \
		(r);                                                           \
	})

/* The keys of the job's datastore, or a message saying they are not held. */
static int bk_target(const struct exec_context *ctx, struct backup_target **ret, char **ret_message)
{
	struct backup_target *t;

	if (!exec_pg_ds_is_valid(ctx->ds))
		return BK_FAIL(-EINVAL, "the job names no valid datastore id");
	t = malloc(sizeof(*t));
	if (!t)
		return -ENOMEM;
	if (backup_keys_get(ctx->ds, t) < 0) {
		free(t);
		return BK_FAIL(-ENOKEY, "backup keys of datastore %s are not loaded (backup.configure must run first)",
			       ctx->ds);
	}
	*ret = t;
	return 0;
}

void backup_progress_event(const struct exec_context *ctx, const char *message, double progress)
{
	_cleanup_free_ char *url = NULL;
	_cleanup_json_ json_t *body = NULL;
	struct client_response resp = { 0 };
	const char *err = NULL;

	if (!ctx->client || !ctx->gateway_url || !ctx->jti)
		return;
	if (asprintf(&url, "%s%s/%s/events", ctx->gateway_url, CAIRN_PATH_AGENT_JOBS, ctx->jti) < 0)
		return;
	body = json_pack("{s:s,s:s,s:f}", "kind", "progress", "message", message, "progress",
			 progress < 0 ? 0.0 : progress > 1 ? 1.0 : progress);
	if (!body)
		return;
	if (client_request_json(ctx->client, "POST", url, body, CLIENT_BODY_MAX_DEFAULT, 10, &resp, &err) >= 0)
		client_response_done(&resp);
}

static int bk_connect(const struct exec_context *ctx, PGconn **ret, int *ret_port, char **ret_message)
{
	_cleanup_free_ char *err = NULL;
	struct pg_instance inst;
	int r;

	r = pgstatus_instance_load(ctx->config->db_dir, ctx->ds, &inst);
	if (r < 0)
		return BK_FAIL(r, "no PostgreSQL instance of datastore %s on this node", ctx->ds);
	r = pgstatus_connect(ctx->config->db_dir, ctx->ds, inst.port, BK_CONNECT_TIMEOUT_MS, 0, ret, &err);
	if (r < 0)
		return BK_FAIL(r, "cannot connect to PostgreSQL of %s: %s", ctx->ds, err ? err : strerror(-r));
	if (ret_port)
		*ret_port = inst.port;
	return 0;
}

static int bk_sql(PGconn *c, const char *sql, int n, const char *const *params, PGresult **ret, char **ret_message)
{
	PGresult *res = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(res);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		const char *m = PQresultErrorMessage(res);
		size_t k = strlen(m);

		while (k > 0 && (m[k - 1] == '\n' || m[k - 1] == ' '))
			k--;
		if (ret_message && !*ret_message)
			*ret_message = exec_message("PostgreSQL: %.*s", (int)MIN(k, (size_t)1000), m);
		PQclear(res);
		return -EIO;
	}
	if (ret)
		*ret = res;
	else
		PQclear(res);
	return 0;
}

static int bk_chown_pg(const char *path)
{
	uid_t uid;
	gid_t gid;
	int r = proc_user("postgres", &uid, &gid);

	if (r < 0)
		return r;
	return lchown(path, uid, gid) < 0 ? -errno : 0;
}

/* ---- backup.configure ---- */

int exec_backup_configure_validate(json_t *params, const struct exec_config *cfg, char *reason, size_t reason_len)
{
	static const char *const known[] = { "s3", "data_key", "compression_level", NULL };
	json_t *lvl = json_object_get(params, "compression_level");
	uint8_t key[BSTREAM_KEY_LEN];
	int r;

	(void)cfg;
	if ((r = exec_check_members(params, known, reason, reason_len)) < 0 ||
	    (r = backup_check_s3_json(json_object_get(params, "s3"), "s3", reason, reason_len)) < 0)
		return r;
	if (backup_key_decode(json_string_value(json_object_get(params, "data_key")), key) < 0)
		return exec_reason(reason, reason_len, "data_key: expected base64 of 32 bytes");
	explicit_bzero(key, sizeof(key));
	if (lvl && (!json_is_integer(lvl) || json_integer_value(lvl) < BSTREAM_LEVEL_MIN ||
		    json_integer_value(lvl) > BSTREAM_LEVEL_MAX))
		return exec_reason(reason, reason_len, "compression_level: expected 1..19");
	return 0;
}

/* The archive settings of backup.configure. */
static char *bk_render_archive_conf(const char *ds, char **ret_message)
{
	_cleanup_free_ char *cmd = backup_ctl_command("wal-push", ds, "%p %f", ret_message);

	if (!cmd)
		return NULL;
	return exec_message("# Written by cairn-agent (backup.configure) for datastore %s: do not edit.\n"
			    "archive_mode = on\n"
			    "archive_command = '%s'\n"
			    "archive_timeout = 60\n",
			    ds, cmd);
}

int exec_backup_configure_run(json_t *params, const struct exec_context *ctx, json_t **ret_output,
			      char **ret_message)
{
	_cleanup_target_ struct backup_target *t = NULL;
	_cleanup_s3_client_ struct s3_client *c = NULL;
	_cleanup_free_ char *dir = NULL, *ca = NULL, *facts_path = NULL, *probe = NULL, *facts_text = NULL,
			    *data = NULL, *conf = NULL, *conf_path = NULL;
	_cleanup_json_ json_t *facts = NULL;
	_cleanup_pgconn_ PGconn *pg = NULL;
	json_t *ca_pem = json_object_get(params, "ca_pem");
	int level = (int)json_integer_value(json_object_get(params, "compression_level"));
	char reason[EXEC_REASON_MAX] = "", fp[BACKUP_FINGERPRINT_HEX];
	struct s3_error err = { 0 };
	bool restart_needed = false;
	struct stat st;
	int r;

	if (!exec_pg_ds_is_valid(ctx->ds))
		return BK_FAIL(-EINVAL, "the job names no valid datastore id");
	t = malloc(sizeof(*t));
	if (!t)
		return -ENOMEM;
	r = backup_target_from_json(ctx->ds, json_object_get(params, "s3"), json_object_get(params, "data_key"), level,
				    t, reason, sizeof(reason));
	if (r < 0)
		return BK_FAIL(r, "%s", reason);
	if (asprintf(&dir, "%s/backup", ctx->config->state_dir) < 0)
		return -ENOMEM;
	r = mkdir_p(dir, 0700);
	if (r < 0)
		return BK_FAIL(r, "cannot create %s: %s", dir, strerror(-r));
	ca_pem = json_object_get(json_object_get(params, "s3"), "ca_pem");
	if (json_is_string(ca_pem)) {
		if (asprintf(&ca, "%s/%s.ca.pem", dir, ctx->ds) < 0)
			return -ENOMEM;
		r = write_string_atomic(ca, json_string_value(ca_pem), 0644);
		if (r < 0)
			return BK_FAIL(r, "cannot write %s: %s", ca, strerror(-r));
		if (strlen(ca) >= sizeof(t->ca_file))
			return BK_FAIL(-ENAMETOOLONG, "state_dir too long");
		memcpy(t->ca_file, ca, strlen(ca) + 1);
	}

	/* The target must take a write and a delete before we rely on it. */
	r = backup_target_client(t, 1, &c);
	if (r < 0)
		return BK_FAIL(r, "bad S3 configuration: %s", strerror(-r));
	probe = backup_object_key(t, ".cairn-probe");
	if (!probe)
		return -ENOMEM;
	r = s3_put(c, probe, "cairn probe\n", 12, &err);
	if (r >= 0)
		r = s3_delete(c, (const char *const[]){ probe }, 1, &err);
	if (r < 0) {
		if (ret_message && !*ret_message)
			*ret_message = backup_s3_message("the backup target refused the probe", &err, r);
		return r;
	}
	r = backup_keys_set(t);
	if (r < 0)
		return BK_FAIL(r, "cannot hold the keys: %s", strerror(-r));

	r = backup_key_fingerprint(t->data_key, fp);
	if (r < 0)
		return r;
	facts = json_pack("{s:s,s:s,s:s,s:s,s:b,s:s,s:i}", "endpoint", t->endpoint, "region", t->region, "bucket",
			  t->bucket, "prefix", t->prefix, "virtual_hosted", t->virtual_hosted, "key_fingerprint", fp,
			  "compression_level", t->level);
	facts_text = facts ? json_dumps(facts, JSON_COMPACT) : NULL;
	facts_path = backup_config_path(ctx->config->state_dir, ctx->ds);
	if (!facts_text || !facts_path)
		return -ENOMEM;
	r = write_string_atomic(facts_path, facts_text, 0600);
	if (r < 0)
		return BK_FAIL(r, "cannot write %s: %s", facts_path, strerror(-r));

	/* Archiving on the local instance, when there is one. */
	if (asprintf(&data, "%s/%s/data", ctx->config->db_dir, ctx->ds) < 0)
		return -ENOMEM;
	if (stat(data, &st) == 0) {
		conf = bk_render_archive_conf(ctx->ds, ret_message);
		if (!conf)
			return -EINVAL;
		conf_path = path_join(data, EXEC_PG_ARCHIVE_CONF);
		if (!conf_path)
			return -ENOMEM;
		r = write_string_atomic(conf_path, conf, 0600);
		if (r >= 0)
			r = bk_chown_pg(conf_path);
		if (r < 0)
			return BK_FAIL(r, "cannot write %s: %s", conf_path, strerror(-r));
		if (bk_connect(ctx, &pg, NULL, NULL) >= 0) {
			_cleanup_pgresult_ PGresult *res = NULL;

			r = bk_sql(pg, "SELECT setting FROM pg_settings WHERE name = 'archive_mode'", 0, NULL, &res,
				   ret_message);
			if (r < 0)
				return r;
			restart_needed = PQntuples(res) == 1 && streq(PQgetvalue(res, 0, 0), "off");
			r = bk_sql(pg, "SELECT pg_reload_conf()", 0, NULL, NULL, ret_message);
			if (r < 0)
				return r;
			/* A checkpoint written now, with archiving on, is where a
			 * backup taken on a replica can start: a standby's backup
			 * starts at its last restartpoint, which may otherwise be
			 * a checkpoint whose WAL was never archived. */
			r = bk_sql(pg, "DO $$BEGIN IF NOT pg_is_in_recovery() THEN CHECKPOINT; END IF; END$$", 0, NULL,
				   NULL, ret_message);
			if (r < 0)
				return r;
		}
	}
	*ret_output = json_pack("{s:b,s:s}", "restart_needed", restart_needed, "key_fingerprint", fp);
	return *ret_output ? 0 : -ENOMEM;
}

/* ---- backup.full ---- */

static int bk_check_backup_id(json_t *params, char *reason, size_t reason_len)
{
	if (!backup_id_is_valid(json_string_value(json_object_get(params, "backup_id"))))
		return exec_reason(reason, reason_len, "backup_id: expected [A-Za-z0-9_-]{1,64}");
	return 0;
}

int exec_backup_full_validate(json_t *params, const struct exec_config *cfg, char *reason, size_t reason_len)
{
	static const char *const known[] = { "backup_id", "bundle_size", "parallel", NULL };
	json_t *bs = json_object_get(params, "bundle_size"), *par = json_object_get(params, "parallel");
	int r;

	(void)cfg;
	if ((r = exec_check_members(params, known, reason, reason_len)) < 0 ||
	    (r = bk_check_backup_id(params, reason, reason_len)) < 0)
		return r;
	if (bs && !json_is_null(bs) &&
	    (!json_is_integer(bs) || json_integer_value(bs) < (json_int_t)BACKUP_BUNDLE_SIZE_MIN ||
	     json_integer_value(bs) > (json_int_t)BACKUP_BUNDLE_SIZE_MAX))
		return exec_reason(reason, reason_len, "bundle_size: expected 1 MiB .. 32 GiB");
	if (par && !json_is_null(par) &&
	    (!json_is_integer(par) || json_integer_value(par) < 1 || json_integer_value(par) > BACKUP_PARALLEL_MAX))
		return exec_reason(reason, reason_len, "parallel: expected 1..%d", BACKUP_PARALLEL_MAX);
	return 0;
}

struct bk_bundle {
	size_t first, end;   /* walk entries [first, end) (directories among them skipped) */
	uint64_t plain, stored;
};

struct bk_run {
	const struct backup_target *t;
	const char *backup_id;
	int datafd;
	struct backup_walk *w;
	struct bk_bundle *b;
	size_t nb;
	char (*sha)[65];
	uint64_t *size;     /* bytes stored per entry */
	uint64_t *offset;
	size_t *bundle_of;
	atomic_size_t next;
	atomic_uint_fast64_t bytes_done;
	atomic_bool stop;
	atomic_uint running;
	pthread_mutex_t lock;
	int error;
	char *message;
};

static void bk_run_fail(struct bk_run *run, int r, char *message)
{
	pthread_mutex_lock(&run->lock);
	if (!run->error) {
		run->error = r;
		run->message = message;
		message = NULL;
	}
	pthread_mutex_unlock(&run->lock);
	free(message);
	atomic_store(&run->stop, true);
}

static int bk_store_bundle(struct bk_run *run, struct s3_client *c, size_t bi, uint8_t *buf, char **ret_message)
{
	struct bk_bundle *b = &run->b[bi];
	_cleanup_backup_put_ struct backup_put *p = NULL;
	_cleanup_md_ctx_ EVP_MD_CTX *md = EVP_MD_CTX_new();
	char name[BACKUP_ID_MAX + 64];
	uint64_t off = 0;
	int r;

	if (!md)
		return -ENOMEM;
	r = backup_bundle_name(run->backup_id, bi, name, sizeof(name));
	if (r < 0)
		return r;
	r = backup_put_begin(c, run->t, name, &p, ret_message);
	if (r < 0)
		return r;
	for (size_t i = b->first; i < b->end; i++) {
		struct backup_walk_entry *e = &run->w->e[i];
		_cleanup_close_ int fd = -1;
		uint64_t left = e->size, got = 0;
		unsigned char d[32];

		if (e->dir)
			continue;
		if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
			return -EIO;
		fd = openat(run->datafd, e->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
		if (fd < 0 && errno != ENOENT)
			return BK_FAIL(-errno, "cannot open %s: %s", e->path, strerror(errno));
		/* A file removed since the walk is stored empty: WAL replay
		 * removes it again. */
		while (fd >= 0 && left > 0) {
			ssize_t n;

			if (atomic_load(&run->stop))
				return -ECANCELED;
			n = read(fd, buf, (size_t)MIN(left, (uint64_t)BK_READ_BUF));
			if (n < 0) {
				if (errno == EINTR)
					continue;
				return BK_FAIL(-errno, "cannot read %s: %s", e->path, strerror(errno));
			}
			if (n == 0)
				break; /* it shrank: stored as read */
			if (EVP_DigestUpdate(md, buf, (size_t)n) != 1)
				return -EIO;
			r = backup_put_write(p, buf, (size_t)n, ret_message);
			if (r < 0)
				return r;
			got += (uint64_t)n;
			left -= (uint64_t)n;
			atomic_fetch_add(&run->bytes_done, (uint64_t)n);
		}
		if (EVP_DigestFinal_ex(md, d, NULL) != 1)
			return -EIO;
		for (int k = 0; k < 32; k++)
			snprintf(run->sha[i] + 2 * k, 3, "%02x", d[k]);
		run->size[i] = got;
		run->offset[i] = off;
		off += got;
	}
	r = backup_put_finish(p, &b->plain, &b->stored, ret_message);
	if (r < 0)
		return r;
	if (b->plain != off)
		return BK_FAIL(-EIO, "%s: %" PRIu64 " bytes sealed but %" PRIu64 " read", name, b->plain, off);
	return 0;
}

static void *bk_worker(void *arg)
{
	struct bk_run *run = arg;
	struct s3_client *c = NULL;
	uint8_t *buf = malloc(BK_READ_BUF);
	int r;

	r = buf ? backup_target_client(run->t, 1, &c) : -ENOMEM;
	if (r < 0)
		bk_run_fail(run, r, exec_message("cannot make an S3 client: %s", strerror(-r)));
	while (r >= 0 && !atomic_load(&run->stop)) {
		size_t bi = atomic_fetch_add(&run->next, 1);
		char *m = NULL;

		if (bi >= run->nb)
			break;
		r = bk_store_bundle(run, c, bi, buf, &m);
		if (r < 0)
			bk_run_fail(run, r, m);
		else
			free(m);
	}
	s3_client_free(c);
	free(buf);
	atomic_fetch_sub(&run->running, 1);
	return NULL;
}

/* Deletes every object under backups/<id>/ (a rerun starts over). */
struct bk_keys {
	char **k;
	size_t n, cap;
};

static int bk_keys_add(void *ud, const struct s3_object *o)
{
	struct bk_keys *ks = ud;

	if (ks->n == ks->cap) {
		size_t cap = ks->cap ? ks->cap * 2 : 64;
		char **n = reallocarray(ks->k, cap, sizeof(*n));

		if (!n || cap > 10 * 1000 * 1000)
			return -ENOMEM;
		ks->k = n;
		ks->cap = cap;
	}
	ks->k[ks->n] = strdup(o->key);
	if (!ks->k[ks->n])
		return -ENOMEM;
	ks->n++;
	return 0;
}

static void bk_keys_done(struct bk_keys *ks)
{
	for (size_t i = 0; i < ks->n; i++)
		free(ks->k[i]);
	free(ks->k);
	*ks = (struct bk_keys){ 0 };
}

static int bk_delete_prefix(struct s3_client *c, const struct backup_target *t, const char *name_prefix,
			    size_t *ret_count, char **ret_message)
{
	_cleanup_free_ char *prefix = backup_object_key(t, name_prefix);
	_cleanup_(bk_keys_done) struct bk_keys ks = { 0 };
	struct s3_error err = { 0 };
	int r;

	if (!prefix)
		return -ENOMEM;
	r = s3_list(c, prefix, bk_keys_add, &ks, &err);
	if (r >= 0 && ks.n > 0)
		r = s3_delete(c, (const char *const *)ks.k, ks.n, &err);
	if (r < 0) {
		if (ret_message && !*ret_message)
			*ret_message = backup_s3_message(name_prefix, &err, r);
		return r;
	}
	if (ret_count)
		*ret_count = ks.n;
	return 0;
}

static int bk_parse_lsn(const char *s, uint64_t *ret)
{
	unsigned hi, lo;
	char end;

	if (!s || sscanf(s, "%X/%X%c", &hi, &lo, &end) != 2)
		return -EINVAL;
	*ret = ((uint64_t)hi << 32) | lo;
	return 0;
}

/* The segment holding the last byte before lsn (XLByteToPrevSeg), 16 MiB. */
#define BACKUP_WAL_CHECK_MAX 100000 /* segments checked between start and stop */

static void bk_prev_seg_name(unsigned tli, uint64_t lsn, char ret[static 25])
{
	uint64_t seg = (lsn - 1) / (16ULL * 1024 * 1024);

	snprintf(ret, 25, "%08X%08X%08X", tli, (unsigned)(seg / 256), (unsigned)(seg % 256));
}

/* START WAL LOCATION's file and START TIMELINE from backup_label. */
static int bk_parse_label(const char *label, char start_wal[static 25], unsigned *ret_tli)
{
	const char *p = strstr(label, "(file ");
	const char *tl = strstr(label, "START TIMELINE: ");

	if (!p || !tl)
		return -EINVAL;
	memcpy(start_wal, p + 6, 24);
	start_wal[24] = 0;
	if (!backup_wal_is_segment(start_wal) || sscanf(tl + 16, "%u", ret_tli) != 1)
		return -EINVAL;
	return 0;
}

int exec_backup_full_run(json_t *params, const struct exec_context *ctx, json_t **ret_output, char **ret_message)
{
	const char *backup_id = json_string_value(json_object_get(params, "backup_id"));
	json_int_t bundle_size = json_integer_value(json_object_get(params, "bundle_size"));
	json_int_t parallel = json_integer_value(json_object_get(params, "parallel"));
	_cleanup_target_ struct backup_target *t = NULL;
	_cleanup_s3_client_ struct s3_client *c = NULL;
	_cleanup_pgconn_ PGconn *pg = NULL;
	_cleanup_pgresult_ PGresult *info = NULL, *start = NULL, *stop = NULL;
	_cleanup_(backup_walk_done) struct backup_walk w = { 0 };
	_cleanup_free_ char *data = NULL, *prefix = NULL, *manifest_text = NULL;
	_cleanup_free_ struct bk_bundle *bundles = NULL;
	_cleanup_free_ char(*sha)[65] = NULL;
	_cleanup_free_ uint64_t *sizes = NULL, *offsets = NULL;
	_cleanup_free_ size_t *bundle_of = NULL;
	_cleanup_close_ int datafd = -1;
	_cleanup_json_ json_t *manifest = NULL, *jfiles = NULL, *jbundles = NULL;
	char started_at[TIMESTAMP_MAX], finished_at[TIMESTAMP_MAX], start_wal[25], stop_wal[25], name[160];
	uint64_t total = 0, stop_lsn = 0, plain = 0, stored = 0, nfiles = 0;
	unsigned tli = 0;
	int64_t t0 = now_mono_ms(), last_event = 0;
	pthread_t threads[BACKUP_PARALLEL_MAX];
	size_t nthreads, nb = 0;
	bool in_recovery;
	int r;

	if (bundle_size <= 0)
		bundle_size = (json_int_t)BACKUP_BUNDLE_SIZE_DEFAULT;
	if (parallel <= 0)
		parallel = BACKUP_PARALLEL_DEFAULT;
	r = bk_target(ctx, &t, ret_message);
	if (r < 0)
		return r;
	r = backup_target_client(t, 2, &c);
	if (r < 0)
		return BK_FAIL(r, "bad S3 configuration: %s", strerror(-r));
	if (asprintf(&prefix, "backups/%s/", backup_id) < 0 ||
	    asprintf(&data, "%s/%s/data", ctx->config->db_dir, ctx->ds) < 0)
		return -ENOMEM;
	/* A rerun starts over: nothing of the first attempt stays. */
	r = bk_delete_prefix(c, t, prefix, NULL, ret_message);
	if (r < 0)
		return r;
	r = bk_connect(ctx, &pg, NULL, ret_message);
	if (r < 0)
		return r;
	r = bk_sql(pg,
		   "SELECT (SELECT system_identifier::text FROM pg_control_system()),"
		   " current_setting('server_version'), pg_is_in_recovery()",
		   0, NULL, &info, ret_message);
	if (r < 0)
		return r;
	in_recovery = streq(PQgetvalue(info, 0, 2), "t");
	format_rfc3339(now_s(), started_at);
	/* On a standby the backup starts at the last restartpoint: make one
	 * at the newest checkpoint replayed, so the WAL it needs is recent
	 * (and archived). */
	if (in_recovery) {
		r = bk_sql(pg, "CHECKPOINT", 0, NULL, NULL, ret_message);
		if (r < 0)
			return r;
	}
	r = bk_sql(pg, "SELECT pg_backup_start($1, true)::text", 1, (const char *const[]){ backup_id }, &start,
		   ret_message);
	if (r < 0)
		return r;

	/* Files → bundles. */
	r = backup_walk(data, &w, ret_message);
	if (r < 0) {
		(void)bk_sql(pg, "SELECT pg_backup_stop(false)", 0, NULL, NULL, NULL);
		return BK_FAIL(r, "cannot walk %s: %s", data, strerror(-r));
	}
	bundles = calloc(w.n + 1, sizeof(*bundles));
	sha = calloc(w.n + 1, sizeof(*sha));
	sizes = calloc(w.n + 1, sizeof(*sizes));
	offsets = calloc(w.n + 1, sizeof(*offsets));
	bundle_of = calloc(w.n + 1, sizeof(*bundle_of));
	if (!bundles || !sha || !sizes || !offsets || !bundle_of)
		return -ENOMEM;
	{
		uint64_t fill = 0;
		size_t first = 0;

		for (size_t i = 0; i < w.n; i++) {
			if (w.e[i].dir)
				continue;
			if (fill > 0 && fill + w.e[i].size > (uint64_t)bundle_size) {
				bundles[nb++] = (struct bk_bundle){ .first = first, .end = i };
				first = i;
				fill = 0;
			}
			bundle_of[i] = nb;
			fill += w.e[i].size;
			total += w.e[i].size;
			nfiles++;
		}
		bundles[nb++] = (struct bk_bundle){ .first = first, .end = w.n };
	}
	datafd = open(data, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (datafd < 0)
		return BK_FAIL(-errno, "cannot open %s: %s", data, strerror(errno));

	struct bk_run run = { .t = t, .backup_id = backup_id, .datafd = datafd, .w = &w, .b = bundles, .nb = nb,
			      .sha = sha, .size = sizes, .offset = offsets, .bundle_of = bundle_of };
	pthread_mutex_init(&run.lock, NULL);
	nthreads = MIN((size_t)parallel, nb);
	for (size_t i = 0; i < nthreads; i++) {
		atomic_fetch_add(&run.running, 1);
		if (pthread_create(&threads[i], NULL, bk_worker, &run) != 0) {
			atomic_fetch_sub(&run.running, 1);
			nthreads = i;
			bk_run_fail(&run, -EAGAIN, exec_message("cannot start a backup thread"));
			break;
		}
	}
	while (atomic_load(&run.running) > 0) {
		(void)usleep(200 * 1000);
		if (!ctx->keepalive(ctx->userdata)) {
			bk_run_fail(&run, -ECANCELED, NULL);
			break;
		}
		if (now_mono_ms() - last_event >= BACKUP_PROGRESS_INTERVAL_MS) {
			char m[128];
			uint64_t done = atomic_load(&run.bytes_done);

			last_event = now_mono_ms();
			snprintf(m, sizeof(m), "bytes_done=%" PRIu64 " bytes_total=%" PRIu64, done, total);
			backup_progress_event(ctx, m, total ? (double)done / (double)total : 0);
		}
	}
	for (size_t i = 0; i < nthreads; i++)
		pthread_join(threads[i], NULL);
	pthread_mutex_destroy(&run.lock);
	if (run.error) {
		(void)bk_sql(pg, "SELECT pg_backup_stop(false)", 0, NULL, NULL, NULL);
		if (ret_message && !*ret_message)
			*ret_message = run.message ? run.message : exec_message("backup failed: %s", strerror(-run.error));
		else
			free(run.message);
		return run.error;
	}

	r = bk_sql(pg, "SELECT lsn::text, labelfile, spcmapfile FROM pg_backup_stop(false)", 0, NULL, &stop,
		   ret_message);
	if (r < 0)
		return r;
	if (!PQgetisnull(stop, 0, 2) && PQgetvalue(stop, 0, 2)[0])
		return BK_FAIL(-ENOTSUP, "the instance has tablespaces: not supported by backups");
	if (bk_parse_lsn(PQgetvalue(stop, 0, 0), &stop_lsn) < 0 ||
	    bk_parse_label(PQgetvalue(stop, 0, 1), start_wal, &tli) < 0)
		return BK_FAIL(-EIO, "cannot understand pg_backup_stop()'s answer");
	bk_prev_seg_name(tli, stop_lsn, stop_wal);
	if (strcmp(stop_wal, start_wal) < 0)
		memcpy(stop_wal, start_wal, 25);

	/* The backup is usable only with its WAL archived. */
	for (int64_t deadline = now_mono_ms() + BACKUP_ARCHIVE_WAIT_MS;;) {
		_cleanup_free_ char *m = NULL;

		r = backup_wal_exists(t, stop_wal, &m);
		if (r > 0)
			break;
		if (r < 0 && r != -EINVAL && now_mono_ms() > deadline)
			return BK_FAIL(r, "%s", m ? m : strerror(-r));
		if (now_mono_ms() > deadline)
			return BK_FAIL(-ETIMEDOUT, "WAL segment %s did not reach the archive within %d s (is archiving "
						   "working on the primary?)",
				       stop_wal, BACKUP_ARCHIVE_WAIT_MS / 1000);
		if (!ctx->keepalive(ctx->userdata))
			return -ECANCELED;
		(void)usleep(500 * 1000);
	}

	/* Every segment from the start on must be there too (the stop one
	 * is, and archiving is in order, but a start segment written before
	 * archiving was configured never will be). */
	{
		char seg[25];
		unsigned stli, hi, lo;

		memcpy(seg, start_wal, 25);
		if (sscanf(seg, "%8X%8X%8X", &stli, &hi, &lo) != 3)
			return BK_FAIL(-EIO, "bad start WAL name %s", seg);
		for (unsigned n = 0; strcmp(seg, stop_wal) < 0 && n < BACKUP_WAL_CHECK_MAX; n++) {
			_cleanup_free_ char *m = NULL;

			r = backup_wal_exists(t, seg, &m);
			if (r < 0)
				return BK_FAIL(r, "%s", m ? m : strerror(-r));
			if (r == 0)
				return BK_FAIL(-ENOENT,
					       "WAL segment %s, which this backup needs, is not in the archive (written "
					       "before archiving was configured?): take the backup again",
					       seg);
			if (++lo == 256) {
				lo = 0;
				hi++;
			}
			snprintf(seg, sizeof(seg), "%08X%08X%08X", stli, hi, lo);
		}
	}

	jfiles = json_array();
	jbundles = json_array();
	if (!jfiles || !jbundles)
		return -ENOMEM;
	for (size_t i = 0; i < w.n; i++) {
		json_t *f;

		if (w.e[i].dir)
			f = json_pack("{s:s,s:i,s:I,s:b}", "path", w.e[i].path, "mode", (int)w.e[i].mode, "mtime",
				      (json_int_t)w.e[i].mtime, "dir", 1);
		else
			f = json_pack("{s:s,s:I,s:i,s:I,s:s,s:I,s:I}", "path", w.e[i].path, "size", (json_int_t)sizes[i],
				      "mode", (int)w.e[i].mode, "mtime", (json_int_t)w.e[i].mtime, "sha256", sha[i],
				      "bundle", (json_int_t)bundle_of[i], "offset", (json_int_t)offsets[i]);
		if (!f || json_array_append_new(jfiles, f) < 0)
			return -ENOMEM;
	}
	for (size_t i = 0; i < nb; i++) {
		char bn[32];

		snprintf(bn, sizeof(bn), "bundle-%04zu", i);
		plain += bundles[i].plain;
		stored += bundles[i].stored;
		if (json_array_append_new(jbundles, json_pack("{s:s,s:I,s:I}", "name", bn, "plain_bytes",
							      (json_int_t)bundles[i].plain, "stored_bytes",
							      (json_int_t)bundles[i].stored)) < 0)
			return -ENOMEM;
	}
	format_rfc3339(now_s(), finished_at);
	manifest = json_pack("{s:i,s:s,s:s,s:s,s:s,s:s,s:{s:s,s:s},s:s,s:s,s:i,s:s,s:s,s:s,s:s,s:{s:s,s:i},s:O,s:O,"
			     "s:s,s:n,s:I,s:I}",
			     "format", BACKUP_MANIFEST_FORMAT, "backup_id", backup_id, "datastore_id", ctx->ds, "engine",
			     "postgres", "engine_version", PQgetvalue(info, 0, 1), "system_identifier",
			     PQgetvalue(info, 0, 0), "source", "node_id", "", "role", in_recovery ? "replica" : "primary",
			     "started_at", started_at, "finished_at", finished_at, "timeline", (int)tli, "start_lsn",
			     PQgetvalue(start, 0, 0), "stop_lsn", PQgetvalue(stop, 0, 0), "start_wal", start_wal,
			     "stop_wal", stop_wal, "compression", "alg", "zstd", "level", t->level, "bundles", jbundles,
			     "files", jfiles, "backup_label", PQgetvalue(stop, 0, 1), "tablespace_map", "plain_bytes",
			     (json_int_t)plain, "stored_bytes", (json_int_t)stored);
	if (!manifest)
		return -ENOMEM;
	{
		char reason[EXEC_REASON_MAX];

		r = backup_manifest_check(manifest, reason, sizeof(reason));
		if (r < 0)
			return BK_FAIL(r, "the manifest built is not valid (a bug): %s", reason);
	}
	manifest_text = json_dumps(manifest, JSON_COMPACT);
	if (!manifest_text)
		return -ENOMEM;
	snprintf(name, sizeof(name), "backups/%s/manifest", backup_id);
	r = backup_put_buffer(c, t, name, manifest_text, strlen(manifest_text), ret_message);
	if (r < 0)
		return r;
	log_info("backup %s of %s: %" PRIu64 " files, %" PRIu64 " bytes (%" PRIu64 " stored), WAL %s..%s", backup_id,
		 ctx->ds, nfiles, plain, stored, start_wal, stop_wal);
	*ret_output = json_pack("{s:s,s:s,s:s,s:i,s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:s}", "backup_id", backup_id,
				"started_at", started_at, "finished_at", finished_at, "timeline", (int)tli, "start_lsn",
				PQgetvalue(start, 0, 0), "stop_lsn", PQgetvalue(stop, 0, 0), "start_wal", start_wal,
				"stop_wal", stop_wal, "plain_bytes", (json_int_t)plain, "stored_bytes",
				(json_int_t)stored, "files", (json_int_t)nfiles, "duration_ms",
				(json_int_t)(now_mono_ms() - t0), "role", in_recovery ? "replica" : "primary");
	return *ret_output ? 0 : -ENOMEM;
}

/* ---- backup.verify ---- */

static int bk_null_sink(void *ud, const void *buf, size_t len)
{
	(void)ud;
	(void)buf;
	(void)len;
	return 0;
}

/* The split list of bundle bi from a checked manifest. */
static int bk_bundle_files(json_t *files, size_t bi, struct backup_split_file **ret, size_t *ret_n)
{
	struct backup_split_file *f = NULL;
	size_t n = 0, cap = 0, i;
	json_t *e;

	json_array_foreach(files, i, e) {
		if (json_is_true(json_object_get(e, "dir")) ||
		    (size_t)json_integer_value(json_object_get(e, "bundle")) != bi)
			continue;
		if (n == cap) {
			struct backup_split_file *nf = reallocarray(f, cap ? cap * 2 : 64, sizeof(*f));
			if (!nf) {
				free(f);
				return -ENOMEM;
			}
			f = nf;
			cap = cap ? cap * 2 : 64;
		}
		f[n++] = (struct backup_split_file){
			.path = json_string_value(json_object_get(e, "path")),
			.size = (uint64_t)json_integer_value(json_object_get(e, "size")),
			.mode = (uint32_t)json_integer_value(json_object_get(e, "mode")),
			.mtime = json_integer_value(json_object_get(e, "mtime")),
			.sha256 = json_string_value(json_object_get(e, "sha256")),
		};
	}
	*ret = f;
	*ret_n = n;
	return 0;
}

int backup_fetch_manifest(struct s3_client *c, const struct backup_target *t, const char *backup_id, json_t **ret,
			  char **ret_message)
{
	_cleanup_free_ char *text = NULL;
	char name[160], reason[EXEC_REASON_MAX];
	size_t len = 0;
	int r;

	snprintf(name, sizeof(name), "backups/%s/manifest", backup_id);
	r = backup_get_buffer(c, t, name, BACKUP_MANIFEST_MAX, &text, &len, ret_message);
	if (r == -ENOENT)
		return BK_FAIL(r, "backup %s does not exist (no manifest in the target)", backup_id);
	if (r < 0)
		return r;
	r = backup_manifest_parse(text, len, ret, reason, sizeof(reason));
	if (r < 0)
		return BK_FAIL(r, "%s: %s", name, reason);
	if (!streq(json_string_value(json_object_get(*ret, "backup_id")), backup_id) ||
	    !streq(json_string_value(json_object_get(*ret, "datastore_id")), t->ds)) {
		json_decref(*ret);
		*ret = NULL;
		return BK_FAIL(-EBADMSG, "%s names another backup or datastore", name);
	}
	return 0;
}

int backup_get_bundle(struct s3_client *c, const struct backup_target *t, json_t *manifest, size_t bi, int dirfd,
		      uint64_t *ret_bytes, char **ret_message)
{
	_cleanup_free_ struct backup_split_file *f = NULL;
	struct backup_splitter s;
	char name[160];
	size_t n = 0;
	int r;

	r = bk_bundle_files(json_object_get(manifest, "files"), bi, &f, &n);
	if (r < 0)
		return r;
	r = backup_bundle_name(json_string_value(json_object_get(manifest, "backup_id")), bi, name, sizeof(name));
	if (r < 0)
		return r;
	r = backup_splitter_init(&s, dirfd, f, n);
	if (r < 0)
		return r;
	r = backup_get(c, t, name, backup_splitter_feed, &s, NULL, ret_message);
	if (r >= 0)
		r = backup_splitter_finish(&s);
	if (r < 0 && s.error[0] && ret_message && !*ret_message)
		*ret_message = exec_message("%s: %s", name, s.error);
	if (r == -ENOENT && ret_message && !*ret_message)
		*ret_message = exec_message("%s: missing from the target", name);
	if (r >= 0 && ret_bytes)
		*ret_bytes = s.bytes;
	backup_splitter_done(&s);
	return r;
}

int backup_verify_stored(const struct backup_target *t, const char *backup_id, bool (*keepalive)(void *),
			 void *userdata, struct backup_verify_stats *ret, char **ret_message)
{
	_cleanup_s3_client_ struct s3_client *c = NULL;
	_cleanup_json_ json_t *m = NULL;
	struct backup_verify_stats st = { 0 };
	char seg[25], stop[25];
	size_t nb, i;
	json_t *e;
	int r;

	r = backup_target_client(t, 2, &c);
	if (r < 0)
		return BK_FAIL(r, "bad S3 configuration: %s", strerror(-r));
	r = backup_fetch_manifest(c, t, backup_id, &m, ret_message);
	if (r < 0)
		return r;
	nb = json_array_size(json_object_get(m, "bundles"));
	for (i = 0; i < nb; i++) {
		uint64_t bytes = 0;

		if (keepalive && !keepalive(userdata))
			return -ECANCELED;
		r = backup_get_bundle(c, t, m, i, -1, &bytes, ret_message);
		if (r < 0)
			return r;
		st.bytes += bytes;
	}
	json_array_foreach(json_object_get(m, "files"), i, e)
		if (!json_is_true(json_object_get(e, "dir")))
			st.files++;
	memcpy(seg, json_string_value(json_object_get(m, "start_wal")), 25);
	memcpy(stop, json_string_value(json_object_get(m, "stop_wal")), 25);
	for (;;) {
		char obj[96];

		if (keepalive && !keepalive(userdata))
			return -ECANCELED;
		r = backup_wal_object_name(seg, obj);
		if (r < 0)
			return r;
		r = backup_get(c, t, obj, bk_null_sink, NULL, NULL, ret_message);
		if (r == -ENOENT)
			return BK_FAIL(r, "%s: missing from the archive", obj);
		if (r < 0)
			return r;
		st.wal_segments++;
		if (streq(seg, stop))
			break;
		r = backup_wal_next_segment(seg, seg);
		if (r < 0)
			return r;
	}
	*ret = st;
	return 0;
}

int exec_backup_verify_validate(json_t *params, const struct exec_config *cfg, char *reason, size_t reason_len)
{
	static const char *const known[] = { "backup_id", NULL };
	int r;

	(void)cfg;
	if ((r = exec_check_members(params, known, reason, reason_len)) < 0)
		return r;
	return bk_check_backup_id(params, reason, reason_len);
}

int exec_backup_verify_run(json_t *params, const struct exec_context *ctx, json_t **ret_output, char **ret_message)
{
	_cleanup_target_ struct backup_target *t = NULL;
	struct backup_verify_stats st;
	int r;

	r = bk_target(ctx, &t, ret_message);
	if (r < 0)
		return r;
	r = backup_verify_stored(t, json_string_value(json_object_get(params, "backup_id")), ctx->keepalive,
				 ctx->userdata, &st, ret_message);
	if (r < 0)
		return r;
	*ret_output = json_pack("{s:I,s:I,s:I}", "files", (json_int_t)st.files, "bytes", (json_int_t)st.bytes,
				"wal_segments", (json_int_t)st.wal_segments);
	return *ret_output ? 0 : -ENOMEM;
}

/* ---- backup.delete ---- */

int exec_backup_delete_validate(json_t *params, const struct exec_config *cfg, char *reason, size_t reason_len)
{
	static const char *const known[] = { "backup_ids", "wal_before", NULL };
	json_t *ids = json_object_get(params, "backup_ids"), *wb = json_object_get(params, "wal_before"), *v;
	size_t i;
	int r;

	(void)cfg;
	if ((r = exec_check_members(params, known, reason, reason_len)) < 0)
		return r;
	if (!json_is_array(ids) || json_array_size(ids) > 1000)
		return exec_reason(reason, reason_len, "backup_ids: expected an array of at most 1000 ids");
	json_array_foreach(ids, i, v)
		if (!backup_id_is_valid(json_string_value(v)))
			return exec_reason(reason, reason_len, "backup_ids[%zu]: bad id", i);
	if (wb && !json_is_null(wb) && !backup_wal_is_segment(json_string_value(wb)))
		return exec_reason(reason, reason_len, "wal_before: expected a WAL segment name or null");
	return 0;
}

struct bk_wal_old {
	struct bk_keys ks;
	const char *before; /* 24-hex; compared without the timeline */
};

static int bk_wal_old_add(void *ud, const struct s3_object *o)
{
	struct bk_wal_old *w = ud;
	const char *base = strrchr(o->key, '/');

	base = base ? base + 1 : o->key;
	/* Segments and .partial/.backup files of any timeline; history files stay. */
	if (strlen(base) < 24 || !backup_wal_name_is_valid(base) || strstr(base, ".history"))
		return 0;
	if (strncmp(base + 8, w->before + 8, 16) >= 0)
		return 0;
	return bk_keys_add(&w->ks, o);
}

int exec_backup_delete_run(json_t *params, const struct exec_context *ctx, json_t **ret_output, char **ret_message)
{
	json_t *ids = json_object_get(params, "backup_ids"), *v;
	const char *before = json_string_value(json_object_get(params, "wal_before"));
	_cleanup_target_ struct backup_target *t = NULL;
	_cleanup_s3_client_ struct s3_client *c = NULL;
	size_t i, objects = 0, wal = 0;
	struct s3_error err = { 0 };
	int r;

	r = bk_target(ctx, &t, ret_message);
	if (r < 0)
		return r;
	r = backup_target_client(t, 2, &c);
	if (r < 0)
		return BK_FAIL(r, "bad S3 configuration: %s", strerror(-r));
	json_array_foreach(ids, i, v) {
		_cleanup_free_ char *mkey = NULL;
		char name[160];
		size_t n = 0;

		if (!ctx->keepalive(ctx->userdata))
			return -ECANCELED;
		/* The manifest first: a half-deleted backup is no backup. */
		snprintf(name, sizeof(name), "backups/%s/manifest", json_string_value(v));
		mkey = backup_object_key(t, name);
		if (!mkey)
			return -ENOMEM;
		r = s3_delete(c, (const char *const[]){ mkey }, 1, &err);
		if (r < 0) {
			if (ret_message && !*ret_message)
				*ret_message = backup_s3_message(name, &err, r);
			return r;
		}
		snprintf(name, sizeof(name), "backups/%s/", json_string_value(v));
		r = bk_delete_prefix(c, t, name, &n, ret_message);
		if (r < 0)
			return r;
		objects += n;
	}
	if (before) {
		_cleanup_free_ char *prefix = backup_object_key(t, "wal/");
		struct bk_wal_old w = { .before = before };

		if (!prefix)
			return -ENOMEM;
		r = s3_list(c, prefix, bk_wal_old_add, &w, &err);
		if (r >= 0 && w.ks.n > 0)
			r = s3_delete(c, (const char *const *)w.ks.k, w.ks.n, &err);
		wal = w.ks.n;
		bk_keys_done(&w.ks);
		if (r < 0) {
			if (ret_message && !*ret_message)
				*ret_message = backup_s3_message("wal/", &err, r);
			return r;
		}
	}
	*ret_output = json_pack("{s:I,s:I,s:I}", "backups", (json_int_t)json_array_size(ids), "objects",
				(json_int_t)objects, "wal_segments", (json_int_t)wal);
	return *ret_output ? 0 : -ENOMEM;
}
