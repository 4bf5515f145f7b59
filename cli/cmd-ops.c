/*
 * cmd-ops.c: `cairnctl op show|watch|list|retry`.  Operations have no long
 * poll: `watch` asks GET /v1/operations/<id> once a second and prints one
 * line per step whose state changed, naming the step's node by its member
 * name (looked up in the datastore, again when a new node shows up).  A
 * Ctrl-C stops the watching, never the operation.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cmd-datastores.h"
#include "cmd-jobs.h"
#include "cmd-ops.h"
#include "macro.h"
#include "output.h"
#include "protocol.h"
#include "util.h"

#define OPS_TIMEOUT_MAX_S (7 * 24 * 3600)

int ops_args_parse(int argc, char **argv, struct ops_args *ret)
{
	static const struct option opts[] = {
		{ "datastore", required_argument, NULL, 'd' },
		{ "timeout", required_argument, NULL, 't' },
		{ "wait", no_argument, NULL, 'w' },
		{},
	};
	struct ops_args a = {};
	const char *allowed;
	int c, npos;

	if (argc < 1) {
		fprintf(stderr, "error: op: expected show, watch, list or retry\n");
		return -EINVAL;
	}
	if (streq(argv[0], "show"))
		a.cmd = OPS_SHOW, allowed = "", npos = 1;
	else if (streq(argv[0], "watch"))
		a.cmd = OPS_WATCH, allowed = "t", npos = 1;
	else if (streq(argv[0], "list"))
		a.cmd = OPS_LIST, allowed = "d", npos = 0;
	else if (streq(argv[0], "retry"))
		a.cmd = OPS_RETRY, allowed = "w", npos = 1;
	else {
		fprintf(stderr, "error: op: unknown command '%s' (show, watch, list, retry)\n", argv[0]);
		return -EINVAL;
	}

	optind = 0;
	opterr = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
		if (c == '?')
			return -EINVAL;
		if (!strchr(allowed, c)) {
			fprintf(stderr, "error: op %s does not take %s\n", argv[0], argv[optind - 1]);
			return -EINVAL;
		}
		switch (c) {
		case 'd':
			a.datastore = optarg;
			break;
		case 't':
			if (parse_int64(optarg, 0, OPS_TIMEOUT_MAX_S, &a.timeout_s) < 0) {
				fprintf(stderr, "error: --timeout: expected seconds in 0..%d\n", OPS_TIMEOUT_MAX_S);
				return -EINVAL;
			}
			break;
		case 'w':
			a.wait = true;
			break;
		}
	}
	if (argc - optind != npos) {
		fprintf(stderr, "error: op %s takes %s\n", argv[0], npos ? "one operation id" : "no argument");
		return -EINVAL;
	}
	if (npos)
		a.id = argv[optind];
	*ret = a;
	return 0;
}

static const char *step_message(json_t *step)
{
	const char *m = json_string_value(json_object_get(step, "message"));

	if (!m || !*m)
		m = json_string_value(json_object_get(json_object_get(step, "job"), "message"));
	return m && *m ? m : NULL;
}

char *ops_step_line(json_t *step, size_t pos, size_t total, const char *member)
{
	_cleanup_free_ char *name = ctl_text(step, "name"), *state = ctl_text(step, "state"), *msg = NULL;
	json_t *idx = json_object_get(step, "index");
	const char *m = step_message(step);
	char *line = NULL;

	if (!name || !state)
		return NULL;
	if (m && streq(state, "failed")) {
		json_t *tmp = json_pack("{s:s}", "m", m);

		msg = tmp ? ctl_text(tmp, "m") : NULL; /* cleaned of control characters */
		json_decref(tmp);
	}
	if (asprintf(&line, "[%" JSON_INTEGER_FORMAT "/%zu] %s%s%s: %s%s%s",
		     json_is_integer(idx) ? json_integer_value(idx) + 1 : (json_int_t)pos + 1, total, name,
		     member ? " on " : "", member ? member : "", state, msg ? ": " : "", msg ? msg : "") < 0)
		return NULL;
	return line;
}

/* node id -> member name of datastore `ds_id`, as an object (empty when the
 * datastore cannot be read: the lines then show node ids). */
static json_t *member_map(struct ctl_client *c, const char *ds_id)
{
	_cleanup_json_ json_t *ds = NULL;
	_cleanup_free_ char *esc = NULL, *path = NULL;
	json_t *map = json_object(), *m;
	size_t i;

	if (!map || !ds_id)
		return map;
	esc = ctl_escape(c, ds_id);
	if (!esc || asprintf(&path, "%s/%s", CAIRN_PATH_DATASTORES, esc) < 0)
		return map;
	if (ctl_request(c, "GET", path, NULL, &ds, NULL) < 0)
		return map;
	json_array_foreach(json_object_get(ds, "members"), i, m) {
		const char *id = json_string_value(json_object_get(m, "node_id"));
		const char *name = json_string_value(json_object_get(m, "name"));

		if (id && name)
			json_object_set_new(map, id, json_string(name));
	}
	return map;
}

/* The member name for a step's node: the step's own `member` when the API
 * gives a name, else the map by node id, else "#<ordinal>" when the API
 * gives only the ordinal, else the node id.  Points into the JSON or buf. */
static const char *step_member(json_t *step, json_t *map, char *buf, size_t size)
{
	const char *node = json_string_value(json_object_get(step, "node_id")), *n;
	json_t *m = json_object_get(step, "member");

	n = json_string_value(m);
	if (!n && node)
		n = json_string_value(json_object_get(map, node));
	if (!n && json_is_integer(m)) {
		snprintf(buf, size, "#%" JSON_INTEGER_FORMAT, json_integer_value(m));
		n = buf;
	}
	return n ? n : node;
}

/* GET the operation.  The HTTP status (0: transport error) goes to
 * *ret_status when non-NULL. */
static int ops_get(struct ctl_client *c, const char *id, json_t **ret, long *ret_status)
{
	_cleanup_free_ char *esc = ctl_escape(c, id), *path = NULL;

	if (!esc || asprintf(&path, "%s/%s", CAIRN_PATH_OPERATIONS, esc) < 0)
		return -ENOMEM;
	return ctl_request(c, "GET", path, NULL, ret, ret_status);
}

static volatile sig_atomic_t ops_interrupted;

static void ops_on_sigint(int sig)
{
	(void)sig;
	ops_interrupted = 1;
}

static bool map_misses(json_t *steps, json_t *map)
{
	json_t *s;
	size_t i;

	json_array_foreach(steps, i, s) {
		const char *node = json_string_value(json_object_get(s, "node_id"));

		if (node && !json_object_get(map, node) && !json_is_string(json_object_get(s, "member")))
			return true;
	}
	return false;
}

static void print_result(FILE *f, json_t *op, json_t *map)
{
	_cleanup_free_ char *id = ctl_text(op, "id"), *kind = ctl_text(op, "kind"), *state = ctl_text(op, "state"),
			    *msg = ctl_text(op, "message");
	json_t *steps = json_object_get(op, "steps"), *s;
	size_t i;

	if (streq_ptr(state, "succeeded")) {
		fprintf(f, "operation %s (%s) succeeded\n", id, kind);
		return;
	}
	fprintf(f, "operation %s (%s) %s%s%s\n", id, kind, state, msg && !streq(msg, "-") ? ": " : "",
		msg && !streq(msg, "-") ? msg : "");
	json_array_foreach(steps, i, s) {
		if (!streq_ptr(json_string_value(json_object_get(s, "state")), "failed"))
			continue;
		char buf[32];
		_cleanup_free_ char *line =
			ops_step_line(s, i, json_array_size(steps), step_member(s, map, buf, sizeof(buf)));
		fprintf(f, "  failed step %s\n", line ? line : "?");
	}
	if (streq_ptr(state, "failed"))
		fprintf(f, "fix the cause, then `cairnctl op retry %s`\n", id);
}

int ops_watch(struct ctl_client *c, const char *id, int64_t timeout_s, FILE *progress, json_t **ret_op)
{
	_cleanup_json_ json_t *prev = NULL, *map = NULL, *op = NULL;
	struct sigaction sa = { .sa_handler = ops_on_sigint }, old_int, old_term;
	int64_t deadline = timeout_s > 0 ? now_mono_ms() + timeout_s * 1000 : INT64_MAX;
	unsigned errors = 0;
	int r = 1;

	ops_interrupted = 0;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	for (;;) {
		_cleanup_json_ json_t *cur = NULL;
		json_t *steps, *s;
		const char *state;
		size_t i;

		if (ops_interrupted) {
			fprintf(stderr, "interrupted: operation %s goes on in the controller; "
					"`cairnctl op watch %s` follows it again\n", id, id);
			break;
		}
		long status = 0;

		if (ops_get(c, id, &cur, &status) < 0) {
			/* 4xx (unknown id, bad token) will not get better; a
			 * restarting controller (no answer, 5xx) may. */
			if (status >= 400 && status < 500)
				break;
			if (++errors >= OPS_WATCH_ERRORS_MAX) {
				fprintf(stderr, "error: giving up on operation %s after %u failed polls\n", id, errors);
				break;
			}
			goto sleep;
		}
		errors = 0;
		steps = json_object_get(cur, "steps");
		if (!map)
			map = member_map(c, json_string_value(json_object_get(cur, "datastore")));
		else if (map_misses(steps, map)) {
			json_decref(map);
			map = member_map(c, json_string_value(json_object_get(cur, "datastore")));
		}
		json_array_foreach(steps, i, s) {
			json_t *p = json_array_get(json_object_get(prev, "steps"), i);
			const char *now_state = json_string_value(json_object_get(s, "state"));

			if (p && streq_ptr(now_state, json_string_value(json_object_get(p, "state"))))
				continue;
			if (!p && streq_ptr(now_state, "pending"))
				continue; /* not news */
			char buf[32];
			_cleanup_free_ char *line =
				ops_step_line(s, i, json_array_size(steps), step_member(s, map, buf, sizeof(buf)));
			if (line)
				fprintf(progress, "%s\n", line);
		}
		fflush(progress);
		json_decref(prev);
		prev = json_incref(cur);
		json_decref(op);
		op = json_incref(cur);
		state = json_string_value(json_object_get(cur, "state"));
		if (streq_ptr(state, "succeeded") || streq_ptr(state, "failed")) {
			print_result(progress, cur, map);
			r = streq(state, "succeeded") ? 0 : 1;
			break;
		}
sleep:
		if (now_mono_ms() >= deadline) {
			state = json_string_value(json_object_get(op, "state"));
			fprintf(stderr, "error: operation %s still %s after %" PRId64 " s; it goes on in the controller\n",
				id, state ? state : "unknown", timeout_s);
			r = CTL_EXIT_TIMEOUT;
			break;
		}
		struct timespec ts = { OPS_WATCH_INTERVAL_MS / 1000, (OPS_WATCH_INTERVAL_MS % 1000) * 1000000L };
		(void)nanosleep(&ts, NULL);
	}
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	fflush(progress);
	if (ret_op)
		*ret_op = TAKE_PTR(op);
	return r;
}

static char *progress_text(json_t *op)
{
	json_t *p = json_object_get(op, "progress");
	char *s = NULL;

	if (!json_is_object(p))
		return strdup("-");
	if (asprintf(&s, "%" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT,
		     json_integer_value(json_object_get(p, "done")), json_integer_value(json_object_get(p, "total"))) < 0)
		return NULL;
	return s;
}

static int ops_show(const struct ctl_options *o, struct ctl_client *c, const struct ops_args *a)
{
	static const char *const keys[] = { "id", "datastore", "kind", "state", "created_at", "finished_at", "message" };
	static const char *const headers[] = { "#", "STEP", "KIND", "NODE", "STATE", "JOB", "MESSAGE" };
	_cleanup_json_ json_t *op = NULL, *map = NULL;
	_cleanup_ctl_table_ struct ctl_table *t = NULL;
	_cleanup_free_ char *prog = NULL;
	json_t *s;
	size_t i;

	if (ops_get(c, a->id, &op, NULL) < 0)
		return 1;
	if (o->output == CTL_OUTPUT_JSON) {
		ctl_print_json(op, stdout);
		return 0;
	}
	for (i = 0; i < ELEMENTSOF(keys); i++) {
		_cleanup_free_ char *v = ctl_text(op, keys[i]);
		char label[32];

		snprintf(label, sizeof(label), "%s:", keys[i]);
		ctl_kv(stdout, 13, label, v);
	}
	prog = progress_text(op);
	ctl_kv(stdout, 13, "progress:", prog);
	map = member_map(c, json_string_value(json_object_get(op, "datastore")));
	t = ctl_table_new(ELEMENTSOF(headers), headers);
	if (!t)
		return 1;
	json_array_foreach(json_object_get(op, "steps"), i, s) {
		_cleanup_free_ char *name = ctl_text(s, "name"), *kind = ctl_text(s, "kind"),
				    *state = ctl_text(s, "state"), *job = ctl_text(s, "job_id"), *num = NULL;
		const char *msg = step_message(s);
		char buf[32];

		if (asprintf(&num, "%zu", i + 1) < 0)
			return 1;
		const char *cells[] = { num, name, kind, step_member(s, map, buf, sizeof(buf)), state, job, msg };
		if (ctl_table_add(t, cells) < 0)
			return 1;
	}
	fputc('\n', stdout);
	ctl_table_print(t, stdout);
	return 0;
}

static int ops_list(const struct ctl_options *o, struct ctl_client *c, const struct ops_args *a)
{
	static const char *const headers[] = { "ID", "DATASTORE", "KIND", "STATE", "PROGRESS", "CREATED", "FINISHED", "MESSAGE" };
	_cleanup_json_ json_t *answer = NULL;
	_cleanup_ctl_table_ struct ctl_table *t = NULL;
	_cleanup_free_ char *ds = NULL, *esc = NULL, *path = NULL;
	json_t *op;
	size_t i;

	if (a->datastore) {
		if (ds_resolve_id(c, a->datastore, &ds) < 0)
			return 1;
		esc = ctl_escape(c, ds);
		if (!esc || asprintf(&path, "%s?datastore=%s", CAIRN_PATH_OPERATIONS, esc) < 0)
			return 1;
	} else if (!(path = strdup(CAIRN_PATH_OPERATIONS)))
		return 1;
	if (ctl_request(c, "GET", path, NULL, &answer, NULL) < 0)
		return 1;
	if (o->output == CTL_OUTPUT_JSON) {
		ctl_print_json(answer, stdout);
		return 0;
	}
	t = ctl_table_new(ELEMENTSOF(headers), headers);
	if (!t)
		return 1;
	json_array_foreach(json_object_get(answer, "operations"), i, op) {
		_cleanup_free_ char *id = ctl_text(op, "id"), *d = ctl_text(op, "datastore"), *k = ctl_text(op, "kind"),
				    *st = ctl_text(op, "state"), *p = progress_text(op), *cr = ctl_text(op, "created_at"),
				    *fi = ctl_text(op, "finished_at"), *m = ctl_text(op, "message");
		const char *cells[] = { id, d, k, st, p, cr, fi, m };

		if (ctl_table_add(t, cells) < 0)
			return 1;
	}
	ctl_table_print(t, stdout);
	return 0;
}

/* Prints the final operation as JSON (for --output json) after a watch. */
static int finish_watch(const struct ctl_options *o, int r, json_t *op)
{
	if (o->output == CTL_OUTPUT_JSON && op)
		ctl_print_json(op, stdout);
	return r;
}

static int ops_retry(const struct ctl_options *o, struct ctl_client *c, const struct ops_args *a)
{
	_cleanup_free_ char *esc = ctl_escape(c, a->id), *path = NULL, *id = NULL, *state = NULL;
	_cleanup_json_ json_t *op = NULL, *final = NULL;
	int r;

	if (!esc || asprintf(&path, "%s/%s/retry", CAIRN_PATH_OPERATIONS, esc) < 0)
		return 1;
	if (ctl_request(c, "POST", path, NULL, &op, NULL) < 0)
		return 1;
	if (!a->wait) {
		if (o->output == CTL_OUTPUT_JSON)
			ctl_print_json(op, stdout);
		else {
			id = ctl_text(op, "id");
			state = ctl_text(op, "state");
			printf("operation %s retried: %s\n", id, state);
		}
		return 0;
	}
	r = ops_watch(c, a->id, 0, o->output == CTL_OUTPUT_JSON ? stderr : stdout, &final);
	return finish_watch(o, r, final);
}

int cmd_ops(const struct ctl_options *o, struct ctl_client *c, int argc, char **argv)
{
	struct ops_args a;
	_cleanup_json_ json_t *final = NULL;
	int r;

	if (ops_args_parse(argc - 1, argv + 1, &a) < 0)
		return 2;
	switch (a.cmd) {
	case OPS_SHOW:
		return ops_show(o, c, &a);
	case OPS_WATCH:
		r = ops_watch(c, a.id, a.timeout_s, o->output == CTL_OUTPUT_JSON ? stderr : stdout, &final);
		return finish_watch(o, r, final);
	case OPS_LIST:
		return ops_list(o, c, &a);
	case OPS_RETRY:
		return ops_retry(o, c, &a);
	}
	return 2;
}
