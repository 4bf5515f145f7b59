/*
 * protocol.h: the wire contract between cairn-controller, cairn-agent and
 * cairnctl, in one place.  docs/protocol.md explains every item; DESIGN.md
 * fixes the job format and acceptance rules.  Anything both sides must agree
 * on (paths, limits, names of states and job types) lives here and nowhere
 * else.
 */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#define CAIRN_VERSION_STRING PACKAGE_VERSION

/* Listeners. */
#define CAIRN_API_PORT_DEFAULT 8443
#define CAIRN_GATEWAY_PORT_DEFAULT 8444

/* Identity. */
#define CAIRN_NODE_URI_PREFIX "cairn://node/"
#define CAIRN_JOIN_TOKEN_PREFIX "cjt_"  /* + base64url(32 random bytes) */
#define CAIRN_API_TOKEN_PREFIX "cat_"   /* + base64url(32 random bytes) */
#define CAIRN_TOKEN_RANDOM_BYTES 32
#define CAIRN_TOKEN_MAX 128             /* longest token string accepted */
#define CAIRN_NODE_ID_MAX 64            /* node ids are UUIDs (36 chars) */
#define CAIRN_NODE_NAME_MAX 63          /* DNS label rules */

/* Jobs (DESIGN.md "Jobs"). */
#define CAIRN_JOB_ALG "EdDSA"
#define CAIRN_JOB_TYP "cairn-job"
#define CAIRN_JWS_MAX (64 * 1024)       /* whole compact JWS */
#define CAIRN_SEQ_MAX INT64_C(9007199254740991) /* 2^53 - 1 */
#define CAIRN_SKEW_DEFAULT_S 120
#define CAIRN_KID_LEN 16                /* base64url chars of SHA-256(pubkey) */

/* Gateway pull and reports. */
#define CAIRN_PULL_MAX_BYTES (1024 * 1024)  /* whole pull response */
#define CAIRN_PULL_MAX_JOBS 64
#define CAIRN_POLL_WAIT_MAX_S 60
#define CAIRN_RESULT_MAX_BYTES (256 * 1024) /* PUT result body */
#define CAIRN_EVENT_MAX_BYTES (16 * 1024)   /* POST events body */
#define CAIRN_STATUS_MAX_BYTES (256 * 1024) /* POST status body */
#define CAIRN_API_BODY_MAX_BYTES (256 * 1024) /* any API request body */
#define CAIRN_CSR_MAX_BYTES (16 * 1024)

/* Paths.  API listener (bearer token, except enrol and health). */
#define CAIRN_PATH_ENROLL "/v1/enroll"
#define CAIRN_PATH_HEALTH "/v1/health"
#define CAIRN_PATH_NODES "/v1/nodes"
#define CAIRN_PATH_JOBS "/v1/jobs"
#define CAIRN_PATH_METRICS "/metrics"
#define CAIRN_PATH_DATASTORES "/v1/datastores"      /* docs/datastores.md */
#define CAIRN_PATH_OPERATIONS "/v1/operations"
#define CAIRN_PATH_SD_PROMETHEUS "/v1/sd/prometheus"
/* Gateway listener (client certificate). */
#define CAIRN_PATH_AGENT_JOBS "/v1/agent/jobs"     /* GET ?after=&wait= */
#define CAIRN_PATH_AGENT_STATUS "/v1/agent/status" /* POST */
#define CAIRN_PATH_AGENT_RENEW "/v1/agent/renew"   /* POST {csr} */
/* /v1/agent/jobs/<jti>/events  POST
 * /v1/agent/jobs/<jti>/result  PUT
 * /v1/agent/jobs/<jti>/csr     POST (tls.issue) */

#define CAIRN_PROBLEM_CONTENT_TYPE "application/problem+json"
#define CAIRN_PROBLEM_TYPE_BASE "https://cairn.dev/problems/"

/* Datastores (docs/datastores.md). */
#define CAIRN_DS_NAME_MAX 40            /* DNS label, leaves room for "-<ordinal>" */
#define CAIRN_DS_NODES_MAX 9            /* members of one datastore */
#define CAIRN_DS_SETTINGS_MAX 100       /* user PostgreSQL parameters */
#define CAIRN_DS_SETTING_VALUE_MAX 1024
#define CAIRN_PG_PORT_DEFAULT 5432
#define CAIRN_NODE_EXPORTER_PORT 9100
#define CAIRN_POSTGRES_EXPORTER_PORT 9187
#define CAIRN_PG_ADMIN_USER "cairn_admin"
#define CAIRN_PG_REPL_USER "cairn_replication"
#define CAIRN_PG_MONITOR_USER "cairn_monitor"
#define CAIRN_PG_SLOT_PREFIX "cairn_m"       /* + member ordinal */
#define CAIRN_PG_REPL_CN_PREFIX "repl."      /* + datastore id */

/* Job states, as stored by the controller and shown by the API. */
enum cairn_job_state {
	CAIRN_JOB_PENDING,
	CAIRN_JOB_SENT,
	CAIRN_JOB_RUNNING,
	CAIRN_JOB_SUCCEEDED,
	CAIRN_JOB_FAILED,
	CAIRN_JOB_REJECTED,
	CAIRN_JOB_INTERRUPTED,
	CAIRN_JOB_TIMED_OUT,
	CAIRN_JOB_CANCELLED,
	_CAIRN_JOB_STATE_MAX,
	_CAIRN_JOB_STATE_INVALID = -EINVAL,
};

/* Returns the state's name, or NULL. */
const char *cairn_job_state_to_string(enum cairn_job_state s);
/* Returns the state, or -EINVAL. */
enum cairn_job_state cairn_job_state_from_string(const char *s);
/* True for succeeded, failed, rejected, interrupted, timed_out, cancelled. */
bool cairn_job_state_is_final(enum cairn_job_state s);
/* True for the four states an agent may put in a result. */
bool cairn_job_state_is_agent_result(enum cairn_job_state s);

/* Job types both sides know.  The controller uses `idempotent` to decide
 * whether a failed or lost attempt may be retried; the agent uses it to
 * decide whether a job interrupted by a crash is finished or reported
 * `interrupted`. */
struct cairn_job_type_info {
	const char *name;       /* "node.facts" */
	bool idempotent;        /* safe to run again from the start */
	bool debug;             /* only when the agent allows debug jobs */
	int default_timeout_s;  /* run time after which the attempt is timed out */
	/* Secret params (docs/backups.md "Secret job parameters"): dotted
	 * paths into params ("s3.secret_key"), NULL-terminated, or NULL.  The
	 * API never shows them, the controller's store keeps them sealed, the
	 * agent's journal never holds them. */
	const char *const *secrets;
};

/* Calls fn(params_object_holding_it, member_name, userdata) for every
 * secret param of the type present in `params` (a jansson json_t *,
 * passed as void * to keep jansson out of this header). */
void cairn_job_type_foreach_secret(const struct cairn_job_type_info *t, void *params,
				   void (*fn)(void *object, const char *member, void *userdata),
				   void *userdata);

/* Returns the type's row, or NULL when unknown. */
const struct cairn_job_type_info *cairn_job_type_lookup(const char *name);
