/*
 * enroll.c: turns a join token and a CSR into an enrolled node.  The CA
 * signs first (cheap to discard), then one conditional UPDATE consumes the
 * token and records the certificate: a token can enrol exactly one CSR
 * even when two requests race.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "controller.h"
#include "enroll.h"
#include "keys.h"
#include "log.h"
#include "macro.h"
#include "pki.h"
#include "store.h"
#include "util.h"

int enroll_parse_body(json_t *body, const char **ret_token, const char **ret_csr,
		      char reason[static API_REASON_MAX])
{
	static const char *const allowed[] = { "join_token", "csr", NULL };
	if (!json_is_object(body)) {
		snprintf(reason, API_REASON_MAX, "the body must be a JSON object");
		return -EINVAL;
	}
	if (api_check_members(body, allowed, reason) < 0)
		return -EINVAL;
	const char *token = json_string_value(json_object_get(body, "join_token"));
	const char *csr = json_string_value(json_object_get(body, "csr"));
	if (!token || !csr) {
		snprintf(reason, API_REASON_MAX, "'join_token' and 'csr' are required strings");
		return -EINVAL;
	}
	if (strlen(csr) > CAIRN_CSR_MAX_BYTES) {
		snprintf(reason, API_REASON_MAX, "'csr' is too large");
		return -EINVAL;
	}
	*ret_token = token;
	*ret_csr = csr;
	return 0;
}

static void unauthorized(struct http_request *req)
{
	http_reply_problem(req, 401, "the join token is not valid");
}

void enroll_handler(void *userdata, struct http_request *req)
{
	struct controller *c = userdata;
	_cleanup_json_ json_t *body = NULL, *o = NULL;
	_cleanup_x509_req_ X509_REQ *csr = NULL;
	_cleanup_x509_ X509 *cert = NULL;
	_cleanup_free_ char *uri = NULL, *cert_pem = NULL, *serial = NULL;
	const char *token, *csr_pem;
	char reason[API_REASON_MAX], hash[65], ts[TIMESTAMP_MAX];
	struct store_node n = {};
	int64_t now = now_s(), not_after = 0;
	int r;

	if (http_body_json(req, &body) < 0)
		return;
	if (enroll_parse_body(body, &token, &csr_pem, reason) < 0) {
		http_reply_problem(req, 400, reason);
		return;
	}
	size_t len = strnlen(token, CAIRN_TOKEN_MAX + 1);
	if (len > CAIRN_TOKEN_MAX ||
	    strncmp(token, CAIRN_JOIN_TOKEN_PREFIX, strlen(CAIRN_JOIN_TOKEN_PREFIX)) != 0 ||
	    sha256_hex(token, len, hash) < 0)
		return unauthorized(req);
	r = store_node_get_by_join_hash(c->store, hash, &n);
	if (r < 0 && r != -ENOENT) {
		log_error_errno(r, "enrolment: cannot read the store");
		http_reply_problem(req, 503, NULL);
		return;
	}
	if (r == -ENOENT || n.state != STORE_NODE_PENDING || !n.join_token_hash ||
	    strlen(n.join_token_hash) != 64 || !memeq_const(n.join_token_hash, hash, 64) ||
	    n.join_expires_at <= now) {
		log_notice("enrolment refused from %s: unknown, used or expired join token", req->peer);
		store_node_done(&n);
		return unauthorized(req);
	}

	if (pki_csr_from_pem(csr_pem, &csr) < 0) {
		store_node_done(&n);
		http_reply_problem(req, 400, "the CSR does not parse");
		return;
	}
	if (asprintf(&uri, CAIRN_NODE_URI_PREFIX "%s", n.id) < 0)
		goto oom;
	struct pki_sign_opts opts = {
		.cn = n.name,
		.uri = uri,
		.ttl_s = c->config->node_cert_ttl_s,
		.usage = PKI_USAGE_CLIENT,
	};
	r = pki_csr_sign(c->keys->ca_cert, c->keys->ca_key, csr, &opts, &cert);
	if (r == -EBADMSG || r == -EINVAL) {
		store_node_done(&n);
		http_reply_problem(req, 400, "the CSR's signature does not verify");
		return;
	}
	if (r < 0) {
		store_node_done(&n);
		log_error_errno(r, "enrolment: cannot sign a certificate");
		http_reply_problem(req, 500, NULL);
		return;
	}
	serial = pki_cert_serial_hex(cert);
	if (!serial || pki_cert_not_after(cert, &not_after) < 0 || pki_cert_to_pem(cert, &cert_pem) < 0)
		goto oom;

	r = store_node_enroll(c->store, n.id, hash, now, serial, not_after);
	if (r == -EACCES) {
		store_node_done(&n);
		return unauthorized(req); /* lost a race with another enrolment */
	}
	if (r < 0) {
		store_node_done(&n);
		log_error_errno(r, "enrolment: cannot record the node");
		http_reply_problem(req, 503, NULL);
		return;
	}
	log_notice("node %s (%s) enrolled from %s, certificate %s", n.id, n.name, req->peer, serial);

	o = json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:s}", "node_id", n.id, "name", n.name,
		      "cert", cert_pem, "ca", c->keys->ca_pem, "job_keys", keys_job_keys_json(c->keys),
		      "gateway_url", c->config->public_gateway_url, "cert_not_after",
		      format_rfc3339(not_after, ts) ?: "");
	store_node_done(&n);
	if (!o) {
		log_error("enrolment: cannot render the answer");
		http_reply_problem(req, 500, NULL);
		return;
	}
	http_reply_json(req, 200, o);
	return;
oom:
	store_node_done(&n);
	log_error("enrolment: out of memory");
	http_reply_problem(req, 500, NULL);
}
