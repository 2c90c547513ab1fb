/* createNetns, mount and unmount (sandbox.c), registered by netns-sockets.c's module init. */
#ifndef SKIFF_SANDBOX_H
#define SKIFF_SANDBOX_H
#include <node_api.h>

napi_status register_sandbox(napi_env env, napi_value exports);

#endif
