/*
 * api.c: handlers of the API listener.  Handlers parse (pure functions
 * below), call the store or the runner, and render; they never hold a
 * secret longer than the answer that shows it (join tokens appear once,
 * in the answer that created them).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "api-datastores.h"
#include "config.h"
#include "controller.h"
#include "enroll.h"
#include "keys.h"
#include "log.h"
#include "longpoll.h"
#include "macro.h"
#include "metrics.h"
#include "ratelimit.h"
#include "runner.h"
#include "store.h"
#include "userdata.h"
#include "util.h"

#define API_JOB_PARAMS_MAX (64 * 1024)

/* ---- pure parsers ---------------------------------------------------- */

int api_check_members(json_t *o, const char *const *allowed, char reason[static API_REASON_MAX])
{
	const char *key;
	json_t *v;
	json_object_foreach(o, key, v)
	{
		bool ok = false;
		for (const char *const *a = allowed; *a && !ok; a++)
			ok = streq(*a, key);
		if (!ok) {
			/* Quote at most 64 bytes of a peer's key, printable only. */
			char k[65];
			size_t i;
			for (i = 0; key[i] && i < 64; i++)
				k[i] = (key[i] >= ' ' && key[i] < 0x7f) ? key[i] : '?';
			k[i] = 0;
			snprintf(reason, API_REASON_MAX, "unknown member '%s'", k);
			return -EINVAL;
		}
	}
	return 0;
}

bool api_node_name_is_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > CAIRN_NODE_NAME_MAX || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

int api_parse_rfc3339(const char *s, int64_t *ret)
{
	int64_t f[6];
	static const struct {
		size_t off, len;
		int64_t min, max;
	} fields[] = { { 0, 4, 1970, 9999 }, { 5, 2, 1, 12 }, { 8, 2, 1, 31 },
		       { 11, 2, 0, 23 }, { 14, 2, 0, 59 }, { 17, 2, 0, 60 } };

	if (!s || strlen(s) != 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
	    s[16] != ':' || s[19] != 'Z')
		return -EINVAL;
	for (size_t i = 0; i < ELEMENTSOF(fields); i++) {
		char buf[5];
		memcpy(buf, s + fields[i].off, fields[i].len);
		buf[fields[i].len] = 0;
		for (size_t k = 0; k < fields[i].len; k++)
			if (buf[k] < '0' || buf[k] > '9')
				return -EINVAL;
		if (parse_int64(buf, fields[i].min, fields[i].max, &f[i]) < 0)
			return -EINVAL;
	}
	struct tm tm = {
		.tm_year = (int)f[0] - 1900, .tm_mon = (int)f[1] - 1, .tm_mday = (int)f[2],
		.tm_hour = (int)f[3], .tm_min = (int)f[4], .tm_sec = (int)f[5],
	};
	time_t t = timegm(&tm);
	if (t == (time_t)-1 || tm.tm_mday != (int)f[2]) /* 2026-02-30 normalises: refuse */
		return -EINVAL;
	*ret = (int64_t)t;
	return 0;
}

int api_parse_node_create(json_t *body, char ret_name[static CAIRN_NODE_NAME_MAX + 1],
			  char reason[static API_REASON_MAX])
{
	static const char *const allowed[] = { "name", NULL };
	if (!json_is_object(body)) {
		snprintf(reason, API_REASON_MAX, "the body must be a JSON object");
		return -EINVAL;
	}
	if (api_check_members(body, allowed, reason) < 0)
		return -EINVAL;
	const char *name = json_string_value(json_object_get(body, "name"));
	if (!name || !api_node_name_is_valid(name)) {
		snprintf(reason, API_REASON_MAX, "'name' must be a DNS label ([a-z0-9-]{1,63})");
		return -EINVAL;
	}
	snprintf(ret_name, CAIRN_NODE_NAME_MAX + 1, "%s", name);
	return 0;
}

/* An optional integer member in [min, max]; absent leaves *ret alone. */
static int opt_int(json_t *body, const char *key, int64_t min, int64_t max, int64_t *ret,
		   char reason[static API_REASON_MAX])
{
	json_t *v = json_object_get(body, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
		snprintf(reason, API_REASON_MAX, "'%s' must be an integer in %" PRIi64 "..%" PRIi64, key,
			 min, max);
		return -EINVAL;
	}
	*ret = json_integer_value(v);
	return 0;
}

int api_parse_job_submit(json_t *body, struct api_job_submit *ret, char reason[static API_REASON_MAX])
{
	static const char *const allowed[] = { "type",     "params",    "ds",           "epoch",
					       "not_before", "ttl_s",   "timeout_s",    "max_attempts",
					       NULL };
	static const char *const allowed_raw[] = { "raw_jws", NULL };
	struct api_job_submit j = {};
	json_t *v;

	if (!json_is_object(body)) {
		snprintf(reason, API_REASON_MAX, "the body must be a JSON object");
		return -EINVAL;
	}
	if (json_object_get(body, "raw_jws")) {
		if (api_check_members(body, allowed_raw, reason) < 0)
			return -EINVAL;
		j.raw_jws = json_string_value(json_object_get(body, "raw_jws"));
		if (!j.raw_jws || !*j.raw_jws || strlen(j.raw_jws) > CAIRN_JWS_MAX) {
			snprintf(reason, API_REASON_MAX, "'raw_jws' must be a string of at most %d bytes",
				 CAIRN_JWS_MAX);
			return -EINVAL;
		}
		for (const char *p = j.raw_jws; *p; p++)
			if (*p <= ' ' || *p >= 0x7f) {
				snprintf(reason, API_REASON_MAX, "'raw_jws' must be printable ASCII");
				return -EINVAL;
			}
		*ret = j;
		return 0;
	}
	if (api_check_members(body, allowed, reason) < 0)
		return -EINVAL;

	j.type = json_string_value(json_object_get(body, "type"));
	if (!j.type || !cairn_job_type_lookup(j.type)) {
		snprintf(reason, API_REASON_MAX, "'type' must be a known job type");
		return -EINVAL;
	}
	v = json_object_get(body, "params");
	if (v && !json_is_object(v)) {
		snprintf(reason, API_REASON_MAX, "'params' must be an object");
		return -EINVAL;
	}
	j.params = v;
	v = json_object_get(body, "ds");
	if (v && !json_is_null(v)) {
		j.ds = json_string_value(v);
		if (!j.ds || !*j.ds || strlen(j.ds) > 128) {
			snprintf(reason, API_REASON_MAX, "'ds' must be null or a string of 1..128 bytes");
			return -EINVAL;
		}
	}
	if (opt_int(body, "epoch", 0, CAIRN_SEQ_MAX, &j.epoch, reason) < 0)
		return -EINVAL;
	if (!j.ds && j.epoch != 0) {
		snprintf(reason, API_REASON_MAX, "'epoch' must be 0 when 'ds' is null");
		return -EINVAL;
	}
	v = json_object_get(body, "not_before");
	if (v && !json_is_null(v) && api_parse_rfc3339(json_string_value(v), &j.not_before) < 0) {
		snprintf(reason, API_REASON_MAX, "'not_before' must be an RFC 3339 UTC time (…Z)");
		return -EINVAL;
	}
	if (opt_int(body, "ttl_s", 60, 86400, &j.ttl_s, reason) < 0 ||
	    opt_int(body, "timeout_s", 1, 86400, &j.timeout_s, reason) < 0 ||
	    opt_int(body, "max_attempts", 1, 20, &j.max_attempts, reason) < 0)
		return -EINVAL;
	*ret = j;
	return 0;
}

/* An absolute path whose components are neither empty, "." nor "..". */
static bool abs_path_ok(const char *p)
{
	if (!p || p[0] != '/' || strlen(p) >= 4096)
		return false;
	for (const char *c = p + 1;;) {
		const char *end = strchr(c, '/');
		size_t len = end ? (size_t)(end - c) : strlen(c);
		if (len == 0 || (len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		if (!end)
			return true;
		c = end + 1;
	}
}

int api_check_params(const char *type, json_t *params, char reason[static API_REASON_MAX])
{
	if (!json_is_object(params)) {
		snprintf(reason, API_REASON_MAX, "'params' must be an object");
		return -EINVAL;
	}
	if (streq(type, "node.facts")) {
		static const char *const allowed[] = { NULL };
		return api_check_members(params, allowed, reason);
	}
	if (streq(type, "debug.sleep")) {
		static const char *const allowed[] = { "seconds", NULL };
		json_t *v = json_object_get(params, "seconds");
		if (api_check_members(params, allowed, reason) < 0)
			return -EINVAL;
		if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 3600) {
			snprintf(reason, API_REASON_MAX, "params.seconds must be an integer in 0..3600");
			return -EINVAL;
		}
		return 0;
	}
	if (streq(type, "tls.issue")) {
		static const char *const allowed[] = { "names", "key_path", "cert_path", "ca_path", "ttl_s", NULL };
		json_t *names = json_object_get(params, "names"), *v;
		size_t i;
		if (api_check_members(params, allowed, reason) < 0)
			return -EINVAL;
		if (!json_is_array(names) || json_array_size(names) < 1 || json_array_size(names) > 16) {
			snprintf(reason, API_REASON_MAX, "params.names must be an array of 1..16 names");
			return -EINVAL;
		}
		json_array_foreach(names, i, v)
		{
			if (!json_is_string(v) || !hostname_is_valid(json_string_value(v))) {
				snprintf(reason, API_REASON_MAX,
					 "params.names[%zu] is not a DNS name or IP literal", i);
				return -EINVAL;
			}
		}
		const char *kp = json_string_value(json_object_get(params, "key_path"));
		const char *cp = json_string_value(json_object_get(params, "cert_path"));
		json_t *ca = json_object_get(params, "ca_path");
		if (!abs_path_ok(kp) || !abs_path_ok(cp) || streq(kp, cp) ||
		    (ca && (!abs_path_ok(json_string_value(ca)) || streq(json_string_value(ca), kp) ||
			    streq(json_string_value(ca), cp)))) {
			snprintf(reason, API_REASON_MAX,
				 "params key_path, cert_path (and ca_path) must be distinct absolute paths");
			return -EINVAL;
		}
		v = json_object_get(params, "ttl_s");
		if (v && (!json_is_integer(v) || json_integer_value(v) < 3600 ||
			  json_integer_value(v) > 397 * 86400)) {
			snprintf(reason, API_REASON_MAX, "params.ttl_s must be an integer in 3600..%d",
				 397 * 86400);
			return -EINVAL;
		}
		return 0;
	}
	snprintf(reason, API_REASON_MAX, "unknown job type");
	return -EINVAL;
}

/* ---- rendering ------------------------------------------------------- */

json_t *api_ts_json(int64_t t)
{
	char buf[TIMESTAMP_MAX];
	if (!t || !format_rfc3339(t, buf))
		return json_null();
	return json_string(buf);
}

/* JSON text from the store, or null when absent or unreadable. */
json_t *api_stored_json(const char *text)
{
	json_t *j = text ? json_loads(text, 0, NULL) : NULL;
	return j ?: json_null();
}

static json_t *node_to_json(const struct store_node *n, bool details)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:I, s:I}",
			      "id", n->id, "name", n->name,
			      "state", store_node_state_to_string(n->state),
			      "created_at", api_ts_json(n->created_at),
			      "enrolled_at", api_ts_json(n->enrolled_at),
			      "last_seen_at", api_ts_json(n->last_seen_at),
			      "cert_serial", n->cert_serial ? json_string(n->cert_serial) : json_null(),
			      "cert_not_after", api_ts_json(n->cert_not_after),
			      "settled_seq", (json_int_t)n->settled_seq,
			      "last_seq", (json_int_t)n->last_seq);
	if (o && n->revoked_at)
		json_object_set_new(o, "revoked_at", api_ts_json(n->revoked_at));
	if (o && details) {
		json_object_set_new(o, "facts", api_stored_json(n->facts));
		json_object_set_new(o, "health", api_stored_json(n->health));
	}
	return o;
}

static void job_param_redact(void *object, const char *member, void *userdata)
{
	(void)userdata;
	json_object_set_new(object, member, json_string("(redacted)"));
}

/* Job params as the API shows them: the params the type table marks
 * secret (pg.init's SCRAM verifier, S3 secrets, data keys) stay between
 * controller and node. */
static json_t *job_params_json(const struct store_job *j)
{
	const struct cairn_job_type_info *t = cairn_job_type_lookup(j->type);
	json_t *p = api_stored_json(j->params);

	if (json_is_object(p))
		cairn_job_type_foreach_secret(t, p, job_param_redact, NULL);
	return p;
}

static json_t *job_to_json(const struct store_job *j)
{
	return json_pack("{s:s, s:s, s:s, s:o, s:o, s:I, s:s, s:i, s:i, s:b, s:o, s:o, s:o, s:o, s:o, s:o}",
			 "id", j->id, "node_id", j->node_id, "type", j->type,
			 "params", job_params_json(j),
			 "ds", j->ds ? json_string(j->ds) : json_null(),
			 "epoch", (json_int_t)j->epoch,
			 "state", cairn_job_state_to_string(j->state),
			 "attempt", j->attempt, "max_attempts", j->max_attempts,
			 "idempotent", j->idempotent,
			 "created_at", api_ts_json(j->created_at),
			 "updated_at", api_ts_json(j->updated_at),
			 "finished_at", api_ts_json(j->finished_at),
			 "next_attempt_at", api_ts_json(j->next_attempt_at),
			 "message", j->message ? json_string(j->message) : json_null(),
			 "output", api_stored_json(j->output));
}

static json_t *attempt_to_json(const struct store_attempt *a)
{
	return json_pack("{s:s, s:i, s:I, s:s, s:o, s:o, s:o, s:o, s:o}",
			 "jti", a->jti, "n", a->n, "seq", (json_int_t)a->seq,
			 "state", cairn_job_state_to_string(a->state),
			 "sent_at", api_ts_json(a->sent_at),
			 "started_at", api_ts_json(a->started_at),
			 "finished_at", api_ts_json(a->finished_at),
			 "message", a->message ? json_string(a->message) : json_null(),
			 "output", api_stored_json(a->output));
}

void api_reply_internal(struct http_request *req, int r, const char *what)
{
	log_error_errno(r, "%s %s: %s", req->method, req->url, what);
	http_reply_problem(req, r == -EBUSY ? 503 : 500, NULL);
}

/* ---- handlers -------------------------------------------------------- */

static void h_health(void *userdata, struct http_request *req)
{
	_cleanup_json_ json_t *o = json_pack("{s:s, s:s}", "status", "ok", "version",
					     CAIRN_VERSION_STRING);
	http_reply_json(req, 200, o);
}

static void h_metrics(void *userdata, struct http_request *req)
{
	struct controller *c = userdata;
	_cleanup_free_ char *text = NULL;
	int r = metrics_render(c->metrics, c, &text);
	if (r < 0)
		return api_reply_internal(req, r, "cannot render metrics");
	http_reply_text(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, strlen(text));
}

/* Makes a join token and the user-data that carries it. */
static int make_join(struct controller *c, char **ret_token, char ret_hash[static 65],
		     char **ret_userdata)
{
	_cleanup_secret_ char *token = token_new(CAIRN_JOIN_TOKEN_PREFIX);
	_cleanup_secret_ char *ud = NULL;
	int r;

	if (!token)
		return -ENOMEM;
	r = sha256_hex(token, strlen(token), ret_hash);
	if (r < 0)
		return r;
	struct userdata_params p = {
		.api_url = c->config->public_api_url,
		.gateway_url = c->config->public_gateway_url,
		.ca_pem = c->keys->ca_pem,
		.join_token = token,
		.agent_package = c->config->agent_package,
	};
	r = userdata_render(&p, &ud);
	if (r < 0)
		return r;
	*ret_token = TAKE_PTR(token);
	*ret_userdata = TAKE_PTR(ud);
	return 0;
}

/* The answer holds a secret: serialise, send, wipe every copy we made. */
void api_reply_secret(struct http_request *req, unsigned status, json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT);
	if (!s)
		return api_reply_internal(req, -ENOMEM, "cannot serialise");
	http_reply_text(req, status, "application/json", s, strlen(s));
	freezero_strp(&s);
}

void api_wipe_json_string(json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));
	if (v)
		explicit_bzero((char *)v, strlen(v));
}

static void h_node_create(void *userdata, struct http_request *req)
{
	struct controller *c = userdata;
	_cleanup_json_ json_t *body = NULL, *o = NULL;
	_cleanup_secret_ char *token = NULL, *ud = NULL;
	char name[CAIRN_NODE_NAME_MAX + 1], reason[API_REASON_MAX], id[UUID_STRING_MAX], hash[65];
	struct store_node n = {};
	int64_t now = now_s();
	int r;

	if (http_body_json(req, &body) < 0)
		return;
	if (api_parse_node_create(body, name, reason) < 0) {
		http_reply_problem(req, 400, reason);
		return;
	}
	r = uuid_random(id);
	if (r >= 0)
		r = make_join(c, &token, hash, &ud);
	if (r < 0)
		return api_reply_internal(req, r, "cannot make a join token");
	r = store_node_create(c->store, id, name, hash, now + c->config->join_token_ttl_s, now);
	if (r == -EEXIST) {
		http_reply_problemf(req, 409, "a node named '%s' exists", name);
		return;
	}
	if (r >= 0)
		r = store_node_get(c->store, id, &n);
	if (r < 0)
		return api_reply_internal(req, r, "cannot create the node");
	o = node_to_json(&n, true);
	if (o) {
		json_object_set_new(o, "join_token", json_string(token));
		json_object_set_new(o, "join_token_expires_at", api_ts_json(n.join_expires_at));
		json_object_set_new(o, "user_data", json_string(ud));
	}
	log_info("node %s (%s) created", id, name);
	store_node_done(&n);
	if (!o)
		return api_reply_internal(req, -ENOMEM, "cannot render");
	api_reply_secret(req, 201, o);
	api_wipe_json_string(o, "join_token");
	api_wipe_json_string(o, "user_data");
}

static void h_node_list(void *userdata, struct http_request *req)
{
	struct controller *c = userdata;
	struct store_node *nodes = NULL;
	size_t n = 0;
	int r = store_node_list(c->store, &nodes, &n);
	if (r < 0)
		return api_reply_internal(req, r, "cannot list nodes");
	_cleanup_json_ json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++)
		json_array_append_new(a, node_to_json(&nodes[i], false));
	store_node_array_free(nodes, n);
	_cleanup_json_ json_t *o = a ? json_pack("{s:O}", "nodes", a) : NULL;
	if (!o)
		return api_reply_internal(req, -ENOMEM, "cannot render");
	http_reply_json(req, 200, o);
}

/* Loads the node named by the first path parameter, or answers 404. */
static int load_node(struct controller *c, struct http_request *req, struct store_node *ret)
{
	int r = uuid_is_valid(req->params[0]) ? store_node_get(c->store, req->params[0], ret) : -ENOENT;
	if (r == -ENOENT)
		http_reply_problem(req, 404, "no such node");
	else if (r < 0)
		api_reply_internal(req, r, "cannot read the node");
	return r;
}

static void h_node_get(void *userdata, struct http_request *req)
{
	struct controller *c = userdata;
	struct store_node n = {};
	if (load_node(c, req, &n) < 0)
		return;
	_cleanup_json_ json_t *o = node_to_json(&n, true);
	store_node_done(&n);
	if (!o)
		return api_reply_internal(req, -ENOMEM, "cannot render");
	http_reply_json(req, 200, o);
}

static void h_node_revoke(void *userdata, struct http_request *req)
{
	struct controller *c = userdata;
	struct store_node n = {};
	int r;

	if (load_node(c, req, &n) < 0)
		return;
	store_node_done(&n);
	r = store_node_revoke(c->store, req->params[0], now_s());
	if (r < 0 && r != -EALREADY)
		return api_reply_internal(req, r, "cannot revoke");
	if (r >= 0)
		log_notice("node %s revoked; its open jobs are cancelled", req->params[0]);
	/* A waiting pull of the node wakes up and is refused. */
	longpoll_wake(c->longpoll, req->params[0]);
	if (load_node(c, req, &n) < 0)
		return;
	_cleanup_json_ json_t *o = node_to_json(&n, true);
	store_node_done(&n);
	if (!o)
		return api_reply_internal(req, -ENOMEM, "cannot render");
	http_reply_json(req, 200, o);
}

static void h_node_join_token(void *userdata, struct http_request *req)
{
	struct controller *c = userdata;
	_cleanup_secret_ char *token = NULL, *ud = NULL;
	_cleanup_json_ json_t *o = NULL;
	struct store_node n = {};
	char hash[65];
	int64_t expires = now_s() + c->config->join_token_ttl_s;
	int r;

	if (req->body_len > 0) {
		_cleanup_json_ json_t *body = NULL;
		char reason[API_REASON_MAX];
		static const char *const none[] = { NULL };
		if (http_body_json(req, &body) < 0)
			return;
		if (api_check_members(body, none, reason) < 0) {
			http_reply_problem(req, 400, reason);
			return;
		}
	}
	if (load_node(c, req, &n) < 0)
		return;
	store_node_done(&n);
	r = make_join(c, &token, hash, &ud);
	if (r < 0)
		return api_reply_internal(req, r, "cannot make a join token");
	r = store_node_set_join_token(c->store, req->params[0], hash, expires);
	if (r == -EBUSY) {
		http_reply_problem(req, 409, "the node is not waiting for enrolment");
		return;
	}
	if (r < 0)
		return api_reply_internal(req, r, "cannot store the join token");
	o = json_pack("{s:s, s:o, s:s}", "join_token", token, "expires_at", api_ts_json(expires),
		      "user_data", ud);
	if (!o)
		return api_reply_internal(req, -ENOMEM, "cannot render");
	log_info("node %s has a new join token", req->params[0]);
	api_reply_secret(req, 200, o);
	api_wipe_json_string(o, "join_token");
	api_wipe_json_string(o, "user_data");
}

static void reply_job(struct controller *c, struct http_request *req, unsigned status,
		      const char *id, bool details)
{
	struct store_job j = {};
	int r = store_job_get(c->store, id, &j);
	if (r == -ENOENT) {
		http_reply_problem(req, 404, "no such job");
		return;
	}
	if (r < 0)
		return api_reply_internal(req, r, "cannot read the job");
	_cleanup_json_ json_t *o = job_to_json(&j);
	store_job_done(&j);
	if (o && details) {
		struct store_attempt *as = NULL;
		struct store_event *es = NULL;
		size_t na = 0, ne = 0;
		json_t *aa = json_array(), *ea = json_array();
		json_object_set_new(o, "attempts", aa);
		json_object_set_new(o, "events", ea);
		if (store_attempt_list(c->store, id, &as, &na) >= 0)
			for (size_t i = 0; i < na; i++)
				json_array_append_new(aa, attempt_to_json(&as[i]));
		if (store_event_list(c->store, id, &es, &ne) >= 0)
			for (size_t i = 0; i < ne; i++)
				json_array_append_new(ea, json_pack("{s:o, s:s, s:s, s:o}",
								    "at", api_ts_json(es[i].at),
								    "jti", es[i].jti,
								    "kind", es[i].kind ?: "",
								    "message", es[i].message ?
										       json_string(es[i].message) :
										       json_null()));
		store_attempt_array_free(as, na);
		store_event_array_free(es, ne);
	}
	if (!o)
		return api_reply_internal(req, -ENOMEM, "cannot render");
	http_reply_json(req, status, o);
}

static void h_job_submit(void *userdata, struct http_request *req)
{
	struct controller *c = userdata;
	_cleanup_json_ json_t *body = NULL, *empty = NULL;
	struct api_job_submit js;
	struct store_node n = {};
	char reason[API_REASON_MAX], id[UUID_STRING_MAX];
	int r;

	if (http_body_json(req, &body) < 0)
		return;
	if (api_parse_job_submit(body, &js, reason) < 0) {
		http_reply_problem(req, 400, reason);
		return;
	}
	if (js.raw_jws && !c->config->allow_raw_jobs) {
		http_reply_problem(req, 403, "raw jobs are disabled ([testing] allow_raw_jobs)");
		return;
	}
	if (!js.raw_jws) {
		if (!js.params)
			js.params = empty = json_object();
		if (api_check_params(js.type, js.params, reason) < 0) {
			http_reply_problem(req, 400, reason);
			return;
		}
		_cleanup_free_ char *p = json_dumps(js.params, JSON_COMPACT);
		if (!p || strlen(p) > API_JOB_PARAMS_MAX) {
			http_reply_problem(req, 400, "params are too large");
			return;
		}
	}
	if (load_node(c, req, &n) < 0)
		return;
	store_node_done(&n);

	if (js.raw_jws)
		r = runner_submit_raw(c->runner, req->params[0], js.raw_jws, id);
	else {
		struct runner_job_spec spec = {
			.node_id = req->params[0],
			.type = js.type,
			.params = js.params,
			.ds = js.ds,
			.epoch = js.epoch,
			.not_before = js.not_before,
			.ttl_s = js.ttl_s,
			.timeout_s = js.timeout_s,
			.max_attempts = js.max_attempts,
		};
		r = runner_submit(c->runner, &spec, id);
	}
	if (r == -ESTALE) {
		http_reply_problem(req, 409, "the node is revoked");
		return;
	}
	if (r == -EEXIST) {
		http_reply_problem(req, 409, "a job with this jti exists");
		return;
	}
	if (r == -ENOENT) {
		http_reply_problem(req, 404, "no such node");
		return;
	}
	if (r < 0)
		return api_reply_internal(req, r, "cannot submit the job");
	reply_job(c, req, 201, id, false);
}

static void h_job_list(void *userdata, struct http_request *req)
{
	struct controller *c = userdata;
	const char *node = http_query(req, "node"), *state_s = http_query(req, "state"),
		   *limit_s = http_query(req, "limit");
	int64_t limit = 100;
	int state = -1;
	struct store_job *jobs = NULL;
	size_t n = 0;

	if (node && *node && !uuid_is_valid(node)) {
		http_reply_problem(req, 400, "'node' must be a node id");
		return;
	}
	if (state_s && *state_s) {
		state = cairn_job_state_from_string(state_s);
		if (state < 0) {
			http_reply_problem(req, 400, "'state' must be a job state");
			return;
		}
	}
	if (limit_s && *limit_s && parse_int64(limit_s, 1, STORE_LIST_MAX, &limit) < 0) {
		http_reply_problem(req, 400, "'limit' must be an integer in 1..500");
		return;
	}
	int r = store_job_list(c->store, node && *node ? node : NULL, state, (unsigned)limit, &jobs, &n);
	if (r < 0)
		return api_reply_internal(req, r, "cannot list jobs");
	_cleanup_json_ json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++)
		json_array_append_new(a, job_to_json(&jobs[i]));
	store_job_array_free(jobs, n);
	_cleanup_json_ json_t *o = a ? json_pack("{s:O}", "jobs", a) : NULL;
	if (!o)
		return api_reply_internal(req, -ENOMEM, "cannot render");
	http_reply_json(req, 200, o);
}

static void h_job_get(void *userdata, struct http_request *req)
{
	struct controller *c = userdata;
	if (!uuid_is_valid(req->params[0])) {
		http_reply_problem(req, 404, "no such job");
		return;
	}
	reply_job(c, req, 200, req->params[0], true);
}

const struct http_route api_routes[] = {
	{ "GET", CAIRN_PATH_HEALTH, 0, HTTP_ROUTE_PUBLIC, h_health },
	{ "POST", CAIRN_PATH_ENROLL, ENROLL_BODY_MAX, HTTP_ROUTE_PUBLIC | HTTP_ROUTE_ENROLL, enroll_handler },
	{ "POST", CAIRN_PATH_NODES, CAIRN_API_BODY_MAX_BYTES, 0, h_node_create },
	{ "GET", CAIRN_PATH_NODES, 0, 0, h_node_list },
	{ "GET", CAIRN_PATH_NODES "/*", 0, 0, h_node_get },
	{ "POST", CAIRN_PATH_NODES "/*/revoke", 1024, 0, h_node_revoke },
	{ "POST", CAIRN_PATH_NODES "/*/join-token", 1024, 0, h_node_join_token },
	{ "POST", CAIRN_PATH_NODES "/*/jobs", CAIRN_API_BODY_MAX_BYTES, 0, h_job_submit },
	{ "GET", CAIRN_PATH_JOBS, 0, 0, h_job_list },
	{ "GET", CAIRN_PATH_JOBS "/*", 0, 0, h_job_get },
	{ "GET", CAIRN_PATH_METRICS, 0, 0, h_metrics },
	/* docs/datastores.md "REST API" (api-datastores.c) */
	{ "POST", CAIRN_PATH_DATASTORES, CAIRN_API_BODY_MAX_BYTES, 0, ads_h_create },
	{ "GET", CAIRN_PATH_DATASTORES, 0, 0, ads_h_list },
	{ "GET", CAIRN_PATH_DATASTORES "/*", 0, 0, ads_h_get },
	{ "DELETE", CAIRN_PATH_DATASTORES "/*", 0, 0, ads_h_destroy },
	{ "GET", CAIRN_PATH_DATASTORES "/*/connection", 0, 0, ads_h_connection },
	{ "POST", CAIRN_PATH_DATASTORES "/*/nodes", 1024, 0, ads_h_add_nodes },
	{ "DELETE", CAIRN_PATH_DATASTORES "/*/nodes/*", 0, 0, ads_h_remove_node },
	{ "PATCH", CAIRN_PATH_DATASTORES "/*/settings", CAIRN_API_BODY_MAX_BYTES, 0, ads_h_settings },
	{ "GET", CAIRN_PATH_OPERATIONS, 0, 0, ads_h_operation_list },
	{ "GET", CAIRN_PATH_OPERATIONS "/*", 0, 0, ads_h_operation_get },
	{ "POST", CAIRN_PATH_OPERATIONS "/*/retry", 1024, 0, ads_h_operation_retry },
	{ "GET", CAIRN_PATH_SD_PROMETHEUS, 0, 0, ads_h_sd },
};
const size_t api_routes_count = ELEMENTSOF(api_routes);

int api_admit(void *userdata, struct http_request *req)
{
	struct controller *c = userdata;
	int64_t now = now_mono_ms(), retry = 1;
	const char *auth;
	char hash[65];

	if (req->route && (req->route->flags & HTTP_ROUTE_ENROLL)) {
		if (!ratelimit_take(c->rl_enroll, req->peer, now, &retry)) {
			http_reply_ratelimited(req, retry);
			return -EBUSY;
		}
		return 0;
	}
	/* Requests without a credential (health, unknown paths) have no
	 * identity but their socket's peer address; never a header's. */
	if (!req->route || (req->route->flags & HTTP_ROUTE_PUBLIC)) {
		char key[sizeof(req->peer) + 8];
		snprintf(key, sizeof(key), "peer:%s", req->peer);
		if (!ratelimit_take(c->rl_api, key, now, &retry)) {
			http_reply_ratelimited(req, retry);
			return -EBUSY;
		}
		return 0;
	}

	/* An address that keeps failing is slowed down before its next try
	 * is even looked at. */
	if (ratelimit_exhausted(c->rl_auth_fail, req->peer, now, &retry)) {
		http_reply_ratelimited(req, retry);
		return -EBUSY;
	}
	auth = http_header(req, "Authorization");
	if (auth && strncasecmp(auth, "Bearer ", 7) == 0) {
		const char *token = auth + 7;
		size_t len = strnlen(token, CAIRN_TOKEN_MAX + 1);
		if (len > 0 && len <= CAIRN_TOKEN_MAX &&
		    strncmp(token, CAIRN_API_TOKEN_PREFIX, strlen(CAIRN_API_TOKEN_PREFIX)) == 0 &&
		    sha256_hex(token, len, hash) >= 0 && store_token_check(c->store, hash) >= 0) {
			snprintf(req->identity, sizeof(req->identity), "%s", hash);
			if (!ratelimit_take(c->rl_api, hash, now, &retry)) {
				http_reply_ratelimited(req, retry);
				return -EBUSY;
			}
			return 0;
		}
	}
	metrics_auth_failed(c->metrics, HTTP_LISTENER_API);
	if (!ratelimit_take(c->rl_auth_fail, req->peer, now, &retry)) {
		http_reply_ratelimited(req, retry);
		return -EBUSY;
	}
	http_reply_problem(req, 401, "a valid bearer token is required");
	return -EACCES;
}
