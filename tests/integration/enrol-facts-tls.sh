#!/bin/bash
# Scenario 1: three agents enrol; facts arrive; tls.issue produces a
# certificate that `openssl verify` accepts against the controller CA; the
# user-data the controller rendered passes Debian's `cloud-init schema`.
. "$(dirname "$0")/lib.sh"
h_begin enrol 41
h_controller_start
h_agents_start 3

for i in 1 2 3; do
	id=${NODE[$i]} addr=$(h_agent_addr "$i")
	# Facts come with the first status report (and a node.facts job).
	job=$(h_submit "$id" '{"type":"node.facts","params":{}}')
	st=$(h_wait_job "$job" 30)
	h_eq "node.facts on node$i succeeded" succeeded "$st"
	out=$(api GET "/v1/jobs/$job")
	h_check "node$i facts list its own address $addr" \
		jq -e --arg a "$addr" '[.output.addresses[].address] | index($a) != null' <<<"$out"
	h_check "node$i facts have cpus and memory" \
		jq -e '.output.cpus >= 1 and .output.memory_bytes > 0 and (.output.kernel|length) > 0' <<<"$out"
	h_wait_for 20 sh -c "curl -s --cacert '$CA' -H @'$AUTH_HDR' '$API_URL/v1/nodes/$id' | jq -e '.facts.hostname != null'"
	h_check "node$i status report stored facts" \
		sh -c "curl -s --cacert '$CA' -H @'$AUTH_HDR' '$API_URL/v1/nodes/$id' | jq -e '.facts.hostname != null and .last_seen_at != null'"
	h_check "node$i join token file removed after enrolment" test ! -e "$T/agent$i/join.token"
	h_eq "node$i private key is 0600" 600 "$(stat -c %a "$T/agent$i/state/node.key")"
done

# tls.issue on node 1 for its name and address.
d=$T/agent1/tls
params=$(jq -cn --arg k "$d/server.key" --arg c "$d/server.crt" --arg a "$(h_agent_addr 1)" \
	'{names:["node1.example",$a],key_path:$k,cert_path:$c}')
job=$(h_submit "${NODE[1]}" "{\"type\":\"tls.issue\",\"params\":$params}")
st=$(h_wait_job "$job" 30)
h_eq "tls.issue succeeded" succeeded "$st"
h_check "openssl verify accepts the issued cert against the CA" \
	openssl verify -CAfile "$CA" "$d/server.crt"
h_check "issued cert carries the requested SANs" \
	sh -c "openssl x509 -in '$d/server.crt' -noout -ext subjectAltName | grep -q 'DNS:node1.example' && openssl x509 -in '$d/server.crt' -noout -ext subjectAltName | grep -q 'IP Address:$(h_agent_addr 1)'"
h_eq "issued key is 0600" 600 "$(stat -c %a "$d/server.key")"
h_eq "key and cert match" \
	"$(openssl pkey -in "$d/server.key" -pubout | sha256sum)" \
	"$(openssl x509 -in "$d/server.crt" -noout -pubkey | sha256sum)"
fp=$(openssl x509 -in "$d/server.crt" -noout -fingerprint -sha256 | cut -d= -f2 | tr -d : | tr 'A-F' 'a-f')
h_eq "job output names the installed cert" "$fp" "$(api GET "/v1/jobs/$job" | jq -r .output.fingerprint_sha256)"

# A path outside the agent's tls_dir is refused by the agent, not run.
bad=$(jq -cn '{names:["x.example"],key_path:"/etc/cairn-evil.key",cert_path:"/etc/cairn-evil.crt"}')
job=$(h_submit "${NODE[2]}" "{\"type\":\"tls.issue\",\"params\":$bad}")
if [ -n "$job" ]; then
	st=$(h_wait_job "$job" 30)
	h_eq "tls.issue outside tls_dir is rejected" rejected "$st"
	h_check "nothing written outside tls_dir" test ! -e /etc/cairn-evil.key
else
	h_eq "tls.issue outside tls_dir refused at submission" 400 "$(api_status)"
fi

# The listing shows all three enrolled.
h_eq "three nodes enrolled" 3 "$(api GET /v1/nodes | jq '[.nodes[] | select(.state=="enrolled")] | length')"
h_check "cairnctl nodes list works" sh -c "'$CLI_BIN' nodes list | grep -q node3"
h_check "cairnctl nodes show prints facts" sh -c "'$CLI_BIN' --output json nodes show '${NODE[2]}' | jq -e '.facts.cpus >= 1'"
h_check "cairnctl jobs submit --watch exits 0 on success" \
	"$CLI_BIN" jobs submit "${NODE[3]}" node.facts --watch
job=$("$CLI_BIN" --output json jobs submit "${NODE[3]}" debug.sleep --params '{"seconds":0}' | jq -r .id)
h_check "cairnctl jobs watch follows a job to the end" "$CLI_BIN" jobs watch "$job" --timeout 30
h_check "cairnctl jobs show lists its attempts" sh -c "'$CLI_BIN' --output json jobs show '$job' | jq -e '.attempts | length == 1'"
h_check "cairnctl jobs list filters by node" sh -c "'$CLI_BIN' --output json jobs list --node '${NODE[3]}' | jq -e '[.jobs[].node_id] | unique == [\"${NODE[3]}\"]'"
bad=$("$CLI_BIN" jobs submit "${NODE[3]}" no.such.type >/dev/null 2>"$T/cli.err"; echo $?)
h_eq "cairnctl reports an API error with exit 1" 1 "$bad"
h_check "the error names the problem" grep -qi 'error' "$T/cli.err"
h_check "cairnctl refuses a token in argv" sh -c "! '$CLI_BIN' --token x nodes list 2>/dev/null"

# No secret reaches a log: admin token, join tokens, private keys.
leaks=0
for f in "$T/controller.log" "$T"/agent*/agent.log; do
	for secret in "$CAIRN_TOKEN" "${JOIN[1]}" "${JOIN[2]}" "${JOIN[3]}"; do
		grep -qF "$secret" "$f" && { echo "# $f holds a token"; leaks=1; }
	done
	grep -q 'PRIVATE KEY' "$f" && { echo "# $f holds a private key"; leaks=1; }
done
h_eq "no token or private key in any log" 0 "$leaks"
h_check "job listing shows no token" sh -c "! curl -s --cacert '$CA' -H @'$AUTH_HDR' '$API_URL/v1/nodes' | grep -q cjt_"
h_eq "controller key files are 0600" "600 600 600" \
	"$(stat -c %a "$T/ctl/state/ca.key" "$T/ctl/state/job-signing.key" "$T/ctl/state/kek.key" | tr '\n' ' ' | sed 's/ $//')"
h_eq "admin token file is 0600" 600 "$(stat -c %a "$T/ctl/state/admin.token")"
h_check "admin token printed once on stdout" sh -c "[ \$(grep -c 'cat_' '$T/controller.out') = 1 ]"

# The rendered user-data is valid cloud-config.
if command -v cloud-init >/dev/null; then
	h_check "user-data passes cloud-init schema" cloud-init schema --config-file "$T/userdata-node1.yaml"
	h_check "user-data starts with #cloud-config" sh -c "head -1 '$T/userdata-node1.yaml' | grep -qx '#cloud-config'"
else
	echo "# SKIP cloud-init schema: cloud-init not installed"
fi
h_end
