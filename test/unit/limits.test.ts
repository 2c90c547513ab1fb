/** Resource limits, cgroup readers, stats frames and pause refusals: the pure parts, against Docker 20.10's texts and shapes. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkResources, createResources, parseUintList, runnableResources, updatedResources } from '../../src/containers/limits.js';
import { pauseRefusal, unpauseRefusal } from '../../src/containers/pause.js';
import { statsFrames, type StatsSample } from '../../src/containers/stats.js';
import { emptyEndpointRequest, noResources, ZERO_TIME, type ContainerRecord, type ContainerResources } from '../../src/model/container.js';
import { crunV1Update, ociResources, ociUpdate } from '../../src/runtime/oci-resources.js';
import {
  dockerV1MemoryStats,
  parseBlkioV1,
  parseFlatKeyed,
  parseIoStatV2,
  parseLimit,
  parseNetDev,
  parseNumberList,
  parseSystemCpuUsage,
  type HostCapacity,
} from '../../src/runtime/cgroups.js';
import { statsToWire } from '../../src/api/wire/stats.js';
import { resourcesFromWire, resourceUpdateFromWire } from '../../src/api/wire/resources.js';
import { refuseUnsupported, refuseUnsupportedUpdate } from '../../src/api/wire/unsupported.js';

const host: HostCapacity = { cpuCount: 2, cpus: '0-1', mems: '0', swapLimit: true };
const MiB = 1024 * 1024;
const limits = (given: Partial<ContainerResources>): ContainerResources => ({ ...noResources(), ...given });

describe('checkResources: Docker 20.10 words for bad values', () => {
  const refused = (given: Partial<ContainerResources>, message: string, update = false) =>
    assert.throws(
      () => checkResources(given, host, update),
      (error: Error & { status?: number }) => error.message === message && error.status === 400,
    );

  it('memory, swap and reservation', () => {
    refused({ memory: MiB }, 'Minimum memory limit allowed is 6MB');
    refused({ memory: 10 * MiB, memorySwap: 5 * MiB }, 'Minimum memoryswap limit should be larger than memory limit, see usage');
    refused({ memorySwap: 10 * MiB }, 'You should always set the Memory limit when using Memoryswap limit, see usage');
    checkResources({ memorySwap: 10 * MiB }, host, true); // an update may set the swap alone
    refused({ memoryReservation: MiB }, 'Minimum memory reservation allowed is 6MB');
    refused({ memory: 10 * MiB, memoryReservation: 20 * MiB }, 'Minimum memory limit can not be less than memory reservation limit, see usage');
    checkResources({ memory: 10 * MiB, memorySwap: -1 }, host, false);
  });

  it('CPUs: range, CFS period and quota, conflicts', () => {
    refused({ nanoCpus: 3e9 }, 'Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available');
    refused({ nanoCpus: -1 }, 'Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available');
    refused({ nanoCpus: 5e8, cpuQuota: 1000 }, 'Conflicting options: Nano CPUs and CPU Quota cannot both be set');
    refused({ nanoCpus: 5e8, cpuPeriod: 1000 }, 'Conflicting options: Nano CPUs and CPU Period cannot both be set');
    refused({ cpuPeriod: 100 }, 'CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)');
    refused({ cpuPeriod: 2_000_000 }, 'CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)');
    refused({ cpuQuota: 100 }, 'CPU cfs quota can not be less than 1ms (i.e. 1000)');
    checkResources({ nanoCpus: 2e9, cpuShares: 512 }, host, false);
  });

  it('cpusets: format and availability', () => {
    refused({ cpusetCpus: 'abc' }, 'Invalid value abc for cpuset cpus: invalid format: abc');
    refused({ cpusetCpus: '1-0' }, 'Invalid value 1-0 for cpuset cpus: invalid format: 1-0');
    refused({ cpusetCpus: '0-5' }, 'Requested CPUs are not available - requested 0-5, available: 0-1');
    refused({ cpusetMems: '3' }, 'Requested memory nodes are not available - requested 3, available: 0');
    checkResources({ cpusetCpus: '0,1', cpusetMems: '0' }, host, false);
  });

  it('parseUintList reads lists and ranges', () => {
    assert.deepEqual([...parseUintList('0-2,4')], [0, 1, 2, 4]);
    assert.deepEqual([...parseUintList('')], []);
    assert.throws(() => parseUintList('1,,2'), /invalid format: 1,,2/);
  });
});

describe('createResources and updatedResources: what Docker keeps', () => {
  it('a create gets swap twice the memory and no pids limit for 0 or -1', () => {
    assert.equal(createResources(limits({ memory: 64 * MiB }), host).memorySwap, 128 * MiB);
    assert.equal(createResources(limits({ memory: 64 * MiB, memorySwap: -1 }), host).memorySwap, -1);
    assert.equal(createResources(limits({ pidsLimit: -1 }), host).pidsLimit, null);
    assert.equal(createResources(limits({ pidsLimit: 0 }), host).pidsLimit, null);
    assert.equal(createResources(limits({ pidsLimit: 9 }), host).pidsLimit, 9);
  });

  it('an update changes only what it names; pids -1 is shown as 0', () => {
    const current = createResources(limits({ memory: 64 * MiB, cpuShares: 512, pidsLimit: 10 }), host);
    const next = updatedResources('c1', current, { memory: 100 * MiB, memorySwap: 0, cpuShares: 0, nanoCpus: 25e7, pidsLimit: -1 }, host);
    assert.deepEqual(next, { ...current, memory: 100 * MiB, nanoCpus: 25e7, pidsLimit: 0 });
  });

  it("refuses what conflicts with the container's limits: 409 with the container named", () => {
    const conflictOf = (message: string) => (error: Error & { status?: number }) =>
      error.message === `Cannot update container c1: ${message}` && error.status === 409;
    assert.throws(
      () => updatedResources('c1', limits({}), { memory: 100 * MiB }, host),
      conflictOf('Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time'),
    );
    assert.throws(
      () => updatedResources('c1', limits({ nanoCpus: 1e9 }), { cpuQuota: 5000 }, host),
      conflictOf('Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set'),
    );
    assert.throws(
      () => updatedResources('c1', limits({ cpuQuota: 5000 }), { nanoCpus: 1e9 }, host),
      conflictOf('Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set'),
    );
    assert.throws(() => updatedResources('c1', limits({}), { memory: MiB }, host), /Minimum memory limit allowed is 6MB/);
  });

  it('without swap accounting runc is not asked for a swap limit', () => {
    assert.equal(runnableResources(limits({ memory: MiB, memorySwap: 2 * MiB }), { ...host, swapLimit: false }).memorySwap, 0);
    assert.equal(runnableResources(limits({ memory: MiB, memorySwap: 2 * MiB }), host).memorySwap, 2 * MiB);
  });
});

describe('OCI linux.resources', () => {
  it('--cpus is a 100 ms period and its share of it; unset limits are left out', () => {
    assert.deepEqual(ociResources(limits({ nanoCpus: 5e8 })), { cpu: { quota: 50_000, period: 100_000 } });
    assert.deepEqual(ociResources(noResources()), {});
    assert.deepEqual(
      ociResources(limits({ memory: 64 * MiB, memorySwap: 128 * MiB, memoryReservation: 32 * MiB, cpuShares: 512, cpusetCpus: '0', pidsLimit: 5 })),
      {
        memory: { limit: 64 * MiB, swap: 128 * MiB, reservation: 32 * MiB },
        cpu: { shares: 512, cpus: '0' },
        pids: { limit: 5 },
      },
    );
  });

  it('an update writes cleared limits back as unlimited', () => {
    assert.deepEqual(ociUpdate(limits({ memory: 64 * MiB, pidsLimit: 0 })), {
      memory: { limit: 64 * MiB, reservation: -1 },
      cpu: { quota: -1 },
      pids: { limit: -1 },
    });
  });

  it('leaves to skiff the "no limit" values crun cannot write on cgroup v1 (CFS quota, pids)', () => {
    assert.deepEqual(crunV1Update(ociUpdate(limits({ memory: 64 * MiB, pidsLimit: 0 }))), {
      update: { memory: { limit: 64 * MiB, reservation: -1 }, cpu: {} },
      lifts: [
        { controller: 'cpu', file: 'cpu.cfs_quota_us', value: '-1' },
        { controller: 'pids', file: 'pids.max', value: 'max' },
      ],
    });
    const limited = ociUpdate(limits({ nanoCpus: 5e8, pidsLimit: 7 }));
    assert.deepEqual(crunV1Update(limited), { update: limited, lifts: [] });
  });
});

describe('resources on the wire', () => {
  it('reads the HostConfig fields, refuses a non-integer', () => {
    assert.deepEqual(
      resourcesFromWire({ Memory: 67108864, NanoCpus: 5e8, CpusetCpus: '0', PidsLimit: null }),
      limits({ memory: 67108864, nanoCpus: 5e8, cpusetCpus: '0' }),
    );
    assert.deepEqual(resourceUpdateFromWire({ Memory: 0, PidsLimit: 5 }), { memory: 0, pidsLimit: 5 });
    assert.throws(() => resourcesFromWire({ Memory: '64m' }), /cannot unmarshal string into field Memory of type int64/);
    assert.throws(() => resourcesFromWire({ CpuShares: 1.5 }), /cannot unmarshal number into field CpuShares/);
  });
});

describe('resource options skiff does not carry out', () => {
  it('are refused by name at create and update; the carried-out ones pass', () => {
    refuseUnsupported(
      { Image: 'busybox' },
      { Memory: 67108864, MemorySwap: -1, NanoCpus: 5e8, CpusetCpus: '0', PidsLimit: 5, BlkioWeight: 0, MemorySwappiness: -1 },
    );
    refuseUnsupportedUpdate({ Memory: 67108864, CpuShares: 512, PidsLimit: -1, KernelMemory: 0, RestartPolicy: { Name: 'always' } });
    assert.throws(
      () => refuseUnsupported({}, { BlkioWeight: 500 }),
      /skiff does not support HostConfig\.BlkioWeight \(--blkio-weight\): of the resource limits skiff carries out only --memory/,
    );
    assert.throws(() => refuseUnsupportedUpdate({ KernelMemory: 10485760 }), /skiff does not support HostConfig\.KernelMemory \(--kernel-memory\)/);
    assert.throws(() => refuseUnsupported({}, { MemorySwappiness: 50 }), /HostConfig\.MemorySwappiness \(--memory-swappiness\)/);
  });

  it('a health check is refused, no check (--no-healthcheck, compose disable: true) is what skiff does', () => {
    refuseUnsupported({ Image: 'busybox', Healthcheck: { Test: ['NONE'] } }, {});
    assert.throws(
      () => refuseUnsupported({ Healthcheck: { Test: ['CMD-SHELL', 'true'], Interval: 1e9 } }, {}),
      /skiff does not support Config\.Healthcheck \(--health-cmd\)/,
    );
  });
});

describe('cgroup file parsers (v1 and v2)', () => {
  it('flat keyed files, lists, limits', () => {
    assert.deepEqual(parseFlatKeyed('oom_kill_disable 0\nunder_oom 0\noom_kill 1\n'), { oom_kill_disable: 0, under_oom: 0, oom_kill: 1 });
    assert.deepEqual(parseFlatKeyed('low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\noom_group_kill 0\n')['oom_kill'], 1);
    assert.deepEqual(parseNumberList('15403066 0 \n'), [15403066, 0]);
    assert.equal(parseLimit('max\n'), undefined);
    assert.equal(parseLimit('50\n'), 50);
  });

  it('v1 memory.stat kept to the keys Docker shows', () => {
    const stats = parseFlatKeyed(
      'cache 0\nrss 53248\nshmem 0\nswap 0\nhierarchical_memory_limit 67108864\ntotal_rss 53248\ntotal_shmem 0\nworkingset_refault_anon 0\n',
    );
    assert.deepEqual(dockerV1MemoryStats(stats), { cache: 0, rss: 53248, total_rss: 53248, hierarchical_memory_limit: 67108864 });
  });

  it('block I/O: v1 lines without the total, v2 io.stat as read/write', () => {
    assert.deepEqual(parseBlkioV1('8:0 Read 4096\n8:0 Write 0\n8:0 Total 4096\nTotal 4096\n'), [
      { major: 8, minor: 0, op: 'Read', value: 4096 },
      { major: 8, minor: 0, op: 'Write', value: 0 },
      { major: 8, minor: 0, op: 'Total', value: 4096 },
    ]);
    const v2 = parseIoStatV2('254:0 rbytes=1024 wbytes=2048 rios=1 wios=2 dbytes=0 dios=0\n');
    assert.deepEqual(v2.bytes, [
      { major: 254, minor: 0, op: 'read', value: 1024 },
      { major: 254, minor: 0, op: 'write', value: 2048 },
    ]);
    assert.deepEqual(v2.ios[1], { major: 254, minor: 0, op: 'write', value: 2 });
  });

  it('/proc/PID/net/dev without lo, and /proc/stat as nanoseconds', () => {
    const netDev = [
      'Inter-|   Receive                                                |  Transmit',
      ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed',
      '    lo:    6438      59    0    0    0     0          0         0     6438      59    0    0    0     0       0          0',
      '  eth0:    3126      23    1    2    0     0          0         0     1156      12    3    4    0     0       0          0',
    ].join('\n');
    assert.deepEqual(parseNetDev(netDev), {
      eth0: { rxBytes: 3126, rxPackets: 23, rxErrors: 1, rxDropped: 2, txBytes: 1156, txPackets: 12, txErrors: 3, txDropped: 4 },
    });
    assert.equal(parseSystemCpuUsage('cpu  100 1 50 1000 5 0 4 7 0 0\ncpu0 1 2 3\n'), 1160 * 1e7);
  });
});

const record = {
  id: 'c'.repeat(64),
  name: 'web',
  state: { status: 'running', paused: false },
  hostConfig: { networkMode: 'bridge' },
  networks: { n: emptyEndpointRequest() },
} as unknown as ContainerRecord;

function sample(read: string, totalUsage: number): StatsSample {
  return {
    read,
    systemCpuUsage: 1000,
    onlineCpus: 2,
    cgroup: {
      cpu: {
        totalUsage,
        percpuUsage: [totalUsage, 0],
        usageInKernelmode: 0,
        usageInUsermode: 0,
        throttling: { periods: 0, throttledPeriods: 0, throttledTime: 0 },
      },
      memory: { usage: 4096, maxUsage: 8192, failcnt: 0, limit: 64 * MiB, stats: { total_inactive_file: 0 } },
      pids: { current: 1 },
      blkio: { serviceBytes: [], serviced: [] },
    },
    networks: { eth0: { rxBytes: 1, rxPackets: 1, rxErrors: 0, rxDropped: 0, txBytes: 2, txPackets: 1, txErrors: 0, txDropped: 0 } },
  };
}

describe('docker stats frames', () => {
  it('a frame as Docker 20.10 sends it: cpu and precpu, memory without zero fields, networks per interface', () => {
    const frame = statsToWire(record, sample('2026-01-01T00:00:02.000Z', 20), sample('2026-01-01T00:00:01.000Z', 10));
    assert.equal(frame['preread'], '2026-01-01T00:00:01.000Z');
    assert.deepEqual((frame['cpu_stats'] as Record<string, unknown>)['cpu_usage'], {
      total_usage: 20,
      percpu_usage: [20, 0],
      usage_in_kernelmode: 0,
      usage_in_usermode: 0,
    });
    assert.deepEqual(frame['memory_stats'], { usage: 4096, max_usage: 8192, stats: { total_inactive_file: 0 }, limit: 64 * MiB });
    assert.deepEqual(frame['pids_stats'], { current: 1 });
    assert.deepEqual((frame['networks'] as Record<string, Record<string, number>>)['eth0']!['tx_bytes'], 2);
    assert.equal(frame['name'], '/web');
  });

  it('a container not running: the empty frame', () => {
    const frame = statsToWire(record, undefined, undefined);
    assert.equal(frame['read'], ZERO_TIME);
    assert.deepEqual(frame['memory_stats'], {});
    assert.deepEqual(frame['pids_stats'], {});
    assert.equal(frame['networks'], undefined);
  });

  it('stream=false sends one reading with the one before it, then is done', async () => {
    let reads = 0;
    const sent: Array<[StatsSample | undefined, StatsSample | undefined]> = [];
    const frames = statsFrames(
      () => sample(`t${++reads}`, reads),
      (current, previous) => sent.push([current, previous]),
      { stream: false, oneShot: false, intervalMs: 5 },
    );
    await frames.done;
    assert.equal(sent.length, 1);
    assert.equal(sent[0]![0]!.read, 't2');
    assert.equal(sent[0]![1]!.read, 't1');
  });

  it('one-shot, or a container not running, sends one frame at once', async () => {
    const sent: unknown[] = [];
    await statsFrames(
      () => undefined,
      (current) => sent.push(current),
      { stream: false, oneShot: false },
    ).done;
    await statsFrames(
      () => sample('t', 1),
      (_current, previous) => sent.push(previous),
      { stream: false, oneShot: true },
    ).done;
    assert.deepEqual(sent, [undefined, undefined]);
  });

  it('a stream sends until stopped, each frame carrying the previous reading, and leaves no timer behind', async () => {
    let reads = 0;
    const sent: Array<[string | undefined, string | undefined]> = [];
    let stop: () => void = () => undefined;
    const frames = statsFrames(
      () => sample(`t${++reads}`, reads),
      (current, previous) => {
        sent.push([current?.read, previous?.read]);
        if (sent.length === 3) stop();
      },
      { stream: true, oneShot: false, intervalMs: 5 },
    );
    stop = frames.stop;
    await frames.done;
    assert.deepEqual(sent, [
      ['t1', undefined],
      ['t2', 't1'],
      ['t3', 't2'],
    ]);
    await new Promise((resolve) => setTimeout(resolve, 30));
    assert.equal(sent.length, 3, 'nothing sent after stop');
    assert.equal(reads, 3, 'nothing read after stop');
  });
});

describe('pause refusals', () => {
  const withState = (state: Partial<ContainerRecord['state']>) => ({ ...record, state: { ...record.state, ...state } });
  it('as Docker 20.10 words and statuses them', () => {
    assert.equal(pauseRefusal(withState({})), undefined);
    assert.equal(pauseRefusal(withState({ status: 'exited' }))?.message, `Container ${record.id} is not running`);
    assert.equal(pauseRefusal(withState({ paused: true }))?.status, 409);
    assert.equal(pauseRefusal(withState({ paused: true }))?.message, `Container ${record.id} is already paused`);
    assert.equal(unpauseRefusal(withState({ paused: true })), undefined);
    assert.equal(unpauseRefusal(withState({}))?.status, 500);
    assert.equal(unpauseRefusal(withState({}))?.message, `Container ${record.id} is not paused`);
  });
});
