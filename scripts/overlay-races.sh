#!/usr/bin/env bash
# The overlay's races (creates from three hosts at once, runs on three hosts
# at once, etcd killed mid-run) with more rounds than CI runs: 50 by default,
# or the first argument. Needs a build (npm run build) and the busybox image.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-50}"
case "$rounds" in ''|*[!0-9]*) echo "usage: $0 [ROUNDS]  (a whole number)" >&2; exit 2 ;; esac
SKIFF_OVERLAY_ROUNDS="$rounds" node dist/test/run.js e2e --only overlay-faults
