/*
 * cmd-backups.c: `cairnctl backup …` (cmd-backups.h).  `now`, `verify`
 * and `restore` follow their operation like `op watch` with --wait; the
 * restore's admin password is printed once, like `datastore create`.
 */
#include <errno.h>
#include <inttypes.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd-backups.h"
#include "cmd-datastores.h"
#include "cmd-ops.h"
#include "fileio.h"
#include "macro.h"
#include "output.h"
#include "protocol.h"
#include "util.h"

#define BK_PATH_BACKUPS "/v1/backups"

bool bk_config_sets(const struct bk_args *a)
{
	return a->endpoint || a->bucket || a->region || a->prefix || a->access_key || a->ca_file ||
	       a->secret_key_file || a->session_token_file || a->virtual_hosted || a->every_s >= 0 ||
	       a->keep >= 0 || a->max_age_s >= 0 || a->compression >= 0 || a->bundle_size >= 0 ||
	       a->parallel >= 0;
}

int bk_args_parse(int argc, char **argv, struct bk_args *ret)
{
	static const struct {
		const char *name;
		enum bk_cmd cmd;
		const char *allowed;
	} cmds[] = {
		{ "config", BK_CONFIG, "ebrpaAsTVEkmlBPDw" }, { "list", BK_LIST, "L" },
		{ "show", BK_SHOW, "" },                     { "now", BK_NOW, "w" },
		{ "verify", BK_VERIFY, "dw" },               { "restore", BK_RESTORE, "tniINxw" },
		{ "key", BK_KEY, "" },
	};
	static const struct option opts[] = {
		{ "endpoint", required_argument, NULL, 'e' },
		{ "bucket", required_argument, NULL, 'b' },
		{ "region", required_argument, NULL, 'r' },
		{ "prefix", required_argument, NULL, 'p' },
		{ "access-key", required_argument, NULL, 'a' },
		{ "ca-file", required_argument, NULL, 'A' },
		{ "secret-key-file", required_argument, NULL, 's' },
		{ "session-token-file", required_argument, NULL, 'T' },
		{ "virtual-hosted", no_argument, NULL, 'V' },
		{ "every", required_argument, NULL, 'E' },
		{ "keep", required_argument, NULL, 'k' },
		{ "max-age", required_argument, NULL, 'm' },
		{ "compression", required_argument, NULL, 'l' },
		{ "bundle-size", required_argument, NULL, 'B' },
		{ "parallel", required_argument, NULL, 'P' },
		{ "delete", no_argument, NULL, 'D' },
		{ "wait", no_argument, NULL, 'w' },
		{ "all", no_argument, NULL, 'L' },
		{ "drill", no_argument, NULL, 'd' },
		{ "to", required_argument, NULL, 't' },
		{ "nodes", required_argument, NULL, 'n' },
		{ "backup", required_argument, NULL, 'i' },
		{ "time", required_argument, NULL, 'I' },
		{ "lsn", required_argument, NULL, 'N' },
		{ "in-place", no_argument, NULL, 'x' },
		{},
	};
	struct bk_args a = { .every_s = -1, .keep = -1, .max_age_s = -1, .compression = -1,
			     .bundle_size = -1, .parallel = -1, .nodes = 1 };
	size_t k;
	int c;

	if (argc < 1) {
		fprintf(stderr, "error: backup: expected config, list, show, now, verify, restore or key\n");
		return -EINVAL;
	}
	for (k = 0; k < ELEMENTSOF(cmds); k++)
		if (streq(cmds[k].name, argv[0]))
			break;
	if (k == ELEMENTSOF(cmds)) {
		fprintf(stderr, "error: backup: unknown command '%s'\n", argv[0]);
		return -EINVAL;
	}
	a.cmd = cmds[k].cmd;
	optind = 0;
	opterr = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
		int64_t *num = NULL, min = 0, max = 0;
		if (c == '?')
			return -EINVAL;
		if (!strchr(cmds[k].allowed, c)) {
			fprintf(stderr, "error: backup %s does not take %s\n", argv[0], argv[optind - 1]);
			return -EINVAL;
		}
		switch (c) {
		case 'e': a.endpoint = optarg; break;
		case 'b': a.bucket = optarg; break;
		case 'r': a.region = optarg; break;
		case 'p': a.prefix = optarg; break;
		case 'a': a.access_key = optarg; break;
		case 'A': a.ca_file = optarg; break;
		case 's': a.secret_key_file = optarg; break;
		case 'T': a.session_token_file = optarg; break;
		case 'V': a.virtual_hosted = true; break;
		case 'E': num = &a.every_s; min = 300; max = 366 * 86400; break;
		case 'k': num = &a.keep; min = 1; max = 10000; break;
		case 'm': num = &a.max_age_s; min = 3600; max = INT64_C(100) * 366 * 86400; break;
		case 'l': num = &a.compression; min = 1; max = 19; break;
		case 'B': num = &a.bundle_size; min = 1024 * 1024; max = INT64_C(16) * 1024 * 1024 * 1024; break;
		case 'P': num = &a.parallel; min = 1; max = 16; break;
		case 'D': a.delete_config = true; break;
		case 'w': a.wait = true; break;
		case 'L': a.all = true; break;
		case 'd': a.drill = true; break;
		case 't': a.to = optarg; break;
		case 'n': num = &a.nodes; min = 1; max = CAIRN_DS_NODES_MAX; break;
		case 'i': a.backup_id = optarg; break;
		case 'I': a.time = optarg; break;
		case 'N': a.lsn = optarg; break;
		case 'x': a.in_place = true; break;
		}
		if (num && parse_int64(optarg, min, max, num) < 0) {
			fprintf(stderr, "error: %s: expected an integer from %" PRIi64 " to %" PRIi64 "\n",
				argv[optind - 1], min, max);
			return -EINVAL;
		}
	}
	if (argc - optind != 1) {
		fprintf(stderr, "error: backup %s: expected one %s\n", argv[0],
			a.cmd == BK_SHOW || a.cmd == BK_VERIFY ? "backup id" : "datastore name");
		return -EINVAL;
	}
	a.target = argv[optind];
	if (a.delete_config && bk_config_sets(&a)) {
		fprintf(stderr, "error: backup config --delete takes no other option\n");
		return -EINVAL;
	}
	if (a.cmd == BK_RESTORE && !a.to && !a.in_place) {
		fprintf(stderr, "error: backup restore: --to NEW-NAME is required\n");
		return -EINVAL;
	}
	if (a.cmd == BK_RESTORE && a.time && a.lsn) {
		fprintf(stderr, "error: backup restore: --time or --lsn, not both\n");
		return -EINVAL;
	}
	if (a.cmd == BK_RESTORE && a.backup_id && a.time) {
		fprintf(stderr, "error: backup restore: --backup or --time, not both\n");
		return -EINVAL;
	}
	*ret = a;
	return 0;
}

/* Sets s3[key] from `v` when given, else keeps `current`'s. */
static void keep_or_set(json_t *o, json_t *cur, const char *key, json_t *v)
{
	if (v)
		json_object_set_new(o, key, v);
	else if (json_object_get(cur, key))
		json_object_set(o, key, json_object_get(cur, key));
}

json_t *bk_config_body(const struct bk_args *a, json_t *current, const char *secret_key,
		       const char *session_token, const char *ca_pem)
{
	json_t *cur_s3 = json_object_get(current, "s3");
	json_t *cur_sched = json_object_get(current, "schedule");
	json_t *cur_ret = json_object_get(current, "retention");
	_cleanup_json_ json_t *b = json_object(), *s3 = json_object(), *sched = json_object(),
			      *ret = json_object();

	if (!b || !s3 || !sched || !ret)
		return NULL;
	keep_or_set(s3, cur_s3, "endpoint", a->endpoint ? json_string(a->endpoint) : NULL);
	keep_or_set(s3, cur_s3, "region", a->region ? json_string(a->region) : NULL);
	keep_or_set(s3, cur_s3, "bucket", a->bucket ? json_string(a->bucket) : NULL);
	keep_or_set(s3, cur_s3, "prefix", a->prefix ? json_string(a->prefix) : NULL);
	keep_or_set(s3, cur_s3, "access_key", a->access_key ? json_string(a->access_key) : NULL);
	keep_or_set(s3, cur_s3, "virtual_hosted", a->virtual_hosted ? json_true() : NULL);
	keep_or_set(s3, cur_s3, "ca_pem", ca_pem ? json_string(ca_pem) : NULL);
	if (secret_key)
		json_object_set_new(s3, "secret_key", json_string(secret_key));
	else if (current)
		json_object_set_new(s3, "secret_key", json_string("(redacted)"));
	if (session_token)
		json_object_set_new(s3, "session_token", json_string(session_token));
	else if (json_is_string(json_object_get(cur_s3, "session_token")))
		json_object_set_new(s3, "session_token", json_string("(redacted)"));
	keep_or_set(sched, cur_sched, "full_every_s", a->every_s >= 0 ? json_integer(a->every_s) : NULL);
	keep_or_set(ret, cur_ret, "count", a->keep >= 0 ? json_integer(a->keep) : NULL);
	keep_or_set(ret, cur_ret, "max_age_s", a->max_age_s >= 0 ? json_integer(a->max_age_s) : NULL);
	keep_or_set(b, current, "compression_level", a->compression >= 0 ? json_integer(a->compression) : NULL);
	keep_or_set(b, current, "bundle_size", a->bundle_size >= 0 ? json_integer(a->bundle_size) : NULL);
	keep_or_set(b, current, "parallel", a->parallel >= 0 ? json_integer(a->parallel) : NULL);
	if (!json_object_get(s3, "endpoint") || !json_object_get(s3, "bucket") ||
	    !json_object_get(s3, "access_key") || !json_object_get(s3, "secret_key")) {
		fprintf(stderr, "error: a first backup configuration needs --endpoint, --bucket, --access-key "
				"and --secret-key-file\n");
		return NULL;
	}
	json_object_set(b, "s3", s3);
	json_object_set(b, "schedule", sched);
	json_object_set(b, "retention", ret);
	return TAKE_PTR(b);
}

json_t *bk_restore_body(const struct bk_args *a)
{
	json_t *b = json_pack("{s:s, s:I}", "name", a->to ?: "", "nodes", (json_int_t)a->nodes);
	if (!b)
		return NULL;
	if (a->backup_id)
		json_object_set_new(b, "backup_id", json_string(a->backup_id));
	if (a->time)
		json_object_set_new(b, "target", json_pack("{s:s}", "time", a->time));
	else if (a->lsn)
		json_object_set_new(b, "target", json_pack("{s:s}", "lsn", a->lsn));
	if (a->in_place)
		json_object_set_new(b, "in_place", json_true());
	return b;
}

/* A secret from a file ("-": stdin), trailing newline dropped. */
static int read_secret(const char *path, char **ret)
{
	char *data = NULL;
	size_t len = 0;
	int r = read_file_full(streq(path, "-") ? "/dev/stdin" : path, BK_SECRET_FILE_MAX, &data, &len);
	if (r < 0) {
		fprintf(stderr, "error: %s: %s\n", path, strerror(-r));
		return r;
	}
	while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r'))
		data[--len] = 0;
	*ret = data;
	return 0;
}

static int ds_path(struct ctl_client *c, const char *name, const char *suffix, char **ret)
{
	_cleanup_free_ char *id = NULL, *esc = NULL;
	if (ds_resolve_id(c, name, &id) < 0 || !(esc = ctl_escape(c, id)))
		return -EIO;
	return asprintf(ret, "%s/%s/%s", CAIRN_PATH_DATASTORES, esc, suffix) < 0 ? -ENOMEM : 0;
}

static void print_backup(json_t *b)
{
	static const char *const keys[] = { "id", "state", "started_at", "finished_at", "duration_ms",
					    "plain_bytes", "stored_bytes", "files", "start_wal", "stop_wal",
					    "bytes_done", "verify_state", "verified_at", "node_id",
					    "operation_id", "message" };
	for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
		if (!json_object_get(b, keys[i]) || json_is_null(json_object_get(b, keys[i])))
			continue;
		_cleanup_free_ char *v = ctl_text(b, keys[i]);
		ctl_kv(stdout, 14, keys[i], v);
	}
}

/* Follows an answer's operation with --wait, else says how to.  The exit
 * status. */
static int follow(const struct ctl_options *o, struct ctl_client *c, const struct bk_args *a,
		  json_t *answer, const char *what)
{
	_cleanup_json_ json_t *final = NULL;
	json_t *op = json_object_get(answer, "operation");
	_cleanup_free_ char *op_id = ctl_text(op, "id");
	int r;

	if (!op_id) {
		fprintf(stderr, "error: the answer holds no operation\n");
		return 1;
	}
	if (!a->wait) {
		if (o->output == CTL_OUTPUT_JSON)
			ctl_print_json(answer, stdout);
		else
			printf("%s: operation %s (`cairnctl op watch %s` follows it)\n", what, op_id, op_id);
		return 0;
	}
	if (o->output == CTL_OUTPUT_TEXT) {
		printf("%s: operation %s\n", what, op_id);
		fflush(stdout);
	}
	r = ops_watch(c, op_id, 0, o->output == CTL_OUTPUT_JSON ? stderr : stdout, &final);
	if (o->output == CTL_OUTPUT_JSON) {
		if (final)
			json_object_set(answer, "operation", final);
		ctl_print_json(answer, stdout);
	}
	return r;
}

static int bk_config(const struct ctl_options *o, struct ctl_client *c, const struct bk_args *a)
{
	_cleanup_free_ char *path = NULL;
	_cleanup_json_ json_t *current = NULL, *body = NULL, *answer = NULL;
	_cleanup_secret_ char *sk = NULL, *tok = NULL;
	_cleanup_free_ char *ca = NULL;
	long status = 0;
	int r;

	if (ds_path(c, a->target, "backup-config", &path) < 0)
		return 1;
	if (a->delete_config) {
		if (ctl_request(c, "DELETE", path, NULL, NULL, NULL) < 0)
			return 1;
		if (o->output == CTL_OUTPUT_TEXT)
			printf("datastore %s: backup configuration deleted (scheduling stopped; stored objects stay)\n",
			       a->target);
		return 0;
	}
	/* A complete configuration needs nothing from the stored one. */
	bool complete = a->endpoint && a->bucket && a->access_key && a->secret_key_file;
	if (!complete) {
		r = ctl_request(c, "GET", path, NULL, &current, &status);
		if (r < 0 && (status != 404 || !bk_config_sets(a)))
			return 1;
	}
	if (!bk_config_sets(a)) {
		if (!current)
			return 1;
		ctl_print_json(current, stdout);
		return 0;
	}
	if ((a->secret_key_file && read_secret(a->secret_key_file, &sk) < 0) ||
	    (a->session_token_file && read_secret(a->session_token_file, &tok) < 0))
		return 1;
	if (a->ca_file) {
		size_t len = 0;
		if ((r = read_file_full(a->ca_file, 64 * 1024, &ca, &len)) < 0) {
			fprintf(stderr, "error: %s: %s\n", a->ca_file, strerror(-r));
			return 1;
		}
	}
	body = bk_config_body(a, status == 404 ? NULL : current, sk, tok, ca);
	if (!body)
		return 1;
	r = ctl_request(c, "PUT", path, body, &answer, NULL);
	json_t *s3 = json_object_get(body, "s3");
	if (json_is_string(json_object_get(s3, "secret_key")))
		explicit_bzero((char *)json_string_value(json_object_get(s3, "secret_key")),
			       json_string_length(json_object_get(s3, "secret_key")));
	if (r < 0)
		return 1;
	return follow(o, c, a, answer, "backup configuration stored");
}

static int bk_list(const struct ctl_options *o, struct ctl_client *c, const struct bk_args *a)
{
	static const char *const headers[] = { "ID", "STATE", "STARTED", "FINISHED", "PLAIN", "STORED", "VERIFIED" };
	static const char *const keys[] = { "id", "state", "started_at", "finished_at", "plain_bytes",
					    "stored_bytes", "verify_state" };
	_cleanup_free_ char *path = NULL, *full = NULL;
	_cleanup_json_ json_t *answer = NULL;
	if (ds_path(c, a->target, "backups", &path) < 0)
		return 1;
	if (asprintf(&full, "%s%s", path, a->all ? "?state=all" : "") < 0)
		return 1;
	if (ctl_request(c, "GET", full, NULL, &answer, NULL) < 0)
		return 1;
	if (o->output == CTL_OUTPUT_JSON) {
		ctl_print_json(answer, stdout);
		return 0;
	}
	return ctl_print_rows(json_object_get(answer, "backups"), ELEMENTSOF(keys), headers, keys, stdout) < 0;
}

static int bk_show(const struct ctl_options *o, struct ctl_client *c, const struct bk_args *a)
{
	_cleanup_free_ char *esc = ctl_escape(c, a->target), *path = NULL;
	_cleanup_json_ json_t *answer = NULL;
	if (!esc || asprintf(&path, "%s/%s", BK_PATH_BACKUPS, esc) < 0)
		return 1;
	if (ctl_request(c, "GET", path, NULL, &answer, NULL) < 0)
		return 1;
	if (o->output == CTL_OUTPUT_JSON)
		ctl_print_json(answer, stdout);
	else
		print_backup(answer);
	return 0;
}

static int bk_now(const struct ctl_options *o, struct ctl_client *c, const struct bk_args *a)
{
	_cleanup_free_ char *path = NULL, *bid = NULL, *bpath = NULL;
	_cleanup_json_ json_t *body = json_object(), *answer = NULL, *b = NULL;
	char what[128];
	if (!body || ds_path(c, a->target, "backups", &path) < 0)
		return 1;
	if (ctl_request(c, "POST", path, body, &answer, NULL) < 0)
		return 1;
	bid = ctl_text(json_object_get(answer, "backup"), "id");
	snprintf(what, sizeof(what), "datastore %s: backup %s started", a->target, bid ?: "?");
	int r = follow(o, c, a, answer, what);
	if (a->wait && o->output == CTL_OUTPUT_TEXT && bid &&
	    asprintf(&bpath, "%s/%s", BK_PATH_BACKUPS, bid) >= 0 &&
	    ctl_request(c, "GET", bpath, NULL, &b, NULL) == 0)
		print_backup(b);
	return r;
}

static int bk_verify(const struct ctl_options *o, struct ctl_client *c, const struct bk_args *a)
{
	_cleanup_free_ char *esc = ctl_escape(c, a->target), *path = NULL;
	_cleanup_json_ json_t *body = json_pack("{s:b}", "drill", a->drill), *answer = NULL;
	char what[128];
	if (!esc || !body || asprintf(&path, "%s/%s/verify", BK_PATH_BACKUPS, esc) < 0)
		return 1;
	if (ctl_request(c, "POST", path, body, &answer, NULL) < 0)
		return 1;
	snprintf(what, sizeof(what), "backup %s: verify%s started", a->target, a->drill ? " and drill" : "");
	return follow(o, c, a, answer, what);
}

static int bk_restore(const struct ctl_options *o, struct ctl_client *c, const struct bk_args *a)
{
	_cleanup_free_ char *path = NULL;
	_cleanup_json_ json_t *body = bk_restore_body(a), *answer = NULL;
	json_t *conn;
	const char *pw;
	char what[160];
	if (!body || ds_path(c, a->target, "restore", &path) < 0)
		return 1;
	if (ctl_request(c, "POST", path, body, &answer, NULL) < 0)
		return 1;
	conn = json_object_get(answer, "connection");
	pw = json_string_value(json_object_get(conn, "password"));
	if (o->output == CTL_OUTPUT_TEXT) {
		_cleanup_free_ char *id = ctl_text(json_object_get(answer, "datastore"), "id");
		printf("datastore %s (%s): restoring from %s\n", a->to, id, a->target);
		printf("admin user:     %s\n", json_string_value(json_object_get(conn, "user")) ?: "cairn_admin");
		printf("admin password: %s\n", pw ? pw : "(none in the answer)");
		fprintf(stderr, "WARNING: the admin password is shown only now and will not be shown again: "
				"save it (e.g. in a password manager or a 0600 ~/.pgpass).\n");
		fflush(stdout);
	}
	snprintf(what, sizeof(what), "datastore %s: restore", a->to);
	int r = follow(o, c, a, answer, what);
	if (json_is_string(json_object_get(conn, "password")))
		explicit_bzero((char *)json_string_value(json_object_get(conn, "password")),
			       json_string_length(json_object_get(conn, "password")));
	return r;
}

static int bk_key(const struct ctl_options *o, struct ctl_client *c, const struct bk_args *a)
{
	_cleanup_free_ char *path = NULL;
	_cleanup_json_ json_t *answer = NULL;
	json_t *k;
	if (ds_path(c, a->target, "backup-key", &path) < 0)
		return 1;
	if (ctl_request(c, "GET", path, NULL, &answer, NULL) < 0)
		return 1;
	k = json_object_get(answer, "data_key");
	if (!json_is_string(k)) {
		fprintf(stderr, "error: the answer holds no data key\n");
		return 1;
	}
	if (o->output == CTL_OUTPUT_JSON)
		ctl_print_json(answer, stdout);
	else
		printf("%s\n", json_string_value(k));
	fflush(stdout);
	explicit_bzero((char *)json_string_value(k), json_string_length(k));
	return 0;
}

int cmd_backups(const struct ctl_options *o, struct ctl_client *c, int argc, char **argv)
{
	struct bk_args a;
	if (bk_args_parse(argc - 1, argv + 1, &a) < 0)
		return 2;
	switch (a.cmd) {
	case BK_CONFIG:
		return bk_config(o, c, &a);
	case BK_LIST:
		return bk_list(o, c, &a);
	case BK_SHOW:
		return bk_show(o, c, &a);
	case BK_NOW:
		return bk_now(o, c, &a);
	case BK_VERIFY:
		return bk_verify(o, c, &a);
	case BK_RESTORE:
		return bk_restore(o, c, &a);
	case BK_KEY:
		return bk_key(o, c, &a);
	}
	return 1;
}
