/*
 * api.h: the API listener's routes (docs/protocol.md "API listener"):
 * health, nodes, jobs, metrics, plus its admission hook (bearer token by
 * hash, per-token and per-address rate limits).  Enrolment lives in
 * enroll.c.
 *
 * The body parsers are small pure functions over a parsed JSON object so
 * that the fuzz target (tests/fuzz/fuzz-api-body.c) can drive them.  On
 * refusal they return -EINVAL and a message in `reason` (API_REASON_MAX).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "http.h"
#include "protocol.h"

#define API_REASON_MAX 160

struct controller;

extern const struct http_route api_routes[];
extern const size_t api_routes_count;

/* The API listener's admission hook (userdata: struct controller). */
int api_admit(void *userdata, struct http_request *req);

/* Refuses members of `o` not in the NULL-terminated `allowed` list. */
int api_check_members(json_t *o, const char *const *allowed, char reason[static API_REASON_MAX]);

/* True for a DNS label: [a-z0-9-]{1,63}, not starting or ending with '-'. */
bool api_node_name_is_valid(const char *s);

/* Strict RFC 3339 UTC "YYYY-MM-DDTHH:MM:SSZ" → seconds.  Returns 0 or -EINVAL. */
int api_parse_rfc3339(const char *s, int64_t *ret);

/* POST /v1/nodes: {"name"}. */
int api_parse_node_create(json_t *body, char ret_name[static CAIRN_NODE_NAME_MAX + 1],
			  char reason[static API_REASON_MAX]);

/* POST /v1/nodes/{id}/jobs. */
struct api_job_submit {
	const char *type;        /* borrowed from the body */
	json_t *params;          /* borrowed; never NULL on success (defaults to {}) */
	const char *ds;          /* borrowed or NULL */
	int64_t epoch;
	int64_t not_before;      /* 0: now */
	int64_t ttl_s, timeout_s, max_attempts; /* 0: default */
	const char *raw_jws;     /* borrowed: {"raw_jws"} form */
};
int api_parse_job_submit(json_t *body, struct api_job_submit *ret, char reason[static API_REASON_MAX]);

/* Shallow check of a job's params against its type's schema. */
int api_check_params(const char *type, json_t *params, char reason[static API_REASON_MAX]);

/* ---- rendering and answer helpers shared with api-datastores.c ---- */

/* RFC 3339 UTC string for t, or JSON null for 0.  New reference. */
json_t *api_ts_json(int64_t t);
/* JSON text from the store parsed, or null when absent or unreadable. */
json_t *api_stored_json(const char *text);
/* Logs `what` with the error and answers 503 (-EBUSY) or 500. */
void api_reply_internal(struct http_request *req, int r, const char *what);
/* Answers `o` (which holds a secret): serialises, sends, wipes the copy. */
void api_reply_secret(struct http_request *req, unsigned status, json_t *o);
/* Wipes the string member `key` of `o` in place (after api_reply_secret). */
void api_wipe_json_string(json_t *o, const char *key);
