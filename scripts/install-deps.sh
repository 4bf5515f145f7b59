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
	libcurl4-openssl-dev libcryptsetup-dev libsystemd-dev libcmocka-dev libzstd-dev libpq-dev \
	openssl curl jq iproute2 procps util-linux ca-certificates git \
	python3 python3-jwcrypto cloud-init
