#!/bin/bash
# tests/vm/build-image.sh: the VM image of the tests/vm scenarios.
#
#   tests/vm/build-image.sh --base            the cached Debian 12 root only
#   tests/vm/build-image.sh OUT SRC_BUILD     base + Cairn installed from the
#                                             release build SRC_BUILD into
#                                             OUT/{root.raw,vmlinuz,initrd.img}
#
# The base is a debootstrap of Debian 12 (minbase) with a kernel, systemd,
# cloud-init (NoCloud), cryptsetup and the PostgreSQL 15 + exporter packages,
# cached in $CAIRN_VM_CACHE (default /var/cache/cairn-vm) under a key made
# of this script's package lists: a change of list makes a new base.  The
# VM has no network beyond the test's forwarded ports, so every package it
# needs is in the image.  PostgreSQL's own "main" cluster is not created
# (postgresql-common's createcluster.d, as the agent's pkg.install does);
# the exporters' distribution units stay enabled, as on any Debian machine.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${CAIRN_VM_CACHE:-/var/cache/cairn-vm}
suite=bookworm

base_pkgs=(systemd-sysv udev dbus-broker linux-image-amd64 initramfs-tools
	cloud-init python3-cffi-backend cryptsetup-bin ca-certificates iproute2
	procps less netbase
	libjansson4 libcurl4 libpq5 libsystemd0 libssl3 libcryptsetup12 libzstd1)
extra_pkgs=(postgresql-15 postgresql-client-15 prometheus-node-exporter
	prometheus-postgres-exporter)

die() { echo "build-image: $*" >&2; exit 1; }
log() { echo "build-image: $*" >&2; }

# The host's Debian mirror, read from its apt sources (CAIRN_VM_MIRROR wins).
host_mirror() {
	local m=""
	if [ -f /etc/apt/sources.list.d/debian.sources ]; then
		m=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i ~ /\/debian\/?$/) { print $i; exit } }' \
			/etc/apt/sources.list.d/debian.sources)
	fi
	if [ -z "$m" ] && [ -f /etc/apt/sources.list ]; then
		m=$(awk '$1 == "deb" && $2 ~ /\/debian\/?$/ { print $2; exit }' /etc/apt/sources.list)
	fi
	[ -n "$m" ] || die "no Debian mirror in the host's apt sources: set CAIRN_VM_MIRROR"
	echo "$m"
}

key=$(printf '%s\n' v1 "$suite" "${base_pkgs[@]}" -- "${extra_pkgs[@]}" | sha256sum | cut -c1-16)
base=$cache/base-$key

build_base() {
	[ -f "$base/.complete" ] && return 0
	command -v debootstrap >/dev/null || die "debootstrap is not installed"
	local mirror tmp
	mirror=${CAIRN_VM_MIRROR:-$(host_mirror)}
	tmp=$base.tmp
	rm -rf "$tmp"
	mkdir -p "$cache"
	log "debootstrap $suite into $tmp (a few minutes, once)"
	LANG=C.UTF-8 debootstrap --variant=minbase \
		--include="$(IFS=,; echo "${base_pkgs[*]}")" \
		"$suite" "$tmp" "$mirror" >"$cache/debootstrap-$key.log" 2>&1 ||
		{ tail -20 "$cache/debootstrap-$key.log" >&2; die "debootstrap failed"; }

	# The second stage installs what must see our configuration first.
	printf '#!/bin/sh\nexit 101\n' >"$tmp/usr/sbin/policy-rc.d"
	chmod 0755 "$tmp/usr/sbin/policy-rc.d"
	mkdir -p "$tmp/etc/postgresql-common/createcluster.d"
	printf '# cairn: clusters are made by the agent (pg.init), never by the package.\ncreate_main_cluster = false\n' \
		>"$tmp/etc/postgresql-common/createcluster.d/cairn.conf"
	mount -t proc proc "$tmp/proc"
	local rc=0
	LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive chroot "$tmp" \
		apt-get install -y --no-install-recommends "${extra_pkgs[@]}" \
		>"$cache/apt-$key.log" 2>&1 || rc=$?
	umount "$tmp/proc"
	[ "$rc" -eq 0 ] || { tail -20 "$cache/apt-$key.log" >&2; die "apt-get install in the image failed"; }
	chroot "$tmp" apt-get clean
	rm -f "$tmp/usr/sbin/policy-rc.d"

	# No network in the VM: apt has nothing to reach.
	: >"$tmp/etc/apt/sources.list"
	rm -f "$tmp"/etc/apt/sources.list.d/*

	echo 'LABEL=cairnroot / ext4 defaults,errors=remount-ro 0 1' >"$tmp/etc/fstab"
	cat >"$tmp/etc/systemd/network/10-vm.network" <<'NET'
[Match]
Name=en* eth*

[Network]
DHCP=ipv4
NET
	chroot "$tmp" systemctl enable systemd-networkd.service >/dev/null 2>&1
	cat >"$tmp/etc/cloud/cloud.cfg.d/90-cairn-vm.cfg" <<'CFG'
# tests/vm: the seed is a NoCloud disk; networking is systemd-networkd's.
datasource_list: [NoCloud, None]
network: {config: disabled}
CFG
	echo 'LANG=C.UTF-8' >"$tmp/etc/default/locale"
	# A console login for debugging a VM by hand (the VMs have no network).
	chroot "$tmp" passwd -d root >/dev/null
	: >"$tmp/etc/machine-id"
	touch "$tmp/.complete"
	mv "$tmp" "$base"
	log "base ready: $base"
}

build_base
[ "${1:-}" = "--base" ] && { echo "$base"; exit 0; }
[ $# -eq 2 ] || die "usage: $0 --base | OUT_DIR RELEASE_BUILD_DIR"
out=$1 bld=$2
mkdir -p "$out"
root=$out/root
rm -rf "$root"
cp -a "$base" "$root"
rm -f "$root/.complete"
make -C "$bld" install DESTDIR="$root" >"$out/install.log" 2>&1 ||
	{ tail -20 "$out/install.log" >&2; die "make install failed"; }
src=$(cd "$here/../.." && pwd)
install -m 0644 "$src/systemd/cairn-agent.service" "$root/lib/systemd/system/cairn-agent.service"
cp "$(ls "$root"/boot/vmlinuz-* | sort -V | tail -1)" "$out/vmlinuz"
cp "$(ls "$root"/boot/initrd.img-* | sort -V | tail -1)" "$out/initrd.img"
rm -f "$out/root.raw"
mkfs.ext4 -q -L cairnroot -d "$root" "$out/root.raw" 3G ||
	die "mkfs.ext4 -d failed"
rm -rf "$root"
log "image ready: $out/root.raw"
