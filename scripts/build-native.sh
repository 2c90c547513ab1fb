#!/bin/sh
# Compiles skiff's N-API addon (src/kernel/native/*.c: sockets made in another
# namespace, rtnetlink requests, nf_tables transactions, netlink dumps, malloc_trim for the idle
# collection, programs started by posix_spawn, new namespaces bound to files,
# mounts, the DNS relay and the resolvers' UDP fast path) into dist/skiff-netns.node. N-API is Node's stable C interface: any
# node_api.h of Node 18 or newer will do. Looked for beside the running node, in the Debian and nodesource places
# (/usr/include/node: libnode-dev or nodejs) and in node-gyp's cache;
# scripts/install.sh installs libnode-dev when none is found.
set -eu
cd "$(dirname "$0")/.."
prefix=$(node -p 'process.config.variables.node_prefix')
version=$(node -p 'process.versions.node')
include=
for candidate in "$prefix/include/node" "$(dirname "$(dirname "$(command -v node)")")/include/node" /usr/include/node /usr/local/include/node \
  "${HOME:-/root}/.cache/node-gyp/$version/include/node"; do
  if [ -f "$candidate/node_api.h" ]; then
    include=$candidate
    break
  fi
done
if [ -z "$include" ]; then
  echo "skiff: node_api.h not found (install libnode-dev, or run scripts/install.sh)" >&2
  exit 1
fi
mkdir -p dist
gcc -O2 -Wall -Wextra -shared -fPIC -pthread -I"$include" -o dist/skiff-netns.node src/kernel/native/netns-sockets.c src/kernel/native/rtnetlink.c src/kernel/native/nfnetlink.c src/kernel/native/netlink-dump.c src/kernel/native/release-memory.c src/kernel/native/spawn.c src/kernel/native/sandbox.c src/kernel/native/dns-relay.c src/kernel/native/dns-fastpath.c
