#!/bin/bash
# Datastores 3: a settings patch with a reload parameter (work_mem) and a
# restart parameter (max_connections).  Both take effect on every node; the
# restart is rolling: replicas one after another, then the primary, and a
# reader against the primary keeps succeeding until the primary's own
# restart step starts.
. "$(dirname "$0")/lib.sh"
h_need_pg
h_begin ds-config 83
h_controller_config_local
h_controller_start

h_ds_create "$(h_ds_name conf)" 3 || h_end
h_ds_wait_ready 170 || h_end
primary=$(h_primary_addr)
pnode=$(h_members node_id primary)
pname=$(h_members name primary)

# Reader loop: one line per attempt, "<epoch> ok|fail".
reader() {
	while :; do
		if h_psql "$primary" 'select 1' >/dev/null 2>&1; then r=ok; else r=fail; fi
		echo "$(date +%s.%N) $r"
		sleep 0.1
	done
}
reader >"$T/reader.out" &
H_BG_PIDS+=($!)
reader_pid=$!
sleep 1

# Settings the controller manages are refused.
api PATCH "/v1/datastores/$DS_ID/settings" '{"settings":{"port":"6000"}}' >/dev/null
h_eq "managed setting 'port' refused with 400" 400 "$(api_status)"

body=$(api PATCH "/v1/datastores/$DS_ID/settings" '{"settings":{"work_mem":"7MB","max_connections":"150"}}')
h_eq "settings patch answers 202" 202 "$(api_status)"
op=$(jq -r .operation.id <<<"$body")
# A second operation while this one runs is refused.
api PATCH "/v1/datastores/$DS_ID/settings" '{"settings":{"work_mem":"8MB"}}' >/dev/null
h_eq "second operation while one runs: 409" 409 "$(api_status)"
h_check "configure operation succeeded" h_wait_op "$op" 150
sleep 1
kill "$reader_pid" 2>/dev/null

for a in $(h_members address); do
	h_eq "work_mem on $a" 7MB "$(h_psql "$a" 'show work_mem')"
	h_eq "max_connections on $a" 150 "$(h_psql "$a" 'show max_connections')"
done
h_eq "settings stored" '{"max_connections":"150","work_mem":"7MB"}' \
	"$(h_ds_get "$DS_ID" | jq -cS .settings)"

# Order of the pg.service steps: each replica's restart finished before the
# next one started, and the primary's restart is last.
opj=$(h_op_get "$op")
# A step names its node by node_id (docs/datastores.md); accept a member name too.
jq -r '.steps[] | select(.name | test("pg.service")) | "\(.node_id // .member) \(.started_at) \(.finished_at)"' <<<"$opj" >"$T/svc-steps"
h_check "pg.service steps carry node_id (docs/datastores.md step fields)" \
	jq -e '[.steps[] | select(.name | test("pg.service")) | .node_id | strings] | length == 3' <<<"$opj"
h_eq "3 pg.service steps" 3 "$(wc -l <"$T/svc-steps")"
sorted=$(while read -r n s f; do echo "$(h_ts "$s") $(h_ts "$f") $n"; done <"$T/svc-steps" | sort -n)
last=$(tail -n1 <<<"$sorted" | awk '{print $3}')
h_check "primary's restart step started last ($last)" test "$last" = "$pnode" -o "$last" = "$pname"
ok=1 prev_f=0
while read -r s f n; do
	if awk -v a="$prev_f" -v b="$s" 'BEGIN{exit !(a <= b)}'; then :; else ok=0; fi
	prev_f=$f
done <<<"$sorted"
h_eq "restart steps one after another" 1 "$ok"
p_start=$(tail -n1 <<<"$sorted" | awk '{print $1}')
h_log "primary restart step started at $p_start"
before=$(awk -v p="$p_start" '$1 < p' "$T/reader.out")
h_check "reader made attempts before the primary's turn" test "$(grep -c ok <<<"$before")" -gt 5
h_eq "reader never failed before the primary's restart step" 0 "$(grep -c fail <<<"$before")"
h_log "reader: $(grep -c ok "$T/reader.out") ok, $(grep -c fail "$T/reader.out") failed in total"
h_check "reader succeeds after the operation" h_psql "$primary" 'select 1'

# pending_restart cleared in the status report.
h_check "no member reports pending_restart" h_wait_for 20 \
	bash -c "[ \"\$(curl -s --cacert '$CA' -H @'$AUTH_HDR' '$API_URL/v1/datastores/$DS_ID' | jq '[.members[].status.pending_restart] | any')\" = false ]"
h_end
