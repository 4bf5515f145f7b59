/*
 * exec-pg.h: the PostgreSQL executors (docs/datastores.md "Jobs"):
 * pg.init, pg.slots, pg.replica, pg.config, pg.service, pg.destroy.
 *
 * Every path is derived from the agent's exec_config and the job's ds id
 * (never from params): PGDATA <db_dir>/<ds>/data, sockets
 * <db_dir>/<ds>/run, certificates <tls_dir>/<ds>/.  The server runs as
 * `postgres` under service "pg-<ds>" (service.h); the agent talks to it
 * over libpq on the Unix socket as postgres (peer).  The text of every
 * file the agent writes comes from the pure exec_pg_render_* functions.
 */
#pragma once

#include "exec.h"

#define EXEC_PG_SLOTS_MAX 64             /* slots in one pg.slots */
#define EXEC_PG_SLOT_NAME_MAX 63
#define EXEC_PG_CLUSTER_NAME_MAX 63
#define EXEC_PG_VERIFIER_MAX 512         /* "SCRAM-SHA-256$4096:<salt>$<stored>:<server>" */
#define EXEC_PG_SETTING_NAME_MAX 63
#define EXEC_PG_CONF_MAX (256 * 1024)    /* a configuration file we read back */
#define EXEC_PG_MARKER "cairn.ds"        /* <PGDATA>/cairn.ds: the ds id that owns it */
#define EXEC_PG_INITDB_CONF "postgresql.initdb.conf" /* initdb's postgresql.conf, included */
#define EXEC_PG_SETTINGS_CONF "cairn.conf"
#define EXEC_PG_ARCHIVE_CONF "cairn-archive.conf"   /* backup.configure's archiving settings */
#define EXEC_PG_RECOVERY_CONF "cairn-recovery.conf" /* pg.restore's, removed after the promotion */

/* What the agent's postgresql.conf says about one instance. */
struct exec_pg_conf {
	const char *db_dir;
	const char *tls_dir;
	const char *ds;
	const char *cluster_name;
	int port;
};

/* True for a replication slot name [a-z0-9_]{1,63}. */
bool exec_pg_slot_is_valid(const char *s);
/* True for a settings name [a-z][a-z0-9_.]{0,62} that the agent does not
 * manage itself (listen_addresses, ssl*, include*…). */
bool exec_pg_setting_name_is_valid(const char *s);
/* Checks a `settings` object: at most CAIRN_DS_SETTINGS_MAX members,
 * valid names, string values of at most CAIRN_DS_SETTING_VALUE_MAX
 * printable ASCII characters.  0 or -EINVAL with a reason. */
int exec_pg_check_settings(json_t *settings, char *reason, size_t reason_len);
/* True for a lowercase datastore id (the form jobs carry). */
bool exec_pg_ds_is_valid(const char *ds);

/* postgresql.conf: includes initdb's file, sets what the agent manages,
 * then includes cairn.conf.  Returns a new string or NULL. */
char *exec_pg_render_postgresql_conf(const struct exec_pg_conf *c);
/* cairn.conf from a checked settings object, names sorted. */
char *exec_pg_render_settings(json_t *settings);
/* pg_hba.conf exactly as in docs/datastores.md. */
char *exec_pg_render_hba(void);
/* pg_ident.conf: cairn_local (root, postgres → postgres; prometheus →
 * cairn_monitor) and cairn_cert (repl.<ds> → cairn_replication). */
char *exec_pg_render_ident(const char *ds);
/* A conninfo value in single quotes (' and \ escaped). */
char *exec_pg_conninfo_quote(const char *s);

int exec_pg_init_validate(json_t *params, const struct exec_config *cfg, char *reason, size_t reason_len);
int exec_pg_init_run(json_t *params, const struct exec_context *ctx, json_t **ret_output, char **ret_message);
int exec_pg_slots_validate(json_t *params, const struct exec_config *cfg, char *reason, size_t reason_len);
int exec_pg_slots_run(json_t *params, const struct exec_context *ctx, json_t **ret_output, char **ret_message);
int exec_pg_replica_validate(json_t *params, const struct exec_config *cfg, char *reason, size_t reason_len);
int exec_pg_replica_run(json_t *params, const struct exec_context *ctx, json_t **ret_output, char **ret_message);
int exec_pg_config_validate(json_t *params, const struct exec_config *cfg, char *reason, size_t reason_len);
int exec_pg_config_run(json_t *params, const struct exec_context *ctx, json_t **ret_output, char **ret_message);
int exec_pg_service_validate(json_t *params, const struct exec_config *cfg, char *reason, size_t reason_len);
int exec_pg_service_run(json_t *params, const struct exec_context *ctx, json_t **ret_output, char **ret_message);
int exec_pg_destroy_validate(json_t *params, const struct exec_config *cfg, char *reason, size_t reason_len);
int exec_pg_destroy_run(json_t *params, const struct exec_context *ctx, json_t **ret_output, char **ret_message);

/* pg.init's checks of version, port, settings, repl_cn, cluster_name and
 * admin_verifier (pg.restore takes the same members). */
int exec_pg_check_init_params(json_t *params, char *reason, size_t reason_len);

/* The end of pg.restore (exec-restore.c): `tmp` is a restored data
 * directory (owned by postgres) not yet in place, or NULL when it already
 * is.  Writes the node's own configuration, `recovery_conf` as
 * cairn-recovery.conf and recovery.signal into tmp, renames it to PGDATA,
 * starts the server as pg.init does, waits for the promotion, removes the
 * recovery settings and sets the roles (admin verifier).  Output as
 * pg.init's. */
int exec_pg_restore_finish(json_t *params, const struct exec_context *ctx, const char *tmp, const char *recovery_conf,
			   json_t **ret_output, char **ret_message);

/* pg.restore's start: makes <db_dir>/<ds> and its socket directory as
 * pg.init does and checks the TLS files.  Returns 0 when PGDATA is absent,
 * 1 when it is this datastore's, or -errno with a message. */
int exec_pg_restore_prepare(const struct exec_context *ctx, char **ret_message);
