#!/bin/bash
# Quick start on one Debian 12 machine, as root: installs what is needed,
# builds, starts a controller (embedded SQLite store) whose provisioner is
# the local one (each node is a network namespace on a bridge this script
# makes, with a cairn-agent inside), creates a three-node PostgreSQL 15
# datastore `demo` and prints a psql command that connects to its primary
# with sslmode=verify-full.  Everything lives in $QS_DIR.
#
#   scripts/quickstart.sh [N]     start (default: a datastore of 3 nodes)
#   scripts/quickstart.sh stop    delete the datastores through the API, then
#                                 stop and remove everything it started
#
# The admin password of the datastore is never printed here: it goes from
# the create answer straight into a 0600 pgpass file ($QS_DIR/demo.pgpass).
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
QS_DIR=${QS_DIR:-/var/tmp/cairn-quickstart}
NET=200
CTL_ADDR=198.18.$NET.1
API_URL=https://$CTL_ADDR:8443
BR=cairnqs0
DS=demo
B=$src/build
PROV=$src/provisioners/cairn-provision-local

cli() { "$B/cli/cairnctl" "$@"; }

api_env() {
	export CAIRN_URL=$API_URL CAIRN_CA=$QS_DIR/controller/ca.pem
	CAIRN_TOKEN=$(cat "$QS_DIR/controller/admin.token")
	export CAIRN_TOKEN
}

controller_alive() {
	[ -f "$QS_DIR/controller.pid" ] && kill -0 "$(cat "$QS_DIR/controller.pid")" 2>/dev/null
}

stop() {
	local name f pid
	[ -d "$QS_DIR" ] || { echo "nothing to stop ($QS_DIR does not exist)"; return 0; }
	# 1. Datastores first, through the API: their nodes are destroyed by
	#    the controller's own provisioner calls.
	if controller_alive && [ -x "$B/cli/cairnctl" ] && [ -f "$QS_DIR/controller/admin.token" ]; then
		api_env
		for name in $(cli --output json datastore list 2>/dev/null |
			jq -r '.datastores[]? | select(.state != "deleted" and .state != "deleting") | .name'); do
			echo "== deleting datastore $name"
			timeout 600 "$B/cli/cairnctl" datastore delete "$name" --wait ||
				echo "   (delete of $name did not finish; its nodes are removed below)"
		done
	fi
	# 2. The controller.
	if [ -f "$QS_DIR/controller.pid" ]; then
		pid=$(cat "$QS_DIR/controller.pid")
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
		kill -KILL "$pid" 2>/dev/null || true
		rm -f "$QS_DIR/controller.pid"
	fi
	# 3. Local provisioner nodes the API did not remove (agents, PostgreSQL,
	#    namespaces, veths, directories): the provisioner's own destroy.
	for f in "$QS_DIR"/local/*/node.json; do
		[ -f "$f" ] || continue
		jq -c --arg d "$QS_DIR/local" --arg br "$BR" --arg sn "198.18.$NET.0/24" --arg a "$B/node-agent/cairn-agent" \
			'{version:1,action:"destroy",node:{id:.id,name:.name},machine_id:("local:"+.name),
			  local:{bridge:$br,subnet:$sn,dir:$d,agent:$a}}' "$f" |
			"$PROV" >/dev/null || echo "   could not destroy node $(jq -r .name "$f")"
	done
	ip link del "$BR" 2>/dev/null || true
	[ -f "$QS_DIR/route-added" ] && { ip route del unreachable 198.18.0.0/15 2>/dev/null || true; }
	rm -rf "$QS_DIR"
	echo "quick start stopped and removed"
}

if [ "${1:-}" = stop ]; then stop; exit 0; fi
N=${1:-3}
[[ $N =~ ^[1-9]$ ]] || { echo "usage: $0 [NODES 1-9] | stop" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "run as root (network namespaces, apt-get)" >&2; exit 1; }
[ -d "$QS_DIR" ] && { echo "$QS_DIR exists: run '$0 stop' first" >&2; exit 1; }

echo "== installing build and runtime dependencies"
"$src/scripts/install-deps.sh" >/dev/null
echo "== building"
(cd "$src" && autoreconf -fi >/dev/null 2>&1)
mkdir -p "$B" && cd "$B"
[ -f Makefile ] || "$src/configure" >/dev/null
make -j"$(nproc)" >/dev/null

# 0711: PostgreSQL (user postgres) must walk down to $QS_DIR/local/<node>/db.
mkdir -p "$QS_DIR" && chmod 0711 "$QS_DIR"
umask 077
if ! ip route show type unreachable | grep -q '^unreachable 198.18.0.0/15'; then
	ip route add unreachable 198.18.0.0/15 && touch "$QS_DIR/route-added"
fi
ip link add "$BR" type bridge && ip addr add "$CTL_ADDR/24" dev "$BR" && ip link set "$BR" up

echo "== starting the controller at $API_URL (state in $QS_DIR/controller)"
cat >"$QS_DIR/controller.conf" <<CONF
[controller]
state_dir = $QS_DIR/controller
api_listen = $CTL_ADDR:8443
gateway_listen = $CTL_ADDR:8444
public_api_url = $API_URL
public_gateway_url = https://$CTL_ADDR:8444
server_names = $CTL_ADDR, localhost

[provisioner]
kind = local
program = $PROV
local_bridge = $BR
local_subnet = 198.18.$NET.0/24
local_dir = $QS_DIR/local
local_agent = $B/node-agent/cairn-agent
CONF
# setsid: the controller keeps running after this script (and its terminal).
setsid "$B/controller/cairn-controller" --config "$QS_DIR/controller.conf" \
	</dev/null >"$QS_DIR/controller.out" 2>"$QS_DIR/controller.log" &
echo $! >"$QS_DIR/controller.pid"
for _ in $(seq 1 100); do
	curl -sf --cacert "$QS_DIR/controller/ca.pem" "$API_URL/v1/health" >/dev/null 2>&1 && break
	sleep 0.2
done
api_env

echo "== creating datastore $DS ($N nodes, PostgreSQL 15); progress:"
# The answer holds the admin password: it stays in this variable and goes
# only into the pgpass file.  Progress lines go to the terminal (stderr).
if ! answer=$(cli --output json datastore create "$DS" --nodes "$N" --ca-out "$QS_DIR/$DS-ca.pem" --wait); then
	if [ -n "${answer:-}" ] && printf '%s' "$answer" | jq -e .connection.password >/dev/null 2>&1; then
		printf '%s' "$answer" | jq -r '"*:\(.connection.port):*:\(.connection.user):\(.connection.password)"' \
			>"$QS_DIR/$DS.pgpass"
	fi
	unset answer
	echo "creating $DS failed: see 'cairnctl op list --datastore $DS' and $QS_DIR/controller.log" >&2
	echo "(the password, if the datastore was made, is in $QS_DIR/$DS.pgpass)" >&2
	exit 1
fi
printf '%s' "$answer" | jq -r '"*:\(.connection.port):*:\(.connection.user):\(.connection.password)"' \
	>"$QS_DIR/$DS.pgpass"
chmod 0600 "$QS_DIR/$DS.pgpass"
host=$(printf '%s' "$answer" | jq -r .connection.host)
port=$(printf '%s' "$answer" | jq -r .connection.port)
unset answer
cli datastore show "$DS"

PSQL="PGPASSFILE=$QS_DIR/$DS.pgpass psql \"host=$host port=$port dbname=postgres user=cairn_admin sslmode=verify-full sslrootcert=$QS_DIR/$DS-ca.pem\""
if command -v psql >/dev/null; then
	echo "== checking the connection"
	PGPASSFILE=$QS_DIR/$DS.pgpass psql -X -At \
		"host=$host port=$port dbname=postgres user=cairn_admin sslmode=verify-full sslrootcert=$QS_DIR/$DS-ca.pem" \
		-c "select 'connected to ' || inet_server_addr() || ' over ' || (select version from pg_stat_ssl where pid = pg_backend_pid())" ||
		echo "   (psql could not connect yet: try the command below in a moment)"
fi
cat <<MSG

Cairn is running with datastore '$DS'.  Connect to its primary with:
  $PSQL

Try:
  export CAIRN_URL=$CAIRN_URL CAIRN_CA=$CAIRN_CA CAIRN_TOKEN=\$(cat $QS_DIR/controller/admin.token)
  $B/cli/cairnctl datastore show $DS
  $B/cli/cairnctl datastore config $DS --set work_mem=64MB --wait
  $B/cli/cairnctl datastore scale $DS --add 1 --wait
  $B/cli/cairnctl op list --datastore $DS
Stop and clean up with: $0 stop
MSG
