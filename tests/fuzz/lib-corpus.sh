#!/bin/sh
# lib-corpus.sh: replays the seed corpus of each lib/ fuzz target (built
# with tests/fuzz/standalone.c) under `make check`, so every seed stays a
# regression test even without libFuzzer.
set -u
src=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${top_builddir:-.}
rc=0
for t in jws ini; do
	if ! "$build/tests/fuzz/fuzz-$t" "$src/tests/fuzz/corpus/$t"; then
		echo "FAIL: fuzz-$t over corpus/$t"
		rc=1
	fi
done
exit $rc
