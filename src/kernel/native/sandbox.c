/*
 * The mounts a container's start and removal make, by system call instead of
 * by program (`unshare`, `nsenter ip`, `mount`, `umount`): each program the
 * daemon starts forks the whole Node process, 1 ms at 50 MB and 6 ms at
 * 220 MB, so the cost grew with the number of containers beside it.
 *
 *   createNetns(path, loopbackUp) -> Promise<void>
 *     A new network namespace bound to the (existing, empty) file at path,
 *     with net.ipv4.conf.all.ignore_routes_with_linkdown=1, IPv6 disabled
 *     (net.ipv6.conf.all and .default disable_ipv6=1, as Docker's sandboxes;
 *     skipped on a kernel without IPv6) and, when asked, lo up. Made on a
 *     thread of its own that unshares, sets them, binds its namespace onto
 *     path and exits: none of Node's threads ever changes namespace. A
 *     failure binds nothing (the bind is the last step).
 *   setNetnsSysctl(path, key, value) -> Promise<void>
 *     Writes value to /proc/sys/<key> inside the namespace bound at path
 *     (key under net/, no ".." in it), from a thread of its own that enters
 *     the namespace and exits.
 *   mount(source, target, type, options) -> Promise<void>
 *   unmount(target, detach) -> Promise<void>
 *     mount(2) and umount2(2) (MNT_DETACH when detach) on libuv's pool: they
 *     change no namespace, but an overlay's unmount can wait on its upper
 *     file system.
 *
 * A failure rejects with an Error whose message is the step and strerror's
 * text ("unshare: Operation not permitted"; for mount and unmount strerror's
 * text alone) and whose errno is the number: the caller names the path.
 */
#define _GNU_SOURCE
#include "sandbox.h"
#include "napi-values.h"
#include "exported-functions.h"
#include "detached-thread.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "rtnetlink.h"

/* What mount(2) takes of its data: one page with its last byte made the end, the rest cut off unseen. */
#define MOUNT_DATA_BYTES 4095
#define THREAD_STACK_BYTES (256 * 1024)
/*
 * Opened by the thread in the new namespace: /proc/sys/net is resolved by
 * the opener's namespace. Each namespace has its own dentry for ipv4 and
 * ipv6 under /proc/sys/net, all in one hash chain, so finding one costs a
 * comparison per namespace on the host: IPv6's conf directory is looked up
 * once for both its files.
 */
#define IGNORE_ROUTES_WITH_LINKDOWN "/proc/sys/net/ipv4/conf/all/ignore_routes_with_linkdown"
#define IPV6_CONF "/proc/sys/net/ipv6/conf"
#define DISABLE_IPV6_ALL "all/disable_ipv6"
#define DISABLE_IPV6_DEFAULT "default/disable_ipv6"

enum operation { CREATE_NETNS, SET_SYSCTL, MOUNT, UNMOUNT };

struct call {
  enum operation operation;
  char path[4096];
  char source[256];
  char type[64];
  char options[MOUNT_DATA_BYTES + 2]; /* the text, a byte more to tell a longer one, and its end */
  int flag; /* loopbackUp, or detach */
  char key[256]; /* setNetnsSysctl's, under /proc/sys */
  char value[256];
  char step[320]; /* a failed step naming its file */
  /* The outcome: no failed_step when it worked. */
  const char *failed_step;
  int error;
  napi_deferred deferred;
  napi_async_work work;
  napi_threadsafe_function done_callback;
};

static int fail(struct call *call, const char *step, int error) {
  call->failed_step = step;
  call->error = error;
  return -1;
}

/*
 * Writes value to a sysctl file of the calling thread's namespace: path is
 * absolute (directory AT_FDCWD) or under IPv6's conf (directory that).
 */
static int write_proc_sys(struct call *call, int directory, const char *path, const char *value) {
  int fd = openat(directory, path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    int error = errno;
    snprintf(call->step, sizeof call->step, "open %s%s", directory == AT_FDCWD ? "" : IPV6_CONF "/", path);
    return fail(call, call->step, error);
  }
  size_t length = strlen(value);
  ssize_t written;
  do written = write(fd, value, length);
  while (written < 0 && errno == EINTR);
  int error = written < 0 ? errno : (size_t)written != length ? EIO : 0;
  close(fd);
  if (error == 0) return 0;
  snprintf(call->step, sizeof call->step, "write %s%s", directory == AT_FDCWD ? "" : IPV6_CONF "/", path);
  return fail(call, call->step, error);
}

/* `ip link set lo up`, on a socket in the calling thread's namespace. */
static int loopback_up(struct call *call) {
  struct {
    struct nlmsghdr header;
    struct ifinfomsg link;
    unsigned char name[NLA_HDRLEN + NLA_ALIGN(sizeof "lo")];
  } request;
  memset(&request, 0, sizeof request);
  request.header.nlmsg_len = sizeof request;
  request.header.nlmsg_type = RTM_NEWLINK;
  request.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  request.link.ifi_family = AF_UNSPEC;
  request.link.ifi_flags = IFF_UP;
  request.link.ifi_change = IFF_UP;
  struct nlattr *name = (struct nlattr *)request.name;
  name->nla_type = IFLA_IFNAME;
  name->nla_len = NLA_HDRLEN + sizeof "lo";
  memcpy(request.name + NLA_HDRLEN, "lo", sizeof "lo");
  int error = rtnetlink_request_here((unsigned char *)&request, sizeof request);
  return error == 0 ? 0 : fail(call, "link set lo up", error);
}

static void create_netns(struct call *call) {
  if (unshare(CLONE_NEWNET) < 0) {
    fail(call, "unshare", errno);
    return;
  }
  if (write_proc_sys(call, AT_FDCWD, IGNORE_ROUTES_WITH_LINKDOWN, "1") < 0) return;
  int ipv6_conf = open(IPV6_CONF, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (ipv6_conf < 0 && errno != ENOENT) {
    fail(call, "open " IPV6_CONF, errno);
    return;
  }
  if (ipv6_conf >= 0) { /* else a kernel without IPv6 */
    /* all first: lo is already there; default then holds for every interface made in or moved in later. */
    int written = write_proc_sys(call, ipv6_conf, DISABLE_IPV6_ALL, "1") == 0 &&
                  write_proc_sys(call, ipv6_conf, DISABLE_IPV6_DEFAULT, "1") == 0;
    close(ipv6_conf);
    if (!written) return;
  }
  if (call->flag && loopback_up(call) < 0) return;
  if (mount("/proc/thread-self/ns/net", call->path, NULL, MS_BIND, NULL) < 0) fail(call, "bind", errno);
}

static void set_netns_sysctl(struct call *call) {
  int namespace = open(call->path, O_RDONLY | O_CLOEXEC);
  if (namespace < 0) {
    fail(call, "open namespace", errno);
    return;
  }
  int entered = setns(namespace, CLONE_NEWNET);
  int error = errno;
  close(namespace);
  if (entered < 0) {
    fail(call, "setns", error);
    return;
  }
  char path[sizeof "/proc/sys/" + sizeof call->key];
  snprintf(path, sizeof path, "/proc/sys/%s", call->key);
  write_proc_sys(call, AT_FDCWD, path, call->value);
}

/* On Node's main thread: the Promise settled with the outcome. */
static void settle(napi_env env, struct call *call) {
  if (call->failed_step == NULL) {
    napi_value undefined;
    napi_get_undefined(env, &undefined);
    napi_resolve_deferred(env, call->deferred, undefined);
    return;
  }
  char reason[256], message[512];
  const char *text = strerror_r(call->error, reason, sizeof reason);
  if (call->failed_step[0] == '\0') snprintf(message, sizeof message, "%s", text);
  else snprintf(message, sizeof message, "%s: %s", call->failed_step, text);
  napi_value error, number;
  napi_create_error(env, NULL, string_value(env, message), &error);
  napi_create_int32(env, call->error, &number);
  napi_set_named_property(env, error, "errno", number);
  napi_reject_deferred(env, call->deferred, error);
}

/*
 * A thread that leaves the daemon's namespace for good: a new one made, set
 * up and bound (it outlives the thread by the bind), or one entered for a
 * sysctl; then the outcome to Node's main thread.
 */
static void *run_in_other_netns(void *data) {
  struct call *call = data;
  pthread_setname_np(pthread_self(), "skiff-newnetns"); /* how a thread outside the daemon's namespace is known for ours */
  if (call->operation == CREATE_NETNS) create_netns(call);
  else set_netns_sysctl(call);
  napi_threadsafe_function done_callback = call->done_callback; /* call is the main thread's (and freed) once handed over */
  napi_call_threadsafe_function(done_callback, call, napi_tsfn_blocking);
  napi_release_threadsafe_function(done_callback, napi_tsfn_release);
  return NULL;
}

/* env is NULL when Node is shutting down. */
static void complete_in_other_netns(napi_env env, napi_value callback, void *context, void *data) {
  (void)callback;
  (void)context;
  if (env != NULL) settle(env, data);
  free(data);
}

static void execute(napi_env env, void *data) {
  (void)env;
  struct call *call = data;
  if (call->operation == MOUNT) {
    if (mount(call->source, call->path, call->type, 0, call->options) < 0) fail(call, "", errno);
  } else if (umount2(call->path, call->flag ? MNT_DETACH : 0) < 0) {
    fail(call, "", errno);
  }
}

static void complete(napi_env env, napi_status status, void *data) {
  struct call *call = data;
  if (status != napi_ok && call->failed_step == NULL) fail(call, "", ECANCELED);
  settle(env, call);
  napi_delete_async_work(env, call->work);
  free(call);
}

static napi_value throw_error(napi_env env, const char *message) {
  napi_throw_error(env, NULL, message);
  return NULL;
}

/* A string argument copied into out; -1 when it is not a string, is empty, or does not fit. */
static int read_string(napi_env env, napi_value value, char *out, size_t size) {
  size_t length;
  if (napi_get_value_string_utf8(env, value, out, size, &length) != napi_ok || length == 0 || length >= size - 1) return -1;
  return 0;
}

static int read_flag(napi_env env, napi_value value, int *out) {
  bool flag;
  if (napi_get_value_bool(env, value, &flag) != napi_ok) return -1;
  *out = flag;
  return 0;
}

/* Fetches argc arguments into argv and allocates the call; NULL (with an exception pending) when they are too few. */
static struct call *new_call(napi_env env, napi_callback_info info, enum operation operation, napi_value *argv, size_t argc, const char *usage) {
  size_t given = argc;
  if (napi_get_cb_info(env, info, &given, argv, NULL, NULL) != napi_ok || given < argc) {
    throw_error(env, usage);
    return NULL;
  }
  struct call *call = calloc(1, sizeof *call);
  if (call == NULL) {
    throw_error(env, "skiff addon: out of memory");
    return NULL;
  }
  call->operation = operation;
  return call;
}

static napi_value queue(napi_env env, struct call *call, const char *name) {
  napi_value promise, resource_name;
  if (napi_create_promise(env, &call->deferred, &promise) != napi_ok) {
    free(call);
    return throw_error(env, "skiff addon: out of memory");
  }
  if (napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource_name) != napi_ok ||
      napi_create_async_work(env, NULL, resource_name, execute, complete, call, &call->work) != napi_ok ||
      napi_queue_async_work(env, call->work) != napi_ok) {
    if (call->work != NULL) napi_delete_async_work(env, call->work);
    fail(call, "", ENOMEM);
    settle(env, call);
    free(call);
  }
  return promise;
}

static napi_value mount_call(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  const char *usage = "mount(source, target, type, options): four strings, options of at most 4095 bytes";
  struct call *call = new_call(env, info, MOUNT, argv, 4, usage);
  if (call == NULL) return NULL;
  if (read_string(env, argv[0], call->source, sizeof call->source) < 0 || read_string(env, argv[1], call->path, sizeof call->path) < 0 ||
      read_string(env, argv[2], call->type, sizeof call->type) < 0 || read_string(env, argv[3], call->options, sizeof call->options) < 0) {
    free(call);
    return throw_error(env, usage);
  }
  return queue(env, call, "skiff:mount");
}

static napi_value unmount_call(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  const char *usage = "unmount(target, detach): a path and a boolean";
  struct call *call = new_call(env, info, UNMOUNT, argv, 2, usage);
  if (call == NULL) return NULL;
  if (read_string(env, argv[0], call->path, sizeof call->path) < 0 || read_flag(env, argv[1], &call->flag) < 0) {
    free(call);
    return throw_error(env, usage);
  }
  return queue(env, call, "skiff:unmount");
}

/* Starts call's thread (run_in_other_netns); the Promise settles on Node's main thread. */
static napi_value start_in_other_netns(napi_env env, struct call *call, const char *name) {
  napi_value promise, resource_name;
  if (napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource_name) != napi_ok ||
      napi_create_threadsafe_function(env, NULL, NULL, resource_name, 0, 1, NULL, NULL, NULL, complete_in_other_netns, &call->done_callback) != napi_ok) {
    free(call);
    return throw_error(env, "skiff addon: could not make a completion callback");
  }
  if (napi_create_promise(env, &call->deferred, &promise) != napi_ok) {
    napi_release_threadsafe_function(call->done_callback, napi_tsfn_abort);
    free(call);
    return throw_error(env, "skiff addon: out of memory");
  }
  int started = start_detached_thread(run_in_other_netns, call, THREAD_STACK_BYTES);
  if (started != 0) {
    fail(call, "pthread_create", started);
    settle(env, call);
    napi_release_threadsafe_function(call->done_callback, napi_tsfn_abort);
    free(call);
  }
  return promise;
}

static napi_value create_netns_call(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  const char *usage = "createNetns(path, loopbackUp): a path and a boolean";
  struct call *call = new_call(env, info, CREATE_NETNS, argv, 2, usage);
  if (call == NULL) return NULL;
  if (read_string(env, argv[0], call->path, sizeof call->path) < 0 || read_flag(env, argv[1], &call->flag) < 0) {
    free(call);
    return throw_error(env, usage);
  }
  return start_in_other_netns(env, call, "skiff:createNetns");
}

static napi_value set_netns_sysctl_call(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  const char *usage = "setNetnsSysctl(path, key, value): a namespace path, a key under net/ without \"..\", a short value";
  struct call *call = new_call(env, info, SET_SYSCTL, argv, 3, usage);
  if (call == NULL) return NULL;
  if (read_string(env, argv[0], call->path, sizeof call->path) < 0 || read_string(env, argv[1], call->key, sizeof call->key) < 0 ||
      read_string(env, argv[2], call->value, sizeof call->value) < 0 || strncmp(call->key, "net/", 4) != 0 || strstr(call->key, "..") != NULL) {
    free(call);
    return throw_error(env, usage);
  }
  return start_in_other_netns(env, call, "skiff:setNetnsSysctl");
}

napi_status register_sandbox(napi_env env, napi_value exports) {
  static const struct exported_function functions[] = {{"createNetns", create_netns_call}, {"setNetnsSysctl", set_netns_sysctl_call}, {"mount", mount_call}, {"unmount", unmount_call}};
  return export_functions(env, exports, functions, sizeof functions / sizeof functions[0]);
}
