/**
 * --sysctl (HostConfig.Sysctls) checked at start as runc checks it (dockerd
 * passes them on unchecked; the docker CLI refuses some first), and split by
 * who writes them. IPC and UTS ones go in the OCI spec: the runtime writes
 * them in the container's own namespaces. Network ones the daemon writes in
 * the container's network namespace once its interfaces are there and before
 * its process runs, as Docker's order has it: the sandbox is set up before
 * runc's init writes them, so net.ipv6.conf.all.disable_ipv6=0 reaches eth0.
 */
import { ContainerStartError } from '../runtime/containers.js';

/** Namespaced by IPC (runc's list, and fs.mqueue.*): a container always has its own IPC namespace here. */
const IPC_SYSCTLS = new Set([
  'kernel.msgmax',
  'kernel.msgmnb',
  'kernel.msgmni',
  'kernel.sem',
  'kernel.shmall',
  'kernel.shmmax',
  'kernel.shmmni',
  'kernel.shm_rmid_forced',
]);

export interface SysctlPlan {
  /** For the OCI spec's linux.sysctl. */
  runtime: Record<string, string>;
  /** Written by the daemon in the container's network namespace: paths under /proc/sys. */
  network: Array<{ key: string; value: string }>;
}

function refused(why: string): ContainerStartError {
  return new ContainerStartError('invalid', `OCI runtime create failed: ${why}: unknown`, 128);
}

/** networkMode is the container's (host: the host's namespace, where no net.* may be set). */
export function planSysctls(sysctls: Readonly<Record<string, string>>, networkMode: string): SysctlPlan {
  const plan: SysctlPlan = { runtime: {}, network: [] };
  for (const [name, value] of Object.entries(sysctls)) {
    if (IPC_SYSCTLS.has(name) || name.startsWith('fs.mqueue.') || name === 'kernel.domainname') {
      plan.runtime[name] = value;
    } else if (name.startsWith('net.')) {
      if (networkMode === 'host') throw refused(`sysctl "${name}" not allowed in host network namespace`);
      // As runc: every dot is a directory (interface names with dots cannot be named this way); so no path climbs out of /proc/sys/net.
      plan.network.push({ key: name.replaceAll('.', '/'), value });
    } else if (name === 'kernel.hostname') {
      throw refused(`sysctl "${name}" is not allowed as it conflicts with the OCI "hostname" field`);
    } else {
      throw refused(`sysctl "${name}" is not in a separate kernel namespace`);
    }
  }
  return plan;
}

/** A network sysctl the kernel refused, as runc's init reports it (Go's lower-case errno text); no such key: exit code 127, as dockerd records it. */
export function sysctlWriteError(error: unknown): ContainerStartError {
  if (error instanceof ContainerStartError) return error;
  const detail = (error as Error).message.replace(/: ([A-Z])([^:]*)$/, (_match, first: string, rest: string) => `: ${first.toLowerCase()}${rest}`);
  const message = `OCI runtime create failed: unable to start container process: error during container init: ${detail}: unknown`;
  return new ContainerStartError('invalid', message, /no such file or directory/.test(detail) ? 127 : 128);
}
