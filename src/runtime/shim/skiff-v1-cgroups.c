/*
 * skiff-v1-cgroups [--view PIDFILE] RUNTIME ARG...: runs an OCI runtime where
 * this host's cgroups look purely v1.
 *
 * On a hybrid host (/sys/fs/cgroup a tmpfs of v1 hierarchies, a cgroup2 mount
 * at /sys/fs/cgroup/unified holding a controller) crun 1.8 refuses every
 * container ("cgroups in hybrid mode not supported, drop all controllers from
 * cgroupv2"). Without the cgroup2 mount in sight it takes the layout for pure
 * v1 and makes the same cgroups runc makes (/sys/fs/cgroup/<controller>/<path>).
 * So this program runs RUNTIME in a mount namespace of its own whose mounts
 * are all private (so the unmount cannot propagate to the host's namespace,
 * whose /sys/fs/cgroup it shares), with /sys/fs/cgroup/unified lazily
 * unmounted, from a read-only bind mount of itself (which spares crun its
 * self-copy: see below). The namespace ends with the runtime's process:
 * nothing is left to clean up.
 *
 * Where that namespace comes from is what its cost depends on. A copy of the
 * caller's (the daemon's) mount namespace holds two mounts per container (its
 * overlay rootfs and its bound netns file), and that table is copied again by
 * the runtime for the container's own namespace and detached whole at its
 * pivot_root, then freed twice: crun create + start went 10 → 35 ms from 10
 * to 1,000 containers, all of it in those copies and frees. So:
 *
 *   skiff-v1-cgroups hold PIDFILE DIR...
 *
 * makes the lean view once (the daemon starts it, and again at each of its
 * starts): a mount namespace as above, less every mount under the DIRs (the
 * daemon's exec root, where containers' rootfs and netns files are mounted),
 * a slave of the caller's where its mounts are shared (see
 * view_propagation), and holds it while it runs, its pid in PIDFILE. With --view PIDFILE, a call
 * enters a fresh copy of that view (setns, then unshare: its own namespace,
 * a copy of a few dozen mounts) and, first, carries into it what the
 * container needs from the caller's namespace: the paths listed one per line
 * in ./skiff-v1-view-mounts (the container's bundle, the cwd of its create,
 * lists its rootfs, netns file and bind sources), each cloned with its
 * submounts (open_tree) and attached at the same path. No holder, no copy of
 * the view, or a path that cannot be carried (not found in the view): the call
 * copies the caller's namespace as before, which is always right, only slower.
 *
 * The daemon runs the calls that make cgroups or processes (create and
 * start through the shim, exec) through this program; kill, delete, pause,
 * resume, update and ps act on what create recorded and run crun directly
 * (they work on the hybrid layout).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#define UNIFIED "/sys/fs/cgroup/unified"
#define CGROUP2_SUPER_MAGIC 0x63677270
#define CARRY_LIST "skiff-v1-view-mounts"
#define MAX_CARRIED 64
#define MAX_DIRS 8

static int is_cgroup2(const char *path) {
  struct statfs fs;
  return statfs(path, &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC;
}

/*
 * Mounts made private or slave first (the unmount must not reach the host's
 * namespace: a slave receives from its master and sends nothing back), then
 * the cgroup2 mount off.
 */
static int hide_unified(unsigned long propagation) {
  if (mount(NULL, "/", NULL, MS_REC | propagation, NULL) != 0) {
    fprintf(stderr, "skiff-v1-cgroups: making / %s in a new mount namespace: %s\n", propagation == MS_SLAVE ? "slave" : "private", strerror(errno));
    return -1;
  }
  /* Stacked mounts come off one by one; none (a host that is v1 alone by now) is fine. */
  while (is_cgroup2(UNIFIED)) {
    if (umount2(UNIFIED, MNT_DETACH) != 0) {
      fprintf(stderr, "skiff-v1-cgroups: unmounting " UNIFIED " in a private mount namespace: %s\n", strerror(errno));
      return -1;
    }
  }
  return 0;
}

/* A mount point of /proc/self/mountinfo as the kernel escapes it (\040 for a space, and so on), decoded in place. */
static void unescape(char *text) {
  char *out = text;
  for (char *in = text; *in != 0; in++) {
    if (in[0] == '\\' && in[1] >= '0' && in[1] <= '3' && in[2] >= '0' && in[2] <= '7' && in[3] >= '0' && in[3] <= '7') {
      *out++ = (char)((in[1] - '0') * 64 + (in[2] - '0') * 8 + (in[3] - '0'));
      in += 3;
    } else {
      *out++ = *in;
    }
  }
  *out = 0;
}

static int is_below(const char *path, const char *dir) {
  size_t length = strlen(dir);
  return strncmp(path, dir, length) == 0 && path[length] == '/';
}

static int under(const char *path, char **dirs, int dir_count) {
  for (int i = 0; i < dir_count; i++)
    if (is_below(path, dirs[i])) return 1;
  return 0;
}

/* What the mount table says about dir: mounted itself, on a mount shared with other namespaces, with mounts below it. */
struct dir_mounts {
  int mounted;
  int shared;
  int below;
};

/*
 * Calls visit for each mount of this namespace's table, with its mount point
 * (unescaped) and its optional fields ("shared:N", "master:N"): the first,
 * then the rest by strsep(rest, " ") up to "-".
 */
static void each_mount(void (*visit)(char *point, char *optional, char **rest, void *context), void *context) {
  FILE *table = fopen("/proc/self/mountinfo", "re");
  if (table == NULL) return;
  char *line = NULL;
  size_t size = 0;
  while (getline(&line, &size, table) > 0) {
    char *fields[7] = { 0 };
    char *cursor = line;
    for (int i = 0; i < 7 && cursor != NULL; i++) fields[i] = strsep(&cursor, " ");
    if (fields[6] == NULL) continue;
    unescape(fields[4]);
    visit(fields[4], fields[6], &cursor, context);
  }
  free(line);
  fclose(table);
}

struct dir_look {
  const char *dir;
  size_t covering;
  struct dir_mounts found;
};

static void look_at_mount(char *point, char *optional, char **rest, void *context) {
  struct dir_look *look = context;
  size_t length = strlen(point);
  if (is_below(point, look->dir)) look->found.below = 1;
  /* The covering mount is the last of the longest prefix (stacked mounts come later in the table). */
  int covers = strcmp(point, look->dir) == 0 || strcmp(point, "/") == 0 || is_below(look->dir, point);
  if (covers && length >= look->covering) {
    look->covering = length;
    look->found.mounted = strcmp(point, look->dir) == 0;
    look->found.shared = 0;
    for (char *field = optional; field != NULL && strcmp(field, "-") != 0; field = strsep(rest, " "))
      if (strncmp(field, "shared:", 7) == 0) look->found.shared = 1;
  }
}

static struct dir_mounts mounts_of(const char *dir) {
  struct dir_look look = { dir, 0, { 0, 0, 0 } };
  each_mount(look_at_mount, &look);
  return look.found;
}

/*
 * The view's propagation. Where the dirs sit on mounts shared with other
 * namespaces (a systemd host's /run), a slave view receives the host's
 * unmounts (it pins no filesystem the host let go) and its new mounts. So
 * that those do not include skiff's own (two per container, what the view
 * is without), each dir is first made a private mount in the caller's
 * namespace, as Docker's overlay2 does with its home; a dir not yet mounted
 * itself gets a bind of itself, which is only done while nothing is mounted
 * below it (they would be left stranded under the bind). Else the view is
 * private: it keeps the host's mounts as they were when it was made.
 */
static unsigned long view_propagation(char **dirs, int dir_count) {
  for (int i = 0; i < dir_count; i++) {
    struct dir_mounts dir = mounts_of(dirs[i]);
    if (!dir.shared) continue;
    /* Recursive: a rootfs the daemon mounts between the look and the bind stays in its sight. */
    if (!dir.mounted && (dir.below || mount(dirs[i], dirs[i], NULL, MS_BIND | MS_REC, NULL) != 0)) return MS_PRIVATE;
    if (mount(NULL, dirs[i], NULL, MS_REC | MS_PRIVATE, NULL) != 0) return MS_PRIVATE;
  }
  return MS_SLAVE;
}

struct dirs {
  char **dirs;
  int count;
};

static void detach_if_under(char *point, char *optional, char **rest, void *context) {
  (void)optional;
  (void)rest;
  struct dirs *dirs = context;
  if (under(point, dirs->dirs, dirs->count)) umount2(point, MNT_DETACH);
}

/* Detaches every mount below the dirs (not the dirs themselves); one that went with its parent is fine. */
static void detach_under(char **dirs, int dir_count) {
  struct dirs below = { dirs, dir_count };
  each_mount(detach_if_under, &below);
}

/*
 * hold PIDFILE DIR...: makes the lean view, writes its pid to PIDFILE (whole,
 * by rename), says "ready\n" on fd 3 when the daemon gave one, and holds the
 * view until SIGTERM or SIGINT.
 */
static int hold(int argc, char **argv) {
  if (argc < 1 || argc > 1 + MAX_DIRS) {
    fprintf(stderr, "usage: skiff-v1-cgroups hold PIDFILE DIR... (at most %d dirs)\n", MAX_DIRS);
    return 2;
  }
  const char *pid_file = argv[0];
  sigset_t ending;
  sigemptyset(&ending);
  sigaddset(&ending, SIGTERM);
  sigaddset(&ending, SIGINT);
  sigprocmask(SIG_BLOCK, &ending, NULL);
  setsid();
  unsigned long propagation = view_propagation(argv + 1, argc - 1);
  if (unshare(CLONE_NEWNS) != 0) {
    fprintf(stderr, "skiff-v1-cgroups hold: unshare(CLONE_NEWNS): %s\n", strerror(errno));
    return 125;
  }
  if (hide_unified(propagation) != 0) return 125;
  detach_under(argv + 1, argc - 1);
  if (chdir("/") != 0) return 125;
  char temporary[4096];
  snprintf(temporary, sizeof temporary, "%s.tmp", pid_file);
  FILE *file = fopen(temporary, "we");
  if (file == NULL || fprintf(file, "%d\n", getpid()) < 0 || fclose(file) != 0 || rename(temporary, pid_file) != 0) {
    fprintf(stderr, "skiff-v1-cgroups hold: writing %s: %s\n", pid_file, strerror(errno));
    return 125;
  }
  if (fcntl(3, F_GETFD) >= 0) {
    if (write(3, "ready\n", 6) != 6) return 125;
    close(3);
  }
  int signal_number = 0;
  /* The pid file stays: the daemon removes it, and a stale one names no holder (holder_of checks). */
  while (sigwait(&ending, &signal_number) != 0) {}
  return 0;
}

/* The holder's pid when PIDFILE names a live `skiff-v1-cgroups hold PIDFILE …` (not a process that took its pid), else 0. */
static pid_t holder_of(const char *pid_file) {
  char text[32] = "";
  int fd = open(pid_file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, text, sizeof text - 1);
  close(fd);
  pid_t pid = n > 0 ? (pid_t)atoi(text) : 0;
  if (pid <= 0) return 0;
  char path[64], command[8192];
  snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  n = read(fd, command, sizeof command - 1);
  close(fd);
  if (n <= 0) return 0;
  command[n] = 0;
  const char *verb = command + strlen(command) + 1;
  const char *named = verb < command + n ? verb + strlen(verb) + 1 : command + n;
  return named < command + n && strcmp(verb, "hold") == 0 && strcmp(named, pid_file) == 0 ? pid : 0;
}

static int carried_count;
static char *carried_paths[MAX_CARRIED];
static int carried_trees[MAX_CARRIED];

static void drop_carried(void) {
  for (int i = 0; i < carried_count; i++) {
    close(carried_trees[i]);
    free(carried_paths[i]);
  }
  carried_count = 0;
}

/* Clones (with their submounts) what ./skiff-v1-view-mounts lists, in the caller's namespace. -1: one could not be. */
static int clone_carried(void) {
  FILE *list = fopen(CARRY_LIST, "re");
  if (list == NULL) return errno == ENOENT ? 0 : -1;
  char *line = NULL;
  size_t size = 0;
  ssize_t length;
  int failed = 0;
  while (!failed && (length = getline(&line, &size, list)) > 0) {
    if (line[length - 1] == '\n') line[--length] = 0;
    if (length == 0) continue;
    int tree = carried_count < MAX_CARRIED ? (int)syscall(SYS_open_tree, AT_FDCWD, line, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE) : -1;
    if (tree < 0) {
      failed = 1;
      break;
    }
    carried_trees[carried_count] = tree;
    carried_paths[carried_count++] = strdup(line);
  }
  free(line);
  fclose(list);
  return failed ? -1 : 0;
}

/*
 * Enters a fresh copy of the lean view with what the container needs carried
 * in; cwd stays the same path. 0 when done; -1 (still in the caller's
 * namespace) when it cannot be.
 */
static int enter_lean_view(const char *pid_file) {
  pid_t holder = holder_of(pid_file);
  if (holder == 0) return -1;
  char cwd[4096], view_path[64];
  if (getcwd(cwd, sizeof cwd) == NULL) return -1;
  snprintf(view_path, sizeof view_path, "/proc/%d/ns/mnt", holder);
  int view = open(view_path, O_RDONLY | O_CLOEXEC);
  int home = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
  int entered = 0;
  if (view >= 0 && home >= 0 && clone_carried() == 0 && setns(view, CLONE_NEWNS) == 0) {
    entered = unshare(CLONE_NEWNS) == 0;
    for (int i = 0; entered && i < carried_count; i++)
      entered = syscall(SYS_move_mount, carried_trees[i], "", AT_FDCWD, carried_paths[i], MOVE_MOUNT_F_EMPTY_PATH) == 0;
    /* setns moved cwd to the view's root; back home, cwd goes back to where it was too. */
    if (!entered && setns(home, CLONE_NEWNS) != 0) {
      fprintf(stderr, "skiff-v1-cgroups: returning to the caller's mount namespace: %s\n", strerror(errno));
      exit(125);
    }
    if (chdir(cwd) != 0) {
      fprintf(stderr, "skiff-v1-cgroups: chdir %s: %s\n", cwd, strerror(errno));
      exit(125);
    }
  }
  drop_carried();
  if (view >= 0) close(view);
  if (home >= 0) close(home);
  return entered ? 0 : -1;
}

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "hold") == 0) return hold(argc - 2, argv + 2);
  const char *view_pid_file = NULL;
  if (argc >= 3 && strcmp(argv[1], "--view") == 0) {
    view_pid_file = argv[2];
    argc -= 2;
    argv += 2;
  }
  if (argc < 2) {
    fprintf(stderr, "usage: skiff-v1-cgroups [--view PIDFILE] RUNTIME [ARG...]\n");
    return 2;
  }
  if (view_pid_file == NULL || enter_lean_view(view_pid_file) != 0) {
    if (unshare(CLONE_NEWNS) != 0) {
      fprintf(stderr, "skiff-v1-cgroups: unshare(CLONE_NEWNS): %s\n", strerror(errno));
      return 125;
    }
  }
  if (hide_unified(MS_PRIVATE) != 0) return 125;
  /*
   * crun copies or re-mounts itself on every start before it runs (its guard
   * against a container overwriting the host's binary through /proc/self/exe,
   * CVE-2019-5736), then execs the copy: a second start of the whole program.
   * It skips that when it already runs from a read-only mount and
   * _LIBCONTAINER_CLONED_BINARY is set, so the binary gets its read-only
   * bind mount here, in the namespace just made, where it guards as well.
   */
  if (mount(argv[1], argv[1], NULL, MS_BIND, NULL) == 0 &&
      mount(NULL, argv[1], NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) == 0)
    setenv("_LIBCONTAINER_CLONED_BINARY", "1", 1);
  execv(argv[1], argv + 1);
  fprintf(stderr, "skiff-v1-cgroups: exec %s: %s\n", argv[1], strerror(errno));
  return 127;
}
