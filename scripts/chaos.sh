#!/bin/sh
# The long seeded chaos run (issue 13): 1,000 random operations over 5 networks
# and up to 50 containers, with daemon SIGKILLs, veths and nft elements deleted
# by hand and clean restarts; every restart is followed by the full invariant
# check (no leaked link, netns file, mount, nft element or shim; no address
# twice; names answer between neighbours; diagnose ok on every network).
# In its own throwaway world, like every e2e file. Replay: SKIFF_CHAOS_SEED=N.
set -eu
export SKIFF_CHAOS_OPERATIONS="${SKIFF_CHAOS_OPERATIONS:-1000}"
export SKIFF_CHAOS_NETWORKS="${SKIFF_CHAOS_NETWORKS:-5}"
export SKIFF_CHAOS_CONTAINERS="${SKIFF_CHAOS_CONTAINERS:-50}"
export SKIFF_CHAOS_KILLS="${SKIFF_CHAOS_KILLS:-40}"
export SKIFF_TEST_FILE_TIMEOUT_MS="${SKIFF_TEST_FILE_TIMEOUT_MS:-7200000}"
exec node dist/test/run.js e2e --only daemon-resilience
