#!/usr/bin/env bash
# Installs what skiff needs on a Debian 12 machine (as root) and builds it.
# Idempotent: packages already present are not reinstalled.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(iproute2 nftables runc busybox-static iputils-ping dnsutils procps util-linux tini tar gcc libc6-dev make python3 g++ ca-certificates etcd-server)
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

# The stock docker CLI drives skiff in the e2e tests. Debian's docker.io brings
# one (20.10); its daemon is kept from starting so it never touches the host.
if ! command -v docker >/dev/null 2>&1; then
  echo "skiff: installing the docker CLI (docker.io, daemon not started)"
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io >/dev/null
  rm -f /usr/sbin/policy-rc.d
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
npm run build --silent
