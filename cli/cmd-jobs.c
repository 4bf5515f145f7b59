/*
 * cmd-jobs.c: `cairnctl jobs list|show|watch|submit`.  `watch` polls
 * GET /v1/jobs/{id} once a second and prints a line for every change of
 * state (and every new event), so long operations show progress.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cmd-jobs.h"
#include "macro.h"
#include "output.h"
#include "protocol.h"
#include "util.h"

static int sub_parse(int argc, char **argv, const struct option *opts, const char **values, int npos,
		     const char **ret_pos)
{
	int c, n = 0;

	optind = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
		if (c == '?' || c < 0 || c >= 32)
			return -EINVAL;
		values[c] = optarg ? optarg : "";
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

static int opt_int(const char *name, const char *v, int64_t min, int64_t max, int64_t *ret)
{
	if (parse_int64(v, min, max, ret) < 0) {
		fprintf(stderr, "error: --%s: expected an integer in %" PRId64 "..%" PRId64 "\n", name, min, max);
		return -EINVAL;
	}
	return 0;
}

static int jobs_list(const struct ctl_options *o, struct ctl_client *c, int argc, char **argv)
{
	static const struct option opts[] = { { "node", required_argument, NULL, 1 },
					      { "state", required_argument, NULL, 2 },
					      { "limit", required_argument, NULL, 3 },
					      {} };
	static const char *const headers[] = { "ID", "NODE", "TYPE", "STATE", "ATTEMPT", "UPDATED", "MESSAGE" };
	static const char *const keys[] = { "id", "node_id", "type", "state", "attempt", "updated_at", "message" };
	const char *vals[32] = {};
	_cleanup_json_ json_t *answer = NULL;
	_cleanup_free_ char *path = NULL;
	int64_t limit = 0;

	if (sub_parse(argc, argv, opts, vals, 0, NULL) < 0)
		return 2;
	if (vals[3] && opt_int("limit", vals[3], 1, 500, &limit) < 0)
		return 2;
	if (vals[2] && cairn_job_state_from_string(vals[2]) < 0) {
		fprintf(stderr, "error: --state: unknown job state '%s'\n", vals[2]);
		return 2;
	}
	{
		_cleanup_free_ char *node = vals[1] ? ctl_escape(c, vals[1]) : NULL;
		char lim[32] = "";

		if (vals[1] && !node)
			return 1;
		if (limit > 0)
			snprintf(lim, sizeof(lim), "%" PRId64, limit);
		/* Only the filters given: an empty value is not "any". */
		const char *names[] = { "node", "state", "limit" };
		const char *values[] = { node, vals[2], lim[0] ? lim : NULL };
		char q[512] = "";
		size_t n = 0;

		for (size_t k = 0; k < ELEMENTSOF(names); k++) {
			if (!values[k] || n >= sizeof(q))
				continue;
			n += (size_t)snprintf(q + n, sizeof(q) - n, "%c%s=%s", n ? '&' : '?', names[k], values[k]);
		}
		if (n >= sizeof(q)) {
			fprintf(stderr, "error: filters too long\n");
			return 2;
		}
		if (asprintf(&path, "%s%s", CAIRN_PATH_JOBS, q) < 0)
			return 1;
	}
	if (ctl_request(c, "GET", path, NULL, &answer, NULL) < 0)
		return 1;
	if (o->output == CTL_OUTPUT_JSON) {
		ctl_print_json(answer, stdout);
		return 0;
	}
	_Static_assert(ELEMENTSOF(headers) == ELEMENTSOF(keys), "one key per column");
	return ctl_print_rows(json_object_get(answer, "jobs"), ELEMENTSOF(keys), headers, keys, stdout) < 0;
}

static int jobs_get(struct ctl_client *c, const char *id, json_t **ret)
{
	_cleanup_free_ char *e = ctl_escape(c, id), *path = NULL;

	if (!e || asprintf(&path, "%s/%s", CAIRN_PATH_JOBS, e) < 0)
		return -ENOMEM;
	return ctl_request(c, "GET", path, NULL, ret, NULL);
}

static void jobs_print(json_t *job)
{
	static const char *const keys[] = { "id", "node_id", "type", "state", "attempt", "max_attempts",
					    "idempotent", "ds", "epoch", "created_at", "updated_at",
					    "finished_at", "next_attempt_at", "message", "params", "output" };
	json_t *v;
	size_t i;

	for (size_t k = 0; k < ELEMENTSOF(keys); k++) {
		_cleanup_free_ char *s = ctl_text(job, keys[k]);
		char label[32];

		snprintf(label, sizeof(label), "%s:", keys[k]);
		ctl_kv(stdout, 17, label, s);
	}
	if (json_array_size(json_object_get(job, "attempts")) > 0) {
		static const char *const h[] = { "N", "JTI", "SEQ", "STATE", "SENT", "FINISHED", "MESSAGE" };
		static const char *const ak[] = { "n", "jti", "seq", "state", "sent_at", "finished_at", "message" };
		_cleanup_ctl_table_ struct ctl_table *t = ctl_table_new(ELEMENTSOF(h), h);

		printf("\nattempts:\n");
		json_array_foreach(json_object_get(job, "attempts"), i, v) {
			char *cells[ELEMENTSOF(ak)];

			for (size_t k = 0; k < ELEMENTSOF(ak); k++)
				cells[k] = ctl_text(v, ak[k]);
			if (t)
				(void)ctl_table_add(t, (const char *const *)cells);
			for (size_t k = 0; k < ELEMENTSOF(ak); k++)
				free(cells[k]);
		}
		if (t)
			ctl_table_print(t, stdout);
	}
	if (json_array_size(json_object_get(job, "events")) > 0) {
		printf("\nevents:\n");
		json_array_foreach(json_object_get(job, "events"), i, v) {
			_cleanup_free_ char *at = ctl_text(v, "at"), *kind = ctl_text(v, "kind"),
					    *msg = ctl_text(v, "message");

			printf("  %s  %-8s %s\n", at ? at : "-", kind ? kind : "-", msg ? msg : "");
		}
	}
}

static int jobs_show(const struct ctl_options *o, struct ctl_client *c, int argc, char **argv)
{
	static const struct option opts[] = { {} };
	const char *vals[32] = {}, *pos[1];
	_cleanup_json_ json_t *job = NULL;

	if (sub_parse(argc, argv, opts, vals, 1, pos) < 0)
		return 2;
	if (jobs_get(c, pos[0], &job) < 0)
		return 1;
	if (o->output == CTL_OUTPUT_JSON)
		ctl_print_json(job, stdout);
	else
		jobs_print(job);
	return 0;
}

char *cmd_jobs_watch_line(json_t *job)
{
	_cleanup_free_ char *state = ctl_text(job, "state"), *attempt = ctl_text(job, "attempt"),
			    *msg = ctl_text(job, "message"), *at = ctl_text(job, "updated_at");
	char *line = NULL;
	bool has_msg = msg && !streq(msg, "-");

	if (asprintf(&line, "%s  %-11s attempt %s%s%s", at ? at : "-", state ? state : "-", attempt ? attempt : "-",
		     has_msg ? "  " : "", has_msg ? msg : "") < 0)
		return NULL;
	return line;
}

static int jobs_watch_id(const struct ctl_options *o, struct ctl_client *c, const char *id, int64_t timeout_s)
{
	_cleanup_free_ char *last = NULL;
	int64_t deadline = now_mono_ms() + timeout_s * 1000;
	size_t events_seen = 0;

	for (;;) {
		_cleanup_json_ json_t *job = NULL;
		const char *state;
		enum cairn_job_state s;
		json_t *events, *ev;
		size_t i;

		if (jobs_get(c, id, &job) < 0)
			return 1;
		state = json_string_value(json_object_get(job, "state"));
		s = cairn_job_state_from_string(state);
		if (o->output == CTL_OUTPUT_JSON) {
			if (!last || !streq_ptr(last, state)) {
				json_dumpf(job, stdout, JSON_COMPACT);
				fputc('\n', stdout);
			}
		} else {
			_cleanup_free_ char *line = cmd_jobs_watch_line(job);

			events = json_object_get(job, "events");
			json_array_foreach(events, i, ev) {
				if (i < events_seen)
					continue;
				_cleanup_free_ char *at = ctl_text(ev, "at"), *kind = ctl_text(ev, "kind"),
						    *msg = ctl_text(ev, "message");
				printf("%s  event %-8s %s\n", at ? at : "-", kind ? kind : "-",
				       msg && !streq(msg, "-") ? msg : "");
			}
			events_seen = MAX(events_seen, json_array_size(events));
			if (line && (!last || !streq_ptr(last, state)))
				printf("%s\n", line);
		}
		fflush(stdout);
		free(last);
		last = state ? strdup(state) : NULL;
		if (s >= 0 && cairn_job_state_is_final(s))
			return s == CAIRN_JOB_SUCCEEDED ? 0 : 1;
		if (now_mono_ms() >= deadline) {
			fprintf(stderr, "error: job %s not final after %" PRId64 " s (state %s)\n", id, timeout_s,
				state ? state : "?");
			return CTL_EXIT_TIMEOUT;
		}
		nanosleep(&(struct timespec){ .tv_sec = CTL_WATCH_INTERVAL_MS / 1000,
					      .tv_nsec = (CTL_WATCH_INTERVAL_MS % 1000) * 1000000L },
			  NULL);
	}
}

static int jobs_watch(const struct ctl_options *o, struct ctl_client *c, int argc, char **argv)
{
	static const struct option opts[] = { { "timeout", required_argument, NULL, 1 }, {} };
	const char *vals[32] = {}, *pos[1];
	int64_t timeout = CTL_WATCH_TIMEOUT_DEFAULT_S;

	if (sub_parse(argc, argv, opts, vals, 1, pos) < 0)
		return 2;
	if (vals[1] && opt_int("timeout", vals[1], 1, 7 * 86400, &timeout) < 0)
		return 2;
	return jobs_watch_id(o, c, pos[0], timeout);
}

static int jobs_submit(const struct ctl_options *o, struct ctl_client *c, int argc, char **argv)
{
	static const struct option opts[] = { { "params", required_argument, NULL, 1 },
					      { "ttl", required_argument, NULL, 2 },
					      { "timeout", required_argument, NULL, 3 },
					      { "max-attempts", required_argument, NULL, 4 },
					      { "watch", no_argument, NULL, 5 },
					      { "watch-timeout", required_argument, NULL, 6 },
					      {} };
	const char *vals[32] = {}, *pos[2];
	_cleanup_json_ json_t *body = NULL, *job = NULL;
	_cleanup_free_ char *node = NULL, *path = NULL, *id = NULL;
	int64_t v, wt = CTL_WATCH_TIMEOUT_DEFAULT_S;

	if (sub_parse(argc, argv, opts, vals, 2, pos) < 0)
		return 2;
	body = json_pack("{s:s}", "type", pos[1]);
	if (!body)
		return 1;
	if (vals[1]) {
		json_error_t err;
		json_t *p = json_loads(vals[1], JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);

		if (!json_is_object(p)) {
			json_decref(p);
			fprintf(stderr, "error: --params: expected a JSON object\n");
			return 2;
		}
		json_object_set_new(body, "params", p);
	}
	if (vals[2]) {
		if (opt_int("ttl", vals[2], 60, 86400, &v) < 0)
			return 2;
		json_object_set_new(body, "ttl_s", json_integer(v));
	}
	if (vals[3]) {
		if (opt_int("timeout", vals[3], 1, 86400, &v) < 0)
			return 2;
		json_object_set_new(body, "timeout_s", json_integer(v));
	}
	if (vals[4]) {
		if (opt_int("max-attempts", vals[4], 1, 20, &v) < 0)
			return 2;
		json_object_set_new(body, "max_attempts", json_integer(v));
	}
	if (vals[6] && opt_int("watch-timeout", vals[6], 1, 7 * 86400, &wt) < 0)
		return 2;
	node = ctl_escape(c, pos[0]);
	if (!node || asprintf(&path, "%s/%s/jobs", CAIRN_PATH_NODES, node) < 0)
		return 1;
	if (ctl_request(c, "POST", path, body, &job, NULL) < 0)
		return 1;
	if (o->output == CTL_OUTPUT_JSON && !vals[5])
		ctl_print_json(job, stdout);
	else if (o->output == CTL_OUTPUT_TEXT) {
		id = ctl_text(job, "id");
		printf("%s\n", id ? id : "-");
		fflush(stdout);
	}
	if (vals[5]) {
		const char *jid = json_string_value(json_object_get(job, "id"));

		if (!jid) {
			fprintf(stderr, "error: the answer holds no job id\n");
			return 1;
		}
		return jobs_watch_id(o, c, jid, wt);
	}
	return 0;
}

int cmd_jobs(const struct ctl_options *o, struct ctl_client *c, int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(const struct ctl_options *, struct ctl_client *, int, char **);
	} subs[] = {
		{ "list", jobs_list },
		{ "show", jobs_show },
		{ "watch", jobs_watch },
		{ "submit", jobs_submit },
	};

	if (argc < 2) {
		fprintf(stderr, "error: jobs: expected list, show, watch or submit\n");
		return 2;
	}
	for (size_t i = 0; i < ELEMENTSOF(subs); i++)
		if (streq(subs[i].name, argv[1]))
			return subs[i].fn(o, c, argc - 1, argv + 1);
	fprintf(stderr, "error: jobs: unknown command '%s'\n", argv[1]);
	return 2;
}
