/** docker stats' JSON (Docker 20.10's StatsJSON) from skiff's readings: the one place its shape lives. */
import type { StatsSample } from '../../containers/stats.js';
import type { ContainerRecord } from '../../model/container.js';
import type { BlkioEntry } from '../../runtime/cgroups.js';
import { ZERO_TIME } from '../../model/container.js';

type Body = Record<string, unknown>;

const NO_THROTTLING = { periods: 0, throttled_periods: 0, throttled_time: 0 };
const NO_CPU = { cpu_usage: { total_usage: 0, usage_in_kernelmode: 0, usage_in_usermode: 0 }, throttling_data: NO_THROTTLING };

function cpuToWire(sample: StatsSample): Body {
  const { cpu } = sample.cgroup;
  return {
    cpu_usage: {
      total_usage: cpu.totalUsage,
      ...(cpu.percpuUsage === undefined || cpu.percpuUsage.length === 0 ? {} : { percpu_usage: cpu.percpuUsage }),
      usage_in_kernelmode: cpu.usageInKernelmode,
      usage_in_usermode: cpu.usageInUsermode,
    },
    system_cpu_usage: sample.systemCpuUsage,
    online_cpus: sample.onlineCpus,
    throttling_data: { periods: cpu.throttling.periods, throttled_periods: cpu.throttling.throttledPeriods, throttled_time: cpu.throttling.throttledTime },
  };
}

const blkioToWire = (entries: BlkioEntry[]) => entries.map(({ major, minor, op, value }) => ({ major, minor, op, value }));

/** Docker leaves a zero figure out of memory_stats (omitempty). */
function memoryToWire(sample: StatsSample): Body {
  const { memory } = sample.cgroup;
  const fields: Body = { usage: memory.usage, max_usage: memory.maxUsage, stats: memory.stats, failcnt: memory.failcnt, limit: memory.limit };
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined && value !== 0));
}

/** One frame: the reading and the one before it; without a reading, Docker's empty frame (a container not running). */
export function statsToWire(record: ContainerRecord, current: StatsSample | undefined, previous: StatsSample | undefined): Body {
  const identity = { name: `/${record.name}`, id: record.id };
  if (current === undefined) {
    const emptyBlkio = Object.fromEntries(
      [
        'io_service_bytes_recursive',
        'io_serviced_recursive',
        'io_queue_recursive',
        'io_service_time_recursive',
        'io_wait_time_recursive',
        'io_merged_recursive',
        'io_time_recursive',
        'sectors_recursive',
      ].map((key) => [key, null]),
    );
    return {
      read: ZERO_TIME,
      preread: ZERO_TIME,
      pids_stats: {},
      blkio_stats: emptyBlkio,
      num_procs: 0,
      storage_stats: {},
      cpu_stats: NO_CPU,
      precpu_stats: NO_CPU,
      memory_stats: {},
      ...identity,
    };
  }
  const { pids, blkio } = current.cgroup;
  return {
    read: current.read,
    preread: previous?.read ?? ZERO_TIME,
    pids_stats: { current: pids.current, ...(pids.limit === undefined ? {} : { limit: pids.limit }) },
    blkio_stats: {
      io_service_bytes_recursive: blkioToWire(blkio.serviceBytes),
      io_serviced_recursive: blkioToWire(blkio.serviced),
      io_queue_recursive: [],
      io_service_time_recursive: [],
      io_wait_time_recursive: [],
      io_merged_recursive: [],
      io_time_recursive: [],
      sectors_recursive: [],
    },
    num_procs: 0,
    storage_stats: {},
    cpu_stats: cpuToWire(current),
    precpu_stats: previous === undefined ? NO_CPU : cpuToWire(previous),
    memory_stats: memoryToWire(current),
    ...identity,
    ...(current.networks === undefined
      ? {}
      : {
          networks: Object.fromEntries(
            Object.entries(current.networks).map(([name, counters]) => [
              name,
              {
                rx_bytes: counters.rxBytes,
                rx_packets: counters.rxPackets,
                rx_errors: counters.rxErrors,
                rx_dropped: counters.rxDropped,
                tx_bytes: counters.txBytes,
                tx_packets: counters.txPackets,
                tx_errors: counters.txErrors,
                tx_dropped: counters.txDropped,
              },
            ]),
          ),
        }),
  };
}
