/*
 * ini.h: the configuration file format of every Cairn program.
 *
 *   # comment            ; comment
 *   [section]            # comment
 *   key = value          # comment (whitespace around key and value is trimmed)
 *
 * A '#' that follows a blank starts a comment anywhere on a line (so "a#b"
 * is a value, "a #b" is "a").  Section and key names are [A-Za-z0-9_.-]+.
 * Keys before any section belong to section "".  A repeated key keeps the
 * last value.  Limits: file 64 KiB, line 4 KiB, 512 entries.  Errors name the
 * line: "agent.conf:12: expected 'key = value'".
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define INI_FILE_MAX (64 * 1024)
#define INI_LINE_MAX 4096
#define INI_ENTRIES_MAX 512

struct ini;

/* Parses `len` bytes.  `name` is used in error messages.  On failure
 * returns -EINVAL (or -ENOMEM/-EFBIG) and, when ret_error is non-NULL, a
 * heap string "name:line: reason" the caller frees. */
int ini_parse(const char *name, const char *data, size_t len, struct ini **ret, char **ret_error);

/* Reads and parses a file (at most INI_FILE_MAX bytes). */
int ini_load(const char *path, struct ini **ret, char **ret_error);

void ini_free(struct ini *ini);

/* Returns the value (owned by ini) or NULL when absent. */
const char *ini_get(const struct ini *ini, const char *section, const char *key);

/* Typed lookups.  Absent key: *ret = def, returns 0.  Malformed or out of
 * [min, max]: returns -EINVAL and, when ret_error non-NULL, a message naming
 * the line ("controller.conf:7: job_ttl_s: expected an integer in 1..86400"). */
int ini_get_int(const struct ini *ini, const char *section, const char *key, int64_t def,
		int64_t min, int64_t max, int64_t *ret, char **ret_error);
int ini_get_bool(const struct ini *ini, const char *section, const char *key, bool def,
		 bool *ret, char **ret_error);

/* Returns -EINVAL and a message for the first key in `section` that is not
 * in the NULL-terminated `known` list (typos must not pass silently). */
int ini_check_keys(const struct ini *ini, const char *section, const char *const *known,
		   char **ret_error);

/* Same for sections: the first entry whose section is not in `known`
 * (include "" to allow keys before any section). */
int ini_check_sections(const struct ini *ini, const char *const *known, char **ret_error);

static inline void ini_freep(struct ini **p) { ini_free(*p); }
#define _cleanup_ini_ __attribute__((cleanup(ini_freep)))
