#!/bin/bash
# Backups 3-6 (issue 4 tests 3 to 6) on a 1-node datastore, s3rver 5 with
# SigV4 checks on the test's bridge address:
#  3. One byte of a bundle flipped in the S3 store: verify and restore fail
#     loudly, naming the object.
#  4. kill -9 of the agent in the middle of a multipart upload: the
#     catalogue never lists that backup as completed, the next backup
#     succeeds.
#  5. Retention (count 2) removes exactly the expired backups and the WAL
#     before the oldest kept backup, no more.
#  6. /usr/bin/aws lists the objects; the offline `cairn-agent backup
#     restore` makes a data directory that starts with PostgreSQL and has
#     the rows.
. "$(dirname "$0")/lib.sh"
h_need_pg
h_begin backup-life 92
h_s3rver_need
h_controller_config_local
h_controller_start
h_s3rver_start "$T/s3" "" "" "$CTL_ADDR" || { h_fail "s3rver starts"; h_end; }
S3DATA=$T/s3/data/$S3_BUCKET

h_ds_create "$(h_ds_name life)" 1 || h_end
h_ds_wait_ready 170 || h_end
SRC_ID=$DS_ID
primary=$(h_primary_addr)
name=$(h_member name 0)

body=$(jq -cn --arg ep "$S3_ENDPOINT" --arg b "$S3_BUCKET" --arg ak "$AWS_ACCESS_KEY_ID" --arg sk "$AWS_SECRET_ACCESS_KEY" \
	'{s3:{endpoint:$ep, region:"us-east-1", bucket:$b, prefix:"cairn", access_key:$ak, secret_key:$sk},
	  schedule:{full_every_s:null}, retention:{count:2, max_age_s:null}, compression_level:3}')
body=$(api PUT "/v1/datastores/$SRC_ID/backup-config" "$body")
h_check "backup_config operation succeeded" h_wait_op "$(jq -r .operation.id <<<"$body")" 120

# take_backup: POST, wait; sets BK_ID and BK_OP; returns the op's success.
take_backup() {
	local b
	b=$(api POST "/v1/datastores/$SRC_ID/backups" '{}')
	BK_ID=$(jq -r .backup.id <<<"$b")
	BK_OP=$(jq -r .operation.id <<<"$b")
	h_wait_op "$BK_OP" "${1:-300}"
}

# An incompressible table, so the upload lasts long enough to be killed.
h_psql "$primary" "create table big (id int, b bytea);
	insert into big select g, decode(string_agg(md5(g::text || ':' || i::text), ''), 'hex')
	from generate_series(1, 12000) g, generate_series(1, 512) i group by g" >/dev/null
h_psql "$primary" "create table t (id int primary key, v text);
	insert into t select g, md5(g::text) from generate_series(1, 1000) g" >/dev/null

# 4. kill -9 mid-upload.
b=$(api POST "/v1/datastores/$SRC_ID/backups" '{}')
killed_id=$(jq -r .backup.id <<<"$b")
killed_op=$(jq -r .operation.id <<<"$b")
h_check "the backup is streaming" h_wait_for 60 bash -c \
	"curl -s --cacert '$CA' -H @'$AUTH_HDR' '$API_URL/v1/backups/$killed_id' | jq -e '.bytes_done > 0' >/dev/null"
apid=$(cat "$H_LOCAL_DIR/$name/agent.pid")
[ "$(ip netns identify "$apid" 2>/dev/null)" = "cairn-$name" ] && kill -KILL "$apid"
h_check "killed while the upload ran (no manifest yet)" bash -c \
	"! find '$S3DATA' -path '*$killed_id/manifest*' | grep -q ."
h_local_agent_restart "$name"
h_eq "the killed backup is not completed" failed "$(h_wait_op_final "$killed_op" 300 >/dev/null; api GET "/v1/backups/$killed_id" | jq -r .state)"
h_check "it is not listed" bash -c \
	"! curl -s --cacert '$CA' -H @'$AUTH_HDR' '$API_URL/v1/datastores/$SRC_ID/backups' | jq -e --arg i '$killed_id' '.backups[] | select(.id == \$i)' >/dev/null"
h_check "the next backup succeeds" take_backup
first=$BK_ID

# 3. A flipped byte in a bundle.
obj=$(find "$S3DATA" -path "*backups/$first/bundle-0000._S3rver_object" | head -n1)
h_check "bundle-0000 of the backup is in the store" test -f "$obj"
cp "$obj" "$T/bundle.orig"
printf '\xff' | dd of="$obj" bs=1 seek=4000 count=1 conv=notrunc status=none
b=$(api POST "/v1/backups/$first/verify" '{}')
vop=$(jq -r .operation.id <<<"$b")
h_eq "verify fails" failed "$(h_wait_op_final "$vop" 300)"
h_check "the failure names the object" bash -c \
	"curl -s --cacert '$CA' -H @'$AUTH_HDR' '$API_URL/v1/operations/$vop' | jq -r '.message, .steps[].message' | grep -q 'backups/$first/bundle-0000'"
h_eq "the backup is marked verify failed" failed "$(api GET "/v1/backups/$first" | jq -r .verify_state)"
b=$(api POST "/v1/datastores/$SRC_ID/restore" "$(jq -cn --arg n "$(h_ds_name life-r)" --arg b "$first" '{name:$n, nodes:1, backup_id:$b}')")
rop=$(jq -r .operation.id <<<"$b")
h_eq "restore from it fails" failed "$(h_wait_op_final "$rop" 300)"
h_check "that failure names the object too" bash -c \
	"curl -s --cacert '$CA' -H @'$AUTH_HDR' '$API_URL/v1/operations/$rop' | jq -r '.message, .steps[].message' | grep -q 'bundle-0000'"
cp "$T/bundle.orig" "$obj"
b=$(api POST "/v1/backups/$first/verify" '{"drill":true}')
h_check "restored byte: verify and drill succeed" h_wait_op "$(jq -r .operation.id <<<"$b")" 300
h_eq "verify_state ok" ok "$(api GET "/v1/backups/$first" | jq -r .verify_state)"

# 5. Retention: count 2.  Two more backups, with WAL switched between.
h_psql_super "$name" "select pg_switch_wal()" >/dev/null
h_check "second backup" take_backup
second=$BK_ID
h_psql "$primary" "insert into t values (1001, 'x')" >/dev/null
h_psql_super "$name" "select pg_switch_wal()" >/dev/null
h_check "third backup" take_backup
third=$BK_ID
h_check "the first backup is deleted by retention" h_wait_for 60 bash -c \
	"[ \"\$(curl -s --cacert '$CA' -H @'$AUTH_HDR' '$API_URL/v1/backups/$first' | jq -r .state)\" = deleted ]"
h_eq "two completed backups listed" "$third $second" \
	"$(api GET "/v1/datastores/$SRC_ID/backups" | jq -r '[.backups[].id] | join(" ")')"
h_check "no object of the first backup is left" bash -c "! find '$S3DATA' -path '*backups/$first/*' | grep -q ."
h_check "the kept backups' objects are all there" bash -c \
	"find '$S3DATA' -path '*backups/$second/manifest*' | grep -q . && find '$S3DATA' -path '*backups/$third/manifest*' | grep -q ."
oldest_kept=$(api GET "/v1/backups/$second" | jq -r .start_wal)
walnames=$(find "$S3DATA" -path '*/wal/*' -name '*._S3rver_object' | sed 's|.*/||; s|\._S3rver_object$||' | grep -E '^[0-9A-F]{24}$' | sort)
h_eq "no WAL segment older than the oldest kept backup's start" "" \
	"$(awk -v o="$oldest_kept" '$0 < o' <<<"$walnames")"
h_check "the segments from it on are kept" grep -qx "$oldest_kept" <<<"$walnames"

# 6. awscli and the offline sub-command.
h_check "/usr/bin/aws lists the backup's objects" bash -c \
	"/usr/bin/aws --endpoint-url '$S3_ENDPOINT' s3 ls --recursive 's3://$S3_BUCKET/cairn/$SRC_ID/backups/$third/' | grep -q manifest"
(umask 077
 api GET "/v1/datastores/$SRC_ID/backup-key" | jq -r .data_key >"$T/key"
 printf '[s3]\nendpoint = %s\nregion = us-east-1\nbucket = %s\nprefix = cairn\naccess_key = %s\nsecret_key = %s\n' \
	"$S3_ENDPOINT" "$S3_BUCKET" "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" >"$T/s3.ini")
h_check "offline list shows the backup" bash -c \
	"'$AGENT_BIN' backup list --s3 '$T/s3.ini' --ds '$SRC_ID' | grep -q '$third'"
mkdir -p "$T/offline" && chown postgres: "$T/offline"
h_check "offline restore writes a data directory" \
	"$AGENT_BIN" backup restore --s3 "$T/s3.ini" --key "$T/key" --ds "$SRC_ID" --backup "$third" --to "$T/offline/data"
chown -R postgres: "$T/offline"
chmod 0700 "$T/offline/data"
h_check "it starts as a PostgreSQL data directory" runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$T/offline/data" -w -t 120 \
	-o "-c port=54329 -c listen_addresses='' -c unix_socket_directories=$T/offline -c archive_mode=off -c ssl=off" -l "$T/offline/pg.log" start
h_eq "it has the rows" 1001 "$(runuser -u postgres -- "$PG_BIN/psql" -XAtq -h "$T/offline" -p 54329 -d postgres -c 'select count(*) from t')"
runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$T/offline/data" -m fast stop >/dev/null
h_check "no password in any file under \$T" h_no_secret_in_logs
h_end
