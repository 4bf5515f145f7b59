/*
 * fuzz-manifest.c: what a restore trusts in a decrypted manifest
 * (node-agent/backup-manifest.c: JSON limits, paths, bundles, offsets) and
 * the control socket's request line (node-agent/backup-ctl.c).
 *
 * The first input byte picks the mode: even, the rest is a manifest; odd,
 * the rest is one control-socket request line.  A manifest that passes the
 * checks must satisfy what the restore relies on: every path safe, every
 * file inside an existing bundle at the offset its predecessors imply.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backup-ctl.h"
#include "backup-manifest.h"
#include "backup-wal.h"
#include "macro.h"

static void manifest_invariants(json_t *m)
{
	json_t *files = json_object_get(m, "files"), *bundles = json_object_get(m, "bundles"), *f;
	size_t nb = json_array_size(bundles), i;
	uint64_t *fill = calloc(nb ? nb : 1, sizeof(*fill));

	if (!fill)
		return;
	json_array_foreach(files, i, f) {
		if (!backup_path_is_safe(json_string_value(json_object_get(f, "path"))))
			abort();
		if (json_is_true(json_object_get(f, "dir")))
			continue;
		size_t b = (size_t)json_integer_value(json_object_get(f, "bundle"));
		if (b >= nb || (uint64_t)json_integer_value(json_object_get(f, "offset")) != fill[b])
			abort();
		fill[b] += (uint64_t)json_integer_value(json_object_get(f, "size"));
	}
	free(fill);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char reason[256];

	if (size < 1)
		return 0;
	if (data[0] % 2 == 0) {
		json_t *m = NULL;

		if (backup_manifest_parse((const char *)data + 1, size - 1, &m, reason, sizeof(reason)) == 0) {
			manifest_invariants(m);
			json_decref(m);
		}
	} else {
		struct backup_ctl_request req;

		if (backup_ctl_parse_request((const char *)data + 1, size - 1, &req) == 0) {
			if (!backup_wal_name_is_valid(req.name) || strlen(req.ds) != 36)
				abort();
		}
	}
	return 0;
}
