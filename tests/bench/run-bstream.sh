#!/bin/bash
# run-bstream.sh: throughput of the backup stream format (write = zstd +
# AES-256-GCM, read = decrypt + unzstd) over 256 MiB of pgbench-like data at
# zstd levels 1, 3 and 6, medians of 3, beside the zstd command on the same
# file (compression alone, one thread) measured in the same run; then the
# peak RSS (VmHWM) of a writer, and of a writer chained to a reader, over
# 1 GiB.  Speeds are in CPU time (one thread), so a busy machine skews
# them less than wall time would.  Build without sanitizers.
#   make bench-bstream            (from the build directory)
#   BSTREAM_MIB=64 BSTREAM_LEVELS="3" tests/bench/run-bstream.sh
set -eu
build=${top_builddir:-.}
bench=$build/tests/bench/bstream-bench
mib=${BSTREAM_MIB:-256}
levels=${BSTREAM_LEVELS:-1 3 6}
reps=3
command -v zstd >/dev/null || { echo "SKIP: no zstd command"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$bench" gen "$mib" >"$tmp/data"

median() { sort -n | sed -n "$(( (reps + 1) / 2 ))p"; }
# MiB/s of one command over the data file in CPU time (user + system, so
# that other load on the machine does not count), median of $reps.
peer() {
	for _ in $(seq $reps); do
		{ TIMEFORMAT='%U %S'; time "$@" >/dev/null; } 2>&1 |
			awk -v m="$mib" '{ printf "%.0f\n", m / ($1 + $2) }'
	done | median
}

echo "bstream: $mib MiB pgbench-like data, medians of $reps, MiB per CPU second ($(nproc) CPUs, $(zstd --version | grep -o 'v[0-9.]*'))"
# write/read: bstream; zstd-lib: the same libzstd calls in process without
# AES-GCM (so write/zstd-lib is the cost of encryption and framing);
# zstd -T1 -c, zstd -d -c: the zstd command (compression alone) on the file.
printf '%-6s %7s %7s %6s %14s %14s %12s %11s\n' level write read ratio "zstd-lib c/d" "zstd-cmd c/d" \
	"w/zstd-lib" "w/zstd-cmd"
for l in $levels; do
	read -r w r ratio lc ld < <("$bench" speed "$tmp/data" "$l" $reps)
	zc=$(peer zstd -q -T1 -"$l" -c "$tmp/data")
	zstd -q -T1 -"$l" -c "$tmp/data" >"$tmp/data.zst"
	zd=$(peer zstd -q -d -c "$tmp/data.zst")
	printf '%-6s %7s %7s %6s %14s %14s %12s %11s\n' "$l" "$w" "$r" "$ratio" "$lc/$ld" "$zc/$zd" \
		"$(awk -v a="$w" -v b="$lc" 'BEGIN { printf "%.2f", a / b }')" \
		"$(awk -v a="$w" -v b="$zc" 'BEGIN { printf "%.2f", a / b }')"
done
rm -f "$tmp/data" "$tmp/data.zst"
"$bench" rss 1024 3
"$bench" rss 1024 3 chain
