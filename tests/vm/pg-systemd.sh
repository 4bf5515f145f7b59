#!/bin/bash
# VM 1: PostgreSQL under real systemd.  The controller makes a 1-node
# datastore on a qemu VM (tests/vm/cairn-provision-qemu, an `exec`
# provisioner) booted from the tests/vm image with the user-data the
# controller rendered.  Inside, systemd is PID 1, so the agent runs
# PostgreSQL and the exporters through units it writes and drives over
# sd-bus (node-agent/service.c's systemd backend); a setting that needs a
# restart then goes through pg.service restart, which must restart the
# unit.  Checked from the host: the node says its services run under
# systemd, psql with verify-full reaches the VM through a forwarded port,
# the postmaster's start time moves with the restart and the new setting
# is live, systemd's own log (forwarded to the VM's console) shows the
# unit started twice, and destroy removes the VM.
#
# Needs: root, qemu-system-x86_64, socat, genisoimage, and the image
# (CAIRN_VM_IMAGE, made by tests/vm/build-image.sh; tests/vm/run.sh does
# it all).  Without them: SKIP with the reason.
. "$(dirname "$0")/../integration/lib.sh"
for b in qemu-system-x86_64 qemu-img socat genisoimage; do
	command -v "$b" >/dev/null || h_skip "$b not installed"
done
[ -n "${CAIRN_VM_IMAGE:-}" ] && [ -f "$CAIRN_VM_IMAGE/root.raw" ] ||
	h_skip "no VM image (CAIRN_VM_IMAGE): run tests/vm/run.sh"
h_begin vm-pg 90
VM_IP=10.0.2.100 # the guest's name for the host's forwarded ports

# On exit: VMs still running are stopped (their pid files name them), and
# their console logs join $T/*.log, which the harness prints on failure.
h_extra_cleanup() {
	local f pid
	for f in "$T"/vms/*/qemu.pid; do
		[ -f "$f" ] || continue
		pid=$(cat "$f")
		if h_alive "$pid" && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$T/vms/"; then
			kill -KILL "$pid"
		fi
	done
	for f in "$T"/vms/*/console.log "$T"/vms/*.console.log; do
		[ -f "$f" ] && tail -n 150 "$f" >"$T/vm-$(basename "$(dirname "$f")")-$(basename "$f")"
	done
}

# The exec provisioner: a wrapper gives it its settings (the controller
# runs provisioners with a PATH-only environment).
mkdir -p "$T/vms"
cat >"$T/provision-qemu" <<WRAP
#!/bin/sh
export CAIRN_VM_IMAGE='$CAIRN_VM_IMAGE' CAIRN_VM_DIR='$T/vms'
export CAIRN_VM_FORWARDS='$VM_IP:$API_PORT=$CTL_ADDR:$API_PORT $VM_IP:$GW_PORT=$CTL_ADDR:$GW_PORT'
exec '$top_srcdir/tests/vm/cairn-provision-qemu'
WRAP
chmod 0755 "$T/provision-qemu"

H_PUBLIC_API_URL=https://$VM_IP:$API_PORT
H_PUBLIC_GW_URL=https://$VM_IP:$GW_PORT
H_EXTRA_NAMES=$VM_IP
h_controller_config "
[userdata]
# The image has the agent (tests/vm/build-image.sh): no package to install.
agent_package =

[provisioner]
kind = exec
program = $T/provision-qemu
timeout_s = 120"
h_controller_start

t0=$SECONDS
h_ds_create "$(h_ds_name vm)" 1 '{"max_connections":"100"}' || h_end
h_ds_wait_ready 900 || h_end
h_log "create to ready: $((SECONDS - t0)) s (boot under TCG included)"
node=$(h_member node_id 0)
name=$(h_member name 0)
addr=$(h_member address 0)
vmdir=$T/vms/$name
pgport=$(sed -n 's/^pg=//p' "$vmdir/ports")
h_eq "the node runs its services under systemd" systemd \
	"$(api GET "/v1/nodes/$node" | jq -r '.facts.service_manager')"

# psql from the host: the VM's address is the name in its certificate,
# the forwarded port on loopback is where the packets go.
vm_psql() {
	PGPASSFILE=$DS_PGPASS PGCONNECT_TIMEOUT=10 "$PG_BIN/psql" -X -A -t -q -v ON_ERROR_STOP=1 \
		"host=$addr hostaddr=127.0.0.1 port=$pgport dbname=postgres user=cairn_admin sslmode=verify-full sslrootcert=$DS_CA" \
		-c "$1"
}
h_check "psql verify-full reaches the VM's PostgreSQL" h_wait_for 30 vm_psql 'select 1'
vm_psql 'create table vm_marker (v text); insert into vm_marker values ($$kept$$)' >/dev/null
start1=$(vm_psql 'select extract(epoch from pg_postmaster_start_time())')
h_eq "max_connections as created" 100 "$(vm_psql 'show max_connections')"

# A restart parameter: the operation restarts the unit over sd-bus.
body=$(api PATCH "/v1/datastores/$DS_ID/settings" '{"settings":{"max_connections":"120"}}')
h_eq "settings change accepted" 202 "$(api_status)"
op=$(jq -r .operation.id <<<"$body")
h_check "settings operation succeeded" h_wait_op "$op" 300
h_check "it ran a pg.service restart" bash -c \
	"curl -s --cacert '$CA' -H @'$AUTH_HDR' '$API_URL/v1/operations/$op' |
	 jq -e '[.steps[] | select(.name | test(\"pg.service\"))] | length >= 1' >/dev/null"
h_eq "max_connections after the restart" 120 "$(vm_psql 'show max_connections')"
start2=$(vm_psql 'select extract(epoch from pg_postmaster_start_time())')
h_check "the postmaster restarted ($start1 -> $start2)" \
	awk -v a="$start1" -v b="$start2" 'BEGIN { exit !(b > a) }'
h_eq "the marker row survived" kept "$(vm_psql 'select v from vm_marker')"

# systemd's own account (the journal is forwarded to the console).
unit=cairn-pg-$DS_ID.service
h_check "systemd started $unit twice (create, restart)" \
	test "$(grep -c "Started $unit" "$vmdir/console.log")" -ge 2
h_check "systemd stopped it once for the restart" grep -q "Stopped $unit" "$vmdir/console.log"
h_check "the distribution's node exporter unit was disabled" \
	grep -q "prometheus-node-exporter.service: the agent runs its own instance\|disabled and stopped prometheus-node-exporter.service" "$vmdir/console.log"
h_check "no password or token on the VM console" h_no_secret_in_logs

qpid=$(cat "$vmdir/qemu.pid")
body=$(api DELETE "/v1/datastores/$DS_ID")
h_eq "destroy accepted" 202 "$(api_status)"
h_check "destroy operation succeeded" h_wait_op "$(jq -r .operation.id <<<"$body")" 300
h_eq "datastore state deleted" deleted "$(h_ds_get "$DS_ID" | jq -r .state)"
h_check "the VM is gone" h_wait_for 30 bash -c "! [ -d '$vmdir' ] && ! grep -qs . /proc/$qpid/cmdline"
h_end
