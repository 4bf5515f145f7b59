/*
 * exec-exporter.h: exporter.install (docs/datastores.md "Jobs"): the
 * Prometheus node exporter and the PostgreSQL exporter of a datastore,
 * run as user prometheus under the service supervisor (service.h),
 * serving TLS on the node's address with the datastore's exporter
 * certificate.
 */
#pragma once

#include "exec.h"

#define EXPORTER_NODE_BIN "/usr/bin/prometheus-node-exporter"
#define EXPORTER_POSTGRES_BIN "/usr/bin/prometheus-postgres-exporter"
#define EXPORTER_USER "prometheus"
#define EXPORTER_NODE_SERVICE "node-exporter"
#define EXPORTER_POSTGRES_SERVICE_PREFIX "postgres-exporter-"
#define EXPORTER_READY_TIMEOUT_MS (60 * 1000) /* each exporter must answer within this */
#define EXPORTER_STOP_TIMEOUT_MS (10 * 1000)

int exec_exporter_install_validate(json_t *params, const struct exec_config *cfg, char *reason,
                                   size_t reason_len);
int exec_exporter_install_run(json_t *params, const struct exec_context *ctx, json_t **ret_output,
                              char **ret_message);

/* The exporter-toolkit web configuration serving TLS with cert_file and
 * key_file (YAML, the paths double-quoted).  Heap string or NULL. */
char *exporter_web_config(const char *cert_file, const char *key_file);

/* For pg.destroy: removes the exporters serving datastore `ds`
 * (postgres-exporter-<ds>, and node-exporter, whose TLS files are the
 * datastore's) and their web configurations.  Idempotent: 0 when none
 * exists; -errno from service_remove() otherwise. */
int exporter_remove(const struct exec_config *cfg, const char *ds);
