/*
 * exec-tls.h: tls.issue, a TLS key and certificate for a service on the
 * node.  The key is made here and never leaves the node; the controller's
 * CA signs a CSR sent over the gateway under the job's jti, and the SANs it
 * puts in the certificate are the job's params.names.
 */
#pragma once

#include "exec.h"

#define EXEC_TLS_NAMES_MAX 16
#define EXEC_TLS_TTL_MIN_S 60
#define EXEC_TLS_TTL_MAX_S (397 * 86400)
#define EXEC_TLS_CERTS_FILE "certs.json"
#define EXEC_TLS_CERTS_MAX 256            /* entries kept in certs.json */
#define EXEC_TLS_CERTS_FILE_MAX (1024 * 1024)

int exec_tls_issue_validate(json_t *params, const struct exec_config *cfg, char *reason, size_t reason_len);
int exec_tls_issue_run(json_t *params, const struct exec_context *ctx, json_t **ret_output, char **ret_message);
