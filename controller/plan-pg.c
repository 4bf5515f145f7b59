/*
 * plan-pg.c: PostgreSQL plans and job params (docs/datastores.md "Plans",
 * "Jobs").  Nothing here touches the store or the clock: plans come from
 * counts and ordinals, params from rows, so tests pin both down exactly.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "plan-pg.h"
#include "protocol.h"
#include "util.h"

void plan_done(struct plan *p)
{
	if (!p)
		return;
	store_step_array_free(p->steps, p->n);
	memset(p, 0, sizeof(*p));
}

/* Appends a step; `deps` are step indexes terminated by -1.  `args` is
 * stolen (NULL: {}).  Returns the new index or -errno. */
static int add(struct plan *p, const char *name, const char *kind, int ordinal, json_t *args,
	       const int *deps, size_t n_deps)
{
	_cleanup_json_ json_t *a = args ?: json_object(), *d = json_array();
	struct store_step st = {};

	if (!a || !d)
		return -ENOMEM;
	if (p->n >= PLAN_STEPS_MAX)
		return -E2BIG;
	for (size_t i = 0; i < n_deps; i++) {
		if (deps[i] < 0 || (size_t)deps[i] >= p->n)
			return -EINVAL;
		if (json_array_append_new(d, json_integer(deps[i])) < 0)
			return -ENOMEM;
	}
	if (p->n == p->cap) {
		size_t ncap = p->cap ? p->cap * 2 : 16;
		struct store_step *t = reallocarray(p->steps, ncap, sizeof(*t));
		if (!t)
			return -ENOMEM;
		p->steps = t;
		p->cap = ncap;
	}
	st.idx = (int)p->n;
	st.name = strdup(name);
	st.kind = strdup(kind);
	st.member_ordinal = ordinal;
	st.deps = json_dumps(d, JSON_COMPACT);
	st.args = json_dumps(a, JSON_COMPACT | JSON_SORT_KEYS);
	st.state = strdup("pending");
	if (!st.name || !st.kind || !st.deps || !st.args || !st.state) {
		store_step_done(&st);
		return -ENOMEM;
	}
	p->steps[p->n] = st;
	return (int)p->n++;
}

#define DEPS(...) ((const int[]){ __VA_ARGS__ }), (sizeof((const int[]){ __VA_ARGS__ }) / sizeof(int))
#define NODEPS NULL, 0

static int add_job(struct plan *p, const char *type, int ordinal, json_t *args, const int *deps,
		   size_t n_deps)
{
	return add(p, type, "job", ordinal, args, deps, n_deps);
}

static int add_tls(struct plan *p, const char *cert, int ordinal, int dep)
{
	return add_job(p, "tls.issue", ordinal, json_pack("{s:s}", "cert", cert), DEPS(dep));
}

/* An int array that grows; returns -ENOMEM on failure. */
struct ints {
	int *v;
	size_t n;
};

static int ints_push(struct ints *a, int x)
{
	int *t = reallocarray(a->v, a->n + 1, sizeof(int));
	if (!t)
		return -ENOMEM;
	a->v = t;
	a->v[a->n++] = x;
	return 0;
}

static json_t *ordinals_json(const int *o, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++)
		if (json_array_append_new(a, json_integer(o[i])) < 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

static json_t *finish_args(const char *ds_state, const int *ready, size_t n_ready, const int *removed,
			   size_t n_removed)
{
	return json_pack("{s:s, s:o, s:o}", "ds_state", ds_state, "ready", ordinals_json(ready, n_ready),
			 "removed", ordinals_json(removed, n_removed));
}

/* Per new member: provision → pkg → tls server, repl, exporter. */
struct member_steps {
	int provision, pkg, tls_server, tls_repl, tls_exporter, pg, exporter;
};

static int add_member_prefix(struct plan *p, int ordinal, struct member_steps *m)
{
	int r;
	if ((r = add(p, PLAN_STEP_PROVISION, "provision", ordinal, NULL, NODEPS)) < 0)
		return r;
	m->provision = r;
	if ((r = add_job(p, "pkg.install", ordinal, NULL, DEPS(m->provision))) < 0)
		return r;
	m->pkg = r;
	if ((r = add_tls(p, "server", ordinal, m->pkg)) < 0)
		return r;
	m->tls_server = r;
	if ((r = add_tls(p, "repl", ordinal, m->pkg)) < 0)
		return r;
	m->tls_repl = r;
	if ((r = add_tls(p, "exporter", ordinal, m->pkg)) < 0)
		return r;
	m->tls_exporter = r;
	return 0;
}

/* Final internal step depending on every step so far. */
static int add_finish(struct plan *p, json_t *args)
{
	_cleanup_free_ int *deps = calloc(p->n ? p->n : 1, sizeof(int));
	if (!deps) {
		json_decref(args);
		return -ENOMEM;
	}
	for (size_t i = 0; i < p->n; i++)
		deps[i] = (int)i;
	if (!args)
		return -ENOMEM;
	return add(p, PLAN_STEP_FINISH, "internal", -1, args, deps, p->n);
}

/* create and restore: the same plan but for the first node's step. */
static int plan_first(int nodes, const char *first, json_t *first_args, struct plan *ret)
{
	struct plan p = {};
	_cleanup_free_ struct member_steps *m = NULL;
	_cleanup_free_ int *ready = NULL;
	_cleanup_json_ json_t *fa = first_args;
	int r;

	if (nodes < 1 || nodes > CAIRN_DS_NODES_MAX || !fa)
		return -EINVAL;
	m = calloc(nodes, sizeof(*m));
	ready = calloc(nodes, sizeof(int));
	if (!m || !ready)
		return -ENOMEM;
	for (int i = 0; i < nodes; i++) {
		ready[i] = i;
		r = add_member_prefix(&p, i, &m[i]);
		if (r < 0)
			goto fail;
	}
	r = add_job(&p, first, 0, json_incref(fa), DEPS(m[0].tls_server, m[0].tls_repl, m[0].pkg));
	if (r < 0)
		goto fail;
	m[0].pg = r;

	/* pg.slots: after pg.init and once every member has a node. */
	{
		_cleanup_free_ int *deps = calloc(nodes + 1, sizeof(int));
		if (!deps) {
			r = -ENOMEM;
			goto fail;
		}
		deps[0] = m[0].pg;
		for (int i = 0; i < nodes; i++)
			deps[i + 1] = m[i].provision;
		r = add_job(&p, "pg.slots", 0, NULL, deps, nodes + 1);
		if (r < 0)
			goto fail;
	}
	int slots = r;
	for (int i = 1; i < nodes; i++) {
		r = add_job(&p, "pg.replica", i, NULL,
			    DEPS(slots, m[i].pkg, m[i].tls_server, m[i].tls_repl));
		if (r < 0)
			goto fail;
		m[i].pg = r;
	}
	for (int i = 0; i < nodes; i++) {
		r = add_job(&p, "exporter.install", i, NULL, DEPS(m[i].pg, m[i].tls_exporter));
		if (r < 0)
			goto fail;
	}
	r = add_finish(&p, finish_args("ready", ready, nodes, NULL, 0));
	if (r < 0)
		goto fail;
	*ret = p;
	return 0;
fail:
	plan_done(&p);
	return r;
}

int plan_pg_create(int nodes, const char *admin_verifier, struct plan *ret)
{
	if (!admin_verifier)
		return -EINVAL;
	return plan_first(nodes, "pg.init", json_pack("{s:s}", "admin_verifier", admin_verifier), ret);
}

int plan_pg_restore(int nodes, json_t *restore_args, struct plan *ret)
{
	if (!json_is_object(restore_args))
		return -EINVAL;
	return plan_first(nodes, "pg.restore", json_incref(restore_args), ret);
}

/* `config_job` on every member at once, then restarts one after another,
 * replicas first, each waiting for every config job and the restart
 * before it.  restart_args(own config step) are the pg.service params
 * (which say when the restart is skipped); finish_args those of the
 * finish step. */
static int plan_config_rolling_restart(const char *config_job, int primary, const int *replicas,
				       size_t n_replicas, json_t *(*restart_args)(int own_config),
				       json_t *finish, struct plan *ret)
{
	struct plan p = {};
	struct ints configs = {};
	int r, prev = -1;

	if (primary < 0 || n_replicas > CAIRN_DS_NODES_MAX) {
		json_decref(finish);
		return -EINVAL;
	}
	r = add_job(&p, config_job, primary, NULL, NODEPS);
	if (r < 0 || (r = ints_push(&configs, r)) < 0)
		goto fail;
	for (size_t i = 0; i < n_replicas; i++) {
		r = add_job(&p, config_job, replicas[i], NULL, NODEPS);
		if (r < 0 || (r = ints_push(&configs, r)) < 0)
			goto fail;
	}
	for (size_t i = 0; i <= n_replicas; i++) {
		int ordinal = i < n_replicas ? replicas[i] : primary;
		int own = configs.v[i < n_replicas ? i + 1 : 0];
		_cleanup_free_ int *deps = calloc(configs.n + 1, sizeof(int));
		size_t nd = configs.n;
		if (!deps) {
			r = -ENOMEM;
			goto fail;
		}
		memcpy(deps, configs.v, configs.n * sizeof(int));
		if (prev >= 0)
			deps[nd++] = prev;
		r = add_job(&p, "pg.service", ordinal, restart_args(own), deps, nd);
		if (r < 0)
			goto fail;
		prev = r;
	}
	r = add(&p, PLAN_STEP_FINISH, "internal", -1, finish, DEPS(prev));
	finish = NULL;
	if (r < 0)
		goto fail;
	free(configs.v);
	*ret = p;
	return 0;
fail:
	json_decref(finish);
	free(configs.v);
	plan_done(&p);
	return r;
}

/* backup.configure: restart only where it said restart_needed. */
static json_t *restart_if_needed(int own_config)
{
	return json_pack("{s:s, s:i}", "action", "restart", PLAN_ARG_IF_RESTART_NEEDED, own_config);
}

/* pg.config: restart only where a parameter waits for one. */
static json_t *restart_if_pending(int own_config)
{
	(void)own_config;
	return json_pack("{s:s, s:b}", "action", "restart", "if_pending_restart", 1);
}

int plan_backup_configure(int primary, const int *replicas, size_t n_replicas, struct plan *ret)
{
	return plan_config_rolling_restart(
		"backup.configure", primary, replicas, n_replicas, restart_if_needed,
		json_pack("{s:s, s:[], s:[]}", "ds_state", PLAN_DS_STATE_KEEP, "ready", "removed"), ret);
}

int plan_backup(int ordinal, int primary, const char *backup_id, struct plan *ret)
{
	struct plan p = {};
	int r, a, b;

	if (ordinal < 0 || primary < 0 || !backup_id)
		return -EINVAL;
	/* Each job that talks to S3 follows a backup.configure on its node:
	 * an agent that restarted since holds no keys, and the status-report
	 * trigger may not have run yet.  It is idempotent and cheap. */
	if ((r = a = add_job(&p, "backup.configure", ordinal, json_pack("{s:s}", "backup_id", backup_id),
			     NODEPS)) < 0)
		goto fail;
	if ((r = a = add_job(&p, "backup.full", ordinal, json_pack("{s:s}", "backup_id", backup_id),
			     DEPS(a))) < 0)
		goto fail;
	if (primary != ordinal) {
		if ((r = b = add_job(&p, "backup.configure", primary, NULL, DEPS(a))) < 0)
			goto fail;
		a = b;
	}
	if ((r = b = add_job(&p, "backup.delete", primary, NULL, DEPS(a))) < 0)
		goto fail;
	r = add(&p, PLAN_STEP_FINISH, "internal", -1,
		json_pack("{s:s, s:[], s:[]}", "ds_state", PLAN_DS_STATE_KEEP, "ready", "removed"), DEPS(b));
	if (r < 0)
		goto fail;
	*ret = p;
	return 0;
fail:
	plan_done(&p);
	return r;
}

int plan_verify(int ordinal, const char *backup_id, bool drill, struct plan *ret)
{
	struct plan p = {};
	int r, last;

	if (ordinal < 0 || !backup_id)
		return -EINVAL;
	if ((r = last = add_job(&p, "backup.configure", ordinal, NULL, NODEPS)) < 0)
		goto fail;
	if ((r = last = add_job(&p, "backup.verify", ordinal,
				json_pack("{s:s, s:b}", "backup_id", backup_id, "drill", drill), DEPS(last))) < 0)
		goto fail;
	if (drill && (r = last = add_job(&p, "backup.drill", ordinal,
					 json_pack("{s:s}", "backup_id", backup_id), DEPS(last))) < 0)
		goto fail;
	r = add(&p, PLAN_STEP_FINISH, "internal", -1,
		json_pack("{s:s, s:[], s:[]}", "ds_state", PLAN_DS_STATE_KEEP, "ready", "removed"),
		DEPS(last));
	if (r < 0)
		goto fail;
	*ret = p;
	return 0;
fail:
	plan_done(&p);
	return r;
}

int plan_pg_add_node(int primary, const int *ordinals, size_t n, struct plan *ret)
{
	struct plan p = {};
	_cleanup_free_ struct member_steps *m = NULL;
	_cleanup_free_ int *deps = NULL;
	int r;

	if (primary < 0 || !ordinals || n < 1 || n > CAIRN_DS_NODES_MAX)
		return -EINVAL;
	m = calloc(n, sizeof(*m));
	deps = calloc(n, sizeof(int));
	if (!m || !deps)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		r = add_member_prefix(&p, ordinals[i], &m[i]);
		if (r < 0)
			goto fail;
		deps[i] = m[i].provision;
	}
	r = add_job(&p, "pg.slots", primary, NULL, deps, n);
	if (r < 0)
		goto fail;
	int slots = r;
	for (size_t i = 0; i < n; i++) {
		r = add_job(&p, "pg.replica", ordinals[i], NULL,
			    DEPS(slots, m[i].pkg, m[i].tls_server, m[i].tls_repl));
		if (r < 0)
			goto fail;
		m[i].pg = r;
		r = add_job(&p, "exporter.install", ordinals[i], NULL, DEPS(m[i].pg, m[i].tls_exporter));
		if (r < 0)
			goto fail;
	}
	r = add_finish(&p, finish_args("ready", ordinals, n, NULL, 0));
	if (r < 0)
		goto fail;
	*ret = p;
	return 0;
fail:
	plan_done(&p);
	return r;
}

int plan_pg_remove_node(int primary, int ordinal, struct plan *ret)
{
	struct plan p = {};
	int r, a, b, c;

	if (primary < 0 || ordinal < 0 || primary == ordinal)
		return -EINVAL;
	if ((r = a = add_job(&p, "pg.destroy", ordinal, NULL, NODEPS)) < 0)
		goto fail;
	if ((r = b = add_job(&p, "pg.slots", primary, NULL, DEPS(a))) < 0)
		goto fail;
	if ((r = c = add(&p, PLAN_STEP_DEPROVISION, "deprovision", ordinal, NULL, DEPS(b))) < 0)
		goto fail;
	r = add(&p, PLAN_STEP_FINISH, "internal", -1, finish_args("ready", NULL, 0, &ordinal, 1),
		DEPS(c));
	if (r < 0)
		goto fail;
	*ret = p;
	return 0;
fail:
	plan_done(&p);
	return r;
}

int plan_pg_configure(int primary, const int *replicas, size_t n_replicas, struct plan *ret)
{
	return plan_config_rolling_restart("pg.config", primary, replicas, n_replicas, restart_if_pending,
					   finish_args("ready", NULL, 0, NULL, 0), ret);
}

int plan_pg_destroy(const int *ordinals, size_t n, struct plan *ret)
{
	struct plan p = {};
	int r;

	if (n > 0 && !ordinals)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		int d = add_job(&p, "pg.destroy", ordinals[i], NULL, NODEPS);
		if (d < 0) {
			r = d;
			goto fail;
		}
		r = add(&p, PLAN_STEP_DEPROVISION, "deprovision", ordinals[i], NULL, DEPS(d));
		if (r < 0)
			goto fail;
	}
	r = add_finish(&p, finish_args("deleted", NULL, 0, ordinals, n));
	if (r < 0)
		goto fail;
	*ret = p;
	return 0;
fail:
	plan_done(&p);
	return r;
}

int plan_find(const struct plan *p, const char *name, int ordinal, const char *cert)
{
	for (size_t i = 0; i < p->n; i++) {
		const struct store_step *st = &p->steps[i];
		if (!streq(st->name, name) || st->member_ordinal != ordinal)
			continue;
		if (cert) {
			_cleanup_json_ json_t *a = json_loads(st->args, 0, NULL);
			if (!streq_ptr(json_string_value(json_object_get(a, "cert")), cert))
				continue;
		}
		return (int)i;
	}
	return -1;
}

/* ---- params ------------------------------------------------------------ */

static int fail(char reason[static PLAN_REASON_MAX], const char *fmt, ...) _printf_(2, 3);
static int fail(char reason[static PLAN_REASON_MAX], const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, PLAN_REASON_MAX, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static const struct store_member *find_member(const struct store_member *m, size_t n, int ordinal)
{
	for (size_t i = 0; i < n; i++)
		if (m[i].ordinal == ordinal)
			return &m[i];
	return NULL;
}

static const struct store_member *find_primary(const struct store_datastore *ds,
					       const struct store_member *m, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (ds->primary_node_id && streq(m[i].node_id, ds->primary_node_id))
			return &m[i];
	for (size_t i = 0; i < n; i++)
		if (streq(m[i].role, "primary"))
			return &m[i];
	return NULL;
}

static bool member_is_live(const struct store_member *m)
{
	return !streq(m->state, "removing") && !streq(m->state, "removed");
}

static char *tls_path(const char *tls_dir, const char *ds, const char *file)
{
	char *p = NULL;
	if (asprintf(&p, "%s/%s/%s", tls_dir, ds, file) < 0)
		return NULL;
	return p;
}

static int params_tls(const struct store_datastore *ds, const struct store_member *m,
		      json_t *args, const char *tls_dir, json_t **ret, char reason[static PLAN_REASON_MAX])
{
	const char *cert = json_string_value(json_object_get(args, "cert"));
	_cleanup_free_ char *key_path = NULL, *cert_path = NULL, *ca_path = NULL, *cn = NULL;
	_cleanup_json_ json_t *names = NULL;
	const char *owner = "postgres", *base;

	if (streq_ptr(cert, "server") || streq_ptr(cert, "exporter")) {
		if (!m->address)
			return fail(reason, "member %s has no address yet", m->name);
		names = json_pack("[s, s]", m->address, m->name);
		base = streq(cert, "server") ? "server" : "exporter";
		if (streq(cert, "exporter"))
			owner = "prometheus";
	} else if (streq_ptr(cert, "repl")) {
		if (asprintf(&cn, CAIRN_PG_REPL_CN_PREFIX "%s", ds->id) < 0)
			return -ENOMEM;
		names = json_pack("[s]", cn);
		base = "repl";
	} else
		return fail(reason, "tls.issue step without a known 'cert' argument");

	char kf[32], cf[32];
	snprintf(kf, sizeof(kf), "%s.key", base);
	snprintf(cf, sizeof(cf), "%s.crt", base);
	key_path = tls_path(tls_dir, ds->id, kf);
	cert_path = tls_path(tls_dir, ds->id, cf);
	ca_path = tls_path(tls_dir, ds->id, "ca.crt");
	if (!names || !key_path || !cert_path || !ca_path)
		return -ENOMEM;
	*ret = json_pack("{s:O, s:s, s:s, s:s, s:s}", "names", names, "key_path", key_path,
			 "cert_path", cert_path, "ca_path", ca_path, "owner", owner);
	return *ret ? 0 : -ENOMEM;
}

int plan_pg_params(const struct store_datastore *ds, const struct store_member *members,
		   size_t n_members, const struct store_step *st, const char *tls_dir, json_t **ret,
		   char reason[static PLAN_REASON_MAX])
{
	_cleanup_json_ json_t *args = NULL, *settings = NULL, *p = NULL;
	_cleanup_free_ char *repl_cn = NULL;
	const struct store_member *m, *primary;

	reason[0] = 0;
	if (!streq(st->kind, "job"))
		return fail(reason, "step %d (%s) is not a job step", st->idx, st->name);
	args = json_loads(st->args ?: "{}", JSON_REJECT_DUPLICATES, NULL);
	settings = json_loads(ds->settings ?: "{}", JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(args) || !json_is_object(settings))
		return fail(reason, "step %d (%s): unreadable arguments or settings", st->idx, st->name);
	m = find_member(members, n_members, st->member_ordinal);
	if (!m)
		return fail(reason, "step %d (%s): member %d does not exist", st->idx, st->name,
			    st->member_ordinal);
	if (asprintf(&repl_cn, CAIRN_PG_REPL_CN_PREFIX "%s", ds->id) < 0)
		return -ENOMEM;
	if (!tls_dir)
		tls_dir = PLAN_TLS_DIR_DEFAULT;

	if (streq(st->name, "pkg.install"))
		p = json_pack("{s:s, s:s}", "engine", ds->engine, "version", ds->version);
	else if (streq(st->name, "tls.issue")) {
		int r = params_tls(ds, m, args, tls_dir, &p, reason);
		if (r < 0)
			return r;
	} else if (streq(st->name, "pg.init")) {
		const char *v = json_string_value(json_object_get(args, "admin_verifier"));
		if (!v)
			return fail(reason, "pg.init step without an admin verifier");
		p = json_pack("{s:s, s:i, s:O, s:s, s:s, s:s}", "version", ds->version, "port", ds->port,
			      "settings", settings, "admin_verifier", v, "repl_cn", repl_cn,
			      "cluster_name", ds->name);
	} else if (streq(st->name, "pg.slots")) {
		/* Every live replica's slot; removing members have none. */
		json_t *slots = json_array();
		primary = find_primary(ds, members, n_members);
		for (size_t i = 0; slots && i < n_members; i++) {
			char slot[32];
			if (&members[i] == primary || !member_is_live(&members[i]))
				continue;
			snprintf(slot, sizeof(slot), CAIRN_PG_SLOT_PREFIX "%d", members[i].ordinal);
			json_array_append_new(slots, json_string(slot));
		}
		p = json_pack("{s:o}", "slots", slots);
	} else if (streq(st->name, "pg.replica")) {
		char slot[32];
		primary = find_primary(ds, members, n_members);
		if (!primary)
			return fail(reason, "datastore %s has no primary", ds->name);
		if (!primary->address)
			return fail(reason, "primary %s has no address yet", primary->name);
		snprintf(slot, sizeof(slot), CAIRN_PG_SLOT_PREFIX "%d", m->ordinal);
		p = json_pack("{s:s, s:i, s:O, s:s, s:i, s:s, s:s, s:s}", "version", ds->version, "port",
			      ds->port, "settings", settings, "primary_host", primary->address,
			      "primary_port", ds->port, "slot", slot, "repl_cn", repl_cn, "cluster_name",
			      ds->name);
	} else if (streq(st->name, "pg.config"))
		p = json_pack("{s:O}", "settings", settings);
	else if (streq(st->name, "pg.service")) {
		const char *action = json_string_value(json_object_get(args, "action"));
		json_t *ipr = json_object_get(args, "if_pending_restart");
		if (!action)
			return fail(reason, "pg.service step without an action");
		p = json_pack("{s:s}", "action", action);
		if (p && json_is_boolean(ipr))
			json_object_set(p, "if_pending_restart", ipr);
	} else if (streq(st->name, "exporter.install"))
		p = json_pack("{s:i, s:i}", "node_exporter_port", CAIRN_NODE_EXPORTER_PORT,
			      "postgres_exporter_port", CAIRN_POSTGRES_EXPORTER_PORT);
	else if (streq(st->name, "pg.destroy"))
		p = json_object();
	else
		return fail(reason, "step %d: unknown job step '%s'", st->idx, st->name);
	if (!p)
		return -ENOMEM;
	*ret = TAKE_PTR(p);
	return 0;
}

int plan_pg_address_from_facts(const char *facts_json, char **ret)
{
	_cleanup_json_ json_t *f = facts_json ? json_loads(facts_json, 0, NULL) : NULL;
	json_t *a;
	size_t i;

	json_array_foreach(json_object_get(f, "addresses"), i, a) {
		const char *fam = json_string_value(json_object_get(a, "family"));
		const char *addr = json_string_value(json_object_get(a, "address"));
		const char *ifname = json_string_value(json_object_get(a, "ifname"));
		struct in_addr in;
		if (!streq_ptr(fam, "inet") || !addr || streq_ptr(ifname, "lo"))
			continue;
		if (inet_pton(AF_INET, addr, &in) != 1)
			continue;
		if ((ntohl(in.s_addr) >> 24) == 127 || in.s_addr == 0)
			continue;
		char *s = strdup(addr);
		if (!s)
			return -ENOMEM;
		*ret = s;
		return 0;
	}
	return -ENOENT;
}

char *plan_pg_tls_dir_from_facts(const char *facts_json)
{
	_cleanup_json_ json_t *f = facts_json ? json_loads(facts_json, 0, NULL) : NULL;
	const char *d = json_string_value(json_object_get(f, "tls_dir"));
	bool ok = d && d[0] == '/' && strlen(d) < 1024 && !strstr(d, "/../") && !strstr(d, "/./");
	for (const char *c = d; ok && *c; c++)
		ok = (unsigned char)*c > 0x20 && *c != 0x7f;
	if (ok && strlen(d) > 1 && d[strlen(d) - 1] == '/')
		ok = false;
	return strdup(ok ? d : PLAN_TLS_DIR_DEFAULT);
}
