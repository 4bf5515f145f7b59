/*
 * health.h: how healthy a datastore is, from what its nodes last reported
 * (docs/datastores.md "Status reports").  Pure functions over store rows
 * and parsed JSON, so the API, the metrics and the tests share one
 * definition:
 *
 *   - a member is reachable while its node reported within
 *     `node_unreachable_s` (3 x status_interval_s);
 *   - a member's status is the `databases` entry for its datastore in the
 *     node's stored health JSON;
 *   - a datastore is `healthy` (every member reachable and running,
 *     replicas streaming), `degraded` (the primary serves, something else
 *     does not), `unavailable` (the primary is down or unreachable) or
 *     `unknown` (no report yet).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* node_unreachable_s = HEALTH_UNREACHABLE_FACTOR x status_interval_s. */
#define HEALTH_UNREACHABLE_FACTOR 3

enum health {
	HEALTH_HEALTHY,
	HEALTH_DEGRADED,
	HEALTH_UNAVAILABLE,
	HEALTH_UNKNOWN,
	_HEALTH_MAX,
	_HEALTH_INVALID = -1,
};

const char *health_to_string(enum health h);
enum health health_from_string(const char *s);

/* The unreachable threshold for a status interval (at least 1 s). */
int64_t health_unreachable_s(int64_t status_interval_s);

/* True when a node last seen at `last_seen_at` (0: never) still counts
 * as reachable at `now`. */
bool health_member_reachable(int64_t last_seen_at, int64_t now, int64_t unreachable_s);

/* The `databases` entry whose "ds" is `ds_id` in a node's stored health
 * JSON text (NULL, unparsable or without one: NULL).  Returns a new
 * reference the caller owns, or NULL. */
json_t *health_member_status(const char *health_json, const char *ds_id);

/* One member as health_datastore() sees it (borrowed pointers). */
struct health_member {
	int ordinal;          /* slot of a replica is cairn_m<ordinal> */
	const char *role;     /* "primary" or "replica" */
	const char *state;    /* member state; "removed" members are skipped */
	bool reachable;       /* from health_member_reachable() */
	json_t *status;       /* from health_member_status(), or NULL */
};

/* The datastore's health from its members (any order). */
enum health health_datastore(const struct health_member *members, size_t n);
