/*
 * cmd-nodes.h: `cairnctl nodes …`: node slots, their join tokens and
 * user-data, listing, showing and revoking nodes.
 */
#pragma once

#include "client.h"
#include "options.h"

/* argv[0] is "nodes".  Returns the process exit status. */
int cmd_nodes(const struct ctl_options *o, struct ctl_client *c, int argc, char **argv);
