#!/bin/sh
# The full test suite from a clean checkout: configure with warnings as
# errors and ASan+UBSan, build, run unit, fuzz-corpus and integration tests
# (`make check`), a short libFuzzer run, the VM scenarios (tests/vm/run.sh),
# and print "N passed, N failed".
#
# Usage: scripts/test-all.sh [BUILD_DIR]   (default: ./build-test)
# Integration tests need root (network namespaces); without it they SKIP.
set -u
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$src/build-test}
jobs=$(nproc 2>/dev/null || echo 2)
fuzz_seconds=${CAIRN_FUZZ_SECONDS:-20}

fail() { echo "test-all: $*" >&2; echo "0 passed, 1 failed"; exit 1; }

cd "$src" && autoreconf -fi >/dev/null 2>&1 || fail "autoreconf failed (run: autoreconf -fi)"
mkdir -p "$build" && cd "$build" || fail "cannot use $build"
"$src/configure" --enable-werror --enable-sanitizers >configure.out 2>&1 || { tail -20 configure.out; fail "configure failed"; }
make -j"$jobs" >make.out 2>&1 || { grep -E 'error|Error' make.out | head -40; fail "build failed"; }
make -j"$jobs" check >check.out 2>&1
check_rc=$?
grep -E '^(PASS|FAIL|SKIP|XFAIL|XPASS|ERROR):' check.out

# A short libFuzzer run of every target (clang, separate build).
fuzz_pass=0 fuzz_fail=0
if command -v clang >/dev/null 2>&1; then
	fb=$build/fuzz
	mkdir -p "$fb" && cd "$fb"
	if CC=clang "$src/configure" --enable-fuzzing >configure.out 2>&1 && make -j"$jobs" fuzz-targets >make.out 2>&1; then
		for t in tests/fuzz/fuzz-*; do
			[ -x "$t" ] || continue
			name=$(basename "$t")
			corpus=$(mktemp -d)
			[ -d "$src/tests/fuzz/corpus/${name#fuzz-}" ] && cp -r "$src/tests/fuzz/corpus/${name#fuzz-}/." "$corpus/"
			dict=""
			[ -f "$src/tests/fuzz/$name.dict" ] && dict="-dict=$src/tests/fuzz/$name.dict"
			if "$t" -max_total_time="$fuzz_seconds" -max_len=70000 $dict "$corpus" >"$name.out" 2>&1; then
				echo "PASS: fuzz $name (${fuzz_seconds}s)"; fuzz_pass=$((fuzz_pass + 1))
			else
				echo "FAIL: fuzz $name"; tail -30 "$name.out"; fuzz_fail=$((fuzz_fail + 1))
			fi
			rm -rf "$corpus"
		done
	else
		echo "FAIL: fuzz build"; tail -20 make.out; fuzz_fail=$((fuzz_fail + 1))
	fi
	cd "$build"
else
	echo "SKIP: fuzz runs (clang not installed)"
fi

# The VM scenarios (tests/vm): qemu VMs booted from a debootstrap image.
cd "$build"
"$src/tests/vm/run.sh" "$build" >vm.out 2>&1
cat vm.out
vm_pass=$(grep -cE '^PASS: vm' vm.out)
vm_fail=$(grep -cE '^FAIL: vm' vm.out)
vm_skip=$(grep -cE '^SKIP: vm' vm.out)

pass=$(grep -cE '^(PASS|XFAIL):' check.out)
failed=$(grep -cE '^(FAIL|XPASS|ERROR):' check.out)
skipped=$(grep -cE '^SKIP:' check.out)
if [ "$check_rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
	echo "make check failed without a test result:"; tail -30 check.out
	failed=1
fi
for f in $(grep -lE '^:test-result: (FAIL|ERROR)' $(find . -name '*.trs' 2>/dev/null) 2>/dev/null); do
	echo "=== ${f%.trs}.log (tail)"; tail -40 "${f%.trs}.log"
done
pass=$((pass + fuzz_pass + vm_pass))
failed=$((failed + fuzz_fail + vm_fail))
skipped=$((skipped + vm_skip))
echo "skipped: $skipped (see the SKIP lines above for reasons)"
echo "$pass passed, $failed failed"
[ "$failed" -eq 0 ]
