/*
 * client.c: libcurl for cairnctl.  The token goes only into the
 * Authorization header; the header list is wiped before it is freed.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "client.h"
#include "macro.h"
#include "protocol.h"

struct ctl_client {
	CURL *curl;
	char *url;                 /* API base */
	struct curl_slist *headers; /* includes Authorization (wiped on free) */
	char *buf;                 /* answer body */
	size_t len;
	bool too_big;
};

static size_t ctl_write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct ctl_client *c = userdata;
	size_t n = size * nmemb;
	char *p;

	if (n > CTL_ANSWER_MAX - c->len) {
		c->too_big = true;
		return 0;
	}
	p = realloc(c->buf, c->len + n + 1);
	if (!p)
		return 0;
	c->buf = p;
	memcpy(c->buf + c->len, ptr, n);
	c->len += n;
	c->buf[c->len] = 0;
	return n;
}

int ctl_client_new(const struct ctl_options *o, struct ctl_client **ret)
{
	struct ctl_client *c;
	_cleanup_secret_ char *auth = NULL;
	struct curl_slist *t;
	CURLcode e = CURLE_OK;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->curl = curl_easy_init();
	c->url = strdup(o->url);
	if (!c->curl || !c->url || asprintf(&auth, "Authorization: Bearer %s", o->token ? o->token : "") < 0) {
		ctl_client_free(c);
		return -ENOMEM;
	}
	const char *hdrs[] = { "Content-Type: application/json", "Accept: application/json", "Expect:", auth };
	for (size_t i = 0; i < ELEMENTSOF(hdrs); i++) {
		t = curl_slist_append(c->headers, hdrs[i]);
		if (!t) {
			ctl_client_free(c);
			return -ENOMEM;
		}
		c->headers = t;
	}

#define SET(opt, val)                                                          \
	do {                                                                   \
		if (e == CURLE_OK)                                             \
			e = curl_easy_setopt(c->curl, opt, val);               \
	} while (0)
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_PROTOCOLS_STR, "https");
	SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	if (o->ca_file) {
		SET(CURLOPT_CAINFO, o->ca_file);
		SET(CURLOPT_CAPATH, NULL);
	}
	SET(CURLOPT_CONNECTTIMEOUT, 10L);
	SET(CURLOPT_TIMEOUT, (long)CTL_TIMEOUT_S);
	SET(CURLOPT_USERAGENT, "cairnctl/" CAIRN_VERSION_STRING);
	SET(CURLOPT_HTTPHEADER, c->headers);
	SET(CURLOPT_WRITEFUNCTION, ctl_write_cb);
	SET(CURLOPT_WRITEDATA, c);
#undef SET
	if (e != CURLE_OK) {
		ctl_client_free(c);
		return -EINVAL;
	}
	*ret = c;
	return 0;
}

void ctl_client_free(struct ctl_client *c)
{
	if (!c)
		return;
	curl_easy_cleanup(c->curl);
	for (struct curl_slist *l = c->headers; l; l = l->next)
		explicit_bzero(l->data, strlen(l->data));
	curl_slist_free_all(c->headers);
	free(c->url);
	if (c->buf)
		explicit_bzero(c->buf, c->len); /* answers may hold a password (datastore create) */
	free(c->buf);
	free(c);
}

char *ctl_escape(struct ctl_client *c, const char *segment)
{
	char *e = curl_easy_escape(c->curl, segment, 0);
	char *r;

	if (!e)
		return NULL;
	r = strdup(e);
	curl_free(e);
	return r;
}

/* Prints at most 512 printable bytes of a peer string. */
static void clean_copy(char *dst, size_t n, const char *s)
{
	size_t i = 0;

	for (; s && *s && i + 1 < n; s++)
		dst[i++] = ((unsigned char)*s < 0x20 || *s == 0x7f) ? ' ' : *s;
	dst[i] = 0;
}

char *ctl_problem_message(long status, json_t *problem)
{
	const char *title = json_string_value(json_object_get(problem, "title"));
	const char *detail = json_string_value(json_object_get(problem, "detail"));
	char t[513], d[513], *m = NULL;
	int n;

	clean_copy(t, sizeof(t), title);
	clean_copy(d, sizeof(d), detail);
	if (!title)
		snprintf(t, sizeof(t), "HTTP %ld", status);
	if (detail)
		n = asprintf(&m, "error: %s: %s", t, d);
	else
		n = asprintf(&m, "error: %s", t);
	return n < 0 ? NULL : m;
}

int ctl_request(struct ctl_client *c, const char *method, const char *path, json_t *body, json_t **ret,
		long *ret_status)
{
	_cleanup_free_ char *url = NULL, *data = NULL, *msg = NULL;
	_cleanup_json_ json_t *answer = NULL;
	long status = 0;
	CURLcode e;

	if (ret_status)
		*ret_status = 0;
	if (asprintf(&url, "%s%s", c->url, path) < 0)
		return -ENOMEM;
	if (body) {
		data = json_dumps(body, JSON_COMPACT);
		if (!data)
			return -ENOMEM;
	}
	if (c->buf)
		explicit_bzero(c->buf, c->len);
	free(c->buf);
	c->buf = NULL;
	c->len = 0;
	c->too_big = false;
	curl_easy_setopt(c->curl, CURLOPT_URL, url);
	if (streq(method, "GET")) {
		curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
		curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, NULL);
	} else {
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, data ? data : "");
		curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, streq(method, "POST") ? NULL : method);
	}
	e = curl_easy_perform(c->curl);
	curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, NULL);
	if (e != CURLE_OK) {
		fprintf(stderr, "error: %s %s: %s\n", method, c->url,
			c->too_big ? "answer too large" : curl_easy_strerror(e));
		return -EIO;
	}
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
	if (ret_status)
		*ret_status = status;
	if (c->len > 0)
		answer = json_loadb(c->buf, c->len, JSON_REJECT_DUPLICATES, NULL);
	if (status < 200 || status > 299) {
		msg = ctl_problem_message(status, answer);
		fprintf(stderr, "%s\n", msg ? msg : "error");
		return -EIO;
	}
	if (!answer && c->len > 0) {
		fprintf(stderr, "error: the API answered with something that is not JSON\n");
		return -EIO;
	}
	*ret = answer ? TAKE_PTR(answer) : json_object();
	return *ret ? 0 : -ENOMEM;
}
