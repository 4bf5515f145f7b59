#!/bin/sh
# Fails when a banned C function (STYLE.md) appears in our sources.
set -u
src=${top_srcdir:-$(dirname "$0")/..}
pattern='\b(strcpy|strcat|sprintf|vsprintf|strtok|atoi|atol|gets|system|alloca)[[:space:]]*\('
hits=$(grep -rnE "$pattern" "$src/lib" "$src/controller" "$src/node-agent" "$src/cli" \
	"$src/tests/unit" "$src/tests/tools" "$src/tests/fuzz" "$src/tests/bench" --include='*.c' --include='*.h' 2>/dev/null \
	| grep -v 'banned-ok')
if [ -n "$hits" ]; then
	echo "banned functions used:"
	echo "$hits"
	exit 1
fi
exit 0
