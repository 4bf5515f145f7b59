/*
 * pki.c: the controller's small CA and the agent's keys and CSRs.
 *
 * The CA decides every field of what it signs.  From a CSR it takes only
 * the public key, after the CSR's own signature verified; subject, SANs,
 * validity and usages come from the caller's options.  Certificates are v3
 * with a random positive 128-bit serial, SHA-256 signatures, SKI/AKI, and
 * notBefore five minutes in the past to absorb clock skew.  Verification
 * trusts exactly one CA, with X509_V_FLAG_X509_STRICT.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "fileio.h"
#include "macro.h"
#include "pki.h"
#include "protocol.h"
#include "util.h"

/* Largest PEM file read by the load helpers. */
#define PKI_PEM_FILE_MAX (64 * 1024)
/* Subject CN length limit (X.520 ub-common-name). */
#define PKI_CN_MAX 64
/* Most SAN names in one certificate. */
#define PKI_NAMES_MAX 64
/* Longest SAN URI. */
#define PKI_URI_MAX 256
/* notBefore is this far in the past. */
#define PKI_BACKDATE_S 300
/* Longest validity we sign (about 100 years): keeps times in range. */
#define PKI_TTL_MAX_S (INT64_C(100) * 366 * 24 * 3600)

static void general_names_freep(GENERAL_NAMES **p)
{
	GENERAL_NAMES_free(*p);
}
#define _cleanup_general_names_ _cleanup_(general_names_freep)

static void x509_store_freep(X509_STORE **p)
{
	X509_STORE_free(*p);
}

static void x509_store_ctx_freep(X509_STORE_CTX **p)
{
	X509_STORE_CTX_free(*p);
}

static void x509_extension_freep(X509_EXTENSION **p)
{
	X509_EXTENSION_free(*p);
}
#define _cleanup_x509_extension_ _cleanup_(x509_extension_freep)

static void bn_freep(BIGNUM **p)
{
	BN_free(*p);
}

int pki_key_generate(EVP_PKEY **ret)
{
	EVP_PKEY *k;

	if (!ret)
		return -EINVAL;
	k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (!k)
		return -EIO;
	*ret = k;
	return 0;
}

/* The digest to sign with: SHA-256, or none for keys that hash by
 * themselves (Ed25519). */
static const EVP_MD *sign_md(EVP_PKEY *key)
{
	return EVP_PKEY_is_a(key, "ED25519") || EVP_PKEY_is_a(key, "ED448") ? NULL : EVP_sha256();
}

/* Keys we certify: EC on a NIST curve, or RSA of 2048..8192 bits. */
static bool pubkey_is_acceptable(EVP_PKEY *key)
{
	char curve[64];
	size_t len = 0;

	if (EVP_PKEY_is_a(key, "EC")) {
		if (EVP_PKEY_get_utf8_string_param(key, "group", curve, sizeof(curve), &len) != 1)
			return false;
		return streq(curve, "prime256v1") || streq(curve, "P-256") ||
		       streq(curve, "secp384r1") || streq(curve, "P-384") ||
		       streq(curve, "secp521r1") || streq(curve, "P-521");
	}
	if (EVP_PKEY_is_a(key, "RSA")) {
		int bits = EVP_PKEY_get_bits(key);
		return bits >= 2048 && bits <= 8192;
	}
	return false;
}

static bool cn_is_valid(const char *cn)
{
	size_t n;

	if (!cn)
		return false;
	n = strlen(cn);
	if (n == 0 || n > PKI_CN_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)cn[i] < 0x20 || cn[i] == 0x7f)
			return false;
	return true;
}

/* A URI we put in a SAN: printable ASCII without blanks, with a scheme. */
static bool uri_is_valid(const char *uri)
{
	size_t n;

	if (!uri)
		return false;
	n = strlen(uri);
	if (n == 0 || n > PKI_URI_MAX || !strstr(uri, "://"))
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)uri[i] <= 0x20 || (unsigned char)uri[i] >= 0x7f)
			return false;
	return true;
}

static int names_check(const char *const *names)
{
	size_t n = 0;

	for (; names && names[n]; n++) {
		if (n >= PKI_NAMES_MAX)
			return -E2BIG;
		if (!hostname_is_valid(names[n]))
			return -EINVAL;
	}
	return 0;
}

static X509_NAME *name_cn(const char *cn)
{
	X509_NAME *n = X509_NAME_new();

	if (!n)
		return NULL;
	if (X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
				       0) != 1) {
		X509_NAME_free(n);
		return NULL;
	}
	return n;
}

/* Appends one GENERAL_NAME of type (GEN_DNS, GEN_URI) or an IP address. */
static int gens_add(GENERAL_NAMES *gens, const char *name, bool uri)
{
	GENERAL_NAME *g = NULL;

	if (!uri && ip_literal_is_valid(name)) {
		ASN1_OCTET_STRING *ip = a2i_IPADDRESS(name);
		if (!ip)
			return -EINVAL;
		g = GENERAL_NAME_new();
		if (!g) {
			ASN1_OCTET_STRING_free(ip);
			return -ENOMEM;
		}
		GENERAL_NAME_set0_value(g, GEN_IPADD, ip);
	} else {
		ASN1_IA5STRING *s = ASN1_IA5STRING_new();
		if (!s)
			return -ENOMEM;
		if (ASN1_STRING_set(s, name, -1) != 1) {
			ASN1_IA5STRING_free(s);
			return -ENOMEM;
		}
		g = GENERAL_NAME_new();
		if (!g) {
			ASN1_IA5STRING_free(s);
			return -ENOMEM;
		}
		GENERAL_NAME_set0_value(g, uri ? GEN_URI : GEN_DNS, s);
	}
	if (!sk_GENERAL_NAME_push(gens, g)) {
		GENERAL_NAME_free(g);
		return -ENOMEM;
	}
	return 0;
}

/* Builds the subjectAltName extension, or NULL in *ret when there is
 * nothing to put in it. */
static int san_extension(const char *const *names, const char *uri, X509_EXTENSION **ret)
{
	_cleanup_general_names_ GENERAL_NAMES *gens = NULL;
	X509_EXTENSION *ext;
	int r;

	*ret = NULL;
	if ((!names || !names[0]) && !uri)
		return 0;
	gens = sk_GENERAL_NAME_new_null();
	if (!gens)
		return -ENOMEM;
	for (size_t i = 0; names && names[i]; i++) {
		r = gens_add(gens, names[i], false);
		if (r < 0)
			return r;
	}
	if (uri) {
		r = gens_add(gens, uri, true);
		if (r < 0)
			return r;
	}
	ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, gens);
	if (!ext)
		return -ENOMEM;
	*ret = ext;
	return 0;
}

/* Adds an extension from its OpenSSL config text (e.g. "critical,CA:TRUE"). */
static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	_cleanup_x509_extension_ X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);

	if (!ext)
		return -EIO;
	if (X509_add_ext(x, ext, -1) != 1)
		return -ENOMEM;
	return 0;
}

/* A random positive serial of 128 bits (RFC 5280 allows up to 20 octets). */
static int set_random_serial(X509 *x)
{
	_cleanup_(bn_freep) BIGNUM *bn = NULL;
	unsigned char raw[16];
	int r;

	r = random_bytes(raw, sizeof(raw));
	if (r < 0)
		return r;
	raw[0] &= 0x7f; /* positive in DER without a leading zero octet */
	raw[0] |= 0x40; /* and never short or zero */
	bn = BN_bin2bn(raw, sizeof(raw), NULL);
	explicit_bzero(raw, sizeof(raw));
	if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)))
		return -ENOMEM;
	return 0;
}

static int set_validity(X509 *x, int64_t ttl_s)
{
	int64_t now = now_s();

	if (ttl_s <= 0 || ttl_s > PKI_TTL_MAX_S)
		return -EINVAL;
	if (!ASN1_TIME_set(X509_getm_notBefore(x), (time_t)(now - PKI_BACKDATE_S)) ||
	    !ASN1_TIME_set(X509_getm_notAfter(x), (time_t)(now + ttl_s)))
		return -EIO;
	return 0;
}

int pki_ca_create(EVP_PKEY *key, const char *cn, int64_t ttl_s, X509 **ret)
{
	_cleanup_x509_ X509 *x = NULL;
	X509_NAME *name = NULL;
	X509V3_CTX ctx;
	int r;

	if (!key || !cn_is_valid(cn) || !ret)
		return -EINVAL;
	x = X509_new();
	if (!x)
		return -ENOMEM;
	if (X509_set_version(x, X509_VERSION_3) != 1)
		return -EIO;
	r = set_random_serial(x);
	if (r < 0)
		return r;
	r = set_validity(x, ttl_s);
	if (r < 0)
		return r;
	name = name_cn(cn);
	if (!name)
		return -EINVAL;
	r = X509_set_subject_name(x, name) == 1 && X509_set_issuer_name(x, name) == 1;
	X509_NAME_free(name);
	if (!r)
		return -ENOMEM;
	if (X509_set_pubkey(x, key) != 1)
		return -EINVAL;

	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	r = add_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE");
	if (r >= 0)
		r = add_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
	if (r >= 0)
		r = add_ext(x, &ctx, NID_subject_key_identifier, "hash");
	if (r >= 0)
		r = add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always");
	if (r < 0)
		return r;
	if (X509_sign(x, key, sign_md(key)) <= 0)
		return -EIO;
	*ret = TAKE_PTR(x);
	return 0;
}

int pki_csr_create(EVP_PKEY *key, const char *cn, const char *const *names, X509_REQ **ret)
{
	_cleanup_x509_req_ X509_REQ *req = NULL;
	_cleanup_x509_extension_ X509_EXTENSION *san = NULL;
	STACK_OF(X509_EXTENSION) *exts = NULL;
	X509_NAME *name;
	int r;

	if (!key || !cn_is_valid(cn) || !ret)
		return -EINVAL;
	r = names_check(names);
	if (r < 0)
		return r;
	req = X509_REQ_new();
	if (!req)
		return -ENOMEM;
	if (X509_REQ_set_version(req, X509_REQ_VERSION_1) != 1)
		return -EIO;
	name = name_cn(cn);
	if (!name)
		return -EINVAL;
	r = X509_REQ_set_subject_name(req, name);
	X509_NAME_free(name);
	if (r != 1)
		return -ENOMEM;
	if (X509_REQ_set_pubkey(req, key) != 1)
		return -EINVAL;

	r = san_extension(names, NULL, &san);
	if (r < 0)
		return r;
	if (san) {
		exts = sk_X509_EXTENSION_new_null();
		if (!exts || !sk_X509_EXTENSION_push(exts, san)) {
			sk_X509_EXTENSION_free(exts);
			return -ENOMEM;
		}
		r = X509_REQ_add_extensions(req, exts);
		sk_X509_EXTENSION_free(exts); /* san itself is freed by its cleanup */
		if (r != 1)
			return -ENOMEM;
	}
	if (X509_REQ_sign(req, key, sign_md(key)) <= 0)
		return -EIO;
	*ret = TAKE_PTR(req);
	return 0;
}

int pki_cert_issue(X509 *ca_cert, EVP_PKEY *ca_key, EVP_PKEY *pub, const struct pki_sign_opts *opts,
		   X509 **ret)
{
	_cleanup_x509_ X509 *x = NULL;
	_cleanup_x509_extension_ X509_EXTENSION *san = NULL;
	const char *eku;
	X509_NAME *name;
	X509V3_CTX ctx;
	int r;

	if (!ca_cert || !ca_key || !pub || !opts || !ret)
		return -EINVAL;
	if (!cn_is_valid(opts->cn) || (opts->uri && !uri_is_valid(opts->uri)))
		return -EINVAL;
	if (opts->usage == 0 || (opts->usage & ~(unsigned)(PKI_USAGE_SERVER | PKI_USAGE_CLIENT)))
		return -EINVAL;
	r = names_check(opts->names);
	if (r < 0)
		return r;
	if (!pubkey_is_acceptable(pub))
		return -EINVAL;
	if (X509_check_ca(ca_cert) < 1 || X509_check_private_key(ca_cert, ca_key) != 1) {
		ERR_clear_error();
		return -EINVAL;
	}

	x = X509_new();
	if (!x)
		return -ENOMEM;
	if (X509_set_version(x, X509_VERSION_3) != 1)
		return -EIO;
	r = set_random_serial(x);
	if (r < 0)
		return r;
	r = set_validity(x, opts->ttl_s);
	if (r < 0)
		return r;
	if (X509_set_issuer_name(x, X509_get_subject_name(ca_cert)) != 1)
		return -ENOMEM;
	name = name_cn(opts->cn);
	if (!name)
		return -EINVAL;
	r = X509_set_subject_name(x, name);
	X509_NAME_free(name);
	if (r != 1)
		return -ENOMEM;
	if (X509_set_pubkey(x, pub) != 1)
		return -EINVAL;

	X509V3_set_ctx(&ctx, ca_cert, x, NULL, NULL, 0);
	r = add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE");
	if (r >= 0)
		r = add_ext(x, &ctx, NID_key_usage,
			    EVP_PKEY_is_a(pub, "RSA") ? "critical,digitalSignature,keyEncipherment" :
							"critical,digitalSignature");
	if (r < 0)
		return r;
	eku = (opts->usage & PKI_USAGE_SERVER) && (opts->usage & PKI_USAGE_CLIENT) ?
		      "serverAuth,clientAuth" :
	      opts->usage & PKI_USAGE_SERVER ? "serverAuth" :
					       "clientAuth";
	r = add_ext(x, &ctx, NID_ext_key_usage, eku);
	if (r >= 0)
		r = add_ext(x, &ctx, NID_subject_key_identifier, "hash");
	if (r >= 0)
		r = add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always");
	if (r < 0)
		return r;
	r = san_extension(opts->names, opts->uri, &san);
	if (r < 0)
		return r;
	if (san && X509_add_ext(x, san, -1) != 1)
		return -ENOMEM;

	if (X509_sign(x, ca_key, sign_md(ca_key)) <= 0)
		return -EIO;
	*ret = TAKE_PTR(x);
	return 0;
}

int pki_csr_sign(X509 *ca_cert, EVP_PKEY *ca_key, X509_REQ *csr, const struct pki_sign_opts *opts,
		 X509 **ret)
{
	EVP_PKEY *pub;

	if (!csr)
		return -EINVAL;
	pub = X509_REQ_get0_pubkey(csr);
	if (!pub) {
		ERR_clear_error();
		return -EBADMSG;
	}
	if (X509_REQ_verify(csr, pub) != 1) {
		ERR_clear_error();
		return -EBADMSG;
	}
	return pki_cert_issue(ca_cert, ca_key, pub, opts, ret);
}

/* A short static reason for a verification error. */
static const char *verify_reason(int err)
{
	switch (err) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
		return "certificate has expired";
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return "certificate is not yet valid";
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
		return "certificate does not chain to the trusted CA";
	case X509_V_ERR_CERT_SIGNATURE_FAILURE:
		return "certificate signature does not verify";
	default:
		/* OpenSSL's own strings are static. */
		return X509_verify_cert_error_string(err);
	}
}

int pki_verify_chain(X509 *ca, X509 *cert, const char **ret_reason)
{
	_cleanup_(x509_store_freep) X509_STORE *store = NULL;
	_cleanup_(x509_store_ctx_freep) X509_STORE_CTX *ctx = NULL;
	int ok;

	if (!ca || !cert) {
		if (ret_reason)
			*ret_reason = "no certificate";
		return -EBADMSG;
	}
	store = X509_STORE_new();
	ctx = X509_STORE_CTX_new();
	if (!store || !ctx || X509_STORE_add_cert(store, ca) != 1) {
		ERR_clear_error();
		if (ret_reason)
			*ret_reason = "out of memory";
		return -EBADMSG;
	}
	X509_STORE_set_flags(store, X509_V_FLAG_X509_STRICT);
	if (X509_STORE_CTX_init(ctx, store, cert, NULL) != 1) {
		ERR_clear_error();
		if (ret_reason)
			*ret_reason = "out of memory";
		return -EBADMSG;
	}
	ok = X509_verify_cert(ctx);
	if (ok != 1) {
		if (ret_reason)
			*ret_reason = verify_reason(X509_STORE_CTX_get_error(ctx));
		ERR_clear_error();
		return -EBADMSG;
	}
	return 0;
}

/* The SAN of cert, or NULL (also when there is more than one SAN). */
static GENERAL_NAMES *cert_sans(X509 *cert)
{
	int crit = 0;
	GENERAL_NAMES *gens = X509_get_ext_d2i(cert, NID_subject_alt_name, &crit, NULL);

	if (!gens && crit == -2)
		ERR_clear_error();
	return gens;
}

/* The text of an IA5String SAN value, or NULL when it holds a NUL. */
static const char *ia5_text(const ASN1_IA5STRING *s, size_t *ret_len)
{
	const char *d = (const char *)ASN1_STRING_get0_data(s);
	int n = ASN1_STRING_length(s);

	if (!d || n < 0 || memchr(d, '\0', (size_t)n))
		return NULL;
	*ret_len = (size_t)n;
	return d;
}

int pki_cert_node_id(X509 *cert, char **ret)
{
	_cleanup_general_names_ GENERAL_NAMES *gens = NULL;
	const size_t plen = strlen(CAIRN_NODE_URI_PREFIX);
	const char *id = NULL;
	size_t idlen = 0;
	int found = 0;
	char *s;

	if (!cert || !ret)
		return -EINVAL;
	gens = cert_sans(cert);
	if (!gens)
		return -ENOENT;
	for (int i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		const char *d;
		size_t n;

		if (g->type != GEN_URI)
			continue;
		d = ia5_text(g->d.uniformResourceIdentifier, &n);
		if (!d) {
			/* A URI with a NUL inside could hide a node URI. */
			return -ENOENT;
		}
		if (n < plen || memcmp(d, CAIRN_NODE_URI_PREFIX, plen) != 0)
			continue;
		found++;
		id = d + plen;
		idlen = n - plen;
	}
	if (found != 1 || idlen == 0 || idlen > CAIRN_NODE_ID_MAX)
		return -ENOENT;
	for (size_t i = 0; i < idlen; i++) {
		char c = id[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-'))
			return -ENOENT;
	}
	s = strndup(id, idlen);
	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}

/* Canonical text of a DNS name or IP literal (IPs through inet_ntop). */
static bool canonical_name(const char *in, char *out, size_t outlen)
{
	unsigned char a[16];

	if (inet_pton(AF_INET, in, a) == 1)
		return inet_ntop(AF_INET, a, out, (socklen_t)outlen) != NULL;
	if (inet_pton(AF_INET6, in, a) == 1)
		return inet_ntop(AF_INET6, a, out, (socklen_t)outlen) != NULL;
	if (strlen(in) >= outlen)
		return false;
	memcpy(out, in, strlen(in) + 1);
	return true;
}

bool pki_cert_has_names(X509 *cert, const char *const *names)
{
	_cleanup_general_names_ GENERAL_NAMES *gens = NULL;
	char have[PKI_NAMES_MAX][256];
	bool used[PKI_NAMES_MAX] = { false };
	size_t nhave = 0, nwant = 0;

	if (!cert)
		return false;
	gens = cert_sans(cert);
	for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);

		if (g->type != GEN_DNS && g->type != GEN_IPADD)
			continue;
		if (nhave >= PKI_NAMES_MAX)
			return false;
		if (g->type == GEN_DNS) {
			size_t n;
			const char *d = ia5_text(g->d.dNSName, &n);
			if (!d || n >= sizeof(have[0]))
				return false;
			memcpy(have[nhave], d, n);
			have[nhave][n] = '\0';
		} else {
			int n = ASN1_STRING_length(g->d.iPAddress);
			const unsigned char *d = ASN1_STRING_get0_data(g->d.iPAddress);
			int af = n == 4 ? AF_INET : n == 16 ? AF_INET6 : -1;
			if (af < 0 || !inet_ntop(af, d, have[nhave], sizeof(have[0])))
				return false;
		}
		nhave++;
	}

	for (; names && names[nwant]; nwant++) {
		char c[256];
		bool found = false;

		if (!canonical_name(names[nwant], c, sizeof(c)))
			return false;
		for (size_t i = 0; i < nhave; i++)
			if (!used[i] && streq(have[i], c)) {
				used[i] = found = true;
				break;
			}
		if (!found)
			return false;
	}
	return nwant == nhave;
}

bool pki_cert_has_usage(X509 *cert, unsigned usage)
{
	uint32_t flags, want = 0;

	if (!cert || usage == 0)
		return false;
	/* Without the extension OpenSSL reports every usage: we do not. */
	if (X509_get_ext_by_NID(cert, NID_ext_key_usage, -1) < 0)
		return false;
	flags = X509_get_extended_key_usage(cert);
	if (usage & PKI_USAGE_SERVER)
		want |= XKU_SSL_SERVER;
	if (usage & PKI_USAGE_CLIENT)
		want |= XKU_SSL_CLIENT;
	return (flags & want) == want;
}

static int asn1_time_to_s(const ASN1_TIME *t, int64_t *ret)
{
	struct tm tm = {};
	time_t s;

	if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
		return -EINVAL;
	s = timegm(&tm);
	if (s == (time_t)-1)
		return -EINVAL;
	*ret = (int64_t)s;
	return 0;
}

int pki_cert_not_after(X509 *cert, int64_t *ret)
{
	if (!cert || !ret)
		return -EINVAL;
	return asn1_time_to_s(X509_get0_notAfter(cert), ret);
}

int pki_cert_not_before(X509 *cert, int64_t *ret)
{
	if (!cert || !ret)
		return -EINVAL;
	return asn1_time_to_s(X509_get0_notBefore(cert), ret);
}

char *pki_cert_serial_hex(X509 *cert)
{
	_cleanup_(bn_freep) BIGNUM *bn = NULL;
	char *h, *s;

	if (!cert)
		return NULL;
	bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
	if (!bn)
		return NULL;
	h = BN_bn2hex(bn);
	if (!h)
		return NULL;
	s = strdup(h);
	OPENSSL_free(h);
	return s;
}

char *pki_cert_fingerprint(X509 *cert)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (!cert || X509_digest(cert, EVP_sha256(), md, &n) != 1)
		return NULL;
	return hex_encode(md, n);
}

bool pki_cert_matches_key(X509 *cert, EVP_PKEY *key)
{
	bool ok;

	if (!cert || !key)
		return false;
	ok = X509_check_private_key(cert, key) == 1;
	ERR_clear_error();
	return ok;
}

/* Copies a memory BIO's content into a NUL-terminated heap string. */
static int bio_to_string(BIO *bio, char **ret)
{
	char *data, *s;
	long n = BIO_get_mem_data(bio, &data);

	if (n <= 0)
		return -EIO;
	s = malloc((size_t)n + 1);
	if (!s)
		return -ENOMEM;
	memcpy(s, data, (size_t)n);
	s[n] = '\0';
	*ret = s;
	return 0;
}

int pki_key_to_pem(EVP_PKEY *key, char **ret)
{
	/* A memory BIO clears its buffer when freed (BUF_MEM_free). */
	_cleanup_bio_ BIO *bio = BIO_new(BIO_s_mem());

	if (!key || !ret)
		return -EINVAL;
	if (!bio)
		return -ENOMEM;
	if (PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) != 1)
		return -EIO;
	return bio_to_string(bio, ret);
}

int pki_pubkey_to_pem(EVP_PKEY *key, char **ret)
{
	_cleanup_bio_ BIO *bio = BIO_new(BIO_s_mem());

	if (!key || !ret)
		return -EINVAL;
	if (!bio)
		return -ENOMEM;
	if (PEM_write_bio_PUBKEY(bio, key) != 1)
		return -EIO;
	return bio_to_string(bio, ret);
}

int pki_cert_to_pem(X509 *cert, char **ret)
{
	_cleanup_bio_ BIO *bio = BIO_new(BIO_s_mem());

	if (!cert || !ret)
		return -EINVAL;
	if (!bio)
		return -ENOMEM;
	if (PEM_write_bio_X509(bio, cert) != 1)
		return -EIO;
	return bio_to_string(bio, ret);
}

int pki_csr_to_pem(X509_REQ *csr, char **ret)
{
	_cleanup_bio_ BIO *bio = BIO_new(BIO_s_mem());

	if (!csr || !ret)
		return -EINVAL;
	if (!bio)
		return -ENOMEM;
	if (PEM_write_bio_X509_REQ(bio, csr) != 1)
		return -EIO;
	return bio_to_string(bio, ret);
}

/* A read-only memory BIO over a NUL-terminated string. */
static BIO *pem_bio(const char *pem)
{
	size_t n;

	if (!pem)
		return NULL;
	n = strlen(pem);
	if (n == 0 || n > INT32_MAX)
		return NULL;
	return BIO_new_mem_buf(pem, (int)n);
}

int pki_key_from_pem(const char *pem, EVP_PKEY **ret)
{
	_cleanup_bio_ BIO *bio = pem_bio(pem);
	EVP_PKEY *k;

	if (!bio || !ret)
		return -EINVAL;
	k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	if (!k) {
		ERR_clear_error();
		return -EINVAL;
	}
	*ret = k;
	return 0;
}

int pki_pubkey_from_pem(const char *pem, EVP_PKEY **ret)
{
	_cleanup_bio_ BIO *bio = pem_bio(pem);
	EVP_PKEY *k;

	if (!bio || !ret)
		return -EINVAL;
	k = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	if (!k) {
		ERR_clear_error();
		return -EINVAL;
	}
	*ret = k;
	return 0;
}

int pki_cert_from_pem(const char *pem, X509 **ret)
{
	_cleanup_bio_ BIO *bio = pem_bio(pem);
	X509 *x;

	if (!bio || !ret)
		return -EINVAL;
	x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	if (!x) {
		ERR_clear_error();
		return -EINVAL;
	}
	*ret = x;
	return 0;
}

int pki_csr_from_pem(const char *pem, X509_REQ **ret)
{
	_cleanup_bio_ BIO *bio = pem_bio(pem);
	X509_REQ *r;

	if (!bio || !ret)
		return -EINVAL;
	r = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL);
	if (!r) {
		ERR_clear_error();
		return -EINVAL;
	}
	*ret = r;
	return 0;
}

int pki_key_load(const char *path, EVP_PKEY **ret)
{
	_cleanup_secret_ char *pem = NULL;
	int r;

	if (!ret)
		return -EINVAL;
	r = read_file_full(path, PKI_PEM_FILE_MAX, &pem, NULL);
	if (r < 0)
		return r;
	return pki_key_from_pem(pem, ret);
}

int pki_cert_load(const char *path, X509 **ret)
{
	_cleanup_free_ char *pem = NULL;
	int r;

	if (!ret)
		return -EINVAL;
	r = read_file_full(path, PKI_PEM_FILE_MAX, &pem, NULL);
	if (r < 0)
		return r;
	return pki_cert_from_pem(pem, ret);
}

int pki_key_save(const char *path, EVP_PKEY *key)
{
	_cleanup_secret_ char *pem = NULL;
	int r;

	r = pki_key_to_pem(key, &pem);
	if (r < 0)
		return r;
	return write_string_atomic(path, pem, 0600);
}

int pki_cert_save(const char *path, X509 *cert)
{
	_cleanup_free_ char *pem = NULL;
	int r;

	r = pki_cert_to_pem(cert, &pem);
	if (r < 0)
		return r;
	return write_string_atomic(path, pem, 0644);
}
