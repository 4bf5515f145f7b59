/*
 * test-sigv4.c: lib/sigv4 against AWS's published SigV4 test suite and the
 * S3 documentation's examples (tests/unit/data/sigv4/, see its README).
 * Each case's request.txt is parsed here (method, path, query, headers with
 * continuation lines, body), signed, and the canonical request, the string
 * to sign and the signature are compared separately so that a failure says
 * which stage is wrong.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>

#include "fileio.h"
#include "macro.h"
#include "sigv4.h"
#include "util.h"

#ifndef SIGV4_DATA_DIR
#error "SIGV4_DATA_DIR must be defined"
#endif

#define MAX_ITEMS 32

static char *read_case_file(const char *dir, const char *name)
{
	_cleanup_free_ char *path = path_join(dir, name);
	char *data = NULL;
	size_t len;

	if (!path || read_file_full(path, 1 << 20, &data, &len) < 0)
		return NULL;
	return data;
}

static int unhex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Percent-decodes in place. */
static void pct_decode(char *s)
{
	char *o = s;

	for (char *p = s; *p; p++) {
		if (p[0] == '%' && unhex(p[1]) >= 0 && unhex(p[2]) >= 0) {
			*o++ = (char)(unhex(p[1]) * 16 + unhex(p[2]));
			p += 2;
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
}

static void run_case(const char *name, const char *dir)
{
	_cleanup_free_ char *ctx_text = read_case_file(dir, "context.json");
	_cleanup_free_ char *req = read_case_file(dir, "request.txt");
	_cleanup_free_ char *want_cr = read_case_file(dir, "header-canonical-request.txt");
	_cleanup_free_ char *want_sts = read_case_file(dir, "header-string-to-sign.txt");
	_cleanup_free_ char *want_sig = read_case_file(dir, "header-signature.txt");
	_cleanup_json_ json_t *ctx = NULL;
	struct sigv4_pair q[MAX_ITEMS], h[MAX_ITEMS];
	size_t nq = 0, nh = 0;
	struct sigv4_credentials cred = { 0 };
	struct sigv4_request r = { 0 };
	struct sigv4_signature sig = { 0 };
	char *line, *next, *body = NULL, *path, *qs, *sp;
	char payload[65], *hv[MAX_ITEMS] = { 0 };
	unsigned flags = 0;
	struct tm tm = { 0 };
	const char *ts;
	int rc;

	assert_non_null(ctx_text);
	assert_non_null(req);
	assert_non_null(want_sig);
	ctx = json_loads(ctx_text, 0, NULL);
	assert_non_null(ctx);

	cred.access_key = json_string_value(json_object_get(json_object_get(ctx, "credentials"), "access_key_id"));
	cred.secret_key =
		json_string_value(json_object_get(json_object_get(ctx, "credentials"), "secret_access_key"));
	if (!json_is_true(json_object_get(ctx, "omit_session_token")))
		cred.session_token =
			json_string_value(json_object_get(json_object_get(ctx, "credentials"), "token"));
	cred.region = json_string_value(json_object_get(ctx, "region"));
	cred.service = json_string_value(json_object_get(ctx, "service"));
	if (json_is_true(json_object_get(ctx, "normalize")))
		flags |= SIGV4_NORMALIZE_PATH;
	if (json_is_true(json_object_get(ctx, "sign_body")))
		flags |= SIGV4_CONTENT_SHA256;
	ts = json_string_value(json_object_get(ctx, "timestamp"));
	assert_non_null(ts);
	assert_non_null(strptime(ts, "%Y-%m-%dT%H:%M:%SZ", &tm));

	/* Request line: METHOD SP PATH[?QUERY] SP HTTP/1.1 */
	line = req;
	next = strchr(line, '\n');
	assert_non_null(next);
	*next++ = '\0';
	sp = strchr(line, ' ');
	assert_non_null(sp);
	*sp = '\0';
	r.method = line;
	path = sp + 1;
	sp = strrchr(path, ' ');
	assert_non_null(sp);
	*sp = '\0';
	qs = strchr(path, '?');
	if (qs) {
		*qs++ = '\0';
		while (qs && *qs) {
			char *amp = strchr(qs, '&'), *eq;

			if (amp)
				*amp++ = '\0';
			eq = strchr(qs, '=');
			if (eq)
				*eq++ = '\0';
			pct_decode(qs);
			if (eq)
				pct_decode(eq);
			assert_true(nq < MAX_ITEMS);
			q[nq].name = qs;
			q[nq].value = eq ? eq : "";
			nq++;
			qs = amp;
		}
	}
	pct_decode(path);
	r.path = path;

	/* Headers; a line starting with whitespace continues the previous one. */
	for (line = next; line && *line; line = next) {
		char *colon;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (*line == '\0') {
			body = next;
			break;
		}
		if (*line == ' ' || *line == '\t') {
			size_t a, b;
			char *n;

			assert_true(nh > 0);
			a = strlen(hv[nh - 1]);
			b = strlen(line);
			n = realloc(hv[nh - 1], a + b + 2);
			assert_non_null(n);
			n[a] = ' ';
			memcpy(n + a + 1, line, b + 1);
			hv[nh - 1] = n;
			h[nh - 1].value = n;
			continue;
		}
		colon = strchr(line, ':');
		assert_non_null(colon);
		*colon = '\0';
		assert_true(nh < MAX_ITEMS);
		hv[nh] = strdup(colon + 1);
		assert_non_null(hv[nh]);
		h[nh].name = line;
		h[nh].value = hv[nh];
		nh++;
	}
	if (line && *line == '\0' && !body)
		body = next;
	assert_int_equal(sha256_hex(body ? body : "", body ? strlen(body) : 0, payload), 0);
	r.query = q;
	r.n_query = nq;
	r.headers = h;
	r.n_headers = nh;
	r.payload_hash = payload;

	rc = sigv4_sign(&r, &cred, timegm(&tm), flags, &sig);
	if (rc < 0)
		fail_msg("%s: sigv4_sign: %d", name, rc);
	if (want_cr && strcmp(want_cr, sig.canonical_request) != 0)
		fail_msg("%s: canonical request\n--- want\n%s\n--- got\n%s", name, want_cr,
			 sig.canonical_request);
	if (want_sts && strcmp(want_sts, sig.string_to_sign) != 0)
		fail_msg("%s: string to sign\n--- want\n%s\n--- got\n%s", name, want_sts, sig.string_to_sign);
	{
		const char *s = strstr(sig.authorization, ",Signature=");
		char want[65];

		assert_non_null(s);
		snprintf(want, sizeof(want), "%.64s", want_sig);
		if (strcmp(s + 11, want) != 0)
			fail_msg("%s: signature want %s got %s", name, want, s + 11);
		assert_int_equal(strncmp(sig.authorization, "AWS4-HMAC-SHA256 Credential=", 28), 0);
	}
	for (size_t i = 0; i < nh; i++)
		free(hv[i]);
	sigv4_signature_done(&sig);
}

static void test_vectors(void **state)
{
	DIR *d = opendir(SIGV4_DATA_DIR);
	struct dirent *de;
	unsigned n = 0, s3 = 0;

	(void)state;
	assert_non_null(d);
	while ((de = readdir(d))) {
		_cleanup_free_ char *dir = NULL;

		if (de->d_name[0] == '.' || strcmp(de->d_name, "README.md") == 0)
			continue;
		dir = path_join(SIGV4_DATA_DIR, de->d_name);
		assert_non_null(dir);
		run_case(de->d_name, dir);
		n++;
		if (strncmp(de->d_name, "s3-", 3) == 0)
			s3++;
	}
	closedir(d);
	print_message("%u SigV4 cases (%u S3)\n", n, s3);
	assert_true(n >= 24);
	assert_true(s3 >= 4);
}

static void test_uri_encode(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(sigv4_uri_encode("a b/c+d~", 8, true, out, sizeof(out)), 12);
	assert_string_equal(out, "a%20b/c%2Bd~");
	assert_int_equal(sigv4_uri_encode("a/b", 3, false, out, sizeof(out)), 5);
	assert_string_equal(out, "a%2Fb");
	assert_int_equal(sigv4_uri_encode("\xe1\x88\xb4", 3, false, out, 9), -ENOBUFS);
	assert_int_equal(sigv4_uri_encode("\xe1\x88\xb4", 3, false, out, 10), 9);
	assert_string_equal(out, "%E1%88%B4");
}

static void test_refusals(void **state)
{
	struct sigv4_credentials cred = { "AK", "SK", NULL, "us-east-1", "s3" };
	struct sigv4_pair hdr = { "X-Other", "1" };
	struct sigv4_request r = { "GET", "/b/k", NULL, 0, &hdr, 1, SIGV4_EMPTY_SHA256 };
	struct sigv4_signature sig;

	(void)state;
	/* No Host header. */
	assert_int_equal(sigv4_sign(&r, &cred, 0, 0, &sig), -EINVAL);
	/* Relative path. */
	r.path = "b/k";
	assert_int_equal(sigv4_sign(&r, &cred, 0, 0, &sig), -EINVAL);
	/* Bad header name. */
	hdr.name = "Bad Name";
	r.path = "/b/k";
	assert_int_equal(sigv4_sign(&r, &cred, 0, 0, &sig), -EINVAL);
	/* S3 mode: the canonical path is not normalized. */
	hdr.name = "Host";
	hdr.value = "h";
	r.path = "/b/./x//y";
	assert_int_equal(sigv4_sign(&r, &cred, 0, SIGV4_CONTENT_SHA256, &sig), 0);
	assert_non_null(strstr(sig.canonical_request, "\n/b/./x//y\n"));
	assert_non_null(strstr(sig.canonical_request, "x-amz-content-sha256:" SIGV4_EMPTY_SHA256 "\n"));
	sigv4_signature_done(&sig);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_uri_encode),
		cmocka_unit_test(test_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
