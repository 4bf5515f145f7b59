/*
 * cairn-exectool: runs ONE agent executor directly, for developers testing
 * executors on their own machine (as root): no controller, no signature,
 * no journal.  The params are validated exactly as the agent would, then
 * the executor runs with a made-up exec_config; its output (or failure
 * message) is printed as JSON.  With --status it prints the `databases`
 * array pgstatus_collect() would report.
 *
 *   cairn-exectool --db-dir D --tls-dir T --state-dir S [--backend direct]
 *                  --ds <uuid> --type pg.init --params '{"version":"15",…}'
 *   cairn-exectool --db-dir D --status
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "exec.h"
#include "fileio.h"
#include "macro.h"
#include "pgstatus.h"
#include "service.h"

#define EXECTOOL_PARAMS_MAX (1024 * 1024)

static bool exectool_keepalive(void *userdata)
{
	(void)userdata;
	return true;
}

static void usage(void)
{
	fprintf(stderr, "usage: cairn-exectool --db-dir D [--tls-dir T] [--state-dir S] [--backend direct|systemd]\n"
			"                      (--type TYPE [--ds UUID] (--params JSON | --params-file F) | --status)\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "db-dir", required_argument, NULL, 'd' },   { "tls-dir", required_argument, NULL, 't' },
		{ "state-dir", required_argument, NULL, 's' }, { "backend", required_argument, NULL, 'b' },
		{ "type", required_argument, NULL, 'y' },     { "ds", required_argument, NULL, 'i' },
		{ "params", required_argument, NULL, 'p' },   { "params-file", required_argument, NULL, 'f' },
		{ "status", no_argument, NULL, 'S' },         { "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *db_dir = NULL, *tls_dir = NULL, *state_dir = NULL, *backend = "direct", *type = NULL,
		   *ds = NULL, *params_s = NULL, *params_file = NULL;
	_cleanup_free_ char *file_data = NULL, *msg = NULL, *dump = NULL;
	_cleanup_json_ json_t *params = NULL, *out = NULL;
	struct services *svc = NULL;
	bool status = false;
	int c, r;

	signal(SIGPIPE, SIG_IGN);
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) >= 0) {
		switch (c) {
		case 'd': db_dir = optarg; break;
		case 't': tls_dir = optarg; break;
		case 's': state_dir = optarg; break;
		case 'b': backend = optarg; break;
		case 'y': type = optarg; break;
		case 'i': ds = optarg; break;
		case 'p': params_s = optarg; break;
		case 'f': params_file = optarg; break;
		case 'S': status = true; break;
		default: usage(); return c == 'h' ? 0 : 2;
		}
	}
	if (!db_dir) {
		usage();
		return 2;
	}
	struct exec_config cfg = { .db_dir = db_dir, .tls_dir = tls_dir, .state_dir = state_dir };

	if (status) {
		json_t *arr = NULL;

		r = pgstatus_collect(&cfg, &arr);
		if (r < 0) {
			fprintf(stderr, "pgstatus_collect: %s\n", strerror(-r));
			return 1;
		}
		dump = json_dumps(arr, JSON_INDENT(2));
		json_decref(arr);
		printf("%s\n", dump ? dump : "null");
		return 0;
	}
	if (!type || !tls_dir || !state_dir || (!params_s && !params_file)) {
		usage();
		return 2;
	}
	if (params_file) {
		r = read_file_full(params_file, EXECTOOL_PARAMS_MAX, &file_data, NULL);
		if (r < 0) {
			fprintf(stderr, "%s: %s\n", params_file, strerror(-r));
			return 1;
		}
		params_s = file_data;
	}
	params = json_loads(params_s, JSON_REJECT_DUPLICATES, NULL);
	if (!params) {
		fprintf(stderr, "params: not JSON\n");
		return 2;
	}
	const struct exec_type *t = exec_lookup(type, true);
	if (!t) {
		fprintf(stderr, "%s: no such executor\n", type);
		return 2;
	}
	char reason[EXEC_REASON_MAX] = "";
	if (t->validate(params, &cfg, reason, sizeof(reason)) < 0) {
		fprintf(stderr, "refused: %s\n", reason);
		return 3;
	}
	r = mkdir_p(state_dir, 0700);
	if (r >= 0)
		r = services_new(state_dir, backend, &svc);
	if (r < 0) {
		fprintf(stderr, "services_new(%s): %s\n", state_dir, strerror(-r));
		return 1;
	}
	cfg.services = svc;
	struct exec_context ctx = { .config = &cfg, .jti = "00000000-0000-4000-8000-000000000000", .ds = ds,
				    .keepalive = exectool_keepalive };

	r = t->run(params, &ctx, &out, &msg);
	services_free(svc);
	if (r < 0) {
		printf("{\"state\":\"failed\",\"errno\":\"%s\"}\n%s\n", strerror(-r), msg ? msg : "");
		return 1;
	}
	dump = json_dumps(out, JSON_INDENT(2));
	printf("%s\n", dump ? dump : "null");
	return 0;
}
