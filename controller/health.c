/*
 * health.c: the health rules of docs/datastores.md "Status reports".  A
 * member serves when its node is reachable and its last report says the
 * server runs; a replica also has to stream, which the primary's report
 * says best (its `replicas` entry for the member's slot is active); when
 * the primary's report has no such list the replica's own report (running,
 * role replica) is taken as the answer.  Nothing here allocates except the
 * returned status reference, and nothing trusts the shape of a report:
 * wrong types read as "not running".
 */
#include <stdio.h>
#include <string.h>

#include "health.h"
#include "macro.h"
#include "protocol.h"

static const char *const health_names[_HEALTH_MAX] = {
	[HEALTH_HEALTHY] = "healthy",
	[HEALTH_DEGRADED] = "degraded",
	[HEALTH_UNAVAILABLE] = "unavailable",
	[HEALTH_UNKNOWN] = "unknown",
};

const char *health_to_string(enum health h)
{
	return h >= 0 && h < _HEALTH_MAX ? health_names[h] : "unknown";
}

enum health health_from_string(const char *s)
{
	for (int i = 0; s && i < _HEALTH_MAX; i++)
		if (streq(health_names[i], s))
			return (enum health)i;
	return _HEALTH_INVALID;
}

int64_t health_unreachable_s(int64_t status_interval_s)
{
	if (status_interval_s < 1)
		status_interval_s = 1;
	if (status_interval_s > INT64_MAX / HEALTH_UNREACHABLE_FACTOR)
		return INT64_MAX;
	return status_interval_s * HEALTH_UNREACHABLE_FACTOR;
}

bool health_member_reachable(int64_t last_seen_at, int64_t now, int64_t unreachable_s)
{
	if (last_seen_at <= 0)
		return false;
	/* A clock step backwards leaves a report "in the future": reachable. */
	if (now <= last_seen_at)
		return true;
	return now - last_seen_at <= unreachable_s;
}

json_t *health_member_status(const char *health_json, const char *ds_id)
{
	_cleanup_json_ json_t *h = NULL;
	json_t *dbs, *e;
	size_t i;

	if (!health_json || !ds_id)
		return NULL;
	h = json_loads(health_json, 0, NULL);
	dbs = json_object_get(h, "databases");
	if (!json_is_array(dbs))
		return NULL;
	json_array_foreach(dbs, i, e)
	{
		const char *ds = json_string_value(json_object_get(e, "ds"));
		if (json_is_object(e) && ds && streq(ds, ds_id))
			return json_incref(e);
	}
	return NULL;
}

static bool status_running(json_t *status)
{
	return json_is_true(json_object_get(status, "running"));
}

/* Does the primary's report show the replica's slot streaming?  -1 when
 * the report has no `replicas` list to tell. */
static int slot_active(json_t *primary_status, int ordinal)
{
	json_t *reps = json_object_get(primary_status, "replicas"), *e;
	char slot[32];
	size_t i;

	if (!json_is_array(reps))
		return -1;
	snprintf(slot, sizeof(slot), CAIRN_PG_SLOT_PREFIX "%d", ordinal);
	json_array_foreach(reps, i, e)
	{
		const char *s = json_string_value(json_object_get(e, "slot"));
		if (s && streq(s, slot))
			return json_is_true(json_object_get(e, "active")) ? 1 : 0;
	}
	return 0;
}

enum health health_datastore(const struct health_member *members, size_t n)
{
	const struct health_member *primary = NULL;
	bool any_report = false, all_serve = true;

	for (size_t i = 0; i < n; i++) {
		const struct health_member *m = &members[i];
		if (m->state && streq(m->state, "removed"))
			continue;
		if (m->status)
			any_report = true;
		if (m->role && streq(m->role, "primary") && !primary)
			primary = m;
	}
	if (!any_report)
		return HEALTH_UNKNOWN;
	if (!primary || !primary->reachable || !status_running(primary->status))
		return HEALTH_UNAVAILABLE;

	for (size_t i = 0; i < n && all_serve; i++) {
		const struct health_member *m = &members[i];
		if (m == primary || (m->state && streq(m->state, "removed")))
			continue;
		if (!m->reachable || !status_running(m->status)) {
			all_serve = false;
			continue;
		}
		int a = slot_active(primary->status, m->ordinal);
		if (a == 0)
			all_serve = false;
		else if (a < 0) {
			const char *role = json_string_value(json_object_get(m->status, "role"));
			if (!role || !streq(role, "replica"))
				all_serve = false;
		}
	}
	return all_serve ? HEALTH_HEALTHY : HEALTH_DEGRADED;
}
