/* The rtnetlink half of skiff-netns.node (rtnetlink.c), registered by netns-sockets.c's module init. */
#ifndef SKIFF_RTNETLINK_H
#define SKIFF_RTNETLINK_H
#include <node_api.h>

napi_status register_rtnetlink(napi_env env, napi_value exports);

#endif
