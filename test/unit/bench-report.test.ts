import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchResults } from '../../bench/bench.js';
import { writeReport } from '../../bench/report.js';

const summary = (median: number, min = median, max = median, n = 3) => ({ n, median, min, max });

/** One run with only the ports phase, where Podman could not carry the loopback path. */
function portsOnlyResults(): BenchResults {
  const level = (published: number, skiff: number, dockerd: number, podman: number) => ({
    published,
    runWithPort: { skiff: summary(skiff, skiff - 5, skiff + 5), dockerd: summary(dockerd), podman: summary(podman) },
    runWithout: { skiff: summary(skiff), dockerd: summary(dockerd), podman: summary(podman) },
    skiffExecsWithPort: [],
    processes: { skiff: 0, dockerd: published * 2, podman: 0 },
    processesKb: { skiff: 0, dockerd: published * 1500, podman: 0 },
  });
  return {
    size: 'quick',
    startedAt: '2026-01-02T03:04:05.000Z',
    durationSeconds: 150,
    phaseSeconds: { ports: 30 },
    machine: { cpus: 2, cpuModel: 'cpu', memoryGb: 24, kernel: '6.18', node: 'v20' },
    versions: { cli: '/usr/bin/docker', cliVersion: '20.10', dockerd: 'dockerd 20.10', podman: 'podman 4.3', podmanRuntime: 'runc' },
    skipped: {},
    failures: { dns: 'phase dns ended with exit code 1 and no result' },
    phases: {
      ports: {
        throughput: {
          direct: { skiff: summary(10), dockerd: summary(9), podman: summary(11) },
          loopback: { skiff: summary(9.5), dockerd: summary(7) },
          outside: { skiff: summary(8), dockerd: summary(8), podman: summary(8) },
        },
        throughputFailures: { direct: {}, loopback: { podman: 'iperf3 -c 127.0.0.1 -p 15201: no result within 16 s' }, outside: {} },
        levels: [level(1, 100, 300, 150), level(100, 104, 320, 140)],
        leftovers: [],
      },
    },
  };
}

describe('bench report', () => {
  it('writes a table per workload with ratios, the charts, and what was not measured with its reason', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'skiff-report-'));
    try {
      await writeReport(portsOnlyResults(), dir);
      const report = readFileSync(join(dir, 'REPORT.md'), 'utf8');
      assert.match(report, /\*\*the quick size\*\*/);
      assert.match(report, /\| what \| skiff \| Docker \| Podman \| skiff\/Docker \| skiff\/Podman \|/);
      assert.match(
        report,
        /\| `run -d -p` with 100 ports published \| \*\*104 ms \(99\.0–109\)\*\* \| 320 ms \(320–320\) \| 140 ms \(140–140\) \| 0\.33x \| 0\.74x \|/,
      );
      assert.match(
        report,
        /\| iperf3 to 127\.0\.0\.1:published port \(host loopback\) \| \*\*9\.50 Gbit\/s \(9\.50–9\.50\)\*\* \| 7\.00 Gbit\/s \(7\.00–7\.00\) \| not measured \(below\) \| 1\.36x \| {2}\|/,
      );
      assert.match(report, /- Ports: Podman loopback throughput: iperf3 -c 127\.0\.0\.1 -p 15201: no result within 16 s/);
      assert.match(report, /- The dns phase failed: phase dns ended with exit code 1/);
      for (const chart of ['ports-publish.svg', 'ports-throughput.svg']) {
        assert.match(report, new RegExp(`\\(charts/${chart.replace('.', '\\.')}\\)`));
        const svg = readFileSync(join(dir, 'charts', chart), 'utf8');
        assert.ok(svg.startsWith('<svg'), `${chart} is an SVG document`);
        for (const system of ['skiff', 'Docker', 'Podman']) assert.ok(svg.includes(system), `${chart} has a legend entry for ${system}`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
