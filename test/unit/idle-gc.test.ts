/** The daemon's collection after a quiet spell: one forced full collection per spell, none while work goes on, none after stop. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PerformanceObserver, constants, type PerformanceEntry } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { IdleCollector } from '../../src/daemon/idle-gc.js';

/** Forced full collections (what gc() asks for) seen while run goes on. */
async function forcedCollections(run: () => Promise<void>): Promise<number> {
  const forced: PerformanceEntry[] = [];
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const detail = (entry as PerformanceEntry & { detail: { kind: number; flags: number } }).detail;
      if (detail.kind === constants.NODE_PERFORMANCE_GC_MAJOR && (detail.flags & constants.NODE_PERFORMANCE_GC_FLAGS_FORCED) !== 0) forced.push(entry);
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  await run();
  // GC entries are delivered asynchronously.
  await sleep(100);
  observer.disconnect();
  return forced.length;
}

/** The collector logs only when it cannot give malloc's free memory back: the addon is built with the rest. */
const failOnLog = (message: string) => assert.fail(message);

describe('idle collector', () => {
  it('collects once after the quiet time that follows the last touch', async () => {
    const collector = new IdleCollector(failOnLog, 50);
    const count = await forcedCollections(async () => {
      for (let touch = 0; touch < 5; touch++) {
        collector.touch();
        await sleep(10);
      }
      await sleep(200);
    });
    assert.equal(count, 1);
  });

  it('collects once soon after the start, and once after the work that follows', async () => {
    const collector = new IdleCollector(failOnLog, 200, 20);
    const count = await forcedCollections(async () => {
      collector.started();
      await sleep(100);
      collector.touch();
      await sleep(400);
    });
    assert.equal(count, 2);
  });

  it('collects nothing without work, nor once stopped', async () => {
    const collector = new IdleCollector(failOnLog, 50);
    const count = await forcedCollections(async () => {
      await sleep(100);
      collector.touch();
      collector.stop();
      await sleep(150);
    });
    assert.equal(count, 0);
  });
});
