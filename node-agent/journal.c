/*
 * journal.c: agent.json and journal/<jti>.json.  The files are small JSON
 * documents read with a size limit and JSON_REJECT_DUPLICATES; a file we
 * cannot understand stops recovery with an error instead of being guessed
 * at, because guessing could run a job twice.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "journal.h"
#include "macro.h"
#include "protocol.h"

struct journal {
	char *dir;        /* <state_dir>/journal */
	char *state_path; /* <state_dir>/agent.json */
};

static const char *const journal_state_names[_JOURNAL_STATE_MAX] = {
	[JOURNAL_ACCEPTED] = "accepted",
	[JOURNAL_RUNNING] = "running",
	[JOURNAL_DONE] = "done",
};

const char *journal_state_to_string(enum journal_state s)
{
	if (s < 0 || s >= _JOURNAL_STATE_MAX)
		return NULL;
	return journal_state_names[s];
}

enum journal_state journal_state_from_string(const char *s)
{
	if (!s)
		return _JOURNAL_STATE_INVALID;
	for (size_t i = 0; i < ELEMENTSOF(journal_state_names); i++)
		if (streq(journal_state_names[i], s))
			return (enum journal_state)i;
	return _JOURNAL_STATE_INVALID;
}

void agent_state_done(struct agent_state *st)
{
	if (!st)
		return;
	json_decref(st->epochs);
	st->epochs = NULL;
}

void journal_entry_done(struct journal_entry *e)
{
	if (!e)
		return;
	free(e->type);
	json_decref(e->result);
	free(e->jws);
	*e = (struct journal_entry){};
}

bool journal_entry_accepted(const struct journal_entry *e)
{
	const char *rs;

	if (e->state != JOURNAL_DONE)
		return true;
	rs = json_string_value(json_object_get(e->result, "state"));
	return !rs || !streq(rs, "rejected");
}

int journal_open(const char *state_dir, struct journal **ret)
{
	struct journal *j;
	int r;

	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->dir = path_join(state_dir, JOURNAL_DIR);
	j->state_path = path_join(state_dir, JOURNAL_STATE_FILE);
	if (!j->dir || !j->state_path) {
		journal_free(j);
		return -ENOMEM;
	}
	r = mkdir_p(j->dir, 0700);
	if (r < 0) {
		journal_free(j);
		return r;
	}
	*ret = j;
	return 0;
}

void journal_free(struct journal *j)
{
	if (!j)
		return;
	free(j->dir);
	free(j->state_path);
	free(j);
}

static json_t *journal_read_json(const char *path, size_t max, int *ret_error)
{
	_cleanup_free_ char *data = NULL;
	size_t len;
	json_t *v;
	int r;

	r = read_file_full(path, max, &data, &len);
	if (r < 0) {
		*ret_error = r;
		return NULL;
	}
	v = json_loadb(data, len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(v)) {
		json_decref(v);
		*ret_error = -EBADMSG;
		return NULL;
	}
	return v;
}

static int journal_write_json(const char *path, json_t *v)
{
	_cleanup_free_ char *s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);

	if (!s)
		return -ENOMEM;
	return write_string_atomic(path, s, 0600);
}

static bool json_get_seq(json_t *o, const char *key, int64_t *ret)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > CAIRN_SEQ_MAX)
		return false;
	*ret = json_integer_value(v);
	return true;
}

int journal_state_load(struct journal *j, struct agent_state *ret)
{
	_cleanup_json_ json_t *v = NULL;
	struct agent_state st = {};
	json_t *epochs, *e;
	const char *ds;
	int r = 0;

	v = journal_read_json(j->state_path, JOURNAL_STATE_FILE_MAX, &r);
	if (!v && r == -ENOENT) {
		st.epochs = json_object();
		if (!st.epochs)
			return -ENOMEM;
		*ret = st;
		return 0;
	}
	if (!v)
		return r;
	if (!json_get_seq(v, "accepted_seq", &st.accepted_seq) || !json_get_seq(v, "settled_seq", &st.settled_seq))
		return -EBADMSG;
	epochs = json_object_get(v, "epochs");
	if (!json_is_object(epochs) || json_object_size(epochs) > JOURNAL_EPOCHS_MAX)
		return -EBADMSG;
	json_object_foreach(epochs, ds, e)
		if (!json_is_integer(e) || json_integer_value(e) < 0)
			return -EBADMSG;
	st.epochs = json_incref(epochs);
	*ret = st;
	return 0;
}

int journal_state_save(struct journal *j, const struct agent_state *st)
{
	_cleanup_json_ json_t *v = NULL;

	v = json_pack("{s:I,s:I,s:O}", "accepted_seq", (json_int_t)st->accepted_seq, "settled_seq",
		      (json_int_t)st->settled_seq, "epochs", st->epochs);
	if (!v)
		return -ENOMEM;
	return journal_write_json(j->state_path, v);
}

static char *journal_entry_path(struct journal *j, const char *jti)
{
	char *p = NULL;

	if (!uuid_is_valid(jti))
		return NULL;
	if (asprintf(&p, "%s/%s.json", j->dir, jti) < 0)
		return NULL;
	return p;
}

bool journal_has(struct journal *j, const char *jti)
{
	_cleanup_free_ char *p = journal_entry_path(j, jti);

	return p && access(p, F_OK) == 0;
}

static bool json_get_time(json_t *o, const char *key, bool nullable, int64_t *ret)
{
	json_t *v = json_object_get(o, key);

	if (nullable && json_is_null(v)) {
		*ret = 0;
		return true;
	}
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return false;
	*ret = json_integer_value(v);
	return true;
}

int journal_entry_load(struct journal *j, const char *jti, struct journal_entry *ret)
{
	_cleanup_free_ char *path = journal_entry_path(j, jti);
	_cleanup_json_ json_t *v = NULL;
	struct journal_entry e = {};
	json_t *t, *res, *jws;
	int r = 0;

	if (!path)
		return uuid_is_valid(jti) ? -ENOMEM : -EINVAL;
	v = journal_read_json(path, JOURNAL_ENTRY_FILE_MAX, &r);
	if (!v)
		return r;
	if (!streq_ptr(json_string_value(json_object_get(v, "jti")), jti))
		return -EBADMSG;
	memcpy(e.jti, jti, UUID_STRING_MAX);
	if (!json_get_seq(v, "seq", &e.seq) || !json_get_time(v, "received_at", false, &e.received_at) ||
	    !json_get_time(v, "finished_at", true, &e.finished_at) ||
	    !json_is_boolean(json_object_get(v, "reported")))
		return -EBADMSG;
	e.reported = json_is_true(json_object_get(v, "reported"));
	e.state = journal_state_from_string(json_string_value(json_object_get(v, "state")));
	if (e.state < 0)
		return -EBADMSG;
	res = json_object_get(v, "result");
	if (e.state == JOURNAL_DONE ? !json_is_object(res) : !json_is_null(res))
		return -EBADMSG;
	t = json_object_get(v, "type");
	jws = json_object_get(v, "jws");
	if ((!json_is_null(t) && !json_is_string(t)) || (jws && !json_is_null(jws) && !json_is_string(jws)))
		return -EBADMSG;
	if (json_is_string(t)) {
		e.type = strdup(json_string_value(t));
		if (!e.type)
			return -ENOMEM;
	}
	if (json_is_string(jws)) {
		e.jws = strdup(json_string_value(jws));
		if (!e.jws) {
			journal_entry_done(&e);
			return -ENOMEM;
		}
	}
	e.result = json_incref(json_is_object(res) ? res : NULL);
	*ret = e;
	return 0;
}

int journal_entry_save(struct journal *j, const struct journal_entry *e)
{
	_cleanup_free_ char *path = journal_entry_path(j, e->jti);
	_cleanup_json_ json_t *v = NULL;

	if (!path)
		return -EINVAL;
	v = json_pack("{s:s,s:I,s:s?,s:s,s:O?,s:b,s:I,s:o,s:s?}", "jti", e->jti, "seq", (json_int_t)e->seq,
		      "type", e->type, "state", journal_state_to_string(e->state), "result", e->result,
		      "reported", e->reported, "received_at", (json_int_t)e->received_at, "finished_at",
		      e->finished_at > 0 ? json_integer(e->finished_at) : json_null(), "jws", e->jws);
	if (!v)
		return -ENOMEM;
	return journal_write_json(path, v);
}

/* Calls `cb` for every journal/<uuid>.json (at most JOURNAL_SCAN_MAX). */
static int journal_scan(struct journal *j, int (*cb)(struct journal *j, const char *jti, void *userdata),
			void *userdata)
{
	DIR *d;
	struct dirent *de;
	size_t n = 0;
	int r = 0;

	d = opendir(j->dir);
	if (!d)
		return -errno;
	while ((de = readdir(d)) && n < JOURNAL_SCAN_MAX) {
		char jti[UUID_STRING_MAX];
		size_t len = strlen(de->d_name);

		/* Skip everything else, write_file_atomic's temporaries too. */
		if (len != UUID_STRING_MAX - 1 + 5 || !streq(de->d_name + UUID_STRING_MAX - 1, ".json"))
			continue;
		memcpy(jti, de->d_name, UUID_STRING_MAX - 1);
		jti[UUID_STRING_MAX - 1] = 0;
		if (!uuid_is_valid(jti))
			continue;
		n++;
		r = cb(j, jti, userdata);
		if (r < 0)
			break;
	}
	closedir(d);
	return r;
}

struct recover_ctx {
	struct agent_state *st;
	bool (*idempotent)(const char *type);
	struct journal_step *steps;
	size_t n, alloc;
	size_t open;
	int64_t max_accepted;
};

static int recover_one(struct journal *j, const char *jti, void *userdata)
{
	struct recover_ctx *c = userdata;
	struct journal_entry e = {};
	enum journal_action action;
	bool act = true;
	int r;

	r = journal_entry_load(j, jti, &e);
	if (r < 0)
		return r;
	if (journal_entry_accepted(&e))
		c->max_accepted = MAX(c->max_accepted, e.seq);

	switch (e.state) {
	case JOURNAL_ACCEPTED:
		action = JOURNAL_ACTION_RUN;
		c->open++;
		break;
	case JOURNAL_RUNNING:
		if (c->idempotent && e.type && c->idempotent(e.type)) {
			action = JOURNAL_ACTION_RUN;
			c->open++;
			break;
		}
		/* It may have done part of its work: never run it again. */
		e.state = JOURNAL_DONE;
		e.result = json_pack("{s:s,s:s}", "state", "interrupted", "message",
				     "the agent stopped while the job was running");
		e.finished_at = now_s();
		e.reported = false;
		if (!e.result) {
			journal_entry_done(&e);
			return -ENOMEM;
		}
		r = journal_entry_save(j, &e);
		if (r < 0) {
			journal_entry_done(&e);
			return r;
		}
		action = JOURNAL_ACTION_REPORT;
		break;
	case JOURNAL_DONE:
	default:
		action = JOURNAL_ACTION_REPORT;
		act = !e.reported;
		break;
	}

	if (act) {
		if (c->n == c->alloc) {
			size_t a = MAX(c->alloc * 2, (size_t)16);
			struct journal_step *t = reallocarray(c->steps, a, sizeof(*t));

			if (!t) {
				journal_entry_done(&e);
				return -ENOMEM;
			}
			c->steps = t;
			c->alloc = a;
		}
		c->steps[c->n] = (struct journal_step){ .seq = e.seq, .action = action };
		memcpy(c->steps[c->n].jti, e.jti, UUID_STRING_MAX);
		c->n++;
	}
	journal_entry_done(&e);
	return 0;
}

static int step_cmp(const void *a, const void *b)
{
	const struct journal_step *x = a, *y = b;

	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	return strcmp(x->jti, y->jti);
}

int journal_recover(struct journal *j, struct agent_state *st, bool (*idempotent)(const char *type),
		    struct journal_step **ret, size_t *ret_n, size_t *ret_open)
{
	struct recover_ctx c = { .st = st, .idempotent = idempotent };
	int r;

	r = journal_scan(j, recover_one, &c);
	if (r < 0) {
		free(c.steps);
		return r;
	}
	if (c.max_accepted > st->accepted_seq) {
		st->accepted_seq = c.max_accepted;
		r = journal_state_save(j, st);
		if (r < 0) {
			free(c.steps);
			return r;
		}
	}
	if (c.n > 1)
		qsort(c.steps, c.n, sizeof(*c.steps), step_cmp);
	*ret = c.steps;
	*ret_n = c.n;
	if (ret_open)
		*ret_open = c.open;
	return 0;
}

struct prune_item {
	char jti[UUID_STRING_MAX];
	int64_t finished_at;
};

struct prune_ctx {
	struct prune_item *items;
	size_t n, alloc;
};

static int prune_collect(struct journal *j, const char *jti, void *userdata)
{
	struct prune_ctx *c = userdata;
	struct journal_entry e = {};
	int r;

	r = journal_entry_load(j, jti, &e);
	if (r < 0)
		return 0; /* not ours to judge here; recovery reports it */
	if (e.state == JOURNAL_DONE && e.reported) {
		if (c->n == c->alloc) {
			size_t a = MAX(c->alloc * 2, (size_t)64);
			struct prune_item *t = reallocarray(c->items, a, sizeof(*t));

			if (!t) {
				journal_entry_done(&e);
				return -ENOMEM;
			}
			c->items = t;
			c->alloc = a;
		}
		memcpy(c->items[c->n].jti, jti, UUID_STRING_MAX);
		c->items[c->n].finished_at = e.finished_at;
		c->n++;
	}
	journal_entry_done(&e);
	return 0;
}

static int prune_cmp(const void *a, const void *b)
{
	const struct prune_item *x = a, *y = b;

	/* Newest first. */
	if (x->finished_at != y->finished_at)
		return x->finished_at > y->finished_at ? -1 : 1;
	return strcmp(x->jti, y->jti);
}

int journal_prune(struct journal *j, int64_t now)
{
	struct prune_ctx c = {};
	_cleanup_close_ int dfd = -1;
	int removed = 0, r;

	r = journal_scan(j, prune_collect, &c);
	if (r < 0) {
		free(c.items);
		return r;
	}
	if (c.n > 1)
		qsort(c.items, c.n, sizeof(*c.items), prune_cmp);
	dfd = open(j->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		free(c.items);
		return -errno;
	}
	for (size_t i = 0; i < c.n; i++) {
		char name[UUID_STRING_MAX + 5];

		if (i < JOURNAL_KEEP_MAX && c.items[i].finished_at >= now - JOURNAL_KEEP_S)
			continue;
		snprintf(name, sizeof(name), "%s.json", c.items[i].jti);
		if (unlinkat(dfd, name, 0) == 0)
			removed++;
	}
	free(c.items);
	if (removed > 0 && fsync(dfd) < 0)
		return -errno;
	return removed;
}
