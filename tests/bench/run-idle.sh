#!/bin/bash
# tests/bench/run-idle.sh: what an idle node agent costs, side by side with
# a Patroni member.  Not a pass/fail test.
#
# Cairn half: the integration harness (tests/integration/lib.sh) starts a
# controller and one cairn-agent in a network namespace; once it enrolled
# it sits idle (long poll, status reports).  With BENCH_IDLE_DS=1 it also
# creates a 1-node PostgreSQL datastore on the local provisioner and
# measures that node's agent (supervising PostgreSQL and two exporters,
# reporting pg status).
# Patroni half: a single-node etcd (127.0.0.1, data in a temp dir) and one
# Patroni member (Debian's patroni, PostgreSQL 15 from
# /usr/lib/postgresql/15/bin, data in a temp dir, run as user postgres),
# measured once it leads.
#
# Both are sampled at the same time over BENCH_IDLE_S seconds (default 60)
# from /proc: RSS (VmRSS, every second: mean and max), PSS (smaps_rollup:
# shared library pages divided among their users) and CPU (utime+stime
# of the process and all its threads, not its children, over the window).
# Only the supervising process is measured on both sides: the agent, and
# the Patroni python process; PostgreSQL itself is the same on both.
#
# Usage (from the build directory, as root):  tests/bench/run-idle.sh
# Environment: BENCH_IDLE_S (60), BENCH_IDLE_SETTLE_S (10), BENCH_IDLE_DS (0),
#   BENCH_ETCD_PORT (23790, peer port +1), BENCH_PATRONI_PORT (28008),
#   BENCH_PG_PORT (25432), CAIRN_KEEP=1
#
# shellcheck shell=bash

: "${top_builddir:=$PWD}"
: "${top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
export top_builddir top_srcdir
IDLE_S=${BENCH_IDLE_S:-60}
SETTLE_S=${BENCH_IDLE_SETTLE_S:-10}
ETCD_PORT=${BENCH_ETCD_PORT:-23790}
PATRONI_PORT=${BENCH_PATRONI_PORT:-28008}
PG_PORT=${BENCH_PG_PORT:-25432}
PG_BIN=/usr/lib/postgresql/15/bin

for b in /usr/bin/patroni /usr/bin/etcd "$PG_BIN/postgres" "$PG_BIN/initdb"; do
	[ -x "$b" ] || { echo "SKIP: $b not installed"; exit 77; }
done
# shellcheck source=../integration/lib.sh
. "$top_srcdir/tests/integration/lib.sh"
if nm -D "$AGENT_BIN" 2>/dev/null | grep -q __asan_init; then
	echo "# WARNING: $AGENT_BIN is built with ASan: its RSS and CPU are inflated (use a build without --enable-sanitizers)"
fi

h_begin bench-idle 90
P=$T/patroni
mkdir -p "$P/run"
chmod 0711 "$T"

# --- Patroni half: etcd, then one member as user postgres.
/usr/bin/etcd --name bench --data-dir "$P/etcd" \
	--listen-client-urls "http://127.0.0.1:$ETCD_PORT" \
	--advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
	--listen-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
	--initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
	--initial-cluster "bench=http://127.0.0.1:$((ETCD_PORT + 1))" \
	>"$T/etcd.log" 2>&1 &
ETCD_PID=$!
H_PIDS+=("$ETCD_PID")
h_wait_for 30 curl -sf "http://127.0.0.1:$ETCD_PORT/health" || { echo "etcd did not start"; exit 1; }

su_pw=$(openssl rand -hex 16)
repl_pw=$(openssl rand -hex 16)
(umask 077 && cat >"$P/patroni.yml" <<YML
scope: cairn-bench
name: member0
restapi:
  listen: 127.0.0.1:$PATRONI_PORT
  connect_address: 127.0.0.1:$PATRONI_PORT
etcd3:
  hosts: 127.0.0.1:$ETCD_PORT
bootstrap:
  dcs:
    ttl: 30
    loop_wait: 10
    retry_timeout: 10
  initdb:
    - encoding: UTF8
  pg_hba:
    - local all all trust
    - host replication replicator 127.0.0.1/32 scram-sha-256
    - host all all 127.0.0.1/32 scram-sha-256
postgresql:
  listen: 127.0.0.1:$PG_PORT
  connect_address: 127.0.0.1:$PG_PORT
  data_dir: $P/data
  bin_dir: $PG_BIN
  pgpass: $P/pgpass
  authentication:
    superuser:
      username: postgres
      password: $su_pw
    replication:
      username: replicator
      password: $repl_pw
  parameters:
    unix_socket_directories: $P/run
YML
)
su_pw="" repl_pw=""
chown -R postgres:postgres "$P"
chmod 0700 "$P"
chmod 0711 "$P/.."
setpriv --reuid postgres --regid postgres --init-groups --reset-env -- \
	/usr/bin/patroni "$P/patroni.yml" >"$T/patroni.log" 2>&1 &
PATRONI_PID=$!
# Patroni stops its PostgreSQL on SIGTERM; give it time before the harness's
# cleanup (which would SIGKILL it after 5 s), and stop a postmaster it left.
bench_cleanup() {
	local rc=$? pm
	if h_alive "$PATRONI_PID"; then
		kill -TERM "$PATRONI_PID"
		for _ in $(seq 1 100); do h_alive "$PATRONI_PID" || break; sleep 0.2; done
	fi
	pm=$(head -n1 "$P/data/postmaster.pid" 2>/dev/null)
	case $pm in '' | *[!0-9]*) ;; *) h_alive "$pm" && kill -INT "$pm" && sleep 2 ;; esac
	(exit "$rc")
	h_cleanup
}
trap bench_cleanup EXIT
H_PIDS+=("$PATRONI_PID")

# --- Cairn half.
h_controller_config "log_level = info"
h_controller_start >/dev/null
h_agents_start 1 >/dev/null
agent_pid=${AGENT_PID[1]}
if [ "$(cat "/proc/$agent_pid/comm" 2>/dev/null)" != cairn-agent ]; then
	agent_pid=$(pgrep -P "$agent_pid" | head -n1)
fi
ds_agent_pid=""
if [ "${BENCH_IDLE_DS:-0}" = 1 ]; then
	echo "# BENCH_IDLE_DS=1 needs the local provisioner: restart the controller with it"
	kill -TERM "$CTL_PID"
	for _ in $(seq 1 50); do h_alive "$CTL_PID" || break; sleep 0.2; done
	h_controller_config_local
	h_controller_start >/dev/null
	if h_ds_create "bench-$H_ID" 1 >/dev/null && h_wait_op "$OP_ID" 240; then
		ds_agent_pid=$(cat "$H_LOCAL_DIR/bench-$H_ID-0/agent.pid" 2>/dev/null)
	else
		echo "# datastore creation failed: no datastore agent figure"
	fi
fi

if ! h_wait_for 90 curl -sf "http://127.0.0.1:$PATRONI_PORT/primary"; then
	echo "Patroni did not become leader; last lines of its log:"
	tail -n 20 "$T/patroni.log"
	exit 1
fi
echo "# Patroni member leads (pid $PATRONI_PID); agent pid $agent_pid${ds_agent_pid:+, datastore agent pid $ds_agent_pid}"
echo "# settling ${SETTLE_S}s, then sampling ${IDLE_S}s"
sleep "$SETTLE_S"

# sample PID SECONDS OUT: one RSS sample (kB) a second; CPU ticks at both ends.
ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
sample() {
	local pid=$1 n=$2 out=$3 t0 t1 s0 s1
	t0=$(ticks "$pid") s0=$(date +%s.%N)
	for _ in $(seq 1 "$n"); do
		awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" >>"$out.rss"
		awk '/^Pss:/ {print $2}' "/proc/$pid/smaps_rollup" >>"$out.pss"
		sleep 1
	done
	t1=$(ticks "$pid") s1=$(date +%s.%N)
	echo "$t0 $t1 $s0 $s1" >"$out.cpu"
}
pids=("$agent_pid" "$PATRONI_PID")
labels=("cairn-agent (enrolled, idle)" "patroni (leader, 1 member)")
ds_k=""
if [ -n "$ds_agent_pid" ]; then
	ds_k=${#pids[@]}
	pids+=("$ds_agent_pid")
	labels+=("cairn-agent (1-node datastore)")
fi
pids+=("$ETCD_PID")
labels+=("etcd (Patroni's DCS, not counted)")
for k in "${!pids[@]}"; do
	sample "${pids[$k]}" "$IDLE_S" "$T/m$k" &
	H_BG_PIDS+=($!)
done
wait "${H_BG_PIDS[@]}"

hz=$(getconf CLK_TCK)
printf '\n%-34s %12s %12s %12s %10s\n' "process (${IDLE_S}s idle)" "RSS mean kB" "RSS max kB" "PSS mean kB" "CPU %"
declare -A RSS CPU
for k in "${!pids[@]}"; do
	read -r t0 t1 s0 s1 <"$T/m$k.cpu"
	CPU[$k]=$(awk -v a="$t0" -v b="$t1" -v s="$s0" -v e="$s1" -v hz="$hz" \
		'BEGIN { printf "%.3f", 100 * (b - a) / hz / (e - s) }')
	RSS[$k]=$(awk '{ s += $1; n++ } END { printf "%d", s / n }' "$T/m$k.rss")
	max=$(sort -n "$T/m$k.rss" | tail -n1)
	pss=$(awk '{ s += $1; n++ } END { printf "%d", s / n }' "$T/m$k.pss")
	printf '%-34s %12s %12s %12s %10s\n' "${labels[$k]}" "${RSS[$k]}" "$max" "$pss" "${CPU[$k]}"
done
echo
awk -v a="${RSS[0]}" -v p="${RSS[1]}" 'BEGIN { printf "RSS ratio patroni / agent (idle): %.1f\n", p / a }'
awk -v a="${CPU[0]}" -v p="${CPU[1]}" 'BEGIN { if (a > 0) printf "CPU ratio patroni / agent (idle): %.1f\n", p / a; else print "CPU ratio: agent used no measurable CPU" }'
if [ -n "$ds_k" ]; then
	awk -v a="${RSS[$ds_k]}" -v p="${RSS[1]}" 'BEGIN { printf "RSS ratio patroni / agent (datastore): %.1f\n", p / a }'
	awk -v a="${CPU[$ds_k]}" -v p="${CPU[1]}" 'BEGIN { if (a > 0) printf "CPU ratio patroni / agent (datastore): %.1f\n", p / a }'
fi
# Patroni's postgres children go with it on SIGTERM (H_PIDS cleanup).
exit 0
