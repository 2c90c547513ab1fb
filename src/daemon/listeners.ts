/**
 * Where the API listens: dockerd's -H values that skiff serves. unix:///path
 * is a socket skiff makes; fd:// takes the listening sockets systemd passed
 * (socket activation: LISTEN_PID names this process, LISTEN_FDS counts them
 * from descriptor 3), all of them or fd://N for one, as dockerd does.
 */
export type Listener = { kind: 'unix'; path: string } | { kind: 'fd'; fd: number };

/** sd_listen_fds(3): the first passed descriptor. */
const SD_LISTEN_FDS_START = 3;

export interface ActivationEnv {
  LISTEN_PID?: string;
  LISTEN_FDS?: string;
}

/** The descriptors systemd passed to this process (none when LISTEN_PID names another). */
export function activationFds(env: ActivationEnv, pid: number): number[] {
  if (env.LISTEN_PID === undefined || Number(env.LISTEN_PID) !== pid) return [];
  const count = Number(env.LISTEN_FDS ?? '0');
  if (!Number.isInteger(count) || count <= 0) return [];
  return Array.from({ length: count }, (_, index) => SD_LISTEN_FDS_START + index);
}

export function listenersFor(hosts: readonly string[], passedFds: readonly number[]): Listener[] {
  return hosts.flatMap((host): Listener[] => {
    if (host.startsWith('unix://')) return [{ kind: 'unix', path: host.slice('unix://'.length) }];
    if (host === 'fd://') {
      if (passedFds.length === 0) throw new Error('no sockets found via socket activation: make sure the service was started by systemd');
      return passedFds.map((fd) => ({ kind: 'fd', fd }));
    }
    const fd = Number(host.slice('fd://'.length));
    if (!passedFds.includes(fd)) throw new Error(`too few socket activated files passed in by systemd: fd ${fd} was not passed`);
    return [{ kind: 'fd', fd }];
  });
}

export function describeListener(listener: Listener): string {
  return listener.kind === 'unix' ? listener.path : `fd://${listener.fd}`;
}
