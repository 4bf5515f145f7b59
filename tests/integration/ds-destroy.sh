#!/bin/bash
# Datastores 7: destroy stops PostgreSQL and the exporters, removes data and
# TLS directories and the namespaces, revokes the nodes; the name can then
# be used again.
. "$(dirname "$0")/lib.sh"
h_need_pg
h_begin ds-destroy 87
h_controller_config_local
h_controller_start

h_ds_create "$(h_ds_name gone)" 2 || h_end
h_ds_wait_ready 170 || h_end
first=$DS_ID
names=$(h_members name)
nodes=$(h_members node_id)
pids=""
for n in $names; do
	pids="$pids $(ip netns pids "cairn-$n" 2>/dev/null | tr '\n' ' ')"
done
pg_pids=$(for p in $pids; do [ "$(cat "/proc/$p/comm" 2>/dev/null)" = postgres ] && echo "$p"; done | tr '\n' ' ')
h_check "postgres runs in the namespaces (pids $pg_pids)" test -n "$pg_pids"
for p in $pg_pids; do
	u=$(stat -c %U "/proc/$p")
	[ "$u" = postgres ] || { h_fail "postgres pid $p runs as $u"; break; }
done

body=$(api DELETE "/v1/datastores/$DS_ID")
h_eq "destroy answers 202" 202 "$(api_status)"
op=$(jq -r .operation.id <<<"$body")
h_eq "destroy is a destroy operation" destroy "$(jq -r .operation.kind <<<"$body")"
h_check "destroy operation succeeded" h_wait_op "$op" 120
h_eq "datastore state deleted" deleted "$(h_ds_get "$first" | jq -r .state)"
left=""
for p in $pids; do h_alive "$p" && left="$left $p($(cat "/proc/$p/comm" 2>/dev/null))"; done
h_eq "no process of the nodes is left" "" "$left"
for n in $names; do
	if h_netns_exists "cairn-$n"; then h_fail "namespace cairn-$n gone"; else h_ok "namespace cairn-$n gone"; fi
	h_check "directory of $n (data, TLS, state) gone" test ! -e "$H_LOCAL_DIR/$n"
done
for id in $nodes; do
	h_eq "node $id revoked" revoked "$(api GET "/v1/nodes/$id" | jq -r .state)"
done
h_eq "GET /v1/datastores lists no live datastore" 0 \
	"$(api GET /v1/datastores | jq '[.datastores[] | select(.state != "deleted")] | length')"
h_check "no password in any file under \$T" h_no_secret_in_logs

# The name is free again.
h_ds_create "$DS_NAME" 1 || h_end
h_check "new datastore has a new id" test "$DS_ID" != "$first"
h_ds_wait_ready 120 || h_end
h_check "the new one answers over TLS" h_psql "$(h_primary_addr)" 'select 1'
h_end
