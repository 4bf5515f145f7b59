/*
 * exec.c: the table of executors and the helpers their validators share.
 * A type runs only when it is both in lib/protocol.c's table (so the
 * controller and the agent agree on its idempotence) and in this one.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "exec-backup.h"
#include "exec-debug.h"
#include "exec-exporter.h"
#include "exec-node.h"
#include "exec-pg.h"
#include "exec-pkg.h"
#include "exec-restore.h"
#include "exec-tls.h"
#include "exec.h"
#include "fileio.h"
#include "macro.h"
#include "protocol.h"

#define EXEC_PATH_MAX 1024

static const struct exec_type exec_table[] = {
	{ "node.facts", exec_node_facts_validate, exec_node_facts_run },
	{ "tls.issue", exec_tls_issue_validate, exec_tls_issue_run },
	{ "pkg.install", exec_pkg_install_validate, exec_pkg_install_run },
	{ "pg.init", exec_pg_init_validate, exec_pg_init_run },
	{ "pg.slots", exec_pg_slots_validate, exec_pg_slots_run },
	{ "pg.replica", exec_pg_replica_validate, exec_pg_replica_run },
	{ "pg.config", exec_pg_config_validate, exec_pg_config_run },
	{ "pg.service", exec_pg_service_validate, exec_pg_service_run },
	{ "pg.destroy", exec_pg_destroy_validate, exec_pg_destroy_run },
	{ "exporter.install", exec_exporter_install_validate, exec_exporter_install_run },
	{ "backup.configure", exec_backup_configure_validate, exec_backup_configure_run },
	{ "backup.full", exec_backup_full_validate, exec_backup_full_run },
	{ "backup.verify", exec_backup_verify_validate, exec_backup_verify_run },
	{ "backup.drill", exec_backup_drill_validate, exec_backup_drill_run },
	{ "backup.delete", exec_backup_delete_validate, exec_backup_delete_run },
	{ "pg.restore", exec_pg_restore_validate, exec_pg_restore_run },
	{ "debug.sleep", exec_debug_sleep_validate, exec_debug_sleep_run },
};

const struct exec_type *exec_lookup(const char *name, bool allow_debug)
{
	const struct cairn_job_type_info *info;

	if (!name)
		return NULL;
	info = cairn_job_type_lookup(name);
	if (!info || (info->debug && !allow_debug))
		return NULL;
	for (size_t i = 0; i < ELEMENTSOF(exec_table); i++)
		if (streq(exec_table[i].name, name))
			return &exec_table[i];
	return NULL;
}

int exec_reason(char *reason, size_t reason_len, const char *fmt, ...)
{
	va_list ap;

	if (reason && reason_len > 0) {
		va_start(ap, fmt);
		vsnprintf(reason, reason_len, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

char *exec_message(const char *fmt, ...)
{
	va_list ap;
	char *m;

	va_start(ap, fmt);
	if (vasprintf(&m, fmt, ap) < 0)
		m = NULL;
	va_end(ap);
	return m;
}

/* A member name from the peer, shortened and made printable for a reason. */
static void exec_safe_name(const char *s, char ret[static 65])
{
	size_t i;

	for (i = 0; s[i] && i < 64; i++)
		ret[i] = (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '\'') ? s[i] : '?';
	ret[i] = 0;
}

int exec_check_members(json_t *params, const char *const *known, char *reason, size_t reason_len)
{
	const char *key;
	json_t *v;

	if (!json_is_object(params))
		return exec_reason(reason, reason_len, "params: expected an object");
	json_object_foreach(params, key, v) {
		bool ok = false;

		for (const char *const *k = known; *k; k++)
			if (streq(*k, key)) {
				ok = true;
				break;
			}
		if (!ok) {
			char name[65];

			exec_safe_name(key, name);
			return exec_reason(reason, reason_len, "params: unknown member '%s'", name);
		}
	}
	return 0;
}

int exec_check_path(json_t *params, const char *member, bool required, const char *dir, char *reason,
		    size_t reason_len)
{
	json_t *v = json_object_get(params, member);
	const char *s;
	size_t n;

	if (!v) {
		if (required)
			return exec_reason(reason, reason_len, "params.%s: missing", member);
		return 0;
	}
	if (!json_is_string(v))
		return exec_reason(reason, reason_len, "params.%s: expected a string", member);
	s = json_string_value(v);
	n = json_string_length(v);
	if (n == 0 || n > EXEC_PATH_MAX || strlen(s) != n)
		return exec_reason(reason, reason_len, "params.%s: bad length", member);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return exec_reason(reason, reason_len, "params.%s: control character in path", member);
	if (!path_is_confined(s, dir))
		return exec_reason(reason, reason_len, "params.%s: path not confined to %s", member, dir);
	return 0;
}
