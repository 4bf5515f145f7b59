/*
 * exec-debug.h: job types for tests, accepted only with allow_debug_jobs.
 * debug.sleep {"seconds":0…3600} records its jti in
 * <state_dir>/debug-executions.log (fsync'd) and sleeps, so tests can
 * count executions and kill the agent in the middle of a job.
 */
#pragma once

#include "exec.h"

#define EXEC_DEBUG_SLEEP_MAX_S 3600
#define EXEC_DEBUG_LOG "debug-executions.log"

int exec_debug_sleep_validate(json_t *params, const struct exec_config *cfg, char *reason, size_t reason_len);
int exec_debug_sleep_run(json_t *params, const struct exec_context *ctx, json_t **ret_output, char **ret_message);
