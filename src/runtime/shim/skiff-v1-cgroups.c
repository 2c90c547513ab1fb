/*
 * skiff-v1-cgroups RUNTIME ARG...: runs an OCI runtime where this host's
 * cgroups look purely v1.
 *
 * On a hybrid host (/sys/fs/cgroup a tmpfs of v1 hierarchies, a cgroup2 mount
 * at /sys/fs/cgroup/unified holding a controller) crun 1.8 refuses every
 * container ("cgroups in hybrid mode not supported, drop all controllers from
 * cgroupv2"). Without the cgroup2 mount in sight it takes the layout for pure
 * v1 and makes the same cgroups runc makes (/sys/fs/cgroup/<controller>/<path>).
 * So this program unshares a mount namespace, makes every mount in it private
 * first (so the unmount that follows cannot propagate to the host's namespace,
 * whose /sys/fs/cgroup it shares), lazily unmounts /sys/fs/cgroup/unified
 * there, and execs RUNTIME (from a read-only bind mount of itself, which
 * spares crun its self-copy: see below). The namespace ends with the runtime's process:
 * nothing is left to clean up, and a container's own mount namespace (cloned
 * from it) drops the host's mounts at its pivot_root as it does under runc.
 * The daemon runs the calls that make cgroups or processes (create and
 * start through the shim, exec) through this program; kill, delete, pause,
 * resume, update and ps act on what create recorded and run crun directly
 * (they work on the hybrid layout, and a new mount namespace copies the
 * host's whole mount table: 3 ms a call beside 10 containers, 8 beside 1,000).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/vfs.h>
#include <unistd.h>

#define UNIFIED "/sys/fs/cgroup/unified"
#define CGROUP2_SUPER_MAGIC 0x63677270

static int is_cgroup2(const char *path) {
  struct statfs fs;
  return statfs(path, &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: skiff-v1-cgroups RUNTIME [ARG...]\n");
    return 2;
  }
  if (unshare(CLONE_NEWNS) != 0) {
    fprintf(stderr, "skiff-v1-cgroups: unshare(CLONE_NEWNS): %s\n", strerror(errno));
    return 125;
  }
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
    fprintf(stderr, "skiff-v1-cgroups: making / private in a new mount namespace: %s\n", strerror(errno));
    return 125;
  }
  /* Stacked mounts come off one by one; none (a host that is v1 alone by now) is fine. */
  while (is_cgroup2(UNIFIED)) {
    if (umount2(UNIFIED, MNT_DETACH) != 0) {
      fprintf(stderr, "skiff-v1-cgroups: unmounting " UNIFIED " in a private mount namespace: %s\n", strerror(errno));
      return 125;
    }
  }
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
