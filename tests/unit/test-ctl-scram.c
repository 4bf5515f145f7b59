/*
 * test-ctl-scram.c: SCRAM-SHA-256 verifiers against RFC 7677's example
 * and the form PostgreSQL accepts.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "scram.h"

static void test_rfc7677(void **state)
{
	/* RFC 7677 §3: user "user", password "pencil". */
	static const char salt_b64[] = "W22ZaJ0SNY7soEsUEjb6gQ==";
	static const char auth_message[] =
		"n=user,r=rOprNGfwEbeRWgbNEkqO,"
		"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,"
		"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
	unsigned char salt[32];
	uint8_t stored[SCRAM_KEY_LEN], server[SCRAM_KEY_LEN];
	char *sig = NULL, *v = NULL, *b = NULL;

	int n = EVP_DecodeBlock(salt, (const unsigned char *)salt_b64, (int)strlen(salt_b64));
	assert_int_equal(n, 18); /* 16 bytes + 2 padding */
	assert_int_equal(scram_keys("pencil", salt, 16, 4096, stored, server), 0);
	assert_int_equal(scram_server_signature(server, auth_message, &sig), 0);
	assert_string_equal(sig, "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");

	assert_int_equal(scram_verifier_with_salt("pencil", salt, 16, 4096, &v), 0);
	b = scram_b64(stored, sizeof(stored));
	char *want = NULL;
	char *bs = scram_b64(server, sizeof(server));
	assert_true(asprintf(&want, "SCRAM-SHA-256$4096:%s$%s:%s", salt_b64, b, bs) > 0);
	assert_string_equal(v, want);
	free(want);
	free(bs);
	free(b);
	free(sig);
	free(v);
}

static void test_random_salt(void **state)
{
	char *a = NULL, *b = NULL;
	assert_int_equal(scram_verifier("secret", &a), 0);
	assert_int_equal(scram_verifier("secret", &b), 0);
	assert_string_not_equal(a, b);
	assert_int_equal(strncmp(a, "SCRAM-SHA-256$4096:", 19), 0);
	/* 16-byte salt: 24 base64 chars; keys: 44 each. */
	const char *salt = a + 19, *dollar = strchr(salt, '$');
	assert_non_null(dollar);
	assert_int_equal(dollar - salt, 24);
	const char *colon = strchr(dollar, ':');
	assert_non_null(colon);
	assert_int_equal(colon - dollar - 1, 44);
	assert_int_equal(strlen(colon + 1), 44);
	assert_true(strlen(a) < SCRAM_VERIFIER_MAX);
	free(a);
	free(b);
	assert_int_equal(scram_verifier("", &a), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc7677),
		cmocka_unit_test(test_random_salt),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
