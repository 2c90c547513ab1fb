#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test (unit, kernel, e2e).
# Kernel and e2e tests each run in a throwaway world (unshare --net --mount).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
# The linter (type-aware) runs before any test: a floating promise or dead code fails CI.
npx eslint .
bash scripts/make-busybox-image.sh dist/busybox-image.tar >/dev/null
node dist/test/run.js "$@"
