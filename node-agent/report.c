/*
 * report.c: the agent's reports and its certificate renewal.  Results are
 * the one report that must arrive: they are retried (backoff with full
 * jitter, Retry-After on 429) until the controller answers.  Events and
 * status are best effort: the next one carries the news.
 *
 * Renewal writes node.key.new then node.crt.new and renames them in that
 * order; report_renew_recover() finishes the renames after a crash, so the
 * key and the certificate on disk always belong together once it ran.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <openssl/x509.h>

#include "enroll.h"
#include "exec-node.h"
#include "fileio.h"
#include "log.h"
#include "macro.h"
#include "notify.h"
#include "pgstatus.h"
#include "pki.h"
#include "protocol.h"
#include "report.h"
#include "backup-ctl.h"
#include "util.h"

int report_result(struct agent *a, const char *jti, json_t *result)
{
	_cleanup_free_ char *path = NULL, *url = NULL;
	unsigned attempt = 0;

	if (asprintf(&path, "%s/%s/result", CAIRN_PATH_AGENT_JOBS, jti) < 0 || !(url = agent_url(a, path)))
		return -ENOMEM;

	for (;;) {
		struct client_response resp = {};
		const char *err = NULL;
		int64_t delay_ms;
		int r;

		r = client_request_json(a->client, "PUT", url, result, CLIENT_BODY_MAX_DEFAULT,
					CLIENT_TIMEOUT_DEFAULT_S, &resp, &err);
		if (r == -ECANCELED)
			return r;
		if (r >= 0) {
			long status = resp.status;
			int64_t ra = resp.retry_after_s;

			client_response_done(&resp);
			if (status == 200) {
				log_info("job %s: result reported", jti);
				return 0;
			}
			if (status == 404) {
				log_warning("job %s: controller does not know this job; result dropped", jti);
				return 0;
			}
			if (status == 429 && ra > 0)
				delay_ms = ra * 1000 + backoff_ms(1000, 1000, 0);
			else
				delay_ms = backoff_ms(AGENT_BACKOFF_BASE_MS, AGENT_BACKOFF_MAX_MS, MIN(attempt, 16u));
			log_warning("job %s: result not accepted (HTTP %ld%s), retrying in %" PRId64 " ms", jti,
				    status, status == 429 ? ", rate-limited" : "", delay_ms);
		} else {
			delay_ms = backoff_ms(AGENT_BACKOFF_BASE_MS, AGENT_BACKOFF_MAX_MS, MIN(attempt, 16u));
			log_warning_errno(r, "job %s: result not sent (%s), retrying in %" PRId64 " ms", jti,
					  err ? err : "error", delay_ms);
		}
		attempt++;
		if (!agent_sleep(a, delay_ms))
			return -ECANCELED;
	}
}

void report_event(struct agent *a, const char *jti, const char *kind, const char *message)
{
	_cleanup_free_ char *path = NULL, *url = NULL;
	_cleanup_json_ json_t *body = NULL;
	struct client_response resp = {};
	const char *err = NULL;
	int r;

	if (asprintf(&path, "%s/%s/events", CAIRN_PATH_AGENT_JOBS, jti) < 0 || !(url = agent_url(a, path)))
		return;
	body = json_pack("{s:s,s:s%}", "kind", kind, "message", message ? message : "",
			 message ? MIN(strlen(message), (size_t)REPORT_EVENT_MESSAGE_MAX) : (size_t)0);
	if (!body)
		return;
	r = client_request_json(a->client, "POST", url, body, CLIENT_BODY_MAX_DEFAULT, CLIENT_TIMEOUT_DEFAULT_S,
				&resp, &err);
	if (r < 0) {
		log_debug("job %s: event %s not sent: %s", jti, kind, err ? err : "error");
		return;
	}
	if (resp.status != 200)
		log_debug("job %s: event %s answered %ld", jti, kind, resp.status);
	client_response_done(&resp);
}

int64_t report_status(struct agent *a)
{
	_cleanup_free_ char *url = agent_url(a, CAIRN_PATH_AGENT_STATUS);
	_cleanup_json_ json_t *body = NULL, *facts = NULL, *databases = NULL;
	struct client_response resp = {};
	char na[TIMESTAMP_MAX] = "";
	const char *err = NULL;
	int64_t next = REPORT_STATUS_DEFAULT_S;
	json_t *v;
	int r;

	if (!url)
		return REPORT_STATUS_DEFAULT_S;
	if (node_facts_collect(NULL, &facts) < 0)
		facts = json_object();
	node_facts_add_dirs(facts, &a->exec_config);
	/* Best effort: a failure leaves the array empty rather than the
	 * report unsent (pgstatus never blocks longer than its timeouts). */
	if (pgstatus_collect(&a->exec_config, &databases) < 0)
		databases = NULL;
	backup_status_annotate(databases, &a->exec_config);
	/* An empty array is left out: a controller reads a missing
	 * `databases` as none, and one from before datastores refuses the
	 * member. */
	if (json_array_size(databases) == 0) {
		json_decref(databases);
		databases = NULL;
	}
	if (a->cert_not_after > 0)
		format_rfc3339(a->cert_not_after, na);
	body = json_pack("{s:{s:s,s:I,s:I,s:I,s:I,s:s?},s:O,s:{},s:O*}", "agent", "version", CAIRN_VERSION_STRING,
			 "settled_seq", (json_int_t)a->state.settled_seq, "accepted_seq",
			 (json_int_t)a->state.accepted_seq, "journal_open", (json_int_t)a->journal_open,
			 "rejected_unreadable", (json_int_t)a->rejected_unreadable, "cert_not_after",
			 na[0] ? na : NULL, "facts", facts ? facts : json_null(), "health", "databases",
			 databases);
	if (!body)
		return REPORT_STATUS_DEFAULT_S;
	r = client_request_json(a->client, "POST", url, body, CLIENT_BODY_MAX_DEFAULT, CLIENT_TIMEOUT_DEFAULT_S,
				&resp, &err);
	if (r == -ECANCELED)
		return r;
	if (r < 0) {
		log_warning_errno(r, "status report not sent: %s", err ? err : "error");
		return REPORT_STATUS_DEFAULT_S;
	}
	if (resp.status == 200) {
		v = json_object_get(resp.json, "next_report_s");
		if (json_is_integer(v))
			next = MIN(MAX(json_integer_value(v), (json_int_t)1), (json_int_t)REPORT_STATUS_MAX_S);
		notify_ready("enrolled, connected");
		log_debug("status reported, next in %" PRId64 " s", next);
	} else
		log_warning("status report answered %ld: %s", resp.status,
			    json_string_value(json_object_get(resp.json, "detail")) ?: "(no detail)");
	client_response_done(&resp);
	return next;
}

bool report_renew_due(const struct agent *a, int64_t now)
{
	int64_t life = a->cert_not_after - a->cert_not_before;

	if (a->cert_not_after <= 0 || life <= 0)
		return false;
	return now >= a->cert_not_before + life / 3 * 2;
}

static int rename_durable(const char *from, const char *to)
{
	if (rename(from, to) < 0)
		return -errno;
	return fsync_parent_dir(to);
}

int report_renew_recover(const char *state_dir)
{
	_cleanup_free_ char *key = path_join(state_dir, AGENT_NODE_KEY);
	_cleanup_free_ char *crt = path_join(state_dir, AGENT_NODE_CERT);
	_cleanup_free_ char *key_new = NULL, *crt_new = NULL;
	bool have_key_new, have_crt_new;
	int r;

	if (!key || !crt || asprintf(&key_new, "%s.new", key) < 0 || asprintf(&crt_new, "%s.new", crt) < 0)
		return -ENOMEM;
	have_key_new = access(key_new, F_OK) == 0;
	have_crt_new = access(crt_new, F_OK) == 0;
	if (have_crt_new) {
		/* Both were complete before the first rename: finish. */
		if (have_key_new) {
			r = rename_durable(key_new, key);
			if (r < 0)
				return r;
		}
		log_notice("completing an interrupted certificate renewal");
		return rename_durable(crt_new, crt);
	}
	if (have_key_new)
		return unlink_durable(key_new); /* renewal never got its certificate */
	return 0;
}

int report_renew(struct agent *a)
{
	_cleanup_pkey_ EVP_PKEY *key = NULL;
	_cleanup_x509_req_ X509_REQ *csr = NULL;
	_cleanup_x509_ X509 *cert = NULL, *ca = NULL;
	_cleanup_free_ char *csr_pem = NULL, *url = agent_url(a, CAIRN_PATH_AGENT_RENEW), *id = NULL;
	_cleanup_free_ char *key_new = NULL, *crt_new = NULL;
	_cleanup_json_ json_t *body = NULL;
	struct client_response resp = {};
	const char *err = NULL, *pem, *why = NULL;
	int64_t nb, na;
	int r;

	if (!url || asprintf(&key_new, "%s.new", a->key_path) < 0 || asprintf(&crt_new, "%s.new", a->cert_path) < 0)
		return -ENOMEM;
	r = pki_key_generate(&key);
	if (r >= 0)
		r = pki_csr_create(key, a->node_name, NULL, &csr);
	if (r >= 0)
		r = pki_csr_to_pem(csr, &csr_pem);
	if (r < 0)
		return log_error_errno(r, "renewal: cannot make a key and CSR");
	body = json_pack("{s:s}", "csr", csr_pem);
	if (!body)
		return -ENOMEM;
	r = client_request_json(a->client, "POST", url, body, CLIENT_BODY_MAX_DEFAULT, CLIENT_TIMEOUT_DEFAULT_S,
				&resp, &err);
	if (r < 0)
		return log_warning_errno(r, "renewal request failed: %s", err ? err : "error");
	if (resp.status != 200) {
		log_warning("renewal refused: HTTP %ld", resp.status);
		client_response_done(&resp);
		return -EREMOTEIO;
	}
	pem = json_string_value(json_object_get(resp.json, "cert"));
	if (!pem || pki_cert_from_pem(pem, &cert) < 0)
		why = "answer has no valid cert";
	else if (!pki_cert_matches_key(cert, key))
		why = "certificate does not hold the new key";
	else if (pki_cert_node_id(cert, &id) < 0 || !streq(id, a->node_id))
		why = "certificate does not name this node";
	else if (pki_cert_load(a->ca_path, &ca) < 0 || pki_verify_chain(ca, cert, &err) < 0)
		why = "certificate does not chain to the controller CA";
	else if (pki_cert_not_before(cert, &nb) < 0 || pki_cert_not_after(cert, &na) < 0)
		why = "certificate has no valid validity";
	client_response_done(&resp);
	if (why) {
		log_error("renewal answer refused: %s", why);
		return -EBADMSG;
	}

	r = pki_key_save(key_new, key);
	if (r >= 0)
		r = pki_cert_save(crt_new, cert);
	if (r >= 0)
		r = rename_durable(key_new, a->key_path);
	if (r >= 0)
		r = rename_durable(crt_new, a->cert_path);
	if (r < 0) {
		log_error_errno(r, "renewal: cannot install the new certificate");
		(void)report_renew_recover(a->config->state_dir);
		return r;
	}
	a->cert_not_before = nb;
	a->cert_not_after = na;
	r = client_reset(a->client, a->ca_path, a->cert_path, a->key_path);
	if (r < 0)
		return log_error_errno(r, "renewal: cannot reload the HTTPS client");
	client_set_keepalive(a->client, agent_keepalive, a);
	log_info("node certificate renewed");
	return 0;
}
