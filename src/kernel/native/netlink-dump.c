/*
 * netlink reads done by the daemon itself, in place of `ip -json addr show`
 * and `nsenter --net=PATH nft list table` (a program start each, 4-18 ms,
 * for microseconds of kernel work): skiff network diagnose reads every
 * container's namespace beside hundreds of them. The requests are built and
 * the answers parsed in TypeScript (src/kernel/rtnetlink/dumps.ts,
 * src/kernel/nftables/rules.ts); this file only carries them.
 *
 *   dumpNetlink(netnsPath | null, [{ protocol: number, bytes: Uint8Array }, ...])
 *     -> Promise<{ answers: [{ bytes: Buffer } | { errno, reason }, ...], failure?: { step, errno, reason } }>
 *
 * Each request (a dump, NLM_F_DUMP, or a get of one object) goes on a
 * socket of its protocol (NETLINK_ROUTE, NETLINK_NETFILTER) made in the
 * namespace bound at netnsPath, or in the daemon's own when null. Its answer
 * is every message the kernel sent for it, back to back as received
 * (without NLMSG_DONE), or the errno it was refused with (ENODEV: no such
 * link; ENOENT: no such nftables table). A dump the kernel marks
 * interrupted (NLM_F_DUMP_INTR: the objects changed meanwhile) is asked
 * again, a few times. failure: no socket could be made (step "open",
 * "setns" or "socket": the namespace is gone, say); no answers then.
 *
 * As in rtnetlink.c, each call runs on a thread of its own that enters the
 * namespace and exits when done, so none of Node's threads changes namespace.
 */
#define _GNU_SOURCE
#include "netlink-dump.h"
#include "napi-values.h"
#include "detached-thread.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_DUMPS 16
#define MAX_DUMP_REQUEST_BYTES 1024
#define DUMP_RECEIVE_BYTES (64 * 1024)
#define DUMP_THREAD_STACK_BYTES (128 * 1024)
#define DUMP_ATTEMPTS 3
/* The sockets a call may need: one a protocol, made on first use. */
#define MAX_PROTOCOLS 2

struct dump_request {
  int protocol;
  unsigned char bytes[MAX_DUMP_REQUEST_BYTES];
  uint32_t length;
  /* The answer: the messages received, or error (> 0). */
  unsigned char *answer;
  size_t answer_length;
  size_t answer_capacity;
  int error;
};

struct dump_call {
  char netns_path[4096];
  int in_netns;
  struct dump_request requests[MAX_DUMPS];
  uint32_t count;
  struct {
    int protocol;
    int fd;
  } sockets[MAX_PROTOCOLS];
  uint32_t socket_count;
  uint32_t sequence;
  unsigned char *receive_buffer;
  const char *failed_step;
  int error;
  napi_threadsafe_function done_callback;
  napi_deferred deferred;
};

static void free_call(struct dump_call *call) {
  for (uint32_t index = 0; index < call->socket_count; index++) close(call->sockets[index].fd);
  for (uint32_t index = 0; index < call->count; index++) free(call->requests[index].answer);
  free(call->receive_buffer);
  free(call);
}

/* The socket of protocol, made on first use (in the thread's namespace); -1 with errno set when none can be made. */
static int socket_for(struct dump_call *call, int protocol) {
  for (uint32_t index = 0; index < call->socket_count; index++)
    if (call->sockets[index].protocol == protocol) return call->sockets[index].fd;
  if (call->socket_count == MAX_PROTOCOLS) {
    errno = EPROTONOSUPPORT;
    return -1;
  }
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
  if (fd < 0) return -1;
  call->sockets[call->socket_count].protocol = protocol;
  call->sockets[call->socket_count].fd = fd;
  call->socket_count++;
  return fd;
}

static int append(struct dump_request *request, const void *bytes, size_t length) {
  if (request->answer_length + length > request->answer_capacity) {
    size_t capacity = request->answer_capacity == 0 ? DUMP_RECEIVE_BYTES : request->answer_capacity;
    while (capacity < request->answer_length + length) capacity *= 2;
    unsigned char *grown = realloc(request->answer, capacity);
    if (grown == NULL) return ENOMEM;
    request->answer = grown;
    request->answer_capacity = capacity;
  }
  memcpy(request->answer + request->answer_length, bytes, length);
  request->answer_length += length;
  return 0;
}

/* Sends the request once and gathers its answer: 0, EAGAIN when the kernel marked the dump interrupted, or an errno. */
static int exchange_once(struct dump_call *call, struct dump_request *request, int fd) {
  struct nlmsghdr *header = (struct nlmsghdr *)request->bytes;
  header->nlmsg_seq = ++call->sequence;
  header->nlmsg_pid = 0;
  request->answer_length = 0;
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  ssize_t sent;
  do sent = sendto(fd, request->bytes, request->length, 0, (struct sockaddr *)&kernel, sizeof kernel);
  while (sent < 0 && errno == EINTR);
  if (sent < 0) return errno;
  int interrupted = 0;
  for (;;) {
    ssize_t received;
    do received = recv(fd, call->receive_buffer, DUMP_RECEIVE_BYTES, MSG_TRUNC);
    while (received < 0 && errno == EINTR);
    if (received < 0) return errno;
    if (received > DUMP_RECEIVE_BYTES) return EMSGSIZE;
    int remaining = (int)received;
    for (const struct nlmsghdr *answer = (const struct nlmsghdr *)call->receive_buffer; NLMSG_OK(answer, remaining);
         answer = NLMSG_NEXT(answer, remaining)) {
      if (answer->nlmsg_seq != call->sequence) continue; /* a late answer to an earlier request */
      if (answer->nlmsg_flags & NLM_F_DUMP_INTR) interrupted = 1;
      if (answer->nlmsg_type == NLMSG_DONE) {
        /* A dump's end carries its error, when the dump failed part way. */
        int status = answer->nlmsg_len >= NLMSG_LENGTH(sizeof(int)) ? *(const int *)NLMSG_DATA(answer) : 0;
        if (status < 0) return -status;
        return interrupted ? EAGAIN : 0;
      }
      if (answer->nlmsg_type == NLMSG_ERROR) {
        const struct nlmsgerr *error = NLMSG_DATA(answer);
        return -error->error;
      }
      int error = append(request, answer, answer->nlmsg_len);
      if (error != 0) return error;
      if (!(answer->nlmsg_flags & NLM_F_MULTI)) return 0; /* a get's one answer */
    }
  }
}

static void exchange_all(struct dump_call *call) {
  for (uint32_t index = 0; index < call->count; index++) {
    struct dump_request *request = &call->requests[index];
    int fd = socket_for(call, request->protocol);
    if (fd < 0) {
      call->failed_step = "socket";
      call->error = errno;
      return;
    }
    int error = EAGAIN;
    for (int attempt = 0; attempt < DUMP_ATTEMPTS && error == EAGAIN; attempt++) error = exchange_once(call, request, fd);
    request->error = error == EAGAIN ? 0 : error; /* still interrupted after a few: the last answer, as ip shows it */
  }
}

static int enter_netns(struct dump_call *call) {
  int netns = open(call->netns_path, O_RDONLY | O_CLOEXEC);
  if (netns < 0) {
    call->failed_step = "open";
    call->error = errno;
    return -1;
  }
  if (setns(netns, CLONE_NEWNET) < 0) {
    call->failed_step = "setns";
    call->error = errno;
    close(netns);
    return -1;
  }
  close(netns);
  return 0;
}

static void *run_call(void *data) {
  struct dump_call *call = data;
  pthread_setname_np(pthread_self(), "skiff-nl-dump");
  call->receive_buffer = malloc(DUMP_RECEIVE_BYTES);
  if (call->receive_buffer == NULL) {
    call->failed_step = "socket";
    call->error = ENOMEM;
  } else if (!call->in_netns || enter_netns(call) == 0) {
    exchange_all(call);
  }
  /* Closed here, off Node's main thread: the answers are copied, and a netfilter socket's close may wait for the kernel. */
  for (uint32_t index = 0; index < call->socket_count; index++) close(call->sockets[index].fd);
  call->socket_count = 0;
  napi_threadsafe_function done_callback = call->done_callback;
  napi_call_threadsafe_function(done_callback, call, napi_tsfn_blocking);
  napi_release_threadsafe_function(done_callback, napi_tsfn_release);
  return NULL;
}

/* { errno, reason } */
static napi_value error_value(napi_env env, int error) {
  napi_value object;
  char reason[256];
  napi_create_object(env, &object);
  napi_set_named_property(env, object, "errno", int_value(env, error));
  napi_set_named_property(env, object, "reason", string_value(env, strerror_r(error, reason, sizeof reason)));
  return object;
}

static napi_status answer_value(napi_env env, const struct dump_request *request, napi_value *value) {
  if (request->error != 0) {
    *value = error_value(env, request->error);
    return napi_ok;
  }
  napi_value bytes;
  void *data;
  napi_status status = napi_create_buffer(env, request->answer_length, &data, &bytes);
  if (status != napi_ok) return status;
  if (request->answer_length > 0) memcpy(data, request->answer, request->answer_length);
  if ((status = napi_create_object(env, value)) != napi_ok) return status;
  return napi_set_named_property(env, *value, "bytes", bytes);
}

/* On Node's main thread: the Promise resolved with the answers. env is NULL when Node is shutting down. */
static void complete(napi_env env, napi_value callback, void *context, void *data) {
  (void)callback;
  (void)context;
  struct dump_call *call = data;
  if (env == NULL) {
    free_call(call);
    return;
  }
  napi_value outcome, answers;
  napi_status status = napi_create_object(env, &outcome);
  if (status == napi_ok) status = napi_create_array(env, &answers);
  if (status == napi_ok && call->failed_step == NULL)
    for (uint32_t index = 0; index < call->count && status == napi_ok; index++) {
      napi_value answer;
      status = answer_value(env, &call->requests[index], &answer);
      if (status == napi_ok) status = napi_set_element(env, answers, index, answer);
    }
  if (status == napi_ok) status = napi_set_named_property(env, outcome, "answers", answers);
  if (status == napi_ok && call->failed_step != NULL) {
    napi_value failure = error_value(env, call->error);
    napi_set_named_property(env, failure, "step", string_value(env, call->failed_step));
    status = napi_set_named_property(env, outcome, "failure", failure);
  }
  if (status == napi_ok) {
    napi_resolve_deferred(env, call->deferred, outcome);
  } else {
    napi_value error;
    napi_create_error(env, NULL, string_value(env, "dumpNetlink: out of memory"), &error);
    napi_reject_deferred(env, call->deferred, error);
  }
  free_call(call);
}

static napi_value throw_error(napi_env env, const char *message) {
  napi_throw_error(env, NULL, message);
  return NULL;
}

/* One { protocol, bytes } from JavaScript, copied: the work runs after this call returns. */
static int read_request(napi_env env, napi_value object, struct dump_request *request) {
  napi_value protocol, bytes;
  bool is_typed_array;
  napi_typedarray_type type;
  size_t length;
  void *data;
  int32_t number;
  if (napi_get_named_property(env, object, "protocol", &protocol) != napi_ok || napi_get_value_int32(env, protocol, &number) != napi_ok ||
      (number != NETLINK_ROUTE && number != NETLINK_NETFILTER))
    return -1;
  if (napi_get_named_property(env, object, "bytes", &bytes) != napi_ok || napi_is_typedarray(env, bytes, &is_typed_array) != napi_ok ||
      !is_typed_array || napi_get_typedarray_info(env, bytes, &type, &length, &data, NULL, NULL) != napi_ok || type != napi_uint8_array ||
      length < NLMSG_HDRLEN || length > MAX_DUMP_REQUEST_BYTES)
    return -1;
  memcpy(request->bytes, data, length);
  request->length = (uint32_t)length;
  request->protocol = number;
  return ((struct nlmsghdr *)request->bytes)->nlmsg_len == length ? 0 : -1;
}

static napi_value dump_netlink(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2)
    return throw_error(env, "dumpNetlink: two arguments: netnsPath, requests");
  struct dump_call *call = calloc(1, sizeof *call);
  if (call == NULL) return throw_error(env, "dumpNetlink: out of memory");
  napi_valuetype path_type;
  napi_typeof(env, argv[0], &path_type);
  if (path_type == napi_string) {
    size_t path_length;
    if (napi_get_value_string_utf8(env, argv[0], call->netns_path, sizeof call->netns_path, &path_length) != napi_ok || path_length == 0 ||
        path_length >= sizeof call->netns_path - 1) {
      free_call(call);
      return throw_error(env, "dumpNetlink: netnsPath must be a non-empty path or null");
    }
    call->in_netns = 1;
  } else if (path_type != napi_null) {
    free_call(call);
    return throw_error(env, "dumpNetlink: netnsPath must be a non-empty path or null");
  }
  bool is_array;
  uint32_t count;
  if (napi_is_array(env, argv[1], &is_array) != napi_ok || !is_array || napi_get_array_length(env, argv[1], &count) != napi_ok || count == 0 ||
      count > MAX_DUMPS) {
    free_call(call);
    return throw_error(env, "dumpNetlink: requests must be an array of 1 to 16 requests");
  }
  for (uint32_t index = 0; index < count; index++) {
    napi_value element;
    call->count = index + 1;
    if (napi_get_element(env, argv[1], index, &element) != napi_ok || read_request(env, element, &call->requests[index]) < 0) {
      free_call(call);
      return throw_error(env, "dumpNetlink: a request is { protocol: NETLINK_ROUTE | NETLINK_NETFILTER, bytes: Uint8Array (one netlink message) }");
    }
  }
  napi_value promise, resource;
  if (napi_create_string_utf8(env, "dumpNetlink", NAPI_AUTO_LENGTH, &resource) != napi_ok ||
      napi_create_threadsafe_function(env, NULL, NULL, resource, 0, 1, NULL, NULL, NULL, complete, &call->done_callback) != napi_ok) {
    free_call(call);
    return throw_error(env, "dumpNetlink: could not make its completion callback");
  }
  if (napi_create_promise(env, &call->deferred, &promise) != napi_ok) {
    napi_release_threadsafe_function(call->done_callback, napi_tsfn_abort);
    free_call(call);
    return throw_error(env, "dumpNetlink: out of memory");
  }
  int started = start_detached_thread(run_call, call, DUMP_THREAD_STACK_BYTES);
  if (started != 0) {
    char message[256], reason[128];
    snprintf(message, sizeof message, "dumpNetlink: pthread_create: %s", strerror_r(started, reason, sizeof reason));
    napi_value error;
    napi_create_error(env, NULL, string_value(env, message), &error);
    napi_reject_deferred(env, call->deferred, error);
    napi_release_threadsafe_function(call->done_callback, napi_tsfn_abort);
    free_call(call);
  }
  return promise;
}

napi_status register_netlink_dump(napi_env env, napi_value exports) {
  napi_value function;
  napi_status status = napi_create_function(env, "dumpNetlink", NAPI_AUTO_LENGTH, dump_netlink, NULL, &function);
  if (status != napi_ok) return status;
  return napi_set_named_property(env, exports, "dumpNetlink", function);
}
