/*
 * agent.h: the cairn-agent daemon: its state object and its main loop.
 *
 * The agent's main thread does one thing at a time: enrol if needed,
 * finish what the journal says was left open, then pull jobs, verify and
 * run them one by one in seq order, and report.  A second thread, the
 * supervisor, keeps the node's services up (services_supervise at least
 * every second and on SIGCHLD, whatever the main thread is doing) and
 * reaps orphans.  Between calls it sleeps in
 * ppoll() with SIGTERM unblocked, so an idle agent costs nothing but the
 * watchdog pings.  The modules report.c (results, events, status, renewal)
 * share this struct; nothing outside node-agent/ sees it.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <pthread.h>
#include <sys/types.h>

#include <jansson.h>

#include "client.h"
#include "config.h"
#include "exec.h"
#include "journal.h"
#include "jws.h"

#define AGENT_BACKOFF_BASE_MS 1000
#define AGENT_BACKOFF_MAX_MS (60 * 1000)
#define AGENT_PULL_EXTRA_TIMEOUT_S 15      /* pull total timeout = wait + this */
#define AGENT_FORBIDDEN_RETRY_MS (60 * 1000) /* gateway refused our certificate */
#define AGENT_NEXT_POLL_MAX_S 3600         /* a larger next_poll_s is clamped */
#define AGENT_STUCK_DELAY_MAX_MS (10 * 1000) /* pulls that settle nothing back off up to this */
#define AGENT_EMPTY_POLL_MIN_S 1           /* between empty pulls when poll_wait_s = 0 */
#define AGENT_PRUNE_INTERVAL_MS (3600 * 1000)
#define AGENT_JOB_KEYS_FILE_MAX (64 * 1024)
#define AGENT_NODE_JSON_MAX (16 * 1024)
#define AGENT_SUPERVISE_INTERVAL_MS 1000   /* services_supervise at least this often */
#define AGENT_REAP_MAX 1024                /* zombie children remembered per pass */
#define AGENT_REAP_GRACE_MS 500            /* a zombie child is reaped only after this */

struct agent {
	struct agent_config *config;   /* owned */
	struct client *client;         /* the one HTTPS client (owned) */
	struct journal *journal;       /* journal and agent.json (owned) */
	struct agent_state state;      /* floors, kept in step with agent.json */
	struct jws_keyring *keyring;   /* trusted job keys (owned) */
	struct exec_config exec_config;/* what executors may know */

	char *node_id;                 /* from node.json */
	char *node_name;               /* from node.json */
	char *gateway_url;             /* from node.json, no trailing '/' */
	char *ca_path, *cert_path, *key_path; /* state_dir files */
	int64_t cert_not_before;       /* of node.crt, seconds */
	int64_t cert_not_after;

	uint64_t rejected_unreadable;  /* refused jobs without a readable jti */
	size_t journal_open;           /* journal entries not done */
	int64_t status_due_ms;         /* monotonic: next status report */
	int64_t renew_due_ms;          /* monotonic: earliest next renewal attempt */
	int64_t prune_due_ms;          /* monotonic: next journal pruning */
	unsigned failures;             /* consecutive failed pulls (backoff exponent) */
	unsigned stuck;                /* consecutive pulls that settled nothing */
	uint64_t results_reported;     /* results the controller answered (progress) */

	struct services *services;     /* supervised processes (owned; they outlive the agent) */
	pthread_t supervisor_thread;   /* runs services_supervise and the orphan reaper */
	bool supervisor_running;       /* supervisor_thread was started */
	bool supervisor_quit;          /* atomic: asks the thread to end */
	pid_t reap_seen[AGENT_REAP_MAX]; /* zombie children seen at the last pass (supervisor thread only) */
	size_t reap_nseen;
	int64_t reap_last_ms;          /* monotonic, last reaper pass */
};

/* Installs the signal handling of the daemon: SIGTERM/SIGINT blocked
 * (seen by agent_sleep and the keepalive), SIGCHLD wakes the supervisor
 * thread, which reaps orphans (the agent is a child subreaper; see
 * DESIGN.md) while children with an owner are reaped by it, SIGPIPE
 * ignored.  Returns 0 or -errno. */
int agent_signals_setup(void);

/* Loads the configuration and runs until SIGTERM.  Returns the process
 * exit status: 0 after a clean stop, non-zero when it could not start. */
int agent_main(const char *config_path);

/* True once SIGTERM/SIGINT arrived. */
bool agent_stopping(void);

/* Pings the watchdog, reaps nothing (the supervisor thread does), and returns false when
 * the agent must stop.  The keepalive of the client and the executors. */
bool agent_keepalive(void *userdata);

/* Sleeps up to `ms`, pinging the watchdog; returns false when the agent
 * must stop (SIGTERM), true otherwise. */
bool agent_sleep(struct agent *a, int64_t ms);

/* Builds gateway_url + path (path starts with '/').  Heap string or NULL. */
char *agent_url(const struct agent *a, const char *path);

/* Writes agent.json from a->state.  Returns 0 or -errno (logged). */
int agent_state_save(struct agent *a);
