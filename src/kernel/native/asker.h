/*
 * An asker, as the DNS fast path hands it to TypeScript and the relay takes
 * it back: ASKER_SIZE bytes, the family (4 or 6), 0, the port and the
 * address, both in network order (an IPv4 address in the first 4 of 16).
 */
#ifndef SKIFF_ASKER_H
#define SKIFF_ASKER_H
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#define ASKER_SIZE 20

static inline void to_asker(const struct sockaddr_storage *source, unsigned char *asker) {
  memset(asker, 0, ASKER_SIZE);
  if (source->ss_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)source;
    asker[0] = 6;
    memcpy(asker + 2, &in6->sin6_port, 2);
    memcpy(asker + 4, &in6->sin6_addr, 16);
  } else {
    const struct sockaddr_in *in4 = (const struct sockaddr_in *)source;
    asker[0] = 4;
    memcpy(asker + 2, &in4->sin_port, 2);
    memcpy(asker + 4, &in4->sin_addr, 4);
  }
}

/* 0, or -1 when the first byte names no family. */
static inline int from_asker(const unsigned char *asker, struct sockaddr_storage *address, socklen_t *length) {
  memset(address, 0, sizeof *address);
  if (asker[0] == 6) {
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)address;
    in6->sin6_family = AF_INET6;
    memcpy(&in6->sin6_port, asker + 2, 2);
    memcpy(&in6->sin6_addr, asker + 4, 16);
    *length = sizeof *in6;
    return 0;
  }
  if (asker[0] != 4) return -1;
  struct sockaddr_in *in4 = (struct sockaddr_in *)address;
  in4->sin_family = AF_INET;
  memcpy(&in4->sin_port, asker + 2, 2);
  memcpy(&in4->sin_addr, asker + 4, 4);
  *length = sizeof *in4;
  return 0;
}

#endif
