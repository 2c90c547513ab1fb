/**
 * A container's cgroup read back: the machine's cgroup version, the numbers
 * docker stats shows, and whether the OOM killer acted. runc made the cgroup
 * (cgroupsPath /skiff/<id>, the cgroupfs driver): on v1 one directory per
 * controller (/sys/fs/cgroup/<controller>/skiff/<id>), on v2 one directory
 * (/sys/fs/cgroup/skiff/<id>). The parsers are pure; reading is a few small
 * files per sample, no process started.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';

export type CgroupVersion = 1 | 2;

/** What the machine offers containers, for checking --cpus and --cpuset-*. */
export interface HostCapacity {
  cpuCount: number;
  /** The root cgroup's cpuset, as "0-1". */
  cpus: string;
  /** The root cgroup's memory nodes, as "0". */
  mems: string;
  /** Whether the kernel accounts swap per cgroup (v1 memory.memsw.*; v2 always has memory.swap.max). */
  swapLimit: boolean;
}

const CGROUP_ROOT = '/sys/fs/cgroup';
/** USER_HZ: the unit of cpuacct.stat and /proc/stat (100 on every Linux Docker runs on). */
const CLOCK_TICKS = 100;
const NS_PER_TICK = 1e9 / CLOCK_TICKS;

/** The v1 memory.stat keys Docker 20.10 reports (containerd's cgroups library reads these, and their total_ forms). */
const V1_MEMORY_STAT_KEYS = [
  'cache',
  'rss',
  'rss_huge',
  'mapped_file',
  'dirty',
  'writeback',
  'pgpgin',
  'pgpgout',
  'pgfault',
  'pgmajfault',
  'inactive_anon',
  'active_anon',
  'inactive_file',
  'active_file',
  'unevictable',
];

/** memory.stat (v1) kept to the keys Docker shows, plus the hierarchical limits. */
export function dockerV1MemoryStats(all: Record<string, number>): Record<string, number> {
  const keys = [...V1_MEMORY_STAT_KEYS, ...V1_MEMORY_STAT_KEYS.map((key) => `total_${key}`), 'hierarchical_memory_limit', 'hierarchical_memsw_limit'];
  return Object.fromEntries(keys.filter((key) => all[key] !== undefined).map((key) => [key, all[key]!]));
}

/** v2 when /sys/fs/cgroup is the unified hierarchy itself; v1 (or hybrid, its v2 part empty) otherwise. */
export function cgroupVersion(root = CGROUP_ROOT): CgroupVersion {
  return existsSync(join(root, 'cgroup.controllers')) ? 2 : 1;
}

/** "key value" lines (memory.stat, cpu.stat, memory.events, memory.oom_control) as numbers. */
export function parseFlatKeyed(text: string): Record<string, number> {
  const values: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const [key, value] = line.trim().split(/\s+/);
    if (key !== undefined && key !== '' && value !== undefined && /^-?\d+$/.test(value)) values[key] = Number(value);
  }
  return values;
}

/** cpuacct.usage_percpu: numbers separated by spaces. */
export function parseNumberList(text: string): number[] {
  return text
    .trim()
    .split(/\s+/)
    .filter((word) => word !== '')
    .map(Number);
}

/** A single number file; "max" (v2) is undefined: no limit. */
export function parseLimit(text: string): number | undefined {
  const value = text.trim();
  return value === 'max' || value === '' ? undefined : Number(value);
}

export interface BlkioEntry {
  major: number;
  minor: number;
  op: string;
  value: number;
}

/** v1 blkio.throttle.io_service_bytes_recursive: "8:0 Read 4096" lines (the "Total" line left out, as Docker leaves it). */
export function parseBlkioV1(text: string): BlkioEntry[] {
  return text.split('\n').flatMap((line) => {
    const match = /^(\d+):(\d+)\s+(\S+)\s+(\d+)$/.exec(line.trim());
    return match === null ? [] : [{ major: Number(match[1]), minor: Number(match[2]), op: match[3]!, value: Number(match[4]) }];
  });
}

/** v2 io.stat: "8:0 rbytes=1 wbytes=2 rios=3 wios=4 …", as Docker reports it (read/write bytes and operations). */
export function parseIoStatV2(text: string): { bytes: BlkioEntry[]; ios: BlkioEntry[] } {
  const bytes: BlkioEntry[] = [];
  const ios: BlkioEntry[] = [];
  for (const line of text.split('\n')) {
    const match = /^(\d+):(\d+)\s+(.*)$/.exec(line.trim());
    if (match === null) continue;
    const major = Number(match[1]);
    const minor = Number(match[2]);
    const fields = Object.fromEntries(match[3]!.split(/\s+/).map((pair) => pair.split('=') as [string, string]));
    bytes.push({ major, minor, op: 'read', value: Number(fields['rbytes'] ?? 0) }, { major, minor, op: 'write', value: Number(fields['wbytes'] ?? 0) });
    ios.push({ major, minor, op: 'read', value: Number(fields['rios'] ?? 0) }, { major, minor, op: 'write', value: Number(fields['wios'] ?? 0) });
  }
  return { bytes, ios };
}

export interface InterfaceCounters {
  rxBytes: number;
  rxPackets: number;
  rxErrors: number;
  rxDropped: number;
  txBytes: number;
  txPackets: number;
  txErrors: number;
  txDropped: number;
}

/** /proc/PID/net/dev: the counters of each interface of the process's network namespace, lo left out (Docker shows the container's endpoints). */
export function parseNetDev(text: string): Record<string, InterfaceCounters> {
  const interfaces: Record<string, InterfaceCounters> = {};
  for (const line of text.split('\n').slice(2)) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    const n = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .map(Number);
    if (name === 'lo' || n.length < 16) continue;
    interfaces[name] = {
      rxBytes: n[0]!,
      rxPackets: n[1]!,
      rxErrors: n[2]!,
      rxDropped: n[3]!,
      txBytes: n[8]!,
      txPackets: n[9]!,
      txErrors: n[10]!,
      txDropped: n[11]!,
    };
  }
  return interfaces;
}

/** The "cpu" line of /proc/stat as Docker's system_cpu_usage: the sum of its first seven fields, in nanoseconds. */
export function parseSystemCpuUsage(procStat: string): number {
  const line = procStat.split('\n').find((candidate) => candidate.startsWith('cpu '));
  if (line === undefined) return 0;
  const ticks = line
    .trim()
    .split(/\s+/)
    .slice(1, 8)
    .reduce((sum, field) => sum + Number(field), 0);
  return ticks * NS_PER_TICK;
}

/** What one reading of a container's cgroup holds (numbers in Docker's units: nanoseconds, bytes). */
export interface CgroupSample {
  cpu: {
    totalUsage: number;
    /** v1 only (cpuacct.usage_percpu); Docker leaves it out on v2. */
    percpuUsage?: number[];
    usageInKernelmode: number;
    usageInUsermode: number;
    throttling: { periods: number; throttledPeriods: number; throttledTime: number };
  };
  memory: {
    usage: number;
    maxUsage?: number;
    failcnt?: number;
    /** The cgroup's limit, or the machine's memory when it has none (as Docker shows it). */
    limit: number;
    stats: Record<string, number>;
  };
  pids: { current: number; limit?: number };
  blkio: { serviceBytes: BlkioEntry[]; serviced: BlkioEntry[] };
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return ''; // a controller not mounted, or a file this kernel lacks: the figure stays 0, as Docker's
  }
}

/** A container's cgroup, read through the files of whichever version the machine has. */
export class ContainerCgroup {
  constructor(
    private readonly id: string,
    readonly version: CgroupVersion = cgroupVersion(),
    private readonly root = CGROUP_ROOT,
  ) {}

  private file(controller: string, name: string): string {
    return this.version === 2 ? join(this.root, 'skiff', this.id, name) : join(this.root, controller, 'skiff', this.id, name);
  }

  private read(controller: string, name: string): string {
    return readText(this.file(controller, name));
  }

  /** Writes one v1 controller's file (a "no limit" the runtime cannot write: see crunV1Update). */
  writeV1(controller: string, name: string, value: string): void {
    writeFileSync(join(this.root, controller, 'skiff', this.id, name), value);
  }

  /** Whether the container is frozen (docker pause): v1 freezer.state, v2 cgroup.freeze; false when there is no such cgroup. */
  frozen(): boolean {
    const file = this.version === 2 ? this.file('', 'cgroup.freeze') : this.file('freezer', 'freezer.state');
    if (!existsSync(file)) return false;
    const state = readFileSync(file, 'utf8').trim();
    return state === '1' || state === 'FROZEN' || state === 'FREEZING';
  }

  /** Whether runc made the cgroup (it stays until the container is deleted). */
  exists(): boolean {
    return existsSync(this.version === 2 ? join(this.root, 'skiff', this.id) : join(this.root, 'memory', 'skiff', this.id));
  }

  /** How many times the OOM killer killed a process of the container (v1 memory.oom_control, v2 memory.events). */
  oomKills(): number {
    const text = this.version === 2 ? this.read('', 'memory.events') : this.read('memory', 'memory.oom_control');
    return parseFlatKeyed(text)['oom_kill'] ?? 0;
  }

  sample(): CgroupSample {
    return this.version === 2 ? this.sampleV2() : this.sampleV1();
  }

  private sampleV1(): CgroupSample {
    const cpuStat = parseFlatKeyed(this.read('cpu', 'cpu.stat'));
    const cpuacct = parseFlatKeyed(this.read('cpuacct', 'cpuacct.stat'));
    const limit = parseLimit(this.read('memory', 'memory.limit_in_bytes'));
    const pidsLimit = parseLimit(this.read('pids', 'pids.max'));
    return {
      cpu: {
        totalUsage: Number(this.read('cpuacct', 'cpuacct.usage').trim() || 0),
        percpuUsage: parseNumberList(this.read('cpuacct', 'cpuacct.usage_percpu')),
        usageInKernelmode: (cpuacct['system'] ?? 0) * NS_PER_TICK,
        usageInUsermode: (cpuacct['user'] ?? 0) * NS_PER_TICK,
        throttling: { periods: cpuStat['nr_periods'] ?? 0, throttledPeriods: cpuStat['nr_throttled'] ?? 0, throttledTime: cpuStat['throttled_time'] ?? 0 },
      },
      memory: {
        usage: Number(this.read('memory', 'memory.usage_in_bytes').trim() || 0),
        maxUsage: Number(this.read('memory', 'memory.max_usage_in_bytes').trim() || 0),
        failcnt: Number(this.read('memory', 'memory.failcnt').trim() || 0),
        limit: Math.min(limit ?? Infinity, totalmem()),
        stats: dockerV1MemoryStats(parseFlatKeyed(this.read('memory', 'memory.stat'))),
      },
      pids: { current: Number(this.read('pids', 'pids.current').trim() || 0), ...(pidsLimit === undefined ? {} : { limit: pidsLimit }) },
      blkio: {
        serviceBytes: parseBlkioV1(this.read('blkio', 'blkio.throttle.io_service_bytes_recursive')),
        serviced: parseBlkioV1(this.read('blkio', 'blkio.throttle.io_serviced_recursive')),
      },
    };
  }

  private sampleV2(): CgroupSample {
    const cpuStat = parseFlatKeyed(this.read('', 'cpu.stat'));
    const limit = parseLimit(this.read('', 'memory.max'));
    const pidsLimit = parseLimit(this.read('', 'pids.max'));
    const io = parseIoStatV2(this.read('', 'io.stat'));
    return {
      cpu: {
        totalUsage: (cpuStat['usage_usec'] ?? 0) * 1000,
        usageInKernelmode: (cpuStat['system_usec'] ?? 0) * 1000,
        usageInUsermode: (cpuStat['user_usec'] ?? 0) * 1000,
        throttling: {
          periods: cpuStat['nr_periods'] ?? 0,
          throttledPeriods: cpuStat['nr_throttled'] ?? 0,
          throttledTime: (cpuStat['throttled_usec'] ?? 0) * 1000,
        },
      },
      memory: {
        usage: Number(this.read('', 'memory.current').trim() || 0),
        limit: Math.min(limit ?? Infinity, totalmem()),
        stats: parseFlatKeyed(this.read('', 'memory.stat')),
      },
      pids: { current: Number(this.read('', 'pids.current').trim() || 0), ...(pidsLimit === undefined ? {} : { limit: pidsLimit }) },
      blkio: { serviceBytes: io.bytes, serviced: io.ios },
    };
  }
}

/** The machine's whole CPU time (Docker's system_cpu_usage), in nanoseconds. */
export function systemCpuUsage(): number {
  return parseSystemCpuUsage(readText('/proc/stat'));
}

/** Online CPUs, as Docker's online_cpus. */
export function onlineCpus(): number {
  return cpus().length;
}

/** The network counters of the container's interfaces, read through its init process. */
export function interfaceCounters(pid: number): Record<string, InterfaceCounters> {
  return parseNetDev(readText(`/proc/${pid}/net/dev`));
}

/** The CPUs and memory nodes the machine offers containers (the root cpuset), for checking --cpuset-*. */
export function hostCapacity(version: CgroupVersion = cgroupVersion(), root = CGROUP_ROOT): HostCapacity {
  const cpuCount = cpus().length;
  const [cpusFile, memsFile] = version === 2 ? ['cpuset.cpus.effective', 'cpuset.mems.effective'] : ['cpuset/cpuset.cpus', 'cpuset/cpuset.mems'];
  const available = readText(join(root, cpusFile)).trim();
  const mems = readText(join(root, memsFile)).trim();
  const swapLimit = version === 2 || existsSync(join(root, 'memory', 'memory.memsw.limit_in_bytes'));
  return { cpuCount, cpus: available === '' ? `0-${cpuCount - 1}` : available, mems: mems === '' ? '0' : mems, swapLimit };
}
