/*
 * pki.h: the controller's small CA and the agent's keys and CSRs, on
 * OpenSSL 3 EVP and X509.  Keys for TLS are ECDSA P-256 (widest support in
 * GnuTLS, OpenSSL and PostgreSQL clients).  The CA decides every field of a
 * certificate it signs; from a CSR it takes only the public key, after
 * checking the CSR's own signature.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

/* ECDSA P-256 key pair.  Returns 0 or -errno. */
int pki_key_generate(EVP_PKEY **ret);

/* Self-signed CA certificate for `key` (basicConstraints CA:TRUE critical,
 * keyUsage keyCertSign|cRLSign, subject CN=cn), valid ttl_s from now. */
int pki_ca_create(EVP_PKEY *key, const char *cn, int64_t ttl_s, X509 **ret);

/* CSR signed by `key` with subject CN=cn and SANs `names` (DNS names or IP
 * literals, NULL-terminated, may be NULL). */
int pki_csr_create(EVP_PKEY *key, const char *cn, const char *const *names, X509_REQ **ret);

enum pki_usage {
	PKI_USAGE_SERVER = 1 << 0, /* extendedKeyUsage serverAuth */
	PKI_USAGE_CLIENT = 1 << 1, /* extendedKeyUsage clientAuth */
};

struct pki_sign_opts {
	const char *cn;                /* subject CN */
	const char *const *names;      /* DNS names / IP literals for SAN, NULL-terminated or NULL */
	const char *uri;               /* SAN URI, e.g. "cairn://node/<id>", or NULL */
	int64_t ttl_s;                 /* validity from now (notBefore = now - 5 min) */
	unsigned usage;                /* PKI_USAGE_* */
};

/* Checks the CSR's signature and issues a certificate for its public key
 * with the fields in opts (random 128-bit serial, SHA-256).  Nothing else
 * of the CSR is used.  Returns 0, -EBADMSG for a CSR whose signature
 * fails, -EINVAL for bad opts or a key type we do not certify (EC on
 * P-256/384/521 and RSA 2048..8192 are fine), or -errno.
 *
 * Certificates: v3, CN=opts->cn, SANs = names (IP literals as IP
 * addresses, others as DNS names) + uri, basicConstraints CA:FALSE
 * (critical), keyUsage digitalSignature (+keyEncipherment for RSA,
 * critical), extendedKeyUsage per opts->usage (at least one), SKI, AKI. */
int pki_csr_sign(X509 *ca_cert, EVP_PKEY *ca_key, X509_REQ *csr, const struct pki_sign_opts *opts,
		 X509 **ret);

/* Same for a public key we already hold (the controller's own server cert). */
int pki_cert_issue(X509 *ca_cert, EVP_PKEY *ca_key, EVP_PKEY *pub, const struct pki_sign_opts *opts,
		   X509 **ret);

/* Verifies that cert chains to ca (the only trust anchor) at the current
 * time.  Returns 0 or -EBADMSG with a static *ret_reason. */
int pki_verify_chain(X509 *ca, X509 *cert, const char **ret_reason);

/* Node id from the certificate's SAN URI cairn://node/<id>.  Returns 0 and
 * a heap string, or -ENOENT when there is no such URI, more than one, or
 * the id is empty, longer than CAIRN_NODE_ID_MAX or not [A-Za-z0-9-]. */
int pki_cert_node_id(X509 *cert, char **ret);

/* True when the certificate's SANs contain exactly the given names (order
 * ignored).  For tests and renewal decisions. */
bool pki_cert_has_names(X509 *cert, const char *const *names);

/* True when the certificate's extendedKeyUsage has every PKI_USAGE_* bit
 * in `usage` (the gateway wants PKI_USAGE_CLIENT from a node). */
bool pki_cert_has_usage(X509 *cert, unsigned usage);

int pki_cert_not_after(X509 *cert, int64_t *ret);
int pki_cert_not_before(X509 *cert, int64_t *ret);
/* Hex serial (upper case, no colons); heap string or NULL. */
char *pki_cert_serial_hex(X509 *cert);
/* SHA-256 fingerprint, lower-case hex; heap string or NULL. */
char *pki_cert_fingerprint(X509 *cert);

/* True when key is the private key of cert. */
bool pki_cert_matches_key(X509 *cert, EVP_PKEY *key);

/* PEM in and out.  *_to_pem return heap strings (wipe private keys with
 * freezero_strp); *_from_pem parse one object from a NUL-terminated string
 * and return 0 or -EINVAL.  Private keys are PKCS#8, unencrypted: files
 * holding them are 0600 and written atomically. */
int pki_key_to_pem(EVP_PKEY *key, char **ret);
int pki_pubkey_to_pem(EVP_PKEY *key, char **ret);
int pki_cert_to_pem(X509 *cert, char **ret);
int pki_csr_to_pem(X509_REQ *csr, char **ret);
int pki_key_from_pem(const char *pem, EVP_PKEY **ret);
int pki_pubkey_from_pem(const char *pem, EVP_PKEY **ret);
int pki_cert_from_pem(const char *pem, X509 **ret);
int pki_csr_from_pem(const char *pem, X509_REQ **ret);

/* File helpers: read a PEM file (at most 64 KiB) / write one atomically. */
int pki_key_load(const char *path, EVP_PKEY **ret);
int pki_cert_load(const char *path, X509 **ret);
int pki_key_save(const char *path, EVP_PKEY *key);   /* mode 0600 */
int pki_cert_save(const char *path, X509 *cert);     /* mode 0644 */
