/*
 * test-s3xml.c: lib/s3xml over documents shaped like S3's real answers
 * (error documents, listings with continuation, multipart answers, delete
 * results) and over hostile ones: truncated, oversize, too deep, DTDs and
 * entities (refused before any expansion).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "macro.h"
#include "s3xml.h"

#define S(x) x, strlen(x)

static void test_error(void **state)
{
	struct s3xml_error e;

	(void)state;
	assert_int_equal(s3xml_parse_error(S("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
					     "<Error><Code>NoSuchKey</Code><Message>The resource you requested "
					     "does not exist</Message><Key>a/b.txt</Key>"
					     "<RequestId>4442587FB7D0A2F9</RequestId><HostId>x</HostId></Error>"),
					   &e),
			 0);
	assert_string_equal(e.code, "NoSuchKey");
	assert_string_equal(e.message, "The resource you requested does not exist");
	assert_string_equal(e.request_id, "4442587FB7D0A2F9");
	assert_string_equal(e.key, "a/b.txt");
	/* Entities of XML itself are fine. */
	assert_int_equal(s3xml_parse_error(S("<Error><Code>X</Code><Message>a &amp; b &lt;c&gt;</Message></Error>"),
					   &e),
			 0);
	assert_string_equal(e.message, "a & b <c>");
	/* An overlong message is truncated, not refused. */
	{
		char doc[2000] = "<Error><Message>";
		size_t n = strlen(doc);

		memset(doc + n, 'm', 1000);
		memcpy(doc + n + 1000, "</Message></Error>", sizeof("</Message></Error>"));
		assert_int_equal(s3xml_parse_error(S(doc), &e), 0);
		assert_int_equal(strlen(e.message), sizeof(e.message) - 1);
	}
	/* Not an error document, truncated, empty. */
	assert_int_equal(s3xml_parse_error(S("<Other/>"), &e), -EBADMSG);
	assert_int_equal(s3xml_parse_error(S("<Error><Code>X</Code>"), &e), -EBADMSG);
	assert_int_equal(s3xml_parse_error("", 0, &e), -EBADMSG);
	assert_int_equal(s3xml_parse_error(S("not xml"), &e), -EBADMSG);
}

static void test_refusals(void **state)
{
	struct s3xml_error e;
	char *big;

	(void)state;
	/* Any DTD, internal entity (billion laughs) or external entity. */
	assert_int_equal(s3xml_parse_error(S("<!DOCTYPE Error><Error><Code>X</Code></Error>"), &e), -EPERM);
	assert_int_equal(s3xml_parse_error(S("<!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 "
					     "\"&lol;&lol;&lol;&lol;\">]><Error><Code>&lol2;</Code></Error>"),
					   &e),
			 -EPERM);
	assert_int_equal(s3xml_parse_error(S("<!DOCTYPE x [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>"
					     "<Error><Code>&xxe;</Code></Error>"),
					   &e),
			 -EPERM);
	/* Undeclared entity. */
	assert_int_equal(s3xml_parse_error(S("<Error><Code>&foo;</Code></Error>"), &e), -EBADMSG);
	/* Oversize body. */
	big = calloc(1, S3XML_BODY_MAX + 2);
	assert_non_null(big);
	memset(big, ' ', S3XML_BODY_MAX + 1);
	assert_int_equal(s3xml_parse_error(big, S3XML_BODY_MAX + 1, &e), -E2BIG);
	/* Text over S3XML_TEXT_MAX in one element. */
	memcpy(big, "<Error><Code>", 13);
	memset(big + 13, 'c', S3XML_TEXT_MAX + 1);
	memcpy(big + 13 + S3XML_TEXT_MAX + 1, "</Code></Error>", sizeof("</Code></Error>"));
	assert_int_equal(s3xml_parse_error(S(big), &e), -E2BIG);
	/* Too deep. */
	for (unsigned i = 0; i < S3XML_DEPTH_MAX + 1; i++)
		memcpy(big + 3 * i, "<a>", 4);
	assert_int_equal(s3xml_parse_error(S(big), &e), -E2BIG);
	free(big);
}

static void test_list(void **state)
{
	struct s3xml_list l;
	const char *page1 =
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>bucket</Name>"
		"<Prefix>b/</Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys><IsTruncated>true</IsTruncated>"
		"<Contents><Key>b/one</Key><LastModified>2009-10-12T17:50:30.000Z</LastModified>"
		"<ETag>&quot;fba9dede5f27731c9771645a39863328&quot;</ETag><Size>434234</Size>"
		"<StorageClass>STANDARD</StorageClass></Contents>"
		"<Contents><Key>b/two &amp; more</Key><LastModified>2009-10-12T17:50:31Z</LastModified>"
		"<Size>0</Size></Contents>"
		"<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>"
		"</ListBucketResult>";

	(void)state;
	assert_int_equal(s3xml_parse_list(S(page1), &l), 0);
	assert_int_equal(l.n_objects, 2);
	assert_true(l.truncated);
	assert_string_equal(l.next_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
	assert_string_equal(l.objects[0].key, "b/one");
	assert_int_equal(l.objects[0].size, 434234);
	assert_int_equal(l.objects[0].last_modified, 1255369830);
	assert_string_equal(l.objects[0].etag, "\"fba9dede5f27731c9771645a39863328\"");
	assert_string_equal(l.objects[1].key, "b/two & more");
	assert_int_equal(l.objects[1].size, 0);
	s3xml_list_done(&l);

	assert_int_equal(s3xml_parse_list(S("<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>"), &l),
			 0);
	assert_int_equal(l.n_objects, 0);
	assert_false(l.truncated);
	s3xml_list_done(&l);
	/* Truncated without a token would loop forever: refused. */
	assert_int_equal(s3xml_parse_list(S("<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>"), &l),
			 -EBADMSG);
	/* Bad size, object without key, wrong root, truncated document. */
	assert_int_equal(s3xml_parse_list(S("<ListBucketResult><Contents><Key>k</Key><Size>-1</Size></Contents>"
					    "</ListBucketResult>"),
					  &l),
			 -EBADMSG);
	assert_int_equal(s3xml_parse_list(S("<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>"),
					  &l),
			 -EBADMSG);
	assert_int_equal(s3xml_parse_list(S("<Error><Code>AccessDenied</Code></Error>"), &l), -EBADMSG);
	assert_int_equal(s3xml_parse_list(S("<ListBucketResult><Contents><Key>k</Key>"), &l), -EBADMSG);
}

static void test_multipart(void **state)
{
	struct s3xml_error e;
	struct s3xml_uploads u;
	char *id = NULL;

	(void)state;
	assert_int_equal(s3xml_parse_initiate(S("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
						"<InitiateMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/"
						"2006-03-01/\"><Bucket>b</Bucket><Key>k</Key><UploadId>VXBsb2FkIElE"
						"</UploadId></InitiateMultipartUploadResult>"),
					      &id),
			 0);
	assert_string_equal(id, "VXBsb2FkIElE");
	free(id);
	assert_int_equal(s3xml_parse_initiate(S("<InitiateMultipartUploadResult><UploadId></UploadId>"
						"</InitiateMultipartUploadResult>"),
					      &id),
			 -EBADMSG);

	assert_int_equal(s3xml_parse_complete(S("<CompleteMultipartUploadResult><Location>x</Location><Bucket>b"
						"</Bucket><Key>k</Key><ETag>\"3858f62230ac3c915f300c664312c11f-9\"</ETag>"
						"</CompleteMultipartUploadResult>"),
					      &e),
			 0);
	/* The 200-with-<Error> case. */
	assert_int_equal(s3xml_parse_complete(S("<?xml version=\"1.0\"?>\n<Error><Code>InternalError</Code><Message>"
						"We encountered an internal error. Please try again.</Message>"
						"<RequestId>656c76696e6727732072657175657374</RequestId></Error>"),
					      &e),
			 -EREMOTEIO);
	assert_string_equal(e.code, "InternalError");
	assert_int_equal(s3xml_parse_complete(S("<Other/>"), &e), -EBADMSG);

	assert_int_equal(s3xml_parse_uploads(S("<ListMultipartUploadsResult><Bucket>b</Bucket><IsTruncated>true"
					       "</IsTruncated><NextKeyMarker>k2</NextKeyMarker><NextUploadIdMarker>u2"
					       "</NextUploadIdMarker><Upload><Key>k1</Key><UploadId>u1</UploadId>"
					       "<Initiated>2010-11-10T20:48:33.000Z</Initiated></Upload><Upload><Key>k2"
					       "</Key><UploadId>u2</UploadId><Initiated>2010-11-10T20:49:33.000Z"
					       "</Initiated></Upload></ListMultipartUploadsResult>"),
					     &u),
			 0);
	assert_int_equal(u.n_uploads, 2);
	assert_true(u.truncated);
	assert_string_equal(u.uploads[1].key, "k2");
	assert_string_equal(u.uploads[1].upload_id, "u2");
	assert_int_equal(u.uploads[0].initiated, 1289422113);
	assert_string_equal(u.next_key_marker, "k2");
	s3xml_uploads_done(&u);
	assert_int_equal(s3xml_parse_uploads(S("<ListMultipartUploadsResult><Upload><Key>k</Key></Upload>"
					       "</ListMultipartUploadsResult>"),
					     &u),
			 -EBADMSG);
}

static void test_delete(void **state)
{
	struct s3xml_delete d;

	(void)state;
	assert_int_equal(s3xml_parse_delete(S("<DeleteResult><Deleted><Key>a</Key></Deleted><Error><Key>b</Key>"
					      "<Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
					      "<Error><Key>c</Key><Code>InternalError</Code></Error></DeleteResult>"),
					    &d),
			 0);
	assert_int_equal(d.n_deleted, 1);
	assert_int_equal(d.n_errors, 2);
	assert_string_equal(d.first.key, "b");
	assert_string_equal(d.first.code, "AccessDenied");
	assert_int_equal(s3xml_parse_delete(S("<DeleteResult/>"), &d), 0);
	assert_int_equal(d.n_errors, 0);
}

static void test_time(void **state)
{
	int64_t t;

	(void)state;
	assert_int_equal(s3xml_parse_time("1970-01-01T00:00:00Z", &t), 0);
	assert_int_equal(t, 0);
	assert_int_equal(s3xml_parse_time("2009-10-12T17:50:30.123Z", &t), 0);
	assert_int_equal(t, 1255369830);
	assert_int_equal(s3xml_parse_time("2009-10-12T17:50:30+01:00", &t), -EINVAL);
	assert_int_equal(s3xml_parse_time("yesterday", &t), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_error),  cmocka_unit_test(test_refusals), cmocka_unit_test(test_list),
		cmocka_unit_test(test_multipart), cmocka_unit_test(test_delete), cmocka_unit_test(test_time),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
