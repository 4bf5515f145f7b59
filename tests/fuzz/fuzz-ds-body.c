/*
 * fuzz-ds-body.c: the datastore API's body parsers (api-datastores.c:
 * create, add nodes, settings patch) and the status report's `databases`
 * check (gateway.c), fed one JSON document per input.  Every parser sees
 * every input, so one corpus covers them all (the provisioner's answer
 * parser, provision.c, too); what a parser accepts is
 * rendered back through the pure renderers to exercise them too.  The
 * backup routes' parsers (backup.c, api-backups.c: backup config, restore,
 * verify, backup now) and the backup renderers see every input too.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "controller/api-backups.h"
#include "controller/api-datastores.h"
#include "controller/backup.h"
#include "controller/gateway.h"
#include "controller/health.h"
#include "controller/provision.h"
#include "macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char reason[OPS_REASON_MAX], areason[API_REASON_MAX];
	struct ops_create_spec spec;
	json_t *j, *patch;
	int count;

	if (size > 512 * 1024)
		return 0;

	/* The same bytes as a provisioner's answer, after a clean exit and
	 * after a failure (exit status 1 in wait(2) form). */
	if (size <= PROVISION_ANSWER_MAX) {
		struct provision_result pr = {};
		provision_parse_answer((const char *)data, size, 0, &pr);
		provision_result_done(&pr);
		pr = (struct provision_result){};
		provision_parse_answer((const char *)data, size, 1 << 8, &pr);
		provision_result_done(&pr);
	}

	j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	if (!j)
		return 0;

	if (ads_parse_create(j, &spec, reason) == 0) {
		/* Accepted bodies render as a datastore would. */
		struct store_datastore d = { .id = "00000000-0000-4000-8000-000000000000",
					     .name = (char *)spec.name, .engine = (char *)spec.engine,
					     .version = (char *)spec.version, .port = 5432,
					     .state = "creating", .epoch = 1 };
		_cleanup_free_ char *settings = spec.settings ? json_dumps(spec.settings, JSON_COMPACT) : NULL;
		_cleanup_free_ char *sz = spec.size ? json_dumps(spec.size, JSON_COMPACT) : NULL;
		d.settings = settings;
		d.size = sz;
		json_t *o = ads_datastore_to_json(&d, HEALTH_UNKNOWN, NULL, NULL);
		json_decref(o);
	}
	(void)ads_parse_add_nodes(j, &count, reason);
	(void)ads_parse_settings_patch(j, &patch, reason);
	(void)ads_check_settings(j, true, reason);
	(void)ads_check_settings(json_object_get(j, "settings") ?: j, false, reason);

	/* A status report, and its databases alone. */
	char *facts = NULL, *health = NULL;
	if (gateway_parse_status(j, &facts, &health, areason) == 0 && health) {
		json_t *st = health_member_status(health, "00000000-0000-4000-8000-000000000000");
		json_decref(st);
	}
	free(facts);
	free(health);
	json_t *dbs = json_object_get(j, "databases");
	(void)gateway_check_databases(dbs ?: j, areason);
	if (json_is_array(j))
		(void)gateway_check_databases(j, areason);

	/* Backups. */
	struct backup_config_spec bspec = {};
	if (backup_parse_config(j, &bspec, reason) == 0) {
		_cleanup_free_ char *text = json_dumps(bspec.config, JSON_COMPACT | JSON_SORT_KEYS);
		struct store_backup_config bc = { .config = text, .secret_key = (char *)"x" };
		json_t *o = text ? backup_config_to_json(&bc) : NULL;
		json_decref(o);
		backup_config_spec_done(&bspec);
	}
	struct ops_restore_spec rspec;
	bool drill;
	(void)abk_parse_restore(j, &rspec, reason);
	(void)abk_parse_verify(j, &drill, reason);
	(void)abk_parse_backup_now(j, reason);
	if (json_is_string(j)) {
		int64_t t;
		(void)backup_parse_time(json_string_value(j), &t);
		(void)backup_lsn_ok(json_string_value(j));
		(void)abk_bytes_done_from_message(json_string_value(j));
	}

	json_decref(j);
	return 0;
}
