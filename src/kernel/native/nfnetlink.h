/* The nf_tables half of skiff-netns.node (nfnetlink.c), registered by netns-sockets.c's module init. */
#ifndef SKIFF_NFNETLINK_H
#define SKIFF_NFNETLINK_H
#include <node_api.h>

napi_status register_nfnetlink(napi_env env, napi_value exports);

#endif
