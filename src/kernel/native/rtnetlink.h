/* The rtnetlink half of skiff-netns.node (rtnetlink.c), registered by netns-sockets.c's module init. */
#ifndef SKIFF_RTNETLINK_H
#define SKIFF_RTNETLINK_H
#include <node_api.h>
#include <stdint.h>

napi_status register_rtnetlink(napi_env env, napi_value exports);

/*
 * One request on a NETLINK_ROUTE socket made in the calling thread's
 * namespace, waiting for its acknowledgement (sandbox.c brings a new
 * namespace's lo up this way): 0, or the errno of the refusal.
 */
int rtnetlink_request_here(unsigned char *message, uint32_t length);

#endif
