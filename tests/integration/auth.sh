#!/bin/bash
# Scenario 3: a reused or an expired join token is refused; a client without
# a certificate, or with one from another CA (even naming a real node), gets
# nothing from the gateway; a revoked node is refused at once.
. "$(dirname "$0")/lib.sh"
h_begin auth 43
h_controller_config "join_token_ttl_s = 6"
h_controller_start
h_agents_start 2

# enrol_with TOKEN: POST /v1/enroll with a fresh CSR; prints the HTTP code.
enrol_with() {
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$T/x.key" -subj /CN=x -out "$T/x.csr" 2>/dev/null
	# The token goes to jq on stdin, never in argv.
	printf '%s' "$1" | jq -Rc --rawfile c "$T/x.csr" '{join_token:.,csr:$c}' >"$T/enrol.json"
	curl -s -o "$T/enrol.out" -w '%{http_code}' --cacert "$CA" \
		-H 'Content-Type: application/json' --data-binary @"$T/enrol.json" "$API_URL/v1/enroll"
}

h_eq "reused join token refused" 401 "$(enrol_with "${JOIN[1]}")"
h_check "refusal says nothing about the slot" sh -c "! grep -q '${NODE[1]}' '$T/enrol.out'"
h_node_create expiring
exp_id=$NODE_ID exp_token=$JOIN_TOKEN
sleep 7
h_eq "expired join token refused" 401 "$(enrol_with "$exp_token")"
h_eq "slot with expired token still pending" pending "$(api GET "/v1/nodes/$exp_id" | jq -r .state)"
h_eq "made-up join token refused" 401 "$(enrol_with "cjt_$(head -c 32 /dev/urandom | base64 -w0 | tr -- '+/' '-_' | tr -d =)")"
# A fresh token for the slot works once.
body=$(api POST "/v1/nodes/$exp_id/join-token" '{}')
h_eq "new join token issued for the slot" 200 "$(api_status)"
h_eq "new join token enrols" 200 "$(enrol_with "$(jq -r .join_token <<<"$body")")"
h_eq "enrolled slot gets no new join token" 409 "$(api POST "/v1/nodes/$exp_id/join-token" '{}' >/dev/null; echo "$(api_status)")"

# Gateway without a client certificate.
code=$(curl -s -o "$T/gw.out" -w '%{http_code}' --cacert "$CA" "$GW_URL/v1/agent/jobs?after=0&wait=0")
h_check "gateway without client cert: no 2xx (got $code)" test "$code" != 200 -a "${code#2}" = "$code"
h_check "gateway without client cert: no jobs in the answer" sh -c "! grep -q '\"jobs\"' '$T/gw.out'"

# Gateway with a certificate from another CA that names a real node.
cat >"$T/rogue.ext" <<EXT
subjectAltName = URI:cairn://node/${NODE[1]}
extendedKeyUsage = clientAuth
EXT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/rca.key" \
	-subj /CN=rogue-ca -days 1 -out "$T/rca.pem" 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/rc.key" \
	-subj /CN=node1 -out "$T/rc.csr" 2>/dev/null
openssl x509 -req -in "$T/rc.csr" -CA "$T/rca.pem" -CAkey "$T/rca.key" -CAcreateserial \
	-days 1 -extfile "$T/rogue.ext" -out "$T/rc.pem" 2>/dev/null
code=$(curl -s -o "$T/gw.out" -w '%{http_code}' --cacert "$CA" --cert "$T/rc.pem" --key "$T/rc.key" \
	"$GW_URL/v1/agent/jobs?after=0&wait=0")
h_check "gateway with another CA's cert: no 2xx (got $code)" test "$code" != 200 -a "${code#2}" = "$code"
h_check "gateway with another CA's cert: no jobs in the answer" sh -c "! grep -q '\"jobs\"' '$T/gw.out'"

# The real node cert works on the gateway, and is no API credential.
s=$T/agent1/state
code=$(curl -s -o "$T/gw.out" -w '%{http_code}' --cacert "$CA" --cert "$s/node.crt" --key "$s/node.key" \
	"$GW_URL/v1/agent/jobs?after=0&wait=0")
h_eq "gateway with the node's own cert answers" 200 "$code"
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$CA" --cert "$s/node.crt" --key "$s/node.key" "$API_URL/v1/nodes")
h_eq "node cert is no API credential" 401 "$code"
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$CA" -H "Authorization: Bearer cat_wrong" "$API_URL/v1/nodes")
h_eq "wrong bearer token refused" 401 "$code"

# Revocation takes effect at once.
api POST "/v1/nodes/${NODE[2]}/revoke" '{}' >/dev/null
h_eq "revoke answered" 200 "$(api_status)"
s=$T/agent2/state
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$CA" --cert "$s/node.crt" --key "$s/node.key" \
	"$GW_URL/v1/agent/jobs?after=0&wait=0")
h_eq "revoked node refused by the gateway" 403 "$code"
job=$(h_submit "${NODE[2]}" '{"type":"node.facts","params":{}}' 2>/dev/null)
h_eq "no job can be queued for a revoked node" "409 " "$(api_status) $job"
sleep 2
h_check "revoked node's agent keeps running (refuses, retries)" h_alive "${AGENT_PID[2]}"
h_end
