#!/bin/sh
# agent-corpus.sh: replays the seed corpus of the agent's fuzz target
# (built with tests/fuzz/standalone.c) under `make check`.
set -u
src=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${top_builddir:-.}
exec "$build/tests/fuzz/fuzz-agent-verify" "$src/tests/fuzz/corpus/agent-verify"
