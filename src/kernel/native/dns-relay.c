/*
 * The embedded DNS's UDP forwarding path on a thread of its own.
 *
 * Profiling the daemon under dnsperf showed most of a forwarded query's cost
 * in the kernel, inside the two sends Node made on its one thread: the query
 * to the upstream (through the container's namespace, the bridge and the
 * firewall) and the answer back to the asker. Here those sends, and the
 * receiving of upstream answers, run on this thread, in batches
 * (sendmmsg/recvmmsg), so the event loop keeps only the deciding.
 *
 * The container resolvers' queries are received on the event loop (Node's
 * sockets), not here: handing them over from this thread as well cost
 * local names 10% of their rate on two cores (one more thread to wake per
 * batch, for no work saved), and their answers are decided there anyway.
 * The relay holds a duplicate of each resolver's UDP socket, to send a
 * forwarded query's final answer from it.
 *
 * TypeScript still decides everything (server.ts, forward.ts): local or
 * forwarded, which upstream, in what order, how long to wait, what a timeout
 * or an ICMP error means, TCP after a truncated answer. This thread carries
 * one attempt at a time:
 *   - a query goes out on a channel (a connected UDP socket to one upstream,
 *     made in the asker's namespace), under an id no other query under way on
 *     that channel holds;
 *   - the answer (same id, same question) gets the asker's id back and, when
 *     TypeScript said an answer like it would be the final one (a good rcode,
 *     not truncated, within the asker's size), goes straight to the asker
 *     from the listener's socket: the event then only says "relayed";
 *   - anything else (another answer, a timeout, an ICMP error on the
 *     channel) goes back to TypeScript as an event to decide on.
 * Events reach JavaScript in batches, through one threadsafe function call
 * per batch.
 *
 *   relayStart(onEvents(buffer))            once; the thread starts
 *   relayAddChannel(fd, address, port) -> id   connects fd (the relay owns it from then on)
 *   relayAddListener(fd) -> id               a dup of a listener's socket, for answers to go from
 *   relayForward(channel, query, token, timeoutMs, anyAnswer, listener, asker, maxSize) -> bool
 *   relayClose(kind, id)                     kind 0 channel, 1 listener
 *   relayRef(bool)                           whether pending events keep Node's loop alive
 *
 * An event is: u32 token (a query's, or a channel's or listener's id), u8
 * kind, u8 flag, u16 length, then length bytes (an answer), all
 * little-endian. An asker, as relayForward takes it, is ASKER_SIZE bytes:
 * family 4 or 6, 0, port big-endian, 16 address bytes. Ids carry a
 * generation above their low 16 bits, so an event about a closed channel or
 * listener never names the one that took its place since. No allocation per
 * packet: query slots, receive buffers and the command ring are made once (a
 * query bigger than a slot's inline room is the exception).
 */
#define _GNU_SOURCE
#include "dns-relay.h"
#include "exported-functions.h"
#include "asker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SLOTS 4096
#define INLINE_QUERY 512
#define BUCKETS 8192
#define RING_SIZE 16384
#define BATCH 32
#define RECEIVE_SIZE 65536
#define HEADER_SIZE 12
#define NONE (-1)
#define WAKE_TAG UINT64_MAX

enum { EVENT_RELAYED = 0, EVENT_ANSWER = 1, EVENT_UNANSWERED = 2, EVENT_CHANNEL_CLOSED = 3 };
enum { COMMAND_FORWARD, COMMAND_ADD_CHANNEL, COMMAND_CLOSE_CHANNEL, COMMAND_ADD_LISTENER, COMMAND_CLOSE_LISTENER };

struct slot {
  int32_t next;          /* in the free list, or in a hash bucket */
  int32_t earlier, later; /* in the deadline list */
  int32_t unsent_before, unsent_after; /* in its channel's queue of queries the kernel would not take yet */
  int unsent;
  int channel;
  int listener;
  int any_answer;
  uint16_t original_id, wire_id;
  uint32_t token;
  uint32_t max_size;
  uint32_t length, question_end;
  uint64_t deadline_ms;
  struct sockaddr_storage asker;
  socklen_t asker_length;
  unsigned char *query;
  unsigned char inline_query[INLINE_QUERY];
};

struct command {
  int type;
  int id;
  int fd;
  int32_t slot;
};

/* A channel's or listener's id is its index (low 16 bits) and a generation (the high ones). */
struct channel {
  int fd; /* -1 once closed */
  int pending;
  int id;
  /* Queries that met a full socket buffer (EAGAIN) wait here, in order, for the socket to be writable (EPOLLOUT). */
  int32_t unsent_first, unsent_last;
};

struct listener {
  int fd;
  int id;
};

#define ID_INDEX(id) ((id) & 0xffff)

struct growable {
  unsigned char *bytes;
  size_t length, capacity;
};

struct relay {
  pthread_mutex_t lock;
  /* Under lock: the command ring, the free lists of slots and ids, the thread's sleep. */
  struct command ring[RING_SIZE];
  unsigned ring_head, ring_tail;
  int32_t free_slot;
  int *free_channel_ids, free_channel_count, next_channel_id, channel_ids_capacity;
  int *free_listener_ids, free_listener_count, next_listener_id, listener_ids_capacity;
  int sleeping, wake_pending;
  unsigned generation;
  /* Under lock: events not yet handed to JavaScript, and whether a call for them is on its way. */
  struct growable events;
  int posted;
  int stopping;

  /* The thread's own. */
  struct slot *slots;
  int32_t buckets[BUCKETS];
  int32_t earliest, latest;
  struct channel *channels;
  int channel_capacity;
  struct listener *listeners;
  int listener_capacity;
  struct growable local_events;
  unsigned char *receive_buffers;
  uint32_t random_state;
  int epoll_fd, wake_fd;
  pthread_t thread;
  napi_threadsafe_function on_events;
};

static struct relay *relay_instance;

static uint64_t now_ms(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
}

static int grow(struct growable *buffer, size_t more) {
  if (buffer->length + more <= buffer->capacity) return 0;
  size_t capacity = buffer->capacity == 0 ? 4096 : buffer->capacity;
  while (capacity < buffer->length + more) capacity *= 2;
  unsigned char *bytes = realloc(buffer->bytes, capacity);
  if (bytes == NULL) return -1;
  buffer->bytes = bytes;
  buffer->capacity = capacity;
  return 0;
}

/* An event for JavaScript (dropped only when memory ran out). */
static void add_event(struct relay *relay, uint32_t token, int kind, int flag, const unsigned char *answer, size_t length) {
  if (grow(&relay->local_events, 8 + length) < 0) return;
  unsigned char *at = relay->local_events.bytes + relay->local_events.length;
  at[0] = token & 0xff;
  at[1] = (token >> 8) & 0xff;
  at[2] = (token >> 16) & 0xff;
  at[3] = (token >> 24) & 0xff;
  at[4] = (unsigned char)kind;
  at[5] = (unsigned char)flag;
  at[6] = length & 0xff;
  at[7] = (length >> 8) & 0xff;
  if (length > 0) memcpy(at + 8, answer, length);
  relay->local_events.length += 8 + length;
}

static void post_events(struct relay *relay) {
  if (relay->local_events.length == 0) return;
  pthread_mutex_lock(&relay->lock);
  int appended = grow(&relay->events, relay->local_events.length) == 0;
  if (appended) {
    memcpy(relay->events.bytes + relay->events.length, relay->local_events.bytes, relay->local_events.length);
    relay->events.length += relay->local_events.length;
  }
  int call = appended && !relay->posted;
  if (call) relay->posted = 1;
  pthread_mutex_unlock(&relay->lock);
  relay->local_events.length = 0;
  if (call) napi_call_threadsafe_function(relay->on_events, NULL, napi_tsfn_nonblocking);
}

/* ---- slots: the hash by (channel, wire id) and the deadline list ---- */

static unsigned bucket_of(int channel, uint16_t wire_id) {
  return ((unsigned)wire_id * 2654435761u + (unsigned)channel * 40503u) & (BUCKETS - 1);
}

static int32_t find_slot(struct relay *relay, int channel, uint16_t wire_id) {
  for (int32_t index = relay->buckets[bucket_of(channel, wire_id)]; index != NONE; index = relay->slots[index].next)
    if (relay->slots[index].channel == channel && relay->slots[index].wire_id == wire_id) return index;
  return NONE;
}

static void hash_insert(struct relay *relay, int32_t index) {
  struct slot *slot = &relay->slots[index];
  unsigned bucket = bucket_of(slot->channel, slot->wire_id);
  slot->next = relay->buckets[bucket];
  relay->buckets[bucket] = index;
}

static void hash_remove(struct relay *relay, int32_t index) {
  struct slot *slot = &relay->slots[index];
  int32_t *link = &relay->buckets[bucket_of(slot->channel, slot->wire_id)];
  while (*link != NONE && *link != index) link = &relay->slots[*link].next;
  if (*link == index) *link = slot->next;
}

static void deadline_insert(struct relay *relay, int32_t index) {
  struct slot *slot = &relay->slots[index];
  int32_t after = relay->latest; /* timeouts are mostly equal: the new one goes last */
  while (after != NONE && relay->slots[after].deadline_ms > slot->deadline_ms) after = relay->slots[after].earlier;
  slot->earlier = after;
  slot->later = after == NONE ? relay->earliest : relay->slots[after].later;
  if (slot->later == NONE) relay->latest = index;
  else relay->slots[slot->later].earlier = index;
  if (after == NONE) relay->earliest = index;
  else relay->slots[after].later = index;
}

static void deadline_remove(struct relay *relay, int32_t index) {
  struct slot *slot = &relay->slots[index];
  if (slot->earlier == NONE) relay->earliest = slot->later;
  else relay->slots[slot->earlier].later = slot->later;
  if (slot->later == NONE) relay->latest = slot->earlier;
  else relay->slots[slot->later].earlier = slot->earlier;
}

static void free_slot(struct relay *relay, int32_t index) {
  struct slot *slot = &relay->slots[index];
  if (slot->query != slot->inline_query) free(slot->query);
  slot->query = slot->inline_query;
  pthread_mutex_lock(&relay->lock);
  slot->next = relay->free_slot;
  relay->free_slot = index;
  pthread_mutex_unlock(&relay->lock);
}

static void unsent_append(struct relay *relay, int channel_index, int32_t index) {
  struct channel *channel = &relay->channels[channel_index];
  struct slot *slot = &relay->slots[index];
  slot->unsent = 1;
  slot->unsent_after = NONE;
  slot->unsent_before = channel->unsent_last;
  if (channel->unsent_last == NONE) channel->unsent_first = index;
  else relay->slots[channel->unsent_last].unsent_after = index;
  channel->unsent_last = index;
}

static void unsent_remove(struct relay *relay, int32_t index) {
  struct slot *slot = &relay->slots[index];
  struct channel *channel = &relay->channels[slot->channel];
  if (slot->unsent_before == NONE) channel->unsent_first = slot->unsent_after;
  else relay->slots[slot->unsent_before].unsent_after = slot->unsent_after;
  if (slot->unsent_after == NONE) channel->unsent_last = slot->unsent_before;
  else relay->slots[slot->unsent_after].unsent_before = slot->unsent_before;
  slot->unsent = 0;
}

/* A query under way ends: out of the hash, the deadline list and the unsent queue, its channel one lighter. */
static void finish_slot(struct relay *relay, int32_t index) {
  struct slot *slot = &relay->slots[index];
  if (slot->unsent) unsent_remove(relay, index);
  hash_remove(relay, index);
  deadline_remove(relay, index);
  relay->channels[slot->channel].pending -= 1;
  free_slot(relay, index);
}

/* ---- channels ---- */

static void close_channel_fd(struct relay *relay, int id) {
  struct channel *channel = &relay->channels[id];
  if (channel->fd < 0) return;
  epoll_ctl(relay->epoll_fd, EPOLL_CTL_DEL, channel->fd, NULL);
  close(channel->fd);
  channel->fd = -1;
}

/* Every query under way on the channel ends unanswered. */
static void fail_pending(struct relay *relay, int id) {
  for (int32_t index = relay->earliest; index != NONE && relay->channels[id].pending > 0;) {
    int32_t later = relay->slots[index].later;
    if (relay->slots[index].channel == id) {
      add_event(relay, relay->slots[index].token, EVENT_UNANSWERED, 0, NULL, 0);
      finish_slot(relay, index);
    }
    index = later;
  }
}

/* The relay closes a channel itself (an ICMP error, a failed send, a timeout with nothing else under way); TypeScript hears of it and releases the id. */
static void channel_died(struct relay *relay, int index, int unreachable) {
  if (relay->channels[index].fd < 0) return;
  close_channel_fd(relay, index);
  fail_pending(relay, index);
  add_event(relay, (uint32_t)relay->channels[index].id, EVENT_CHANNEL_CLOSED, unreachable, NULL, 0);
}

static int transient(int error) {
  return error == EAGAIN || error == EWOULDBLOCK || error == EINTR || error == ENOBUFS;
}

/* ---- the thread ---- */

static uint32_t next_random(struct relay *relay) {
  uint32_t x = relay->random_state;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  relay->random_state = x;
  return x;
}

static uint32_t question_end(const unsigned char *message, uint32_t length) {
  uint32_t offset = HEADER_SIZE;
  while (offset < length) {
    unsigned label = message[offset];
    if (label == 0) return offset + 5 < length ? offset + 5 : length;
    if (label > 63) return HEADER_SIZE;
    offset += label + 1;
  }
  return HEADER_SIZE;
}

struct send_batch {
  int fd;
  int channel; /* the channel sent on, or -1 for a listener */
  unsigned count;
  int32_t slots[BATCH]; /* on a channel, the query each message is */
  struct mmsghdr messages[BATCH];
  struct iovec vectors[BATCH];
  /* Copies of the destinations: a slot's asker may be taken by the next query before the batch goes out. */
  struct sockaddr_storage names[BATCH];
};

static void watch_writable(struct relay *relay, int channel_index, int writable) {
  struct epoll_event event = { .events = EPOLLIN | (writable ? EPOLLOUT : 0), .data.u64 = (uint64_t)channel_index };
  epoll_ctl(relay->epoll_fd, EPOLL_CTL_MOD, relay->channels[channel_index].fd, &event);
}

static void flush(struct relay *relay, struct send_batch *batch) {
  unsigned sent = 0;
  while (sent < batch->count) {
    int result = sendmmsg(batch->fd, batch->messages + sent, batch->count - sent, MSG_DONTWAIT);
    if (result > 0) {
      sent += (unsigned)result;
      continue;
    }
    int error = result < 0 ? errno : EAGAIN;
    if (error == EINTR) continue;
    if (batch->channel >= 0 && (error == EAGAIN || error == EWOULDBLOCK)) {
      /* A full socket buffer: the rest wait for the socket to be writable, as Node's send would have. */
      if (relay->channels[batch->channel].unsent_first == NONE) watch_writable(relay, batch->channel, 1);
      for (unsigned at = sent; at < batch->count; at++) unsent_append(relay, batch->channel, batch->slots[at]);
      break;
    }
    if (batch->channel >= 0 && !transient(error)) {
      channel_died(relay, batch->channel, 1); /* the error a port-unreachable left on the socket, met by this send */
      break;
    }
    sent += 1; /* an answer (or query) the kernel refused now is lost, as UDP may lose it: the asker asks again (the query times out) */
  }
  batch->count = 0;
}

/* slot: the query sent on channel (-1 for an answer to an asker). */
static void queue_send(struct relay *relay, struct send_batch *batch, int fd, int channel, int32_t slot, void *bytes, size_t length,
                       struct sockaddr_storage *to, socklen_t to_length) {
  if (batch->count > 0 && (batch->fd != fd || batch->count == BATCH)) {
    flush(relay, batch);
    /* That flush found the channel dead: its queries, this one too, have ended. */
    if (channel >= 0 && relay->channels[channel].fd < 0) return;
  }
  /* Behind queries already waiting for the socket, in order. */
  if (channel >= 0 && relay->channels[channel].unsent_first != NONE) {
    unsent_append(relay, channel, slot);
    return;
  }
  batch->fd = fd;
  batch->channel = channel;
  batch->slots[batch->count] = slot;
  unsigned at = batch->count++;
  batch->vectors[at].iov_base = bytes;
  batch->vectors[at].iov_len = length;
  memset(&batch->messages[at].msg_hdr, 0, sizeof batch->messages[at].msg_hdr);
  batch->messages[at].msg_hdr.msg_iov = &batch->vectors[at];
  batch->messages[at].msg_hdr.msg_iovlen = 1;
  if (to != NULL) memcpy(&batch->names[at], to, to_length);
  batch->messages[at].msg_hdr.msg_name = to == NULL ? NULL : &batch->names[at];
  batch->messages[at].msg_hdr.msg_namelen = to_length;
}

/* Room for index needed; new elements are filled with 0xff bytes (fd -1 for channels and listeners). */
static int ensure_capacity(void **array, int *capacity, int needed, size_t element) {
  if (needed < *capacity) return 0;
  int grown = *capacity == 0 ? 16 : *capacity;
  while (grown <= needed) grown *= 2;
  unsigned char *bigger = realloc(*array, (size_t)grown * element);
  if (bigger == NULL) return -1;
  memset(bigger + (size_t)*capacity * element, 0xff, (size_t)(grown - *capacity) * element);
  *array = bigger;
  *capacity = grown;
  return 0;
}

static void release_id(struct relay *relay, int listener, int id) {
  pthread_mutex_lock(&relay->lock);
  if (listener) relay->free_listener_ids[relay->free_listener_count++] = ID_INDEX(id);
  else relay->free_channel_ids[relay->free_channel_count++] = ID_INDEX(id);
  pthread_mutex_unlock(&relay->lock);
}

static void start_forward(struct relay *relay, struct send_batch *batch, int32_t index) {
  struct slot *slot = &relay->slots[index];
  int channel_id = slot->channel;
  slot->channel = ID_INDEX(channel_id);
  struct channel *channel = slot->channel < relay->channel_capacity && relay->channels[slot->channel].id == channel_id ? &relay->channels[slot->channel] : NULL;
  if (channel == NULL || channel->fd < 0) {
    add_event(relay, slot->token, EVENT_UNANSWERED, 0, NULL, 0);
    free_slot(relay, index);
    return;
  }
  uint16_t wire_id = slot->original_id;
  while (find_slot(relay, slot->channel, wire_id) != NONE) wire_id = (uint16_t)next_random(relay);
  slot->wire_id = wire_id;
  slot->query[0] = wire_id >> 8;
  slot->query[1] = wire_id & 0xff;
  slot->question_end = question_end(slot->query, slot->length);
  hash_insert(relay, index);
  deadline_insert(relay, index);
  channel->pending += 1;
  queue_send(relay, batch, channel->fd, slot->channel, index, slot->query, slot->length, NULL, 0);
}

static void run_commands(struct relay *relay, struct send_batch *batch) {
  for (;;) {
    pthread_mutex_lock(&relay->lock);
    if (relay->ring_head == relay->ring_tail) {
      pthread_mutex_unlock(&relay->lock);
      break;
    }
    struct command command = relay->ring[relay->ring_head % RING_SIZE];
    relay->ring_head += 1;
    pthread_mutex_unlock(&relay->lock);
    switch (command.type) {
    case COMMAND_FORWARD:
      start_forward(relay, batch, command.slot);
      break;
    case COMMAND_ADD_CHANNEL: {
      int at = ID_INDEX(command.id);
      if (ensure_capacity((void **)&relay->channels, &relay->channel_capacity, at, sizeof *relay->channels) < 0) {
        close(command.fd);
        add_event(relay, (uint32_t)command.id, EVENT_CHANNEL_CLOSED, 0, NULL, 0);
        break;
      }
      relay->channels[at] = (struct channel){ .fd = command.fd, .pending = 0, .id = command.id, .unsent_first = NONE, .unsent_last = NONE };
      struct epoll_event event = { .events = EPOLLIN, .data.u64 = (uint64_t)at };
      if (epoll_ctl(relay->epoll_fd, EPOLL_CTL_ADD, command.fd, &event) < 0) channel_died(relay, at, 0);
      break;
    }
    case COMMAND_CLOSE_CHANNEL: {
      int at = ID_INDEX(command.id);
      if (at < relay->channel_capacity && relay->channels[at].id == command.id) {
        if (batch->count > 0) flush(relay, batch);
        close_channel_fd(relay, at);
        fail_pending(relay, at);
        relay->channels[at].id = -1;
      }
      release_id(relay, 0, command.id);
      break;
    }
    case COMMAND_ADD_LISTENER: {
      int at = ID_INDEX(command.id);
      if (ensure_capacity((void **)&relay->listeners, &relay->listener_capacity, at, sizeof *relay->listeners) < 0) {
        close(command.fd);
        break;
      }
      relay->listeners[at] = (struct listener){ .fd = command.fd, .id = command.id };
      break;
    }
    case COMMAND_CLOSE_LISTENER: {
      int at = ID_INDEX(command.id);
      if (at < relay->listener_capacity && relay->listeners[at].id == command.id) {
        if (batch->count > 0) flush(relay, batch);
        epoll_ctl(relay->epoll_fd, EPOLL_CTL_DEL, relay->listeners[at].fd, NULL);
        close(relay->listeners[at].fd);
        relay->listeners[at] = (struct listener){ .fd = -1, .id = -1 };
      }
      release_id(relay, 1, command.id);
      break;
    }
    }
  }
  if (batch->count > 0) flush(relay, batch);
}

/* Whether TypeScript would take this answer as the last word and send it on unchanged (forward.ts: isFinal, and the server's size check). */
static int relayable(struct slot *slot, const unsigned char *answer, uint32_t length) {
  if (length > slot->max_size) return 0;
  unsigned flags = ((unsigned)answer[2] << 8) | answer[3];
  if (flags & 0x0200) return 0; /* truncated: TypeScript asks again over TCP */
  if (slot->any_answer) return 1;
  unsigned rcode = flags & 0x000f;
  return rcode == 0 || (rcode == 3 && (flags & 0x0400) != 0);
}

/* The listener's descriptor, or -1 when it is closed (or none was asked for). */
static int listener_fd_of(struct relay *relay, int id) {
  if (id < 0) return -1;
  int at = ID_INDEX(id);
  return at < relay->listener_capacity && relay->listeners[at].id == id ? relay->listeners[at].fd : -1;
}

static void receive_answers(struct relay *relay, int id, struct send_batch *replies) {
  struct mmsghdr messages[BATCH];
  struct iovec vectors[BATCH];
  for (int round = 0; round < 4 && relay->channels[id].fd >= 0; round++) {
    for (int at = 0; at < BATCH; at++) {
      vectors[at].iov_base = relay->receive_buffers + (size_t)at * RECEIVE_SIZE;
      vectors[at].iov_len = RECEIVE_SIZE;
      memset(&messages[at].msg_hdr, 0, sizeof messages[at].msg_hdr);
      messages[at].msg_hdr.msg_iov = &vectors[at];
      messages[at].msg_hdr.msg_iovlen = 1;
    }
    int count = recvmmsg(relay->channels[id].fd, messages, BATCH, MSG_DONTWAIT, NULL);
    if (count < 0) {
      if (!transient(errno)) channel_died(relay, id, 1); /* a port-unreachable from a dead upstream */
      return;
    }
    for (int at = 0; at < count; at++) {
      unsigned char *answer = vectors[at].iov_base;
      uint32_t length = messages[at].msg_len;
      if (length < HEADER_SIZE || (answer[2] & 0x80) == 0) continue;
      int32_t index = find_slot(relay, id, (uint16_t)((answer[0] << 8) | answer[1]));
      if (index == NONE) continue;
      struct slot *slot = &relay->slots[index];
      uint32_t question_length = slot->question_end - HEADER_SIZE;
      /* A late answer to an earlier query that held the same id is not this one's. */
      if (length < slot->question_end || memcmp(answer + HEADER_SIZE, slot->query + HEADER_SIZE, question_length) != 0) continue;
      answer[0] = slot->original_id >> 8;
      answer[1] = slot->original_id & 0xff;
      int listener_fd = listener_fd_of(relay, slot->listener);
      if (listener_fd >= 0 && relayable(slot, answer, length)) {
        queue_send(relay, replies, listener_fd, -1, NONE, answer, length, &slot->asker, slot->asker_length);
        add_event(relay, slot->token, EVENT_RELAYED, 0, NULL, 0);
      } else {
        add_event(relay, slot->token, EVENT_ANSWER, 0, answer, length);
      }
      finish_slot(relay, index);
    }
    /* The receive buffers are used again next round: what points into them goes out first. */
    if (replies->count > 0) flush(relay, replies);
    if (count < BATCH) return;
  }
}

/* The channel's socket takes data again: the queries waiting for it go out, in order, as far as it takes them. */
static void send_unsent(struct relay *relay, int index) {
  struct channel *channel = &relay->channels[index];
  while (channel->unsent_first != NONE) {
    struct slot *slot = &relay->slots[channel->unsent_first];
    if (send(channel->fd, slot->query, slot->length, MSG_DONTWAIT) < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return; /* full again: it stays watched */
      if (!transient(errno)) {
        channel_died(relay, index, 1);
        return;
      }
    }
    unsent_remove(relay, channel->unsent_first);
  }
  watch_writable(relay, index, 0);
}

static void expire(struct relay *relay, uint64_t now) {
  while (relay->earliest != NONE && relay->slots[relay->earliest].deadline_ms <= now) {
    int32_t index = relay->earliest;
    int channel = relay->slots[index].channel;
    add_event(relay, relay->slots[index].token, EVENT_UNANSWERED, 0, NULL, 0);
    finish_slot(relay, index);
    /* An upstream that let a query time out may be gone for good: with nothing else under way, the next query starts afresh. */
    if (relay->channels[channel].pending == 0) channel_died(relay, channel, 0);
  }
}

static void *run(void *argument) {
  struct relay *relay = argument;
  struct send_batch *batch = calloc(2, sizeof *batch);
  if (batch == NULL) return NULL;
  struct send_batch *replies = batch + 1;
  struct epoll_event ready[64];
  for (;;) {
    run_commands(relay, batch);
    post_events(relay);
    int timeout = -1;
    if (relay->earliest != NONE) {
      uint64_t now = now_ms(), deadline = relay->slots[relay->earliest].deadline_ms;
      timeout = deadline <= now ? 0 : (int)(deadline - now);
    }
    pthread_mutex_lock(&relay->lock);
    if (relay->stopping) {
      pthread_mutex_unlock(&relay->lock);
      break;
    }
    if (relay->ring_head != relay->ring_tail) timeout = 0;
    relay->sleeping = timeout != 0;
    pthread_mutex_unlock(&relay->lock);
    int count = epoll_wait(relay->epoll_fd, ready, 64, timeout);
    pthread_mutex_lock(&relay->lock);
    relay->sleeping = 0;
    pthread_mutex_unlock(&relay->lock);
    for (int at = 0; at < count; at++) {
      if (ready[at].data.u64 == WAKE_TAG) {
        uint64_t value;
        if (read(relay->wake_fd, &value, sizeof value) < 0) { /* nothing to read: woken already */
        }
        pthread_mutex_lock(&relay->lock);
        relay->wake_pending = 0;
        pthread_mutex_unlock(&relay->lock);
        continue;
      }
      int index = (int)ready[at].data.u64;
      if (index < relay->channel_capacity && relay->channels[index].fd >= 0 && (ready[at].events & EPOLLOUT)) send_unsent(relay, index);
      if (index < relay->channel_capacity && relay->channels[index].fd >= 0 && (ready[at].events & ~EPOLLOUT)) receive_answers(relay, index, replies);
    }
    expire(relay, now_ms());
  }
  free(batch);
  return NULL;
}

/* ---- the JavaScript side ---- */

static void call_js(napi_env env, napi_value on_events, void *context, void *data) {
  (void)data;
  struct relay *relay = context;
  if (env == NULL) return;
  pthread_mutex_lock(&relay->lock);
  struct growable events = relay->events;
  relay->events = (struct growable){ 0 };
  relay->posted = 0;
  pthread_mutex_unlock(&relay->lock);
  if (events.length == 0) {
    free(events.bytes);
    return;
  }
  napi_value buffer, undefined;
  void *copy;
  napi_status status = napi_create_buffer_copy(env, events.length, events.bytes, &copy, &buffer);
  free(events.bytes);
  if (status != napi_ok || napi_get_undefined(env, &undefined) != napi_ok) return;
  napi_call_function(env, undefined, on_events, 1, &buffer, NULL);
}

static napi_value throw_error(napi_env env, const char *message) {
  napi_throw_error(env, NULL, message);
  return NULL;
}

static napi_value undefined_value(napi_env env) {
  napi_value value;
  napi_get_undefined(env, &value);
  return value;
}

static int push_command(struct relay *relay, struct command command) {
  pthread_mutex_lock(&relay->lock);
  if (relay->ring_tail - relay->ring_head >= RING_SIZE) {
    pthread_mutex_unlock(&relay->lock);
    return -1;
  }
  relay->ring[relay->ring_tail % RING_SIZE] = command;
  relay->ring_tail += 1;
  int wake = relay->sleeping && !relay->wake_pending;
  if (wake) relay->wake_pending = 1;
  pthread_mutex_unlock(&relay->lock);
  if (wake) {
    uint64_t one = 1;
    if (write(relay->wake_fd, &one, sizeof one) < 0) { /* the counter is full: the thread is woken anyway */
    }
  }
  return 0;
}

static int take_id(struct relay *relay, int listener) {
  pthread_mutex_lock(&relay->lock);
  int **free_ids = listener ? &relay->free_listener_ids : &relay->free_channel_ids;
  int *free_count = listener ? &relay->free_listener_count : &relay->free_channel_count;
  int *next = listener ? &relay->next_listener_id : &relay->next_channel_id;
  int *capacity = listener ? &relay->listener_ids_capacity : &relay->channel_ids_capacity;
  int id = -1;
  if (*free_count > 0) id = (*free_ids)[--*free_count];
  else if (*next <= 0xffff && ensure_capacity((void **)free_ids, capacity, *next, sizeof **free_ids) == 0) id = (*next)++;
  if (id >= 0) id |= (int)((relay->generation++ & 0x7fff) << 16);
  pthread_mutex_unlock(&relay->lock);
  return id;
}

static void stop_relay(void *argument) {
  struct relay *relay = argument;
  pthread_mutex_lock(&relay->lock);
  relay->stopping = 1;
  pthread_mutex_unlock(&relay->lock);
  uint64_t one = 1;
  if (write(relay->wake_fd, &one, sizeof one) < 0) {
  }
  pthread_join(relay->thread, NULL);
}

static napi_value relay_start(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1) return throw_error(env, "relayStart(onEvents): one argument");
  if (relay_instance != NULL) return throw_error(env, "relayStart: the relay is running already");
  struct relay *relay = calloc(1, sizeof *relay);
  if (relay == NULL) return throw_error(env, "relayStart: out of memory");
  pthread_mutex_init(&relay->lock, NULL);
  relay->slots = calloc(MAX_SLOTS, sizeof *relay->slots);
  relay->receive_buffers = mmap(NULL, (size_t)BATCH * RECEIVE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  relay->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  relay->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (relay->slots == NULL || relay->receive_buffers == MAP_FAILED || relay->epoll_fd < 0 || relay->wake_fd < 0)
    return throw_error(env, "relayStart: out of memory or descriptors");
  for (int32_t index = 0; index < MAX_SLOTS; index++) {
    relay->slots[index].next = index + 1 < MAX_SLOTS ? index + 1 : NONE;
    relay->slots[index].query = relay->slots[index].inline_query;
  }
  relay->free_slot = 0;
  for (int bucket = 0; bucket < BUCKETS; bucket++) relay->buckets[bucket] = NONE;
  relay->earliest = relay->latest = NONE;
  relay->random_state = (uint32_t)now_ms() | 1u;
  struct epoll_event wake = { .events = EPOLLIN, .data.u64 = WAKE_TAG };
  epoll_ctl(relay->epoll_fd, EPOLL_CTL_ADD, relay->wake_fd, &wake);
  napi_value name;
  if (napi_create_string_utf8(env, "skiff dns relay", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_threadsafe_function(env, argv[0], NULL, name, 0, 1, NULL, NULL, relay, call_js, &relay->on_events) != napi_ok)
    return throw_error(env, "relayStart: onEvents must be a function");
  napi_unref_threadsafe_function(env, relay->on_events);
  int started = pthread_create(&relay->thread, NULL, run, relay);
  if (started != 0) {
    char message[160];
    snprintf(message, sizeof message, "relayStart: pthread_create: %s", strerror(started));
    return throw_error(env, message);
  }
  relay_instance = relay;
  napi_add_env_cleanup_hook(env, stop_relay, relay);
  return undefined_value(env);
}

static int parse_address(const char *text, int port, struct sockaddr_storage *address, socklen_t *length) {
  memset(address, 0, sizeof *address);
  if (strchr(text, ':') != NULL) {
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)address;
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)port);
    *length = sizeof *in6;
    return inet_pton(AF_INET6, text, &in6->sin6_addr) == 1 ? 0 : -1;
  }
  struct sockaddr_in *in4 = (struct sockaddr_in *)address;
  in4->sin_family = AF_INET;
  in4->sin_port = htons((uint16_t)port);
  *length = sizeof *in4;
  return inet_pton(AF_INET, text, &in4->sin_addr) == 1 ? 0 : -1;
}

/* Gives fd to the thread as a new channel (listener 0) or listener, and returns its id; without room, closes fd and throws full. */
static napi_value hand_over(napi_env env, int listener, int fd, const char *full) {
  int id = take_id(relay_instance, listener);
  struct command command = { .type = listener ? COMMAND_ADD_LISTENER : COMMAND_ADD_CHANNEL, .id = id, .fd = fd };
  if (id < 0 || push_command(relay_instance, command) < 0) {
    close(fd);
    return throw_error(env, full);
  }
  napi_value result;
  napi_create_int32(env, id, &result);
  return result;
}

static napi_value relay_add_channel(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  int32_t fd, port;
  char text[64];
  size_t text_length;
  if (relay_instance == NULL) return throw_error(env, "relayAddChannel: the relay is not started");
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3 || napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
      napi_get_value_string_utf8(env, argv[1], text, sizeof text, &text_length) != napi_ok || napi_get_value_int32(env, argv[2], &port) != napi_ok)
    return throw_error(env, "relayAddChannel(fd, address, port)");
  struct sockaddr_storage address;
  socklen_t length;
  if (parse_address(text, port, &address, &length) < 0) {
    close(fd);
    return throw_error(env, "relayAddChannel: not an IP address");
  }
  if (connect(fd, (struct sockaddr *)&address, length) < 0) {
    char message[160];
    snprintf(message, sizeof message, "connect %s port %d: %s", text, port, strerror(errno));
    close(fd);
    return throw_error(env, message);
  }
  return hand_over(env, 0, fd, "relayAddChannel: the relay is full");
}

static napi_value relay_add_listener(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd;
  if (relay_instance == NULL) return throw_error(env, "relayAddListener: the relay is not started");
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok)
    return throw_error(env, "relayAddListener(fd)");
  /* A descriptor of the relay's own: the listener's may be closed by Node while an answer is on its way. */
  int own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (own < 0) return throw_error(env, "relayAddListener: dup failed");
  return hand_over(env, 1, own, "relayAddListener: the relay is full");
}

static napi_value relay_close(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t kind, id;
  if (relay_instance == NULL) return throw_error(env, "relayClose: the relay is not started");
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 || napi_get_value_int32(env, argv[0], &kind) != napi_ok ||
      napi_get_value_int32(env, argv[1], &id) != napi_ok)
    return throw_error(env, "relayClose(kind, id)");
  if (push_command(relay_instance, (struct command){ .type = kind == 1 ? COMMAND_CLOSE_LISTENER : COMMAND_CLOSE_CHANNEL, .id = id }) < 0)
    return throw_error(env, "relayClose: the relay is full");
  return undefined_value(env);
}

/* (channel, query, token, timeoutMs, anyAnswer, listener, asker, maxSize) -> false when the relay cannot take it */
static napi_value relay_forward(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8], result;
  struct relay *relay = relay_instance;
  if (relay == NULL) return throw_error(env, "relayForward: the relay is not started");
  int32_t channel, timeout_ms, listener, max_size;
  uint32_t token;
  bool any_answer;
  void *query;
  size_t length;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 8 || napi_get_value_int32(env, argv[0], &channel) != napi_ok ||
      napi_get_buffer_info(env, argv[1], &query, &length) != napi_ok || napi_get_value_uint32(env, argv[2], &token) != napi_ok ||
      napi_get_value_int32(env, argv[3], &timeout_ms) != napi_ok || napi_get_value_bool(env, argv[4], &any_answer) != napi_ok ||
      napi_get_value_int32(env, argv[5], &listener) != napi_ok || napi_get_value_int32(env, argv[7], &max_size) != napi_ok)
    return throw_error(env, "relayForward(channel, query, token, timeoutMs, anyAnswer, listener, asker, maxSize)");
  if (length < HEADER_SIZE || length > 0xffff || channel < 0) {
    napi_get_boolean(env, false, &result);
    return result;
  }
  pthread_mutex_lock(&relay->lock);
  int32_t index = relay->free_slot;
  if (index != NONE) relay->free_slot = relay->slots[index].next;
  pthread_mutex_unlock(&relay->lock);
  if (index == NONE) {
    napi_get_boolean(env, false, &result);
    return result;
  }
  /* The slot is this thread's until it is in the ring. */
  struct slot *slot = &relay->slots[index];
  slot->listener = NONE;
  void *asker;
  size_t asker_length;
  if (listener >= 0 && napi_get_buffer_info(env, argv[6], &asker, &asker_length) == napi_ok && asker_length == ASKER_SIZE &&
      from_asker(asker, &slot->asker, &slot->asker_length) == 0)
    slot->listener = listener;
  if (length > INLINE_QUERY) slot->query = malloc(length);
  int pushed = slot->query != NULL;
  if (pushed) {
    memcpy(slot->query, query, length);
    slot->length = (uint32_t)length;
    slot->channel = channel;
    slot->token = token;
    slot->any_answer = any_answer;
    slot->max_size = (uint32_t)max_size;
    slot->original_id = (uint16_t)((((unsigned char *)query)[0] << 8) | ((unsigned char *)query)[1]);
    slot->deadline_ms = now_ms() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms);
    pushed = push_command(relay, (struct command){ .type = COMMAND_FORWARD, .slot = index }) == 0;
  }
  if (!pushed) {
    if (slot->query != slot->inline_query) free(slot->query);
    slot->query = slot->inline_query;
    pthread_mutex_lock(&relay->lock);
    slot->next = relay->free_slot;
    relay->free_slot = index;
    pthread_mutex_unlock(&relay->lock);
  }
  napi_get_boolean(env, pushed, &result);
  return result;
}

static napi_value relay_ref(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  bool keep;
  if (relay_instance == NULL) return throw_error(env, "relayRef: the relay is not started");
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || napi_get_value_bool(env, argv[0], &keep) != napi_ok)
    return throw_error(env, "relayRef(keep)");
  if (keep) napi_ref_threadsafe_function(env, relay_instance->on_events);
  else napi_unref_threadsafe_function(env, relay_instance->on_events);
  return undefined_value(env);
}

napi_status register_dns_relay(napi_env env, napi_value exports) {
  static const struct exported_function functions[] = {
    { "relayStart", relay_start },         { "relayAddChannel", relay_add_channel }, { "relayAddListener", relay_add_listener },
    { "relayClose", relay_close },         { "relayForward", relay_forward },        { "relayRef", relay_ref },
  };
  return export_functions(env, exports, functions, sizeof functions / sizeof functions[0]);
}
