/*
 * aead.h: AES-256-GCM sealing of small secrets at rest (the controller's
 * KEK protects database passwords, S3 credentials and escrowed LUKS keys).
 *
 * Sealed form: 0x01 (version) | 12-byte random nonce | ciphertext | 16-byte
 * tag.  `aad` binds the secret to its place (e.g. "node:<id>:luks"), so a
 * sealed value copied to another row does not open.  The version byte is
 * authenticated with the aad.  aad is at most 4096 bytes.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define AEAD_KEY_LEN 32
#define AEAD_OVERHEAD (1 + 12 + 16)
#define AEAD_PLAINTEXT_MAX (1024 * 1024)

/* Returns 0 and a heap buffer of len + AEAD_OVERHEAD bytes, -EMSGSIZE
 * when len > AEAD_PLAINTEXT_MAX, or -errno. */
int aead_seal(const uint8_t key[static AEAD_KEY_LEN], const void *aad, size_t aad_len,
	      const void *pt, size_t len, unsigned char **ret, size_t *ret_len);

/* Returns 0 and a heap buffer (NUL-terminated, wipe after use), -EBADMSG
 * when the tag, version or aad does not match, or -errno. */
int aead_open(const uint8_t key[static AEAD_KEY_LEN], const void *aad, size_t aad_len,
	      const void *sealed, size_t len, unsigned char **ret, size_t *ret_len);
