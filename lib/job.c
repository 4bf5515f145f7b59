/*
 * job.c: the job payload of DESIGN.md "Jobs", to and from JSON.
 *
 * job_claims_from_json() checks form only: every member present with its
 * type and range, nothing else present.  Numbers must be JSON integers (a
 * real such as 1.0 is refused) and stay within 2^53-1 so that any JSON
 * implementation reads them exactly.  Rules that need the agent's state
 * (sub, seq floor, time, epoch floor, params schema) live in the agent.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "job.h"
#include "macro.h"
#include "protocol.h"

static const char *const job_members[] = {
	"jti", "sub", "iat", "nbf", "exp", "seq", "ds", "epoch", "type", "params",
};

/* A string member without NUL inside, 1..max bytes; NULL otherwise. */
static const char *string_member(json_t *v, size_t max)
{
	const char *s = json_string_value(v);
	size_t n;

	if (!s)
		return NULL;
	n = json_string_length(v);
	if (n == 0 || n > max || strlen(s) != n)
		return NULL;
	return s;
}

/* An integer member in [min, max]; false otherwise. */
static bool int_member(json_t *v, int64_t min, int64_t max, int64_t *ret)
{
	json_int_t i;

	if (!json_is_integer(v))
		return false;
	i = json_integer_value(v);
	if (i < min || i > max)
		return false;
	*ret = (int64_t)i;
	return true;
}

int job_claims_from_json(json_t *payload, struct job_claims *ret, const char **ret_reason)
{
	struct job_claims c = {};
	const char *key, *jti, *sub, *ds = NULL, *type, *why;
	json_t *v, *params;

#define REFUSE(reason)                                                         \
	do {                                                                   \
		why = (reason);                                                \
		goto fail;                                                     \
	} while (0)

	if (!ret)
		return -EINVAL;
	if (!json_is_object(payload))
		REFUSE("payload is not a JSON object");

	json_object_foreach(payload, key, v) {
		bool known = false;
		for (size_t i = 0; i < ELEMENTSOF(job_members); i++)
			if (streq(key, job_members[i]))
				known = true;
		if (!known)
			REFUSE("payload has unknown member");
	}

	v = json_object_get(payload, "jti");
	if (!v)
		REFUSE("jti missing");
	jti = string_member(v, UUID_STRING_MAX - 1);
	if (!jti || !uuid_is_valid(jti))
		REFUSE("jti is not a UUID");

	v = json_object_get(payload, "sub");
	if (!v)
		REFUSE("sub missing");
	if (!json_is_string(v))
		REFUSE("sub is not a string");
	sub = string_member(v, CAIRN_NODE_ID_MAX);
	if (!sub)
		REFUSE("sub is empty or too long");

	v = json_object_get(payload, "iat");
	if (!v)
		REFUSE("iat missing");
	if (!int_member(v, 0, JOB_TIME_MAX, &c.iat))
		REFUSE("iat is not an integer in range");
	v = json_object_get(payload, "nbf");
	if (!v)
		REFUSE("nbf missing");
	if (!int_member(v, 0, JOB_TIME_MAX, &c.nbf))
		REFUSE("nbf is not an integer in range");
	v = json_object_get(payload, "exp");
	if (!v)
		REFUSE("exp missing");
	if (!int_member(v, 0, JOB_TIME_MAX, &c.exp))
		REFUSE("exp is not an integer in range");

	v = json_object_get(payload, "seq");
	if (!v)
		REFUSE("seq missing");
	if (!int_member(v, 1, CAIRN_SEQ_MAX, &c.seq))
		REFUSE("seq is not an integer in 1..2^53-1");

	v = json_object_get(payload, "ds");
	if (!v)
		REFUSE("ds missing");
	if (!json_is_null(v)) {
		if (!json_is_string(v))
			REFUSE("ds is not a string or null");
		ds = string_member(v, JOB_DS_MAX);
		if (!ds)
			REFUSE("ds is empty or too long");
	}

	v = json_object_get(payload, "epoch");
	if (!v)
		REFUSE("epoch missing");
	if (!int_member(v, 0, CAIRN_SEQ_MAX, &c.epoch))
		REFUSE("epoch is not an integer >= 0");
	if (!ds && c.epoch != 0)
		REFUSE("epoch must be 0 when ds is null");

	v = json_object_get(payload, "type");
	if (!v)
		REFUSE("type missing");
	if (!json_is_string(v))
		REFUSE("type is not a string");
	type = string_member(v, JOB_TYPE_MAX);
	if (!type)
		REFUSE("type is empty or too long");

	params = json_object_get(payload, "params");
	if (!params)
		REFUSE("params missing");
	if (!json_is_object(params))
		REFUSE("params is not an object");

	memcpy(c.jti, jti, UUID_STRING_MAX);
	c.sub = strdup(sub);
	c.ds = ds ? strdup(ds) : NULL;
	c.type = strdup(type);
	if (!c.sub || (ds && !c.ds) || !c.type) {
		job_claims_done(&c);
		if (ret_reason)
			*ret_reason = "out of memory";
		return -ENOMEM;
	}
	c.params = json_incref(params);
	*ret = c;
	return 0;

fail:
	if (ret_reason)
		*ret_reason = why;
	return -EINVAL;
#undef REFUSE
}

json_t *job_claims_to_json(const struct job_claims *c)
{
	json_t *params;

	if (!c || !c->sub || !c->type)
		return NULL;
	params = c->params ? json_incref(c->params) : json_object();
	return json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:o, s:I, s:s, s:o}", "jti", c->jti,
			 "sub", c->sub, "iat", (json_int_t)c->iat, "nbf", (json_int_t)c->nbf,
			 "exp", (json_int_t)c->exp, "seq", (json_int_t)c->seq, "ds",
			 c->ds ? json_string(c->ds) : json_null(), "epoch", (json_int_t)c->epoch,
			 "type", c->type, "params", params);
}

void job_claims_done(struct job_claims *c)
{
	if (!c)
		return;
	free(c->sub);
	free(c->ds);
	free(c->type);
	json_decref(c->params);
	*c = (struct job_claims){};
}

int job_payload_jti(json_t *payload, char ret[static UUID_STRING_MAX])
{
	json_t *v = json_object_get(payload, "jti");
	const char *s = string_member(v, UUID_STRING_MAX - 1);

	if (!s || !uuid_is_valid(s))
		return -ENOENT;
	memcpy(ret, s, UUID_STRING_MAX);
	return 0;
}
