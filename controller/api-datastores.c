/*
 * api-datastores.c: the datastore, operation and HTTP SD routes of the API
 * listener (docs/datastores.md "REST API").  Every handler is the same
 * three moves: parse (pure functions, fuzzed), call the engine
 * (operations.h) or read the store, render (pure functions, unit-tested).
 * The engine's errors map to statuses by ads_status_for_errno() and its
 * reason becomes the problem's detail.
 *
 * The admin password exists here only between ops_create_datastore() and
 * the end of the create answer: it is rendered into one JSON document,
 * sent, and every copy is wiped.  No body is ever logged.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "api-datastores.h"
#include "config.h"
#include "controller.h"
#include "keys.h"
#include "log.h"
#include "macro.h"
#include "protocol.h"
#include "store.h"
#include "util.h"

/* ---- pure parsers ---------------------------------------------------- */

/* api_check_members() with an OPS_REASON_MAX buffer. */
static int check_members(json_t *o, const char *const *allowed, char reason[static OPS_REASON_MAX])
{
	char r[API_REASON_MAX];
	if (api_check_members(o, allowed, r) < 0) {
		snprintf(reason, OPS_REASON_MAX, "%s", r);
		return -EINVAL;
	}
	return 0;
}

static bool printable(const char *s)
{
	for (; *s; s++)
		if (*s < ' ' || *s > '~')
			return false;
	return true;
}

static bool setting_name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > ADS_SETTING_NAME_MAX || !(s[0] >= 'a' && s[0] <= 'z'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
		      s[i] == '.'))
			return false;
	return true;
}

int ads_check_settings(json_t *settings, bool allow_null, char reason[static OPS_REASON_MAX])
{
	const char *key;
	json_t *v;

	if (!json_is_object(settings)) {
		snprintf(reason, OPS_REASON_MAX, "'settings' must be an object");
		return -EINVAL;
	}
	if (json_object_size(settings) > CAIRN_DS_SETTINGS_MAX) {
		snprintf(reason, OPS_REASON_MAX, "'settings' has more than %d parameters",
			 CAIRN_DS_SETTINGS_MAX);
		return -EINVAL;
	}
	json_object_foreach(settings, key, v)
	{
		if (!setting_name_ok(key)) {
			snprintf(reason, OPS_REASON_MAX,
				 "a setting name must match [a-z][a-z0-9_.]{0,62}");
			return -EINVAL;
		}
		if (json_is_null(v) && allow_null)
			continue;
		const char *s = json_string_value(v);
		if (!s || strlen(s) > CAIRN_DS_SETTING_VALUE_MAX || !printable(s)) {
			snprintf(reason, OPS_REASON_MAX,
				 "setting '%s' must be a string of at most %d printable ASCII characters%s",
				 key, CAIRN_DS_SETTING_VALUE_MAX, allow_null ? " or null" : "");
			return -EINVAL;
		}
	}
	return 0;
}

static int check_size(json_t *size, char reason[static OPS_REASON_MAX])
{
	static const char *const allowed[] = { "cpus", "memory_mb", "disk_gb", NULL };
	static const struct {
		const char *key;
		int64_t max;
	} limits[] = { { "cpus", ADS_SIZE_CPUS_MAX },
		       { "memory_mb", ADS_SIZE_MEMORY_MB_MAX },
		       { "disk_gb", ADS_SIZE_DISK_GB_MAX } };

	if (!json_is_object(size)) {
		snprintf(reason, OPS_REASON_MAX, "'size' must be an object");
		return -EINVAL;
	}
	if (check_members(size, allowed, reason) < 0)
		return -EINVAL;
	for (size_t i = 0; i < ELEMENTSOF(limits); i++) {
		json_t *v = json_object_get(size, limits[i].key);
		if (!v)
			continue;
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > limits[i].max) {
			snprintf(reason, OPS_REASON_MAX, "size.%s must be an integer in 1..%" PRIi64,
				 limits[i].key, limits[i].max);
			return -EINVAL;
		}
	}
	return 0;
}

/* An optional short string member of [a-z0-9.] (engine, version). */
static int opt_word(json_t *body, const char *key, size_t max, const char *def, const char **ret,
		    char reason[static OPS_REASON_MAX])
{
	json_t *v = json_object_get(body, key);
	const char *s;

	if (!v || json_is_null(v)) {
		*ret = def;
		return 0;
	}
	s = json_string_value(v);
	if (!s || !*s || strlen(s) > max)
		goto bad;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '.'))
			goto bad;
	*ret = s;
	return 0;
bad:
	snprintf(reason, OPS_REASON_MAX, "'%s' must be a string of 1..%zu characters [a-z0-9.]", key,
		 max);
	return -EINVAL;
}

int ads_parse_create(json_t *body, struct ops_create_spec *ret, char reason[static OPS_REASON_MAX])
{
	static const char *const allowed[] = { "name", "engine", "version", "nodes", "size",
					       "settings", NULL };
	struct ops_create_spec s = { .nodes = 1 };
	json_t *v;

	if (!json_is_object(body)) {
		snprintf(reason, OPS_REASON_MAX, "the body must be a JSON object");
		return -EINVAL;
	}
	if (check_members(body, allowed, reason) < 0)
		return -EINVAL;
	s.name = json_string_value(json_object_get(body, "name"));
	if (!s.name || strlen(s.name) > CAIRN_DS_NAME_MAX || !api_node_name_is_valid(s.name)) {
		snprintf(reason, OPS_REASON_MAX,
			 "'name' must be a DNS label of 1..%d characters [a-z0-9-]", CAIRN_DS_NAME_MAX);
		return -EINVAL;
	}
	if (opt_word(body, "engine", ADS_ENGINE_MAX, "postgres", &s.engine, reason) < 0 ||
	    opt_word(body, "version", ADS_VERSION_MAX, "15", &s.version, reason) < 0)
		return -EINVAL;
	v = json_object_get(body, "nodes");
	if (v && !json_is_null(v)) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > CAIRN_DS_NODES_MAX) {
			snprintf(reason, OPS_REASON_MAX, "'nodes' must be an integer in 1..%d",
				 CAIRN_DS_NODES_MAX);
			return -EINVAL;
		}
		s.nodes = (int)json_integer_value(v);
	}
	v = json_object_get(body, "size");
	if (v && !json_is_null(v)) {
		if (check_size(v, reason) < 0)
			return -EINVAL;
		s.size = v;
	}
	v = json_object_get(body, "settings");
	if (v && !json_is_null(v)) {
		if (ads_check_settings(v, false, reason) < 0)
			return -EINVAL;
		s.settings = v;
	}
	*ret = s;
	return 0;
}

int ads_parse_add_nodes(json_t *body, int *ret_count, char reason[static OPS_REASON_MAX])
{
	static const char *const allowed[] = { "count", NULL };
	json_t *v;

	if (!json_is_object(body)) {
		snprintf(reason, OPS_REASON_MAX, "the body must be a JSON object");
		return -EINVAL;
	}
	if (check_members(body, allowed, reason) < 0)
		return -EINVAL;
	v = json_object_get(body, "count");
	if (!v || json_is_null(v)) {
		*ret_count = 1;
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < 1 ||
	    json_integer_value(v) > ADS_ADD_NODES_MAX) {
		snprintf(reason, OPS_REASON_MAX, "'count' must be an integer in 1..%d", ADS_ADD_NODES_MAX);
		return -EINVAL;
	}
	*ret_count = (int)json_integer_value(v);
	return 0;
}

int ads_parse_settings_patch(json_t *body, json_t **ret_patch, char reason[static OPS_REASON_MAX])
{
	static const char *const allowed[] = { "settings", NULL };
	json_t *v;

	if (!json_is_object(body)) {
		snprintf(reason, OPS_REASON_MAX, "the body must be a JSON object");
		return -EINVAL;
	}
	if (check_members(body, allowed, reason) < 0)
		return -EINVAL;
	v = json_object_get(body, "settings");
	if (!v) {
		snprintf(reason, OPS_REASON_MAX, "'settings' is required");
		return -EINVAL;
	}
	if (ads_check_settings(v, true, reason) < 0)
		return -EINVAL;
	if (json_object_size(v) == 0) {
		snprintf(reason, OPS_REASON_MAX, "'settings' changes nothing");
		return -EINVAL;
	}
	*ret_patch = v;
	return 0;
}

unsigned ads_status_for_errno(int r)
{
	switch (r) {
	case -EINVAL:
		return 400;
	case -ENOENT:
		return 404;
	case -EEXIST:
	case -EBUSY:
	case -EPERM:
		return 409;
	case -EAGAIN:
	case -ETIMEDOUT:
		return 503;
	default:
		return 500;
	}
}

/* ---- rendering ------------------------------------------------------- */

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

json_t *ads_member_to_json(const struct store_member *m, bool reachable, json_t *status)
{
	return json_pack("{s:i, s:o, s:s, s:o, s:o, s:o, s:b, s:O}",
			 "ordinal", m->ordinal,
			 "name", str_or_null(m->name),
			 "node_id", m->node_id,
			 "role", str_or_null(m->role),
			 "state", str_or_null(m->state),
			 "address", str_or_null(m->address),
			 "reachable", reachable,
			 "status", status ?: json_null());
}

json_t *ads_datastore_to_json(const struct store_datastore *d, enum health h, json_t *members,
			      json_t *operation)
{
	json_t *o = json_pack("{s:s, s:o, s:o, s:o, s:i, s:o, s:s, s:I, s:o, s:o, s:o, s:o, s:o}",
			      "id", d->id,
			      "name", str_or_null(d->name),
			      "engine", str_or_null(d->engine),
			      "version", str_or_null(d->version),
			      "port", d->port,
			      "state", str_or_null(d->state),
			      "health", health_to_string(h),
			      "epoch", (json_int_t)d->epoch,
			      "primary", str_or_null(d->primary_node_id),
			      "settings", d->settings ? api_stored_json(d->settings) : json_object(),
			      "size", d->size ? api_stored_json(d->size) : json_object(),
			      "created_at", api_ts_json(d->created_at),
			      "updated_at", api_ts_json(d->updated_at));
	if (!o)
		return NULL;
	if (json_object_set_new(o, "members", members ? json_incref(members) : json_array()) < 0 ||
	    (operation && json_object_set(o, "operation", operation) < 0)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static const char *member_name(const struct store_member *members, size_t n, int ordinal)
{
	for (size_t i = 0; members && i < n; i++)
		if (members[i].ordinal == ordinal)
			return members[i].name;
	return NULL;
}

static const char *member_node_id(const struct store_member *members, size_t n, int ordinal)
{
	for (size_t i = 0; members && i < n; i++)
		if (members[i].ordinal == ordinal)
			return members[i].node_id;
	return NULL;
}

static json_t *step_to_json(const struct store_step *st, const struct ads_step_job *job,
			    const struct store_member *members, size_t n_members)
{
	const char *mname = st->member_ordinal >= 0 ? member_name(members, n_members, st->member_ordinal) : NULL;
	const char *mnode = st->member_ordinal >= 0 ? member_node_id(members, n_members, st->member_ordinal) : NULL;
	return json_pack("{s:i, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
			 "index", st->idx,
			 "name", str_or_null(st->name),
			 "kind", str_or_null(st->kind),
			 "member", st->member_ordinal < 0 ? json_null() :
				   mname ? json_string(mname) : json_integer(st->member_ordinal),
			 "node_id", str_or_null(mnode),
			 "deps", st->deps ? api_stored_json(st->deps) : json_array(),
			 "state", str_or_null(st->state),
			 "job_id", str_or_null(st->job_id),
			 "job_state", str_or_null(job ? job->state : NULL),
			 "message", str_or_null(job && job->message ? job->message : st->message),
			 "started_at", api_ts_json(st->started_at),
			 "finished_at", api_ts_json(st->finished_at));
}

json_t *ads_operation_to_json(const struct store_operation *o, const struct store_step *steps,
			      size_t n_steps, const struct ads_step_job *jobs,
			      const struct store_member *members, size_t n_members, bool with_steps)
{
	json_t *j = json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:o}",
			      "id", o->id,
			      "datastore", o->ds_id,
			      "kind", str_or_null(o->kind),
			      "state", str_or_null(o->state),
			      "message", str_or_null(o->message),
			      "created_at", api_ts_json(o->created_at),
			      "finished_at", api_ts_json(o->finished_at));
	if (!j)
		return NULL;
	if (steps) {
		size_t done = 0;
		for (size_t i = 0; i < n_steps; i++)
			if (steps[i].state && streq(steps[i].state, "succeeded"))
				done++;
		if (json_object_set_new(j, "progress", json_pack("{s:I, s:I}", "done", (json_int_t)done,
								 "total", (json_int_t)n_steps)) < 0)
			goto fail;
	}
	if (with_steps) {
		json_t *a = json_array();
		if (json_object_set_new(j, "steps", a) < 0)
			goto fail;
		for (size_t i = 0; steps && i < n_steps; i++)
			if (json_array_append_new(a, step_to_json(&steps[i], jobs ? &jobs[i] : NULL,
								  members, n_members)) < 0)
				goto fail;
	}
	return j;
fail:
	json_decref(j);
	return NULL;
}

static bool member_is_primary(const struct store_datastore *d, const struct store_member *m)
{
	if (d->primary_node_id)
		return streq(d->primary_node_id, m->node_id);
	return m->role && streq(m->role, "primary");
}

json_t *ads_connection_to_json(const struct store_datastore *d, const struct store_member *members,
			       size_t n_members, const char *ca_pem, const char *password)
{
	const char *host = NULL;
	json_t *replicas = json_array(), *o;

	if (!replicas)
		return NULL;
	for (size_t i = 0; i < n_members; i++) {
		const struct store_member *m = &members[i];
		if (!m->address || (m->state && streq(m->state, "removed")))
			continue;
		if (member_is_primary(d, m))
			host = m->address;
		else if (json_array_append_new(replicas, json_string(m->address)) < 0) {
			json_decref(replicas);
			return NULL;
		}
	}
	o = json_pack("{s:o, s:i, s:o, s:s, s:s, s:s, s:o}",
		      "host", str_or_null(host),
		      "port", d->port,
		      "replicas", replicas,
		      "dbname", "postgres",
		      "user", d->admin_user ?: CAIRN_PG_ADMIN_USER,
		      "sslmode", "verify-full",
		      "ca_pem", str_or_null(ca_pem));
	if (o && password && json_object_set_new(o, "password", json_string(password)) < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

int ads_sd_append(json_t *groups, const struct store_datastore *d, const struct store_member *members,
		  size_t n_members)
{
	static const struct {
		const char *job;
		int port;
	} exporters[] = { { "node", CAIRN_NODE_EXPORTER_PORT },
			  { "postgres", CAIRN_POSTGRES_EXPORTER_PORT } };

	if (!d->state || streq(d->state, "deleted"))
		return 0;
	for (size_t i = 0; i < n_members; i++) {
		const struct store_member *m = &members[i];
		if (!m->state || !streq(m->state, "ready") || !m->address || !*m->address)
			continue;
		for (size_t k = 0; k < ELEMENTSOF(exporters); k++) {
			char target[256];
			/* An IPv6 literal needs brackets in host:port. */
			if (strchr(m->address, ':'))
				snprintf(target, sizeof(target), "[%s]:%d", m->address, exporters[k].port);
			else
				snprintf(target, sizeof(target), "%s:%d", m->address, exporters[k].port);
			json_t *g = json_pack("{s:[s], s:{s:s, s:s, s:s, s:s, s:s, s:s, s:s}}",
					      "targets", target,
					      "labels",
					      "__scheme__", "https",
					      "job", exporters[k].job,
					      "cairn_datastore", d->name ?: "",
					      "cairn_datastore_id", d->id,
					      "cairn_node", m->name ?: "",
					      "cairn_node_id", m->node_id,
					      "cairn_role", m->role ?: "");
			if (!g || json_array_append_new(groups, g) < 0)
				return -ENOMEM;
		}
	}
	return 0;
}

/* ---- store readers --------------------------------------------------- */

int64_t ads_unreachable_s(struct controller *c)
{
	/* config.c defaults 0 to 3 x status_interval_s; keep that rule here
	 * too for a config built by hand. */
	return c->config->node_unreachable_s > 0 ? c->config->node_unreachable_s :
						     health_unreachable_s(c->config->status_interval_s);
}

int ads_load_health(struct controller *c, const struct store_datastore *d, int64_t now,
		    enum health *ret_health, json_t **ret_members)
{
	struct store_member *ms = NULL;
	size_t n = 0;
	int r;

	r = store_member_list(c->store, d->id, false, &ms, &n);
	if (r < 0)
		return r;
	_cleanup_json_ json_t *arr = json_array();
	struct health_member *hm = calloc(n ?: 1, sizeof(*hm));
	if (!arr || !hm) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct store_node node = {};
		hm[i] = (struct health_member){
			.ordinal = ms[i].ordinal, .role = ms[i].role, .state = ms[i].state,
		};
		if (store_node_get(c->store, ms[i].node_id, &node) >= 0) {
			hm[i].reachable = health_member_reachable(node.last_seen_at, now, ads_unreachable_s(c));
			hm[i].status = health_member_status(node.health, d->id);
			store_node_done(&node);
		}
		if (json_array_append_new(arr, ads_member_to_json(&ms[i], hm[i].reachable, hm[i].status)) < 0) {
			r = -ENOMEM;
			goto out;
		}
	}
	*ret_health = health_datastore(hm, n);
	if (ret_members)
		*ret_members = TAKE_PTR(arr);
	r = 0;
out:
	for (size_t i = 0; hm && i < n; i++)
		json_decref(hm[i].status);
	free(hm);
	store_member_array_free(ms, n);
	return r;
}

/* The operation with its steps, each step's job state and message. */
static int load_operation(struct controller *c, const struct store_operation *op, bool with_steps,
			  json_t **ret)
{
	struct store_step *steps = NULL;
	struct store_member *ms = NULL;
	struct store_job *jobs = NULL;
	struct ads_step_job *views = NULL;
	size_t n = 0, nm = 0;
	int r;

	r = store_step_list(c->store, op->id, &steps, &n);
	if (r < 0)
		return r;
	if (with_steps) {
		(void)store_member_list(c->store, op->ds_id, true, &ms, &nm);
		jobs = calloc(n ?: 1, sizeof(*jobs));
		views = calloc(n ?: 1, sizeof(*views));
		if (!jobs || !views) {
			r = -ENOMEM;
			goto out;
		}
		for (size_t i = 0; i < n; i++)
			if (steps[i].job_id && store_job_get(c->store, steps[i].job_id, &jobs[i]) >= 0) {
				views[i].state = cairn_job_state_to_string(jobs[i].state);
				views[i].message = jobs[i].message;
			}
	}
	json_t *o = ads_operation_to_json(op, steps, n, views, ms, nm, with_steps);
	if (!o) {
		r = -ENOMEM;
		goto out;
	}
	*ret = o;
	r = 0;
out:
	if (jobs)
		store_job_array_free(jobs, n);
	else
		free(jobs);
	free(views);
	store_member_array_free(ms, nm);
	store_step_array_free(steps, n);
	return r;
}

/* The running operation of a datastore, else its latest; NULL when none. */
static int load_current_operation(struct controller *c, const char *ds_id, json_t **ret)
{
	struct store_operation op = {};
	int r = store_operation_running(c->store, ds_id, &op);
	if (r == -ENOENT) {
		struct store_operation *ops = NULL;
		size_t n = 0;
		r = store_operation_list(c->store, ds_id, NULL, 1, &ops, &n);
		if (r < 0)
			return r;
		if (n == 0) {
			store_operation_array_free(ops, n);
			*ret = NULL;
			return 0;
		}
		r = load_operation(c, &ops[0], true, ret);
		store_operation_array_free(ops, n);
		return r;
	}
	if (r < 0)
		return r;
	r = load_operation(c, &op, true, ret);
	store_operation_done(&op);
	return r;
}

/* ---- handlers -------------------------------------------------------- */

static void reply_engine_error(struct http_request *req, int r, const char *reason,
			       const char *what)
{
	unsigned status = ads_status_for_errno(r);
	if (status >= 500) {
		log_error_errno(r, "%s %s: %s%s%s", req->method, req->url, what, *reason ? ": " : "",
				reason);
		http_reply_problem(req, status, *reason ? reason : NULL);
		return;
	}
	http_reply_problem(req, status, *reason ? reason : NULL);
}

static int load_datastore(struct controller *c, struct http_request *req, const char *id_or_name,
			  struct store_datastore *ret)
{
	int r = store_datastore_get(c->store, id_or_name, ret);
	if (r == -ENOENT)
		http_reply_problem(req, 404, "no such datastore");
	else if (r < 0)
		api_reply_internal(req, r, "cannot read the datastore");
	return r;
}

/* The datastore with members, health and its current operation. */
static int render_datastore(struct controller *c, const struct store_datastore *d, bool with_op,
			    json_t **ret)
{
	_cleanup_json_ json_t *members = NULL, *op = NULL;
	enum health h;
	int r = ads_load_health(c, d, now_s(), &h, &members);
	if (r < 0)
		return r;
	if (with_op) {
		r = load_current_operation(c, d->id, &op);
		if (r < 0)
			return r;
	}
	json_t *o = ads_datastore_to_json(d, h, members, op);
	if (!o)
		return -ENOMEM;
	*ret = o;
	return 0;
}

/* Answers `status` {"operation": …} for operation `op_id`. */
static void reply_operation(struct controller *c, struct http_request *req, unsigned status,
			    const char *op_id, bool wrap)
{
	struct store_operation op = {};
	_cleanup_json_ json_t *o = NULL;
	int r = store_operation_get(c->store, op_id, &op);
	if (r == -ENOENT) {
		http_reply_problem(req, 404, "no such operation");
		return;
	}
	if (r >= 0)
		r = load_operation(c, &op, true, &o);
	store_operation_done(&op);
	if (r < 0)
		return api_reply_internal(req, r, "cannot read the operation");
	if (wrap) {
		_cleanup_json_ json_t *w = json_pack("{s:O}", "operation", o);
		if (!w)
			return api_reply_internal(req, -ENOMEM, "cannot render");
		http_reply_json(req, status, w);
		return;
	}
	http_reply_json(req, status, o);
}

void ads_h_create(void *userdata, struct http_request *req)
{
	struct controller *c = userdata;
	_cleanup_json_ json_t *body = NULL, *o = NULL, *ds_json = NULL, *op_json = NULL, *conn = NULL;
	_cleanup_secret_ char *password = NULL;
	char reason[OPS_REASON_MAX] = "", ds_id[UUID_STRING_MAX], op_id[UUID_STRING_MAX];
	struct ops_create_spec spec;
	struct store_datastore d = {};
	struct store_operation op = {};
	struct store_member *ms = NULL;
	size_t nm = 0;
	int r;

	if (http_body_json(req, &body) < 0)
		return;
	if (ads_parse_create(body, &spec, reason) < 0) {
		http_reply_problem(req, 400, reason);
		return;
	}
	r = ops_create_datastore(c->ops, &spec, ds_id, op_id, &password, reason);
	if (r < 0)
		return reply_engine_error(req, r, reason, "cannot create the datastore");
	log_info("datastore %s (%s) created; operation %s", ds_id, spec.name, op_id);

	r = store_datastore_get(c->store, ds_id, &d);
	if (r >= 0)
		r = render_datastore(c, &d, false, &ds_json);
	if (r >= 0)
		r = store_operation_get(c->store, op_id, &op);
	if (r >= 0)
		r = load_operation(c, &op, true, &op_json);
	if (r >= 0)
		r = store_member_list(c->store, ds_id, false, &ms, &nm);
	if (r >= 0) {
		conn = ads_connection_to_json(&d, ms, nm, c->keys->ca_pem, password);
		if (!conn)
			r = -ENOMEM;
	}
	store_member_array_free(ms, nm);
	store_operation_done(&op);
	store_datastore_done(&d);
	if (r >= 0) {
		if (op_json)
			json_object_set(ds_json, "operation", op_json);
		o = json_pack("{s:O, s:O, s:O}", "datastore", ds_json, "operation", op_json,
			      "connection", conn);
	}
	if (!o) {
		/* The operation runs; only this answer failed.  The password
		 * cannot be shown again: say so. */
		if (conn)
			api_wipe_json_string(conn, "password");
		log_error_errno(r < 0 ? r : -ENOMEM, "datastore %s: cannot render the create answer", ds_id);
		http_reply_problemf(req, 500,
				    "datastore %s is being created (operation %s) but this answer could not "
				    "be rendered, and the admin password is shown only once: destroy the "
				    "datastore and create it again",
				    ds_id, op_id);
		return;
	}
	api_reply_secret(req, 202, o);
	api_wipe_json_string(conn, "password");
}

void ads_h_list(void *userdata, struct http_request *req)
{
	struct controller *c = userdata;
	struct store_datastore *ds = NULL;
	size_t n = 0;
	int r = store_datastore_list(c->store, false, &ds, &n);
	if (r < 0)
		return api_reply_internal(req, r, "cannot list datastores");
	_cleanup_json_ json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++) {
		json_t *o = NULL;
		r = render_datastore(c, &ds[i], false, &o);
		if (r < 0 || json_array_append_new(a, o) < 0) {
			json_decref(a);
			a = NULL;
		}
	}
	store_datastore_array_free(ds, n);
	_cleanup_json_ json_t *o = a ? json_pack("{s:O}", "datastores", a) : NULL;
	if (!o)
		return api_reply_internal(req, r < 0 ? r : -ENOMEM, "cannot render");
	http_reply_json(req, 200, o);
}

void ads_h_get(void *userdata, struct http_request *req)
{
	struct controller *c = userdata;
	struct store_datastore d = {};
	_cleanup_json_ json_t *o = NULL;
	if (load_datastore(c, req, req->params[0], &d) < 0)
		return;
	int r = render_datastore(c, &d, true, &o);
	store_datastore_done(&d);
	if (r < 0)
		return api_reply_internal(req, r, "cannot render the datastore");
	http_reply_json(req, 200, o);
}

void ads_h_connection(void *userdata, struct http_request *req)
{
	struct controller *c = userdata;
	struct store_datastore d = {};
	struct store_member *ms = NULL;
	size_t n = 0;
	if (load_datastore(c, req, req->params[0], &d) < 0)
		return;
	int r = store_member_list(c->store, d.id, false, &ms, &n);
	_cleanup_json_ json_t *o = r >= 0 ? ads_connection_to_json(&d, ms, n, c->keys->ca_pem, NULL) : NULL;
	store_member_array_free(ms, n);
	store_datastore_done(&d);
	if (!o)
		return api_reply_internal(req, r < 0 ? r : -ENOMEM, "cannot render the connection");
	http_reply_json(req, 200, o);
}

void ads_h_destroy(void *userdata, struct http_request *req)
{
	struct controller *c = userdata;
	char reason[OPS_REASON_MAX] = "", op_id[UUID_STRING_MAX];
	int r = ops_destroy(c->ops, req->params[0], op_id, reason);
	if (r < 0)
		return reply_engine_error(req, r, reason, "cannot destroy the datastore");
	log_info("datastore %s: destroy, operation %s", req->params[0], op_id);
	reply_operation(c, req, 202, op_id, true);
}

/* A body that may be absent: NULL then, else a JSON object (or answered 400). */
static int optional_body(struct http_request *req, json_t **ret)
{
	if (req->body_len == 0) {
		*ret = NULL;
		return 0;
	}
	return http_body_json(req, ret);
}

void ads_h_add_nodes(void *userdata, struct http_request *req)
{
	struct controller *c = userdata;
	_cleanup_json_ json_t *body = NULL;
	char reason[OPS_REASON_MAX] = "", op_id[UUID_STRING_MAX];
	int count = 1, r;

	if (optional_body(req, &body) < 0)
		return;
	if (body && ads_parse_add_nodes(body, &count, reason) < 0) {
		http_reply_problem(req, 400, reason);
		return;
	}
	r = ops_add_nodes(c->ops, req->params[0], count, op_id, reason);
	if (r < 0)
		return reply_engine_error(req, r, reason, "cannot add nodes");
	log_info("datastore %s: add %d node(s), operation %s", req->params[0], count, op_id);
	reply_operation(c, req, 202, op_id, true);
}

void ads_h_remove_node(void *userdata, struct http_request *req)
{
	struct controller *c = userdata;
	char reason[OPS_REASON_MAX] = "", op_id[UUID_STRING_MAX];
	int r = ops_remove_node(c->ops, req->params[0], req->params[1], op_id, reason);
	if (r < 0)
		return reply_engine_error(req, r, reason, "cannot remove the node");
	log_info("datastore %s: remove %s, operation %s", req->params[0], req->params[1], op_id);
	reply_operation(c, req, 202, op_id, true);
}

void ads_h_settings(void *userdata, struct http_request *req)
{
	struct controller *c = userdata;
	_cleanup_json_ json_t *body = NULL;
	json_t *patch;
	char reason[OPS_REASON_MAX] = "", op_id[UUID_STRING_MAX];
	int r;

	if (http_body_json(req, &body) < 0)
		return;
	if (ads_parse_settings_patch(body, &patch, reason) < 0) {
		http_reply_problem(req, 400, reason);
		return;
	}
	r = ops_configure(c->ops, req->params[0], patch, op_id, reason);
	if (r < 0)
		return reply_engine_error(req, r, reason, "cannot configure the datastore");
	/* Names only: values may be secrets a person typed. */
	log_info("datastore %s: configure %zu setting(s), operation %s", req->params[0],
		 json_object_size(patch), op_id);
	reply_operation(c, req, 202, op_id, true);
}

void ads_h_operation_list(void *userdata, struct http_request *req)
{
	struct controller *c = userdata;
	const char *ds_q = http_query(req, "datastore"), *state = http_query(req, "state"),
		   *limit_s = http_query(req, "limit");
	struct store_datastore d = {};
	struct store_operation *ops = NULL;
	size_t n = 0;
	int64_t limit = ADS_OPERATIONS_LIMIT_DEFAULT;
	int r;

	if (state && *state && !streq(state, "running") && !streq(state, "succeeded") &&
	    !streq(state, "failed")) {
		http_reply_problem(req, 400, "'state' must be running, succeeded or failed");
		return;
	}
	if (limit_s && *limit_s && parse_int64(limit_s, 1, STORE_LIST_MAX, &limit) < 0) {
		http_reply_problemf(req, 400, "'limit' must be an integer in 1..%d", STORE_LIST_MAX);
		return;
	}
	if (ds_q && *ds_q) {
		if (strlen(ds_q) >= HTTP_PARAM_MAX) {
			http_reply_problem(req, 404, "no such datastore");
			return;
		}
		if (load_datastore(c, req, ds_q, &d) < 0)
			return;
	}
	r = store_operation_list(c->store, ds_q && *ds_q ? d.id : NULL, state && *state ? state : NULL,
				 (unsigned)limit, &ops, &n);
	store_datastore_done(&d);
	if (r < 0)
		return api_reply_internal(req, r, "cannot list operations");
	_cleanup_json_ json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++) {
		json_t *o = NULL;
		r = load_operation(c, &ops[i], false, &o);
		if (r < 0 || json_array_append_new(a, o) < 0) {
			json_decref(a);
			a = NULL;
		}
	}
	store_operation_array_free(ops, n);
	_cleanup_json_ json_t *o = a ? json_pack("{s:O}", "operations", a) : NULL;
	if (!o)
		return api_reply_internal(req, r < 0 ? r : -ENOMEM, "cannot render");
	http_reply_json(req, 200, o);
}

void ads_h_operation_get(void *userdata, struct http_request *req)
{
	struct controller *c = userdata;
	if (!uuid_is_valid(req->params[0])) {
		http_reply_problem(req, 404, "no such operation");
		return;
	}
	reply_operation(c, req, 200, req->params[0], false);
}

void ads_h_operation_retry(void *userdata, struct http_request *req)
{
	struct controller *c = userdata;
	_cleanup_json_ json_t *body = NULL;
	char reason[OPS_REASON_MAX] = "";
	static const char *const none[] = { NULL };

	if (optional_body(req, &body) < 0)
		return;
	if (body && check_members(body, none, reason) < 0) {
		http_reply_problem(req, 400, reason);
		return;
	}
	if (!uuid_is_valid(req->params[0])) {
		http_reply_problem(req, 404, "no such operation");
		return;
	}
	int r = ops_retry(c->ops, req->params[0], reason);
	if (r < 0)
		return reply_engine_error(req, r, reason, "cannot retry the operation");
	log_info("operation %s retried", req->params[0]);
	reply_operation(c, req, 202, req->params[0], false);
}

void ads_h_sd(void *userdata, struct http_request *req)
{
	struct controller *c = userdata;
	struct store_datastore *ds = NULL;
	size_t n = 0;
	int r = store_datastore_list(c->store, false, &ds, &n);
	if (r < 0)
		return api_reply_internal(req, r, "cannot list datastores");
	_cleanup_json_ json_t *groups = json_array();
	if (!groups)
		r = -ENOMEM;
	for (size_t i = 0; r >= 0 && i < n; i++) {
		struct store_member *ms = NULL;
		size_t nm = 0;
		r = store_member_list(c->store, ds[i].id, false, &ms, &nm);
		if (r >= 0)
			r = ads_sd_append(groups, &ds[i], ms, nm);
		store_member_array_free(ms, nm);
	}
	store_datastore_array_free(ds, n);
	if (r < 0)
		return api_reply_internal(req, r, "cannot render the targets");
	http_reply_json(req, 200, groups);
}

int ads_render_operation(struct controller *c, const char *op_id, json_t **ret)
{
	struct store_operation op = {};
	int r = store_operation_get(c->store, op_id, &op);
	if (r >= 0)
		r = load_operation(c, &op, true, ret);
	store_operation_done(&op);
	return r;
}

int ads_render_datastore(struct controller *c, const char *ds_id, json_t **ret)
{
	struct store_datastore d = {};
	int r = store_datastore_get(c->store, ds_id, &d);
	if (r >= 0)
		r = render_datastore(c, &d, false, ret);
	store_datastore_done(&d);
	return r;
}
