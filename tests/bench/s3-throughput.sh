#!/bin/bash
# tests/bench/s3-throughput.sh: S3 upload and download throughput of
# lib/s3 (through tests/tools/s3-tool) against a named peer, Debian's
# /usr/bin/aws s3 cp, on the same s3rver in the same run.  Not a pass/fail
# test: it prints MB/s (median of BENCH_S3_RUNS runs each) and our ratio
# to the peer.  s3rver (Node, filesystem store) is the bottleneck of both
# sides, so the ratio says more than the absolute figures; build without
# --enable-sanitizers for figures worth recording.
#
# Usage (from the build directory):  tests/bench/s3-throughput.sh
# Environment: BENCH_S3_MIB (256), BENCH_S3_RUNS (3), BENCH_S3_PART_MIB (8),
#   BENCH_S3_PARALLEL (4), CAIRN_KEEP=1
#
# shellcheck shell=bash
: "${top_builddir:=$PWD}"
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
# shellcheck source=../integration/lib.sh
. "$top_srcdir/tests/integration/lib.sh"

MIB=${BENCH_S3_MIB:-256}
RUNS=${BENCH_S3_RUNS:-3}
PART=${BENCH_S3_PART_MIB:-8}
PAR=${BENCH_S3_PARALLEL:-4}
AWS=/usr/bin/aws
[ -x "$AWS" ] || h_skip "$AWS not installed (scripts/install-deps.sh)"
h_s3_begin s3-bench
h_s3rver_start "$T/s3" || h_skip "s3rver did not start"
# The peer with the same part size and concurrency as ours.
mkdir -p "$T/home/.aws"
printf '[default]\ns3 =\n  multipart_chunksize = %dMB\n  multipart_threshold = %dMB\n  max_concurrent_requests = %d\n' \
	"$PART" "$PART" "$PAR" >"$T/home/.aws/config"
export AWS_CONFIG_FILE=$T/home/.aws/config

head -c $((MIB * 1024 * 1024)) /dev/urandom >"$T/data"
sum=$(sha256sum <"$T/data" | cut -d' ' -f1)

# secs CMD…: wall seconds of CMD (fails the bench when CMD fails).
secs() {
	local t0 t1
	t0=$(date +%s.%N)
	"$@" || { echo "bench: failed: $*" >&2; exit 1; }
	t1=$(date +%s.%N)
	echo "$t1 - $t0" | bc -l
}
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mbps() { echo "$MIB * 1.048576 / $1" | bc -l | xargs printf '%.1f'; }

ours_up() { "$S3TOOL" --part-size "$PART" --parallel "$PAR" upload bench/ours <"$T/data"; }
ours_down() { "$S3TOOL" --part-size "$PART" --parallel "$PAR" download bench/ours >"$T/out"; }
aws_up() { $AWS --endpoint-url "$S3_ENDPOINT" s3 cp --quiet "$T/data" s3://cairn-test/bench/aws; }
aws_down() { $AWS --endpoint-url "$S3_ENDPOINT" s3 cp --quiet s3://cairn-test/bench/aws "$T/out"; }

declare -A res
for what in ours_up aws_up ours_down aws_down; do
	: >"$T/times"
	for _ in $(seq 1 "$RUNS"); do
		secs "$what" >>"$T/times"
		case $what in *_down)
			[ "$(sha256sum <"$T/out" | cut -d' ' -f1)" = "$sum" ] || { echo "bench: $what corrupt" >&2; exit 1; } ;;
		esac
	done
	res[$what]=$(median <"$T/times")
done
echo "# s3 throughput, $MIB MiB object, part $PART MiB, $PAR in flight, median of $RUNS, s3rver at $S3_ENDPOINT"
printf '%-10s %10s %10s %8s\n' "" "s3-tool" "aws cli" "ratio"
for d in up down; do
	o=$(mbps "${res[ours_$d]}")
	a=$(mbps "${res[aws_$d]}")
	printf '%-10s %7s MB/s %5s MB/s %7.2fx\n' "$d" "$o" "$a" "$(echo "$o / $a" | bc -l)"
done
H_PASSED=1
h_end
