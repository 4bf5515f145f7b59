/*
 * config.h: the agent's configuration file (/etc/cairn/agent.conf,
 * docs/protocol.md "Agent configuration").  Every key is checked for type
 * and range when the file is read, and an unknown key is an error, so a
 * typo stops the agent at start instead of being ignored silently.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#define AGENT_CONFIG_DEFAULT_PATH "/etc/cairn/agent.conf"
#define AGENT_STATE_DIR_DEFAULT "/var/lib/cairn"
#define AGENT_CA_FILE_DEFAULT "/etc/cairn/ca.pem"
#define AGENT_TOKEN_FILE_DEFAULT "/etc/cairn/join.token"
#define AGENT_TLS_DIR_DEFAULT "/etc/cairn/tls"
#define AGENT_DB_DIR_DEFAULT "/var/lib/cairn-db"
#define AGENT_RUN_DIR_DEFAULT "/run/cairn" /* the control socket agent.sock */
#define AGENT_POLL_WAIT_DEFAULT_S 30
#define AGENT_SKEW_MAX_S 3600
#define AGENT_URL_MAX 1024  /* longest controller URL accepted */
#define AGENT_PATH_MAX 1024 /* longest file or directory name accepted */

struct agent_config {
	char *state_dir;       /* absolute, no trailing '/' */
	char *api_url;         /* https://host:port, enrolment; may be NULL once enrolled */
	char *gateway_url;     /* https://host:port, or NULL (taken from enrolment) */
	char *ca_file;         /* controller CA to trust the API before enrolment */
	char *token_file;      /* join token, removed after enrolment */
	char *tls_dir;         /* where tls.issue may write, absolute, no trailing '/' */
	char *db_dir;          /* database files: <db_dir>/<ds>/{data,run}, absolute */
	char *run_dir;         /* runtime files: the control socket <run_dir>/agent.sock */
	int64_t poll_wait_s;   /* long-poll wait, 0 … CAIRN_POLL_WAIT_MAX_S */
	int64_t skew_s;        /* allowed clock skew for job times, 0 … AGENT_SKEW_MAX_S */
	int log_level;         /* syslog priority */
	bool allow_debug_jobs; /* accept debug.* job types (tests only) */
};

/* Parses the configuration in `data` (`name` for messages).  Returns 0 and a
 * heap config (free with agent_config_free), or -EINVAL (-ENOMEM) and, when
 * ret_error is non-NULL, a heap message naming the file, line and key. */
int agent_config_parse(const char *name, const char *data, size_t len, struct agent_config **ret,
		       char **ret_error);

/* Reads and parses `path`.  Same contract as agent_config_parse(). */
int agent_config_load(const char *path, struct agent_config **ret, char **ret_error);

void agent_config_free(struct agent_config *c);
static inline void agent_config_freep(struct agent_config **p) { agent_config_free(*p); }
#define _cleanup_agent_config_ __attribute__((cleanup(agent_config_freep)))
