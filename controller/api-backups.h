/*
 * api-backups.h: the API listener's backup routes (docs/backups.md "REST
 * API"): backup configuration, the catalogue, backups now, verify,
 * restore and the data key.  Parsers are pure (shared with the tests and
 * the fuzz target tests/fuzz/fuzz-ds-body.c); handlers call the
 * operations engine and render store rows.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "http.h"
#include "operations.h"

#define ABK_PATH_BACKUPS "/v1/backups"

/* POST /v1/datastores/{id}/backups: {} (or no body). */
int abk_parse_backup_now(json_t *body, char reason[static OPS_REASON_MAX]);
/* POST /v1/backups/{id}/verify: {"drill": bool}? */
int abk_parse_verify(json_t *body, bool *ret_drill, char reason[static OPS_REASON_MAX]);
/* POST /v1/datastores/{id}/restore: {"name", "nodes"?, "backup_id"?,
 * "target"?: {"time": RFC 3339} | {"lsn": "X/Y"}, "in_place"?}.  Strings
 * in *ret borrow from body; ret->source is left to the caller. */
int abk_parse_restore(json_t *body, struct ops_restore_spec *ret, char reason[static OPS_REASON_MAX]);
/* The progress of a backup.full job from its events' messages
 * ("bytes_done=N …" or JSON with "bytes_done"): the last one, or -1. */
int64_t abk_bytes_done_from_message(const char *message);

void abk_h_config_put(void *userdata, struct http_request *req);
void abk_h_config_get(void *userdata, struct http_request *req);
void abk_h_config_delete(void *userdata, struct http_request *req);
void abk_h_list(void *userdata, struct http_request *req);
void abk_h_create(void *userdata, struct http_request *req);
void abk_h_get(void *userdata, struct http_request *req);
void abk_h_verify(void *userdata, struct http_request *req);
void abk_h_restore(void *userdata, struct http_request *req);
void abk_h_key(void *userdata, struct http_request *req);
