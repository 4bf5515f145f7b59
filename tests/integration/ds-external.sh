#!/bin/bash
# Datastores 8: provisioner `none`.  The controller makes the node slot and
# waits; an operator boots "a VM" with the slot's user-data (here: the local
# provisioner program run by hand, standing in for a cloud console), the
# agent enrols into its slot and the datastore reaches ready.  The join
# token goes from the API to the program on stdin only.
. "$(dirname "$0")/lib.sh"
h_need_pg
h_begin ds-external 87
H_LOCAL_DIR=$T/n
mkdir -p "$H_LOCAL_DIR"
chmod 0711 "$T" "$H_LOCAL_DIR"
h_controller_config "
[provisioner]
kind = none"
h_controller_start

h_ds_create "$(h_ds_name ext)" 1 || h_end
h_check "the provision step waits for a machine" h_wait_for 20 bash -c \
	"curl -s --cacert '$CA' -H @'$AUTH_HDR' '$API_URL/v1/operations/$OP_ID' |
	 jq -e '.steps[] | select(.kind == \"provision\" and .state == \"running\")' >/dev/null"
sleep 2
h_eq "nothing else started meanwhile" 0 \
	"$(api GET "/v1/operations/$OP_ID" | jq '[.steps[] | select(.kind == "job" and .state != "pending")] | length')"

node=$(api GET "/v1/datastores/$DS_ID" | jq -r '.members[0].node_id')
name=$(api GET "/v1/datastores/$DS_ID" | jq -r '.members[0].name')
h_eq "the slot is a pending node" pending "$(api GET "/v1/nodes/$node" | jq -r .state)"

# The operator's side: a fresh join token + user-data for the slot, and a
# machine booted with it.  The answer goes to a 0600 file, never argv.
(umask 077; api POST "/v1/nodes/$node/join-token" '{}' >"$T/slot.json")
h_eq "join-token answered" 200 "$(api_status)"
jq -n --slurpfile a "$T/slot.json" --arg id "$node" --arg name "$name" \
	--arg br "$H_BRIDGE" --arg sn "198.18.$H_NET.0/24" --arg dir "$H_LOCAL_DIR" --arg ag "$AGENT_BIN" \
	'{version:1, action:"create", node:{id:$id, name:$name},
	  user_data:$a[0].user_data, local:{bridge:$br, subnet:$sn, dir:$dir, agent:$ag}}' \
	>"$T/boot.json"
chmod 0600 "$T/boot.json"
"$H_LOCAL_PROGRAM" <"$T/boot.json" >"$T/boot.out" 2>"$T/boot.err"
h_eq "the machine booted" true "$(jq -r .ok "$T/boot.out")"
rm -f "$T/boot.json" "$T/slot.json"

h_ds_wait_ready 170 || h_end
h_eq "the member is on the slot's node" "$node" \
	"$(api GET "/v1/datastores/$DS_ID" | jq -r '.members[0].node_id')"
h_eq "the node enrolled into its slot" enrolled "$(api GET "/v1/nodes/$node" | jq -r .state)"
h_eq "one node in the store" 1 "$(api GET /v1/nodes | jq '.nodes | length')"
primary=$(h_primary_addr)
h_check "the datastore answers over TLS verify-full" h_psql "$primary" 'select 1'
h_end
