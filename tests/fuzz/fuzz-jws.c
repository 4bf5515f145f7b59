/*
 * fuzz-jws.c: libFuzzer target for the job path of the agent: jws_parse(),
 * jws_verify() and job_claims_from_json().
 *
 * An input starting with '{' is taken as a raw payload and goes straight
 * to job_claims_from_json(), so that the fuzzer reaches the payload rules
 * without having to find base64url first; anything else is a compact JWS.
 * The seeds in corpus/jws/ are signed with the key below, so valid ones
 * reach the end of the path.  Invariants are checked with abort():
 * accepted claims serialise back to the very payload, and a jti reported
 * for a refused job is a UUID.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "job.h"
#include "jws.h"
#include "macro.h"
#include "pki.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Public half of a throwaway test key (kid U0WY34TDU30iCffX). */
static const char fuzz_pub_pem[] = "-----BEGIN PUBLIC KEY-----\n"
				   "MCowBQYDK2VwAyEAXYs1GA6IBioRnScfE7v6wzkiJWMWxZ75h9JlwQ7KaO4=\n"
				   "-----END PUBLIC KEY-----\n";

static void check_claims(json_t *payload)
{
	struct job_claims c = {};
	const char *why = NULL;
	char jti[UUID_STRING_MAX];

	if (job_payload_jti(payload, jti) == 0 && !uuid_is_valid(jti))
		abort();
	if (job_claims_from_json(payload, &c, &why) == 0) {
		_cleanup_json_ json_t *back = job_claims_to_json(&c);
		if (!back || !json_equal(back, payload))
			abort();
		job_claims_done(&c);
	} else if (!why)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static EVP_PKEY *pub;
	_cleanup_jws_ struct jws *j = NULL;
	_cleanup_json_ json_t *payload = NULL;
	const char *why = NULL;
	int r;

	if (!pub && pki_pubkey_from_pem(fuzz_pub_pem, &pub) < 0)
		abort();

	if (size > 0 && data[0] == '{') {
		json_t *p = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
		if (p) {
			check_claims(p);
			json_decref(p);
		}
		return 0;
	}

	r = jws_parse((const char *)data, size, &j, &payload, &why);
	if (r < 0) {
		if (!why)
			abort();
		if (j)
			abort();
		if (payload) {
			if (!json_is_object(payload))
				abort();
			check_claims(payload);
		}
		return 0;
	}
	if (!j || !j->kid || j->sig_len != 64 || !json_is_object(j->payload) || payload)
		abort();
	(void)jws_verify(j, pub);
	check_claims(j->payload);
	return 0;
}
