/*
 * skiff-shim: the parent of one container's process, so containers outlive the
 * daemon (live-restore) and their exit codes are still known.
 *
 *   skiff-shim ID BUNDLE LOGFILE MODE RUNTIME [GLOBAL-OPTION...]
 *
 * MODE holds 't' (terminal), 'i' (keep stdin open) and/or 'g' (gated), or is
 * "-"; it may end with ":MAX-SIZE:MAX-FILE" (json-file's --log-opt, bytes and a
 * count): once LOGFILE holds MAX-SIZE bytes or more, the next frame goes to a
 * fresh LOGFILE, the full one kept as LOGFILE.1 (older ones shifted to .2 …,
 * at most MAX-FILE files in all), as Docker's json-file rotates. Gated, the
 * shim runs `create` instead of `run --detach`, reports "created <pid>\n" on fd 3 and waits for one byte on fd 4: 'g' runs `start`,
 * anything else or end-of-file (the daemon gave up, or died) deletes the
 * created container. The daemon sets up the container's network meanwhile. The shim
 * runs in its own session as a child subreaper, starts the container with
 * `RUNTIME GLOBAL-OPTION... run --detach` (cwd = BUNDLE; RUNTIME is runc, crun
 * or another OCI runtime with runc's command line, the options its own and
 * its --root; or skiff-v1-cgroups, the runtime its first option after its --view PIDFILE), and adopts the container's init process when it exits. It reports "ok <pid>" or "error <message>" on fd 3, then:
 *  - copies the container's stdout/stderr (or its pty master, received over
 *    runc's --console-socket) into LOGFILE as Docker stream frames with the
 *    time each was read (stream byte, 1, 0, 0, uint32 BE length, uint64 BE
 *    Unix nanoseconds, payload; the 1 marks the time, which frames of older
 *    shims do not carry). A full file ends with an empty timed frame of
 *    stream 0 (the rotation mark): a reader following it goes on in the next
 *    file only after that mark, and takes a file replaced without it (a
 *    restart, a removal) as the run's end. A rotation that fails (reported on
 *    stderr) leaves the output in the file it was in, none lost;
 *  - copies BUNDLE/stdin (a FIFO the daemon writes) to the container's stdin;
 *    SIGUSR1 closes the container's stdin once the FIFO is drained;
 *  - when the init process ends and the output is drained, writes its exit
 *    code (128+signal when killed, as Docker reports) to BUNDLE/exit-status.
 * Written in C so a running container costs a few hundred KB, not a runtime.
 *
 *   skiff-shim exec-tty BUNDLE NAME RUNC ARGS...
 *
 * runs `RUNC ARGS...` (a `runc exec --detach --tty --console-socket
 * /proc/self/cwd/NAME.sock --pid-file NAME.pid ...`) with cwd BUNDLE as a
 * subreaper, receives the pty master and relays it to the shim's own
 * stdin/stdout (pipes from the daemon): runc only hands out a pty when it
 * detaches. Exits with the exec'd process's exit code (runc's if it failed).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define REPORT_FD 3
#define GATE_FD 4
#define CONSOLE_SOCKET "console.sock"
#define DRAIN_AFTER_EXIT_MS 2000
#define MAX_GLOBAL_OPTIONS 64

static int log_fd = -1;
static const char *log_path;
/* Rotation (0: none), the bytes in the current file, and how many files to keep in all. */
static uint64_t log_max_size = 0, log_size = 0;
static long log_max_file = 1;
/* The runtime's file name, for error reports ("crun run exited with 1: ..."). */
static const char *runtime_name = "runc";

static void write_all(int fd, const void *data, size_t length) {
  const char *cursor = data;
  while (length > 0) {
    ssize_t written = write(fd, cursor, length);
    if (written < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) { struct pollfd p = { fd, POLLOUT, 0 }; poll(&p, 1, 1000); continue; }
      return;
    }
    cursor += written;
    length -= (size_t)written;
  }
}

static void rotate_log(void);

static void log_frame(unsigned char stream, const char *data, size_t length) {
  if (log_max_size > 0 && log_size >= log_max_size) rotate_log();
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  uint64_t nanos = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
  unsigned char header[16] = { stream, 1, 0, 0,
    (unsigned char)(length >> 24), (unsigned char)(length >> 16), (unsigned char)(length >> 8), (unsigned char)length };
  for (int i = 0; i < 8; i++) header[8 + i] = (unsigned char)(nanos >> (56 - 8 * i));
  char frame[16 + 8192];
  memcpy(frame, header, 16);
  memcpy(frame + 16, data, length);
  /* One write per frame: O_APPEND keeps frames whole for readers following the file. */
  write_all(log_fd, frame, 16 + length);
  log_size += 16 + length;
}

/*
 * What one read gave, as frames: with rotation, cut at the first line end at
 * or past MAX-SIZE, so a file ends where Docker's would (its entries are
 * lines: the line that reaches MAX-SIZE is the file's last), however many
 * lines one read holds. A line longer than what is left goes whole.
 */
static void log_output(unsigned char stream, const char *data, size_t length) {
  while (log_max_size > 0) {
    if (log_size >= log_max_size) rotate_log();
    if (16 + length <= log_max_size - log_size) break;
    size_t reach = log_max_size - log_size > 16 ? (size_t)(log_max_size - log_size - 16) : 1;
    const char *line_end = memchr(data + reach - 1, '\n', length - (reach - 1));
    if (line_end == NULL || (size_t)(line_end - data) + 1 == length) break;
    size_t part = (size_t)(line_end - data) + 1;
    log_frame(stream, data, part);
    data += part;
    length -= part;
  }
  log_frame(stream, data, length);
}

/*
 * LOGFILE.(k) becomes LOGFILE.(k+1), the oldest kept dropped, LOGFILE becomes
 * LOGFILE.1 and a fresh LOGFILE takes the output. The fresh file is made first
 * (as LOGFILE.new) so a failure leaves output where it was, never lost.
 */
static void rotate_log(void) {
  char fresh[4096], from[4096], to[4096];
  log_size = 0; /* after a failure, the next try comes after another MAX-SIZE bytes, not at every frame */
  snprintf(fresh, sizeof fresh, "%s.new", log_path);
  int fd = open(fresh, O_WRONLY | O_APPEND | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) { fprintf(stderr, "skiff-shim: rotating %s: open %s: %s\n", log_path, fresh, strerror(errno)); return; }
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  uint64_t nanos = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
  unsigned char mark[16] = { 0, 1, 0, 0, 0, 0, 0, 0 };
  for (int i = 0; i < 8; i++) mark[8 + i] = (unsigned char)(nanos >> (56 - 8 * i));
  write_all(log_fd, mark, sizeof mark);
  if (log_max_file > 1) {
    /* Only the files there are: a large MAX-FILE costs nothing until that many exist. */
    long highest = 0;
    while (highest < log_max_file - 1) {
      snprintf(from, sizeof from, "%s.%ld", log_path, highest + 1);
      if (access(from, F_OK) != 0) break;
      highest++;
    }
    if (highest == log_max_file - 1) {
      snprintf(from, sizeof from, "%s.%ld", log_path, highest);
      if (unlink(from) != 0) fprintf(stderr, "skiff-shim: rotating %s: unlink %s: %s\n", log_path, from, strerror(errno));
      highest--;
    }
    for (long i = highest; i >= 1; i--) {
      snprintf(from, sizeof from, "%s.%ld", log_path, i);
      snprintf(to, sizeof to, "%s.%ld", log_path, i + 1);
      if (rename(from, to) != 0) fprintf(stderr, "skiff-shim: rotating %s: rename %s: %s\n", log_path, from, strerror(errno));
    }
    snprintf(to, sizeof to, "%s.1", log_path);
    if (rename(log_path, to) != 0) {
      fprintf(stderr, "skiff-shim: rotating %s: rename to %s: %s\n", log_path, to, strerror(errno));
      close(fd);
      unlink(fresh);
      return;
    }
  }
  /* With MAX-FILE 1 this replaces the full file at once (Docker truncates it): readers holding it drain it, then go on here. */
  if (rename(fresh, log_path) != 0) {
    fprintf(stderr, "skiff-shim: rotating %s: rename %s: %s\n", log_path, fresh, strerror(errno));
    close(fd);
    unlink(fresh);
    return;
  }
  close(log_fd);
  log_fd = fd;
}

static void vreport(int keep_open, const char *format, va_list args) {
  char message[4096];
  int length = vsnprintf(message, sizeof message, format, args);
  if (length > (int)sizeof message - 1) length = sizeof message - 1;
  write_all(REPORT_FD, message, (size_t)length);
  if (!keep_open) close(REPORT_FD);
}

/* The last word to the daemon: fd 3 is closed after it. */
static void report(const char *format, ...) {
  va_list args;
  va_start(args, format);
  vreport(0, format, args);
  va_end(args);
}

/* A word to the daemon that more will follow ("created <pid>"). */
static void report_more(const char *format, ...) {
  va_list args;
  va_start(args, format);
  vreport(1, format, args);
  va_end(args);
}

static int receive_fd(int sock) {
  char data[256];
  char control[CMSG_SPACE(sizeof(int))];
  struct iovec iov = { data, sizeof data };
  struct msghdr msg = { 0 };
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) < 0) return -1;
  struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
  if (cmsg == NULL || cmsg->cmsg_type != SCM_RIGHTS) return -1;
  int fd;
  memcpy(&fd, CMSG_DATA(cmsg), sizeof fd);
  return fd;
}

static int exit_code_of(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 255;
}

static void write_exit_status(int code) {
  int fd = open("exit-status.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  dprintf(fd, "%d\n", code);
  fsync(fd);
  close(fd);
  rename("exit-status.tmp", "exit-status");
}

/* Reads what runc printed before failing, for the daemon's error message. */
static void report_runc_failure(int err_fd, int status) {
  char text[2048] = "";
  size_t used = 0;
  if (err_fd >= 0) {
    fcntl(err_fd, F_SETFL, O_NONBLOCK);
    ssize_t n;
    while (used < sizeof text - 1 && (n = read(err_fd, text + used, sizeof text - 1 - used)) > 0) used += (size_t)n;
  }
  text[used] = 0;
  while (used > 0 && (text[used - 1] == '\n' || text[used - 1] == ' ')) text[--used] = 0;
  report("error %s run exited with %d: %s", runtime_name, exit_code_of(status), used > 0 ? text : "no message");
}

/*
 * Runs `RUNTIME GLOBAL-OPTION... VERB ID` (start, delete --force) and waits
 * for it; its stderr goes to err_fd. Returns its wait status.
 */
static int run_runtime(const char *runtime, char **globals, int global_count, const char *verb, const char *flag, const char *id, int err_fd) {
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    const char *args[MAX_GLOBAL_OPTIONS + 8];
    int n = 0;
    args[n++] = runtime;
    for (int i = 0; i < global_count; i++) args[n++] = globals[i];
    args[n++] = verb;
    if (flag != NULL) args[n++] = flag;
    args[n++] = id;
    args[n] = NULL;
    int dev_null = open("/dev/null", O_RDWR);
    dup2(dev_null, 0);
    dup2(dev_null, 1);
    dup2(err_fd >= 0 ? err_fd : dev_null, 2);
    execv(runtime, (char *const *)args);
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
  return status;
}

static int read_pid_file(const char *path) {
  char text[32] = "";
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, text, sizeof text - 1);
  close(fd);
  if (n <= 0) return -1;
  text[n] = 0;
  return atoi(text);
}

static int listen_console(const char *name) {
  struct sockaddr_un address = { .sun_family = AF_UNIX };
  if (strlen(name) >= sizeof address.sun_path) return -1;
  strcpy(address.sun_path, name);
  unlink(name);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || bind(fd, (struct sockaddr *)&address, sizeof address) != 0 || listen(fd, 1) != 0) return -1;
  return fd;
}

/* Waits for runc to hand over the pty master; -1 if runc exits first (status in *runc_status). */
static int accept_master(int listen_fd, pid_t runc_pid, int *runc_status, int *runc_done) {
  for (;;) {
    struct pollfd p = { listen_fd, POLLIN, 0 };
    if (poll(&p, 1, 100) > 0) {
      int connection = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
      if (connection >= 0) {
        int master = receive_fd(connection);
        close(connection);
        if (master >= 0) return master;
      }
    } else if (waitpid(runc_pid, runc_status, WNOHANG) == runc_pid) {
      *runc_done = 1;
      return -1;
    }
  }
}

static int exec_tty_main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: skiff-shim exec-tty BUNDLE NAME RUNC ARGS...\n");
    return 2;
  }
  const char *bundle = argv[1];
  char socket_name[256], pid_name[256];
  snprintf(socket_name, sizeof socket_name, "%s.sock", argv[2]);
  snprintf(pid_name, sizeof pid_name, "%s.pid", argv[2]);
  signal(SIGPIPE, SIG_IGN);
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  if (chdir(bundle) != 0) { fprintf(stderr, "chdir %s: %s\n", bundle, strerror(errno)); return 255; }
  int listen_fd = listen_console(socket_name);
  if (listen_fd < 0) { fprintf(stderr, "console socket %s/%s: %s\n", bundle, socket_name, strerror(errno)); return 255; }
  pid_t runc_pid = fork();
  if (runc_pid < 0) return 255;
  if (runc_pid == 0) {
    int dev_null = open("/dev/null", O_RDWR);
    dup2(dev_null, 0);
    execv(argv[3], argv + 3);
    fprintf(stderr, "exec %s: %s\n", argv[3], strerror(errno));
    _exit(255);
  }
  int runc_status = 0, runc_done = 0;
  int master = accept_master(listen_fd, runc_pid, &runc_status, &runc_done);
  close(listen_fd);
  unlink(socket_name);
  if (!runc_done) while (waitpid(runc_pid, &runc_status, 0) < 0 && errno == EINTR) {}
  pid_t process_pid = read_pid_file(pid_name);
  unlink(pid_name);
  if (master < 0 || process_pid <= 0) return exit_code_of(runc_status);
  {
    char buffer[8192];
    int stdin_open = 1;
    for (;;) {
      struct pollfd fds[2] = { { master, POLLIN, 0 }, { stdin_open ? 0 : -1, POLLIN, 0 } };
      if (poll(fds, 2, -1) < 0) { if (errno == EINTR) continue; break; }
      if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
        ssize_t n = read(master, buffer, sizeof buffer);
        if (n <= 0 && errno != EINTR && errno != EAGAIN) break; /* EIO: the process and its children are gone */
        if (n > 0) write_all(1, buffer, (size_t)n);
      }
      if (stdin_open && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) {
        ssize_t n = read(0, buffer, sizeof buffer);
        if (n > 0) write_all(master, buffer, (size_t)n);
        else if (n == 0 || errno != EINTR) stdin_open = 0;
      }
    }
    close(master);
  }
  int status = 0;
  pid_t reaped;
  while ((reaped = waitpid(-1, &status, 0)) != process_pid) if (reaped < 0 && errno != EINTR) return 255;
  return exit_code_of(status);
}

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "exec-tty") == 0) return exec_tty_main(argc - 1, argv + 1);
  if (argc < 6 || argc > 6 + MAX_GLOBAL_OPTIONS) {
    fprintf(stderr, "usage: skiff-shim ID BUNDLE LOGFILE MODE RUNTIME [GLOBAL-OPTION...] (at most %d options)\n", MAX_GLOBAL_OPTIONS);
    return 2;
  }
  const char *id = argv[1], *bundle = argv[2], *mode = argv[4], *runc = argv[5];
  log_path = argv[3];
  const char *rotation = strchr(mode, ':');
  if (rotation != NULL) {
    unsigned long long max_size = 0;
    long max_file = 1;
    if (sscanf(rotation, ":%llu:%ld", &max_size, &max_file) != 2 || max_file < 1) {
      fprintf(stderr, "skiff-shim: MODE %s: expected :MAX-SIZE:MAX-FILE after the letters\n", mode);
      return 2;
    }
    log_max_size = max_size;
    log_max_file = max_file;
  }
  /* Through skiff-v1-cgroups (crun on a hybrid host) the runtime is its first argument after its own --view PIDFILE. */
  const char *named = runc;
  if (strcmp(strrchr(runc, '/') != NULL ? strrchr(runc, '/') + 1 : runc, "skiff-v1-cgroups") == 0) {
    int first = argc > 7 && strcmp(argv[6], "--view") == 0 ? 8 : 6;
    if (argc > first) named = argv[first];
  }
  const char *slash = strrchr(named, '/');
  runtime_name = slash != NULL ? slash + 1 : named;
  int tty = strchr(mode, 't') != NULL;
  int open_stdin = strchr(mode, 'i') != NULL;
  int gated = strchr(mode, 'g') != NULL;

  fcntl(REPORT_FD, F_SETFD, FD_CLOEXEC);
  if (gated) fcntl(GATE_FD, F_SETFD, FD_CLOEXEC);
  setsid();
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) { report("error prctl(PR_SET_CHILD_SUBREAPER): %s", strerror(errno)); return 1; }
  if (chdir(bundle) != 0) { report("error chdir %s: %s", bundle, strerror(errno)); return 1; }
  log_fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (log_fd < 0) { report("error open %s: %s", log_path, strerror(errno)); return 1; }
  struct stat log_stat;
  if (fstat(log_fd, &log_stat) == 0) log_size = (uint64_t)log_stat.st_size;

  sigset_t handled;
  sigemptyset(&handled);
  sigaddset(&handled, SIGCHLD);
  sigaddset(&handled, SIGUSR1);
  sigprocmask(SIG_BLOCK, &handled, NULL);
  signal(SIGPIPE, SIG_IGN);
  int signal_fd = signalfd(-1, &handled, SFD_CLOEXEC);

  /* O_RDWR: the FIFO never reports end-of-file while the daemon comes and goes. */
  int stdin_fifo = -1;
  if (open_stdin) {
    stdin_fifo = open("stdin", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (stdin_fifo < 0) { report("error open %s/stdin: %s", bundle, strerror(errno)); return 1; }
  }

  int dev_null = open("/dev/null", O_RDWR | O_CLOEXEC);
  int out_pipe[2] = { -1, -1 }, err_pipe[2] = { -1, -1 }, in_pipe[2] = { -1, -1 };
  int listen_fd = -1;
  if (pipe2(err_pipe, O_CLOEXEC) != 0) { report("error pipe: %s", strerror(errno)); return 1; }
  if (tty) {
    listen_fd = listen_console(CONSOLE_SOCKET);
    if (listen_fd < 0) { report("error console socket in %s: %s", bundle, strerror(errno)); return 1; }
  } else {
    if (pipe2(out_pipe, O_CLOEXEC) != 0) { report("error pipe: %s", strerror(errno)); return 1; }
    if (open_stdin && pipe2(in_pipe, O_CLOEXEC) != 0) { report("error pipe: %s", strerror(errno)); return 1; }
  }

  pid_t runc_pid = fork();
  if (runc_pid < 0) { report("error fork: %s", strerror(errno)); return 1; }
  if (runc_pid == 0) {
    /* In pass-through mode the container inherits runc's stdio. */
    sigprocmask(SIG_UNBLOCK, &handled, NULL);
    dup2(in_pipe[0] >= 0 ? in_pipe[0] : dev_null, 0);
    dup2(out_pipe[1] >= 0 ? out_pipe[1] : dev_null, 1);
    dup2(err_pipe[1], 2);
    /* runc makes the socket path absolute; /proc/self/cwd keeps it under 108 bytes. */
    const char *args[MAX_GLOBAL_OPTIONS + 16];
    int n = 0;
    args[n++] = runc;
    for (int i = 6; i < argc; i++) args[n++] = argv[i];
    if (gated) {
      args[n++] = "create";
    } else {
      args[n++] = "run";
      args[n++] = "--detach";
    }
    args[n++] = "--pid-file";
    args[n++] = "init.pid";
    if (tty) {
      args[n++] = "--console-socket";
      args[n++] = "/proc/self/cwd/" CONSOLE_SOCKET;
    }
    args[n++] = id;
    args[n] = NULL;
    execv(runc, (char *const *)args);
    dprintf(2, "exec %s: %s", runc, strerror(errno));
    _exit(127);
  }
  close(err_pipe[1]);
  if (out_pipe[1] >= 0) close(out_pipe[1]);
  if (in_pipe[0] >= 0) close(in_pipe[0]);

  int master = -1;
  int runc_status = 0, runc_done = 0;
  if (tty) {
    master = accept_master(listen_fd, runc_pid, &runc_status, &runc_done);
    close(listen_fd);
    unlink(CONSOLE_SOCKET);
  }
  if (!runc_done) while (waitpid(runc_pid, &runc_status, 0) < 0 && errno == EINTR) {}
  if (!WIFEXITED(runc_status) || WEXITSTATUS(runc_status) != 0 || (tty && master < 0)) {
    report_runc_failure(err_pipe[0], runc_status);
    return 1;
  }
  pid_t init_pid = read_pid_file("init.pid");
  if (init_pid <= 0) { report("error runc wrote no pid to %s/init.pid", bundle); return 1; }
  if (gated) {
    report_more("created %d\n", init_pid);
    char go = 0;
    ssize_t n;
    while ((n = read(GATE_FD, &go, 1)) < 0 && errno == EINTR) {}
    close(GATE_FD);
    int start_err[2] = { -1, -1 };
    if (n != 1 || go != 'g' || pipe2(start_err, O_CLOEXEC) != 0) {
      run_runtime(runc, argv + 6, argc - 6, "delete", "--force", id, -1);
      report("error the daemon did not start the created container");
      return 1;
    }
    int start_status = run_runtime(runc, argv + 6, argc - 6, "start", NULL, id, start_err[1]);
    close(start_err[1]);
    if (!WIFEXITED(start_status) || WEXITSTATUS(start_status) != 0) {
      run_runtime(runc, argv + 6, argc - 6, "delete", "--force", id, -1);
      report_runc_failure(start_err[0], start_status);
      return 1;
    }
    close(start_err[0]);
  }
  report("ok %d\n", init_pid);

  /* In tty mode runc's stderr pipe carried only runc's own messages. */
  int output_fds[2] = { tty ? master : out_pipe[0], tty ? -1 : err_pipe[0] };
  if (tty) close(err_pipe[0]);
  int stdin_target = tty ? master : in_pipe[1];
  if (stdin_target >= 0) fcntl(stdin_target, F_SETFL, fcntl(stdin_target, F_GETFL) | O_NONBLOCK);

  int exited = 0, exit_code = 0;
  char buffer[8192];
  for (;;) {
    if (exited && output_fds[0] < 0 && output_fds[1] < 0) break;
    struct pollfd fds[4] = {
      { signal_fd, POLLIN, 0 },
      { output_fds[0], POLLIN, 0 },
      { output_fds[1], POLLIN, 0 },
      { stdin_fifo, POLLIN, 0 },
    };
    int ready = poll(fds, 4, exited ? DRAIN_AFTER_EXIT_MS : -1);
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) break; /* output still held open after init ended: stop waiting */

    if (fds[0].revents & POLLIN) {
      struct signalfd_siginfo info;
      if (read(signal_fd, &info, sizeof info) == sizeof info && info.ssi_signo == SIGUSR1 && stdin_fifo >= 0) {
        ssize_t n;
        while ((n = read(stdin_fifo, buffer, sizeof buffer)) > 0) if (stdin_target >= 0) write_all(stdin_target, buffer, (size_t)n);
        close(stdin_fifo);
        stdin_fifo = -1;
        if (!tty && stdin_target >= 0) { close(stdin_target); stdin_target = -1; }
      }
      int status;
      pid_t reaped;
      while ((reaped = waitpid(-1, &status, WNOHANG)) > 0) {
        if (reaped == init_pid) { exited = 1; exit_code = exit_code_of(status); }
      }
    }
    for (int i = 0; i < 2; i++) {
      if (output_fds[i] < 0 || !(fds[i + 1].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = read(output_fds[i], buffer, sizeof buffer);
      if (n > 0) {
        log_output((unsigned char)(i + 1), buffer, (size_t)n);
      } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        /* EOF, or EIO from a pty master once every slave is closed. */
        if (output_fds[i] != stdin_target) close(output_fds[i]);
        output_fds[i] = -1;
      }
    }
    if (stdin_fifo >= 0 && (fds[3].revents & POLLIN)) {
      ssize_t n = read(stdin_fifo, buffer, sizeof buffer);
      if (n > 0 && stdin_target >= 0) write_all(stdin_target, buffer, (size_t)n);
    }
  }
  write_exit_status(exit_code);
  return 0;
}
