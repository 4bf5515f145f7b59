/*
 * test-agent-verify.c: every acceptance rule of DESIGN.md "Jobs", each with
 * a job that passes it and one that breaks it.  Jobs are signed here with
 * lib jws_sign (or by hand, with OpenSSL, for forms jws_sign would never
 * produce), and checked with verify_job() against a fixed agent state.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <inttypes.h>
#include <openssl/evp.h>

#include "exec.h"
#include "jws.h"
#include "macro.h"
#include "pki.h"
#include "protocol.h"
#include "util.h"
#include "verify.h"

#define NODE_ID "6b1c2f8e-0d3a-4c59-9e57-3f1f0c2a9b11"
#define OTHER_NODE "6b1c2f8e-0d3a-4c59-9e57-3f1f0c2a9b12"
#define DS_ID "ds-7"
#define NOW INT64_C(1795000000)
#define SKEW 120

static EVP_PKEY *key, *other_key;
static char kid[CAIRN_KID_LEN + 1], other_kid[CAIRN_KID_LEN + 1];
static struct jws_keyring *ring;
static json_t *epochs;
static struct exec_config exec_cfg = { .state_dir = "/var/lib/cairn", .tls_dir = "/etc/cairn/tls" };
static struct verify_ctx ctx;
static unsigned jti_counter;

static int setup(void **state)
{
	_cleanup_free_ char *pem = NULL;

	assert_int_equal(jws_key_generate(&key), 0);
	assert_int_equal(jws_key_generate(&other_key), 0);
	assert_int_equal(jws_key_id(key, kid), 0);
	assert_int_equal(jws_key_id(other_key, other_kid), 0);
	ring = jws_keyring_new();
	assert_non_null(ring);
	assert_int_equal(pki_pubkey_to_pem(key, &pem), 0);
	assert_int_equal(jws_keyring_add_pem(ring, pem), 0);
	return 0;
}

static int teardown(void **state)
{
	jws_keyring_free(ring);
	EVP_PKEY_free(key);
	EVP_PKEY_free(other_key);
	return 0;
}

/* Fresh agent state before each test: floor 10, ds-7 at epoch 5. */
static int reset(void **state)
{
	json_decref(epochs);
	epochs = json_pack("{s:i}", DS_ID, 5);
	ctx = (struct verify_ctx){
		.node_id = NODE_ID,
		.keyring = ring,
		.accepted_seq = 10,
		.epochs = epochs,
		.skew_s = SKEW,
		.allow_debug = false,
		.exec = &exec_cfg,
	};
	return 0;
}

static int cleanup_epochs(void **state)
{
	json_decref(epochs);
	epochs = NULL;
	return 0;
}

/* A valid payload: edit it, then sign it. */
static json_t *payload(void)
{
	char jti[UUID_STRING_MAX];

	snprintf(jti, sizeof(jti), "00000000-0000-4000-8000-%012u", ++jti_counter);
	return json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:n,s:i,s:s,s:{}}", "jti", jti, "sub", NODE_ID, "iat",
			 (json_int_t)NOW - 10, "nbf", (json_int_t)NOW - 10, "exp", (json_int_t)NOW + 3600, "seq",
			 (json_int_t)11, "ds", "epoch", 0, "type", "node.facts", "params");
}

static char *sign_with(EVP_PKEY *k, const char *k_id, json_t *p)
{
	char *jws = NULL;

	assert_int_equal(jws_sign(k, k_id, p, &jws), 0);
	json_decref(p);
	return jws;
}

static char *sign(json_t *p)
{
	return sign_with(key, kid, p);
}

/* Signs arbitrary header and payload texts by hand (forms jws_sign never makes). */
static char *sign_raw(EVP_PKEY *k, const char *header, const char *payload_text)
{
	_cleanup_free_ char *h = b64url_encode(header, strlen(header));
	_cleanup_free_ char *p = b64url_encode(payload_text, strlen(payload_text));
	_cleanup_free_ char *input = NULL, *s = NULL;
	unsigned char sig[64];
	size_t siglen = sizeof(sig);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	char *out = NULL;

	assert_non_null(h);
	assert_non_null(p);
	assert_true(asprintf(&input, "%s.%s", h, p) > 0);
	assert_int_equal(EVP_DigestSignInit(md, NULL, NULL, NULL, k), 1);
	assert_int_equal(EVP_DigestSign(md, sig, &siglen, (unsigned char *)input, strlen(input)), 1);
	EVP_MD_CTX_free(md);
	s = b64url_encode(sig, siglen);
	assert_true(asprintf(&out, "%s.%s", input, s) > 0);
	return out;
}

static char *payload_text(json_t *p)
{
	char *s = json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS);

	json_decref(p);
	assert_non_null(s);
	return s;
}

static int run(const char *jws, struct verify_result *r)
{
	return verify_job(jws, strlen(jws), &ctx, NOW, r);
}

static void expect_ok(char *jws)
{
	struct verify_result r;
	int e = run(jws, &r);

	if (e != 0)
		print_error("unexpected refusal: %s\n", r.reason);
	assert_int_equal(e, 0);
	assert_true(r.jti_readable);
	assert_true(r.signature_ok);
	assert_true(r.have_claims);
	assert_non_null(r.exec);
	assert_string_equal(r.reason, "");
	verify_result_done(&r);
	free(jws);
}

/* Refused; `sig_ok` is whether the signature verified, `needle` a part of
 * the reason. */
#define ANY (-1) /* jti readability not fixed by the contract for this form error */
static void expect_refused(char *jws, int jti_readable, bool sig_ok, const char *needle)
{
	struct verify_result r;
	int e = run(jws, &r);

	assert_int_equal(e, -EPERM);
	assert_true(r.reason[0] != 0);
	if (needle && !strstr(r.reason, needle))
		fail_msg("reason '%s' does not contain '%s'", r.reason, needle);
	if (jti_readable != ANY)
		assert_int_equal(r.jti_readable, jti_readable);
	assert_int_equal(r.signature_ok, sig_ok);
	if (!sig_ok)
		assert_int_equal(r.seq, 0);
	assert_null(r.exec);
	verify_result_done(&r);
	free(jws);
}

static void test_valid(void **state)
{
	struct verify_result r;
	char *jws = sign(payload());

	assert_int_equal(run(jws, &r), 0);
	assert_int_equal(r.seq, 11);
	assert_int_equal(r.claims.seq, 11);
	assert_string_equal(r.claims.sub, NODE_ID);
	assert_string_equal(r.claims.type, "node.facts");
	assert_string_equal(r.exec->name, "node.facts");
	verify_result_done(&r);
	free(jws);
}

static void test_signature_tampered(void **state)
{
	char *a = sign(payload()), *b;
	json_t *p = payload();
	char *dot1, *dot2, *mixed = NULL;

	json_object_set_new(p, "seq", json_integer(999));
	b = sign(p);
	/* header and signature of a, payload of b */
	dot1 = strchr(a, '.');
	dot2 = strrchr(a, '.');
	{
		char *bp = strchr(b, '.') + 1, *bend = strrchr(b, '.');

		assert_true(asprintf(&mixed, "%.*s.%.*s%s", (int)(dot1 - a), a, (int)(bend - bp), bp, dot2) > 0);
	}
	/* jti readable (from b's payload), signature fails, seq not trusted. */
	expect_refused(mixed, true, false, "signature");
	free(a);
	free(b);
}

static void test_signature_unknown_kid(void **state)
{
	expect_refused(sign_with(other_key, other_kid, payload()), true, false, "unknown key");
}

static void test_signature_wrong_key_known_kid(void **state)
{
	expect_refused(sign_with(other_key, kid, payload()), true, false, "signature");
}

static void test_signature_flipped_bit(void **state)
{
	char *jws = sign(payload());
	char *last = jws + strlen(jws) - 2;

	/* Change a middle character of the signature (keeps it canonical). */
	*last = *last == 'A' ? 'B' : 'A';
	expect_refused(jws, true, false, NULL);
}

static void test_sub(void **state)
{
	json_t *p = payload();

	expect_ok(sign(payload()));
	json_object_set_new(p, "sub", json_string(OTHER_NODE));
	expect_refused(sign(p), true, true, "sub");
	/* byte for byte: case and trailing characters matter */
	p = payload();
	json_object_set_new(p, "sub", json_string("6B1C2F8E-0D3A-4C59-9E57-3F1F0C2A9B11"));
	expect_refused(sign(p), true, true, "sub");
	p = payload();
	json_object_set_new(p, "sub", json_string(NODE_ID " "));
	expect_refused(sign(p), true, true, "sub");
}

static void test_seq_floor(void **state)
{
	struct verify_result r;
	json_t *p;
	char *jws;

	/* equal to the floor */
	p = payload();
	json_object_set_new(p, "seq", json_integer(10));
	jws = sign(p);
	assert_int_equal(run(jws, &r), -EPERM);
	assert_non_null(strstr(r.reason, "seq"));
	assert_true(r.signature_ok);
	assert_int_equal(r.seq, 10); /* verified: may settle */
	verify_result_done(&r);
	free(jws);
	/* below */
	p = payload();
	json_object_set_new(p, "seq", json_integer(3));
	expect_refused(sign(p), true, true, "seq");
	/* just above; seqs may skip */
	p = payload();
	json_object_set_new(p, "seq", json_integer(11));
	expect_ok(sign(p));
	p = payload();
	json_object_set_new(p, "seq", json_integer(5000));
	expect_ok(sign(p));
}

static void test_seq_range(void **state)
{
	json_t *p;

	ctx.accepted_seq = 0;
	p = payload();
	json_object_set_new(p, "seq", json_integer(0));
	expect_refused(sign(p), true, true, "payload");
	p = payload();
	json_object_set_new(p, "seq", json_integer(CAIRN_SEQ_MAX + 1)); /* 2^53 */
	expect_refused(sign(p), true, true, "payload");
	p = payload();
	json_object_set_new(p, "seq", json_integer(-1));
	expect_refused(sign(p), true, true, "payload");
	p = payload();
	json_object_set_new(p, "seq", json_string("12"));
	expect_refused(sign(p), true, true, "payload");
	p = payload();
	json_object_set_new(p, "seq", json_integer(1));
	expect_ok(sign(p));
	p = payload();
	json_object_set_new(p, "seq", json_integer(CAIRN_SEQ_MAX));
	expect_ok(sign(p));
}

static void test_time_exp(void **state)
{
	json_t *p = payload();

	json_object_set_new(p, "iat", json_integer(NOW - 7200));
	json_object_set_new(p, "nbf", json_integer(NOW - 7200));
	json_object_set_new(p, "exp", json_integer(NOW - SKEW));
	expect_refused(sign(p), true, true, "exp");
	p = payload();
	json_object_set_new(p, "iat", json_integer(NOW - 7200));
	json_object_set_new(p, "nbf", json_integer(NOW - 7200));
	json_object_set_new(p, "exp", json_integer(NOW - SKEW + 1)); /* within skew */
	expect_ok(sign(p));
}

static void test_time_nbf(void **state)
{
	json_t *p = payload();

	json_object_set_new(p, "nbf", json_integer(NOW + SKEW + 1));
	expect_refused(sign(p), true, true, "nbf");
	p = payload();
	json_object_set_new(p, "nbf", json_integer(NOW + SKEW));
	expect_ok(sign(p));
}

static void test_time_iat(void **state)
{
	json_t *p = payload();

	json_object_set_new(p, "iat", json_integer(NOW + SKEW + 1));
	expect_refused(sign(p), true, true, "iat");
	p = payload();
	json_object_set_new(p, "iat", json_integer(NOW + SKEW));
	expect_ok(sign(p));
}

static void test_epoch(void **state)
{
	json_t *p;

	/* below the floor of a known ds */
	p = payload();
	json_object_set_new(p, "ds", json_string(DS_ID));
	json_object_set_new(p, "epoch", json_integer(4));
	expect_refused(sign(p), true, true, "epoch");
	/* equal and above */
	p = payload();
	json_object_set_new(p, "ds", json_string(DS_ID));
	json_object_set_new(p, "epoch", json_integer(5));
	expect_ok(sign(p));
	p = payload();
	json_object_set_new(p, "ds", json_string(DS_ID));
	json_object_set_new(p, "epoch", json_integer(6));
	expect_ok(sign(p));
	/* a ds never seen: any epoch (it becomes the floor) */
	p = payload();
	json_object_set_new(p, "ds", json_string("ds-new"));
	json_object_set_new(p, "epoch", json_integer(0));
	expect_ok(sign(p));
	/* ds null with a non-zero epoch is malformed */
	p = payload();
	json_object_set_new(p, "epoch", json_integer(1));
	expect_refused(sign(p), true, true, "payload");
	/* negative epoch */
	p = payload();
	json_object_set_new(p, "ds", json_string(DS_ID));
	json_object_set_new(p, "epoch", json_integer(-1));
	expect_refused(sign(p), true, true, "payload");
}

static void test_payload_members(void **state)
{
	static const char *const required[] = { "jti", "sub", "iat", "nbf", "exp", "seq", "ds", "epoch", "type", "params" };
	json_t *p = payload();

	json_object_set_new(p, "extra", json_true());
	expect_refused(sign(p), true, true, "payload");
	for (size_t i = 0; i < ELEMENTSOF(required); i++) {
		p = payload();
		json_object_del(p, required[i]);
		expect_refused(sign(p), !streq(required[i], "jti"), true, "payload");
	}
	p = payload();
	json_object_set_new(p, "jti", json_string("not-a-uuid"));
	expect_refused(sign(p), false, true, "payload");
	p = payload();
	json_object_set_new(p, "params", json_array());
	expect_refused(sign(p), true, true, "payload");
}

static void test_type(void **state)
{
	json_t *p = payload();

	json_object_set_new(p, "type", json_string("rm.rf"));
	expect_refused(sign(p), true, true, "type");
	/* debug types only with allow_debug_jobs */
	p = payload();
	json_object_set_new(p, "type", json_string("debug.sleep"));
	json_object_set_new(p, "params", json_pack("{s:i}", "seconds", 1));
	expect_refused(sign(p), true, true, "type");
	ctx.allow_debug = true;
	p = payload();
	json_object_set_new(p, "type", json_string("debug.sleep"));
	json_object_set_new(p, "params", json_pack("{s:i}", "seconds", 1));
	expect_ok(sign(p));
}

static void test_params(void **state)
{
	json_t *p = payload();

	json_object_set_new(p, "params", json_pack("{s:i}", "unexpected", 1));
	expect_refused(sign(p), true, true, "unknown member");
	ctx.allow_debug = true;
	p = payload();
	json_object_set_new(p, "type", json_string("debug.sleep"));
	json_object_set_new(p, "params", json_pack("{s:i}", "seconds", 3601));
	expect_refused(sign(p), true, true, "seconds");
}

static json_t *tls_payload(const char *key_path, const char *cert_path)
{
	json_t *p = payload();

	json_object_set_new(p, "type", json_string("tls.issue"));
	json_object_set_new(p, "params", json_pack("{s:[s,s],s:s,s:s}", "names", "db-1.example", "10.0.0.5",
						   "key_path", key_path, "cert_path", cert_path));
	return p;
}

static void test_params_paths(void **state)
{
	expect_ok(sign(tls_payload("/etc/cairn/tls/pg/server.key", "/etc/cairn/tls/pg/server.crt")));
	expect_refused(sign(tls_payload("/etc/ssh/ssh_host_ed25519_key", "/etc/cairn/tls/a.crt")), true, true,
		       "key_path");
	expect_refused(sign(tls_payload("/etc/cairn/tls/../../shadow", "/etc/cairn/tls/a.crt")), true, true,
		       "key_path");
	expect_refused(sign(tls_payload("/etc/cairn/tls/a.key", "/etc/cairn/tlsX/a.crt")), true, true,
		       "cert_path");
	expect_refused(sign(tls_payload("etc/cairn/tls/a.key", "/etc/cairn/tls/a.crt")), true, true, "key_path");
	expect_refused(sign(tls_payload("/etc/cairn/tls/a.key", "/etc/cairn/tls/a.key")), true, true, "differ");
}

/* Form: padding, alphabet, segments, header members, duplicates, size. */
static void test_form_padding_alphabet(void **state)
{
	char *jws, *bad;
	bool found = false;

	/* padding after any segment */
	jws = sign(payload());
	assert_true(asprintf(&bad, "%s=", jws) > 0);
	expect_refused(bad, ANY, false, "malformed");
	{
		char *dot = strchr(jws, '.');

		assert_true(asprintf(&bad, "%.*s=%s", (int)(dot - jws), jws, dot) > 0);
		expect_refused(bad, ANY, false, "malformed");
	}
	free(jws);

	/* standard alphabet: find a signature with '-' or '_' and swap it */
	for (int i = 0; i < 200 && !found; i++) {
		char *sig;

		jws = sign(payload());
		sig = strrchr(jws, '.') + 1;
		for (char *c = sig; *c; c++)
			if (*c == '-' || *c == '_') {
				*c = *c == '-' ? '+' : '/';
				found = true;
				break;
			}
		if (found)
			expect_refused(jws, ANY, false, "malformed");
		else
			free(jws);
	}
	assert_true(found);

	/* whitespace, too many / too few segments */
	jws = sign(payload());
	assert_true(asprintf(&bad, " %s", jws) > 0);
	expect_refused(bad, ANY, false, "malformed");
	assert_true(asprintf(&bad, "%s.AAAA", jws) > 0);
	expect_refused(bad, ANY, false, "malformed");
	*strrchr(jws, '.') = 0;
	expect_refused(jws, ANY, false, "malformed");
	expect_refused(strdup(""), false, false, "malformed");
	expect_refused(strdup("garbage"), false, false, "malformed");
}

static void test_form_header(void **state)
{
	_cleanup_free_ char *pt = payload_text(payload());
	char hdr[256];

	/* exactly alg, kid, typ: a hand-made but correct header passes */
	snprintf(hdr, sizeof(hdr), "{\"alg\":\"EdDSA\",\"kid\":\"%s\",\"typ\":\"cairn-job\"}", kid);
	expect_ok(sign_raw(key, hdr, pt));
	snprintf(hdr, sizeof(hdr), "{\"alg\":\"EdDSA\",\"kid\":\"%s\",\"typ\":\"cairn-job\",\"crit\":[\"b64\"],\"b64\":false}", kid);
	expect_refused(sign_raw(key, hdr, pt), ANY, false, "malformed");
	snprintf(hdr, sizeof(hdr), "{\"alg\":\"none\",\"kid\":\"%s\",\"typ\":\"cairn-job\"}", kid);
	expect_refused(sign_raw(key, hdr, pt), ANY, false, "malformed");
	snprintf(hdr, sizeof(hdr), "{\"alg\":\"EdDSA\",\"kid\":\"%s\",\"typ\":\"JWT\"}", kid);
	expect_refused(sign_raw(key, hdr, pt), ANY, false, "malformed");
	snprintf(hdr, sizeof(hdr), "{\"alg\":\"EdDSA\",\"typ\":\"cairn-job\"}");
	expect_refused(sign_raw(key, hdr, pt), ANY, false, "malformed");
	snprintf(hdr, sizeof(hdr), "{\"alg\":\"EdDSA\",\"alg\":\"EdDSA\",\"kid\":\"%s\",\"typ\":\"cairn-job\"}", kid);
	expect_refused(sign_raw(key, hdr, pt), ANY, false, "malformed");
}

static void test_form_duplicate_payload_member(void **state)
{
	char hdr[256], pt[1024];

	snprintf(hdr, sizeof(hdr), "{\"alg\":\"EdDSA\",\"kid\":\"%s\",\"typ\":\"cairn-job\"}", kid);
	snprintf(pt, sizeof(pt),
		 "{\"ds\":null,\"epoch\":0,\"exp\":%" PRId64 ",\"iat\":%" PRId64 ",\"jti\":\"00000000-0000-4000-8000-000000000999\","
		 "\"nbf\":%" PRId64 ",\"params\":{},\"seq\":11,\"seq\":12,\"sub\":\"" NODE_ID "\",\"type\":\"node.facts\"}",
		 NOW + 3600, NOW - 10, NOW - 10);
	/* The payload does not parse as a whole: no jti is trusted from it. */
	expect_refused(sign_raw(key, hdr, pt), false, false, "malformed");
}

static void test_form_size(void **state)
{
	json_t *p = payload();
	char *big = malloc(CAIRN_JWS_MAX), hdr[128];
	_cleanup_free_ char *pt = NULL;

	/* jws_sign refuses to make one this large: sign it by hand. */
	memset(big, 'a', CAIRN_JWS_MAX - 1);
	big[CAIRN_JWS_MAX - 1] = 0;
	json_object_set_new(p, "params", json_pack("{s:s}", "pad", big));
	free(big);
	pt = payload_text(p);
	snprintf(hdr, sizeof(hdr), "{\"alg\":\"EdDSA\",\"kid\":\"%s\",\"typ\":\"cairn-job\"}", kid);
	expect_refused(sign_raw(key, hdr, pt), ANY, false, "malformed");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_valid, reset, cleanup_epochs),
		cmocka_unit_test_setup_teardown(test_signature_tampered, reset, cleanup_epochs),
		cmocka_unit_test_setup_teardown(test_signature_unknown_kid, reset, cleanup_epochs),
		cmocka_unit_test_setup_teardown(test_signature_wrong_key_known_kid, reset, cleanup_epochs),
		cmocka_unit_test_setup_teardown(test_signature_flipped_bit, reset, cleanup_epochs),
		cmocka_unit_test_setup_teardown(test_sub, reset, cleanup_epochs),
		cmocka_unit_test_setup_teardown(test_seq_floor, reset, cleanup_epochs),
		cmocka_unit_test_setup_teardown(test_seq_range, reset, cleanup_epochs),
		cmocka_unit_test_setup_teardown(test_time_exp, reset, cleanup_epochs),
		cmocka_unit_test_setup_teardown(test_time_nbf, reset, cleanup_epochs),
		cmocka_unit_test_setup_teardown(test_time_iat, reset, cleanup_epochs),
		cmocka_unit_test_setup_teardown(test_epoch, reset, cleanup_epochs),
		cmocka_unit_test_setup_teardown(test_payload_members, reset, cleanup_epochs),
		cmocka_unit_test_setup_teardown(test_type, reset, cleanup_epochs),
		cmocka_unit_test_setup_teardown(test_params, reset, cleanup_epochs),
		cmocka_unit_test_setup_teardown(test_params_paths, reset, cleanup_epochs),
		cmocka_unit_test_setup_teardown(test_form_padding_alphabet, reset, cleanup_epochs),
		cmocka_unit_test_setup_teardown(test_form_header, reset, cleanup_epochs),
		cmocka_unit_test_setup_teardown(test_form_duplicate_payload_member, reset, cleanup_epochs),
		cmocka_unit_test_setup_teardown(test_form_size, reset, cleanup_epochs),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
