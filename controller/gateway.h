/*
 * gateway.h: the agent gateway listener (docs/protocol.md "Gateway
 * listener"): pull with long poll, events, results, status, tls.issue CSRs
 * and node certificate renewal.  Its admission hook verifies the client
 * certificate against the controller CA on the first call of every
 * request, before anything else, and takes the node id from the
 * certificate's SAN URI only.
 *
 * Body parsers are pure functions for the fuzz target.
 */
#pragma once

#include <stdint.h>

#include <jansson.h>

#include "api.h"
#include "http.h"
#include "protocol.h"

#define GATEWAY_MESSAGE_MAX_CHARS 1024   /* event message */
#define GATEWAY_RESULT_MESSAGE_MAX 4096  /* result message */
#define GATEWAY_HEALTH_MAX (64 * 1024)   /* status health, serialised */
#define GATEWAY_DATABASES_MAX 16         /* status databases[] entries */
#define GATEWAY_DB_REPLICAS_MAX 16       /* databases[].replicas[] entries */
#define GATEWAY_DB_STRING_MAX 64         /* databases[] strings (LSNs) */
#define GATEWAY_CERT_TTL_DEFAULT_S (90 * 86400)
#define GATEWAY_CERT_TTL_MAX_S (397 * 86400)

extern const struct http_route gateway_routes[];
extern const size_t gateway_routes_count;

int gateway_admit(void *userdata, struct http_request *req);

/* GET /v1/agent/jobs?after=&wait=: after >= 0, wait 0..60 clamped to
 * wait_max.  NULL strings mean absent (after 0, wait 0). */
int gateway_parse_pull_query(const char *after, const char *wait, int64_t wait_max,
			     int64_t *ret_after, int64_t *ret_wait, char reason[static API_REASON_MAX]);

/* POST …/events: {"kind","message"?,"progress"?}; pointers borrow. */
int gateway_parse_event(json_t *body, const char **ret_kind, const char **ret_message,
			char reason[static API_REASON_MAX]);

/* PUT …/result: {"state","message"?,"output"?}; *ret_output_json is a
 * heap string or NULL. */
int gateway_parse_result(json_t *body, enum cairn_job_state *ret_state, const char **ret_message,
			 char **ret_output_json, char reason[static API_REASON_MAX]);

/* POST /v1/agent/status: {"agent"?,"facts"?,"health"?,"databases"?}; heap
 * strings or NULL for absent parts.  `databases` (docs/datastores.md
 * "Status reports") is checked by gateway_check_databases() and stored
 * inside the health JSON as its "databases" member. */
int gateway_parse_status(json_t *body, char **ret_facts_json, char **ret_health_json,
			 char reason[static API_REASON_MAX]);

/* The `databases` array of a status report: at most GATEWAY_DATABASES_MAX
 * objects, each with a datastore id `ds` (listed once), `role` primary or
 * replica, booleans, non-negative numbers, printable strings of at most
 * GATEWAY_DB_STRING_MAX bytes, and `replicas` of {slot, active, lag_bytes}.
 * Unknown members are refused.  Returns 0 or -EINVAL with a reason. */
int gateway_check_databases(json_t *dbs, char reason[static API_REASON_MAX]);

/* POST …/csr and /v1/agent/renew: {"csr"}. */
int gateway_parse_csr(json_t *body, const char **ret_csr, char reason[static API_REASON_MAX]);
