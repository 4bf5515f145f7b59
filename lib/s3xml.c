/*
 * s3xml.c: bounded expat parsers of S3's XML answers (see s3xml.h).
 *
 * One walker drives expat and keeps the element stack (names only) and the
 * text of the current element; each document type supplies a start and an
 * end callback that look at (depth, name, parent) and copy what they need.
 * Any limit passed, any DOCTYPE, any entity declaration stops the parser.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <expat.h>

#include "macro.h"
#include "s3xml.h"
#include "util.h"

#define NAME_MAX_LEN 64

struct walk {
	XML_Parser parser;             /* the expat parser */
	char names[S3XML_DEPTH_MAX][NAME_MAX_LEN]; /* element stack */
	unsigned depth;                /* elements open */
	char text[S3XML_TEXT_MAX + 1]; /* text of the innermost element */
	size_t text_len;               /* bytes in text */
	int err;                       /* first error, stops the parse */
	char root[NAME_MAX_LEN];       /* name of the document element */
	/* Callbacks of the document type; depth counts from 1 (the root). */
	int (*on_start)(struct walk *w, unsigned depth, const char *name, const char *parent);
	int (*on_end)(struct walk *w, unsigned depth, const char *name, const char *parent, const char *text);
	void *ud; /* the document type's state */
};

static void walk_fail(struct walk *w, int err)
{
	if (!w->err)
		w->err = err;
	XML_StopParser(w->parser, XML_FALSE);
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
	struct walk *w = ud;
	int r;

	(void)attrs;
	if (w->err)
		return;
	if (w->depth >= S3XML_DEPTH_MAX) {
		walk_fail(w, -E2BIG);
		return;
	}
	snprintf(w->names[w->depth], NAME_MAX_LEN, "%s", name);
	if (w->depth == 0)
		snprintf(w->root, sizeof(w->root), "%s", name);
	w->depth++;
	w->text_len = 0;
	w->text[0] = '\0';
	if (w->on_start) {
		r = w->on_start(w, w->depth, w->names[w->depth - 1], w->depth > 1 ? w->names[w->depth - 2] : "");
		if (r < 0)
			walk_fail(w, r);
	}
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
	struct walk *w = ud;
	int r;

	(void)name;
	if (w->err || w->depth == 0)
		return;
	if (w->on_end) {
		r = w->on_end(w, w->depth, w->names[w->depth - 1], w->depth > 1 ? w->names[w->depth - 2] : "",
			      w->text);
		if (r < 0)
			walk_fail(w, r);
	}
	w->depth--;
	w->text_len = 0;
	w->text[0] = '\0';
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len)
{
	struct walk *w = ud;

	if (w->err || len <= 0)
		return;
	if (w->text_len + (size_t)len > S3XML_TEXT_MAX) {
		walk_fail(w, -E2BIG);
		return;
	}
	memcpy(w->text + w->text_len, s, (size_t)len);
	w->text_len += (size_t)len;
	w->text[w->text_len] = '\0';
}

static void XMLCALL on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid, const XML_Char *pubid,
			       int has_internal_subset)
{
	(void)name;
	(void)sysid;
	(void)pubid;
	(void)has_internal_subset;
	walk_fail(ud, -EPERM);
}

static void XMLCALL on_entity(void *ud, const XML_Char *name, int is_param, const XML_Char *value, int value_len,
			      const XML_Char *base, const XML_Char *sysid, const XML_Char *pubid,
			      const XML_Char *notation)
{
	(void)name;
	(void)is_param;
	(void)value;
	(void)value_len;
	(void)base;
	(void)sysid;
	(void)pubid;
	(void)notation;
	walk_fail(ud, -EPERM);
}

/* Runs the walker over xml; expected_root NULL accepts any root. */
static int walk_run(struct walk *w, const char *xml, size_t len, const char *expected_root)
{
	XML_Parser p;
	enum XML_Status st;

	if (!xml || len == 0)
		return -EBADMSG;
	if (len > S3XML_BODY_MAX)
		return -E2BIG;
	p = XML_ParserCreate("UTF-8");
	if (!p)
		return -ENOMEM;
	w->parser = p;
	XML_SetUserData(p, w);
	XML_SetElementHandler(p, on_start, on_end);
	XML_SetCharacterDataHandler(p, on_text);
	XML_SetStartDoctypeDeclHandler(p, on_doctype);
	XML_SetEntityDeclHandler(p, on_entity);
	XML_SetParamEntityParsing(p, XML_PARAM_ENTITY_PARSING_NEVER);
	st = XML_Parse(p, xml, (int)len, XML_TRUE);
	XML_ParserFree(p);
	w->parser = NULL;
	if (w->err)
		return w->err;
	if (st != XML_STATUS_OK)
		return -EBADMSG;
	if (expected_root && strcmp(w->root, expected_root) != 0)
		return -EBADMSG;
	return 0;
}

static int dup_text(char **dst, const char *text)
{
	char *d = strdup(text);

	if (!d)
		return -ENOMEM;
	free(*dst);
	*dst = d;
	return 0;
}

int s3xml_parse_time(const char *s, int64_t *ret)
{
	struct tm tm = { 0 };
	const char *e;
	time_t t;

	if (!s)
		return -EINVAL;
	e = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!e)
		return -EINVAL;
	if (*e == '.') {
		e++;
		while (*e >= '0' && *e <= '9')
			e++;
	}
	if (strcmp(e, "Z") != 0)
		return -EINVAL;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return -EINVAL;
	*ret = (int64_t)t;
	return 0;
}

static int parse_u64(const char *s, uint64_t *ret)
{
	int64_t v;
	int r = parse_int64(s, 0, INT64_MAX, &v);

	if (r < 0)
		return -EBADMSG;
	*ret = (uint64_t)v;
	return 0;
}

/* ---- <Error> ---- */

static void error_field(struct s3xml_error *e, const char *name, const char *text)
{
	if (strcmp(name, "Code") == 0)
		snprintf(e->code, sizeof(e->code), "%s", text);
	else if (strcmp(name, "Message") == 0)
		snprintf(e->message, sizeof(e->message), "%s", text);
	else if (strcmp(name, "RequestId") == 0)
		snprintf(e->request_id, sizeof(e->request_id), "%s", text);
	else if (strcmp(name, "Key") == 0)
		snprintf(e->key, sizeof(e->key), "%s", text);
}

static int error_end(struct walk *w, unsigned depth, const char *name, const char *parent, const char *text)
{
	(void)parent;
	if (depth == 2 && strcmp(w->root, "Error") == 0)
		error_field(w->ud, name, text);
	return 0;
}

int s3xml_parse_error(const char *xml, size_t len, struct s3xml_error *ret)
{
	struct s3xml_error e = { 0 };
	struct walk w = { .on_end = error_end, .ud = &e };
	int r = walk_run(&w, xml, len, "Error");

	if (r < 0)
		return r;
	*ret = e;
	return 0;
}

/* ---- <InitiateMultipartUploadResult> ---- */

static int initiate_end(struct walk *w, unsigned depth, const char *name, const char *parent, const char *text)
{
	(void)parent;
	if (depth == 2 && strcmp(name, "UploadId") == 0)
		return dup_text(w->ud, text);
	return 0;
}

int s3xml_parse_initiate(const char *xml, size_t len, char **ret_upload_id)
{
	char *id = NULL;
	struct walk w = { .on_end = initiate_end, .ud = &id };
	int r = walk_run(&w, xml, len, "InitiateMultipartUploadResult");

	if (r >= 0 && (!id || id[0] == '\0'))
		r = -EBADMSG;
	if (r < 0) {
		free(id);
		return r;
	}
	*ret_upload_id = id;
	return 0;
}

/* ---- CompleteMultipartUpload ---- */

int s3xml_parse_complete(const char *xml, size_t len, struct s3xml_error *ret_err)
{
	struct s3xml_error e = { 0 };
	struct walk w = { .on_end = error_end, .ud = &e };
	int r = walk_run(&w, xml, len, NULL);

	if (r < 0)
		return r;
	if (strcmp(w.root, "CompleteMultipartUploadResult") == 0)
		return 0;
	if (strcmp(w.root, "Error") == 0) {
		*ret_err = e;
		return -EREMOTEIO;
	}
	return -EBADMSG;
}

/* ---- <ListBucketResult> ---- */

static int list_start(struct walk *w, unsigned depth, const char *name, const char *parent)
{
	struct s3xml_list *l = w->ud;
	struct s3_object *n;

	(void)parent;
	if (depth != 2 || strcmp(name, "Contents") != 0)
		return 0;
	if (l->n_objects >= S3XML_ITEMS_MAX)
		return -E2BIG;
	n = reallocarray(l->objects, l->n_objects + 1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	l->objects = n;
	memset(&n[l->n_objects++], 0, sizeof(*n));
	return 0;
}

static int list_end(struct walk *w, unsigned depth, const char *name, const char *parent, const char *text)
{
	struct s3xml_list *l = w->ud;

	if (depth == 2) {
		if (strcmp(name, "IsTruncated") == 0)
			l->truncated = strcmp(text, "true") == 0;
		else if (strcmp(name, "NextContinuationToken") == 0)
			return dup_text(&l->next_token, text);
		else if (strcmp(name, "Contents") == 0 && !l->objects[l->n_objects - 1].key)
			return -EBADMSG;
		return 0;
	}
	if (depth == 3 && strcmp(parent, "Contents") == 0 && l->n_objects > 0) {
		struct s3_object *o = &l->objects[l->n_objects - 1];

		if (strcmp(name, "Key") == 0)
			return dup_text(&o->key, text);
		if (strcmp(name, "Size") == 0)
			return parse_u64(text, &o->size);
		if (strcmp(name, "ETag") == 0)
			return dup_text(&o->etag, text);
		if (strcmp(name, "LastModified") == 0)
			return s3xml_parse_time(text, &o->last_modified) < 0 ? -EBADMSG : 0;
	}
	return 0;
}

void s3xml_list_done(struct s3xml_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n_objects; i++) {
		free(l->objects[i].key);
		free(l->objects[i].etag);
	}
	free(l->objects);
	free(l->next_token);
	memset(l, 0, sizeof(*l));
}

int s3xml_parse_list(const char *xml, size_t len, struct s3xml_list *ret)
{
	struct s3xml_list l = { 0 };
	struct walk w = { .on_start = list_start, .on_end = list_end, .ud = &l };
	int r = walk_run(&w, xml, len, "ListBucketResult");

	/* A truncated page must say where to go on, or the caller would loop. */
	if (r >= 0 && l.truncated && (!l.next_token || !l.next_token[0]))
		r = -EBADMSG;
	if (r < 0) {
		s3xml_list_done(&l);
		return r;
	}
	*ret = l;
	return 0;
}

/* ---- <ListMultipartUploadsResult> ---- */

static int uploads_start(struct walk *w, unsigned depth, const char *name, const char *parent)
{
	struct s3xml_uploads *u = w->ud;
	struct s3xml_upload *n;

	(void)parent;
	if (depth != 2 || strcmp(name, "Upload") != 0)
		return 0;
	if (u->n_uploads >= S3XML_ITEMS_MAX)
		return -E2BIG;
	n = reallocarray(u->uploads, u->n_uploads + 1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	u->uploads = n;
	memset(&n[u->n_uploads++], 0, sizeof(*n));
	return 0;
}

static int uploads_end(struct walk *w, unsigned depth, const char *name, const char *parent, const char *text)
{
	struct s3xml_uploads *u = w->ud;

	if (depth == 2) {
		if (strcmp(name, "IsTruncated") == 0)
			u->truncated = strcmp(text, "true") == 0;
		else if (strcmp(name, "NextKeyMarker") == 0)
			return dup_text(&u->next_key_marker, text);
		else if (strcmp(name, "NextUploadIdMarker") == 0)
			return dup_text(&u->next_upload_id_marker, text);
		else if (strcmp(name, "Upload") == 0 &&
			 (!u->uploads[u->n_uploads - 1].key || !u->uploads[u->n_uploads - 1].upload_id))
			return -EBADMSG;
		return 0;
	}
	if (depth == 3 && strcmp(parent, "Upload") == 0 && u->n_uploads > 0) {
		struct s3xml_upload *x = &u->uploads[u->n_uploads - 1];

		if (strcmp(name, "Key") == 0)
			return dup_text(&x->key, text);
		if (strcmp(name, "UploadId") == 0)
			return dup_text(&x->upload_id, text);
		if (strcmp(name, "Initiated") == 0)
			return s3xml_parse_time(text, &x->initiated) < 0 ? -EBADMSG : 0;
	}
	return 0;
}

void s3xml_uploads_done(struct s3xml_uploads *u)
{
	if (!u)
		return;
	for (size_t i = 0; i < u->n_uploads; i++) {
		free(u->uploads[i].key);
		free(u->uploads[i].upload_id);
	}
	free(u->uploads);
	free(u->next_key_marker);
	free(u->next_upload_id_marker);
	memset(u, 0, sizeof(*u));
}

int s3xml_parse_uploads(const char *xml, size_t len, struct s3xml_uploads *ret)
{
	struct s3xml_uploads u = { 0 };
	struct walk w = { .on_start = uploads_start, .on_end = uploads_end, .ud = &u };
	int r = walk_run(&w, xml, len, "ListMultipartUploadsResult");

	if (r >= 0 && u.truncated && (!u.next_key_marker || !u.next_key_marker[0]))
		r = -EBADMSG;
	if (r < 0) {
		s3xml_uploads_done(&u);
		return r;
	}
	*ret = u;
	return 0;
}

/* ---- <DeleteResult> ---- */

static int delete_end(struct walk *w, unsigned depth, const char *name, const char *parent, const char *text)
{
	struct s3xml_delete *d = w->ud;

	if (depth == 2) {
		if (strcmp(name, "Deleted") == 0)
			d->n_deleted++;
		else if (strcmp(name, "Error") == 0)
			d->n_errors++;
		return 0;
	}
	if (depth == 3 && strcmp(parent, "Error") == 0 && d->n_errors == 0)
		error_field(&d->first, name, text);
	return 0;
}

int s3xml_parse_delete(const char *xml, size_t len, struct s3xml_delete *ret)
{
	struct s3xml_delete d = { 0 };
	struct walk w = { .on_end = delete_end, .ud = &d };
	int r = walk_run(&w, xml, len, "DeleteResult");

	if (r < 0)
		return r;
	*ret = d;
	return 0;
}
