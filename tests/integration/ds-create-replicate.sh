#!/bin/bash
# Datastores 1: a 3-node PostgreSQL datastore on the local provisioner.
# Rows written on the primary over TLS (verify-full) are read on both
# replicas; the replicas' lag shows in the members' status; a non-TLS
# connection is refused; the admin password is in no file under $T but
# its own 0600 files.
. "$(dirname "$0")/lib.sh"
h_need_pg
h_begin ds-create 81
h_controller_config_local
h_controller_start

h_ds_create "$(h_ds_name repl)" 3 || h_end
h_ds_wait_ready 170 || h_end

ds=$(h_ds_get "$DS_ID")
h_eq "3 members" 3 "$(jq '[.members[] | select(.state == "ready")] | length' <<<"$ds")"
h_eq "one primary" 1 "$(jq '[.members[] | select(.role == "primary")] | length' <<<"$ds")"
h_eq "primary is ordinal 0" primary "$(jq -r '.members[] | select(.ordinal == 0) | .role' <<<"$ds")"
h_eq "connection host is the primary's address" \
	"$(h_primary_addr)" "$(api GET "/v1/datastores/$DS_ID/connection" | jq -r .host)"
h_eq "connection answer has no password" null \
	"$(api GET "/v1/datastores/$DS_ID/connection" | jq -r .password)"

# The admin role's SCRAM verifier goes to the node in pg.init's params but
# never out through the jobs API.
init_job=$(api GET "/v1/operations/$OP_ID" | jq -r '[.steps[] | select(.name == "pg.init") | .job_id][0]')
h_eq "pg.init job params show the verifier redacted" "(redacted)" \
	"$(api GET "/v1/jobs/$init_job" | jq -r .params.admin_verifier)"
h_check "no SCRAM verifier in the jobs list" bash -c \
	"! curl -s --cacert '$CA' -H @'$AUTH_HDR' '$API_URL/v1/jobs?limit=500' | grep -q 'SCRAM-SHA-256'"

primary=$(h_primary_addr)
h_check "write on the primary over TLS verify-full" h_psql "$primary" \
	"create table t (id int primary key, v text); insert into t select g, 'row ' || g from generate_series(1, 100) g"
h_eq "primary reports TLS in use" t \
	"$(h_psql "$primary" 'select ssl from pg_stat_ssl where pid = pg_backend_pid()')"
for r in $(h_members address replica); do
	h_wait_for 30 test "$(h_psql "$r" 'select count(*) from t' 2>/dev/null)" = 100
	h_eq "replica $r has the 100 rows" 100 "$(h_psql "$r" 'select count(*) from t')"
	h_eq "replica $r is in recovery" t "$(h_psql "$r" 'select pg_is_in_recovery()')"
	if h_psql "$r" "insert into t values (1000, 'x')" 2>/dev/null; then
		h_fail "replica $r refuses writes"
	else
		h_ok "replica $r refuses writes"
	fi
done
# pg_stat_replication hides its columns from cairn_admin (not pg_monitor):
# the slots view is public.
h_eq "two active replication slots on the primary" "cairn_m1 cairn_m2" \
	"$(h_psql "$primary" "select string_agg(slot_name, ' ' order by slot_name) from pg_replication_slots where active")"

# Replication lag in the members' status (reports every status_interval_s).
lag_reported() {
	h_ds_get "$DS_ID" | jq -e '[.members[] | select(.role == "replica")
		| select((.status.lag_bytes | type) == "number" and .reachable == true)] | length == 2' >/dev/null
}
h_check "replicas report lag_bytes in GET /v1/datastores/<id>" h_wait_for 40 lag_reported
h_ds_get "$DS_ID" | jq -c '.members[] | {name, role, reachable, status: (.status | {running, role, lag_bytes, lag_s, replay_lsn})}' |
	sed 's/^/# /'
primary_sees() {
	h_ds_get "$DS_ID" | jq -e '.members[] | select(.role == "primary") | [.status.replicas[]? | select(.active)] | length == 2' >/dev/null
}
h_check "primary's status lists 2 active slots" h_wait_for 20 primary_sees
h_check "health is healthy" h_wait_for 20 test "$(h_ds_get "$DS_ID" | jq -r .health)" = healthy

# Plain TCP is refused (no `host` line in pg_hba.conf).
if err=$(h_psql_plain "$primary" 2>&1); then
	h_fail "non-TLS connection refused"
else
	h_ok "non-TLS connection refused (${err//$'\n'/ })"
fi
h_check "no password in any file under \$T" h_no_secret_in_logs
h_check "password file is 0600" test "$(stat -c %a "$DS_PASSFILE")" = 600

# A node that goes silent is marked unreachable (3 × status_interval_s =
# 15 s here) and the datastore degraded; its PostgreSQL still runs.
silent=$(h_members name replica | head -n1)
spid=$(cat "$H_LOCAL_DIR/$silent/agent.pid")
if [ "$(ip netns identify "$spid" 2>/dev/null)" = "cairn-$silent" ]; then
	kill -KILL "$spid"
	unreachable() {
		h_ds_get "$DS_ID" | jq -e --arg n "$silent" \
			'(.members[] | select(.name == $n) | .reachable) == false and .health == "degraded"' >/dev/null
	}
	h_check "silent node $silent unreachable, datastore degraded" h_wait_for 40 unreachable
	h_eq "the other replica stays reachable" true \
		"$(h_ds_get "$DS_ID" | jq -r --arg n "$silent" '[.members[] | select(.name != $n) | .reachable] | all')"
else
	h_fail "agent of $silent found by its pid file"
fi
h_end
