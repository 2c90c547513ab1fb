/* Programs started with posix_spawn (spawn.c), registered by netns-sockets.c's module init. */
#ifndef SKIFF_SPAWN_H
#define SKIFF_SPAWN_H
#include <node_api.h>

napi_status register_spawn(napi_env env, napi_value exports);

#endif
