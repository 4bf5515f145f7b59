/*
 * exec-tls.c: tls.issue.  Order matters for a crash or a failure at any
 * step: a new key is made in memory, the CSR goes to the controller, the
 * answer is checked (the certificate must hold our public key, chain to the
 * controller CA and carry exactly the requested names), and only then are
 * files written: the certificate (0644), then the key (0600), then the CA
 * if asked for, each atomically, and with an `owner` (postgres or
 * prometheus: the service that reads them) they are chowned after the
 * writes, the key keeping 0600.  A failure before that leaves the old
 * pair untouched.  The issue is recorded in <state_dir>/certs.json.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/x509.h>

#include "client.h"
#include "exec-tls.h"
#include "fileio.h"
#include "macro.h"
#include "pki.h"
#include "proc.h"
#include "protocol.h"
#include "util.h"

/* The users a job may hand TLS files to (docs/datastores.md "Jobs"). */
static bool tls_owner_is_allowed(const char *owner)
{
	return owner && (streq(owner, "postgres") || streq(owner, "prometheus"));
}

/* Gives a file just written to `uid`/`gid`, without following a link
 * (the mode stays: 0600 for the key). */
static int tls_chown(const char *path, uid_t uid, gid_t gid)
{
	if (fchownat(AT_FDCWD, path, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	return 0;
}

int exec_tls_issue_validate(json_t *params, const struct exec_config *cfg, char *reason, size_t reason_len)
{
	static const char *const known[] = { "names", "key_path", "cert_path", "ca_path", "ttl_s", "owner", NULL };
	static const char *const paths[] = { "key_path", "cert_path", "ca_path" };
	json_t *names, *v;
	size_t i;
	int r;

	r = exec_check_members(params, known, reason, reason_len);
	if (r < 0)
		return r;

	names = json_object_get(params, "names");
	if (!json_is_array(names) || json_array_size(names) < 1 || json_array_size(names) > EXEC_TLS_NAMES_MAX)
		return exec_reason(reason, reason_len, "params.names: expected an array of 1..%d names",
				   EXEC_TLS_NAMES_MAX);
	json_array_foreach(names, i, v) {
		if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v) ||
		    !hostname_is_valid(json_string_value(v)))
			return exec_reason(reason, reason_len,
					   "params.names[%zu]: expected a DNS name or an IP literal", i);
	}

	for (i = 0; i < ELEMENTSOF(paths); i++) {
		r = exec_check_path(params, paths[i], !streq(paths[i], "ca_path"), cfg->tls_dir, reason,
				    reason_len);
		if (r < 0)
			return r;
	}
	for (i = 0; i < ELEMENTSOF(paths); i++)
		for (size_t j = i + 1; j < ELEMENTSOF(paths); j++) {
			const char *a = json_string_value(json_object_get(params, paths[i]));
			const char *b = json_string_value(json_object_get(params, paths[j]));

			if (a && b && streq(a, b))
				return exec_reason(reason, reason_len, "params.%s and params.%s: must differ",
						   paths[i], paths[j]);
		}

	v = json_object_get(params, "owner");
	if (v) {
		uid_t uid;
		gid_t gid;

		if (!json_is_string(v) || !tls_owner_is_allowed(json_string_value(v)))
			return exec_reason(reason, reason_len, "params.owner: expected \"postgres\" or \"prometheus\"");
		if (proc_user(json_string_value(v), &uid, &gid) < 0)
			return exec_reason(reason, reason_len, "params.owner: user %s does not exist on this node",
					   json_string_value(v));
	}

	v = json_object_get(params, "ttl_s");
	if (v && (!json_is_integer(v) || json_integer_value(v) < EXEC_TLS_TTL_MIN_S ||
		  json_integer_value(v) > EXEC_TLS_TTL_MAX_S))
		return exec_reason(reason, reason_len, "params.ttl_s: expected an integer in %d..%d",
				   EXEC_TLS_TTL_MIN_S, EXEC_TLS_TTL_MAX_S);
	return 0;
}

static int tls_mkdir_parent(const char *path)
{
	const char *slash = strrchr(path, '/');
	_cleanup_free_ char *dir = NULL;

	if (!slash || slash == path)
		return 0;
	dir = strndup(path, (size_t)(slash - path));
	if (!dir)
		return -ENOMEM;
	int r = mkdir_p(dir, 0755);
	if (r < 0)
		return r;
	/* The certificate's own directory is made traversable whatever the
	 * umask was: its owner (postgres, prometheus) reads files in it; the
	 * key inside stays 0600. */
	if (chmod(dir, 0755) < 0)
		return -errno;
	return 0;
}

/* Replaces (by cert_path) or adds the entry in certs.json. */
static int tls_record(const char *state_dir, json_t *entry)
{
	_cleanup_free_ char *path = path_join(state_dir, EXEC_TLS_CERTS_FILE);
	_cleanup_free_ char *data = NULL, *out = NULL;
	_cleanup_json_ json_t *doc = NULL;
	json_t *certs, *e;
	size_t i;
	int r;

	if (!path)
		return -ENOMEM;
	r = read_file_full(path, EXEC_TLS_CERTS_FILE_MAX, &data, NULL);
	if (r >= 0)
		doc = json_loads(data, JSON_REJECT_DUPLICATES, NULL);
	else if (r != -ENOENT)
		return r;
	if (!json_is_object(doc) || !json_is_array(json_object_get(doc, "certs"))) {
		json_decref(doc);
		doc = json_pack("{s:[]}", "certs");
		if (!doc)
			return -ENOMEM;
	}
	certs = json_object_get(doc, "certs");
	json_array_foreach(certs, i, e) {
		if (json_equal(json_object_get(e, "cert_path"), json_object_get(entry, "cert_path"))) {
			json_array_remove(certs, i);
			break;
		}
	}
	while (json_array_size(certs) >= EXEC_TLS_CERTS_MAX)
		json_array_remove(certs, 0);
	if (json_array_append(certs, entry) < 0)
		return -ENOMEM;
	out = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
	if (!out)
		return -ENOMEM;
	return write_string_atomic(path, out, 0600);
}

int exec_tls_issue_run(json_t *params, const struct exec_context *ctx, json_t **ret_output, char **ret_message)
{
	json_t *jnames = json_object_get(params, "names");
	const char *key_path = json_string_value(json_object_get(params, "key_path"));
	const char *cert_path = json_string_value(json_object_get(params, "cert_path"));
	const char *ca_path = json_string_value(json_object_get(params, "ca_path"));
	const char *owner = json_string_value(json_object_get(params, "owner"));
	uid_t owner_uid = 0;
	gid_t owner_gid = 0;
	const char *names[EXEC_TLS_NAMES_MAX + 1] = { NULL };
	_cleanup_pkey_ EVP_PKEY *key = NULL;
	_cleanup_x509_req_ X509_REQ *csr = NULL;
	_cleanup_x509_ X509 *cert = NULL, *ca = NULL;
	_cleanup_free_ char *csr_pem = NULL, *url = NULL, *serial = NULL, *fp = NULL;
	_cleanup_json_ json_t *body = NULL, *entry = NULL;
	struct client_response resp = {};
	const char *err = NULL, *cert_pem, *ca_pem, *why = NULL;
	char nab[TIMESTAMP_MAX];
	int64_t not_after;
	json_t *v;
	size_t i;
	int r;

	json_array_foreach(jnames, i, v) {
		if (i >= EXEC_TLS_NAMES_MAX)
			break;
		names[i] = json_string_value(v);
	}

	if (owner) {
		/* Checked again at run time: the user may have gone since the
		 * job was validated (or this is a resumed job). */
		r = tls_owner_is_allowed(owner) ? proc_user(owner, &owner_uid, &owner_gid) : -EINVAL;
		if (r < 0) {
			*ret_message = exec_message("owner %s is not a user of this node", owner);
			return r;
		}
	}

	r = pki_key_generate(&key);
	if (r < 0)
		return r;
	r = pki_csr_create(key, names[0], names, &csr);
	if (r < 0)
		return r;
	r = pki_csr_to_pem(csr, &csr_pem);
	if (r < 0)
		return r;
	body = json_pack("{s:s}", "csr", csr_pem);
	if (!body)
		return -ENOMEM;
	if (asprintf(&url, "%s%s/%s/csr", ctx->gateway_url, CAIRN_PATH_AGENT_JOBS, ctx->jti) < 0)
		return -ENOMEM;

	r = client_request_json(ctx->client, "POST", url, body, CLIENT_BODY_MAX_DEFAULT,
				CLIENT_TIMEOUT_DEFAULT_S, &resp, &err);
	if (r < 0) {
		*ret_message = exec_message("CSR request failed: %s", err ? err : "error");
		return r;
	}
	if (resp.status != 200) {
		const char *detail = json_string_value(json_object_get(resp.json, "detail"));
		char *m = NULL;

		if (asprintf(&m, "controller refused the CSR (HTTP %ld)%s%.512s", resp.status,
			     detail ? ": " : "", detail ? detail : "") >= 0)
			*ret_message = m;
		client_response_done(&resp);
		return -EREMOTEIO;
	}
	cert_pem = json_string_value(json_object_get(resp.json, "cert"));
	ca_pem = json_string_value(json_object_get(resp.json, "ca"));
	if (!cert_pem || !ca_pem || pki_cert_from_pem(cert_pem, &cert) < 0 || pki_cert_from_pem(ca_pem, &ca) < 0)
		why = "answer lacks a valid cert or ca";
	else if (!pki_cert_matches_key(cert, key))
		why = "certificate does not hold our key";
	else if (pki_verify_chain(ca, cert, &err) < 0)
		why = "certificate does not chain to the controller CA";
	else if (!pki_cert_has_names(cert, names))
		why = "certificate names differ from the job's";
	else if (pki_cert_not_after(cert, &not_after) < 0)
		why = "certificate has no valid notAfter";
	client_response_done(&resp);
	if (why) {
		*ret_message = strdup(why);
		return -EBADMSG;
	}

	/* Certificate first, key second: the key is on disk only once the
	 * certificate that goes with it is. */
	const char *const targets[] = { cert_path, key_path, ca_path };
	for (i = 0; i < ELEMENTSOF(targets); i++) {
		if (!targets[i])
			continue;
		r = tls_mkdir_parent(targets[i]);
		if (r < 0) {
			*ret_message = exec_message("cannot create the directory of %s", targets[i]);
			return r;
		}
	}
	r = pki_cert_save(cert_path, cert);
	if (r < 0) {
		*ret_message = exec_message("cannot write %s", cert_path);
		return r;
	}
	r = pki_key_save(key_path, key);
	if (r < 0) {
		*ret_message = exec_message("cannot write %s", key_path);
		return r;
	}
	if (ca_path) {
		r = pki_cert_save(ca_path, ca);
		if (r < 0) {
			*ret_message = exec_message("cannot write %s", ca_path);
			return r;
		}
	}

	if (owner) {
		/* After the atomic writes: the files were created by root; the
		 * key keeps its 0600, now readable by its owner only. */
		for (i = 0; i < ELEMENTSOF(targets); i++) {
			if (!targets[i])
				continue;
			r = tls_chown(targets[i], owner_uid, owner_gid);
			if (r < 0) {
				*ret_message = exec_message("cannot give %s to %s", targets[i], owner);
				return r;
			}
		}
	}

	serial = pki_cert_serial_hex(cert);
	fp = pki_cert_fingerprint(cert);
	if (!serial || !fp || !format_rfc3339(not_after, nab))
		return -ENOMEM;
	entry = json_pack("{s:O,s:s,s:s,s:s*,s:s,s:s,s:I,s:s*}", "names", jnames, "cert_path", cert_path,
			  "key_path", key_path, "ca_path", ca_path, "not_after", nab, "serial", serial,
			  "not_after_s", (json_int_t)not_after, "owner", owner);
	if (!entry)
		return -ENOMEM;
	r = tls_record(ctx->config->state_dir, entry);
	if (r < 0) {
		/* The pair is installed; losing the renewal record is worth a
		 * failure report, since nothing would renew it. */
		*ret_message = strdup("certificate installed but " EXEC_TLS_CERTS_FILE " could not be written");
		return r;
	}

	*ret_output = json_pack("{s:s,s:s,s:s,s:s,s:s}", "serial", serial, "not_after", nab,
				"fingerprint_sha256", fp, "cert_path", cert_path, "key_path", key_path);
	return *ret_output ? 0 : -ENOMEM;
}
