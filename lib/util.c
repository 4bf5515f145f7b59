/*
 * util.c: small building blocks every part of Cairn needs: kernel
 * randomness, UUIDs, strict base64url, hex, SHA-256, constant-time
 * comparison, tokens, clocks, integer parsing, retry backoff and host name
 * checks.  Nothing here allocates more than its input asks for and nothing
 * logs.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "macro.h"
#include "protocol.h"
#include "util.h"

/* Longest input b64url_encode() accepts; EVP_EncodeBlock() counts in int. */
#define B64_INPUT_MAX ((size_t)INT_MAX / 4 * 3 - 3)

int random_bytes(void *buf, size_t len)
{
	unsigned char *p = buf;

	while (len > 0) {
		ssize_t n = getrandom(p, len, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static const char hex_lower[] = "0123456789abcdef";

int uuid_random(char ret[static UUID_STRING_MAX])
{
	unsigned char b[16];
	char s[UUID_STRING_MAX];
	size_t j = 0;
	int r;

	r = random_bytes(b, sizeof(b));
	if (r < 0)
		return r;
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */

	for (size_t i = 0; i < sizeof(b); i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			s[j++] = '-';
		s[j++] = hex_lower[b[i] >> 4];
		s[j++] = hex_lower[b[i] & 0x0f];
	}
	s[j] = '\0';
	memcpy(ret, s, UUID_STRING_MAX);
	return 0;
}

bool uuid_is_valid(const char *s)
{
	bool lower = false, upper = false;

	if (!s || strlen(s) != UUID_STRING_MAX - 1)
		return false;
	for (size_t i = 0; i < UUID_STRING_MAX - 1; i++) {
		char c = s[i];
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (c != '-')
				return false;
		} else if (c >= '0' && c <= '9')
			continue;
		else if (c >= 'a' && c <= 'f')
			lower = true;
		else if (c >= 'A' && c <= 'F')
			upper = true;
		else
			return false;
	}
	/* Canonical means one case throughout. */
	return !(lower && upper);
}

char *b64url_encode(const void *data, size_t len)
{
	size_t cap, n;
	char *s;

	if (len > B64_INPUT_MAX)
		return NULL;
	cap = (len + 2) / 3 * 4 + 1;
	s = malloc(cap);
	if (!s)
		return NULL;
	n = (size_t)EVP_EncodeBlock((unsigned char *)s, data, (int)len);
	while (n > 0 && s[n - 1] == '=')
		n--;
	s[n] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '+')
			s[i] = '-';
		else if (s[i] == '/')
			s[i] = '_';
	}
	return s;
}

/* Value of one base64url character, or -1 for anything outside the url
 * alphabet (including '+', '/', '=' and whitespace). */
static int b64url_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

int b64url_decode(const char *s, size_t slen, unsigned char **ret, size_t *ret_len)
{
	_cleanup_free_ char *std = NULL;
	_cleanup_free_ unsigned char *out = NULL;
	_cleanup_free_ char *again = NULL;
	size_t rem, pad, padded, outlen;
	int n;

	if (!s && slen > 0)
		return -EINVAL;
	if (slen > B64_INPUT_MAX)
		return -EINVAL;
	rem = slen % 4;
	if (rem == 1)
		return -EINVAL;
	for (size_t i = 0; i < slen; i++)
		if (b64url_value((unsigned char)s[i]) < 0)
			return -EINVAL;

	/* The unused low bits of the last character must be zero: 4 bits
	 * when 2 characters remain (1 byte), 2 bits when 3 remain (2 bytes). */
	if (rem == 2 && (b64url_value((unsigned char)s[slen - 1]) & 0x0f) != 0)
		return -EINVAL;
	if (rem == 3 && (b64url_value((unsigned char)s[slen - 1]) & 0x03) != 0)
		return -EINVAL;

	pad = rem == 0 ? 0 : 4 - rem;
	padded = slen + pad;
	std = malloc(padded + 1);
	out = malloc(padded / 4 * 3 + 1);
	if (!std || !out)
		return -ENOMEM;
	for (size_t i = 0; i < slen; i++)
		std[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
	memset(std + slen, '=', pad);
	std[padded] = '\0';

	n = EVP_DecodeBlock(out, (unsigned char *)std, (int)padded);
	if (n < 0 || (size_t)n != padded / 4 * 3)
		return -EINVAL;
	/* EVP_DecodeBlock() counts the padding as zero bytes. */
	outlen = (size_t)n - pad;
	out[outlen] = '\0';

	/* Belt and braces: the canonical text of the bytes must be the input. */
	again = b64url_encode(out, outlen);
	if (!again)
		return -ENOMEM;
	if (strlen(again) != slen || memcmp(again, s, slen) != 0)
		return -EINVAL;

	*ret = TAKE_PTR(out);
	if (ret_len)
		*ret_len = outlen;
	return 0;
}

char *hex_encode(const void *data, size_t len)
{
	const unsigned char *p = data;
	char *s;

	if (len > (SIZE_MAX - 1) / 2)
		return NULL;
	s = malloc(len * 2 + 1);
	if (!s)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		s[2 * i] = hex_lower[p[i] >> 4];
		s[2 * i + 1] = hex_lower[p[i] & 0x0f];
	}
	s[len * 2] = '\0';
	return s;
}

int sha256(const void *data, size_t len, unsigned char ret[static 32])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
		return -EIO;
	memcpy(ret, md, 32);
	return 0;
}

int sha256_hex(const void *data, size_t len, char ret[static 65])
{
	unsigned char md[32];
	int r;

	r = sha256(data, len, md);
	if (r < 0)
		return r;
	for (size_t i = 0; i < 32; i++) {
		ret[2 * i] = hex_lower[md[i] >> 4];
		ret[2 * i + 1] = hex_lower[md[i] & 0x0f];
	}
	ret[64] = '\0';
	return 0;
}

bool memeq_const(const void *a, const void *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) == 0;
}

char *token_new(const char *prefix)
{
	unsigned char raw[CAIRN_TOKEN_RANDOM_BYTES];
	_cleanup_secret_ char *b = NULL;
	size_t plen, blen;
	char *s;

	if (!prefix)
		prefix = "";
	if (random_bytes(raw, sizeof(raw)) < 0)
		return NULL;
	b = b64url_encode(raw, sizeof(raw));
	explicit_bzero(raw, sizeof(raw));
	if (!b)
		return NULL;
	plen = strlen(prefix);
	blen = strlen(b);
	s = malloc(plen + blen + 1);
	if (!s)
		return NULL;
	memcpy(s, prefix, plen);
	memcpy(s + plen, b, blen + 1);
	return s;
}

int64_t now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec;
}

int64_t now_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *format_rfc3339(int64_t t, char ret[static TIMESTAMP_MAX])
{
	struct tm tm;
	time_t tt = (time_t)t;

	/* 1970 … 9999: four-digit years only, as RFC 3339 wants them. */
	if (t < 0 || t > INT64_C(253402300799) || !gmtime_r(&tt, &tm))
		return NULL;
	if (strftime(ret, TIMESTAMP_MAX, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return NULL;
	return ret;
}

int parse_int64(const char *s, int64_t min, int64_t max, int64_t *ret)
{
	const char *p;
	long long v;
	char *end;

	if (!s || !*s)
		return -EINVAL;
	p = s;
	if (*p == '-') {
		if (min >= 0)
			return -EINVAL;
		p++;
	}
	/* strtoll() would skip leading blanks and accept '+': we do not. */
	if (*p < '0' || *p > '9')
		return -EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (*end != '\0')
		return -EINVAL;
	if (errno == ERANGE || v < min || v > max)
		return -ERANGE;
	if (errno != 0)
		return -EINVAL;
	*ret = (int64_t)v;
	return 0;
}

int64_t backoff_ms(int64_t base_ms, int64_t max_ms, unsigned attempt)
{
	int64_t cap = base_ms;
	uint64_t rnd = 0;
	int64_t lo, span;

	if (base_ms <= 0 || max_ms <= 0)
		return 0;
	for (unsigned i = 0; i < attempt && cap < max_ms; i++)
		cap = cap > INT64_MAX / 2 ? INT64_MAX : cap * 2;
	if (cap > max_ms)
		cap = max_ms;

	lo = cap / 2;
	span = cap - lo; /* >= 0; result in [lo, cap] */
	if (random_bytes(&rnd, sizeof(rnd)) < 0)
		return cap; /* no randomness: the safe side is the longest wait */
	return lo + (int64_t)(rnd % ((uint64_t)span + 1));
}

bool ip_literal_is_valid(const char *s)
{
	unsigned char buf[sizeof(struct in6_addr)];

	if (!s)
		return false;
	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

bool hostname_is_valid(const char *s)
{
	size_t len, label = 0;

	if (!s)
		return false;
	if (ip_literal_is_valid(s))
		return true;
	len = strlen(s);
	if (len == 0 || len > 253)
		return false;
	/* "1.2.3" or "300.1.1.1" would be taken for an address by resolvers
	 * and clients: a dotted name of digits only is not a host name. */
	if (strspn(s, "0123456789.") == len && strchr(s, '.'))
		return false;
	for (size_t i = 0; i <= len; i++) {
		char c = s[i];
		if (c == '.' || c == '\0') {
			if (label == 0 || label > 63 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return false;
		if (label == 0 && c == '-')
			return false;
		label++;
	}
	return true;
}
