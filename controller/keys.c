/*
 * keys.c: creates and loads the files behind keys.h.
 *
 *   ca.key          CA private key (P-256, 0600)
 *   ca.pem          CA certificate
 *   job-signing.key Ed25519 job-signing key (0600)
 *   kek.key         32 random bytes (0600)
 *   server.key/pem  listeners' key and certificate, issued by the CA
 *   admin.token     the first admin API token (0600), shown once
 *
 * Order matters for crash safety: a key is always written before anything
 * derived from it, and each file atomically, so after a crash the
 * directory is either complete, or missing trailing derived files that the
 * next start creates.  The one unrecoverable case (a CA key whose
 * certificate is gone, or the reverse) is refused with a message.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "jws.h"
#include "keys.h"
#include "log.h"
#include "macro.h"
#include "pki.h"
#include "store.h"
#include "util.h"

#define KEYS_FILE_MAX (64 * 1024)

void keys_free(struct keys *k)
{
	if (!k)
		return;
	EVP_PKEY_free(k->ca_key);
	X509_free(k->ca_cert);
	free(k->ca_pem);
	EVP_PKEY_free(k->job_key);
	free(k->job_pub_pem);
	explicit_bzero(k->kek, sizeof(k->kek));
	freezero_strp(&k->server_key_pem);
	free(k->server_cert_pem);
	free(k);
}

json_t *keys_job_keys_json(const struct keys *k)
{
	return json_pack("[{s:s, s:s}]", "kid", k->job_kid, "public_key_pem", k->job_pub_pem);
}

static int seterr(char **ret_error, int r, const char *fmt, ...) _printf_(3, 4);
static int seterr(char **ret_error, int r, const char *fmt, ...)
{
	if (ret_error) {
		va_list ap;
		va_start(ap, fmt);
		if (vasprintf(ret_error, fmt, ap) < 0)
			*ret_error = NULL;
		va_end(ap);
	}
	return r;
}

static bool file_exists(const char *dir, const char *name)
{
	_cleanup_free_ char *p = path_join(dir, name);
	return p && access(p, F_OK) == 0;
}

static int setup_ca(const char *dir, struct keys *k, char **ret_error)
{
	_cleanup_free_ char *kp = path_join(dir, "ca.key"), *cp = path_join(dir, "ca.pem");
	bool have_key = file_exists(dir, "ca.key"), have_cert = file_exists(dir, "ca.pem");
	int r;

	if (!kp || !cp)
		return -ENOMEM;
	if (have_key != have_cert)
		return seterr(ret_error, -EUCLEAN,
			      "%s: found %s but not %s; the CA is half there and will not be re-created "
			      "(that would invalidate every node certificate). Restore the missing file "
			      "from a backup, or remove both to start a new CA",
			      dir, have_key ? "ca.key" : "ca.pem", have_key ? "ca.pem" : "ca.key");
	if (!have_key) {
		r = pki_key_generate(&k->ca_key);
		if (r < 0)
			return seterr(ret_error, r, "cannot generate the CA key: %s", strerror(-r));
		r = pki_ca_create(k->ca_key, "Cairn controller CA", KEYS_CA_TTL_S, &k->ca_cert);
		if (r < 0)
			return seterr(ret_error, r, "cannot create the CA certificate: %s", strerror(-r));
		/* Key first, then certificate.  A crash between the two writes
		 * leaves a key without a certificate, which the next start
		 * refuses with a message (on a fresh installation the operator
		 * removes the key); it never silently gets a new CA. */
		r = pki_key_save(kp, k->ca_key);
		if (r < 0)
			return seterr(ret_error, r, "%s: cannot write: %s", kp, strerror(-r));
		r = pki_cert_save(cp, k->ca_cert);
		if (r < 0)
			return seterr(ret_error, r, "%s: cannot write: %s", cp, strerror(-r));
		log_info("created a new CA in %s", dir);
	} else {
		r = pki_key_load(kp, &k->ca_key);
		if (r < 0)
			return seterr(ret_error, r, "%s: cannot load: %s", kp, strerror(-r));
		r = pki_cert_load(cp, &k->ca_cert);
		if (r < 0)
			return seterr(ret_error, r, "%s: cannot load: %s", cp, strerror(-r));
		if (X509_check_private_key(k->ca_cert, k->ca_key) != 1)
			return seterr(ret_error, -EUCLEAN, "%s does not belong to %s", cp, kp);
	}
	r = pki_cert_to_pem(k->ca_cert, &k->ca_pem);
	if (r < 0)
		return seterr(ret_error, r, "cannot encode the CA certificate");
	return 0;
}

static int setup_job_key(const char *dir, struct keys *k, char **ret_error)
{
	_cleanup_free_ char *p = path_join(dir, "job-signing.key");
	int r;

	if (!p)
		return -ENOMEM;
	if (!file_exists(dir, "job-signing.key")) {
		r = jws_key_generate(&k->job_key);
		if (r < 0)
			return seterr(ret_error, r, "cannot generate the job-signing key: %s", strerror(-r));
		r = pki_key_save(p, k->job_key);
		if (r < 0)
			return seterr(ret_error, r, "%s: cannot write: %s", p, strerror(-r));
		log_info("created a new job-signing key in %s", p);
	} else {
		r = pki_key_load(p, &k->job_key);
		if (r < 0)
			return seterr(ret_error, r, "%s: cannot load: %s", p, strerror(-r));
		if (EVP_PKEY_get_id(k->job_key) != EVP_PKEY_ED25519)
			return seterr(ret_error, -EINVAL, "%s: not an Ed25519 key", p);
	}
	r = jws_key_id(k->job_key, k->job_kid);
	if (r < 0)
		return seterr(ret_error, r, "cannot derive the job key id");
	r = pki_pubkey_to_pem(k->job_key, &k->job_pub_pem);
	if (r < 0)
		return seterr(ret_error, r, "cannot encode the job key");
	return 0;
}

static int setup_kek(const char *dir, struct keys *k, char **ret_error)
{
	_cleanup_free_ char *p = path_join(dir, "kek.key");
	int r;

	if (!p)
		return -ENOMEM;
	if (!file_exists(dir, "kek.key")) {
		r = random_bytes(k->kek, sizeof(k->kek));
		if (r < 0)
			return seterr(ret_error, r, "cannot get random bytes: %s", strerror(-r));
		r = write_file_atomic(p, k->kek, sizeof(k->kek), 0600);
		if (r < 0)
			return seterr(ret_error, r, "%s: cannot write: %s", p, strerror(-r));
		return 0;
	}
	char *data = NULL;
	size_t len = 0;
	r = read_file_full(p, KEYS_FILE_MAX, &data, &len);
	if (r < 0)
		return seterr(ret_error, r, "%s: cannot read: %s", p, strerror(-r));
	if (len != sizeof(k->kek)) {
		explicit_bzero(data, len);
		free(data);
		return seterr(ret_error, -EINVAL, "%s: expected %zu bytes, found %zu", p, sizeof(k->kek),
			      len);
	}
	memcpy(k->kek, data, len);
	explicit_bzero(data, len);
	free(data);
	return 0;
}

/* True when the server certificate needs (re)issuing. */
static bool server_cert_stale(X509 *cert, EVP_PKEY *key, X509 *ca, char *const *names)
{
	const char *reason = NULL;
	int64_t not_after = 0;

	if (X509_check_private_key(cert, key) != 1)
		return true;
	if (pki_verify_chain(ca, cert, &reason) < 0)
		return true;
	if (!pki_cert_has_names(cert, (const char *const *)names))
		return true;
	if (pki_cert_not_after(cert, &not_after) < 0 || not_after - now_s() < KEYS_SERVER_RENEW_BEFORE_S)
		return true;
	return false;
}

static int setup_server(const char *dir, char *const *names, struct keys *k, char **ret_error)
{
	_cleanup_free_ char *kp = path_join(dir, "server.key"), *cp = path_join(dir, "server.pem");
	_cleanup_pkey_ EVP_PKEY *key = NULL;
	_cleanup_x509_ X509 *cert = NULL;
	int r;

	if (!kp || !cp)
		return -ENOMEM;
	if (file_exists(dir, "server.key")) {
		r = pki_key_load(kp, &key);
		if (r < 0)
			return seterr(ret_error, r, "%s: cannot load: %s", kp, strerror(-r));
	} else {
		r = pki_key_generate(&key);
		if (r < 0)
			return seterr(ret_error, r, "cannot generate the server key: %s", strerror(-r));
		r = pki_key_save(kp, key);
		if (r < 0)
			return seterr(ret_error, r, "%s: cannot write: %s", kp, strerror(-r));
	}
	if (file_exists(dir, "server.pem") && pki_cert_load(cp, &cert) >= 0 &&
	    !server_cert_stale(cert, key, k->ca_cert, names))
		goto done;

	X509_free(TAKE_PTR(cert));
	struct pki_sign_opts opts = {
		.cn = names[0],
		.names = (const char *const *)names,
		.ttl_s = KEYS_SERVER_TTL_S,
		.usage = PKI_USAGE_SERVER,
	};
	r = pki_cert_issue(k->ca_cert, k->ca_key, key, &opts, &cert);
	if (r < 0)
		return seterr(ret_error, r, "cannot issue the server certificate: %s", strerror(-r));
	r = pki_cert_save(cp, cert);
	if (r < 0)
		return seterr(ret_error, r, "%s: cannot write: %s", cp, strerror(-r));
	log_info("issued a new server certificate for %s", names[0]);
done:
	r = pki_key_to_pem(key, &k->server_key_pem);
	if (r < 0)
		return seterr(ret_error, r, "cannot encode the server key");
	r = pki_cert_to_pem(cert, &k->server_cert_pem);
	if (r < 0)
		return seterr(ret_error, r, "cannot encode the server certificate");
	return 0;
}

static int setup_admin_token(const char *dir, struct store *store, char **ret_error)
{
	_cleanup_free_ char *p = path_join(dir, "admin.token");
	_cleanup_secret_ char *token = NULL;
	char hash[65];
	int64_t n = 0;
	bool created = false;
	int r;

	if (!p)
		return -ENOMEM;
	r = store_token_count(store, &n);
	if (r < 0)
		return seterr(ret_error, r, "cannot read tokens from the store");
	if (n > 0)
		return 0;

	/* No token in the store.  An admin.token file without its hash is a
	 * crash between the two writes: complete it with the same token. */
	r = read_one_line(p, CAIRN_TOKEN_MAX + 1, &token);
	if (r == -ENOENT) {
		token = token_new(CAIRN_API_TOKEN_PREFIX);
		if (!token)
			return -ENOMEM;
		r = write_string_atomic(p, token, 0600);
		if (r < 0)
			return seterr(ret_error, r, "%s: cannot write: %s", p, strerror(-r));
		created = true;
	} else if (r < 0)
		return seterr(ret_error, r, "%s: cannot read: %s", p, strerror(-r));
	else if (strncmp(token, CAIRN_API_TOKEN_PREFIX, strlen(CAIRN_API_TOKEN_PREFIX)) != 0)
		return seterr(ret_error, -EINVAL, "%s: not an admin token", p);

	r = sha256_hex(token, strlen(token), hash);
	if (r < 0)
		return r;
	r = store_token_add(store, hash, "admin", now_s());
	if (r < 0)
		return seterr(ret_error, r, "cannot store the admin token");
	if (created) {
		/* Printed once, on stdout only: never into the log. */
		printf("admin token: %s\n", token);
		fflush(stdout);
		log_notice("created the admin API token; it is in %s", p);
	}
	return 0;
}

int keys_setup(const char *state_dir, char *const *server_names, struct store *store,
	       struct keys **ret, char **ret_error)
{
	_cleanup_keys_ struct keys *k = NULL;
	int r;

	r = mkdir_p(state_dir, 0700);
	if (r < 0)
		return seterr(ret_error, r, "%s: cannot create: %s", state_dir, strerror(-r));
	struct stat st;
	if (stat(state_dir, &st) == 0 && (st.st_mode & 0077))
		log_warning("%s is accessible by group or others (mode %04o); it holds private keys",
			    state_dir, (unsigned)(st.st_mode & 07777));
	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	r = setup_ca(state_dir, k, ret_error);
	if (r < 0)
		return r;
	r = setup_job_key(state_dir, k, ret_error);
	if (r < 0)
		return r;
	r = setup_kek(state_dir, k, ret_error);
	if (r < 0)
		return r;
	r = setup_server(state_dir, server_names, k, ret_error);
	if (r < 0)
		return r;
	if (store) {
		r = setup_admin_token(state_dir, store, ret_error);
		if (r < 0)
			return r;
	}
	*ret = TAKE_PTR(k);
	return 0;
}
