/*
 * fuzz-agent-verify.c: the agent's whole acceptance path for a job as it
 * arrives from the network (node-agent/verify.c: JWS form, signature,
 * payload rules, params validators).
 *
 * The first input byte picks the mode: even, the rest is a compact JWS as
 * pulled; odd, the rest is a payload that the target signs with a trusted
 * key first, so the fuzzer reaches the payload checks and the executors'
 * params validators behind a good signature.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jws.h"
#include "pki.h"
#include "macro.h"
#include "verify.h"

static EVP_PKEY *key;
static char kid[CAIRN_KID_LEN + 1];
static struct jws_keyring *keyring;

static int setup(void)
{
	_cleanup_free_ char *pem = NULL;

	if (jws_key_generate(&key) < 0 || jws_key_id(key, kid) < 0)
		return -1;
	keyring = jws_keyring_new();
	if (!keyring || pki_pubkey_to_pem(key, &pem) < 0 || jws_keyring_add_pem(keyring, pem) < 0)
		return -1;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	_cleanup_free_ char *jws = NULL;
	_cleanup_json_ json_t *epochs = NULL;
	struct exec_config exec = { .state_dir = "/nonexistent/state", .tls_dir = "/nonexistent/tls",
				     .db_dir = "/nonexistent/db" };
	struct verify_result res = {};

	if (!ready) {
		if (setup() < 0)
			abort();
		ready = true;
	}
	if (size < 1 || size > CAIRN_JWS_MAX + 1)
		return 0;
	if (data[0] & 1) {
		_cleanup_json_ json_t *payload = json_loadb((const char *)data + 1, size - 1,
							   JSON_REJECT_DUPLICATES, NULL);
		if (!json_is_object(payload) || jws_sign(key, kid, payload, &jws) < 0)
			return 0;
	} else {
		jws = strndup((const char *)data + 1, size - 1);
		if (!jws)
			return 0;
	}
	epochs = json_pack("{s:i}", "ds-1", 5);
	struct verify_ctx ctx = {
		.node_id = "6b1c2d3e-0000-4000-8000-000000000001",
		.keyring = keyring,
		.accepted_seq = 10,
		.epochs = epochs,
		.skew_s = 120,
		.allow_debug = true,
		.exec = &exec,
	};
	(void)verify_job(jws, strlen(jws), &ctx, 1800000000, &res);
	verify_result_done(&res);
	return 0;
}
