/*
 * test-jws.c: unit tests for lib/jws.c.  Besides the round trip, every
 * rule of DESIGN.md "Form" is broken once, with a correctly signed JWS
 * otherwise, so that each refusal is proven to come from that rule; every
 * one-byte change of a good JWS must fail; keys are checked both ways.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "jws.h"
#include "macro.h"
#include "util.h"

static EVP_PKEY *key, *other_key;
static char kid[CAIRN_KID_LEN + 1];

static const char payload_text[] =
	"{\"ds\":null,\"epoch\":0,\"exp\":1795431600,\"iat\":1795428000,"
	"\"jti\":\"6b1c6d0e-2f4a-4b8e-9c1d-0123456789ab\",\"nbf\":1795428000,"
	"\"params\":{\"names\":[\"db-1.example\"],\"x\":\"?\?\?>>>\"},\"seq\":7,"
	"\"sub\":\"0f0e0d0c-0b0a-4909-8807-060504030201\",\"type\":\"tls.issue\"}";

static int setup(void **state)
{
	if (jws_key_generate(&key) < 0 || jws_key_generate(&other_key) < 0)
		return -1;
	return jws_key_id(key, kid) < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	EVP_PKEY_free(key);
	EVP_PKEY_free(other_key);
	return 0;
}

/* base64url of a text. */
static char *b64s(const char *s)
{
	char *r = b64url_encode(s, strlen(s));
	assert_non_null(r);
	return r;
}

/* Signs "h.p" with k (raw Ed25519) and returns b64url of the signature. */
static char *sign_raw(EVP_PKEY *k, const char *si)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char sig[64];
	size_t sl = sizeof(sig);

	assert_non_null(ctx);
	assert_int_equal(EVP_DigestSignInit(ctx, NULL, NULL, NULL, k), 1);
	assert_int_equal(EVP_DigestSign(ctx, sig, &sl, (const unsigned char *)si, strlen(si)), 1);
	EVP_MD_CTX_free(ctx);
	return b64url_encode(sig, sl);
}

/* A correctly signed compact JWS from raw header and payload segments
 * (already base64url or not: the caller decides). */
static char *make_jws_segments(const char *h64, const char *p64)
{
	size_t n = strlen(h64) + strlen(p64) + 2;
	_cleanup_free_ char *si = malloc(n);
	_cleanup_free_ char *sig = NULL;
	char *out;

	assert_non_null(si);
	snprintf(si, n, "%s.%s", h64, p64);
	sig = sign_raw(key, si);
	assert_non_null(sig);
	assert_true(asprintf(&out, "%s.%s", si, sig) > 0);
	return out;
}

/* A correctly signed compact JWS from header and payload JSON texts. */
static char *make_jws(const char *header, const char *payload)
{
	_cleanup_free_ char *h = b64s(header), *p = b64s(payload);
	return make_jws_segments(h, p);
}

static char *good_header(void)
{
	char *h;
	assert_true(asprintf(&h, "{\"alg\":\"EdDSA\",\"kid\":\"%s\",\"typ\":\"cairn-job\"}", kid) > 0);
	return h;
}

/* Parses and verifies with key; returns 0 only when both succeed. */
static int parse_verify(const char *s, size_t len, const char **why)
{
	_cleanup_jws_ struct jws *j = NULL;
	int r;

	*why = NULL;
	r = jws_parse(s, len, &j, NULL, why);
	if (r < 0)
		return r;
	assert_non_null(j);
	r = jws_verify(j, key);
	if (r < 0)
		*why = "signature";
	return r;
}

/* Expects jws_parse() to refuse s with exactly this reason. */
static void expect_refused(const char *s, const char *reason)
{
	struct jws *j = NULL;
	const char *why = NULL;

	assert_int_equal(jws_parse(s, strlen(s), &j, NULL, &why), -EINVAL);
	assert_null(j);
	if (!why || !streq(why, reason))
		fail_msg("%s: expected \"%s\", got \"%s\"", s, reason, why ? why : "(null)");
}

static void test_roundtrip(void **state)
{
	_cleanup_json_ json_t *payload = json_loads(payload_text, 0, NULL);
	_cleanup_free_ char *s = NULL, *hdr = good_header(), *hb = NULL, *pb = NULL;
	_cleanup_jws_ struct jws *j = NULL;
	const char *why = NULL;
	json_t *pl = NULL;

	assert_non_null(payload);
	assert_int_equal(jws_sign(key, kid, payload, &s), 0);
	assert_int_equal(jws_parse(s, strlen(s), &j, &pl, &why), 0);
	assert_null(pl);
	assert_string_equal(j->kid, kid);
	assert_int_equal(j->sig_len, 64);
	assert_true(json_equal(j->payload, payload));
	assert_int_equal(jws_verify(j, key), 0);
	assert_int_equal(jws_verify(j, other_key), -EBADMSG);
	assert_int_equal(jws_verify(j, NULL), -EBADMSG);

	/* Exact bytes: the fixed header, the compact sorted payload. */
	hb = b64s(hdr);
	pb = b64s(payload_text);
	assert_true(strncmp(s, hb, strlen(hb)) == 0);
	assert_int_equal(s[strlen(hb)], '.');
	assert_true(strncmp(s + strlen(hb) + 1, pb, strlen(pb)) == 0);
	assert_int_equal(j->signing_input_len, strlen(hb) + 1 + strlen(pb));
	assert_true(strncmp(j->signing_input, s, j->signing_input_len) == 0);
	assert_int_equal(strlen(s), strlen(hb) + 1 + strlen(pb) + 1 + 86);

	/* Made by hand, with our test signer: the same bytes. */
	_cleanup_free_ char *again = make_jws(hdr, payload_text);
	assert_string_equal(again, s);
}

static void test_key_id(void **state)
{
	/* RFC 8032 test 1 key: the kid is the first 16 chars of
	 * base64url(SHA-256(raw public key)). */
	static const unsigned char priv[32] = {
		0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a,
		0xf4, 0x92, 0xec, 0x2c, 0xc4, 0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32,
		0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60,
	};
	static const unsigned char pub[32] = {
		0xd7, 0x5a, 0x98, 0x01, 0x82, 0xb1, 0x0a, 0xb7, 0xd5, 0x4b, 0xfe,
		0xd3, 0xc9, 0x64, 0x07, 0x3a, 0x0e, 0xe1, 0x72, 0xf3, 0xda, 0xa6,
		0x23, 0x25, 0xaf, 0x02, 0x1a, 0x68, 0xf7, 0x07, 0x51, 0x1a,
	};
	EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, priv, 32);
	EVP_PKEY *p = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, 32);
	unsigned char md[32];
	char a[CAIRN_KID_LEN + 1], b[CAIRN_KID_LEN + 1];
	_cleanup_free_ char *expect = NULL;
	EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");

	assert_non_null(k);
	assert_non_null(p);
	assert_int_equal(sha256(pub, 32, md), 0);
	expect = b64url_encode(md, 32);
	expect[CAIRN_KID_LEN] = '\0';
	assert_int_equal(jws_key_id(k, a), 0);
	assert_int_equal(jws_key_id(p, b), 0);
	assert_string_equal(a, expect);
	assert_string_equal(b, expect);
	assert_int_equal(strlen(a), CAIRN_KID_LEN);

	assert_int_equal(jws_key_id(ec, a), -EINVAL);
	assert_int_equal(jws_key_id(NULL, a), -EINVAL);

	/* RFC 8037 A.4: a JWS from the RFC verifies with jws_verify(). */
	static const char si[] = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
	static const char sig64[] = "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5"
				    "BhVsPt9g7sVvpAr_MuM0KAg";
	_cleanup_free_ unsigned char *sig = NULL;
	size_t sl;
	assert_int_equal(b64url_decode(sig64, strlen(sig64), &sig, &sl), 0);
	struct jws j = { .signing_input = (char *)si, .signing_input_len = strlen(si),
			 .sig = sig, .sig_len = sl };
	assert_int_equal(jws_verify(&j, p), 0);
	j.signing_input_len--;
	assert_int_equal(jws_verify(&j, p), -EBADMSG);
	j.signing_input_len++;
	assert_int_equal(jws_verify(&j, ec), -EBADMSG);

	EVP_PKEY_free(k);
	EVP_PKEY_free(p);
	EVP_PKEY_free(ec);
}

static void test_sign_refusals(void **state)
{
	_cleanup_json_ json_t *arr = json_array();
	_cleanup_json_ json_t *obj = json_object();
	_cleanup_json_ json_t *big = json_object();
	EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	char *s = NULL;

	assert_int_equal(jws_sign(key, kid, arr, &s), -EINVAL);
	assert_int_equal(jws_sign(key, kid, NULL, &s), -EINVAL);
	assert_int_equal(jws_sign(key, "", obj, &s), -EINVAL);
	assert_int_equal(jws_sign(key, "a.b", obj, &s), -EINVAL);
	assert_int_equal(jws_sign(key, "a\"b", obj, &s), -EINVAL);
	assert_int_equal(jws_sign(ec, kid, obj, &s), -EINVAL);
	assert_int_equal(jws_sign(NULL, kid, obj, &s), -EINVAL);
	assert_null(s);

	/* Too large for any agent to accept: refused when made. */
	char *pad = malloc(CAIRN_JWS_MAX);
	assert_non_null(pad);
	memset(pad, 'a', CAIRN_JWS_MAX - 1);
	pad[CAIRN_JWS_MAX - 1] = '\0';
	json_object_set_new(big, "x", json_string(pad));
	assert_int_equal(jws_sign(key, kid, big, &s), -EMSGSIZE);
	/* Just under the limit passes. */
	pad[CAIRN_JWS_MAX / 4 * 3 - 200] = '\0';
	json_object_set_new(big, "x", json_string(pad));
	assert_int_equal(jws_sign(key, kid, big, &s), 0);
	assert_true(strlen(s) <= CAIRN_JWS_MAX);
	free(s);
	free(pad);
	EVP_PKEY_free(ec);
}

static void test_segments(void **state)
{
	_cleanup_free_ char *hdr = good_header();
	_cleanup_free_ char *good = make_jws(hdr, payload_text);
	_cleanup_free_ char *s = NULL;
	const char *why;

	assert_int_equal(parse_verify(good, strlen(good), &why), 0);

	/* Two segments. */
	char *dot = strrchr(good, '.');
	s = strndup(good, (size_t)(dot - good));
	expect_refused(s, "JWS must have exactly three segments");
	free(s);
	/* Four segments. */
	assert_true(asprintf(&s, "%s.", good) > 0);
	expect_refused(s, "JWS must have exactly three segments");
	free(s);
	assert_true(asprintf(&s, "%s.AAAA", good) > 0);
	expect_refused(s, "JWS must have exactly three segments");
	free(s);
	s = NULL;
	expect_refused("", "JWS must have exactly three segments");
	expect_refused("abc", "JWS must have exactly three segments");
	expect_refused("..", "payload is not valid JSON");
	expect_refused("...", "JWS must have exactly three segments");

	/* A NUL inside is outside the alphabet, wherever it is. */
	size_t n = strlen(good);
	for (size_t i = 0; i < n; i += 37) {
		char *c = strdup(good);
		if (c[i] != '.') {
			struct jws *j = NULL;
			c[i] = '\0';
			assert_int_equal(jws_parse(c, n, &j, NULL, &why), -EINVAL);
			assert_null(j);
		}
		free(c);
	}

	/* Oversized input is refused before anything else. */
	char *big = malloc(CAIRN_JWS_MAX + 2);
	assert_non_null(big);
	memset(big, 'A', CAIRN_JWS_MAX + 1);
	big[10] = '.';
	big[20] = '.';
	big[CAIRN_JWS_MAX + 1] = '\0';
	expect_refused(big, "JWS too large");
	free(big);
	assert_int_equal(jws_parse(NULL, 0, &(struct jws *){ NULL }, NULL, &why), -EINVAL);
}

/* Replaces the segment `which` (0, 1, 2) of a good JWS by seg. */
static char *with_segment(const char *jws, int which, const char *seg)
{
	const char *d1 = strchr(jws, '.'), *d2 = strchr(d1 + 1, '.');
	char *out;
	int r;

	if (which == 0)
		r = asprintf(&out, "%s%s", seg, d1);
	else if (which == 1)
		r = asprintf(&out, "%.*s.%s%s", (int)(d1 - jws), jws, seg, d2);
	else
		r = asprintf(&out, "%.*s.%s", (int)(d2 - jws), jws, seg);
	assert_true(r > 0);
	return out;
}

static char *segment(const char *jws, int which)
{
	const char *d1 = strchr(jws, '.'), *d2 = strchr(d1 + 1, '.');

	if (which == 0)
		return strndup(jws, (size_t)(d1 - jws));
	if (which == 1)
		return strndup(d1 + 1, (size_t)(d2 - d1 - 1));
	return strdup(d2 + 1);
}

static void test_base64_rules(void **state)
{
	static const char *const reasons[] = { "bad base64url in header", "bad base64url in payload",
					       "bad base64url in signature" };
	_cleanup_free_ char *hdr = good_header();
	_cleanup_free_ char *good = make_jws(hdr, payload_text);

	for (int w = 0; w < 3; w++) {
		_cleanup_free_ char *seg = segment(good, w);
		size_t n = strlen(seg);
		char *bad, *t;

		/* Padding, as a standard encoder would add it. */
		assert_int_not_equal(n % 4, 0);
		assert_true(asprintf(&t, "%s%s", seg, n % 4 == 2 ? "==" : "=") > 0);
		bad = with_segment(good, w, t);
		expect_refused(bad, reasons[w]);
		free(bad);
		free(t);
		assert_true(asprintf(&t, "%s=", seg) > 0);
		bad = with_segment(good, w, t);
		expect_refused(bad, reasons[w]);
		free(bad);
		free(t);

		/* Standard alphabet. */
		t = strdup(seg);
		bool changed = false;
		for (char *p = t; *p; p++) {
			if (*p == '-') {
				*p = '+';
				changed = true;
			} else if (*p == '_') {
				*p = '/';
				changed = true;
			}
		}
		if (changed) {
			bad = with_segment(good, w, t);
			expect_refused(bad, reasons[w]);
			free(bad);
		}
		free(t);

		/* Non-zero unused trailing bits: same bytes for a lax decoder. */
		t = strdup(seg);
		t[n - 1] = t[n - 1] == 'A' ? 'B' : t[n - 1] == 'Q' ? 'R' : t[n - 1] == 'g' ? 'h' :
			   t[n - 1] == 'w' ? 'x' : (char)(t[n - 1] + 1);
		bad = with_segment(good, w, t);
		expect_refused(bad, reasons[w]);
		free(bad);
		free(t);

		/* Whitespace, and length % 4 == 1. */
		assert_true(asprintf(&t, "%s\n", seg) > 0);
		bad = with_segment(good, w, t);
		expect_refused(bad, reasons[w]);
		free(bad);
		free(t);
		assert_true(asprintf(&t, " %s", seg) > 0);
		bad = with_segment(good, w, t);
		expect_refused(bad, reasons[w]);
		free(bad);
		free(t);
	}

	/* The payload's own '-'/'_' exist (the "?>>" text): make sure the
	 * standard-alphabet case above was really exercised. */
	_cleanup_free_ char *p = segment(good, 1);
	assert_true(strpbrk(p, "-_") != NULL);

	/* Signature of 63 and 65 bytes. */
	unsigned char raw[65] = { 1 };
	_cleanup_free_ char *s63 = b64url_encode(raw, 63), *s65 = b64url_encode(raw, 65);
	char *bad = with_segment(good, 2, s63);
	expect_refused(bad, "signature is not 64 bytes");
	free(bad);
	bad = with_segment(good, 2, s65);
	expect_refused(bad, "signature is not 64 bytes");
	free(bad);
	bad = with_segment(good, 2, "");
	expect_refused(bad, "signature is not 64 bytes");
	free(bad);
}

static void test_json_rules(void **state)
{
	_cleanup_free_ char *hdr = good_header();
	char *h, *s;

#define REFUSED_HDR(text, reason)                                              \
	do {                                                                   \
		s = make_jws(text, payload_text);                              \
		expect_refused(s, reason);                                     \
		free(s);                                                       \
	} while (0)
#define REFUSED_PAYLOAD(text, reason)                                          \
	do {                                                                   \
		s = make_jws(hdr, text);                                       \
		expect_refused(s, reason);                                     \
		free(s);                                                       \
	} while (0)

	/* Duplicate members. */
	assert_true(asprintf(&h, "{\"alg\":\"EdDSA\",\"kid\":\"%s\",\"typ\":\"cairn-job\",\"alg\":\"EdDSA\"}",
			     kid) > 0);
	REFUSED_HDR(h, "header is not valid JSON");
	free(h);
	assert_true(asprintf(&h, "{\"alg\":\"EdDSA\",\"kid\":\"%s\",\"kid\":\"%s\",\"typ\":\"cairn-job\"}",
			     kid, kid) > 0);
	REFUSED_HDR(h, "header is not valid JSON");
	free(h);
	REFUSED_PAYLOAD("{\"seq\":1,\"seq\":2}", "payload is not valid JSON");
	REFUSED_PAYLOAD("{\"params\":{\"a\":1,\"a\":1}}", "payload is not valid JSON");

	/* Extra, crit, b64 header members. */
	assert_true(asprintf(&h, "{\"alg\":\"EdDSA\",\"kid\":\"%s\",\"typ\":\"cairn-job\",\"x5u\":\"https://e\"}",
			     kid) > 0);
	REFUSED_HDR(h, "header has unknown member");
	free(h);
	assert_true(asprintf(&h, "{\"alg\":\"EdDSA\",\"crit\":[\"exp\"],\"kid\":\"%s\",\"typ\":\"cairn-job\"}",
			     kid) > 0);
	REFUSED_HDR(h, "header has crit");
	free(h);
	assert_true(asprintf(&h, "{\"alg\":\"EdDSA\",\"b64\":false,\"kid\":\"%s\",\"typ\":\"cairn-job\"}",
			     kid) > 0);
	REFUSED_HDR(h, "header has b64");
	free(h);
	assert_true(asprintf(&h, "{\"alg\":\"EdDSA\",\"kid\":\"%s\",\"typ\":\"cairn-job\",\"jwk\":{}}", kid) > 0);
	REFUSED_HDR(h, "header has unknown member");
	free(h);

	/* Wrong or missing alg, typ, kid. */
	static const char *const algs[] = { "\"none\"", "\"HS256\"", "\"ES256\"", "\"eddsa\"",
					    "\"EdDSA \"", "\"Ed25519\"", "null", "1", "[\"EdDSA\"]" };
	for (size_t i = 0; i < ELEMENTSOF(algs); i++) {
		assert_true(asprintf(&h, "{\"alg\":%s,\"kid\":\"%s\",\"typ\":\"cairn-job\"}", algs[i],
				     kid) > 0);
		REFUSED_HDR(h, "header alg is not EdDSA");
		free(h);
	}
	static const char *const typs[] = { "\"JWT\"", "\"cairn-job \"", "\"Cairn-Job\"",
					    "\"application/cairn-job\"", "null", "{}" };
	for (size_t i = 0; i < ELEMENTSOF(typs); i++) {
		assert_true(asprintf(&h, "{\"alg\":\"EdDSA\",\"kid\":\"%s\",\"typ\":%s}", kid,
				     typs[i]) > 0);
		REFUSED_HDR(h, "header typ is not cairn-job");
		free(h);
	}
	REFUSED_HDR("{\"alg\":\"EdDSA\",\"typ\":\"cairn-job\"}", "header has no kid");
	assert_true(asprintf(&h, "{\"kid\":\"%s\",\"typ\":\"cairn-job\"}", kid) > 0);
	REFUSED_HDR(h, "header has no alg");
	free(h);
	assert_true(asprintf(&h, "{\"alg\":\"EdDSA\",\"kid\":\"%s\"}", kid) > 0);
	REFUSED_HDR(h, "header has no typ");
	free(h);
	static const char *const kids[] = { "1", "null", "\"\"", "\"a.b\"", "\"a b\"",
					    "\"\\u00e9\"", "[\"x\"]",
					    "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"" };
	for (size_t i = 0; i < ELEMENTSOF(kids); i++) {
		assert_true(asprintf(&h, "{\"alg\":\"EdDSA\",\"kid\":%s,\"typ\":\"cairn-job\"}",
				     kids[i]) > 0);
		REFUSED_HDR(h, "header kid is malformed");
		free(h);
	}

	/* Not objects, not JSON. */
	REFUSED_HDR("[]", "header is not a JSON object");
	REFUSED_HDR("\"x\"", "header is not valid JSON");
	REFUSED_HDR("{\"alg\":\"EdDSA\"", "header is not valid JSON");
	REFUSED_HDR("", "header is not valid JSON");
	REFUSED_PAYLOAD("[1]", "payload is not a JSON object");
	REFUSED_PAYLOAD("7", "payload is not valid JSON");
	REFUSED_PAYLOAD("{} {}", "payload is not valid JSON");
	REFUSED_PAYLOAD("{\"a\":\"\\u0000\"}", "payload is not valid JSON");
	REFUSED_PAYLOAD("{\"a\":\"\xff\"}", "payload is not valid JSON");
	REFUSED_PAYLOAD("", "payload is not valid JSON");

	/* Whitespace and key order in a header are not ours, but they are
	 * valid JSON with the right members: accepted (the signature covers
	 * the bytes). */
	assert_true(asprintf(&h, "{ \"typ\" : \"cairn-job\", \"kid\":\"%s\",\"alg\":\"EdDSA\" }", kid) > 0);
	s = make_jws(h, payload_text);
	const char *why;
	assert_int_equal(parse_verify(s, strlen(s), &why), 0);
	free(s);
	free(h);
#undef REFUSED_HDR
#undef REFUSED_PAYLOAD
}

static void test_payload_on_failure(void **state)
{
	_cleanup_free_ char *hdr = good_header();
	_cleanup_free_ char *good = make_jws(hdr, payload_text);
	struct jws *j = NULL;
	const char *why = NULL;
	json_t *pl = NULL;
	char jti[UUID_STRING_MAX];

	/* Bad header, good payload: the payload comes back for its jti. */
	char *bad = make_jws("{\"alg\":\"none\"}", payload_text);
	assert_int_equal(jws_parse(bad, strlen(bad), &j, &pl, &why), -EINVAL);
	assert_non_null(pl);
	assert_true(json_is_object(pl));
	free(bad);
	json_decref(pl);
	pl = NULL;

	/* Bad signature encoding. */
	bad = with_segment(good, 2, "AAAA");
	assert_int_equal(jws_parse(bad, strlen(bad), &j, &pl, &why), -EINVAL);
	assert_string_equal(why, "signature is not 64 bytes");
	assert_non_null(pl);
	assert_true(json_is_string(json_object_get(pl, "jti")));
	free(bad);
	json_decref(pl);
	pl = NULL;

	/* Bad payload: nothing comes back. */
	bad = make_jws(hdr, "{\"jti\":1,\"jti\":2}");
	assert_int_equal(jws_parse(bad, strlen(bad), &j, &pl, &why), -EINVAL);
	assert_null(pl);
	free(bad);
	bad = make_jws(hdr, "[{\"jti\":1}]");
	assert_int_equal(jws_parse(bad, strlen(bad), &j, &pl, &why), -EINVAL);
	assert_null(pl);
	free(bad);

	/* Wrong key: parse succeeds, the payload is there, verify fails. */
	assert_int_equal(jws_parse(good, strlen(good), &j, &pl, &why), 0);
	assert_null(pl);
	assert_int_equal(jws_verify(j, other_key), -EBADMSG);
	(void)jti;
	jws_free(j);
	jws_free(NULL);
}

static void test_one_byte_changes(void **state)
{
	_cleanup_free_ char *hdr = good_header();
	_cleanup_free_ char *good = make_jws(hdr, payload_text);
	static const char repl[] = "AB_-+/=.gQw0 \n\"";
	size_t n = strlen(good), tried = 0;
	const char *why;

	assert_int_equal(parse_verify(good, n, &why), 0);
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < sizeof(repl) - 1; k++) {
			if (good[i] == repl[k])
				continue;
			char *c = strdup(good);
			c[i] = repl[k];
			if (parse_verify(c, n, &why) == 0)
				fail_msg("change at %zu to '%c' still verifies", i, repl[k]);
			free(c);
			tried++;
		}
		/* Flipping each bit of the byte, too. */
		for (int b = 0; b < 8; b++) {
			char *c = strdup(good);
			c[i] = (char)(c[i] ^ (1 << b));
			if (parse_verify(c, n, &why) == 0)
				fail_msg("bit %d at %zu still verifies", b, i);
			free(c);
		}
	}
	assert_true(tried > n * 10);

	/* Deleting or inserting one byte anywhere. */
	for (size_t i = 0; i <= n; i++) {
		char *c = malloc(n + 2);
		memcpy(c, good, i);
		c[i] = 'A';
		memcpy(c + i + 1, good + i, n - i + 1);
		assert_int_not_equal(parse_verify(c, n + 1, &why), 0);
		if (i < n) {
			memcpy(c, good, i);
			memcpy(c + i, good + i + 1, n - i);
			assert_int_not_equal(parse_verify(c, n - 1, &why), 0);
		}
		free(c);
	}
}

static char *pubkey_pem(EVP_PKEY *k)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *s;
	long n;

	assert_int_equal(PEM_write_bio_PUBKEY(bio, k), 1);
	n = BIO_get_mem_data(bio, &data);
	s = strndup(data, (size_t)n);
	BIO_free(bio);
	return s;
}

static void test_keyring(void **state)
{
	_cleanup_keyring_ struct jws_keyring *kr = jws_keyring_new();
	_cleanup_keyring_ struct jws_keyring *kr2 = NULL;
	_cleanup_free_ char *pem = pubkey_pem(key), *pem2 = pubkey_pem(other_key);
	_cleanup_json_ json_t *j = NULL;
	char kid2[CAIRN_KID_LEN + 1];
	EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	_cleanup_free_ char *ecpem = pubkey_pem(ec);

	assert_non_null(kr);
	assert_int_equal(jws_keyring_size(kr), 0);
	assert_null(jws_keyring_find(kr, kid));
	assert_int_equal(jws_keyring_add_pem(kr, pem), 0);
	assert_int_equal(jws_keyring_add_pem(kr, pem), 0);
	assert_int_equal(jws_keyring_size(kr), 1);
	assert_int_equal(jws_keyring_add_pem(kr, pem2), 0);
	assert_int_equal(jws_keyring_size(kr), 2);
	assert_int_equal(jws_key_id(other_key, kid2), 0);
	assert_non_null(jws_keyring_find(kr, kid));
	assert_int_equal(EVP_PKEY_eq(jws_keyring_find(kr, kid), key), 1);
	assert_int_equal(EVP_PKEY_eq(jws_keyring_find(kr, kid2), other_key), 1);
	assert_null(jws_keyring_find(kr, "nope"));
	assert_null(jws_keyring_find(kr, NULL));

	assert_int_equal(jws_keyring_add_pem(kr, ecpem), -EINVAL);
	assert_int_equal(jws_keyring_add_pem(kr, "garbage"), -EINVAL);
	assert_int_equal(jws_keyring_add_pem(kr, ""), -EINVAL);
	assert_int_equal(jws_keyring_add_pem(kr, NULL), -EINVAL);
	assert_int_equal(jws_keyring_size(kr), 2);

	/* JSON round trip. */
	j = jws_keyring_to_json(kr);
	assert_non_null(j);
	assert_int_equal(json_array_size(j), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(j, 0), "kid")), kid);
	assert_int_equal(jws_keyring_from_json(j, &kr2), 0);
	assert_int_equal(jws_keyring_size(kr2), 2);
	assert_non_null(jws_keyring_find(kr2, kid2));

	/* A kid that does not match its key is refused. */
	json_object_set_new(json_array_get(j, 1), "kid", json_string(kid));
	jws_keyring_free(kr2);
	kr2 = NULL;
	assert_int_equal(jws_keyring_from_json(j, &kr2), -EINVAL);
	assert_null(kr2);
	json_object_set_new(json_array_get(j, 1), "kid", json_string(kid2));
	json_object_set_new(json_array_get(j, 1), "extra", json_true());
	assert_int_equal(jws_keyring_from_json(j, &kr2), -EINVAL);
	json_object_del(json_array_get(j, 1), "extra");
	json_object_del(json_array_get(j, 1), "public_key_pem");
	assert_int_equal(jws_keyring_from_json(j, &kr2), -EINVAL);
	_cleanup_json_ json_t *notarr = json_object();
	assert_int_equal(jws_keyring_from_json(notarr, &kr2), -EINVAL);
	_cleanup_json_ json_t *empty = json_array();
	assert_int_equal(jws_keyring_from_json(empty, &kr2), 0);
	assert_int_equal(jws_keyring_size(kr2), 0);

	/* At most JWS_KEYRING_MAX keys. */
	for (int i = jws_keyring_size(kr); i < JWS_KEYRING_MAX; i++) {
		EVP_PKEY *k = NULL;
		assert_int_equal(jws_key_generate(&k), 0);
		_cleanup_free_ char *p = pubkey_pem(k);
		assert_int_equal(jws_keyring_add_pem(kr, p), 0);
		EVP_PKEY_free(k);
	}
	assert_int_equal(jws_keyring_size(kr), JWS_KEYRING_MAX);
	EVP_PKEY *k = NULL;
	assert_int_equal(jws_key_generate(&k), 0);
	_cleanup_free_ char *p = pubkey_pem(k);
	assert_int_equal(jws_keyring_add_pem(kr, p), -E2BIG);
	EVP_PKEY_free(k);
	EVP_PKEY_free(ec);
	jws_keyring_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_key_id),
		cmocka_unit_test(test_sign_refusals),
		cmocka_unit_test(test_segments),
		cmocka_unit_test(test_base64_rules),
		cmocka_unit_test(test_json_rules),
		cmocka_unit_test(test_payload_on_failure),
		cmocka_unit_test(test_one_byte_changes),
		cmocka_unit_test(test_keyring),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
