/**
 * The embedded DNS's name table alone, in a process of its own:
 *   node --expose-gc dist/bench/dns-records-memory.js [COUNT]
 * Heap used by skiff's DnsRecords holding COUNT endpoints on one network (one
 * container name each, as `docker run --name` gives), after a full GC, and
 * again once every endpoint has asked once (the per-source asker cache).
 * Prints one JSON line. Touches nothing outside the process.
 */
import { DnsRecords } from '../src/dns/records.js';

const count = Math.min(Number(process.argv[2] ?? '1000'), 100_000);
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with node --expose-gc');

function heapAfterGc(): number {
  gc!();
  gc!();
  return process.memoryUsage().heapUsed;
}

const hex = (value: number, length: number) => value.toString(16).padStart(length, '0');
/** 10.x.y.z with z in 1..250: distinct host addresses for up to 16 million names. */
const address = (index: number) => `10.${Math.floor(index / 62_500) % 250}.${Math.floor(index / 250) % 250}.${(index % 250) + 1}`;
const records = new DnsRecords();
const before = heapAfterGc();
for (let index = 0; index < count; index++) {
  records.upsert({
    endpointId: hex(index, 64),
    networkId: 'f'.repeat(64),
    networkName: 'bench-dns',
    containerId: `c${hex(index, 63)}`,
    containerName: `container-${index}`,
    hostname: hex(index, 12),
    aliases: [],
    ipv4: address(index),
  });
}
const filled = heapAfterGc();
for (let index = 0; index < count; index++) records.askerOf(address(index));
const asked = heapAfterGc();
process.stdout.write(
  `${JSON.stringify({ count, bytesPerName: (filled - before) / count, bytesPerNameWithAskers: (asked - before) / count, totalBytes: asked - before })}\n`,
);
