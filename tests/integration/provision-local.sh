#!/bin/bash
# Scenario: the local provisioner on its own (docs/datastores.md
# "Provisioners"), without the operations engine.  A real controller makes
# node slots; their user-data (from the nodes API) goes to
# provisioners/cairn-provision-local in create requests.  Checks: the agent
# it starts enrols, its address answers ping from the root namespace,
# addresses are allocated lowest first, create is idempotent and repairs a
# dead agent, the db dir is reachable by postgres, the token never shows in
# answers or argv, destroy removes namespace, veth, directory and processes
# and is idempotent, bad requests get {"ok":false} and a non-zero exit.
. "$(dirname "$0")/lib.sh"
h_begin provlocal 61
PROV=$top_srcdir/provisioners/cairn-provision-local
[ -x "$PROV" ] || h_skip "$PROV is not executable"
h_controller_start

# PostgreSQL must be able to walk down to <dir>/<name>/db.
chmod 0711 "$T"
LD=$T/local
SUBNET=198.18.$H_NET.0/24

# request ACTION NAME NODE_ID [USERDATA_FILE]: writes $T/req.json (0600).
request() {
	if [ "$1" = create ]; then
		jq -n --arg id "$3" --arg n "$2" --rawfile ud "$4" --arg br "$H_BRIDGE" --arg sn "$SUBNET" \
			--arg d "$LD" --arg a "$AGENT_BIN" \
			'{version:1,action:"create",node:{id:$id,name:$n,datastore:"itds",size:{cpus:1}},
			  user_data:$ud,local:{bridge:$br,subnet:$sn,dir:$d,agent:$a}}'
	else
		jq -n --arg id "$3" --arg n "$2" --arg d "$LD" --arg br "$H_BRIDGE" --arg sn "$SUBNET" \
			--arg a "$AGENT_BIN" \
			'{version:1,action:"destroy",node:{id:$id,name:$n},machine_id:("local:"+$n),
			  local:{bridge:$br,subnet:$sn,dir:$d,agent:$a}}'
	fi >"$T/req.json"
}

# provision: runs the provisioner on $T/req.json; answer in $T/ans.json,
# stderr appended to $T/provisioner.log, exit status in $PROV_RC.
provision() {
	PROV_RC=0
	"$PROV" <"$T/req.json" >"$T/ans.json" 2>>"$T/provisioner.log" || PROV_RC=$?
}

gone() { ! h_alive "$1"; }
ping_ok() { ping -c 1 -W 2 "$1" >/dev/null 2>&1; }

declare -A ID UDTOK PID ADDR
for n in a b; do
	name=pl$H_ID-$n
	h_node_create "$name" || h_end
	ID[$n]=$NODE_ID
	UDTOK[$n]=$JOIN_TOKEN
	request create "$name" "$NODE_ID" "$T/userdata-$name.yaml"
	provision
	h_eq "create $n: exit 0" 0 "$PROV_RC"
	h_check "create $n: answer ok with machine_id local:$name" \
		jq -e --arg m "local:$name" '.ok == true and .machine_id == $m' "$T/ans.json" >/dev/null
	ADDR[$n]=$(jq -r .address "$T/ans.json")
	H_NETNS+=("cairn-$name")
	PID[$n]=$(cat "$LD/$name/agent.pid" 2>/dev/null)
	[ -n "${PID[$n]}" ] && H_PIDS+=("${PID[$n]}")
done
h_eq "first node gets .10" "198.18.$H_NET.10" "${ADDR[a]}"
h_eq "second node gets .11" "198.18.$H_NET.11" "${ADDR[b]}"

for n in a b; do
	name=pl$H_ID-$n
	if h_wait_for 30 h_node_state_is "${ID[$n]}" enrolled; then
		h_ok "agent $n started by the provisioner enrolled"
	else
		h_fail "agent $n started by the provisioner enrolled"
	fi
	h_check "agent $n runs in namespace cairn-$name" \
		test "$(ip netns identify "${PID[$n]}")" = "cairn-$name"
	h_check "${ADDR[$n]} answers ping from the root namespace" ping_ok "${ADDR[$n]}"
	h_check "namespace $n has a default route via .1" \
		sh -c "ip -n cairn-$name route show default | grep -q 'via 198.18.$H_NET.1'"
	h_check "agent $n config points at <dir>/<name>/{state,tls,db,etc}" \
		sh -c "grep -qx 'db_dir = $LD/$name/db' '$LD/$name/etc/agent.conf' &&
		       grep -qx 'state_dir = $LD/$name/state' '$LD/$name/etc/agent.conf' &&
		       grep -qx 'tls_dir = $LD/$name/tls' '$LD/$name/etc/agent.conf' &&
		       grep -qx 'token_file = $LD/$name/etc/join.token' '$LD/$name/etc/agent.conf' &&
		       ! grep -q '^state_dir = /var/lib/cairn\$' '$LD/$name/etc/agent.conf'"
	if id postgres >/dev/null 2>&1; then
		h_check "user postgres can reach the db and tls dirs of $n" \
			runuser -u postgres -- sh -c "test -x '$LD/$name/db' && test -x '$LD/$name/tls'"
		h_check "user postgres cannot read the etc dir (join token) of $n" \
			runuser -u postgres -- sh -c "! ls '$LD/$name/etc' >/dev/null 2>&1"
	fi
	h_check "the token is not in the agent's argv" \
		sh -c "! tr '\\0' ' ' </proc/${PID[$n]}/cmdline | grep -qF '${UDTOK[$n]}'"
	h_check "the agent's stdout/stderr go to agent.log" \
		test "$(readlink "/proc/${PID[$n]}/fd/1")" = "$LD/$name/agent.log"
	h_check "the agent is in a session of its own" \
		test "$(awk '{print $6}' "/proc/${PID[$n]}/stat")" = "${PID[$n]}"
done

# Idempotent: the same request answers the same and keeps the agent.
name=pl$H_ID-a
request create "$name" "${ID[a]}" "$T/userdata-$name.yaml"
provision
h_eq "create again: exit 0" 0 "$PROV_RC"
h_eq "create again: same address" "${ADDR[a]}" "$(jq -r .address "$T/ans.json")"
h_eq "create again: same agent" "${PID[a]}" "$(cat "$LD/$name/agent.pid")"

# A dead agent is started again by the next create.
kill -KILL "${PID[a]}"
h_wait_for 5 gone "${PID[a]}"
provision
h_eq "create after the agent died: exit 0" 0 "$PROV_RC"
newpid=$(cat "$LD/$name/agent.pid")
H_PIDS+=("$newpid")
h_check "create after the agent died: a new agent runs" h_alive "$newpid"
h_check "the restarted agent reports (node seen again)" \
	h_wait_for 20 h_node_state_is "${ID[a]}" enrolled

# Same name, other node id: refused.
request create "$name" "00000000-0000-4000-8000-000000000000" "$T/userdata-$name.yaml"
provision
h_check "a name held by another node id is refused" \
	sh -c "[ $PROV_RC -ne 0 ] && jq -e '.ok == false and (.error|test(\"already used\"))' '$T/ans.json' >/dev/null"

# Bad requests.
printf 'not json' >"$T/req.json"
provision
h_check "a request that is not JSON: ok false, non-zero exit" \
	sh -c "[ $PROV_RC -ne 0 ] && jq -e '.ok == false' '$T/ans.json' >/dev/null"
jq -n '{version:1,action:"create",node:{id:"x1",name:"../etc"},user_data:"#cloud-config\n{}"}' >"$T/req.json"
provision
h_check "a node name that is not a DNS label is refused" \
	sh -c "[ $PROV_RC -ne 0 ] && jq -e '.ok == false' '$T/ans.json' >/dev/null"
mkdir -m 0700 "$T/closed"
jq --arg d "$T/closed/local" '.action="create" | .node={id:"x2",name:"closed",datastore:"x",size:{}} |
	.local.dir=$d | .user_data="#cloud-config\n{}" | .local.bridge="'"$H_BRIDGE"'" |
	.local.subnet="'"$SUBNET"'" | .local.agent="'"$AGENT_BIN"'" | .version=1' <<<'{}' >"$T/req.json"
provision
h_check "a local.dir postgres cannot traverse is refused with the reason" \
	sh -c "[ $PROV_RC -ne 0 ] && jq -e '.ok == false and (.error|test(\"traversable\"))' '$T/ans.json' >/dev/null"

# Nothing printed or logged holds a join token.
leak=0
for n in a b; do
	grep -qF "${UDTOK[$n]}" "$T/provisioner.log" "$T/ans.json" && leak=1
	grep -qF "${UDTOK[$n]}" "$LD/pl$H_ID-$n/agent.log" 2>/dev/null && leak=1
done
h_eq "no join token in the provisioner's output or the agent logs" 0 "$leak"

# Destroy: a stray process in the namespace goes too (PostgreSQL would).
name=pl$H_ID-b
ip netns exec "cairn-$name" setsid sleep 600 </dev/null >/dev/null 2>&1 &
sleep 0.5
stray=$(ip netns pids "cairn-$name" | grep -vx "${PID[b]}" | head -n1)
H_PIDS+=("$stray")
request destroy "$name" "${ID[b]}"
provision
h_eq "destroy: exit 0" 0 "$PROV_RC"
h_check "destroy: answer ok" jq -e '.ok == true' "$T/ans.json" >/dev/null
h_check "destroy: agent stopped" gone "${PID[b]}"
h_check "destroy: stray process in the namespace stopped" gone "$stray"
h_check "destroy: namespace removed" test ! -e "/run/netns/cairn-$name"
veth=vc$(printf '%s' "${ID[b]}" | sha256sum | cut -c1-10)
h_check "destroy: host veth removed" sh -c "! ip link show dev $veth >/dev/null 2>&1"
h_check "destroy: directory removed" test ! -e "$LD/$name"
h_check "destroy: the other node is untouched" ping_ok "${ADDR[a]}"
provision
h_eq "destroy again: exit 0 (idempotent)" 0 "$PROV_RC"
h_check "destroy again: answer ok" jq -e '.ok == true' "$T/ans.json" >/dev/null

# The freed address is the next one handed out.
h_node_create "pl$H_ID-c" || h_end
request create "pl$H_ID-c" "$NODE_ID" "$T/userdata-pl$H_ID-c.yaml"
provision
H_NETNS+=("cairn-pl$H_ID-c")
[ -f "$LD/pl$H_ID-c/agent.pid" ] && H_PIDS+=("$(cat "$LD/pl$H_ID-c/agent.pid")")
h_eq "a freed address is reused lowest first" "198.18.$H_NET.11" "$(jq -r .address "$T/ans.json")"

# Destroy the rest through the provisioner (the harness would only kill).
for n in a c; do
	name=pl$H_ID-$n
	id=${ID[$n]:-$NODE_ID}
	request destroy "$name" "$id"
	provision
	h_eq "destroy $n: exit 0" 0 "$PROV_RC"
done
h_check "no namespace of this run is left" sh -c "! ip netns list | grep -q 'cairn-pl$H_ID-'"
h_end
