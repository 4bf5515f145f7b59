/*
 * backup-keys.c: the in-memory, locked store of backup targets (see
 * backup-keys.h) and the helpers shared by every backup path.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "backup-keys.h"
#include "exec.h"
#include "log.h"
#include "macro.h"
#include "util.h"

struct backup_keys_region {
	bool used[BACKUP_KEYS_MAX];
	struct backup_target t[BACKUP_KEYS_MAX];
};

static pthread_mutex_t keys_lock = PTHREAD_MUTEX_INITIALIZER;
static struct backup_keys_region *keys_region;

void backup_target_wipe(struct backup_target *t)
{
	if (t)
		explicit_bzero(t, sizeof(*t));
}

void backup_target_freep(struct backup_target **t)
{
	if (*t) {
		backup_target_wipe(*t);
		free(*t);
		*t = NULL;
	}
}

/* Maps the region on first use; called with keys_lock held. */
static int keys_region_get(void)
{
	void *p;

	if (keys_region)
		return 0;
	p = mmap(NULL, sizeof(struct backup_keys_region), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -ENOMEM;
	if (mlock(p, sizeof(struct backup_keys_region)) < 0)
		/* Unprivileged tests may lack RLIMIT_MEMLOCK: keep going but say it. */
		log_warning_errno(-errno, "cannot lock the backup key store in memory");
	(void)madvise(p, sizeof(struct backup_keys_region), MADV_DONTDUMP);
	keys_region = p;
	return 0;
}

int backup_keys_set(const struct backup_target *t)
{
	int r, slot = -1;

	pthread_mutex_lock(&keys_lock);
	r = keys_region_get();
	if (r < 0)
		goto out;
	for (int i = 0; i < BACKUP_KEYS_MAX; i++) {
		if (keys_region->used[i] && streq(keys_region->t[i].ds, t->ds)) {
			slot = i;
			break;
		}
		if (!keys_region->used[i] && slot < 0)
			slot = i;
	}
	if (slot < 0) {
		r = -ENOSPC;
		goto out;
	}
	explicit_bzero(&keys_region->t[slot], sizeof(keys_region->t[slot]));
	keys_region->t[slot] = *t;
	keys_region->used[slot] = true;
out:
	pthread_mutex_unlock(&keys_lock);
	return r;
}

int backup_keys_get(const char *ds, struct backup_target *ret)
{
	int r = -ENOKEY;

	pthread_mutex_lock(&keys_lock);
	if (keys_region)
		for (int i = 0; i < BACKUP_KEYS_MAX; i++)
			if (keys_region->used[i] && streq(keys_region->t[i].ds, ds)) {
				*ret = keys_region->t[i];
				r = 0;
				break;
			}
	pthread_mutex_unlock(&keys_lock);
	return r;
}

bool backup_keys_loaded(const char *ds)
{
	bool found = false;

	pthread_mutex_lock(&keys_lock);
	if (keys_region)
		for (int i = 0; i < BACKUP_KEYS_MAX && !found; i++)
			found = keys_region->used[i] && streq(keys_region->t[i].ds, ds);
	pthread_mutex_unlock(&keys_lock);
	return found;
}

void backup_keys_drop(const char *ds)
{
	pthread_mutex_lock(&keys_lock);
	if (keys_region)
		for (int i = 0; i < BACKUP_KEYS_MAX; i++)
			if (keys_region->used[i] && streq(keys_region->t[i].ds, ds)) {
				explicit_bzero(&keys_region->t[i], sizeof(keys_region->t[i]));
				keys_region->used[i] = false;
			}
	pthread_mutex_unlock(&keys_lock);
}

void backup_keys_clear(void)
{
	pthread_mutex_lock(&keys_lock);
	if (keys_region)
		explicit_bzero(keys_region, sizeof(*keys_region));
	pthread_mutex_unlock(&keys_lock);
}

int backup_key_decode(const char *b64, uint8_t ret[static BSTREAM_KEY_LEN])
{
	uint8_t buf[64];
	size_t n;
	int len;

	if (!b64)
		return -EINVAL;
	n = strlen(b64);
	/* 32 bytes are 44 characters with one '=' of padding. */
	if (n != 44 || b64[43] != '=' || b64[42] == '=')
		return -EINVAL;
	len = EVP_DecodeBlock(buf, (const unsigned char *)b64, (int)n);
	if (len != 33) { /* EVP_DecodeBlock counts the padding as a zero byte */
		explicit_bzero(buf, sizeof(buf));
		return -EINVAL;
	}
	memcpy(ret, buf, BSTREAM_KEY_LEN);
	explicit_bzero(buf, sizeof(buf));
	return 0;
}

int backup_key_fingerprint(const uint8_t key[static BSTREAM_KEY_LEN], char ret[static BACKUP_FINGERPRINT_HEX])
{
	static const char msg[] = "cairn-key-fingerprint";
	static const char hex[] = "0123456789abcdef";
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned maclen = 0;

	if (!HMAC(EVP_sha256(), key, BSTREAM_KEY_LEN, (const unsigned char *)msg, sizeof(msg) - 1, mac, &maclen) ||
	    maclen < 8)
		return -EIO;
	for (int i = 0; i < 8; i++) {
		ret[2 * i] = hex[mac[i] >> 4];
		ret[2 * i + 1] = hex[mac[i] & 15];
	}
	ret[16] = 0;
	return 0;
}

char *backup_object_key(const struct backup_target *t, const char *name)
{
	char *k;

	if (asprintf(&k, "%s%s%s/%s", t->prefix, t->prefix[0] ? "/" : "", t->ds, name) < 0)
		return NULL;
	return k;
}

int backup_target_client(const struct backup_target *t, unsigned parallel, struct s3_client **ret)
{
	struct s3_config c = {
		.endpoint = t->endpoint,
		.region = t->region[0] ? t->region : NULL,
		.bucket = t->bucket,
		.access_key = t->access_key,
		.secret_key = t->secret_key,
		.session_token = t->session_token[0] ? t->session_token : NULL,
		.virtual_hosted = t->virtual_hosted,
		.ca_file = t->ca_file[0] ? t->ca_file : NULL,
		.parallel = parallel,
		/* Memory per stream is (parallel + 1) parts: the smallest parts
		 * S3 takes keep a backup's streams well under the agent's budget
		 * (10000 parts of 5 MiB: objects up to 48 GiB). */
		.part_size = S3_PART_SIZE_MIN,
	};

	return s3_client_new(&c, ret);
}

/* Copies a string member of at most max-1 printable bytes. */
static int keys_copy(json_t *o, const char *member, bool required, char *dst, size_t max, const char *where,
		     char *reason, size_t reason_len)
{
	json_t *v = json_object_get(o, member);
	const char *s;
	size_t n;

	if (!v || json_is_null(v)) {
		if (required)
			return exec_reason(reason, reason_len, "%s.%s: missing", where, member);
		dst[0] = 0;
		return 0;
	}
	if (!json_is_string(v))
		return exec_reason(reason, reason_len, "%s.%s: expected a string", where, member);
	s = json_string_value(v);
	n = json_string_length(v);
	if (n >= max || strlen(s) != n || (required && n == 0))
		return exec_reason(reason, reason_len, "%s.%s: bad length", where, member);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return exec_reason(reason, reason_len, "%s.%s: control character", where, member);
	if (dst)
		memcpy(dst, s, n + 1);
	return 0;
}

int backup_check_s3_json(json_t *s3, const char *where, char *reason, size_t reason_len)
{
	static const char *const known[] = { "endpoint", "region", "bucket", "prefix", "access_key", "secret_key",
					     "session_token", "virtual_hosted", "ca_pem", NULL };
	_cleanup_free_ struct backup_target *t = calloc(1, sizeof(*t));
	json_t *vh, *ca;
	int r;

	if (!t)
		return -ENOMEM;
	if (!json_is_object(s3))
		return exec_reason(reason, reason_len, "%s: expected an object", where);
	r = exec_check_members(s3, known, reason, reason_len);
	if (r < 0)
		return r;
	if ((r = keys_copy(s3, "endpoint", true, t->endpoint, sizeof(t->endpoint), where, reason, reason_len)) < 0 ||
	    (r = keys_copy(s3, "region", false, t->region, sizeof(t->region), where, reason, reason_len)) < 0 ||
	    (r = keys_copy(s3, "bucket", true, t->bucket, sizeof(t->bucket), where, reason, reason_len)) < 0 ||
	    (r = keys_copy(s3, "prefix", false, t->prefix, sizeof(t->prefix), where, reason, reason_len)) < 0 ||
	    (r = keys_copy(s3, "access_key", true, t->access_key, sizeof(t->access_key), where, reason,
			   reason_len)) < 0 ||
	    (r = keys_copy(s3, "secret_key", true, t->secret_key, sizeof(t->secret_key), where, reason,
			   reason_len)) < 0 ||
	    (r = keys_copy(s3, "session_token", false, t->session_token, sizeof(t->session_token), where, reason,
			   reason_len)) < 0) {
		explicit_bzero(t, sizeof(*t));
		return r;
	}
	explicit_bzero(t, sizeof(*t));
	if (strncmp(json_string_value(json_object_get(s3, "endpoint")), "https://", 8) != 0 &&
	    strncmp(json_string_value(json_object_get(s3, "endpoint")), "http://", 7) != 0)
		return exec_reason(reason, reason_len, "%s.endpoint: expected http:// or https://", where);
	vh = json_object_get(s3, "virtual_hosted");
	if (vh && !json_is_boolean(vh))
		return exec_reason(reason, reason_len, "%s.virtual_hosted: expected a boolean", where);
	ca = json_object_get(s3, "ca_pem");
	if (ca && !json_is_null(ca) && (!json_is_string(ca) || json_string_length(ca) > 64 * 1024 ||
					strncmp(json_string_value(ca), "-----BEGIN CERTIFICATE-----", 27) != 0))
		return exec_reason(reason, reason_len, "%s.ca_pem: expected PEM certificates", where);
	return 0;
}

int backup_target_from_json(const char *ds, json_t *s3, json_t *data_key, int level, struct backup_target *t,
			    char *reason, size_t reason_len)
{
	const char *where = "s3";
	const char *prefix;
	size_t n;
	int r;

	memset(t, 0, sizeof(*t));
	if (!ds || strlen(ds) >= sizeof(t->ds))
		return exec_reason(reason, reason_len, "bad datastore id");
	memcpy(t->ds, ds, strlen(ds) + 1);
	if ((r = keys_copy(s3, "endpoint", true, t->endpoint, sizeof(t->endpoint), where, reason, reason_len)) < 0 ||
	    (r = keys_copy(s3, "region", false, t->region, sizeof(t->region), where, reason, reason_len)) < 0 ||
	    (r = keys_copy(s3, "bucket", true, t->bucket, sizeof(t->bucket), where, reason, reason_len)) < 0 ||
	    (r = keys_copy(s3, "prefix", false, t->prefix, sizeof(t->prefix), where, reason, reason_len)) < 0 ||
	    (r = keys_copy(s3, "access_key", true, t->access_key, sizeof(t->access_key), where, reason,
			   reason_len)) < 0 ||
	    (r = keys_copy(s3, "secret_key", true, t->secret_key, sizeof(t->secret_key), where, reason,
			   reason_len)) < 0 ||
	    (r = keys_copy(s3, "session_token", false, t->session_token, sizeof(t->session_token), where, reason,
			   reason_len)) < 0)
		goto fail;
	/* The prefix is used without its slashes at either end. */
	prefix = t->prefix;
	while (*prefix == '/')
		prefix++;
	memmove(t->prefix, prefix, strlen(prefix) + 1);
	n = strlen(t->prefix);
	while (n > 0 && t->prefix[n - 1] == '/')
		t->prefix[--n] = 0;
	t->virtual_hosted = json_is_true(json_object_get(s3, "virtual_hosted"));
	t->level = level > 0 ? level : BSTREAM_LEVEL_DEFAULT;
	if (backup_key_decode(json_string_value(data_key), t->data_key) < 0) {
		r = exec_reason(reason, reason_len, "data_key: expected base64 of 32 bytes");
		goto fail;
	}
	return 0;
fail:
	backup_target_wipe(t);
	return r;
}

void backup_forget(const char *state_dir, const char *ds)
{
	char *p;

	backup_keys_drop(ds);
	if (!state_dir)
		return;
	if (asprintf(&p, "%s/backup/%s.json", state_dir, ds) >= 0) {
		(void)unlink(p);
		free(p);
	}
	if (asprintf(&p, "%s/backup/%s.ca.pem", state_dir, ds) >= 0) {
		(void)unlink(p);
		free(p);
	}
}
