/*
 * sigv4.h: AWS Signature Version 4 (header signing, HMAC-SHA256).
 *
 * Pure computation, no I/O: given a request's method, decoded path, decoded
 * query pairs, headers and payload hash, it builds the canonical request,
 * the string to sign and the Authorization header value exactly as AWS's
 * published test suite and S3 documentation do.  The S3 client uses it for
 * every request; tests/unit/test-sigv4.c runs the published vectors.
 *
 * Generic AWS services normalize the path (dot segments, repeated slashes);
 * S3 does not, and S3 wants an x-amz-content-sha256 header: both are flags.
 * Paths and query names/values are given decoded and are URI-encoded here
 * once (RFC 3986 unreserved characters kept, '/' kept in the path).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* Largest canonical request we build (headers of a request we send are
 * few and short; this only bounds a runaway caller). */
#define SIGV4_CANONICAL_MAX (64U * 1024U)
/* "20130524T000000Z" + NUL. */
#define SIGV4_AMZ_DATE_MAX 17
/* SHA-256 of the empty payload, lowercase hex. */
#define SIGV4_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"

enum {
	SIGV4_NORMALIZE_PATH = 1 << 0, /* remove dot segments, collapse '//' (generic services) */
	SIGV4_CONTENT_SHA256 = 1 << 1, /* sign an x-amz-content-sha256 header (S3) */
};

struct sigv4_pair {
	const char *name;  /* header name (any case) or decoded query name */
	const char *value; /* header value (trimmed here) or decoded query value; NULL = "" */
};

struct sigv4_request {
	const char *method;               /* "GET", "PUT", … */
	const char *path;                 /* decoded absolute path, "/bucket/key" */
	const struct sigv4_pair *query;   /* decoded query pairs, any order */
	size_t n_query;                   /* number of query pairs */
	const struct sigv4_pair *headers; /* headers to sign; must include Host */
	size_t n_headers;                 /* number of headers */
	const char *payload_hash;         /* lowercase hex SHA-256 of the body, or UNSIGNED-PAYLOAD */
};

struct sigv4_credentials {
	const char *access_key;    /* access key id */
	const char *secret_key;    /* secret access key */
	const char *session_token; /* NULL or STS token (signed as x-amz-security-token) */
	const char *region;        /* "us-east-1" */
	const char *service;       /* "s3" */
};

/* Result of sigv4_sign(); strings owned by it, freed by sigv4_signature_done(). */
struct sigv4_signature {
	char amz_date[SIGV4_AMZ_DATE_MAX]; /* value to send as x-amz-date */
	char *canonical_request;           /* for tests and debugging */
	char *string_to_sign;              /* for tests and debugging */
	char *authorization;               /* value of the Authorization header */
};

/* Signs req at time now.  Besides req's headers, the signature covers
 * x-amz-date (always), x-amz-content-sha256 (with SIGV4_CONTENT_SHA256,
 * value req->payload_hash) and x-amz-security-token (when the credentials
 * carry a token): the caller sends those headers with exactly these values.
 * Returns 0 and fills *ret, or -EINVAL (missing field, bad path, no Host),
 * -E2BIG (canonical request over SIGV4_CANONICAL_MAX), -ENOMEM, -EIO. */
int sigv4_sign(const struct sigv4_request *req, const struct sigv4_credentials *cred, time_t now,
	       unsigned flags, struct sigv4_signature *ret);

/* Frees the strings of a signature (NULL fields fine) and zeroes it. */
void sigv4_signature_done(struct sigv4_signature *s);

/* Appends the SigV4/S3 URI encoding of s[0..len) to out (capacity outsz,
 * NUL-terminated): every byte but A-Z a-z 0-9 - . _ ~ (and '/' when
 * keep_slash) becomes %XX uppercase.  Returns the encoded length or
 * -ENOBUFS when it does not fit. */
int sigv4_uri_encode(const char *s, size_t len, bool keep_slash, char *out, size_t outsz);
