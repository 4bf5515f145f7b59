/*
 * gateway.c: handlers of the agent gateway.
 *
 * Trust: libmicrohttpd 0.9.75 asks for a client certificate but completes
 * the handshake without one (STYLE.md), so gateway_admit() verifies the
 * peer itself on the first call of every request: GnuTLS checks the chain
 * against the CA given as HTTPS_MEM_TRUST, OpenSSL checks it again and
 * reads the node id from the one SAN URI, and the store says whether that
 * node is enrolled.  Anything else is 403 with no detail.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/gnutls.h>

#include "backup.h"
#include "config.h"
#include "controller.h"
#include "gateway.h"
#include "keys.h"
#include "log.h"
#include "longpoll.h"
#include "macro.h"
#include "metrics.h"
#include "pki.h"
#include "ratelimit.h"
#include "runner.h"
#include "store.h"
#include "util.h"

/* ---- pure parsers ---------------------------------------------------- */

int gateway_parse_pull_query(const char *after, const char *wait, int64_t wait_max,
			     int64_t *ret_after, int64_t *ret_wait, char reason[static API_REASON_MAX])
{
	int64_t a = 0, w = 0;
	if (after && parse_int64(after, 0, CAIRN_SEQ_MAX, &a) < 0) {
		snprintf(reason, API_REASON_MAX, "'after' must be an integer >= 0");
		return -EINVAL;
	}
	if (wait && parse_int64(wait, 0, CAIRN_POLL_WAIT_MAX_S, &w) < 0) {
		snprintf(reason, API_REASON_MAX, "'wait' must be an integer in 0..%d", CAIRN_POLL_WAIT_MAX_S);
		return -EINVAL;
	}
	*ret_after = a;
	*ret_wait = MIN(w, wait_max);
	return 0;
}

/* Counts UTF-8 code points (jansson has validated the encoding). */
static size_t utf8_chars(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

int gateway_parse_event(json_t *body, const char **ret_kind, const char **ret_message,
			char reason[static API_REASON_MAX])
{
	static const char *const allowed[] = { "kind", "message", "progress", NULL };
	if (!json_is_object(body)) {
		snprintf(reason, API_REASON_MAX, "the body must be a JSON object");
		return -EINVAL;
	}
	if (api_check_members(body, allowed, reason) < 0)
		return -EINVAL;
	const char *kind = json_string_value(json_object_get(body, "kind"));
	if (!kind || !(streq(kind, "started") || streq(kind, "progress") || streq(kind, "log"))) {
		snprintf(reason, API_REASON_MAX, "'kind' must be started, progress or log");
		return -EINVAL;
	}
	json_t *m = json_object_get(body, "message");
	const char *msg = NULL;
	if (m && !json_is_null(m)) {
		msg = json_string_value(m);
		if (!msg || utf8_chars(msg) > GATEWAY_MESSAGE_MAX_CHARS) {
			snprintf(reason, API_REASON_MAX, "'message' must be a string of at most %d characters",
				 GATEWAY_MESSAGE_MAX_CHARS);
			return -EINVAL;
		}
	}
	json_t *p = json_object_get(body, "progress");
	if (p && !json_is_null(p) &&
	    (!json_is_number(p) || json_number_value(p) < 0.0 || json_number_value(p) > 1.0)) {
		snprintf(reason, API_REASON_MAX, "'progress' must be a number in 0..1");
		return -EINVAL;
	}
	*ret_kind = kind;
	*ret_message = msg;
	return 0;
}

int gateway_parse_result(json_t *body, enum cairn_job_state *ret_state, const char **ret_message,
			 char **ret_output_json, char reason[static API_REASON_MAX])
{
	static const char *const allowed[] = { "state", "message", "output", NULL };
	if (!json_is_object(body)) {
		snprintf(reason, API_REASON_MAX, "the body must be a JSON object");
		return -EINVAL;
	}
	if (api_check_members(body, allowed, reason) < 0)
		return -EINVAL;
	enum cairn_job_state st =
		cairn_job_state_from_string(json_string_value(json_object_get(body, "state")));
	if (st < 0 || !cairn_job_state_is_agent_result(st)) {
		snprintf(reason, API_REASON_MAX,
			 "'state' must be succeeded, failed, rejected or interrupted");
		return -EINVAL;
	}
	json_t *m = json_object_get(body, "message");
	const char *msg = NULL;
	if (m && !json_is_null(m)) {
		msg = json_string_value(m);
		if (!msg || utf8_chars(msg) > GATEWAY_RESULT_MESSAGE_MAX) {
			snprintf(reason, API_REASON_MAX, "'message' must be a string of at most %d characters",
				 GATEWAY_RESULT_MESSAGE_MAX);
			return -EINVAL;
		}
	}
	json_t *o = json_object_get(body, "output");
	char *out = NULL;
	if (o && !json_is_null(o)) {
		if (!json_is_object(o)) {
			snprintf(reason, API_REASON_MAX, "'output' must be an object");
			return -EINVAL;
		}
		out = json_dumps(o, JSON_COMPACT);
		if (!out)
			return -ENOMEM;
		if (strlen(out) > CAIRN_RESULT_MAX_BYTES) {
			free(out);
			snprintf(reason, API_REASON_MAX, "'output' is larger than %d bytes",
				 CAIRN_RESULT_MAX_BYTES);
			return -EINVAL;
		}
	}
	*ret_state = st;
	*ret_message = msg;
	*ret_output_json = out;
	return 0;
}

/* One optional member of a `databases` entry: absent or null is fine. */
static bool db_opt(json_t *e, const char *key, int type)
{
	json_t *v = json_object_get(e, key);
	if (!v || json_is_null(v))
		return true;
	switch (type) {
	case JSON_TRUE: /* boolean */
		return json_is_boolean(v);
	case JSON_INTEGER: /* non-negative integer */
		return json_is_integer(v) && json_integer_value(v) >= 0;
	case JSON_REAL: /* non-negative number */
		return json_is_number(v) && json_number_value(v) >= 0;
	case JSON_STRING: /* short printable string (LSNs) */ {
		const char *s = json_string_value(v);
		if (!s || strlen(s) > GATEWAY_DB_STRING_MAX)
			return false;
		for (; *s; s++)
			if (*s <= ' ' || *s > '~')
				return false;
		return true;
	}
	default:
		return false;
	}
}

int gateway_check_databases(json_t *dbs, char reason[static API_REASON_MAX])
{
	static const char *const allowed[] = { "ds",        "running",     "role",        "timeline",
					       "lsn",       "replay_lsn",  "lag_bytes",   "lag_s",
					       "connections", "pending_restart", "backup", "replicas", NULL };
	static const char *const allowed_rep[] = { "slot", "active", "lag_bytes", NULL };
	static const struct {
		const char *key;
		int type;
	} opt[] = { { "running", JSON_TRUE },       { "timeline", JSON_INTEGER },
		    { "lsn", JSON_STRING },         { "replay_lsn", JSON_STRING },
		    { "lag_bytes", JSON_INTEGER },  { "lag_s", JSON_REAL },
		    { "connections", JSON_INTEGER }, { "pending_restart", JSON_TRUE } };
	json_t *e, *r;
	size_t i, k;

	if (!json_is_array(dbs) || json_array_size(dbs) > GATEWAY_DATABASES_MAX) {
		snprintf(reason, API_REASON_MAX, "'databases' must be an array of at most %d entries",
			 GATEWAY_DATABASES_MAX);
		return -EINVAL;
	}
	json_array_foreach(dbs, i, e)
	{
		if (!json_is_object(e)) {
			snprintf(reason, API_REASON_MAX, "databases[%zu] must be an object", i);
			return -EINVAL;
		}
		if (api_check_members(e, allowed, reason) < 0)
			return -EINVAL;
		if (!uuid_is_valid(json_string_value(json_object_get(e, "ds")))) {
			snprintf(reason, API_REASON_MAX, "databases[%zu].ds must be a datastore id", i);
			return -EINVAL;
		}
		for (k = 0; k < i; k++)
			if (streq(json_string_value(json_object_get(json_array_get(dbs, k), "ds")),
				  json_string_value(json_object_get(e, "ds")))) {
				snprintf(reason, API_REASON_MAX, "databases[%zu].ds is listed twice", i);
				return -EINVAL;
			}
		const char *role = json_string_value(json_object_get(e, "role"));
		json_t *rv = json_object_get(e, "role");
		if (rv && !json_is_null(rv) && (!role || (!streq(role, "primary") && !streq(role, "replica")))) {
			snprintf(reason, API_REASON_MAX, "databases[%zu].role must be primary or replica", i);
			return -EINVAL;
		}
		for (k = 0; k < ELEMENTSOF(opt); k++)
			if (!db_opt(e, opt[k].key, opt[k].type)) {
				snprintf(reason, API_REASON_MAX, "databases[%zu].%s has the wrong type", i,
					 opt[k].key);
				return -EINVAL;
			}
		/* docs/backups.md: {"configured","keys_loaded","last_archived_at"}. */
		json_t *bk = json_object_get(e, "backup");
		if (bk && !json_is_null(bk)) {
			static const char *const allowed_bk[] = { "configured", "keys_loaded",
								  "last_archived_at", NULL };
			if (!json_is_object(bk) || api_check_members(bk, allowed_bk, reason) < 0 ||
			    !db_opt(bk, "configured", JSON_TRUE) || !db_opt(bk, "keys_loaded", JSON_TRUE) ||
			    !db_opt(bk, "last_archived_at", JSON_INTEGER)) {
				snprintf(reason, API_REASON_MAX,
					 "databases[%zu].backup must be {\"configured\",\"keys_loaded\",\"last_archived_at\"}",
					 i);
				return -EINVAL;
			}
		}
		json_t *reps = json_object_get(e, "replicas");
		if (!reps || json_is_null(reps))
			continue;
		if (!json_is_array(reps) || json_array_size(reps) > GATEWAY_DB_REPLICAS_MAX) {
			snprintf(reason, API_REASON_MAX,
				 "databases[%zu].replicas must be an array of at most %d entries", i,
				 GATEWAY_DB_REPLICAS_MAX);
			return -EINVAL;
		}
		json_array_foreach(reps, k, r)
		{
			const char *slot = json_string_value(json_object_get(r, "slot"));
			bool ok = json_is_object(r) && slot && *slot && strlen(slot) <= 63 &&
				  db_opt(r, "active", JSON_TRUE) && db_opt(r, "lag_bytes", JSON_INTEGER);
			for (const char *p = slot; ok && *p; p++)
				ok = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_';
			if (!ok) {
				snprintf(reason, API_REASON_MAX,
					 "databases[%zu].replicas[%zu] must be {\"slot\",\"active\",\"lag_bytes\"}",
					 i, k);
				return -EINVAL;
			}
			if (api_check_members(r, allowed_rep, reason) < 0)
				return -EINVAL;
		}
	}
	return 0;
}

int gateway_parse_status(json_t *body, char **ret_facts_json, char **ret_health_json,
			 char reason[static API_REASON_MAX])
{
	static const char *const allowed[] = { "agent", "facts", "health", "databases", NULL };
	static const char *const allowed_agent[] = { "version",      "settled_seq",
						     "accepted_seq", "journal_open",
						     "rejected_unreadable", "cert_not_after", NULL };
	_cleanup_free_ char *facts = NULL, *health = NULL;
	_cleanup_json_ json_t *merged = NULL;

	if (!json_is_object(body)) {
		snprintf(reason, API_REASON_MAX, "the body must be a JSON object");
		return -EINVAL;
	}
	if (api_check_members(body, allowed, reason) < 0)
		return -EINVAL;
	json_t *agent = json_object_get(body, "agent");
	if (agent && !json_is_null(agent)) {
		if (!json_is_object(agent)) {
			snprintf(reason, API_REASON_MAX, "'agent' must be an object");
			return -EINVAL;
		}
		if (api_check_members(agent, allowed_agent, reason) < 0)
			return -EINVAL;
	}
	json_t *f = json_object_get(body, "facts"), *h = json_object_get(body, "health");
	json_t *dbs = json_object_get(body, "databases");
	if ((f && !json_is_null(f) && !json_is_object(f)) || (h && !json_is_null(h) && !json_is_object(h))) {
		snprintf(reason, API_REASON_MAX, "'facts' and 'health' must be objects");
		return -EINVAL;
	}
	if (dbs && !json_is_null(dbs) && gateway_check_databases(dbs, reason) < 0)
		return -EINVAL;
	if (json_is_object(f) && !(facts = json_dumps(f, JSON_COMPACT)))
		return -ENOMEM;
	/* The databases report is stored with the node's health, under
	 * "databases" (health.c reads it there); it replaces a member of
	 * that name the free-form health may have had. */
	if (json_is_array(dbs)) {
		merged = json_is_object(h) ? json_deep_copy(h) : json_object();
		if (!merged || json_object_set(merged, "databases", dbs) < 0)
			return -ENOMEM;
		h = merged;
	}
	if (json_is_object(h)) {
		health = json_dumps(h, JSON_COMPACT);
		if (!health)
			return -ENOMEM;
		if (strlen(health) > GATEWAY_HEALTH_MAX) {
			snprintf(reason, API_REASON_MAX, "'health' is larger than %d bytes", GATEWAY_HEALTH_MAX);
			return -EINVAL;
		}
	}
	*ret_facts_json = TAKE_PTR(facts);
	*ret_health_json = TAKE_PTR(health);
	return 0;
}

int gateway_parse_csr(json_t *body, const char **ret_csr, char reason[static API_REASON_MAX])
{
	static const char *const allowed[] = { "csr", NULL };
	if (!json_is_object(body)) {
		snprintf(reason, API_REASON_MAX, "the body must be a JSON object");
		return -EINVAL;
	}
	if (api_check_members(body, allowed, reason) < 0)
		return -EINVAL;
	const char *csr = json_string_value(json_object_get(body, "csr"));
	if (!csr || strlen(csr) > CAIRN_CSR_MAX_BYTES) {
		snprintf(reason, API_REASON_MAX, "'csr' must be a PEM string of at most %d bytes",
			 CAIRN_CSR_MAX_BYTES);
		return -EINVAL;
	}
	*ret_csr = csr;
	return 0;
}

/* ---- admission ------------------------------------------------------- */

static void forbidden(struct controller *c, struct http_request *req, const char *why)
{
	metrics_auth_failed(c->metrics, HTTP_LISTENER_GATEWAY);
	log_debug("gateway: refused %s from %s: %s", req->url, req->peer, why);
	http_reply_problem(req, 403, NULL);
}

int gateway_admit(void *userdata, struct http_request *req)
{
	struct controller *c = userdata;
	gnutls_session_t session = http_tls_session(req);
	const gnutls_datum_t *peers;
	unsigned n_peers = 0, status = 0;
	_cleanup_x509_ X509 *cert = NULL;
	_cleanup_free_ char *node_id = NULL;
	const char *reason = NULL;
	struct store_node node = {};
	int64_t retry = 1;
	int r;

	/* 1. The chain, by GnuTLS against the CA we gave it as trust. */
	if (!session)
		return forbidden(c, req, "no TLS session"), -EACCES;
	r = gnutls_certificate_verify_peers2(session, &status);
	if (r < 0 || status != 0)
		return forbidden(c, req, r < 0 ? gnutls_strerror(r) : "certificate does not verify"), -EACCES;
	peers = gnutls_certificate_get_peers(session, &n_peers);
	if (!peers || n_peers == 0 || peers[0].size == 0 || peers[0].size > 64 * 1024)
		return forbidden(c, req, "no client certificate"), -EACCES;

	/* 2. Again by OpenSSL, plus purpose and the node URI. */
	const unsigned char *p = peers[0].data;
	cert = d2i_X509(NULL, &p, (long)peers[0].size);
	if (!cert || p != peers[0].data + peers[0].size)
		return forbidden(c, req, "certificate does not parse"), -EACCES;
	if (pki_verify_chain(c->keys->ca_cert, cert, &reason) < 0)
		return forbidden(c, req, reason ?: "chain"), -EACCES;
	if (!pki_cert_has_usage(cert, PKI_USAGE_CLIENT))
		return forbidden(c, req, "not a client certificate"), -EACCES;
	if (pki_cert_node_id(cert, &node_id) < 0 || !uuid_is_valid(node_id))
		return forbidden(c, req, "no node URI"), -EACCES;

	/* 3. The node must be enrolled (revoked and unknown nodes: 403). */
	r = store_node_get(c->store, node_id, &node);
	if (r < 0 && r != -ENOENT) {
		log_error_errno(r, "gateway: cannot read node %s", node_id);
		http_reply_problem(req, 503, NULL);
		return -EIO;
	}
	bool enrolled = r >= 0 && node.state == STORE_NODE_ENROLLED;
	store_node_done(&node);
	if (!enrolled)
		return forbidden(c, req, "node not enrolled"), -EACCES;

	snprintf(req->identity, sizeof(req->identity), "%s", node_id);
	if (!ratelimit_take(c->rl_gateway, node_id, now_mono_ms(), &retry)) {
		http_reply_ratelimited(req, retry);
		return -EBUSY;
	}
	return 0;
}

/* ---- pull ------------------------------------------------------------ */

struct pull_state {
	struct longpoll_waiter waiter; /* filed while suspended */
	int64_t after;                 /* the agent's settled seq */
	int64_t wait_s;                /* how long it may wait */
	bool waited;                   /* suspended once already */
};

/* Opens the attempts stored sealed (jobs with secret params, runner.h)
 * in place; one that does not open is left out and logged (it times out
 * and is retried like a lost one). */
static void open_sealed_jobs(struct controller *c, const char *node_id, json_t *jobs)
{
	for (size_t i = 0; i < json_array_size(jobs);) {
		const char *s = json_string_value(json_array_get(jobs, i));
		char *clear = NULL;
		int r = s ? runner_open_jws(c->keys->kek, node_id, s, &clear) : -EINVAL;
		if (r < 0) {
			log_error_errno(r, "gateway: a sealed job for node %s does not open", node_id);
			json_array_remove(jobs, i);
			continue;
		}
		if (r > 0)
			json_array_set_new(jobs, i, json_string(clear));
		freezero_strp(&clear);
		i++;
	}
}

static void reply_jobs(struct http_request *req, json_t *jobs)
{
	_cleanup_json_ json_t *o = json_pack("{s:O, s:i}", "jobs", jobs, "next_poll_s", 0);
	if (!o) {
		http_reply_problem(req, 500, NULL);
		return;
	}
	http_reply_json(req, 200, o);
}

static void h_pull(void *userdata, struct http_request *req)
{
	struct controller *c = userdata;
	struct pull_state *st = req->state;
	char reason[API_REASON_MAX];
	int r;

	if (!st) {
		st = calloc(1, sizeof(*st));
		if (!st) {
			http_reply_problem(req, 503, NULL);
			return;
		}
		req->state = st;
		req->state_free = free;
		if (gateway_parse_pull_query(http_query(req, "after"), http_query(req, "wait"),
					     c->config->poll_wait_max_s, &st->after, &st->wait_s,
					     reason) < 0) {
			http_reply_problem(req, 400, reason);
			return;
		}
		size_t idlen = strnlen(req->identity, sizeof(st->waiter.node_id));
		if (idlen >= sizeof(st->waiter.node_id)) {
			http_reply_problem(req, 403, NULL);
			return;
		}
		memcpy(st->waiter.node_id, req->identity, idlen + 1);
		st->waiter.req = req;
		st->waiter.deadline_ms = now_mono_ms() + st->wait_s * 1000;
	} else {
		/* Resumed: the node may have been revoked meanwhile. */
		struct store_node n = {};
		r = store_node_get(c->store, req->identity, &n);
		bool ok = r >= 0 && n.state == STORE_NODE_ENROLLED;
		store_node_done(&n);
		if (!ok) {
			http_reply_problem(req, 403, NULL);
			return;
		}
	}

	for (;;) {
		uint64_t gen = longpoll_generation(c->longpoll);
		_cleanup_json_ json_t *jobs = json_array();
		if (!jobs) {
			http_reply_problem(req, 503, NULL);
			return;
		}
		r = store_pull(c->store, req->identity, st->after, now_s(), CAIRN_PULL_MAX_JOBS,
			       CAIRN_PULL_MAX_BYTES - 64, jobs);
		if (r < 0) {
			log_error_errno(r, "gateway: pull for node %s failed", req->identity);
			http_reply_problem(req, 503, NULL);
			return;
		}
		open_sealed_jobs(c, req->identity, jobs);
		if (r > 0 || st->wait_s == 0 || now_mono_ms() >= st->waiter.deadline_ms ||
		    st->waiter.reason == LONGPOLL_DEADLINE || st->waiter.reason == LONGPOLL_SHUTDOWN)
			return reply_jobs(req, jobs);

		r = longpoll_wait(c->longpoll, &st->waiter, gen);
		if (r == -EAGAIN)
			continue; /* a job may have arrived meanwhile: look again */
		if (r < 0)
			return reply_jobs(req, jobs);
		st->waited = true;
		return; /* suspended */
	}
}

/* ---- reports --------------------------------------------------------- */

static bool jti_param_ok(struct http_request *req)
{
	if (uuid_is_valid(req->params[0]))
		return true;
	http_reply_problem(req, 404, "no such job attempt for this node");
	return false;
}

static void h_event(void *userdata, struct http_request *req)
{
	struct controller *c = userdata;
	_cleanup_json_ json_t *body = NULL;
	const char *kind, *msg;
	char reason[API_REASON_MAX];

	if (!jti_param_ok(req) || http_body_json(req, &body) < 0)
		return;
	if (gateway_parse_event(body, &kind, &msg, reason) < 0) {
		http_reply_problem(req, 400, reason);
		return;
	}
	int r = runner_event(c->runner, req->identity, req->params[0], kind, msg);
	if (r == -ENOENT) {
		http_reply_problem(req, 404, "no such job attempt for this node");
		return;
	}
	if (r < 0) {
		log_error_errno(r, "gateway: cannot record an event of %s", req->params[0]);
		http_reply_problem(req, 503, NULL);
		return;
	}
	_cleanup_json_ json_t *o = json_object();
	http_reply_json(req, 200, o);
}

static void h_result(void *userdata, struct http_request *req)
{
	struct controller *c = userdata;
	_cleanup_json_ json_t *body = NULL;
	_cleanup_free_ char *output = NULL;
	enum cairn_job_state state;
	const char *msg;
	char reason[API_REASON_MAX];

	if (!jti_param_ok(req) || http_body_json(req, &body) < 0)
		return;
	if (gateway_parse_result(body, &state, &msg, &output, reason) < 0) {
		http_reply_problem(req, 400, reason);
		return;
	}
	int r = runner_result(c->runner, req->identity, req->params[0], state, msg, output);
	if (r == -ENOENT) {
		http_reply_problem(req, 404, "no such job attempt for this node");
		return;
	}
	if (r < 0) {
		log_error_errno(r, "gateway: cannot record the result of %s", req->params[0]);
		http_reply_problem(req, 503, NULL);
		return;
	}
	_cleanup_json_ json_t *o = json_object();
	http_reply_json(req, 200, o);
}

static void h_status(void *userdata, struct http_request *req)
{
	struct controller *c = userdata;
	_cleanup_json_ json_t *body = NULL;
	_cleanup_free_ char *facts = NULL, *health = NULL;
	char reason[API_REASON_MAX];

	if (http_body_json(req, &body) < 0)
		return;
	if (gateway_parse_status(body, &facts, &health, reason) < 0) {
		http_reply_problem(req, 400, reason);
		return;
	}
	int r = store_node_set_status(c->store, req->identity, facts, health, now_s());
	if (r < 0) {
		log_error_errno(r, "gateway: cannot store the status of %s", req->identity);
		http_reply_problem(req, 503, NULL);
		return;
	}
	/* A node that lost its backup keys (agent restart) gets them again. */
	json_t *e;
	size_t i;
	json_array_foreach(json_object_get(body, "databases"), i, e) {
		json_t *bk = json_object_get(e, "backup");
		if (!json_is_true(json_object_get(bk, "keys_loaded")))
			backup_keys_missing(c, req->identity, json_string_value(json_object_get(e, "ds")),
					    now_s());
	}
	_cleanup_json_ json_t *o = json_pack("{s:I}", "next_report_s",
					     (json_int_t)c->config->status_interval_s);
	http_reply_json(req, 200, o);
}

/* Signs `csr_pem` with `opts`; answers 400 itself for a bad CSR. */
static int sign_csr(struct controller *c, struct http_request *req, const char *csr_pem,
		    const struct pki_sign_opts *opts, X509 **ret)
{
	_cleanup_x509_req_ X509_REQ *csr = NULL;
	if (pki_csr_from_pem(csr_pem, &csr) < 0) {
		http_reply_problem(req, 400, "the CSR does not parse");
		return -EINVAL;
	}
	int r = pki_csr_sign(c->keys->ca_cert, c->keys->ca_key, csr, opts, ret);
	if (r == -EBADMSG || r == -EINVAL) {
		http_reply_problem(req, 400, "the CSR's signature does not verify");
		return r;
	}
	if (r < 0) {
		log_error_errno(r, "gateway: cannot sign a certificate");
		http_reply_problem(req, 500, NULL);
	}
	return r;
}

static void h_csr(void *userdata, struct http_request *req)
{
	struct controller *c = userdata;
	_cleanup_json_ json_t *body = NULL, *params = NULL, *o = NULL;
	_cleanup_x509_ X509 *cert = NULL;
	_cleanup_free_ char *pem = NULL, *serial = NULL;
	_cleanup_free_ const char **names = NULL;
	struct store_attempt a = {};
	struct store_job job = {};
	const char *csr;
	char reason[API_REASON_MAX], ts[TIMESTAMP_MAX];
	int64_t not_after = 0;
	int r;

	if (!jti_param_ok(req) || http_body_json(req, &body) < 0)
		return;
	if (gateway_parse_csr(body, &csr, reason) < 0) {
		http_reply_problem(req, 400, reason);
		return;
	}
	r = store_attempt_get(c->store, req->params[0], &a);
	if (r >= 0 && !streq(a.node_id, req->identity))
		r = -ENOENT;
	if (r >= 0)
		r = store_job_get(c->store, a.job_id, &job);
	if (r == -ENOENT) {
		http_reply_problem(req, 404, "no such job attempt for this node");
		goto out;
	}
	if (r < 0) {
		http_reply_problem(req, 503, NULL);
		goto out;
	}
	if (!streq(job.type, "tls.issue") || job.raw ||
	    (a.state != CAIRN_JOB_SENT && a.state != CAIRN_JOB_RUNNING)) {
		http_reply_problem(req, 409, "the attempt is not an open tls.issue job");
		goto out;
	}
	params = json_loads(job.params, 0, NULL);
	json_t *jn = json_object_get(params, "names");
	size_t nn = json_array_size(jn);
	if (nn == 0 || nn > 16) {
		http_reply_problem(req, 409, "the job has no names");
		goto out;
	}
	names = calloc(nn + 1, sizeof(char *));
	if (!names) {
		http_reply_problem(req, 503, NULL);
		goto out;
	}
	for (size_t i = 0; i < nn; i++)
		names[i] = json_string_value(json_array_get(jn, i));
	json_t *ttl = json_object_get(params, "ttl_s");
	struct pki_sign_opts opts = {
		.cn = names[0],
		.names = names,
		.ttl_s = json_is_integer(ttl) ? MIN(json_integer_value(ttl), GATEWAY_CERT_TTL_MAX_S) :
						GATEWAY_CERT_TTL_DEFAULT_S,
		.usage = PKI_USAGE_SERVER | PKI_USAGE_CLIENT,
	};
	if (sign_csr(c, req, csr, &opts, &cert) < 0)
		goto out;
	if (pki_cert_to_pem(cert, &pem) < 0 || pki_cert_not_after(cert, &not_after) < 0) {
		http_reply_problem(req, 500, NULL);
		goto out;
	}
	serial = pki_cert_serial_hex(cert);
	(void)store_event_add(c->store, job.id, a.jti, now_s(), "state", "certificate issued");
	log_info("issued a certificate (serial %s) for %s to node %s (job %s)", serial ?: "?", names[0],
		 req->identity, job.id);
	o = json_pack("{s:s, s:s, s:s}", "cert", pem, "ca", c->keys->ca_pem, "not_after",
		      format_rfc3339(not_after, ts) ?: "");
	if (o)
		http_reply_json(req, 200, o);
	else
		http_reply_problem(req, 500, NULL);
out:
	store_attempt_done(&a);
	store_job_done(&job);
}

static void h_renew(void *userdata, struct http_request *req)
{
	struct controller *c = userdata;
	_cleanup_json_ json_t *body = NULL, *o = NULL;
	_cleanup_x509_ X509 *cert = NULL;
	_cleanup_free_ char *pem = NULL, *uri = NULL, *serial = NULL;
	struct store_node n = {};
	const char *csr;
	char reason[API_REASON_MAX], ts[TIMESTAMP_MAX];
	int64_t not_after = 0;
	int r;

	if (http_body_json(req, &body) < 0)
		return;
	if (gateway_parse_csr(body, &csr, reason) < 0) {
		http_reply_problem(req, 400, reason);
		return;
	}
	r = store_node_get(c->store, req->identity, &n);
	if (r < 0) {
		http_reply_problem(req, 403, NULL);
		return;
	}
	if (asprintf(&uri, CAIRN_NODE_URI_PREFIX "%s", n.id) < 0) {
		store_node_done(&n);
		http_reply_problem(req, 503, NULL);
		return;
	}
	struct pki_sign_opts opts = {
		.cn = n.name,
		.uri = uri,
		.ttl_s = c->config->node_cert_ttl_s,
		.usage = PKI_USAGE_CLIENT,
	};
	r = sign_csr(c, req, csr, &opts, &cert);
	store_node_done(&n);
	if (r < 0)
		return;
	serial = pki_cert_serial_hex(cert);
	if (!serial || pki_cert_to_pem(cert, &pem) < 0 || pki_cert_not_after(cert, &not_after) < 0) {
		http_reply_problem(req, 500, NULL);
		return;
	}
	r = store_node_set_cert(c->store, req->identity, serial, not_after);
	if (r < 0) {
		http_reply_problem(req, r == -ENOENT ? 403 : 503, NULL);
		return;
	}
	log_info("node %s renewed its certificate (serial %s)", req->identity, serial);
	o = json_pack("{s:s, s:s}", "cert", pem, "not_after", format_rfc3339(not_after, ts) ?: "");
	if (o)
		http_reply_json(req, 200, o);
	else
		http_reply_problem(req, 500, NULL);
}

const struct http_route gateway_routes[] = {
	{ "GET", CAIRN_PATH_AGENT_JOBS, 0, 0, h_pull },
	{ "POST", CAIRN_PATH_AGENT_JOBS "/*/events", CAIRN_EVENT_MAX_BYTES, 0, h_event },
	{ "PUT", CAIRN_PATH_AGENT_JOBS "/*/result", CAIRN_RESULT_MAX_BYTES + 16 * 1024, 0, h_result },
	{ "POST", CAIRN_PATH_AGENT_JOBS "/*/csr", CAIRN_CSR_MAX_BYTES + 1024, 0, h_csr },
	{ "POST", CAIRN_PATH_AGENT_STATUS, CAIRN_STATUS_MAX_BYTES, 0, h_status },
	{ "POST", CAIRN_PATH_AGENT_RENEW, CAIRN_CSR_MAX_BYTES + 1024, 0, h_renew },
};
const size_t gateway_routes_count = ELEMENTSOF(gateway_routes);
