/*
 * api-backups.c: the backup routes (api-backups.h).  Secrets never reach
 * a log line: the configuration is logged by datastore only, the data
 * key's reads are audited without the value.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "api-backups.h"
#include "api-datastores.h"
#include "backup.h"
#include "controller.h"
#include "keys.h"
#include "log.h"
#include "macro.h"
#include "protocol.h"
#include "store.h"
#include "util.h"

static int reasonf(char reason[static OPS_REASON_MAX], int r, const char *fmt, ...) _printf_(3, 4);
static int reasonf(char reason[static OPS_REASON_MAX], int r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, OPS_REASON_MAX, fmt, ap);
	va_end(ap);
	return r;
}

static int only_members(json_t *o, const char *const *allowed, char reason[static OPS_REASON_MAX])
{
	const char *k;
	json_t *v;
	if (!json_is_object(o))
		return reasonf(reason, -EINVAL, "the body must be a JSON object");
	json_object_foreach(o, k, v) {
		bool ok = false;
		for (const char *const *a = allowed; *a && !ok; a++)
			ok = streq(k, *a);
		if (!ok)
			return reasonf(reason, -EINVAL, "unknown member '%.64s'", k);
	}
	return 0;
}

int abk_parse_backup_now(json_t *body, char reason[static OPS_REASON_MAX])
{
	static const char *const none[] = { NULL };
	return body ? only_members(body, none, reason) : 0;
}

int abk_parse_verify(json_t *body, bool *ret_drill, char reason[static OPS_REASON_MAX])
{
	static const char *const allowed[] = { "drill", NULL };
	json_t *d;
	int r;
	*ret_drill = false;
	if (!body)
		return 0;
	if ((r = only_members(body, allowed, reason)) < 0)
		return r;
	d = json_object_get(body, "drill");
	if (d && !json_is_boolean(d))
		return reasonf(reason, -EINVAL, "'drill' must be a boolean");
	*ret_drill = json_is_true(d);
	return 0;
}

int abk_parse_restore(json_t *body, struct ops_restore_spec *ret, char reason[static OPS_REASON_MAX])
{
	static const char *const allowed[] = { "name", "nodes", "backup_id", "target", "in_place", NULL };
	static const char *const tmembers[] = { "time", "lsn", NULL };
	struct ops_restore_spec s = { .nodes = 1 };
	json_t *v;
	int r;

	if ((r = only_members(body, allowed, reason)) < 0)
		return r;
	v = json_object_get(body, "name");
	if (!json_is_string(v) || json_string_length(v) > CAIRN_DS_NAME_MAX)
		return reasonf(reason, -EINVAL, "'name' must be a string of at most %d characters",
			       CAIRN_DS_NAME_MAX);
	s.name = json_string_value(v);
	v = json_object_get(body, "nodes");
	if (v) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > CAIRN_DS_NODES_MAX)
			return reasonf(reason, -EINVAL, "'nodes' must be an integer from 1 to %d",
				       CAIRN_DS_NODES_MAX);
		s.nodes = (int)json_integer_value(v);
	}
	v = json_object_get(body, "backup_id");
	if (v && !json_is_null(v)) {
		if (!json_is_string(v) || !uuid_is_valid(json_string_value(v)))
			return reasonf(reason, -EINVAL, "'backup_id' must be a backup id");
		s.backup_id = json_string_value(v);
	}
	v = json_object_get(body, "in_place");
	if (v && !json_is_boolean(v))
		return reasonf(reason, -EINVAL, "'in_place' must be a boolean");
	s.in_place = json_is_true(v);
	v = json_object_get(body, "target");
	if (v && !json_is_null(v)) {
		if (!json_is_object(v) || json_object_size(v) != 1)
			return reasonf(reason, -EINVAL,
				       "'target' must be {\"time\": RFC 3339} or {\"lsn\": \"X/Y\"}");
		if ((r = only_members(v, tmembers, reason)) < 0)
			return r;
		json_t *t = json_object_get(v, "time"), *l = json_object_get(v, "lsn");
		if (t) {
			if (!json_is_string(t) || backup_parse_time(json_string_value(t), &s.target_time) < 0 ||
			    s.target_time <= 0)
				return reasonf(reason, -EINVAL,
					       "'target.time' must be an RFC 3339 time like 2026-11-23T10:00:00Z");
			s.target_time_text = json_string_value(t);
		} else {
			if (!json_is_string(l) || !backup_lsn_ok(json_string_value(l)))
				return reasonf(reason, -EINVAL, "'target.lsn' must look like 0/3000028");
			s.target_lsn = json_string_value(l);
		}
		if (s.backup_id && s.target_time)
			return reasonf(reason, -EINVAL, "give 'backup_id' or 'target.time', not both");
	}
	*ret = s;
	return 0;
}

int64_t abk_bytes_done_from_message(const char *m)
{
	const char *p;
	int64_t v = 0;
	if (!m || !(p = strstr(m, "bytes_done")))
		return -1;
	p += strlen("bytes_done");
	while (*p == '"' || *p == ':' || *p == '=' || *p == ' ')
		p++;
	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (INT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (*p - '0');
	}
	return v;
}

/* ---- handlers ------------------------------------------------------------ */

static void reply_error(struct http_request *req, int r, const char *reason, const char *what)
{
	if (r == -EOPNOTSUPP) {
		http_reply_problem(req, 501, reason);
		return;
	}
	unsigned status = ads_status_for_errno(r);
	if (status >= 500)
		log_error_errno(r, "%s %s: %s%s%s", req->method, req->url, what, *reason ? ": " : "", reason);
	http_reply_problem(req, status, *reason ? reason : NULL);
}

static int optional_body(struct http_request *req, json_t **ret)
{
	if (req->body_len == 0) {
		*ret = NULL;
		return 0;
	}
	return http_body_json(req, ret);
}

static int load_ds(struct controller *c, struct http_request *req, struct store_datastore *ret)
{
	int r = store_datastore_get(c->store, req->params[0], ret);
	if (r == -ENOENT || (r >= 0 && streq(ret->state, "deleted") && !streq(ret->id, req->params[0]))) {
		if (r >= 0)
			store_datastore_done(ret);
		http_reply_problem(req, 404, "no such datastore");
		return -ENOENT;
	}
	if (r < 0)
		api_reply_internal(req, r, "cannot read the datastore");
	return r;
}

/* {"operation": …} plus, when non-NULL, extra members from `extra`. */
static void reply_op(struct controller *c, struct http_request *req, const char *op_id, json_t *extra)
{
	_cleanup_json_ json_t *op = NULL, *o = NULL;
	int r = ads_render_operation(c, op_id, &op);
	if (r < 0)
		return api_reply_internal(req, r, "cannot render the operation");
	o = extra ? json_incref(extra) : json_object();
	if (!o || json_object_set(o, "operation", op) < 0)
		return api_reply_internal(req, -ENOMEM, "cannot render");
	http_reply_json(req, 202, o);
}

void abk_h_config_put(void *userdata, struct http_request *req)
{
	struct controller *c = userdata;
	_cleanup_json_ json_t *body = NULL;
	struct backup_config_spec spec = {};
	char reason[OPS_REASON_MAX] = "", op_id[UUID_STRING_MAX];
	int r;

	if (http_body_json(req, &body) < 0)
		return;
	if (backup_parse_config(body, &spec, reason) < 0) {
		http_reply_problem(req, 400, reason);
		return;
	}
	r = ops_backup_configure(c->ops, req->params[0], &spec, op_id, reason);
	backup_config_spec_done(&spec);
	/* Wipe the clear secrets of the body before it is freed. */
	json_t *s3 = json_object_get(body, "s3");
	api_wipe_json_string(s3, "secret_key");
	api_wipe_json_string(s3, "session_token");
	if (r < 0)
		return reply_error(req, r, reason, "cannot configure backups");
	log_info("datastore %s: backup configuration stored, operation %s", req->params[0], op_id);
	reply_op(c, req, op_id, NULL);
}

void abk_h_config_get(void *userdata, struct http_request *req)
{
	struct controller *c = userdata;
	struct store_datastore d = {};
	struct store_backup_config bc = {};
	if (load_ds(c, req, &d) < 0)
		return;
	int r = store_backup_config_get(c->store, d.id, &bc);
	store_datastore_done(&d);
	if (r == -ENOENT) {
		http_reply_problem(req, 404, "no backup configuration");
		return;
	}
	if (r < 0)
		return api_reply_internal(req, r, "cannot read the backup configuration");
	_cleanup_json_ json_t *o = backup_config_to_json(&bc);
	store_backup_config_done(&bc);
	if (!o)
		return api_reply_internal(req, -EIO, "cannot render the backup configuration");
	http_reply_json(req, 200, o);
}

void abk_h_config_delete(void *userdata, struct http_request *req)
{
	struct controller *c = userdata;
	struct store_datastore d = {};
	if (load_ds(c, req, &d) < 0)
		return;
	int r = store_backup_config_delete(c->store, d.id);
	if (r == -ENOENT)
		http_reply_problem(req, 404, "no backup configuration");
	else if (r < 0)
		api_reply_internal(req, r, "cannot delete the backup configuration");
	else {
		log_info("datastore %s: backup configuration deleted (objects stay)", d.name);
		http_reply_text(req, 204, "text/plain", "", 0);
	}
	store_datastore_done(&d);
}

/* The last bytes_done progress of a backup's job, or -1. */
static int64_t bytes_done(struct controller *c, const struct store_backup *b)
{
	struct store_event *ev = NULL;
	size_t n = 0;
	int64_t v = -1;
	if (!streq(b->state, "running") || !b->job_id ||
	    store_event_list(c->store, b->job_id, &ev, &n) < 0)
		return streq(b->state, "running") ? 0 : -1;
	for (size_t i = 0; i < n; i++)
		if (streq_ptr(ev[i].kind, "progress")) {
			int64_t x = abk_bytes_done_from_message(ev[i].message);
			if (x >= 0)
				v = x;
		}
	store_event_array_free(ev, n);
	return v < 0 ? 0 : v;
}

void abk_h_list(void *userdata, struct http_request *req)
{
	struct controller *c = userdata;
	const char *state = http_query(req, "state");
	struct store_datastore d = {};
	struct store_backup *b = NULL;
	size_t n = 0;

	if (state && *state && !streq(state, "all") && !streq(state, "completed") &&
	    !streq(state, "running") && !streq(state, "failed") && !streq(state, "deleting") &&
	    !streq(state, "deleted")) {
		http_reply_problem(req, 400, "'state' must be all, completed, running, failed, deleting or deleted");
		return;
	}
	if (load_ds(c, req, &d) < 0)
		return;
	int r = store_backup_list(c->store, d.id,
				  !state || !*state ? "completed" : streq(state, "all") ? NULL : state, &b, &n);
	store_datastore_done(&d);
	if (r < 0)
		return api_reply_internal(req, r, "cannot list backups");
	_cleanup_json_ json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++)
		if (json_array_append_new(a, backup_to_json(&b[i], streq(b[i].state, "running") ?
									   bytes_done(c, &b[i]) : -1)) < 0) {
			json_decref(a);
			a = NULL;
		}
	store_backup_array_free(b, n);
	_cleanup_json_ json_t *o = a ? json_pack("{s:O}", "backups", a) : NULL;
	if (!o)
		return api_reply_internal(req, -ENOMEM, "cannot render");
	http_reply_json(req, 200, o);
}

void abk_h_create(void *userdata, struct http_request *req)
{
	struct controller *c = userdata;
	_cleanup_json_ json_t *body = NULL, *extra = NULL;
	char reason[OPS_REASON_MAX] = "", op_id[UUID_STRING_MAX], id[UUID_STRING_MAX];
	struct store_backup b = {};
	int r;

	if (optional_body(req, &body) < 0)
		return;
	if (abk_parse_backup_now(body, reason) < 0) {
		http_reply_problem(req, 400, reason);
		return;
	}
	r = ops_backup(c->ops, req->params[0], id, op_id, reason);
	if (r < 0)
		return reply_error(req, r, reason, "cannot start a backup");
	log_info("datastore %s: backup %s started, operation %s", req->params[0], id, op_id);
	r = store_backup_get(c->store, id, &b);
	if (r >= 0)
		extra = json_pack("{s:o}", "backup", backup_to_json(&b, 0));
	store_backup_done(&b);
	if (!extra)
		return api_reply_internal(req, r < 0 ? r : -ENOMEM, "cannot render the backup");
	reply_op(c, req, op_id, extra);
}

void abk_h_get(void *userdata, struct http_request *req)
{
	struct controller *c = userdata;
	struct store_backup b = {};
	int r = uuid_is_valid(req->params[0]) ? store_backup_get(c->store, req->params[0], &b) : -ENOENT;
	if (r == -ENOENT) {
		http_reply_problem(req, 404, "no such backup");
		return;
	}
	if (r < 0)
		return api_reply_internal(req, r, "cannot read the backup");
	_cleanup_json_ json_t *o = backup_to_json(&b, streq(b.state, "running") ? bytes_done(c, &b) : -1);
	store_backup_done(&b);
	if (!o)
		return api_reply_internal(req, -ENOMEM, "cannot render");
	http_reply_json(req, 200, o);
}

void abk_h_verify(void *userdata, struct http_request *req)
{
	struct controller *c = userdata;
	_cleanup_json_ json_t *body = NULL;
	char reason[OPS_REASON_MAX] = "", op_id[UUID_STRING_MAX];
	bool drill = false;

	if (optional_body(req, &body) < 0)
		return;
	if (abk_parse_verify(body, &drill, reason) < 0) {
		http_reply_problem(req, 400, reason);
		return;
	}
	if (!uuid_is_valid(req->params[0])) {
		http_reply_problem(req, 404, "no such backup");
		return;
	}
	int r = ops_verify(c->ops, req->params[0], drill, op_id, reason);
	if (r < 0)
		return reply_error(req, r, reason, "cannot verify the backup");
	log_info("backup %s: verify%s, operation %s", req->params[0], drill ? " and drill" : "", op_id);
	reply_op(c, req, op_id, NULL);
}

void abk_h_restore(void *userdata, struct http_request *req)
{
	struct controller *c = userdata;
	_cleanup_json_ json_t *body = NULL, *ds_json = NULL, *op_json = NULL, *conn = NULL, *o = NULL;
	_cleanup_secret_ char *password = NULL;
	char reason[OPS_REASON_MAX] = "", ds_id[UUID_STRING_MAX], op_id[UUID_STRING_MAX];
	struct ops_restore_spec spec;
	struct store_datastore d = {};
	struct store_member *ms = NULL;
	size_t nm = 0;
	int r;

	if (http_body_json(req, &body) < 0)
		return;
	if (abk_parse_restore(body, &spec, reason) < 0) {
		http_reply_problem(req, 400, reason);
		return;
	}
	spec.source = req->params[0];
	r = ops_restore(c->ops, &spec, ds_id, op_id, &password, reason);
	if (r < 0)
		return reply_error(req, r, reason, "cannot restore");
	log_info("datastore %s: restore into %s (%s), operation %s", req->params[0], spec.name, ds_id, op_id);
	r = ads_render_datastore(c, ds_id, &ds_json);
	if (r >= 0)
		r = ads_render_operation(c, op_id, &op_json);
	if (r >= 0)
		r = store_datastore_get(c->store, ds_id, &d);
	if (r >= 0)
		r = store_member_list(c->store, ds_id, false, &ms, &nm);
	if (r >= 0 && !(conn = ads_connection_to_json(&d, ms, nm, c->keys->ca_pem, password)))
		r = -ENOMEM;
	store_member_array_free(ms, nm);
	store_datastore_done(&d);
	if (r >= 0)
		o = json_pack("{s:O, s:O, s:O}", "datastore", ds_json, "operation", op_json, "connection", conn);
	if (!o) {
		if (conn)
			api_wipe_json_string(conn, "password");
		log_error_errno(r < 0 ? r : -ENOMEM, "datastore %s: cannot render the restore answer", ds_id);
		http_reply_problemf(req, 500,
				    "datastore %s is being restored (operation %s) but this answer could not "
				    "be rendered, and the admin password is shown only once: destroy the "
				    "datastore and restore again",
				    ds_id, op_id);
		return;
	}
	api_reply_secret(req, 202, o);
	api_wipe_json_string(conn, "password");
}

void abk_h_key(void *userdata, struct http_request *req)
{
	struct controller *c = userdata;
	struct store_datastore d = {};
	_cleanup_free_ char *sealed = NULL;
	_cleanup_secret_ char *key = NULL;
	_cleanup_json_ json_t *o = NULL;
	if (load_ds(c, req, &d) < 0)
		return;
	int r = store_data_key_get(c->store, d.id, &sealed);
	if (r == -ENOENT) {
		http_reply_problem(req, 404, "the datastore has no data key (no backup was ever configured)");
		goto out;
	}
	if (r >= 0)
		r = backup_data_key_b64(c, d.id, &key);
	if (r < 0) {
		api_reply_internal(req, r, "cannot read the data key");
		goto out;
	}
	/* Audit: who read which datastore's key, never the key. */
	log_notice("datastore %s (%s): backup data key read with API token %.16s… from %s", d.name, d.id,
		   req->identity, req->peer);
	o = json_pack("{s:s, s:s, s:s}", "datastore_id", d.id, "data_key", key,
					     "encoding", "base64");
	if (!o) {
		api_reply_internal(req, -ENOMEM, "cannot render");
		goto out;
	}
	api_reply_secret(req, 200, o);
	api_wipe_json_string(o, "data_key");
out:
	store_datastore_done(&d);
}
