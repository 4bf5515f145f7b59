/*
 * jws.c: compact JWS with EdDSA/Ed25519, exactly the profile of DESIGN.md
 * "Jobs", and the ring of trusted job-signing keys.
 *
 * The parser accepts one text per job and nothing looser than the profile:
 * canonical base64url only (no padding, url alphabet, zero trailing bits),
 * JSON objects without duplicate members, a header of exactly alg, kid and
 * typ.  Every refusal carries a short static reason for the agent's report.
 * Form and signature are separate steps so that the agent can read the jti
 * of a job whose signature fails.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "jws.h"
#include "macro.h"
#include "util.h"

#define ED25519_KEY_LEN 32
#define ED25519_SIG_LEN 64
/* Longest kid accepted in a header; ours are CAIRN_KID_LEN chars. */
#define JWS_KID_MAX 64
/* Longest public key PEM accepted in a keyring entry. */
#define JWS_PEM_MAX 4096

int jws_key_generate(EVP_PKEY **ret)
{
	EVP_PKEY *k;

	if (!ret)
		return -EINVAL;
	k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (!k)
		return -EIO;
	*ret = k;
	return 0;
}

int jws_key_id(EVP_PKEY *key, char ret[static CAIRN_KID_LEN + 1])
{
	unsigned char raw[ED25519_KEY_LEN], md[32];
	size_t rawlen = sizeof(raw);
	_cleanup_free_ char *b = NULL;
	int r;

	if (!key || !EVP_PKEY_is_a(key, "ED25519"))
		return -EINVAL;
	if (EVP_PKEY_get_raw_public_key(key, raw, &rawlen) != 1 || rawlen != ED25519_KEY_LEN)
		return -EINVAL;
	r = sha256(raw, rawlen, md);
	if (r < 0)
		return r;
	b = b64url_encode(md, sizeof(md));
	if (!b)
		return -ENOMEM;
	memcpy(ret, b, CAIRN_KID_LEN);
	ret[CAIRN_KID_LEN] = '\0';
	return 0;
}

/* True for a kid we are willing to carry: 1..JWS_KID_MAX base64url chars. */
static bool kid_is_valid(const char *kid)
{
	size_t n;

	if (!kid)
		return false;
	n = strlen(kid);
	if (n == 0 || n > JWS_KID_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = kid[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return false;
	}
	return true;
}

/* base64url of the compact, key-sorted serialisation of obj. */
static char *b64_json(json_t *obj)
{
	_cleanup_free_ char *s = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);

	if (!s)
		return NULL;
	return b64url_encode(s, strlen(s));
}

int jws_sign(EVP_PKEY *key, const char *kid, json_t *payload, char **ret_jws)
{
	_cleanup_json_ json_t *header = NULL;
	_cleanup_free_ char *h = NULL, *p = NULL, *si = NULL, *sig64 = NULL;
	_cleanup_md_ctx_ EVP_MD_CTX *ctx = NULL;
	unsigned char sig[ED25519_SIG_LEN];
	size_t siglen = sizeof(sig), hl, pl, sl;
	char *out;

	if (!key || !EVP_PKEY_is_a(key, "ED25519") || !kid_is_valid(kid) ||
	    !json_is_object(payload) || !ret_jws)
		return -EINVAL;

	header = json_pack("{s:s, s:s, s:s}", "alg", CAIRN_JOB_ALG, "kid", kid, "typ",
			   CAIRN_JOB_TYP);
	if (!header)
		return -ENOMEM;
	h = b64_json(header);
	p = b64_json(payload);
	if (!h || !p)
		return -ENOMEM;
	hl = strlen(h);
	pl = strlen(p);
	si = malloc(hl + 1 + pl + 1);
	if (!si)
		return -ENOMEM;
	memcpy(si, h, hl);
	si[hl] = '.';
	memcpy(si + hl + 1, p, pl + 1);

	ctx = EVP_MD_CTX_new();
	if (!ctx)
		return -ENOMEM;
	if (EVP_DigestSignInit_ex(ctx, NULL, NULL, NULL, NULL, key, NULL) != 1 ||
	    EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)si, hl + 1 + pl) != 1 ||
	    siglen != ED25519_SIG_LEN)
		return -EIO;
	sig64 = b64url_encode(sig, siglen);
	if (!sig64)
		return -ENOMEM;

	sl = strlen(sig64);
	/* The agent refuses anything longer: say so here, where it is made. */
	if (hl + 1 + pl + 1 + sl > CAIRN_JWS_MAX)
		return -EMSGSIZE;
	out = malloc(hl + 1 + pl + 1 + sl + 1);
	if (!out)
		return -ENOMEM;
	memcpy(out, si, hl + 1 + pl);
	out[hl + 1 + pl] = '.';
	memcpy(out + hl + 1 + pl + 1, sig64, sl + 1);
	*ret_jws = out;
	return 0;
}

void jws_free(struct jws *jws)
{
	if (!jws)
		return;
	json_decref(jws->header);
	json_decref(jws->payload);
	free(jws->signing_input);
	free(jws->sig);
	free(jws);
}

/* Decodes one segment as a JSON object without duplicate members.
 * Returns 0, -EINVAL with *why naming the rule, or -ENOMEM. */
static int decode_json_segment(const char *s, size_t len, json_t **ret, const char *bad_b64,
			       const char *bad_json, const char *not_object, const char **why)
{
	_cleanup_free_ unsigned char *raw = NULL;
	json_error_t err;
	size_t rawlen;
	json_t *j;
	int r;

	r = b64url_decode(s, len, &raw, &rawlen);
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		*why = bad_b64;
		return -EINVAL;
	}
	j = json_loadb((const char *)raw, rawlen, JSON_REJECT_DUPLICATES, &err);
	if (!j) {
		*why = bad_json;
		return -EINVAL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		*why = not_object;
		return -EINVAL;
	}
	*ret = j;
	return 0;
}

/* Checks the header object against the profile. */
static const char *header_check(json_t *header)
{
	const char *key;
	json_t *v;

	json_object_foreach(header, key, v) {
		if (streq(key, "crit"))
			return "header has crit";
		if (streq(key, "b64"))
			return "header has b64";
		if (!streq(key, "alg") && !streq(key, "kid") && !streq(key, "typ"))
			return "header has unknown member";
	}
	v = json_object_get(header, "alg");
	if (!v)
		return "header has no alg";
	if (!json_is_string(v) || !streq(json_string_value(v), CAIRN_JOB_ALG) ||
	    json_string_length(v) != strlen(CAIRN_JOB_ALG))
		return "header alg is not EdDSA";
	v = json_object_get(header, "typ");
	if (!v)
		return "header has no typ";
	if (!json_is_string(v) || !streq(json_string_value(v), CAIRN_JOB_TYP) ||
	    json_string_length(v) != strlen(CAIRN_JOB_TYP))
		return "header typ is not cairn-job";
	v = json_object_get(header, "kid");
	if (!v)
		return "header has no kid";
	if (!json_is_string(v) || json_string_length(v) != strlen(json_string_value(v)) ||
	    !kid_is_valid(json_string_value(v)))
		return "header kid is malformed";
	return NULL;
}

int jws_parse(const char *s, size_t len, struct jws **ret, json_t **ret_payload,
	      const char **ret_reason)
{
	_cleanup_json_ json_t *header = NULL, *payload = NULL;
	_cleanup_free_ unsigned char *sig = NULL;
	_cleanup_free_ char *si = NULL;
	const char *dot1, *dot2, *why = NULL;
	size_t hlen, plen, slen, siglen = 0;
	struct jws *j;
	int r;

	if (!ret)
		return -EINVAL;
	if (!s) {
		why = "empty JWS";
		r = -EINVAL;
		goto fail;
	}
	if (len > CAIRN_JWS_MAX) {
		why = "JWS too large";
		r = -EINVAL;
		goto fail;
	}
	dot1 = memchr(s, '.', len);
	dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - s)) : NULL;
	if (!dot1 || !dot2 || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - s))) {
		why = "JWS must have exactly three segments";
		r = -EINVAL;
		goto fail;
	}
	hlen = (size_t)(dot1 - s);
	plen = (size_t)(dot2 - dot1 - 1);
	slen = len - (size_t)(dot2 + 1 - s);

	/* The payload first: its jti is worth having even when the header
	 * or the signature is wrong. */
	r = decode_json_segment(dot1 + 1, plen, &payload, "bad base64url in payload",
				"payload is not valid JSON", "payload is not a JSON object", &why);
	if (r < 0)
		goto fail;
	r = decode_json_segment(s, hlen, &header, "bad base64url in header",
				"header is not valid JSON", "header is not a JSON object", &why);
	if (r < 0)
		goto fail;
	why = header_check(header);
	if (why) {
		r = -EINVAL;
		goto fail;
	}
	r = b64url_decode(dot2 + 1, slen, &sig, &siglen);
	if (r == -ENOMEM)
		goto fail;
	if (r < 0) {
		why = "bad base64url in signature";
		r = -EINVAL;
		goto fail;
	}
	if (siglen != ED25519_SIG_LEN) {
		why = "signature is not 64 bytes";
		r = -EINVAL;
		goto fail;
	}

	si = strndup(s, hlen + 1 + plen);
	j = calloc(1, sizeof(*j));
	if (!si || !j) {
		free(j);
		r = -ENOMEM;
		goto fail;
	}
	j->signing_input_len = hlen + 1 + plen;
	j->signing_input = TAKE_PTR(si);
	j->sig = TAKE_PTR(sig);
	j->sig_len = siglen;
	j->kid = json_string_value(json_object_get(header, "kid"));
	j->header = TAKE_PTR(header);
	j->payload = TAKE_PTR(payload);
	*ret = j;
	return 0;

fail:
	if (ret_reason)
		*ret_reason = r == -ENOMEM ? "out of memory" : why;
	if (ret_payload && payload)
		*ret_payload = json_incref(payload);
	return r;
}

int jws_verify(const struct jws *jws, EVP_PKEY *pub)
{
	_cleanup_md_ctx_ EVP_MD_CTX *ctx = NULL;

	if (!jws || !pub || !EVP_PKEY_is_a(pub, "ED25519") || jws->sig_len != ED25519_SIG_LEN)
		return -EBADMSG;
	ctx = EVP_MD_CTX_new();
	if (!ctx)
		return -EBADMSG;
	if (EVP_DigestVerifyInit_ex(ctx, NULL, NULL, NULL, NULL, pub, NULL) != 1)
		return -EBADMSG;
	if (EVP_DigestVerify(ctx, jws->sig, jws->sig_len, (const unsigned char *)jws->signing_input,
			     jws->signing_input_len) != 1)
		return -EBADMSG;
	return 0;
}

/* The keyring: a short array searched by kid. */
struct jws_keyring {
	size_t n;                           /* keys in use */
	char kid[JWS_KEYRING_MAX][CAIRN_KID_LEN + 1]; /* kid of each key */
	EVP_PKEY *key[JWS_KEYRING_MAX];     /* public keys (owned) */
};

struct jws_keyring *jws_keyring_new(void)
{
	return calloc(1, sizeof(struct jws_keyring));
}

void jws_keyring_free(struct jws_keyring *kr)
{
	if (!kr)
		return;
	for (size_t i = 0; i < kr->n; i++)
		EVP_PKEY_free(kr->key[i]);
	free(kr);
}

size_t jws_keyring_size(const struct jws_keyring *kr)
{
	return kr ? kr->n : 0;
}

/* Parses exactly one Ed25519 public key from PEM text. */
static int pubkey_from_pem(const char *pem, EVP_PKEY **ret)
{
	_cleanup_bio_ BIO *bio = NULL;
	EVP_PKEY *k;
	size_t n;

	if (!pem)
		return -EINVAL;
	n = strlen(pem);
	if (n == 0 || n > JWS_PEM_MAX)
		return -EINVAL;
	bio = BIO_new_mem_buf(pem, (int)n);
	if (!bio)
		return -ENOMEM;
	k = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	if (!k)
		return -EINVAL;
	if (!EVP_PKEY_is_a(k, "ED25519")) {
		EVP_PKEY_free(k);
		return -EINVAL;
	}
	*ret = k;
	return 0;
}

/* Adds key (taking it) unless a key with the same kid is there already. */
static int keyring_take(struct jws_keyring *kr, EVP_PKEY *key, const char *kid)
{
	for (size_t i = 0; i < kr->n; i++)
		if (streq(kr->kid[i], kid)) {
			EVP_PKEY_free(key);
			return 0;
		}
	if (kr->n >= JWS_KEYRING_MAX) {
		EVP_PKEY_free(key);
		return -E2BIG;
	}
	memcpy(kr->kid[kr->n], kid, CAIRN_KID_LEN + 1);
	kr->key[kr->n] = key;
	kr->n++;
	return 0;
}

int jws_keyring_add_pem(struct jws_keyring *kr, const char *pem)
{
	char kid[CAIRN_KID_LEN + 1];
	EVP_PKEY *k = NULL;
	int r;

	if (!kr)
		return -EINVAL;
	r = pubkey_from_pem(pem, &k);
	if (r < 0)
		return r;
	r = jws_key_id(k, kid);
	if (r < 0) {
		EVP_PKEY_free(k);
		return r;
	}
	return keyring_take(kr, k, kid);
}

EVP_PKEY *jws_keyring_find(const struct jws_keyring *kr, const char *kid)
{
	if (!kr || !kid)
		return NULL;
	for (size_t i = 0; i < kr->n; i++)
		if (streq(kr->kid[i], kid))
			return kr->key[i];
	return NULL;
}

int jws_keyring_from_json(json_t *array, struct jws_keyring **ret)
{
	_cleanup_keyring_ struct jws_keyring *kr = NULL;
	json_t *e;
	size_t i;
	int r;

	if (!json_is_array(array) || !ret)
		return -EINVAL;
	if (json_array_size(array) > JWS_KEYRING_MAX)
		return -E2BIG;
	kr = jws_keyring_new();
	if (!kr)
		return -ENOMEM;
	json_array_foreach(array, i, e) {
		char kid[CAIRN_KID_LEN + 1];
		const char *given, *pem;
		EVP_PKEY *k = NULL;

		if (!json_is_object(e) || json_object_size(e) != 2)
			return -EINVAL;
		given = json_string_value(json_object_get(e, "kid"));
		pem = json_string_value(json_object_get(e, "public_key_pem"));
		if (!given || !pem)
			return -EINVAL;
		r = pubkey_from_pem(pem, &k);
		if (r < 0)
			return r;
		r = jws_key_id(k, kid);
		if (r < 0 || !streq(kid, given)) {
			EVP_PKEY_free(k);
			return -EINVAL;
		}
		r = keyring_take(kr, k, kid);
		if (r < 0)
			return r;
	}
	*ret = TAKE_PTR(kr);
	return 0;
}

json_t *jws_keyring_to_json(const struct jws_keyring *kr)
{
	_cleanup_json_ json_t *a = json_array();

	if (!kr || !a)
		return NULL;
	for (size_t i = 0; i < kr->n; i++) {
		_cleanup_bio_ BIO *bio = BIO_new(BIO_s_mem());
		char *data;
		long n;

		if (!bio || PEM_write_bio_PUBKEY(bio, kr->key[i]) != 1)
			return NULL;
		n = BIO_get_mem_data(bio, &data);
		if (n <= 0)
			return NULL;
		if (json_array_append_new(a, json_pack("{s:s, s:s%}", "kid", kr->kid[i],
						       "public_key_pem", data, (size_t)n)) < 0)
			return NULL;
	}
	return TAKE_PTR(a);
}
