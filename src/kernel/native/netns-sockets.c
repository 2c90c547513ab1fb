/*
 * skiff-netns.node: sockets made inside another network namespace, for the
 * embedded DNS to answer (and forward) from within each container's namespace
 * as Docker's resolver does.
 *
 * A socket belongs for its whole life to the namespace it was made in; where
 * the thread that uses it stands afterwards does not matter. So each call
 * starts a thread of its own, which enters the namespace (setns), makes and
 * binds the sockets, and exits: none of Node's threads ever changes namespace
 * (the CNI pkg/ns README explains why that matters). Node then serves the
 * file descriptors on its own event loop (dgram bind({ fd }), net listen({ fd })).
 *
 *   openSockets(netnsPath, [{ type: 'udp' | 'tcp', family: 4 | 6, address?, port?, listen? }, ...])
 *     -> [{ fd, port }, ...]
 *
 * netnsPath null makes them in the daemon's own namespace (the DNS relay's
 * upstream sockets there, dns-relay.c).
 *
 * With an address the socket is bound there (IP_FREEBIND: the namespace's lo
 * may not be up yet); port 0 picks a free one, returned as port. listen makes
 * a TCP socket listen. Every descriptor is close-on-exec, so runc, the shims
 * and nft never inherit one. On any failure nothing is left open and the call
 * throws an Error naming the namespace and the step that failed.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <node_api.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "nfnetlink.h"
#include "netlink-dump.h"
#include "rtnetlink.h"
#include "release-memory.h"
#include "spawn.h"
#include "sandbox.h"
#include "dns-relay.h"
#include "dns-fastpath.h"

#define MAX_SOCKETS 8
#define LISTEN_BACKLOG 128

struct socket_spec {
  int tcp;
  int family;
  int bind;
  char address[INET6_ADDRSTRLEN];
  int port;
  int listen;
  int fd;
  int bound_port;
};

struct job {
  char netns_path[4096];
  struct socket_spec specs[MAX_SOCKETS];
  int count;
  const char *failed_step;
  int error;
};

static int fail(struct job *job, const char *step) {
  job->failed_step = step;
  job->error = errno;
  return -1;
}

static int make_socket(struct job *job, struct socket_spec *spec) {
  int domain = spec->family == 6 ? AF_INET6 : AF_INET;
  int fd = socket(domain, (spec->tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return fail(job, "socket");
  spec->fd = fd;
  if (!spec->bind) return 0;
  int on = 1;
  if (setsockopt(fd, domain == AF_INET6 ? IPPROTO_IPV6 : IPPROTO_IP, domain == AF_INET6 ? IPV6_FREEBIND : IP_FREEBIND, &on, sizeof on) < 0)
    return fail(job, "setsockopt IP_FREEBIND");
  if (spec->tcp && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) < 0) return fail(job, "setsockopt SO_REUSEADDR");
  struct sockaddr_storage address;
  socklen_t length;
  memset(&address, 0, sizeof address);
  if (domain == AF_INET6) {
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&address;
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)spec->port);
    if (inet_pton(AF_INET6, spec->address, &in6->sin6_addr) != 1) {
      errno = EINVAL;
      return fail(job, "parse address");
    }
    length = sizeof *in6;
  } else {
    struct sockaddr_in *in4 = (struct sockaddr_in *)&address;
    in4->sin_family = AF_INET;
    in4->sin_port = htons((uint16_t)spec->port);
    if (inet_pton(AF_INET, spec->address, &in4->sin_addr) != 1) {
      errno = EINVAL;
      return fail(job, "parse address");
    }
    length = sizeof *in4;
  }
  if (bind(fd, (struct sockaddr *)&address, length) < 0) return fail(job, "bind");
  if (spec->tcp && spec->listen && listen(fd, LISTEN_BACKLOG) < 0) return fail(job, "listen");
  length = sizeof address;
  if (getsockname(fd, (struct sockaddr *)&address, &length) < 0) return fail(job, "getsockname");
  spec->bound_port = ntohs(domain == AF_INET6 ? ((struct sockaddr_in6 *)&address)->sin6_port : ((struct sockaddr_in *)&address)->sin_port);
  return 0;
}

static void *make_sockets(struct job *job) {
  for (int index = 0; index < job->count; index++) {
    if (make_socket(job, &job->specs[index]) < 0) return NULL;
  }
  return NULL;
}

/* The thread that enters the namespace: it exits when done, so its namespace dies with it. */
static void *in_netns(void *argument) {
  struct job *job = argument;
  if (job->netns_path[0] == '\0') return make_sockets(job); /* the daemon's own namespace */
  int netns = open(job->netns_path, O_RDONLY | O_CLOEXEC);
  if (netns < 0) {
    fail(job, "open");
    return NULL;
  }
  if (setns(netns, CLONE_NEWNET) < 0) {
    fail(job, "setns");
    close(netns);
    return NULL;
  }
  close(netns);
  return make_sockets(job);
}

static void close_all(struct job *job) {
  for (int index = 0; index < job->count; index++) {
    if (job->specs[index].fd >= 0) close(job->specs[index].fd);
    job->specs[index].fd = -1;
  }
}

static napi_value throw_error(napi_env env, const char *message) {
  napi_throw_error(env, NULL, message);
  return NULL;
}

static int get_property_string(napi_env env, napi_value object, const char *name, char *out, size_t size, int *present) {
  napi_value value;
  napi_valuetype type;
  *present = 0;
  if (napi_get_named_property(env, object, name, &value) != napi_ok) return -1;
  if (napi_typeof(env, value, &type) != napi_ok) return -1;
  if (type == napi_undefined || type == napi_null) return 0;
  if (type != napi_string) return -1;
  size_t written;
  if (napi_get_value_string_utf8(env, value, out, size, &written) != napi_ok || written >= size - 1) return -1;
  *present = 1;
  return 0;
}

static int get_property_int(napi_env env, napi_value object, const char *name, int fallback, int *out) {
  napi_value value;
  napi_valuetype type;
  *out = fallback;
  if (napi_get_named_property(env, object, name, &value) != napi_ok) return -1;
  if (napi_typeof(env, value, &type) != napi_ok) return -1;
  if (type == napi_undefined) return 0;
  if (type == napi_boolean) {
    bool flag;
    if (napi_get_value_bool(env, value, &flag) != napi_ok) return -1;
    *out = flag ? 1 : 0;
    return 0;
  }
  if (type != napi_number) return -1;
  int32_t number;
  if (napi_get_value_int32(env, value, &number) != napi_ok) return -1;
  *out = number;
  return 0;
}

static int read_spec(napi_env env, napi_value object, struct socket_spec *spec) {
  char type[8];
  int present;
  if (get_property_string(env, object, "type", type, sizeof type, &present) < 0 || !present) return -1;
  if (strcmp(type, "udp") == 0) spec->tcp = 0;
  else if (strcmp(type, "tcp") == 0) spec->tcp = 1;
  else return -1;
  if (get_property_int(env, object, "family", 4, &spec->family) < 0 || (spec->family != 4 && spec->family != 6)) return -1;
  if (get_property_string(env, object, "address", spec->address, sizeof spec->address, &spec->bind) < 0) return -1;
  if (get_property_int(env, object, "port", 0, &spec->port) < 0 || spec->port < 0 || spec->port > 65535) return -1;
  if (get_property_int(env, object, "listen", 0, &spec->listen) < 0) return -1;
  spec->fd = -1;
  spec->bound_port = 0;
  return 0;
}

static napi_value open_sockets(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2) return throw_error(env, "openSockets(netnsPath, specs): two arguments");
  static struct job zero;
  struct job job = zero;
  size_t path_length;
  napi_valuetype path_type;
  if (napi_typeof(env, argv[0], &path_type) != napi_ok) return throw_error(env, "openSockets: netnsPath must be a non-empty path or null");
  if (path_type != napi_null && (napi_get_value_string_utf8(env, argv[0], job.netns_path, sizeof job.netns_path, &path_length) != napi_ok ||
                                 path_length == 0 || path_length >= sizeof job.netns_path - 1))
    return throw_error(env, "openSockets: netnsPath must be a non-empty path or null");
  bool is_array;
  uint32_t count;
  if (napi_is_array(env, argv[1], &is_array) != napi_ok || !is_array || napi_get_array_length(env, argv[1], &count) != napi_ok || count == 0 ||
      count > MAX_SOCKETS)
    return throw_error(env, "openSockets: specs must be an array of 1 to 8 socket specs");
  job.count = (int)count;
  for (uint32_t index = 0; index < count; index++) {
    napi_value element;
    if (napi_get_element(env, argv[1], index, &element) != napi_ok || read_spec(env, element, &job.specs[index]) < 0)
      return throw_error(env, "openSockets: a socket spec is { type: 'udp' | 'tcp', family: 4 | 6, address?, port?, listen? }");
  }
  pthread_t thread;
  int started = pthread_create(&thread, NULL, in_netns, &job);
  if (started != 0) {
    char message[4200];
    snprintf(message, sizeof message, "failed to open sockets in netns \"%s\": pthread_create: %s", job.netns_path, strerror(started));
    return throw_error(env, message);
  }
  pthread_join(thread, NULL);
  if (job.failed_step != NULL) {
    close_all(&job);
    char message[4200];
    snprintf(message, sizeof message, "failed to open sockets in netns \"%s\": %s: %s", job.netns_path, job.failed_step, strerror(job.error));
    return throw_error(env, message);
  }
  napi_value result;
  if (napi_create_array_with_length(env, count, &result) != napi_ok) {
    close_all(&job);
    return throw_error(env, "openSockets: out of memory");
  }
  for (uint32_t index = 0; index < count; index++) {
    napi_value entry, fd, port;
    if (napi_create_object(env, &entry) != napi_ok || napi_create_int32(env, job.specs[index].fd, &fd) != napi_ok ||
        napi_create_int32(env, job.specs[index].bound_port, &port) != napi_ok || napi_set_named_property(env, entry, "fd", fd) != napi_ok ||
        napi_set_named_property(env, entry, "port", port) != napi_ok || napi_set_element(env, result, index, entry) != napi_ok) {
      close_all(&job);
      return throw_error(env, "openSockets: out of memory");
    }
  }
  return result;
}

NAPI_MODULE_INIT() {
  napi_value function;
  if (napi_create_function(env, "openSockets", NAPI_AUTO_LENGTH, open_sockets, NULL, &function) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "openSockets", function) != napi_ok) return NULL;
  if (register_rtnetlink(env, exports) != napi_ok) return NULL;
  if (register_nfnetlink(env, exports) != napi_ok) return NULL;
  if (register_netlink_dump(env, exports) != napi_ok) return NULL;
  if (add_release_memory(env, exports) != 0) return NULL;
  if (register_spawn(env, exports) != napi_ok) return NULL;
  if (register_sandbox(env, exports) != napi_ok) return NULL;
  if (register_dns_relay(env, exports) != napi_ok) return NULL;
  if (register_dns_fastpath(env, exports) != napi_ok) return NULL;
  return exports;
}
