/*
 * The container resolvers' UDP sockets served on Node's event loop thread
 * (dns-fastpath.c): a query asked before is answered with the reply
 * TypeScript kept for it, without a call into JavaScript.
 */
#ifndef SKIFF_DNS_FASTPATH_H
#define SKIFF_DNS_FASTPATH_H
#include <node_api.h>

napi_status register_dns_fastpath(napi_env env, napi_value exports);

#endif
