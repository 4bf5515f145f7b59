/*
 * client.c: libcurl behind the agent's few HTTPS calls.  One easy handle is
 * configured once (trust, identity, limits) and reused, so the long poll
 * and the reports share one kept-alive TLS connection.  Answers are
 * collected into a buffer with a per-call maximum and parsed with
 * JSON_REJECT_DUPLICATES; the controller is a peer, not a friend.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "client.h"
#include "log.h"
#include "macro.h"
#include "protocol.h"
#include "util.h"

#define CLIENT_HEADER_MAX 8192 /* a single answer header line we look at */

struct client {
	CURL *curl;                   /* the one easy handle */
	struct curl_slist *headers;   /* Content-Type, Accept, no Expect */
	char errbuf[CURL_ERROR_SIZE]; /* curl's message for the last failure */
	client_keepalive_t keepalive; /* abort check while transferring */
	void *keepalive_userdata;
	/* Per request: */
	char *buf;             /* answer body */
	size_t len, alloc;     /* bytes used / allocated in buf */
	size_t max;            /* body limit of this call */
	bool too_big;          /* the limit was hit */
	bool cancelled;        /* the keepalive callback asked to stop */
	int64_t retry_after_s; /* from the Retry-After header */
	bool json;             /* Content-Type is JSON or problem+json */
};

static size_t client_write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct client *c = userdata;
	size_t n = size * nmemb;

	if (n > c->max - c->len) {
		c->too_big = true;
		return 0; /* CURLE_WRITE_ERROR */
	}
	if (c->len + n + 1 > c->alloc) {
		size_t a = MAX(c->alloc * 2, (size_t)4096);
		char *p;

		while (a < c->len + n + 1)
			a *= 2;
		a = MIN(a, c->max + 1);
		p = realloc(c->buf, a);
		if (!p)
			return 0;
		c->buf = p;
		c->alloc = a;
	}
	memcpy(c->buf + c->len, ptr, n);
	c->len += n;
	c->buf[c->len] = 0;
	return n;
}

int64_t client_parse_retry_after(const char *value)
{
	int64_t v;
	char tmp[32];
	size_t n;

	if (!value)
		return 0;
	while (*value == ' ' || *value == '\t')
		value++;
	n = strcspn(value, " \t\r\n");
	if (n == 0 || n >= sizeof(tmp))
		return 0;
	memcpy(tmp, value, n);
	tmp[n] = 0;
	if (parse_int64(tmp, 0, INT64_MAX, &v) < 0)
		return 0;
	return MIN(MAX(v, 1), CLIENT_RETRY_AFTER_MAX_S);
}

static bool header_is(const char *line, size_t len, const char *name, const char **ret_value)
{
	size_t n = strlen(name);

	if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
		return false;
	*ret_value = line + n + 1;
	return true;
}

static size_t client_header_cb(char *ptr, size_t size, size_t nitems, void *userdata)
{
	struct client *c = userdata;
	size_t n = size * nitems;
	char line[CLIENT_HEADER_MAX];
	const char *v;

	if (n >= sizeof(line))
		return n; /* not one we care about */
	memcpy(line, ptr, n);
	line[n] = 0;
	/* A new status line starts a new header block (e.g. after 100). */
	if (strncmp(line, "HTTP/", 5) == 0) {
		c->retry_after_s = 0;
		c->json = false;
		return n;
	}
	if (header_is(line, n, "Retry-After", &v))
		c->retry_after_s = client_parse_retry_after(v);
	else if (header_is(line, n, "Content-Type", &v)) {
		while (*v == ' ' || *v == '\t')
			v++;
		c->json = strncasecmp(v, "application/json", 16) == 0 ||
			  strncasecmp(v, CAIRN_PROBLEM_CONTENT_TYPE, strlen(CAIRN_PROBLEM_CONTENT_TYPE)) == 0;
	}
	return n;
}

static int client_xferinfo_cb(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
			      curl_off_t ulnow)
{
	struct client *c = userdata;

	if (c->keepalive && !c->keepalive(c->keepalive_userdata)) {
		c->cancelled = true;
		return 1;
	}
	return 0;
}

static int client_setup(struct client *c, const char *ca_file, const char *cert_file, const char *key_file)
{
	CURL *h = c->curl;
	CURLcode e = CURLE_OK;

#define SET(opt, val)                                                          \
	do {                                                                   \
		if (e == CURLE_OK)                                             \
			e = curl_easy_setopt(h, opt, val);                     \
	} while (0)
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_ERRORBUFFER, c->errbuf);
	SET(CURLOPT_PROTOCOLS_STR, "https");
	SET(CURLOPT_REDIR_PROTOCOLS_STR, "https");
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_PROXY, "");
	SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	SET(CURLOPT_CAINFO, ca_file);
	SET(CURLOPT_CAPATH, NULL); /* the controller CA only, no system store */
	SET(CURLOPT_SSLCERTTYPE, "PEM");
	SET(CURLOPT_SSLCERT, cert_file);
	SET(CURLOPT_SSLKEY, key_file);
	SET(CURLOPT_CONNECTTIMEOUT, (long)CLIENT_CONNECT_TIMEOUT_S);
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_USERAGENT, "cairn-agent/" CAIRN_VERSION_STRING);
	SET(CURLOPT_HTTPHEADER, c->headers);
	SET(CURLOPT_WRITEFUNCTION, client_write_cb);
	SET(CURLOPT_WRITEDATA, c);
	SET(CURLOPT_HEADERFUNCTION, client_header_cb);
	SET(CURLOPT_HEADERDATA, c);
	SET(CURLOPT_XFERINFOFUNCTION, client_xferinfo_cb);
	SET(CURLOPT_XFERINFODATA, c);
	SET(CURLOPT_NOPROGRESS, 0L);
	SET(CURLOPT_ACCEPT_ENCODING, NULL);
#undef SET
	if (e != CURLE_OK) {
		log_debug("curl_easy_setopt: %s", curl_easy_strerror(e));
		return -EINVAL;
	}
	return 0;
}

int client_new(const char *ca_file, const char *cert_file, const char *key_file, struct client **ret)
{
	struct client *c;
	int r;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->curl = curl_easy_init();
	if (!c->curl) {
		free(c);
		return -ENOMEM;
	}
	struct curl_slist *h = NULL, *t;
	const char *const hdrs[] = { "Content-Type: application/json", "Accept: application/json",
				     "Expect:" };
	for (size_t i = 0; i < ELEMENTSOF(hdrs); i++) {
		t = curl_slist_append(h, hdrs[i]);
		if (!t) {
			curl_slist_free_all(h);
			client_free(c);
			return -ENOMEM;
		}
		h = t;
	}
	c->headers = h;
	r = client_setup(c, ca_file, cert_file, key_file);
	if (r < 0) {
		client_free(c);
		return r;
	}
	*ret = c;
	return 0;
}

int client_reset(struct client *c, const char *ca_file, const char *cert_file, const char *key_file)
{
	CURL *h;

	/* A new handle drops the kept connection and the TLS session cache,
	 * so the next handshake presents the new certificate. */
	h = curl_easy_init();
	if (!h)
		return -ENOMEM;
	curl_easy_cleanup(c->curl);
	c->curl = h;
	return client_setup(c, ca_file, cert_file, key_file);
}

void client_set_keepalive(struct client *c, client_keepalive_t cb, void *userdata)
{
	c->keepalive = cb;
	c->keepalive_userdata = userdata;
}

void client_free(struct client *c)
{
	if (!c)
		return;
	curl_easy_cleanup(c->curl);
	curl_slist_free_all(c->headers);
	free(c->buf);
	free(c);
}

void client_response_done(struct client_response *r)
{
	if (!r)
		return;
	json_decref(r->json);
	r->json = NULL;
}

static int client_curl_errno(CURLcode e)
{
	switch (e) {
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
		return -EHOSTUNREACH;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	case CURLE_FILESIZE_EXCEEDED:
		return -EFBIG;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CACERT_BADFILE:
		return -EPROTO;
	default:
		return -EIO;
	}
}

int client_request(struct client *c, const char *method, const char *url, const char *body,
		   size_t body_len, size_t max_body, long timeout_s, struct client_response *ret,
		   const char **ret_error)
{
	CURL *h = c->curl;
	CURLcode e = CURLE_OK;
	long status = 0;
	json_t *json = NULL;

	c->len = 0;
	c->max = max_body;
	c->too_big = c->cancelled = false;
	c->retry_after_s = 0;
	c->json = false;
	c->errbuf[0] = 0;

#define SET(opt, val)                                                          \
	do {                                                                   \
		if (e == CURLE_OK)                                             \
			e = curl_easy_setopt(h, opt, val);                     \
	} while (0)
	SET(CURLOPT_URL, url);
	SET(CURLOPT_TIMEOUT, timeout_s);
	SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max_body);
	if (streq(method, "GET")) {
		SET(CURLOPT_HTTPGET, 1L);
		SET(CURLOPT_CUSTOMREQUEST, NULL);
	} else {
		SET(CURLOPT_POST, 1L);
		SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? body_len : 0));
		SET(CURLOPT_POSTFIELDS, body ? body : "");
		SET(CURLOPT_CUSTOMREQUEST, streq(method, "POST") ? NULL : method);
	}
#undef SET
	if (e != CURLE_OK) {
		if (ret_error)
			*ret_error = "bad request setup";
		return -EINVAL;
	}

	e = curl_easy_perform(h);
	/* Never keep a pointer to the caller's body, which may be wiped. */
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
	if (e != CURLE_OK) {
		int r;

		if (c->too_big)
			r = -EFBIG;
		else if (c->cancelled)
			r = -ECANCELED;
		else
			r = client_curl_errno(e);
		log_debug("%s %s: %s", method, url, c->errbuf[0] ? c->errbuf : curl_easy_strerror(e));
		if (ret_error)
			*ret_error = r == -EFBIG ? "answer too large" : curl_easy_strerror(e);
		return r;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);

	if (c->len > 0 && c->json) {
		json_error_t jerr;

		json = json_loadb(c->buf, c->len, JSON_REJECT_DUPLICATES, &jerr);
		if (!json) {
			if (ret_error)
				*ret_error = "answer is not valid JSON";
			return -EBADMSG;
		}
	}
	/* Shrink back to nothing: idle RSS matters more than one realloc. */
	if (c->alloc > 64 * 1024) {
		free(c->buf);
		c->buf = NULL;
		c->alloc = 0;
	}
	c->len = 0;

	*ret = (struct client_response){ .status = status, .json = json, .retry_after_s = c->retry_after_s };
	return 0;
}

int client_request_json(struct client *c, const char *method, const char *url, json_t *body,
			size_t max_body, long timeout_s, struct client_response *ret,
			const char **ret_error)
{
	_cleanup_free_ char *s = NULL;

	if (body) {
		s = json_dumps(body, JSON_COMPACT);
		if (!s)
			return -ENOMEM;
	}
	return client_request(c, method, url, s, s ? strlen(s) : 0, max_body, timeout_s, ret, ret_error);
}
