/*
 * JavaScript values the addon's files hand back to Node: a string, a 32-bit
 * integer. N-API reports a failure through the pending exception, so these
 * give NULL then and the caller's return carries it.
 */
#ifndef SKIFF_NAPI_VALUES_H
#define SKIFF_NAPI_VALUES_H
#include <node_api.h>
#include <stdint.h>

static inline napi_value string_value(napi_env env, const char *text) {
  napi_value value = NULL;
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &value);
  return value;
}

static inline napi_value int_value(napi_env env, int32_t number) {
  napi_value value = NULL;
  napi_create_int32(env, number, &value);
  return value;
}

#endif
