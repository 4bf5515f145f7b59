/*
 * enroll.c: enrolment.  The join token is read from its file for each
 * attempt, put into the request body in a buffer that is wiped afterwards,
 * and never logged.  The private key is written (0600) before the CSR goes
 * out and is reused by later attempts, so a crash does not leave a
 * certificate for a key we lost.  The answer is checked before anything is
 * stored: our public key, our node URI, the chain to the CA, the job keys.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/x509.h>

#include "enroll.h"
#include "fileio.h"
#include "jws.h"
#include "log.h"
#include "macro.h"
#include "pki.h"
#include "protocol.h"
#include "util.h"

#define ENROLL_ANSWER_MAX (64 * 1024)
#define ENROLL_URL_MAX 1024

bool enroll_needed(const char *state_dir)
{
	_cleanup_free_ char *p = path_join(state_dir, AGENT_NODE_CERT);

	return !p || access(p, F_OK) < 0;
}

static bool enroll_url_ok(const char *s)
{
	size_t n = strlen(s);

	if (n <= 8 || n > ENROLL_URL_MAX || strncmp(s, "https://", 8) != 0)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f || *s == '"' || *s == '\\' ||
		    *s == '?' || *s == '#')
			return false;
	return true;
}

static bool token_ok(const char *t)
{
	size_t n = strlen(t), p = strlen(CAIRN_JOIN_TOKEN_PREFIX);

	if (n <= p || n > CAIRN_TOKEN_MAX || strncmp(t, CAIRN_JOIN_TOKEN_PREFIX, p) != 0)
		return false;
	for (; *t; t++)
		if (!((*t >= 'a' && *t <= 'z') || (*t >= 'A' && *t <= 'Z') || (*t >= '0' && *t <= '9') ||
		      *t == '-' || *t == '_'))
			return false;
	return true;
}

static int enroll_key(const char *state_dir, EVP_PKEY **ret)
{
	_cleanup_free_ char *path = path_join(state_dir, AGENT_NODE_KEY);
	EVP_PKEY *key = NULL;
	int r;

	if (!path)
		return -ENOMEM;
	r = pki_key_load(path, &key);
	if (r >= 0) {
		*ret = key;
		return 0;
	}
	if (r != -ENOENT)
		log_warning_errno(r, "%s unreadable, making a new key", path);
	r = pki_key_generate(&key);
	if (r < 0)
		return r;
	r = pki_key_save(path, key);
	if (r < 0) {
		EVP_PKEY_free(key);
		return r;
	}
	*ret = key;
	return 0;
}

int enroll_store(const char *state_dir, const char *fallback_gateway_url, EVP_PKEY *key, json_t *answer,
		 const char **ret_reason)
{
	const char *node_id = json_string_value(json_object_get(answer, "node_id"));
	const char *name = json_string_value(json_object_get(answer, "name"));
	const char *cert_pem = json_string_value(json_object_get(answer, "cert"));
	const char *ca_pem = json_string_value(json_object_get(answer, "ca"));
	const char *gw = json_string_value(json_object_get(answer, "gateway_url"));
	json_t *keys = json_object_get(answer, "job_keys");
	_cleanup_x509_ X509 *cert = NULL, *ca = NULL;
	_cleanup_free_ char *cert_id = NULL, *p_ca = NULL, *p_node = NULL, *p_keys = NULL, *p_cert = NULL;
	_cleanup_free_ char *s_node = NULL, *s_keys = NULL;
	_cleanup_keyring_ struct jws_keyring *kr = NULL;
	_cleanup_json_ json_t *node = NULL, *kj = NULL;
	const char *why = NULL;
	int r;

#define REFUSE(msg)                                                            \
	do {                                                                   \
		*ret_reason = (msg);                                           \
		return -EBADMSG;                                               \
	} while (0)
	if (!json_is_object(answer))
		REFUSE("answer is not an object");
	if (!node_id || !uuid_is_valid(node_id))
		REFUSE("node_id is not a UUID");
	if (!name || strlen(name) == 0 || strlen(name) > CAIRN_NODE_NAME_MAX || !hostname_is_valid(name))
		REFUSE("name is not a node name");
	if (gw && !enroll_url_ok(gw))
		REFUSE("gateway_url is not an https URL");
	if (!gw)
		gw = fallback_gateway_url;
	if (!gw)
		REFUSE("no gateway_url in the answer or the configuration");
	if (!cert_pem || pki_cert_from_pem(cert_pem, &cert) < 0)
		REFUSE("cert is not a PEM certificate");
	if (!ca_pem || pki_cert_from_pem(ca_pem, &ca) < 0)
		REFUSE("ca is not a PEM certificate");
	if (!pki_cert_matches_key(cert, key))
		REFUSE("cert does not hold our public key");
	if (pki_cert_node_id(cert, &cert_id) < 0 || !streq(cert_id, node_id))
		REFUSE("cert does not name our node id");
	if (pki_verify_chain(ca, cert, &why) < 0)
		REFUSE(why ? why : "cert does not chain to the CA");
	if (!json_is_array(keys) || json_array_size(keys) == 0 || jws_keyring_from_json(keys, &kr) < 0)
		REFUSE("job_keys are not valid Ed25519 keys");
#undef REFUSE

	p_ca = path_join(state_dir, AGENT_CA);
	p_node = path_join(state_dir, AGENT_NODE_JSON);
	p_keys = path_join(state_dir, AGENT_JOB_KEYS);
	p_cert = path_join(state_dir, AGENT_NODE_CERT);
	node = json_pack("{s:s,s:s,s:s}", "node_id", node_id, "name", name, "gateway_url", gw);
	kj = jws_keyring_to_json(kr);
	if (!p_ca || !p_node || !p_keys || !p_cert || !node || !kj)
		return -ENOMEM;
	s_node = json_dumps(node, JSON_INDENT(2) | JSON_SORT_KEYS);
	s_keys = json_dumps(kj, JSON_INDENT(2));
	if (!s_node || !s_keys)
		return -ENOMEM;

	r = pki_cert_save(p_ca, ca);
	if (r < 0)
		return r;
	r = write_string_atomic(p_node, s_node, 0644);
	if (r < 0)
		return r;
	r = write_string_atomic(p_keys, s_keys, 0644);
	if (r < 0)
		return r;
	/* Last: node.crt is what says "enrolled". */
	return pki_cert_save(p_cert, cert);
}

/* Builds {"join_token":…,"csr":…} without letting jansson copy the token. */
static int enroll_body(const char *token, const char *csr_pem, char **ret, size_t *ret_len)
{
	_cleanup_json_ json_t *csr = json_string(csr_pem);
	_cleanup_free_ char *csr_json = NULL;
	char *body = NULL;
	int n;

	if (!csr)
		return -ENOMEM;
	csr_json = json_dumps(csr, JSON_ENCODE_ANY);
	if (!csr_json)
		return -ENOMEM;
	n = asprintf(&body, "{\"join_token\":\"%s\",\"csr\":%s}", token, csr_json);
	if (n < 0)
		return -ENOMEM;
	*ret = body;
	*ret_len = (size_t)n;
	return 0;
}

/* One attempt.  Returns 0 when enrolled; otherwise the delay before the
 * next attempt in *ret_delay_ms (0 = use backoff), or -ECANCELED. */
static int enroll_once(const struct agent_config *cfg, struct client *client, EVP_PKEY *key,
		       const char *csr_pem, int64_t *ret_slow_ms)
{
	_cleanup_secret_ char *token = NULL, *body = NULL;
	_cleanup_free_ char *url = NULL;
	struct client_response resp = {};
	const char *err = NULL, *why = NULL;
	size_t body_len = 0;
	int r;

	*ret_slow_ms = 0;
	r = read_one_line(cfg->token_file, CAIRN_TOKEN_MAX + 1, &token);
	if (r < 0) {
		log_warning_errno(r, "cannot read the join token file %s; waiting for one", cfg->token_file);
		*ret_slow_ms = ENROLL_SLOW_RETRY_MS;
		return -ENOENT;
	}
	if (!token_ok(token)) {
		log_error("join token file %s does not hold a join token (cjt_…); waiting for a new one",
			  cfg->token_file);
		*ret_slow_ms = ENROLL_SLOW_RETRY_MS;
		return -EINVAL;
	}
	r = enroll_body(token, csr_pem, &body, &body_len);
	if (r < 0)
		return r;
	if (asprintf(&url, "%s%s", cfg->api_url, CAIRN_PATH_ENROLL) < 0)
		return -ENOMEM;

	r = client_request(client, "POST", url, body, body_len, ENROLL_ANSWER_MAX, CLIENT_TIMEOUT_DEFAULT_S,
			   &resp, &err);
	if (r == -ECANCELED)
		return r;
	if (r < 0) {
		log_warning_errno(r, "enrolment at %s failed: %s", cfg->api_url, err ? err : "transport error");
		return -EAGAIN;
	}

	switch (resp.status) {
	case 200:
		r = enroll_store(cfg->state_dir, cfg->gateway_url, key, resp.json, &why);
		client_response_done(&resp);
		if (r == -EBADMSG) {
			log_error("enrolment answer refused: %s", why);
			return -EAGAIN;
		}
		if (r < 0) {
			log_error_errno(r, "cannot store the enrolment in %s", cfg->state_dir);
			return -EAGAIN;
		}
		return 0;
	case 401:
		log_error("join token refused: used, expired or unknown (put a new token in %s)", cfg->token_file);
		*ret_slow_ms = ENROLL_SLOW_RETRY_MS;
		break;
	case 400: {
		const char *d = json_string_value(json_object_get(resp.json, "detail"));

		log_error("enrolment refused (400): %.256s", d ? d : "bad request");
		*ret_slow_ms = ENROLL_SLOW_RETRY_MS;
		break;
	}
	case 429:
		log_warning("enrolment rate-limited, retrying in %" PRId64 " s", resp.retry_after_s);
		*ret_slow_ms = MAX(resp.retry_after_s, (int64_t)1) * 1000;
		/* Jitter so that many nodes do not come back together. */
		*ret_slow_ms += backoff_ms(1000, 1000, 0);
		break;
	default:
		if (resp.status >= 500)
			log_warning("enrolment failed: controller answered %ld", resp.status);
		else {
			log_error("enrolment failed: unexpected answer %ld", resp.status);
			*ret_slow_ms = ENROLL_SLOW_RETRY_MS;
		}
		break;
	}
	client_response_done(&resp);
	return -EAGAIN;
}

int enroll_run(const struct agent_config *cfg, struct client *client, enroll_sleep_t sleep_fn, void *userdata)
{
	_cleanup_pkey_ EVP_PKEY *key = NULL;
	_cleanup_x509_req_ X509_REQ *csr = NULL;
	_cleanup_free_ char *csr_pem = NULL;
	char host[256] = "";
	const char *cn = "cairn-node";
	unsigned attempt = 0;
	int r;

	if (!cfg->api_url)
		return log_error_errno(-EINVAL, "not enrolled and no api_url configured");

	for (;;) {
		int64_t slow_ms = 0;

		if (!key) {
			r = enroll_key(cfg->state_dir, &key);
			if (r < 0)
				log_error_errno(r, "cannot make the node key in %s", cfg->state_dir);
		}
		if (key && !csr_pem) {
			if (gethostname(host, sizeof(host) - 1) == 0 && hostname_is_valid(host))
				cn = host;
			r = pki_csr_create(key, cn, NULL, &csr);
			if (r >= 0)
				r = pki_csr_to_pem(csr, &csr_pem);
			if (r < 0)
				log_error_errno(r, "cannot make the enrolment CSR");
		}
		if (key && csr_pem) {
			r = enroll_once(cfg, client, key, csr_pem, &slow_ms);
			if (r == 0)
				break;
			if (r == -ECANCELED)
				return r;
		}
		if (slow_ms == 0)
			slow_ms = backoff_ms(ENROLL_BACKOFF_BASE_MS, ENROLL_BACKOFF_MAX_MS, MIN(attempt, 16u));
		attempt++;
		if (!sleep_fn(userdata, slow_ms))
			return -ECANCELED;
	}

	r = unlink_durable(cfg->token_file);
	if (r < 0)
		log_warning_errno(r, "enrolled, but the join token file %s could not be removed", cfg->token_file);
	return 0;
}
