#!/usr/bin/env bash
# Installs what skiff needs on a Debian 12 machine (as root) and builds it.
# Idempotent: packages already present are not reinstalled.
set -euo pipefail
cd "$(dirname "$0")/.."

# crun: the default OCI runtime when it can run here (src/runtime/oci-runtimes.ts); runc stays for --runtime runc.
packages=(iproute2 nftables runc crun busybox-static iputils-ping dnsutils procps util-linux tini tar gcc libc6-dev make python3 g++ ca-certificates etcd-server chromium)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if ! command -v node >/dev/null 2>&1; then missing+=(nodejs npm); fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "skiff: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "skiff: Node.js 20 or newer is needed (found $(node --version)); install it, then run this again" >&2
  exit 1
fi

# skiff's N-API addon (the embedded DNS's sockets in containers' namespaces;
# scripts/build-native.sh) compiles against node_api.h. A Node.js that came
# without its headers gets Debian's (N-API is stable: 18's serve any newer node).
node_prefix=$(node -p 'process.config.variables.node_prefix')
if [ ! -f "$node_prefix/include/node/node_api.h" ] && [ ! -f /usr/include/node/node_api.h ] && [ ! -f /usr/local/include/node/node_api.h ]; then
  echo "skiff: installing libnode-dev (node_api.h for the native addon)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libnode-dev >/dev/null
fi

# The stock docker CLI drives skiff in the e2e tests. Debian's docker.io brings
# one (20.10); its daemon is kept from starting so it never touches the host.
if ! command -v docker >/dev/null 2>&1; then
  echo "skiff: installing the docker CLI (docker.io, daemon not started)"
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io >/dev/null
  rm -f /usr/sbin/policy-rc.d
fi

# The clients the e2e tests drive besides the docker CLI: docker-compose v1 and
# docker-py. docker-compose recommends docker.io, whose daemon must never start
# on the host: recommends are left out.
client_packages=(docker-compose python3-docker)
missing_clients=()
for package in "${client_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing_clients+=("$package")
done
if [ "${#missing_clients[@]}" -gt 0 ]; then
  echo "skiff: installing ${missing_clients[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing_clients[@]}" >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
npm run build --silent

# On a machine that systemd runs (sd_booted: /run/systemd/system exists), skiff
# is also a service with a socket unit, as dockerd is; elsewhere (containers,
# CI) scripts/start-daemon.sh starts the daemon by hand. Enabled, not started:
# `systemctl start skiff.socket` (or a reboot) starts it.
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  group=root
  if getent group docker >/dev/null 2>&1; then group=docker; fi
  skiff_dir=$(pwd)
  node_bin=$(command -v node)
  sed -e "s|@SKIFF_DIR@|$skiff_dir|g" -e "s|@NODE@|$node_bin|g" scripts/systemd/skiff.service > /etc/systemd/system/skiff.service
  sed -e "s|@GROUP@|$group|g" scripts/systemd/skiff.socket > /etc/systemd/system/skiff.socket
  mkdir -p /etc/skiff
  [ -e /etc/skiff/daemon.json ] || echo '{}' > /etc/skiff/daemon.json
  systemctl daemon-reload
  systemctl enable skiff.socket skiff.service >/dev/null 2>&1
  echo "skiff: installed skiff.service and skiff.socket (systemctl start skiff.socket; options in /etc/skiff/daemon.json)"
fi
