/*
 * s3.c: the S3 client (see s3.h for the contract, docs/s3.md for the story).
 *
 * Every request is a struct s3_req run on the client's one curl multi:
 * req_start() builds the URL, signs and adds the easy handle;
 * client_drive() performs, collects completions, classifies them (done,
 * failed, or retry later) and re-adds due retries, each re-signed with a
 * fresh date.  Synchronous operations start one request and drive until it
 * is done; uploads and downloads keep up to `parallel` requests in flight
 * and drive until one of theirs finishes.
 *
 * Bodies: request bodies are read from memory the caller owns (a part
 * buffer, the PUT data, an XML document); a 2xx response body goes into the
 * request's buffer up to its maximum (a download range writes straight into
 * its part buffer, so a retry resumes where the range stopped); an error
 * body is kept up to S3_ERROR_BODY_MAX for its <Error>.
 *
 * Payload hash: over https the body is covered by TLS and requests are
 * signed UNSIGNED-PAYLOAD (no second pass over each part); over plain http
 * the real SHA-256 is signed.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "macro.h"
#include "s3.h"
#include "s3xml.h"
#include "sigv4.h"
#include "util.h"

/* Error bodies kept for their <Error> document. */
#define S3_ERROR_BODY_MAX (64U * 1024U)
/* Query pairs of one request. */
#define S3_QUERY_MAX 6U
/* Longest URL we build (key encoded can triple). */
#define S3_URL_MAX (8U * 1024U)
/* Longest ETag kept. */
#define S3_ETAG_MAX 128U

enum req_state {
	REQ_IDLE,    /* not started or finished and collected */
	REQ_RUNNING, /* handle in the multi */
	REQ_WAITING, /* waiting for a retry */
	REQ_DONE,    /* finished: result/err final */
};

struct s3_req {
	struct s3_client *c;                       /* owner */
	CURL *easy;                                /* the handle, kept across retries */
	struct curl_slist *headers;                /* built per attempt */
	const char *op;                            /* name in errors: "PUT", "UploadPart" */
	const char *method;                        /* HTTP method */
	char *key;                                 /* object key or NULL (bucket-level) */
	char *qnames[S3_QUERY_MAX];                /* decoded query names */
	char *qvalues[S3_QUERY_MAX];               /* decoded query values */
	size_t nq;                                 /* query pairs */
	const char *body;                          /* request body (caller's memory) */
	size_t body_len;                           /* its length */
	size_t body_pos;                           /* bytes sent this attempt */
	bool has_body;                             /* PUT/POST with a body (maybe empty) */
	char content_md5[32];                      /* base64 MD5 or "" */
	bool head;                                 /* HEAD request */
	uint64_t range_start;                      /* first byte of a ranged GET */
	uint64_t range_len;                        /* 0: no Range */
	char *buf;                                 /* 2xx body */
	size_t len;                                /* bytes in buf */
	size_t cap;                                /* allocated */
	size_t max;                                /* limit of a 2xx body */
	bool buf_fixed;                            /* buf belongs to the caller, cap fixed */
	bool overflow;                             /* body passed max */
	char *ebuf;                                /* error body */
	size_t elen;                               /* bytes in ebuf */
	long status;                               /* HTTP status of this attempt */
	char etag[S3_ETAG_MAX];                    /* ETag header */
	char request_id[96];                       /* x-amz-request-id */
	uint64_t content_length;                   /* Content-Length header */
	bool have_length;                          /* … was present */
	char curl_err[CURL_ERROR_SIZE];            /* curl's detail */
	unsigned attempt;                          /* attempts made */
	int64_t retry_at_ms;                       /* monotonic time of the next try */
	enum req_state state;                      /* see enum */
	int result;                                /* 0 or -errno, when DONE */
	struct s3_error err;                       /* when result < 0 */
	struct s3_req *next_wait;                  /* in the client's retry list */
	void *owner;                               /* upload or download that started it */
	unsigned slot;                             /* owner's slot index */
};

struct s3_client {
	char *scheme;         /* "http" or "https" */
	char *hostport;       /* endpoint host[:port] as given */
	char *host_header;    /* Host we send (bucket. prefixed when virtual-hosted) */
	char *url_base;       /* scheme://host_header */
	char *region;         /* signing region */
	char *bucket;         /* bucket */
	char *access_key;     /* wiped on free */
	char *secret_key;     /* wiped on free */
	char *session_token;  /* wiped on free, NULL when none */
	bool virtual_hosted;  /* addressing */
	char *ca_file;        /* CA bundle or NULL */
	size_t part_size;     /* bytes per part/range */
	unsigned parallel;    /* requests in flight per transfer */
	unsigned max_attempts; /* tries per request */
	long connect_timeout_s;   /* curl CONNECTTIMEOUT */
	long low_speed_timeout_s; /* curl LOW_SPEED_TIME */
	unsigned list_max_keys;   /* ListObjectsV2 max-keys */
	bool tls;             /* https */
	CURLM *multi;         /* carries every request; holds the connection cache */
	struct s3_req *waiting; /* requests waiting for a retry */
};

/* ---- errors ---- */

const char *s3_error_format(const struct s3_error *e, char *buf, size_t n)
{
	if (!buf || n == 0)
		return "";
	if (!e) {
		snprintf(buf, n, "s3: unknown error");
		return buf;
	}
	if (e->http_status == 0)
		snprintf(buf, n, "s3 %s %s: %s%s%s", e->op[0] ? e->op : "request", e->key[0] ? e->key : "(bucket)",
			 e->code[0] ? e->code : "error", e->message[0] ? ": " : "", e->message);
	else
		snprintf(buf, n, "s3 %s %s: %ld %s%s%s%s%s%s", e->op[0] ? e->op : "request",
			 e->key[0] ? e->key : "(bucket)", e->http_status, e->code[0] ? e->code : "(no code)",
			 e->message[0] ? ": " : "", e->message, e->request_id[0] ? " (request id " : "",
			 e->request_id, e->request_id[0] ? ")" : "");
	return buf;
}

static void err_set(struct s3_error *err, const struct s3_req *q, long status, const char *code,
		    const char *message)
{
	if (!err)
		return;
	memset(err, 0, sizeof(*err));
	snprintf(err->op, sizeof(err->op), "%s", q && q->op ? q->op : "");
	snprintf(err->key, sizeof(err->key), "%s", q && q->key ? q->key : "");
	err->http_status = status;
	snprintf(err->code, sizeof(err->code), "%s", code ? code : "");
	snprintf(err->message, sizeof(err->message), "%s", message ? message : "");
}

static void err_copy(struct s3_error *dst, const struct s3_error *src)
{
	if (dst && src)
		*dst = *src;
}

/* -errno for a final HTTP status. */
static int status_to_errno(long status)
{
	switch (status) {
	case 400:
		return -EINVAL;
	case 401:
	case 403:
		return -EACCES;
	case 404:
		return -ENOENT;
	case 409:
		return -EBUSY;
	case 412:
		return -ESTALE;
	case 416:
		return -ERANGE;
	default:
		return status >= 500 || status == 408 || status == 429 ? -EAGAIN : -EIO;
	}
}

/* ---- client ---- */

static void free_secret(char **p)
{
	freezero_strp(p);
	*p = NULL;
}

void s3_client_free(struct s3_client *c)
{
	if (!c)
		return;
	if (c->multi)
		curl_multi_cleanup(c->multi);
	free(c->scheme);
	free(c->hostport);
	free(c->host_header);
	free(c->url_base);
	free(c->region);
	free(c->bucket);
	free_secret(&c->access_key);
	free_secret(&c->secret_key);
	free_secret(&c->session_token);
	free(c->ca_file);
	free(c);
}

/* Bucket names as S3 accepts them today: 3..63 of [a-z0-9.-]. */
static bool bucket_is_valid(const char *b)
{
	size_t n = strlen(b);

	if (n < 3 || n > 63)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((b[i] >= 'a' && b[i] <= 'z') || (b[i] >= '0' && b[i] <= '9') || b[i] == '.' || b[i] == '-'))
			return false;
	return b[0] != '.' && b[0] != '-' && b[n - 1] != '.' && b[n - 1] != '-';
}

static bool text_is_clean(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 127)
			return false;
	return true;
}

int s3_client_new(const struct s3_config *cfg, struct s3_client **ret)
{
	struct s3_client *c;
	const char *hp, *slash;
	size_t n;

	if (!cfg || !ret || !cfg->endpoint || !cfg->bucket || !cfg->access_key || !cfg->secret_key)
		return -EINVAL;
	if (!bucket_is_valid(cfg->bucket) || !text_is_clean(cfg->access_key, 256) ||
	    !text_is_clean(cfg->secret_key, 256) ||
	    (cfg->session_token && !text_is_clean(cfg->session_token, 4096)) ||
	    (cfg->region && !text_is_clean(cfg->region, 64)))
		return -EINVAL;
	if (cfg->part_size != 0 && (cfg->part_size < S3_PART_SIZE_MIN || cfg->part_size > S3_PART_SIZE_MAX))
		return -EINVAL;
	if (cfg->parallel > S3_PARALLEL_MAX || cfg->max_attempts > 100 || cfg->list_max_keys > 1000)
		return -EINVAL;

	if (strncmp(cfg->endpoint, "https://", 8) == 0)
		hp = cfg->endpoint + 8;
	else if (strncmp(cfg->endpoint, "http://", 7) == 0)
		hp = cfg->endpoint + 7;
	else
		return -EINVAL;
	slash = strchr(hp, '/');
	n = slash ? (size_t)(slash - hp) : strlen(hp);
	/* Nothing but an optional "/" may follow host[:port]. */
	if (n == 0 || n > 255 || (slash && strcmp(slash, "/") != 0))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!((hp[i] >= 'a' && hp[i] <= 'z') || (hp[i] >= 'A' && hp[i] <= 'Z') ||
		      (hp[i] >= '0' && hp[i] <= '9') || strchr(".-:[]", hp[i])))
			return -EINVAL;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->tls = hp == cfg->endpoint + 8;
	c->scheme = strdup(c->tls ? "https" : "http");
	c->hostport = strndup(hp, n);
	c->region = strdup(cfg->region ? cfg->region : "us-east-1");
	c->bucket = strdup(cfg->bucket);
	c->access_key = strdup(cfg->access_key);
	c->secret_key = strdup(cfg->secret_key);
	c->session_token = cfg->session_token ? strdup(cfg->session_token) : NULL;
	c->ca_file = cfg->ca_file ? strdup(cfg->ca_file) : NULL;
	c->virtual_hosted = cfg->virtual_hosted;
	c->part_size = cfg->part_size ? cfg->part_size : S3_PART_SIZE_DEFAULT;
	c->parallel = cfg->parallel ? cfg->parallel : S3_PARALLEL_DEFAULT;
	c->max_attempts = cfg->max_attempts ? cfg->max_attempts : S3_ATTEMPTS_DEFAULT;
	c->connect_timeout_s = cfg->connect_timeout_s ? (long)cfg->connect_timeout_s : 10;
	c->low_speed_timeout_s = cfg->low_speed_timeout_s ? (long)cfg->low_speed_timeout_s : 30;
	c->list_max_keys = cfg->list_max_keys ? cfg->list_max_keys : 1000;
	if (!c->scheme || !c->hostport || !c->region || !c->bucket || !c->access_key || !c->secret_key ||
	    (cfg->session_token && !c->session_token) || (cfg->ca_file && !c->ca_file))
		goto oom;
	if (c->virtual_hosted) {
		if (asprintf(&c->host_header, "%s.%s", c->bucket, c->hostport) < 0) {
			c->host_header = NULL;
			goto oom;
		}
	} else {
		c->host_header = strdup(c->hostport);
		if (!c->host_header)
			goto oom;
	}
	if (asprintf(&c->url_base, "%s://%s", c->scheme, c->host_header) < 0) {
		c->url_base = NULL;
		goto oom;
	}
	c->multi = curl_multi_init();
	if (!c->multi)
		goto oom;
	/* Keep a connection per request in flight for reuse. */
	curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, (long)c->parallel * 2 + 2);
	*ret = c;
	return 0;
oom:
	s3_client_free(c);
	return -ENOMEM;
}

/* ---- requests ---- */

static void req_reset_headers(struct s3_req *q)
{
	curl_slist_free_all(q->headers);
	q->headers = NULL;
}

static void req_free(struct s3_req *q)
{
	if (!q)
		return;
	if (q->easy) {
		if (q->state == REQ_RUNNING)
			curl_multi_remove_handle(q->c->multi, q->easy);
		curl_easy_cleanup(q->easy);
	}
	if (q->state == REQ_WAITING) {
		for (struct s3_req **p = &q->c->waiting; *p; p = &(*p)->next_wait)
			if (*p == q) {
				*p = q->next_wait;
				break;
			}
	}
	req_reset_headers(q);
	free(q->key);
	for (size_t i = 0; i < q->nq; i++) {
		free(q->qnames[i]);
		free(q->qvalues[i]);
	}
	if (!q->buf_fixed)
		free(q->buf);
	free(q->ebuf);
	free(q);
}

static struct s3_req *req_new(struct s3_client *c, const char *op, const char *method, const char *key)
{
	struct s3_req *q = calloc(1, sizeof(*q));

	if (!q)
		return NULL;
	q->c = c;
	q->op = op;
	q->method = method;
	q->max = S3XML_BODY_MAX;
	if (key) {
		q->key = strdup(key);
		if (!q->key) {
			free(q);
			return NULL;
		}
	}
	return q;
}

static int req_query(struct s3_req *q, const char *name, const char *value)
{
	if (q->nq >= S3_QUERY_MAX)
		return -E2BIG;
	q->qnames[q->nq] = strdup(name);
	q->qvalues[q->nq] = strdup(value ? value : "");
	if (!q->qnames[q->nq] || !q->qvalues[q->nq]) {
		free(q->qnames[q->nq]);
		free(q->qvalues[q->nq]);
		return -ENOMEM;
	}
	q->nq++;
	return 0;
}

static bool key_is_valid(const char *key)
{
	size_t n;

	if (!key)
		return false;
	n = strlen(key);
	if (n == 0 || n > S3_KEY_MAX)
		return false;
	/* Control characters cannot travel in XML 1.0 (listings, deletes). */
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)key[i] < 0x20 || key[i] == 0x7f)
			return false;
	return true;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
	struct s3_req *q = ud;
	size_t n = size * nmemb, vlen;
	const char *colon = memchr(data, ':', n), *v;

	if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
		/* A new response (after 100-continue or a redirect): forget the last. */
		q->etag[0] = '\0';
		q->have_length = false;
		return n;
	}
	if (!colon)
		return n;
	v = colon + 1;
	while (v < data + n && (*v == ' ' || *v == '\t'))
		v++;
	vlen = (size_t)(data + n - v);
	while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
		vlen--;
#define HDR_IS(name) ((size_t)(colon - data) == strlen(name) && strncasecmp(data, name, strlen(name)) == 0)
	if (HDR_IS("etag"))
		snprintf(q->etag, sizeof(q->etag), "%.*s", (int)MIN(vlen, sizeof(q->etag) - 1), v);
	else if (HDR_IS("x-amz-request-id"))
		snprintf(q->request_id, sizeof(q->request_id), "%.*s", (int)MIN(vlen, sizeof(q->request_id) - 1),
			 v);
	else if (HDR_IS("content-length")) {
		char tmp[32];
		int64_t l;

		snprintf(tmp, sizeof(tmp), "%.*s", (int)MIN(vlen, sizeof(tmp) - 1), v);
		if (parse_int64(tmp, 0, INT64_MAX, &l) == 0) {
			q->content_length = (uint64_t)l;
			q->have_length = true;
		}
	}
#undef HDR_IS
	return n;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *ud)
{
	struct s3_req *q = ud;
	size_t n = size * nmemb;
	long status = 0;

	curl_easy_getinfo(q->easy, CURLINFO_RESPONSE_CODE, &status);
	if (status < 200 || status >= 300) {
		/* Error body: keep the start for its <Error>, drop the rest. */
		size_t keep = MIN(n, S3_ERROR_BODY_MAX - q->elen);

		if (keep > 0) {
			if (!q->ebuf) {
				q->ebuf = malloc(S3_ERROR_BODY_MAX + 1);
				if (!q->ebuf)
					return 0;
			}
			memcpy(q->ebuf + q->elen, data, keep);
			q->elen += keep;
			q->ebuf[q->elen] = '\0';
		}
		return n;
	}
	if (q->len + n > q->max) {
		q->overflow = true;
		return 0;
	}
	if (q->len + n + (q->buf_fixed ? 0 : 1) > q->cap) {
		size_t cap;
		char *p;

		if (q->buf_fixed) {
			q->overflow = true;
			return 0;
		}
		cap = MAX(q->cap * 2, q->len + n + 1);
		cap = MIN(cap, q->max + 1);
		p = realloc(q->buf, cap);
		if (!p)
			return 0;
		q->buf = p;
		q->cap = cap;
	}
	memcpy(q->buf + q->len, data, n);
	q->len += n;
	if (!q->buf_fixed)
		q->buf[q->len] = '\0';
	return n;
}

static size_t on_read(char *data, size_t size, size_t nmemb, void *ud)
{
	struct s3_req *q = ud;
	size_t n = MIN(size * nmemb, q->body_len - q->body_pos);

	if (n > 0)
		memcpy(data, q->body + q->body_pos, n);
	q->body_pos += n;
	return n;
}

static int on_seek(void *ud, curl_off_t offset, int origin)
{
	struct s3_req *q = ud;

	if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > q->body_len)
		return CURL_SEEKFUNC_FAIL;
	q->body_pos = (size_t)offset;
	return CURL_SEEKFUNC_OK;
}

/* Appends "name: value" to the header list. */
static int add_header(struct curl_slist **l, const char *name, const char *value)
{
	char line[8192];
	struct curl_slist *n;

	if (snprintf(line, sizeof(line), "%s: %s", name, value) >= (int)sizeof(line))
		return -E2BIG;
	n = curl_slist_append(*l, line);
	if (!n)
		return -ENOMEM;
	*l = n;
	return 0;
}

/* Builds path ("/bucket/key" or "/key"), URL and signature; configures the
 * easy handle for this attempt. */
static int req_prepare(struct s3_req *q)
{
	struct s3_client *c = q->c;
	char path[S3_URL_MAX], enc[S3_URL_MAX], url[S3_URL_MAX], query[S3_URL_MAX], payload[65], range[64];
	struct sigv4_pair qp[S3_QUERY_MAX], hp[4];
	struct sigv4_credentials cred = { c->access_key, c->secret_key, c->session_token, c->region, "s3" };
	struct sigv4_request sr = { 0 };
	struct sigv4_signature sig = { 0 };
	size_t nh = 0, qlen = 0;
	int r;

	/* Bucket-level requests are signed without a trailing slash: s3rver
	 * 5.0.0 checks "/bucket" even when "/bucket/" was signed. */
	if (c->virtual_hosted)
		r = snprintf(path, sizeof(path), "/%s", q->key ? q->key : "");
	else if (q->key)
		r = snprintf(path, sizeof(path), "/%s/%s", c->bucket, q->key);
	else
		r = snprintf(path, sizeof(path), "/%s", c->bucket);
	if (r < 0 || (size_t)r >= sizeof(path))
		return -E2BIG;
	r = sigv4_uri_encode(path, strlen(path), true, enc, sizeof(enc));
	if (r < 0)
		return r;
	query[0] = '\0';
	for (size_t i = 0; i < q->nq; i++) {
		char en[1024], ev[4096];
		int a = sigv4_uri_encode(q->qnames[i], strlen(q->qnames[i]), false, en, sizeof(en));
		int b = a < 0 ? a : sigv4_uri_encode(q->qvalues[i], strlen(q->qvalues[i]), false, ev, sizeof(ev));

		if (b < 0)
			return b;
		r = snprintf(query + qlen, sizeof(query) - qlen, "%s%s%s%s", i ? "&" : "?", en,
			     q->qvalues[i][0] ? "=" : "", q->qvalues[i][0] ? ev : "");
		if (r < 0 || (size_t)r >= sizeof(query) - qlen)
			return -E2BIG;
		qlen += (size_t)r;
		qp[i].name = q->qnames[i];
		qp[i].value = q->qvalues[i];
	}
	if (snprintf(url, sizeof(url), "%s%s%s", c->url_base, enc, query) >= (int)sizeof(url))
		return -E2BIG;

	if (c->tls && q->has_body) {
		snprintf(payload, sizeof(payload), "%s", SIGV4_UNSIGNED_PAYLOAD);
	} else if (q->has_body) {
		r = sha256_hex(q->body ? q->body : "", q->body_len, payload);
		if (r < 0)
			return r;
	} else {
		snprintf(payload, sizeof(payload), "%s", SIGV4_EMPTY_SHA256);
	}

	hp[nh].name = "Host";
	hp[nh++].value = c->host_header;
	if (q->range_len > 0) {
		uint64_t start = q->range_start + q->len;

		snprintf(range, sizeof(range), "bytes=%" PRIu64 "-%" PRIu64, start,
			 q->range_start + q->range_len - 1);
		hp[nh].name = "Range";
		hp[nh++].value = range;
	}
	if (q->content_md5[0]) {
		hp[nh].name = "Content-MD5";
		hp[nh++].value = q->content_md5;
	}
	sr.method = q->method;
	sr.path = path;
	sr.query = qp;
	sr.n_query = q->nq;
	sr.headers = hp;
	sr.n_headers = nh;
	sr.payload_hash = payload;
	r = sigv4_sign(&sr, &cred, time(NULL), SIGV4_CONTENT_SHA256, &sig);
	if (r < 0)
		return r;

	req_reset_headers(q);
	for (size_t i = 0; i < nh && r >= 0; i++)
		r = add_header(&q->headers, hp[i].name, hp[i].value);
	if (r >= 0)
		r = add_header(&q->headers, "x-amz-date", sig.amz_date);
	if (r >= 0)
		r = add_header(&q->headers, "x-amz-content-sha256", payload);
	if (r >= 0 && c->session_token)
		r = add_header(&q->headers, "x-amz-security-token", c->session_token);
	if (r >= 0)
		r = add_header(&q->headers, "Authorization", sig.authorization);
	/* No 100-continue round trip: S3 answers errors early anyway. */
	if (r >= 0 && q->has_body)
		r = add_header(&q->headers, "Expect", "");
	sigv4_signature_done(&sig);
	if (r < 0)
		return r;

	if (!q->easy) {
		q->easy = curl_easy_init();
		if (!q->easy)
			return -ENOMEM;
	} else {
		curl_easy_reset(q->easy);
	}
	curl_easy_setopt(q->easy, CURLOPT_URL, url);
	curl_easy_setopt(q->easy, CURLOPT_PROTOCOLS_STR, c->tls ? "https" : "http");
	curl_easy_setopt(q->easy, CURLOPT_HTTPHEADER, q->headers);
	curl_easy_setopt(q->easy, CURLOPT_PRIVATE, q);
	curl_easy_setopt(q->easy, CURLOPT_ERRORBUFFER, q->curl_err);
	curl_easy_setopt(q->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(q->easy, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(q->easy, CURLOPT_HEADERDATA, q);
	curl_easy_setopt(q->easy, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(q->easy, CURLOPT_WRITEDATA, q);
	curl_easy_setopt(q->easy, CURLOPT_CONNECTTIMEOUT, c->connect_timeout_s);
	curl_easy_setopt(q->easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(q->easy, CURLOPT_LOW_SPEED_TIME, c->low_speed_timeout_s);
	curl_easy_setopt(q->easy, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(q->easy, CURLOPT_BUFFERSIZE, 256L * 1024L);
	curl_easy_setopt(q->easy, CURLOPT_UPLOAD_BUFFERSIZE, 512L * 1024L);
	curl_easy_setopt(q->easy, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(q->easy, CURLOPT_SSL_VERIFYHOST, 2L);
	if (c->ca_file)
		curl_easy_setopt(q->easy, CURLOPT_CAINFO, c->ca_file);
	if (q->head) {
		curl_easy_setopt(q->easy, CURLOPT_NOBODY, 1L);
	} else if (strcmp(q->method, "PUT") == 0) {
		curl_easy_setopt(q->easy, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(q->easy, CURLOPT_INFILESIZE_LARGE, (curl_off_t)q->body_len);
		curl_easy_setopt(q->easy, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(q->easy, CURLOPT_READDATA, q);
		curl_easy_setopt(q->easy, CURLOPT_SEEKFUNCTION, on_seek);
		curl_easy_setopt(q->easy, CURLOPT_SEEKDATA, q);
	} else if (strcmp(q->method, "POST") == 0) {
		curl_easy_setopt(q->easy, CURLOPT_POST, 1L);
		curl_easy_setopt(q->easy, CURLOPT_POSTFIELDS, q->body ? q->body : "");
		curl_easy_setopt(q->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->body_len);
	} else if (strcmp(q->method, "GET") != 0) {
		curl_easy_setopt(q->easy, CURLOPT_CUSTOMREQUEST, q->method);
	}
	return 0;
}

/* Starts an attempt of q on the client's multi. */
static int req_start(struct s3_req *q)
{
	int r;

	q->body_pos = 0;
	q->elen = 0;
	q->status = 0;
	q->overflow = false;
	q->curl_err[0] = '\0';
	q->etag[0] = '\0';
	q->request_id[0] = '\0';
	q->have_length = false;
	/* A ranged GET resumes after the bytes it has; any other body restarts. */
	if (q->range_len == 0)
		q->len = 0;
	q->attempt++;
	r = req_prepare(q);
	if (r < 0) {
		err_set(&q->err, q, 0, "Request", "cannot build the request");
		q->result = r;
		q->state = REQ_DONE;
		return r;
	}
	if (curl_multi_add_handle(q->c->multi, q->easy) != CURLM_OK) {
		err_set(&q->err, q, 0, "Transport", "cannot add a transfer");
		q->result = -ENOMEM;
		q->state = REQ_DONE;
		return -ENOMEM;
	}
	q->state = REQ_RUNNING;
	return 0;
}

static bool curl_code_is_transient(CURLcode cc)
{
	switch (cc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return true;
	default:
		return false;
	}
}

/* Classifies a finished attempt: done (ok or final error) or retry. */
static void req_finished(struct s3_req *q, CURLcode cc)
{
	struct s3_client *c = q->c;
	bool transient;

	curl_multi_remove_handle(c->multi, q->easy);
	curl_easy_getinfo(q->easy, CURLINFO_RESPONSE_CODE, &q->status);
	if (cc == CURLE_OK && q->status >= 200 && q->status < 300) {
		bool range_ok = q->range_len == 0 || q->status == 206 ||
				(q->status == 200 && q->range_start == 0 && q->len == q->range_len);

		if (range_ok && (q->range_len == 0 || q->len == q->range_len)) {
			q->result = 0;
			q->state = REQ_DONE;
			return;
		}
		err_set(&q->err, q, q->status, "BadRange", "the server did not answer the requested range");
		q->result = -EBADMSG;
		q->state = REQ_DONE;
		return;
	}
	if (cc == CURLE_WRITE_ERROR && q->overflow) {
		err_set(&q->err, q, q->status, "TooLarge", "response body over its limit");
		q->result = -E2BIG;
		q->state = REQ_DONE;
		return;
	}
	if (cc != CURLE_OK) {
		char msg[600];

		snprintf(msg, sizeof(msg), "%s%s%s", curl_easy_strerror(cc), q->curl_err[0] ? ": " : "", q->curl_err);
		err_set(&q->err, q, 0, "Transport", msg);
		snprintf(q->err.request_id, sizeof(q->err.request_id), "%s", q->request_id);
		transient = curl_code_is_transient(cc);
		q->result = cc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT
			    : cc == CURLE_COULDNT_CONNECT  ? -ECONNREFUSED
			    : transient			   ? -ECONNRESET
							   : -EIO;
	} else {
		struct s3xml_error x = { 0 };

		err_set(&q->err, q, q->status, NULL, NULL);
		if (q->ebuf && s3xml_parse_error(q->ebuf, q->elen, &x) == 0) {
			snprintf(q->err.code, sizeof(q->err.code), "%s", x.code);
			snprintf(q->err.message, sizeof(q->err.message), "%s", x.message);
			snprintf(q->err.request_id, sizeof(q->err.request_id), "%s", x.request_id);
		}
		if (!q->err.request_id[0])
			snprintf(q->err.request_id, sizeof(q->err.request_id), "%s", q->request_id);
		if (!q->err.code[0])
			snprintf(q->err.code, sizeof(q->err.code), "%s",
				 q->status == 404 ? "NotFound" : q->status == 403 ? "Forbidden" : "HTTPError");
		/* 501 NotImplemented will not get better. */
		transient = (q->status >= 500 && q->status != 501) || q->status == 408 || q->status == 429;
		q->result = status_to_errno(q->status);
	}
	if (transient && q->attempt < c->max_attempts) {
		q->retry_at_ms = now_mono_ms() + backoff_ms(S3_BACKOFF_BASE_MS, S3_BACKOFF_MAX_MS, q->attempt - 1);
		q->state = REQ_WAITING;
		q->next_wait = c->waiting;
		c->waiting = q;
		return;
	}
	q->state = REQ_DONE;
}

/* One round of transfers: perform, collect finished attempts, restart due
 * retries, then wait for activity (at most until the next retry). */
static int client_drive(struct s3_client *c)
{
	CURLMsg *m;
	int running = 0, left, timeout_ms = 1000, changed = 0;
	long curl_timeout = -1;
	int64_t now;

	if (curl_multi_perform(c->multi, &running) != CURLM_OK)
		return -EIO;
	while ((m = curl_multi_info_read(c->multi, &left))) {
		struct s3_req *q = NULL;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&q);
		if (q) {
			req_finished(q, m->data.result);
			changed++;
		}
	}
	now = now_mono_ms();
	for (struct s3_req **p = &c->waiting; *p;) {
		struct s3_req *q = *p;

		if (q->retry_at_ms <= now) {
			*p = q->next_wait;
			q->next_wait = NULL;
			(void)req_start(q); /* a failure to start makes it DONE */
			changed++;
			continue;
		}
		timeout_ms = (int)MIN((int64_t)timeout_ms, q->retry_at_ms - now);
		p = &q->next_wait;
	}
	/* Something finished or restarted: let the caller look before waiting. */
	if (changed > 0)
		return 0;
	if (curl_multi_timeout(c->multi, &curl_timeout) == CURLM_OK && curl_timeout >= 0)
		timeout_ms = (int)MIN((long)timeout_ms, curl_timeout);
	if (timeout_ms > 0 && curl_multi_poll(c->multi, NULL, 0, timeout_ms, NULL) != CURLM_OK)
		return -EIO;
	return 0;
}

/* Runs q to completion. */
static int req_run(struct s3_req *q, struct s3_error *err)
{
	int r = req_start(q);

	while (r >= 0 && q->state != REQ_DONE)
		r = client_drive(q->c);
	if (r < 0 && q->state != REQ_DONE) {
		err_set(err, q, 0, "Transport", "curl multi failed");
		return r;
	}
	if (q->result < 0)
		err_copy(err, &q->err);
	return q->result;
}

/* ---- simple operations ---- */

int s3_put(struct s3_client *c, const char *key, const void *data, size_t len, struct s3_error *err)
{
	struct s3_req *q;
	int r;

	if (!c || !key_is_valid(key) || (!data && len > 0))
		return -EINVAL;
	q = req_new(c, "PUT", "PUT", key);
	if (!q)
		return -ENOMEM;
	q->has_body = true;
	q->body = data;
	q->body_len = len;
	r = req_run(q, err);
	req_free(q);
	return r;
}

int s3_get(struct s3_client *c, const char *key, size_t max, void **ret, size_t *ret_len, struct s3_error *err)
{
	struct s3_req *q;
	int r;

	if (!c || !key_is_valid(key) || !ret || !ret_len)
		return -EINVAL;
	q = req_new(c, "GET", "GET", key);
	if (!q)
		return -ENOMEM;
	q->max = max;
	r = req_run(q, err);
	if (r >= 0) {
		if (!q->buf) {
			q->buf = malloc(1);
			if (!q->buf) {
				req_free(q);
				return -ENOMEM;
			}
			q->buf[0] = '\0';
		}
		*ret_len = q->len;
		*ret = TAKE_PTR(q->buf);
	}
	req_free(q);
	return r;
}

int s3_head(struct s3_client *c, const char *key, uint64_t *ret_size, struct s3_error *err)
{
	struct s3_req *q;
	int r;

	if (!c || !key_is_valid(key))
		return -EINVAL;
	q = req_new(c, "HEAD", "HEAD", key);
	if (!q)
		return -ENOMEM;
	q->head = true;
	r = req_run(q, err);
	if (r >= 0 && !q->have_length) {
		err_set(err, q, q->status, "BadResponse", "no Content-Length in the answer");
		r = -EBADMSG;
	}
	if (r >= 0 && ret_size)
		*ret_size = q->content_length;
	req_free(q);
	return r;
}

/* Appends s to a growing document, XML-escaped. */
static int xml_append(char **doc, size_t *len, size_t *cap, const char *s, bool escape)
{
	for (; *s; s++) {
		const char *e = NULL;
		char one[2] = { *s, '\0' };
		size_t n;

		if (escape) {
			switch (*s) {
			case '&': e = "&amp;"; break;
			case '<': e = "&lt;"; break;
			case '>': e = "&gt;"; break;
			case '"': e = "&quot;"; break;
			case '\'': e = "&apos;"; break;
			default: break;
			}
		}
		if (!e)
			e = one;
		n = strlen(e);
		if (*len + n + 1 > *cap) {
			size_t nc = MAX(*cap * 2, *len + n + 1024);
			char *p = realloc(*doc, nc);

			if (!p)
				return -ENOMEM;
			*doc = p;
			*cap = nc;
		}
		memcpy(*doc + *len, e, n);
		*len += n;
		(*doc)[*len] = '\0';
	}
	return 0;
}

static int md5_base64(const void *data, size_t len, char out[32])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (EVP_Digest(data, len, md, &mdlen, EVP_md5(), NULL) != 1 || mdlen != 16)
		return -EIO;
	if (EVP_EncodeBlock((unsigned char *)out, md, 16) != 24)
		return -EIO;
	return 0;
}

int s3_delete(struct s3_client *c, const char *const *keys, size_t n, struct s3_error *err)
{
	if (!c || (!keys && n > 0))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!key_is_valid(keys[i]))
			return -EINVAL;
	for (size_t start = 0; start < n; start += S3_DELETE_BATCH) {
		size_t end = MIN(n, start + S3_DELETE_BATCH), len = 0, cap = 0;
		_cleanup_free_ char *doc = NULL;
		struct s3xml_delete d;
		struct s3_req *q;
		int r;

		r = xml_append(&doc, &len, &cap, "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Delete><Quiet>true</Quiet>",
			       false);
		for (size_t i = start; i < end && r >= 0; i++) {
			r = xml_append(&doc, &len, &cap, "<Object><Key>", false);
			if (r >= 0)
				r = xml_append(&doc, &len, &cap, keys[i], true);
			if (r >= 0)
				r = xml_append(&doc, &len, &cap, "</Key></Object>", false);
		}
		if (r >= 0)
			r = xml_append(&doc, &len, &cap, "</Delete>", false);
		if (r < 0)
			return r;
		q = req_new(c, "DeleteObjects", "POST", NULL);
		if (!q)
			return -ENOMEM;
		q->has_body = true;
		q->body = doc;
		q->body_len = len;
		r = md5_base64(doc, len, q->content_md5);
		if (r >= 0)
			r = req_query(q, "delete", "");
		if (r >= 0)
			r = req_run(q, err);
		if (r >= 0) {
			r = s3xml_parse_delete(q->buf, q->len, &d);
			if (r < 0) {
				err_set(err, q, q->status, "BadResponse", "DeleteObjects answer is not a DeleteResult");
			} else if (d.n_errors > 0) {
				err_set(err, q, q->status, d.first.code, d.first.message);
				if (err)
					snprintf(err->key, sizeof(err->key), "%s", d.first.key);
				r = -EIO;
			}
		}
		req_free(q);
		if (r < 0)
			return r;
	}
	return 0;
}

int s3_list(struct s3_client *c, const char *prefix, int (*cb)(void *ud, const struct s3_object *o), void *ud,
	    struct s3_error *err)
{
	_cleanup_free_ char *token = NULL;
	char maxkeys[16];

	if (!c || !cb)
		return -EINVAL;
	snprintf(maxkeys, sizeof(maxkeys), "%u", c->list_max_keys);
	for (;;) {
		struct s3xml_list l = { 0 };
		struct s3_req *q = req_new(c, "ListObjectsV2", "GET", NULL);
		int r;

		if (!q)
			return -ENOMEM;
		r = req_query(q, "list-type", "2");
		if (r >= 0)
			r = req_query(q, "max-keys", maxkeys);
		if (r >= 0 && prefix && prefix[0])
			r = req_query(q, "prefix", prefix);
		if (r >= 0 && token)
			r = req_query(q, "continuation-token", token);
		if (r >= 0)
			r = req_run(q, err);
		if (r >= 0) {
			r = s3xml_parse_list(q->buf, q->len, &l);
			if (r < 0)
				err_set(err, q, q->status, "BadResponse", "listing is not a ListBucketResult");
		}
		req_free(q);
		if (r < 0)
			return r;
		for (size_t i = 0; i < l.n_objects && r >= 0; i++)
			r = cb(ud, &l.objects[i]);
		free(token);
		token = l.truncated ? TAKE_PTR(l.next_token) : NULL;
		s3xml_list_done(&l);
		if (r < 0)
			return r;
		if (!token)
			return 0;
	}
}

/* ---- multipart upload ---- */

struct s3_upload {
	struct s3_client *c;      /* client */
	char *key;                /* object key */
	char *upload_id;          /* NULL until CreateMultipartUpload */
	char **bufs;              /* parallel + 1 part buffers, allocated on first use */
	struct s3_req **inflight; /* request per buffer, NULL when the buffer is free */
	unsigned nbufs;           /* parallel + 1 */
	unsigned cur;             /* buffer being filled */
	size_t cur_len;           /* bytes in it */
	unsigned parts;           /* parts started */
	char (*etags)[S3_ETAG_MAX]; /* ETag per part, S3_PARTS_MAX */
	uint64_t total;           /* bytes accepted */
	int failed;               /* sticky error */
	struct s3_error err;      /* its description */
	bool finished;            /* completed: nothing to abort */
};

uint64_t s3_upload_size(const struct s3_upload *u) { return u ? u->total : 0; }

int s3_upload_begin(struct s3_client *c, const char *key, struct s3_upload **ret)
{
	struct s3_upload *u;

	if (!c || !key_is_valid(key) || !ret)
		return -EINVAL;
	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->c = c;
	u->nbufs = c->parallel + 1;
	u->key = strdup(key);
	u->bufs = calloc(u->nbufs, sizeof(*u->bufs));
	u->inflight = calloc(u->nbufs, sizeof(*u->inflight));
	if (!u->key || !u->bufs || !u->inflight) {
		s3_upload_free(u);
		return -ENOMEM;
	}
	*ret = u;
	return 0;
}

static int upload_fail(struct s3_upload *u, int r, const struct s3_error *e, struct s3_error *err)
{
	if (!u->failed) {
		u->failed = r;
		if (e)
			u->err = *e;
		else
			memset(&u->err, 0, sizeof(u->err));
	}
	err_copy(err, &u->err);
	return u->failed;
}

/* Collects finished parts: records ETags, frees buffers; first failure sticks. */
static int upload_collect(struct s3_upload *u)
{
	for (unsigned i = 0; i < u->nbufs; i++) {
		struct s3_req *q = u->inflight[i];

		if (!q || q->state != REQ_DONE)
			continue;
		if (q->result < 0) {
			upload_fail(u, q->result, &q->err, NULL);
		} else if (!q->etag[0]) {
			err_set(&q->err, q, q->status, "BadResponse", "no ETag in the UploadPart answer");
			upload_fail(u, -EBADMSG, &q->err, NULL);
		} else {
			snprintf(u->etags[q->slot], S3_ETAG_MAX, "%s", q->etag);
		}
		req_free(q);
		u->inflight[i] = NULL;
	}
	return u->failed;
}

static int upload_create(struct s3_upload *u, struct s3_error *err)
{
	struct s3_req *q = req_new(u->c, "CreateMultipartUpload", "POST", u->key);
	int r;

	if (!q)
		return -ENOMEM;
	q->has_body = true;
	r = req_query(q, "uploads", "");
	if (r >= 0)
		r = req_run(q, err);
	if (r >= 0) {
		r = s3xml_parse_initiate(q->buf, q->len, &u->upload_id);
		if (r < 0)
			err_set(err, q, q->status, "BadResponse", "answer is not an InitiateMultipartUploadResult");
	}
	req_free(q);
	if (r >= 0) {
		u->etags = calloc(S3_PARTS_MAX, sizeof(*u->etags));
		if (!u->etags)
			r = -ENOMEM;
	}
	return r;
}

/* Starts uploading buffer u->cur as the next part. */
static int upload_start_part(struct s3_upload *u, struct s3_error *err)
{
	struct s3_req *q;
	char num[16];
	int r;

	if (u->parts >= S3_PARTS_MAX) {
		err_set(&u->err, NULL, 0, "TooManyParts", "object needs more than 10000 parts: raise part_size");
		snprintf(u->err.key, sizeof(u->err.key), "%s", u->key);
		return upload_fail(u, -EFBIG, &u->err, err);
	}
	q = req_new(u->c, "UploadPart", "PUT", u->key);
	if (!q)
		return upload_fail(u, -ENOMEM, NULL, err);
	snprintf(num, sizeof(num), "%u", u->parts + 1);
	r = req_query(q, "partNumber", num);
	if (r >= 0)
		r = req_query(q, "uploadId", u->upload_id);
	if (r < 0) {
		req_free(q);
		return upload_fail(u, r, NULL, err);
	}
	q->has_body = true;
	q->body = u->bufs[u->cur];
	q->body_len = u->cur_len;
	q->owner = u;
	q->slot = u->parts;
	u->inflight[u->cur] = q;
	u->parts++;
	r = req_start(q); /* a failure shows as DONE with an error */
	(void)r;
	return 0;
}

/* Picks a free buffer for filling, driving transfers until one is. */
static int upload_next_buffer(struct s3_upload *u, struct s3_error *err)
{
	for (;;) {
		int r = upload_collect(u);

		if (r < 0)
			return upload_fail(u, r, NULL, err);
		for (unsigned i = 0; i < u->nbufs; i++) {
			if (u->inflight[i])
				continue;
			if (!u->bufs[i]) {
				u->bufs[i] = malloc(u->c->part_size);
				if (!u->bufs[i])
					return upload_fail(u, -ENOMEM, NULL, err);
			}
			u->cur = i;
			u->cur_len = 0;
			return 0;
		}
		r = client_drive(u->c);
		if (r < 0)
			return upload_fail(u, r, NULL, err);
	}
}

int s3_upload_write(struct s3_upload *u, const void *buf, size_t len, struct s3_error *err)
{
	const char *p = buf;
	int r;

	if (!u || (!buf && len > 0))
		return -EINVAL;
	if (u->failed)
		return upload_fail(u, u->failed, NULL, err);
	if (u->finished)
		return -EALREADY;
	if (!u->bufs[u->cur]) {
		r = upload_next_buffer(u, err);
		if (r < 0)
			return r;
	}
	while (len > 0) {
		size_t n = MIN(len, u->c->part_size - u->cur_len);

		memcpy(u->bufs[u->cur] + u->cur_len, p, n);
		u->cur_len += n;
		u->total += n;
		p += n;
		len -= n;
		if (u->cur_len < u->c->part_size)
			break;
		if (!u->upload_id) {
			r = upload_create(u, err);
			if (r < 0)
				return upload_fail(u, r, err, err);
		}
		r = upload_start_part(u, err);
		if (r < 0)
			return r;
		r = upload_next_buffer(u, err);
		if (r < 0)
			return r;
	}
	return 0;
}

int s3_upload_finish(struct s3_upload *u, struct s3_error *err)
{
	size_t len = 0, cap = 0;
	_cleanup_free_ char *doc = NULL;
	struct s3_req *q;
	int r;

	if (!u)
		return -EINVAL;
	if (u->failed)
		return upload_fail(u, u->failed, NULL, err);
	if (u->finished)
		return -EALREADY;
	if (!u->upload_id) {
		/* The whole object fit in one part: one PUT. */
		r = s3_put(u->c, u->key, u->bufs[u->cur] ? u->bufs[u->cur] : "", u->cur_len, err);
		if (r < 0)
			return upload_fail(u, r, err, err);
		u->finished = true;
		return 0;
	}
	if (u->cur_len > 0) {
		r = upload_start_part(u, err);
		if (r < 0)
			return r;
	}
	for (;;) {
		bool busy = false;

		r = upload_collect(u);
		if (r < 0)
			return upload_fail(u, r, NULL, err);
		for (unsigned i = 0; i < u->nbufs; i++)
			busy = busy || u->inflight[i];
		if (!busy)
			break;
		r = client_drive(u->c);
		if (r < 0)
			return upload_fail(u, r, NULL, err);
	}
	/* Part buffers are no longer needed. */
	for (unsigned i = 0; i < u->nbufs; i++) {
		free(u->bufs[i]);
		u->bufs[i] = NULL;
	}

	r = xml_append(&doc, &len, &cap, "<CompleteMultipartUpload>", false);
	for (unsigned i = 0; i < u->parts && r >= 0; i++) {
		char part[64];

		snprintf(part, sizeof(part), "<Part><PartNumber>%u</PartNumber><ETag>", i + 1);
		r = xml_append(&doc, &len, &cap, part, false);
		if (r >= 0)
			r = xml_append(&doc, &len, &cap, u->etags[i], true);
		if (r >= 0)
			r = xml_append(&doc, &len, &cap, "</ETag></Part>", false);
	}
	if (r >= 0)
		r = xml_append(&doc, &len, &cap, "</CompleteMultipartUpload>", false);
	if (r < 0)
		return upload_fail(u, r, NULL, err);
	q = req_new(u->c, "CompleteMultipartUpload", "POST", u->key);
	if (!q)
		return upload_fail(u, -ENOMEM, NULL, err);
	q->has_body = true;
	q->body = doc;
	q->body_len = len;
	r = req_query(q, "uploadId", u->upload_id);
	if (r >= 0)
		r = req_run(q, err);
	if (r >= 0) {
		struct s3xml_error x = { 0 };

		r = s3xml_parse_complete(q->buf, q->len, &x);
		if (r == -EREMOTEIO) {
			err_set(err, q, q->status, x.code, x.message);
			if (err)
				snprintf(err->request_id, sizeof(err->request_id), "%s", x.request_id);
		} else if (r < 0) {
			err_set(err, q, q->status, "BadResponse", "answer is not a CompleteMultipartUploadResult");
		}
	}
	req_free(q);
	if (r < 0)
		return upload_fail(u, r, err, err);
	u->finished = true;
	return 0;
}

void s3_upload_free(struct s3_upload *u)
{
	if (!u)
		return;
	for (unsigned i = 0; u->inflight && i < u->nbufs; i++)
		req_free(u->inflight[i]);
	if (u->upload_id && !u->finished) {
		struct s3_req *q = req_new(u->c, "AbortMultipartUpload", "DELETE", u->key);
		struct s3_error e;

		if (q && req_query(q, "uploadId", u->upload_id) >= 0)
			(void)req_run(q, &e);
		req_free(q);
	}
	for (unsigned i = 0; u->bufs && i < u->nbufs; i++)
		free(u->bufs[i]);
	free(u->bufs);
	free(u->inflight);
	free(u->etags);
	free(u->upload_id);
	free(u->key);
	free(u);
}

/* ---- streaming download ---- */

int s3_download(struct s3_client *c, const char *key, int (*sink)(void *ud, const void *buf, size_t len), void *ud,
		struct s3_error *err)
{
	uint64_t size, nranges, next_start = 0, next_deliver = 0;
	struct s3_req **slots = NULL;
	char **bufs = NULL;
	unsigned nslots;
	int r;

	if (!c || !key_is_valid(key) || !sink)
		return -EINVAL;
	r = s3_head(c, key, &size, err);
	if (r < 0)
		return r;
	if (size == 0)
		return 0;
	nranges = (size + c->part_size - 1) / c->part_size;
	nslots = (unsigned)MIN((uint64_t)c->parallel, nranges);
	slots = calloc(nslots, sizeof(*slots));
	bufs = calloc(nslots, sizeof(*bufs));
	if (!slots || !bufs) {
		r = -ENOMEM;
		goto out;
	}
	/* Range i lives in slot i % nslots; delivery is in range order. */
	while (next_deliver < nranges) {
		/* Fill free slots with the next ranges, in order. */
		while (next_start < nranges && next_start < next_deliver + nslots) {
			unsigned s = (unsigned)(next_start % nslots);
			struct s3_req *q;

			if (!bufs[s]) {
				bufs[s] = malloc(c->part_size);
				if (!bufs[s]) {
					r = -ENOMEM;
					goto out;
				}
			}
			q = req_new(c, "GET", "GET", key);
			if (!q) {
				r = -ENOMEM;
				goto out;
			}
			q->buf = bufs[s];
			q->buf_fixed = true;
			q->cap = c->part_size;
			q->range_start = next_start * c->part_size;
			q->range_len = MIN((uint64_t)c->part_size, size - q->range_start);
			q->max = (size_t)q->range_len;
			slots[s] = q;
			(void)req_start(q);
			next_start++;
		}
		{
			unsigned s = (unsigned)(next_deliver % nslots);
			struct s3_req *q = slots[s];

			if (q->state != REQ_DONE) {
				r = client_drive(c);
				if (r < 0) {
					err_set(err, q, 0, "Transport", "curl multi failed");
					goto out;
				}
				continue;
			}
			if (q->result < 0) {
				r = q->result;
				err_copy(err, &q->err);
				goto out;
			}
			r = sink(ud, q->buf, q->len);
			if (r < 0)
				goto out;
			req_free(q);
			slots[s] = NULL;
			next_deliver++;
		}
	}
	r = 0;
out:
	for (unsigned i = 0; slots && i < nslots; i++)
		req_free(slots[i]);
	for (unsigned i = 0; bufs && i < nslots; i++)
		free(bufs[i]);
	free(slots);
	free(bufs);
	return r;
}

/* ---- stale uploads ---- */

int s3_abort_stale_uploads(struct s3_client *c, const char *prefix, int64_t older_than_s, struct s3_error *err)
{
	_cleanup_free_ char *key_marker = NULL, *id_marker = NULL;
	int64_t cutoff = now_s() - older_than_s;
	int aborted = 0;

	if (!c || older_than_s < 0)
		return -EINVAL;
	for (;;) {
		struct s3xml_uploads u = { 0 };
		struct s3_req *q = req_new(c, "ListMultipartUploads", "GET", NULL);
		int r;

		if (!q)
			return -ENOMEM;
		r = req_query(q, "uploads", "");
		if (r >= 0 && prefix && prefix[0])
			r = req_query(q, "prefix", prefix);
		if (r >= 0 && key_marker)
			r = req_query(q, "key-marker", key_marker);
		if (r >= 0 && id_marker)
			r = req_query(q, "upload-id-marker", id_marker);
		if (r >= 0)
			r = req_run(q, err);
		if (r >= 0) {
			r = s3xml_parse_uploads(q->buf, q->len, &u);
			if (r < 0)
				err_set(err, q, q->status, "BadResponse",
					"answer is not a ListMultipartUploadsResult");
		}
		req_free(q);
		if (r < 0)
			return r;
		for (size_t i = 0; i < u.n_uploads; i++) {
			struct s3_req *a;

			if (u.uploads[i].initiated > cutoff || !key_is_valid(u.uploads[i].key))
				continue;
			a = req_new(c, "AbortMultipartUpload", "DELETE", u.uploads[i].key);
			if (!a) {
				s3xml_uploads_done(&u);
				return -ENOMEM;
			}
			r = req_query(a, "uploadId", u.uploads[i].upload_id);
			if (r >= 0)
				r = req_run(a, err);
			req_free(a);
			/* Already gone (another cleaner) is fine. */
			if (r == -ENOENT)
				r = 0;
			if (r < 0) {
				s3xml_uploads_done(&u);
				return r;
			}
			aborted++;
		}
		free(key_marker);
		free(id_marker);
		key_marker = u.truncated ? TAKE_PTR(u.next_key_marker) : NULL;
		id_marker = u.truncated ? TAKE_PTR(u.next_upload_id_marker) : NULL;
		s3xml_uploads_done(&u);
		if (!key_marker)
			return aborted;
	}
}
