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
# S3 (issue 4): Debian's awscli as /usr/bin/aws for interop tests (an `aws`
# on PATH may be another one), and @20minutes/s3rver 5.x, which checks
# SigV4, under a fixed prefix for tests/integration (h_s3rver_start).  Node
# and npm from Debian only when npm is absent.
apt-get install -y -q --no-install-recommends awscli
if ! command -v npm >/dev/null 2>&1; then
	apt-get install -y -q --no-install-recommends nodejs npm
fi
S3RVER_PREFIX=/opt/cairn-test/s3rver
if [ ! -f "$S3RVER_PREFIX/node_modules/@20minutes/s3rver/package.json" ] ||
	! grep -q '"version": "5\.' "$S3RVER_PREFIX/node_modules/@20minutes/s3rver/package.json"; then
	mkdir -p "$S3RVER_PREFIX"
	npm install --no-audit --no-fund --prefix "$S3RVER_PREFIX" '@20minutes/s3rver@5'
fi
exit 0
