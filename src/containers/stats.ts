/**
 * docker stats: readings of a running container (its cgroup, the machine's
 * CPU time, its interfaces' counters) and the pace Docker 20.10 sends them
 * at: stream=false one reading with the one a second before it (so the
 * client can compute CPU %), stream=true one a second until the client goes.
 * A container that is not running gives empty readings, as Docker's.
 */
import type { ContainerRecord } from '../model/container.js';
import { interfaceCounters, onlineCpus, systemCpuUsage, type CgroupSample, type ContainerCgroup, type InterfaceCounters } from '../runtime/cgroups.js';

/** Docker's collection interval. */
export const STATS_INTERVAL_MS = 1000;

export interface StatsSample {
  /** When it was read (ISO 8601). */
  read: string;
  cgroup: CgroupSample;
  systemCpuUsage: number;
  onlineCpus: number;
  /** Per interface of the container's network namespace; undefined on the host's network, as Docker leaves it out. */
  networks?: Record<string, InterfaceCounters>;
}

/** One reading of a running container (its cgroup must exist: the bundle is there). */
export function sampleStats(cgroup: ContainerCgroup, record: ContainerRecord, hasBundle: boolean): StatsSample | undefined {
  if (!hasBundle || !cgroup.exists()) return undefined;
  const networks = record.hostConfig.networkMode === 'host' ? undefined : interfaceCounters(record.state.pid);
  return {
    read: new Date().toISOString(),
    cgroup: cgroup.sample(),
    systemCpuUsage: systemCpuUsage(),
    onlineCpus: onlineCpus(),
    ...(networks === undefined || Object.keys(networks).length === 0 ? {} : { networks }),
  };
}

/** A frame to send: the reading and the one before it (either undefined: Docker's zeros). */
export type StatsFrame = (current: StatsSample | undefined, previous: StatsSample | undefined) => void;

/**
 * Sends frames at Docker's pace until stop() (the client closed) or, without
 * stream, after the one frame; done resolves then. oneShot (API 1.41
 * one-shot=true) sends one reading without waiting for a second.
 */
export function statsFrames(
  take: () => StatsSample | undefined,
  send: StatsFrame,
  options: { stream: boolean; oneShot: boolean; intervalMs?: number },
): { stop: () => void; done: Promise<void> } {
  const interval = options.intervalMs ?? STATS_INTERVAL_MS;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let finish: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (finish = resolve));
  const stop = () => {
    stopped = true;
    clearTimeout(timer);
    timer = undefined;
    finish();
  };
  const first = take();
  if (!options.stream) {
    if (first === undefined || options.oneShot) {
      send(first, undefined);
      stop();
    } else
      timer = setTimeout(() => {
        const current = take();
        send(current, current === undefined ? undefined : first);
        stop();
      }, interval);
    return { stop, done };
  }
  let previous = first;
  send(first, undefined);
  const tick = () => {
    const current = take();
    send(current, current === undefined ? undefined : previous);
    previous = current;
    if (!stopped) timer = setTimeout(tick, interval);
  };
  timer = setTimeout(tick, interval);
  return { stop, done };
}
