#!/bin/bash
# backup-journal.sh: jobs with secret params (docs/backups.md "Secret job
# parameters") on a real agent pulling from a real controller:
#   - backup.configure's secrets (S3 secret key, data key) never reach the
#     agent's disk: its journal entry has no JWS, and no file under the
#     agent's state directory holds them;
#   - an agent killed with -9 while such a job runs reports it
#     `interrupted` after its restart (it cannot resume it from disk);
#   - a target that refuses the probe fails the job with a clear message
#     that does not show the secret.
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
[ -x "$JWSTOOL" ] || h_skip "$JWSTOOL not built"
h_begin backup-journal 63
# The controller's API does not queue backup jobs by hand: raw signed jobs.
h_controller_config "[testing]
allow_raw_jobs = true"
h_controller_start
export CAIRN_AGENT_SOCKET=$T/agent1.sock
h_agents_start 1
SIGNING_KEY=$T/ctl/state/job-signing.key
next_seq() { echo $(($(api GET "/v1/nodes/$1" | jq .last_seq) + 1)); }
# submit_configure: a signed backup.configure for $DS; sets JTI and JOB.
submit_configure() {
	local now payload jws
	now=$(date +%s)
	JTI=$(cat /proc/sys/kernel/random/uuid)
	payload=$(jq -cn --arg jti "$JTI" --arg sub "${NODE[1]}" --argjson seq "$(next_seq "${NODE[1]}")" \
		--argjson now "$now" --arg ds "$DS" --argjson params "$PARAMS" \
		'{jti:$jti,sub:$sub,iat:$now,nbf:$now,exp:($now+600),seq:$seq,ds:$ds,epoch:0,type:"backup.configure",params:$params}')
	jws=$(printf '%s' "$payload" | "$JWSTOOL" sign "$SIGNING_KEY" -)
	JOB=$(h_submit "${NODE[1]}" "$(jq -cn --arg j "$jws" '{raw_jws:$j}')")
}

DS=$(cat /proc/sys/kernel/random/uuid)
SECRET=SK$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
KEY=$(head -c 32 /dev/urandom | base64)
# Nothing listens on 127.0.0.1:9 in the agent's namespace: the probe fails
# after the S3 client's retries (a few seconds).
PARAMS=$(jq -cn --arg s "$SECRET" --arg k "$KEY" \
	'{s3:{endpoint:"http://127.0.0.1:9",bucket:"cairn-test",prefix:"p",access_key:"AK",secret_key:$s},data_key:$k}')
submit_configure
job=$JOB
st=$(h_wait_job "$job" 90)
h_eq "unreachable target: job failed" failed "$st"
msg=$(api GET "/v1/jobs/$job" | jq -r '.result.message // .message // ""')
case $msg in *probe*) h_ok "message names the probe ($msg)" ;; *) h_fail "message: $msg" ;; esac
case $msg in *"$SECRET"*) h_fail "secret in the message" ;; *) h_ok "no secret in the message" ;; esac
jf=$T/agent1/state/journal/$JTI.json
if [ -f "$jf" ]; then
	h_eq "journal entry has no JWS" null "$(jq -r .jws "$jf")"
else
	h_fail "journal entry $jf missing"
fi
if grep -rqa -e "$SECRET" -e "$KEY" "$T/agent1/state"; then h_fail "a secret is on the agent's disk"; else h_ok "no secret on the agent's disk"; fi

# Killed while it runs: interrupted, not resumed.
submit_configure
job=$JOB
h_wait_for 20 test "$(h_job_state "$job")" = running
sleep 0.5
h_agent_kill9 1
h_agent_start 1
st=$(h_wait_job "$job" 60)
h_eq "secret job killed with -9 ends interrupted" interrupted "$st"
if grep -rqa -e "$SECRET" -e "$KEY" "$T/agent1/state"; then h_fail "a secret is on the agent's disk"; else h_ok "still no secret on the agent's disk"; fi
h_end
