/*
 * main.c: cairn-agent's command line.  Everything else lives in agent.c.
 *
 *   cairn-agent [--config FILE] [run]
 *   cairn-agent --version
 *   cairn-agent wal-push|wal-fetch ...   (backup-ctl.c, run by PostgreSQL)
 *   cairn-agent backup list|verify|restore|decrypt ...   (backup-cli.c)
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>

#include "agent.h"
#include "backup-cli.h"
#include "backup-ctl.h"
#include "config.h"
#include "log.h"
#include "macro.h"
#include "protocol.h"

int main(int argc, char *argv[])
{
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	const char *config = AGENT_CONFIG_DEFAULT_PATH;
	int c, r;

	/* A known umask, whatever started us: directories the database and
	 * exporter users must traverse are made 0755/0711, and every secret
	 * is written with an explicit 0600 (fileio.h), never by umask. */
	umask(022);
	/* PostgreSQL's archive and restore commands: no logging setup, no
	 * signals, one request to the running agent. */
	if (argc >= 2 && (streq(argv[1], "wal-push") || streq(argv[1], "wal-fetch")))
		return backup_ctl_client_main(argv[1], argc - 1, argv + 1);
	if (argc >= 2 && streq(argv[1], "backup"))
		return backup_cli_main(argc - 1, argv + 1);
	log_open(LOG_TARGET_AUTO, "cairn-agent", LOG_INFO);
	while ((c = getopt_long(argc, argv, "c:Vh", options, NULL)) >= 0) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 'V':
			printf("cairn-agent %s\n", CAIRN_VERSION_STRING);
			return 0;
		case 'h':
			printf("usage: cairn-agent [--config FILE] [run]\n"
			       "       cairn-agent --version\n"
			       "default config: %s\n",
			       AGENT_CONFIG_DEFAULT_PATH);
			return 0;
		default:
			return 2;
		}
	}
	if (optind < argc && strcmp(argv[optind], "run") == 0)
		optind++;
	if (optind < argc) {
		fprintf(stderr, "cairn-agent: unexpected argument '%s' (try --help)\n", argv[optind]);
		return 2;
	}

	/* Orphans of the processes we start become our children and are
	 * reaped at once, not left to a slow PID 1 (DESIGN.md "Tests"). */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
		log_warning_errno(-errno, "cannot become a child subreaper");
	r = agent_signals_setup();
	if (r < 0) {
		log_error_errno(r, "cannot set up signal handling");
		return 1;
	}
	return agent_main(config);
}
