#!/bin/bash
# Backups 1 + 2 (issue 4 tests 1 and 2), everything real: a 2-node
# datastore on the local provisioner, s3rver 5 with SigV4 checks on the
# test's bridge address, the agents streaming to it.
#  1. A backup target with a wrong secret: the backup_config operation
#     fails with the server's own error (SignatureDoesNotMatch) on the job;
#     the right secret works.
#  2. Rows, a full backup (from the replica), more rows, the time noted, a
#     table dropped and later writes; PITR to the noted time into a new
#     datastore: the table is back with a row-for-row checksum equal to the
#     one taken at the noted time, the later writes are absent.
# The S3 secret and the data key are in no file under $T but s3rver's own.
. "$(dirname "$0")/lib.sh"
h_need_pg
h_begin backup-pitr 91
h_s3rver_need
h_controller_config_local
h_controller_start
h_s3rver_start "$T/s3" "" "" "$CTL_ADDR" || { h_fail "s3rver starts"; h_end; }

h_ds_create "$(h_ds_name pitr)" 2 || h_end
h_ds_wait_ready 170 || h_end
SRC_ID=$DS_ID
primary=$(h_primary_addr)

# The backup configuration body, the secret from the environment only.
bk_body() { # SECRET
	jq -cn --arg ep "$S3_ENDPOINT" --arg b "$S3_BUCKET" --arg ak "$AWS_ACCESS_KEY_ID" --arg sk "$1" \
		'{s3:{endpoint:$ep, region:"us-east-1", bucket:$b, prefix:"cairn", access_key:$ak,
		      secret_key:$sk, virtual_hosted:false},
		  schedule:{full_every_s:null}, retention:{count:5, max_age_s:null}, compression_level:3}'
}
body=$(api PUT "/v1/datastores/$SRC_ID/backup-config" "$(bk_body wrong-secret-0000000000)")
h_eq "backup-config accepted" 202 "$(api_status)"
op=$(jq -r .operation.id <<<"$body")
h_eq "with a wrong secret the operation fails" failed "$(h_wait_op_final "$op" 120)"
h_check "the failure carries S3's own error" bash -c \
	"curl -s --cacert '$CA' -H @'$AUTH_HDR' '$API_URL/v1/operations/$op' | jq -r '.message, .steps[].message' | grep -q 'SignatureDoesNotMatch'"
body=$(api PUT "/v1/datastores/$SRC_ID/backup-config" "$(bk_body "$AWS_SECRET_ACCESS_KEY")")
h_eq "backup-config with the right secret accepted" 202 "$(api_status)"
h_check "backup_config operation succeeded" h_wait_op "$(jq -r .operation.id <<<"$body")" 120
h_eq "the secret is redacted on GET" "(redacted)" \
	"$(api GET "/v1/datastores/$SRC_ID/backup-config" | jq -r .s3.secret_key)"

h_psql "$primary" "create table t (id int primary key, v text);
	insert into t select g, md5(g::text) from generate_series(1, 5000) g" >/dev/null
body=$(api POST "/v1/datastores/$SRC_ID/backups" '{}')
h_eq "backup accepted" 202 "$(api_status)"
BK_ID=$(jq -r .backup.id <<<"$body")
h_check "backup operation succeeded" h_wait_op "$(jq -r .operation.id <<<"$body")" 300
bk=$(api GET "/v1/backups/$BK_ID")
h_eq "the backup is completed" completed "$(jq -r .state <<<"$bk")"
h_check "it has LSNs and sizes" jq -e '.start_lsn and .stop_lsn and .plain_bytes > 0 and .stored_bytes > 0' <<<"$bk"
h_eq "taken from the replica" "$(h_member node_id 1)" "$(jq -r .node_id <<<"$bk")"
h_eq "listed" "$BK_ID" "$(api GET "/v1/datastores/$SRC_ID/backups" | jq -r '.backups[0].id')"

h_psql "$primary" "insert into t select g, md5(g::text) from generate_series(5001, 6000) g" >/dev/null
sum=$(h_psql "$primary" "select md5(string_agg(id || ':' || v, ',' order by id)) from t")
sleep 1.5
target=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)
sleep 1.5
h_psql "$primary" "create table later (x int); insert into later values (1); drop table t" >/dev/null
# The WAL holding all this is archived before the restore reads it.
seg=$(h_psql "$primary" "select pg_walfile_name(pg_current_wal_lsn())")
h_psql_super "$(h_member name 0)" "select pg_switch_wal()" >/dev/null
h_check "WAL up to the drop archived" h_wait_for 60 bash -c \
	"[ \"\$(PGPASSFILE=$DS_PGPASS '$PG_BIN/psql' -XAtq 'host=$primary dbname=postgres user=cairn_admin sslmode=verify-full sslrootcert=$DS_CA' -c 'select last_archived_wal >= '\"'\"'$seg'\"'\"' from pg_stat_archiver')\" = t ]"

req=$(jq -cn --arg n "$(h_ds_name pitr-r)" --arg t "$target" '{name:$n, nodes:1, target:{time:$t}}')
body=$(api POST "/v1/datastores/$SRC_ID/restore" "$req")
h_eq "restore accepted" 202 "$(api_status)"
DS_ID=$(jq -r .datastore.id <<<"$body")
DS_NAME=$(h_ds_name pitr-r)
OP_ID=$(jq -r .operation.id <<<"$body")
pw=$(jq -r .connection.password <<<"$body")
DS_PASSFILE=$T/ds-r.pass DS_PGPASS=$T/ds-r.pgpass
(umask 077; printf '%s' "$pw" >"$DS_PASSFILE"; printf '*:*:*:cairn_admin:%s\n' "$pw" >"$DS_PGPASS")
pw=""
h_ds_wait_ready 300 || h_end
rp=$(h_primary_addr)
h_eq "table t is back with the same rows" "$sum" \
	"$(h_psql "$rp" "select md5(string_agg(id || ':' || v, ',' order by id)) from t")"
h_eq "6000 rows" 6000 "$(h_psql "$rp" 'select count(*) from t')"
h_eq "the later writes are absent" "" "$(h_psql "$rp" "select to_regclass('later')")"
h_eq "the restored datastore is a primary on a new timeline" f "$(h_psql "$rp" 'select pg_is_in_recovery()')"

h_check "no password in any file under \$T" h_no_secret_in_logs
h_check "the S3 secret is in no log" bash -c \
	"! grep -rlF -- \"\$AWS_SECRET_ACCESS_KEY\" '$T' --exclude-dir=s3 2>/dev/null | grep -q ."
h_end
