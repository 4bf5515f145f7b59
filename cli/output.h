/*
 * output.h: how cairnctl prints: aligned tables and "key: value" blocks for
 * text, the API's own JSON for --output json.  Every string from the API
 * is cleaned of control characters before it reaches a terminal.
 */
#pragma once

#include <stdio.h>

#include <jansson.h>

#define CTL_TABLE_COLUMNS_MAX 16
#define CTL_CELL_MAX 256    /* longer table cells are cut with "..." */
#define CTL_VALUE_MAX 8192  /* longer key: value values are cut */

struct ctl_table;

/* A table with `ncols` columns named by `headers`.  NULL on ENOMEM. */
struct ctl_table *ctl_table_new(size_t ncols, const char *const *headers);
/* Adds a row of ncols cells (NULL shows as "-").  Returns 0 or -ENOMEM. */
int ctl_table_add(struct ctl_table *t, const char *const *cells);
/* Prints headers and rows, columns padded to the widest cell, two spaces apart. */
void ctl_table_print(const struct ctl_table *t, FILE *f);
void ctl_table_free(struct ctl_table *t);
static inline void ctl_table_freep(struct ctl_table **p) { ctl_table_free(*p); }
#define _cleanup_ctl_table_ __attribute__((cleanup(ctl_table_freep)))

/* Text of a member for display: strings as they are (cleaned), integers and
 * reals formatted, booleans true/false, null/absent "-", objects and arrays
 * as compact JSON.  Heap string or NULL. */
char *ctl_text(json_t *obj, const char *key);

/* Prints "key:" padded to `width`, then the value (cleaned). */
void ctl_kv(FILE *f, int width, const char *key, const char *value);

/* Prints the array `rows` (objects) as a table: column i is headed
 * headers[i] and shows member keys[i] of each row (via ctl_text).
 * Returns 0, or -ENOMEM. */
int ctl_print_rows(json_t *rows, size_t ncols, const char *const *headers, const char *const *keys,
		   FILE *f);

/* Pretty JSON followed by a newline. */
void ctl_print_json(json_t *v, FILE *f);
