/*
 * exec-pkg.c: pkg.install (docs/datastores.md "Jobs").
 *
 * The family comes from /etc/os-release.  Installed packages are asked of
 * dpkg-query or rpm first; only the missing ones go to apt-get (after an
 * `update`) or dnf, non-interactively and waiting for the dpkg lock
 * rather than failing on it.  Every program runs through proc_run with
 * the job's keepalive, so a long download keeps the watchdog fed and a
 * stopping agent stops it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exec-pkg.h"
#include "fileio.h"
#include "macro.h"
#include "proc.h"

#define PKG_OS_RELEASE "/etc/os-release"
#define PKG_OS_RELEASE_MAX (64 * 1024)
#define PKG_ITEMS_MAX 4
#define PKG_QUERY_TIMEOUT_MS (60 * 1000)
#define PKG_INSTALL_TIMEOUT_MS (840 * 1000) /* under the job's 900 s */
#define PKG_MESSAGE_TAIL 1500
#define PKG_CREATECLUSTER_DIR "/etc/postgresql-common/createcluster.d"
#define PKG_CREATECLUSTER_CONF PKG_CREATECLUSTER_DIR "/cairn.conf"

static const char *const pkg_items[PKG_ITEMS_MAX] = { "server", "client", "node_exporter", "postgres_exporter" };

const char *exec_pkg_family_to_string(enum exec_pkg_family f)
{
	switch (f) {
	case EXEC_PKG_DEBIAN:
		return "debian";
	case EXEC_PKG_RHEL:
		return "rhel";
	default:
		return NULL;
	}
}

/* True when the whitespace-separated, possibly quoted `list` holds `word`. */
static bool pkg_list_has(const char *list, size_t len, const char *word)
{
	size_t wl = strlen(word), i = 0;

	while (i < len) {
		while (i < len && (list[i] == ' ' || list[i] == '"' || list[i] == '\''))
			i++;
		size_t s = i;
		while (i < len && list[i] != ' ' && list[i] != '"' && list[i] != '\'')
			i++;
		if (i - s == wl && memcmp(list + s, word, wl) == 0)
			return true;
	}
	return false;
}

static int pkg_family_of(const char *val, size_t len)
{
	static const char *const deb[] = { "debian", "ubuntu", NULL };
	static const char *const rhel[] = { "rhel", "centos", "fedora", "rocky", "almalinux", "ol", NULL };

	for (size_t i = 0; deb[i]; i++)
		if (pkg_list_has(val, len, deb[i]))
			return EXEC_PKG_DEBIAN;
	for (size_t i = 0; rhel[i]; i++)
		if (pkg_list_has(val, len, rhel[i]))
			return EXEC_PKG_RHEL;
	return -EOPNOTSUPP;
}

int exec_pkg_family_from_os_release(const char *text)
{
	/* ID decides when it is known; ID_LIKE is the fallback. */
	static const char *const keys[] = { "ID=", "ID_LIKE=" };

	if (!text)
		return -EINVAL;
	for (size_t k = 0; k < ELEMENTSOF(keys); k++) {
		const char *p = text;
		size_t kl = strlen(keys[k]);

		while (p && *p) {
			const char *eol = strchr(p, '\n');
			size_t len = eol ? (size_t)(eol - p) : strlen(p);

			if (len > kl && strncmp(p, keys[k], kl) == 0) {
				int f = pkg_family_of(p + kl, len - kl);
				if (f >= 0)
					return f;
			}
			p = eol ? eol + 1 : NULL;
		}
	}
	return -EOPNOTSUPP;
}

bool exec_pkg_version_is_valid(const char *v)
{
	return v && strlen(v) == 2 && v[0] >= '1' && v[0] <= '9' && v[1] >= '0' && v[1] <= '9' &&
	       !(v[0] == '1' && v[1] < '2');
}

char *exec_pkg_bin_dir(enum exec_pkg_family f, const char *version)
{
	char *s = NULL;

	if (!exec_pkg_version_is_valid(version))
		return NULL;
	if (f == EXEC_PKG_DEBIAN && asprintf(&s, "/usr/lib/postgresql/%s/bin", version) < 0)
		return NULL;
	if (f == EXEC_PKG_RHEL && asprintf(&s, "/usr/pgsql-%s/bin", version) < 0)
		return NULL;
	return s;
}

char *exec_pkg_find_bin_dir(const char *version)
{
	for (int f = 0; f < _EXEC_PKG_FAMILY_MAX; f++) {
		_cleanup_free_ char *dir = exec_pkg_bin_dir(f, version), *bin = NULL;

		if (!dir)
			return NULL;
		bin = path_join(dir, "postgres");
		if (bin && access(bin, X_OK) == 0)
			return TAKE_PTR(dir);
	}
	return NULL;
}

char *exec_pkg_name(enum exec_pkg_family f, const char *item, const char *version)
{
	char *s = NULL;
	int r = -1;

	if (!item || !exec_pkg_version_is_valid(version))
		return NULL;
	if (f == EXEC_PKG_DEBIAN) {
		if (streq(item, "server"))
			r = asprintf(&s, "postgresql-%s", version);
		else if (streq(item, "client"))
			r = asprintf(&s, "postgresql-client-%s", version);
		else if (streq(item, "node_exporter"))
			return strdup("prometheus-node-exporter");
		else if (streq(item, "postgres_exporter"))
			return strdup("prometheus-postgres-exporter");
	} else if (f == EXEC_PKG_RHEL) {
		if (streq(item, "server"))
			r = asprintf(&s, "postgresql%s-server", version);
		else if (streq(item, "client"))
			r = asprintf(&s, "postgresql%s", version);
		else if (streq(item, "node_exporter"))
			return strdup("node_exporter");
		else if (streq(item, "postgres_exporter"))
			return strdup("postgres_exporter");
	}
	return r < 0 ? NULL : s;
}

int exec_pkg_install_validate(json_t *params, const struct exec_config *cfg, char *reason, size_t reason_len)
{
	static const char *const known[] = { "engine", "version", "packages", NULL };
	json_t *v;
	int r;

	(void)cfg;
	r = exec_check_members(params, known, reason, reason_len);
	if (r < 0)
		return r;
	v = json_object_get(params, "engine");
	if (!json_is_string(v) || !streq(json_string_value(v), "postgres"))
		return exec_reason(reason, reason_len, "engine: expected \"postgres\"");
	v = json_object_get(params, "version");
	if (!json_is_string(v) || !exec_pkg_version_is_valid(json_string_value(v)))
		return exec_reason(reason, reason_len, "version: expected a PostgreSQL major such as \"15\"");
	v = json_object_get(params, "packages");
	if (v) {
		size_t i, n;
		json_t *e;

		if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > PKG_ITEMS_MAX)
			return exec_reason(reason, reason_len, "packages: expected a non-empty array of at most %d items",
					   PKG_ITEMS_MAX);
		json_array_foreach(v, i, e) {
			bool ok = false;

			for (n = 0; n < PKG_ITEMS_MAX; n++)
				if (json_is_string(e) && streq(json_string_value(e), pkg_items[n]))
					ok = true;
			if (!ok)
				return exec_reason(reason, reason_len,
						   "packages[%zu]: expected server, client, node_exporter or postgres_exporter",
						   i);
			for (n = 0; n < i; n++)
				if (json_equal(json_array_get(v, n), e))
					return exec_reason(reason, reason_len, "packages[%zu]: listed twice", i);
		}
	}
	return 0;
}

/* Marks in `installed` which of the `n` packages the package database
 * says are installed. */
static int pkg_query(enum exec_pkg_family f, char *const *names, size_t n, bool *installed,
		     const struct exec_context *ctx)
{
	const char *argv[PKG_ITEMS_MAX + 8];
	struct proc_result res = { 0 };
	size_t a = 0;
	int r;

	if (f == EXEC_PKG_DEBIAN) {
		argv[a++] = "/usr/bin/dpkg-query";
		argv[a++] = "-W";
		argv[a++] = "-f=${Package} ${db:Status-Abbrev}\\n";
	} else {
		argv[a++] = "/usr/bin/rpm";
		argv[a++] = "-q";
		argv[a++] = "--qf";
		argv[a++] = "%{NAME} ii\\n";
	}
	for (size_t i = 0; i < n; i++)
		argv[a++] = names[i];
	argv[a] = NULL;

	struct proc_spec spec = { .argv = argv, .timeout_ms = PKG_QUERY_TIMEOUT_MS,
				  .keepalive = ctx ? ctx->keepalive : NULL, .userdata = ctx ? ctx->userdata : NULL };
	r = proc_run(&spec, &res);
	if (r < 0) {
		proc_result_done(&res);
		return r;
	}
	/* Non-zero exit only means some are unknown: the lines tell which. */
	for (size_t i = 0; i < n; i++) {
		installed[i] = false;
		for (const char *p = res.out; p && *p;) {
			const char *eol = strchr(p, '\n');
			size_t len = eol ? (size_t)(eol - p) : strlen(p);
			size_t nl = strlen(names[i]);

			/* "<name> ii " (dpkg) or "<name> ii" (rpm). */
			if (len >= nl + 3 && memcmp(p, names[i], nl) == 0 && p[nl] == ' ' && p[nl + 1] == 'i' &&
			    p[nl + 2] == 'i')
				installed[i] = true;
			p = eol ? eol + 1 : NULL;
		}
	}
	proc_result_done(&res);
	return 0;
}

static int pkg_run(const char *const *argv, const char *const *env, const struct exec_context *ctx,
		   char **ret_message)
{
	struct proc_result res = { 0 };
	struct proc_spec spec = { .argv = argv, .env = env, .timeout_ms = PKG_INSTALL_TIMEOUT_MS,
				  .keepalive = ctx->keepalive, .userdata = ctx->userdata };
	int r;

	r = proc_run(&spec, &res);
	if (r == -ECANCELED) {
		proc_result_done(&res);
		return r;
	}
	if (r < 0 || res.exit_status != 0) {
		*ret_message = exec_message("%s %s failed (%s%d): %s", argv[0], argv[1] ? argv[1] : "",
					   r == -ETIMEDOUT ? "timed out, status " : "status ", res.exit_status,
					   proc_tail(res.err && *res.err ? res.err : res.out, PKG_MESSAGE_TAIL));
		proc_result_done(&res);
		return r < 0 ? r : -EIO;
	}
	proc_result_done(&res);
	return 0;
}

/* "postgres (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)" → "15.20". */
static char *pkg_server_version(const char *bin_dir)
{
	_cleanup_free_ char *bin = path_join(bin_dir, "postgres");
	const char *argv[] = { bin, "--version", NULL };
	struct proc_result res = { 0 };
	struct proc_spec spec = { .argv = argv, .timeout_ms = PKG_QUERY_TIMEOUT_MS };
	char *v = NULL;

	if (!bin || proc_run(&spec, &res) < 0)
		return NULL;
	if (res.exit_status == 0) {
		const char *p = strstr(res.out, ") ");
		if (p) {
			p += 2;
			size_t n = strspn(p, "0123456789.");
			if (n > 0 && n < 32)
				v = strndup(p, n);
		}
	}
	proc_result_done(&res);
	return v;
}

/* Debian's postgresql package makes and starts a cluster "main" on port
 * 5432 when first installed: it would hold the port of the datastore's
 * instance.  postgresql-common reads createcluster.d before it decides. */
static int pkg_no_main_cluster(void)
{
	int r;

	r = mkdir_p(PKG_CREATECLUSTER_DIR, 0755);
	if (r < 0)
		return r;
	return write_string_atomic(PKG_CREATECLUSTER_CONF,
				   "# Written by cairn-agent (pkg.install): PostgreSQL instances are made\n"
				   "# by the agent's pg.init, never by the package.\n"
				   "create_main_cluster = off\n",
				   0644);
}

int exec_pkg_install_run(json_t *params, const struct exec_context *ctx, json_t **ret_output, char **ret_message)
{
	const char *version = json_string_value(json_object_get(params, "version"));
	json_t *list = json_object_get(params, "packages");
	_cleanup_free_ char *osr = NULL, *bin_dir = NULL, *server_version = NULL;
	_cleanup_json_ json_t *out = NULL, *installed_json = NULL;
	char *names[PKG_ITEMS_MAX] = { 0 };
	bool installed[PKG_ITEMS_MAX] = { 0 };
	size_t n = 0, missing = 0;
	enum exec_pkg_family family;
	int r;

	r = read_file_full(PKG_OS_RELEASE, PKG_OS_RELEASE_MAX, &osr, NULL);
	if (r < 0) {
		*ret_message = exec_message("cannot read %s: %s", PKG_OS_RELEASE, strerror(-r));
		return r;
	}
	r = exec_pkg_family_from_os_release(osr);
	if (r < 0) {
		*ret_message = exec_message("%s names no supported family (Debian or RHEL)", PKG_OS_RELEASE);
		return r;
	}
	family = r;

	for (size_t i = 0; i < PKG_ITEMS_MAX; i++) {
		const char *item = list ? json_string_value(json_array_get(list, i)) : pkg_items[i];
		if (!item)
			break;
		names[n] = exec_pkg_name(family, item, version);
		if (!names[n]) {
			r = -ENOMEM;
			goto finish;
		}
		n++;
	}

	r = pkg_query(family, names, n, installed, ctx);
	if (r < 0) {
		if (r != -ECANCELED)
			*ret_message = exec_message("cannot query the package database: %s", strerror(-r));
		goto finish;
	}
	for (size_t i = 0; i < n; i++)
		missing += !installed[i];

	if (missing > 0) {
		const char *argv[PKG_ITEMS_MAX + 12];
		size_t a = 0;

		if (family == EXEC_PKG_DEBIAN) {
			static const char *const env[] = { "DEBIAN_FRONTEND=noninteractive", NULL };
			const char *update[] = { "/usr/bin/apt-get", "-q", "-o", "DPkg::Lock::Timeout=300", "update", NULL };

			r = pkg_no_main_cluster();
			if (r < 0) {
				*ret_message = exec_message("cannot write %s: %s", PKG_CREATECLUSTER_CONF,
							   strerror(-r));
				goto finish;
			}
			r = pkg_run(update, env, ctx, ret_message);
			if (r < 0)
				goto finish;
			argv[a++] = "/usr/bin/apt-get";
			argv[a++] = "-q";
			argv[a++] = "-y";
			argv[a++] = "-o";
			argv[a++] = "DPkg::Lock::Timeout=300";
			argv[a++] = "--no-install-recommends";
			argv[a++] = "install";
			for (size_t i = 0; i < n; i++)
				if (!installed[i])
					argv[a++] = names[i];
			argv[a] = NULL;
			r = pkg_run(argv, env, ctx, ret_message);
		} else {
			argv[a++] = "/usr/bin/dnf";
			argv[a++] = "-y";
			argv[a++] = "-q";
			argv[a++] = "install";
			for (size_t i = 0; i < n; i++)
				if (!installed[i])
					argv[a++] = names[i];
			argv[a] = NULL;
			r = pkg_run(argv, NULL, ctx, ret_message);
		}
		if (r < 0)
			goto finish;
		r = pkg_query(family, names, n, installed, ctx);
		if (r < 0)
			goto finish;
		for (size_t i = 0; i < n; i++)
			if (!installed[i]) {
				*ret_message = exec_message("%s is still not installed after the package manager ran",
							   names[i]);
				r = -ENOPKG;
				goto finish;
			}
	}

	bin_dir = exec_pkg_bin_dir(family, version);
	if (!bin_dir) {
		r = -ENOMEM;
		goto finish;
	}
	server_version = pkg_server_version(bin_dir);
	installed_json = json_array();
	if (!installed_json) {
		r = -ENOMEM;
		goto finish;
	}
	for (size_t i = 0; i < n; i++)
		json_array_append_new(installed_json, json_string(names[i]));
	out = json_pack("{s:s,s:s,s:o,s:O}", "family", exec_pkg_family_to_string(family), "bin_dir", bin_dir,
			"server_version", server_version ? json_string(server_version) : json_null(), "installed",
			installed_json);
	if (!out) {
		r = -ENOMEM;
		goto finish;
	}
	*ret_output = TAKE_PTR(out);
	r = 0;
finish:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	return r;
}
