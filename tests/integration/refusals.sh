#!/bin/bash
# Scenario 2: forged jobs.  A tampered job, a replayed job (old seq), an
# expired job, a job for another node and a job signed by an unknown key are
# each refused by the agent and reported `rejected` with the reason; none is
# executed (debug.sleep records every execution, and none appears).  A valid
# job delivered twice runs once.
. "$(dirname "$0")/lib.sh"
[ -x "$JWSTOOL" ] || h_skip "$JWSTOOL not built"
h_begin refusals 42
h_controller_config "[testing]
allow_raw_jobs = true"
h_controller_start
h_agents_start 2
SIGNING_KEY=$T/ctl/state/job-signing.key

# next_seq NODE: the seq the controller will give the next job for NODE.
next_seq() { echo $(($(api GET "/v1/nodes/$1" | jq .last_seq) + 1)); }

# craft SUB SEQ IAT NBF EXP [KEY]: a signed debug.sleep job; prints "jti jws".
craft() {
	local jti payload
	jti=$(cat /proc/sys/kernel/random/uuid)
	payload=$(jq -cn --arg jti "$jti" --arg sub "$1" --argjson seq "$2" \
		--argjson iat "$3" --argjson nbf "$4" --argjson exp "$5" \
		'{jti:$jti,sub:$sub,iat:$iat,nbf:$nbf,exp:$exp,seq:$seq,ds:null,epoch:0,type:"debug.sleep",params:{seconds:0}}')
	echo "$jti $(printf '%s' "$payload" | "$JWSTOOL" sign "${6:-$SIGNING_KEY}" -)"
}

# inject NODE JWS: queues the raw JWS; prints the job id.
inject() { h_submit "$1" "$(jq -cn --arg j "$2" '{raw_jws:$j}')"; }

# expect_rejected WHAT NODE JTI JOBID PATTERN
expect_rejected() {
	local st msg
	st=$(h_wait_job "$4" 30)
	h_eq "$1: reported rejected" rejected "$st"
	msg=$(api GET "/v1/jobs/$4" | jq -r '.message // ""')
	if grep -qiE "$5" <<<"$msg"; then h_ok "$1: reason given ($msg)"; else h_fail "$1: reason '$msg' does not match /$5/"; fi
	h_eq "$1: not executed" 0 "$(h_exec_count "$2" "$3")"
}

n1=${NODE[1]}
now=$(date +%s)

# A valid crafted job runs once, even when delivered twice.
read -r jti jws <<<"$(craft "$n1" "$(next_seq "$n1")" "$now" "$now" $((now + 600)))"
job=$(inject "$n1" "$jws")
h_eq "valid crafted job succeeds" succeeded "$(h_wait_job "$job" 30)"
h_eq "valid crafted job executed once" 1 "$(h_exec_count 1 "$jti")"
# The controller never queues a jti twice (the agent's journal would also
# answer a re-delivered jti with its stored result; unit tests cover that).
job2=$(inject "$n1" "$jws" 2>/dev/null)
h_eq "same JWS queued again is refused by the controller" 409 "$(api_status)"
h_check "no second job was created" test -z "$job2"
sleep 1
h_eq "same job: still executed once" 1 "$(h_exec_count 1 "$jti")"

# Tampered: the payload changed after signing (seconds 0 -> 1, so it stays
# readable JSON and the agent can report under its jti), and separately one
# byte of the signature flipped.
b64url_dec() { local s=$1; while [ $((${#s} % 4)) -ne 0 ]; do s="$s="; done; tr -- '-_' '+/' <<<"$s" | base64 -d; }
b64url_enc() { base64 -w0 | tr -- '+/' '-_' | tr -d '='; }
read -r jti jws <<<"$(craft "$n1" "$(next_seq "$n1")" "$now" "$now" $((now + 600)))"
hdr=${jws%%.*} rest=${jws#*.} pl=${rest%%.*} sig=${rest#*.}
pl2=$(b64url_dec "$pl" | jq -cS '.params.seconds = 1' | tr -d '\n' | b64url_enc)
job=$(inject "$n1" "$hdr.$pl2.$sig")
expect_rejected "tampered payload" 1 "$jti" "$job" "signature"
read -r jti jws <<<"$(craft "$n1" "$(next_seq "$n1")" "$now" "$now" $((now + 600)))"
hdr=${jws%%.*} rest=${jws#*.} pl=${rest%%.*} sig=${rest#*.}
c=${sig:5:1}; if [ "$c" = A ]; then r=B; else r=A; fi
job=$(inject "$n1" "$hdr.$pl.${sig:0:5}$r${sig:6}")
expect_rejected "one signature byte flipped" 1 "$jti" "$job" "signature"

# Replayed: a new jti but a seq at or below what the agent accepted.
read -r jti jws <<<"$(craft "$n1" 1 "$now" "$now" $((now + 600)))"
job=$(inject "$n1" "$jws")
expect_rejected "old seq" 1 "$jti" "$job" "seq"

# Expired.
read -r jti jws <<<"$(craft "$n1" "$(next_seq "$n1")" $((now - 7200)) $((now - 7200)) $((now - 3600)))"
job=$(inject "$n1" "$jws")
expect_rejected "expired" 1 "$jti" "$job" "expir|exp"

# For another node: signed for node 2, delivered to node 1.
read -r jti jws <<<"$(craft "${NODE[2]}" "$(next_seq "$n1")" "$now" "$now" $((now + 600)))"
job=$(inject "$n1" "$jws")
expect_rejected "job for another node" 1 "$jti" "$job" "sub|node"
h_eq "job for another node: not executed on node 2 either" 0 "$(h_exec_count 2 "$jti")"

# Signed by a key the agent does not trust.
"$JWSTOOL" keygen "$T/rogue.key" "$T/rogue.pub" >/dev/null
read -r jti jws <<<"$(craft "$n1" "$(next_seq "$n1")" "$now" "$now" $((now + 600)) "$T/rogue.key")"
job=$(inject "$n1" "$jws")
expect_rejected "unknown signing key" 1 "$jti" "$job" "key|kid"

# The agent still works after all that: a real job runs.
job=$(h_submit "$n1" '{"type":"debug.sleep","params":{"seconds":0}}')
h_eq "agent still runs genuine jobs" succeeded "$(h_wait_job "$job" 30)"
h_eq "genuine job executed once" 1 "$(h_exec_count 1 "$job")"
h_check "agent process survived" h_alive "${AGENT_PID[1]}"
h_end
