/*
 * cmd-nodes.c: `cairnctl nodes add|list|show|revoke|user-data`.  The join
 * token is printed once, by `add`, and user-data files (which hold the
 * token) are written 0600.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmd-nodes.h"
#include "fileio.h"
#include "macro.h"
#include "output.h"
#include "protocol.h"

/* Parses `--NAME FILE` style options of a subcommand into values[]. */
static int sub_parse(int argc, char **argv, const struct option *opts, const char **values, int npos,
		     const char **ret_pos)
{
	int c, n = 0;

	optind = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
		if (c == '?' || c < 0 || c >= 32)
			return -EINVAL;
		values[c] = optarg;
	}
	for (int i = optind; i < argc; i++) {
		if (n >= npos) {
			fprintf(stderr, "error: unexpected argument '%s'\n", argv[i]);
			return -EINVAL;
		}
		ret_pos[n++] = argv[i];
	}
	if (n != npos) {
		fprintf(stderr, "error: %s needs %d argument(s)\n", argv[0], npos);
		return -EINVAL;
	}
	return 0;
}

/* Writes the answer's user_data (it holds the join token: 0600, atomic) to
 * `path`; nothing when path is NULL.  Returns 0, or 1 after saying why. */
static int save_user_data(const char *path, json_t *answer)
{
	const char *ud = json_string_value(json_object_get(answer, "user_data"));
	int r;

	if (!path)
		return 0;
	if (!ud) {
		fprintf(stderr, "error: the answer holds no user_data\n");
		return 1;
	}
	r = write_string_atomic(path, ud, 0600);
	if (r < 0) {
		fprintf(stderr, "error: cannot write %s: %s\n", path, strerror(-r));
		return 1;
	}
	return 0;
}

static int nodes_add(const struct ctl_options *o, struct ctl_client *c, int argc, char **argv)
{
	static const struct option opts[] = { { "user-data-out", required_argument, NULL, 1 }, {} };
	const char *vals[32] = {}, *pos[1];
	_cleanup_json_ json_t *body = NULL, *node = NULL;
	_cleanup_free_ char *id = NULL, *name = NULL;
	const char *tok;

	if (sub_parse(argc, argv, opts, vals, 1, pos) < 0)
		return 2;
	body = json_pack("{s:s}", "name", pos[0]);
	if (!body || ctl_request(c, "POST", CAIRN_PATH_NODES, body, &node, NULL) < 0)
		return 1;
	tok = json_string_value(json_object_get(node, "join_token"));
	if (save_user_data(vals[1], node) != 0)
		return 1;
	if (o->output == CTL_OUTPUT_JSON) {
		ctl_print_json(node, stdout);
		return 0;
	}
	id = ctl_text(node, "id");
	name = ctl_text(node, "name");
	ctl_kv(stdout, 12, "id:", id);
	ctl_kv(stdout, 12, "name:", name);
	ctl_kv(stdout, 12, "join token:", tok);
	if (vals[1])
		ctl_kv(stdout, 12, "user-data:", vals[1]);
	fprintf(stderr, "The join token is shown only now; `cairnctl nodes user-data %s` makes a new one.\n",
		id ? id : "ID");
	return 0;
}

static int nodes_list(const struct ctl_options *o, struct ctl_client *c, int argc, char **argv)
{
	static const struct option opts[] = { {} };
	static const char *const headers[] = { "ID", "NAME", "STATE", "LAST SEEN", "CERT NOT AFTER", "SETTLED SEQ" };
	static const char *const keys[] = { "id", "name", "state", "last_seen_at", "cert_not_after", "settled_seq" };
	const char *vals[32] = {};
	_cleanup_json_ json_t *answer = NULL;

	if (sub_parse(argc, argv, opts, vals, 0, NULL) < 0)
		return 2;
	if (ctl_request(c, "GET", CAIRN_PATH_NODES, NULL, &answer, NULL) < 0)
		return 1;
	if (o->output == CTL_OUTPUT_JSON) {
		ctl_print_json(answer, stdout);
		return 0;
	}
	_Static_assert(ELEMENTSOF(headers) == ELEMENTSOF(keys), "one key per column");
	return ctl_print_rows(json_object_get(answer, "nodes"), ELEMENTSOF(keys), headers, keys, stdout) < 0;
}

static int nodes_show(const struct ctl_options *o, struct ctl_client *c, int argc, char **argv)
{
	static const struct option opts[] = { {} };
	static const char *const keys[] = { "id", "name", "state", "created_at", "enrolled_at", "last_seen_at",
					    "cert_serial", "cert_not_after", "settled_seq", "last_seq" };
	const char *vals[32] = {}, *pos[1];
	_cleanup_json_ json_t *node = NULL;
	_cleanup_free_ char *id = NULL, *path = NULL;
	json_t *facts;

	if (sub_parse(argc, argv, opts, vals, 1, pos) < 0)
		return 2;
	id = ctl_escape(c, pos[0]);
	if (!id || asprintf(&path, "%s/%s", CAIRN_PATH_NODES, id) < 0)
		return 1;
	if (ctl_request(c, "GET", path, NULL, &node, NULL) < 0)
		return 1;
	if (o->output == CTL_OUTPUT_JSON) {
		ctl_print_json(node, stdout);
		return 0;
	}
	for (size_t k = 0; k < ELEMENTSOF(keys); k++) {
		_cleanup_free_ char *v = ctl_text(node, keys[k]);
		char label[32];

		snprintf(label, sizeof(label), "%s:", keys[k]);
		ctl_kv(stdout, 16, label, v);
	}
	facts = json_object_get(node, "facts");
	if (json_is_object(facts)) {
		json_t *os = json_object_get(facts, "os");
		_cleanup_free_ char *pretty = ctl_text(os, "pretty_name"), *kernel = ctl_text(facts, "kernel"),
				    *arch = ctl_text(facts, "arch"), *cpus = ctl_text(facts, "cpus"),
				    *mem = ctl_text(facts, "memory_bytes"), *host = ctl_text(facts, "hostname");

		ctl_kv(stdout, 16, "hostname:", host);
		ctl_kv(stdout, 16, "os:", pretty);
		ctl_kv(stdout, 16, "kernel:", kernel);
		ctl_kv(stdout, 16, "arch:", arch);
		ctl_kv(stdout, 16, "cpus:", cpus);
		ctl_kv(stdout, 16, "memory_bytes:", mem);
		json_t *a, *addrs = json_object_get(facts, "addresses");
		size_t i;
		json_array_foreach(addrs, i, a) {
			_cleanup_free_ char *ifn = ctl_text(a, "ifname"), *ad = ctl_text(a, "address"),
					    *pl = ctl_text(a, "prefixlen");
			char line[512];

			snprintf(line, sizeof(line), "%s %s/%s", ifn ? ifn : "-", ad ? ad : "-", pl ? pl : "-");
			ctl_kv(stdout, 16, i == 0 ? "addresses:" : "", line);
		}
	}
	return 0;
}

static int nodes_revoke(const struct ctl_options *o, struct ctl_client *c, int argc, char **argv)
{
	static const struct option opts[] = { {} };
	const char *vals[32] = {}, *pos[1];
	_cleanup_json_ json_t *node = NULL;
	_cleanup_free_ char *id = NULL, *path = NULL, *state = NULL;

	if (sub_parse(argc, argv, opts, vals, 1, pos) < 0)
		return 2;
	id = ctl_escape(c, pos[0]);
	if (!id || asprintf(&path, "%s/%s/revoke", CAIRN_PATH_NODES, id) < 0)
		return 1;
	if (ctl_request(c, "POST", path, NULL, &node, NULL) < 0)
		return 1;
	if (o->output == CTL_OUTPUT_JSON) {
		ctl_print_json(node, stdout);
		return 0;
	}
	state = ctl_text(node, "state");
	printf("node %s: %s\n", pos[0], state ? state : "-");
	return 0;
}

static int nodes_user_data(const struct ctl_options *o, struct ctl_client *c, int argc, char **argv)
{
	static const struct option opts[] = { { "out", required_argument, NULL, 1 }, {} };
	const char *vals[32] = {}, *pos[1];
	_cleanup_json_ json_t *answer = NULL;
	_cleanup_free_ char *id = NULL, *path = NULL, *exp = NULL;
	const char *ud;

	if (sub_parse(argc, argv, opts, vals, 1, pos) < 0)
		return 2;
	id = ctl_escape(c, pos[0]);
	if (!id || asprintf(&path, "%s/%s/join-token", CAIRN_PATH_NODES, id) < 0)
		return 1;
	if (ctl_request(c, "POST", path, NULL, &answer, NULL) < 0)
		return 1;
	ud = json_string_value(json_object_get(answer, "user_data"));
	if (save_user_data(vals[1], answer) != 0)
		return 1;
	if (o->output == CTL_OUTPUT_JSON) {
		ctl_print_json(answer, stdout);
		return 0;
	}
	exp = ctl_text(answer, "expires_at");
	if (vals[1])
		printf("user-data written to %s (join token expires %s)\n", vals[1], exp ? exp : "-");
	else {
		/* user-data is a file for cloud-init: printed verbatim. */
		fputs(ud ? ud : "", stdout);
		if (ud && *ud && ud[strlen(ud) - 1] != '\n')
			fputc('\n', stdout);
		fprintf(stderr, "join token expires %s\n", exp ? exp : "-");
	}
	return 0;
}

int cmd_nodes(const struct ctl_options *o, struct ctl_client *c, int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(const struct ctl_options *, struct ctl_client *, int, char **);
	} subs[] = {
		{ "add", nodes_add },       { "list", nodes_list },           { "show", nodes_show },
		{ "revoke", nodes_revoke }, { "user-data", nodes_user_data },
	};

	if (argc < 2) {
		fprintf(stderr, "error: nodes: expected add, list, show, revoke or user-data\n");
		return 2;
	}
	for (size_t i = 0; i < ELEMENTSOF(subs); i++)
		if (streq(subs[i].name, argv[1]))
			return subs[i].fn(o, c, argc - 1, argv + 1);
	fprintf(stderr, "error: nodes: unknown command '%s'\n", argv[1]);
	return 2;
}
