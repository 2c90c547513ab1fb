#!/usr/bin/env bash
# `npm run bench [-- --quick]`: installs what skiff is compared against when it
# is missing (bench/install.sh), builds, and runs bench/bench.ts, which writes
# bench/results.json, bench/REPORT.md and bench/charts/*.svg. As root.
set -euo pipefail
cd "$(dirname "$0")/.."
bash bench/install.sh
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
npm run build --silent
exec node dist/bench/bench.js "$@"
