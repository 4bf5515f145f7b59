/*
 * keys.h: the controller's key material in state_dir (DESIGN.md "Identity
 * and transport"): the CA, the job-signing key, the KEK, the server
 * certificate for both listeners, and the admin API token.
 *
 * First start creates what is missing; a later start loads it.  Creation is
 * crash-safe: each file is written atomically, and a half-initialised
 * directory is completed, never silently regenerated (a CA key without its
 * certificate, for instance, is refused: re-creating it would orphan every
 * node certificate).
 */
#pragma once

#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "aead.h"
#include "protocol.h"

struct store;

#define KEYS_SERVER_RENEW_BEFORE_S (30 * 86400)
#define KEYS_SERVER_TTL_S (397 * 86400)
#define KEYS_CA_TTL_S (20 * 365 * 86400LL)

struct keys {
	EVP_PKEY *ca_key;                   /* CA private key */
	X509 *ca_cert;                      /* CA certificate */
	char *ca_pem;                       /* the same, PEM */
	EVP_PKEY *job_key;                  /* Ed25519 job-signing key */
	char job_kid[CAIRN_KID_LEN + 1];    /* its kid */
	char *job_pub_pem;                  /* its public key, PEM */
	uint8_t kek[AEAD_KEY_LEN];          /* key-encryption key (wiped on free) */
	char *server_key_pem;               /* listeners' private key, PEM (wiped on free) */
	char *server_cert_pem;              /* listeners' certificate, PEM */
};

/* Loads or creates everything in `state_dir` (created 0700 if missing) and
 * makes sure the store holds an admin token (printing a new one once to
 * stdout).  `server_names` is the NULL-terminated SAN list.  Returns 0 or
 * -errno with a heap *ret_error saying what to do. */
int keys_setup(const char *state_dir, char *const *server_names, struct store *store,
	       struct keys **ret, char **ret_error);

void keys_free(struct keys *k);
static inline void keys_freep(struct keys **k) { keys_free(*k); }
#define _cleanup_keys_ __attribute__((cleanup(keys_freep)))

/* The job keys as sent at enrolment: [{"kid","public_key_pem"}]. */
json_t *keys_job_keys_json(const struct keys *k);
