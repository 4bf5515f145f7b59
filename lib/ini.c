/*
 * ini.c: the configuration file format of every Cairn program (see ini.h).
 *
 * The parser is strict about shape and limits because a configuration
 * typo must stop a daemon at start with a message that names the line,
 * never be read as something else.  Entries keep their line numbers so
 * that later typed lookups can point at the line too.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "ini.h"
#include "macro.h"
#include "util.h"

struct ini_entry {
	char *section;  /* "" for keys before any section */
	char *key;      /* [A-Za-z0-9_.-]+ */
	char *value;    /* trimmed, may be empty */
	unsigned line;  /* line of the (last) assignment */
};

struct ini {
	char *name;                /* file name used in messages */
	struct ini_entry *entries; /* in order of first appearance */
	size_t n_entries;
	size_t n_alloc;
};

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static bool is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-' || c == '.';
}

/* True when [s, s+n) is a non-empty run of name characters. */
static bool is_name(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_name_char(s[i]))
			return false;
	return true;
}

/* Trims blanks at both ends of [*s, *s+*n). */
static void trim(const char **s, size_t *n)
{
	while (*n > 0 && is_blank(**s)) {
		(*s)++;
		(*n)--;
	}
	while (*n > 0 && is_blank((*s)[*n - 1]))
		(*n)--;
}

/* Length of [s, s+n) once an inline comment (a '#' after a blank) is cut. */
static size_t cut_comment(const char *s, size_t n)
{
	for (size_t i = 1; i < n; i++)
		if (s[i] == '#' && is_blank(s[i - 1]))
			return i;
	return n;
}

void ini_free(struct ini *ini)
{
	if (!ini)
		return;
	for (size_t i = 0; i < ini->n_entries; i++) {
		free(ini->entries[i].section);
		free(ini->entries[i].key);
		/* Values may be secrets (an S3 key in a config file). */
		explicit_bzero(ini->entries[i].value, strlen(ini->entries[i].value));
		free(ini->entries[i].value);
	}
	free(ini->entries);
	free(ini->name);
	free(ini);
}

static struct ini_entry *ini_find(const struct ini *ini, const char *section, const char *key)
{
	if (!ini || !section || !key)
		return NULL;
	for (size_t i = 0; i < ini->n_entries; i++)
		if (streq(ini->entries[i].section, section) && streq(ini->entries[i].key, key))
			return &ini->entries[i];
	return NULL;
}

/* Sets section/key to value (taking ownership of value).  Returns 0,
 * -E2BIG when the entry limit is reached, or -ENOMEM. */
static int ini_set(struct ini *ini, const char *section, const char *key, size_t key_len,
		   char *value, unsigned line)
{
	_cleanup_free_ char *k = strndup(key, key_len);
	struct ini_entry *e;

	if (!k) {
		free(value);
		return -ENOMEM;
	}
	e = ini_find(ini, section, k);
	if (e) {
		explicit_bzero(e->value, strlen(e->value));
		free(e->value);
		e->value = value;
		e->line = line;
		return 0;
	}
	if (ini->n_entries >= INI_ENTRIES_MAX) {
		free(value);
		return -E2BIG;
	}
	if (ini->n_entries == ini->n_alloc) {
		size_t na = ini->n_alloc ? ini->n_alloc * 2 : 16;
		struct ini_entry *ne;

		if (na > INI_ENTRIES_MAX)
			na = INI_ENTRIES_MAX;
		ne = realloc(ini->entries, na * sizeof(*ne));
		if (!ne) {
			free(value);
			return -ENOMEM;
		}
		ini->entries = ne;
		ini->n_alloc = na;
	}
	e = &ini->entries[ini->n_entries];
	e->section = strdup(section);
	if (!e->section) {
		free(value);
		return -ENOMEM;
	}
	e->key = TAKE_PTR(k);
	e->value = value;
	e->line = line;
	ini->n_entries++;
	return 0;
}

/* Formats "name:line: reason" into *ret_error when it is non-NULL. */
static void set_error(char **ret_error, const char *name, unsigned line, const char *fmt, ...)
	_printf_(4, 5);
static void set_error(char **ret_error, const char *name, unsigned line, const char *fmt, ...)
{
	char reason[512];
	va_list ap;
	char *s;

	if (!ret_error)
		return;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	if (line > 0) {
		if (asprintf(&s, "%s:%u: %s", name, line, reason) < 0)
			s = NULL;
	} else if (asprintf(&s, "%s: %s", name, reason) < 0)
		s = NULL;
	*ret_error = s;
}

int ini_parse(const char *name, const char *data, size_t len, struct ini **ret, char **ret_error)
{
	_cleanup_ini_ struct ini *ini = NULL;
	_cleanup_free_ char *section = strdup("");
	const char *p, *end;
	unsigned line = 0;
	int r;

	if (!name)
		name = "(config)";
	if (!ret || (!data && len > 0))
		return -EINVAL;
	if (len > INI_FILE_MAX) {
		set_error(ret_error, name, 0, "file larger than %d bytes", INI_FILE_MAX);
		return -EFBIG;
	}
	ini = calloc(1, sizeof(*ini));
	if (!ini || !section)
		return -ENOMEM;
	ini->name = strdup(name);
	if (!ini->name)
		return -ENOMEM;

	p = data;
	end = data + len;
	/* A UTF-8 byte order mark written by some editors is not content. */
	if (len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
		p += 3;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *s = p, *eq;
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

		p = nl ? nl + 1 : end;
		line++;

		if (n > 0 && s[n - 1] == '\r')
			n--;
		if (n > INI_LINE_MAX) {
			set_error(ret_error, name, line, "line longer than %d bytes", INI_LINE_MAX);
			return -EINVAL;
		}
		for (size_t i = 0; i < n; i++) {
			unsigned char c = (unsigned char)s[i];
			if ((c < 0x20 && c != '\t') || c == 0x7f) {
				set_error(ret_error, name, line, "control character in line");
				return -EINVAL;
			}
		}
		trim(&s, &n);
		if (n == 0 || s[0] == '#' || s[0] == ';')
			continue;

		if (s[0] == '[') {
			const char *close = memchr(s, ']', n);
			const char *sn = s + 1, *rest;
			size_t snl, restl;

			if (!close) {
				set_error(ret_error, name, line, "expected '[section]'");
				return -EINVAL;
			}
			snl = (size_t)(close - sn);
			trim(&sn, &snl);
			rest = close + 1;
			restl = (size_t)(s + n - rest);
			trim(&rest, &restl);
			if (restl > 0 && rest[0] != '#' && rest[0] != ';') {
				set_error(ret_error, name, line, "unexpected text after ']'");
				return -EINVAL;
			}
			if (!is_name(sn, snl)) {
				set_error(ret_error, name, line, "bad section name");
				return -EINVAL;
			}
			free(section);
			section = strndup(sn, snl);
			if (!section)
				return -ENOMEM;
			continue;
		}

		eq = memchr(s, '=', n);
		if (!eq) {
			set_error(ret_error, name, line, "expected 'key = value'");
			return -EINVAL;
		}
		{
			const char *k = s, *v = eq + 1;
			size_t kl = (size_t)(eq - s), vl = (size_t)(s + n - v);
			char *value;

			trim(&k, &kl);
			if (!is_name(k, kl)) {
				set_error(ret_error, name, line,
					  kl == 0 ? "expected 'key = value'" : "bad key name");
				return -EINVAL;
			}
			vl = cut_comment(v, vl);
			trim(&v, &vl);
			value = strndup(v, vl);
			if (!value)
				return -ENOMEM;
			r = ini_set(ini, section, k, kl, value, line);
			if (r == -E2BIG) {
				set_error(ret_error, name, line, "more than %d entries",
					  INI_ENTRIES_MAX);
				return -EINVAL;
			}
			if (r < 0)
				return r;
		}
	}

	*ret = TAKE_PTR(ini);
	return 0;
}

int ini_load(const char *path, struct ini **ret, char **ret_error)
{
	char *data = NULL;
	size_t len = 0;
	int r;

	if (!path || !ret)
		return -EINVAL;
	r = read_file_full(path, INI_FILE_MAX, &data, &len);
	if (r == -EFBIG) {
		set_error(ret_error, path, 0, "file larger than %d bytes", INI_FILE_MAX);
		return r;
	}
	if (r < 0) {
		set_error(ret_error, path, 0, "cannot read: %s", strerror(-r));
		return r;
	}
	r = ini_parse(path, data, len, ret, ret_error);
	explicit_bzero(data, len);
	free(data);
	return r;
}

const char *ini_get(const struct ini *ini, const char *section, const char *key)
{
	const struct ini_entry *e = ini_find(ini, section, key);
	return e ? e->value : NULL;
}

int ini_get_int(const struct ini *ini, const char *section, const char *key, int64_t def,
		int64_t min, int64_t max, int64_t *ret, char **ret_error)
{
	const struct ini_entry *e = ini_find(ini, section, key);
	int64_t v;

	if (!ret)
		return -EINVAL;
	if (!e) {
		*ret = def;
		return 0;
	}
	if (parse_int64(e->value, min, max, &v) < 0) {
		set_error(ret_error, ini->name, e->line,
			  "%s: expected an integer in %" PRId64 "..%" PRId64, key, min, max);
		return -EINVAL;
	}
	*ret = v;
	return 0;
}

int ini_get_bool(const struct ini *ini, const char *section, const char *key, bool def,
		 bool *ret, char **ret_error)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };
	const struct ini_entry *e = ini_find(ini, section, key);

	if (!ret)
		return -EINVAL;
	if (!e) {
		*ret = def;
		return 0;
	}
	for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
		if (streq(e->value, yes[i])) {
			*ret = true;
			return 0;
		}
		if (streq(e->value, no[i])) {
			*ret = false;
			return 0;
		}
	}
	set_error(ret_error, ini->name, e->line, "%s: expected true or false", key);
	return -EINVAL;
}

static bool in_list(const char *s, const char *const *list)
{
	for (size_t i = 0; list && list[i]; i++)
		if (streq(list[i], s))
			return true;
	return false;
}

int ini_check_keys(const struct ini *ini, const char *section, const char *const *known,
		   char **ret_error)
{
	if (!ini || !section)
		return -EINVAL;
	for (size_t i = 0; i < ini->n_entries; i++) {
		const struct ini_entry *e = &ini->entries[i];
		if (!streq(e->section, section) || in_list(e->key, known))
			continue;
		if (*section)
			set_error(ret_error, ini->name, e->line, "unknown key '%s' in [%s]", e->key,
				  section);
		else
			set_error(ret_error, ini->name, e->line,
				  "unknown key '%s' outside any section", e->key);
		return -EINVAL;
	}
	return 0;
}

int ini_check_sections(const struct ini *ini, const char *const *known, char **ret_error)
{
	if (!ini)
		return -EINVAL;
	for (size_t i = 0; i < ini->n_entries; i++) {
		const struct ini_entry *e = &ini->entries[i];
		if (in_list(e->section, known))
			continue;
		if (*e->section)
			set_error(ret_error, ini->name, e->line, "unknown section [%s]", e->section);
		else
			set_error(ret_error, ini->name, e->line, "key '%s' outside any section",
				  e->key);
		return -EINVAL;
	}
	return 0;
}
