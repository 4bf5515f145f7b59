/*
 * test-agent-enroll.c: the checks on an enrolment answer and what is
 * stored (enroll_store): our key in the certificate, our node id in its
 * URI, the chain to the CA, valid job keys; node.crt written last.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "enroll.h"
#include "fileio.h"
#include "jws.h"
#include "macro.h"
#include "pki.h"
#include "protocol.h"

#define NODE_ID "6b1c2f8e-0d3a-4c59-9e57-3f1f0c2a9b11"

static EVP_PKEY *ca_key, *other_ca_key, *node_key, *other_key, *job_key;
static X509 *ca, *other_ca;
static char dir[64];

static int setup(void **state)
{
	assert_int_equal(pki_key_generate(&ca_key), 0);
	assert_int_equal(pki_key_generate(&other_ca_key), 0);
	assert_int_equal(pki_key_generate(&node_key), 0);
	assert_int_equal(pki_key_generate(&other_key), 0);
	assert_int_equal(jws_key_generate(&job_key), 0);
	assert_int_equal(pki_ca_create(ca_key, "cairn test CA", 86400, &ca), 0);
	assert_int_equal(pki_ca_create(other_ca_key, "other CA", 86400, &other_ca), 0);
	return 0;
}

static int teardown(void **state)
{
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(other_ca_key);
	EVP_PKEY_free(node_key);
	EVP_PKEY_free(other_key);
	EVP_PKEY_free(job_key);
	X509_free(ca);
	X509_free(other_ca);
	return 0;
}

static char *issue(X509 *issuer, EVP_PKEY *issuer_key, EVP_PKEY *subject, const char *node_id)
{
	char uri[128];
	struct pki_sign_opts o = { .cn = "db-1", .uri = uri, .ttl_s = 3600, .usage = PKI_USAGE_CLIENT };
	X509 *cert = NULL;
	char *pem = NULL;

	snprintf(uri, sizeof(uri), CAIRN_NODE_URI_PREFIX "%s", node_id);
	assert_int_equal(pki_cert_issue(issuer, issuer_key, subject, &o, &cert), 0);
	assert_int_equal(pki_cert_to_pem(cert, &pem), 0);
	X509_free(cert);
	return pem;
}

static json_t *answer(EVP_PKEY *subject, X509 *issuer, EVP_PKEY *issuer_key, const char *node_id)
{
	_cleanup_free_ char *cert = issue(issuer, issuer_key, subject, node_id), *ca_pem = NULL, *pub = NULL;
	char kid[CAIRN_KID_LEN + 1];

	assert_int_equal(pki_cert_to_pem(ca, &ca_pem), 0);
	assert_int_equal(pki_pubkey_to_pem(job_key, &pub), 0);
	assert_int_equal(jws_key_id(job_key, kid), 0);
	return json_pack("{s:s,s:s,s:s,s:s,s:[{s:s,s:s}],s:s,s:s}", "node_id", NODE_ID, "name", "db-1", "cert", cert,
			 "ca", ca_pem, "job_keys", "kid", kid, "public_key_pem", pub, "gateway_url",
			 "https://127.0.0.1:8444", "cert_not_after", "2030-01-01T00:00:00Z");
}

static int make_dir(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/test-enroll-XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int remove_dir(void **state)
{
	static const char *const files[] = { AGENT_NODE_CERT, AGENT_CA, AGENT_NODE_JSON, AGENT_JOB_KEYS };

	for (size_t i = 0; i < ELEMENTSOF(files); i++) {
		_cleanup_free_ char *p = path_join(dir, files[i]);
		unlink(p);
	}
	rmdir(dir);
	return 0;
}

static void expect_refused(json_t *a, const char *needle)
{
	const char *why = NULL;

	assert_int_equal(enroll_store(dir, NULL, node_key, a, &why), -EBADMSG);
	assert_non_null(why);
	if (!strstr(why, needle))
		fail_msg("reason '%s' lacks '%s'", why, needle);
	/* nothing stored: still not enrolled */
	assert_true(enroll_needed(dir));
	json_decref(a);
}

static void test_store(void **state)
{
	json_t *a = answer(node_key, ca, ca_key, NODE_ID);
	const char *why = NULL;
	_cleanup_free_ char *p = path_join(dir, AGENT_NODE_JSON), *data = NULL;
	json_t *node;

	assert_true(enroll_needed(dir));
	assert_int_equal(enroll_store(dir, NULL, node_key, a, &why), 0);
	assert_false(enroll_needed(dir));
	assert_int_equal(read_file_full(p, 4096, &data, NULL), 0);
	node = json_loads(data, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(node, "node_id")), NODE_ID);
	assert_string_equal(json_string_value(json_object_get(node, "gateway_url")), "https://127.0.0.1:8444");
	json_decref(node);
	json_decref(a);
}

static void test_gateway_fallback(void **state)
{
	json_t *a = answer(node_key, ca, ca_key, NODE_ID);
	const char *why = NULL;

	json_object_del(a, "gateway_url");
	assert_int_equal(enroll_store(dir, NULL, node_key, a, &why), -EBADMSG);
	assert_int_equal(enroll_store(dir, "https://gw.example:8444", node_key, a, &why), 0);
	json_decref(a);
}

static void test_refusals(void **state)
{
	json_t *a;

	expect_refused(answer(other_key, ca, ca_key, NODE_ID), "our public key");
	expect_refused(answer(node_key, ca, ca_key, "6b1c2f8e-0d3a-4c59-9e57-3f1f0c2a9b12"), "node id");
	expect_refused(answer(node_key, other_ca, other_ca_key, NODE_ID), "CA");
	a = answer(node_key, ca, ca_key, NODE_ID);
	json_object_set_new(a, "node_id", json_string("not-a-uuid"));
	expect_refused(a, "node_id");
	a = answer(node_key, ca, ca_key, NODE_ID);
	json_object_set_new(a, "job_keys", json_array());
	expect_refused(a, "job_keys");
	a = answer(node_key, ca, ca_key, NODE_ID);
	json_object_set_new(a, "gateway_url", json_string("http://127.0.0.1:8444"));
	expect_refused(a, "gateway_url");
	a = answer(node_key, ca, ca_key, NODE_ID);
	json_object_set_new(a, "cert", json_string("garbage"));
	expect_refused(a, "cert");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_store, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_gateway_fallback, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(test_refusals, make_dir, remove_dir),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
