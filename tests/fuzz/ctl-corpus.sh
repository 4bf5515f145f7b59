#!/bin/sh
# ctl-corpus.sh: replays the seed corpus of the controller's fuzz target
# (built with tests/fuzz/standalone.c) under `make check`.
set -u
src=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${top_builddir:-.}
exec "$build/tests/fuzz/fuzz-api-body" "$src/tests/fuzz/corpus/api-body"
