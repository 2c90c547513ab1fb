#!/usr/bin/env bash
# Builds skiff and runs the benchmarks (bench/README.md), as root:
#   bash bench/run.sh [--only cli|library|containers|dns|ports]
# Installs what is missing first: Debian's docker.io (dockerd 20.10) and
# dnsmasq, dnsperf, iperf3, with a policy-rc.d that keeps their services from
# starting on this machine; the benchmark starts its own dockerd and dnsmasq
# inside throwaway worlds.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
[ -x /usr/sbin/dockerd ] || missing+=(docker.io)
[ -x /usr/sbin/dnsmasq ] || missing+=(dnsmasq)
command -v dnsperf >/dev/null || missing+=(dnsperf)
command -v iperf3 >/dev/null || missing+=(iperf3)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ -e /usr/sbin/policy-rc.d ]; then
    echo "run.sh: /usr/sbin/policy-rc.d exists; install ${missing[*]} yourself, with their services kept from starting" >&2
    exit 1
  fi
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod 755 /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
  rm -f /usr/sbin/policy-rc.d
  trap - EXIT
fi

[ -d node_modules ] || npm ci
npx tsc -p . >/dev/null || true   # others' work in progress may not type-check; tsc still emits
node dist/bench/network.js "$@"
