/*
 * aead.c: AES-256-GCM sealing of small secrets at rest (see aead.h).
 *
 * Sealed form: version (0x01) | 12-byte random nonce | ciphertext |
 * 16-byte tag.  The version byte is authenticated together with the
 * caller's aad, so neither can be changed without the tag failing.  With
 * random 96-bit nonces one key seals well over a billion values before
 * the birthday bound matters; the controller seals far fewer.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "aead.h"
#include "macro.h"
#include "util.h"

#define AEAD_VERSION 0x01
#define AEAD_NONCE_LEN 12
#define AEAD_TAG_LEN 16
/* Longest aad accepted (it names a place, such as "node:<id>:luks"). */
#define AEAD_AAD_MAX 4096

int aead_seal(const uint8_t key[static AEAD_KEY_LEN], const void *aad, size_t aad_len,
	      const void *pt, size_t len, unsigned char **ret, size_t *ret_len)
{
	_cleanup_cipher_ctx_ EVP_CIPHER_CTX *ctx = NULL;
	const unsigned char version = AEAD_VERSION;
	unsigned char *out = NULL, *nonce, *ct;
	size_t total;
	int n, r = -EIO;

	if (!ret || (!pt && len > 0) || (!aad && aad_len > 0))
		return -EINVAL;
	if (len > AEAD_PLAINTEXT_MAX || aad_len > AEAD_AAD_MAX)
		return -EMSGSIZE;
	total = len + AEAD_OVERHEAD;
	out = malloc(total);
	if (!out)
		return -ENOMEM;
	out[0] = AEAD_VERSION;
	nonce = out + 1;
	ct = nonce + AEAD_NONCE_LEN;
	r = random_bytes(nonce, AEAD_NONCE_LEN);
	if (r < 0)
		goto fail;
	r = -EIO;

	ctx = EVP_CIPHER_CTX_new();
	if (!ctx) {
		r = -ENOMEM;
		goto fail;
	}
	if (EVP_EncryptInit_ex2(ctx, EVP_aes_256_gcm(), key, nonce, NULL) != 1)
		goto fail;
	if (EVP_EncryptUpdate(ctx, NULL, &n, &version, 1) != 1)
		goto fail;
	if (aad_len > 0 && EVP_EncryptUpdate(ctx, NULL, &n, aad, (int)aad_len) != 1)
		goto fail;
	if (len > 0 && (EVP_EncryptUpdate(ctx, ct, &n, pt, (int)len) != 1 || (size_t)n != len))
		goto fail;
	if (EVP_EncryptFinal_ex(ctx, ct + len, &n) != 1 || n != 0)
		goto fail;
	if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, AEAD_TAG_LEN, ct + len) != 1)
		goto fail;

	*ret = out;
	if (ret_len)
		*ret_len = total;
	return 0;

fail:
	explicit_bzero(out, total);
	free(out);
	return r;
}

int aead_open(const uint8_t key[static AEAD_KEY_LEN], const void *aad, size_t aad_len,
	      const void *sealed, size_t len, unsigned char **ret, size_t *ret_len)
{
	_cleanup_cipher_ctx_ EVP_CIPHER_CTX *ctx = NULL;
	const unsigned char *in = sealed, *nonce, *ct, *tag;
	unsigned char version = AEAD_VERSION;
	unsigned char *out;
	size_t ctlen;
	int n, r = -EIO;

	if (!ret || (!sealed && len > 0) || (!aad && aad_len > 0))
		return -EINVAL;
	if (len < AEAD_OVERHEAD || in[0] != AEAD_VERSION)
		return -EBADMSG;
	if (len - AEAD_OVERHEAD > AEAD_PLAINTEXT_MAX || aad_len > AEAD_AAD_MAX)
		return -EBADMSG;
	nonce = in + 1;
	ct = nonce + AEAD_NONCE_LEN;
	ctlen = len - AEAD_OVERHEAD;
	tag = ct + ctlen;

	out = malloc(ctlen + 1);
	if (!out)
		return -ENOMEM;
	ctx = EVP_CIPHER_CTX_new();
	if (!ctx) {
		r = -ENOMEM;
		goto fail;
	}
	if (EVP_DecryptInit_ex2(ctx, EVP_aes_256_gcm(), key, nonce, NULL) != 1)
		goto fail;
	if (EVP_DecryptUpdate(ctx, NULL, &n, &version, 1) != 1)
		goto fail;
	if (aad_len > 0 && EVP_DecryptUpdate(ctx, NULL, &n, aad, (int)aad_len) != 1)
		goto fail;
	if (ctlen > 0 &&
	    (EVP_DecryptUpdate(ctx, out, &n, ct, (int)ctlen) != 1 || (size_t)n != ctlen))
		goto fail;
	if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, AEAD_TAG_LEN, (void *)tag) != 1)
		goto fail;
	if (EVP_DecryptFinal_ex(ctx, out + ctlen, &n) != 1) {
		r = -EBADMSG;
		goto fail;
	}
	out[ctlen] = '\0';
	*ret = out;
	if (ret_len)
		*ret_len = ctlen;
	return 0;

fail:
	/* Plaintext of a value whose tag failed must not linger either. */
	explicit_bzero(out, ctlen + 1);
	free(out);
	return r;
}
