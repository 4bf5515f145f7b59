/*
 * client.h: cairnctl's HTTPS calls to the controller API: bearer token,
 * the API certificate verified against the configured CA, JSON in and
 * out, problem+json errors turned into one line on stderr.
 */
#pragma once

#include <stddef.h>

#include <jansson.h>

#include "options.h"

#define CTL_ANSWER_MAX (16 * 1024 * 1024) /* largest API answer read */
#define CTL_TIMEOUT_S 60

struct ctl_client;

int ctl_client_new(const struct ctl_options *o, struct ctl_client **ret);
void ctl_client_free(struct ctl_client *c);
static inline void ctl_client_freep(struct ctl_client **p) { ctl_client_free(*p); }
#define _cleanup_ctl_client_ __attribute__((cleanup(ctl_client_freep)))

/* Sends `method` `path` (already escaped, starting with "/v1") with an
 * optional JSON body.  On a 2xx answer returns 0 and *ret (the parsed body,
 * or an empty object).  Otherwise prints "error: <title>: <detail>" (or
 * the transport error) on stderr and returns -EIO; the HTTP status goes to
 * *ret_status when non-NULL (0 for transport errors). */
int ctl_request(struct ctl_client *c, const char *method, const char *path, json_t *body, json_t **ret,
		long *ret_status);

/* Escapes one path segment (heap string or NULL). */
char *ctl_escape(struct ctl_client *c, const char *segment);

/* Formats a problem document as "error: <title>: <detail>"; for tests. */
char *ctl_problem_message(long status, json_t *problem);
