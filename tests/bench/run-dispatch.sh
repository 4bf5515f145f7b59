#!/bin/bash
# tests/bench/run-dispatch.sh: job dispatch benchmark of one cairn-controller.
#
# For each agent count N given (default: 1000 5000) it starts a fresh
# cairn-controller from the build tree on 127.0.0.1 with a temporary state
# directory, rate limits and the connection limit raised, runs
# tests/bench/bench-dispatch against it (N simulated agents long-polling
# the gateway, M jobs submitted per run, 3 runs), stops the controller by
# its PID and prints one table with the median figures of every N.
# docs/bench.md explains the figures.  Not a pass/fail test: the exit code
# is non-zero only when the benchmark could not be carried out.
#
# Usage (from the build directory, or with top_builddir set):
#   tests/bench/run-dispatch.sh [N ...]
# Environment:
#   BENCH_JOBS (1000) BENCH_RATE (100/s) BENCH_RUNS (3) BENCH_WAIT (30 s)
#   BENCH_API_PORT (28443; the gateway takes the next port)
#   BENCH_LOG_LEVEL (warning)   controller log level
#   BENCH_CTL_EXTRA             extra lines for the [controller] section
#   BENCH_TMPDIR (/tmp)         where the state directory goes; a tmpfs there
#                               (e.g. /dev/shm) takes fsync out of the figures,
#                               to tell storage cost from the rest
#   CAIRN_KEEP=1                keep the temporary directory
#
# shellcheck shell=bash

set -u
set -o pipefail

: "${top_builddir:=$PWD}"
CTL_BIN=$top_builddir/controller/cairn-controller
BENCH_BIN=$top_builddir/tests/bench/bench-dispatch
JOBS=${BENCH_JOBS:-1000}
RATE=${BENCH_RATE:-100}
RUNS=${BENCH_RUNS:-3}
WAIT=${BENCH_WAIT:-30}
API_PORT=${BENCH_API_PORT:-28443}
GW_PORT=$((API_PORT + 1))
LOG_LEVEL=${BENCH_LOG_LEVEL:-warning}
# Rates and bursts far above what the bench asks: it measures dispatch,
# not the limiter.  (All simulated agents share 127.0.0.1.)
RL_HIGH=${BENCH_RL_HIGH:-100000}
if [ $# -gt 0 ]; then COUNTS=("$@"); else COUNTS=(1000 5000); fi

die() {
	echo "run-dispatch: $*" >&2
	exit 1
}
note() { echo "run-dispatch: $*" >&2; }

for n in "${COUNTS[@]}"; do
	case $n in '' | *[!0-9]*) die "agent count '$n' is not a number" ;; esac
done
[ -x "$CTL_BIN" ] || die "$CTL_BIN is not built (run make, or set top_builddir)"
[ -x "$BENCH_BIN" ] || die "$BENCH_BIN is not built (run make, or set top_builddir)"
command -v curl >/dev/null || die "the curl command is needed to wait for the controller"

# Each process (controller, bench) holds one fd per agent connection plus
# its own files.  Soft limits are raised to the hard one; the hard one must
# already be high enough (ulimit -Hn, LimitNOFILE=, limits.conf).
max_n=0
for n in "${COUNTS[@]}"; do [ "$n" -gt "$max_n" ] && max_n=$n; done
need=$((max_n + 1024))
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt "$need" ]; then
	die "hard fd limit (ulimit -Hn) is $hard; N=$max_n needs at least $need"
fi
ulimit -n "$hard" || die "cannot raise the soft fd limit to $hard"

# A process that was killed can linger as a zombie for a second or two
# here (slow reaping): read its state, do not trust kill -0.
alive() {
	local st
	st=$(sed -n 's/.*) \(.\).*/\1/p' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

CTL_PID=""
T=$(mktemp -d "${BENCH_TMPDIR:-/tmp}/cairn-bench.XXXXXX") || die "mktemp failed"
chmod 0700 "$T"

# Stops the controller we started, by its PID: TERM, then KILL after 20 s.
# Prints how it ended.
stop_controller() {
	local pid=$CTL_PID rc
	[ -n "$pid" ] || return 0
	CTL_PID=""
	if alive "$pid"; then
		kill -TERM "$pid" 2>/dev/null
		for _ in $(seq 1 100); do alive "$pid" || break; sleep 0.2; done
		if alive "$pid"; then
			note "controller $pid did not stop within 20 s of SIGTERM: SIGKILL"
			kill -KILL "$pid" 2>/dev/null
		fi
	fi
	wait "$pid" 2>/dev/null
	rc=$?
	echo "controller exit status: $rc"
}

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	stop_controller >/dev/null
	if [ "${CAIRN_KEEP:-0}" = 1 ]; then note "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Port check: curl exits 7 when nothing listens.
for port in "$API_PORT" "$GW_PORT"; do
	curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$port/" 2>/dev/null
	[ $? -eq 7 ] || die "127.0.0.1:$port is in use; set BENCH_API_PORT"
done

sanitized=no
for b in "$CTL_BIN" "$BENCH_BIN"; do
	if ldd "$b" 2>/dev/null | grep -q 'libasan\|libubsan'; then sanitized=yes; fi
done

echo "# cairn dispatch benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "# machine: $(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)), $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo), kernel $(uname -r)"
echo "# controller: $CTL_BIN (sanitizers in it or the bench: $sanitized)"
echo "# state directory under: $(df --output=target,fstype "$T" | tail -n 1 | tr -s ' ')"
echo "# agents: ${COUNTS[*]}; jobs/run: $JOBS at $RATE/s; runs: $RUNS; poll wait: $WAIT s; fd limit: $hard"
if [ "$sanitized" = yes ]; then
	note "WARNING: built with sanitizers (ASan/UBSan): latency, CPU and"
	note "RSS figures are not representative.  Use a build configured without"
	note "--enable-sanitizers for figures worth quoting."
fi

RESULTS=()
status=0
for n in "${COUNTS[@]}"; do
	d=$T/n$n
	mkdir -p "$d"
	# connection_limit: every agent holds one connection, plus the
	# bench's setup, submit and health connections.
	cat >"$d/controller.conf" <<EOF
[controller]
state_dir = $d/state
api_listen = 127.0.0.1:$API_PORT
gateway_listen = 127.0.0.1:$GW_PORT
public_api_url = https://127.0.0.1:$API_PORT
public_gateway_url = https://127.0.0.1:$GW_PORT
server_names = 127.0.0.1, localhost
log_level = $LOG_LEVEL
poll_wait_max_s = 60
connection_limit = $((n + 1000))
${BENCH_CTL_EXTRA:-}

[ratelimit]
api_rate = $RL_HIGH
api_burst = $RL_HIGH
gateway_rate = $RL_HIGH
gateway_burst = $RL_HIGH
enroll_rate = $RL_HIGH
enroll_burst = $RL_HIGH
EOF
	echo
	echo "## N=$n"
	# The machine may be shared: its load says how quiet it was.
	echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
	"$CTL_BIN" --config "$d/controller.conf" >"$d/controller.out" 2>"$d/controller.log" &
	CTL_PID=$!
	up=no
	for _ in $(seq 1 150); do
		if [ -f "$d/state/ca.pem" ] &&
			curl -sf -o /dev/null --max-time 2 --cacert "$d/state/ca.pem" \
				"https://127.0.0.1:$API_PORT/v1/health"; then
			up=yes
			break
		fi
		alive "$CTL_PID" || break
		sleep 0.2
	done
	if [ "$up" != yes ]; then
		note "N=$n: the controller did not come up; its log:"
		tail -n 40 "$d/controller.log" >&2
		stop_controller
		RESULTS+=("RESULT n=$n failed=controller-did-not-start")
		status=1
		continue
	fi

	"$BENCH_BIN" --api "https://127.0.0.1:$API_PORT" --gateway "https://127.0.0.1:$GW_PORT" \
		--ca "$d/state/ca.pem" --token-file "$d/state/admin.token" --pid "$CTL_PID" \
		--agents "$n" --jobs "$JOBS" --rate "$RATE" --runs "$RUNS" --wait "$WAIT" \
		--fsync-dir "$d/state" 2>&1 | tee "$d/bench.out"
	rc=${PIPESTATUS[0]}
	if ! alive "$CTL_PID"; then
		note "N=$n: the controller died during the benchmark; its log:"
		tail -n 40 "$d/controller.log" >&2
		rc=1
	fi
	echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
	stop_controller
	if [ -s "$d/controller.log" ]; then
		echo "controller log: $(wc -l <"$d/controller.log") lines; last ones:"
		tail -n 5 "$d/controller.log" | cut -c1-200
	fi
	line=$(grep '^RESULT ' "$d/bench.out" | tail -n 1)
	if [ "$rc" -ne 0 ] || [ -z "$line" ]; then
		RESULTS+=("RESULT n=$n failed=bench-exit-$rc")
		status=1
	else
		RESULTS+=("$line")
	fi
done

echo
echo "## Summary (median of $RUNS runs; latencies in ms, memory in MiB, CPU in s)"
echo "## p50…max: dispatch latency; sub: API submit latency; fsync: write+fdatasync on the state dir;"
echo "## ctl_cpu: controller CPU in the dispatch phase; stall: the bench loop's longest pass (and its CPU)"
printf '%s\n' "${RESULTS[@]}" | awk '
function v(k) { return (k in f) ? f[k] : "-" }
function mib(k) { return (k in f && f[k] >= 0) ? sprintf("%.1f", f[k] / 1024) : "-" }
BEGIN {
	fmt = "%6s %6s %7s %7s %7s %7s %7s %6s %6s %7s %4s %6s %4s %8s %8s %8s %7s %6s %9s\n"
	printf fmt, "N", "conn", "setup_s", "p50", "p90", "p99", "max", "sub50", "sub99",
		"fsync50", "429", "errors", "miss", "rss_idle", "rss_end", "hwm_end", "ctl_cpu", "stall", "stall_cpu"
}
{
	delete f
	for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
	if ("failed" in f) { printf "%6s  failed: %s\n", f["n"], f["failed"]; next }
	printf fmt, v("n"), v("connected"), v("setup_s"), v("disp_p50_ms"), v("disp_p90_ms"),
		v("disp_p99_ms"), v("disp_max_ms"), v("sub_p50_ms"), v("sub_p99_ms"),
		v("fsync_p50_ms"), v("n429"), v("errors"), v("miss"), mib("rss_idle_kib"),
		mib("rss_kib"), mib("hwm_kib"), v("ctl_cpu_s"), v("stall_ms"),
		v("stall_cpu_ms")
}'
exit $status
