/*
 * protocol.c: tables behind protocol.h (state names, job types).
 */
#include <errno.h>
#include <string.h>

#include <jansson.h>

#include "macro.h"
#include "protocol.h"

static const char *const job_state_names[_CAIRN_JOB_STATE_MAX] = {
	[CAIRN_JOB_PENDING] = "pending",
	[CAIRN_JOB_SENT] = "sent",
	[CAIRN_JOB_RUNNING] = "running",
	[CAIRN_JOB_SUCCEEDED] = "succeeded",
	[CAIRN_JOB_FAILED] = "failed",
	[CAIRN_JOB_REJECTED] = "rejected",
	[CAIRN_JOB_INTERRUPTED] = "interrupted",
	[CAIRN_JOB_TIMED_OUT] = "timed_out",
	[CAIRN_JOB_CANCELLED] = "cancelled",
};

const char *cairn_job_state_to_string(enum cairn_job_state s)
{
	if (s < 0 || s >= _CAIRN_JOB_STATE_MAX)
		return NULL;
	return job_state_names[s];
}

enum cairn_job_state cairn_job_state_from_string(const char *s)
{
	if (!s)
		return _CAIRN_JOB_STATE_INVALID;
	for (size_t i = 0; i < ELEMENTSOF(job_state_names); i++)
		if (streq(job_state_names[i], s))
			return (enum cairn_job_state)i;
	return _CAIRN_JOB_STATE_INVALID;
}

bool cairn_job_state_is_final(enum cairn_job_state s)
{
	return s >= CAIRN_JOB_SUCCEEDED && s < _CAIRN_JOB_STATE_MAX;
}

bool cairn_job_state_is_agent_result(enum cairn_job_state s)
{
	return s == CAIRN_JOB_SUCCEEDED || s == CAIRN_JOB_FAILED ||
	       s == CAIRN_JOB_REJECTED || s == CAIRN_JOB_INTERRUPTED;
}

static const struct cairn_job_type_info job_types[] = {
	{ .name = "node.facts", .idempotent = true, .default_timeout_s = 60 },
	{ .name = "tls.issue", .idempotent = true, .default_timeout_s = 120 },
	{ .name = "pkg.install", .idempotent = true, .default_timeout_s = 900 },
	{ .name = "pg.init", .idempotent = true, .default_timeout_s = 600,
	  /* SCRAM verifier: lets its holder pose as the server */
	  .secrets = (const char *const[]){ "admin_verifier", NULL } },
	{ .name = "pg.slots", .idempotent = true, .default_timeout_s = 60 },
	{ .name = "pg.replica", .idempotent = true, .default_timeout_s = 3600 },
	{ .name = "pg.config", .idempotent = true, .default_timeout_s = 120 },
	{ .name = "pg.service", .idempotent = true, .default_timeout_s = 300 },
	{ .name = "pg.destroy", .idempotent = true, .default_timeout_s = 300 },
	{ .name = "exporter.install", .idempotent = true, .default_timeout_s = 300 },
	{ .name = "backup.configure", .idempotent = true, .default_timeout_s = 120,
	  .secrets = (const char *const[]){ "s3.secret_key", "s3.session_token", "data_key", NULL } },
	{ .name = "backup.full", .idempotent = true, .default_timeout_s = 86400 },
	{ .name = "backup.verify", .idempotent = true, .default_timeout_s = 86400 },
	{ .name = "backup.drill", .idempotent = true, .default_timeout_s = 86400 },
	{ .name = "backup.delete", .idempotent = true, .default_timeout_s = 3600 },
	{ .name = "pg.restore", .idempotent = true, .default_timeout_s = 86400,
	  .secrets = (const char *const[]){ "source.s3.secret_key", "source.s3.session_token",
					    "source.data_key", "admin_verifier", NULL } },
	{ .name = "debug.sleep", .idempotent = false, .debug = true, .default_timeout_s = 3600 },
};

const struct cairn_job_type_info *cairn_job_type_lookup(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < ELEMENTSOF(job_types); i++)
		if (streq(job_types[i].name, name))
			return &job_types[i];
	return NULL;
}

void cairn_job_type_foreach_secret(const struct cairn_job_type_info *t, void *params,
				   void (*fn)(void *object, const char *member, void *userdata),
				   void *userdata)
{
	if (!t || !t->secrets || !params)
		return;
	for (const char *const *p = t->secrets; *p; p++) {
		json_t *o = params;
		const char *s = *p, *dot;
		char part[64];

		while (o && (dot = strchr(s, '.'))) {
			size_t n = (size_t)(dot - s);
			if (n >= sizeof(part)) {
				o = NULL;
				break;
			}
			memcpy(part, s, n);
			part[n] = 0;
			o = json_object_get(o, part);
			s = dot + 1;
		}
		if (json_is_object(o) && json_object_get(o, s))
			fn(o, s, userdata);
	}
}
