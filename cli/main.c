/*
 * main.c: cairnctl's entry point: global options, the token, one client,
 * then the command family (cmd-nodes.c, cmd-jobs.c, cmd-datastores.c,
 * cmd-ops.c, cmd-backups.c).  `cairnctl FAMILY help` prints the family's usage without
 * needing a token.
 */
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "client.h"
#include "cmd-backups.h"
#include "cmd-datastores.h"
#include "cmd-jobs.h"
#include "cmd-nodes.h"
#include "cmd-ops.h"
#include "macro.h"
#include "options.h"

typedef int (*family_fn)(const struct ctl_options *, struct ctl_client *, int, char **);

static const struct {
	const char *name;
	family_fn fn;
	const char *usage;
} families[] = {
	{ "nodes", cmd_nodes, NULL },
	{ "jobs", cmd_jobs, NULL },
	{ "datastore", cmd_datastores,
	  "usage: cairnctl [GLOBAL OPTIONS] datastore COMMAND ...\n"
	  "\n"
	  "  create NAME [--nodes N] [--version 15] [--set k=v]... [--size cpus=2,memory_mb=4096,disk_gb=50]\n"
	  "              [--ca-out FILE] [--wait]\n"
	  "                     create a PostgreSQL datastore; prints the admin password ONCE, writes the\n"
	  "                     controller CA to FILE (default ./NAME-ca.pem) and a psql command\n"
	  "  list               list datastores with their state and health\n"
	  "  show NAME          a datastore, its members and their last status, its operation\n"
	  "  delete NAME [--wait]\n"
	  "  scale NAME --add N | --remove MEMBER [--wait]\n"
	  "  config NAME --set k=v... [--unset k]... [--wait]\n"
	  "  connection NAME [--ca-out FILE]\n"
	  "                     host, port, user, CA file and psql command (never the password)\n"
	  "\n"
	  "--wait follows the operation (as `op watch`): exit 0 when it succeeded, 1 otherwise.\n"
	  "--output json prints the API's JSON (progress goes to stderr).\n" },
	{ "op", cmd_ops,
	  "usage: cairnctl [GLOBAL OPTIONS] op COMMAND ...\n"
	  "\n"
	  "  show ID                   an operation with its steps\n"
	  "  watch ID [--timeout S]    follow it, one line per step change; exit 0 on success, 1 otherwise\n"
	  "  list [--datastore NAME]   operations, newest first\n"
	  "  retry ID [--wait]         run a failed operation again from its failed steps\n" },
	{ "backup", cmd_backups,
	  "usage: cairnctl [GLOBAL OPTIONS] backup COMMAND ...\n"
	  "\n"
	  "  config NAME                show the backup configuration (secrets redacted)\n"
	  "  config NAME [--endpoint URL] [--bucket B] [--region R] [--prefix P] [--access-key ID]\n"
	  "              [--secret-key-file FILE|-] [--session-token-file FILE|-] [--virtual-hosted]\n"
	  "              [--ca-file PEM] [--every SECONDS] [--keep N] [--max-age SECONDS]\n"
	  "              [--compression 1-19] [--bundle-size BYTES] [--parallel N] [--wait]\n"
	  "                             set it (unset options keep their values; secrets come only\n"
	  "                             from files and are kept when not given)\n"
	  "  config NAME --delete       stop scheduling (stored objects stay)\n"
	  "  list NAME [--all]          completed backups (--all: every state)\n"
	  "  show ID                    one backup (bytes_done while it runs)\n"
	  "  now NAME [--wait]          take a full backup now\n"
	  "  verify ID [--drill] [--wait]\n"
	  "                             download and check a backup (--drill: also restore it aside\n"
	  "                             and start PostgreSQL on it)\n"
	  "  restore NAME --to NEW [--nodes N] [--backup ID] [--time RFC3339 | --lsn X/Y] [--wait]\n"
	  "                             a new datastore from NAME's backups; prints its admin password ONCE\n"
	  "  key NAME                   print the datastore's data key (base64) for `cairn-agent backup`;\n"
	  "                             the read is audited in the controller's log\n"
	  "\n"
	  "--wait follows the operation (as `op watch`): exit 0 when it succeeded, 1 otherwise.\n" },
};

/* Aliases of the family names people type. */
static const char *family_name(const char *w)
{
	if (streq(w, "datastores") || streq(w, "ds"))
		return "datastore";
	if (streq(w, "ops") || streq(w, "operation") || streq(w, "operations"))
		return "op";
	if (streq(w, "backups"))
		return "backup";
	return w;
}

int main(int argc, char *argv[])
{
	struct ctl_options o;
	struct ctl_client *c = NULL;
	const char *name;
	size_t f;
	int r;

	if (ctl_options_parse(argc, argv, &o) < 0)
		return 2;
	name = family_name(o.argv[0]);
	for (f = 0; f < ELEMENTSOF(families); f++)
		if (streq(families[f].name, name))
			break;
	if (f == ELEMENTSOF(families)) {
		fprintf(stderr, "error: unknown command '%s' (try --help)\n", o.argv[0]);
		ctl_options_done(&o);
		return 2;
	}
	if (families[f].usage && (o.argc < 2 || streq(o.argv[1], "help") || streq(o.argv[1], "--help"))) {
		fputs(families[f].usage, o.argc < 2 ? stderr : stdout);
		ctl_options_done(&o);
		return o.argc < 2 ? 2 : 0;
	}
	if (ctl_options_load_token(&o) < 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
	    ctl_client_new(&o, &c) < 0) {
		ctl_options_done(&o);
		return 1;
	}
	r = families[f].fn(&o, c, o.argc, o.argv);
	ctl_client_free(c);
	ctl_options_done(&o);
	curl_global_cleanup();
	return r;
}
