/*
 * report.h: what the agent tells the controller over the gateway: job
 * events and results, the periodic status (facts and agent counters), and
 * the renewal of its own certificate.
 */
#pragma once

#include <stdint.h>

#include <jansson.h>

#include "agent.h"

#define REPORT_STATUS_DEFAULT_S 60
#define REPORT_STATUS_MAX_S 86400
#define REPORT_RENEW_RETRY_MS (5 * 60 * 1000) /* after a failed renewal */
#define REPORT_RENEW_MIN_INTERVAL_MS (60 * 1000) /* between two successful renewals */
#define REPORT_MESSAGE_MAX 4096               /* result message, as the controller accepts */
#define REPORT_EVENT_MESSAGE_MAX 1024

/* PUT /v1/agent/jobs/<jti>/result, retried with backoff until the
 * controller answers 200 (recorded) or 404 (unknown jti: logged, dropped).
 * `result` is {"state","message"?,"output"?}.  Returns 0 when answered,
 * -ECANCELED when the agent is stopping first. */
int report_result(struct agent *a, const char *jti, json_t *result);

/* POST /v1/agent/jobs/<jti>/events, one try, errors only logged. */
void report_event(struct agent *a, const char *jti, const char *kind, const char *message);

/* POST /v1/agent/status.  Returns the delay before the next report in
 * seconds (the controller's next_report_s, or a default after a failure),
 * or -ECANCELED. */
int64_t report_status(struct agent *a);

/* True when two thirds of the node certificate's lifetime have passed. */
bool report_renew_due(const struct agent *a, int64_t now);

/* Renews the node certificate: new key and CSR, POST /v1/agent/renew,
 * checks, then node.key.new and node.crt.new are written and renamed over
 * node.key and node.crt, and the client is reloaded.  Returns 0 or -errno
 * (logged). */
int report_renew(struct agent *a);

/* Completes a renewal interrupted between its renames (at start).
 * Returns 0 or -errno. */
int report_renew_recover(const char *state_dir);
