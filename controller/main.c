/*
 * main.c: cairn-controller's command line.  Parses arguments, loads the
 * configuration and hands over to controller.c.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "config.h"
#include "controller.h"
#include "log.h"
#include "macro.h"
#include "protocol.h"

static void help(void)
{
	printf("Usage: cairn-controller [--config FILE] [--version] [--help]\n"
	       "\n"
	       "Runs the Cairn controller: the REST API (with enrolment) and the agent\n"
	       "gateway, both over TLS, and the job runner.\n"
	       "\n"
	       "  -c, --config FILE  configuration file (default %s;\n"
	       "                     a missing default file means all defaults)\n"
	       "  -V, --version      print the version and exit\n"
	       "  -h, --help         print this help and exit\n",
	       CONFIG_PATH_DEFAULT);
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	const char *path = CONFIG_PATH_DEFAULT;
	bool explicit_path = false;
	_cleanup_free_ char *error = NULL;
	struct config *config = NULL;
	struct controller *c = NULL;
	int opt, r;

	while ((opt = getopt_long(argc, argv, "c:Vh", options, NULL)) >= 0) {
		switch (opt) {
		case 'c':
			path = optarg;
			explicit_path = true;
			break;
		case 'V':
			printf("cairn-controller %s\n", CAIRN_VERSION_STRING);
			return EXIT_SUCCESS;
		case 'h':
			help();
			return EXIT_SUCCESS;
		default:
			fprintf(stderr, "Try 'cairn-controller --help'.\n");
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "cairn-controller: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}

	/* Everything we create (database, keys) is ours alone. */
	umask(0077);
	log_open(LOG_TARGET_AUTO, "cairn-controller", LOG_INFO);
	r = config_load(path, !explicit_path, &config, &error);
	if (r < 0) {
		log_error("configuration: %s", error ?: "cannot load");
		return EXIT_FAILURE;
	}
	log_open(LOG_TARGET_AUTO, "cairn-controller", config->log_level);

	/* Before any thread exists, so that only controller_run sees them. */
	r = controller_block_signals();
	if (r < 0) {
		config_free(config);
		log_error_errno(r, "cannot block signals");
		return EXIT_FAILURE;
	}
	r = controller_new(config, &c);
	if (r < 0)
		return EXIT_FAILURE;
	r = controller_start(c);
	if (r >= 0)
		r = controller_run(c);
	controller_free(c);
	return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
