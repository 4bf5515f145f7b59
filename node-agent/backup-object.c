/*
 * backup-object.c: bstream over S3, both directions (see backup-object.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup-object.h"
#include "bstream.h"
#include "exec.h"
#include "macro.h"

struct backup_put {
	struct s3_client *client;
	struct bstream_writer *w;
	struct s3_upload *u;
	struct s3_error err;
	int s3_r;         /* the upload's error, seen through the writer's callback */
	char *name;
};

#define OBJ_FAIL(r, ...)                                                       \
	({                                                                     \
		if (ret_message && !*ret_message)                              \
			*ret_message = exec_message(__VA_ARGS__);                   \
		(r);                                                           \
	})

char *backup_s3_message(const char *what, const struct s3_error *e, int r)
{
	char buf[S3_ERROR_TEXT_MAX];

	if (e && (e->op[0] || e->http_status))
		return exec_message("%s: %s", what, s3_error_format(e, buf, sizeof(buf)));
	return exec_message("%s: %s", what, strerror(-r));
}

static int put_out(void *ud, const void *buf, size_t len)
{
	struct backup_put *p = ud;
	int r = s3_upload_write(p->u, buf, len, &p->err);

	if (r < 0)
		p->s3_r = r;
	return r;
}

int backup_put_begin(struct s3_client *c, const struct backup_target *t, const char *name, struct backup_put **ret,
		     char **ret_message)
{
	_cleanup_free_ char *key = backup_object_key(t, name);
	struct bstream_options o = { .level = t->level };
	struct backup_put *p;
	int r;

	if (!key)
		return -ENOMEM;
	p = calloc(1, sizeof(*p));
	if (!p || !(p->name = strdup(name))) {
		free(p);
		return -ENOMEM;
	}
	p->client = c;
	r = s3_upload_begin(c, key, &p->u);
	if (r < 0) {
		backup_put_free(p);
		return OBJ_FAIL(r, "cannot start the upload of %s: %s", name, strerror(-r));
	}
	r = bstream_writer_new(t->data_key, name, &o, put_out, p, &p->w);
	if (r < 0) {
		if (ret_message && !*ret_message)
			*ret_message = p->s3_r ? backup_s3_message(name, &p->err, r)
					       : exec_message("cannot start the stream of %s: %s", name, strerror(-r));
		backup_put_free(p);
		return r;
	}
	*ret = p;
	return 0;
}

int backup_put_write(struct backup_put *p, const void *buf, size_t len, char **ret_message)
{
	int r = bstream_write(p->w, buf, len);

	if (r < 0) {
		if (ret_message && !*ret_message)
			*ret_message = p->s3_r ? backup_s3_message(p->name, &p->err, r)
					       : exec_message("cannot write the stream of %s: %s", p->name, strerror(-r));
		return r;
	}
	return 0;
}

int backup_put_finish(struct backup_put *p, uint64_t *ret_plain, uint64_t *ret_stored, char **ret_message)
{
	int r = bstream_finish(p->w);

	if (r >= 0)
		r = s3_upload_finish(p->u, &p->err);
	else if (!p->s3_r)
		return OBJ_FAIL(r, "cannot seal the stream of %s: %s", p->name, strerror(-r));
	if (r < 0) {
		if (ret_message && !*ret_message)
			*ret_message = backup_s3_message(p->name, &p->err, r);
		return r;
	}
	bstream_writer_stats(p->w, ret_plain, ret_stored);
	return 0;
}

void backup_put_free(struct backup_put *p)
{
	if (!p)
		return;
	bstream_writer_free(p->w);
	s3_upload_free(p->u);
	free(p->name);
	free(p);
}

int backup_put_buffer(struct s3_client *c, const struct backup_target *t, const char *name, const void *buf,
		      size_t len, char **ret_message)
{
	_cleanup_free_ char *key = backup_object_key(t, name);
	_cleanup_free_ uint8_t *sealed = NULL;
	struct bstream_options o = { .level = t->level };
	struct s3_error err = { 0 };
	size_t sealed_len = 0;
	int r;

	if (!key)
		return -ENOMEM;
	r = bstream_seal_buffer(t->data_key, name, &o, buf, len, &sealed, &sealed_len);
	if (r < 0)
		return OBJ_FAIL(r, "cannot seal %s: %s", name, strerror(-r));
	r = s3_put(c, key, sealed, sealed_len, &err);
	if (r < 0) {
		if (ret_message && !*ret_message)
			*ret_message = backup_s3_message(name, &err, r);
		return r;
	}
	return 0;
}

struct get_state {
	struct bstream_reader *r;
	uint64_t stored;
};

static int get_in(void *ud, const void *buf, size_t len)
{
	struct get_state *g = ud;

	g->stored += len;
	return bstream_feed(g->r, buf, len);
}

int backup_get(struct s3_client *c, const struct backup_target *t, const char *name,
	       int (*sink)(void *ud, const void *buf, size_t len), void *ud, uint64_t *ret_stored,
	       char **ret_message)
{
	_cleanup_free_ char *key = backup_object_key(t, name);
	_cleanup_bstream_reader_ struct bstream_reader *reader = NULL;
	struct s3_error err = { 0 };
	struct get_state g = { 0 };
	int r;

	if (!key)
		return -ENOMEM;
	r = bstream_reader_new(t->data_key, name, sink, ud, &reader);
	if (r < 0)
		return OBJ_FAIL(r, "cannot read %s: %s", name, strerror(-r));
	g.r = reader;
	r = s3_download(c, key, get_in, &g, &err);
	if (r == -ENOENT && !bstream_reader_error(reader) && g.stored == 0)
		return -ENOENT;
	if (r >= 0)
		r = bstream_reader_finish(reader);
	if (r < 0) {
		if (ret_message && !*ret_message) {
			if (bstream_reader_error(reader))
				*ret_message = exec_message("%s: %s", name, bstream_reader_error(reader));
			else if (err.op[0] || err.http_status)
				*ret_message = backup_s3_message(name, &err, r);
			else
				*ret_message = exec_message("%s: %s", name, strerror(-r));
		}
		return r;
	}
	if (ret_stored)
		*ret_stored = g.stored;
	return 0;
}

struct get_buf {
	char *data;
	size_t len, max;
};

static int get_buf_sink(void *ud, const void *buf, size_t len)
{
	struct get_buf *b = ud;
	char *n;

	if (len > b->max - b->len)
		return -EFBIG;
	n = realloc(b->data, b->len + len + 1);
	if (!n)
		return -ENOMEM;
	b->data = n;
	memcpy(b->data + b->len, buf, len);
	b->len += len;
	b->data[b->len] = 0;
	return 0;
}

int backup_get_buffer(struct s3_client *c, const struct backup_target *t, const char *name, size_t max,
		      char **ret, size_t *ret_len, char **ret_message)
{
	struct get_buf b = { .max = max };
	int r = backup_get(c, t, name, get_buf_sink, &b, NULL, ret_message);

	if (r >= 0 && !b.data)
		b.data = calloc(1, 1);
	if (r >= 0 && !b.data)
		r = -ENOMEM;
	if (r < 0) {
		free(b.data);
		return r;
	}
	*ret = b.data;
	if (ret_len)
		*ret_len = b.len;
	return 0;
}
