/*
 * scram.h: SCRAM-SHA-256 verifiers (RFC 5802, RFC 7677) in the form
 * PostgreSQL stores and `CREATE ROLE … PASSWORD '<verifier>'` accepts:
 *
 *   SCRAM-SHA-256$<iterations>:<base64 salt>$<base64 StoredKey>:<base64 ServerKey>
 *
 * (standard base64 with padding).  The controller sends nodes only the
 * verifier, never the password.  OpenSSL does the arithmetic.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define SCRAM_ITERATIONS 4096
#define SCRAM_SALT_LEN 16
#define SCRAM_KEY_LEN 32          /* SHA-256 */
#define SCRAM_PASSWORD_MAX 1024   /* longest password accepted */
#define SCRAM_VERIFIER_MAX 256    /* longest verifier produced, with NUL */

/* The verifier of `password` with a fresh random 16-byte salt and 4096
 * iterations.  Returns 0 and a heap string, or -EINVAL (empty or too long
 * password) / -errno.  The password is not kept. */
int scram_verifier(const char *password, char **ret);

/* The same with a given salt and iteration count (tests, RFC vectors). */
int scram_verifier_with_salt(const char *password, const uint8_t *salt, size_t salt_len,
			     unsigned iterations, char **ret);

/* The RFC 5802 keys of `password`: SaltedPassword, then StoredKey =
 * H(HMAC(SaltedPassword, "Client Key")) and ServerKey = HMAC(SaltedPassword,
 * "Server Key").  Returns 0 or -errno. */
int scram_keys(const char *password, const uint8_t *salt, size_t salt_len, unsigned iterations,
	       uint8_t ret_stored_key[static SCRAM_KEY_LEN],
	       uint8_t ret_server_key[static SCRAM_KEY_LEN]);

/* ServerSignature = HMAC(ServerKey, AuthMessage) in standard base64, for
 * checking against RFC 7677's example.  Returns 0 and a heap string. */
int scram_server_signature(const uint8_t server_key[static SCRAM_KEY_LEN], const char *auth_message,
			   char **ret);

/* Standard base64 with padding (RFC 4648 §4).  Heap string or NULL. */
char *scram_b64(const void *data, size_t len);
