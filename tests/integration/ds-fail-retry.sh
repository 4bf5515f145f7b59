#!/bin/bash
# Datastores 4: a create whose pg.init cannot work (the node's db_dir is
# replaced by a file after provisioning, before pg.init runs) ends failed
# with the reason visible in the API and in `cairnctl op show`; once the
# directory is back, POST /v1/operations/<id>/retry finishes it, without
# redoing the steps that succeeded.
. "$(dirname "$0")/lib.sh"
h_need_pg
h_begin ds-fail 84
h_controller_config_local
h_controller_start

h_ds_create "$(h_ds_name fail)" 1 || h_end
name=$DS_NAME-0
dir=$H_LOCAL_DIR/$name

# The node's db_dir: from its agent.conf if the provisioner wrote one there.
db_dir_of() {
	local conf
	conf=$(find "$dir" -maxdepth 2 -name 'agent.conf' 2>/dev/null | head -n1)
	if [ -n "$conf" ] && grep -q '^db_dir' "$conf"; then
		sed -n 's/^db_dir *= *//p' "$conf" | head -n1
	else
		echo "$dir/db"
	fi
}
h_check "provisioner made $dir" h_wait_for 60 test -d "$dir"
h_wait_for 30 test -d "$(db_dir_of)"
db=$(db_dir_of)
pg_init_started() {
	h_op_get "$OP_ID" | jq -e '.steps[] | select(.name | test("pg.init")) | select(.state != "pending")' >/dev/null
}
if pg_init_started; then
	h_fail "broke db_dir before pg.init started (too late: pg.init already ran)"
	h_end
fi
mode=0755 owner=root:root
if [ -d "$db" ]; then mode=$(stat -c %a "$db") owner=$(stat -c %U:%G "$db"); fi
rm -rf "$db" && : >"$db"
h_log "replaced $db ($mode $owner) by a file"

st=$(h_wait_op_final "$OP_ID" 150)
h_eq "create operation failed" failed "$st"
opj=$(h_op_get "$OP_ID")
h_op_print "$OP_ID"
msg=$(jq -r .message <<<"$opj")
h_check "operation message says why ($msg)" test -n "$msg" -a "$msg" != null
h_eq "the failed step is pg.init" pg.init \
	"$(jq -r '[.steps[] | select(.state == "failed") | .name][0] | sub(" .*"; "")' <<<"$opj")"
h_check "failed step carries a message" \
	jq -e '[.steps[] | select(.state == "failed") | .message | select(. != null and . != "")] | length >= 1' <<<"$opj"
h_eq "datastore state failed" failed "$(h_ds_get "$DS_ID" | jq -r .state)"
out=$("$CLI_BIN" op show "$OP_ID" 2>&1)
h_log "cairnctl op show: $(head -c 400 <<<"$out" | tr '\n' '|')"
h_check "cairnctl op show names the failure" grep -qi failed <<<"$out"
h_check "cairnctl op show shows the message" grep -qF "$(head -c 30 <<<"$msg")" <<<"$out"
succeeded_before=$(jq -r '[.steps[] | select(.state == "succeeded") | "\(.index):\(.job_id)"] | join(" ")' <<<"$opj")

# Retry while failed is accepted; fix first.
rm -f "$db" && mkdir -p "$db" && chmod "$mode" "$db" && chown "$owner" "$db"
body=$(api POST "/v1/operations/$OP_ID/retry")
h_eq "retry answers 202" 202 "$(api_status)"
h_check "retried operation succeeded" h_wait_op "$OP_ID" 150
h_eq "datastore ready" ready "$(h_ds_get "$DS_ID" | jq -r .state)"
opj=$(h_op_get "$OP_ID")
again=$(for e in $succeeded_before; do
	i=${e%%:*} j=${e#*:}
	[ "$(jq -r --argjson i "$i" '.steps[] | select(.index == $i) | .job_id' <<<"$opj")" = "$j" ] || echo "$i"
done)
h_eq "steps that had succeeded were not redone" "" "$again"
api POST "/v1/operations/$OP_ID/retry" >/dev/null
h_eq "retry of a succeeded operation answers 409" 409 "$(api_status)"
h_check "datastore answers over TLS" h_psql "$(h_primary_addr)" 'select 1'
h_end
