/*
 * service.h: long-running processes the agent keeps up on its node
 * (PostgreSQL, exporters), never as root (docs/datastores.md "Services on
 * the node").  Each service has a desired state in
 * <state_dir>/services/<name>.json (argv, user, environment, stop signal,
 * wanted: running or stopped), written atomically before it is acted on,
 * so a restarted agent knows what must run.  Two backends:
 *
 *  - systemd, when /run/systemd/system exists: a unit
 *    /etc/systemd/system/cairn-<name>.service written from the spec and
 *    driven over sd-bus;
 *  - direct otherwise: the agent forks the process itself (proc.h's user
 *    switch), restarts it with backoff when it dies, and after an agent
 *    restart adopts a still-running one (pid and start time recorded in
 *    the service file, checked against /proc/<pid>/stat).
 *
 * Names: [a-z0-9-]{1,64}, e.g. "pg-<ds>", "node-exporter",
 * "postgres-exporter-<ds>".  All calls are idempotent.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define SERVICE_NAME_MAX 64

struct services;

struct service_spec {
	const char *name;
	const char *const *argv;      /* argv[0] absolute */
	const char *const *env;       /* "K=V", NULL-terminated, or NULL */
	const char *user;             /* never root */
	const char *cwd;              /* or NULL */
	int stop_signal;              /* SIGTERM, or SIGINT for PostgreSQL's fast shutdown */
	int reload_signal;            /* SIGHUP, or 0 when the service has no reload */
	int64_t stop_timeout_ms;      /* then SIGKILL */
};

/* backend: NULL picks systemd when /run/systemd/system exists, else
 * direct; "direct" or "systemd" forces one (tests). */
int services_new(const char *state_dir, const char *backend, struct services **ret);
void services_free(struct services *s);

/* Records the spec as wanted running and starts it (or leaves it running
 * if it already runs with the same spec; a changed spec restarts it).
 * `ready` (may be NULL) is polled until it returns true or timeout_ms
 * passes (-ETIMEDOUT, the log tail in the agent log). */
int service_start(struct services *s, const struct service_spec *spec,
		  bool (*ready)(void *userdata), void *userdata, int64_t timeout_ms);
/* Wanted stopped; stops it and waits. */
int service_stop(struct services *s, const char *name);
int service_restart(struct services *s, const char *name,
		    bool (*ready)(void *userdata), void *userdata, int64_t timeout_ms);
/* Sends the reload signal (direct) or ReloadUnit (systemd). */
int service_reload(struct services *s, const char *name);
/* Stops it and forgets it (unit file and service file removed). */
int service_remove(struct services *s, const char *name);
/* 1 running, 0 not, -ENOENT unknown. *ret_pid (optional) its main pid. */
int service_status(struct services *s, const char *name, pid_t *ret_pid);

/* "systemd" or "direct": what runs the services (facts show it). */
const char *services_backend(const struct services *s);
/* systemd backend: disables and stops a unit the agent does not own but
 * replaces (a distribution package's exporter unit that would hold the
 * same port).  0 when done or when the unit is not installed; a no-op on
 * the direct backend. */
int services_disable_foreign(struct services *s, const char *unit);

/* The agent's loop calls this at least every 2 s and on SIGCHLD: reaps
 * children, restarts wanted services that died (backoff 1 s doubling to
 * 60 s, reset after 60 s up), logs each death with its exit status. */
void services_supervise(struct services *s, int64_t now_ms);

/* The systemd unit for a spec (the text of
 * /etc/systemd/system/cairn-<name>.service): every argv and environment
 * entry double-quoted with '\\' and '"' escaped, '%' doubled, and '$'
 * doubled in ExecStart=.  Returns 0 and a heap string, -EINVAL for a spec
 * that cannot be rendered, -EPERM for root. */
int service_unit_render(const struct service_spec *spec, char **ret_text);
