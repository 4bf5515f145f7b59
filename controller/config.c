/*
 * config.c: reads controller.conf (lib/ini) into struct config, checking
 * every key's type and range and refusing unknown keys.  The defaults here
 * are the ones docs/protocol.md lists; a file that does not exist means
 * "all defaults", which is what a fresh installation runs with.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "config.h"
#include "fileio.h"
#include "ini.h"
#include "log.h"
#include "macro.h"
#include "protocol.h"
#include "util.h"

void strv_free(char **l)
{
	if (!l)
		return;
	for (char **p = l; *p; p++)
		free(*p);
	free(l);
}

void config_free(struct config *c)
{
	if (!c)
		return;
	free(c->state_dir);
	free(c->public_api_url);
	free(c->public_gateway_url);
	strv_free(c->server_names);
	free(c->agent_package);
	free(c->provisioner.program);
	free(c->provisioner.local_bridge);
	free(c->provisioner.local_subnet);
	free(c->provisioner.local_dir);
	free(c->provisioner.local_agent);
	free(c);
}

static int errorf(char **ret_error, const char *fmt, ...) _printf_(2, 3);
static int errorf(char **ret_error, const char *fmt, ...)
{
	if (ret_error) {
		va_list ap;
		va_start(ap, fmt);
		if (vasprintf(ret_error, fmt, ap) < 0)
			*ret_error = NULL;
		va_end(ap);
	}
	return -EINVAL;
}

int config_parse_listen(const char *s, struct config_listen *ret)
{
	char host[64];
	const char *port_s;
	struct config_listen l = {};

	if (!s || strlen(s) >= sizeof(l.text))
		return -EINVAL;
	if (s[0] == '[') {
		const char *end = strchr(s, ']');
		if (!end || end[1] != ':' || (size_t)(end - s - 1) >= sizeof(host))
			return -EINVAL;
		memcpy(host, s + 1, end - s - 1);
		host[end - s - 1] = 0;
		port_s = end + 2;
	} else {
		const char *colon = strrchr(s, ':');
		if (!colon || (size_t)(colon - s) >= sizeof(host) || strchr(s, ':') != colon)
			return -EINVAL;
		memcpy(host, s, colon - s);
		host[colon - s] = 0;
		port_s = colon + 1;
	}
	int64_t port;
	if (parse_int64(port_s, 0, 65535, &port) < 0)
		return -EINVAL;

	struct sockaddr_in *in4 = (struct sockaddr_in *)&l.addr;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&l.addr;
	if (s[0] != '[' && inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		l.addr_len = sizeof(*in4);
	} else if (s[0] == '[' && inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		l.addr_len = sizeof(*in6);
	} else
		return -EINVAL;
	snprintf(l.text, sizeof(l.text), "%s", s);
	*ret = l;
	return 0;
}

char **config_default_server_names(void)
{
	char host[256] = {};
	size_t n = 0;
	char **l = calloc(4, sizeof(char *));
	if (!l)
		return NULL;
	if (gethostname(host, sizeof(host) - 1) == 0 && hostname_is_valid(host) &&
	    !streq(host, "localhost"))
		l[n++] = strdup(host);
	l[n++] = strdup("localhost");
	l[n++] = strdup("127.0.0.1");
	for (size_t i = 0; i < n; i++)
		if (!l[i]) {
			strv_free(l);
			return NULL;
		}
	return l;
}

/* Splits "a, b ,c" into a NULL-terminated list of trimmed, non-empty,
 * valid host names or IP literals. */
static int parse_server_names(const char *s, char ***ret, const char **ret_bad)
{
	size_t n = 0;
	char **l = calloc(CONFIG_SERVER_NAMES_MAX + 1, sizeof(char *));
	if (!l)
		return -ENOMEM;
	const char *p = s;
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len == 0 || n >= CONFIG_SERVER_NAMES_MAX) {
			strv_free(l);
			*ret_bad = len == 0 ? "empty name" : "too many names";
			return -EINVAL;
		}
		l[n] = strndup(p, len);
		if (!l[n]) {
			strv_free(l);
			return -ENOMEM;
		}
		if (!hostname_is_valid(l[n])) {
			strv_free(l);
			*ret_bad = "not a DNS name or IP literal";
			return -EINVAL;
		}
		n++;
		if (!end)
			break;
		p = end + 1;
	}
	*ret = l;
	return 0;
}

/* An https URL without whitespace or control characters. */
static bool url_is_sane(const char *s)
{
	if (strncmp(s, "https://", 8) != 0 || strlen(s) <= 8 || strlen(s) > CONFIG_URL_MAX)
		return false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p <= ' ' || *p >= 0x7f || *p == '"' || *p == '\\')
			return false;
	return true;
}

static char *default_url(const char *name, const struct config_listen *l)
{
	uint16_t port = l->addr.ss_family == AF_INET6 ?
				ntohs(((const struct sockaddr_in6 *)&l->addr)->sin6_port) :
				ntohs(((const struct sockaddr_in *)&l->addr)->sin_port);
	char *u = NULL;
	bool v6 = strchr(name, ':') != NULL;
	if (asprintf(&u, "https://%s%s%s:%u", v6 ? "[" : "", name, v6 ? "]" : "", port) < 0)
		return NULL;
	return u;
}

static const char *const keys_controller[] = {
	"state_dir", "api_listen", "gateway_listen", "public_api_url", "public_gateway_url",
	"server_names", "log_level", "join_token_ttl_s", "node_cert_ttl_s", "job_ttl_s",
	"job_max_attempts", "retry_base_s", "retry_max_s", "poll_wait_max_s",
	"status_interval_s", "connection_limit", "node_unreachable_s", NULL,
};
static const char *const keys_provisioner[] = {
	"kind", "program", "timeout_s", "local_bridge", "local_subnet", "local_dir", "local_agent", NULL,
};
static const char *const keys_ratelimit[] = {
	"api_rate", "api_burst", "gateway_rate", "gateway_burst", "enroll_rate", "enroll_burst", NULL,
};
static const char *const keys_userdata[] = { "agent_package", NULL };
static const char *const keys_testing[] = { "allow_raw_jobs", NULL };
static const char *const keys_none[] = { NULL };

static int get_rl(const struct ini *ini, const char *what, int64_t def_rate, int64_t def_burst,
		  struct config_ratelimit *ret, char **ret_error)
{
	char key[32];
	int64_t rate, burst;
	int r;

	snprintf(key, sizeof(key), "%s_rate", what);
	r = ini_get_int(ini, "ratelimit", key, def_rate, 1, 1000000, &rate, ret_error);
	if (r < 0)
		return r;
	snprintf(key, sizeof(key), "%s_burst", what);
	r = ini_get_int(ini, "ratelimit", key, def_burst, 1, 1000000, &burst, ret_error);
	if (r < 0)
		return r;
	ret->rate = (double)rate;
	ret->burst = (double)burst;
	return 0;
}

static bool path_is_sane(const char *v)
{
	if (!v || v[0] != '/' || strlen(v) > 1024)
		return false;
	for (const char *p = v; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

/* "198.18.N.0/24" and nothing else: the local provisioner hands out .10-.250. */
static bool local_subnet_is_valid(const char *v)
{
	unsigned a, b, c, d, len;
	char tail;
	if (!v || strlen(v) > 18)
		return false;
	if (sscanf(v, "%u.%u.%u.%u/%u%c", &a, &b, &c, &d, &len, &tail) != 5)
		return false;
	if (a != 198 || (b != 18 && b != 19) || c > 255 || d != 0 || len != 24)
		return false;
	char canon[24];
	snprintf(canon, sizeof(canon), "%u.%u.%u.%u/%u", a, b, c, d, len);
	return streq(canon, v);
}

static int parse_provisioner(const char *name, const struct ini *ini, struct config_provisioner *p,
			     char **ret_error)
{
	const char *v;
	int r;

	v = ini_get(ini, "provisioner", "kind");
	if (!v || streq(v, "none"))
		p->kind = CONFIG_PROVISIONER_NONE;
	else if (streq(v, "local"))
		p->kind = CONFIG_PROVISIONER_LOCAL;
	else if (streq(v, "exec"))
		p->kind = CONFIG_PROVISIONER_EXEC;
	else
		return errorf(ret_error, "%s: [provisioner] kind: expected local, exec or none, got '%s'",
			      name, v);

	r = ini_get_int(ini, "provisioner", "timeout_s", 600, 1, 3600, &p->timeout_s, ret_error);
	if (r < 0)
		return r;

	v = ini_get(ini, "provisioner", "program");
	if (v && !path_is_sane(v))
		return errorf(ret_error, "%s: [provisioner] program: expected an absolute path", name);
	if (!v && p->kind == CONFIG_PROVISIONER_EXEC)
		return errorf(ret_error, "%s: [provisioner] kind = exec needs program (an absolute path)",
			      name);
	if (!v && p->kind == CONFIG_PROVISIONER_LOCAL)
		v = CONFIG_PROVISIONER_LOCAL_PROGRAM_DEFAULT;
	if (v && !(p->program = strdup(v)))
		return -ENOMEM;

	v = ini_get(ini, "provisioner", "local_bridge");
	if (v) {
		/* An interface name: IFNAMSIZ - 1 characters, no slash or space. */
		bool ok = *v && strlen(v) <= 15;
		for (const char *q = v; ok && *q; q++)
			ok = (*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') ||
			     (*q >= '0' && *q <= '9') || strchr("-_.", *q);
		if (!ok)
			return errorf(ret_error, "%s: [provisioner] local_bridge: expected an interface name",
				      name);
		if (!(p->local_bridge = strdup(v)))
			return -ENOMEM;
	}
	v = ini_get(ini, "provisioner", "local_subnet");
	if (v) {
		if (!local_subnet_is_valid(v))
			return errorf(ret_error, "%s: [provisioner] local_subnet: expected 198.18.N.0/24",
				      name);
		if (!(p->local_subnet = strdup(v)))
			return -ENOMEM;
	}
	if (p->kind == CONFIG_PROVISIONER_LOCAL && (!p->local_bridge || !p->local_subnet))
		return errorf(ret_error, "%s: [provisioner] kind = local needs local_bridge and local_subnet",
			      name);
	v = ini_get(ini, "provisioner", "local_dir");
	if (v && !path_is_sane(v))
		return errorf(ret_error, "%s: [provisioner] local_dir: expected an absolute path", name);
	p->local_dir = strdup(v ?: CONFIG_PROVISIONER_LOCAL_DIR_DEFAULT);
	v = ini_get(ini, "provisioner", "local_agent");
	if (v && !path_is_sane(v))
		return errorf(ret_error, "%s: [provisioner] local_agent: expected an absolute path", name);
	p->local_agent = strdup(v ?: CONFIG_PROVISIONER_LOCAL_AGENT_DEFAULT);
	if (!p->local_dir || !p->local_agent)
		return -ENOMEM;
	return 0;
}

int config_parse(const char *name, const char *data, size_t len, struct config **ret,
		 char **ret_error)
{
	_cleanup_ini_ struct ini *ini = NULL;
	_cleanup_config_ struct config *c = NULL;
	const char *v;
	int r;

	r = ini_parse(name, data, len, &ini, ret_error);
	if (r < 0)
		return r;

	const struct {
		const char *section;
		const char *const *keys;
	} sections[] = {
		{ "", keys_none },
		{ "controller", keys_controller },
		{ "ratelimit", keys_ratelimit },
		{ "userdata", keys_userdata },
		{ "testing", keys_testing },
		{ "provisioner", keys_provisioner },
	};
	/* A misspelled section ("[ratelimt]") must not pass silently. */
	r = ini_check_sections(ini, (const char *const[]){ "", "controller", "ratelimit", "userdata", "testing",
						     "provisioner", NULL },
			       ret_error);
	if (r < 0)
		return r;
	for (size_t i = 0; i < ELEMENTSOF(sections); i++) {
		r = ini_check_keys(ini, sections[i].section, sections[i].keys, ret_error);
		if (r < 0)
			return r;
	}

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;

	v = ini_get(ini, "controller", "state_dir");
	if (v && (v[0] != '/' || strlen(v) > 1024))
		return errorf(ret_error, "%s: state_dir: expected an absolute path", name);
	c->state_dir = strdup(v ?: CONFIG_STATE_DIR_DEFAULT);
	if (!c->state_dir)
		return -ENOMEM;

	v = ini_get(ini, "controller", "api_listen");
	if (config_parse_listen(v ?: "0.0.0.0:8443", &c->api_listen) < 0)
		return errorf(ret_error, "%s: api_listen: expected 'ADDRESS:PORT' or '[V6]:PORT', got '%s'",
			      name, v);
	v = ini_get(ini, "controller", "gateway_listen");
	if (config_parse_listen(v ?: "0.0.0.0:8444", &c->gateway_listen) < 0)
		return errorf(ret_error,
			      "%s: gateway_listen: expected 'ADDRESS:PORT' or '[V6]:PORT', got '%s'",
			      name, v);

	v = ini_get(ini, "controller", "server_names");
	if (v) {
		const char *bad = NULL;
		r = parse_server_names(v, &c->server_names, &bad);
		if (r == -ENOMEM)
			return r;
		if (r < 0)
			return errorf(ret_error, "%s: server_names: %s", name, bad);
	} else {
		c->server_names = config_default_server_names();
		if (!c->server_names)
			return -ENOMEM;
	}

	v = ini_get(ini, "controller", "public_api_url");
	c->public_api_url = v ? strdup(v) : default_url(c->server_names[0], &c->api_listen);
	v = ini_get(ini, "controller", "public_gateway_url");
	c->public_gateway_url = v ? strdup(v) : default_url(c->server_names[0], &c->gateway_listen);
	if (!c->public_api_url || !c->public_gateway_url)
		return -ENOMEM;
	if (!url_is_sane(c->public_api_url))
		return errorf(ret_error, "%s: public_api_url: expected an https:// URL", name);
	if (!url_is_sane(c->public_gateway_url))
		return errorf(ret_error, "%s: public_gateway_url: expected an https:// URL", name);

	v = ini_get(ini, "controller", "log_level");
	c->log_level = LOG_INFO;
	if (v) {
		c->log_level = log_level_from_string(v);
		if (c->log_level < 0)
			return errorf(ret_error,
				      "%s: log_level: expected debug, info, notice, warning or err", name);
	}

	const struct {
		const char *key;
		int64_t def, min, max;
		int64_t *ret;
	} ints[] = {
		{ "join_token_ttl_s", 3600, 5, 7 * 86400, &c->join_token_ttl_s },
		{ "node_cert_ttl_s", 7 * 86400, 3600, 397 * 86400, &c->node_cert_ttl_s },
		{ "job_ttl_s", 3600, 60, 86400, &c->job_ttl_s },
		{ "job_max_attempts", 5, 1, 20, &c->job_max_attempts },
		{ "retry_base_s", 2, 1, 3600, &c->retry_base_s },
		{ "retry_max_s", 300, 1, 86400, &c->retry_max_s },
		{ "poll_wait_max_s", CAIRN_POLL_WAIT_MAX_S, 0, CAIRN_POLL_WAIT_MAX_S, &c->poll_wait_max_s },
		{ "status_interval_s", 60, 5, 86400, &c->status_interval_s },
		{ "connection_limit", 20000, 16, 1000000, &c->connection_limit },
		{ "node_unreachable_s", 0, 0, 30 * 86400, &c->node_unreachable_s },
	};
	for (size_t i = 0; i < ELEMENTSOF(ints); i++) {
		r = ini_get_int(ini, "controller", ints[i].key, ints[i].def, ints[i].min, ints[i].max,
				ints[i].ret, ret_error);
		if (r < 0)
			return r;
	}
	if (c->retry_max_s < c->retry_base_s)
		return errorf(ret_error, "%s: retry_max_s (%" PRIi64 ") is below retry_base_s (%" PRIi64 ")",
			      name, c->retry_max_s, c->retry_base_s);

	if (c->node_unreachable_s == 0)
		c->node_unreachable_s = 3 * c->status_interval_s;

	r = parse_provisioner(name, ini, &c->provisioner, ret_error);
	if (r < 0)
		return r;

	r = get_rl(ini, "api", 20, 50, &c->api_rl, ret_error);
	if (r < 0)
		return r;
	r = get_rl(ini, "gateway", 10, 30, &c->gateway_rl, ret_error);
	if (r < 0)
		return r;
	r = get_rl(ini, "enroll", 1, 5, &c->enroll_rl, ret_error);
	if (r < 0)
		return r;

	v = ini_get(ini, "userdata", "agent_package");
	if (v) {
		/* Debian/RPM package name characters only: it lands in user-data.
		 * Empty: the machine image has the agent (no `packages`). */
		bool ok = strlen(v) <= 128;
		for (const char *p = v; ok && *p; p++)
			ok = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || strchr("+-.=_", *p);
		if (!ok)
			return errorf(ret_error, "%s: agent_package: expected a package name", name);
	}
	c->agent_package = strdup(v ?: "cairn-agent");
	if (!c->agent_package)
		return -ENOMEM;

	r = ini_get_bool(ini, "testing", "allow_raw_jobs", false, &c->allow_raw_jobs, ret_error);
	if (r < 0)
		return r;

	*ret = TAKE_PTR(c);
	return 0;
}

int config_load(const char *path, bool missing_ok, struct config **ret, char **ret_error)
{
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	int r;

	r = read_file_full(path, INI_FILE_MAX, &data, &len);
	if (r == -ENOENT && missing_ok)
		return config_parse(path, "", 0, ret, ret_error);
	if (r < 0) {
		if (ret_error && asprintf(ret_error, "%s: cannot read: %s", path, strerror(-r)) < 0)
			*ret_error = NULL;
		return r;
	}
	return config_parse(path, data, len, ret, ret_error);
}
