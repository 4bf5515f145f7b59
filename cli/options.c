/*
 * options.c: global options, environment and the config file of cairnctl.
 * Parsing stops at the first non-option word (the command family), so
 * each command parses its own options afterwards.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "ini.h"
#include "macro.h"
#include "options.h"
#include "protocol.h"

void ctl_usage(void)
{
	fputs("usage: cairnctl [--config FILE] [--url URL] [--ca FILE] [--output text|json] COMMAND ...\n"
	      "\n"
	      "  nodes add NAME [--user-data-out FILE]   create a node slot; prints its id and join token\n"
	      "  nodes list                              list nodes\n"
	      "  nodes show ID                           show a node with its facts\n"
	      "  nodes revoke ID                         revoke a node (its pending jobs are cancelled)\n"
	      "  nodes user-data ID [--out FILE]         new join token; prints the node's user-data\n"
	      "  jobs list [--node ID] [--state S] [--limit N]\n"
	      "  jobs show ID                            a job with its attempts and events\n"
	      "  jobs watch ID [--timeout S]             follow a job; exit 0 only when it succeeds\n"
	      "  jobs submit NODE TYPE [--params JSON] [--ttl S] [--timeout S] [--max-attempts N] [--watch]\n"
	      "  datastore create NAME [--nodes N] [--version V] [--set K=V]... [--wait]\n"
	      "  datastore list | show NAME | connection NAME | delete NAME [--wait]\n"
	      "  datastore scale NAME --add N | --remove MEMBER [--wait]\n"
	      "  datastore config NAME --set K=V... [--unset K]... [--wait]\n"
	      "  op list [--datastore NAME] | show ID | watch ID [--timeout S] | retry ID\n"
	      "  (cairnctl datastore help, cairnctl op help: every option)\n"
	      "\n"
	      "The API token comes from $CAIRN_TOKEN or the config file's token_file, never from\n"
	      "the command line.  Config: ~/" CTL_CONFIG_RELATIVE " ([cairnctl] url, ca_file, token_file).\n",
	      stdout);
}

static int set_str(char **dst, const char *v)
{
	char *c = strdup(v);

	if (!c)
		return -ENOMEM;
	free(*dst);
	*dst = c;
	return 0;
}

static int ctl_load_config(struct ctl_options *o, bool explicit_path)
{
	static const char *const known[] = { "url", "ca_file", "token_file", NULL };
	_cleanup_ini_ struct ini *ini = NULL;
	_cleanup_free_ char *error = NULL;
	const char *v;
	int r;

	r = ini_load(o->config_path, &ini, &error);
	if (r == -ENOENT && !explicit_path)
		return 0;
	if (r >= 0)
		r = ini_check_sections(ini, (const char *const[]){ "cairnctl", NULL }, &error);
	if (r >= 0)
		r = ini_check_keys(ini, "cairnctl", known, &error);
	if (r < 0) {
		if (error)
			fprintf(stderr, "error: %s\n", error);
		else
			fprintf(stderr, "error: cannot read %s: %s\n", o->config_path, strerror(-r));
		return -EINVAL;
	}
	if (!o->url && (v = ini_get(ini, "cairnctl", "url")) && *v && set_str(&o->url, v) < 0)
		return -ENOMEM;
	if (!o->ca_file && (v = ini_get(ini, "cairnctl", "ca_file")) && *v && set_str(&o->ca_file, v) < 0)
		return -ENOMEM;
	if ((v = ini_get(ini, "cairnctl", "token_file")) && *v && set_str(&o->token_file, v) < 0)
		return -ENOMEM;
	return 0;
}

int ctl_options_parse(int argc, char **argv, struct ctl_options *ret)
{
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "url", required_argument, NULL, 'u' },
		{ "ca", required_argument, NULL, 'a' },
		{ "output", required_argument, NULL, 'o' },
		{ "token", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{}
	};
	struct ctl_options o = { .output = CTL_OUTPUT_TEXT };
	bool explicit_config = false;
	const char *env;
	int c, r;

	optind = 0; /* full reset, also for tests that parse several times */
	/* '+': stop at the first non-option (the command). */
	while ((c = getopt_long(argc, argv, "+c:u:a:o:hV", options, NULL)) >= 0) {
		switch (c) {
		case 'c':
			r = set_str(&o.config_path, optarg);
			explicit_config = true;
			break;
		case 'u':
			r = set_str(&o.url, optarg);
			break;
		case 'a':
			r = set_str(&o.ca_file, optarg);
			break;
		case 'o':
			if (streq(optarg, "text"))
				o.output = CTL_OUTPUT_TEXT;
			else if (streq(optarg, "json"))
				o.output = CTL_OUTPUT_JSON;
			else {
				fprintf(stderr, "error: --output must be text or json\n");
				goto fail;
			}
			r = 0;
			break;
		case 'T':
			fprintf(stderr, "error: the token is never taken from the command line "
					"(anyone can read it with ps); set CAIRN_TOKEN or token_file\n");
			goto fail;
		case 'h':
			ctl_usage();
			ctl_options_done(&o);
			exit(0);
		case 'V':
			printf("cairnctl %s\n", CAIRN_VERSION_STRING);
			ctl_options_done(&o);
			exit(0);
		default:
			goto fail;
		}
		if (r < 0)
			goto fail;
	}
	if (optind >= argc) {
		ctl_usage();
		goto fail;
	}

	if (!o.url && (env = getenv("CAIRN_URL")) && *env && set_str(&o.url, env) < 0)
		goto fail;
	if (!o.ca_file && (env = getenv("CAIRN_CA")) && *env && set_str(&o.ca_file, env) < 0)
		goto fail;
	if (!o.config_path) {
		const char *home = getenv("HOME");

		if (home && *home) {
			o.config_path = path_join(home, CTL_CONFIG_RELATIVE);
			if (!o.config_path)
				goto fail;
		}
	}
	if (o.config_path && ctl_load_config(&o, explicit_config) < 0)
		goto fail;
	if (!o.url) {
		fprintf(stderr, "error: no API URL: use --url, CAIRN_URL or url in %s\n",
			o.config_path ? o.config_path : "the config file");
		goto fail;
	}
	if (strncmp(o.url, "https://", 8) != 0) {
		fprintf(stderr, "error: the API URL must start with https://\n");
		goto fail;
	}
	for (size_t n = strlen(o.url); n > 8 && o.url[n - 1] == '/'; n--)
		o.url[n - 1] = 0;

	o.argc = argc - optind;
	o.argv = argv + optind;
	*ret = o;
	return 0;
fail:
	ctl_options_done(&o);
	return -EINVAL;
}

int ctl_options_load_token(struct ctl_options *o)
{
	const char *env = getenv("CAIRN_TOKEN");
	int r;

	if (env && *env) {
		if (strlen(env) > CAIRN_TOKEN_MAX) {
			fprintf(stderr, "error: CAIRN_TOKEN is too long\n");
			return -ENOKEY;
		}
		o->token = strdup(env);
		return o->token ? 0 : -ENOMEM;
	}
	if (!o->token_file) {
		fprintf(stderr, "error: no API token: set CAIRN_TOKEN or token_file in the config file\n");
		return -ENOKEY;
	}
	r = read_one_line(o->token_file, CTL_TOKEN_FILE_MAX, &o->token);
	if (r < 0) {
		fprintf(stderr, "error: cannot read the token file %s: %s\n", o->token_file, strerror(-r));
		return -ENOKEY;
	}
	if (!*o->token || strlen(o->token) > CAIRN_TOKEN_MAX) {
		fprintf(stderr, "error: the token file %s does not hold a token\n", o->token_file);
		freezero_strp(&o->token);
		o->token = NULL;
		return -ENOKEY;
	}
	return 0;
}

void ctl_options_done(struct ctl_options *o)
{
	if (!o)
		return;
	free(o->config_path);
	free(o->url);
	free(o->ca_file);
	free(o->token_file);
	freezero_strp(&o->token);
	*o = (struct ctl_options){};
}
