/*
 * cmd-jobs.h: `cairnctl jobs …`: list, show, watch and submit jobs.
 */
#pragma once

#include "client.h"
#include "options.h"

#define CTL_WATCH_INTERVAL_MS 1000
#define CTL_WATCH_TIMEOUT_DEFAULT_S 600
#define CTL_EXIT_TIMEOUT 124 /* like timeout(1) */

/* argv[0] is "jobs".  Returns the process exit status: for `watch` (and
 * `submit --watch`) 0 only when the job succeeded, 1 when it ended
 * otherwise or on error, CTL_EXIT_TIMEOUT when --timeout passed first. */
int cmd_jobs(const struct ctl_options *o, struct ctl_client *c, int argc, char **argv);

/* The line `jobs watch` prints for a state change; for tests.  Heap. */
char *cmd_jobs_watch_line(json_t *job);
