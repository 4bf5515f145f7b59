/*
 * exec-node.h: node.facts, a description of the machine (OS, kernel, CPUs,
 * memory, disks, addresses).  The same collection feeds the agent's status
 * reports.
 */
#pragma once

#include "exec.h"

#define NODE_FACTS_DISKS_MAX 64       /* block devices reported */
#define NODE_FACTS_ADDRESSES_MAX 128  /* interface addresses reported */
#define NODE_FACTS_FILE_MAX (64 * 1024) /* any file read for facts */
#define NODE_FACTS_ADDRESS_MAX 46       /* an address text with its NUL (INET6_ADDRSTRLEN) */

int exec_node_facts_validate(json_t *params, const struct exec_config *cfg, char *reason, size_t reason_len);
int exec_node_facts_run(json_t *params, const struct exec_context *ctx, json_t **ret_output, char **ret_message);

/* Collects the facts object (docs/protocol.md, node.facts output).  Parts
 * that cannot be read are left out rather than failing the whole.
 * Returns 0 and a new object, or -ENOMEM.  `sysroot` prefixes every path
 * read (NULL or "" for the real system; tests point it elsewhere). */
int node_facts_collect(const char *sysroot, json_t **ret);

/* Adds "tls_dir" and "db_dir" (the agent's configured directories: the
 * controller builds the TLS paths of tls.issue jobs from them) to a facts
 * object.  Members of cfg that are NULL are left out. */
void node_facts_add_dirs(json_t *facts, const struct exec_config *cfg);

/* The node's address for services: the first non-loopback IPv4 address of
 * the facts' "addresses" (docs/datastores.md, a member's address).
 * Returns 0 and the text in ret, or -ENOENT. */
int node_facts_first_ipv4(json_t *facts, char ret[static NODE_FACTS_ADDRESS_MAX]);
