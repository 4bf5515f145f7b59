/*
 * util.h: randomness, identifiers, encodings and time.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Fills buf with cryptographically secure random bytes (getrandom).
 * Returns 0 or -errno. */
int random_bytes(void *buf, size_t len);

/* A random (version 4) UUID in lower-case canonical form, 36 chars + NUL. */
#define UUID_STRING_MAX 37
int uuid_random(char ret[static UUID_STRING_MAX]);
/* True for canonical lower- or upper-case 8-4-4-4-12 hex. */
bool uuid_is_valid(const char *s);

/* base64url without padding (RFC 4648 §5).  b64url_encode returns a heap
 * string or NULL.  b64url_decode accepts only the canonical encoding: the
 * url alphabet, no padding, no whitespace, and zero unused trailing bits, so
 * that every byte string has exactly one accepted text.  Returns 0 and a
 * heap buffer (NUL-terminated for convenience), or -EINVAL / -ENOMEM. */
char *b64url_encode(const void *data, size_t len);
int b64url_decode(const char *s, size_t slen, unsigned char **ret, size_t *ret_len);

/* Lower-case hex of len bytes; heap string or NULL. */
char *hex_encode(const void *data, size_t len);

/* SHA-256 helpers (OpenSSL EVP). */
int sha256(const void *data, size_t len, unsigned char ret[static 32]);
/* Hex of SHA-256, 64 chars + NUL; for storing token hashes. */
int sha256_hex(const void *data, size_t len, char ret[static 65]);

/* Constant-time comparison of two equal-length byte strings (CRYPTO_memcmp). */
bool memeq_const(const void *a, const void *b, size_t len);

/* Makes a bearer/join token: prefix + base64url(32 random bytes).  Heap
 * string (wipe with freezero_strp) or NULL. */
char *token_new(const char *prefix);

/* Wall clock (CLOCK_REALTIME) in seconds, monotonic clock in milliseconds. */
int64_t now_s(void);
int64_t now_mono_ms(void);
/* RFC 3339 UTC "2026-11-23T10:00:00Z" for a time in seconds; buffer 21+.
 * Returns ret, or NULL for a time before 1970 or after 9999. */
#define TIMESTAMP_MAX 32
char *format_rfc3339(int64_t t, char ret[static TIMESTAMP_MAX]);

/* Parses a decimal int64 with range check (no sign for min >= 0, no
 * leading/trailing junk).  Returns 0 or -EINVAL/-ERANGE. */
int parse_int64(const char *s, int64_t min, int64_t max, int64_t *ret);

/* Full jitter backoff: random in [base*2^attempt/2, base*2^attempt], capped
 * at max.  attempt counts from 0.  Milliseconds. */
int64_t backoff_ms(int64_t base_ms, int64_t max_ms, unsigned attempt);

/* True when s is a valid DNS name (labels 1..63 of [a-z0-9-], not starting
 * or ending with '-', total <= 253, not dotted digits only such as
 * "300.1.1.1") or an IPv4/IPv6 literal (inet_pton: no zone, no prefix). */
bool hostname_is_valid(const char *s);
bool ip_literal_is_valid(const char *s);
