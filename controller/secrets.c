/*
 * secrets.c: sealing under the KEK for the store (secrets.h).  A secret
 * job parameter is sealed as the compact JSON encoding of its value, so
 * any JSON type round-trips; the dotted path of the parameter is part of
 * the AAD.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "protocol.h"
#include "secrets.h"
#include "util.h"

int secrets_seal(const uint8_t kek[static AEAD_KEY_LEN], const char *aad, const void *pt,
		 size_t len, char **ret)
{
	_cleanup_free_ unsigned char *sealed = NULL;
	size_t slen = 0;
	int r = aead_seal(kek, aad, strlen(aad), pt, len, &sealed, &slen);
	if (r < 0)
		return r;
	char *b = b64url_encode(sealed, slen);
	if (!b)
		return -ENOMEM;
	*ret = b;
	return 0;
}

int secrets_open(const uint8_t kek[static AEAD_KEY_LEN], const char *aad, const char *sealed,
		 unsigned char **ret, size_t *ret_len)
{
	_cleanup_free_ unsigned char *raw = NULL;
	size_t rlen = 0;
	if (!sealed)
		return -EINVAL;
	int r = b64url_decode(sealed, strlen(sealed), &raw, &rlen);
	if (r < 0)
		return -EBADMSG;
	return aead_open(kek, aad, strlen(aad), raw, rlen, ret, ret_len);
}

/* The object holding the last component of dotted `path` in `params`, and
 * that component.  NULL when a part is missing or not an object. */
static json_t *resolve(json_t *params, const char *path, const char **ret_member)
{
	json_t *o = params;
	const char *s = path, *dot;
	char part[64];

	while (o && (dot = strchr(s, '.'))) {
		size_t n = (size_t)(dot - s);
		if (n >= sizeof(part))
			return NULL;
		memcpy(part, s, n);
		part[n] = 0;
		o = json_object_get(o, part);
		s = dot + 1;
	}
	if (!json_is_object(o))
		return NULL;
	*ret_member = s;
	return o;
}

static bool is_sealed(json_t *v)
{
	return json_is_object(v) && json_object_size(v) == 1 &&
	       json_is_string(json_object_get(v, SECRETS_SEALED_MEMBER));
}

static int job_aad(const char *job_id, const char *path, char aad[static SECRETS_AAD_MAX])
{
	int n = snprintf(aad, SECRETS_AAD_MAX, SECRETS_JOB_AAD_PREFIX "%s:%s", job_id, path);
	return n > 0 && n < SECRETS_AAD_MAX ? 0 : -ENAMETOOLONG;
}

int secrets_job_seal(const uint8_t kek[static AEAD_KEY_LEN], const char *job_id, const char *type,
		     json_t *params)
{
	const struct cairn_job_type_info *t = cairn_job_type_lookup(type);
	int n = 0, r;

	if (!job_id || !json_is_object(params))
		return -EINVAL;
	if (!t || !t->secrets)
		return 0;
	for (const char *const *p = t->secrets; *p; p++) {
		const char *member;
		json_t *o = resolve(params, *p, &member), *v;
		char aad[SECRETS_AAD_MAX];
		_cleanup_secret_ char *clear = NULL;
		char *sealed = NULL;

		if (!o || !(v = json_object_get(o, member)) || json_is_null(v) || is_sealed(v))
			continue;
		if ((r = job_aad(job_id, *p, aad)) < 0)
			return r;
		clear = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		if (!clear)
			return -ENOMEM;
		r = secrets_seal(kek, aad, clear, strlen(clear), &sealed);
		if (r < 0)
			return r;
		/* Wipe the clear string inside the json_t before it goes. */
		if (json_is_string(v))
			explicit_bzero((char *)json_string_value(v), json_string_length(v));
		r = json_object_set_new(o, member, json_pack("{s:s}", SECRETS_SEALED_MEMBER, sealed));
		free(sealed);
		if (r < 0)
			return -ENOMEM;
		n++;
	}
	return n;
}

int secrets_job_open(const uint8_t kek[static AEAD_KEY_LEN], const char *job_id, const char *type,
		     json_t *params)
{
	const struct cairn_job_type_info *t = cairn_job_type_lookup(type);
	int n = 0, r;

	if (!job_id || !json_is_object(params))
		return -EINVAL;
	if (!t || !t->secrets)
		return 0;
	for (const char *const *p = t->secrets; *p; p++) {
		const char *member;
		json_t *o = resolve(params, *p, &member), *v, *clear_v;
		char aad[SECRETS_AAD_MAX];
		unsigned char *clear = NULL;
		size_t len = 0;

		if (!o || !(v = json_object_get(o, member)) || !is_sealed(v))
			continue;
		if ((r = job_aad(job_id, *p, aad)) < 0)
			return r;
		r = secrets_open(kek, aad, json_string_value(json_object_get(v, SECRETS_SEALED_MEMBER)),
				 &clear, &len);
		if (r < 0)
			return r;
		clear_v = json_loadb((const char *)clear, len, JSON_DECODE_ANY, NULL);
		explicit_bzero(clear, len);
		free(clear);
		if (!clear_v)
			return -EBADMSG;
		if (json_object_set_new(o, member, clear_v) < 0)
			return -ENOMEM;
		n++;
	}
	return n;
}

void secrets_job_wipe(const char *type, json_t *params)
{
	const struct cairn_job_type_info *t = cairn_job_type_lookup(type);
	if (!t || !t->secrets || !json_is_object(params))
		return;
	for (const char *const *p = t->secrets; *p; p++) {
		const char *member;
		json_t *o = resolve(params, *p, &member), *v;
		if (o && (v = json_object_get(o, member)) && json_is_string(v))
			explicit_bzero((char *)json_string_value(v), json_string_length(v));
	}
}
