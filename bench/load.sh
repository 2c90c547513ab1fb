#!/bin/sh
# Load timings (issue 13): runs test/e2e/load.test.ts in its own world and
# prints its `load:` lines — 50 concurrent docker run -d on one network, the
# 50 × 49 pings by name, 20 concurrent network create, concurrent
# connect/disconnect over 10 networks. Build first (npm run build).
set -eu
node dist/test/run.js e2e --only load | sed -n 's/^\[e2e\/load\.test\.js\] \(load: .*\)$/\1/p'
