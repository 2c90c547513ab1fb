/*
 * rtnetlink requests sent by the daemon itself, in place of `ip -batch`: a
 * program start costs 4-6 ms, a request a few microseconds. The requests
 * are built (and unit-tested byte for byte) in TypeScript,
 * src/kernel/rtnetlink/messages.ts; this file only carries them out.
 *
 *   sendRtnetlink(netnsPath | null, [{ bytes: Uint8Array, links: [{ offset, name }, ...] }, ...])
 *     -> Promise<{ done, failure?: { index, step, errno, reason, link?, extack? } }>
 *
 * One NETLINK_ROUTE socket, made in the namespace bound at netnsPath (or in
 * the daemon's own when null), carries the requests one at a time, each
 * waiting for its acknowledgement; the first one refused ends the batch, as
 * with `ip -batch`. Before a request goes, each of its links is looked up by
 * name (RTM_GETLINK on the same socket, so in the same namespace) and its
 * index written at the given offset: a request may name a link an earlier
 * one in the batch made. done counts the requests carried out; failure says
 * which one was refused (index), at which step ("open", "setns", "socket":
 * before any request, index -1; "link": looking up a named link;
 * "request": the request itself), with errno, its text, and the kernel's
 * extended ack message.
 *
 * Each call runs on a thread of its own, which enters the namespace
 * (setns) when there is one, does the whole batch, hands the outcome to
 * Node's main thread (a thread-safe function resolves the Promise) and
 * exits, so its namespace dies with it: none of Node's threads ever changes
 * namespace (the CNI pkg/ns README explains why that matters). Not libuv's
 * thread pool: a request can wait long for the kernel's RTNL lock (a veth
 * delete elsewhere holds it ~25 ms), and a storm of teardowns must not hold
 * every pool thread the daemon's file system calls need.
 */
#define _GNU_SOURCE
#include "rtnetlink.h"
#include "napi-values.h"
#include "detached-thread.h"
#include "netlink-batch.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

void fail(struct batch *batch, int index, const char *step, int error) {
  batch->failed_index = index;
  batch->failed_step = step;
  batch->error = error;
}

static int open_socket(int protocol) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
  if (fd < 0) return -1;
  int on = 1;
  /* Both are refinements (the kernel's own words on a refusal; acks without the request echoed): older kernels go without. */
  setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &on, sizeof on);
  setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &on, sizeof on);
  return fd;
}

/* Makes the socket in the namespace at netns_path: this thread enters it for good (it exits when the batch is done). */
static int enter_netns(struct batch *batch) {
  int netns = open(batch->netns_path, O_RDONLY | O_CLOEXEC);
  if (netns < 0) {
    fail(batch, -1, "open", errno);
    return -1;
  }
  if (setns(netns, CLONE_NEWNET) < 0) {
    fail(batch, -1, "setns", errno);
    close(netns);
    return -1;
  }
  close(netns);
  return 0;
}

/* The extended ack's message (NLMSGERR_ATTR_MSG), when the kernel gave one. */
void copy_extack(struct batch *batch, const struct nlmsghdr *header) {
  if (!(header->nlmsg_flags & NLM_F_ACK_TLVS)) return;
  const struct nlmsgerr *error = NLMSG_DATA(header);
  size_t offset = NLMSG_HDRLEN + sizeof *error;
  if (!(header->nlmsg_flags & NLM_F_CAPPED)) offset += error->msg.nlmsg_len - NLMSG_HDRLEN;
  while (offset + NLA_HDRLEN <= header->nlmsg_len) {
    const struct nlattr *attribute = (const struct nlattr *)((const unsigned char *)header + offset);
    if (attribute->nla_len < NLA_HDRLEN || offset + attribute->nla_len > header->nlmsg_len) return;
    if ((attribute->nla_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_MSG) {
      size_t length = attribute->nla_len - NLA_HDRLEN;
      if (length >= sizeof batch->extack) length = sizeof batch->extack - 1;
      memcpy(batch->extack, (const unsigned char *)attribute + NLA_HDRLEN, length);
      batch->extack[length] = '\0';
      return;
    }
    offset += NLA_ALIGN(attribute->nla_len);
  }
}

/*
 * Sends one message and reads until the answer to it: 0 with *reply set to
 * the first message answering it (an NLMSG_ERROR of 0 for a plain ack, the
 * object for a get), or an errno (> 0) when the kernel refused it.
 */
static int exchange(struct batch *batch, unsigned char *message, uint32_t length, const struct nlmsghdr **reply) {
  struct nlmsghdr *header = (struct nlmsghdr *)message;
  header->nlmsg_seq = ++batch->sequence;
  header->nlmsg_pid = 0;
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  ssize_t sent;
  do sent = sendto(batch->socket, message, length, 0, (struct sockaddr *)&kernel, sizeof kernel);
  while (sent < 0 && errno == EINTR);
  if (sent < 0) return errno;
  for (;;) {
    ssize_t received;
    do received = recv(batch->socket, batch->receive_buffer, RECEIVE_BYTES, MSG_TRUNC);
    while (received < 0 && errno == EINTR);
    if (received < 0) return errno;
    if (received > RECEIVE_BYTES) return EMSGSIZE; /* never for the answers asked for here (an ack, one link without stats) */
    int remaining = (int)received;
    for (const struct nlmsghdr *answer = (const struct nlmsghdr *)batch->receive_buffer; NLMSG_OK(answer, remaining);
         answer = NLMSG_NEXT(answer, remaining)) {
      if (answer->nlmsg_seq != batch->sequence) continue; /* a late answer to an earlier request */
      if (answer->nlmsg_type == NLMSG_ERROR) {
        const struct nlmsgerr *error = NLMSG_DATA(answer);
        if (error->error != 0) {
          copy_extack(batch, answer);
          return -error->error;
        }
      }
      *reply = answer;
      return 0;
    }
  }
}

/* The index of the link named name, in the socket's namespace: 0, or an errno (ENODEV: no such link). */
static int link_index(struct batch *batch, const char *name, uint32_t *index) {
  struct {
    struct nlmsghdr header;
    struct ifinfomsg link;
    unsigned char attributes[NLA_HDRLEN + 4 + NLA_HDRLEN + NLA_ALIGN(IFNAMSIZ)];
  } request;
  memset(&request, 0, sizeof request);
  request.header.nlmsg_type = RTM_GETLINK;
  request.header.nlmsg_flags = NLM_F_REQUEST;
  request.link.ifi_family = AF_UNSPEC;
  unsigned char *cursor = request.attributes;
  struct nlattr *mask = (struct nlattr *)cursor;
  mask->nla_type = IFLA_EXT_MASK;
  mask->nla_len = NLA_HDRLEN + 4;
  uint32_t filter = RTEXT_FILTER_SKIP_STATS;
  memcpy(cursor + NLA_HDRLEN, &filter, 4);
  cursor += NLA_ALIGN(mask->nla_len);
  struct nlattr *ifname = (struct nlattr *)cursor;
  size_t name_length = strlen(name) + 1;
  ifname->nla_type = IFLA_IFNAME;
  ifname->nla_len = (uint16_t)(NLA_HDRLEN + name_length);
  memcpy(cursor + NLA_HDRLEN, name, name_length);
  cursor += NLA_ALIGN(ifname->nla_len);
  uint32_t length = (uint32_t)(cursor - (unsigned char *)&request);
  request.header.nlmsg_len = length;
  const struct nlmsghdr *reply = NULL;
  int error = exchange(batch, (unsigned char *)&request, length, &reply);
  if (error != 0) return error;
  if (reply->nlmsg_type != RTM_NEWLINK || reply->nlmsg_len < NLMSG_LENGTH(sizeof(struct ifinfomsg))) return EPROTO;
  *index = (uint32_t)((const struct ifinfomsg *)NLMSG_DATA(reply))->ifi_index;
  return 0;
}

static void send_all(struct batch *batch) {
  for (uint32_t index = 0; index < batch->count; index++) {
    struct request *request = &batch->requests[index];
    for (uint32_t slot = 0; slot < request->link_count; slot++) {
      uint32_t link = 0;
      int error = link_index(batch, request->links[slot].name, &link);
      if (error != 0) {
        memcpy(batch->failed_link, request->links[slot].name, IFNAMSIZ);
        fail(batch, (int)index, "link", error);
        return;
      }
      memcpy(request->bytes + request->links[slot].offset, &link, 4);
    }
    const struct nlmsghdr *reply = NULL;
    int error = exchange(batch, request->bytes, request->length, &reply);
    if (error != 0) {
      fail(batch, (int)index, "request", error);
      return;
    }
    batch->done = index + 1;
  }
}

/* The call's own thread: the whole batch, then the outcome to Node's main thread. */
static void *run_batch(void *data) {
  struct batch *batch = data;
  pthread_setname_np(pthread_self(), "skiff-rtnetlink"); /* how a thread outside the daemon's namespace is known for ours */
  batch->receive_buffer = malloc(RECEIVE_BYTES);
  if (batch->receive_buffer == NULL) fail(batch, -1, "socket", ENOMEM);
  else if (!batch->in_netns || enter_netns(batch) == 0) {
    batch->socket = open_socket(batch->protocol);
    if (batch->socket < 0) fail(batch, -1, "socket", errno);
    else batch->send(batch);
  }
  napi_threadsafe_function done_callback = batch->done_callback; /* batch is the main thread's (and freed) once handed over */
  /*
   * The socket is closed here, after the outcome is handed over: closing a
   * NETLINK_NETFILTER socket waits for nf_tables to finish freeing what the
   * transaction replaced (an RCU grace period, ~5 ms), which neither the
   * caller nor Node's main thread should wait for.
   */
  int socket = batch->socket;
  batch->socket = -1;
  napi_call_threadsafe_function(done_callback, batch, napi_tsfn_blocking);
  napi_release_threadsafe_function(done_callback, napi_tsfn_release);
  if (socket >= 0) close(socket);
  return NULL;
}

static void free_batch(struct batch *batch) {
  if (batch->socket >= 0) close(batch->socket);
  for (uint32_t index = 0; index < batch->count; index++) free(batch->requests[index].bytes);
  free(batch->receive_buffer);
  free(batch);
}

int rtnetlink_request_here(unsigned char *message, uint32_t length) {
  struct batch *batch = calloc(1, sizeof *batch);
  if (batch == NULL) return ENOMEM;
  int error = 0;
  const struct nlmsghdr *reply = NULL;
  batch->receive_buffer = malloc(RECEIVE_BYTES);
  batch->socket = open_socket(NETLINK_ROUTE);
  if (batch->receive_buffer == NULL) error = ENOMEM;
  else if (batch->socket < 0) error = errno;
  else error = exchange(batch, message, length, &reply);
  free_batch(batch);
  return error;
}

/* On Node's main thread: the Promise resolved with the outcome. env is NULL when Node is shutting down. */
static void complete(napi_env env, napi_value callback, void *context, void *data) {
  (void)callback;
  (void)context;
  struct batch *batch = data;
  napi_value outcome;
  if (env == NULL) {
    free_batch(batch);
    return;
  }
  if (napi_create_object(env, &outcome) != napi_ok) {
    napi_value error;
    napi_create_error(env, NULL, string_value(env, "out of memory"), &error);
    napi_reject_deferred(env, batch->deferred, error);
  } else {
    napi_set_named_property(env, outcome, "done", int_value(env, (int)batch->done));
    if (batch->failed_step != NULL) {
      napi_value failure;
      char reason[256];
      napi_create_object(env, &failure);
      napi_set_named_property(env, failure, "index", int_value(env, batch->failed_index));
      napi_set_named_property(env, failure, "step", string_value(env, batch->failed_step));
      napi_set_named_property(env, failure, "errno", int_value(env, batch->error));
      napi_set_named_property(env, failure, "reason", string_value(env, strerror_r(batch->error, reason, sizeof reason)));
      if (batch->failed_link[0] != '\0') napi_set_named_property(env, failure, "link", string_value(env, batch->failed_link));
      if (batch->extack[0] != '\0') napi_set_named_property(env, failure, "extack", string_value(env, batch->extack));
      napi_set_named_property(env, outcome, "failure", failure);
    }
    napi_resolve_deferred(env, batch->deferred, outcome);
  }
  free_batch(batch);
}

static int get_uint32_property(napi_env env, napi_value object, const char *name, uint32_t *out) {
  napi_value value;
  return napi_get_named_property(env, object, name, &value) == napi_ok && napi_get_value_uint32(env, value, out) == napi_ok ? 0 : -1;
}

/* One { bytes, links } from JavaScript, copied: the work runs after this call returns. */
static int read_request(napi_env env, napi_value object, struct request *request) {
  napi_value bytes, links;
  bool is_typed_array, is_array;
  napi_typedarray_type type;
  size_t length;
  void *data;
  if (napi_get_named_property(env, object, "bytes", &bytes) != napi_ok || napi_is_typedarray(env, bytes, &is_typed_array) != napi_ok ||
      !is_typed_array || napi_get_typedarray_info(env, bytes, &type, &length, &data, NULL, NULL) != napi_ok || type != napi_uint8_array ||
      length < NLMSG_HDRLEN || length > MAX_REQUEST_BYTES)
    return -1;
  request->bytes = malloc(length);
  if (request->bytes == NULL) return -1;
  memcpy(request->bytes, data, length);
  request->length = (uint32_t)length;
  if (((struct nlmsghdr *)request->bytes)->nlmsg_len != length) return -1;
  if (napi_get_named_property(env, object, "links", &links) != napi_ok || napi_is_array(env, links, &is_array) != napi_ok || !is_array ||
      napi_get_array_length(env, links, &request->link_count) != napi_ok || request->link_count > MAX_LINKS_PER_REQUEST)
    return -1;
  for (uint32_t slot = 0; slot < request->link_count; slot++) {
    napi_value link, name;
    char text[IFNAMSIZ + 1]; /* one byte more than a name holds, to tell a longer one */
    size_t written;
    struct link_slot *target = &request->links[slot];
    if (napi_get_element(env, links, slot, &link) != napi_ok || get_uint32_property(env, link, "offset", &target->offset) < 0 ||
        target->offset < NLMSG_HDRLEN || target->offset > length - 4 || napi_get_named_property(env, link, "name", &name) != napi_ok ||
        napi_get_value_string_utf8(env, name, text, sizeof text, &written) != napi_ok || written == 0 || written >= IFNAMSIZ)
      return -1;
    memcpy(target->name, text, written + 1);
  }
  return 0;
}

static napi_value throw_error(napi_env env, const char *name, const char *message) {
  char text[256];
  snprintf(text, sizeof text, "%s: %s", name, message);
  napi_throw_error(env, NULL, text);
  return NULL;
}

napi_value start_batch(napi_env env, napi_callback_info info, const char *name, int protocol, void (*send)(struct batch *batch)) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2)
    return throw_error(env, name, "two arguments: netnsPath, requests");
  struct batch *batch = calloc(1, sizeof *batch);
  if (batch == NULL) return throw_error(env, name, "out of memory");
  batch->socket = -1;
  batch->failed_index = -1;
  batch->protocol = protocol;
  batch->send = send;
  napi_valuetype path_type;
  napi_typeof(env, argv[0], &path_type);
  if (path_type == napi_string) {
    size_t path_length;
    if (napi_get_value_string_utf8(env, argv[0], batch->netns_path, sizeof batch->netns_path, &path_length) != napi_ok || path_length == 0 ||
        path_length >= sizeof batch->netns_path - 1) {
      free_batch(batch);
      return throw_error(env, name, "netnsPath must be a non-empty path or null");
    }
    batch->in_netns = 1;
  } else if (path_type != napi_null) {
    free_batch(batch);
    return throw_error(env, name, "netnsPath must be a non-empty path or null");
  }
  bool is_array;
  uint32_t count;
  if (napi_is_array(env, argv[1], &is_array) != napi_ok || !is_array || napi_get_array_length(env, argv[1], &count) != napi_ok || count == 0 ||
      count > MAX_REQUESTS) {
    free_batch(batch);
    return throw_error(env, name, "requests must be an array of 1 to 64 requests");
  }
  for (uint32_t index = 0; index < count; index++) {
    napi_value element;
    batch->count = index + 1; /* what free_batch frees */
    if (napi_get_element(env, argv[1], index, &element) != napi_ok || read_request(env, element, &batch->requests[index]) < 0) {
      free_batch(batch);
      return throw_error(env, name, "a request is { bytes: Uint8Array (one netlink message), links: [{ offset, name }] }");
    }
  }
  napi_value promise, resource;
  if (napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource) != napi_ok ||
      napi_create_threadsafe_function(env, NULL, NULL, resource, 0, 1, NULL, NULL, NULL, complete, &batch->done_callback) != napi_ok) {
    free_batch(batch);
    return throw_error(env, name, "could not make its completion callback");
  }
  if (napi_create_promise(env, &batch->deferred, &promise) != napi_ok) {
    napi_release_threadsafe_function(batch->done_callback, napi_tsfn_abort);
    free_batch(batch);
    return throw_error(env, name, "out of memory");
  }
  int started = start_detached_thread(run_batch, batch, THREAD_STACK_BYTES);
  if (started != 0) {
    char message[256], reason[128];
    snprintf(message, sizeof message, "%s: pthread_create: %s", name, strerror_r(started, reason, sizeof reason));
    napi_value error;
    napi_create_error(env, NULL, string_value(env, message), &error);
    napi_reject_deferred(env, batch->deferred, error);
    napi_release_threadsafe_function(batch->done_callback, napi_tsfn_abort);
    free_batch(batch);
  }
  return promise;
}

static napi_value send_rtnetlink(napi_env env, napi_callback_info info) {
  return start_batch(env, info, "sendRtnetlink", NETLINK_ROUTE, send_all);
}

napi_status export_function(napi_env env, napi_value exports, const char *name, napi_callback callback) {
  napi_value function;
  napi_status status = napi_create_function(env, name, NAPI_AUTO_LENGTH, callback, NULL, &function);
  if (status != napi_ok) return status;
  return napi_set_named_property(env, exports, name, function);
}

napi_status register_rtnetlink(napi_env env, napi_value exports) {
  return export_function(env, exports, "sendRtnetlink", send_rtnetlink);
}
