#!/bin/bash
# Datastores 2: scale a 3-node datastore to 4, then remove a replica: its
# slot is gone from the primary, its node is revoked, its namespace and
# files are gone; the others keep replicating.
. "$(dirname "$0")/lib.sh"
h_need_pg
h_begin ds-scale 82
h_controller_config_local
h_controller_start

h_ds_create "$(h_ds_name scale)" 3 || h_end
h_ds_wait_ready 170 || h_end
primary=$(h_primary_addr)
h_check "write on the primary" h_psql "$primary" \
	"create table t (id int); insert into t select generate_series(1, 50)"

# --- Add one node.
body=$(api POST "/v1/datastores/$DS_ID/nodes" '{"count":1}')
h_eq "add_node answers 202" 202 "$(api_status)"
op=$(jq -r .operation.id <<<"$body")
h_check "add_node operation succeeded" h_wait_op "$op" 150
h_eq "4 members ready" 4 "$(h_ds_get "$DS_ID" | jq '[.members[] | select(.state == "ready")] | length')"
new=$(h_member address 3)
h_wait_for 30 test "$(h_psql "$new" 'select count(*) from t' 2>/dev/null)" = 50
h_eq "new member (ordinal 3) has the rows" 50 "$(h_psql "$new" 'select count(*) from t')"
h_eq "primary has slots for 3 replicas" "cairn_m1 cairn_m2 cairn_m3" \
	"$(h_psql "$primary" "select string_agg(slot_name, ' ' order by slot_name) from pg_replication_slots where slot_name like 'cairn_m%'")"

# --- Removing the primary is refused.
pname=$(h_member name 0)
api DELETE "/v1/datastores/$DS_ID/nodes/$pname" >/dev/null
h_eq "removing the primary answers 409" 409 "$(api_status)"

# --- Remove replica ordinal 1.
name=$(h_member name 1)
node=$(h_member node_id 1)
h_check "its namespace exists before" h_netns_exists "cairn-$name"
body=$(api DELETE "/v1/datastores/$DS_ID/nodes/$name")
h_eq "remove_node answers 202" 202 "$(api_status)"
op=$(jq -r .operation.id <<<"$body")
h_check "remove_node operation succeeded" h_wait_op "$op" 120
# The member is "removed", or no longer listed at all.
st=$(h_member state 1)
h_check "member $name is removed (state '${st:-not listed}')" test "${st:-removed}" = removed
h_eq "3 members left" 3 "$(h_ds_get "$DS_ID" | jq '[.members[] | select(.state != "removed")] | length')"
h_eq "its slot cairn_m1 is gone on the primary" 0 \
	"$(h_psql "$primary" "select count(*) from pg_replication_slots where slot_name = 'cairn_m1'")"
h_eq "slots of the others remain" "cairn_m2 cairn_m3" \
	"$(h_psql "$primary" "select string_agg(slot_name, ' ' order by slot_name) from pg_replication_slots where slot_name like 'cairn_m%'")"
h_eq "its node is revoked" revoked "$(api GET "/v1/nodes/$node" | jq -r .state)"
if h_netns_exists "cairn-$name"; then h_fail "namespace cairn-$name gone"; else h_ok "namespace cairn-$name gone"; fi
h_check "its directory $H_LOCAL_DIR/$name is gone" test ! -e "$H_LOCAL_DIR/$name"
h_check "insert still replicates to ordinal 2 and 3" h_psql "$primary" "insert into t values (51)"
for o in 2 3; do
	a=$(h_member address "$o")
	h_wait_for 20 test "$(h_psql "$a" 'select count(*) from t' 2>/dev/null)" = 51
	h_eq "member $o has 51 rows" 51 "$(h_psql "$a" 'select count(*) from t')"
done
h_check "datastore back to ready" test "$(h_ds_get "$DS_ID" | jq -r .state)" = ready
h_end
