/* releaseFreeMemory() (release-memory.c), added to the addon's exports at its init. */
#ifndef SKIFF_RELEASE_MEMORY_H
#define SKIFF_RELEASE_MEMORY_H
#include <node_api.h>

int add_release_memory(napi_env env, napi_value exports);

#endif
