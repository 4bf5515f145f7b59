#!/bin/bash
# Datastores 6: Debian's Prometheus finds every exporter of a 2-node
# datastore through the controller's HTTP SD (bearer token from the admin
# token file, controller CA) and scrapes them over TLS: node and postgres
# for each member, all up.
. "$(dirname "$0")/lib.sh"
h_need_pg
h_need_exporters
[ -x "$PROMETHEUS_BIN" ] || h_skip "prometheus not installed ($PROMETHEUS_BIN)"
h_begin ds-prom 86
h_controller_config_local
h_controller_start

h_ds_create "$(h_ds_name prom)" 2 || h_end
h_ds_wait_ready 170 || h_end

sd=$(api GET /v1/sd/prometheus)
h_eq "SD answers 200" 200 "$(api_status)"
h_eq "SD lists 4 exporter groups" 4 "$(jq '[.[] | select(.labels.cairn_datastore_id == "'"$DS_ID"'")] | length' <<<"$sd")"
h_eq "SD jobs" "node node postgres postgres" "$(jq -r '[.[].labels.job] | sort | join(" ")' <<<"$sd")"
h_eq "SD scheme https" https "$(jq -r '[.[].labels.__scheme__] | unique | join(",")' <<<"$sd")"
curl -s --cacert "$CA" -o /dev/null -w '%{http_code}' "$API_URL/v1/sd/prometheus" >"$T/.sd-noauth"
h_eq "SD without a token: 401" 401 "$(cat "$T/.sd-noauth")"

PROM_PORT=$((API_PORT + 5))
# `type: Bearer` must be written out: Prometheus 2.42 does not apply the
# default type inside http_sd_configs and sends "Authorization: <token>".
mkdir -p "$T/prom/data"
cat >"$T/prom/prometheus.yml" <<YML
global:
  scrape_interval: 2s
  scrape_timeout: 2s
  evaluation_interval: 30s
scrape_configs:
  - job_name: cairn
    http_sd_configs:
      - url: $API_URL/v1/sd/prometheus
        refresh_interval: 2s
        authorization:
          type: Bearer
          credentials_file: $TOKEN_FILE
        tls_config:
          ca_file: $CA
    tls_config:
      ca_file: $CA
YML
"$PROMETHEUS_BIN" --config.file="$T/prom/prometheus.yml" \
	--storage.tsdb.path="$T/prom/data" \
	--web.listen-address="127.0.0.1:$PROM_PORT" \
	>"$T/prometheus.log" 2>&1 &
H_PIDS+=($!)
prom=http://127.0.0.1:$PROM_PORT
h_check "prometheus is ready" h_wait_for 30 curl -sf "$prom/-/ready"

all_up() {
	curl -s "$prom/api/v1/targets" | jq -e '[.data.activeTargets[] | select(.health == "up")] | length == 4' >/dev/null
}
if h_wait_for 90 all_up; then
	h_ok "prometheus scrapes 4 targets, all up"
else
	h_fail "prometheus scrapes 4 targets, all up"
	curl -s "$prom/api/v1/targets" | jq -c '.data.activeTargets[] | {scrapeUrl, health, lastError}' | sed 's/^/# /'
fi
t=$(curl -s "$prom/api/v1/targets")
for m in $(h_members name); do
	for j in node postgres; do
		h_eq "$m/$j target up" up "$(jq -r --arg m "$m" --arg j "$j" \
			'[.data.activeTargets[] | select(.labels.cairn_node == $m and .labels.job == $j) | .health][0]' <<<"$t")"
	done
done
h_eq "scrapes are https" https "$(jq -r '[.data.activeTargets[].scrapeUrl | sub(":.*"; "")] | unique | join(",")' <<<"$t")"
q=$(curl -s "$prom/api/v1/query" --data-urlencode 'query=pg_up')
h_eq "pg_up is 1 for both members" "1 1" "$(jq -r '[.data.result[].value[1]] | join(" ")' <<<"$q")"
h_end
