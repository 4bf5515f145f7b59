/*
 * fuzz-api-body.c: every request body parser of the controller (API and
 * gateway), fed one JSON document per input, and the pull query parser
 * fed the raw bytes.  The first byte picks nothing: all parsers see every
 * input, so one corpus covers them all.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "controller/api.h"
#include "controller/enroll.h"
#include "controller/gateway.h"
#include "macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void query(const uint8_t *data, size_t size)
{
	/* "after&wait" split at the first '&'. */
	char buf[128];
	char reason[API_REASON_MAX];
	int64_t after, wait;
	if (size >= sizeof(buf))
		return;
	memcpy(buf, data, size);
	buf[size] = 0;
	char *amp = strchr(buf, '&');
	if (amp)
		*amp++ = 0;
	(void)gateway_parse_pull_query(buf, amp, 60, &after, &wait, reason);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char reason[API_REASON_MAX];
	json_t *j;

	query(data, size);
	if (size > 512 * 1024)
		return 0;
	j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	if (!j)
		return 0;

	char name[CAIRN_NODE_NAME_MAX + 1];
	(void)api_parse_node_create(j, name, reason);

	struct api_job_submit js;
	if (api_parse_job_submit(j, &js, reason) == 0 && js.type && js.params)
		(void)api_check_params(js.type, js.params, reason);
	static const char *const types[] = { "node.facts", "tls.issue", "debug.sleep", "none" };
	json_t *params = json_object_get(j, "params");
	for (size_t i = 0; i < ELEMENTSOF(types); i++)
		(void)api_check_params(types[i], params ?: j, reason);

	const char *token, *csr, *kind, *msg;
	(void)enroll_parse_body(j, &token, &csr, reason);
	(void)gateway_parse_event(j, &kind, &msg, reason);
	(void)gateway_parse_csr(j, &csr, reason);

	enum cairn_job_state st;
	char *out = NULL;
	if (gateway_parse_result(j, &st, &msg, &out, reason) == 0)
		free(out);

	char *facts = NULL, *health = NULL;
	if (gateway_parse_status(j, &facts, &health, reason) == 0) {
		free(facts);
		free(health);
	}

	int64_t t;
	(void)api_parse_rfc3339(json_string_value(json_object_get(j, "not_before")), &t);
	json_decref(j);
	return 0;
}
