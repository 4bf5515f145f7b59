/*
 * options.h: cairnctl's global options and configuration.
 *
 * Precedence: command line, then environment (CAIRN_URL, CAIRN_CA,
 * CAIRN_TOKEN), then the config file (~/.config/cairn/cairnctl.conf,
 * section [cairnctl]: url, ca_file, token_file).  The API token is never
 * accepted on the command line, where `ps` would show it.
 */
#pragma once

#include <stdbool.h>

#define CTL_CONFIG_RELATIVE ".config/cairn/cairnctl.conf"
#define CTL_TOKEN_FILE_MAX 1024

enum ctl_output {
	CTL_OUTPUT_TEXT,
	CTL_OUTPUT_JSON,
};

struct ctl_options {
	char *config_path;       /* file read (NULL when none) */
	char *url;               /* API base URL, no trailing '/' */
	char *ca_file;           /* CA that signs the API certificate, or NULL (system store) */
	char *token_file;        /* token_file from the config, or NULL */
	char *token;             /* bearer token (secret, wiped on free) */
	enum ctl_output output;
	int argc;                /* the command and its arguments */
	char **argv;
};

/* Parses global options up to the command word and loads the config file
 * (an explicit --config that cannot be read is an error; a missing default
 * file is not).  Does not read the token: see ctl_options_load_token().
 * Returns 0, or -EINVAL with a message on stderr (usage error: exit 2). */
int ctl_options_parse(int argc, char **argv, struct ctl_options *ret);

/* Reads the token from CAIRN_TOKEN or the config's token_file.  Returns 0
 * or -ENOKEY (with a message on stderr). */
int ctl_options_load_token(struct ctl_options *o);

void ctl_options_done(struct ctl_options *o);

void ctl_usage(void);
