/*
 * releaseFreeMemory(), in skiff-netns.node beside openSockets: the daemon
 * calls it after its idle garbage collection. glibc keeps the pages that
 * free() returns in its arenas for reuse, giving back only the top of the
 * main heap, and that rarely: after a thousand containers the daemon held
 * ~2 MB of free malloc memory for good. malloc_trim(0) returns every free
 * page of every arena to the kernel (madvise), a few milliseconds once per
 * quiet spell. Elsewhere than glibc it does nothing.
 *
 *   releaseFreeMemory() -> true when memory was given back
 */
#include "release-memory.h"
#ifdef __GLIBC__
#include <malloc.h>
#endif

static napi_value release_free_memory(napi_env env, napi_callback_info info) {
  (void)info;
#ifdef __GLIBC__
  int released = malloc_trim(0);
#else
  int released = 0;
#endif
  napi_value result;
  if (napi_get_boolean(env, released == 1, &result) != napi_ok) return NULL;
  return result;
}

int add_release_memory(napi_env env, napi_value exports) {
  napi_value function;
  if (napi_create_function(env, "releaseFreeMemory", NAPI_AUTO_LENGTH, release_free_memory, NULL, &function) != napi_ok) return -1;
  return napi_set_named_property(env, exports, "releaseFreeMemory", function) == napi_ok ? 0 : -1;
}
