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
H_BG_PIDS=()
H_LOCAL_DIR=""
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
	for f in "$T"/*.log "$T"/agent*/agent.log \
		$([ -n "${H_LOCAL_DIR:-}" ] && find "$H_LOCAL_DIR" -name '*.log' -type f 2>/dev/null); do
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
	for pid in "${H_BG_PIDS[@]}"; do
		if h_alive "$pid"; then kill -KILL "$pid" 2>/dev/null; fi
	done
	# A scenario's own extra processes (tests/vm: its qemu VMs).
	if [ "$(type -t h_extra_cleanup)" = function ]; then h_extra_cleanup; fi
	if [ "$H_FAILED" -ne 0 ] || [ "$rc" -ne 0 ]; then h_dump_logs; fi
	h_local_cleanup
	for ns in "${H_NETNS[@]}"; do ip netns del "$ns" 2>/dev/null; done
	if [ -n "$H_BRIDGE" ]; then
		# Host ends of veths a provisioner left on our bridge.
		for ns in $(ip -o link show master "$H_BRIDGE" 2>/dev/null |
			awk -F': ' '{print $2}' | cut -d@ -f1); do
			ip link del "$ns" 2>/dev/null
		done
		ip link del "$H_BRIDGE" 2>/dev/null
	fi
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
	# Short: PostgreSQL sockets live under $T (sun_path is 108 bytes).
	T=$(mktemp -d "/tmp/cit-$H_NAME.XXXXXX")
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

# h_controller_config [EXTRA_INI]: writes $T/ctl/controller.conf.  The
# public URLs (what user-data carries) and extra certificate names can be
# set in H_PUBLIC_API_URL, H_PUBLIC_GW_URL and H_EXTRA_NAMES.
h_controller_config() {
	mkdir -p "$T/ctl"
	cat >"$T/ctl/controller.conf" <<EOF
[controller]
state_dir = $T/ctl/state
api_listen = $CTL_ADDR:$API_PORT
gateway_listen = $CTL_ADDR:$GW_PORT
public_api_url = ${H_PUBLIC_API_URL:-$API_URL}
public_gateway_url = ${H_PUBLIC_GW_URL:-$GW_URL}
server_names = $CTL_ADDR, localhost, 127.0.0.1${H_EXTRA_NAMES:+, $H_EXTRA_NAMES}
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
run_dir = $d/run
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

# ---------------------------------------------------------------------------
# Datastores (docs/datastores.md): the controller provisions its own nodes
# with the local provisioner, one network namespace cairn-<member name> per
# node under $H_LOCAL_DIR ($T/n: short, because PostgreSQL's socket is
# <local_dir>/<name>/db/<ds id>/run/.s.PGSQL.5432, at most 107 bytes).  The admin password of a datastore lives only in a
# 0600 file ($T/ds-NAME.pass) and a 0600 pgpass file; it never goes into
# argv (here-strings and builtins only) or into a log.

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PROMETHEUS_BIN=${PROMETHEUS_BIN:-/usr/bin/prometheus}
: "${H_LOCAL_PROGRAM:=$top_srcdir/provisioners/cairn-provision-local}"

# h_need_pg: SKIP unless the PostgreSQL 15 server and client programs exist.
h_need_pg() {
	local b
	for b in postgres initdb pg_ctl pg_basebackup psql; do
		[ -x "$PG_BIN/$b" ] || h_skip "PostgreSQL 15 not installed ($PG_BIN/$b missing)"
	done
	[ -x "$top_srcdir/provisioners/cairn-provision-local" ] ||
		h_skip "provisioners/cairn-provision-local missing"
	getent passwd postgres >/dev/null || h_skip "no 'postgres' user"
}

# h_need_exporters: SKIP unless node_exporter and postgres_exporter exist.
h_need_exporters() {
	local b
	for b in prometheus-node-exporter prometheus-postgres-exporter; do
		command -v "$b" >/dev/null || h_skip "$b not installed"
	done
	getent passwd prometheus >/dev/null || h_skip "no 'prometheus' user"
}

# h_controller_config_local [EXTRA_CONTROLLER_KEYS]: controller.conf with a
# [provisioner] section for the local provisioner: nodes on our bridge,
# addresses from 198.18.NET.0/24, directories under $H_LOCAL_DIR.  $T and
# $H_LOCAL_DIR become 0711: the postgres user must traverse them to its db_dir.
# H_LOCAL_PROGRAM (if set) adds a `program` line (a build tree has no
# installed libexecdir copy).
h_controller_config_local() {
	AGENT_BIN=$(h_pg_exec "$AGENT_BIN")
	H_LOCAL_DIR=$T/n
	mkdir -p "$H_LOCAL_DIR"
	chmod 0711 "$T" "$H_LOCAL_DIR"
	local prog=""
	[ -n "$H_LOCAL_PROGRAM" ] && prog="program = $H_LOCAL_PROGRAM"
	h_controller_config "${1:-}
[provisioner]
kind = local
local_bridge = $H_BRIDGE
local_subnet = 198.18.$H_NET.0/24
local_dir = $H_LOCAL_DIR
local_agent = $AGENT_BIN
timeout_s = 120
$prog"
}

# h_local_cleanup: stops what the local provisioner started under $H_LOCAL_DIR:
# each agent (agent.pid), then every process left in its namespace
# (PostgreSQL, exporters), then the namespace itself (its veth goes with it).
h_local_cleanup() {
	local d name ns pid pids
	[ -n "${H_LOCAL_DIR:-}" ] && [ -d "$H_LOCAL_DIR" ] || return 0
	for d in "$H_LOCAL_DIR"/*/; do
		[ -f "$d/agent.pid" ] || continue
		pid=$(cat "$d/agent.pid" 2>/dev/null)
		case $pid in '' | *[!0-9]*) continue ;; esac
		# Only our agent: a recycled pid outside its namespace is not ours.
		[ "$(ip netns identify "$pid" 2>/dev/null)" = "cairn-$(basename "$d")" ] || continue
		h_alive "$pid" && kill -TERM "$pid" 2>/dev/null
	done
	for d in "$H_LOCAL_DIR"/*/; do
		[ -d "$d" ] || continue
		name=$(basename "$d")
		ns=cairn-$name
		ip netns list 2>/dev/null | awk '{print $1}' | grep -qxF "$ns" || continue
		pids=$(ip netns pids "$ns" 2>/dev/null)
		[ -n "$pids" ] && kill -TERM $pids 2>/dev/null
	done
	sleep 0.5
	for d in "$H_LOCAL_DIR"/*/; do
		[ -d "$d" ] || continue
		name=$(basename "$d")
		ns=cairn-$name
		ip netns list 2>/dev/null | awk '{print $1}' | grep -qxF "$ns" || continue
		for _ in $(seq 1 20); do
			pids=$(ip netns pids "$ns" 2>/dev/null)
			[ -z "$pids" ] && break
			kill -KILL $pids 2>/dev/null
			sleep 0.2
		done
		ip netns del "$ns" 2>/dev/null
	done
	# Namespaces whose directory destroy removed but that were left behind.
	for ns in "${H_DS_NETNS[@]}"; do
		ip netns list 2>/dev/null | awk '{print $1}' | grep -qxF "$ns" || continue
		pids=$(ip netns pids "$ns" 2>/dev/null)
		[ -n "$pids" ] && kill -KILL $pids 2>/dev/null
		ip netns del "$ns" 2>/dev/null
	done
}
H_DS_NETNS=()

# h_ds_track: remembers the namespace of every member of $DS_ID, so that
# cleanup removes it even if its directory went away.
# h_pg_exec BIN: a path to BIN that the postgres user can execute.
# PostgreSQL runs the agent itself (archive_command, restore_command), and
# a build tree under a 0700 directory (mktemp -d) is out of its reach:
# then BIN is copied to $T/bin (made 0755 in a 0711 $T).
h_pg_exec() {
	if runuser -u postgres -- test -x "$1" 2>/dev/null; then
		echo "$1"
		return 0
	fi
	mkdir -p "$T/bin"
	chmod 0711 "$T"
	chmod 0755 "$T/bin"
	install -m 0755 "$1" "$T/bin/" && echo "$T/bin/$(basename "$1")"
}

# h_local_agent_restart NAME: starts the agent of local node NAME again
# (after a kill), the way the local provisioner starts it.
h_local_agent_restart() {
	local nd=$H_LOCAL_DIR/$1
	rm -f "$nd/agent.pid"
	setsid bash -c 'umask 022; echo $$ >"$1"; shift; exec "$@"' cairn-agent-start "$nd/agent.pid" \
		ip netns exec "cairn-$1" "$AGENT_BIN" --config "$nd/etc/agent.conf" \
		</dev/null >>"$nd/agent.log" 2>&1 &
	h_wait_for 10 test -s "$nd/agent.pid"
}

h_ds_track() {
	local n
	[ -n "${DS_ID:-}" ] || return 0
	for n in $(h_ds_get "$DS_ID" | jq -r '.members[]?.name' 2>/dev/null); do
		case " ${H_DS_NETNS[*]} " in *" cairn-$n "*) ;; *) H_DS_NETNS+=("cairn-$n") ;; esac
	done
}

# h_netns_exists NAME
h_netns_exists() {
	ip netns list 2>/dev/null | awk '{print $1}' | grep -qxF "$1"
}

# h_ds_name BASE: a datastore name unique to this run (DNS label).
h_ds_name() { echo "$1-$H_ID"; }

# h_ds_create NAME N [SETTINGS_JSON]: POST /v1/datastores.  Sets DS_ID,
# DS_NAME, OP_ID, DS_PGPASS (0600 pgpass file), DS_PASSFILE (0600, the
# bare password), and $T/ds-NAME.json (the answer without the password).
# Returns 1 (after h_fail) unless the answer is 202.
h_ds_create() {
	local name=$1 n=$2 settings=${3:-'{}'} req body
	req=$(jq -cn --arg n "$name" --argjson c "$n" --argjson s "$settings" \
		'{name:$n,engine:"postgres",version:"15",nodes:$c,size:{},settings:$s}')
	body=$(api POST /v1/datastores "$req")
	if [ "$(api_status)" != 202 ]; then
		h_fail "create datastore $name (HTTP $(api_status): $(jq -c 'del(.connection.password)' <<<"$body" 2>/dev/null || echo "$body"))"
		return 1
	fi
	DS_NAME=$name
	DS_ID=$(jq -r .datastore.id <<<"$body")
	OP_ID=$(jq -r .operation.id <<<"$body")
	DS_PASSFILE=$T/ds-$name.pass
	DS_PGPASS=$T/ds-$name.pgpass
	local pw
	pw=$(jq -r '.connection.password // empty' <<<"$body")
	(
		umask 077
		printf '%s' "$pw" >"$DS_PASSFILE"
		printf '*:*:*:cairn_admin:%s\n' "$pw" >"$DS_PGPASS"
	)
	pw=""
	jq 'del(.connection.password)' <<<"$body" >"$T/ds-$name.json"
	jq -r '.connection.ca_pem // empty' <<<"$body" >"$T/ds-$name-ca.pem"
	[ -s "$T/ds-$name-ca.pem" ] || cp "$CA" "$T/ds-$name-ca.pem"
	DS_CA=$T/ds-$name-ca.pem
	h_log "datastore $name is $DS_ID, create operation $OP_ID"
}

h_ds_get() { api GET "/v1/datastores/$1"; }
h_op_get() { api GET "/v1/operations/$1"; }
h_op_state() { h_op_get "$1" | jq -r .state; }

h_op_final() {
	case $(h_op_state "$1") in succeeded | failed) return 0 ;; *) return 1 ;; esac
}

# h_op_print OP_ID: the operation's state, message and each step.
h_op_print() {
	h_op_get "$1" | jq -r '"# operation \(.id) \(.kind) \(.state): \(.message // "")",
		(.steps[]? | "#   [\(.index)] \(.name) \(.kind) node=\(.node_id // .member // "-") \(.state) \(.started_at // "")…\(.finished_at // "") \(.message // "")")'
}

# h_wait_op OP_ID SECONDS: waits until the operation is final.  Returns 0
# when it succeeded; otherwise prints its steps and messages, returns 1.
h_wait_op() {
	h_wait_for "$2" h_op_final "$1"
	h_ds_track
	local st
	st=$(h_op_state "$1")
	[ "$st" = succeeded ] && return 0
	echo "# operation $1 is '$st' after $2 s:"
	h_op_print "$1"
	return 1
}

# h_wait_op_state OP_ID STATE SECONDS: waits for a final state, prints it.
h_wait_op_final() {
	h_wait_for "$2" h_op_final "$1"
	h_op_state "$1"
}

# h_member FIELD ORDINAL [DS]: a member's field (address, node_id, name, role).
h_member() {
	h_ds_get "${3:-$DS_ID}" | jq -r --argjson o "$2" --arg f "$1" \
		'.members[] | select(.ordinal == $o) | .[$f]'
}

# h_members FIELD [ROLE]: the field of every member not removed, one a line.
h_members() {
	h_ds_get "$DS_ID" | jq -r --arg f "$1" --arg r "${2:-}" \
		'.members[] | select(.state != "removed") | select($r == "" or .role == $r) | .[$f]'
}

h_primary_addr() { h_members address primary | head -n1; }

# h_psql ADDR SQL: runs SQL as cairn_admin over TLS verify-full against the
# datastore's CA; the password comes from the 0600 pgpass file.
h_psql() {
	PGPASSFILE=$DS_PGPASS PGCONNECT_TIMEOUT=5 "$PG_BIN/psql" -X -A -t -q \
		-v ON_ERROR_STOP=1 \
		"host=$1 port=5432 dbname=postgres user=cairn_admin sslmode=verify-full sslrootcert=$DS_CA" \
		-c "$2"
}

# h_psql_super MEMBER_NAME SQL: runs SQL as the superuser postgres over the
# member's Unix socket (peer authentication), for what cairn_admin may not
# do (pg_switch_wal).  Local provisioner only.
h_psql_super() {
	runuser -u postgres -- "$PG_BIN/psql" -X -A -t -q -v ON_ERROR_STOP=1 \
		-h "$H_LOCAL_DIR/$1/db/$DS_ID/run" -p 5432 -d postgres -c "$2"
}

# h_psql_plain ADDR: tries a non-TLS connection (must be refused).
h_psql_plain() {
	PGPASSFILE=$DS_PGPASS PGCONNECT_TIMEOUT=5 "$PG_BIN/psql" -X -A -t -q \
		"host=$1 port=5432 dbname=postgres user=cairn_admin sslmode=disable" -c 'select 1'
}

# h_no_secret_in_logs: no file under $T other than the password files holds
# the datastore password (grep reads the pattern from the 0600 file).
h_no_secret_in_logs() {
	local hits
	hits=$(grep -rlF -f "$DS_PASSFILE" "$T" 2>/dev/null |
		grep -v -e "^$DS_PASSFILE\$" -e "^$DS_PGPASS\$" -e '\.pass$' -e '\.pgpass$')
	if [ -n "$hits" ]; then
		echo "# password found in: $hits"
		return 1
	fi
	return 0
}

# h_ts SECONDS_OR_RFC3339: a timestamp as fractional epoch seconds.
h_ts() {
	case $1 in
	'' | null) echo 0 ;;
	*[!0-9.]*) date -d "$1" +%s.%N ;;
	*) echo "$1" ;;
	esac
}

# h_ds_ready_wait [SECONDS]: waits for the create operation, then checks the
# datastore is ready.  Returns 1 after h_fail otherwise.
h_ds_wait_ready() {
	if h_wait_op "$OP_ID" "${1:-150}"; then
		h_eq "datastore $DS_NAME ready" ready "$(h_ds_get "$DS_ID" | jq -r .state)"
	else
		h_fail "create operation of $DS_NAME succeeded"
		return 1
	fi
}

# ---- S3 (issue 4): a real S3 server, @20minutes/s3rver 5.x, on loopback ----
# scripts/install-deps.sh installs it under $S3RVER_PREFIX.  It checks SigV4
# (a wrong secret gets 403) but neither rejects unsigned requests nor checks
# payload hashes.
S3RVER_PREFIX=${S3RVER_PREFIX:-/opt/cairn-test/s3rver}
S3TOOL=$top_builddir/tests/tools/s3-tool
H_S3RVER_PID=""

# h_s3rver_need: SKIPs (exit 77) with the reason when node or the package is
# missing.
h_s3rver_need() {
	command -v node >/dev/null || h_skip "node not installed (scripts/install-deps.sh)"
	[ -d "$S3RVER_PREFIX/node_modules/@20minutes/s3rver" ] ||
		h_skip "@20minutes/s3rver not installed in $S3RVER_PREFIX (scripts/install-deps.sh)"
}

# h_s3rver_start DIR [CERT KEY [ADDR]]: starts s3rver (Node's legacy OpenSSL provider:
# its continuation tokens use DES) on ADDR (default 127.0.0.1) and an ephemeral
# port with its data in DIR and one bucket, cairn-test; with CERT and KEY it
# speaks TLS.  Sets and exports S3_ENDPOINT, S3_BUCKET, AWS_ACCESS_KEY_ID,
# AWS_SECRET_ACCESS_KEY (a fresh random pair) and H_S3RVER_PID, which
# h_cleanup stops.  Returns 1 when it does not get ready in 20 s.
h_s3rver_start() {
	local dir=$1 cert=${2:-} key=${3:-} addr=${4:-127.0.0.1} scheme=http port="" i
	h_s3rver_need
	mkdir -p "$dir"
	export AWS_ACCESS_KEY_ID=AK$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n' | tr a-f A-F)
	export AWS_SECRET_ACCESS_KEY=$(od -An -N20 -tx1 /dev/urandom | tr -d ' \n')
	set -- --port 0 --directory "$dir/data" --bucket cairn-test --address "$addr"
	if [ -n "$cert" ]; then
		set -- "$@" --cert "$cert" --key "$key"
		scheme=https
	fi
	NODE_PATH=$S3RVER_PREFIX/node_modules S3RVER_ACCESS_KEY=$AWS_ACCESS_KEY_ID \
		S3RVER_SECRET_KEY=$AWS_SECRET_ACCESS_KEY \
		node --openssl-legacy-provider "$top_srcdir/tests/tools/s3rver.js" "$@" >"$dir/s3rver.out" 2>"$dir/s3rver.log" &
	H_S3RVER_PID=$!
	H_PIDS+=("$H_S3RVER_PID")
	for i in $(seq 1 100); do
		port=$(sed -n 's/^READY \([0-9]*\)$/\1/p' "$dir/s3rver.out" 2>/dev/null)
		[ -n "$port" ] && break
		h_alive "$H_S3RVER_PID" || break
		sleep 0.2
	done
	if [ -z "$port" ]; then
		h_log "s3rver did not start: $(cat "$dir/s3rver.log" 2>/dev/null)"
		return 1
	fi
	export S3_ENDPOINT=$scheme://$addr:$port
	export S3_BUCKET=cairn-test
	h_log "s3rver pid $H_S3RVER_PID at $S3_ENDPOINT, data in $dir/data"
}

# h_s3rver_stop: stops the s3rver h_s3rver_start started (by its PID).
h_s3rver_stop() {
	[ -n "$H_S3RVER_PID" ] || return 0
	if h_alive "$H_S3RVER_PID"; then kill -TERM "$H_S3RVER_PID" 2>/dev/null; fi
	for _ in $(seq 1 25); do h_alive "$H_S3RVER_PID" || break; sleep 0.2; done
	if h_alive "$H_S3RVER_PID"; then kill -KILL "$H_S3RVER_PID" 2>/dev/null; fi
	H_S3RVER_PID=""
}

# h_s3_begin NAME: a scenario that needs only loopback and s3rver (no
# namespaces, no controller): its own $T, cleanup on exit.
h_s3_begin() {
	H_NAME=$1
	[ -x "$S3TOOL" ] || h_skip "$S3TOOL not built"
	h_s3rver_need
	T=$(mktemp -d "/tmp/cit-$H_NAME.XXXXXX")
	chmod 0700 "$T"
	trap h_cleanup EXIT
	trap 'exit 130' INT TERM
	h_log "scenario $H_NAME in $T"
}
