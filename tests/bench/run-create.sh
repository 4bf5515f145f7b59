#!/bin/bash
# tests/bench/run-create.sh: time from "POST /v1/datastores" to "ready" on
# the local provisioner, for 1 and 3 nodes (BENCH_CREATE_NODES), 3 runs each
# (BENCH_RUNS), medians, and where the time goes: the share of step time
# per job type (from each step's started_at/finished_at in
# GET /v1/operations/<id>; steps run in parallel, so shares are of the sum
# of step durations, not of the wall time).  Each datastore is destroyed
# before the next run.  Not a pass/fail test.
#
# Usage (from the build directory, as root):  tests/bench/run-create.sh
# Environment: BENCH_CREATE_NODES ("1 3"), BENCH_RUNS (3), CAIRN_KEEP=1
#
# shellcheck shell=bash

: "${top_builddir:=$PWD}"
: "${top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
export top_builddir top_srcdir
RUNS=${BENCH_RUNS:-3}
SIZES=${BENCH_CREATE_NODES:-1 3}
# shellcheck source=../integration/lib.sh
. "$top_srcdir/tests/integration/lib.sh"
if nm -D "$AGENT_BIN" 2>/dev/null | grep -q __asan_init; then
	echo "# WARNING: built with ASan: figures are inflated (use a build without --enable-sanitizers)"
fi
h_need_pg
h_begin bench-create 91
h_controller_config_local
h_controller_start

median() { sort -n | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

: >"$T/steps.all"
for n in $SIZES; do
	: >"$T/wall.$n"
	for r in $(seq 1 "$RUNS"); do
		t0=$(date +%s.%N)
		h_ds_create "b$n-r$r-$H_ID" "$n" >/dev/null || exit 1
		if ! h_wait_for 600 h_op_final "$OP_ID"; then echo "create did not finish"; h_op_print "$OP_ID"; exit 1; fi
		t1=$(date +%s.%N)
		opj=$(h_op_get "$OP_ID")
		if [ "$(jq -r .state <<<"$opj")" != succeeded ]; then
			echo "create failed:"; h_op_print "$OP_ID"; exit 1
		fi
		wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
		api_s=$(awk -v a="$(h_ts "$(jq -r .created_at <<<"$opj")")" \
			-v b="$(h_ts "$(jq -r .finished_at <<<"$opj")")" 'BEGIN { printf "%.3f", b - a }')
		echo "$wall $api_s" >>"$T/wall.$n"
		jq -r '.steps[] | "\(.kind) \(.name) \(.started_at) \(.finished_at)"' <<<"$opj" |
			while read -r kind name s f; do
				type=$name
				[ "$kind" = job ] || type=$kind
				type=${type%% *}
				echo "$n $type $(awk -v a="$(h_ts "$s")" -v b="$(h_ts "$f")" 'BEGIN { printf "%.3f", b - a }')"
			done >>"$T/steps.all"
		echo "# nodes=$n run $r: ${wall}s (operation created_at..finished_at ${api_s}s)"
		body=$(api DELETE "/v1/datastores/$DS_ID")
		op=$(jq -r .operation.id <<<"$body")
		h_wait_op "$op" 300 >/dev/null || { echo "destroy failed"; h_op_print "$op"; exit 1; }
	done
done

echo
printf '%-6s %18s %22s\n' nodes "median wall (s)" "median API (s)"
for n in $SIZES; do
	printf '%-6s %18s %22s\n' "$n" "$(awk '{print $1}' "$T/wall.$n" | median)" \
		"$(awk '{print $2}' "$T/wall.$n" | median)"
done
for n in $SIZES; do
	echo
	echo "share of step time by type, nodes=$n (all runs):"
	awk -v n="$n" '$1 == n { t[$2] += $3; s += $3 } END { for (k in t) printf "  %-18s %8.2f s %6.1f %%\n", k, t[k] / '"$RUNS"', 100 * t[k] / s }' \
		"$T/steps.all" | sort -k4 -n -r
done
H_FAILED=0
exit 0
