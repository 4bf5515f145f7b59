/*
 * verify.c: one function, verify_job(), that says yes only when every rule
 * of DESIGN.md "Jobs" holds.  Form and payload checks are lib's (jws_parse,
 * job_claims_from_json); the rules that need the agent's own state are
 * here.  Besides yes/no it tells the caller two things the protocol needs:
 * the jti (so a refusal can be reported under it, even for a forged job)
 * and whether the signature verified (only then may settled_seq move to
 * the job's seq; docs/protocol.md "settled_seq").
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "journal.h"
#include "macro.h"
#include "protocol.h"
#include "verify.h"

void verify_result_done(struct verify_result *r)
{
	if (!r)
		return;
	if (r->have_claims)
		job_claims_done(&r->claims);
	r->have_claims = false;
}

static int refuse(struct verify_result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int refuse(struct verify_result *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
	va_end(ap);
	return -EPERM;
}

/* seq of a verified payload that may be otherwise invalid, or 0. */
static int64_t payload_seq(json_t *payload)
{
	json_t *v = json_object_get(payload, "seq");

	if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > CAIRN_SEQ_MAX)
		return 0;
	return json_integer_value(v);
}

int verify_job(const char *s, size_t len, const struct verify_ctx *ctx, int64_t now, struct verify_result *r)
{
	_cleanup_jws_ struct jws *jws = NULL;
	_cleanup_json_ json_t *payload = NULL;
	const char *why = NULL;
	EVP_PKEY *pub;
	struct job_claims *c = &r->claims;
	json_t *floor;
	int e;

	*r = (struct verify_result){};

	/* Form. */
	e = jws_parse(s, len, &jws, &payload, &why);
	if (payload && job_payload_jti(payload, r->jti) == 0)
		r->jti_readable = true;
	if (e == -ENOMEM)
		return -ENOMEM;
	if (e < 0)
		return refuse(r, "malformed job: %s", why ? why : "unreadable");
	if (!payload)
		payload = json_incref(jws->payload);
	if (!r->jti_readable && job_payload_jti(jws->payload, r->jti) == 0)
		r->jti_readable = true;

	/* Signature, by kid. */
	pub = jws_keyring_find(ctx->keyring, jws->kid);
	if (!pub)
		return refuse(r, "signature: unknown key id");
	if (jws_verify(jws, pub) < 0)
		return refuse(r, "signature: does not verify");
	r->signature_ok = true;
	r->seq = payload_seq(jws->payload);

	/* Payload members and types. */
	why = NULL;
	e = job_claims_from_json(jws->payload, c, &why);
	if (e == -ENOMEM)
		return -ENOMEM;
	if (e < 0)
		return refuse(r, "payload: %s", why ? why : "invalid");
	r->have_claims = true;
	r->seq = c->seq;

	/* Addressed to us, byte for byte. */
	if (!ctx->node_id || !c->sub || !streq(c->sub, ctx->node_id))
		return refuse(r, "sub: the job is for another node");

	/* Above the acceptance floor. */
	if (c->seq <= ctx->accepted_seq)
		return refuse(r, "seq: %" PRId64 " is not above the last accepted %" PRId64, c->seq,
			      ctx->accepted_seq);

	/* Time window. */
	if (c->nbf - ctx->skew_s > now)
		return refuse(r, "time: not valid yet (nbf)");
	if (now >= c->exp + ctx->skew_s)
		return refuse(r, "time: expired (exp)");
	if (c->iat > now + ctx->skew_s)
		return refuse(r, "time: issued in the future (iat)");

	/* Fencing epoch per datastore. */
	if (c->ds) {
		floor = json_object_get(ctx->epochs, c->ds);
		if (floor && c->epoch < json_integer_value(floor))
			return refuse(r, "epoch: %" PRId64 " is below the floor %" JSON_INTEGER_FORMAT
					 " for this datastore", c->epoch, json_integer_value(floor));
		if (!floor && json_object_size(ctx->epochs) >= JOURNAL_EPOCHS_MAX)
			return refuse(r, "epoch: too many datastores on this node");
	}

	/* Type and params. */
	r->exec = exec_lookup(c->type, ctx->allow_debug);
	if (!r->exec)
		return refuse(r, "type: unknown job type");
	if (r->exec->validate(c->params, ctx->exec, r->reason, sizeof(r->reason)) < 0) {
		r->exec = NULL;
		if (!r->reason[0])
			return refuse(r, "params: invalid");
		return -EPERM;
	}
	return 0;
}
