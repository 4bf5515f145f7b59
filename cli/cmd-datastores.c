/*
 * cmd-datastores.c: `cairnctl datastore create|list|show|delete|scale|
 * config|connection`.  Commands take the datastore's name (or id) and
 * resolve it with GET /v1/datastores/<name>, since the other routes want
 * the id.  `create` prints the admin password once (the controller keeps
 * it only sealed and never shows it again), writes the controller CA to a
 * file and prints a psql command that verifies the server (verify-full).
 * Every command that starts an operation can follow it with --wait.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd-datastores.h"
#include "cmd-ops.h"
#include "fileio.h"
#include "macro.h"
#include "output.h"
#include "protocol.h"
#include "util.h"

#define DS_REF_MAX 128 /* a name or an id given on the command line */

static bool ds_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > CAIRN_DS_NAME_MAX || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
			return false;
	return true;
}

static bool ds_ref_ok(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > DS_REF_MAX)
		return false;
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '.')
			return false;
	return true;
}

int ds_setting_add(json_t *settings, const char *arg, bool unset)
{
	const char *eq = unset ? NULL : strchr(arg, '=');
	size_t n = eq ? (size_t)(eq - arg) : strlen(arg);
	char name[DS_SETTING_NAME_MAX + 1];
	const char *value = eq ? eq + 1 : NULL;

	if (!unset && !eq) {
		fprintf(stderr, "error: --set wants NAME=VALUE, not '%s'\n", arg);
		return -EINVAL;
	}
	if (n < 1 || n > DS_SETTING_NAME_MAX || !(arg[0] >= 'a' && arg[0] <= 'z')) {
		fprintf(stderr, "error: setting name must match [a-z][a-z0-9_.]{0,62}\n");
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++)
		if (!((arg[i] >= 'a' && arg[i] <= 'z') || (arg[i] >= '0' && arg[i] <= '9') || arg[i] == '_' ||
		      arg[i] == '.')) {
			fprintf(stderr, "error: setting name must match [a-z][a-z0-9_.]{0,62}\n");
			return -EINVAL;
		}
	memcpy(name, arg, n);
	name[n] = 0;
	if (json_object_get(settings, name)) {
		fprintf(stderr, "error: setting '%s' given twice\n", name);
		return -EINVAL;
	}
	if (json_object_size(settings) >= CAIRN_DS_SETTINGS_MAX) {
		fprintf(stderr, "error: at most %d settings\n", CAIRN_DS_SETTINGS_MAX);
		return -EINVAL;
	}
	if (value) {
		if (strlen(value) > CAIRN_DS_SETTING_VALUE_MAX) {
			fprintf(stderr, "error: the value of '%s' is longer than %d characters\n", name,
				CAIRN_DS_SETTING_VALUE_MAX);
			return -EINVAL;
		}
		for (const char *p = value; *p; p++)
			if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e) {
				fprintf(stderr, "error: the value of '%s' must be printable ASCII\n", name);
				return -EINVAL;
			}
	}
	if (json_object_set_new(settings, name, value ? json_string(value) : json_null()) < 0)
		return -ENOMEM;
	return 0;
}

int ds_size_parse(const char *arg, json_t **ret)
{
	static const char *const keys[] = { "cpus", "memory_mb", "disk_gb" };
	_cleanup_json_ json_t *size = json_object();
	_cleanup_free_ char *copy = strdup(arg);
	char *p, *save = NULL;

	if (!size || !copy)
		return -ENOMEM;
	if (!*copy) {
		fprintf(stderr, "error: --size wants cpus=N,memory_mb=N,disk_gb=N\n");
		return -EINVAL;
	}
	for (p = copy; p; p = save) {
		char *eq, *comma = strchr(p, ',');
		int64_t v;
		size_t k;

		save = comma ? comma + 1 : NULL;
		if (comma)
			*comma = 0;
		eq = strchr(p, '=');
		if (!eq) {
			fprintf(stderr, "error: --size: '%s' is not KEY=N\n", p);
			return -EINVAL;
		}
		*eq = 0;
		for (k = 0; k < ELEMENTSOF(keys); k++)
			if (streq(p, keys[k]))
				break;
		if (k == ELEMENTSOF(keys)) {
			fprintf(stderr, "error: --size: unknown key '%s' (cpus, memory_mb, disk_gb)\n", p);
			return -EINVAL;
		}
		if (json_object_get(size, p)) {
			fprintf(stderr, "error: --size: '%s' given twice\n", p);
			return -EINVAL;
		}
		if (parse_int64(eq + 1, 1, DS_SIZE_VALUE_MAX, &v) < 0) {
			fprintf(stderr, "error: --size: %s must be an integer in 1..%d\n", p, DS_SIZE_VALUE_MAX);
			return -EINVAL;
		}
		if (json_object_set_new(size, p, json_integer(v)) < 0)
			return -ENOMEM;
	}
	*ret = TAKE_PTR(size);
	return 0;
}

void ds_args_done(struct ds_args *a)
{
	if (!a)
		return;
	json_decref(a->settings);
	json_decref(a->size);
	free(a->ca_out_default);
	*a = (struct ds_args){};
}

int ds_args_parse(int argc, char **argv, struct ds_args *ret)
{
	static const struct {
		const char *name;
		enum ds_cmd cmd;
		const char *allowed; /* option letters */
		int npos;
	} cmds[] = {
		{ "create", DS_CREATE, "nvSzwc", 1 }, { "list", DS_LIST, "", 0 },
		{ "show", DS_SHOW, "", 1 },           { "delete", DS_DELETE, "w", 1 },
		{ "scale", DS_SCALE, "arw", 1 },      { "config", DS_CONFIG, "Suw", 1 },
		{ "connection", DS_CONNECTION, "c", 1 },
	};
	static const struct option opts[] = {
		{ "nodes", required_argument, NULL, 'n' },  { "version", required_argument, NULL, 'v' },
		{ "set", required_argument, NULL, 'S' },    { "unset", required_argument, NULL, 'u' },
		{ "size", required_argument, NULL, 'z' },   { "wait", no_argument, NULL, 'w' },
		{ "ca-out", required_argument, NULL, 'c' }, { "add", required_argument, NULL, 'a' },
		{ "remove", required_argument, NULL, 'r' }, {},
	};
	struct ds_args a = { .nodes = DS_NODES_DEFAULT, .version = DS_VERSION_DEFAULT };
	size_t k;
	int c;

	if (argc < 1) {
		fprintf(stderr, "error: datastore: expected create, list, show, delete, scale, config or connection\n");
		return -EINVAL;
	}
	for (k = 0; k < ELEMENTSOF(cmds); k++)
		if (streq(cmds[k].name, argv[0]))
			break;
	if (k == ELEMENTSOF(cmds)) {
		fprintf(stderr, "error: datastore: unknown command '%s'\n", argv[0]);
		return -EINVAL;
	}
	a.cmd = cmds[k].cmd;
	a.settings = json_object();
	if (!a.settings)
		return -ENOMEM;

	optind = 0;
	opterr = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
		int64_t v;

		if (c == '?')
			goto fail;
		if (!strchr(cmds[k].allowed, c)) {
			fprintf(stderr, "error: datastore %s does not take %s\n", argv[0], argv[optind - 1]);
			goto fail;
		}
		switch (c) {
		case 'n':
			if (parse_int64(optarg, 1, CAIRN_DS_NODES_MAX, &v) < 0) {
				fprintf(stderr, "error: --nodes: expected 1..%d\n", CAIRN_DS_NODES_MAX);
				goto fail;
			}
			a.nodes = (int)v;
			break;
		case 'v':
			if (strlen(optarg) < 1 || strlen(optarg) > 3 || strspn(optarg, "0123456789") != strlen(optarg)) {
				fprintf(stderr, "error: --version: expected a major version like 15\n");
				goto fail;
			}
			a.version = optarg;
			break;
		case 'S':
		case 'u':
			if (ds_setting_add(a.settings, optarg, c == 'u') < 0)
				goto fail;
			break;
		case 'z':
			json_decref(a.size);
			a.size = NULL;
			if (ds_size_parse(optarg, &a.size) < 0)
				goto fail;
			break;
		case 'w':
			a.wait = true;
			break;
		case 'c':
			if (!*optarg || strlen(optarg) > DS_PATH_MAX) {
				fprintf(stderr, "error: --ca-out: expected a file name\n");
				goto fail;
			}
			a.ca_out = optarg;
			break;
		case 'a':
			if (parse_int64(optarg, 1, DS_SCALE_ADD_MAX, &v) < 0) {
				fprintf(stderr, "error: --add: expected 1..%d nodes\n", DS_SCALE_ADD_MAX);
				goto fail;
			}
			a.add = (int)v;
			break;
		case 'r':
			if (!ds_ref_ok(optarg)) {
				fprintf(stderr, "error: --remove: expected a member name or node id\n");
				goto fail;
			}
			a.remove = optarg;
			break;
		}
	}
	if (argc - optind != cmds[k].npos) {
		if (cmds[k].npos)
			fprintf(stderr, "error: datastore %s takes one datastore name\n", argv[0]);
		else
			fprintf(stderr, "error: datastore %s takes no argument\n", argv[0]);
		goto fail;
	}
	if (cmds[k].npos) {
		a.name = argv[optind];
		if (a.cmd == DS_CREATE ? !ds_name_ok(a.name) : !ds_ref_ok(a.name)) {
			fprintf(stderr, "error: '%s' is not a datastore name (a DNS label: a-z, 0-9 and '-', 1..%d characters)\n",
				a.name, CAIRN_DS_NAME_MAX);
			goto fail;
		}
	}
	if (a.cmd == DS_SCALE && !!a.add == !!a.remove) {
		fprintf(stderr, "error: datastore scale wants exactly one of --add N or --remove MEMBER\n");
		goto fail;
	}
	if (a.cmd == DS_CONFIG && json_object_size(a.settings) == 0) {
		fprintf(stderr, "error: datastore config wants at least one --set NAME=VALUE or --unset NAME\n");
		goto fail;
	}
	if ((a.cmd == DS_CREATE || a.cmd == DS_CONNECTION) && !a.ca_out) {
		if (asprintf(&a.ca_out_default, "./%s-ca.pem", a.name) < 0) {
			a.ca_out_default = NULL;
			goto fail;
		}
		a.ca_out = a.ca_out_default;
	}
	*ret = a;
	return 0;
fail:
	ds_args_done(&a);
	return -EINVAL;
}

json_t *ds_create_body(const struct ds_args *a)
{
	return json_pack("{s:s, s:s, s:s, s:i, s:o, s:O}", "name", a->name, "engine", "postgres", "version",
			 a->version, "nodes", a->nodes, "size", a->size ? json_incref(a->size) : json_object(),
			 "settings", a->settings);
}

/* A conninfo value: as it is when it has only safe characters, else in
 * single quotes with ' and \ escaped (libpq's rules). */
static int conninfo_value(FILE *f, const char *v)
{
	bool plain = *v != 0;

	for (const char *p = v; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("/._+-:", *p))
			plain = false;
	if (plain)
		return fputs(v, f) < 0 ? -EIO : 0;
	fputc('\'', f);
	for (const char *p = v; *p; p++) {
		if (*p == '\'' || *p == '\\')
			fputc('\\', f);
		fputc(*p, f);
	}
	fputc('\'', f);
	return 0;
}

char *ds_psql_command(json_t *conn, const char *ca_file)
{
	static const char *const keys[] = { "host", "port", "dbname", "user", "sslmode" };
	_cleanup_free_ char *info = NULL;
	char *buf = NULL, *out = NULL;
	size_t len = 0, n = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
		_cleanup_free_ char *v = ctl_text(conn, keys[i]);

		if (!v || streq(v, "-"))
			continue;
		fprintf(f, "%s%s=", n++ ? " " : "", keys[i]);
		conninfo_value(f, v);
	}
	if (ca_file) {
		fprintf(f, "%ssslrootcert=", n++ ? " " : "");
		conninfo_value(f, ca_file);
	}
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	info = buf;
	/* The shell sees it in double quotes: escape what is special there. */
	f = open_memstream(&out, &len);
	if (!f)
		return NULL;
	fputs("psql \"", f);
	for (const char *p = info; *p; p++) {
		if (strchr("\"$`\\", *p))
			fputc('\\', f);
		fputc(*p, f);
	}
	fputc('"', f);
	if (fclose(f) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

int ds_resolve_id(struct ctl_client *c, const char *name_or_id, char **ret_id)
{
	_cleanup_free_ char *esc = ctl_escape(c, name_or_id), *path = NULL;
	_cleanup_json_ json_t *ds = NULL;
	const char *id;
	char *copy;

	if (!esc || asprintf(&path, "%s/%s", CAIRN_PATH_DATASTORES, esc) < 0)
		return -ENOMEM;
	if (ctl_request(c, "GET", path, NULL, &ds, NULL) < 0)
		return -EIO;
	id = json_string_value(json_object_get(ds, "id"));
	if (!id || !ds_ref_ok(id)) {
		fprintf(stderr, "error: the datastore answer holds no id\n");
		return -EIO;
	}
	copy = strdup(id);
	if (!copy)
		return -ENOMEM;
	*ret_id = copy;
	return 0;
}

/* Writes the connection's ca_pem to `path` (0644, atomic) and stores its
 * absolute name in *ret_abs.  Returns 0, or -errno after saying why. */
static int save_ca(json_t *conn, const char *path, char **ret_abs)
{
	const char *pem = json_string_value(json_object_get(conn, "ca_pem"));
	char abs[PATH_MAX];
	int r;

	if (!pem || strncmp(pem, "-----BEGIN CERTIFICATE-----", 27) != 0) {
		fprintf(stderr, "error: the answer holds no CA certificate (connection.ca_pem)\n");
		return -EBADMSG;
	}
	r = write_string_atomic(path, pem, 0644);
	if (r < 0) {
		fprintf(stderr, "error: cannot write the CA to %s: %s\n", path, strerror(-r));
		return r;
	}
	if (!realpath(path, abs))
		return -errno;
	*ret_abs = strdup(abs);
	return *ret_abs ? 0 : -ENOMEM;
}

static void wipe_string(json_t *obj, const char *key)
{
	const char *v = json_string_value(json_object_get(obj, key));

	if (v)
		explicit_bzero((char *)v, strlen(v));
}

static void print_connect_hint(json_t *conn, const char *ca_abs)
{
	const char *host = json_string_value(json_object_get(conn, "host"));
	_cleanup_free_ char *cmd = NULL;

	if (!host || !*host) {
		printf("The primary's address is not known yet: `cairnctl datastore connection NAME` shows it when it is.\n");
		return;
	}
	cmd = ds_psql_command(conn, ca_abs);
	printf("Connect with (psql asks for the password):\n  %s\n", cmd ? cmd : "?");
}

/* GET /v1/datastores/<id>/connection into *ret. */
static int get_connection(struct ctl_client *c, const char *id, json_t **ret)
{
	_cleanup_free_ char *esc = ctl_escape(c, id), *path = NULL;

	if (!esc || asprintf(&path, "%s/%s/connection", CAIRN_PATH_DATASTORES, esc) < 0)
		return -ENOMEM;
	return ctl_request(c, "GET", path, NULL, ret, NULL);
}

static int ds_create(const struct ctl_options *o, struct ctl_client *c, const struct ds_args *a)
{
	_cleanup_json_ json_t *body = ds_create_body(a), *answer = NULL, *final = NULL, *conn2 = NULL;
	_cleanup_free_ char *ca_abs = NULL, *ds_id = NULL, *op_id = NULL;
	json_t *conn, *ds, *op;
	const char *pw;
	int r = 0;

	if (!body)
		return 1;
	if (ctl_request(c, "POST", CAIRN_PATH_DATASTORES, body, &answer, NULL) < 0)
		return 1;
	ds = json_object_get(answer, "datastore");
	op = json_object_get(answer, "operation");
	conn = json_object_get(answer, "connection");
	pw = json_string_value(json_object_get(conn, "password"));
	ds_id = ctl_text(ds, "id");
	op_id = ctl_text(op, "id");
	if (save_ca(conn, a->ca_out, &ca_abs) < 0)
		r = 1; /* the password must still be shown */

	if (o->output == CTL_OUTPUT_TEXT) {
		printf("datastore %s (%s): creating, operation %s\n", a->name, ds_id, op_id);
		printf("admin user:     %s\n", json_string_value(json_object_get(conn, "user")) ?: "cairn_admin");
		printf("admin password: %s\n", pw ? pw : "(none in the answer)");
		fprintf(stderr, "WARNING: the admin password is shown only now and will not be shown again: "
				"save it (e.g. in a password manager or a 0600 ~/.pgpass).\n");
		if (ca_abs)
			printf("CA certificate: %s\n", ca_abs);
		if (!a->wait)
			print_connect_hint(conn, ca_abs);
		fflush(stdout);
	}
	if (a->wait && ds_id && op_id) {
		r = ops_watch(c, op_id, 0, o->output == CTL_OUTPUT_JSON ? stderr : stdout, &final) ? 1 : r;
		if (final)
			json_object_set(answer, "operation", final);
		/* The primary's address is known once the nodes exist. */
		if (get_connection(c, ds_id, &conn2) == 0 && json_is_object(conn2)) {
			json_object_update(conn, conn2); /* it has no password: the one we got stays */
		}
		if (o->output == CTL_OUTPUT_TEXT)
			print_connect_hint(conn, ca_abs);
	}
	if (o->output == CTL_OUTPUT_JSON) {
		if (ca_abs)
			json_object_set_new(answer, "ca_file", json_string(ca_abs));
		ctl_print_json(answer, stdout);
	}
	fflush(stdout);
	wipe_string(conn, "password");
	return r;
}

static const char *member_of(json_t *members, const char *node_id)
{
	json_t *m;
	size_t i;

	json_array_foreach(members, i, m)
		if (streq_ptr(json_string_value(json_object_get(m, "node_id")), node_id))
			return json_string_value(json_object_get(m, "name"));
	return NULL;
}

static int ds_show(const struct ctl_options *o, struct ctl_client *c, const struct ds_args *a)
{
	static const char *const keys[] = { "id", "name", "engine", "version", "port", "state", "health", "epoch",
					    "settings", "size", "created_at", "updated_at" };
	static const char *const headers[] = { "MEMBER", "ROLE", "STATE", "ADDRESS", "REACHABLE", "RUNNING", "LAG BYTES", "NODE" };
	_cleanup_free_ char *esc = ctl_escape(c, a->name), *path = NULL, *primary = NULL;
	_cleanup_json_ json_t *ds = NULL;
	_cleanup_ctl_table_ struct ctl_table *t = NULL;
	json_t *members, *m, *op;
	size_t i;

	if (!esc || asprintf(&path, "%s/%s", CAIRN_PATH_DATASTORES, esc) < 0)
		return 1;
	if (ctl_request(c, "GET", path, NULL, &ds, NULL) < 0)
		return 1;
	if (o->output == CTL_OUTPUT_JSON) {
		ctl_print_json(ds, stdout);
		return 0;
	}
	for (i = 0; i < ELEMENTSOF(keys); i++) {
		_cleanup_free_ char *v = ctl_text(ds, keys[i]);
		char label[32];

		snprintf(label, sizeof(label), "%s:", keys[i]);
		ctl_kv(stdout, 12, label, v);
	}
	members = json_object_get(ds, "members");
	{
		const char *pid = json_string_value(json_object_get(ds, "primary"));
		const char *pm = member_of(members, pid);

		if (pid && asprintf(&primary, "%s (%s)", pm ? pm : "?", pid) < 0)
			primary = NULL;
		ctl_kv(stdout, 12, "primary:", primary ? primary : "-");
	}
	op = json_object_get(ds, "operation");
	if (json_is_object(op)) {
		_cleanup_free_ char *id = ctl_text(op, "id"), *kind = ctl_text(op, "kind"), *st = ctl_text(op, "state"),
				    *line = NULL;
		json_t *p = json_object_get(op, "progress");

		if (asprintf(&line, "%s %s %s (%" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT " steps)", id, kind, st,
			     json_integer_value(json_object_get(p, "done")),
			     json_integer_value(json_object_get(p, "total"))) >= 0)
			ctl_kv(stdout, 12, "operation:", line);
	}
	t = ctl_table_new(ELEMENTSOF(headers), headers);
	if (!t)
		return 1;
	json_array_foreach(members, i, m) {
		json_t *st = json_object_get(m, "status");
		_cleanup_free_ char *name = ctl_text(m, "name"), *role = ctl_text(m, "role"), *state = ctl_text(m, "state"),
				    *addr = ctl_text(m, "address"), *reach = ctl_text(m, "reachable"),
				    *run = ctl_text(st, "running"), *lag = ctl_text(st, "lag_bytes"),
				    *node = ctl_text(m, "node_id");
		const char *cells[] = { name, role, state, addr, reach, run, lag, node };

		if (ctl_table_add(t, cells) < 0)
			return 1;
	}
	fputc('\n', stdout);
	ctl_table_print(t, stdout);
	return 0;
}

static int ds_list(const struct ctl_options *o, struct ctl_client *c)
{
	static const char *const headers[] = { "NAME", "ID", "ENGINE", "VERSION", "STATE", "HEALTH", "EPOCH", "CREATED" };
	static const char *const keys[] = { "name", "id", "engine", "version", "state", "health", "epoch", "created_at" };
	_cleanup_json_ json_t *answer = NULL;

	if (ctl_request(c, "GET", CAIRN_PATH_DATASTORES, NULL, &answer, NULL) < 0)
		return 1;
	if (o->output == CTL_OUTPUT_JSON) {
		ctl_print_json(answer, stdout);
		return 0;
	}
	_Static_assert(ELEMENTSOF(headers) == ELEMENTSOF(keys), "one key per column");
	return ctl_print_rows(json_object_get(answer, "datastores"), ELEMENTSOF(keys), headers, keys, stdout) < 0;
}

static int ds_connection(const struct ctl_options *o, struct ctl_client *c, const struct ds_args *a)
{
	_cleanup_free_ char *id = NULL, *ca_abs = NULL;
	_cleanup_json_ json_t *conn = NULL;
	static const char *const keys[] = { "host", "port", "replicas", "dbname", "user", "sslmode" };

	if (ds_resolve_id(c, a->name, &id) < 0 || get_connection(c, id, &conn) < 0)
		return 1;
	if (save_ca(conn, a->ca_out, &ca_abs) < 0)
		return 1;
	if (o->output == CTL_OUTPUT_JSON) {
		json_object_set_new(conn, "ca_file", json_string(ca_abs));
		ctl_print_json(conn, stdout);
		return 0;
	}
	for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
		_cleanup_free_ char *v = ctl_text(conn, keys[i]);
		char label[32];

		snprintf(label, sizeof(label), "%s:", keys[i]);
		ctl_kv(stdout, 16, label, v);
	}
	ctl_kv(stdout, 16, "CA certificate:", ca_abs);
	print_connect_hint(conn, ca_abs);
	printf("The password was shown once, by `cairnctl datastore create`.\n");
	return 0;
}

/* Sends a request answered by 202 {"operation"} and prints it or, with
 * --wait, follows it. */
static int ds_operation(const struct ctl_options *o, struct ctl_client *c, const struct ds_args *a,
			const char *method, const char *path, json_t *body)
{
	_cleanup_json_ json_t *answer = NULL, *final = NULL;
	_cleanup_free_ char *op_id = NULL, *kind = NULL;
	json_t *op;
	int r;

	if (ctl_request(c, method, path, body, &answer, NULL) < 0)
		return 1;
	op = json_object_get(answer, "operation");
	if (!json_is_object(op))
		op = answer; /* tolerate a bare operation */
	op_id = ctl_text(op, "id");
	kind = ctl_text(op, "kind");
	if (!a->wait) {
		if (o->output == CTL_OUTPUT_JSON)
			ctl_print_json(answer, stdout);
		else
			printf("datastore %s: %s started, operation %s (`cairnctl op watch %s` follows it)\n", a->name,
			       kind, op_id, op_id);
		return 0;
	}
	if (o->output == CTL_OUTPUT_TEXT)
		printf("datastore %s: %s, operation %s\n", a->name, kind, op_id);
	r = ops_watch(c, op_id, 0, o->output == CTL_OUTPUT_JSON ? stderr : stdout, &final);
	if (o->output == CTL_OUTPUT_JSON && final) {
		_cleanup_json_ json_t *out = json_pack("{s:O}", "operation", final);
		if (out)
			ctl_print_json(out, stdout);
	}
	return r;
}

int cmd_datastores(const struct ctl_options *o, struct ctl_client *c, int argc, char **argv)
{
	struct ds_args a;
	_cleanup_free_ char *id = NULL, *esc = NULL, *path = NULL, *mesc = NULL;
	_cleanup_json_ json_t *body = NULL;
	int r = 1;

	if (ds_args_parse(argc - 1, argv + 1, &a) < 0)
		return 2;
	switch (a.cmd) {
	case DS_CREATE:
		r = ds_create(o, c, &a);
		break;
	case DS_LIST:
		r = ds_list(o, c);
		break;
	case DS_SHOW:
		r = ds_show(o, c, &a);
		break;
	case DS_CONNECTION:
		r = ds_connection(o, c, &a);
		break;
	case DS_DELETE:
	case DS_SCALE:
	case DS_CONFIG:
		if (ds_resolve_id(c, a.name, &id) < 0 || !(esc = ctl_escape(c, id)))
			break;
		if (a.cmd == DS_DELETE) {
			if (asprintf(&path, "%s/%s", CAIRN_PATH_DATASTORES, esc) >= 0)
				r = ds_operation(o, c, &a, "DELETE", path, NULL);
		} else if (a.cmd == DS_SCALE && a.add) {
			body = json_pack("{s:i}", "count", a.add);
			if (body && asprintf(&path, "%s/%s/nodes", CAIRN_PATH_DATASTORES, esc) >= 0)
				r = ds_operation(o, c, &a, "POST", path, body);
		} else if (a.cmd == DS_SCALE) {
			mesc = ctl_escape(c, a.remove);
			if (mesc && asprintf(&path, "%s/%s/nodes/%s", CAIRN_PATH_DATASTORES, esc, mesc) >= 0)
				r = ds_operation(o, c, &a, "DELETE", path, NULL);
		} else {
			body = json_pack("{s:O}", "settings", a.settings);
			if (body && asprintf(&path, "%s/%s/settings", CAIRN_PATH_DATASTORES, esc) >= 0)
				r = ds_operation(o, c, &a, "PATCH", path, body);
		}
		break;
	}
	ds_args_done(&a);
	return r;
}
