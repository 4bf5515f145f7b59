#!/bin/bash
# Scenario 5: hammering an endpoint gets 429 with Retry-After, and an agent
# that is told to slow down backs off instead of retrying at full speed.
. "$(dirname "$0")/lib.sh"
h_begin ratelimit 45
h_controller_config "[ratelimit]
api_rate = 5
api_burst = 10
gateway_rate = 1
gateway_burst = 3"
h_controller_start

# Hammer the API with one token.
codes=$T/codes
: >"$codes"
for _ in $(seq 1 60); do
	curl -s -o /dev/null -D "$T/h" -w '%{http_code}\n' --cacert "$CA" \
		-H @"$AUTH_HDR" "$API_URL/v1/nodes" >>"$codes"
	grep -qi '^retry-after: *[1-9]' "$T/h" && touch "$T/saw-retry-after"
done
n429=$(grep -c '^429$' "$codes")
h_check "hammering /v1/nodes gets 429 ($n429 of 60)" test "$n429" -gt 0
h_check "429 carries Retry-After >= 1" test -e "$T/saw-retry-after"
h_check "first requests within the burst succeed" sh -c "head -5 '$codes' | grep -qvx 200 && exit 1 || exit 0"
sleep 3
h_eq "after waiting, requests pass again" 200 "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$CA" \
	-H @"$AUTH_HDR" "$API_URL/v1/nodes")"

# Failed bearer attempts are limited too (keyed by the peer address).
: >"$codes"
for _ in $(seq 1 80); do
	curl -s -o /dev/null -w '%{http_code}\n' --cacert "$CA" -H "Authorization: Bearer cat_guess" \
		"$API_URL/v1/nodes" >>"$codes"
done
h_check "guessing tokens gets 429" grep -qx 429 "$codes"

# Unauthenticated endpoints are limited by the socket's peer address; a
# forged X-Forwarded-For header does not buy a fresh bucket.
sleep 3
: >"$codes"
for k in $(seq 1 60); do
	curl -s -o /dev/null -w '%{http_code}\n' --cacert "$CA" -H "X-Forwarded-For: 10.0.0.$k" \
		"$API_URL/v1/health" >>"$codes"
done
h_check "hammering /v1/health (with varying X-Forwarded-For) gets 429" grep -qx 429 "$codes"

# An agent that polls without waiting (poll_wait_s = 0) runs into the
# gateway's limit (1/s, burst 3) and must obey Retry-After.
sleep 3
h_agents_start 1 "poll_wait_s = 0"
metric() {
	curl -s --cacert "$CA" -H @"$AUTH_HDR" "$API_URL/metrics" |
		awk -v l="$1" '$0 ~ "^cairn_http_requests_total" && $0 ~ "listener=\"gateway\"" && $0 ~ l {s += $NF} END {print s + 0}'
}
before=$(metric '')
sleep 10
after=$(metric '')
n=$((after - before))
limited=$(metric 'code="429"')
h_log "agent made $n gateway requests in 10 s, $limited answered 429 so far"
h_check "agent was rate limited at least once" test "$limited" -gt 0
h_check "agent backed off: $n requests in 10 s (a client ignoring Retry-After makes hundreds)" test "$n" -le 30
h_check "agent log mentions the rate limit" grep -qi 'rate-limited' "$T/agent1/agent.log"
job=$(h_submit "${NODE[1]}" '{"type":"node.facts","params":{}}')
h_eq "jobs still get through under the limit" succeeded "$(h_wait_job "$job" 30)"
h_end
