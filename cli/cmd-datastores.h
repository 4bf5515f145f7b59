/*
 * cmd-datastores.h: `cairnctl datastore …`: create, list, show, delete,
 * scale, config and connection of PostgreSQL datastores
 * (docs/datastores.md "REST API").  Argument parsing is separate from the
 * HTTP calls so that tests can check it without a controller.
 */
#pragma once

#include <stdbool.h>

#include <jansson.h>

#include "client.h"
#include "options.h"

#define DS_VERSION_DEFAULT "15"
#define DS_NODES_DEFAULT 1
#define DS_SCALE_ADD_MAX 8       /* POST /nodes {"count":1..8} */
#define DS_SETTING_NAME_MAX 63
#define DS_SIZE_VALUE_MAX 1048576 /* any one size hint (memory_mb, disk_gb…) */
#define DS_PATH_MAX 4096          /* --ca-out */

enum ds_cmd {
	DS_CREATE,
	DS_LIST,
	DS_SHOW,
	DS_DELETE,
	DS_SCALE,
	DS_CONFIG,
	DS_CONNECTION,
};

/* One parsed `datastore` command.  Strings point into argv, except
 * ca_out_default; the JSON objects are owned. */
struct ds_args {
	enum ds_cmd cmd;
	const char *name;     /* datastore name or id (every command but list) */
	int nodes;            /* create */
	const char *version;  /* create */
	json_t *settings;     /* create: strings; config: strings, null = unset */
	json_t *size;         /* create: {"cpus":N,"memory_mb":N,"disk_gb":N} or NULL */
	bool wait;            /* create, delete, scale, config */
	const char *ca_out;   /* create, connection: CA file to write */
	char *ca_out_default; /* "./<name>-ca.pem" (owned) */
	int add;              /* scale --add N (0: not given) */
	const char *remove;   /* scale --remove MEMBER */
};

/* Parses argv (argv[0] is the subcommand: "create", "list"…) into *ret.
 * Returns 0, or -EINVAL after printing the reason on stderr (exit 2).
 * *ret must be released with ds_args_done() after success. */
int ds_args_parse(int argc, char **argv, struct ds_args *ret);
void ds_args_done(struct ds_args *a);

/* "k=v" of --set into *settings (a string) or, with value NULL (for
 * --unset k), a null.  Checks the name ([a-z][a-z0-9_.]{0,62}) and the
 * value (printable ASCII, at most CAIRN_DS_SETTING_VALUE_MAX).  Returns 0
 * or -EINVAL with a message on stderr. */
int ds_setting_add(json_t *settings, const char *arg, bool unset);

/* "cpus=2,memory_mb=4096,disk_gb=50" (any subset, each once) into a new
 * object of integers.  Returns 0 or -EINVAL with a message on stderr. */
int ds_size_parse(const char *arg, json_t **ret);

/* The POST /v1/datastores body of a parsed create.  NULL on ENOMEM. */
json_t *ds_create_body(const struct ds_args *a);

/* The psql command line for a connection object (host, port, dbname,
 * user, sslmode) and a CA file: a libpq conninfo in double quotes,
 * without the password.  Heap string, NULL on ENOMEM. */
char *ds_psql_command(json_t *connection, const char *ca_file);

/* argv[0] is "datastore".  Returns the process exit status: 0, 1 on an
 * error or a failed operation (--wait), 2 on a usage error. */
int cmd_datastores(const struct ctl_options *o, struct ctl_client *c, int argc, char **argv);

/* Resolves a datastore name or id to its id (GET /v1/datastores/<x>).
 * Returns 0 with a heap string, or -EIO after the client printed why. */
int ds_resolve_id(struct ctl_client *c, const char *name_or_id, char **ret_id);
