/*
 * exec-exporter.c: exporter.install.  For the job's datastore <ds> it
 * (re)starts two supervised services as user prometheus:
 *
 *   node-exporter            /usr/bin/prometheus-node-exporter
 *   postgres-exporter-<ds>   /usr/bin/prometheus-postgres-exporter
 *
 * each with --web.listen-address=<node address>:<port> (the node's first
 * non-loopback IPv4 address, as in its facts) and --web.config.file
 * pointing at a web configuration that serves TLS with
 * <tls_dir>/<ds>/exporter.{crt,key} (issued by tls.issue with owner
 * prometheus).  The web configuration lives next to the certificate, in
 * <tls_dir>/<ds>/<service>.web.yml, not under state_dir: the exporter
 * reads it as prometheus at every TLS handshake, and state_dir is 0700
 * root.  The PostgreSQL exporter logs in as cairn_monitor over the
 * instance's Unix socket (peer authentication, no password), so its
 * environment holds no secret.  The job succeeds once both answer HTTPS
 * on their ports with a certificate that chains to <tls_dir>/<ds>/ca.crt
 * (a TCP connect when there is no ca.crt).  Running it again with the same ports
 * leaves running exporters alone; other ports restart them.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exec-exporter.h"
#include "exec-node.h"
#include "fileio.h"
#include "macro.h"
#include "pgstatus.h"
#include "proc.h"
#include "service.h"
#include "util.h"

#define EXPORTER_CONNECT_TIMEOUT_MS 500

/* The distribution's units for the same programs (systemd backend). */
static const char *const exporter_distro_units[] = {
        "prometheus-node-exporter.service",
        "prometheus-postgres-exporter.service",
};
#define EXPORTER_PROBE_TIMEOUT_MS 3000

int exec_exporter_install_validate(json_t *params, const struct exec_config *cfg, char *reason,
                                   size_t reason_len)
{
	static const char *const known[] = {"node_exporter_port", "postgres_exporter_port", NULL};
	int64_t ports[2];
	int r;

	r = exec_check_members(params, known, reason, reason_len);
	if (r < 0)
		return r;
	for (size_t i = 0; i < 2; i++) {
		json_t *v = json_object_get(params, known[i]);

		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > 65535)
			return exec_reason(reason, reason_len,
			                   "params.%s: expected a port 1..65535", known[i]);
		ports[i] = json_integer_value(v);
	}
	if (ports[0] == ports[1])
		return exec_reason(reason, reason_len,
		                   "params: the two exporters need different ports");
	return 0;
}

char *exporter_web_config(const char *cert_file, const char *key_file)
{
	char *s = NULL;

	/* The paths come from the agent's configuration and a checked
	 * datastore id: no quote or backslash can be in them (checked by
	 * the caller), so a YAML double-quoted scalar holds them as is. */
	if (asprintf(&s,
	             "# Written by cairn-agent (exporter.install): do not edit.\n"
	             "tls_server_config:\n"
	             "  cert_file: \"%s\"\n"
	             "  key_file: \"%s\"\n",
	             cert_file, key_file) < 0)
		return NULL;
	return s;
}

struct exporter_probe {
	const char *address; /* IPv4 literal */
	int port;
	const char *ca_file; /* <tls_dir>/<ds>/ca.crt, or NULL: TCP connect only */
};

/* A TCP connection to address:port succeeds within
 * EXPORTER_CONNECT_TIMEOUT_MS. */
static bool exporter_tcp_ready(const struct exporter_probe *p)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p->port)};
	_cleanup_close_ int fd = -1;
	struct pollfd pfd;
	int err = 0;
	socklen_t len = sizeof(err);

	if (inet_pton(AF_INET, p->address, &sa.sin_addr) != 1)
		return false;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return false;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return true;
	if (errno != EINPROGRESS)
		return false;
	pfd = (struct pollfd){.fd = fd, .events = POLLOUT};
	if (poll(&pfd, 1, EXPORTER_CONNECT_TIMEOUT_MS) != 1)
		return false;
	return getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
}

/* Ready when the exporter answers an HTTPS HEAD of "/" with 200, its
 * certificate verified against the datastore's CA (the exporter-toolkit
 * loads certificate and key at each handshake, so an open port alone would
 * not show a key prometheus cannot read).  Without a CA file: TCP connect. */
static bool exporter_ready(void *userdata)
{
	const struct exporter_probe *p = userdata;
	_cleanup_curl_ CURL *c = NULL;
	char url[NODE_FACTS_ADDRESS_MAX + 32];
	long code = 0;

	if (!p->ca_file)
		return exporter_tcp_ready(p);
	c = curl_easy_init();
	if (!c)
		return false;
	snprintf(url, sizeof(url), "https://%s:%d/", p->address, p->port);
	if (curl_easy_setopt(c, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https") != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_CAINFO, p->ca_file) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_CAPATH, NULL) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_PROXY, "") != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_NOBODY, 1L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)EXPORTER_CONNECT_TIMEOUT_MS) !=
	            CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)EXPORTER_PROBE_TIMEOUT_MS) != CURLE_OK)
		return false;
	if (curl_easy_perform(c) != CURLE_OK)
		return false;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	return code == 200;
}

/* A path that may go into YAML and argv as is. */
static bool exporter_path_ok(const char *p)
{
	for (; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == '"' || *p == '\\')
			return false;
	return true;
}

/* Writes the web config of service `name` and starts it. */
static int exporter_start(const struct exec_context *ctx, const char *ds, const char *name,
                          const char *bin, const char *address, int port, const char *const *env,
                          char **ret_message)
{
	_cleanup_free_ char *dsdir = path_join(ctx->config->tls_dir, ds);
	_cleanup_free_ char *cert = NULL, *key = NULL, *web = NULL, *webname = NULL, *yml = NULL;
	_cleanup_free_ char *listen = NULL, *webarg = NULL, *ca = NULL;
	struct exporter_probe probe = {.address = address, .port = port};
	struct stat st;
	int r;

	if (!dsdir || asprintf(&webname, "%s.web.yml", name) < 0)
		return -ENOMEM;
	cert = path_join(dsdir, "exporter.crt");
	key = path_join(dsdir, "exporter.key");
	web = path_join(dsdir, webname);
	ca = path_join(dsdir, "ca.crt");
	if (!cert || !key || !web || !ca)
		return -ENOMEM;
	if (access(ca, R_OK) == 0)
		probe.ca_file = ca;
	if (!exporter_path_ok(web)) {
		*ret_message =
		        strdup("tls_dir holds characters an exporter configuration cannot carry");
		return -EINVAL;
	}
	if (stat(cert, &st) < 0 || stat(key, &st) < 0) {
		*ret_message = exec_message(
		        "%s or %s missing: tls.issue (owner prometheus) must run first", cert, key);
		return -ENOENT;
	}
	if (access(bin, X_OK) < 0) {
		*ret_message = exec_message("%s missing: pkg.install must run first", bin);
		return -ENOENT;
	}
	yml = exporter_web_config(cert, key);
	if (!yml)
		return -ENOMEM;
	r = write_string_atomic(web, yml, 0644);
	if (r < 0) {
		*ret_message = exec_message("cannot write %s", web);
		return r;
	}
	if (asprintf(&listen, "--web.listen-address=%s:%d", address, port) < 0 ||
	    asprintf(&webarg, "--web.config.file=%s", web) < 0)
		return -ENOMEM;

	const char *const argv[] = {bin, listen, webarg, NULL};
	const struct service_spec spec = {
	        .name = name,
	        .argv = argv,
	        .env = env,
	        .user = EXPORTER_USER,
	        .cwd = "/",
	        .stop_signal = SIGTERM,
	        .reload_signal = 0,
	        .stop_timeout_ms = EXPORTER_STOP_TIMEOUT_MS,
	};
	r = service_start(ctx->config->services, &spec, exporter_ready, &probe,
	                  EXPORTER_READY_TIMEOUT_MS);
	if (r == -ETIMEDOUT)
		*ret_message = exec_message("%s did not answer on %s:%d within %d s (its log: "
		                                "<state_dir>/services/%s.log)",
		                                name, address, port,
		                                EXPORTER_READY_TIMEOUT_MS / 1000, name);
	else if (r < 0)
		*ret_message = exec_message("cannot start %s: %s", name, strerror(-r));
	return r;
}

int exec_exporter_install_run(json_t *params, const struct exec_context *ctx, json_t **ret_output,
                              char **ret_message)
{
	int node_port = (int)json_integer_value(json_object_get(params, "node_exporter_port"));
	int pg_port = (int)json_integer_value(json_object_get(params, "postgres_exporter_port"));
	_cleanup_json_ json_t *facts = NULL, *out = NULL;
	_cleanup_free_ char *pgname = NULL, *dsn = NULL, *run = NULL, *dsdir = NULL;
	char address[NODE_FACTS_ADDRESS_MAX];
	struct pg_instance inst;
	uid_t uid;
	gid_t gid;
	int r;

	if (!ctx->config->services)
		return -EOPNOTSUPP;
	if (!ctx->ds || !uuid_is_valid(ctx->ds)) {
		*ret_message = strdup("exporter.install needs the job's datastore id (ds)");
		return -EINVAL;
	}
	if (proc_user(EXPORTER_USER, &uid, &gid) < 0) {
		*ret_message =
		        strdup("user " EXPORTER_USER " does not exist: pkg.install must run first");
		return -ESRCH;
	}
	r = node_facts_collect(NULL, &facts);
	if (r < 0)
		return r;
	if (node_facts_first_ipv4(facts, address) < 0) {
		*ret_message = strdup(
		        "the node has no non-loopback IPv4 address to serve the exporters on");
		return -EADDRNOTAVAIL;
	}
	r = pgstatus_instance_load(ctx->config->db_dir, ctx->ds, &inst);
	if (r < 0) {
		*ret_message = strdup("no PostgreSQL instance of this datastore on the node: "
		                      "pg.init or pg.replica "
		                      "must run first");
		return r;
	}
	dsdir = path_join(ctx->config->db_dir, ctx->ds);
	run = dsdir ? path_join(dsdir, "run") : NULL;
	if (!run || asprintf(&pgname, EXPORTER_POSTGRES_SERVICE_PREFIX "%s", ctx->ds) < 0 ||
	    asprintf(&dsn,
	             "DATA_SOURCE_NAME=host=%s port=%d user=cairn_monitor dbname=postgres "
	             "sslmode=disable",
	             run, inst.port) < 0)
		return -ENOMEM;
	if (!exporter_path_ok(run) || strchr(run, ' ')) {
		*ret_message = strdup(
		        "db_dir holds characters a libpq connection string cannot carry unquoted");
		return -EINVAL;
	}

	/* Debian's packages enable and start their own exporter units on
	 * install, listening on every address with the ports we use and with
	 * no TLS: the agent's instances replace them. */
	for (size_t i = 0; i < ELEMENTSOF(exporter_distro_units); i++) {
		r = services_disable_foreign(ctx->config->services, exporter_distro_units[i]);
		if (r < 0) {
			*ret_message = exec_message("cannot disable %s (it holds the exporter port)",
			                                exporter_distro_units[i]);
			return r;
		}
	}

	r = exporter_start(ctx, ctx->ds, EXPORTER_NODE_SERVICE, EXPORTER_NODE_BIN, address,
	                   node_port, NULL, ret_message);
	if (r < 0)
		return r;
	const char *const env[] = {dsn, NULL};
	r = exporter_start(ctx, ctx->ds, pgname, EXPORTER_POSTGRES_BIN, address, pg_port, env,
	                   ret_message);
	if (r < 0)
		return r;

	char a[NODE_FACTS_ADDRESS_MAX + 8], b[NODE_FACTS_ADDRESS_MAX + 8];

	snprintf(a, sizeof(a), "%s:%d", address, node_port);
	snprintf(b, sizeof(b), "%s:%d", address, pg_port);
	out = json_pack("{s:[s,s]}", "endpoints", a, b);
	if (!out)
		return -ENOMEM;
	*ret_output = TAKE_PTR(out);
	return 0;
}

int exporter_remove(const struct exec_config *cfg, const char *ds)
{
	_cleanup_free_ char *pgname = NULL, *dsdir = NULL;
	const char *names[2];
	int r, ret = 0;

	if (!cfg || !cfg->services || !ds || !uuid_is_valid(ds))
		return -EINVAL;
	if (asprintf(&pgname, EXPORTER_POSTGRES_SERVICE_PREFIX "%s", ds) < 0)
		return -ENOMEM;
	dsdir = path_join(cfg->tls_dir, ds);
	if (!dsdir)
		return -ENOMEM;
	names[0] = pgname;
	names[1] = EXPORTER_NODE_SERVICE;
	for (size_t i = 0; i < ELEMENTSOF(names); i++) {
		_cleanup_free_ char *webname = NULL, *web = NULL;

		r = service_remove(cfg->services, names[i]);
		if (r < 0 && ret == 0)
			ret = r;
		if (asprintf(&webname, "%s.web.yml", names[i]) < 0)
			return -ENOMEM;
		web = path_join(dsdir, webname);
		if (!web)
			return -ENOMEM;
		(void)unlink_durable(web);
	}
	return ret;
}
