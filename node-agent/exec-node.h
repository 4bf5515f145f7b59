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

int exec_node_facts_validate(json_t *params, const struct exec_config *cfg, char *reason, size_t reason_len);
int exec_node_facts_run(json_t *params, const struct exec_context *ctx, json_t **ret_output, char **ret_message);

/* Collects the facts object (docs/protocol.md, node.facts output).  Parts
 * that cannot be read are left out rather than failing the whole.
 * Returns 0 and a new object, or -ENOMEM.  `sysroot` prefixes every path
 * read (NULL or "" for the real system; tests point it elsewhere). */
int node_facts_collect(const char *sysroot, json_t **ret);
