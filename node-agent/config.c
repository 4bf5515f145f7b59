/*
 * config.c: reads agent.conf into struct agent_config.  The file is parsed
 * by lib/ini; this module knows the keys, their defaults and their ranges
 * (docs/protocol.md "Agent configuration") and refuses anything else.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "config.h"
#include "ini.h"
#include "log.h"
#include "macro.h"
#include "protocol.h"

static const char *const agent_config_keys[] = {
	"state_dir", "api_url", "gateway_url", "ca_file", "token_file", "tls_dir", "db_dir", "run_dir",
	"poll_wait_s", "skew_s", "log_level", "allow_debug_jobs", NULL,
};

void agent_config_free(struct agent_config *c)
{
	if (!c)
		return;
	free(c->state_dir);
	free(c->api_url);
	free(c->gateway_url);
	free(c->ca_file);
	free(c->token_file);
	free(c->tls_dir);
	free(c->db_dir);
	free(c->run_dir);
	free(c);
}

static int config_error(char **ret_error, const char *name, const char *key, const char *what)
{
	if (ret_error) {
		char *m = NULL;
		if (asprintf(&m, "%s: %s: %s", name, key, what) < 0)
			return -ENOMEM;
		*ret_error = m;
	}
	return -EINVAL;
}

/* Copies an https URL; trailing '/' are dropped so that paths join cleanly. */
static int config_url(const struct ini *ini, const char *name, const char *key, bool required,
		      char **ret, char **ret_error)
{
	const char *v = ini_get(ini, "agent", key);
	size_t n;

	if (!v || !*v) {
		if (required)
			return config_error(ret_error, name, key, "missing (an https:// URL is required)");
		*ret = NULL;
		return 0;
	}
	n = strlen(v);
	if (n > AGENT_URL_MAX)
		return config_error(ret_error, name, key, "too long");
	if (strncmp(v, "https://", 8) != 0 || n <= 8)
		return config_error(ret_error, name, key, "expected an https:// URL");
	for (const char *p = v; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == '"' || *p == '\\' || (unsigned char)*p >= 0x7f)
			return config_error(ret_error, name, key, "invalid character in URL");
	while (n > 8 && v[n - 1] == '/')
		n--;
	if (strchr(v + 8, '?') || strchr(v + 8, '#'))
		return config_error(ret_error, name, key, "URL must not have a query or fragment");
	*ret = strndup(v, n);
	return *ret ? 0 : -ENOMEM;
}

/* Copies an absolute path without "." / ".." components; trailing '/' dropped. */
static int config_path(const struct ini *ini, const char *name, const char *key, const char *def,
		       char **ret, char **ret_error)
{
	const char *v = ini_get(ini, "agent", key);
	size_t n;

	if (!v || !*v)
		v = def;
	n = strlen(v);
	if (n > AGENT_PATH_MAX)
		return config_error(ret_error, name, key, "too long");
	if (v[0] != '/')
		return config_error(ret_error, name, key, "expected an absolute path");
	while (n > 1 && v[n - 1] == '/')
		n--;
	if (n == 1)
		return config_error(ret_error, name, key, "must not be the root directory");
	for (size_t i = 0; i < n; i++) {
		if (v[i] != '/')
			continue;
		/* Component starting after this '/'. */
		const char *c = v + i + 1;
		size_t len = strcspn(c, "/");
		if (c + len > v + n)
			len = (size_t)(v + n - c);
		if (len == 0 || (len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
			return config_error(ret_error, name, key,
					    "path must not contain '//', '.' or '..'");
	}
	*ret = strndup(v, n);
	return *ret ? 0 : -ENOMEM;
}

/* True when one directory is the other or lies inside it: tls.issue must
 * never be able to overwrite the agent's own key or journal. */
static bool path_overlaps(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), n = MIN(la, lb);

	if (strncmp(a, b, n) != 0)
		return false;
	if (la == lb)
		return true;
	return (la > lb ? a[n] : b[n]) == '/';
}

static int config_from_ini(const char *name, const struct ini *ini, struct agent_config **ret,
			   char **ret_error)
{
	_cleanup_(agent_config_freep) struct agent_config *c = NULL;
	const char *level;
	int r;

	/* Only [agent] exists: a misspelt section would hide every key in it. */
	r = ini_check_sections(ini, (const char *const[]){ "agent", NULL }, ret_error);
	if (r < 0)
		return r;
	r = ini_check_keys(ini, "agent", agent_config_keys, ret_error);
	if (r < 0)
		return r;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;

	r = config_path(ini, name, "state_dir", AGENT_STATE_DIR_DEFAULT, &c->state_dir, ret_error);
	if (r < 0)
		return r;
	r = config_url(ini, name, "api_url", false, &c->api_url, ret_error);
	if (r < 0)
		return r;
	r = config_url(ini, name, "gateway_url", false, &c->gateway_url, ret_error);
	if (r < 0)
		return r;
	r = config_path(ini, name, "ca_file", AGENT_CA_FILE_DEFAULT, &c->ca_file, ret_error);
	if (r < 0)
		return r;
	r = config_path(ini, name, "token_file", AGENT_TOKEN_FILE_DEFAULT, &c->token_file, ret_error);
	if (r < 0)
		return r;
	r = config_path(ini, name, "tls_dir", AGENT_TLS_DIR_DEFAULT, &c->tls_dir, ret_error);
	if (r < 0)
		return r;
	r = config_path(ini, name, "db_dir", AGENT_DB_DIR_DEFAULT, &c->db_dir, ret_error);
	if (r < 0)
		return r;
	r = config_path(ini, name, "run_dir", AGENT_RUN_DIR_DEFAULT, &c->run_dir, ret_error);
	if (r < 0)
		return r;
	r = ini_get_int(ini, "agent", "poll_wait_s", AGENT_POLL_WAIT_DEFAULT_S, 0,
			CAIRN_POLL_WAIT_MAX_S, &c->poll_wait_s, ret_error);
	if (r < 0)
		return r;
	r = ini_get_int(ini, "agent", "skew_s", CAIRN_SKEW_DEFAULT_S, 0, AGENT_SKEW_MAX_S,
			&c->skew_s, ret_error);
	if (r < 0)
		return r;
	r = ini_get_bool(ini, "agent", "allow_debug_jobs", false, &c->allow_debug_jobs, ret_error);
	if (r < 0)
		return r;

	level = ini_get(ini, "agent", "log_level");
	if (level && *level) {
		r = log_level_from_string(level);
		if (r < 0)
			return config_error(ret_error, name, "log_level",
					    "expected debug, info, notice, warning or error");
		c->log_level = r;
	} else
		c->log_level = LOG_INFO;

	if (path_overlaps(c->state_dir, c->tls_dir))
		return config_error(ret_error, name, "tls_dir", "must not overlap state_dir");
	if (path_overlaps(c->state_dir, c->db_dir))
		return config_error(ret_error, name, "db_dir", "must not overlap state_dir");
	if (path_overlaps(c->tls_dir, c->db_dir))
		return config_error(ret_error, name, "db_dir", "must not overlap tls_dir");

	*ret = TAKE_PTR(c);
	return 0;
}

int agent_config_parse(const char *name, const char *data, size_t len, struct agent_config **ret,
		       char **ret_error)
{
	_cleanup_ini_ struct ini *ini = NULL;
	int r;

	r = ini_parse(name, data, len, &ini, ret_error);
	if (r < 0)
		return r;
	return config_from_ini(name, ini, ret, ret_error);
}

int agent_config_load(const char *path, struct agent_config **ret, char **ret_error)
{
	_cleanup_ini_ struct ini *ini = NULL;
	int r;

	r = ini_load(path, &ini, ret_error);
	if (r < 0)
		return r;
	return config_from_ini(path, ini, ret, ret_error);
}
