/*
 * http.h: the libmicrohttpd wrapper behind both listeners.  It owns TLS
 * setup, the routing table, request bodies (accumulated up to each route's
 * maximum; 413 before parsing beyond it), JSON and RFC 9457 problem
 * answers, Retry-After on 429, suspension for long polls, and the request
 * accounting behind /metrics.
 *
 * A request goes through: admit (listener hook on the FIRST call, before
 * the body is read: client certificate on the gateway, bearer token and
 * rate limits on the API), body accumulation, then the route's handler,
 * which must answer (http_reply_*) or suspend (http_suspend); a suspended
 * request's handler runs again when it is resumed.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "config.h"

#define HTTP_PARAMS_MAX 2
#define HTTP_PARAM_MAX 80
#define HTTP_TIMEOUT_S 60
#define HTTP_IDENTITY_MAX 80
#define HTTP_THREADS_MAX 8

enum http_listener {
	HTTP_LISTENER_API,
	HTTP_LISTENER_GATEWAY,
	_HTTP_LISTENER_MAX,
};
const char *http_listener_to_string(enum http_listener l);

struct http_server;
struct http_route;
struct metrics;

struct http_request {
	struct http_server *server;           /* listener */
	void *connection;                     /* struct MHD_Connection */
	const struct http_route *route;       /* matched route or NULL */
	const char *method;                   /* owned by MHD */
	const char *url;                      /* path, owned by MHD */
	char params[HTTP_PARAMS_MAX][HTTP_PARAM_MAX]; /* the '*' segments of the route */
	char peer[64];                        /* socket peer address (never a header) */
	char identity[HTTP_IDENTITY_MAX];     /* node id (gateway) or token hash (API), set by admit */
	char *body;                           /* request body, NUL-terminated (NULL when empty) */
	size_t body_len;                      /* its length */
	bool body_too_large;                  /* more than the route allows: answered 413 */
	bool admitted;                        /* first call done */
	bool responded;                       /* a response was queued */
	bool suspended;                       /* waiting in http_suspend */
	unsigned status;                      /* status sent, for metrics */
	int64_t start_ms;                     /* monotonic start, for latency */
	void *state;                          /* the handler's own state across resumptions */
	void (*state_free)(void *state);      /* frees it when the request ends */
};

/* Route handlers and the listener's admission hook. */
typedef void (*http_handler_t)(void *userdata, struct http_request *req);
/* Returns 0 to continue, or answers the request itself and returns < 0. */
typedef int (*http_admit_t)(void *userdata, struct http_request *req);

enum {
	HTTP_ROUTE_PUBLIC = 1 << 0, /* API: no bearer token */
	HTTP_ROUTE_ENROLL = 1 << 1, /* API: rate-limited by peer address */
};

struct http_route {
	const char *method;      /* "GET", "POST", "PUT" */
	const char *pattern;     /* "/v1/nodes/x/revoke" where x is "*": one path segment */
	size_t body_max;         /* largest body accepted (0: none) */
	unsigned flags;          /* HTTP_ROUTE_* */
	http_handler_t handler;  /* answers or suspends */
};

struct http_server_config {
	enum http_listener listener;          /* for logs and metrics */
	const struct config_listen *listen;   /* address */
	const char *key_pem, *cert_pem;       /* server credentials */
	const char *trust_pem;                /* CA to ask client certificates for, or NULL */
	unsigned connection_limit;            /* MHD connection limit */
	const struct http_route *routes;      /* routing table */
	size_t n_routes;
	http_admit_t admit;                   /* or NULL */
	void *userdata;                       /* passed to admit and handlers */
	struct metrics *metrics;              /* request accounting, or NULL */
};

/* Starts a listener.  Returns 0 or -errno. */
int http_server_start(const struct http_server_config *cfg, struct http_server **ret);
/* Stops it (resume every suspended request first). */
void http_server_stop(struct http_server *s);
uint16_t http_server_port(struct http_server *s);

/* Answers.  Each returns 0, or -errno when the answer could not be
 * queued (the connection is then closed). */
int http_reply_json(struct http_request *req, unsigned status, json_t *body);
int http_reply_text(struct http_request *req, unsigned status, const char *content_type,
		    const char *body, size_t len);
/* RFC 9457 problem; `detail` may be NULL.  The type is derived from the
 * status.  429 answers carry Retry-After (retry_after_s, at least 1). */
int http_reply_problem(struct http_request *req, unsigned status, const char *detail);
int http_reply_problemf(struct http_request *req, unsigned status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int http_reply_ratelimited(struct http_request *req, int64_t retry_after_s);

/* Suspends the request (its handler runs again after http_resume). */
void http_suspend(struct http_request *req);
/* Resumes a suspended request; callable from any thread. */
void http_resume(struct http_request *req);

const char *http_query(struct http_request *req, const char *key);
const char *http_header(struct http_request *req, const char *name);
/* The GnuTLS session (gnutls_session_t) of the request's connection. */
void *http_tls_session(struct http_request *req);

/* Parses a request body as a JSON object with JSON_REJECT_DUPLICATES.
 * Answers 400 itself and returns -EINVAL when it is not one. */
int http_body_json(struct http_request *req, json_t **ret);
