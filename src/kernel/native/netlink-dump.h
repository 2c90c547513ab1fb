/* netlink reads (dumps) of skiff-netns.node (netlink-dump.c), registered by netns-sockets.c's module init. */
#ifndef SKIFF_NETLINK_DUMP_H
#define SKIFF_NETLINK_DUMP_H
#include <node_api.h>

napi_status register_netlink_dump(napi_env env, napi_value exports);

#endif
