/*
 * sigv4.c: AWS Signature Version 4 header signing (see sigv4.h).
 *
 * Canonical request = method, canonical URI, canonical query, canonical
 * headers, signed header names, payload hash, joined by '\n'.  Headers are
 * lowercased, their values trimmed with inner runs of whitespace folded to
 * one space, repeated names joined by ',' in order, all sorted by name.
 * Query pairs are encoded then sorted by name, then value.  The signing key
 * is HMAC chained over date, region, service and "aws4_request" and lives
 * on the stack only, wiped after use.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "macro.h"
#include "sigv4.h"
#include "util.h"

/* Most headers we accept to sign, query pairs too (bounds the sort). */
#define SIGV4_ITEMS_MAX 64U

/* A bounded, growable string. */
struct sb {
	char *buf;  /* NUL-terminated */
	size_t len; /* bytes used, without NUL */
	size_t cap; /* allocated */
	int err;    /* first error, sticky */
};

static void sb_append(struct sb *b, const char *s, size_t n)
{
	if (b->err)
		return;
	if (b->len + n + 1 > SIGV4_CANONICAL_MAX) {
		b->err = -E2BIG;
		return;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = MAX(b->cap * 2, b->len + n + 1);
		char *p;

		cap = MAX(cap, (size_t)256);
		p = realloc(b->buf, cap);
		if (!p) {
			b->err = -ENOMEM;
			return;
		}
		b->buf = p;
		b->cap = cap;
	}
	memcpy(b->buf + b->len, s, n);
	b->len += n;
	b->buf[b->len] = '\0';
}

static void sb_puts(struct sb *b, const char *s) { sb_append(b, s, strlen(s)); }

static void sb_putc(struct sb *b, char c) { sb_append(b, &c, 1); }

static void sb_encode(struct sb *b, const char *s, size_t len, bool keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		char e[3];

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
		    c == '.' || c == '_' || c == '~' || (keep_slash && c == '/')) {
			sb_putc(b, (char)c);
			continue;
		}
		e[0] = '%';
		e[1] = hex[c >> 4];
		e[2] = hex[c & 15];
		sb_append(b, e, 3);
	}
}

int sigv4_uri_encode(const char *s, size_t len, bool keep_slash, char *out, size_t outsz)
{
	struct sb b = { 0 };
	int r;

	sb_encode(&b, s, len, keep_slash);
	if (b.err) {
		free(b.buf);
		return b.err == -E2BIG ? -ENOBUFS : b.err;
	}
	if (b.len + 1 > outsz || b.len > INT32_MAX) {
		free(b.buf);
		return -ENOBUFS;
	}
	memcpy(out, b.buf ? b.buf : "", b.len + 1);
	r = (int)b.len;
	free(b.buf);
	return r;
}

/* Canonical URI.  With normalize: dot segments removed and empty segments
 * dropped (RFC 3986 5.2.4 as AWS applies it), a trailing slash kept. */
static void canonical_uri(struct sb *b, const char *path, bool normalize)
{
	const char *segs[256];
	size_t lens[256], n = 0;
	const char *p = path;
	bool trailing;

	if (!normalize) {
		sb_encode(b, path, strlen(path), true);
		return;
	}
	trailing = strlen(path) > 1 && path[strlen(path) - 1] == '/';
	while (*p) {
		const char *e;
		size_t l;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		e = strchr(p, '/');
		l = e ? (size_t)(e - p) : strlen(p);
		if (l == 1 && p[0] == '.') {
			/* skip */
		} else if (l == 2 && p[0] == '.' && p[1] == '.') {
			if (n > 0)
				n--;
		} else {
			if (n == ELEMENTSOF(segs)) {
				b->err = b->err ? b->err : -E2BIG;
				return;
			}
			segs[n] = p;
			lens[n++] = l;
		}
		p += l;
	}
	for (size_t i = 0; i < n; i++) {
		sb_putc(b, '/');
		sb_encode(b, segs[i], lens[i], false);
	}
	if (n == 0 || trailing)
		sb_putc(b, '/');
}

struct enc_pair {
	char *name;  /* encoded (query) or lowercased (header) */
	char *value; /* encoded (query) or folded (header) */
	size_t pos;  /* original position: keeps the sort stable */
};

static int enc_pair_cmp(const void *a, const void *b)
{
	const struct enc_pair *x = a, *y = b;
	int r = strcmp(x->name, y->name);

	if (r != 0)
		return r;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static int query_cmp(const void *a, const void *b)
{
	const struct enc_pair *x = a, *y = b;
	int r = strcmp(x->name, y->name);

	return r != 0 ? r : strcmp(x->value, y->value);
}

static char *encode_dup(const char *s, bool keep_slash)
{
	struct sb b = { 0 };

	sb_encode(&b, s ? s : "", s ? strlen(s) : 0, keep_slash);
	if (!b.err && !b.buf)
		return strdup("");
	if (b.err) {
		free(b.buf);
		return NULL;
	}
	return b.buf;
}

/* Lowercased copy of a header name; NULL when it is empty or not a token. */
static char *header_name_dup(const char *s)
{
	size_t n = strlen(s);
	char *d;

	if (n == 0 || n > 256)
		return NULL;
	d = malloc(n + 1);
	if (!d)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= ' ' || c >= 127 || c == ':') {
			free(d);
			return NULL;
		}
		d[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
	}
	d[n] = '\0';
	return d;
}

/* Header value trimmed, inner whitespace runs (space, tab, CR, LF) folded. */
static char *header_value_dup(const char *s)
{
	size_t n = s ? strlen(s) : 0, o = 0;
	bool space = false;
	char *d = malloc(n + 1);

	if (!d)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			space = o > 0;
			continue;
		}
		if (space)
			d[o++] = ' ';
		space = false;
		d[o++] = c;
	}
	d[o] = '\0';
	return d;
}

static void enc_pairs_free(struct enc_pair *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(p[i].name);
		free(p[i].value);
	}
}

static int hmac(const void *key, size_t keylen, const void *data, size_t len, unsigned char out[32])
{
	unsigned int olen = 32;

	if (!HMAC(EVP_sha256(), key, (int)keylen, data, len, out, &olen) || olen != 32)
		return -EIO;
	return 0;
}

int sigv4_sign(const struct sigv4_request *req, const struct sigv4_credentials *cred, time_t now,
	       unsigned flags, struct sigv4_signature *ret)
{
	struct enc_pair q[SIGV4_ITEMS_MAX], h[SIGV4_ITEMS_MAX + 3];
	size_t nq = 0, nh = 0;
	struct sb cr = { 0 }, sts = { 0 }, auth = { 0 }, signed_names = { 0 };
	struct sigv4_signature sig = { 0 };
	char scope[256], date[9], hash_hex[65], sig_hex[65];
	unsigned char k[32], sigbin[32];
	struct tm tm;
	bool have_host = false;
	int r;

	if (!req || !cred || !ret || !req->method || !req->path || req->path[0] != '/' || !req->payload_hash ||
	    !cred->access_key || !cred->secret_key || !cred->region || !cred->service)
		return -EINVAL;
	if (req->n_query > SIGV4_ITEMS_MAX || req->n_headers > SIGV4_ITEMS_MAX)
		return -E2BIG;
	if (!gmtime_r(&now, &tm) || strftime(sig.amz_date, sizeof(sig.amz_date), "%Y%m%dT%H%M%SZ", &tm) != 16)
		return -EINVAL;
	memcpy(date, sig.amz_date, 8);
	date[8] = '\0';
	if (snprintf(scope, sizeof(scope), "%s/%s/%s/aws4_request", date, cred->region, cred->service) >=
	    (int)sizeof(scope))
		return -EINVAL;

	r = -ENOMEM;
	for (size_t i = 0; i < req->n_query; i++) {
		q[nq].name = encode_dup(req->query[i].name, false);
		q[nq].value = encode_dup(req->query[i].value, false);
		q[nq].pos = i;
		nq++;
		if (!q[nq - 1].name || !q[nq - 1].value)
			goto out;
	}
	qsort(q, nq, sizeof(q[0]), query_cmp);

	for (size_t i = 0; i < req->n_headers + 3; i++) {
		const char *name, *value;

		if (i < req->n_headers) {
			name = req->headers[i].name;
			value = req->headers[i].value;
		} else if (i == req->n_headers) {
			name = "x-amz-date";
			value = sig.amz_date;
		} else if (i == req->n_headers + 1) {
			if (!(flags & SIGV4_CONTENT_SHA256))
				continue;
			name = "x-amz-content-sha256";
			value = req->payload_hash;
		} else {
			if (!cred->session_token)
				continue;
			name = "x-amz-security-token";
			value = cred->session_token;
		}
		if (!name) {
			r = -EINVAL;
			goto out;
		}
		h[nh].name = header_name_dup(name);
		h[nh].value = header_value_dup(value);
		h[nh].pos = i;
		nh++;
		if (!h[nh - 1].name) {
			r = -EINVAL;
			goto out;
		}
		if (!h[nh - 1].value)
			goto out;
		if (strcmp(h[nh - 1].name, "host") == 0)
			have_host = true;
	}
	if (!have_host) {
		r = -EINVAL;
		goto out;
	}
	qsort(h, nh, sizeof(h[0]), enc_pair_cmp);

	/* Canonical request. */
	sb_puts(&cr, req->method);
	sb_putc(&cr, '\n');
	canonical_uri(&cr, req->path, flags & SIGV4_NORMALIZE_PATH);
	sb_putc(&cr, '\n');
	for (size_t i = 0; i < nq; i++) {
		if (i > 0)
			sb_putc(&cr, '&');
		sb_puts(&cr, q[i].name);
		sb_putc(&cr, '=');
		sb_puts(&cr, q[i].value);
	}
	sb_putc(&cr, '\n');
	for (size_t i = 0; i < nh; i++) {
		bool first = i == 0 || strcmp(h[i].name, h[i - 1].name) != 0;
		bool last = i + 1 == nh || strcmp(h[i].name, h[i + 1].name) != 0;

		if (first) {
			sb_puts(&cr, h[i].name);
			sb_putc(&cr, ':');
			if (signed_names.len > 0)
				sb_putc(&signed_names, ';');
			sb_puts(&signed_names, h[i].name);
		} else {
			sb_putc(&cr, ',');
		}
		sb_puts(&cr, h[i].value);
		if (last)
			sb_putc(&cr, '\n');
	}
	sb_putc(&cr, '\n');
	sb_puts(&cr, signed_names.buf ? signed_names.buf : "");
	sb_putc(&cr, '\n');
	sb_puts(&cr, req->payload_hash);
	r = cr.err ? cr.err : signed_names.err;
	if (r < 0)
		goto out;

	/* String to sign. */
	r = sha256_hex(cr.buf, cr.len, hash_hex);
	if (r < 0)
		goto out;
	sb_puts(&sts, "AWS4-HMAC-SHA256\n");
	sb_puts(&sts, sig.amz_date);
	sb_putc(&sts, '\n');
	sb_puts(&sts, scope);
	sb_putc(&sts, '\n');
	sb_puts(&sts, hash_hex);
	if (sts.err) {
		r = sts.err;
		goto out;
	}

	/* Signing key and signature. */
	{
		size_t sl = strlen(cred->secret_key);
		char *kk = malloc(sl + 5);

		if (!kk) {
			r = -ENOMEM;
			goto out;
		}
		memcpy(kk, "AWS4", 4);
		memcpy(kk + 4, cred->secret_key, sl + 1);
		r = hmac(kk, sl + 4, date, 8, k);
		explicit_bzero(kk, sl + 5);
		free(kk);
	}
	if (r >= 0)
		r = hmac(k, 32, cred->region, strlen(cred->region), k);
	if (r >= 0)
		r = hmac(k, 32, cred->service, strlen(cred->service), k);
	if (r >= 0)
		r = hmac(k, 32, "aws4_request", 12, k);
	if (r >= 0)
		r = hmac(k, 32, sts.buf, sts.len, sigbin);
	explicit_bzero(k, sizeof(k));
	if (r < 0)
		goto out;
	for (size_t i = 0; i < 32; i++)
		snprintf(sig_hex + 2 * i, 3, "%02x", sigbin[i]);

	sb_puts(&auth, "AWS4-HMAC-SHA256 Credential=");
	sb_puts(&auth, cred->access_key);
	sb_putc(&auth, '/');
	sb_puts(&auth, scope);
	sb_puts(&auth, ",SignedHeaders=");
	sb_puts(&auth, signed_names.buf);
	sb_puts(&auth, ",Signature=");
	sb_puts(&auth, sig_hex);
	if (auth.err) {
		r = auth.err;
		goto out;
	}

	sig.canonical_request = TAKE_PTR(cr.buf);
	sig.string_to_sign = TAKE_PTR(sts.buf);
	sig.authorization = TAKE_PTR(auth.buf);
	*ret = sig;
	r = 0;
out:
	enc_pairs_free(q, nq);
	enc_pairs_free(h, nh);
	free(cr.buf);
	free(sts.buf);
	free(auth.buf);
	free(signed_names.buf);
	return r;
}

void sigv4_signature_done(struct sigv4_signature *s)
{
	if (!s)
		return;
	free(s->canonical_request);
	free(s->string_to_sign);
	free(s->authorization);
	memset(s, 0, sizeof(*s));
}
