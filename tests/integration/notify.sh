#!/bin/bash
# The agent under a service manager: sd_notify READY=1 once it has enrolled
# and reached the controller, WATCHDOG=1 at half the watchdog interval (also
# while a job runs), STOPPING=1 on SIGTERM, then a clean exit.  A small
# datagram listener plays systemd's part ($NOTIFY_SOCKET, $WATCHDOG_USEC).
# Every other scenario runs the agent without a service manager.
. "$(dirname "$0")/lib.sh"
[ -x /usr/bin/python3 ] || h_skip "/usr/bin/python3 not installed"
h_begin notify 46
h_controller_start
h_netns_add 1
h_node_create node1
NODE[1]=$NODE_ID
h_agent_config 1
(umask 077 && printf '%s\n' "$JOIN_TOKEN" >"$T/agent1/join.token")

sock=$T/notify.sock msgs=$T/notify.msgs
/usr/bin/python3 - "$sock" "$msgs" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a") as out:
    while True:
        data = s.recv(4096).decode(errors="replace")
        for line in data.splitlines():
            out.write("%.3f %s\n" % (time.monotonic(), line))
        out.flush()
PY
H_PIDS+=($!)
h_wait_for 5 test -S "$sock"

d=$T/agent1
NOTIFY_SOCKET=$sock WATCHDOG_USEC=2000000 ip netns exec "$(h_agent_ns 1)" \
	"$AGENT_BIN" --config "$d/agent.conf" >>"$d/agent.log" 2>&1 &
AGENT_PID[1]=$!
H_PIDS+=("${AGENT_PID[1]}")

h_check "READY=1 sent" h_wait_for 30 grep -q ' READY=1$' "$msgs"
h_check "READY=1 only after enrolment" h_node_state_is "${NODE[1]}" enrolled
sleep 3  # idle in a long poll first
job=$(h_submit "${NODE[1]}" '{"type":"debug.sleep","params":{"seconds":4}}')
start=$(awk '{print $1}' /proc/uptime)
h_eq "a 4 s job runs" succeeded "$(h_wait_job "$job" 30)"
n=$(grep -c ' WATCHDOG=1$' "$msgs")
h_check "WATCHDOG=1 kept coming ($n pings, 2 s watchdog)" test "$n" -ge 6
# The largest gap between two pings must stay under the 2 s interval,
# including an idle long poll and the 4 s the job ran.
gap=$(awk '/ WATCHDOG=1$/ {if (p) {g = $1 - p; if (g > m) m = g} p = $1} END {printf "%.2f", m}' "$msgs")
h_check "no watchdog gap reached 2 s (largest ${gap} s)" awk -v g="$gap" 'BEGIN {exit !(g < 2.0)}'
kill -TERM "${AGENT_PID[1]}"
h_check "agent exits after SIGTERM" h_wait_for 15 sh -c "! awk '{print \$3}' /proc/${AGENT_PID[1]}/stat 2>/dev/null | grep -qv Z"
h_check "STOPPING=1 sent" grep -q ' STOPPING=1$' "$msgs"
wait "${AGENT_PID[1]}"
h_eq "exit status after SIGTERM" 0 "$?"
h_check "no secret in notify messages" sh -c "! grep -qE 'cjt_|cat_|PRIVATE' '$msgs'"
h_end
