# tests/integration/lib.sh: the integration harness, sourced by each
# scenario script.  It starts real processes only: one cairn-controller and
# N cairn-agents, each agent in its own network namespace with its own
# 198.18.x.x address on a bridge owned by the test, with real TLS.
#
# Layout of a run (all under $T, removed at the end unless CAIRN_KEEP=1):
#   $T/ctl/            controller state dir and config
#   $T/agentN/         agent N's state dir, tls dir, config, log
#   $T/*.log           process logs (printed when a check fails)
#
# Scenarios call h_begin NAME SUBNET, then h_controller_start,
# h_agents_start N, and check outcomes with h_ok / h_fail.  Results print
# as "ok - …" / "not ok - …"; the script's exit code is what automake counts.
#
# shellcheck shell=bash

set -u
set -o pipefail

: "${top_builddir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
CTL_BIN=$top_builddir/controller/cairn-controller
AGENT_BIN=$top_builddir/node-agent/cairn-agent
CLI_BIN=$top_builddir/cli/cairnctl
JWSTOOL=$top_builddir/tests/tools/cairn-jwstool

H_PASSED=0
H_FAILED=0
H_PIDS=()
H_NETNS=()
H_BRIDGE=""
H_ROUTE_ADDED=0
H_LOCK_FD=""

h_log() { printf '# %s\n' "$*"; }

h_skip() {
	echo "SKIP: $*"
	exit 77
}

h_ok() {
	H_PASSED=$((H_PASSED + 1))
	echo "ok $((H_PASSED + H_FAILED)) - $*"
}

h_fail() {
	H_FAILED=$((H_FAILED + 1))
	echo "not ok $((H_PASSED + H_FAILED)) - $*"
}

# h_check DESCRIPTION CMD…: runs CMD, records ok/not ok.
h_check() {
	local what=$1
	shift
	if "$@"; then h_ok "$what"; else h_fail "$what"; fi
}

# h_eq DESCRIPTION EXPECTED ACTUAL
h_eq() {
	if [ "$2" = "$3" ]; then
		h_ok "$1"
	else
		h_fail "$1 (expected '$2', got '$3')"
	fi
}

# h_wait_for SECONDS CMD…: polls CMD every 0.2 s until it succeeds.
h_wait_for() {
	local deadline=$((SECONDS + $1))
	shift
	while [ $SECONDS -lt $deadline ]; do
		if "$@" >/dev/null 2>&1; then return 0; fi
		sleep 0.2
	done
	"$@" >/dev/null 2>&1
}

# Process state from /proc: a killed process can linger as a zombie for a
# second or two on these machines (slow PID 1 reaping), so kill -0 lies.
h_alive() {
	local st
	st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

h_dump_logs() {
	local f
	for f in "$T"/*.log "$T"/agent*/agent.log; do
		[ -f "$f" ] || continue
		echo "----- $f (last 60 lines)"
		tail -n 60 "$f"
	done
}

h_cleanup() {
	local rc=$? pid ns
	for pid in "${H_PIDS[@]}"; do
		if h_alive "$pid"; then kill -TERM "$pid" 2>/dev/null; fi
	done
	for pid in "${H_PIDS[@]}"; do
		for _ in $(seq 1 25); do h_alive "$pid" || break; sleep 0.2; done
		if h_alive "$pid"; then kill -KILL "$pid" 2>/dev/null; fi
	done
	if [ "$H_FAILED" -ne 0 ] || [ "$rc" -ne 0 ]; then h_dump_logs; fi
	for ns in "${H_NETNS[@]}"; do ip netns del "$ns" 2>/dev/null; done
	[ -n "$H_BRIDGE" ] && ip link del "$H_BRIDGE" 2>/dev/null
	if [ "$H_ROUTE_ADDED" = 1 ]; then ip route del unreachable 198.18.0.0/15 2>/dev/null; fi
	if [ "${CAIRN_KEEP:-0}" = 1 ]; then echo "# kept $T"; else rm -rf "$T"; fi
}

# h_end: prints the scenario's tally and exits with its result.
h_end() {
	echo "# $H_PASSED passed, $H_FAILED failed"
	[ "$H_FAILED" -eq 0 ] && exit 0
	exit 1
}

# h_begin NAME SUBNET: SUBNET (1…254) picks 198.18.SUBNET.0/24 and the
# ports, so scenarios do not collide.  Scenarios run one at a time (a lock)
# because they share the root namespace's unreachable route.
h_begin() {
	H_NAME=$1
	H_NET=$2
	[ "$(id -u)" -eq 0 ] || h_skip "needs root for network namespaces"
	command -v ip >/dev/null || h_skip "iproute2 (ip) not installed"
	command -v jq >/dev/null || h_skip "jq not installed"
	for b in "$CTL_BIN" "$AGENT_BIN" "$CLI_BIN"; do
		[ -x "$b" ] || h_skip "$b not built"
	done
	exec {H_LOCK_FD}>/run/lock/cairn-integration.lock
	flock -w 1200 "$H_LOCK_FD" || h_skip "could not take the integration lock"
	T=$(mktemp -d "/tmp/cairn-it-$H_NAME.XXXXXX")
	chmod 0700 "$T"
	trap h_cleanup EXIT
	trap 'exit 130' INT TERM
	H_ID=$(printf '%02x%04x' "$H_NET" $$ | tail -c 6)
	CTL_ADDR=198.18.$H_NET.1
	API_PORT=$((20000 + H_NET * 10))
	GW_PORT=$((API_PORT + 1))
	API_URL=https://$CTL_ADDR:$API_PORT
	GW_URL=https://$CTL_ADDR:$GW_PORT
	# Without this route, a packet for 198.18.0.0/15 from the root
	# namespace would leave by the default route (DESIGN.md "Tests").
	if ! ip route show type unreachable | grep -q '^unreachable 198.18.0.0/15'; then
		ip route add unreachable 198.18.0.0/15 && H_ROUTE_ADDED=1
	fi
	H_BRIDGE=cbr$H_ID
	ip link add "$H_BRIDGE" type bridge || h_skip "cannot create a bridge"
	ip addr add "$CTL_ADDR/24" dev "$H_BRIDGE"
	ip link set "$H_BRIDGE" up
	h_log "scenario $H_NAME in $T, controller at $CTL_ADDR"
}

# h_netns_add I: namespace for agent I with address 198.18.NET.(10+I).
h_netns_add() {
	local i=$1 ns=cairn-$H_ID-$1 addr=198.18.$H_NET.$((10 + $1))
	ip netns add "$ns"
	H_NETNS+=("$ns")
	ip link add "vh$H_ID$i" type veth peer name "vn$H_ID$i" netns "$ns"
	ip link set "vh$H_ID$i" master "$H_BRIDGE" up
	ip -n "$ns" link set lo up
	ip -n "$ns" link set "vn$H_ID$i" name eth0
	ip -n "$ns" addr add "$addr/24" dev eth0
	ip -n "$ns" link set eth0 up
}

h_agent_addr() { echo "198.18.$H_NET.$((10 + $1))"; }
h_agent_ns() { echo "cairn-$H_ID-$1"; }

# h_controller_config [EXTRA_INI]: writes $T/ctl/controller.conf.
h_controller_config() {
	mkdir -p "$T/ctl"
	cat >"$T/ctl/controller.conf" <<EOF
[controller]
state_dir = $T/ctl/state
api_listen = $CTL_ADDR:$API_PORT
gateway_listen = $CTL_ADDR:$GW_PORT
public_api_url = $API_URL
public_gateway_url = $GW_URL
server_names = $CTL_ADDR, localhost, 127.0.0.1
log_level = debug
status_interval_s = 5
retry_base_s = 1
retry_max_s = 4
${1:-}
EOF
}

# h_controller_start: starts the controller (config must exist), waits for
# /v1/health, reads the admin token and CA.
h_controller_start() {
	[ -f "$T/ctl/controller.conf" ] || h_controller_config
	"$CTL_BIN" --config "$T/ctl/controller.conf" >>"$T/controller.out" 2>>"$T/controller.log" &
	CTL_PID=$!
	H_PIDS+=("$CTL_PID")
	if ! h_wait_for 30 curl -sf --cacert "$T/ctl/state/ca.pem" "$API_URL/v1/health"; then
		h_fail "controller answers /v1/health"
		h_end
	fi
	CA=$T/ctl/state/ca.pem
	TOKEN_FILE=$T/ctl/state/admin.token
	CAIRN_TOKEN=$(cat "$TOKEN_FILE")
	# curl reads the header from a 0600 file: a token in argv shows in ps.
	AUTH_HDR=$T/auth.hdr
	(umask 077 && printf 'Authorization: Bearer %s\n' "$CAIRN_TOKEN" >"$AUTH_HDR")
	export CAIRN_TOKEN CAIRN_URL=$API_URL CAIRN_CA=$CA
}

h_controller_kill9() {
	kill -KILL "$CTL_PID"
	for _ in $(seq 1 50); do h_alive "$CTL_PID" || break; sleep 0.1; done
}

# api METHOD PATH [BODY]: prints the body; api_status prints the HTTP status.
api_status() { cat "$T/.api-status"; }
api() {
	local out
	if [ $# -ge 3 ]; then
		out=$(curl -s --cacert "$CA" -H @"$AUTH_HDR" \
			-H 'Content-Type: application/json' -X "$1" --data-binary "$3" \
			-w '\n%{http_code}' "$API_URL$2")
	else
		out=$(curl -s --cacert "$CA" -H @"$AUTH_HDR" \
			-X "$1" -w '\n%{http_code}' "$API_URL$2")
	fi
	# The status goes to a file: callers use $(api …), a subshell.
	printf '%s' "${out##*$'\n'}" >"$T/.api-status"
	printf '%s' "${out%$'\n'*}"
}

# h_node_create NAME: creates a slot; sets NODE_ID, JOIN_TOKEN, writes user-data.
h_node_create() {
	local body
	body=$(api POST /v1/nodes "{\"name\":\"$1\"}")
	[ "$(api_status)" = 201 ] || { h_fail "create node $1 (HTTP $(api_status): $body)"; return 1; }
	NODE_ID=$(jq -r .id <<<"$body")
	JOIN_TOKEN=$(jq -r .join_token <<<"$body")
	jq -r .user_data <<<"$body" >"$T/userdata-$1.yaml"
}

# h_agent_config I [EXTRA]: config for agent I (its own state and tls dirs).
h_agent_config() {
	local d=$T/agent$1
	mkdir -p "$d/tls"
	cp "$T/ctl/state/ca.pem" "$d/ca.pem"
	cat >"$d/agent.conf" <<EOF
[agent]
state_dir = $d/state
api_url = $API_URL
gateway_url = $GW_URL
ca_file = $d/ca.pem
token_file = $d/join.token
tls_dir = $d/tls
poll_wait_s = 20
log_level = debug
allow_debug_jobs = true
${2:-}
EOF
}

# h_agent_start I: starts agent I inside its namespace.
h_agent_start() {
	local d=$T/agent$1
	ip netns exec "$(h_agent_ns "$1")" "$AGENT_BIN" --config "$d/agent.conf" >>"$d/agent.log" 2>&1 &
	AGENT_PID[$1]=$!
	H_PIDS+=("${AGENT_PID[$1]}")
}

h_agent_kill9() {
	local pid=${AGENT_PID[$1]}
	kill -KILL "$pid"
	for _ in $(seq 1 50); do h_alive "$pid" || break; sleep 0.1; done
}

# h_agents_start N: N node slots, namespaces, configs, token files, agents.
# Sets NODE[i] (id) for i in 1..N and waits until every node is enrolled.
declare -a NODE AGENT_PID JOIN
h_agents_start() {
	local i
	for i in $(seq 1 "$1"); do
		h_netns_add "$i"
		h_node_create "node$i" || return 1
		JOIN[$i]=$JOIN_TOKEN
		NODE[$i]=$NODE_ID
		h_agent_config "$i" "${2:-}"
		(umask 077 && printf '%s\n' "$JOIN_TOKEN" >"$T/agent$i/join.token")
		h_agent_start "$i"
	done
	for i in $(seq 1 "$1"); do
		if h_wait_for 30 h_node_state_is "${NODE[$i]}" enrolled; then
			h_ok "agent $i enrolled as ${NODE[$i]}"
		else
			h_fail "agent $i enrolled"
		fi
	done
}

h_node_state_is() {
	[ "$(api GET "/v1/nodes/$1" | jq -r .state)" = "$2" ]
}

# h_submit NODE_ID JSON: submits a job; prints its id.
h_submit() {
	local body
	body=$(api POST "/v1/nodes/$1/jobs" "$2")
	if [ "$(api_status)" != 201 ]; then
		echo "submit failed: HTTP $(api_status) $body" >&2
		return 1
	fi
	jq -r .id <<<"$body"
}

h_job_state() { api GET "/v1/jobs/$1" | jq -r .state; }

h_job_final() {
	case $(h_job_state "$1") in
	succeeded | failed | rejected | interrupted | timed_out | cancelled) return 0 ;;
	*) return 1 ;;
	esac
}

# h_wait_job ID SECONDS: waits for a final state; prints it.
h_wait_job() {
	h_wait_for "$2" h_job_final "$1"
	h_job_state "$1"
}

# h_exec_count AGENT JTI: how many times debug.sleep ran that jti there.
h_exec_count() {
	local f=$T/agent$1/state/debug-executions.log
	[ -f "$f" ] || { echo 0; return; }
	grep -cxF "$2" "$f"
}
