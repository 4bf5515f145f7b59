#!/bin/sh
# manifest-corpus.sh: replays the seed corpus of fuzz-manifest (built with
# tests/fuzz/standalone.c) under `make check`.
set -u
src=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${top_builddir:-.}
exec "$build/tests/fuzz/fuzz-manifest" "$src/tests/fuzz/corpus/manifest"
