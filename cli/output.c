/*
 * output.c: tables and values for people.  Widths count bytes of cleaned
 * text, which is right for the ASCII the API mostly returns and merely
 * ragged for other UTF-8.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "output.h"

struct ctl_table {
	size_t ncols;
	size_t widths[CTL_TABLE_COLUMNS_MAX];
	char **cells;  /* rows * ncols, row 0 = headers */
	size_t rows;
};

/* Copies with control characters replaced and length capped. */
static char *ctl_clean_max(const char *s, size_t max)
{
	size_t n = strlen(s), cut = n > max ? max : n;
	char *o = malloc(cut + 4), *p = o;

	if (!o)
		return NULL;
	for (size_t i = 0; i < cut; i++)
		*p++ = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? ' ' : s[i];
	if (cut < n) {
		/* Do not split a UTF-8 sequence. */
		while (p > o && ((unsigned char)p[-1] & 0xC0) == 0x80)
			p--;
		if (p > o && ((unsigned char)p[-1] & 0xC0) == 0xC0)
			p--;
		memcpy(p, "...", 3);
		p += 3;
	}
	*p = 0;
	return o;
}

static char *ctl_clean(const char *s)
{
	return ctl_clean_max(s, CTL_CELL_MAX);
}

struct ctl_table *ctl_table_new(size_t ncols, const char *const *headers)
{
	struct ctl_table *t;

	if (ncols == 0 || ncols > CTL_TABLE_COLUMNS_MAX)
		return NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->ncols = ncols;
	if (ctl_table_add(t, headers) < 0) {
		ctl_table_free(t);
		return NULL;
	}
	return t;
}

int ctl_table_add(struct ctl_table *t, const char *const *cells)
{
	char **c = reallocarray(t->cells, (t->rows + 1) * t->ncols, sizeof(char *));

	if (!c)
		return -ENOMEM;
	t->cells = c;
	for (size_t i = 0; i < t->ncols; i++) {
		char *v = ctl_clean(cells[i] ? cells[i] : "-");

		if (!v) {
			for (size_t j = 0; j < i; j++)
				free(t->cells[t->rows * t->ncols + j]);
			return -ENOMEM;
		}
		t->cells[t->rows * t->ncols + i] = v;
		t->widths[i] = MAX(t->widths[i], strlen(v));
	}
	t->rows++;
	return 0;
}

void ctl_table_print(const struct ctl_table *t, FILE *f)
{
	for (size_t r = 0; r < t->rows; r++) {
		for (size_t i = 0; i < t->ncols; i++) {
			const char *v = t->cells[r * t->ncols + i];

			if (i + 1 == t->ncols)
				fprintf(f, "%s", v);
			else
				fprintf(f, "%-*s  ", (int)t->widths[i], v);
		}
		fputc('\n', f);
	}
}

void ctl_table_free(struct ctl_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->rows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
}

char *ctl_text(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	char *s = NULL;

	if (!v || json_is_null(v))
		return strdup("-");
	if (json_is_string(v))
		return ctl_clean(json_string_value(v));
	if (json_is_integer(v)) {
		if (asprintf(&s, "%" JSON_INTEGER_FORMAT, json_integer_value(v)) < 0)
			return NULL;
		return s;
	}
	if (json_is_real(v)) {
		if (asprintf(&s, "%g", json_real_value(v)) < 0)
			return NULL;
		return s;
	}
	if (json_is_boolean(v))
		return strdup(json_is_true(v) ? "true" : "false");
	s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	if (!s)
		return NULL;
	char *c = ctl_clean(s);
	free(s);
	return c;
}

void ctl_kv(FILE *f, int width, const char *key, const char *value)
{
	_cleanup_free_ char *v = ctl_clean_max(value ? value : "-", CTL_VALUE_MAX);

	fprintf(f, "%-*s %s\n", width, key, v ? v : "");
}

void ctl_print_json(json_t *v, FILE *f)
{
	json_dumpf(v, f, JSON_INDENT(2) | JSON_ENCODE_ANY);
	fputc('\n', f);
}

int ctl_print_rows(json_t *rows, size_t ncols, const char *const *headers, const char *const *keys,
		   FILE *f)
{
	_cleanup_ctl_table_ struct ctl_table *t = NULL;
	json_t *row;
	size_t i;
	int r = 0;

	if (ncols > CTL_TABLE_COLUMNS_MAX)
		return -EINVAL;
	t = ctl_table_new(ncols, headers);
	if (!t)
		return -ENOMEM;
	json_array_foreach(rows, i, row) {
		char *cells[CTL_TABLE_COLUMNS_MAX];

		for (size_t k = 0; k < ncols; k++)
			cells[k] = ctl_text(row, keys[k]);
		if (ctl_table_add(t, (const char *const *)cells) < 0)
			r = -ENOMEM;
		for (size_t k = 0; k < ncols; k++)
			free(cells[k]);
		if (r < 0)
			return r;
	}
	ctl_table_print(t, f);
	return 0;
}
