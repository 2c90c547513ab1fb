/**
 * A cluster inside a test's world: N "hosts" (network namespaces) and one
 * etcd (in a namespace of its own, data on a tmpfs, listening only on the
 * underlay) on an underlay bridge. The world keeps an address on the bridge
 * too, so the test process itself can talk to etcd. Everything is made and
 * removed by the test; remove() leaves nothing behind.
 *
 *   underlay ul0 192.168.250.0/24: world .1, etcd .2, host i at .(10+i)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { makeNetns, sh, tryRun, type NetnsHandle } from './world.js';

const UNDERLAY_BRIDGE = 'ul0';
const UNDERLAY_PREFIX = '192.168.250';
export const WORLD_UNDERLAY_ADDRESS = `${UNDERLAY_PREFIX}.1`;
const ETCD_ADDRESS = `${UNDERLAY_PREFIX}.2`;
/** An underlay address nobody holds: connections to it go unanswered. */
export const SILENT_UNDERLAY_ADDRESS = `${UNDERLAY_PREFIX}.250`;
const READY_POLLS = 100;
const READY_POLL_MS = 100;

export interface ClusterHost extends NetnsHandle {
  name: string;
  /** Its underlay address (the VTEP, the daemon's --cluster-advertise). */
  address: string;
}

export interface EtcdServer {
  address: string;
  /** The --cluster-store value for this etcd. */
  url: string;
  running: () => boolean;
  /** Starts etcd (again, on the same data) and waits until it answers /health. */
  start: () => Promise<void>;
  /** SIGKILL, as a crash. */
  kill: () => Promise<void>;
}

export interface TestCluster {
  hosts: ClusterHost[];
  etcd: EtcdServer;
  remove: () => Promise<void>;
}

/** Joins a new namespace to the underlay bridge by a veth whose namespace end is eth0. */
async function attachToUnderlay(ns: NetnsHandle, worldEnd: string, address: string): Promise<void> {
  await sh('ip', ['link', 'add', worldEnd, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns.path]);
  await sh('ip', ['link', 'set', worldEnd, 'master', UNDERLAY_BRIDGE, 'up']);
  await ns.exec('ip', ['addr', 'add', `${address}/24`, 'dev', 'eth0']);
  await ns.exec('ip', ['link', 'set', 'eth0', 'up']);
}

async function etcdAnswers(address: string): Promise<boolean> {
  try {
    const response = await fetch(`http://${address}:2379/health`, { signal: AbortSignal.timeout(500) });
    return response.ok;
  } catch {
    return false;
  }
}

function makeEtcd(dir: string, ns: NetnsHandle): EtcdServer & { dataDir: string; stop: () => Promise<void> } {
  const dataDir = join(dir, 'etcd-data');
  const client = `http://${ETCD_ADDRESS}:2379`;
  const peer = `http://${ETCD_ADDRESS}:2380`;
  const args = [
    `--net=${ns.path}`,
    '--',
    'etcd',
    '--name',
    'skiff-test',
    '--data-dir',
    join(dataDir, 'member'),
    '--listen-client-urls',
    client,
    '--advertise-client-urls',
    client,
    '--listen-peer-urls',
    peer,
    '--initial-advertise-peer-urls',
    peer,
    '--initial-cluster',
    `skiff-test=${peer}`,
    '--logger',
    'zap',
    '--log-level',
    'warn',
  ];
  let child: ChildProcess | undefined;
  const exited = () => child === undefined || child.exitCode !== null || child.signalCode !== null;
  const kill = async () => {
    if (child === undefined || exited()) return;
    const dying = child;
    const gone = new Promise((resolve) => dying.once('exit', resolve));
    dying.kill('SIGKILL');
    await gone;
  };
  return {
    address: ETCD_ADDRESS,
    url: `etcd://${ETCD_ADDRESS}:2379`,
    dataDir,
    running: () => !exited(),
    start: async () => {
      if (!exited()) return;
      const log = openSync(join(dir, 'etcd.log'), 'a');
      // nsenter execs etcd in place: the child's pid is etcd's.
      child = spawn('nsenter', args, { stdio: ['ignore', log, log] });
      closeSync(log);
      for (let poll = 0; poll < READY_POLLS; poll++) {
        if (exited()) throw new Error(`etcd exited at start; see ${join(dir, 'etcd.log')}`);
        if (await etcdAnswers(ETCD_ADDRESS)) return;
        await new Promise((resolve) => setTimeout(resolve, READY_POLL_MS));
      }
      throw new Error(`etcd did not answer within ${(READY_POLLS * READY_POLL_MS) / 1000} s`);
    },
    kill,
    stop: kill,
  };
}

/** Builds the underlay, N hosts and an etcd namespace (etcd not started yet). */
export async function makeCluster(dir: string, hostCount: number): Promise<TestCluster> {
  await sh('ip', ['link', 'add', UNDERLAY_BRIDGE, 'type', 'bridge']);
  await sh('ip', ['addr', 'add', `${WORLD_UNDERLAY_ADDRESS}/24`, 'dev', UNDERLAY_BRIDGE]);
  await sh('ip', ['link', 'set', UNDERLAY_BRIDGE, 'up']);
  const etcdNs = await makeNetns(dir, 'etcd');
  await attachToUnderlay(etcdNs, 'ul-etcd', ETCD_ADDRESS);
  const dataDir = join(dir, 'etcd-data');
  mkdirSync(dataDir);
  await sh('mount', ['-t', 'tmpfs', '-o', 'size=256m', 'tmpfs', dataDir]);
  const etcd = makeEtcd(dir, etcdNs);
  const hosts: ClusterHost[] = [];
  for (let index = 1; index <= hostCount; index++) {
    const name = `h${index}`;
    const ns = await makeNetns(dir, name);
    const address = `${UNDERLAY_PREFIX}.${10 + index}`;
    await attachToUnderlay(ns, `ul-${name}`, address);
    hosts.push({ ...ns, name, address });
  }
  return {
    hosts,
    etcd,
    remove: async () => {
      await etcd.stop();
      // The veths go first and by name: a namespace whose last process just died is
      // torn down by the kernel later, and its links with it.
      for (const name of ['etcd', ...hosts.map((host) => host.name)]) await tryRun('ip', ['link', 'del', `ul-${name}`]);
      for (const host of hosts) await host.remove();
      await etcdNs.remove();
      await tryRun('umount', [dataDir]);
      await tryRun('ip', ['link', 'del', UNDERLAY_BRIDGE]);
    },
  };
}

/** What a member process answers: the result of a call, or its error's message and kind. */
type MemberReply = { id: number; result?: unknown; error?: { message: string; kind: string } };

/**
 * A cluster client in its own process inside a host's namespace (as a daemon
 * would be), driven by JSON lines (test/helpers/cluster-member.ts): it can be
 * SIGKILLed like a crashed daemon.
 */
export class ClusterMember {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  readonly events: Array<{ event: string; at: number }> = [];
  private readonly child: ChildProcess;
  readonly exited: Promise<void>;

  constructor(readonly host: ClusterHost) {
    const script = join(dirname(fileURLToPath(import.meta.url)), 'cluster-member.js');
    this.child = spawn('nsenter', [`--net=${host.path}`, '--', process.execPath, script], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.exited = new Promise((resolve) => this.child.once('exit', () => resolve()));
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      const message = JSON.parse(line) as MemberReply & { event?: string };
      if (message.event !== undefined) {
        this.events.push({ event: message.event, at: Date.now() });
        return;
      }
      const waiter = this.pending.get(message.id);
      this.pending.delete(message.id);
      if (message.error !== undefined) waiter?.reject(Object.assign(new Error(message.error.message), { kind: message.error.kind }));
      else waiter?.resolve(message.result);
    });
    this.child.once('exit', () => {
      for (const waiter of this.pending.values()) waiter.reject(new Error(`member on ${host.name} exited`));
      this.pending.clear();
    });
  }

  call<T>(op: string, args: Record<string, unknown> = {}): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.child.stdin!.write(`${JSON.stringify({ id, op, ...args })}\n`);
    });
  }

  /** SIGKILL: the process dies without leaving the cluster. */
  async kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }

  /** Ends the process politely (stdin closed); it leaves the cluster first. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.stdin!.end();
    await this.exited;
  }
}
