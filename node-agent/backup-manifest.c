/*
 * backup-manifest.c: manifest checks (see backup-manifest.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup-manifest.h"
#include "backup-wal.h"
#include "exec.h"
#include "macro.h"

bool backup_path_is_safe(const char *path)
{
	const char *c;
	size_t n;

	if (!path)
		return false;
	n = strlen(path);
	if (n == 0 || n > BACKUP_MANIFEST_PATH_MAX || path[0] == '/')
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)path[i] < 0x20 || (unsigned char)path[i] >= 0x7f)
			return false;
	for (c = path;;) {
		const char *e = strchr(c, '/');
		size_t k = e ? (size_t)(e - c) : strlen(c);

		if (k == 0 || (k == 1 && c[0] == '.') || (k == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		if (!e)
			return true;
		c = e + 1;
	}
}

bool backup_id_is_valid(const char *id)
{
	size_t n;

	if (!id)
		return false;
	n = strlen(id);
	if (n == 0 || n > BACKUP_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= 'A' && id[i] <= 'Z') || (id[i] >= '0' && id[i] <= '9') ||
		      id[i] == '-' || id[i] == '_'))
			return false;
	return true;
}

int backup_bundle_name(const char *backup_id, size_t i, char *ret, size_t n)
{
	int k = snprintf(ret, n, "backups/%s/bundle-%04zu", backup_id, i);

	return k < 0 || (size_t)k >= n ? -ENAMETOOLONG : 0;
}

static bool is_uint(json_t *v)
{
	return json_is_integer(v) && json_integer_value(v) >= 0;
}

static bool is_hex(const char *s, size_t n)
{
	if (!s || strlen(s) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static bool is_lsn(const char *s)
{
	const char *slash;
	size_t a, b;

	if (!s || !(slash = strchr(s, '/')))
		return false;
	a = (size_t)(slash - s);
	b = strlen(slash + 1);
	if (a == 0 || a > 8 || b == 0 || b > 8)
		return false;
	for (const char *p = s; *p; p++)
		if (p != slash && !((*p >= '0' && *p <= '9') || (*p >= 'A' && *p <= 'F')))
			return false;
	return true;
}

int backup_manifest_check(json_t *m, char *reason, size_t reason_len)
{
	json_t *bundles, *files, *v;
	_cleanup_free_ uint64_t *fill = NULL;
	size_t nb, nf, i;
	const char *label;

	if (!json_is_object(m))
		return exec_reason(reason, reason_len, "manifest: expected an object");
	v = json_object_get(m, "format");
	if (!json_is_integer(v) || json_integer_value(v) != BACKUP_MANIFEST_FORMAT)
		return exec_reason(reason, reason_len, "manifest: unknown format");
	if (!backup_id_is_valid(json_string_value(json_object_get(m, "backup_id"))))
		return exec_reason(reason, reason_len, "manifest: bad backup_id");
	if (!json_is_string(json_object_get(m, "datastore_id")))
		return exec_reason(reason, reason_len, "manifest: bad datastore_id");
	if (!is_lsn(json_string_value(json_object_get(m, "start_lsn"))) ||
	    !is_lsn(json_string_value(json_object_get(m, "stop_lsn"))))
		return exec_reason(reason, reason_len, "manifest: bad start_lsn or stop_lsn");
	if (!backup_wal_is_segment(json_string_value(json_object_get(m, "start_wal"))) ||
	    !backup_wal_is_segment(json_string_value(json_object_get(m, "stop_wal"))) ||
	    strcmp(json_string_value(json_object_get(m, "start_wal")),
		   json_string_value(json_object_get(m, "stop_wal"))) > 0)
		return exec_reason(reason, reason_len, "manifest: bad start_wal or stop_wal");
	if (!is_uint(json_object_get(m, "timeline")))
		return exec_reason(reason, reason_len, "manifest: bad timeline");
	label = json_string_value(json_object_get(m, "backup_label"));
	if (!label || json_string_length(json_object_get(m, "backup_label")) > BACKUP_MANIFEST_LABEL_MAX ||
	    strlen(label) != json_string_length(json_object_get(m, "backup_label")))
		return exec_reason(reason, reason_len, "manifest: bad backup_label");
	v = json_object_get(m, "tablespace_map");
	if (v && !json_is_null(v))
		return exec_reason(reason, reason_len, "manifest: tablespaces are not supported");
	bundles = json_object_get(m, "bundles");
	files = json_object_get(m, "files");
	if (!json_is_array(bundles) || !json_is_array(files))
		return exec_reason(reason, reason_len, "manifest: bundles and files must be arrays");
	nb = json_array_size(bundles);
	nf = json_array_size(files);
	if (nb > BACKUP_MANIFEST_BUNDLES_MAX || nf > BACKUP_MANIFEST_FILES_MAX)
		return exec_reason(reason, reason_len, "manifest: too many bundles or files");
	fill = calloc(nb ? nb : 1, sizeof(*fill));
	if (!fill)
		return -ENOMEM;
	for (i = 0; i < nb; i++) {
		json_t *b = json_array_get(bundles, i);
		char want[64];
		const char *name = json_string_value(json_object_get(b, "name"));

		snprintf(want, sizeof(want), "bundle-%04zu", i);
		if (!json_is_object(b) || !name || !streq(name, want) || !is_uint(json_object_get(b, "plain_bytes")) ||
		    !is_uint(json_object_get(b, "stored_bytes")))
			return exec_reason(reason, reason_len, "manifest: bundles[%zu] is malformed", i);
	}
	for (i = 0; i < nf; i++) {
		json_t *f = json_array_get(files, i);
		const char *path = json_string_value(json_object_get(f, "path"));
		json_t *dir = json_object_get(f, "dir");
		json_t *mode = json_object_get(f, "mode");

		if (!json_is_object(f) || !backup_path_is_safe(path))
			return exec_reason(reason, reason_len, "manifest: files[%zu]: bad path", i);
		if (!is_uint(mode) || json_integer_value(mode) > 07777)
			return exec_reason(reason, reason_len, "manifest: files[%zu]: bad mode", i);
		if (json_is_true(dir))
			continue;
		if (dir && !json_is_false(dir))
			return exec_reason(reason, reason_len, "manifest: files[%zu]: bad dir", i);
		json_t *size = json_object_get(f, "size"), *bundle = json_object_get(f, "bundle"),
		       *offset = json_object_get(f, "offset");
		if (!is_uint(size) || !is_uint(bundle) || !is_uint(offset) ||
		    !is_hex(json_string_value(json_object_get(f, "sha256")), 64))
			return exec_reason(reason, reason_len, "manifest: files[%zu] is malformed", i);
		size_t bi = (size_t)json_integer_value(bundle);
		if (bi >= nb)
			return exec_reason(reason, reason_len, "manifest: files[%zu]: no such bundle", i);
		if ((uint64_t)json_integer_value(offset) != fill[bi])
			return exec_reason(reason, reason_len, "manifest: files[%zu]: offset does not follow", i);
		fill[bi] += (uint64_t)json_integer_value(size);
	}
	for (i = 0; i < nb; i++)
		if ((uint64_t)json_integer_value(json_object_get(json_array_get(bundles, i), "plain_bytes")) != fill[i])
			return exec_reason(reason, reason_len, "manifest: bundles[%zu]: plain_bytes is not its files' sum",
					   i);
	return 0;
}

int backup_manifest_parse(const char *buf, size_t len, json_t **ret, char *reason, size_t reason_len)
{
	json_error_t e;
	json_t *m;
	int r;

	if (len > BACKUP_MANIFEST_MAX)
		return exec_reason(reason, reason_len, "manifest: too large");
	m = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &e);
	if (!m)
		return exec_reason(reason, reason_len, "manifest: not JSON (line %d)", e.line);
	r = backup_manifest_check(m, reason, reason_len);
	if (r < 0) {
		json_decref(m);
		return r;
	}
	*ret = m;
	return 0;
}
