/*
 * The container resolvers' UDP sockets, received on Node's own event loop
 * thread (a uv_poll_t on the descriptor), with the replies TypeScript
 * decided before kept here as bytes.
 *
 * Profiling names under dnsperf put a third of the daemon's CPU in Node's
 * dgram around each datagram: a 64 KiB malloc per receive, the 'message'
 * callback, a string key, a Buffer per reply and a request object per send.
 * Here a batch is received with one recvmmsg; a query whose bytes after the
 * id match a reply TypeScript asked to keep for this listener is answered
 * with that reply and the query's id (sendmmsg, the id and the rest of the
 * reply as two pieces, nothing copied); every other datagram goes to
 * JavaScript, all of one readiness in one call. Not on a thread of its own:
 * receiving on the relay's thread cost names 10% of their rate on two cores
 * (one more thread to wake per batch).
 *
 * TypeScript decides everything: what a query's answer is, whether it may be
 * kept (never an answer whose addresses it shuffles per answer), and when
 * the records changed (fastpathClear empties every listener's replies).
 *
 *   fastpathOpen(fd, onQueries(buffer)) -> id   the listener owns fd from now on
 *   fastpathSend(id, asker, reply, keep) -> errno   sends reply; keep (the query, or null) keeps it for that query's bytes after its id
 *   fastpathClear()                              drops every kept reply
 *   fastpathClose(id)                            stops receiving; fd is closed once libuv let go of it
 *
 * onQueries' buffer holds datagrams one after the other: u16 length
 * (little-endian), the asker (ASKER_SIZE bytes: family 4 or 6, 0, port
 * big-endian, 16 address bytes, as dns-relay.c takes it), then the bytes.
 * A datagram bigger than RECEIVE_SIZE (no DNS client sends one) is dropped.
 * Memory is bounded: a listener keeps at most MAX_ENTRIES replies and all
 * of them together MAX_ALL_ENTRIES (past either, that one or all start
 * over), each of a bounded size (MAX_KEY + MAX_REPLY); the receive and send arrays are
 * made once for all listeners (one thread uses them), so nothing is
 * allocated per packet.
 */
#define _GNU_SOURCE
#include "dns-fastpath.h"
#include "napi-values.h"
#include "exported-functions.h"
#include "asker.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#define BATCH 64
#define RECEIVE_SIZE 4096
#define HEADER_SIZE 12
#define MISS_HEADER (2 + ASKER_SIZE)
#define TABLE_SIZE 128
#define MAX_ENTRIES 64
#define MAX_ALL_ENTRIES 4096
#define MAX_KEY 512
#define MAX_REPLY 1232

struct entry {
  uint32_t hash;
  uint16_t key_length;
  uint16_t reply_length;
  /* The query's bytes after its id, then the whole reply. */
  unsigned char bytes[];
};

struct listener {
  uv_poll_t poll;
  int fd;
  int id;
  napi_env env;
  napi_ref on_queries;
  napi_async_context context;
  int entry_count;
  struct entry *table[TABLE_SIZE];
};

static struct listener **listeners;
static int listener_capacity;
static uint32_t generation;
static int all_entries;

/* One thread (the event loop's) uses these, for one listener's readiness at a time. */
static unsigned char receive_buffers[BATCH][RECEIVE_SIZE];
static struct sockaddr_storage sources[BATCH];
static struct mmsghdr received[BATCH];
static struct iovec receive_vectors[BATCH];
static struct mmsghdr replies[BATCH];
static struct iovec reply_vectors[BATCH][2];
static unsigned char *misses;
static size_t miss_length, miss_capacity;

#define ID_INDEX(id) ((id) & 0xffff)

static uint32_t hash_of(const unsigned char *bytes, size_t length) {
  uint32_t hash = 2166136261u;
  for (size_t at = 0; at < length; at++) hash = (hash ^ bytes[at]) * 16777619u;
  return hash;
}

static struct entry **find(struct listener *listener, const unsigned char *key, size_t length, uint32_t hash) {
  for (uint32_t probe = 0; probe < TABLE_SIZE; probe++) {
    struct entry **place = &listener->table[(hash + probe) % TABLE_SIZE];
    struct entry *entry = *place;
    if (entry == NULL || (entry->hash == hash && entry->key_length == length && memcmp(entry->bytes, key, length) == 0)) return place;
  }
  return NULL;
}

static void clear(struct listener *listener) {
  for (int at = 0; at < TABLE_SIZE; at++) {
    free(listener->table[at]);
    listener->table[at] = NULL;
  }
  all_entries -= listener->entry_count;
  listener->entry_count = 0;
}

static void clear_all(void) {
  for (int at = 0; at < listener_capacity; at++)
    if (listeners[at] != NULL && listeners[at]->entry_count > 0) clear(listeners[at]);
}

static struct listener *listener_of(int id) {
  int at = ID_INDEX(id);
  return id >= 0 && at < listener_capacity && listeners[at] != NULL && listeners[at]->id == id ? listeners[at] : NULL;
}

/* A datagram for JavaScript; when the room cannot grow it is dropped, as the kernel drops one on a full queue. */
static void add_miss(const unsigned char *bytes, uint32_t length, const struct sockaddr_storage *source) {
  if (miss_length + MISS_HEADER + length > miss_capacity) {
    size_t capacity = miss_capacity == 0 ? 64 * 1024 : miss_capacity * 2;
    while (capacity < miss_length + MISS_HEADER + length) capacity *= 2;
    unsigned char *grown = realloc(misses, capacity);
    if (grown == NULL) return;
    misses = grown;
    miss_capacity = capacity;
  }
  unsigned char *at = misses + miss_length;
  at[0] = length & 0xff;
  at[1] = length >> 8;
  to_asker(source, at + 2);
  memcpy(at + MISS_HEADER, bytes, length);
  miss_length += MISS_HEADER + length;
}

/* The kept replies go out; one the socket does not take now is lost, as a datagram is (the client asks again). */
static void send_replies(int fd, int count) {
  int sent = 0;
  while (sent < count) {
    int done = sendmmsg(fd, replies + sent, (unsigned)(count - sent), MSG_DONTWAIT);
    if (done > 0) sent += done;
    else if (done < 0 && errno == EINTR) continue;
    else if (done < 0 && errno != EAGAIN && errno != EWOULDBLOCK) sent += 1; /* this one refused (the asker's address): the rest still go */
    else return;
  }
}

static void call_js(struct listener *listener) {
  napi_env env = listener->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value buffer, on_queries, receiver;
  void *copy;
  if (napi_create_buffer_copy(env, miss_length, misses, &copy, &buffer) == napi_ok && napi_get_reference_value(env, listener->on_queries, &on_queries) == napi_ok &&
      on_queries != NULL && napi_get_global(env, &receiver) == napi_ok) {
    if (napi_make_callback(env, listener->context, receiver, on_queries, 1, &buffer, NULL) == napi_pending_exception) {
      napi_value ignored; /* TypeScript catches per query; nothing thrown may end the daemon */
      napi_get_and_clear_last_exception(env, &ignored);
    }
  }
  napi_close_handle_scope(env, scope);
}

/*
 * One batch per readiness: libuv's poll is level-triggered, so what is left
 * comes at the next turn of the loop, after the relay's events and timers
 * (more rounds here made forwarded queries wait longer, for nothing saved).
 */
static void on_readable(uv_poll_t *poll, int status, int events) {
  struct listener *listener = poll->data;
  if (status < 0 || !(events & UV_READABLE)) return;
  for (int at = 0; at < BATCH; at++) {
    receive_vectors[at] = (struct iovec){ receive_buffers[at], RECEIVE_SIZE };
    received[at].msg_hdr = (struct msghdr){ .msg_name = &sources[at], .msg_namelen = sizeof sources[at], .msg_iov = &receive_vectors[at], .msg_iovlen = 1 };
  }
  int count = recvmmsg(listener->fd, received, BATCH, MSG_DONTWAIT, NULL);
  if (count <= 0) return;
  int hits = 0;
  miss_length = 0;
  for (int at = 0; at < count; at++) {
    const unsigned char *query = receive_buffers[at];
    uint32_t length = received[at].msg_len;
    if (received[at].msg_hdr.msg_flags & MSG_TRUNC) continue;
    struct entry **place = NULL;
    if (length > HEADER_SIZE && length - 2 <= MAX_KEY && listener->entry_count > 0) place = find(listener, query + 2, length - 2, hash_of(query + 2, length - 2));
    if (place == NULL || *place == NULL) {
      add_miss(query, length, &sources[at]);
      continue;
    }
    struct entry *entry = *place;
    reply_vectors[hits][0] = (struct iovec){ (void *)query, 2 };
    reply_vectors[hits][1] = (struct iovec){ entry->bytes + entry->key_length + 2, entry->reply_length - 2u };
    replies[hits].msg_hdr =
      (struct msghdr){ .msg_name = &sources[at], .msg_namelen = received[at].msg_hdr.msg_namelen, .msg_iov = reply_vectors[hits], .msg_iovlen = 2 };
    hits++;
  }
  /* JavaScript may change the kept replies these point into: they go out first. */
  if (hits > 0) send_replies(listener->fd, hits);
  if (miss_length > 0) call_js(listener);
}

/* ---- the JavaScript side ---- */

static napi_value throw_error(napi_env env, const char *message) {
  napi_throw_error(env, NULL, message);
  return NULL;
}

static int take_slot(void) {
  for (int at = 0; at < listener_capacity; at++)
    if (listeners[at] == NULL) return at;
  if (listener_capacity >= 0x10000) return -1;
  int capacity = listener_capacity == 0 ? 64 : listener_capacity * 2;
  struct listener **grown = realloc(listeners, (size_t)capacity * sizeof *grown);
  if (grown == NULL) return -1;
  memset(grown + listener_capacity, 0, (size_t)(capacity - listener_capacity) * sizeof *grown);
  listeners = grown;
  int at = listener_capacity;
  listener_capacity = capacity;
  return at;
}

static napi_value fastpath_open(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t fd;
  napi_valuetype type;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0 ||
      napi_typeof(env, argv[1], &type) != napi_ok || type != napi_function)
    return throw_error(env, "fastpathOpen(fd, onQueries)");
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return throw_error(env, "fastpathOpen: no event loop");
  int at = take_slot();
  struct listener *listener = calloc(1, sizeof *listener);
  if (at < 0 || listener == NULL) {
    free(listener);
    return throw_error(env, "fastpathOpen: out of memory");
  }
  napi_value name;
  if (napi_create_reference(env, argv[1], 1, &listener->on_queries) != napi_ok) {
    free(listener);
    return throw_error(env, "fastpathOpen: out of memory");
  }
  if (napi_create_string_utf8(env, "skiff:dns-fastpath", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_async_init(env, NULL, name, &listener->context) != napi_ok) {
    napi_delete_reference(env, listener->on_queries);
    free(listener);
    return throw_error(env, "fastpathOpen: out of memory");
  }
  napi_async_context context = listener->context;
  napi_ref on_queries = listener->on_queries;
  int failed = uv_poll_init(loop, &listener->poll, fd);
  if (failed == 0) {
    listener->poll.data = listener;
    failed = uv_poll_start(&listener->poll, UV_READABLE, on_readable);
    if (failed != 0) uv_close((uv_handle_t *)&listener->poll, (uv_close_cb)free);
  } else {
    free(listener);
  }
  if (failed != 0) {
    napi_async_destroy(env, context);
    napi_delete_reference(env, on_queries);
    char message[160];
    snprintf(message, sizeof message, "fastpathOpen: uv_poll: %s", uv_strerror(failed));
    return throw_error(env, message);
  }
  listener->fd = fd;
  listener->env = env;
  listener->id = at | (int)((generation++ & 0x7fff) << 16);
  listeners[at] = listener;
  return int_value(env, listener->id);
}

static napi_value fastpath_send(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  int32_t id;
  void *asker, *reply, *query = NULL;
  size_t asker_length, reply_length, query_length = 0;
  napi_valuetype keep_type;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 4 || napi_get_value_int32(env, argv[0], &id) != napi_ok ||
      napi_get_buffer_info(env, argv[1], &asker, &asker_length) != napi_ok || asker_length != ASKER_SIZE ||
      napi_get_buffer_info(env, argv[2], &reply, &reply_length) != napi_ok || napi_typeof(env, argv[3], &keep_type) != napi_ok ||
      (keep_type != napi_null && napi_get_buffer_info(env, argv[3], &query, &query_length) != napi_ok))
    return throw_error(env, "fastpathSend(id, asker, reply, keep)");
  struct listener *listener = listener_of(id);
  if (listener == NULL) return int_value(env, EBADF);
  struct sockaddr_storage address;
  socklen_t address_length;
  if (from_asker(asker, &address, &address_length) < 0) return int_value(env, EINVAL);
  int error = 0;
  while (sendto(listener->fd, reply, reply_length, MSG_DONTWAIT, (struct sockaddr *)&address, address_length) < 0) {
    if (errno == EINTR) continue;
    error = errno;
    break;
  }
  if (query != NULL && query_length > HEADER_SIZE && query_length - 2 <= MAX_KEY && reply_length >= HEADER_SIZE && reply_length <= MAX_REPLY) {
    const unsigned char *key = (const unsigned char *)query + 2;
    size_t key_length = query_length - 2;
    if (listener->entry_count >= MAX_ENTRIES) clear(listener);
    if (all_entries >= MAX_ALL_ENTRIES) clear_all();
    uint32_t hash = hash_of(key, key_length);
    struct entry **place = find(listener, key, key_length, hash);
    struct entry *entry = malloc(sizeof *entry + key_length + reply_length);
    if (place != NULL && entry != NULL) {
      entry->hash = hash;
      entry->key_length = (uint16_t)key_length;
      entry->reply_length = (uint16_t)reply_length;
      memcpy(entry->bytes, key, key_length);
      memcpy(entry->bytes + key_length, reply, reply_length);
      if (*place == NULL) {
        listener->entry_count++;
        all_entries++;
      }
      free(*place);
      *place = entry;
    } else {
      free(entry);
    }
  }
  return int_value(env, error);
}

static napi_value fastpath_clear(napi_env env, napi_callback_info info) {
  (void)info;
  clear_all();
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  return undefined;
}

/* libuv is done with the handle: only now may the descriptor go (a number closed earlier could be reused under the poll). */
static void on_closed(uv_handle_t *handle) {
  struct listener *listener = handle->data;
  close(listener->fd);
  clear(listener);
  free(listener);
}

static napi_value fastpath_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t id;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || napi_get_value_int32(env, argv[0], &id) != napi_ok)
    return throw_error(env, "fastpathClose(id)");
  struct listener *listener = listener_of(id);
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  if (listener == NULL) return undefined;
  listeners[ID_INDEX(id)] = NULL;
  napi_async_destroy(env, listener->context);
  napi_delete_reference(env, listener->on_queries);
  listener->on_queries = NULL;
  uv_poll_stop(&listener->poll);
  uv_close((uv_handle_t *)&listener->poll, on_closed);
  return undefined;
}

napi_status register_dns_fastpath(napi_env env, napi_value exports) {
  static const struct exported_function functions[] = {
    { "fastpathOpen", fastpath_open },
    { "fastpathSend", fastpath_send },
    { "fastpathClear", fastpath_clear },
    { "fastpathClose", fastpath_close },
  };
  return export_functions(env, exports, functions, sizeof functions / sizeof functions[0]);
}
