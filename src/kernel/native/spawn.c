/*
 * Programs started with posix_spawn, in place of Node's execFile: libuv
 * starts a child with fork(), which copies the daemon's page tables, so a
 * program start costs more the bigger the daemon is (1 ms at 51 MB, 6 ms at
 * 223 MB, 17 ms at 468 MB measured here; beside 1,000 containers two thirds
 * of the daemon's CPU went there). glibc's posix_spawn shares the memory
 * with the child until it execs (clone with CLONE_VM | CLONE_VFORK), so the
 * cost does not grow with the daemon.
 *
 *   spawnProgram(program, args, input | null, timeoutMs, maxBuffer)
 *     -> Promise<{ status, signal, stdout: Buffer, stderr: Buffer, timedOut, overflowed, spawnErrno }>
 *
 * program is looked up in PATH as execFile does; the child gets the
 * daemon's environment, every signal at its default and none blocked (as
 * libuv gives its children), stdin from input (or /dev/null), stdout and
 * stderr into pipes. A thread of its own feeds stdin, collects the output,
 * kills the child with SIGTERM when timeoutMs (> 0) passes or an output
 * outgrows maxBuffer (execFile's rules), reaps it and hands the outcome to
 * Node's main thread. spawnErrno is the exec's errno (ENOENT: no such
 * program) and then nothing ran. Every descriptor here is close-on-exec:
 * no other child inherits one.
 */
#define _GNU_SOURCE
#include "spawn.h"
#include "detached-thread.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define THREAD_STACK_BYTES (128 * 1024)
#define READ_CHUNK 16384
/* Output still open this long after the child was killed (a grandchild holding the pipe) is given up. */
#define AFTER_KILL_MS 2000

struct output {
  char *bytes;
  size_t length;
  size_t capacity;
};

struct child {
  pid_t pid;
  int stdin_fd; /* -1 once all input is written */
  int stdout_fd;
  int stderr_fd;
  unsigned char *input;
  size_t input_length;
  size_t input_written;
  int64_t timeout_ms;
  size_t max_buffer;
  struct output out;
  struct output err;
  int status;
  int timed_out;
  int overflowed;
  int spawn_errno;
  napi_deferred deferred;
  napi_threadsafe_function done_callback;
};

static int64_t now_ms(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static void close_fd(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

static void free_child(struct child *child) {
  close_fd(&child->stdin_fd);
  close_fd(&child->stdout_fd);
  close_fd(&child->stderr_fd);
  free(child->input);
  free(child->out.bytes);
  free(child->err.bytes);
  free(child);
}

/* Appends what fd has; 0 at end of file (fd closed), -1 when it outgrew maxBuffer. */
static int drain(int *fd, struct output *output, size_t max_buffer) {
  char chunk[READ_CHUNK];
  ssize_t got = read(*fd, chunk, sizeof chunk);
  if (got < 0) return errno == EAGAIN || errno == EINTR ? 1 : (close_fd(fd), 0);
  if (got == 0) {
    close_fd(fd);
    return 0;
  }
  if (output->length + (size_t)got > output->capacity) {
    size_t capacity = output->capacity == 0 ? READ_CHUNK : output->capacity;
    while (capacity < output->length + (size_t)got) capacity *= 2;
    char *grown = realloc(output->bytes, capacity);
    if (grown == NULL) return -1;
    output->bytes = grown;
    output->capacity = capacity;
  }
  memcpy(output->bytes + output->length, chunk, (size_t)got);
  output->length += (size_t)got;
  return output->length > max_buffer ? -1 : 1;
}

static void feed(struct child *child) {
  ssize_t wrote = write(child->stdin_fd, child->input + child->input_written, child->input_length - child->input_written);
  if (wrote < 0) {
    if (errno != EAGAIN && errno != EINTR) close_fd(&child->stdin_fd); /* EPIPE: the program ended before reading it all */
    return;
  }
  child->input_written += (size_t)wrote;
  if (child->input_written == child->input_length) close_fd(&child->stdin_fd);
}

static void kill_child(struct child *child, int64_t *deadline) {
  kill(child->pid, SIGTERM);
  *deadline = now_ms() + AFTER_KILL_MS;
}

static void *watch_child(void *data) {
  struct child *child = data;
  pthread_setname_np(pthread_self(), "skiff-spawn");
  int64_t deadline = child->timeout_ms > 0 ? now_ms() + child->timeout_ms : -1;
  int killed = 0;
  while (child->stdout_fd >= 0 || child->stderr_fd >= 0) {
    struct pollfd fds[3];
    int count = 0;
    if (child->stdout_fd >= 0) fds[count++] = (struct pollfd){.fd = child->stdout_fd, .events = POLLIN};
    if (child->stderr_fd >= 0) fds[count++] = (struct pollfd){.fd = child->stderr_fd, .events = POLLIN};
    if (child->stdin_fd >= 0) fds[count++] = (struct pollfd){.fd = child->stdin_fd, .events = POLLOUT};
    int wait_ms = -1;
    if (deadline >= 0) {
      int64_t left = deadline - now_ms();
      wait_ms = left < 0 ? 0 : (int)left;
    }
    int ready = poll(fds, (nfds_t)count, wait_ms);
    if (ready < 0 && errno != EINTR) break;
    if (ready == 0) {
      if (killed) break; /* killed, and its output still open: a grandchild holds it */
      child->timed_out = 1;
      killed = 1;
      kill_child(child, &deadline);
      continue;
    }
    for (int index = 0; index < count; index++) {
      if (fds[index].revents == 0) continue;
      if (fds[index].fd == child->stdin_fd) {
        if (fds[index].revents & (POLLERR | POLLHUP)) close_fd(&child->stdin_fd);
        else feed(child);
        continue;
      }
      int *fd = fds[index].fd == child->stdout_fd ? &child->stdout_fd : &child->stderr_fd;
      if (drain(fd, fd == &child->stdout_fd ? &child->out : &child->err, child->max_buffer) < 0 && !killed) {
        child->overflowed = 1;
        killed = 1;
        kill_child(child, &deadline);
      }
    }
  }
  while (waitpid(child->pid, &child->status, 0) < 0 && errno == EINTR) {
  }
  napi_threadsafe_function done_callback = child->done_callback; /* child is the main thread's (and freed) once handed over */
  napi_call_threadsafe_function(done_callback, child, napi_tsfn_blocking);
  napi_release_threadsafe_function(done_callback, napi_tsfn_release);
  return NULL;
}

static napi_value buffer_of(napi_env env, const struct output *output) {
  napi_value buffer;
  if (napi_create_buffer_copy(env, output->length, output->length == 0 ? "" : output->bytes, NULL, &buffer) != napi_ok) return NULL;
  return buffer;
}

static void set_int(napi_env env, napi_value object, const char *key, int number) {
  napi_value value;
  napi_create_int32(env, number, &value);
  napi_set_named_property(env, object, key, value);
}

static void complete(napi_env env, napi_value callback, void *context, void *data) {
  (void)callback;
  (void)context;
  struct child *child = data;
  if (env != NULL) {
    napi_value outcome;
    napi_create_object(env, &outcome);
    set_int(env, outcome, "status", WIFEXITED(child->status) ? WEXITSTATUS(child->status) : -1);
    set_int(env, outcome, "signal", WIFSIGNALED(child->status) ? WTERMSIG(child->status) : 0);
    set_int(env, outcome, "spawnErrno", child->spawn_errno);
    napi_value flag;
    napi_get_boolean(env, child->timed_out, &flag);
    napi_set_named_property(env, outcome, "timedOut", flag);
    napi_get_boolean(env, child->overflowed, &flag);
    napi_set_named_property(env, outcome, "overflowed", flag);
    napi_value stdout_buffer = buffer_of(env, &child->out), stderr_buffer = buffer_of(env, &child->err);
    if (stdout_buffer != NULL) napi_set_named_property(env, outcome, "stdout", stdout_buffer);
    if (stderr_buffer != NULL) napi_set_named_property(env, outcome, "stderr", stderr_buffer);
    napi_resolve_deferred(env, child->deferred, outcome);
  }
  free_child(child);
}

/* Settles a call that never reached its thread (nothing ran, or no thread could watch it). */
static void settle_now(napi_env env, struct child *child) {
  napi_release_threadsafe_function(child->done_callback, napi_tsfn_abort);
  complete(env, NULL, NULL, child);
}

static napi_value throw_error(napi_env env, const char *message) {
  napi_throw_error(env, NULL, message);
  return NULL;
}

static char *string_argument(napi_env env, napi_value value) {
  size_t length;
  if (napi_get_value_string_utf8(env, value, NULL, 0, &length) != napi_ok) return NULL;
  char *text = malloc(length + 1);
  if (text == NULL) return NULL;
  if (napi_get_value_string_utf8(env, value, text, length + 1, &length) != napi_ok || strlen(text) != length) {
    free(text); /* a NUL inside: no program or argument can hold one */
    return NULL;
  }
  return text;
}

static void free_strings(char **strings) {
  if (strings == NULL) return;
  for (char **each = strings; *each != NULL; each++) free(*each);
  free(strings);
}

/* argv for the program: program, then args; NULL when an argument is not a string without NUL. */
static char **argument_vector(napi_env env, napi_value program, napi_value args) {
  bool is_array;
  uint32_t count;
  if (napi_is_array(env, args, &is_array) != napi_ok || !is_array || napi_get_array_length(env, args, &count) != napi_ok) return NULL;
  char **argv = calloc((size_t)count + 2, sizeof *argv);
  if (argv == NULL) return NULL;
  argv[0] = string_argument(env, program);
  if (argv[0] == NULL || argv[0][0] == '\0') {
    free_strings(argv);
    return NULL;
  }
  for (uint32_t index = 0; index < count; index++) {
    napi_value element;
    if (napi_get_element(env, args, index, &element) != napi_ok || (argv[index + 1] = string_argument(env, element)) == NULL) {
      free_strings(argv);
      return NULL;
    }
  }
  return argv;
}

/* Starts the program with its stdio on the pipes' far ends; 0, or the errno of what failed. */
static int start(struct child *child, char **argv, int has_input) {
  int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
  int failed = 0;
  if (has_input ? pipe2(in, O_CLOEXEC) : (in[0] = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) failed = errno;
  if (!failed && (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0)) failed = errno;
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attributes;
  sigset_t all, none;
  sigfillset(&all);
  sigemptyset(&none);
  if (!failed) {
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in[0], 0);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_adddup2(&actions, err[1], 2);
    posix_spawnattr_init(&attributes);
    posix_spawnattr_setsigdefault(&attributes, &all);
    posix_spawnattr_setsigmask(&attributes, &none);
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    failed = posix_spawnp(&child->pid, argv[0], &actions, &attributes, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
  }
  close_fd(&in[0]);
  close_fd(&out[1]);
  close_fd(&err[1]);
  if (failed) {
    close_fd(&in[1]);
    close_fd(&out[0]);
    close_fd(&err[0]);
    return failed;
  }
  child->stdin_fd = in[1];
  child->stdout_fd = out[0];
  child->stderr_fd = err[0];
  int fds[] = {child->stdin_fd, child->stdout_fd, child->stderr_fd};
  for (size_t index = 0; index < sizeof fds / sizeof fds[0]; index++)
    if (fds[index] >= 0) fcntl(fds[index], F_SETFL, fcntl(fds[index], F_GETFL) | O_NONBLOCK);
  if (child->input_length == 0) close_fd(&child->stdin_fd);
  return 0;
}

static napi_value spawn_program(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 5)
    return throw_error(env, "spawnProgram(program, args, input, timeoutMs, maxBuffer): five arguments");
  struct child *child = calloc(1, sizeof *child);
  if (child == NULL) return throw_error(env, "spawnProgram: out of memory");
  child->stdin_fd = child->stdout_fd = child->stderr_fd = -1;
  napi_valuetype input_type;
  napi_typeof(env, argv[2], &input_type);
  int has_input = 0;
  if (input_type != napi_null && input_type != napi_undefined) {
    void *data;
    size_t length;
    if (napi_get_buffer_info(env, argv[2], &data, &length) != napi_ok) {
      free_child(child);
      return throw_error(env, "spawnProgram: input must be a Buffer or null");
    }
    has_input = 1;
    child->input = malloc(length == 0 ? 1 : length);
    if (child->input == NULL) {
      free_child(child);
      return throw_error(env, "spawnProgram: out of memory");
    }
    memcpy(child->input, data, length);
    child->input_length = length;
  }
  double timeout_ms, max_buffer;
  if (napi_get_value_double(env, argv[3], &timeout_ms) != napi_ok || napi_get_value_double(env, argv[4], &max_buffer) != napi_ok || max_buffer < 0) {
    free_child(child);
    return throw_error(env, "spawnProgram: timeoutMs and maxBuffer must be numbers");
  }
  child->timeout_ms = (int64_t)timeout_ms;
  child->max_buffer = (size_t)max_buffer;
  char **program_argv = argument_vector(env, argv[0], argv[1]);
  if (program_argv == NULL) {
    free_child(child);
    return throw_error(env, "spawnProgram: the program and every argument must be strings without NUL");
  }
  napi_value promise, name;
  if (napi_create_string_utf8(env, "skiff:spawn", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_threadsafe_function(env, NULL, NULL, name, 0, 1, NULL, NULL, NULL, complete, &child->done_callback) != napi_ok) {
    free_strings(program_argv);
    free_child(child);
    return throw_error(env, "spawnProgram: could not make its completion callback");
  }
  if (napi_create_promise(env, &child->deferred, &promise) != napi_ok) {
    free_strings(program_argv);
    napi_release_threadsafe_function(child->done_callback, napi_tsfn_abort);
    free_child(child);
    return throw_error(env, "spawnProgram: out of memory");
  }
  child->spawn_errno = start(child, program_argv, has_input);
  free_strings(program_argv);
  if (child->spawn_errno != 0) {
    settle_now(env, child); /* nothing ran: resolved at once, as execFile reports ENOENT through its callback */
    return promise;
  }
  int started = start_detached_thread(watch_child, child, THREAD_STACK_BYTES);
  if (started != 0) {
    /* No thread to watch it: the program is ended and reaped here rather than left a zombie. */
    kill(child->pid, SIGKILL);
    while (waitpid(child->pid, &child->status, 0) < 0 && errno == EINTR) {
    }
    child->spawn_errno = started;
    settle_now(env, child);
  }
  return promise;
}

/* ---- detached programs, reaped by one thread that waits on their pidfds */

#define MAX_CHANNELS 4
static pthread_once_t reaper_once = PTHREAD_ONCE_INIT;
static int reaper_epoll = -1;

static void *reap_detached(void *data) {
  (void)data;
  pthread_setname_np(pthread_self(), "skiff-reaper");
  for (;;) {
    struct epoll_event events[16];
    int ready = epoll_wait(reaper_epoll, events, 16, -1);
    for (int index = 0; index < ready; index++) {
      int pidfd = events[index].data.fd;
      siginfo_t info;
      memset(&info, 0, sizeof info);
      int waited = waitid((idtype_t)P_PIDFD, (id_t)pidfd, &info, WEXITED | WNOHANG);
      if ((waited == 0 && info.si_pid != 0) || (waited < 0 && errno != EINTR)) {
        epoll_ctl(reaper_epoll, EPOLL_CTL_DEL, pidfd, NULL);
        close(pidfd);
      }
    }
  }
  return NULL;
}

static void start_reaper(void) {
  reaper_epoll = epoll_create1(EPOLL_CLOEXEC);
  if (reaper_epoll < 0) return;
  if (start_detached_thread(reap_detached, NULL, THREAD_STACK_BYTES) != 0) {
    close(reaper_epoll);
    reaper_epoll = -1;
  }
}

/* Hands the child to the reaper; 0, or the errno (the child is then killed and reaped here). */
static int reap_later(pid_t pid) {
  pthread_once(&reaper_once, start_reaper);
  int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
  int failed = pidfd < 0 || reaper_epoll < 0 ? (pidfd < 0 ? errno : EAGAIN) : 0;
  if (!failed) {
    fcntl(pidfd, F_SETFD, FD_CLOEXEC);
    struct epoll_event event = {.events = EPOLLIN, .data.fd = pidfd};
    if (epoll_ctl(reaper_epoll, EPOLL_CTL_ADD, pidfd, &event) < 0) failed = errno;
  }
  if (failed) {
    if (pidfd >= 0) close(pidfd);
    kill(pid, SIGKILL);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
  return failed;
}

static int int_argument(napi_env env, napi_value value, int32_t *number) { return napi_get_value_int32(env, value, number) == napi_ok ? 0 : -1; }

static napi_value throw_errno(napi_env env, const char *what, int error) {
  char message[512], reason[128];
  snprintf(message, sizeof message, "spawnDetached: %s: %s", what, strerror_r(error, reason, sizeof reason));
  napi_value code, text, exception;
  napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &text);
  napi_create_int32(env, error, &code);
  napi_create_error(env, NULL, text, &exception);
  napi_set_named_property(env, exception, "errno", code);
  napi_throw(env, exception);
  return NULL;
}

static napi_value spawn_detached(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 5)
    return throw_error(env, "spawnDetached(program, args, outFd, errFd, channels): five arguments");
  int32_t out_fd, err_fd;
  uint32_t channels;
  if (int_argument(env, argv[2], &out_fd) < 0 || int_argument(env, argv[3], &err_fd) < 0 || napi_get_value_uint32(env, argv[4], &channels) != napi_ok ||
      channels > MAX_CHANNELS)
    return throw_error(env, "spawnDetached: outFd and errFd are descriptors, channels a count from 0 to 4");
  char **program_argv = argument_vector(env, argv[0], argv[1]);
  if (program_argv == NULL) return throw_error(env, "spawnDetached: the program and every argument must be strings without NUL");
  int pairs[MAX_CHANNELS][2];
  int made = 0, failed = 0;
  int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd < 0) failed = errno;
  for (; !failed && made < (int)channels; made++)
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pairs[made]) < 0) {
      failed = errno;
      break;
    }
  pid_t pid = 0;
  if (!failed) {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attributes;
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, null_fd, 0);
    posix_spawn_file_actions_adddup2(&actions, out_fd, 1);
    posix_spawn_file_actions_adddup2(&actions, err_fd, 2);
    for (int index = 0; index < made; index++) posix_spawn_file_actions_adddup2(&actions, pairs[index][1], 3 + index);
    posix_spawnattr_init(&attributes);
    posix_spawnattr_setsigdefault(&attributes, &all);
    posix_spawnattr_setsigmask(&attributes, &none);
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSID);
    failed = posix_spawnp(&pid, program_argv[0], &actions, &attributes, program_argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
  }
  free_strings(program_argv);
  if (null_fd >= 0) close(null_fd);
  for (int index = 0; index < made; index++) close(pairs[index][1]);
  if (!failed) failed = reap_later(pid);
  if (failed) {
    for (int index = 0; index < made; index++) close(pairs[index][0]);
    return throw_errno(env, pid == 0 ? "posix_spawn" : "pidfd_open", failed);
  }
  napi_value result, fds, number;
  napi_create_object(env, &result);
  napi_create_int32(env, pid, &number);
  napi_set_named_property(env, result, "pid", number);
  napi_create_array_with_length(env, (size_t)made, &fds);
  for (int index = 0; index < made; index++) {
    napi_create_int32(env, pairs[index][0], &number);
    napi_set_element(env, fds, (uint32_t)index, number);
  }
  napi_set_named_property(env, result, "fds", fds);
  return result;
}

napi_status register_spawn(napi_env env, napi_value exports) {
  napi_value function;
  napi_status status = napi_create_function(env, "spawnProgram", NAPI_AUTO_LENGTH, spawn_program, NULL, &function);
  if (status == napi_ok) status = napi_set_named_property(env, exports, "spawnProgram", function);
  if (status == napi_ok) status = napi_create_function(env, "spawnDetached", NAPI_AUTO_LENGTH, spawn_detached, NULL, &function);
  if (status == napi_ok) status = napi_set_named_property(env, exports, "spawnDetached", function);
  return status;
}
