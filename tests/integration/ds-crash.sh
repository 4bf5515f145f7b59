#!/bin/bash
# Datastores 5: kill -9 the controller while a 3-node create runs (some
# steps done, not ready yet), start it again: the operation carries on, the
# datastore reaches ready and works, and no node slot was made twice.
. "$(dirname "$0")/lib.sh"
h_need_pg
h_begin ds-crash 85
h_controller_config_local
h_controller_start

h_ds_create "$(h_ds_name crash)" 3 || h_end
some_done() {
	h_op_get "$OP_ID" | jq -e '.state == "running" and ([.steps[] | select(.state == "succeeded")] | length) >= 4' >/dev/null
}
if h_wait_for 120 some_done; then
	h_ok "create running with >= 4 steps succeeded: $(h_op_get "$OP_ID" | jq -c .progress)"
else
	h_fail "create reached a middle point ($(h_op_state "$OP_ID"))"
	h_op_print "$OP_ID"
	h_end
fi
h_op_print "$OP_ID" >"$T/steps-before-kill"
h_controller_kill9
h_log "controller killed"
started=$(ls "$H_LOCAL_DIR"/*/agent.pid 2>/dev/null | wc -l)
h_eq "agents started so far ($started) keep running while the controller is down" "$started" \
	"$(for f in "$H_LOCAL_DIR"/*/agent.pid; do h_alive "$(cat "$f")" && echo; done | wc -l)"
sleep 2
h_controller_start
h_ds_wait_ready 170 || h_end
h_eq "3 members ready" 3 "$(h_ds_get "$DS_ID" | jq '[.members[] | select(.state == "ready")] | length')"
h_eq "3 node slots in total (none made twice)" 3 "$(api GET /v1/nodes | jq '[.nodes[] | select(.state != "revoked")] | length')"
h_eq "3 node directories" 3 "$(find "$H_LOCAL_DIR" -mindepth 1 -maxdepth 1 -type d | wc -l)"
primary=$(h_primary_addr)
h_check "write on the primary" h_psql "$primary" "create table t (id int); insert into t values (1), (2)"
for r in $(h_members address replica); do
	h_wait_for 30 test "$(h_psql "$r" 'select count(*) from t' 2>/dev/null)" = 2
	h_eq "replica $r has the rows" 2 "$(h_psql "$r" 'select count(*) from t')"
done
h_check "no password in any file under \$T" h_no_secret_in_logs
h_end
