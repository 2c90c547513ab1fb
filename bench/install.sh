#!/usr/bin/env bash
# Installs what the benchmarks compare skiff against, when it is missing (as root):
#   Debian's docker.io   dockerd 20.10, containerd, runc and the 20.10 docker CLI
#   podman, crun, netavark, aardvark-dns   Podman 4.3 and its network stack
#   dnsmasq, dnsperf, iperf3   the DNS upstream, the DNS load and the throughput tool
# A /usr/sbin/policy-rc.d that exits 101 keeps every package's service from
# starting on this machine while it installs; the benchmark starts its own
# dockerd, podman service and dnsmasq inside throwaway worlds.
set -euo pipefail

installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

with_recommends=()
for package in docker.io dnsmasq dnsperf iperf3; do
  installed "$package" || with_recommends+=("$package")
done
# Podman without its recommends (buildah, slirp4netns, uidmap, fuse-overlayfs:
# rootless and build tools the benchmark does not use), with the rootful network stack named.
without_recommends=()
for package in podman crun netavark aardvark-dns; do
  installed "$package" || without_recommends+=("$package")
done
[ "${#with_recommends[@]}" -eq 0 ] && [ "${#without_recommends[@]}" -eq 0 ] && exit 0

if [ -e /usr/sbin/policy-rc.d ]; then
  # One that already says no to every start (as container images ship) is used as it is.
  status=0
  /usr/sbin/policy-rc.d docker start >/dev/null 2>&1 || status=$?
  if [ "$status" -ne 101 ]; then
    echo "bench/install.sh: /usr/sbin/policy-rc.d exists and allows starts; install ${with_recommends[*]} ${without_recommends[*]} yourself, with their services kept from starting" >&2
    exit 1
  fi
else
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod 755 /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
echo "bench/install.sh: installing ${with_recommends[*]} ${without_recommends[*]} (services kept from starting)"
apt-get update -q
if [ "${#with_recommends[@]}" -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${with_recommends[@]}"
fi
if [ "${#without_recommends[@]}" -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${without_recommends[@]}"
fi
