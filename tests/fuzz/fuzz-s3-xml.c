/*
 * fuzz-s3-xml.c: libFuzzer target for lib/s3xml: the same bytes go to every
 * parser of S3's answers.  Invariants checked with abort(): a parser either
 * refuses with one of its documented errors or returns a result whose
 * strings are NUL-terminated within the limits; results free cleanly.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "s3xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_rc(int r)
{
	if (r < 0 && r != -EBADMSG && r != -EPERM && r != -E2BIG && r != -ENOMEM && r != -EREMOTEIO)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *xml = (const char *)data;
	struct s3xml_error e;
	struct s3xml_list l;
	struct s3xml_uploads u;
	struct s3xml_delete d;
	char *id = NULL;
	int r;

	r = s3xml_parse_error(xml, size, &e);
	check_rc(r);
	if (r == 0 && (strlen(e.code) >= sizeof(e.code) || strlen(e.message) >= sizeof(e.message)))
		abort();
	r = s3xml_parse_initiate(xml, size, &id);
	check_rc(r);
	if (r == 0 && (!id || !id[0]))
		abort();
	free(id);
	check_rc(s3xml_parse_complete(xml, size, &e));
	r = s3xml_parse_list(xml, size, &l);
	check_rc(r);
	if (r == 0) {
		if (l.truncated && !l.next_token)
			abort();
		for (size_t i = 0; i < l.n_objects; i++)
			if (!l.objects[i].key)
				abort();
		s3xml_list_done(&l);
	}
	r = s3xml_parse_uploads(xml, size, &u);
	check_rc(r);
	if (r == 0) {
		for (size_t i = 0; i < u.n_uploads; i++)
			if (!u.uploads[i].key || !u.uploads[i].upload_id)
				abort();
		s3xml_uploads_done(&u);
	}
	check_rc(s3xml_parse_delete(xml, size, &d));
	return 0;
}
