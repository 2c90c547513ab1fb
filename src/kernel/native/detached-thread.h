/*
 * A thread of the addon's own that nobody joins: every call that must not
 * hold Node's threads (a setns, a wait on the kernel's RTNL lock, a program
 * running) runs on one, which hands its outcome back and ends.
 */
#ifndef SKIFF_DETACHED_THREAD_H
#define SKIFF_DETACHED_THREAD_H
#include <pthread.h>
#include <stddef.h>

/* 0, or pthread_create's error number. */
static inline int start_detached_thread(void *(*run)(void *), void *data, size_t stack_bytes) {
  pthread_attr_t attributes;
  pthread_t thread;
  pthread_attr_init(&attributes);
  pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attributes, stack_bytes);
  int started = pthread_create(&thread, &attributes, run, data);
  pthread_attr_destroy(&attributes);
  return started;
}

#endif
