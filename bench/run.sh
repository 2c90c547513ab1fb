#!/usr/bin/env bash
# Builds skiff and runs the benchmarks (bench/README.md), as root:
#   bash bench/run.sh [--only cli|library|containers|dns|ports]
# Installs what is missing first (bench/install.sh): Debian's docker.io
# (dockerd 20.10), podman, dnsmasq, dnsperf, iperf3, with their services kept
# from starting on this machine; the benchmark starts its own dockerd, podman
# service and dnsmasq inside throwaway worlds.
set -euo pipefail
cd "$(dirname "$0")/.."

bash bench/install.sh

[ -d node_modules ] || npm ci
npx tsc -p . >/dev/null || true   # others' work in progress may not type-check; tsc still emits
node dist/bench/network.js "$@"
