/*
 * exec-pkg.h: pkg.install, the database engine's packages and the
 * exporters from the distribution's package manager (apt-get on the
 * Debian family, dnf with the PGDG layout on the RHEL family).  When the
 * package database says everything asked for is installed, the package
 * manager is not called at all, so the job also succeeds on a node
 * without network access.
 */
#pragma once

#include "exec.h"

#define EXEC_PKG_VERSION_MAX 2 /* "15": majors 10..99 */

enum exec_pkg_family {
	EXEC_PKG_DEBIAN,
	EXEC_PKG_RHEL,
	_EXEC_PKG_FAMILY_MAX,
	_EXEC_PKG_FAMILY_INVALID = -EINVAL,
};

/* The family named by an os-release text (ID, then ID_LIKE), or
 * -EOPNOTSUPP. */
int exec_pkg_family_from_os_release(const char *text);
const char *exec_pkg_family_to_string(enum exec_pkg_family f);

/* True for a supported PostgreSQL major as sent in params ("12".."99"). */
bool exec_pkg_version_is_valid(const char *v);

/* Where the server binaries of major `version` live for the family:
 * /usr/lib/postgresql/<v>/bin or /usr/pgsql-<v>/bin.  Returns a new
 * string or NULL. */
char *exec_pkg_bin_dir(enum exec_pkg_family f, const char *version);

/* The bin_dir of an installed major on this node, whatever its family
 * (the first of the two layouts holding a `postgres` binary), or NULL. */
char *exec_pkg_find_bin_dir(const char *version);

/* The package name of allow-list item `item` ("server", "client",
 * "node_exporter", "postgres_exporter") for the family and major.
 * Returns a new string, or NULL for an unknown item. */
char *exec_pkg_name(enum exec_pkg_family f, const char *item, const char *version);

int exec_pkg_install_validate(json_t *params, const struct exec_config *cfg, char *reason, size_t reason_len);
int exec_pkg_install_run(json_t *params, const struct exec_context *ctx, json_t **ret_output, char **ret_message);
