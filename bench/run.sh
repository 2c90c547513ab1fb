#!/usr/bin/env bash
# Builds skiff and runs the network benchmarks (bench/README.md), as root.
# Installs Debian's docker.io first when /usr/sbin/dockerd is missing, with a
# policy-rc.d that keeps its services from starting on this machine; the
# benchmark starts its own dockerd inside a throwaway world.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! [ -x /usr/sbin/dockerd ]; then
  if [ -e /usr/sbin/policy-rc.d ]; then
    echo "run.sh: /usr/sbin/policy-rc.d exists; install docker.io yourself, with its services kept from starting" >&2
    exit 1
  fi
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod 755 /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io
  rm -f /usr/sbin/policy-rc.d
  trap - EXIT
fi

[ -d node_modules ] || npm ci
npx tsc -p . >/dev/null || true   # others' work in progress may not type-check; tsc still emits
node dist/bench/network.js
