/*
 * test-s3.c: the parts of lib/s3 that need no server: configuration checks
 * of s3_client_new() and the one-line errors of s3_error_format() (which
 * must never carry a secret).  Requests themselves are tested against a
 * real S3 server in tests/integration/s3-client.sh.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "macro.h"
#include "s3.h"

static struct s3_config good(void)
{
	struct s3_config c = {0};

	c.endpoint = "https://s3.eu-west-1.amazonaws.com";
	c.region = "eu-west-1";
	c.bucket = "cairn-backups";
	c.access_key = "AKIAIOSFODNN7EXAMPLE";
	c.secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
	return c;
}

static void expect_config(const struct s3_config *cfg, int want)
{
	struct s3_client *c = NULL;
	int r = s3_client_new(cfg, &c);

	assert_int_equal(r, want);
	if (r == 0)
		assert_non_null(c);
	else
		assert_null(c);
	s3_client_free(c);
}

static void test_config(void **state)
{
	struct s3_config c;

	(void)state;
	c = good();
	expect_config(&c, 0);
	c.endpoint = "http://127.0.0.1:9000/";
	expect_config(&c, 0);
	c.endpoint = "https://[::1]:9000";
	c.virtual_hosted = true;
	c.session_token = "FQoGZXIvYXdzEXAMPLE";
	c.part_size = S3_PART_SIZE_MIN;
	c.parallel = 16;
	expect_config(&c, 0);

	c = good();
	c.endpoint = "ftp://host";
	expect_config(&c, -EINVAL);
	c.endpoint = "https://host/path";
	expect_config(&c, -EINVAL);
	c.endpoint = "https://";
	expect_config(&c, -EINVAL);
	c.endpoint = "https://user@host";
	expect_config(&c, -EINVAL);
	c = good();
	c.ca_file = "/etc/ssl/certs/ca-certificates.crt";
	c.ca_pem = "-----BEGIN CERTIFICATE-----";
	expect_config(&c, -EINVAL);
	c.ca_file = NULL;
	expect_config(&c, 0);
	c = good();
	c.bucket = "Bad_Bucket";
	expect_config(&c, -EINVAL);
	c.bucket = "ab";
	expect_config(&c, -EINVAL);
	c = good();
	c.secret_key = "with space";
	expect_config(&c, -EINVAL);
	c = good();
	c.access_key = NULL;
	expect_config(&c, -EINVAL);
	c = good();
	c.part_size = S3_PART_SIZE_MIN - 1;
	expect_config(&c, -EINVAL);
	c = good();
	c.parallel = S3_PARALLEL_MAX + 1;
	expect_config(&c, -EINVAL);
	c = good();
	c.list_max_keys = 1001;
	expect_config(&c, -EINVAL);
}

static void test_refusals(void **state)
{
	struct s3_config cfg = good();
	struct s3_client *c = NULL;
	struct s3_upload *u = NULL;
	char longkey[S3_KEY_MAX + 2];
	uint64_t size;

	(void)state;
	assert_int_equal(s3_client_new(&cfg, &c), 0);
	/* Bad keys are refused before any request. */
	assert_int_equal(s3_head(c, "", &size, NULL), -EINVAL);
	assert_int_equal(s3_head(c, "a\nb", &size, NULL), -EINVAL);
	memset(longkey, 'k', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = '\0';
	assert_int_equal(s3_put(c, longkey, "x", 1, NULL), -EINVAL);
	assert_int_equal(s3_upload_begin(c, "a\tb", &u), -EINVAL);
	assert_null(u);
	/* An upload begun and freed unused sends nothing. */
	assert_int_equal(s3_upload_begin(c, "ok/key", &u), 0);
	assert_int_equal(s3_upload_size(u), 0);
	s3_upload_free(u);
	s3_client_free(c);
}

static void test_error_format(void **state)
{
	struct s3_error e = {0};
	char buf[S3_ERROR_TEXT_MAX];

	(void)state;
	snprintf(e.op, sizeof(e.op), "PUT");
	snprintf(e.key, sizeof(e.key), "backups/x");
	e.http_status = 403;
	snprintf(e.code, sizeof(e.code), "SignatureDoesNotMatch");
	snprintf(e.message, sizeof(e.message),
	         "The request signature we calculated does not match");
	snprintf(e.request_id, sizeof(e.request_id), "4442587FB7D0A2F9");
	assert_string_equal(s3_error_format(&e, buf, sizeof(buf)),
	                    "s3 PUT backups/x: 403 SignatureDoesNotMatch: The request signature we "
	                    "calculated does "
	                    "not match (request id 4442587FB7D0A2F9)");
	memset(&e, 0, sizeof(e));
	snprintf(e.op, sizeof(e.op), "ListObjectsV2");
	snprintf(e.code, sizeof(e.code), "Transport");
	snprintf(e.message, sizeof(e.message), "Couldn't connect to server");
	assert_string_equal(s3_error_format(&e, buf, sizeof(buf)),
	                    "s3 ListObjectsV2 (bucket): Transport: Couldn't connect to server");
	/* Truncation keeps a NUL. */
	assert_int_equal(strlen(s3_error_format(&e, buf, 10)), 9);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_config),
	        cmocka_unit_test(test_refusals),
	        cmocka_unit_test(test_error_format),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
