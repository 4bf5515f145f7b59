/*
 * client.h: the agent's HTTPS client, one libcurl easy handle kept for the
 * agent's whole life so that connections to the controller are reused.
 *
 * Trust is narrow on purpose: the only CA is the controller's
 * (CURLOPT_CAINFO, no system store), the host name is checked, TLS 1.2 is
 * the floor, only https is allowed, proxies from the environment are
 * ignored, and after enrolment the node's own key and certificate are the
 * client identity.  Every answer body has a maximum; a bigger one aborts
 * the transfer.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define CLIENT_BODY_MAX_DEFAULT (64 * 1024) /* answer body of every call but the pull */
#define CLIENT_CONNECT_TIMEOUT_S 10
#define CLIENT_TIMEOUT_DEFAULT_S 30
#define CLIENT_RETRY_AFTER_MAX_S 3600        /* a larger Retry-After is clamped */

struct client;

/* Asked about once a second while a transfer runs (and by nothing else):
 * returning false aborts the transfer with -ECANCELED.  The agent pings its
 * watchdog and notices SIGTERM here. */
typedef bool (*client_keepalive_t)(void *userdata);

/* Makes a client that trusts `ca_file` only.  `cert_file`/`key_file` are
 * the client identity, both NULL before enrolment.  Returns 0 or -errno. */
int client_new(const char *ca_file, const char *cert_file, const char *key_file, struct client **ret);

/* Drops the connection and any TLS session, and takes new trust and
 * identity files (after a certificate renewal).  Returns 0 or -errno. */
int client_reset(struct client *c, const char *ca_file, const char *cert_file, const char *key_file);

void client_set_keepalive(struct client *c, client_keepalive_t cb, void *userdata);

void client_free(struct client *c);
static inline void client_freep(struct client **p) { client_free(*p); }
#define _cleanup_client_ __attribute__((cleanup(client_freep)))

struct client_response {
	long status;           /* HTTP status */
	json_t *json;          /* parsed body (JSON or problem+json), or NULL when empty/not JSON */
	int64_t retry_after_s; /* Retry-After of a 429/503 (seconds, >= 1), else 0 */
};

void client_response_done(struct client_response *r);

/* One request.  `body` (may be NULL) of `body_len` bytes is sent as
 * application/json; it is not copied and may hold a secret (the caller
 * wipes it).  The answer body is refused beyond `max_body` bytes; the whole
 * call is bounded by `timeout_s`.  Returns 0 and *ret filled (any status),
 * -EFBIG for an oversized answer, -ECANCELED when the keepalive callback
 * asked to stop, -EBADMSG for an answer that is not valid JSON where JSON
 * was promised, or -EIO/-ETIMEDOUT/-ECONNREFUSED… for transport errors
 * (logged at debug level with curl's message; *ret_error, when non-NULL,
 * gets a static short description). */
int client_request(struct client *c, const char *method, const char *url, const char *body,
		   size_t body_len, size_t max_body, long timeout_s, struct client_response *ret,
		   const char **ret_error);

/* Same with a JSON body (serialised compactly). */
int client_request_json(struct client *c, const char *method, const char *url, json_t *body,
			size_t max_body, long timeout_s, struct client_response *ret,
			const char **ret_error);

/* Parses a Retry-After value: delta-seconds only (we never send dates).
 * Returns seconds clamped to 1 … CLIENT_RETRY_AFTER_MAX_S, or 0 when
 * absent or malformed. */
int64_t client_parse_retry_after(const char *value);
