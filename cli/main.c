/*
 * main.c: cairnctl's entry point: global options, the token, one client,
 * then the command family (cmd-nodes.c, cmd-jobs.c).
 */
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "client.h"
#include "cmd-jobs.h"
#include "cmd-nodes.h"
#include "options.h"

int main(int argc, char *argv[])
{
	struct ctl_options o;
	struct ctl_client *c = NULL;
	int r;

	if (ctl_options_parse(argc, argv, &o) < 0)
		return 2;
	if (strcmp(o.argv[0], "nodes") != 0 && strcmp(o.argv[0], "jobs") != 0) {
		fprintf(stderr, "error: unknown command '%s' (try --help)\n", o.argv[0]);
		ctl_options_done(&o);
		return 2;
	}
	if (ctl_options_load_token(&o) < 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
	    ctl_client_new(&o, &c) < 0) {
		ctl_options_done(&o);
		return 1;
	}
	if (strcmp(o.argv[0], "nodes") == 0)
		r = cmd_nodes(&o, c, o.argc, o.argv);
	else
		r = cmd_jobs(&o, c, o.argc, o.argv);
	ctl_client_free(c);
	ctl_options_done(&o);
	curl_global_cleanup();
	return r;
}
