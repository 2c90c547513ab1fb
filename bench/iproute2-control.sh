#!/usr/bin/env bash
# Control for the join-scaling benchmark: the same kernel work as skiff's join
# and leave (a veth on a bridge, its peer in a namespace bound to a file), done
# with bare iproute2 and no skiff, at 10, 100 and 1,000 ports. If these grow
# as skiff's `ip` calls do, the growth is the kernel's, not skiff's.
# Runs as root; re-executes itself in a throwaway world (fixed arguments only).
set -uo pipefail
if [ "${SKIFF_BENCH_IN_WORLD:-}" != 1 ]; then
  exec env SKIFF_BENCH_IN_WORLD=1 unshare --net --mount --propagation private --pid --fork --mount-proc --kill-child -- bash "$0"
fi
ip link set lo up
dir=$(mktemp -d)
mount -t tmpfs -o size=64m tmpfs "$dir"
ip link add br0 type bridge
ip addr add 172.18.0.1/16 dev br0
ip link set br0 up
touch "$dir/probe"; unshare --net="$dir/probe" true
count=0
grow() {
  while [ "$count" -lt "$1" ]; do
    count=$((count + 1))
    touch "$dir/ns$count"; unshare --net="$dir/ns$count" true
    printf 'link add vh%d mtu 1500 master br0 type veth peer name eth0 mtu 1500 netns %s\nlink set vh%d up\n' "$count" "$dir/ns$count" "$count" | ip -batch -
    printf 'addr add 172.18.%d.%d/16 dev eth0\nlink set eth0 up\nlink set lo up\n' $((count / 250)) $((count % 250 + 2)) | nsenter --net="$dir/ns$count" ip -batch -
  done
}
now() { date +%s%N; }
median() { printf '%s\n' "$@" | sort -n | sed -n "$(( ($# + 1) / 2 ))p"; }
measure() {
  local host=() sandbox=() del=() floor=()
  for _ in $(seq 1 21); do
    local a b c d e
    a=$(now)
    printf 'link add vprobe mtu 1500 master br0 type veth peer name eth0 mtu 1500 netns %s\nlink set vprobe up\n' "$dir/probe" | ip -batch -
    b=$(now)
    printf 'addr add 172.18.200.2/16 dev eth0\nlink set eth0 up\nlink set lo up\nroute replace default via 172.18.0.1 dev eth0\n' | nsenter --net="$dir/probe" ip -batch -
    c=$(now)
    ip link delete dev vprobe
    d=$(now)
    ip link show dev lo >/dev/null
    e=$(now)
    host+=($(( (b - a) / 1000 ))); sandbox+=($(( (c - b) / 1000 ))); del+=($(( (d - c) / 1000 ))); floor+=($(( (e - d) / 1000 )))
  done
  printf '%5d ports  host ip -batch %6d us   nsenter ip -batch %6d us   ip link delete (veth) %6d us   ip link show lo (floor) %6d us\n' \
    "$count" "$(median "${host[@]}")" "$(median "${sandbox[@]}")" "$(median "${del[@]}")" "$(median "${floor[@]}")"
}
echo "bare iproute2, medians of 21 (the world dies with everything in it; it is also cleaned up):"
for level in 10 100 1000; do grow "$level"; measure; done
for i in $(seq "$count" -1 1); do ip link delete dev "vh$i"; umount "$dir/ns$i"; done
umount "$dir/probe"; ip link delete br0; umount "$dir"; rmdir "$dir"
