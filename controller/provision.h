/*
 * provision.h: runs the provisioner program (docs/datastores.md
 * "Provisioners"): one JSON request on stdin, one JSON answer on stdout
 * (at most PROVISION_ANSWER_MAX bytes) within the configured timeout;
 * stderr goes to the log line by line (at most PROVISION_STDERR_LINES).
 * The request may hold a join token (in user_data): it is never put in
 * argv or a log, and is wiped once written.
 *
 * Runs happen on worker threads so the ticker never blocks: the driver
 * starts a run under a key (the step's "<op id>/<index>") and polls it on
 * later ticks.  The table is memory only; after a restart there is no
 * entry and the driver asks again (provisioners are idempotent on the
 * node id).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "config.h"

#define PROVISION_ANSWER_MAX (64 * 1024)
#define PROVISION_STDERR_LINES 100
#define PROVISION_STDERR_LINE_MAX 512
#define PROVISION_WORKERS_MAX 16
#define PROVISION_KEY_MAX 64
#define PROVISION_ERROR_MAX 256

struct provision;

struct provision_result {
	bool ok;                            /* the program answered {"ok":true} and exited 0 */
	char *machine_id;                   /* create: the answer's machine_id, or NULL */
	char *address;                      /* create: the answer's address (IP literal), or NULL */
	char error[PROVISION_ERROR_MAX];    /* why not ok */
};

void provision_result_done(struct provision_result *r);
/* Reads a provisioner's answer (`out`, `len` bytes, at most
 * PROVISION_ANSWER_MAX) given its wait status into `r`: ok with the
 * optional machine_id and address, or an error message made printable.
 * Exposed for tests and fuzzing. */
void provision_parse_answer(const char *out, size_t len, int status, struct provision_result *r);

/* Runs `program` synchronously with `request` (NUL-terminated JSON text)
 * on stdin.  `what` names the run in logs.  Returns 0 and a result (ok or
 * not), or -errno when the program could not be run at all (the result's
 * error says why).  */
int provision_run(const char *program, int64_t timeout_s, const char *what, const char *request,
		  struct provision_result *ret);

/* The worker pool.  `cfg` is borrowed for the pool's lifetime. */
struct provision *provision_new(const struct config_provisioner *cfg);
/* Refuses new runs and waits for the running ones to end (each within its
 * timeout); their results are dropped. */
void provision_stop(struct provision *p);
void provision_free(struct provision *p);

/* Starts a run of the request for node `node_id` under `key` on a worker thread.  The
 * request text is taken over (and wiped when done).  -EEXIST when the key
 * has an entry, -EAGAIN when every worker is busy, -ESHUTDOWN after stop,
 * -ENOTSUP for kind none. */
int provision_start(struct provision *p, const char *key, const char *node_id, char *request);
/* True while a run for `node_id` (under any key) has not ended. */
bool provision_busy(struct provision *p, const char *node_id);
/* 0 and the result (the entry is removed) when the run under `key` has
 * ended, -EINPROGRESS while it runs, -ENOENT when there is no entry. */
int provision_poll(struct provision *p, const char *key, struct provision_result *ret);
/* True when a run under `key` is running or has an unread result. */
bool provision_has(struct provision *p, const char *key);

/* Requests (docs/datastores.md).  Heap JSON text or NULL.  The create
 * request holds the user-data: wipe it after use. */
char *provision_request_create(const struct config_provisioner *cfg, const char *node_id,
			       const char *name, const char *ds_id, const char *size_json,
			       const char *user_data);
char *provision_request_destroy(const struct config_provisioner *cfg, const char *node_id,
				const char *name, const char *machine_id);
