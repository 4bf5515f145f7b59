/*
 * operations.c: the datastore operations engine (docs/datastores.md
 * "Model", "Plans").  Entry points validate, then write the datastore and
 * member changes, the operation and its whole plan in one transaction.
 * The driver moves steps: it reads the operation afresh from the store,
 * commits each transition before acting on it, and is idempotent on
 * re-tick.  One mutex (o->lock) serialises drivers and entry points, so a
 * step is never started twice; the lock order is ops → store, and the
 * runner calls ops_job_finished() only after its own commit.
 *
 * Crash behaviour: a job step marked running whose job id was not yet
 * recorded is submitted again (every datastore job type is idempotent); a
 * running provision or deprovision step is asked again (provisioners are
 * idempotent on the node id; a still-pending slot gets a new join token).
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aead.h"
#include "backup.h"
#include "config.h"
#include "controller.h"
#include "health.h"
#include "keys.h"
#include "log.h"
#include "macro.h"
#include "operations.h"
#include "plan-pg.h"
#include "protocol.h"
#include "provision.h"
#include "runner.h"
#include "scram.h"
#include "secrets.h"
#include "store.h"
#include "userdata.h"
#include "util.h"

#define OPS_DRIVE_PASSES_MAX 8      /* passes over one operation per drive */
#define OPS_PASSWORD_BYTES 32
#define OPS_ADMIN_AAD_PREFIX "cairn-ds-admin:"
#define OPS_SIZE_MAX_CPUS 1024
#define OPS_SIZE_MAX_MEMORY_MB (16 * 1024 * 1024)
#define OPS_SIZE_MAX_DISK_GB (1024 * 1024)
#define OPS_ADD_NODES_MAX (CAIRN_DS_NODES_MAX - 1)

/* A provision step this process asked (the provisioner answered, or kind
 * none made the slot): now waiting for enrolment and facts. */
struct asked {
	struct asked *next;
	char key[PROVISION_KEY_MAX];
	int64_t since;
};

struct ops {
	struct controller *c;       /* owner */
	struct provision *prov;     /* provisioner workers */
	pthread_mutex_t lock;       /* one driver or entry point at a time */
	struct asked *asked;        /* provision steps waiting for their node */
};

static int reasonf(char reason[static OPS_REASON_MAX], int r, const char *fmt, ...) _printf_(3, 4);
static int reasonf(char reason[static OPS_REASON_MAX], int r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, OPS_REASON_MAX, fmt, ap);
	va_end(ap);
	return r;
}

/* ---- validation -------------------------------------------------------- */

int ops_validate_name(const char *name, char reason[static OPS_REASON_MAX])
{
	size_t n = name ? strlen(name) : 0;
	if (n < 1 || n > CAIRN_DS_NAME_MAX)
		return reasonf(reason, -EINVAL, "'name' must be 1 to %d characters", CAIRN_DS_NAME_MAX);
	if (!(name[0] >= 'a' && name[0] <= 'z'))
		return reasonf(reason, -EINVAL, "'name' must start with a lower-case letter");
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return reasonf(reason, -EINVAL,
				       "'name' may hold only lower-case letters, digits and '-'");
	}
	if (name[n - 1] == '-')
		return reasonf(reason, -EINVAL, "'name' must not end with '-'");
	if (uuid_is_valid(name))
		return reasonf(reason, -EINVAL, "'name' must not look like an id");
	return 0;
}

static bool setting_is_managed(const char *name)
{
	static const char *const exact[] = {
		"listen_addresses", "port", "data_directory", "hba_file", "ident_file", "config_file",
		"external_pid_file", "primary_conninfo", "primary_slot_name", "restore_command",
		"shared_preload_libraries", "password_encryption", "cluster_name",
	};
	static const char *const prefix[] = { "ssl", "unix_socket_", "archive_", "include" };
	for (size_t i = 0; i < ELEMENTSOF(exact); i++)
		if (streq(name, exact[i]))
			return true;
	for (size_t i = 0; i < ELEMENTSOF(prefix); i++)
		if (strncmp(name, prefix[i], strlen(prefix[i])) == 0)
			return true;
	return false;
}

static bool setting_name_ok(const char *k)
{
	size_t n = strlen(k);
	if (n < 1 || n > 63 || !(k[0] >= 'a' && k[0] <= 'z'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!((k[i] >= 'a' && k[i] <= 'z') || (k[i] >= '0' && k[i] <= '9') || k[i] == '_' ||
		      k[i] == '.'))
			return false;
	return true;
}

int ops_validate_settings(json_t *settings, bool allow_null, char reason[static OPS_REASON_MAX])
{
	const char *k;
	json_t *v;

	if (!settings)
		return 0;
	if (!json_is_object(settings))
		return reasonf(reason, -EINVAL, "'settings' must be an object of strings");
	if (json_object_size(settings) > CAIRN_DS_SETTINGS_MAX)
		return reasonf(reason, -EINVAL, "'settings' has more than %d entries",
			       CAIRN_DS_SETTINGS_MAX);
	json_object_foreach(settings, k, v) {
		if (!setting_name_ok(k))
			return reasonf(reason, -EINVAL,
				       "setting name '%.64s' must match [a-z][a-z0-9_.]{0,62}", k);
		if (setting_is_managed(k))
			return reasonf(reason, -EINVAL,
				       "setting '%s' is managed by cairn and cannot be set", k);
		if (json_is_null(v) && allow_null)
			continue;
		const char *s = json_string_value(v);
		if (!s)
			return reasonf(reason, -EINVAL, "setting '%s' must be a string%s", k,
				       allow_null ? " or null" : "");
		size_t n = json_string_length(v);
		if (n > CAIRN_DS_SETTING_VALUE_MAX)
			return reasonf(reason, -EINVAL, "setting '%s' is longer than %d characters", k,
				       CAIRN_DS_SETTING_VALUE_MAX);
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
				return reasonf(reason, -EINVAL,
					       "setting '%s' must be printable ASCII", k);
	}
	return 0;
}

static int validate_size(json_t *size, char reason[static OPS_REASON_MAX])
{
	static const struct {
		const char *key;
		json_int_t max;
	} keys[] = {
		{ "cpus", OPS_SIZE_MAX_CPUS },
		{ "memory_mb", OPS_SIZE_MAX_MEMORY_MB },
		{ "disk_gb", OPS_SIZE_MAX_DISK_GB },
	};
	const char *k;
	json_t *v;

	if (!size)
		return 0;
	if (!json_is_object(size))
		return reasonf(reason, -EINVAL, "'size' must be an object");
	json_object_foreach(size, k, v) {
		size_t i;
		for (i = 0; i < ELEMENTSOF(keys); i++)
			if (streq(k, keys[i].key))
				break;
		if (i == ELEMENTSOF(keys))
			return reasonf(reason, -EINVAL,
				       "'size' may hold only cpus, memory_mb and disk_gb (not '%.64s')", k);
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > keys[i].max)
			return reasonf(reason, -EINVAL, "'size.%s' must be an integer from 1 to %lld", k,
				       (long long)keys[i].max);
	}
	return 0;
}

/* ---- small helpers ----------------------------------------------------- */

/* Operations on the backups leave the datastore's state alone: the
 * datastore serves as before, and a failed backup is not a failed
 * datastore. */
static bool kind_keeps_ds_state(const char *kind)
{
	return streq(kind, "backup") || streq(kind, "backup_config") || streq(kind, "verify");
}

/* The datastore's state while an operation of `kind` runs; NULL: kept. */
static const char *ds_running_state(const char *kind)
{
	if (kind_keeps_ds_state(kind))
		return NULL;
	if (streq(kind, "create") || streq(kind, "restore"))
		return "creating";
	if (streq(kind, "destroy"))
		return "deleting";
	return "updating";
}

static int replace(char **p, const char *v)
{
	char *n = NULL;
	if (v && !(n = strdup(v)))
		return -ENOMEM;
	free(*p);
	*p = n;
	return 0;
}

static void step_key(const struct store_step *st, char ret[static PROVISION_KEY_MAX])
{
	snprintf(ret, PROVISION_KEY_MAX, "%s/%d", st->op_id, st->idx);
}

static struct asked *asked_find(struct ops *o, const char *key)
{
	for (struct asked *a = o->asked; a; a = a->next)
		if (streq(a->key, key))
			return a;
	return NULL;
}

static void asked_add(struct ops *o, const char *key, int64_t now)
{
	struct asked *a = asked_find(o, key);
	if (a) {
		a->since = now;
		return;
	}
	a = calloc(1, sizeof(*a));
	if (!a)
		return; /* the step is asked again next tick */
	snprintf(a->key, sizeof(a->key), "%s", key);
	a->since = now;
	a->next = o->asked;
	o->asked = a;
}

static void asked_remove(struct ops *o, const char *key)
{
	for (struct asked **pa = &o->asked; *pa; pa = &(*pa)->next)
		if (streq((*pa)->key, key)) {
			struct asked *a = *pa;
			*pa = a->next;
			free(a);
			return;
		}
}

/* ---- lifecycle --------------------------------------------------------- */

struct ops *ops_new(struct controller *c)
{
	struct ops *o = calloc(1, sizeof(*o));
	if (!o)
		return NULL;
	o->c = c;
	o->prov = provision_new(&c->config->provisioner);
	if (!o->prov) {
		free(o);
		return NULL;
	}
	pthread_mutex_init(&o->lock, NULL);
	return o;
}

void ops_stop(struct ops *o)
{
	if (o)
		provision_stop(o->prov);
}

void ops_free(struct ops *o)
{
	if (!o)
		return;
	provision_free(o->prov);
	while (o->asked) {
		struct asked *a = o->asked;
		o->asked = a->next;
		free(a);
	}
	pthread_mutex_destroy(&o->lock);
	free(o);
}

/* ---- the driver -------------------------------------------------------- */

/* Everything one pass needs, read fresh from the store. */
struct drive {
	struct store_operation op;
	struct store_datastore ds;
	struct store_step *steps;
	size_t n_steps;
	struct store_member *members;   /* including removed ones */
	size_t n_members;
};

static void drive_done(struct drive *d)
{
	store_operation_done(&d->op);
	store_datastore_done(&d->ds);
	store_step_array_free(d->steps, d->n_steps);
	store_member_array_free(d->members, d->n_members);
	memset(d, 0, sizeof(*d));
}

static int drive_load(struct ops *o, const char *op_id, struct drive *d)
{
	struct store *s = o->c->store;
	int r;

	*d = (struct drive){};
	r = store_operation_get(s, op_id, &d->op);
	if (r >= 0)
		r = store_datastore_get(s, d->op.ds_id, &d->ds);
	if (r >= 0)
		r = store_step_list(s, op_id, &d->steps, &d->n_steps);
	if (r >= 0)
		r = store_member_list(s, d->op.ds_id, true, &d->members, &d->n_members);
	if (r < 0)
		drive_done(d);
	return r;
}

static struct store_member *drive_member(struct drive *d, int ordinal)
{
	for (size_t i = 0; i < d->n_members; i++)
		if (d->members[i].ordinal == ordinal)
			return &d->members[i];
	return NULL;
}

static const char *member_name(struct drive *d, const struct store_step *st)
{
	struct store_member *m = drive_member(d, st->member_ordinal);
	return m ? m->name : d->ds.name;
}

/* Fails step `st` and with it the operation and the datastore (one
 * transaction). */
static int fail_step(struct ops *o, struct drive *d, struct store_step *st, const char *msg,
		     int64_t now)
{
	struct store *s = o->c->store;
	_cleanup_free_ char *opmsg = NULL;
	int r;

	if (asprintf(&opmsg, "%s on %s: %s", st->name, member_name(d, st), msg ?: "failed") < 0)
		return -ENOMEM;
	r = store_tx_begin(s);
	if (r < 0)
		return r;
	if ((r = replace(&st->state, "failed")) < 0 || (r = replace(&st->message, msg)) < 0)
		goto fail;
	st->finished_at = now;
	if ((r = store_step_update(s, st)) < 0)
		goto fail;
	bool was_running = streq(d->op.state, "running");
	if (was_running) {
		if ((r = replace(&d->op.state, "failed")) < 0 || (r = replace(&d->op.message, opmsg)) < 0)
			goto fail;
		d->op.updated_at = d->op.finished_at = now;
		if ((r = store_operation_update(s, &d->op)) < 0)
			goto fail;
		if ((r = store_backup_fail_running(s, d->op.id, opmsg, now)) < 0)
			goto fail;
		if (!kind_keeps_ds_state(d->op.kind)) {
			if ((r = replace(&d->ds.state, "failed")) < 0)
				goto fail;
			d->ds.updated_at = now;
			if ((r = store_datastore_update(s, &d->ds)) < 0)
				goto fail;
		}
	}
	r = store_tx_commit(s);
	if (r >= 0 && was_running)
		log_warning("operation %s (%s of %s) failed: %s", d->op.id, d->op.kind, d->ds.name, opmsg);
	else if (r >= 0)
		log_info("operation %s (already failed): %s", d->op.id, opmsg);
	return r;
fail:
	store_tx_rollback(s);
	return r;
}

static int succeed_step(struct ops *o, struct store_step *st, const char *msg, int64_t now)
{
	int r;
	if ((r = replace(&st->state, "succeeded")) < 0 || (r = replace(&st->message, msg)) < 0)
		return r;
	st->finished_at = now;
	return store_step_update(o->c->store, st);
}

/* The internal "finish" step: member states, datastore state, the
 * operation succeeded, all at once. */
static int run_finish(struct ops *o, struct drive *d, struct store_step *st, int64_t now)
{
	struct store *s = o->c->store;
	_cleanup_json_ json_t *args = json_loads(st->args, 0, NULL);
	const char *ds_state = json_string_value(json_object_get(args, "ds_state"));
	json_t *v;
	size_t i;
	int r;

	if (!ds_state)
		return fail_step(o, d, st, "finish step without a datastore state", now);
	r = store_tx_begin(s);
	if (r < 0)
		return r;
	json_array_foreach(json_object_get(args, "ready"), i, v) {
		struct store_member *m = drive_member(d, (int)json_integer_value(v));
		if (!m)
			continue;
		if ((r = replace(&m->state, "ready")) < 0)
			goto fail;
		m->updated_at = now;
		if ((r = store_member_update(s, m)) < 0)
			goto fail;
	}
	json_array_foreach(json_object_get(args, "removed"), i, v) {
		struct store_member *m = drive_member(d, (int)json_integer_value(v));
		if (!m)
			continue;
		if ((r = replace(&m->state, "removed")) < 0)
			goto fail;
		m->updated_at = now;
		if ((r = store_member_update(s, m)) < 0)
			goto fail;
	}
	if (!streq(ds_state, PLAN_DS_STATE_KEEP)) {
		if ((r = replace(&d->ds.state, ds_state)) < 0)
			goto fail;
		if (streq(ds_state, "deleted") && (r = replace(&d->ds.primary_node_id, NULL)) < 0)
			goto fail;
		d->ds.updated_at = now;
		if ((r = store_datastore_update(s, &d->ds)) < 0)
			goto fail;
	}
	if ((r = succeed_step(o, st, NULL, now)) < 0)
		goto fail;
	if ((r = replace(&d->op.state, "succeeded")) < 0 || (r = replace(&d->op.message, NULL)) < 0)
		goto fail;
	d->op.updated_at = d->op.finished_at = now;
	if ((r = store_operation_update(s, &d->op)) < 0)
		goto fail;
	r = store_tx_commit(s);
	if (r >= 0)
		log_info("operation %s (%s of %s) succeeded", d->op.id, d->op.kind, d->ds.name);
	return r;
fail:
	store_tx_rollback(s);
	return r;
}

/* Makes the member's node slot if missing, or gives a pending slot a new
 * join token (`rotate`).  Returns 0 and, when a token was made, the
 * user-data holding it (*ret_userdata, a secret), 1 when the node is
 * already enrolled, or -errno. */
static int ensure_slot(struct ops *o, struct store_member *m, bool rotate,
		       char **ret_userdata, char reason[static OPS_REASON_MAX])
{
	struct controller *c = o->c;
	_cleanup_secret_ char *token = NULL, *ud = NULL;
	struct store_node n = {};
	char hash[65];
	int64_t now = now_s();
	int r;

	r = store_node_get(c->store, m->node_id, &n);
	bool exists = r >= 0;
	if (exists) {
		enum store_node_state state = n.state;
		store_node_done(&n);
		if (state == STORE_NODE_ENROLLED)
			return 1;
		if (state == STORE_NODE_REVOKED)
			return reasonf(reason, -ESTALE, "node %s was revoked", m->name);
		if (!rotate)
			return 0;
	} else if (r != -ENOENT)
		return reasonf(reason, r, "cannot read node %s", m->name);

	token = token_new(CAIRN_JOIN_TOKEN_PREFIX);
	if (!token)
		return -ENOMEM;
	if ((r = sha256_hex(token, strlen(token), hash)) < 0)
		return r;
	struct userdata_params p = {
		.api_url = c->config->public_api_url,
		.gateway_url = c->config->public_gateway_url,
		.ca_pem = c->keys->ca_pem,
		.join_token = token,
		.agent_package = c->config->agent_package,
	};
	if ((r = userdata_render(&p, &ud)) < 0)
		return reasonf(reason, r, "cannot render the user-data of %s", m->name);
	if (!exists)
		r = store_node_create(c->store, m->node_id, m->name, hash,
				      now + c->config->join_token_ttl_s, now);
	else
		r = store_node_set_join_token(c->store, m->node_id, hash,
					      now + c->config->join_token_ttl_s);
	if (r == -EEXIST)
		return reasonf(reason, r, "a node named '%s' already exists: revoke it first", m->name);
	if (r < 0)
		return reasonf(reason, r, "cannot make the node slot %s", m->name);
	*ret_userdata = TAKE_PTR(ud);
	return 0;
}

static int record_member(struct ops *o, struct store_member *m, const char *machine_id,
			 const char *address, const char *state, int64_t now)
{
	int r;
	if (machine_id && (r = replace(&m->machine_id, machine_id)) < 0)
		return r;
	if (address && (r = replace(&m->address, address)) < 0)
		return r;
	if (state && (r = replace(&m->state, state)) < 0)
		return r;
	m->updated_at = now;
	return store_member_update(o->c->store, m);
}

/* The provisioner's answer for the step's run in flight (provision_has).
 * Returns 1 with *ret filled (caller frees it) when it answered ok;
 * otherwise what the step driver returns: 0 while it runs, or the result
 * of failing the step with the provisioner's error, or -errno. */
static int collect_answer(struct ops *o, struct drive *d, struct store_step *st, const char *key, int64_t now,
			  struct provision_result *ret)
{
	int r = provision_poll(o->prov, key, ret);

	if (r == -EINPROGRESS)
		return 0;
	if (r < 0)
		return r;
	if (!ret->ok) {
		char msg[OPS_REASON_MAX + 16];
		snprintf(msg, sizeof(msg), "provisioner: %s", ret->error);
		provision_result_done(ret);
		r = fail_step(o, d, st, msg, now);
		return r > 0 ? 0 : r;
	}
	return 1;
}

/* A running provision step: ask the provisioner (again after a restart),
 * record its answer, wait for the node to enrol and report facts. */
static int drive_provision(struct ops *o, struct drive *d, struct store_step *st, int64_t now)
{
	struct controller *c = o->c;
	const struct config_provisioner *pc = &c->config->provisioner;
	struct store_member *m = drive_member(d, st->member_ordinal);
	char key[PROVISION_KEY_MAX], reason[OPS_REASON_MAX] = "";
	int r;

	if (!m)
		return fail_step(o, d, st, "the member does not exist", now);
	step_key(st, key);

	if (provision_has(o->prov, key)) {
		struct provision_result res = {};
		r = collect_answer(o, d, st, key, now, &res);
		if (r <= 0)
			return r;
		r = record_member(o, m, res.machine_id, res.address, NULL, now);
		provision_result_done(&res);
		if (r < 0)
			return r;
		log_info("provisioner answered for %s (machine %s)", m->name, m->machine_id ?: "-");
		asked_add(o, key, now);
	}

	struct asked *a = asked_find(o, key);
	if (!a) {
		/* Not asked by this process: first time, or after a restart. */
		_cleanup_secret_ char *ud = NULL;
		bool none = pc->kind == CONFIG_PROVISIONER_NONE;
		r = ensure_slot(o, m, !none, &ud, reason);
		if (r < 0)
			return fail_step(o, d, st, reason, now);
		if (r == 1 || none) {
			asked_add(o, key, now);
			if (none && r == 0)
				log_info("node slot %s (%s) waits for a machine: boot one with its user-data",
					 m->name, m->node_id);
		} else {
			char *req = provision_request_create(pc, m->node_id, m->name, d->ds.id, d->ds.size,
							     ud);
			if (!req)
				return -ENOMEM;
			r = provision_start(o->prov, key, m->node_id, req);
			if (r == -EAGAIN || r == -ESHUTDOWN)
				return 0; /* next tick */
			if (r < 0 && r != -EEXIST)
				return fail_step(o, d, st, "cannot start the provisioner", now);
			log_info("provisioner asked to create %s (node %s)", m->name, m->node_id);
			return 0;
		}
		a = asked_find(o, key);
		if (!a)
			return 0;
	}

	/* Waiting for the node. */
	struct store_node n = {};
	r = store_node_get(c->store, m->node_id, &n);
	if (r < 0)
		return fail_step(o, d, st, "the node slot disappeared", now);
	bool enrolled = n.state == STORE_NODE_ENROLLED, revoked = n.state == STORE_NODE_REVOKED;
	_cleanup_free_ char *facts = TAKE_PTR(n.facts);
	store_node_done(&n);
	if (revoked)
		return fail_step(o, d, st, "the node was revoked", now);
	if (!enrolled || !facts) {
		if (pc->kind != CONFIG_PROVISIONER_NONE && now > a->since + c->config->join_token_ttl_s) {
			asked_remove(o, key);
			snprintf(reason, sizeof(reason),
				 "the node did not enrol and report within %lld s of being provisioned",
				 (long long)c->config->join_token_ttl_s);
			return fail_step(o, d, st, reason, now);
		}
		return 0;
	}
	_cleanup_free_ char *addr = NULL;
	if (!m->address && plan_pg_address_from_facts(facts, &addr) < 0) {
		if (now > a->since + c->config->join_token_ttl_s) {
			asked_remove(o, key);
			return fail_step(o, d, st,
					 "the provisioner gave no address and the node reports no IPv4 address",
					 now);
		}
		return 0;
	}
	r = store_tx_begin(c->store);
	if (r < 0)
		return r;
	r = record_member(o, m, NULL, addr, "joining", now);
	if (r >= 0)
		r = succeed_step(o, st, NULL, now);
	if (r < 0) {
		store_tx_rollback(c->store);
		return r;
	}
	r = store_tx_commit(c->store);
	if (r >= 0) {
		asked_remove(o, key);
		log_info("member %s is on node %s at %s", m->name, m->node_id, m->address);
	}
	return r;
}

/* A running deprovision step: revoke the node, then the provisioner's
 * destroy (asked again after a restart). */
static int drive_deprovision(struct ops *o, struct drive *d, struct store_step *st, int64_t now)
{
	struct controller *c = o->c;
	const struct config_provisioner *pc = &c->config->provisioner;
	struct store_member *m = drive_member(d, st->member_ordinal);
	char key[PROVISION_KEY_MAX];
	int r;

	if (!m)
		return fail_step(o, d, st, "the member does not exist", now);
	step_key(st, key);
	if (provision_has(o->prov, key)) {
		struct provision_result res = {};
		r = collect_answer(o, d, st, key, now, &res);
		if (r <= 0)
			return r;
		provision_result_done(&res);
		log_info("provisioner destroyed %s", m->name);
		return succeed_step(o, st, NULL, now);
	}

	/* A create still running for this node (a failed operation's) must
	 * end first, or it could leave a machine behind after the destroy. */
	if (provision_busy(o->prov, m->node_id))
		return 0;
	r = store_node_revoke(c->store, m->node_id, now);
	if (r < 0 && r != -EALREADY && r != -ENOENT)
		return r;
	if (r >= 0)
		log_info("node %s (%s) revoked", m->name, m->node_id);
	if (pc->kind == CONFIG_PROVISIONER_NONE)
		return succeed_step(o, st, "no provisioner: the machine is yours to remove", now);
	char *req = provision_request_destroy(pc, m->node_id, m->name, m->machine_id);
	if (!req)
		return -ENOMEM;
	r = provision_start(o->prov, key, m->node_id, req);
	if (r == -EAGAIN || r == -ESHUTDOWN || r == -EEXIST)
		return 0;
	if (r < 0)
		return fail_step(o, d, st, "cannot start the provisioner", now);
	log_info("provisioner asked to destroy %s (node %s)", m->name, m->node_id);
	return 0;
}

/* Builds the params and submits the job of a running job step. */
static int submit_job(struct ops *o, struct drive *d, struct store_step *st, int64_t now)
{
	struct controller *c = o->c;
	struct store_member *m = drive_member(d, st->member_ordinal);
	struct store_node n = {};
	_cleanup_free_ struct store_member *live = NULL;
	_cleanup_free_ char *tls_dir = NULL;
	_cleanup_json_ json_t *params = NULL;
	char reason[PLAN_REASON_MAX], id[UUID_STRING_MAX];
	size_t n_live = 0;
	int r;

	if (!m)
		return fail_step(o, d, st, "the member does not exist", now);
	r = store_node_get(c->store, m->node_id, &n);
	bool enrolled = r >= 0 && n.state == STORE_NODE_ENROLLED;
	tls_dir = plan_pg_tls_dir_from_facts(r >= 0 ? n.facts : NULL);
	store_node_done(&n);
	if (!tls_dir)
		return -ENOMEM;
	if (!enrolled && streq(st->name, "pg.destroy"))
		/* Nothing can be on a node that never enrolled (or is gone). */
		return succeed_step(o, st, "skipped: the node is not enrolled", now);
	if (!enrolled)
		return fail_step(o, d, st, "the node is not enrolled", now);

	/* backup_config's restarts: only where backup.configure asked. */
	_cleanup_json_ json_t *args = json_loads(st->args ?: "{}", 0, NULL);
	json_t *rn = json_object_get(args, PLAN_ARG_IF_RESTART_NEEDED);
	if (json_is_integer(rn)) {
		json_int_t k = json_integer_value(rn);
		struct store_job cj = {};
		bool needed = false;
		if (k >= 0 && (size_t)k < d->n_steps && d->steps[k].job_id &&
		    store_job_get(c->store, d->steps[k].job_id, &cj) >= 0) {
			_cleanup_json_ json_t *out = cj.output ? json_loads(cj.output, 0, NULL) : NULL;
			needed = json_is_true(json_object_get(out, "restart_needed"));
			store_job_done(&cj);
		}
		if (!needed)
			return succeed_step(o, st, "skipped: no restart needed", now);
	}

	live = calloc(d->n_members ?: 1, sizeof(*live));
	if (!live)
		return -ENOMEM;
	for (size_t i = 0; i < d->n_members; i++)
		if (!streq(d->members[i].state, "removed"))
			live[n_live++] = d->members[i]; /* shallow: borrowed */
	if (backup_step_is_ours(st->name)) {
		char breason[OPS_REASON_MAX];
		r = backup_step_params(c, &d->ds, st, &params, breason);
		if (r == 1)
			return succeed_step(o, st, "skipped: nothing to do", now);
		if (r == -EINVAL)
			return fail_step(o, d, st, breason, now);
	} else {
		r = plan_pg_params(&d->ds, live, n_live, st, tls_dir, &params, reason);
		if (r == -EINVAL)
			return fail_step(o, d, st, reason, now);
	}
	if (r < 0)
		return r;

	struct runner_job_spec spec = {
		.node_id = m->node_id,
		.type = st->name,
		.params = params,
		.ds = d->ds.id,
		.epoch = d->ds.epoch,
	};
	r = runner_submit(c->runner, &spec, id);
	secrets_job_wipe(st->name, params); /* the job row holds them sealed */
	if (r == -ESTALE || r == -ENOENT || r == -EINVAL)
		return fail_step(o, d, st, r == -EINVAL ? "the job was refused" : "the node is gone", now);
	if (r < 0)
		return r;
	if ((r = replace(&st->job_id, id)) < 0)
		return r;
	backup_job_submitted(c, st, id);
	r = store_step_update(c->store, st);
	if (r < 0)
		log_warning_errno(r, "cannot record job %s of step %d of operation %s", id, st->idx,
				  d->op.id);
	return r;
}

/* A running job step: wait for its job to be final. */
static int drive_job(struct ops *o, struct drive *d, struct store_step *st, int64_t now)
{
	struct store_job job = {};
	int r;

	if (!st->job_id)
		return submit_job(o, d, st, now);
	r = store_job_get(o->c->store, st->job_id, &job);
	if (r == -ENOENT)
		return fail_step(o, d, st, "the job disappeared", now);
	if (r < 0)
		return r;
	if (!cairn_job_state_is_final(job.state)) {
		store_job_done(&job);
		return 0;
	}
	if (backup_step_is_ours(st->name))
		backup_job_finished(o->c, &d->op, st, &job);
	if (job.state == CAIRN_JOB_SUCCEEDED)
		r = succeed_step(o, st, job.message, now);
	else {
		char msg[OPS_REASON_MAX];
		snprintf(msg, sizeof(msg), "%s%s%s", cairn_job_state_to_string(job.state),
			 job.message ? ": " : "", job.message ?: "");
		r = fail_step(o, d, st, msg, now);
	}
	store_job_done(&job);
	return r;
}

static int drive_running(struct ops *o, struct drive *d, struct store_step *st, int64_t now)
{
	if (streq(st->kind, "job"))
		return drive_job(o, d, st, now);
	if (streq(st->kind, "provision"))
		return drive_provision(o, d, st, now);
	if (streq(st->kind, "deprovision"))
		return drive_deprovision(o, d, st, now);
	if (streq(st->kind, "internal")) {
		if (streq(st->name, PLAN_STEP_FINISH))
			return run_finish(o, d, st, now);
		return fail_step(o, d, st, "unknown internal step", now);
	}
	return fail_step(o, d, st, "unknown step kind", now);
}

static bool deps_succeeded(struct drive *d, const struct store_step *st)
{
	_cleanup_json_ json_t *deps = json_loads(st->deps, 0, NULL);
	json_t *v;
	size_t i;

	if (!json_is_array(deps))
		return false;
	json_array_foreach(deps, i, v) {
		json_int_t k = json_integer_value(v);
		if (!json_is_integer(v) || k < 0 || (size_t)k >= d->n_steps ||
		    !streq(d->steps[k].state, "succeeded"))
			return false;
	}
	return true;
}

/* One pass over a running operation.  Returns 1 when something moved. */
static int drive_pass(struct ops *o, const char *op_id, int64_t now)
{
	struct drive d;
	bool moved = false;
	int r;

	r = drive_load(o, op_id, &d);
	if (r < 0)
		return r;
	if (streq(d.op.state, "failed")) {
		/* A failed operation starts nothing, but its job steps still
		 * record how their jobs ended (so the API shows them). */
		for (size_t i = 0; i < d.n_steps; i++) {
			struct store_step *st = &d.steps[i];
			if (streq(st->state, "running") && streq(st->kind, "job") && st->job_id)
				(void)drive_job(o, &d, st, now);
		}
		drive_done(&d);
		return 0;
	}
	if (!streq(d.op.state, "running")) {
		drive_done(&d);
		return 0;
	}
	for (size_t i = 0; i < d.n_steps && streq(d.op.state, "running"); i++) {
		struct store_step *st = &d.steps[i];
		_cleanup_free_ char *before = strdup(st->state);

		if (streq(st->state, "pending")) {
			if (!deps_succeeded(&d, st))
				continue;
			/* Committed before acting: a crash from here on finds
			 * the step running and carries on. */
			if ((r = replace(&st->state, "running")) < 0)
				break;
			st->started_at = now;
			replace(&st->job_id, NULL);
			replace(&st->message, NULL);
			st->finished_at = 0;
			if ((r = store_step_update(o->c->store, st)) < 0)
				break;
			moved = true;
			log_debug("operation %s: step %d (%s) started", d.op.id, st->idx, st->name);
		}
		if (streq(st->state, "running")) {
			r = drive_running(o, &d, st, now);
			if (r < 0) {
				log_warning_errno(r, "operation %s: step %d (%s)", d.op.id, st->idx, st->name);
				/* The driver must not stop on one step's error: the step
				 * stays as committed and is looked at again next tick. */
				drive_done(&d);
				return r;
			}
			if (before && !streq(before, st->state))
				moved = true;
		}
	}
	drive_done(&d);
	return moved ? 1 : 0;
}

static void drive(struct ops *o, const char *op_id, int64_t now)
{
	for (int i = 0; i < OPS_DRIVE_PASSES_MAX; i++)
		if (drive_pass(o, op_id, now) <= 0)
			break;
}

void ops_tick(struct ops *o, int64_t now)
{
	struct store_operation *ops = NULL;
	size_t n = 0;

	if (!o)
		return;
	pthread_mutex_lock(&o->lock);
	if (store_operation_list(o->c->store, NULL, "running", STORE_LIST_MAX, &ops, &n) >= 0) {
		for (size_t i = 0; i < n; i++)
			drive(o, ops[i].id, now);
		store_operation_array_free(ops, n);
	}
	pthread_mutex_unlock(&o->lock);
}

void ops_job_finished(struct ops *o, const char *job_id)
{
	struct store_step st = {};

	if (!o || !job_id)
		return;
	pthread_mutex_lock(&o->lock);
	if (store_step_get_by_job(o->c->store, job_id, &st) >= 0) {
		drive(o, st.op_id, now_s());
		store_step_done(&st);
	}
	pthread_mutex_unlock(&o->lock);
}

/* ---- entry points ------------------------------------------------------ */

/* Looks the datastore up and refuses when it has a running operation. */
static int get_ds_idle(struct ops *o, const char *id_or_name, struct store_datastore *ret,
		       char reason[static OPS_REASON_MAX])
{
	struct store_datastore ds = {};
	struct store_operation run = {};
	int r;

	r = store_datastore_get(o->c->store, id_or_name, &ds);
	if (r == -ENOENT)
		return reasonf(reason, r, "no datastore '%.64s'", id_or_name);
	if (r < 0)
		return reasonf(reason, r, "cannot read the datastore");
	r = store_operation_running(o->c->store, ds.id, &run);
	if (r >= 0) {
		reasonf(reason, -EBUSY,
			"datastore '%s' already has a running operation %s (%s): wait for it or retry it",
			ds.name, run.id, run.kind);
		store_operation_done(&run);
		store_datastore_done(&ds);
		return -EBUSY;
	}
	if (r != -ENOENT) {
		store_datastore_done(&ds);
		return reasonf(reason, r, "cannot read the datastore's operations");
	}
	if (streq(ds.state, "deleted")) {
		reasonf(reason, -ENOENT, "datastore '%s' was deleted", ds.name);
		store_datastore_done(&ds);
		return -ENOENT;
	}
	*ret = ds;
	return 0;
}

static int require_ready(const struct store_datastore *ds, char reason[static OPS_REASON_MAX])
{
	if (streq(ds->state, "ready"))
		return 0;
	return reasonf(reason, -EPERM,
		       "datastore '%s' is %s: only a ready datastore can be changed (retry its failed "
		       "operation or destroy it)",
		       ds->name, ds->state);
}

/* Stores a new operation with its plan (call inside a transaction). */
static int insert_op(struct ops *o, const char *ds_id, const char *kind, json_t *params,
		     struct plan *plan, int64_t now, char ret_op[static UUID_STRING_MAX])
{
	_cleanup_free_ char *p = json_dumps(params, JSON_COMPACT | JSON_SORT_KEYS);
	struct store_operation op = {
		.kind = (char *)kind,
		.state = (char *)"running",
		.params = p,
		.created_at = now,
		.updated_at = now,
	};
	int r;

	if (!p)
		return -ENOMEM;
	if ((r = uuid_random(op.id)) < 0)
		return r;
	snprintf(op.ds_id, sizeof(op.ds_id), "%s", ds_id);
	for (size_t i = 0; i < plan->n; i++)
		snprintf(plan->steps[i].op_id, UUID_STRING_MAX, "%s", op.id);
	r = store_operation_insert(o->c->store, &op, plan->steps, plan->n);
	if (r < 0)
		return r;
	memcpy(ret_op, op.id, UUID_STRING_MAX);
	return 0;
}

static int member_new(const struct store_datastore *ds, int ordinal, const char *role, int64_t now,
		      struct store_member *ret)
{
	struct store_member m = {
		.ordinal = ordinal,
		.created_at = now,
		.updated_at = now,
	};
	int r;

	snprintf(m.ds_id, sizeof(m.ds_id), "%s", ds->id);
	if ((r = uuid_random(m.node_id)) < 0)
		return r;
	if (asprintf(&m.name, "%s-%d", ds->name, ordinal) < 0)
		return -ENOMEM;
	m.role = strdup(role);
	m.state = strdup("provisioning");
	if (!m.role || !m.state) {
		store_member_done(&m);
		return -ENOMEM;
	}
	*ret = m;
	return 0;
}

/* The password sealed under the KEK, bound to the datastore's id. */
static int seal_password(struct ops *o, const char *ds_id, const char *password, char **ret)
{
	_cleanup_free_ unsigned char *sealed = NULL;
	char aad[sizeof(OPS_ADMIN_AAD_PREFIX) + UUID_STRING_MAX];
	size_t len = 0;
	int r;

	snprintf(aad, sizeof(aad), OPS_ADMIN_AAD_PREFIX "%s", ds_id);
	r = aead_seal(o->c->keys->kek, aad, strlen(aad), password, strlen(password), &sealed, &len);
	if (r < 0)
		return r;
	char *b = b64url_encode(sealed, len);
	if (!b)
		return -ENOMEM;
	*ret = b;
	return 0;
}

/* create, and restore (kind "restore": pg.restore of `backup_id` of
 * `source_ds` to `target` on the first node instead of pg.init). */
static int create_datastore(struct ops *o, const struct ops_create_spec *spec, const char *kind,
			    const char *source_ds, const char *backup_id, json_t *target,
			    char ret_ds[static UUID_STRING_MAX], char ret_op[static UUID_STRING_MAX],
			    char **ret_password, char reason[static OPS_REASON_MAX])
{
	struct store *s = o->c->store;
	_cleanup_secret_ char *password = NULL;
	_cleanup_free_ char *verifier = NULL, *sealed = NULL, *settings = NULL, *size = NULL;
	_cleanup_json_ json_t *params = NULL;
	struct store_datastore ds = {}, probe = {};
	struct store_member *members = NULL;
	struct plan plan = {};
	char op_id[UUID_STRING_MAX];
	uint8_t raw[OPS_PASSWORD_BYTES];
	int64_t now = now_s();
	int r, nm = 0;

	reason[0] = 0;
	if ((r = ops_validate_name(spec->name, reason)) < 0)
		return r;
	if (!streq_ptr(spec->engine, "postgres"))
		return reasonf(reason, -EINVAL, "'engine' must be \"postgres\"");
	if (!streq_ptr(spec->version, "15"))
		return reasonf(reason, -EINVAL, "'version' must be \"15\"");
	if (spec->nodes < 1 || spec->nodes > CAIRN_DS_NODES_MAX)
		return reasonf(reason, -EINVAL, "'nodes' must be from 1 to %d", CAIRN_DS_NODES_MAX);
	if ((r = validate_size(spec->size, reason)) < 0)
		return r;
	if ((r = ops_validate_settings(spec->settings, false, reason)) < 0)
		return r;

	/* The password: made here, shown once, kept only sealed. */
	if ((r = random_bytes(raw, sizeof(raw))) < 0)
		return r;
	password = b64url_encode(raw, sizeof(raw));
	explicit_bzero(raw, sizeof(raw));
	if (!password)
		return -ENOMEM;
	if ((r = scram_verifier(password, &verifier)) < 0)
		return r;
	if ((r = uuid_random(ds.id)) < 0)
		return r;
	if ((r = seal_password(o, ds.id, password, &sealed)) < 0)
		return r;
	settings = spec->settings ? json_dumps(spec->settings, JSON_COMPACT | JSON_SORT_KEYS) : strdup("{}");
	size = spec->size ? json_dumps(spec->size, JSON_COMPACT | JSON_SORT_KEYS) : strdup("{}");
	params = json_pack("{s:s, s:s, s:s, s:i}", "name", spec->name, "engine", spec->engine, "version",
			   spec->version, "nodes", spec->nodes);
	if (!settings || !size || !params)
		return -ENOMEM;
	if (streq(kind, "restore")) {
		_cleanup_json_ json_t *args = json_pack("{s:s, s:s, s:s, s:O}", "admin_verifier", verifier,
							"source_ds", source_ds, "backup_id", backup_id,
							"target", target);
		if (!args || json_object_set_new(params, "source", json_string(source_ds)) < 0 ||
		    json_object_set_new(params, "backup_id", json_string(backup_id)) < 0 ||
		    json_object_set(params, "target", target) < 0)
			return -ENOMEM;
		r = plan_pg_restore(spec->nodes, args, &plan);
	} else
		r = plan_pg_create(spec->nodes, verifier, &plan);
	if (r < 0)
		return r;

	ds.name = (char *)spec->name;
	ds.engine = (char *)spec->engine;
	ds.version = (char *)spec->version;
	ds.port = CAIRN_PG_PORT_DEFAULT;
	ds.state = (char *)"creating";
	ds.epoch = 1;
	ds.settings = settings;
	ds.size = size;
	ds.admin_user = (char *)CAIRN_PG_ADMIN_USER;
	ds.admin_secret = sealed;
	ds.next_ordinal = spec->nodes;
	ds.created_at = ds.updated_at = now;

	members = calloc(spec->nodes, sizeof(*members));
	if (!members) {
		r = -ENOMEM;
		goto out;
	}
	for (nm = 0; nm < spec->nodes; nm++)
		if ((r = member_new(&ds, nm, nm == 0 ? "primary" : "replica", now, &members[nm])) < 0)
			goto out;
	ds.primary_node_id = members[0].node_id;

	pthread_mutex_lock(&o->lock);
	r = store_tx_begin(s);
	if (r < 0)
		goto unlock;
	if (store_datastore_get(s, spec->name, &probe) >= 0) {
		store_datastore_done(&probe);
		r = reasonf(reason, -EEXIST, "a datastore named '%s' already exists", spec->name);
		goto rollback;
	}
	r = store_datastore_insert(s, &ds);
	if (r == -EEXIST)
		reasonf(reason, r, "a datastore named '%s' already exists", spec->name);
	for (int i = 0; r >= 0 && i < spec->nodes; i++)
		r = store_member_insert(s, &members[i]);
	if (r >= 0)
		r = insert_op(o, ds.id, kind, params, &plan, now, op_id);
	if (r < 0)
		goto rollback;
	r = store_tx_commit(s);
	if (r < 0)
		goto unlock;
	pthread_mutex_unlock(&o->lock);
	log_info("datastore %s (%s) created: %d node(s), operation %s", ds.name, ds.id, spec->nodes,
		 op_id);
	memcpy(ret_ds, ds.id, UUID_STRING_MAX);
	memcpy(ret_op, op_id, UUID_STRING_MAX);
	*ret_password = TAKE_PTR(password);
	r = 0;
	goto out;
rollback:
	store_tx_rollback(s);
unlock:
	pthread_mutex_unlock(&o->lock);
	if (r < 0 && !reason[0])
		reasonf(reason, r, "cannot store the datastore");
out:
	store_member_array_free(members, nm);
	plan_done(&plan);
	return r;
}

int ops_create_datastore(struct ops *o, const struct ops_create_spec *spec,
			 char ret_ds[static UUID_STRING_MAX], char ret_op[static UUID_STRING_MAX],
			 char **ret_password, char reason[static OPS_REASON_MAX])
{
	return create_datastore(o, spec, "create", NULL, NULL, NULL, ret_ds, ret_op, ret_password,
				reason);
}

/* The primary's ordinal, or -1. */
static int primary_ordinal(const struct store_datastore *ds, const struct store_member *m, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (ds->primary_node_id && streq(m[i].node_id, ds->primary_node_id))
			return m[i].ordinal;
	return -1;
}

/* Common tail of add/remove/configure/destroy: datastore update, member
 * changes, the operation, in one transaction (lock held by the caller). */
static int commit_op(struct ops *o, struct store_datastore *ds, struct store_member *changed,
		     size_t n_changed, struct store_member *added, size_t n_added, const char *kind,
		     json_t *params, struct plan *plan, char ret_op[static UUID_STRING_MAX],
		     char reason[static OPS_REASON_MAX])
{
	struct store *s = o->c->store;
	int64_t now = now_s();
	int r;

	if (ds_running_state(kind) && (r = replace(&ds->state, ds_running_state(kind))) < 0)
		return r;
	ds->updated_at = now;
	r = store_tx_begin(s);
	if (r < 0)
		return reasonf(reason, r, "cannot store the operation");
	r = store_datastore_update(s, ds);
	for (size_t i = 0; r >= 0 && i < n_changed; i++) {
		changed[i].updated_at = now;
		r = store_member_update(s, &changed[i]);
	}
	for (size_t i = 0; r >= 0 && i < n_added; i++)
		r = store_member_insert(s, &added[i]);
	if (r >= 0)
		r = insert_op(o, ds->id, kind, params, plan, now, ret_op);
	if (r < 0) {
		store_tx_rollback(s);
		return reasonf(reason, r, "cannot store the operation");
	}
	r = store_tx_commit(s);
	if (r < 0)
		return reasonf(reason, r, "cannot store the operation");
	log_info("datastore %s: operation %s (%s) started", ds->name, ret_op, kind);
	return 0;
}

int ops_add_nodes(struct ops *o, const char *ds_id_or_name, int count,
		  char ret_op[static UUID_STRING_MAX], char reason[static OPS_REASON_MAX])
{
	struct store_datastore ds = {};
	struct store_member *members = NULL, *added = NULL;
	size_t n = 0, live = 0;
	_cleanup_free_ int *ordinals = NULL;
	_cleanup_json_ json_t *params = NULL;
	struct plan plan = {};
	int r, na = 0;

	reason[0] = 0;
	if (count < 1 || count > OPS_ADD_NODES_MAX)
		return reasonf(reason, -EINVAL, "'count' must be from 1 to %d", OPS_ADD_NODES_MAX);
	pthread_mutex_lock(&o->lock);
	if ((r = get_ds_idle(o, ds_id_or_name, &ds, reason)) < 0)
		goto out;
	if ((r = require_ready(&ds, reason)) < 0)
		goto out;
	if ((r = store_member_list(o->c->store, ds.id, false, &members, &n)) < 0)
		goto out;
	live = n;
	if (live + (size_t)count > CAIRN_DS_NODES_MAX) {
		r = reasonf(reason, -EINVAL, "datastore '%s' has %zu node(s): at most %d in all", ds.name,
			    live, CAIRN_DS_NODES_MAX);
		goto out;
	}
	int primary = primary_ordinal(&ds, members, n);
	if (primary < 0) {
		r = reasonf(reason, -EPERM, "datastore '%s' has no primary", ds.name);
		goto out;
	}
	ordinals = calloc(count, sizeof(int));
	added = calloc(count, sizeof(*added));
	if (!ordinals || !added) {
		r = -ENOMEM;
		goto out;
	}
	int64_t now = now_s();
	for (na = 0; na < count; na++) {
		ordinals[na] = ds.next_ordinal + na;
		if ((r = member_new(&ds, ordinals[na], "replica", now, &added[na])) < 0)
			goto out;
	}
	ds.next_ordinal += count;
	params = json_pack("{s:i}", "count", count);
	if (!params) {
		r = -ENOMEM;
		goto out;
	}
	if ((r = plan_pg_add_node(primary, ordinals, count, &plan)) < 0)
		goto out;
	r = commit_op(o, &ds, NULL, 0, added, count, "add_node", params, &plan, ret_op, reason);
out:
	pthread_mutex_unlock(&o->lock);
	if (r < 0 && !reason[0])
		reasonf(reason, r, "cannot add nodes");
	plan_done(&plan);
	store_member_array_free(added, na);
	store_member_array_free(members, n);
	store_datastore_done(&ds);
	return r;
}

int ops_remove_node(struct ops *o, const char *ds_id_or_name, const char *member,
		    char ret_op[static UUID_STRING_MAX], char reason[static OPS_REASON_MAX])
{
	struct store_datastore ds = {};
	struct store_member *members = NULL, *m = NULL;
	_cleanup_json_ json_t *params = NULL;
	struct plan plan = {};
	size_t n = 0;
	int r;

	reason[0] = 0;
	if (!member || !*member)
		return reasonf(reason, -EINVAL, "no member given");
	pthread_mutex_lock(&o->lock);
	if ((r = get_ds_idle(o, ds_id_or_name, &ds, reason)) < 0)
		goto out;
	if ((r = require_ready(&ds, reason)) < 0)
		goto out;
	if ((r = store_member_list(o->c->store, ds.id, false, &members, &n)) < 0)
		goto out;
	for (size_t i = 0; i < n && !m; i++)
		if (streq(members[i].node_id, member) || streq(members[i].name, member))
			m = &members[i];
	if (!m) {
		r = reasonf(reason, -ENOENT, "datastore '%s' has no member '%.64s'", ds.name, member);
		goto out;
	}
	int primary = primary_ordinal(&ds, members, n);
	if (m->ordinal == primary || streq(m->role, "primary")) {
		r = reasonf(reason, -EPERM,
			    "%s is the primary of '%s': a switchover is needed before it can be removed",
			    m->name, ds.name);
		goto out;
	}
	if ((r = replace(&m->state, "removing")) < 0)
		goto out;
	params = json_pack("{s:s, s:s}", "node_id", m->node_id, "member", m->name);
	if (!params) {
		r = -ENOMEM;
		goto out;
	}
	if ((r = plan_pg_remove_node(primary, m->ordinal, &plan)) < 0)
		goto out;
	r = commit_op(o, &ds, m, 1, NULL, 0, "remove_node", params, &plan, ret_op, reason);
out:
	pthread_mutex_unlock(&o->lock);
	if (r < 0 && !reason[0])
		reasonf(reason, r, "cannot remove the node");
	plan_done(&plan);
	store_member_array_free(members, n);
	store_datastore_done(&ds);
	return r;
}

int ops_configure(struct ops *o, const char *ds_id_or_name, json_t *patch,
		  char ret_op[static UUID_STRING_MAX], char reason[static OPS_REASON_MAX])
{
	struct store_datastore ds = {};
	struct store_member *members = NULL;
	_cleanup_json_ json_t *settings = NULL, *params = NULL;
	_cleanup_free_ int *replicas = NULL;
	_cleanup_free_ char *text = NULL;
	struct plan plan = {};
	size_t n = 0, nr = 0;
	const char *k;
	json_t *v;
	int r;

	reason[0] = 0;
	if (!json_is_object(patch) || json_object_size(patch) == 0)
		return reasonf(reason, -EINVAL, "'settings' must be a non-empty object");
	if ((r = ops_validate_settings(patch, true, reason)) < 0)
		return r;
	pthread_mutex_lock(&o->lock);
	if ((r = get_ds_idle(o, ds_id_or_name, &ds, reason)) < 0)
		goto out;
	if ((r = require_ready(&ds, reason)) < 0)
		goto out;
	settings = json_loads(ds.settings, 0, NULL);
	if (!json_is_object(settings)) {
		r = reasonf(reason, -EIO, "the datastore's stored settings are unreadable");
		goto out;
	}
	json_object_foreach(patch, k, v) {
		if (json_is_null(v))
			json_object_del(settings, k);
		else
			json_object_set(settings, k, v);
	}
	if (json_object_size(settings) > CAIRN_DS_SETTINGS_MAX) {
		r = reasonf(reason, -EINVAL, "the datastore would have more than %d settings",
			    CAIRN_DS_SETTINGS_MAX);
		goto out;
	}
	text = json_dumps(settings, JSON_COMPACT | JSON_SORT_KEYS);
	params = json_pack("{s:O}", "settings", patch);
	if (!text || !params) {
		r = -ENOMEM;
		goto out;
	}
	if ((r = replace(&ds.settings, text)) < 0)
		goto out;
	if ((r = store_member_list(o->c->store, ds.id, false, &members, &n)) < 0)
		goto out;
	int primary = primary_ordinal(&ds, members, n);
	if (primary < 0) {
		r = reasonf(reason, -EPERM, "datastore '%s' has no primary", ds.name);
		goto out;
	}
	replicas = calloc(n ?: 1, sizeof(int));
	if (!replicas) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (members[i].ordinal != primary)
			replicas[nr++] = members[i].ordinal;
	if ((r = plan_pg_configure(primary, replicas, nr, &plan)) < 0)
		goto out;
	r = commit_op(o, &ds, NULL, 0, NULL, 0, "configure", params, &plan, ret_op, reason);
out:
	pthread_mutex_unlock(&o->lock);
	if (r < 0 && !reason[0])
		reasonf(reason, r, "cannot configure");
	plan_done(&plan);
	store_member_array_free(members, n);
	store_datastore_done(&ds);
	return r;
}

int ops_destroy(struct ops *o, const char *ds_id_or_name, char ret_op[static UUID_STRING_MAX],
		char reason[static OPS_REASON_MAX])
{
	struct store_datastore ds = {};
	struct store_member *members = NULL;
	_cleanup_free_ int *ordinals = NULL;
	_cleanup_json_ json_t *params = json_object();
	struct plan plan = {};
	size_t n = 0;
	int r;

	reason[0] = 0;
	pthread_mutex_lock(&o->lock);
	if ((r = get_ds_idle(o, ds_id_or_name, &ds, reason)) < 0)
		goto out;
	if ((r = store_member_list(o->c->store, ds.id, false, &members, &n)) < 0)
		goto out;
	ordinals = calloc(n ?: 1, sizeof(int));
	if (!ordinals || !params) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		ordinals[i] = members[i].ordinal;
	if ((r = plan_pg_destroy(ordinals, n, &plan)) < 0)
		goto out;
	r = commit_op(o, &ds, NULL, 0, NULL, 0, "destroy", params, &plan, ret_op, reason);
out:
	pthread_mutex_unlock(&o->lock);
	if (r < 0 && !reason[0])
		reasonf(reason, r, "cannot destroy");
	plan_done(&plan);
	store_member_array_free(members, n);
	store_datastore_done(&ds);
	return r;
}

int ops_retry(struct ops *o, const char *op_id, char reason[static OPS_REASON_MAX])
{
	struct store *s = o->c->store;
	struct drive d = {};
	struct store_operation *latest = NULL;
	size_t nl = 0;
	int64_t now = now_s();
	int r;

	reason[0] = 0;
	pthread_mutex_lock(&o->lock);
	r = drive_load(o, op_id, &d);
	if (r == -ENOENT) {
		r = reasonf(reason, r, "no operation '%.64s'", op_id);
		goto out;
	}
	if (r < 0)
		goto out;
	if (!streq(d.op.state, "failed")) {
		r = reasonf(reason, -EBUSY, "operation %s is %s: only a failed operation can be retried",
			    d.op.id, d.op.state);
		goto out;
	}
	r = store_operation_list(s, d.op.ds_id, NULL, 1, &latest, &nl);
	if (r < 0)
		goto out;
	if (nl < 1 || !streq(latest[0].id, d.op.id)) {
		r = reasonf(reason, -EBUSY,
			    "operation %s is not the latest of datastore '%s' (%s is): it cannot be retried",
			    d.op.id, d.ds.name, nl ? latest[0].id : "?");
		goto out;
	}
	r = store_tx_begin(s);
	if (r < 0)
		goto out;
	for (size_t i = 0; r >= 0 && i < d.n_steps; i++) {
		struct store_step *st = &d.steps[i];
		bool again = streq(st->state, "failed");
		if (!again && streq(st->state, "running") && streq(st->kind, "job") && st->job_id) {
			/* A job that ended badly after the operation had failed. */
			struct store_job job = {};
			if (store_job_get(s, st->job_id, &job) >= 0)
				again = cairn_job_state_is_final(job.state) &&
					job.state != CAIRN_JOB_SUCCEEDED;
			store_job_done(&job);
		}
		if (!again)
			continue;
		if ((r = replace(&st->state, "pending")) < 0 || (r = replace(&st->job_id, NULL)) < 0 ||
		    (r = replace(&st->message, NULL)) < 0)
			break;
		st->started_at = st->finished_at = 0;
		r = store_step_update(s, st);
	}
	if (r >= 0 && (r = replace(&d.op.state, "running")) >= 0 &&
	    (r = replace(&d.op.message, NULL)) >= 0) {
		d.op.finished_at = 0;
		d.op.updated_at = now;
		r = store_operation_update(s, &d.op);
	}
	if (r >= 0 && ds_running_state(d.op.kind) &&
	    (r = replace(&d.ds.state, ds_running_state(d.op.kind))) >= 0) {
		d.ds.updated_at = now;
		r = store_datastore_update(s, &d.ds);
	}
	if (r < 0) {
		store_tx_rollback(s);
		goto out;
	}
	r = store_tx_commit(s);
	if (r >= 0)
		log_info("operation %s (%s of %s) retried", d.op.id, d.op.kind, d.ds.name);
out:
	pthread_mutex_unlock(&o->lock);
	if (r < 0 && !reason[0])
		reasonf(reason, r, "cannot retry the operation");
	store_operation_array_free(latest, nl);
	drive_done(&d);
	return r;
}

/* ---- backups (docs/backups.md "Controller") ----------------------------- */

/* The ready datastore's members (removed hidden), its primary's ordinal
 * and the replicas' ordinals.  Lock held. */
static int load_members(struct ops *o, const struct store_datastore *ds, struct store_member **ret_m,
			size_t *ret_n, int *ret_primary, int **ret_replicas, size_t *ret_nr,
			char reason[static OPS_REASON_MAX])
{
	struct store_member *m = NULL;
	size_t n = 0, nr = 0;
	int r = store_member_list(o->c->store, ds->id, false, &m, &n);
	if (r < 0)
		return r;
	int primary = primary_ordinal(ds, m, n);
	int *rep = calloc(n ?: 1, sizeof(int));
	if (primary < 0 || !rep) {
		free(rep);
		store_member_array_free(m, n);
		return primary < 0 ? reasonf(reason, -EPERM, "datastore '%s' has no primary", ds->name) : -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		if (m[i].ordinal != primary)
			rep[nr++] = m[i].ordinal;
	*ret_m = m;
	*ret_n = n;
	*ret_primary = primary;
	*ret_replicas = rep;
	*ret_nr = nr;
	return 0;
}

/* Stores an operation of a kind that leaves the datastore's state (lock
 * held), with `also` run in the same transaction when non-NULL. */
static int commit_keep_op(struct ops *o, const struct store_datastore *ds, const char *kind,
			  json_t *params, struct plan *plan,
			  int (*also)(struct ops *o, void *userdata, const char *op_id,
				      char reason[static OPS_REASON_MAX]),
			  void *userdata, char ret_op[static UUID_STRING_MAX],
			  char reason[static OPS_REASON_MAX])
{
	struct store *s = o->c->store;
	int r = store_tx_begin(s);
	if (r < 0)
		return reasonf(reason, r, "cannot store the operation");
	r = insert_op(o, ds->id, kind, params, plan, now_s(), ret_op);
	if (r < 0) {
		store_tx_rollback(s);
		return reasonf(reason, r, "cannot store the operation");
	}
	if (also && (r = also(o, userdata, ret_op, reason)) < 0) {
		store_tx_rollback(s);
		return r;
	}
	r = store_tx_commit(s);
	if (r < 0)
		return reasonf(reason, r, "cannot store the operation");
	log_info("datastore %s: operation %s (%s) started", ds->name, ret_op, kind);
	return 0;
}

struct config_ctx {
	const char *ds_id;
	struct backup_config_spec *spec;
};

static int store_config_cb(struct ops *o, void *userdata, const char *op_id,
			   char reason[static OPS_REASON_MAX])
{
	(void)op_id;
	struct config_ctx *x = userdata;
	return backup_config_store(o->c, x->ds_id, x->spec, reason);
}

int ops_backup_configure(struct ops *o, const char *ds_id_or_name, struct backup_config_spec *spec,
			 char ret_op[static UUID_STRING_MAX], char reason[static OPS_REASON_MAX])
{
	struct store_datastore ds = {};
	struct store_member *m = NULL;
	_cleanup_free_ int *replicas = NULL;
	_cleanup_json_ json_t *params = json_object();
	struct plan plan = {};
	size_t n = 0, nr = 0;
	int primary, r;

	reason[0] = 0;
	if (!params)
		return -ENOMEM;
	pthread_mutex_lock(&o->lock);
	if ((r = get_ds_idle(o, ds_id_or_name, &ds, reason)) < 0 || (r = require_ready(&ds, reason)) < 0)
		goto out;
	if ((r = load_members(o, &ds, &m, &n, &primary, &replicas, &nr, reason)) < 0)
		goto out;
	if ((r = plan_backup_configure(primary, replicas, nr, &plan)) < 0)
		goto out;
	struct config_ctx x = { ds.id, spec };
	r = commit_keep_op(o, &ds, "backup_config", params, &plan, store_config_cb, &x, ret_op, reason);
out:
	pthread_mutex_unlock(&o->lock);
	if (r < 0 && !reason[0])
		reasonf(reason, r, "cannot configure backups");
	plan_done(&plan);
	store_member_array_free(m, n);
	store_datastore_done(&ds);
	return r;
}

/* A replica that reports running and is reachable, else the primary. */
static int backup_source(struct ops *o, const struct store_member *m, size_t n, int primary)
{
	int64_t now = now_s();
	int64_t unreachable = o->c->config->node_unreachable_s > 0 ?
				      o->c->config->node_unreachable_s :
				      health_unreachable_s(o->c->config->status_interval_s);
	for (size_t i = 0; i < n; i++) {
		struct store_node node = {};
		bool ok = false;
		if (m[i].ordinal == primary || !streq(m[i].state, "ready"))
			continue;
		if (store_node_get(o->c->store, m[i].node_id, &node) >= 0) {
			_cleanup_json_ json_t *st = health_member_status(node.health, m[i].ds_id);
			ok = health_member_reachable(node.last_seen_at, now, unreachable) &&
			     json_is_true(json_object_get(st, "running")) &&
			     streq_ptr(json_string_value(json_object_get(st, "role")), "replica");
			store_node_done(&node);
		}
		if (ok)
			return m[i].ordinal;
	}
	return primary;
}

struct backup_ctx {
	struct store_backup *b;
};

static int insert_backup_cb(struct ops *o, void *userdata, const char *op_id,
			    char reason[static OPS_REASON_MAX])
{
	struct backup_ctx *x = userdata;
	x->b->operation_id = (char *)op_id; /* borrowed */
	int r = store_backup_insert(o->c->store, x->b);
	x->b->operation_id = NULL;
	return r < 0 ? reasonf(reason, r, "cannot store the backup") : 0;
}

int ops_backup(struct ops *o, const char *ds_id_or_name, char ret_backup[static UUID_STRING_MAX],
	       char ret_op[static UUID_STRING_MAX], char reason[static OPS_REASON_MAX])
{
	struct store_datastore ds = {};
	struct store_backup_config bc = {};
	struct store_member *m = NULL;
	_cleanup_free_ int *replicas = NULL;
	_cleanup_json_ json_t *params = NULL;
	struct plan plan = {};
	struct store_backup b = {};
	size_t n = 0, nr = 0;
	int primary, r;

	reason[0] = 0;
	pthread_mutex_lock(&o->lock);
	if ((r = get_ds_idle(o, ds_id_or_name, &ds, reason)) < 0 || (r = require_ready(&ds, reason)) < 0)
		goto out;
	r = store_backup_config_get(o->c->store, ds.id, &bc);
	store_backup_config_done(&bc);
	if (r == -ENOENT) {
		r = reasonf(reason, -EPERM, "datastore '%s' has no backup configuration", ds.name);
		goto out;
	}
	if (r < 0 || (r = load_members(o, &ds, &m, &n, &primary, &replicas, &nr, reason)) < 0)
		goto out;
	int source = backup_source(o, m, n, primary);
	if ((r = uuid_random(b.id)) < 0)
		goto out;
	if ((r = plan_backup(source, primary, b.id, &plan)) < 0)
		goto out;
	params = json_pack("{s:s}", "backup_id", b.id);
	if (!params) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (m[i].ordinal == source)
			b.node_id = m[i].node_id; /* borrowed */
	snprintf(b.ds_id, sizeof(b.ds_id), "%s", ds.id);
	b.state = (char *)"running";
	b.started_at = now_s();
	char op_id[UUID_STRING_MAX];
	struct backup_ctx x = { &b };
	r = commit_keep_op(o, &ds, "backup", params, &plan, insert_backup_cb, &x, op_id, reason);
	if (r >= 0) {
		memcpy(ret_backup, b.id, UUID_STRING_MAX);
		memcpy(ret_op, op_id, UUID_STRING_MAX);
	}
out:
	pthread_mutex_unlock(&o->lock);
	if (r < 0 && !reason[0])
		reasonf(reason, r, "cannot start the backup");
	plan_done(&plan);
	store_member_array_free(m, n);
	store_datastore_done(&ds);
	return r;
}

int ops_verify(struct ops *o, const char *backup_id, bool drill, char ret_op[static UUID_STRING_MAX],
	       char reason[static OPS_REASON_MAX])
{
	struct store_datastore ds = {};
	struct store_backup b = {};
	struct store_member *m = NULL;
	_cleanup_free_ int *replicas = NULL;
	_cleanup_json_ json_t *params = NULL;
	struct plan plan = {};
	size_t n = 0, nr = 0;
	int primary, r;

	reason[0] = 0;
	pthread_mutex_lock(&o->lock);
	r = store_backup_get(o->c->store, backup_id, &b);
	if (r == -ENOENT) {
		r = reasonf(reason, -ENOENT, "no backup '%.64s'", backup_id);
		goto out;
	}
	if (r < 0)
		goto out;
	if (!streq(b.state, "completed")) {
		r = reasonf(reason, -EPERM, "backup %s is %s: only a completed backup can be verified", b.id,
			    b.state);
		goto out;
	}
	if ((r = get_ds_idle(o, b.ds_id, &ds, reason)) < 0 || (r = require_ready(&ds, reason)) < 0)
		goto out;
	if ((r = load_members(o, &ds, &m, &n, &primary, &replicas, &nr, reason)) < 0)
		goto out;
	if ((r = plan_verify(backup_source(o, m, n, primary), b.id, drill, &plan)) < 0)
		goto out;
	params = json_pack("{s:s, s:b}", "backup_id", b.id, "drill", drill);
	if (!params) {
		r = -ENOMEM;
		goto out;
	}
	r = commit_keep_op(o, &ds, "verify", params, &plan, NULL, NULL, ret_op, reason);
out:
	pthread_mutex_unlock(&o->lock);
	if (r < 0 && !reason[0])
		reasonf(reason, r, "cannot verify the backup");
	plan_done(&plan);
	store_member_array_free(m, n);
	store_datastore_done(&ds);
	store_backup_done(&b);
	return r;
}

int ops_restore(struct ops *o, const struct ops_restore_spec *spec, char ret_ds[static UUID_STRING_MAX],
		char ret_op[static UUID_STRING_MAX], char **ret_password, char reason[static OPS_REASON_MAX])
{
	struct store_datastore src = {};
	struct store_backup *b = NULL;
	struct backup_pick *picks = NULL;
	size_t n = 0, idx = 0;
	_cleanup_json_ json_t *target = NULL, *settings = NULL, *size = NULL;
	int r;

	reason[0] = 0;
	if (spec->in_place)
		return reasonf(reason, -EOPNOTSUPP, "in-place restore is not implemented yet");
	r = store_datastore_get(o->c->store, spec->source, &src);
	if (r == -ENOENT)
		return reasonf(reason, r, "no datastore '%.64s'", spec->source);
	if (r < 0)
		return r;
	{
		struct store_backup_config bc = {};
		r = store_backup_config_get(o->c->store, src.id, &bc);
		store_backup_config_done(&bc);
		if (r == -ENOENT) {
			r = reasonf(reason, -EPERM,
				    "datastore '%s' has no backup configuration: its S3 target is needed to restore",
				    src.name);
			goto out;
		}
		if (r < 0)
			goto out;
	}
	if (spec->target_lsn && !backup_lsn_ok(spec->target_lsn)) {
		r = reasonf(reason, -EINVAL, "'target.lsn' must look like 0/3000028");
		goto out;
	}
	r = store_backup_list(o->c->store, src.id, "completed", &b, &n);
	if (r < 0)
		goto out;
	picks = calloc(n ?: 1, sizeof(*picks));
	if (!picks) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		picks[i] = (struct backup_pick){ b[i].id, b[i].state, b[i].started_at, b[i].finished_at };
	r = backup_restore_select(picks, n, spec->backup_id, spec->target_time, &idx);
	if (r == -ENOENT) {
		r = spec->backup_id ?
			    reasonf(reason, -ENOENT, "no completed backup '%.64s' of datastore '%s'",
				    spec->backup_id, src.name) :
			    reasonf(reason, -ENOENT, "datastore '%s' has no completed backup%s", src.name,
				    spec->target_time ? " that finished before the target time" : "");
		goto out;
	}
	if (spec->target_time)
		target = json_pack("{s:s, s:s}", "type", "time", "value", spec->target_time_text);
	else if (spec->target_lsn)
		target = json_pack("{s:s, s:s}", "type", "lsn", "value", spec->target_lsn);
	else
		target = json_pack("{s:s, s:n}", "type", "latest", "value");
	if (!target) {
		r = -ENOMEM;
		goto out;
	}
	struct ops_create_spec cs = {
		.name = spec->name,
		.engine = src.engine,
		.version = src.version,
		.nodes = spec->nodes,
	};
	settings = json_loads(src.settings, 0, NULL);
	size = json_loads(src.size, 0, NULL);
	cs.settings = settings;
	cs.size = size;
	r = create_datastore(o, &cs, "restore", src.id, b[idx].id, target, ret_ds, ret_op, ret_password,
			     reason);
out:
	free(picks);
	store_backup_array_free(b, n);
	store_datastore_done(&src);
	return r;
}
