/*
 * s3xml.h: parsers of the XML documents S3 answers with.
 *
 * Every document goes through one expat parser with hard limits: body size
 * (S3XML_BODY_MAX), nesting depth, text per element, number of items.  A
 * document type declaration (hence any entity) is refused outright, so no
 * entity expansion or external fetch can happen.  Element names are matched
 * without namespace processing (S3 uses a default namespace, no prefixes).
 * Parsed strings are copies owned by the result; *_done() frees them.
 * Fuzzed by tests/fuzz/fuzz-s3-xml.c.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest XML response body we read. */
#define S3XML_BODY_MAX (1024U * 1024U)
/* Longest text of one element (S3 keys are at most 1024 bytes). */
#define S3XML_TEXT_MAX 4096U
/* Deepest nesting accepted. */
#define S3XML_DEPTH_MAX 16U
/* Most items (objects, uploads, delete errors) in one document. */
#define S3XML_ITEMS_MAX 10000U

/* An S3 error document (<Error>), truncated to these sizes. */
struct s3xml_error {
	char code[64];        /* <Code>, e.g. "NoSuchKey" */
	char message[256];    /* <Message> */
	char request_id[96];  /* <RequestId> */
	char key[256];        /* <Key>, when given */
};

/* One object of a listing (ListObjectsV2 <Contents>). */
struct s3_object {
	char *key;             /* object key */
	uint64_t size;         /* bytes */
	int64_t last_modified; /* Unix seconds, 0 when absent */
	char *etag;            /* as sent (quoted), may be NULL */
};

/* A ListObjectsV2 page. */
struct s3xml_list {
	struct s3_object *objects; /* n_objects entries */
	size_t n_objects;          /* objects on this page */
	bool truncated;            /* <IsTruncated>true */
	char *next_token;          /* <NextContinuationToken>, NULL when none */
};

/* One incomplete multipart upload (ListMultipartUploads <Upload>). */
struct s3xml_upload {
	char *key;         /* object key */
	char *upload_id;   /* <UploadId> */
	int64_t initiated; /* Unix seconds, 0 when absent */
};

/* A ListMultipartUploads page. */
struct s3xml_uploads {
	struct s3xml_upload *uploads; /* n_uploads entries */
	size_t n_uploads;             /* uploads on this page */
	bool truncated;               /* <IsTruncated>true */
	char *next_key_marker;        /* <NextKeyMarker> */
	char *next_upload_id_marker;  /* <NextUploadIdMarker> */
};

/* A DeleteObjects result: how many keys failed, and the first failure. */
struct s3xml_delete {
	size_t n_deleted;          /* <Deleted> entries */
	size_t n_errors;           /* <Error> entries */
	struct s3xml_error first;  /* the first <Error>, when n_errors > 0 */
};

/* Each parser: 0 on success; -EBADMSG when the body is not well-formed XML
 * or not the expected document, -EPERM when it declares a DTD/entities,
 * -E2BIG when a limit above is passed, -ENOMEM.  Outputs written only on
 * success. */

/* An <Error> document. */
int s3xml_parse_error(const char *xml, size_t len, struct s3xml_error *ret);

/* <InitiateMultipartUploadResult>: *ret_upload_id (free()). */
int s3xml_parse_initiate(const char *xml, size_t len, char **ret_upload_id);

/* The body of a 200 answer to CompleteMultipartUpload: 0 for
 * <CompleteMultipartUploadResult>; for an <Error> document (S3 may fail
 * after it sent 200) returns -EREMOTEIO and fills *ret_err. */
int s3xml_parse_complete(const char *xml, size_t len, struct s3xml_error *ret_err);

/* <ListBucketResult> (ListObjectsV2). */
int s3xml_parse_list(const char *xml, size_t len, struct s3xml_list *ret);
void s3xml_list_done(struct s3xml_list *l);

/* <ListMultipartUploadsResult>. */
int s3xml_parse_uploads(const char *xml, size_t len, struct s3xml_uploads *ret);
void s3xml_uploads_done(struct s3xml_uploads *u);

/* <DeleteResult>. */
int s3xml_parse_delete(const char *xml, size_t len, struct s3xml_delete *ret);

/* "2009-10-12T17:50:30.000Z" → Unix seconds; -EINVAL when malformed. */
int s3xml_parse_time(const char *s, int64_t *ret);
