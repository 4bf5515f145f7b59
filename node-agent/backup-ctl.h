/*
 * backup-ctl.h: the agent's control socket (docs/backups.md "wal-push and
 * wal-fetch").  PostgreSQL runs `cairn-agent wal-push|wal-fetch` as its
 * archive_command/restore_command; that client opens the WAL file itself
 * (as postgres) and passes the descriptor to the agent over a Unix
 * socket with SCM_RIGHTS and one JSON line; the agent checks the caller
 * (SO_PEERCRED: root, or the owner of the datastore's data directory),
 * does the S3 work with the keys it holds in memory, and answers one line
 * {"ok":true} or {"ok":false,"error":"…"}.
 *
 * The server is one thread that accepts and one detached thread per
 * connection, at most BACKUP_CTL_CONNS_MAX at a time (more are answered
 * "busy" and PostgreSQL retries).  Requests are bounded (one line of at
 * most BACKUP_CTL_LINE_MAX bytes, read within BACKUP_CTL_READ_TIMEOUT_MS).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <sys/types.h>

#include <jansson.h>

#include "exec.h"

#define BACKUP_CTL_SOCKET_DEFAULT "/run/cairn/agent.sock"
#define BACKUP_CTL_SOCKET_ENV "CAIRN_AGENT_SOCKET" /* overrides the default (tests) */
#define BACKUP_CTL_LINE_MAX 1024
#define BACKUP_CTL_ERROR_MAX 900
#define BACKUP_CTL_READ_TIMEOUT_MS 5000
#define BACKUP_CTL_ANSWER_TIMEOUT_S 600  /* the client waits this long for the answer */
#define BACKUP_CTL_CONNS_MAX 8

enum backup_ctl_op {
	BACKUP_CTL_WAL_PUSH,
	BACKUP_CTL_WAL_FETCH,
};

struct backup_ctl_request {
	enum backup_ctl_op op;
	char ds[37];
	char name[64];
};

/* Parses one request line (without its newline): exactly the members op,
 * ds (a lowercase uuid) and name (a WAL file name).  0 or -EINVAL. */
int backup_ctl_parse_request(const char *line, size_t len, struct backup_ctl_request *ret);

/* The socket path the agent and the clients use: $CAIRN_AGENT_SOCKET, else
 * <run_dir>/agent.sock as set by backup_ctl_socket_path_set (the agent's
 * config `run_dir`), else the default.  The clients get --socket in
 * archive_command when it is not the default. */
const char *backup_ctl_socket_path(void);
/* -ENAMETOOLONG (the default stays) when the path exceeds sun_path. */
int backup_ctl_socket_path_set(const char *run_dir);

struct backup_ctl;

/* Binds the socket (0666; its directory made 0755) and starts the
 * server.  cfg must outlive it. */
int backup_ctl_start(const struct exec_config *cfg, const char *path, struct backup_ctl **ret);

/* Stops accepting, waits for running connections (bounded) and frees. */
void backup_ctl_stop(struct backup_ctl *s);

/* The client: `cairn-agent wal-push|wal-fetch` (argv after the verb).
 * Returns the process exit status. */
int backup_ctl_client_main(const char *verb, int argc, char **argv);

/* Handles one request (the server's work, exposed for tests): fd is the
 * passed descriptor, uid the peer's.  0 or -errno and *ret_error. */
int backup_ctl_handle(const struct exec_config *cfg, const struct backup_ctl_request *req, int fd, uid_t uid,
		      char **ret_error);

/* Adds "backup": {"configured", "keys_loaded"} to each entry of a status
 * report's `databases` array (NULL fine) whose datastore has a backup
 * configuration or keys here; for a configured, running primary also
 * pg_stat_archiver's "last_archived_at" (Unix s), "last_archived_wal",
 * "archive_failed_count", "last_failed_at" (bounded by pgstatus's
 * timeouts; left out when the server does not answer). */
void backup_status_annotate(json_t *databases, const struct exec_config *cfg);

/* The agent's own executable path (for archive_command and
 * restore_command), without the " (deleted)" of a replaced binary. */
int backup_self_path(char *buf, size_t size);

/* The command PostgreSQL runs to reach this agent:
 * "<agent> <verb> [--socket <path>] --ds <ds> <args>" (archive_command:
 * verb wal-push, args "%p %f"; restore_command: wal-fetch, "%f %p").
 * Every part is checked to need no quoting.  NULL and *ret_message (when
 * not set yet) on failure. */
char *backup_ctl_command(const char *verb, const char *ds, const char *args, char **ret_message);
