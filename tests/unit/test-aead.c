/*
 * test-aead.c: unit tests for lib/aead.c: round trips, the sealed layout,
 * fresh nonces, and that any change of key, aad, version, nonce,
 * ciphertext, tag or length fails with -EBADMSG.
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

#include "aead.h"
#include "macro.h"
#include "util.h"

static uint8_t key[AEAD_KEY_LEN], key2[AEAD_KEY_LEN];
static const char aad[] = "node:6b1c6d0e-2f4a-4b8e-9c1d-0123456789ab:luks";

static int setup(void **state)
{
	if (random_bytes(key, sizeof(key)) < 0 || random_bytes(key2, sizeof(key2)) < 0)
		return -1;
	return 0;
}

static void test_roundtrip(void **state)
{
	static const size_t lens[] = { 0, 1, 15, 16, 17, 1000, AEAD_PLAINTEXT_MAX };
	unsigned char *pt = malloc(AEAD_PLAINTEXT_MAX);

	assert_non_null(pt);
	assert_int_equal(random_bytes(pt, AEAD_PLAINTEXT_MAX), 0);
	for (size_t i = 0; i < ELEMENTSOF(lens); i++) {
		unsigned char *sealed = NULL, *open = NULL;
		size_t sl = 0, ol = 0;

		assert_int_equal(aead_seal(key, aad, strlen(aad), pt, lens[i], &sealed, &sl), 0);
		assert_int_equal(sl, lens[i] + AEAD_OVERHEAD);
		assert_int_equal(sealed[0], 0x01);
		if (lens[i] >= 16)
			assert_memory_not_equal(sealed + 13, pt, 16);
		assert_int_equal(aead_open(key, aad, strlen(aad), sealed, sl, &open, &ol), 0);
		assert_int_equal(ol, lens[i]);
		assert_memory_equal(open, pt, lens[i]);
		assert_int_equal(open[ol], '\0');
		free(sealed);
		free(open);
	}

	/* Without aad. */
	unsigned char *sealed = NULL, *open = NULL;
	size_t sl, ol;
	assert_int_equal(aead_seal(key, NULL, 0, "secret", 6, &sealed, &sl), 0);
	assert_int_equal(aead_open(key, NULL, 0, sealed, sl, &open, &ol), 0);
	assert_string_equal((char *)open, "secret");
	assert_int_equal(aead_open(key, "x", 1, sealed, sl, &open, &ol), -EBADMSG);
	free(sealed);
	free(open);

	/* Too large. */
	assert_int_equal(aead_seal(key, NULL, 0, pt, AEAD_PLAINTEXT_MAX + 1, &sealed, &sl),
			 -EMSGSIZE);
	free(pt);
}

static void test_fresh_nonce(void **state)
{
	unsigned char *a = NULL, *b = NULL;
	size_t al, bl;

	assert_int_equal(aead_seal(key, aad, strlen(aad), "same", 4, &a, &al), 0);
	assert_int_equal(aead_seal(key, aad, strlen(aad), "same", 4, &b, &bl), 0);
	assert_int_equal(al, bl);
	assert_memory_not_equal(a + 1, b + 1, 12);
	assert_memory_not_equal(a + 13, b + 13, al - 13);
	free(a);
	free(b);
}

/* Independent check of the layout with raw EVP: nonce at 1, tag last,
 * aad = version byte then the caller's aad. */
static void test_layout(void **state)
{
	unsigned char *s = NULL, out[16];
	size_t sl;
	int n;
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	const unsigned char v = 1;

	assert_int_equal(aead_seal(key, aad, strlen(aad), "0123456789", 10, &s, &sl), 0);
	assert_int_equal(EVP_DecryptInit_ex2(ctx, EVP_aes_256_gcm(), key, s + 1, NULL), 1);
	assert_int_equal(EVP_DecryptUpdate(ctx, NULL, &n, &v, 1), 1);
	assert_int_equal(EVP_DecryptUpdate(ctx, NULL, &n, (const unsigned char *)aad, (int)strlen(aad)), 1);
	assert_int_equal(EVP_DecryptUpdate(ctx, out, &n, s + 13, 10), 1);
	assert_int_equal(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, 16, s + 23), 1);
	assert_int_equal(EVP_DecryptFinal_ex(ctx, out + 10, &n), 1);
	assert_memory_equal(out, "0123456789", 10);
	EVP_CIPHER_CTX_free(ctx);
	free(s);
}

static void test_tamper(void **state)
{
	static const char pt[] = "correct horse battery staple";
	unsigned char *s = NULL, *o = NULL;
	size_t sl, ol;

	assert_int_equal(aead_seal(key, aad, strlen(aad), pt, strlen(pt), &s, &sl), 0);

	/* Every bit of every byte: version, nonce, ciphertext, tag. */
	for (size_t i = 0; i < sl; i++)
		for (int b = 0; b < 8; b++) {
			s[i] ^= (unsigned char)(1 << b);
			assert_int_equal(aead_open(key, aad, strlen(aad), s, sl, &o, &ol), -EBADMSG);
			assert_null(o);
			s[i] ^= (unsigned char)(1 << b);
		}
	/* Wrong key, wrong aad, aad of another row, truncated, extended. */
	assert_int_equal(aead_open(key2, aad, strlen(aad), s, sl, &o, &ol), -EBADMSG);
	assert_int_equal(aead_open(key, aad, strlen(aad) - 1, s, sl, &o, &ol), -EBADMSG);
	assert_int_equal(aead_open(key, "node:x:luks", 11, s, sl, &o, &ol), -EBADMSG);
	assert_int_equal(aead_open(key, NULL, 0, s, sl, &o, &ol), -EBADMSG);
	assert_int_equal(aead_open(key, aad, strlen(aad), s, sl - 1, &o, &ol), -EBADMSG);
	assert_int_equal(aead_open(key, aad, strlen(aad), s, AEAD_OVERHEAD - 1, &o, &ol), -EBADMSG);
	assert_int_equal(aead_open(key, aad, strlen(aad), s, 0, &o, &ol), -EBADMSG);
	unsigned char *longer = malloc(sl + 1);
	memcpy(longer, s, sl);
	longer[sl] = 0;
	assert_int_equal(aead_open(key, aad, strlen(aad), longer, sl + 1, &o, &ol), -EBADMSG);
	free(longer);
	/* Version 2 is not ours. */
	s[0] = 2;
	assert_int_equal(aead_open(key, aad, strlen(aad), s, sl, &o, &ol), -EBADMSG);
	s[0] = 1;
	assert_int_equal(aead_open(key, aad, strlen(aad), s, sl, &o, &ol), 0);
	assert_string_equal((char *)o, pt);
	free(o);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_fresh_nonce),
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_tamper),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
