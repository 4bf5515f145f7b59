/*
 * test-pki.c: unit tests for lib/pki.c: the CA, CSRs, what the CA copies
 * (the key only) and what it decides (every field), chain verification
 * (other CA, expired, not yet valid, tampered), node ids from SAN URIs,
 * PEM and file round trips.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "fileio.h"
#include "macro.h"
#include "pki.h"
#include "util.h"

static EVP_PKEY *ca_key, *other_ca_key, *node_key;
static X509 *ca, *other_ca;

static int setup(void **state)
{
	if (pki_key_generate(&ca_key) < 0 || pki_key_generate(&other_ca_key) < 0 ||
	    pki_key_generate(&node_key) < 0)
		return -1;
	if (pki_ca_create(ca_key, "Cairn test CA", 86400, &ca) < 0 ||
	    pki_ca_create(other_ca_key, "Cairn test CA", 86400, &other_ca) < 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(other_ca_key);
	EVP_PKEY_free(node_key);
	X509_free(ca);
	X509_free(other_ca);
	return 0;
}

static const char node_uri[] = "cairn://node/6b1c6d0e-2f4a-4b8e-9c1d-0123456789ab";

static X509 *issue_node(X509 *c, EVP_PKEY *k, const char *uri)
{
	struct pki_sign_opts o = { .cn = "db-1", .uri = uri, .ttl_s = 3600,
				   .usage = PKI_USAGE_CLIENT };
	X509 *x = NULL;

	assert_int_equal(pki_cert_issue(c, k, node_key, &o, &x), 0);
	return x;
}

/* Re-signs x with key after changing its validity to [nb, na]. */
static void resign_validity(X509 *x, EVP_PKEY *key, int64_t nb, int64_t na)
{
	assert_non_null(ASN1_TIME_set(X509_getm_notBefore(x), (time_t)nb));
	assert_non_null(ASN1_TIME_set(X509_getm_notAfter(x), (time_t)na));
	assert_true(X509_sign(x, key, EVP_sha256()) > 0);
}

/* A certificate signed by the CA with a SAN given as OpenSSL config text
 * (e.g. "URI:cairn://node/a,URI:cairn://node/b"), or with two SANs. */
static X509 *cert_with_san(const char *san, const char *second_san)
{
	X509 *x = issue_node(ca, ca_key, NULL);
	X509V3_CTX ctx;
	X509_EXTENSION *e;

	X509V3_set_ctx(&ctx, ca, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, san);
	assert_non_null(e);
	assert_int_equal(X509_add_ext(x, e, -1), 1);
	X509_EXTENSION_free(e);
	if (second_san) {
		e = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, second_san);
		assert_non_null(e);
		assert_int_equal(X509_add_ext(x, e, -1), 1);
		X509_EXTENSION_free(e);
	}
	assert_true(X509_sign(x, ca_key, EVP_sha256()) > 0);
	return x;
}

static void test_ca(void **state)
{
	const char *why = NULL;
	int64_t nb, na, now = now_s();
	X509 *x = NULL;

	assert_true(X509_check_ca(ca) >= 1);
	assert_true(X509_get_extension_flags(ca) & EXFLAG_CA);
	assert_int_equal(X509_get_key_usage(ca), KU_KEY_CERT_SIGN | KU_CRL_SIGN);
	assert_non_null(X509_get0_subject_key_id(ca));
	assert_int_equal(X509_get_version(ca), X509_VERSION_3);
	assert_int_equal(pki_cert_not_before(ca, &nb), 0);
	assert_int_equal(pki_cert_not_after(ca, &na), 0);
	assert_true(nb <= now - 290 && nb >= now - 310);
	assert_true(na >= now + 86390 && na <= now + 86410);
	assert_int_equal(pki_verify_chain(ca, ca, &why), 0);
	assert_int_equal(pki_verify_chain(other_ca, ca, &why), -EBADMSG);
	assert_true(pki_cert_matches_key(ca, ca_key));
	assert_false(pki_cert_matches_key(ca, other_ca_key));

	assert_int_equal(pki_ca_create(ca_key, "", 3600, &x), -EINVAL);
	assert_int_equal(pki_ca_create(ca_key, "x", 0, &x), -EINVAL);
	assert_int_equal(pki_ca_create(ca_key, "x", -5, &x), -EINVAL);
	assert_int_equal(pki_ca_create(NULL, "x", 3600, &x), -EINVAL);
	assert_int_equal(pki_ca_create(ca_key,
				       "0123456789012345678901234567890123456789012345678901234567890123456789",
				       3600, &x),
			 -EINVAL);
	assert_null(x);
}

static void test_csr_sign(void **state)
{
	static const char *const csr_names[] = { "evil.example", "10.0.0.1", NULL };
	static const char *const names[] = { "db-1.example", "198.18.0.5", "2001:db8::5", NULL };
	_cleanup_x509_req_ X509_REQ *csr = NULL, *csr2 = NULL;
	_cleanup_x509_ X509 *x = NULL;
	_cleanup_free_ char *csr_pem = NULL, *id = NULL, *serial = NULL, *fp = NULL;
	struct pki_sign_opts o = { .cn = "db-1", .names = names, .uri = node_uri, .ttl_s = 7 * 86400,
				   .usage = PKI_USAGE_SERVER | PKI_USAGE_CLIENT };
	const char *why = NULL;
	int64_t nb, na, now = now_s();

	assert_int_equal(pki_csr_create(node_key, "evil", csr_names, &csr), 0);
	assert_int_equal(pki_csr_to_pem(csr, &csr_pem), 0);
	assert_non_null(strstr(csr_pem, "-----BEGIN CERTIFICATE REQUEST-----"));
	assert_int_equal(pki_csr_from_pem(csr_pem, &csr2), 0);
	assert_int_equal(pki_csr_sign(ca, ca_key, csr2, &o, &x), 0);

	/* Every field is the CA's choice, only the key is the CSR's. */
	assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(x), node_key), 1);
	assert_true(pki_cert_matches_key(x, node_key));
	assert_true(pki_cert_has_names(x, names));
	assert_false(pki_cert_has_names(x, csr_names));
	char cn[80];
	assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn,
					      sizeof(cn)) > 0);
	assert_string_equal(cn, "db-1");
	assert_int_equal(X509_NAME_cmp(X509_get_issuer_name(x), X509_get_subject_name(ca)), 0);
	assert_int_equal(X509_get_version(x), X509_VERSION_3);
	assert_int_equal(X509_check_ca(x), 0);
	assert_int_equal(X509_get_key_usage(x), KU_DIGITAL_SIGNATURE);
	assert_int_equal(X509_get_extended_key_usage(x), XKU_SSL_SERVER | XKU_SSL_CLIENT);
	assert_non_null(X509_get0_subject_key_id(x));
	assert_int_equal(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(x),
					       X509_get0_subject_key_id(ca)),
			 0);
	int crit = 0;
	BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(x, NID_basic_constraints, &crit, NULL);
	assert_non_null(bc);
	assert_int_equal(crit, 1);
	assert_false(bc->ca);
	BASIC_CONSTRAINTS_free(bc);

	assert_int_equal(pki_cert_not_before(x, &nb), 0);
	assert_int_equal(pki_cert_not_after(x, &na), 0);
	assert_true(nb >= now - 310 && nb <= now - 290);
	assert_true(na >= now + 7 * 86400 - 10 && na <= now + 7 * 86400 + 10);

	/* Random positive 128-bit serial, upper-case hex without colons. */
	serial = pki_cert_serial_hex(x);
	assert_non_null(serial);
	assert_int_equal(strlen(serial), 32);
	assert_true(strspn(serial, "0123456789ABCDEF") == 32);
	assert_true(strchr("4567", serial[0]) != NULL);
	assert_int_equal(ASN1_INTEGER_get_int64(&(int64_t){ 0 }, X509_get0_serialNumber(x)), 0);
	_cleanup_x509_ X509 *y = issue_node(ca, ca_key, node_uri);
	_cleanup_free_ char *serial2 = pki_cert_serial_hex(y);
	assert_string_not_equal(serial, serial2);

	fp = pki_cert_fingerprint(x);
	assert_non_null(fp);
	assert_int_equal(strlen(fp), 64);
	assert_true(strspn(fp, "0123456789abcdef") == 64);

	assert_int_equal(pki_cert_node_id(x, &id), 0);
	assert_string_equal(id, "6b1c6d0e-2f4a-4b8e-9c1d-0123456789ab");
	assert_int_equal(pki_verify_chain(ca, x, &why), 0);

	/* Client-only certificate. */
	assert_int_equal(X509_get_extended_key_usage(y), XKU_SSL_CLIENT);
	assert_true(pki_cert_has_usage(x, PKI_USAGE_SERVER | PKI_USAGE_CLIENT));
	assert_true(pki_cert_has_usage(y, PKI_USAGE_CLIENT));
	assert_false(pki_cert_has_usage(y, PKI_USAGE_SERVER));
	assert_false(pki_cert_has_usage(y, PKI_USAGE_SERVER | PKI_USAGE_CLIENT));
	assert_false(pki_cert_has_usage(ca, PKI_USAGE_CLIENT)); /* no EKU at all */
	o.usage = PKI_USAGE_SERVER;
	X509 *z = NULL;
	assert_int_equal(pki_csr_sign(ca, ca_key, csr, &o, &z), 0);
	assert_int_equal(X509_get_extended_key_usage(z), XKU_SSL_SERVER);
	X509_free(z);
}

static void test_csr_refusals(void **state)
{
	_cleanup_x509_req_ X509_REQ *csr = NULL;
	struct pki_sign_opts o = { .cn = "db-1", .uri = node_uri, .ttl_s = 3600,
				   .usage = PKI_USAGE_CLIENT };
	unsigned char *der = NULL, *p;
	const unsigned char *cp;
	X509 *x = NULL;
	int n;

	assert_int_equal(pki_csr_create(node_key, "db-1", NULL, &csr), 0);

	/* A flipped bit in the signature. */
	n = i2d_X509_REQ(csr, &der);
	assert_true(n > 0);
	der[n - 1] ^= 0x01;
	cp = der;
	X509_REQ *bad = d2i_X509_REQ(NULL, &cp, n);
	assert_non_null(bad);
	assert_int_equal(pki_csr_sign(ca, ca_key, bad, &o, &x), -EBADMSG);
	assert_null(x);
	X509_REQ_free(bad);

	/* A changed subject after signing. */
	der[n - 1] ^= 0x01;
	cp = der;
	bad = d2i_X509_REQ(NULL, &cp, n);
	X509_NAME *nm = X509_NAME_new();
	X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_UTF8, (const unsigned char *)"other", -1, -1, 0);
	X509_REQ_set_subject_name(bad, nm);
	X509_NAME_free(nm);
	assert_int_equal(pki_csr_sign(ca, ca_key, bad, &o, &x), -EBADMSG);
	X509_REQ_free(bad);

	/* Someone else's public key in a CSR signed with ours. */
	cp = der;
	bad = d2i_X509_REQ(NULL, &cp, n);
	assert_int_equal(X509_REQ_set_pubkey(bad, other_ca_key), 1);
	p = NULL;
	int m = i2d_X509_REQ(bad, &p);
	assert_true(m > 0);
	X509_REQ_free(bad);
	cp = p;
	bad = d2i_X509_REQ(NULL, &cp, m);
	assert_int_equal(pki_csr_sign(ca, ca_key, bad, &o, &x), -EBADMSG);
	X509_REQ_free(bad);
	OPENSSL_free(p);
	OPENSSL_free(der);

	/* Key types we do not certify. */
	EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	X509_REQ *edcsr = NULL;
	assert_int_equal(pki_csr_create(ed, "db-1", NULL, &edcsr), 0);
	assert_int_equal(pki_csr_sign(ca, ca_key, edcsr, &o, &x), -EINVAL);
	X509_REQ_free(edcsr);
	EVP_PKEY_free(ed);
	EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	assert_int_equal(pki_cert_issue(ca, ca_key, rsa, &o, &x), -EINVAL);
	EVP_PKEY_free(rsa);

	/* Bad options. */
	static const char *const bad_names[] = { "ok.example", "not ok", NULL };
	struct pki_sign_opts b = o;
	b.names = bad_names;
	assert_int_equal(pki_csr_sign(ca, ca_key, csr, &b, &x), -EINVAL);
	b = o;
	b.usage = 0;
	assert_int_equal(pki_csr_sign(ca, ca_key, csr, &b, &x), -EINVAL);
	b.usage = 4;
	assert_int_equal(pki_csr_sign(ca, ca_key, csr, &b, &x), -EINVAL);
	b = o;
	b.ttl_s = 0;
	assert_int_equal(pki_csr_sign(ca, ca_key, csr, &b, &x), -EINVAL);
	b = o;
	b.cn = "";
	assert_int_equal(pki_csr_sign(ca, ca_key, csr, &b, &x), -EINVAL);
	b = o;
	b.uri = "cairn://node/a b";
	assert_int_equal(pki_csr_sign(ca, ca_key, csr, &b, &x), -EINVAL);
	/* CA key that is not the CA certificate's. */
	assert_int_equal(pki_csr_sign(ca, other_ca_key, csr, &o, &x), -EINVAL);
	assert_null(x);

	/* CSR creation refuses bad names. */
	X509_REQ *r2 = NULL;
	assert_int_equal(pki_csr_create(node_key, "db-1", bad_names, &r2), -EINVAL);
	assert_int_equal(pki_csr_create(node_key, "", NULL, &r2), -EINVAL);
	assert_null(r2);
}

static void test_verify_chain(void **state)
{
	_cleanup_x509_ X509 *good = issue_node(ca, ca_key, node_uri);
	_cleanup_x509_ X509 *foreign = issue_node(other_ca, other_ca_key, node_uri);
	_cleanup_x509_ X509 *expired = issue_node(ca, ca_key, node_uri);
	_cleanup_x509_ X509 *future = issue_node(ca, ca_key, node_uri);
	_cleanup_x509_ X509 *forged = issue_node(ca, ca_key, node_uri);
	_cleanup_x509_ X509 *self = NULL;
	const char *why = NULL;
	int64_t now = now_s();

	assert_int_equal(pki_verify_chain(ca, good, &why), 0);

	/* From another CA with the very same name. */
	assert_int_equal(pki_verify_chain(ca, foreign, &why), -EBADMSG);
	assert_non_null(why);
	assert_int_equal(pki_verify_chain(other_ca, foreign, &why), 0);
	assert_int_equal(pki_verify_chain(other_ca, good, &why), -EBADMSG);

	resign_validity(expired, ca_key, now - 7200, now - 3600);
	assert_int_equal(pki_verify_chain(ca, expired, &why), -EBADMSG);
	assert_string_equal(why, "certificate has expired");

	resign_validity(future, ca_key, now + 3600, now + 7200);
	assert_int_equal(pki_verify_chain(ca, future, &why), -EBADMSG);
	assert_string_equal(why, "certificate is not yet valid");

	/* Signed by the other CA's key under our CA's name. */
	assert_true(X509_sign(forged, other_ca_key, EVP_sha256()) > 0);
	assert_int_equal(pki_verify_chain(ca, forged, &why), -EBADMSG);
	assert_string_equal(why, "certificate signature does not verify");

	/* A self-signed certificate is not ours. */
	assert_int_equal(pki_ca_create(node_key, "db-1", 3600, &self), 0);
	assert_int_equal(pki_verify_chain(ca, self, &why), -EBADMSG);

	/* A leaf does not issue: not through pki_cert_issue(), and a
	 * certificate it signed by hand does not verify under it. */
	X509 *x = NULL;
	struct pki_sign_opts o = { .cn = "x", .ttl_s = 60, .usage = PKI_USAGE_CLIENT };
	assert_int_equal(pki_cert_issue(good, node_key, node_key, &o, &x), -EINVAL);
	_cleanup_x509_ X509 *by_leaf = issue_node(ca, ca_key, node_uri);
	assert_int_equal(X509_set_issuer_name(by_leaf, X509_get_subject_name(good)), 1);
	assert_true(X509_sign(by_leaf, node_key, EVP_sha256()) > 0);
	assert_int_equal(pki_verify_chain(good, by_leaf, &why), -EBADMSG);
	assert_int_equal(pki_verify_chain(ca, by_leaf, &why), -EBADMSG);
	assert_int_equal(pki_verify_chain(NULL, good, &why), -EBADMSG);
	assert_int_equal(pki_verify_chain(ca, NULL, &why), -EBADMSG);

	/* An expired CA fails everything it signed. */
	_cleanup_x509_ X509 *old_ca = NULL;
	assert_int_equal(pki_ca_create(ca_key, "Cairn test CA", 86400, &old_ca), 0);
	_cleanup_x509_ X509 *leaf = issue_node(old_ca, ca_key, node_uri);
	resign_validity(old_ca, ca_key, now - 7200, now - 3600);
	assert_int_equal(pki_verify_chain(old_ca, leaf, &why), -EBADMSG);
}

static void test_node_id(void **state)
{
	char *id = NULL;
	X509 *x;

#define EXPECT_NO_ID(san, second)                                              \
	do {                                                                   \
		x = cert_with_san(san, second);                                \
		assert_int_equal(pki_cert_node_id(x, &id), -ENOENT);           \
		assert_null(id);                                               \
		X509_free(x);                                                  \
	} while (0)

	/* No SAN at all, SAN without URI. */
	x = issue_node(ca, ca_key, NULL);
	assert_int_equal(pki_cert_node_id(x, &id), -ENOENT);
	X509_free(x);
	EXPECT_NO_ID("DNS:db-1.example", NULL);
	EXPECT_NO_ID("URI:https://example.com/", NULL);
	/* Two node URIs, the same or different. */
	EXPECT_NO_ID("URI:cairn://node/a,URI:cairn://node/b", NULL);
	EXPECT_NO_ID("URI:cairn://node/a,URI:cairn://node/a", NULL);
	/* Two SAN extensions. */
	EXPECT_NO_ID("URI:cairn://node/a", "URI:cairn://node/a");
	/* Malformed ids. */
	EXPECT_NO_ID("URI:cairn://node/", NULL);
	EXPECT_NO_ID("URI:cairn://node/a/b", NULL);
	EXPECT_NO_ID("URI:cairn://node/a.b", NULL);
	EXPECT_NO_ID("URI:cairn://node/a%20b", NULL);
	EXPECT_NO_ID("URI:cairn://node/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", NULL);
	EXPECT_NO_ID("URI:CAIRN://node/a", NULL);
	EXPECT_NO_ID("URI:cairn://nodes/a", NULL);

	/* Other names beside one node URI are fine. */
	x = cert_with_san("DNS:db-1.example,URI:https://x/,URI:cairn://node/Node-1,IP:10.0.0.1", NULL);
	assert_int_equal(pki_cert_node_id(x, &id), 0);
	assert_string_equal(id, "Node-1");
	free(id);
	X509_free(x);
#undef EXPECT_NO_ID
}

static void test_has_names(void **state)
{
	static const char *const names[] = { "b.example", "a.example", "::1", "10.0.0.1", NULL };
	static const char *const same[] = { "10.0.0.1", "0:0::1", "a.example", "b.example", NULL };
	static const char *const fewer[] = { "a.example", "b.example", "::1", NULL };
	static const char *const more[] = { "a.example", "b.example", "::1", "10.0.0.1", "c.example",
					    NULL };
	static const char *const dup[] = { "a.example", "a.example", "::1", "10.0.0.1", NULL };
	struct pki_sign_opts o = { .cn = "x", .names = names, .uri = node_uri, .ttl_s = 60,
				   .usage = PKI_USAGE_SERVER };
	_cleanup_x509_ X509 *x = NULL, *none = issue_node(ca, ca_key, NULL);

	assert_int_equal(pki_cert_issue(ca, ca_key, node_key, &o, &x), 0);
	assert_true(pki_cert_has_names(x, names));
	assert_true(pki_cert_has_names(x, same));
	assert_false(pki_cert_has_names(x, fewer));
	assert_false(pki_cert_has_names(x, more));
	assert_false(pki_cert_has_names(x, dup));
	assert_false(pki_cert_has_names(x, NULL));
	assert_true(pki_cert_has_names(none, NULL));
	assert_true(pki_cert_has_names(none, (const char *const[]){ NULL }));
	assert_false(pki_cert_has_names(none, fewer));
}

static void test_pem(void **state)
{
	_cleanup_secret_ char *kpem = NULL;
	_cleanup_free_ char *ppem = NULL, *cpem = NULL;
	_cleanup_pkey_ EVP_PKEY *k = NULL, *p = NULL;
	_cleanup_x509_ X509 *c = NULL;

	assert_int_equal(pki_key_to_pem(node_key, &kpem), 0);
	assert_non_null(strstr(kpem, "-----BEGIN PRIVATE KEY-----")); /* PKCS#8 */
	assert_int_equal(pki_key_from_pem(kpem, &k), 0);
	assert_int_equal(EVP_PKEY_eq(k, node_key), 1);
	assert_int_equal(pki_pubkey_to_pem(node_key, &ppem), 0);
	assert_non_null(strstr(ppem, "-----BEGIN PUBLIC KEY-----"));
	assert_null(strstr(ppem, "PRIVATE"));
	assert_int_equal(pki_pubkey_from_pem(ppem, &p), 0);
	assert_int_equal(EVP_PKEY_eq(p, node_key), 1);
	assert_int_equal(pki_cert_to_pem(ca, &cpem), 0);
	assert_int_equal(pki_cert_from_pem(cpem, &c), 0);
	assert_int_equal(X509_cmp(c, ca), 0);

	EVP_PKEY *e = NULL;
	X509 *xe = NULL;
	X509_REQ *re = NULL;
	assert_int_equal(pki_key_from_pem("garbage", &e), -EINVAL);
	assert_int_equal(pki_key_from_pem(ppem, &e), -EINVAL);
	assert_int_equal(pki_key_from_pem("", &e), -EINVAL);
	assert_int_equal(pki_key_from_pem(NULL, &e), -EINVAL);
	assert_int_equal(pki_pubkey_from_pem(cpem, &e), -EINVAL);
	assert_int_equal(pki_cert_from_pem(ppem, &xe), -EINVAL);
	assert_int_equal(pki_csr_from_pem(cpem, &re), -EINVAL);
	/* A truncated PEM. */
	cpem[strlen(cpem) / 2] = '\0';
	assert_int_equal(pki_cert_from_pem(cpem, &xe), -EINVAL);
	assert_null(e);
	assert_null(xe);
	assert_null(re);
	assert_int_equal(ERR_peek_error(), 0);
}

static void test_files(void **state)
{
	char dir[] = "/tmp/cairn-test-pki.XXXXXX";
	_cleanup_free_ char *kp = NULL, *cp = NULL;
	_cleanup_pkey_ EVP_PKEY *k = NULL;
	_cleanup_x509_ X509 *c = NULL;
	struct stat st;

	assert_non_null(mkdtemp(dir));
	kp = path_join(dir, "node.key");
	cp = path_join(dir, "ca.pem");
	assert_int_equal(pki_key_save(kp, node_key), 0);
	assert_int_equal(stat(kp, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(pki_cert_save(cp, ca), 0);
	assert_int_equal(stat(cp, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);

	assert_int_equal(pki_key_load(kp, &k), 0);
	assert_int_equal(EVP_PKEY_eq(k, node_key), 1);
	assert_int_equal(pki_cert_load(cp, &c), 0);
	assert_int_equal(X509_cmp(c, ca), 0);

	EVP_PKEY *e = NULL;
	X509 *xe = NULL;
	assert_int_equal(pki_key_load(cp, &e), -EINVAL);
	assert_int_equal(pki_cert_load(kp, &xe), -EINVAL);
	unlink(kp);
	unlink(cp);
	assert_int_equal(pki_key_load(kp, &e), -ENOENT);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ca),
		cmocka_unit_test(test_csr_sign),
		cmocka_unit_test(test_csr_refusals),
		cmocka_unit_test(test_verify_chain),
		cmocka_unit_test(test_node_id),
		cmocka_unit_test(test_has_names),
		cmocka_unit_test(test_pem),
		cmocka_unit_test(test_files),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
