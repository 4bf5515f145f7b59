#!/bin/sh
# s3-corpus.sh: replays the seed corpus of fuzz-s3-xml (built with
# tests/fuzz/standalone.c) under `make check`.
set -u
src=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${top_builddir:-.}
if ! "$build/tests/fuzz/fuzz-s3-xml" "$src/tests/fuzz/corpus/s3-xml"; then
	echo "FAIL: fuzz-s3-xml over corpus/s3-xml"
	exit 1
fi
exit 0
