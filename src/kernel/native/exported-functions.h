/* The addon's functions set on its exports object by name, a table a file. */
#ifndef SKIFF_EXPORTED_FUNCTIONS_H
#define SKIFF_EXPORTED_FUNCTIONS_H
#include <node_api.h>
#include <stddef.h>

struct exported_function {
  const char *name;
  napi_callback callback;
};

static inline napi_status export_functions(napi_env env, napi_value exports, const struct exported_function *functions, size_t count) {
  for (size_t index = 0; index < count; index++) {
    napi_value function;
    napi_status status = napi_create_function(env, functions[index].name, NAPI_AUTO_LENGTH, functions[index].callback, NULL, &function);
    if (status != napi_ok) return status;
    status = napi_set_named_property(env, exports, functions[index].name, function);
    if (status != napi_ok) return status;
  }
  return napi_ok;
}

#endif
