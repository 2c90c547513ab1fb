/*
 * nf_tables transactions sent by the daemon itself, in place of
 * `nsenter --net=PATH nft -f -` (two program starts and libnftables' own,
 * ~18 ms, for a few microseconds of kernel work). The messages are built
 * (and unit-tested byte for byte against nft's) in TypeScript,
 * src/kernel/nftables/messages.ts; this file only carries them out.
 *
 *   sendNftables(netnsPath | null, [{ bytes: Uint8Array, links: [] }, ...])
 *     -> Promise<{ done, failure?: { index, step, errno, reason, extack? } }>
 *
 * The messages are one batch, NFNL_MSG_BATCH_BEGIN first and
 * NFNL_MSG_BATCH_END last, and go in ONE sendmsg on a NETLINK_NETFILTER
 * socket: nf_tables applies a batch whole or not at all. Each message is
 * numbered here (its index + 1); those that ask for an acknowledgement
 * (NLM_F_ACK) get one, or an error. done is the number of messages when
 * every one was acknowledged; failure names the first message refused
 * (index; 0, the batch's start, when the kernel could not commit it), with
 * errno, its text and the kernel's extended ack message.
 *
 * The thread, the namespace and the Promise are rtnetlink.c's (start_batch).
 */
#define _GNU_SOURCE
#include "nfnetlink.h"
#include "netlink-batch.h"

#include <errno.h>
#include <linux/netlink.h>
#include <linux/netfilter/nfnetlink.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

/*
 * The kernel works through a batch within the sendmsg that carries it
 * (nfnetlink_rcv_batch runs in the sender's context, module loads and
 * replays included), so every answer is queued by the time sendmsg returns:
 * they are read without waiting, as nft itself does (a zero-timeout select),
 * and one missing is an error, never a hang.
 */
static void send_transaction(struct batch *batch) {
  struct iovec parts[MAX_REQUESTS];
  uint32_t expected = 0;
  for (uint32_t index = 0; index < batch->count; index++) {
    struct nlmsghdr *header = (struct nlmsghdr *)batch->requests[index].bytes;
    header->nlmsg_seq = index + 1;
    header->nlmsg_pid = 0;
    if (header->nlmsg_flags & NLM_F_ACK) expected++;
    parts[index].iov_base = batch->requests[index].bytes;
    parts[index].iov_len = batch->requests[index].length;
  }
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  struct msghdr message = {.msg_name = &kernel, .msg_namelen = sizeof kernel, .msg_iov = parts, .msg_iovlen = batch->count};
  ssize_t sent;
  do sent = sendmsg(batch->socket, &message, 0);
  while (sent < 0 && errno == EINTR);
  if (sent < 0) {
    fail(batch, 0, "request", errno);
    return;
  }
  uint32_t acknowledged = 0;
  while (acknowledged < expected) {
    ssize_t received;
    do received = recv(batch->socket, batch->receive_buffer, RECEIVE_BYTES, MSG_DONTWAIT | MSG_TRUNC);
    while (received < 0 && errno == EINTR);
    if (received < 0) {
      fail(batch, 0, "request", errno == EAGAIN || errno == EWOULDBLOCK ? EPROTO : errno); /* an answer the kernel never queued */
      return;
    }
    if (received > RECEIVE_BYTES) {
      fail(batch, 0, "request", EMSGSIZE);
      return;
    }
    int remaining = (int)received;
    for (const struct nlmsghdr *answer = (const struct nlmsghdr *)batch->receive_buffer; NLMSG_OK(answer, remaining);
         answer = NLMSG_NEXT(answer, remaining)) {
      if (answer->nlmsg_type != NLMSG_ERROR || answer->nlmsg_seq == 0 || answer->nlmsg_seq > batch->count) continue;
      const struct nlmsgerr *error = NLMSG_DATA(answer);
      if (error->error != 0) {
        copy_extack(batch, answer);
        fail(batch, (int)answer->nlmsg_seq - 1, "request", -error->error);
        return;
      }
      acknowledged++;
    }
  }
  batch->done = batch->count;
}

static napi_value send_nftables(napi_env env, napi_callback_info info) {
  return start_batch(env, info, "sendNftables", NETLINK_NETFILTER, send_transaction);
}

napi_status register_nfnetlink(napi_env env, napi_value exports) {
  return export_function(env, exports, "sendNftables", send_nftables);
}
