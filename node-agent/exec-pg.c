/*
 * exec-pg.c: the PostgreSQL executors (docs/datastores.md "Jobs",
 * "Connection and secrets").
 *
 * Each run derives its paths from the agent's configuration and the job's
 * ds, checks what is already there (a PGDATA carries a marker with the ds
 * that owns it), does only what is missing, and leaves the server running
 * under the service supervisor.  New data directories are built next to
 * PGDATA (data.init, data.basebackup) and renamed into place when whole,
 * so a crash never leaves a half-made PGDATA that a retry would trust.
 * Programs (initdb, pg_basebackup) run as postgres through proc_run; SQL
 * goes over libpq on the instance's socket, so nothing secret is in argv.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "backup-keys.h"
#include "exec-exporter.h"
#include "exec-pg.h"
#include "exec-pkg.h"
#include "fileio.h"
#include "macro.h"
#include "pgstatus.h"
#include "proc.h"
#include "protocol.h"
#include "service.h"
#include "util.h"

#define PG_USER "postgres"
#define PG_MAX_WAL_SENDERS 16
#define PG_MAX_REPLICATION_SLOTS 16
#define PG_CONNECT_TIMEOUT_MS 10000
#define PG_STATEMENT_TIMEOUT_MS 60000
#define PG_INITDB_TIMEOUT_MS (300 * 1000)
#define PG_BASEBACKUP_TIMEOUT_MS (3400 * 1000)
#define PG_START_TIMEOUT_MS (240 * 1000) /* under pg.service's 300 s */
#define PG_STOP_TIMEOUT_MS (120 * 1000)
#define PG_MESSAGE_TAIL 1500
#define PG_HOST_MAX 253

/* ---- validation ---------------------------------------------------- */

bool exec_pg_slot_is_valid(const char *s)
{
	size_t n;

	if (!s)
		return false;
	n = strlen(s);
	if (n < 1 || n > EXEC_PG_SLOT_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

bool exec_pg_setting_name_is_valid(const char *s)
{
	static const char *const managed[] = {
		"listen_addresses", "port", "data_directory", "hba_file", "ident_file", "config_file",
		"external_pid_file", "primary_conninfo", "primary_slot_name", "restore_command",
		"shared_preload_libraries", "password_encryption", "cluster_name", NULL,
	};
	static const char *const managed_prefix[] = { "ssl", "unix_socket_", "archive_", "include", NULL };
	size_t n;

	if (!s)
		return false;
	n = strlen(s);
	if (n < 1 || n > EXEC_PG_SETTING_NAME_MAX || !(s[0] >= 'a' && s[0] <= 'z'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '.'))
			return false;
	for (size_t i = 0; managed[i]; i++)
		if (streq(s, managed[i]))
			return false;
	for (size_t i = 0; managed_prefix[i]; i++)
		if (strncmp(s, managed_prefix[i], strlen(managed_prefix[i])) == 0)
			return false;
	return true;
}

static bool pg_printable(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return false;
	return true;
}

int exec_pg_check_settings(json_t *settings, char *reason, size_t reason_len)
{
	const char *key;
	json_t *v;

	if (!json_is_object(settings))
		return exec_reason(reason, reason_len, "settings: expected an object of strings");
	if (json_object_size(settings) > CAIRN_DS_SETTINGS_MAX)
		return exec_reason(reason, reason_len, "settings: at most %d", CAIRN_DS_SETTINGS_MAX);
	json_object_foreach(settings, key, v) {
		if (!exec_pg_setting_name_is_valid(key))
			return exec_reason(reason, reason_len,
					   "settings: a name is not [a-z][a-z0-9_.]{0,62} or is managed by cairn");
		if (!json_is_string(v) || !pg_printable(json_string_value(v), CAIRN_DS_SETTING_VALUE_MAX))
			return exec_reason(reason, reason_len,
					   "settings.%s: expected a string of at most %d printable ASCII characters", key,
					   CAIRN_DS_SETTING_VALUE_MAX);
	}
	return 0;
}

bool exec_pg_ds_is_valid(const char *ds)
{
	if (!ds || !uuid_is_valid(ds))
		return false;
	for (const char *p = ds; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			return false;
	return true;
}

static int pg_check_version(json_t *params, char *reason, size_t reason_len)
{
	json_t *v = json_object_get(params, "version");

	if (!json_is_string(v) || !exec_pkg_version_is_valid(json_string_value(v)))
		return exec_reason(reason, reason_len, "version: expected a PostgreSQL major such as \"15\"");
	return 0;
}

static int pg_check_port(json_t *params, const char *member, char *reason, size_t reason_len)
{
	json_t *v = json_object_get(params, member);

	if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 65535)
		return exec_reason(reason, reason_len, "%s: expected an integer 1..65535", member);
	return 0;
}

static int pg_check_repl_cn(json_t *params, char *reason, size_t reason_len)
{
	const char *s = json_string_value(json_object_get(params, "repl_cn"));
	size_t pl = strlen(CAIRN_PG_REPL_CN_PREFIX);

	if (!s || strncmp(s, CAIRN_PG_REPL_CN_PREFIX, pl) != 0 || !exec_pg_ds_is_valid(s + pl))
		return exec_reason(reason, reason_len, "repl_cn: expected \"repl.<datastore id>\"");
	return 0;
}

static int pg_check_cluster_name(json_t *params, char *reason, size_t reason_len)
{
	const char *s = json_string_value(json_object_get(params, "cluster_name"));
	size_t n = s ? strlen(s) : 0;

	if (n < 1 || n > EXEC_PG_CLUSTER_NAME_MAX)
		return exec_reason(reason, reason_len, "cluster_name: expected [A-Za-z0-9_.-]{1,63}");
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
		      s[i] == '_' || s[i] == '.' || s[i] == '-'))
			return exec_reason(reason, reason_len, "cluster_name: expected [A-Za-z0-9_.-]{1,63}");
	return 0;
}

/* "SCRAM-SHA-256$<iter>:<salt>$<storedkey>:<serverkey>", base64 parts. */
static bool pg_verifier_is_valid(const char *s)
{
	static const char prefix[] = "SCRAM-SHA-256$";
	size_t n;
	int dollars = 0, colons = 0;

	if (!s)
		return false;
	n = strlen(s);
	if (n <= sizeof(prefix) || n > EXEC_PG_VERIFIER_MAX || strncmp(s, prefix, sizeof(prefix) - 1) != 0)
		return false;
	for (size_t i = sizeof(prefix) - 1; i < n; i++) {
		char c = s[i];

		if (c == '$')
			dollars++;
		else if (c == ':')
			colons++;
		else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' ||
			   c == '/' || c == '='))
			return false;
	}
	return dollars == 1 && colons == 2;
}

int exec_pg_init_validate(json_t *params, const struct exec_config *cfg, char *reason, size_t reason_len)
{
	static const char *const known[] = { "version", "port", "settings", "admin_verifier", "repl_cn",
					     "cluster_name", NULL };
	int r;

	(void)cfg;
	if ((r = exec_check_members(params, known, reason, reason_len)) < 0 ||
	    (r = pg_check_version(params, reason, reason_len)) < 0 ||
	    (r = pg_check_port(params, "port", reason, reason_len)) < 0 ||
	    (r = exec_pg_check_settings(json_object_get(params, "settings"), reason, reason_len)) < 0 ||
	    (r = pg_check_repl_cn(params, reason, reason_len)) < 0 ||
	    (r = pg_check_cluster_name(params, reason, reason_len)) < 0)
		return r;
	if (!pg_verifier_is_valid(json_string_value(json_object_get(params, "admin_verifier"))))
		return exec_reason(reason, reason_len, "admin_verifier: expected a SCRAM-SHA-256 verifier");
	return 0;
}

int exec_pg_replica_validate(json_t *params, const struct exec_config *cfg, char *reason, size_t reason_len)
{
	static const char *const known[] = { "version", "port", "settings", "primary_host", "primary_port",
					     "slot", "repl_cn", "cluster_name", NULL };
	const char *host;
	int r;

	(void)cfg;
	if ((r = exec_check_members(params, known, reason, reason_len)) < 0 ||
	    (r = pg_check_version(params, reason, reason_len)) < 0 ||
	    (r = pg_check_port(params, "port", reason, reason_len)) < 0 ||
	    (r = pg_check_port(params, "primary_port", reason, reason_len)) < 0 ||
	    (r = exec_pg_check_settings(json_object_get(params, "settings"), reason, reason_len)) < 0 ||
	    (r = pg_check_repl_cn(params, reason, reason_len)) < 0 ||
	    (r = pg_check_cluster_name(params, reason, reason_len)) < 0)
		return r;
	host = json_string_value(json_object_get(params, "primary_host"));
	if (!host || strlen(host) > PG_HOST_MAX || !(hostname_is_valid(host) || ip_literal_is_valid(host)))
		return exec_reason(reason, reason_len, "primary_host: expected an IP address or a DNS name");
	if (!exec_pg_slot_is_valid(json_string_value(json_object_get(params, "slot"))))
		return exec_reason(reason, reason_len, "slot: expected [a-z0-9_]{1,63}");
	return 0;
}

int exec_pg_slots_validate(json_t *params, const struct exec_config *cfg, char *reason, size_t reason_len)
{
	static const char *const known[] = { "slots", NULL };
	json_t *slots, *e;
	size_t i;
	int r;

	(void)cfg;
	r = exec_check_members(params, known, reason, reason_len);
	if (r < 0)
		return r;
	slots = json_object_get(params, "slots");
	if (!json_is_array(slots) || json_array_size(slots) > EXEC_PG_SLOTS_MAX)
		return exec_reason(reason, reason_len, "slots: expected an array of at most %d names",
				   EXEC_PG_SLOTS_MAX);
	json_array_foreach(slots, i, e) {
		if (!exec_pg_slot_is_valid(json_string_value(e)))
			return exec_reason(reason, reason_len, "slots[%zu]: expected [a-z0-9_]{1,63}", i);
		for (size_t k = 0; k < i; k++)
			if (json_equal(json_array_get(slots, k), e))
				return exec_reason(reason, reason_len, "slots[%zu]: listed twice", i);
	}
	return 0;
}

int exec_pg_config_validate(json_t *params, const struct exec_config *cfg, char *reason, size_t reason_len)
{
	static const char *const known[] = { "settings", NULL };
	int r;

	(void)cfg;
	r = exec_check_members(params, known, reason, reason_len);
	if (r < 0)
		return r;
	return exec_pg_check_settings(json_object_get(params, "settings"), reason, reason_len);
}

int exec_pg_service_validate(json_t *params, const struct exec_config *cfg, char *reason, size_t reason_len)
{
	static const char *const known[] = { "action", "if_pending_restart", NULL };
	static const char *const actions[] = { "start", "stop", "restart", "reload", NULL };
	const char *a;
	json_t *v;
	bool ok = false;
	int r;

	(void)cfg;
	r = exec_check_members(params, known, reason, reason_len);
	if (r < 0)
		return r;
	a = json_string_value(json_object_get(params, "action"));
	for (size_t i = 0; a && actions[i]; i++)
		ok = ok || streq(a, actions[i]);
	if (!ok)
		return exec_reason(reason, reason_len, "action: expected start, stop, restart or reload");
	v = json_object_get(params, "if_pending_restart");
	if (v && !json_is_boolean(v))
		return exec_reason(reason, reason_len, "if_pending_restart: expected a boolean");
	if (json_is_true(v) && !streq(a, "restart"))
		return exec_reason(reason, reason_len, "if_pending_restart: only with action restart");
	return 0;
}

int exec_pg_destroy_validate(json_t *params, const struct exec_config *cfg, char *reason, size_t reason_len)
{
	static const char *const known[] = { NULL };

	(void)cfg;
	return exec_check_members(params, known, reason, reason_len);
}

/* ---- rendering ------------------------------------------------------ */

/* Appends to a growing string; false on allocation failure. */
struct pg_text {
	char *s;
	size_t len;
	bool failed;
};

static void pg_text_add(struct pg_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void pg_text_add(struct pg_text *t, const char *fmt, ...)
{
	va_list ap;
	int n;
	char *p;

	if (t->failed)
		return;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || t->len + (size_t)n >= EXEC_PG_CONF_MAX) {
		t->failed = true;
		return;
	}
	p = realloc(t->s, t->len + (size_t)n + 1);
	if (!p) {
		t->failed = true;
		return;
	}
	t->s = p;
	va_start(ap, fmt);
	vsnprintf(t->s + t->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	t->len += (size_t)n;
}

static char *pg_text_take(struct pg_text *t)
{
	if (t->failed || !t->s) {
		free(t->s);
		return NULL;
	}
	return t->s;
}

/* A configuration-file string literal: ' doubled, \ doubled. */
static char *pg_conf_quote(const char *s)
{
	size_t n = strlen(s), k = 0;
	char *q = malloc(2 * n + 3);

	if (!q)
		return NULL;
	q[k++] = '\'';
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\'' || s[i] == '\\')
			q[k++] = s[i];
		q[k++] = s[i];
	}
	q[k++] = '\'';
	q[k] = 0;
	return q;
}

char *exec_pg_conninfo_quote(const char *s)
{
	size_t n = strlen(s), k = 0;
	char *q = malloc(2 * n + 3);

	if (!q)
		return NULL;
	q[k++] = '\'';
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\'' || s[i] == '\\')
			q[k++] = '\\';
		q[k++] = s[i];
	}
	q[k++] = '\'';
	q[k] = 0;
	return q;
}

char *exec_pg_render_postgresql_conf(const struct exec_pg_conf *c)
{
	_cleanup_free_ char *cert = NULL, *key = NULL, *ca = NULL, *sock = NULL, *qcert = NULL, *qkey = NULL,
			    *qca = NULL, *qsock = NULL, *qname = NULL;
	struct pg_text t = { 0 };

	if (!c || !c->db_dir || !c->tls_dir || !c->ds || !c->cluster_name)
		return NULL;
	if (asprintf(&cert, "%s/%s/server.crt", c->tls_dir, c->ds) < 0 ||
	    asprintf(&key, "%s/%s/server.key", c->tls_dir, c->ds) < 0 ||
	    asprintf(&ca, "%s/%s/ca.crt", c->tls_dir, c->ds) < 0 ||
	    asprintf(&sock, "%s/%s/run", c->db_dir, c->ds) < 0)
		return NULL;
	qcert = pg_conf_quote(cert);
	qkey = pg_conf_quote(key);
	qca = pg_conf_quote(ca);
	qsock = pg_conf_quote(sock);
	qname = pg_conf_quote(c->cluster_name);
	if (!qcert || !qkey || !qca || !qsock || !qname)
		return NULL;
	pg_text_add(&t,
		    "# Written by cairn-agent for datastore %s: do not edit.\n"
		    "# initdb's settings are kept in " EXEC_PG_INITDB_CONF "; user settings\n"
		    "# are in " EXEC_PG_SETTINGS_CONF " (pg.config).\n"
		    "include_if_exists '" EXEC_PG_INITDB_CONF "'\n"
		    "\n"
		    "listen_addresses = '*'\n"
		    "port = %d\n"
		    "ssl = on\n"
		    "ssl_cert_file = %s\n"
		    "ssl_key_file = %s\n"
		    "ssl_ca_file = %s\n"
		    "ssl_min_protocol_version = 'TLSv1.2'\n"
		    "password_encryption = 'scram-sha-256'\n"
		    "unix_socket_directories = %s\n"
		    "wal_level = replica\n"
		    "max_wal_senders = %d\n"
		    "max_replication_slots = %d\n"
		    "hot_standby = on\n"
		    "cluster_name = %s\n"
		    "# WAL archiving is always on; its command is set by backup.configure\n"
		    "# in " EXEC_PG_ARCHIVE_CONF " (none configured: nothing is kept).\n"
		    "archive_mode = on\n"
		    "archive_command = '/bin/true'\n"
		    "include_if_exists '" EXEC_PG_ARCHIVE_CONF "'\n"
		    "include_if_exists '" EXEC_PG_RECOVERY_CONF "'\n"
		    "\n"
		    "include_if_exists '" EXEC_PG_SETTINGS_CONF "'\n",
		    c->ds, c->port, qcert, qkey, qca, qsock, PG_MAX_WAL_SENDERS, PG_MAX_REPLICATION_SLOTS, qname);
	return pg_text_take(&t);
}

static int pg_key_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

char *exec_pg_render_settings(json_t *settings)
{
	const char *keys[CAIRN_DS_SETTINGS_MAX];
	struct pg_text t = { 0 };
	const char *key;
	json_t *v;
	size_t n = 0;

	if (exec_pg_check_settings(settings, NULL, 0) < 0)
		return NULL;
	json_object_foreach(settings, key, v) keys[n++] = key;
	qsort(keys, n, sizeof(keys[0]), pg_key_cmp);
	pg_text_add(&t, "# Written by cairn-agent (pg.config): do not edit.\n");
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *q = pg_conf_quote(json_string_value(json_object_get(settings, keys[i])));
		if (!q) {
			free(t.s);
			return NULL;
		}
		pg_text_add(&t, "%s = %s\n", keys[i], q);
	}
	return pg_text_take(&t);
}

char *exec_pg_render_hba(void)
{
	return strdup("# Written by cairn-agent: do not edit.\n"
		      "local   all          postgres           peer map=cairn_local\n"
		      "local   all          cairn_monitor      peer map=cairn_local\n"
		      "hostssl replication  cairn_replication  all  cert map=cairn_cert\n"
		      "hostssl all          postgres           all  reject\n"
		      "hostssl all          cairn_replication  all  reject\n"
		      "hostssl all          cairn_monitor      all  reject\n"
		      "hostssl all          all                all  scram-sha-256\n");
}

char *exec_pg_render_ident(const char *ds)
{
	char *s = NULL;

	if (!exec_pg_ds_is_valid(ds))
		return NULL;
	if (asprintf(&s,
		     "# Written by cairn-agent: do not edit.\n"
		     "# MAPNAME    SYSTEM-USERNAME  PG-USERNAME\n"
		     "cairn_local  root             postgres\n"
		     "cairn_local  postgres         postgres\n"
		     "cairn_local  prometheus       cairn_monitor\n"
		     "cairn_cert   " CAIRN_PG_REPL_CN_PREFIX "%s  " CAIRN_PG_REPL_USER "\n",
		     ds) < 0)
		return NULL;
	return s;
}

/* ---- runtime helpers ------------------------------------------------ */

/* Sets *ret_message (once) and returns r. */
#define PG_FAIL(r, ...)                                                        \
	({                                                                     \
		if (ret_message && !*ret_message)                              \
			*ret_message = exec_message(__VA_ARGS__);                    \
		(r);                                                           \
	})

/* The paths of one instance. */
struct pg_paths {
	char *base;    /* <db_dir>/<ds> */
	char *data;    /* PGDATA */
	char *run;     /* socket directory */
	char *tls;     /* <tls_dir>/<ds> */
	char *service; /* "pg-<ds>" */
};

static void pg_paths_done(struct pg_paths *p)
{
	free(p->base);
	free(p->data);
	free(p->run);
	free(p->tls);
	free(p->service);
}

static int pg_paths_get(const struct exec_context *ctx, struct pg_paths *ret, char **ret_message)
{
	struct pg_paths p = { 0 };
	const struct exec_config *cfg = ctx->config;

	if (!exec_pg_ds_is_valid(ctx->ds))
		return PG_FAIL(-EINVAL, "the job names no valid datastore id");
	if (!cfg->db_dir || !cfg->tls_dir || cfg->db_dir[0] != '/' || cfg->tls_dir[0] != '/')
		return PG_FAIL(-EINVAL, "the agent has no absolute db_dir and tls_dir");
	if (asprintf(&p.base, "%s/%s", cfg->db_dir, ctx->ds) < 0 ||
	    asprintf(&p.data, "%s/%s/data", cfg->db_dir, ctx->ds) < 0 ||
	    asprintf(&p.run, "%s/%s/run", cfg->db_dir, ctx->ds) < 0 ||
	    asprintf(&p.tls, "%s/%s", cfg->tls_dir, ctx->ds) < 0 || asprintf(&p.service, "pg-%s", ctx->ds) < 0) {
		pg_paths_done(&p);
		return -ENOMEM;
	}
	/* The server's socket <run>/.s.PGSQL.<port> must fit in sun_path
	 * (108 bytes with its NUL); PostgreSQL would only say so at start. */
	if (strlen(p.run) + strlen("/.s.PGSQL.65535") >= sizeof(((struct sockaddr_un *)NULL)->sun_path)) {
		pg_paths_done(&p);
		return PG_FAIL(-ENAMETOOLONG, "db_dir %s is too long: the socket path under it must stay within %zu bytes",
			       cfg->db_dir, sizeof(((struct sockaddr_un *)NULL)->sun_path) - 1);
	}
	*ret = p;
	return 0;
}

static int pg_chown(const char *path)
{
	uid_t uid;
	gid_t gid;
	int r = proc_user(PG_USER, &uid, &gid);

	if (r < 0)
		return r;
	return lchown(path, uid, gid) < 0 ? -errno : 0;
}

/* Writes a file owned by postgres, atomically. */
static int pg_write(const char *dir, const char *leaf, const char *text, mode_t mode, char **ret_message)
{
	_cleanup_free_ char *path = path_join(dir, leaf);
	int r;

	if (!path || !text)
		return -ENOMEM;
	r = write_string_atomic(path, text, mode);
	if (r >= 0)
		r = pg_chown(path);
	if (r < 0)
		return PG_FAIL(r, "cannot write %s: %s", path, strerror(-r));
	return 0;
}

/* A directory owned by postgres with `mode` (made when missing). */
static int pg_mkdir(const char *path, mode_t mode, char **ret_message)
{
	int r = 0;

	if (mkdir(path, mode) < 0 && errno != EEXIST)
		r = -errno;
	if (r >= 0)
		r = pg_chown(path);
	if (r >= 0 && chmod(path, mode) < 0)
		r = -errno;
	if (r < 0)
		return PG_FAIL(r, "cannot create %s: %s", path, strerror(-r));
	return 0;
}

static int pg_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

/* Removes a tree without following symlinks or crossing mounts.  0 also
 * when it did not exist. */
static int pg_rm_rf(const char *path)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (nftw(path, pg_rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0)
		return errno ? -errno : -EIO;
	return 0;
}

/* Makes <db_dir> and <db_dir>/<ds> (postgres, 0711: the socket directory
 * inside must be reachable by prometheus for the exporter; PGDATA itself
 * is 0700) and the socket dir; a db_dir that cannot be written is named
 * in the message. */
static int pg_prepare_dirs(const struct exec_context *ctx, const struct pg_paths *p, char **ret_message)
{
	const char *db_dir = ctx->config->db_dir;
	int r;

	r = mkdir_p(db_dir, 0755);
	if (r < 0)
		return PG_FAIL(r, "db_dir %s cannot be created: %s", db_dir, strerror(-r));
	if (access(db_dir, W_OK) < 0) {
		r = -errno;
		return PG_FAIL(r, "db_dir %s is not writable: %s", db_dir, strerror(-r));
	}
	if (mkdir(p->base, 0711) < 0 && errno != EEXIST) {
		r = -errno;
		return PG_FAIL(r, "db_dir %s is not writable: cannot create %s: %s", db_dir, p->base, strerror(-r));
	}
	r = pg_mkdir(p->base, 0711, ret_message);
	if (r < 0)
		return r;
	return pg_mkdir(p->run, 0755, ret_message);
}

/* What PGDATA is: 0 absent, 1 ours (marker = ds), or -errno with a
 * message (another ds, or a cluster without our marker). */
static int pg_data_state(const struct pg_paths *p, const char *ds, char **ret_message)
{
	_cleanup_free_ char *marker = path_join(p->data, EXEC_PG_MARKER), *line = NULL;
	struct stat st;
	int r;

	if (!marker)
		return -ENOMEM;
	if (lstat(p->data, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		r = -errno;
		return PG_FAIL(r, "cannot inspect %s: %s", p->data, strerror(-r));
	}
	if (!S_ISDIR(st.st_mode))
		return PG_FAIL(-ENOTDIR, "%s exists and is not a directory", p->data);
	r = read_one_line(marker, 64, &line);
	if (r == -ENOENT)
		return PG_FAIL(-EEXIST, "%s exists but was not made by cairn for this datastore; not touching it",
			       p->data);
	if (r < 0)
		return PG_FAIL(r, "cannot read %s: %s", marker, strerror(-r));
	if (!streq(line, ds))
		return PG_FAIL(-EEXIST, "%s belongs to datastore %s, not %s", p->data, line, ds);
	return 1;
}

static bool pg_is_standby(const char *data)
{
	_cleanup_free_ char *s = path_join(data, "standby.signal");

	return s && access(s, F_OK) == 0;
}

static int pg_bin(const char *version, const char *prog, char **ret, char **ret_message)
{
	_cleanup_free_ char *dir = exec_pkg_find_bin_dir(version);
	char *path;

	if (!dir)
		return PG_FAIL(-ENOENT, "PostgreSQL %s is not installed (run pkg.install first)", version);
	path = path_join(dir, prog);
	if (!path)
		return -ENOMEM;
	if (access(path, X_OK) < 0) {
		free(path);
		return PG_FAIL(-ENOENT, "%s/%s is missing", dir, prog);
	}
	*ret = path;
	return 0;
}

/* Runs a PostgreSQL program as postgres. */
static int pg_run(const char *const *argv, int64_t timeout_ms, const struct exec_context *ctx,
		  char **ret_message)
{
	static const char *const env[] = { "LC_ALL=C.UTF-8", "PGAPPNAME=cairn-agent", NULL };
	struct proc_result res = { 0 };
	struct proc_spec spec = { .argv = argv, .env = env, .user = PG_USER, .timeout_ms = timeout_ms,
				  .keepalive = ctx->keepalive, .userdata = ctx->userdata };
	const char *name = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	int r;

	r = proc_run(&spec, &res);
	if (r == -ECANCELED) {
		proc_result_done(&res);
		return r;
	}
	if (r < 0 && r != -ETIMEDOUT)
		return PG_FAIL(r, "cannot run %s: %s", argv[0], strerror(-r));
	if (r < 0 || res.exit_status != 0) {
		if (ret_message && !*ret_message)
			*ret_message = exec_message("%s %s (status %d): %s", name, r < 0 ? "timed out" : "failed",
					      res.exit_status,
					      proc_tail(*res.err ? res.err : res.out, PG_MESSAGE_TAIL));
		proc_result_done(&res);
		return r < 0 ? r : -EIO;
	}
	proc_result_done(&res);
	return 0;
}

/* Writes postgresql.conf, pg_hba.conf, pg_ident.conf, cairn.conf and
 * the marker into `data`. */
static int pg_write_confs(const struct exec_context *ctx, const char *data, int port, const char *cluster_name,
			  json_t *settings, char **ret_message)
{
	struct exec_pg_conf c = { .db_dir = ctx->config->db_dir, .tls_dir = ctx->config->tls_dir, .ds = ctx->ds,
				  .cluster_name = cluster_name, .port = port };
	_cleanup_free_ char *conf = exec_pg_render_postgresql_conf(&c), *hba = exec_pg_render_hba(),
			    *ident = exec_pg_render_ident(ctx->ds), *set = exec_pg_render_settings(settings),
			    *marker = NULL;
	int r;

	if (!conf || !hba || !ident || !set || asprintf(&marker, "%s\n", ctx->ds) < 0)
		return PG_FAIL(-ENOMEM, "cannot render the configuration files");
	if ((r = pg_write(data, "pg_hba.conf", hba, 0600, ret_message)) < 0 ||
	    (r = pg_write(data, "pg_ident.conf", ident, 0600, ret_message)) < 0 ||
	    (r = pg_write(data, EXEC_PG_SETTINGS_CONF, set, 0600, ret_message)) < 0 ||
	    (r = pg_write(data, "postgresql.conf", conf, 0600, ret_message)) < 0 ||
	    (r = pg_write(data, EXEC_PG_MARKER, marker, 0600, ret_message)) < 0)
		return r;
	return 0;
}

/* The certificate files postgresql.conf (and pg_basebackup) point at
 * must exist before the server starts: tls.issue makes them. */
static int pg_check_tls(const struct pg_paths *p, bool repl, char **ret_message)
{
	static const char *const server[] = { "server.crt", "server.key", "ca.crt", NULL };
	static const char *const client[] = { "repl.crt", "repl.key", NULL };

	for (int k = 0; k < (repl ? 2 : 1); k++)
		for (const char *const *f = k == 0 ? server : client; *f; f++) {
			_cleanup_free_ char *path = path_join(p->tls, *f);

			if (!path)
				return -ENOMEM;
			if (access(path, R_OK) < 0) {
				int r = -errno;
				return PG_FAIL(r, "%s: %s (tls.issue must run first)", path, strerror(-r));
			}
		}
	return 0;
}

/* The last line of the direct backend's log of the service, for a
 * message (the systemd backend logs to the journal: then NULL). */
static char *pg_log_tail(const struct exec_context *ctx, const char *service)
{
	_cleanup_free_ char *path = NULL, *data = NULL;
	size_t len = 0;
	int fd;
	off_t size;

	if (!ctx->config->state_dir || asprintf(&path, "%s/services/%s.log", ctx->config->state_dir, service) < 0)
		return NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	size = lseek(fd, 0, SEEK_END);
	data = malloc(PG_MESSAGE_TAIL + 1);
	if (size < 0 || !data || lseek(fd, size > PG_MESSAGE_TAIL ? size - PG_MESSAGE_TAIL : 0, SEEK_SET) < 0) {
		close(fd);
		return NULL;
	}
	for (ssize_t n; len < PG_MESSAGE_TAIL && (n = read(fd, data + len, PG_MESSAGE_TAIL - len)) > 0;)
		len += (size_t)n;
	close(fd);
	data[len] = 0;
	/* The last non-empty line. */
	while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == ' '))
		data[--len] = 0;
	const char *nl = strrchr(data, '\n');
	return strdup(nl ? nl + 1 : data);
}

struct pg_ready {
	const char *db_dir;
	const char *ds;
	int port;
};

static bool pg_ready_cb(void *userdata)
{
	const struct pg_ready *pr = userdata;

	return pgstatus_ping(pr->db_dir, pr->ds, pr->port);
}

/* Starts (or keeps running) the instance under the supervisor. */
static int pg_start(const struct exec_context *ctx, const struct pg_paths *p, const char *version, int port,
		    char **ret_message)
{
	_cleanup_free_ char *postgres = NULL;
	struct pg_ready pr = { .db_dir = ctx->config->db_dir, .ds = ctx->ds, .port = port };
	int r;

	r = pg_bin(version, "postgres", &postgres, ret_message);
	if (r < 0)
		return r;
	const char *argv[] = { postgres, "-D", p->data, NULL };
	static const char *const env[] = { "LC_ALL=C.UTF-8", NULL };
	struct service_spec spec = {
		.name = p->service,
		.argv = argv,
		.env = env,
		.user = PG_USER,
		.cwd = p->data,
		.stop_signal = SIGINT,
		.reload_signal = SIGHUP,
		.stop_timeout_ms = PG_STOP_TIMEOUT_MS,
	};

	if (!ctx->config->services)
		return PG_FAIL(-ENOSYS, "the agent has no service supervisor");
	r = service_start(ctx->config->services, &spec, pg_ready_cb, &pr, PG_START_TIMEOUT_MS);
	if (r < 0) {
		_cleanup_free_ char *tail = pg_log_tail(ctx, p->service);

		return PG_FAIL(r, "PostgreSQL (service %s) did not become ready: %s%s%s", p->service, strerror(-r),
			       tail ? "; last log line: " : "", tail ? tail : "");
	}
	return 0;
}

static int pg_connect(const struct exec_context *ctx, int port, PGconn **ret, char **ret_message)
{
	_cleanup_free_ char *err = NULL;
	int r;

	r = pgstatus_connect(ctx->config->db_dir, ctx->ds, port, PG_CONNECT_TIMEOUT_MS, PG_STATEMENT_TIMEOUT_MS, ret,
			     &err);
	if (r < 0)
		return PG_FAIL(r, "cannot connect to PostgreSQL of %s: %s", ctx->ds, err ? err : strerror(-r));
	return 0;
}

/* Runs one statement (params as text); *ret (optional) gets the result. */
static int pg_sql(PGconn *c, const char *sql, int nparams, const char *const *params, PGresult **ret,
		  char **ret_message)
{
	PGresult *res = PQexecParams(c, sql, nparams, NULL, params, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(res);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		const char *m = PQresultErrorMessage(res);
		size_t n = strlen(m);

		while (n > 0 && (m[n - 1] == '\n' || m[n - 1] == ' '))
			n--;
		if (ret_message && !*ret_message)
			*ret_message = exec_message("PostgreSQL: %.*s", (int)MIN(n, (size_t)PG_MESSAGE_TAIL), m);
		PQclear(res);
		return -EIO;
	}
	if (ret)
		*ret = res;
	else
		PQclear(res);
	return 0;
}

/* system_identifier, lsn, timeline of a running instance. */
static int pg_identity(PGconn *c, json_t **ret, char **ret_message)
{
	_cleanup_pgresult_ PGresult *res = NULL;
	json_t *o;
	int64_t tl = 0;
	int r;

	r = pg_sql(c,
		   "SELECT (SELECT system_identifier::text FROM pg_control_system()),"
		   " CASE WHEN pg_is_in_recovery()"
		   " THEN COALESCE(pg_last_wal_replay_lsn(), pg_last_wal_receive_lsn())::text"
		   " ELSE pg_current_wal_lsn()::text END,"
		   " (SELECT timeline_id FROM pg_control_checkpoint())",
		   0, NULL, &res, ret_message);
	if (r < 0)
		return r;
	(void)parse_int64(PQgetvalue(res, 0, 2), 0, INT64_MAX, &tl);
	o = json_pack("{s:s,s:s?,s:I}", "system_identifier", PQgetvalue(res, 0, 0), "lsn",
		      PQgetisnull(res, 0, 1) ? NULL : PQgetvalue(res, 0, 1), "timeline", (json_int_t)tl);
	if (!o)
		return -ENOMEM;
	*ret = o;
	return 0;
}

static int pg_check_ds_params(const struct exec_context *ctx, json_t *params, char **ret_message)
{
	const char *cn = json_string_value(json_object_get(params, "repl_cn"));

	if (!exec_pg_ds_is_valid(ctx->ds))
		return PG_FAIL(-EINVAL, "the job names no valid datastore id");
	if (cn && !streq(cn + strlen(CAIRN_PG_REPL_CN_PREFIX), ctx->ds))
		return PG_FAIL(-EINVAL, "repl_cn does not name this job's datastore");
	return 0;
}

/* Loads instance.json; a message when there is none. */
static int pg_instance(const struct exec_context *ctx, struct pg_instance *ret, char **ret_message)
{
	int r = pgstatus_instance_load(ctx->config->db_dir, ctx->ds, ret);

	if (r == -ENOENT)
		return PG_FAIL(r, "no PostgreSQL instance of datastore %s on this node", ctx->ds);
	if (r < 0)
		return PG_FAIL(r, "cannot read %s/%s/%s: %s", ctx->config->db_dir, ctx->ds, PGSTATUS_INSTANCE_FILE,
			       strerror(-r));
	return 0;
}

static int pg_save_instance(const struct exec_context *ctx, const char *version, int port, char **ret_message)
{
	struct pg_instance inst = { .port = port };
	int r;

	memcpy(inst.version, version, MIN(strlen(version), sizeof(inst.version) - 1));
	r = pgstatus_instance_save(ctx->config->db_dir, ctx->ds, &inst);
	if (r < 0)
		return PG_FAIL(r, "cannot write %s/%s/%s: %s", ctx->config->db_dir, ctx->ds, PGSTATUS_INSTANCE_FILE,
			       strerror(-r));
	return 0;
}

/* Renames a complete new data directory into place, durably. */
static int pg_install_data(const char *tmp, const char *data, char **ret_message)
{
	int r;

	if (rename(tmp, data) < 0) {
		r = -errno;
		return PG_FAIL(r, "cannot rename %s to %s: %s", tmp, data, strerror(-r));
	}
	r = fsync_parent_dir(data);
	if (r < 0)
		return PG_FAIL(r, "cannot sync the directory of %s: %s", data, strerror(-r));
	return 0;
}

/* Creates or updates the three roles of docs/datastores.md. */
static int pg_roles(PGconn *c, const char *verifier, char **ret_message)
{
	_cleanup_pgresult_ PGresult *res = NULL;
	_cleanup_secret_ char *lit = NULL, *sql = NULL;
	bool admin = false, repl = false, mon = false;
	int r;

	/* A failing statement must not be copied into the server log. */
	r = pg_sql(c, "SET log_min_error_statement = panic", 0, NULL, NULL, ret_message);
	if (r < 0)
		return r;
	r = pg_sql(c, "BEGIN", 0, NULL, NULL, ret_message);
	if (r < 0)
		return r;
	r = pg_sql(c, "SELECT rolname FROM pg_roles WHERE rolname IN ('" CAIRN_PG_ADMIN_USER "', '" CAIRN_PG_REPL_USER
		      "', '" CAIRN_PG_MONITOR_USER "')",
		   0, NULL, &res, ret_message);
	if (r < 0)
		return r;
	for (int i = 0; i < PQntuples(res); i++) {
		const char *n = PQgetvalue(res, i, 0);
		admin = admin || streq(n, CAIRN_PG_ADMIN_USER);
		repl = repl || streq(n, CAIRN_PG_REPL_USER);
		mon = mon || streq(n, CAIRN_PG_MONITOR_USER);
	}

	lit = PQescapeLiteral(c, verifier, strlen(verifier));
	if (!lit)
		return PG_FAIL(-ENOMEM, "cannot quote the admin verifier");
	if (asprintf(&sql, "%s ROLE " CAIRN_PG_ADMIN_USER " WITH LOGIN NOSUPERUSER CREATEDB CREATEROLE PASSWORD %s",
		     admin ? "ALTER" : "CREATE", lit) < 0)
		return -ENOMEM;
	r = pg_sql(c, sql, 0, NULL, NULL, ret_message);
	if (r < 0)
		return r;
	r = pg_sql(c,
		   repl ? "ALTER ROLE " CAIRN_PG_REPL_USER " WITH LOGIN NOSUPERUSER REPLICATION"
			: "CREATE ROLE " CAIRN_PG_REPL_USER " WITH LOGIN REPLICATION",
		   0, NULL, NULL, ret_message);
	if (r < 0)
		return r;
	if (mon) {
		r = pg_sql(c, "ALTER ROLE " CAIRN_PG_MONITOR_USER " WITH LOGIN NOSUPERUSER", 0, NULL, NULL, ret_message);
		if (r >= 0)
			r = pg_sql(c, "GRANT pg_monitor TO " CAIRN_PG_MONITOR_USER, 0, NULL, NULL, ret_message);
	} else
		r = pg_sql(c, "CREATE ROLE " CAIRN_PG_MONITOR_USER " WITH LOGIN IN ROLE pg_monitor", 0, NULL, NULL,
			   ret_message);
	if (r < 0)
		return r;
	/* Since PostgreSQL 15 only the database owner may create in public:
	 * the admin gets that right in the database it is handed. */
	r = pg_sql(c, "GRANT USAGE, CREATE ON SCHEMA public TO " CAIRN_PG_ADMIN_USER, 0, NULL, NULL, ret_message);
	if (r < 0)
		return r;
	return pg_sql(c, "COMMIT", 0, NULL, NULL, ret_message);
}

static int pg_config_check(const struct exec_context *ctx, const char *version, const char *data, char **ret_error,
			   char **ret_message);

/* Parses the configuration as the server will before starting it, so a
 * bad setting fails the job at once with PostgreSQL's message rather
 * than after the start timeout. */
static int pg_precheck(const struct exec_context *ctx, const char *version, const char *data, char **ret_message)
{
	_cleanup_free_ char *err = NULL;
	int r = pg_config_check(ctx, version, data, &err, ret_message);

	if (r < 0)
		return r;
	if (r > 0)
		return PG_FAIL(-EINVAL, "the configuration is refused by PostgreSQL: %s", err ? err : "error");
	return 0;
}

/* The end of pg.init and pg.replica once PGDATA is in place: records the
 * instance, checks the configuration, starts the server under the
 * supervisor and connects to it. */
static int pg_bring_up(const struct exec_context *ctx, const struct pg_paths *p, const char *version, int port,
		       PGconn **ret, char **ret_message)
{
	int r;

	r = pg_save_instance(ctx, version, port, ret_message);
	if (r < 0)
		return r;
	r = pg_precheck(ctx, version, p->data, ret_message);
	if (r < 0)
		return r;
	r = pg_start(ctx, p, version, port, ret_message);
	if (r < 0)
		return r;
	return pg_connect(ctx, port, ret, ret_message);
}

int exec_pg_init_run(json_t *params, const struct exec_context *ctx, json_t **ret_output, char **ret_message)
{
	const char *version = json_string_value(json_object_get(params, "version"));
	const char *cluster_name = json_string_value(json_object_get(params, "cluster_name"));
	const char *verifier = json_string_value(json_object_get(params, "admin_verifier"));
	int port = (int)json_integer_value(json_object_get(params, "port"));
	json_t *settings = json_object_get(params, "settings");
	_cleanup_(pg_paths_done) struct pg_paths p = { 0 };
	_cleanup_free_ char *initdb = NULL, *tmp = NULL, *conf = NULL, *kept = NULL;
	_cleanup_pgconn_ PGconn *c = NULL;
	int r, state;

	if ((r = pg_check_ds_params(ctx, params, ret_message)) < 0 || (r = pg_paths_get(ctx, &p, ret_message)) < 0 ||
	    (r = pg_bin(version, "initdb", &initdb, ret_message)) < 0 ||
	    (r = pg_prepare_dirs(ctx, &p, ret_message)) < 0 || (r = pg_check_tls(&p, false, ret_message)) < 0)
		return r;
	state = pg_data_state(&p, ctx->ds, ret_message);
	if (state < 0)
		return state;
	if (state == 1 && pg_is_standby(p.data))
		return PG_FAIL(-EEXIST, "%s holds a replica of %s; pg.init makes a primary", p.data, ctx->ds);

	if (state == 0) {
		if (asprintf(&tmp, "%s.init", p.data) < 0)
			return -ENOMEM;
		r = pg_rm_rf(tmp);
		if (r < 0)
			return PG_FAIL(r, "cannot remove the leftover %s: %s", tmp, strerror(-r));
		const char *argv[] = { initdb,	    "-D",	 tmp,		   "--data-checksums",
				       "--auth-local=peer", "--auth-host=scram-sha-256", "-E", "UTF8",
				       "--locale=C.UTF-8",	  "--username=postgres",	NULL };
		r = pg_run(argv, PG_INITDB_TIMEOUT_MS, ctx, ret_message);
		if (r < 0) {
			(void)pg_rm_rf(tmp);
			return r;
		}
		/* initdb's own postgresql.conf (locale, time zone, sizes) stays,
		 * included from ours. */
		conf = path_join(tmp, "postgresql.conf");
		kept = path_join(tmp, EXEC_PG_INITDB_CONF);
		if (!conf || !kept)
			return -ENOMEM;
		if (rename(conf, kept) < 0) {
			r = -errno;
			return PG_FAIL(r, "cannot rename %s: %s", conf, strerror(-r));
		}
		r = pg_write_confs(ctx, tmp, port, cluster_name, settings, ret_message);
		if (r < 0)
			return r;
		r = pg_install_data(tmp, p.data, ret_message);
		if (r < 0)
			return r;
	} else {
		r = pg_write_confs(ctx, p.data, port, cluster_name, settings, ret_message);
		if (r < 0)
			return r;
	}

	r = pg_bring_up(ctx, &p, version, port, &c, ret_message);
	if (r < 0)
		return r;
	r = pg_roles(c, verifier, ret_message);
	if (r < 0)
		return r;
	return pg_identity(c, ret_output, ret_message);
}

int exec_pg_replica_run(json_t *params, const struct exec_context *ctx, json_t **ret_output, char **ret_message)
{
	const char *version = json_string_value(json_object_get(params, "version"));
	const char *cluster_name = json_string_value(json_object_get(params, "cluster_name"));
	const char *host = json_string_value(json_object_get(params, "primary_host"));
	const char *slot = json_string_value(json_object_get(params, "slot"));
	int port = (int)json_integer_value(json_object_get(params, "port"));
	int primary_port = (int)json_integer_value(json_object_get(params, "primary_port"));
	json_t *settings = json_object_get(params, "settings");
	_cleanup_(pg_paths_done) struct pg_paths p = { 0 };
	_cleanup_free_ char *bb = NULL, *tmp = NULL, *conninfo = NULL, *qhost = NULL, *qca = NULL, *qcert = NULL,
			    *qkey = NULL, *ca = NULL, *cert = NULL, *key = NULL;
	_cleanup_pgconn_ PGconn *c = NULL;
	int r, state;

	if ((r = pg_check_ds_params(ctx, params, ret_message)) < 0 || (r = pg_paths_get(ctx, &p, ret_message)) < 0 ||
	    (r = pg_bin(version, "pg_basebackup", &bb, ret_message)) < 0 ||
	    (r = pg_prepare_dirs(ctx, &p, ret_message)) < 0 || (r = pg_check_tls(&p, true, ret_message)) < 0)
		return r;
	state = pg_data_state(&p, ctx->ds, ret_message);
	if (state < 0)
		return state;
	if (state == 1 && !pg_is_standby(p.data))
		return PG_FAIL(-EEXIST, "%s holds a primary of %s; not turning it into a replica", p.data, ctx->ds);

	if (state == 0) {
		if (asprintf(&tmp, "%s.basebackup", p.data) < 0 || asprintf(&ca, "%s/ca.crt", p.tls) < 0 ||
		    asprintf(&cert, "%s/repl.crt", p.tls) < 0 || asprintf(&key, "%s/repl.key", p.tls) < 0)
			return -ENOMEM;
		qhost = exec_pg_conninfo_quote(host);
		qca = exec_pg_conninfo_quote(ca);
		qcert = exec_pg_conninfo_quote(cert);
		qkey = exec_pg_conninfo_quote(key);
		if (!qhost || !qca || !qcert || !qkey ||
		    asprintf(&conninfo,
			     "host=%s port=%d user=" CAIRN_PG_REPL_USER " sslmode=verify-full sslrootcert=%s sslcert=%s"
			     " sslkey=%s connect_timeout=10 application_name=%s",
			     qhost, primary_port, qca, qcert, qkey, cluster_name) < 0)
			return -ENOMEM;
		r = pg_rm_rf(tmp);
		if (r < 0)
			return PG_FAIL(r, "cannot remove the leftover %s: %s", tmp, strerror(-r));
		const char *argv[] = { bb, "-d", conninfo, "-D", tmp, "-X", "stream", "-R", "-S", slot,
				       "--checkpoint=fast", "--no-password", NULL };
		r = pg_run(argv, PG_BASEBACKUP_TIMEOUT_MS, ctx, ret_message);
		if (r < 0) {
			(void)pg_rm_rf(tmp);
			return r;
		}
		r = pg_write_confs(ctx, tmp, port, cluster_name, settings, ret_message);
		if (r < 0)
			return r;
		r = pg_install_data(tmp, p.data, ret_message);
		if (r < 0)
			return r;
	} else {
		r = pg_write_confs(ctx, p.data, port, cluster_name, settings, ret_message);
		if (r < 0)
			return r;
	}

	r = pg_bring_up(ctx, &p, version, port, &c, ret_message);
	if (r < 0)
		return r;
	return pg_identity(c, ret_output, ret_message);
}

static bool pg_str_in(json_t *arr, const char *s)
{
	size_t i;
	json_t *e;

	json_array_foreach(arr, i, e) if (streq(json_string_value(e), s)) return true;
	return false;
}

int exec_pg_slots_run(json_t *params, const struct exec_context *ctx, json_t **ret_output, char **ret_message)
{
	json_t *want = json_object_get(params, "slots");
	_cleanup_json_ json_t *created = json_array(), *dropped = json_array(), *kept = json_array();
	_cleanup_pgresult_ PGresult *res = NULL;
	_cleanup_pgconn_ PGconn *c = NULL;
	struct pg_instance inst;
	size_t i;
	json_t *e;
	int r;

	if (!created || !dropped || !kept)
		return -ENOMEM;
	if (!exec_pg_ds_is_valid(ctx->ds))
		return PG_FAIL(-EINVAL, "the job names no valid datastore id");
	if ((r = pg_instance(ctx, &inst, ret_message)) < 0 || (r = pg_connect(ctx, inst.port, &c, ret_message)) < 0)
		return r;
	r = pg_sql(c, "SELECT pg_is_in_recovery()", 0, NULL, &res, ret_message);
	if (r < 0)
		return r;
	if (streq(PQgetvalue(res, 0, 0), "t"))
		return PG_FAIL(-EROFS, "datastore %s is a replica on this node; slots live on the primary", ctx->ds);
	PQclear(TAKE_PTR(res));

	r = pg_sql(c, "SELECT slot_name, active FROM pg_replication_slots WHERE slot_type = 'physical'", 0, NULL, &res,
		   ret_message);
	if (r < 0)
		return r;
	for (int k = 0; k < PQntuples(res); k++) {
		const char *name = PQgetvalue(res, k, 0);
		bool active = streq(PQgetvalue(res, k, 1), "t");

		if (pg_str_in(want, name) || strncmp(name, "cairn_", 6) != 0 || active) {
			if (pg_str_in(want, name) || strncmp(name, "cairn_", 6) == 0)
				json_array_append_new(kept, json_string(name));
			continue;
		}
		const char *pv[] = { name };
		r = pg_sql(c, "SELECT pg_drop_replication_slot($1)", 1, pv, NULL, ret_message);
		if (r < 0)
			return r;
		json_array_append_new(dropped, json_string(name));
	}
	json_array_foreach(want, i, e) {
		bool have = false;
		const char *pv[] = { json_string_value(e) };

		for (int k = 0; k < PQntuples(res); k++)
			have = have || streq(PQgetvalue(res, k, 0), pv[0]);
		if (have)
			continue;
		r = pg_sql(c, "SELECT pg_create_physical_replication_slot($1, true)", 1, pv, NULL, ret_message);
		if (r < 0)
			return r;
		json_array_append_new(created, json_string(pv[0]));
	}
	*ret_output = json_pack("{s:O,s:O,s:O}", "created", created, "dropped", dropped, "kept", kept);
	return *ret_output ? 0 : -ENOMEM;
}

/* Entries of pg_file_settings that will not apply.  pg_file_settings says
 * "setting could not be applied" both for a bad value and for a
 * postmaster parameter that waits for a restart; those are left to
 * pg_config_check (postgres -C), which parses them as a start would. */
static int pg_file_errors(PGconn *c, char **ret_error, char **ret_message)
{
	_cleanup_pgresult_ PGresult *res = NULL;
	int r;

	r = pg_sql(c,
		   "SELECT COALESCE(sourcefile, '?'), COALESCE(sourceline, 0), COALESCE(name, ''), error"
		   " FROM pg_file_settings f WHERE error IS NOT NULL"
		   " AND NOT EXISTS (SELECT 1 FROM pg_settings s WHERE s.name = f.name AND s.context = 'postmaster')"
		   " ORDER BY seqno LIMIT 1",
		   0, NULL, &res, ret_message);
	if (r < 0)
		return r;
	if (PQntuples(res) == 0)
		return 0;
	*ret_error = exec_message("%s line %s: %s%s%s", PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1),
			    PQgetvalue(res, 0, 2), *PQgetvalue(res, 0, 2) ? ": " : "", PQgetvalue(res, 0, 3));
	return 1;
}

/* Sends the reload through the supervisor, or over SQL when the
 * supervisor does not know the service (started before it existed). */
static int pg_reload(const struct exec_context *ctx, const struct pg_paths *p, PGconn *c, char **ret_message)
{
	int r = ctx->config->services ? service_reload(ctx->config->services, p->service) : -ENOENT;

	if (r == -ENOENT)
		return pg_sql(c, "SELECT pg_reload_conf()", 0, NULL, NULL, ret_message);
	if (r < 0)
		return PG_FAIL(r, "cannot reload service %s: %s", p->service, strerror(-r));
	return 0;
}

/* A new session once the server has read its files again since `before`
 * (pg_conf_load_time), within 5 s. */
static int pg_after_reload(const struct exec_context *ctx, int port, const char *before, PGconn **ret,
			   char **ret_message)
{
	int64_t deadline = now_mono_ms() + 5000;

	for (;;) {
		_cleanup_pgconn_ PGconn *c = NULL;
		_cleanup_pgresult_ PGresult *res = NULL;
		const char *pv[] = { before };
		int r;

		r = pg_connect(ctx, port, &c, ret_message);
		if (r < 0)
			return r;
		r = pg_sql(c, "SELECT pg_conf_load_time() > $1::timestamptz", 1, pv, &res, ret_message);
		if (r < 0)
			return r;
		if (streq(PQgetvalue(res, 0, 0), "t") || now_mono_ms() > deadline) {
			*ret = TAKE_PTR(c);
			return 0;
		}
		if (ctx->keepalive && !ctx->keepalive(ctx->userdata))
			return -ECANCELED;
		usleep(100 * 1000);
	}
}

static int pg_pending_restart(PGconn *c, json_t **ret, char **ret_message)
{
	_cleanup_pgresult_ PGresult *res = NULL;
	json_t *arr;
	int r;

	r = pg_sql(c, "SELECT name FROM pg_settings WHERE pending_restart ORDER BY name", 0, NULL, &res, ret_message);
	if (r < 0)
		return r;
	arr = json_array();
	if (!arr)
		return -ENOMEM;
	for (int i = 0; i < PQntuples(res); i++)
		json_array_append_new(arr, json_string(PQgetvalue(res, i, 0)));
	*ret = arr;
	return 0;
}

/* Parses the configuration files as a server start would (`postgres -C`,
 * allowed while the server runs): 1 and *ret_error with PostgreSQL's
 * message when they hold an error, 0 when clean. */
static int pg_config_check(const struct exec_context *ctx, const char *version, const char *data, char **ret_error,
			   char **ret_message)
{
	static const char *const env[] = { "LC_ALL=C.UTF-8", NULL };
	_cleanup_free_ char *postgres = NULL;
	struct proc_result res = { 0 };
	int r;

	r = pg_bin(version, "postgres", &postgres, ret_message);
	if (r < 0)
		return r;
	const char *argv[] = { postgres, "-D", data, "-C", "port", NULL };
	struct proc_spec spec = { .argv = argv, .env = env, .user = PG_USER, .timeout_ms = 30000,
				  .keepalive = ctx->keepalive, .userdata = ctx->userdata };
	r = proc_run(&spec, &res);
	if (r < 0) {
		proc_result_done(&res);
		return PG_FAIL(r, "cannot run %s -C: %s", postgres, strerror(-r));
	}
	if (res.exit_status != 0) {
		/* "<time> [pid] LOG:  invalid value for parameter …": the
		 * first message that says what is wrong, without its log
		 * prefix (an include_if_exists file that is absent is only
		 * noted, not an error). */
		const char *m = NULL;
		for (const char *l = res.err; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
			const char *k = strstr(l, "LOG:  ");
			const char *eol = strchr(l, '\n');
			if (!k || (eol && k > eol))
				continue;
			if (strncmp(k + 6, "skipping missing configuration file", 35) == 0)
				continue;
			m = k;
			break;
		}
		if (!m)
			m = strstr(res.err, "FATAL:  ");
		m = m ? strstr(m, ":  ") + 3 : proc_tail(res.err, PG_MESSAGE_TAIL);
		*ret_error = exec_message("%.*s", (int)MIN(strcspn(m, "\n"), (size_t)PG_MESSAGE_TAIL), m);
		proc_result_done(&res);
		return 1;
	}
	proc_result_done(&res);
	return 0;
}

int exec_pg_config_run(json_t *params, const struct exec_context *ctx, json_t **ret_output, char **ret_message)
{
	json_t *settings = json_object_get(params, "settings");
	_cleanup_(pg_paths_done) struct pg_paths p = { 0 };
	_cleanup_free_ char *path = NULL, *old = NULL, *text = NULL, *before = NULL, *err = NULL;
	_cleanup_pgconn_ PGconn *c = NULL, *c2 = NULL;
	_cleanup_pgresult_ PGresult *res = NULL;
	_cleanup_json_ json_t *pending = NULL;
	struct pg_instance inst;
	int r;

	if ((r = pg_paths_get(ctx, &p, ret_message)) < 0 || (r = pg_instance(ctx, &inst, ret_message)) < 0)
		return r;
	path = path_join(p.data, EXEC_PG_SETTINGS_CONF);
	text = exec_pg_render_settings(settings);
	if (!path || !text)
		return -ENOMEM;
	r = read_file_full(path, EXEC_PG_CONF_MAX, &old, NULL);
	if (r < 0 && r != -ENOENT)
		return PG_FAIL(r, "cannot read %s: %s", path, strerror(-r));
	if ((r = pg_connect(ctx, inst.port, &c, ret_message)) < 0 ||
	    (r = pg_sql(c, "SELECT pg_conf_load_time()::text", 0, NULL, &res, ret_message)) < 0)
		return r;
	before = strdup(PQgetvalue(res, 0, 0));
	if (!before)
		return -ENOMEM;

	r = pg_write(p.data, EXEC_PG_SETTINGS_CONF, text, 0600, ret_message);
	if (r < 0)
		return r;
	/* pg_file_settings parses the files as they are now, before any
	 * reload: a bad file is caught before the server sees it. */
	r = pg_config_check(ctx, inst.version, p.data, &err, ret_message);
	if (r == 0)
		r = pg_file_errors(c, &err, ret_message);
	if (r != 0) {
		int k = old ? pg_write(p.data, EXEC_PG_SETTINGS_CONF, old, 0600, NULL) : unlink_durable(path);

		(void)pg_reload(ctx, &p, c, NULL);
		if (k < 0)
			return PG_FAIL(k, "settings refused by PostgreSQL (%s), and %s could not be restored: %s",
				       err ? err : "error", path, strerror(-k));
		if (r < 0)
			return r;
		return PG_FAIL(-EINVAL, "settings refused by PostgreSQL (previous settings kept): %s", err);
	}
	r = pg_reload(ctx, &p, c, ret_message);
	if (r < 0)
		return r;
	r = pg_after_reload(ctx, inst.port, before, &c2, ret_message);
	if (r < 0)
		return r;
	r = pg_pending_restart(c2, &pending, ret_message);
	if (r < 0)
		return r;
	*ret_output = json_pack("{s:O,s:I}", "pending_restart", pending, "applied",
				(json_int_t)json_object_size(settings));
	return *ret_output ? 0 : -ENOMEM;
}

int exec_pg_service_run(json_t *params, const struct exec_context *ctx, json_t **ret_output, char **ret_message)
{
	const char *action = json_string_value(json_object_get(params, "action"));
	bool if_pending = json_is_true(json_object_get(params, "if_pending_restart"));
	_cleanup_(pg_paths_done) struct pg_paths p = { 0 };
	struct pg_instance inst;
	struct services *svc = ctx->config->services;
	bool restarted = false;
	int r;

	if ((r = pg_paths_get(ctx, &p, ret_message)) < 0)
		return r;
	if (!svc)
		return PG_FAIL(-ENOSYS, "the agent has no service supervisor");
	r = pg_instance(ctx, &inst, ret_message);
	if (r == -ENOENT && streq(action, "stop")) {
		free(*ret_message);
		*ret_message = NULL;
		*ret_output = json_pack("{s:b,s:b}", "restarted", false, "running", false);
		return *ret_output ? 0 : -ENOMEM;
	}
	if (r < 0)
		return r;

	if (streq(action, "start"))
		r = pg_start(ctx, &p, inst.version, inst.port, ret_message);
	else if (streq(action, "stop")) {
		r = service_stop(svc, p.service);
		if (r == -ENOENT)
			r = 0;
		if (r < 0)
			return PG_FAIL(r, "cannot stop service %s: %s", p.service, strerror(-r));
	} else if (streq(action, "reload")) {
		_cleanup_pgconn_ PGconn *c = NULL;

		r = pg_connect(ctx, inst.port, &c, ret_message);
		if (r >= 0)
			r = pg_reload(ctx, &p, c, ret_message);
	} else {
		bool need = true;

		if (if_pending) {
			_cleanup_pgconn_ PGconn *c = NULL;
			_cleanup_json_ json_t *pending = NULL;

			/* A server that is down restarts anyway (a start). */
			if (pg_connect(ctx, inst.port, &c, NULL) >= 0) {
				r = pg_pending_restart(c, &pending, ret_message);
				if (r < 0)
					return r;
				need = json_array_size(pending) > 0;
			}
		}
		if (need) {
			struct pg_ready pr = { .db_dir = ctx->config->db_dir, .ds = ctx->ds, .port = inst.port };

			r = service_restart(svc, p.service, pg_ready_cb, &pr, PG_START_TIMEOUT_MS);
			if (r == -ENOENT)
				r = pg_start(ctx, &p, inst.version, inst.port, ret_message);
			else if (r < 0)
				return PG_FAIL(r, "service %s did not come back ready: %s", p.service, strerror(-r));
			restarted = r >= 0;
		} else
			r = pg_start(ctx, &p, inst.version, inst.port, ret_message);
	}
	if (r < 0)
		return r;
	*ret_output = json_pack("{s:b,s:b}", "restarted", restarted, "running", service_status(svc, p.service, NULL) == 1);
	return *ret_output ? 0 : -ENOMEM;
}

/* A server still running from PGDATA that the supervisor does not know
 * (its service file lost) is stopped with pg_ctl before the files go:
 * removing PGDATA under a live server would leave it running blind. */
static int pg_stop_stray(const struct exec_context *ctx, const struct pg_paths *p, char **ret_message)
{
	_cleanup_free_ char *pidfile = path_join(p->data, "postmaster.pid"), *verfile = path_join(p->data, "PG_VERSION");
	_cleanup_free_ char *line = NULL, *version = NULL, *pg_ctl = NULL;
	int64_t pid = 0;

	if (!pidfile || !verfile)
		return -ENOMEM;
	/* postmaster.pid: the pid on its first line, then more lines. */
	if (read_file_full(pidfile, 4096, &line, NULL) < 0)
		return 0;
	line[strcspn(line, "\n")] = 0;
	if (parse_int64(line, 1, INT32_MAX, &pid) < 0 || kill((pid_t)pid, 0) < 0)
		return 0;
	if (read_one_line(verfile, 16, &version) >= 0 && pg_bin(version, "pg_ctl", &pg_ctl, NULL) >= 0) {
		const char *argv[] = { pg_ctl, "-D", p->data, "-m", "fast", "-w", "-t", "60", "stop", NULL };
		(void)pg_run(argv, 90 * 1000, ctx, NULL);
	}
	if (access(pidfile, F_OK) == 0 && kill((pid_t)pid, 0) == 0)
		return PG_FAIL(-EBUSY, "a PostgreSQL server (pid %" PRId64 ") still runs from %s; not removing it", pid,
			       p->data);
	return 0;
}

int exec_pg_destroy_run(json_t *params, const struct exec_context *ctx, json_t **ret_output, char **ret_message)
{
	_cleanup_(pg_paths_done) struct pg_paths p = { 0 };
	_cleanup_json_ json_t *removed = json_array();
	const char *paths[2];
	int r;

	(void)params;
	if (!removed)
		return -ENOMEM;
	if ((r = pg_paths_get(ctx, &p, ret_message)) < 0)
		return r;
	if (ctx->config->services) {
		/* The exporters first: they read this instance and its
		 * certificates (exec-exporter.c). */
		r = exporter_remove(ctx->config, ctx->ds);
		if (r < 0 && r != -ENOENT)
			return PG_FAIL(r, "cannot stop and remove the exporters: %s", strerror(-r));
		r = service_remove(ctx->config->services, p.service);
		if (r < 0 && r != -ENOENT)
			return PG_FAIL(r, "cannot stop and remove service %s: %s", p.service, strerror(-r));
	}
	r = pg_stop_stray(ctx, &p, ret_message);
	if (r < 0)
		return r;
	paths[0] = p.base;
	paths[1] = p.tls;
	for (size_t i = 0; i < ELEMENTSOF(paths); i++) {
		struct stat st;

		if (lstat(paths[i], &st) < 0)
			continue;
		r = pg_rm_rf(paths[i]);
		if (r < 0)
			return PG_FAIL(r, "cannot remove %s: %s", paths[i], strerror(-r));
		json_array_append_new(removed, json_string(paths[i]));
	}
	/* The datastore's backup target goes with it (the objects stay). */
	backup_forget(ctx->config->state_dir, ctx->ds);
	*ret_output = json_pack("{s:O}", "removed", removed);
	return *ret_output ? 0 : -ENOMEM;
}

int exec_pg_restore_finish(json_t *params, const struct exec_context *ctx, const char *tmp, const char *recovery_conf,
			   json_t **ret_output, char **ret_message)
{
	const char *version = json_string_value(json_object_get(params, "version"));
	const char *cluster_name = json_string_value(json_object_get(params, "cluster_name"));
	const char *verifier = json_string_value(json_object_get(params, "admin_verifier"));
	int port = (int)json_integer_value(json_object_get(params, "port"));
	json_t *settings = json_object_get(params, "settings");
	_cleanup_(pg_paths_done) struct pg_paths p = { 0 };
	_cleanup_pgconn_ PGconn *c = NULL;
	_cleanup_free_ char *rec = NULL;
	int r;

	if ((r = pg_check_ds_params(ctx, params, ret_message)) < 0 || (r = pg_paths_get(ctx, &p, ret_message)) < 0 ||
	    (r = pg_check_tls(&p, false, ret_message)) < 0)
		return r;
	if (tmp) {
		r = pg_write_confs(ctx, tmp, port, cluster_name, settings, ret_message);
		if (r < 0)
			return r;
		if ((r = pg_write(tmp, EXEC_PG_RECOVERY_CONF, recovery_conf, 0600, ret_message)) < 0 ||
		    (r = pg_write(tmp, "recovery.signal", "", 0600, ret_message)) < 0)
			return r;
		r = pg_install_data(tmp, p.data, ret_message);
		if (r < 0)
			return r;
	}
	r = pg_bring_up(ctx, &p, version, port, &c, ret_message);
	if (r < 0)
		return r;
	/* Recovery ends with the promotion (recovery_target_action). */
	for (;;) {
		_cleanup_pgresult_ PGresult *res = NULL;

		r = pg_sql(c, "SELECT pg_is_in_recovery()", 0, NULL, &res, ret_message);
		if (r < 0)
			return r;
		if (streq(PQgetvalue(res, 0, 0), "f"))
			break;
		if (!ctx->keepalive(ctx->userdata))
			return -ECANCELED;
		(void)usleep(500 * 1000);
	}
	/* The recovery settings must not reach replicas cloned from here. */
	rec = path_join(p.data, EXEC_PG_RECOVERY_CONF);
	if (!rec)
		return -ENOMEM;
	if (unlink(rec) < 0 && errno != ENOENT)
		return PG_FAIL(-errno, "cannot remove %s: %s", rec, strerror(errno));
	r = pg_reload(ctx, &p, c, ret_message);
	if (r < 0)
		return r;
	r = pg_roles(c, verifier, ret_message);
	if (r < 0)
		return r;
	return pg_identity(c, ret_output, ret_message);
}

int exec_pg_check_init_params(json_t *params, char *reason, size_t reason_len)
{
	int r;

	if ((r = pg_check_version(params, reason, reason_len)) < 0 ||
	    (r = pg_check_port(params, "port", reason, reason_len)) < 0 ||
	    (r = exec_pg_check_settings(json_object_get(params, "settings"), reason, reason_len)) < 0 ||
	    (r = pg_check_repl_cn(params, reason, reason_len)) < 0 ||
	    (r = pg_check_cluster_name(params, reason, reason_len)) < 0)
		return r;
	if (!pg_verifier_is_valid(json_string_value(json_object_get(params, "admin_verifier"))))
		return exec_reason(reason, reason_len, "admin_verifier: expected a SCRAM-SHA-256 verifier");
	return 0;
}

int exec_pg_restore_prepare(const struct exec_context *ctx, char **ret_message)
{
	_cleanup_(pg_paths_done) struct pg_paths p = { 0 };
	int r;

	if ((r = pg_paths_get(ctx, &p, ret_message)) < 0 || (r = pg_prepare_dirs(ctx, &p, ret_message)) < 0 ||
	    (r = pg_check_tls(&p, false, ret_message)) < 0)
		return r;
	return pg_data_state(&p, ctx->ds, ret_message);
}
