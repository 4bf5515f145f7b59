/*
 * config.h: the controller's configuration (docs/protocol.md "Controller
 * configuration").  Every key has a default and a range; unknown keys are
 * errors so that a typo never passes silently.  The parsed form is a plain
 * struct that the rest of the daemon reads and never writes.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#define CONFIG_PATH_DEFAULT SYSCONFDIR "/cairn/controller.conf"
#define CONFIG_STATE_DIR_DEFAULT "/var/lib/cairn-controller"
#define CONFIG_SERVER_NAMES_MAX 32
#define CONFIG_URL_MAX 512

/* A listen address parsed from "host:port" or "[v6]:port". */
struct config_listen {
	struct sockaddr_storage addr; /* address to bind */
	socklen_t addr_len;           /* length of addr */
	char text[128];               /* as written, for logs */
};

struct config_ratelimit {
	double rate;  /* tokens per second */
	double burst; /* bucket size */
};

/* [provisioner] (docs/datastores.md "Provisioners"). */
enum config_provisioner_kind {
	CONFIG_PROVISIONER_NONE,
	CONFIG_PROVISIONER_LOCAL,
	CONFIG_PROVISIONER_EXEC,
};

#define CONFIG_PROVISIONER_LOCAL_DIR_DEFAULT "/var/lib/cairn-local"
#define CONFIG_PROVISIONER_LOCAL_AGENT_DEFAULT "/usr/sbin/cairn-agent"
#define CONFIG_PROVISIONER_LOCAL_PROGRAM_DEFAULT LIBEXECDIR "/cairn-provision-local"

struct config_provisioner {
	enum config_provisioner_kind kind; /* none (default), local, exec */
	char *program;                /* exec: absolute path; local: the local provisioner */
	int64_t timeout_s;            /* per run, 1..3600 (600) */
	char *local_bridge;           /* local: bridge name, or NULL */
	char *local_subnet;           /* local: "198.18.N.0/24", or NULL */
	char *local_dir;              /* local: base directory */
	char *local_agent;            /* local: the agent binary */
};

struct config {
	char *state_dir;                 /* keys, database, admin token */
	struct config_listen api_listen; /* API listener */
	struct config_listen gateway_listen; /* agent gateway listener */
	char *public_api_url;            /* what nodes use to reach the API */
	char *public_gateway_url;        /* what nodes use to reach the gateway */
	char **server_names;             /* SANs of the server certificate, NULL-terminated */
	int log_level;                   /* syslog priority */
	int64_t join_token_ttl_s;        /* lifetime of a join token */
	int64_t node_cert_ttl_s;         /* lifetime of a node certificate */
	int64_t job_ttl_s;               /* default exp - nbf of an attempt */
	int64_t job_max_attempts;        /* default attempts of idempotent jobs */
	int64_t retry_base_s;            /* first retry backoff */
	int64_t retry_max_s;             /* backoff cap */
	int64_t poll_wait_max_s;         /* clamp of the pull's wait */
	int64_t status_interval_s;       /* next_report_s answered to agents */
	int64_t connection_limit;        /* per listener */
	struct config_ratelimit api_rl;     /* per API token */
	struct config_ratelimit gateway_rl; /* per node */
	struct config_ratelimit enroll_rl;  /* per peer address (enrolment, failed auth) */
	char *agent_package;             /* package cloud-init installs */
	bool allow_raw_jobs;             /* [testing]: accept {"raw_jws"} submissions */
	int64_t node_unreachable_s;      /* no status for this long: unreachable (0 in the file: 3 x status_interval_s) */
	struct config_provisioner provisioner; /* [provisioner] */
};

/* Parses a configuration text.  `name` appears in error messages.  Returns
 * 0 and a new config, or -EINVAL (-ENOMEM) and, when ret_error is non-NULL,
 * a heap message "name:line: reason". */
int config_parse(const char *name, const char *data, size_t len, struct config **ret,
		 char **ret_error);

/* Loads `path`; a missing file means all defaults (when `missing_ok`). */
int config_load(const char *path, bool missing_ok, struct config **ret, char **ret_error);

/* Default server names when the key is absent: hostname, localhost,
 * 127.0.0.1.  Returns a NULL-terminated heap array or NULL. */
char **config_default_server_names(void);

/* Parses "host:port" / "[v6]:port" (host an IP literal, or "*" for any
 * IPv4 address).  Returns 0 or -EINVAL. */
int config_parse_listen(const char *s, struct config_listen *ret);

void config_free(struct config *c);
static inline void config_freep(struct config **c) { config_free(*c); }
#define _cleanup_config_ __attribute__((cleanup(config_freep)))

void strv_free(char **l);
