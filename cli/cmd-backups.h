/*
 * cmd-backups.h: `cairnctl backup config|list|show|now|verify|restore|key`
 * (docs/backups.md "REST API", docs/cli.md).  Secrets are never taken
 * from argv: the S3 secret key and session token come from files (or
 * "-", stdin), and a config without them keeps the stored ones.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "client.h"
#include "options.h"

#define BK_SECRET_FILE_MAX 4096

enum bk_cmd {
	BK_CONFIG,
	BK_LIST,
	BK_SHOW,
	BK_NOW,
	BK_VERIFY,
	BK_RESTORE,
	BK_KEY,
};

struct bk_args {
	enum bk_cmd cmd;
	const char *target;            /* datastore (config, list, now, restore, key) or backup id */
	/* config */
	const char *endpoint, *bucket, *region, *prefix, *access_key, *ca_file;
	const char *secret_key_file, *session_token_file;
	bool virtual_hosted, delete_config;
	int64_t every_s, keep, max_age_s, compression, bundle_size, parallel; /* -1: unset */
	/* list */
	bool all;
	/* verify */
	bool drill;
	/* restore */
	const char *to, *backup_id, *time, *lsn;
	int64_t nodes;
	bool in_place;
	bool wait;
};

/* Parses argv (argv[0] is the subcommand).  0, or -EINVAL after saying
 * why on stderr (exit 2). */
int bk_args_parse(int argc, char **argv, struct bk_args *ret);

/* True when a config command sets something (else it shows the config). */
bool bk_config_sets(const struct bk_args *a);

/* The PUT body of `backup config` from the args and the `current`
 * configuration (NULL: none): unset members keep their current values,
 * secrets not given are sent as "(redacted)" (the controller keeps
 * them).  `secret_key`/`session_token` are the files' contents or NULL.
 * New reference or NULL after saying why. */
json_t *bk_config_body(const struct bk_args *a, json_t *current, const char *secret_key,
		       const char *session_token, const char *ca_pem);

/* The POST body of `backup restore`. */
json_t *bk_restore_body(const struct bk_args *a);

/* argv[0] is "backup".  Returns the process exit status. */
int cmd_backups(const struct ctl_options *o, struct ctl_client *c, int argc, char **argv);
