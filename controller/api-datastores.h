/*
 * api-datastores.h: the API listener's datastore, operation and HTTP SD
 * routes (docs/datastores.md "REST API").  Handlers parse the body (pure
 * functions below), call the operations engine (operations.h) and render
 * store rows (pure functions below, shared with the tests and the fuzz
 * target tests/fuzz/fuzz-ds-body.c).
 *
 * The parsers check shape only (members, types, ranges, lengths); the
 * engine validates meaning (managed settings, names taken, states) and
 * its reason reaches the client as the problem's detail.  On refusal they
 * return -EINVAL and a message in `reason` (OPS_REASON_MAX bytes).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "health.h"
#include "http.h"
#include "operations.h"
#include "store.h"

#define ADS_SIZE_CPUS_MAX 1024
#define ADS_SIZE_MEMORY_MB_MAX (16 * 1024 * 1024)
#define ADS_SIZE_DISK_GB_MAX (1024 * 1024)
#define ADS_ADD_NODES_MAX 8            /* POST …/nodes {"count"} */
#define ADS_SETTING_NAME_MAX 63        /* [a-z][a-z0-9_.]{0,62} */
#define ADS_ENGINE_MAX 32
#define ADS_VERSION_MAX 16
#define ADS_OPERATIONS_LIMIT_DEFAULT 100

struct controller;

/* POST /v1/datastores: {"name","engine","version","nodes","size"?,"settings"?}.
 * engine defaults to "postgres", version to "15", nodes to 1.  Pointers in
 * *ret borrow from `body`. */
int ads_parse_create(json_t *body, struct ops_create_spec *ret, char reason[static OPS_REASON_MAX]);

/* POST /v1/datastores/<id>/nodes: {"count":1..8} (default 1). */
int ads_parse_add_nodes(json_t *body, int *ret_count, char reason[static OPS_REASON_MAX]);

/* PATCH /v1/datastores/<id>/settings: {"settings":{name: string|null}};
 * *ret_patch borrows from `body`. */
int ads_parse_settings_patch(json_t *body, json_t **ret_patch, char reason[static OPS_REASON_MAX]);

/* Shape of a settings object: at most CAIRN_DS_SETTINGS_MAX names of
 * [a-z][a-z0-9_.]{0,62}, values printable ASCII strings of at most
 * CAIRN_DS_SETTING_VALUE_MAX bytes (or null when `allow_null`). */
int ads_check_settings(json_t *settings, bool allow_null, char reason[static OPS_REASON_MAX]);

/* Maps an engine or store error to an HTTP status: -EINVAL 400,
 * -ENOENT 404, -EEXIST/-EBUSY/-EPERM 409, -EAGAIN/-ETIMEDOUT 503, else 500. */
unsigned ads_status_for_errno(int r);

/* ---- rendering (pure; every function returns a new reference or NULL) --- */

/* A member with its node's view: reachable and last status (borrowed, or NULL). */
json_t *ads_member_to_json(const struct store_member *m, bool reachable, json_t *status);

/* A datastore; `members` (array) and `operation` (object) are borrowed and
 * may be NULL (members then renders as []; operation is left out). */
json_t *ads_datastore_to_json(const struct store_datastore *d, enum health h, json_t *members,
			      json_t *operation);

/* The job a step runs, as the operation shows it (borrowed strings). */
struct ads_step_job {
	const char *state;   /* job state name, or NULL when the step has no job */
	const char *message; /* job's last message, or NULL */
};

/* An operation.  With `steps` (n_steps of them) it has `progress`
 * (succeeded/all); with `with_steps` also `steps` (lists show progress
 * only).  `jobs` has n_steps entries or is NULL; `members` names the
 * steps' members by ordinal (may be NULL: the ordinal is shown). */
json_t *ads_operation_to_json(const struct store_operation *o, const struct store_step *steps,
			      size_t n_steps, const struct ads_step_job *jobs,
			      const struct store_member *members, size_t n_members, bool with_steps);

/* The connection block: host = the primary's address, replicas = the
 * other members' addresses; `password` NULL leaves it out. */
json_t *ads_connection_to_json(const struct store_datastore *d, const struct store_member *members,
			       size_t n_members, const char *ca_pem, const char *password);

/* Appends the HTTP SD target groups of one datastore to `groups`: two per
 * ready member with an address (node and postgres exporters).  Deleted
 * datastores add nothing.  Returns 0 or -ENOMEM. */
int ads_sd_append(json_t *groups, const struct store_datastore *d, const struct store_member *members,
		  size_t n_members);

/* ---- store readers shared with metrics.c ------------------------------ */

/* node_unreachable_s of the configuration. */
int64_t ads_unreachable_s(struct controller *c);

/* Loads the datastore's members (removed ones hidden), each node's
 * reachability and status, and computes the health.  `ret_members` (may
 * be NULL) receives the rendered members array.  Returns 0 or -errno. */
int ads_load_health(struct controller *c, const struct store_datastore *d, int64_t now,
		    enum health *ret_health, json_t **ret_members);

/* An operation with its steps / a datastore with members and health, as
 * the API shows them (for other route modules).  0 or -errno. */
int ads_render_operation(struct controller *c, const char *op_id, json_t **ret);
int ads_render_datastore(struct controller *c, const char *ds_id, json_t **ret);

/* ---- handlers (registered in api.c's route table) --------------------- */

void ads_h_create(void *userdata, struct http_request *req);
void ads_h_list(void *userdata, struct http_request *req);
void ads_h_get(void *userdata, struct http_request *req);
void ads_h_connection(void *userdata, struct http_request *req);
void ads_h_destroy(void *userdata, struct http_request *req);
void ads_h_add_nodes(void *userdata, struct http_request *req);
void ads_h_remove_node(void *userdata, struct http_request *req);
void ads_h_settings(void *userdata, struct http_request *req);
void ads_h_operation_list(void *userdata, struct http_request *req);
void ads_h_operation_get(void *userdata, struct http_request *req);
void ads_h_operation_retry(void *userdata, struct http_request *req);
void ads_h_sd(void *userdata, struct http_request *req);
