/*
 * test-util.c: unit tests for lib/util.c (randomness, UUIDs, strict
 * base64url, hex, SHA-256, tokens, time formatting, integer parsing,
 * backoff, host names).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "macro.h"
#include "protocol.h"
#include "util.h"

static void test_random_bytes(void **state)
{
	unsigned char a[64] = { 0 }, b[64] = { 0 };

	assert_int_equal(random_bytes(a, sizeof(a)), 0);
	assert_int_equal(random_bytes(b, sizeof(b)), 0);
	assert_memory_not_equal(a, b, sizeof(a));
	assert_int_equal(random_bytes(a, 0), 0);
}

static void test_uuid(void **state)
{
	char u[UUID_STRING_MAX], v[UUID_STRING_MAX];

	assert_int_equal(uuid_random(u), 0);
	assert_int_equal(uuid_random(v), 0);
	assert_int_equal(strlen(u), 36);
	assert_string_not_equal(u, v);
	assert_true(uuid_is_valid(u));
	assert_int_equal(u[14], '4');
	assert_true(strchr("89ab", u[19]) != NULL);
	for (const char *p = u; *p; p++)
		assert_true((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') || *p == '-');

	assert_true(uuid_is_valid("6b1c6d0e-2f4a-4b8e-9c1d-0123456789ab"));
	assert_true(uuid_is_valid("6B1C6D0E-2F4A-4B8E-9C1D-0123456789AB"));
	assert_false(uuid_is_valid("6B1c6d0e-2f4a-4b8e-9c1d-0123456789ab")); /* mixed */
	assert_false(uuid_is_valid(NULL));
	assert_false(uuid_is_valid(""));
	assert_false(uuid_is_valid("6b1c6d0e-2f4a-4b8e-9c1d-0123456789a"));
	assert_false(uuid_is_valid("6b1c6d0e-2f4a-4b8e-9c1d-0123456789abc"));
	assert_false(uuid_is_valid("6b1c6d0e2f4a-4b8e-9c1d-0123456789ab-"));
	assert_false(uuid_is_valid("6b1c6d0g-2f4a-4b8e-9c1d-0123456789ab"));
	assert_false(uuid_is_valid("{b1c6d0e-2f4a-4b8e-9c1d-0123456789ab"));
	assert_false(uuid_is_valid("6b1c6d0e 2f4a-4b8e-9c1d-0123456789ab"));
}

/* RFC 4648 test vectors, in the url alphabet without padding. */
static void test_b64url_vectors(void **state)
{
	static const struct {
		const char *raw, *enc;
	} v[] = {
		{ "", "" },         { "f", "Zg" },         { "fo", "Zm8" },
		{ "foo", "Zm9v" },  { "foob", "Zm9vYg" },  { "fooba", "Zm9vYmE" },
		{ "foobar", "Zm9vYmFy" },
	};

	for (size_t i = 0; i < ELEMENTSOF(v); i++) {
		_cleanup_free_ char *e = b64url_encode(v[i].raw, strlen(v[i].raw));
		_cleanup_free_ unsigned char *d = NULL;
		size_t dl = 99;

		assert_non_null(e);
		assert_string_equal(e, v[i].enc);
		assert_int_equal(b64url_decode(e, strlen(e), &d, &dl), 0);
		assert_int_equal(dl, strlen(v[i].raw));
		assert_memory_equal(d, v[i].raw, dl);
		assert_int_equal(d[dl], '\0');
	}
}

static void test_b64url_alphabet(void **state)
{
	const unsigned char raw[] = { 0xfb, 0xff, 0xbf, 0xfe };
	_cleanup_free_ char *e = b64url_encode(raw, sizeof(raw));
	_cleanup_free_ unsigned char *d = NULL;
	size_t dl;

	assert_string_equal(e, "-_-__g");
	assert_int_equal(b64url_decode(e, strlen(e), &d, &dl), 0);
	assert_int_equal(dl, sizeof(raw));
	assert_memory_equal(d, raw, sizeof(raw));
}

static void test_b64url_rejects(void **state)
{
	static const char *const bad[] = {
		"Zg==",      /* padding */
		"Zm8=",      /* padding */
		"Zg=",       /* partial padding */
		"+_-_",      /* standard alphabet */
		"-/-_",      /* standard alphabet */
		"Z",         /* length % 4 == 1 */
		"Zm9vY",     /* length % 4 == 1 */
		"Zh",        /* non-zero unused bits (1 byte) */
		"Zm9",       /* non-zero unused bits (2 bytes) */
		"Zm9w",      /* fine, control: see below */
		"Zm 9v",     /* whitespace */
		" Zm9v",     /* leading whitespace */
		"Zm9v\n",    /* trailing newline */
		"Zm9v.",     /* dot */
		"Zm\x80v",   /* non-ASCII */
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		unsigned char *d = NULL;
		size_t dl = 0;
		int r = b64url_decode(bad[i], strlen(bad[i]), &d, &dl);
		if (streq(bad[i], "Zm9w")) {
			assert_int_equal(r, 0);
			free(d);
			continue;
		}
		assert_int_equal(r, -EINVAL);
		assert_null(d);
	}

	/* An embedded NUL counts as a byte outside the alphabet. */
	unsigned char *d = NULL;
	assert_int_equal(b64url_decode("Zm\0v", 4, &d, NULL), -EINVAL);
	assert_null(d);

	/* Every byte string has exactly one accepted text.  After "Z" the
	 * second character's low 4 bits are unused: only A, Q, g, w pass. */
	for (int c = 1; c < 256; c++) {
		char s2[3] = { 'Z', (char)c, 0 };
		unsigned char *out = NULL;
		int ok = b64url_decode(s2, 2, &out, NULL) == 0;
		free(out);
		assert_int_equal(ok, strchr("AQgw", c) != NULL);
	}
	/* After "Zm" the low 2 bits are unused: 16 characters of 64 pass. */
	int count = 0;
	for (int c = 1; c < 256; c++) {
		char s3[4] = { 'Z', 'm', (char)c, 0 };
		unsigned char *out = NULL;
		if (b64url_decode(s3, 3, &out, NULL) == 0)
			count++;
		free(out);
	}
	assert_int_equal(count, 16);
}

static void test_b64url_roundtrip_random(void **state)
{
	for (size_t len = 0; len < 200; len++) {
		unsigned char buf[200];
		_cleanup_free_ char *e = NULL;
		_cleanup_free_ unsigned char *d = NULL;
		size_t dl;

		assert_int_equal(random_bytes(buf, len), 0);
		e = b64url_encode(buf, len);
		assert_non_null(e);
		assert_null(strpbrk(e, "+/="));
		assert_int_equal(b64url_decode(e, strlen(e), &d, &dl), 0);
		assert_int_equal(dl, len);
		assert_memory_equal(d, buf, len);
	}
}

static void test_hex_sha256(void **state)
{
	_cleanup_free_ char *h = hex_encode("\x00\x01\xab\xff", 4);
	unsigned char md[32];
	char hx[65];

	assert_string_equal(h, "0001abff");
	free(h);
	h = hex_encode("", 0);
	assert_string_equal(h, "");

	assert_int_equal(sha256("abc", 3, md), 0);
	assert_int_equal(md[0], 0xba);
	assert_int_equal(sha256_hex("abc", 3, hx), 0);
	assert_string_equal(hx, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	assert_int_equal(sha256_hex("", 0, hx), 0);
	assert_string_equal(hx, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_memeq_const(void **state)
{
	assert_true(memeq_const("abcd", "abcd", 4));
	assert_false(memeq_const("abcd", "abce", 4));
	assert_true(memeq_const("a", "b", 0));
}

static void test_token(void **state)
{
	_cleanup_secret_ char *t = token_new(CAIRN_JOIN_TOKEN_PREFIX);
	_cleanup_secret_ char *u = token_new(CAIRN_API_TOKEN_PREFIX);
	_cleanup_free_ unsigned char *raw = NULL;
	size_t rl;

	assert_non_null(t);
	assert_non_null(u);
	assert_true(strncmp(t, "cjt_", 4) == 0);
	assert_true(strncmp(u, "cat_", 4) == 0);
	assert_int_equal(strlen(t), 4 + 43);
	assert_true(strlen(t) <= CAIRN_TOKEN_MAX);
	assert_int_equal(b64url_decode(t + 4, strlen(t + 4), &raw, &rl), 0);
	assert_int_equal(rl, CAIRN_TOKEN_RANDOM_BYTES);
	assert_string_not_equal(t + 4, u + 4);
}

static void test_time(void **state)
{
	char ts[TIMESTAMP_MAX];
	int64_t a, b;

	assert_non_null(format_rfc3339(0, ts));
	assert_string_equal(ts, "1970-01-01T00:00:00Z");
	assert_non_null(format_rfc3339(1795428000, ts));
	assert_string_equal(ts, "2026-11-23T10:00:00Z");
	assert_non_null(format_rfc3339(253402300799, ts));
	assert_string_equal(ts, "9999-12-31T23:59:59Z");
	assert_null(format_rfc3339(253402300800, ts));
	assert_null(format_rfc3339(INT64_MAX, ts));
	assert_null(format_rfc3339(-1, ts));

	assert_true(now_s() > 1700000000);
	a = now_mono_ms();
	b = now_mono_ms();
	assert_true(b >= a);
}

static void test_parse_int64(void **state)
{
	int64_t v = 42;

	assert_int_equal(parse_int64("0", 0, 10, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(parse_int64("10", 0, 10, &v), 0);
	assert_int_equal(v, 10);
	assert_int_equal(parse_int64("-5", -10, 10, &v), 0);
	assert_int_equal(v, -5);
	assert_int_equal(parse_int64("9223372036854775807", INT64_MIN, INT64_MAX, &v), 0);
	assert_true(v == INT64_MAX);
	assert_int_equal(parse_int64("-9223372036854775808", INT64_MIN, INT64_MAX, &v), 0);
	assert_true(v == INT64_MIN);

	v = 42;
	assert_int_equal(parse_int64("11", 0, 10, &v), -ERANGE);
	assert_int_equal(parse_int64("-11", -10, 10, &v), -ERANGE);
	assert_int_equal(parse_int64("9223372036854775808", INT64_MIN, INT64_MAX, &v), -ERANGE);
	assert_int_equal(parse_int64("-1", 0, 10, &v), -EINVAL);
	assert_int_equal(parse_int64("-0", 0, 10, &v), -EINVAL);
	assert_int_equal(parse_int64("+1", 0, 10, &v), -EINVAL);
	assert_int_equal(parse_int64(" 1", 0, 10, &v), -EINVAL);
	assert_int_equal(parse_int64("1 ", 0, 10, &v), -EINVAL);
	assert_int_equal(parse_int64("1x", 0, 10, &v), -EINVAL);
	assert_int_equal(parse_int64("0x1", 0, 10, &v), -EINVAL);
	assert_int_equal(parse_int64("", 0, 10, &v), -EINVAL);
	assert_int_equal(parse_int64("-", -10, 10, &v), -EINVAL);
	assert_int_equal(parse_int64(NULL, 0, 10, &v), -EINVAL);
	assert_int_equal(v, 42);
}

static void test_backoff(void **state)
{
	for (int i = 0; i < 200; i++) {
		int64_t b0 = backoff_ms(1000, 300000, 0);
		int64_t b3 = backoff_ms(1000, 300000, 3);
		int64_t b50 = backoff_ms(1000, 300000, 50);
		int64_t bmax = backoff_ms(1000, 300000, UINT32_MAX);
		assert_true(b0 >= 500 && b0 <= 1000);
		assert_true(b3 >= 4000 && b3 <= 8000);
		assert_true(b50 >= 150000 && b50 <= 300000);
		assert_true(bmax >= 150000 && bmax <= 300000);
	}
	assert_int_equal(backoff_ms(0, 100, 3), 0);
	assert_true(backoff_ms(INT64_MAX, INT64_MAX, 5) >= INT64_MAX / 2);
}

static void test_hostname(void **state)
{
	static const char *const good[] = {
		"localhost", "db-1", "a", "ctl.example", "a.b.c.d-e.f0", "198.18.0.1", "::1",
		"2001:db8::1", "0.0.0.0", "1a.example", "123",
	};
	static const char *const bad[] = {
		"", "-a", "a-", "a..b", ".a", "a.", "A.example", "a_b", "a b", "300.1.1.1",
		"1.2.3", "198.18.0.1/24", "fe80::1%eth0", "[::1]", "a.-b.c", "é.example",
	};
	char longlabel[80], longname[300];

	for (size_t i = 0; i < ELEMENTSOF(good); i++)
		assert_true(hostname_is_valid(good[i]));
	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		assert_false(hostname_is_valid(bad[i]));
	assert_false(hostname_is_valid(NULL));

	memset(longlabel, 'a', 63);
	longlabel[63] = '\0';
	assert_true(hostname_is_valid(longlabel));
	longlabel[63] = 'a';
	longlabel[64] = '\0';
	assert_false(hostname_is_valid(longlabel));

	/* 4 labels of 63 + 3 dots = 255 > 253. */
	memset(longname, 'a', sizeof(longname));
	for (int i = 63; i < 255; i += 64)
		longname[i] = '.';
	longname[253] = '\0';
	assert_true(hostname_is_valid(longname));
	longname[253] = 'a';
	longname[254] = '\0';
	assert_false(hostname_is_valid(longname));

	assert_true(ip_literal_is_valid("127.0.0.1"));
	assert_true(ip_literal_is_valid("::ffff:1.2.3.4"));
	assert_false(ip_literal_is_valid("localhost"));
	assert_false(ip_literal_is_valid("1.2.3"));
	assert_false(ip_literal_is_valid("01.2.3.4x"));
	assert_false(ip_literal_is_valid(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_bytes),
		cmocka_unit_test(test_uuid),
		cmocka_unit_test(test_b64url_vectors),
		cmocka_unit_test(test_b64url_alphabet),
		cmocka_unit_test(test_b64url_rejects),
		cmocka_unit_test(test_b64url_roundtrip_random),
		cmocka_unit_test(test_hex_sha256),
		cmocka_unit_test(test_memeq_const),
		cmocka_unit_test(test_token),
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_parse_int64),
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_hostname),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
