#!/bin/bash
# tests/vm/run.sh [BUILD_DIR]: the VM scenarios (tests/vm/*.sh but this
# script and build-image.sh).  Builds Cairn for the image (release, /usr
# prefix) in BUILD_DIR/vm/rel, the image in BUILD_DIR/vm/image (the Debian
# base is cached, see build-image.sh), then runs each scenario with the
# controller and CLI of BUILD_DIR (default ./build-test, what
# scripts/test-all.sh built).  Prints one "PASS: vm/<name>", "FAIL: …" or
# "SKIP: … (reason)" line per scenario; logs in BUILD_DIR/vm/<name>.log.
set -u
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$src/build-test}" && pwd) || { echo "FAIL: vm (no build dir)"; exit 1; }
out=$build/vm
mkdir -p "$out"
skip_all() { for t in "$src"/tests/vm/*.sh; do case $t in */run.sh | */build-image.sh) continue ;; esac
	echo "SKIP: vm/$(basename "$t" .sh) ($*)"; done; exit 0; }

[ "$(id -u)" -eq 0 ] || skip_all "needs root"
for b in qemu-system-x86_64 qemu-img socat genisoimage debootstrap mkfs.ext4; do
	command -v "$b" >/dev/null || skip_all "$b not installed"
done

start=$SECONDS
rel=$out/rel
if [ ! -f "$rel/Makefile" ]; then
	mkdir -p "$rel"
	(cd "$rel" && "$src/configure" --prefix=/usr --sysconfdir=/etc --localstatedir=/var \
		--libexecdir=/usr/libexec CFLAGS='-O2 -g' >configure.out 2>&1) ||
		{ tail -20 "$rel/configure.out"; echo "FAIL: vm (configure of the image build)"; exit 1; }
fi
make -C "$rel" -j"$(nproc)" >"$rel/make.out" 2>&1 ||
	{ tail -20 "$rel/make.out"; echo "FAIL: vm (build for the image)"; exit 1; }
if ! "$src/tests/vm/build-image.sh" "$out/image" "$rel" >"$out/image.log" 2>&1; then
	tail -20 "$out/image.log"
	echo "FAIL: vm (image build)"
	exit 1
fi
echo "# vm: image ready in $((SECONDS - start)) s"

rc=0
for t in "$src"/tests/vm/*.sh; do
	case $t in */run.sh | */build-image.sh) continue ;; esac
	name=$(basename "$t" .sh)
	t0=$SECONDS
	CAIRN_VM_IMAGE=$out/image top_builddir=$build top_srcdir=$src PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin} \
		bash "$t" >"$out/$name.log" 2>&1
	r=$?
	case $r in
	0) echo "PASS: vm/$name ($((SECONDS - t0)) s)" ;;
	77) echo "SKIP: vm/$name ($(grep -m1 '^SKIP' "$out/$name.log"))" ;;
	*) echo "FAIL: vm/$name"; tail -60 "$out/$name.log"; rc=1 ;;
	esac
done
echo "# vm: all scenarios in $((SECONDS - start)) s"
exit $rc
