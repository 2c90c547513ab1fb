/*
 * The embedded DNS's UDP forwarding path, on a thread of its own
 * (dns-relay.c): queries the TypeScript side decided to forward go out on
 * upstream sockets this thread owns, and answers come back to the asker
 * without a trip through JavaScript per packet.
 */
#ifndef SKIFF_DNS_RELAY_H
#define SKIFF_DNS_RELAY_H
#include <node_api.h>

napi_status register_dns_relay(napi_env env, napi_value exports);

#endif
