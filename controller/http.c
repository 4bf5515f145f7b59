/*
 * http.c: libmicrohttpd 0.9.75 behind http.h.
 *
 * Facts this file relies on (STYLE.md, and MHD's own rules):
 * - MHD_queue_response() works on the first call of a request (headers
 *   read, body not) and on the final call; not while the body streams in.
 *   So a refusal decided on the first call (403, 401, 413 by
 *   Content-Length, 429) is queued at once, and one decided later (a body
 *   that outgrows its route) discards the rest and is queued at the end.
 * - The access handler runs again after MHD_resume_connection().
 * - Handlers run on the listener's pool threads (a connection stays on
 *   one thread); everything they share is guarded by its own lock.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>

#include "http.h"
#include "log.h"
#include "macro.h"
#include "metrics.h"
#include "protocol.h"
#include "util.h"

#define HTTP_URL_MAX 2048

struct http_server {
	struct MHD_Daemon *daemon;          /* the listener */
	enum http_listener listener;        /* which one */
	const struct http_route *routes;    /* routing table (static) */
	size_t n_routes;
	http_admit_t admit;                 /* first-call hook */
	void *userdata;                     /* for hooks and handlers */
	struct metrics *metrics;            /* accounting */
	char *key_pem, *cert_pem, *trust_pem; /* kept alive for MHD */
};

const char *http_listener_to_string(enum http_listener l)
{
	return l == HTTP_LISTENER_API ? "api" : l == HTTP_LISTENER_GATEWAY ? "gateway" : "?";
}

static const struct {
	unsigned status;
	const char *slug, *title;
} problems[] = {
	{ 400, "bad-request", "Bad Request" },
	{ 401, "unauthorized", "Unauthorized" },
	{ 403, "forbidden", "Forbidden" },
	{ 404, "not-found", "Not Found" },
	{ 405, "method-not-allowed", "Method Not Allowed" },
	{ 409, "conflict", "Conflict" },
	{ 410, "gone", "Gone" },
	{ 413, "payload-too-large", "Payload Too Large" },
	{ 415, "unsupported-media-type", "Unsupported Media Type" },
	{ 429, "rate-limited", "Too Many Requests" },
	{ 500, "internal", "Internal Server Error" },
	{ 501, "not-implemented", "Not Implemented" },
	{ 503, "unavailable", "Service Unavailable" },
};

/* Queues a response built from a copy of body. */
static int reply(struct http_request *req, unsigned status, const char *content_type,
		 const char *body, size_t len, int64_t retry_after_s)
{
	struct MHD_Response *resp;
	enum MHD_Result ok;

	if (req->responded)
		return -EALREADY;
	resp = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return -ENOMEM;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (status == 401)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
	if (retry_after_s > 0) {
		char v[32];
		snprintf(v, sizeof(v), "%" PRIi64, retry_after_s);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, v);
	}
	ok = MHD_queue_response(req->connection, status, resp);
	MHD_destroy_response(resp);
	req->responded = true;
	req->status = status;
	return ok == MHD_YES ? 0 : -EIO;
}

int http_reply_text(struct http_request *req, unsigned status, const char *content_type,
		    const char *body, size_t len)
{
	return reply(req, status, content_type, body, len, 0);
}

int http_reply_json(struct http_request *req, unsigned status, json_t *body)
{
	_cleanup_free_ char *s = json_dumps(body, JSON_COMPACT);
	if (!s) {
		log_error("cannot serialise an answer for %s", req->url);
		return reply(req, 500, "text/plain", "", 0, 0);
	}
	return reply(req, status, "application/json", s, strlen(s), 0);
}

static int problem(struct http_request *req, unsigned status, const char *detail,
		   int64_t retry_after_s)
{
	const char *slug = "internal", *title = "Error";
	for (size_t i = 0; i < ELEMENTSOF(problems); i++)
		if (problems[i].status == status) {
			slug = problems[i].slug;
			title = problems[i].title;
		}
	char type[128];
	snprintf(type, sizeof(type), "%s%s", CAIRN_PROBLEM_TYPE_BASE, slug);
	_cleanup_json_ json_t *o = json_pack("{s:s, s:s, s:i}", "type", type, "title", title,
					     "status", (int)status);
	if (o && detail)
		json_object_set_new(o, "detail", json_string(detail));
	if (o && req->url && strlen(req->url) < HTTP_URL_MAX)
		json_object_set_new(o, "instance", json_string(req->url));
	_cleanup_free_ char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	if (!s)
		return reply(req, status, "text/plain", "", 0, retry_after_s);
	return reply(req, status, CAIRN_PROBLEM_CONTENT_TYPE, s, strlen(s), retry_after_s);
}

int http_reply_problem(struct http_request *req, unsigned status, const char *detail)
{
	return problem(req, status, detail, status == 429 ? 1 : 0);
}

int http_reply_problemf(struct http_request *req, unsigned status, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return http_reply_problem(req, status, buf);
}

int http_reply_ratelimited(struct http_request *req, int64_t retry_after_s)
{
	if (req->server->metrics)
		metrics_ratelimited(req->server->metrics, req->server->listener);
	return problem(req, 429, "rate limit exceeded", retry_after_s < 1 ? 1 : retry_after_s);
}

void http_suspend(struct http_request *req)
{
	req->suspended = true;
	MHD_suspend_connection(req->connection);
}

void http_resume(struct http_request *req)
{
	MHD_resume_connection(req->connection);
}

const char *http_query(struct http_request *req, const char *key)
{
	return MHD_lookup_connection_value(req->connection, MHD_GET_ARGUMENT_KIND, key);
}

const char *http_header(struct http_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->connection, MHD_HEADER_KIND, name);
}

void *http_tls_session(struct http_request *req)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(req->connection, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	return ci ? ci->tls_session : NULL;
}

int http_body_json(struct http_request *req, json_t **ret)
{
	json_error_t err;
	json_t *j;

	if (!req->body || req->body_len == 0) {
		http_reply_problem(req, 400, "a JSON object body is required");
		return -EINVAL;
	}
	j = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &err);
	if (!j) {
		http_reply_problemf(req, 400, "invalid JSON at line %d column %d: %s", err.line,
				    err.column, err.text);
		return -EINVAL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		http_reply_problem(req, 400, "the body must be a JSON object");
		return -EINVAL;
	}
	*ret = j;
	return 0;
}

/* Matches `path` against a pattern with '*' segments, capturing them. */
static bool route_match(const char *pattern, const char *path,
			char params[HTTP_PARAMS_MAX][HTTP_PARAM_MAX])
{
	size_t np = 0;
	const char *p = pattern, *u = path;

	while (*p && *u) {
		if (*p == '*') {
			const char *end = strchr(u, '/');
			size_t len = end ? (size_t)(end - u) : strlen(u);
			if (len == 0 || len >= HTTP_PARAM_MAX || np >= HTTP_PARAMS_MAX)
				return false;
			memcpy(params[np], u, len);
			params[np][len] = 0;
			np++;
			p++;
			u += len;
			continue;
		}
		if (*p != *u)
			return false;
		p++;
		u++;
	}
	return *p == 0 && *u == 0;
}

static const struct http_route *route_find(struct http_server *s, struct http_request *req,
					   bool *ret_path_known)
{
	char params[HTTP_PARAMS_MAX][HTTP_PARAM_MAX] = {};
	*ret_path_known = false;
	for (size_t i = 0; i < s->n_routes; i++) {
		if (!route_match(s->routes[i].pattern, req->url, params))
			continue;
		*ret_path_known = true;
		if (!streq(s->routes[i].method, req->method))
			continue;
		memcpy(req->params, params, sizeof(params));
		return &s->routes[i];
	}
	return NULL;
}

static bool content_type_ok(const char *ct)
{
	if (!ct)
		return true; /* tolerated: the body must still parse as JSON */
	size_t n = strlen("application/json");
	return strncasecmp(ct, "application/json", n) == 0 && (ct[n] == 0 || ct[n] == ';' || ct[n] == ' ');
}

static void peer_address(struct MHD_Connection *conn, char *buf, size_t size)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	snprintf(buf, size, "?");
	if (!ci || !ci->client_addr)
		return;
	const struct sockaddr *sa = ci->client_addr;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf, size);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, buf, size);
}

/* First call: admit, route, body limits.  Returns MHD_YES to go on. */
static enum MHD_Result first_call(struct http_server *s, struct http_request *req)
{
	bool path_known;
	const char *cl;

	/* The listener hook comes before anything else (the gateway checks
	 * the client certificate here, before even the route). */
	req->route = route_find(s, req, &path_known);
	if (s->admit && s->admit(s->userdata, req) < 0)
		return req->responded ? MHD_YES : MHD_NO;
	if (!req->route) {
		http_reply_problem(req, path_known ? 405 : 404,
				   path_known ? "method not allowed here" : "no such resource");
		return MHD_YES;
	}

	cl = http_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl) {
		int64_t n;
		if (parse_int64(cl, 0, INT64_MAX, &n) < 0) {
			http_reply_problem(req, 400, "bad Content-Length");
			return MHD_YES;
		}
		if ((uint64_t)n > req->route->body_max) {
			http_reply_problemf(req, 413, "the body may be at most %zu bytes",
					    req->route->body_max);
			return MHD_YES;
		}
	}
	if (req->route->body_max > 0 && !content_type_ok(http_header(req, MHD_HTTP_HEADER_CONTENT_TYPE))) {
		http_reply_problem(req, 415, "the body must be application/json");
		return MHD_YES;
	}
	return MHD_YES;
}

static enum MHD_Result access_handler(void *cls, struct MHD_Connection *conn, const char *url,
				      const char *method, const char *version,
				      const char *upload_data, size_t *upload_data_size,
				      void **con_cls)
{
	struct http_server *s = cls;
	struct http_request *req = *con_cls;

	if (!req) {
		req = calloc(1, sizeof(*req));
		if (!req)
			return MHD_NO;
		*con_cls = req;
		req->server = s;
		req->connection = conn;
		req->method = method;
		req->url = url;
		req->start_ms = now_mono_ms();
		peer_address(conn, req->peer, sizeof(req->peer));
		if (strlen(url) > HTTP_URL_MAX) {
			http_reply_problem(req, 404, "no such resource");
			return MHD_YES;
		}
		enum MHD_Result r = first_call(s, req);
		req->admitted = true;
		return r;
	}

	if (*upload_data_size > 0) {
		size_t n = *upload_data_size;
		*upload_data_size = 0;
		if (req->responded || req->body_too_large)
			return MHD_YES; /* discard */
		if (!req->route || req->body_len + n > req->route->body_max) {
			req->body_too_large = true;
			explicit_bzero(req->body, req->body_len);
			free(req->body);
			req->body = NULL;
			req->body_len = 0;
			return MHD_YES;
		}
		char *b = realloc(req->body, req->body_len + n + 1);
		if (!b)
			return MHD_NO;
		memcpy(b + req->body_len, upload_data, n);
		req->body = b;
		req->body_len += n;
		req->body[req->body_len] = 0;
		return MHD_YES;
	}

	if (req->responded)
		return MHD_YES;
	if (req->body_too_large) {
		http_reply_problemf(req, 413, "the body may be at most %zu bytes",
				    req->route ? req->route->body_max : 0);
		return MHD_YES;
	}
	req->suspended = false;
	req->route->handler(s->userdata, req);
	if (!req->responded && !req->suspended) {
		log_error("%s %s: handler gave no answer", req->method, req->url);
		http_reply_problem(req, 500, NULL);
	}
	return MHD_YES;
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	struct http_server *s = cls;
	struct http_request *req = *con_cls;

	if (!req)
		return;
	if (s->metrics)
		metrics_request(s->metrics, s->listener, req->responded ? req->status : 0,
				now_mono_ms() - req->start_ms);
	if (req->state_free)
		req->state_free(req->state);
	if (req->body) {
		explicit_bzero(req->body, req->body_len);
		free(req->body);
	}
	free(req);
	*con_cls = NULL;
}

_printf_(2, 0) static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
	struct http_server *s = cls;
	char buf[512];
	vsnprintf(buf, sizeof(buf), fmt, ap);
	size_t n = strlen(buf);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = 0;
	log_debug("http %s: %s", http_listener_to_string(s->listener), buf);
}

/* TLS handshakes and JSON work spread over a few threads; the store
 * serialises its own part.  One per CPU, 2 … HTTP_THREADS_MAX. */
static unsigned http_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return (unsigned)MAX(2, MIN(n, HTTP_THREADS_MAX));
}

int http_server_start(const struct http_server_config *cfg, struct http_server **ret)
{
	struct http_server *s = calloc(1, sizeof(*s));
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
			 MHD_USE_TLS | MHD_USE_ERROR_LOG;

	if (!s)
		return -ENOMEM;
	s->listener = cfg->listener;
	s->routes = cfg->routes;
	s->n_routes = cfg->n_routes;
	s->admit = cfg->admit;
	s->userdata = cfg->userdata;
	s->metrics = cfg->metrics;
	s->key_pem = strdup(cfg->key_pem);
	s->cert_pem = strdup(cfg->cert_pem);
	s->trust_pem = cfg->trust_pem ? strdup(cfg->trust_pem) : NULL;
	if (!s->key_pem || !s->cert_pem || (cfg->trust_pem && !s->trust_pem)) {
		http_server_stop(s);
		return -ENOMEM;
	}
	if (cfg->listen->addr.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;

	struct MHD_OptionItem opts[] = {
		{ MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_logger, s },
		{ MHD_OPTION_SOCK_ADDR, 0, (void *)&cfg->listen->addr },
		{ MHD_OPTION_CONNECTION_LIMIT, cfg->connection_limit ?: 20000, NULL },
		{ MHD_OPTION_THREAD_POOL_SIZE, http_threads(), NULL },
		{ MHD_OPTION_CONNECTION_TIMEOUT, HTTP_TIMEOUT_S, NULL },
		{ MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)completed, s },
		{ MHD_OPTION_HTTPS_MEM_KEY, 0, s->key_pem },
		{ MHD_OPTION_HTTPS_MEM_CERT, 0, s->cert_pem },
		{ MHD_OPTION_HTTPS_PRIORITIES, 0,
		  (void *)"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2" },
		{ MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, NULL },
		{ s->trust_pem ? MHD_OPTION_HTTPS_MEM_TRUST : MHD_OPTION_END, 0, s->trust_pem },
		{ MHD_OPTION_END, 0, NULL },
	};
	s->daemon = MHD_start_daemon(flags, 0, NULL, NULL, access_handler, s, MHD_OPTION_ARRAY,
				     opts, MHD_OPTION_END);
	if (!s->daemon) {
		http_server_stop(s);
		return -EADDRNOTAVAIL;
	}
	*ret = s;
	return 0;
}

void http_server_stop(struct http_server *s)
{
	if (!s)
		return;
	if (s->daemon)
		MHD_stop_daemon(s->daemon);
	freezero_strp(&s->key_pem);
	free(s->cert_pem);
	free(s->trust_pem);
	free(s);
}

uint16_t http_server_port(struct http_server *s)
{
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
	return di ? di->port : 0;
}
