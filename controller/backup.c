/*
 * backup.c: backup configurations, data keys, backup step params, the
 * catalogue and the schedule (backup.h, docs/backups.md "Controller").
 * Pure decisions first, then what needs the controller.
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backup.h"
#include "controller.h"
#include "health.h"
#include "keys.h"
#include "log.h"
#include "macro.h"
#include "plan-pg.h"
#include "protocol.h"
#include "runner.h"
#include "scram.h"
#include "secrets.h"
#include "util.h"

static int reasonf(char reason[static OPS_REASON_MAX], int r, const char *fmt, ...) _printf_(3, 4);
static int reasonf(char reason[static OPS_REASON_MAX], int r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, OPS_REASON_MAX, fmt, ap);
	va_end(ap);
	return r;
}

/* ---- configuration ------------------------------------------------------ */

void backup_config_spec_done(struct backup_config_spec *s)
{
	if (!s)
		return;
	json_decref(s->config);
	memset(s, 0, sizeof(*s));
}

static int check_members(json_t *o, const char *what, const char *const *allowed,
			 char reason[static OPS_REASON_MAX])
{
	const char *k;
	json_t *v;
	json_object_foreach(o, k, v) {
		bool ok = false;
		for (const char *const *a = allowed; *a && !ok; a++)
			ok = streq(k, *a);
		if (!ok)
			return reasonf(reason, -EINVAL, "unknown member '%.64s' in %s", k, what);
	}
	return 0;
}

static bool printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

/* http:// is for a target on this machine or the test network only. */
static bool host_is_local(const char *host, size_t n)
{
	char h[64];
	struct in_addr a;
	if (n == 0 || n >= sizeof(h))
		return false;
	memcpy(h, host, n);
	h[n] = 0;
	if (streq(h, "localhost") || streq(h, "[::1]"))
		return true;
	if (inet_pton(AF_INET, h, &a) != 1)
		return false;
	uint32_t x = ntohl(a.s_addr);
	return (x >> 24) == 127 || (x & 0xfffe0000u) == 0xc6120000u; /* 198.18.0.0/15 */
}

static int check_endpoint(const char *e, char reason[static OPS_REASON_MAX])
{
	const char *host, *end;
	bool plain;
	if (!e || !*e || strlen(e) > BACKUP_ENDPOINT_MAX || !printable(e) || strchr(e, ' '))
		return reasonf(reason, -EINVAL, "'s3.endpoint' must be a URL of at most %d characters",
			       BACKUP_ENDPOINT_MAX);
	if (strncmp(e, "https://", 8) == 0) {
		host = e + 8;
		plain = false;
	} else if (strncmp(e, "http://", 7) == 0) {
		host = e + 7;
		plain = true;
	} else
		return reasonf(reason, -EINVAL, "'s3.endpoint' must start with https://");
	if (strpbrk(host, "@?#"))
		return reasonf(reason, -EINVAL, "'s3.endpoint' must not hold credentials, a query or a fragment");
	if (*host == '[')
		end = strchr(host, ']') ? strchr(host, ']') + 1 : host + strlen(host);
	else
		end = host + strcspn(host, ":/");
	if (end == host)
		return reasonf(reason, -EINVAL, "'s3.endpoint' has no host");
	if (plain && !host_is_local(host, (size_t)(end - host)))
		return reasonf(reason, -EINVAL,
			       "'s3.endpoint' must use https:// (http:// only for loopback or 198.18.0.0/15)");
	return 0;
}

static int check_bucket(const char *b, char reason[static OPS_REASON_MAX])
{
	size_t n = b ? strlen(b) : 0;
	struct in_addr a;
	bool ok = n >= 3 && n <= 63;
	for (size_t i = 0; ok && i < n; i++)
		ok = (b[i] >= 'a' && b[i] <= 'z') || (b[i] >= '0' && b[i] <= '9') || b[i] == '.' ||
		     b[i] == '-';
	ok = ok && b[0] != '.' && b[0] != '-' && b[n - 1] != '.' && b[n - 1] != '-' && !strstr(b, "..") &&
	     inet_pton(AF_INET, b, &a) != 1;
	if (!ok)
		return reasonf(reason, -EINVAL,
			       "'s3.bucket' must be 3 to 63 of [a-z0-9.-], start and end with a letter or "
			       "digit, without '..', and not an IP address");
	return 0;
}

static int check_prefix(const char *p, char reason[static OPS_REASON_MAX])
{
	size_t n = strlen(p);
	bool ok = n <= BACKUP_PREFIX_MAX;
	for (size_t i = 0; ok && i < n; i++)
		ok = (p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z') ||
		     (p[i] >= '0' && p[i] <= '9') || p[i] == '.' || p[i] == '_' || p[i] == '-' ||
		     p[i] == '/';
	ok = ok && (n == 0 || (p[0] != '/' && p[n - 1] != '/')) && !strstr(p, "//") && !strstr(p, "..");
	if (!ok)
		return reasonf(reason, -EINVAL,
			       "'s3.prefix' must be at most %d of [A-Za-z0-9._/-], without a leading or "
			       "trailing '/', '//' or '..'",
			       BACKUP_PREFIX_MAX);
	return 0;
}

static int check_region(const char *r, char reason[static OPS_REASON_MAX])
{
	size_t n = strlen(r);
	bool ok = n >= 1 && n <= BACKUP_REGION_MAX;
	for (size_t i = 0; ok && i < n; i++)
		ok = (r[i] >= 'a' && r[i] <= 'z') || (r[i] >= '0' && r[i] <= '9') || r[i] == '-';
	if (!ok)
		return reasonf(reason, -EINVAL, "'s3.region' must be 1 to %d of [a-z0-9-]",
			       BACKUP_REGION_MAX);
	return 0;
}

/* An optional integer member in [min, max]; absent or null gives `def`. */
static int opt_int(json_t *o, const char *key, const char *what, int64_t min, int64_t max,
		   int64_t def, int64_t *ret, char reason[static OPS_REASON_MAX])
{
	json_t *v = json_object_get(o, key);
	if (!v || json_is_null(v)) {
		*ret = def;
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return reasonf(reason, -EINVAL, "'%s' must be an integer from %" PRIi64 " to %" PRIi64,
			       what, min, max);
	*ret = json_integer_value(v);
	return 0;
}

/* A string member: required or optional (NULL when absent/null). */
static int str_member(json_t *o, const char *key, const char *what, bool required, size_t max,
		      const char **ret, char reason[static OPS_REASON_MAX])
{
	json_t *v = json_object_get(o, key);
	if (!v || json_is_null(v)) {
		if (required)
			return reasonf(reason, -EINVAL, "'%s' is required", what);
		*ret = NULL;
		return 0;
	}
	if (!json_is_string(v) || json_string_length(v) > max || strlen(json_string_value(v)) != json_string_length(v))
		return reasonf(reason, -EINVAL, "'%s' must be a string of at most %zu bytes", what, max);
	*ret = json_string_value(v);
	return 0;
}

int backup_parse_config(json_t *body, struct backup_config_spec *ret, char reason[static OPS_REASON_MAX])
{
	static const char *const top[] = { "s3", "schedule", "retention", "compression_level",
					   "bundle_size", "parallel", NULL };
	static const char *const s3m[] = { "endpoint", "region", "bucket", "prefix", "access_key",
					   "secret_key", "session_token", "virtual_hosted", "ca_pem", NULL };
	static const char *const schedm[] = { "full_every_s", NULL };
	static const char *const retm[] = { "count", "max_age_s", NULL };
	const char *endpoint, *region, *bucket, *prefix, *access_key, *secret_key, *token, *ca_pem;
	json_t *s3, *sched, *ret_o, *vh;
	int64_t every, count, max_age, level, bundle, parallel;
	int r;

	reason[0] = 0;
	if (!json_is_object(body))
		return reasonf(reason, -EINVAL, "the body must be a JSON object");
	if ((r = check_members(body, "the body", top, reason)) < 0)
		return r;
	s3 = json_object_get(body, "s3");
	if (!json_is_object(s3))
		return reasonf(reason, -EINVAL, "'s3' must be an object");
	if ((r = check_members(s3, "'s3'", s3m, reason)) < 0)
		return r;
	if ((r = str_member(s3, "endpoint", "s3.endpoint", true, BACKUP_ENDPOINT_MAX, &endpoint, reason)) < 0 ||
	    (r = check_endpoint(endpoint, reason)) < 0)
		return r;
	if ((r = str_member(s3, "region", "s3.region", false, BACKUP_REGION_MAX, &region, reason)) < 0)
		return r;
	if (!region)
		region = "us-east-1";
	if ((r = check_region(region, reason)) < 0)
		return r;
	if ((r = str_member(s3, "bucket", "s3.bucket", true, 63, &bucket, reason)) < 0 ||
	    (r = check_bucket(bucket, reason)) < 0)
		return r;
	if ((r = str_member(s3, "prefix", "s3.prefix", false, BACKUP_PREFIX_MAX, &prefix, reason)) < 0)
		return r;
	if (!prefix)
		prefix = "";
	if ((r = check_prefix(prefix, reason)) < 0)
		return r;
	if ((r = str_member(s3, "access_key", "s3.access_key", true, BACKUP_KEY_ID_MAX, &access_key, reason)) < 0)
		return r;
	if (!*access_key || !printable(access_key))
		return reasonf(reason, -EINVAL, "'s3.access_key' must be printable ASCII");
	if ((r = str_member(s3, "secret_key", "s3.secret_key", true, BACKUP_SECRET_MAX, &secret_key, reason)) < 0)
		return r;
	if (!*secret_key || !printable(secret_key))
		return reasonf(reason, -EINVAL, "'s3.secret_key' must be printable ASCII");
	if ((r = str_member(s3, "session_token", "s3.session_token", false, BACKUP_SECRET_MAX, &token, reason)) < 0)
		return r;
	if (token && (!*token || !printable(token)))
		return reasonf(reason, -EINVAL, "'s3.session_token' must be printable ASCII");
	if ((r = str_member(s3, "ca_pem", "s3.ca_pem", false, BACKUP_CA_PEM_MAX, &ca_pem, reason)) < 0)
		return r;
	if (ca_pem && strncmp(ca_pem, "-----BEGIN CERTIFICATE-----", 27) != 0)
		return reasonf(reason, -EINVAL, "'s3.ca_pem' must be PEM certificates");
	vh = json_object_get(s3, "virtual_hosted");
	if (vh && !json_is_boolean(vh) && !json_is_null(vh))
		return reasonf(reason, -EINVAL, "'s3.virtual_hosted' must be a boolean");

	sched = json_object_get(body, "schedule");
	if (sched && !json_is_null(sched) && !json_is_object(sched))
		return reasonf(reason, -EINVAL, "'schedule' must be an object");
	if (json_is_object(sched) && (r = check_members(sched, "'schedule'", schedm, reason)) < 0)
		return r;
	if ((r = opt_int(sched, "full_every_s", "schedule.full_every_s", BACKUP_EVERY_MIN_S,
			 BACKUP_EVERY_MAX_S, 0, &every, reason)) < 0)
		return r;
	ret_o = json_object_get(body, "retention");
	if (ret_o && !json_is_null(ret_o) && !json_is_object(ret_o))
		return reasonf(reason, -EINVAL, "'retention' must be an object");
	if (json_is_object(ret_o) && (r = check_members(ret_o, "'retention'", retm, reason)) < 0)
		return r;
	if ((r = opt_int(ret_o, "count", "retention.count", 1, BACKUP_COUNT_MAX, 0, &count, reason)) < 0 ||
	    (r = opt_int(ret_o, "max_age_s", "retention.max_age_s", 3600, 100LL * 366 * 86400, 0,
			 &max_age, reason)) < 0)
		return r;
	if ((r = opt_int(body, "compression_level", "compression_level", 1, 19, BACKUP_COMPRESSION_DEFAULT,
			 &level, reason)) < 0 ||
	    (r = opt_int(body, "bundle_size", "bundle_size", BACKUP_BUNDLE_MIN, BACKUP_BUNDLE_MAX,
			 BACKUP_BUNDLE_DEFAULT, &bundle, reason)) < 0 ||
	    (r = opt_int(body, "parallel", "parallel", 1, BACKUP_PARALLEL_MAX, BACKUP_PARALLEL_DEFAULT,
			 &parallel, reason)) < 0)
		return r;

	json_t *c = json_pack("{s:{s:s, s:s, s:s, s:s, s:s, s:b}, s:{}, s:{}, s:I, s:I, s:I}", "s3",
			      "endpoint", endpoint, "region", region, "bucket", bucket, "prefix", prefix,
			      "access_key", access_key, "virtual_hosted", json_is_true(vh), "schedule",
			      "retention", "compression_level", (json_int_t)level, "bundle_size",
			      (json_int_t)bundle, "parallel", (json_int_t)parallel);
	if (!c)
		return -ENOMEM;
	if (ca_pem)
		json_object_set_new(json_object_get(c, "s3"), "ca_pem", json_string(ca_pem));
	/* Zeroes mean "no rule": shown as null. */
	json_t *sc = json_object_get(c, "schedule"), *rt = json_object_get(c, "retention");
	json_object_set_new(sc, "full_every_s", every ? json_integer(every) : json_null());
	json_object_set_new(rt, "count", count ? json_integer(count) : json_null());
	json_object_set_new(rt, "max_age_s", max_age ? json_integer(max_age) : json_null());
	if (!ca_pem)
		json_object_set_new(json_object_get(c, "s3"), "ca_pem", json_null());
	*ret = (struct backup_config_spec){
		.config = c,
		.secret_key = secret_key,
		.session_token = token,
		.full_every_s = every,
	};
	return 0;
}

json_t *backup_config_to_json(const struct store_backup_config *c)
{
	json_t *o = json_loads(c->config, 0, NULL);
	json_t *s3 = json_object_get(o, "s3");
	if (!json_is_object(s3)) {
		json_decref(o);
		return NULL;
	}
	json_object_set_new(s3, "secret_key", c->secret_key ? json_string(BACKUP_REDACTED) : json_null());
	json_object_set_new(s3, "session_token",
			    c->session_token ? json_string(BACKUP_REDACTED) : json_null());
	json_object_set_new(o, "updated_at", json_integer(c->updated_at));
	return o;
}

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *time_or_null(int64_t t)
{
	char buf[32];
	struct tm tm;
	time_t tt = (time_t)t;
	if (!t || !gmtime_r(&tt, &tm) || !strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm))
		return json_null();
	return json_string(buf);
}

json_t *backup_to_json(const struct store_backup *b, int64_t bytes_done)
{
	bool done = streq(b->state, "completed") || streq(b->state, "deleting") || streq(b->state, "deleted");
	json_t *o = json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o}", "id", b->id, "datastore_id",
			      b->ds_id, "state", b->state, "node_id", str_or_null(b->node_id),
			      "operation_id", str_or_null(b->operation_id), "started_at",
			      time_or_null(b->started_at), "finished_at", time_or_null(b->finished_at),
			      "message", str_or_null(b->message));
	if (!o)
		return NULL;
	json_object_set_new(o, "duration_ms", b->finished_at ? json_integer(b->duration_ms) : json_null());
	json_object_set_new(o, "timeline", done && b->timeline ? json_integer(b->timeline) : json_null());
	json_object_set_new(o, "start_lsn", str_or_null(b->start_lsn));
	json_object_set_new(o, "stop_lsn", str_or_null(b->stop_lsn));
	json_object_set_new(o, "start_wal", str_or_null(b->start_wal));
	json_object_set_new(o, "stop_wal", str_or_null(b->stop_wal));
	json_object_set_new(o, "plain_bytes", done ? json_integer(b->plain_bytes) : json_null());
	json_object_set_new(o, "stored_bytes", done ? json_integer(b->stored_bytes) : json_null());
	json_object_set_new(o, "files", done ? json_integer(b->files) : json_null());
	json_object_set_new(o, "verified_at", time_or_null(b->verified_at));
	json_object_set_new(o, "verify_state", str_or_null(b->verify_state));
	if (bytes_done >= 0)
		json_object_set_new(o, "bytes_done", json_integer(bytes_done));
	return o;
}

/* ---- decisions ---------------------------------------------------------- */

void backup_retention_select(const struct backup_item *b, size_t n, const struct backup_policy *p,
			     int64_t now, size_t *ret_delete, size_t *ret_n_delete,
			     const char **ret_wal_before)
{
	size_t nd = 0, rank = 0;
	const struct backup_item *oldest_kept = NULL, *newest = NULL;
	bool any_rule = p->count > 0 || p->max_age_s > 0;

	for (size_t i = 0; i < n; i++)
		if (streq_ptr(b[i].state, "completed") &&
		    (!newest || b[i].started_at > newest->started_at ||
		     (b[i].started_at == newest->started_at && strcmp(b[i].id, newest->id) > 0)))
			newest = &b[i];
	/* Rank each completed backup by age (0 = newest), ties by id. */
	for (size_t i = 0; i < n; i++) {
		if (!streq_ptr(b[i].state, "completed"))
			continue;
		rank = 0;
		for (size_t j = 0; j < n; j++)
			if (j != i && streq_ptr(b[j].state, "completed") &&
			    (b[j].started_at > b[i].started_at ||
			     (b[j].started_at == b[i].started_at && strcmp(b[j].id, b[i].id) > 0)))
				rank++;
		bool keep = !any_rule || &b[i] == newest ||
			    (p->count > 0 && rank < (size_t)p->count) ||
			    (p->max_age_s > 0 && now - b[i].started_at < p->max_age_s);
		if (!keep) {
			ret_delete[nd++] = i;
			continue;
		}
		if (!oldest_kept || b[i].started_at < oldest_kept->started_at ||
		    (b[i].started_at == oldest_kept->started_at && strcmp(b[i].id, oldest_kept->id) < 0))
			oldest_kept = &b[i];
	}
	*ret_n_delete = nd;
	*ret_wal_before = oldest_kept ? oldest_kept->start_wal : NULL;
}

bool backup_schedule_due(int64_t full_every_s, int64_t newest_ok_started_at,
			 int64_t newest_failed_started_at, bool op_running, int64_t now)
{
	if (full_every_s <= 0 || op_running)
		return false;
	if (newest_ok_started_at > 0 && now - newest_ok_started_at < full_every_s)
		return false;
	if (newest_failed_started_at > newest_ok_started_at) {
		int64_t wait = full_every_s < BACKUP_RETRY_AFTER_FAILURE_S ? full_every_s :
									     BACKUP_RETRY_AFTER_FAILURE_S;
		if (now - newest_failed_started_at < wait)
			return false;
	}
	return true;
}

int backup_restore_select(const struct backup_pick *b, size_t n, const char *backup_id,
			  int64_t target_time, size_t *ret_idx)
{
	size_t best = SIZE_MAX;
	for (size_t i = 0; i < n; i++) {
		if (!streq_ptr(b[i].state, "completed"))
			continue;
		if (backup_id) {
			if (streq_ptr(b[i].id, backup_id)) {
				*ret_idx = i;
				return 0;
			}
			continue;
		}
		if (target_time > 0 && !(b[i].finished_at > 0 && b[i].finished_at < target_time))
			continue;
		if (best == SIZE_MAX || b[i].started_at > b[best].started_at ||
		    (b[i].started_at == b[best].started_at && strcmp(b[i].id, b[best].id) > 0))
			best = i;
	}
	if (best == SIZE_MAX)
		return -ENOENT;
	*ret_idx = best;
	return 0;
}

static bool digits(const char *s, size_t n, int *ret)
{
	int v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*ret = v;
	return true;
}

int backup_parse_time(const char *s, int64_t *ret)
{
	int Y, M, D, h, m, sec, oh = 0, om = 0;
	struct tm tm = {};
	size_t n = s ? strlen(s) : 0;
	const char *p;

	if (n < 20 || n > 40 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
	    s[13] != ':' || s[16] != ':')
		return -EINVAL;
	if (!digits(s, 4, &Y) || !digits(s + 5, 2, &M) || !digits(s + 8, 2, &D) ||
	    !digits(s + 11, 2, &h) || !digits(s + 14, 2, &m) || !digits(s + 17, 2, &sec))
		return -EINVAL;
	if (Y < 1970 || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
		return -EINVAL;
	p = s + 19;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return -EINVAL;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p == 'Z' || *p == 'z')
		p++;
	else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':' && digits(p + 1, 2, &oh) &&
		 digits(p + 4, 2, &om) && oh <= 23 && om <= 59) {
		if (*p == '+') {
			oh = -oh;
			om = -om;
		}
		p += 6;
	} else
		return -EINVAL;
	if (*p)
		return -EINVAL;
	tm.tm_year = Y - 1900;
	tm.tm_mon = M - 1;
	tm.tm_mday = D;
	tm.tm_hour = h;
	tm.tm_min = m;
	tm.tm_sec = sec;
	time_t t = timegm(&tm);
	if (t == (time_t)-1)
		return -EINVAL;
	*ret = (int64_t)t + oh * 3600 + om * 60;
	return 0;
}

bool backup_lsn_ok(const char *s)
{
	size_t a = 0, b = 0;
	if (!s)
		return false;
	while (s[a] && strchr("0123456789ABCDEFabcdef", s[a]))
		a++;
	if (a < 1 || a > 8 || s[a] != '/')
		return false;
	s += a + 1;
	while (s[b] && strchr("0123456789ABCDEFabcdef", s[b]))
		b++;
	return b >= 1 && b <= 8 && !s[b];
}

/* ---- with the controller ------------------------------------------------ */

static int aad_printf(char aad[static SECRETS_AAD_MAX], const char *fmt, ...) _printf_(2, 3);
static int aad_printf(char aad[static SECRETS_AAD_MAX], const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(aad, SECRETS_AAD_MAX, fmt, ap);
	va_end(ap);
	return n > 0 && n < SECRETS_AAD_MAX ? 0 : -ENAMETOOLONG;
}

int backup_data_key(struct controller *c, const char *ds_id, uint8_t ret[static 32])
{
	_cleanup_free_ char *sealed = NULL;
	unsigned char *clear = NULL;
	char aad[SECRETS_AAD_MAX];
	size_t len = 0;
	int r;

	if ((r = aad_printf(aad, SECRETS_DATA_KEY_AAD_PREFIX "%s", ds_id)) < 0)
		return r;
	r = store_data_key_get(c->store, ds_id, &sealed);
	if (r == -ENOENT) {
		uint8_t key[SECRETS_DATA_KEY_LEN];
		if ((r = random_bytes(key, sizeof(key))) < 0)
			return r;
		r = secrets_seal(c->keys->kek, aad, key, sizeof(key), &sealed);
		explicit_bzero(key, sizeof(key));
		if (r < 0)
			return r;
		r = store_data_key_insert(c->store, ds_id, sealed, now_s());
		if (r == -EEXIST) {
			/* Someone else made it first: theirs is the key. */
			free(TAKE_PTR(sealed));
			r = store_data_key_get(c->store, ds_id, &sealed);
		} else if (r >= 0)
			log_info("datastore %s: made its backup data key", ds_id);
	}
	if (r < 0)
		return r;
	r = secrets_open(c->keys->kek, aad, sealed, &clear, &len);
	if (r < 0) {
		log_error_errno(r, "datastore %s: its data key does not open under the KEK", ds_id);
		return r;
	}
	if (len != SECRETS_DATA_KEY_LEN) {
		explicit_bzero(clear, len);
		free(clear);
		return -EBADMSG;
	}
	memcpy(ret, clear, SECRETS_DATA_KEY_LEN);
	explicit_bzero(clear, len);
	free(clear);
	return 0;
}

int backup_data_key_b64(struct controller *c, const char *ds_id, char **ret)
{
	uint8_t key[SECRETS_DATA_KEY_LEN];
	int r = backup_data_key(c, ds_id, key);
	if (r < 0)
		return r;
	char *b = scram_b64(key, sizeof(key));
	explicit_bzero(key, sizeof(key));
	if (!b)
		return -ENOMEM;
	*ret = b;
	return 0;
}

static int seal_s3(struct controller *c, const char *ds_id, const char *member, const char *clear,
		   char **ret)
{
	char aad[SECRETS_AAD_MAX];
	int r = aad_printf(aad, SECRETS_S3_AAD_PREFIX "%s:%s", ds_id, member);
	if (r < 0)
		return r;
	return secrets_seal(c->keys->kek, aad, clear, strlen(clear), ret);
}

static int open_s3(struct controller *c, const char *ds_id, const char *member, const char *sealed,
		   char **ret)
{
	char aad[SECRETS_AAD_MAX];
	unsigned char *clear = NULL;
	size_t len = 0;
	int r = aad_printf(aad, SECRETS_S3_AAD_PREFIX "%s:%s", ds_id, member);
	if (r < 0)
		return r;
	r = secrets_open(c->keys->kek, aad, sealed, &clear, &len);
	if (r < 0)
		return r;
	*ret = (char *)clear;
	return 0;
}

int backup_config_store(struct controller *c, const char *ds_id, struct backup_config_spec *spec,
			char reason[static OPS_REASON_MAX])
{
	struct store_backup_config old = {}, nc = {};
	_cleanup_free_ char *config = NULL;
	uint8_t key[SECRETS_DATA_KEY_LEN];
	int64_t now = now_s();
	int r;

	r = store_backup_config_get(c->store, ds_id, &old);
	if (r < 0 && r != -ENOENT)
		return reasonf(reason, r, "cannot read the backup configuration");
	snprintf(nc.ds_id, sizeof(nc.ds_id), "%s", ds_id);
	nc.created_at = old.created_at ?: now;
	nc.updated_at = now;
	nc.full_every_s = spec->full_every_s;
	if (streq_ptr(spec->secret_key, BACKUP_REDACTED)) {
		if (!old.secret_key) {
			r = reasonf(reason, -EINVAL, "'s3.secret_key' is \"(redacted)\" but none is stored");
			goto out;
		}
		nc.secret_key = TAKE_PTR(old.secret_key);
	} else if ((r = seal_s3(c, ds_id, "secret_key", spec->secret_key, &nc.secret_key)) < 0)
		goto out;
	if (streq_ptr(spec->session_token, BACKUP_REDACTED)) {
		if (!old.session_token) {
			r = reasonf(reason, -EINVAL, "'s3.session_token' is \"(redacted)\" but none is stored");
			goto out;
		}
		nc.session_token = TAKE_PTR(old.session_token);
	} else if (spec->session_token &&
		   (r = seal_s3(c, ds_id, "session_token", spec->session_token, &nc.session_token)) < 0)
		goto out;
	config = json_dumps(spec->config, JSON_COMPACT | JSON_SORT_KEYS);
	if (!config) {
		r = -ENOMEM;
		goto out;
	}
	nc.config = config;
	r = store_backup_config_put(c->store, &nc);
	nc.config = NULL;
	if (r < 0) {
		reasonf(reason, r, "cannot store the backup configuration");
		goto out;
	}
	/* The data key exists from the first configuration on. */
	r = backup_data_key(c, ds_id, key);
	explicit_bzero(key, sizeof(key));
	if (r < 0)
		reasonf(reason, r, "cannot make the datastore's data key");
out:
	store_backup_config_done(&old);
	store_backup_config_done(&nc);
	return r;
}

/* The "s3" job param of datastore `ds_id`'s configuration, secrets in
 * clear (they are sealed again by runner_submit), and the parsed config. */
static int s3_params(struct controller *c, const char *ds_id, json_t **ret_s3, json_t **ret_config,
		     char reason[static OPS_REASON_MAX])
{
	struct store_backup_config bc = {};
	_cleanup_json_ json_t *cfg = NULL, *s3 = NULL;
	_cleanup_secret_ char *sk = NULL, *tok = NULL;
	int r = store_backup_config_get(c->store, ds_id, &bc);
	if (r == -ENOENT)
		return reasonf(reason, -EINVAL, "datastore %s has no backup configuration", ds_id);
	if (r < 0)
		return r;
	cfg = json_loads(bc.config, 0, NULL);
	s3 = json_deep_copy(json_object_get(cfg, "s3"));
	if (!json_is_object(s3)) {
		store_backup_config_done(&bc);
		return reasonf(reason, -EINVAL, "the backup configuration of %s is unreadable", ds_id);
	}
	r = bc.secret_key ? open_s3(c, ds_id, "secret_key", bc.secret_key, &sk) : -EBADMSG;
	if (r >= 0 && bc.session_token)
		r = open_s3(c, ds_id, "session_token", bc.session_token, &tok);
	store_backup_config_done(&bc);
	if (r < 0)
		return reasonf(reason, -EINVAL, "the S3 secrets of %s do not open under the KEK", ds_id);
	json_object_set_new(s3, "secret_key", json_string(sk));
	json_object_set_new(s3, "session_token", tok ? json_string(tok) : json_null());
	if (!json_object_get(s3, "ca_pem"))
		json_object_set_new(s3, "ca_pem", json_null());
	*ret_s3 = TAKE_PTR(s3);
	if (ret_config)
		*ret_config = TAKE_PTR(cfg);
	return 0;
}

bool backup_step_is_ours(const char *name)
{
	return name && (strncmp(name, "backup.", 7) == 0 || streq(name, "pg.restore"));
}

static int64_t cfg_int(json_t *cfg, const char *key, int64_t def)
{
	json_t *v = json_object_get(cfg, key);
	return json_is_integer(v) ? json_integer_value(v) : def;
}

/* backup.delete: retention over the catalogue; the selected rows become
 * `deleting`.  1 when there is nothing to do. */
static int params_delete(struct controller *c, const struct store_datastore *ds, json_t **ret)
{
	struct store_backup_config bc = {};
	struct store_backup *b = NULL;
	size_t n = 0, nd = 0;
	_cleanup_free_ size_t *del = NULL;
	_cleanup_free_ struct backup_item *items = NULL;
	_cleanup_json_ json_t *cfg = NULL, *ids = NULL;
	const char *wal_before = NULL;
	int64_t now = now_s();
	int r;

	r = store_backup_config_get(c->store, ds->id, &bc);
	if (r == -ENOENT)
		return 1; /* no policy: keep everything */
	if (r < 0)
		return r;
	cfg = json_loads(bc.config, 0, NULL);
	store_backup_config_done(&bc);
	struct backup_policy p = {
		.count = cfg_int(json_object_get(cfg, "retention"), "count", 0),
		.max_age_s = cfg_int(json_object_get(cfg, "retention"), "max_age_s", 0),
	};
	r = store_backup_list(c->store, ds->id, NULL, &b, &n);
	if (r < 0)
		return r;
	items = calloc(n ?: 1, sizeof(*items));
	del = calloc(n ?: 1, sizeof(*del));
	ids = json_array();
	if (!items || !del || !ids) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		items[i] = (struct backup_item){ b[i].id, b[i].state, b[i].started_at, b[i].start_wal };
	backup_retention_select(items, n, &p, now, del, &nd, &wal_before);
	/* Backups a previous attempt already marked are deleted again. */
	for (size_t i = 0; i < n; i++)
		if (streq(b[i].state, "deleting"))
			json_array_append_new(ids, json_string(b[i].id));
	for (size_t i = 0; i < nd; i++) {
		struct store_backup *x = &b[del[i]];
		free(x->state);
		x->state = strdup("deleting");
		if (!x->state || (r = store_backup_update(c->store, x)) < 0) {
			r = x->state ? r : -ENOMEM;
			goto out;
		}
		json_array_append_new(ids, json_string(x->id));
	}
	if (json_array_size(ids) == 0 && !wal_before) {
		r = 1;
		goto out;
	}
	*ret = json_pack("{s:O, s:o}", "backup_ids", ids, "wal_before",
			 wal_before ? json_string(wal_before) : json_null());
	r = *ret ? 0 : -ENOMEM;
out:
	store_backup_array_free(b, n);
	return r;
}

int backup_step_params(struct controller *c, const struct store_datastore *ds,
		       const struct store_step *st, json_t **ret, char reason[static OPS_REASON_MAX])
{
	_cleanup_json_ json_t *args = json_loads(st->args ?: "{}", 0, NULL), *s3 = NULL, *cfg = NULL;
	_cleanup_secret_ char *key = NULL;
	const char *backup_id = json_string_value(json_object_get(args, "backup_id"));
	json_t *p = NULL;
	int r;

	reason[0] = 0;
	if (!json_is_object(args))
		return reasonf(reason, -EINVAL, "step %d (%s): unreadable arguments", st->idx, st->name);
	if (streq(st->name, "backup.configure")) {
		if ((r = s3_params(c, ds->id, &s3, &cfg, reason)) < 0)
			return r;
		if ((r = backup_data_key_b64(c, ds->id, &key)) < 0)
			return reasonf(reason, -EINVAL, "the data key of %s is not available", ds->name);
		p = json_pack("{s:O, s:s, s:I}", "s3", s3, "data_key", key, "compression_level",
			      (json_int_t)cfg_int(cfg, "compression_level", BACKUP_COMPRESSION_DEFAULT));
	} else if (streq(st->name, "backup.full")) {
		struct store_backup_config bc = {};
		struct store_backup b = {};
		if (!backup_id)
			return reasonf(reason, -EINVAL, "backup.full step without a backup id");
		if (store_backup_config_get(c->store, ds->id, &bc) >= 0)
			cfg = json_loads(bc.config, 0, NULL);
		store_backup_config_done(&bc);
		/* A retried backup runs again under its id. */
		if (store_backup_get(c->store, backup_id, &b) >= 0 && streq(b.state, "failed")) {
			free(b.state);
			free(b.message);
			b.message = NULL;
			b.finished_at = b.duration_ms = 0;
			b.state = strdup("running");
			if (b.state)
				(void)store_backup_update(c->store, &b);
		}
		store_backup_done(&b);
		p = json_pack("{s:s, s:I, s:I}", "backup_id", backup_id, "bundle_size",
			      (json_int_t)cfg_int(cfg, "bundle_size", BACKUP_BUNDLE_DEFAULT), "parallel",
			      (json_int_t)cfg_int(cfg, "parallel", BACKUP_PARALLEL_DEFAULT));
	} else if (streq(st->name, "backup.verify") || streq(st->name, "backup.drill")) {
		if (!backup_id)
			return reasonf(reason, -EINVAL, "%s step without a backup id", st->name);
		p = json_pack("{s:s}", "backup_id", backup_id);
	} else if (streq(st->name, "backup.delete")) {
		r = params_delete(c, ds, &p);
		if (r != 0)
			return r;
	} else if (streq(st->name, "pg.restore")) {
		const char *src = json_string_value(json_object_get(args, "source_ds"));
		const char *verifier = json_string_value(json_object_get(args, "admin_verifier"));
		json_t *target = json_object_get(args, "target");
		_cleanup_json_ json_t *settings = json_loads(ds->settings ?: "{}", 0, NULL);
		_cleanup_free_ char *repl_cn = NULL;
		if (!src || !backup_id || !verifier || !json_is_object(target) || !json_is_object(settings))
			return reasonf(reason, -EINVAL, "pg.restore step without its arguments");
		if ((r = s3_params(c, src, &s3, NULL, reason)) < 0)
			return r;
		if ((r = backup_data_key_b64(c, src, &key)) < 0)
			return reasonf(reason, -EINVAL, "the data key of the source datastore is not available");
		if (asprintf(&repl_cn, CAIRN_PG_REPL_CN_PREFIX "%s", ds->id) < 0)
			return -ENOMEM;
		p = json_pack("{s:{s:s, s:O, s:s}, s:s, s:O, s:s, s:s, s:i, s:O, s:s, s:s}", "source",
			      "ds_id", src, "s3", s3, "data_key", key, "backup_id", backup_id, "target",
			      target, "admin_verifier", verifier, "version", ds->version, "port", ds->port,
			      "settings", settings, "repl_cn", repl_cn, "cluster_name", ds->name);
	} else
		return reasonf(reason, -EINVAL, "step %d: unknown backup step '%s'", st->idx, st->name);
	if (!p)
		return -ENOMEM;
	*ret = p;
	return 0;
}

static int set_str(char **p, const char *v)
{
	char *n = NULL;
	if (v && !(n = strdup(v)))
		return -ENOMEM;
	free(*p);
	*p = n;
	return 0;
}

void backup_job_submitted(struct controller *c, const struct store_step *st, const char *job_id)
{
	_cleanup_json_ json_t *args = json_loads(st->args ?: "{}", 0, NULL);
	const char *id = json_string_value(json_object_get(args, "backup_id"));
	struct store_backup b = {};

	if (!streq(st->name, "backup.full") || !id || store_backup_get(c->store, id, &b) < 0)
		return;
	if (set_str(&b.job_id, job_id) >= 0)
		(void)store_backup_update(c->store, &b);
	store_backup_done(&b);
}

/* An RFC 3339 string in a job's output to seconds (0 when absent). */
static int64_t out_time(json_t *out, const char *key)
{
	int64_t t = 0;
	const char *s = json_string_value(json_object_get(out, key));
	return s && backup_parse_time(s, &t) >= 0 ? t : 0;
}

static const char *out_str(json_t *out, const char *key, size_t max)
{
	const char *s = json_string_value(json_object_get(out, key));
	return s && strlen(s) <= max && printable(s) ? s : NULL;
}

static int64_t out_uint(json_t *out, const char *key)
{
	json_t *v = json_object_get(out, key);
	return json_is_integer(v) && json_integer_value(v) >= 0 ? json_integer_value(v) : 0;
}

void backup_job_finished(struct controller *c, const struct store_operation *op,
			 const struct store_step *st, const struct store_job *job)
{
	_cleanup_json_ json_t *args = json_loads(st->args ?: "{}", 0, NULL), *out = NULL;
	const char *id = json_string_value(json_object_get(args, "backup_id"));
	struct store_backup b = {};
	bool ok = job->state == CAIRN_JOB_SUCCEEDED;
	int64_t now = now_s();
	int r = 0;

	if (streq(st->name, "backup.delete")) {
		/* The rows marked deleting are gone (or stay deleting for a retry). */
		if (!ok || !job->params)
			return;
		_cleanup_json_ json_t *params = json_loads(job->params, 0, NULL);
		json_t *v;
		size_t i;
		json_array_foreach(json_object_get(params, "backup_ids"), i, v) {
			if (store_backup_get(c->store, json_string_value(v), &b) >= 0 &&
			    set_str(&b.state, "deleted") >= 0)
				(void)store_backup_update(c->store, &b);
			store_backup_done(&b);
		}
		return;
	}
	if (!id || store_backup_get(c->store, id, &b) < 0)
		return;
	/* The configure step before a backup (the node's keys) failed: so
	 * did the backup, which never started. */
	if (streq(st->name, "backup.configure") && streq(op->kind, "backup")) {
		if (!ok && streq(b.state, "running")) {
			char msg[OPS_REASON_MAX];
			snprintf(msg, sizeof(msg), "backup.configure %s%s%s", cairn_job_state_to_string(job->state),
				 job->message ? ": " : "", job->message ?: "");
			if (set_str(&b.state, "failed") >= 0 && set_str(&b.message, msg) >= 0) {
				b.finished_at = now;
				(void)store_backup_update(c->store, &b);
			}
		}
		goto out;
	}
	if (streq(st->name, "backup.full")) {
		if (!streq(b.state, "running"))
			goto out;
		out = job->output ? json_loads(job->output, 0, NULL) : NULL;
		if (ok) {
			if ((r = set_str(&b.state, "completed")) < 0 || (r = set_str(&b.message, NULL)) < 0)
				goto out;
			set_str(&b.start_lsn, out_str(out, "start_lsn", 32));
			set_str(&b.stop_lsn, out_str(out, "stop_lsn", 32));
			set_str(&b.start_wal, out_str(out, "start_wal", 40));
			set_str(&b.stop_wal, out_str(out, "stop_wal", 40));
			b.timeline = out_uint(out, "timeline");
			b.plain_bytes = out_uint(out, "plain_bytes");
			b.stored_bytes = out_uint(out, "stored_bytes");
			b.files = out_uint(out, "files");
			/* started_at stays the controller's (the schedule counts from
			 * it); the node's clock gives the end and the duration. */
			int64_t started = out_time(out, "started_at"), finished = out_time(out, "finished_at");
			b.finished_at = finished ?: now;
			if (json_is_integer(json_object_get(out, "duration_ms")))
				b.duration_ms = out_uint(out, "duration_ms");
			else if (started && finished >= started)
				b.duration_ms = (finished - started) * 1000;
			else
				b.duration_ms = MAX(now - b.started_at, 0) * 1000;
		} else {
			char msg[OPS_REASON_MAX];
			snprintf(msg, sizeof(msg), "%s%s%s", cairn_job_state_to_string(job->state),
				 job->message ? ": " : "", job->message ?: "");
			if ((r = set_str(&b.state, "failed")) < 0 || (r = set_str(&b.message, msg)) < 0)
				goto out;
			b.finished_at = now;
			b.duration_ms = (now - b.started_at) * 1000;
		}
	} else if (streq(st->name, "backup.verify") || streq(st->name, "backup.drill")) {
		bool drill_follows = json_is_true(json_object_get(args, "drill"));
		if (ok && streq(st->name, "backup.verify") && drill_follows)
			goto out; /* the drill decides */
		if ((r = set_str(&b.verify_state, ok ? "ok" : "failed")) < 0)
			goto out;
		b.verified_at = now;
	} else
		goto out;
	r = store_backup_update(c->store, &b);
	if (r >= 0)
		log_info("backup %s of datastore %s: %s", b.id, b.ds_id,
			 streq(st->name, "backup.full") ? b.state : b.verify_state);
out:
	if (r < 0)
		log_warning_errno(r, "backup %s: cannot record the end of %s", id, st->name);
	store_backup_done(&b);
}

/* ---- keys lost by a node; the schedule ---------------------------------- */

/* When each (node, datastore) was last sent backup.configure because its
 * keys were missing.  A small table: the oldest entry makes room. */
#define BACKUP_RECONFIGURE_TABLE_MAX 256
static struct {
	char node[UUID_STRING_MAX];
	char ds[UUID_STRING_MAX];
	int64_t at;
} reconfigured[BACKUP_RECONFIGURE_TABLE_MAX];
static pthread_mutex_t reconfigured_lock = PTHREAD_MUTEX_INITIALIZER;

/* True (and the entry stamped) when the pair may be sent a job now. */
static bool reconfigure_allowed(const char *node, const char *ds, int64_t now)
{
	size_t oldest = 0;
	bool ok = true;
	pthread_mutex_lock(&reconfigured_lock);
	for (size_t i = 0; i < BACKUP_RECONFIGURE_TABLE_MAX; i++) {
		if (streq(reconfigured[i].node, node) && streq(reconfigured[i].ds, ds)) {
			ok = now - reconfigured[i].at >= BACKUP_RECONFIGURE_EVERY_S;
			if (ok)
				reconfigured[i].at = now;
			goto out;
		}
		if (reconfigured[i].at < reconfigured[oldest].at)
			oldest = i;
	}
	snprintf(reconfigured[oldest].node, UUID_STRING_MAX, "%s", node);
	snprintf(reconfigured[oldest].ds, UUID_STRING_MAX, "%s", ds);
	reconfigured[oldest].at = now;
out:
	pthread_mutex_unlock(&reconfigured_lock);
	return ok;
}

void backup_keys_missing(struct controller *c, const char *node_id, const char *ds_id, int64_t now)
{
	struct store_member m = {};
	struct store_datastore ds = {};
	struct store_backup_config bc = {};
	struct store_operation run = {};
	_cleanup_json_ json_t *params = NULL;
	char reason[OPS_REASON_MAX], id[UUID_STRING_MAX];
	int r;

	if (!node_id || !ds_id || !c->runner)
		return;
	/* Only for a live member of a datastore that has a configuration,
	 * and not while a backup_config operation configures it anyway. */
	if (store_member_get_by_node(c->store, node_id, &m) < 0)
		return;
	bool member = streq(m.ds_id, ds_id) && !streq(m.state, "removed") && !streq(m.state, "removing");
	store_member_done(&m);
	if (!member || store_backup_config_get(c->store, ds_id, &bc) < 0)
		return;
	store_backup_config_done(&bc);
	if (store_operation_running(c->store, ds_id, &run) >= 0) {
		bool configuring = streq(run.kind, "backup_config");
		store_operation_done(&run);
		if (configuring)
			return;
	}
	if (store_datastore_get(c->store, ds_id, &ds) < 0)
		return;
	if (!reconfigure_allowed(node_id, ds_id, now))
		goto out;
	struct store_step st = { .name = (char *)"backup.configure", .kind = (char *)"job",
				 .args = (char *)"{}" };
	r = backup_step_params(c, &ds, &st, &params, reason);
	if (r != 0) {
		log_warning("datastore %s: cannot send backup.configure to node %s: %s", ds.name, node_id,
			    r == -EINVAL ? reason : strerror(-r));
		goto out;
	}
	struct runner_job_spec spec = { .node_id = node_id, .type = "backup.configure", .params = params,
					.ds = ds.id, .epoch = ds.epoch };
	r = runner_submit(c->runner, &spec, id);
	secrets_job_wipe("backup.configure", params);
	if (r < 0)
		log_warning_errno(r, "datastore %s: cannot send backup.configure to node %s", ds.name, node_id);
	else
		log_info("datastore %s: node %s has no backup keys loaded: backup.configure job %s", ds.name,
			 node_id, id);
out:
	store_datastore_done(&ds);
}

void backup_schedule_tick(struct controller *c, int64_t now)
{
	struct store_backup_config *cfg = NULL;
	size_t n = 0;

	if (!c->ops || store_backup_config_list(c->store, &cfg, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		struct store_datastore ds = {};
		struct store_operation run = {};
		struct store_backup *b = NULL;
		size_t nb = 0;
		int64_t ok_at = 0, failed_at = 0;
		char reason[OPS_REASON_MAX], bid[UUID_STRING_MAX], op[UUID_STRING_MAX];

		if (cfg[i].full_every_s <= 0)
			continue;
		if (store_datastore_get(c->store, cfg[i].ds_id, &ds) < 0)
			continue;
		bool ready = streq(ds.state, "ready");
		store_datastore_done(&ds);
		if (!ready)
			continue;
		bool running = store_operation_running(c->store, cfg[i].ds_id, &run) >= 0;
		store_operation_done(&run);
		/* A configuration whose backup_config operation failed is not in
		 * effect on the nodes: no backup until it is retried or set again. */
		struct store_operation *last = NULL;
		size_t nl = 0;
		bool unapplied = store_operation_list(c->store, cfg[i].ds_id, NULL, 1, &last, &nl) >= 0 &&
				 nl == 1 && streq(last[0].kind, "backup_config") && streq(last[0].state, "failed");
		store_operation_array_free(last, nl);
		if (unapplied)
			continue;
		if (store_backup_list(c->store, cfg[i].ds_id, NULL, &b, &nb) < 0)
			continue;
		/* Newest first: the first of each kind is the newest. */
		for (size_t k = 0; k < nb; k++) {
			bool ok = streq(b[k].state, "running") || streq(b[k].state, "completed");
			if (ok && !ok_at)
				ok_at = b[k].started_at;
			if (streq(b[k].state, "failed") && !failed_at)
				failed_at = b[k].started_at;
		}
		store_backup_array_free(b, nb);
		if (!backup_schedule_due(cfg[i].full_every_s, ok_at, failed_at, running, now))
			continue;
		/* ops_backup stores the row and the operation before anything
		 * runs: a crash after it finds the backup running. */
		int r = ops_backup(c->ops, cfg[i].ds_id, bid, op, reason);
		if (r >= 0)
			log_info("datastore %s: scheduled backup %s, operation %s", cfg[i].ds_id, bid, op);
		else if (r != -EBUSY)
			log_warning("datastore %s: scheduled backup not started: %s", cfg[i].ds_id, reason);
	}
	store_backup_config_array_free(cfg, n);
}
