#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test (unit, kernel, e2e).
# Kernel and e2e tests each run in a throwaway world (unshare --net --mount).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
# The linter (type-aware) and the formatter check run before any test: a floating promise, dead code or an unformatted file fails CI.
npx eslint .
npx prettier --check . >/dev/null || { npx prettier --check .; echo "run npm run format" >&2; exit 1; }
bash scripts/make-busybox-image.sh dist/busybox-image.tar >/dev/null
node dist/test/run.js "$@"
