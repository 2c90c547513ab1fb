/*
 * A batch of netlink requests as rtnetlink.c carries it out, shared with
 * nfnetlink.c: the arguments read from JavaScript, a thread of its own that
 * enters the namespace and makes the socket, the Promise resolved with the
 * outcome are rtnetlink.c's; each protocol only says how its requests go on
 * the socket (send).
 */
#ifndef SKIFF_NETLINK_BATCH_H
#define SKIFF_NETLINK_BATCH_H
#include <linux/netlink.h>
#include <net/if.h>
#include <node_api.h>
#include <stdint.h>

#define MAX_REQUESTS 64
#define MAX_LINKS_PER_REQUEST 4
#define MAX_REQUEST_BYTES 4096
#define RECEIVE_BYTES 65536
/* The batch's buffers are on the heap: a small stack does, however many calls wait for the RTNL lock at once. */
#define THREAD_STACK_BYTES (256 * 1024)

struct link_slot {
  uint32_t offset;
  char name[IFNAMSIZ];
};

struct request {
  unsigned char *bytes;
  uint32_t length;
  struct link_slot links[MAX_LINKS_PER_REQUEST];
  uint32_t link_count;
};

struct batch {
  char netns_path[4096];
  int in_netns;
  int protocol;
  /* Carries out the requests on socket, in the namespace; says how it went with fail() and done. */
  void (*send)(struct batch *batch);
  struct request requests[MAX_REQUESTS];
  uint32_t count;
  int socket;
  uint32_t sequence;
  unsigned char *receive_buffer;
  /* The outcome. */
  uint32_t done;
  int failed_index;
  const char *failed_step;
  int error;
  char failed_link[IFNAMSIZ];
  char extack[256];
  napi_threadsafe_function done_callback;
  napi_deferred deferred;
};

/* The JavaScript function name(netnsPath | null, requests) -> Promise<outcome>, on a socket of protocol. */
napi_value start_batch(napi_env env, napi_callback_info info, const char *name, int protocol, void (*send)(struct batch *batch));
/* exports.name = callback. */
napi_status export_function(napi_env env, napi_value exports, const char *name, napi_callback callback);
/* The request at index (-1: before any) was refused at step with error. */
void fail(struct batch *batch, int index, const char *step, int error);
/* Keeps the kernel's extended ack message of the NLMSG_ERROR header, when it gave one. */
void copy_extack(struct batch *batch, const struct nlmsghdr *header);

#endif
