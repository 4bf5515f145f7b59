/*
 * enroll.h: POST /v1/enroll on the API listener (docs/protocol.md
 * "Enrolment").  A join token and a CSR in, the node's certificate, the
 * CA, the job keys and the gateway URL out.  Unknown, used and expired
 * tokens get the same 401.
 */
#pragma once

#include <jansson.h>

#include "api.h"
#include "http.h"
#include "protocol.h"

#define ENROLL_BODY_MAX (CAIRN_CSR_MAX_BYTES + 1024)

/* Parses {"join_token","csr"}; pointers borrow from body. */
int enroll_parse_body(json_t *body, const char **ret_token, const char **ret_csr,
		      char reason[static API_REASON_MAX]);

/* Route handler (userdata: struct controller). */
void enroll_handler(void *userdata, struct http_request *req);
