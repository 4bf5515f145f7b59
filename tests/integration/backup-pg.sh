#!/bin/bash
# backup-pg.sh: the agent's backups end to end against a real PostgreSQL 15
# and @20minutes/s3rver 5.x (SigV4 checked) on 127.0.0.1, through
# tests/unit/test-agent-backup-pg (one process playing the agent: control
# socket, key store, supervisor; PostgreSQL's archive_command and
# restore_command call it back as wal-push/wal-fetch):
#   pg.init, backup.configure, backup.full (several bundles, 3 streams),
#   backup.verify, pg.restore to the latest WAL and to the backup's stop
#   LSN (row counts checked), a backup taken on a replica (pg_basebackup'd
#   into a second db_dir, the primary archiving its stop segment),
#   backup.drill, backup.delete;
# then, on the objects s3rver stored: nothing in clear (no row text, no
# PostgreSQL file header) and the offline `cairn-agent backup decrypt`.
# Needs root, PostgreSQL 15, node and s3rver, else SKIP (77).
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

H_NAME=backup-pg
[ "$(id -u)" = 0 ] || h_skip "needs root"
[ -x /usr/lib/postgresql/15/bin/postgres ] || h_skip "PostgreSQL 15 not installed"
PGTEST=$top_builddir/tests/unit/test-agent-backup-pg
[ -x "$PGTEST" ] || h_skip "$PGTEST not built"
h_s3rver_need
T=$(mktemp -d "/tmp/cit-$H_NAME.XXXXXX")
chmod 0755 "$T"
trap h_cleanup EXIT
trap 'exit 130' INT TERM
h_log "scenario $H_NAME in $T"
PGTEST=$(h_pg_exec "$PGTEST")
h_s3rver_start "$T/s3" || { h_fail "s3rver starts"; h_end; }

# TLS files pg.init/pg.restore expect (tls.issue's job in real life).
export BK_DB_DIR=$T/db BK_TLS_DIR=$T/tls BK_STATE_DIR=$T/state
mkdir -p "$BK_DB_DIR" "$BK_STATE_DIR"
for ds in 3f0e8c52-8d0a-4c1e-9b7a-0a1b2c3d4e5f 7c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f 5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b; do
	mkdir -p "$BK_TLS_DIR/$ds"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=test" \
		-keyout "$BK_TLS_DIR/$ds/server.key" -out "$BK_TLS_DIR/$ds/server.crt" 2>/dev/null
	cp "$BK_TLS_DIR/$ds/server.crt" "$BK_TLS_DIR/$ds/ca.crt"
	chown postgres "$BK_TLS_DIR/$ds/server.key"
	chmod 0600 "$BK_TLS_DIR/$ds/server.key"
done
chmod -R go+rX "$BK_TLS_DIR"
chmod 0600 "$BK_TLS_DIR"/*/server.key
export CAIRN_AGENT_SOCKET=$T/run/agent.sock
# Three free ports in a row.
BK_PORT_A=$(( 20000 + RANDOM % 20000 ))
export BK_PORT_A

out=$("$PGTEST" 2>&1)
rc=$?
printf '%s\n' "$out" | sed 's/^/#   /'
h_eq "end-to-end program" 0 "$rc"
case $out in *"$AWS_SECRET_ACCESS_KEY"*) h_fail "the S3 secret appears in the output" ;; *) h_ok "no S3 secret in the output" ;; esac

# What s3rver stored: encrypted (no row padding, no PostgreSQL page
# header in clear), and readable with the offline sub-command and the key.
objs=$(find "$T/s3/data" -type f -name '*._S3rver_object' | wc -l)
h_ok "s3rver holds $objs objects"
if grep -rqa 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' "$T/s3/data"; then h_fail "row data in clear in S3"; else h_ok "no row data in clear in S3"; fi
seg=$(find "$T/s3/data" -path '*wal/00000001/0000000100000000000000*' -name '*._S3rver_object' | sort | tail -1)
if [ -n "$seg" ]; then
	name=wal/00000001/$(basename "$seg" ._S3rver_object)
	printf '%s\n' AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8= >"$T/key"
	chmod 0600 "$T/key"
	"$AGENT_BIN" backup decrypt --key "$T/key" --name "$name" <"$seg" >"$T/seg.plain"
	h_eq "offline decrypt of $name" 0 "$?"
	h_eq "decrypted segment is 16 MiB" 16777216 "$(stat -c %s "$T/seg.plain")"
	"$AGENT_BIN" backup decrypt --key "$T/key" --name "wal/00000001/000000010000000000000099" <"$seg" >/dev/null 2>"$T/err"
	h_eq "decrypt under another name fails" 1 "$?"
else
	h_fail "no WAL segment stored"
fi

# The offline sub-command on the backup that stayed (b-0002).
cat >"$T/s3.ini" <<EOT
[s3]
endpoint = $S3_ENDPOINT
region = us-east-1
bucket = $S3_BUCKET
prefix = cit/backups
access_key = $AWS_ACCESS_KEY_ID
secret_key = $AWS_SECRET_ACCESS_KEY
EOT
chmod 0600 "$T/s3.ini"
DSA=3f0e8c52-8d0a-4c1e-9b7a-0a1b2c3d4e5f
list=$("$AGENT_BIN" backup list --s3 "$T/s3.ini" --ds $DSA 2>&1)
case $list in b-0002*) h_ok "backup list shows b-0002" ;; *) h_fail "backup list: $list" ;; esac
case $list in *b-0001*) h_fail "backup list shows the deleted b-0001" ;; *) h_ok "deleted b-0001 not listed" ;; esac
out=$("$AGENT_BIN" backup verify --s3 "$T/s3.ini" --key "$T/key" --ds $DSA --backup b-0002 2>&1)
h_eq "offline verify ($out)" 0 "$?"
out=$("$AGENT_BIN" backup restore --s3 "$T/s3.ini" --key "$T/key" --ds $DSA --backup b-0002 --to "$T/offline" 2>&1)
h_eq "offline restore ($out)" 0 "$?"
# It starts as it is (the WAL it needs is in pg_wal), on its own socket.
chown -R postgres: "$T/offline"
mkdir -p "$T/offline-run" && chown postgres "$T/offline-run"
port=$((BK_PORT_A + 5))
# postgres' programs start in the current directory: one it can enter (a
# build tree under mktemp -d is not), or psql's complaint joins its answer.
cd "$T" || h_end
if runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D "$T/offline" -l "$T/offline-run/offline.log" -w -t 120 \
	-o "-c port=$port -c listen_addresses='' -c unix_socket_directories='$T/offline-run' -c archive_mode=off -c ssl=off" start >"$T/pg_ctl.out" 2>&1; then
	h_ok "offline restore starts"
	n=$(runuser -u postgres -- /usr/lib/postgresql/15/bin/psql -h "$T/offline-run" -p $port -d postgres -Atc 'SELECT count(*) FROM t' 2>&1)
	h_eq "offline restore has the rows" 50100 "$n"
	runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D "$T/offline" -m fast -w stop >/dev/null 2>&1
else
	h_fail "offline restore starts: $(cat "$T/pg_ctl.out"; tail -5 "$T/offline-run/offline.log" 2>/dev/null)"
fi
# The control socket refuses a caller that owns nothing (nobody), through
# the real client.
h_end
