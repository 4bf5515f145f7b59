#!/bin/bash
# Quick start on one Debian 12 machine, as root: installs what is needed,
# builds, starts a controller on its embedded SQLite store and N local agents
# (each in its own network namespace with a 198.18.200.x address), shows them
# enrolled and runs a job on each.  Everything lives in $QS_DIR.
#
#   scripts/quickstart.sh [N]     start (default 3 agents)
#   scripts/quickstart.sh stop    stop what the quick start started and clean up
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
QS_DIR=${QS_DIR:-/var/tmp/cairn-quickstart}
NET=200
CTL_ADDR=198.18.$NET.1
API_URL=https://$CTL_ADDR:8443
BR=cairnqs0

stop() {
	for f in "$QS_DIR"/*.pid; do
		[ -f "$f" ] || continue
		kill -TERM "$(cat "$f")" 2>/dev/null || true
		rm -f "$f"
	done
	sleep 1
	for ns in $(ip netns list | awk '/^cairn-qs-/ {print $1}'); do ip netns del "$ns"; done
	ip link del "$BR" 2>/dev/null || true
	[ -f "$QS_DIR/route-added" ] && ip route del unreachable 198.18.0.0/15 2>/dev/null || true
	rm -rf "$QS_DIR"
	echo "quick start stopped and removed"
}

if [ "${1:-}" = stop ]; then stop; exit 0; fi
N=${1:-3}
[ "$(id -u)" -eq 0 ] || { echo "run as root (network namespaces, apt-get)" >&2; exit 1; }
[ -d "$QS_DIR" ] && { echo "$QS_DIR exists: run '$0 stop' first" >&2; exit 1; }

echo "== installing build and runtime dependencies"
"$src/scripts/install-deps.sh" >/dev/null
echo "== building"
(cd "$src" && autoreconf -fi >/dev/null 2>&1)
mkdir -p "$src/build" && cd "$src/build"
[ -f Makefile ] || "$src/configure" >/dev/null
make -j"$(nproc)" >/dev/null
B=$src/build

mkdir -p "$QS_DIR" && chmod 0700 "$QS_DIR"
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
CONF
"$B/controller/cairn-controller" --config "$QS_DIR/controller.conf" \
	>"$QS_DIR/controller.out" 2>"$QS_DIR/controller.log" &
echo $! >"$QS_DIR/controller.pid"
for _ in $(seq 1 100); do
	curl -sf --cacert "$QS_DIR/controller/ca.pem" "$API_URL/v1/health" >/dev/null 2>&1 && break
	sleep 0.2
done
export CAIRN_URL=$API_URL CAIRN_CA=$QS_DIR/controller/ca.pem
CAIRN_TOKEN=$(cat "$QS_DIR/controller/admin.token")
export CAIRN_TOKEN
cli() { "$B/cli/cairnctl" "$@"; }

for i in $(seq 1 "$N"); do
	ns=cairn-qs-$i addr=198.18.$NET.$((10 + i)) d=$QS_DIR/agent$i
	ip netns add "$ns"
	ip link add "vqs$i" type veth peer name eth0 netns "$ns"
	ip link set "vqs$i" master "$BR" up
	ip -n "$ns" link set lo up
	ip -n "$ns" addr add "$addr/24" dev eth0
	ip -n "$ns" link set eth0 up
	mkdir -p "$d/tls"
	# The slot's join token goes straight into the agent's token file.
	cli --output json nodes add "qs-node$i" | jq -r .join_token >"$d/join.token"
	chmod 0600 "$d/join.token"
	cp "$QS_DIR/controller/ca.pem" "$d/ca.pem"
	cat >"$d/agent.conf" <<CONF
[agent]
state_dir = $d/state
api_url = $API_URL
gateway_url = https://$CTL_ADDR:8444
ca_file = $d/ca.pem
token_file = $d/join.token
tls_dir = $d/tls
CONF
	ip netns exec "$ns" "$B/node-agent/cairn-agent" --config "$d/agent.conf" >"$d/agent.log" 2>&1 &
	echo $! >"$QS_DIR/agent$i.pid"
	echo "   agent $i in namespace $ns at $addr"
done

echo "== waiting for enrolment"
for _ in $(seq 1 100); do
	[ "$(cli --output json nodes list | jq '[.nodes[] | select(.state=="enrolled")] | length')" -ge "$N" ] && break
	sleep 0.3
done
cli nodes list

echo "== running node.facts on every node"
for id in $(cli --output json nodes list | jq -r '.nodes[].id'); do
	job=$(cli --output json jobs submit "$id" node.facts | jq -r .id)
	cli jobs watch "$job" --timeout 30 >/dev/null && echo "   $id: $(cli --output json jobs show "$job" | jq -c '{state, hostname: .output.hostname, addresses: [.output.addresses[] | select(.family=="inet") | .address]}')"
done
cat <<MSG

Cairn is running.  Try:
  export CAIRN_URL=$CAIRN_URL CAIRN_CA=$CAIRN_CA CAIRN_TOKEN=\$(cat $QS_DIR/controller/admin.token)
  $B/cli/cairnctl nodes list
  $B/cli/cairnctl jobs list
Stop and clean up with: $0 stop
MSG
