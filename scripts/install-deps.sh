#!/bin/sh
# Installs everything Cairn needs to build and test on Debian 12, as root.
# Idempotent; safe to run again.
set -eu
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps.sh: run as root (it uses apt-get)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends \
	build-essential autoconf automake libtool pkg-config autoconf-archive \
	clang libclang-rt-14-dev \
	libssl-dev libjansson-dev libsqlite3-dev libmicrohttpd-dev libgnutls28-dev \
	libcurl4-openssl-dev libcryptsetup-dev libsystemd-dev libcmocka-dev libzstd-dev libpq-dev libexpat1-dev \
	openssl curl jq iproute2 procps util-linux ca-certificates git \
	python3 python3-jwcrypto cloud-init \
	debootstrap qemu-system-x86 qemu-utils socat genisoimage

# Database engine and exporters the agent installs on nodes (pkg.install
# finds them already present here), Prometheus for the service-discovery
# test, Patroni + etcd as the benchmark peer.  Their packages would start
# services on install: a policy-rc.d forbids that while apt-get runs (we
# start our own instances in test namespaces).
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod 0755 "$policy"
	own_policy=1
fi
apt-get install -y -q --no-install-recommends \
	postgresql-15 postgresql-client-15 \
	prometheus prometheus-node-exporter prometheus-postgres-exporter \
	patroni etcd-server etcd-client || { [ "$own_policy" = 1 ] && rm -f "$policy"; exit 1; }
[ "$own_policy" = 1 ] && rm -f "$policy"
exit 0
