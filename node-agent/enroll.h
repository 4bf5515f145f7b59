/*
 * enroll.h: first contact.  With no node.crt in state_dir the agent makes
 * its key (kept on the node), sends a CSR with the join token to
 * POST /v1/enroll on the API listener, checks the answer and stores its
 * identity (node.crt, ca.pem, node.json, job-keys.json), then removes the
 * token file.  It retries until it succeeds or the agent is told to stop.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "client.h"
#include "config.h"

#define ENROLL_SLOW_RETRY_MS (60 * 1000) /* token refused or missing: an operator must act */
#define ENROLL_BACKOFF_BASE_MS 1000
#define ENROLL_BACKOFF_MAX_MS (60 * 1000)

#define AGENT_NODE_KEY "node.key"
#define AGENT_NODE_CERT "node.crt"
#define AGENT_CA "ca.pem"
#define AGENT_NODE_JSON "node.json"
#define AGENT_JOB_KEYS "job-keys.json"

/* True when state_dir has no node.crt yet. */
bool enroll_needed(const char *state_dir);

/* Sleeps `ms` (pinging the watchdog); returns false when the agent must stop. */
typedef bool (*enroll_sleep_t)(void *userdata, int64_t ms);

/* Enrols, retrying with backoff.  `client` trusts cfg->ca_file and has no
 * identity yet.  Returns 0 once enrolled, -ECANCELED when sleep_fn (or the
 * client's keepalive) said stop. */
int enroll_run(const struct agent_config *cfg, struct client *client, enroll_sleep_t sleep_fn, void *userdata);

/* Checks an enrolment answer against our key and stores it under
 * state_dir (node.crt last: its presence means "enrolled").  Exposed for
 * tests.  Returns 0, -EBADMSG with *ret_reason (static) for an answer we
 * refuse, or -errno. */
int enroll_store(const char *state_dir, const char *fallback_gateway_url, EVP_PKEY *key, json_t *answer,
		 const char **ret_reason);
