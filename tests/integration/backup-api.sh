#!/bin/bash
# Backups 1 (controller side, docs/backups.md "REST API"): a backup
# configuration is stored with its secret sealed (never in the store's
# files, the logs or an API answer), shown redacted, kept by
# "(redacted)"; its backup_config operation ends (the agents may not
# implement backup.* yet: only its end is checked) without failing the
# datastore; the catalogue lists nothing yet; the data key is readable
# once (audited); restore refusals; DELETE stops the configuration.
. "$(dirname "$0")/lib.sh"
h_need_pg
h_begin backup-api 93
h_controller_config_local
h_controller_start

h_ds_create "$(h_ds_name bkapi)" 1 || h_end
h_ds_wait_ready 170 || h_end

secret=sk-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
cfg=$(jq -cn --arg s "$secret" '{s3:{endpoint:"http://198.18.93.1:9",bucket:"db-backups",prefix:"cairn",
	access_key:"AKIDEXAMPLE",secret_key:$s},retention:{count:3}}')

api PUT "/v1/datastores/$DS_ID/backup-config" \
	'{"s3":{"endpoint":"http://10.1.2.3","bucket":"b","access_key":"a","secret_key":"s"}}' >/dev/null
h_eq "http:// to a routable address refused" 400 "$(api_status)"
body=$(api PUT "/v1/datastores/$DS_ID/backup-config" "$cfg")
h_eq "backup config answers 202" 202 "$(api_status)"
h_eq "operation kind" backup_config "$(jq -r .operation.kind <<<"$body")"
op=$(jq -r .operation.id <<<"$body")
api PUT "/v1/datastores/$DS_ID/backup-config" "$cfg" >/dev/null
h_eq "second PUT while the operation runs: 409" 409 "$(api_status)"

got=$(api GET "/v1/datastores/$DS_ID/backup-config")
h_eq "GET backup-config 200" 200 "$(api_status)"
h_eq "secret_key redacted" '(redacted)' "$(jq -r .s3.secret_key <<<"$got")"
h_eq "retention kept" 3 "$(jq -r .retention.count <<<"$got")"
h_eq "no schedule" null "$(jq -r .schedule.full_every_s <<<"$got")"

h_check "backup_config operation ends" h_wait_for 120 h_op_final "$op"
h_log "backup_config operation: $(h_op_state "$op")"
h_eq "datastore still ready" ready "$(h_ds_get "$DS_ID" | jq -r .state)"

# The job shows the secret params redacted.
job=$(h_op_get "$op" | jq -r '[.steps[] | select(.name == "backup.configure") | .job_id] | first')
if [ -n "$job" ] && [ "$job" != null ]; then
	j=$(api GET "/v1/jobs/$job")
	h_eq "job's secret_key redacted" '(redacted)' "$(jq -r .params.s3.secret_key <<<"$j")"
	h_eq "job's data_key redacted" '(redacted)' "$(jq -r .params.data_key <<<"$j")"
fi

h_eq "no backups yet" 0 "$(api GET "/v1/datastores/$DS_ID/backups?state=all" | jq '.backups | length')"
api GET "/v1/backups/00000000-0000-4000-8000-000000000000" >/dev/null
h_eq "unknown backup: 404" 404 "$(api_status)"

key=$(api GET "/v1/datastores/$DS_ID/backup-key")
h_eq "backup-key 200" 200 "$(api_status)"
h_eq "data key is 32 bytes" 32 "$(jq -r .data_key <<<"$key" | base64 -d | wc -c)"
h_check "key read audited" grep -q "backup data key read" "$T/controller.log"
k=$(jq -r .data_key <<<"$key")
h_check "data key not in the log" bash -c "! grep -rqF -- '$k' '$T/controller.log'"

api POST "/v1/datastores/$DS_ID/restore" '{"name":"copy","in_place":true}' >/dev/null
h_eq "in-place restore: 501" 501 "$(api_status)"
api POST "/v1/datastores/$DS_ID/restore" "{\"name\":\"$(h_ds_name copy)\"}" >/dev/null
h_eq "restore without a completed backup: 404" 404 "$(api_status)"

# A "(redacted)" PUT keeps the stored secret.
body=$(api PUT "/v1/datastores/$DS_ID/backup-config" "$(jq -c '.s3.secret_key = "(redacted)"' <<<"$cfg")")
h_eq "PUT with (redacted) accepted" 202 "$(api_status)"
op2=$(jq -r .operation.id <<<"$body")
h_check "second backup_config operation ends" h_wait_for 120 h_op_final "$op2"

# The secret is nowhere in clear: store files, logs, answers kept in $T.
sleep 1
h_check "secret not in the controller's files or logs" \
	bash -c "! grep -rqaF -- '$secret' '$T/ctl' '$T/controller.log' '$T/controller.out'"

api DELETE "/v1/datastores/$DS_ID/backup-config" >/dev/null
h_eq "DELETE backup-config 204" 204 "$(api_status)"
api GET "/v1/datastores/$DS_ID/backup-config" >/dev/null
h_eq "gone: 404" 404 "$(api_status)"
api POST "/v1/datastores/$DS_ID/backups" '{}' >/dev/null
h_eq "backup without a configuration: 409" 409 "$(api_status)"
h_end
