#!/bin/sh
# ds-corpus.sh: replays the seed corpus of fuzz-ds-body (built with
# tests/fuzz/standalone.c) under `make check`.
set -u
src=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${top_builddir:-.}
exec "$build/tests/fuzz/fuzz-ds-body" "$src/tests/fuzz/corpus/ds-body"
