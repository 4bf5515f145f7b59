/*
 * scram.c: SCRAM-SHA-256 verifiers with OpenSSL (PBKDF2-HMAC-SHA-256,
 * HMAC-SHA-256, SHA-256).  Intermediate keys are wiped before return.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "macro.h"
#include "scram.h"
#include "util.h"

char *scram_b64(const void *data, size_t len)
{
	size_t n = 4 * ((len + 2) / 3);
	char *s = malloc(n + 1);
	if (!s)
		return NULL;
	int w = EVP_EncodeBlock((unsigned char *)s, data, (int)len);
	if (w < 0 || (size_t)w != n) {
		free(s);
		return NULL;
	}
	s[n] = 0;
	return s;
}

static int hmac256(const uint8_t *key, size_t key_len, const void *msg, size_t msg_len,
		   uint8_t ret[static SCRAM_KEY_LEN])
{
	unsigned int len = 0;
	if (!HMAC(EVP_sha256(), key, (int)key_len, msg, msg_len, ret, &len) || len != SCRAM_KEY_LEN)
		return -EIO;
	return 0;
}

int scram_keys(const char *password, const uint8_t *salt, size_t salt_len, unsigned iterations,
	       uint8_t ret_stored_key[static SCRAM_KEY_LEN],
	       uint8_t ret_server_key[static SCRAM_KEY_LEN])
{
	uint8_t salted[SCRAM_KEY_LEN], client_key[SCRAM_KEY_LEN];
	int r = -EIO;

	if (!password || !*password || strlen(password) > SCRAM_PASSWORD_MAX || !salt ||
	    salt_len == 0 || salt_len > 64 || iterations == 0 || iterations > 1000000)
		return -EINVAL;
	/* RFC 5802 wants SASLprep; our passwords are base64url ASCII, for
	 * which it is the identity. */
	if (PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, (int)salt_len, (int)iterations,
			      EVP_sha256(), sizeof(salted), salted) != 1)
		goto out;
	if (hmac256(salted, sizeof(salted), "Client Key", 10, client_key) < 0)
		goto out;
	if (!SHA256(client_key, sizeof(client_key), ret_stored_key))
		goto out;
	if (hmac256(salted, sizeof(salted), "Server Key", 10, ret_server_key) < 0)
		goto out;
	r = 0;
out:
	explicit_bzero(salted, sizeof(salted));
	explicit_bzero(client_key, sizeof(client_key));
	return r;
}

int scram_verifier_with_salt(const char *password, const uint8_t *salt, size_t salt_len,
			     unsigned iterations, char **ret)
{
	uint8_t stored[SCRAM_KEY_LEN], server[SCRAM_KEY_LEN];
	_cleanup_free_ char *b_salt = NULL, *b_stored = NULL, *b_server = NULL;
	char *v = NULL;
	int r;

	r = scram_keys(password, salt, salt_len, iterations, stored, server);
	if (r < 0)
		return r;
	b_salt = scram_b64(salt, salt_len);
	b_stored = scram_b64(stored, sizeof(stored));
	b_server = scram_b64(server, sizeof(server));
	explicit_bzero(stored, sizeof(stored));
	explicit_bzero(server, sizeof(server));
	if (!b_salt || !b_stored || !b_server)
		return -ENOMEM;
	if (asprintf(&v, "SCRAM-SHA-256$%u:%s$%s:%s", iterations, b_salt, b_stored, b_server) < 0)
		return -ENOMEM;
	*ret = v;
	return 0;
}

int scram_verifier(const char *password, char **ret)
{
	uint8_t salt[SCRAM_SALT_LEN];
	int r = random_bytes(salt, sizeof(salt));
	if (r < 0)
		return r;
	return scram_verifier_with_salt(password, salt, sizeof(salt), SCRAM_ITERATIONS, ret);
}

int scram_server_signature(const uint8_t server_key[static SCRAM_KEY_LEN], const char *auth_message,
			   char **ret)
{
	uint8_t sig[SCRAM_KEY_LEN];
	int r = hmac256(server_key, SCRAM_KEY_LEN, auth_message, strlen(auth_message), sig);
	if (r < 0)
		return r;
	char *s = scram_b64(sig, sizeof(sig));
	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}
