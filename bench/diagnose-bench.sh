#!/bin/bash
# `skiff network diagnose` beside N containers, two builds of skiff in pairs:
# the containers are started once (4 at a time), then the daemon is
# restarted as each build in turn over the same data root (live-restore keeps
# the containers), and each times the diagnose API call (curl) and the CLI.
# Run as root from a repository root:
#
#   bash bench/diagnose-bench.sh BEFORE_ROOT AFTER_ROOT [LEVELS...]   # e.g. /tmp/base . 10 300 1000
#
# BEFORE_ROOT and AFTER_ROOT are built checkouts (bin/skiff, dist/). Works in
# a world of its own (unshare --net --mount --pid); the containers' ids are
# written to $SCRATCH/ids before the world ends (their empty cgroup
# directories are the caller's to remove). Prints one line a round.
set -euo pipefail
if [ "${1:-}" != --in-world ]; then
  scratch=${SCRATCH:-/tmp/diagnose-bench}
  mkdir -p "$scratch"
  exec unshare --net --mount --pid --fork --mount-proc --propagation private --kill-child -- env SCRATCH="$scratch" bash "$0" --in-world "$@"
fi
shift
before=$(realpath "$1") after=$(realpath "$2")
shift 2
levels=("${@:-10 300}")
rounds=${ROUNDS:-3}
mount -t tmpfs tmpfs "$SCRATCH"
ip link set lo up
sock=$SCRATCH/s.sock
export DOCKER_HOST=unix://$sock
daemon_pid=

start_daemon() {
  "$1/bin/skiff" daemon -H "unix://$sock" --data-root "$SCRATCH/data" --exec-root "$SCRATCH/exec" --dns 127.0.0.1 >>"$SCRATCH/daemon.log" 2>&1 &
  daemon_pid=$!
  for _ in $(seq 600); do
    curl -sf --unix-socket "$sock" http://skiff/_ping >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "daemon did not answer" >&2
  tail -20 "$SCRATCH/daemon.log" >&2
  exit 1
}

stop_daemon() {
  kill -TERM "$daemon_pid"
  wait "$daemon_pid" || true
}

now_ms() { date +%s%3N; }

# The diagnose call's time in ms (API alone, then CLI) and its output's digest, as the build at $1 answers it.
measure() {
  local root=$1 t0 t1 t2
  curl -sf --unix-socket "$sock" http://skiff/networks/net/diagnose >/dev/null # the first after a start waits for the restore pass
  t0=$(now_ms)
  curl -sf --unix-socket "$sock" http://skiff/networks/net/diagnose >"$SCRATCH/api.json"
  t1=$(now_ms)
  "$root/bin/skiff" -H "unix://$sock" network diagnose net >"$SCRATCH/cli.txt" || true
  t2=$(now_ms)
  echo "$((t1 - t0)) $((t2 - t1)) $(sha1sum <"$SCRATCH/cli.txt" | cut -c1-8) $(grep -c '^FAIL' "$SCRATCH/cli.txt" || true)"
}

start_daemon "$after"
docker import "$after/dist/busybox-image.tar" busybox >/dev/null
docker network create net >/dev/null
running=0
for level in ${levels[*]}; do
  seq $((running + 1)) "$level" | xargs -P 4 -I{} docker run -d --network net --name c{} busybox sleep 3600 >/dev/null
  running=$level
  docker ps -aq --no-trunc >"$SCRATCH/ids"
  for round in $(seq "$rounds"); do
    for build in before after; do
      stop_daemon
      root=$before
      [ $build = after ] && root=$after
      start_daemon "$root"
      echo "containers $level round $round $build: api_ms cli_ms digest fails = $(measure "$root")"
    done
  done
done
"$after/bin/skiff" -H "unix://$sock" network diagnose net >"$SCRATCH/../diagnose-bench-last.txt" || true
docker ps -aq --no-trunc >"$SCRATCH/../diagnose-bench-ids"
docker rm -f $(docker ps -aq) >/dev/null 2>&1 || true
stop_daemon
