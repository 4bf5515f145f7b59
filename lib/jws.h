/*
 * jws.h: compact JWS (RFC 7515) with EdDSA/Ed25519 (RFC 8037), exactly the
 * profile DESIGN.md fixes for Cairn jobs, on OpenSSL EVP.
 *
 * Parsing is strict and separate from signature checking so that an agent
 * can read the `jti` of a job whose signature fails and report it.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "protocol.h"

/* Generates an Ed25519 key pair.  Returns 0 or -errno. */
int jws_key_generate(EVP_PKEY **ret);

/* kid of a public (or private) Ed25519 key: the first CAIRN_KID_LEN chars
 * of base64url(SHA-256(raw 32-byte public key)). */
int jws_key_id(EVP_PKEY *key, char ret[static CAIRN_KID_LEN + 1]);

/* Signs `payload` (a JSON object) with header
 * {"alg":"EdDSA","kid":kid,"typ":"cairn-job"}.  The payload is serialised
 * compactly with sorted keys.  kid is 1..64 base64url characters.  Returns
 * 0 and a heap string, -EMSGSIZE when the JWS would exceed CAIRN_JWS_MAX,
 * or -errno. */
int jws_sign(EVP_PKEY *key, const char *kid, json_t *payload, char **ret_jws);

/* A parsed, not yet verified, JWS. */
struct jws {
	json_t *header;          /* the header object (owned) */
	json_t *payload;         /* the payload object (owned) */
	char *signing_input;     /* "<b64 header>.<b64 payload>" (owned) */
	size_t signing_input_len;
	unsigned char *sig;      /* decoded signature (owned) */
	size_t sig_len;
	const char *kid;         /* points into header */
};

/* Parses a compact JWS and checks its form (DESIGN.md "Form"): at most
 * CAIRN_JWS_MAX bytes, three canonical base64url segments, header and
 * payload JSON objects without duplicate members, header exactly
 * {alg: "EdDSA", kid: string, typ: "cairn-job"} (kid 1..64 base64url
 * characters), signature 64 bytes.  The payload is checked first.
 * Returns 0 and a heap struct, or -EINVAL with *ret_reason (a static
 * string) saying which rule failed.  When the payload decoded and is an
 * object but a later rule failed, *ret_payload (if non-NULL) receives a
 * new reference to it, so the caller can still read its `jti`. */
int jws_parse(const char *s, size_t len, struct jws **ret, json_t **ret_payload,
	      const char **ret_reason);

/* Verifies the signature with `pub` (an Ed25519 key; any other key fails).
 * Returns 0, or -EBADMSG. */
int jws_verify(const struct jws *jws, EVP_PKEY *pub);

void jws_free(struct jws *jws);
static inline void jws_freep(struct jws **p) { jws_free(*p); }
#define _cleanup_jws_ __attribute__((cleanup(jws_freep)))

/* A set of trusted public keys by kid (at most 16). */
#define JWS_KEYRING_MAX 16
struct jws_keyring;

struct jws_keyring *jws_keyring_new(void);
void jws_keyring_free(struct jws_keyring *kr);
/* Adds a public key given as PEM (SubjectPublicKeyInfo, Ed25519 only). */
int jws_keyring_add_pem(struct jws_keyring *kr, const char *pem);
/* Number of keys in the ring (0 for NULL).  Adding a key whose kid is
 * already there changes nothing and succeeds; a 17th key is -E2BIG. */
size_t jws_keyring_size(const struct jws_keyring *kr);
/* Returns the key (owned by the ring) or NULL. */
EVP_PKEY *jws_keyring_find(const struct jws_keyring *kr, const char *kid);
/* JSON form used on the wire and on disk: [{"kid":…, "public_key_pem":…}].
 * from_json re-derives each kid and refuses a mismatch. */
int jws_keyring_from_json(json_t *array, struct jws_keyring **ret);
json_t *jws_keyring_to_json(const struct jws_keyring *kr);
static inline void jws_keyring_freep(struct jws_keyring **p) { jws_keyring_free(*p); }
#define _cleanup_keyring_ __attribute__((cleanup(jws_keyring_freep)))
