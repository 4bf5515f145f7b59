#!/bin/bash
# Scenario 4: kill -9 the agent in the middle of a job and restart it; kill -9
# the controller with jobs in flight and restart it.  Every job ends in a
# final state and none ran twice: debug.sleep appends its jti to a file before
# it sleeps, and the test counts the lines.
. "$(dirname "$0")/lib.sh"
h_begin crash 44
h_controller_start
h_agents_start 3

# --- Agent killed while a non-idempotent job runs: reported interrupted.
job=$(h_submit "${NODE[1]}" '{"type":"debug.sleep","params":{"seconds":30}}')
h_wait_for 20 test "$(h_exec_count 1 "$job")" = 1
h_eq "debug.sleep started once" 1 "$(h_exec_count 1 "$job")"
h_agent_kill9 1
h_agent_start 1
st=$(h_wait_job "$job" 40)
h_eq "job interrupted by kill -9 ends interrupted" interrupted "$st"
h_eq "interrupted job was not run again" 1 "$(h_exec_count 1 "$job")"

# --- Agent killed while an idempotent job runs: finished after restart.
d=$T/agent1/tls
params=$(jq -cn --arg k "$d/a.key" --arg c "$d/a.crt" '{names:["a.example"],key_path:$k,cert_path:$c}')
job=$(h_submit "${NODE[1]}" "{\"type\":\"tls.issue\",\"params\":$params}")
sleep 0.3
h_agent_kill9 1
h_agent_start 1
st=$(h_wait_job "$job" 60)
h_eq "idempotent job ends succeeded after kill -9" succeeded "$st"
h_check "its cert verifies" openssl verify -CAfile "$CA" "$d/a.crt"

# --- Kill the agent at random points of a stream of short jobs.
jobs=()
for k in $(seq 1 12); do
	jobs+=("$(h_submit "${NODE[2]}" '{"type":"debug.sleep","params":{"seconds":0}}')")
done
for round in 1 2 3 4; do
	sleep "0.$((RANDOM % 6 + 1))"
	h_agent_kill9 2
	h_agent_start 2
done
bad=0
for j in "${jobs[@]}"; do
	st=$(h_wait_job "$j" 60)
	n=$(h_exec_count 2 "$j")
	case $st in
	succeeded) [ "$n" = 1 ] || { bad=1; echo "# $j succeeded but ran $n times"; } ;;
	interrupted) [ "$n" -le 1 ] || { bad=1; echo "# $j interrupted but ran $n times"; } ;;
	*) bad=1; echo "# $j ended $st" ;;
	esac
done
h_eq "12 jobs across 4 agent kills: all final, none ran twice" 0 "$bad"

# --- Controller killed with jobs in flight, then restarted.
jobs=()
for k in $(seq 1 5); do
	for i in 1 2 3; do
		jobs+=("$i:$(h_submit "${NODE[$i]}" '{"type":"debug.sleep","params":{"seconds":1}}')")
		jobs+=("$i:$(h_submit "${NODE[$i]}" '{"type":"node.facts","params":{}}')")
	done
done
sleep 1.5
h_controller_kill9
h_log "controller killed with ${#jobs[@]} jobs submitted"
sleep 2
h_controller_start
bad=0
for e in "${jobs[@]}"; do
	i=${e%%:*} j=${e#*:}
	st=$(h_wait_job "$j" 90)
	[ "$st" = succeeded ] || { bad=1; echo "# job $j on node$i ended '$st'"; }
	n=$(h_exec_count "$i" "$j")
	[ "$n" -le 1 ] || { bad=1; echo "# job $j ran $n times"; }
done
h_eq "30 jobs across a controller kill -9: all succeeded" 0 "$bad"
dups=$(cat "$T"/agent*/state/debug-executions.log | sort | uniq -d | wc -l)
h_eq "no debug job executed twice anywhere" 0 "$dups"
h_end
