/*
 * fuzz-ini.c: libFuzzer target for the configuration parser: ini_parse()
 * and the typed lookups that read what it stored.  Invariants checked with
 * abort(): a refusal always carries a "name:line: reason" message, and a
 * successful parse answers every lookup without crashing.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ini.h"
#include "macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const sections[] = { "", "agent", "controller", "ratelimit", NULL };
	static const char *const keys[] = { "state_dir", "log_level", "poll_wait_s", "skew_s",
					    "allow_debug_jobs", "api_rate", NULL };
	_cleanup_ini_ struct ini *ini = NULL;
	char *err = NULL;
	int64_t v;
	bool b;
	int r;

	r = ini_parse("fuzz.conf", (const char *)data, size, &ini, &err);
	if (r < 0) {
		if (ini || !err || strncmp(err, "fuzz.conf:", 10) != 0)
			abort();
		free(err);
		return 0;
	}
	if (!ini || err)
		abort();
	for (size_t s = 0; sections[s]; s++) {
		for (size_t k = 0; keys[k]; k++) {
			(void)ini_get(ini, sections[s], keys[k]);
			if (ini_get_int(ini, sections[s], keys[k], 0, -100, 100000, &v, &err) < 0) {
				if (!err)
					abort();
				free(err);
				err = NULL;
			}
			if (ini_get_bool(ini, sections[s], keys[k], false, &b, &err) < 0) {
				if (!err)
					abort();
				free(err);
				err = NULL;
			}
		}
		if (ini_check_keys(ini, sections[s], keys, &err) < 0) {
			if (!err)
				abort();
			free(err);
			err = NULL;
		}
	}
	if (ini_check_sections(ini, sections, &err) < 0) {
		if (!err)
			abort();
		free(err);
	}
	return 0;
}
