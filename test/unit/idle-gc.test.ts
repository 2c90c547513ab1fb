/** The daemon's collection after a quiet spell: one per spell, none while work goes on, none after stop; and what it gives back. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { getHeapSpaceStatistics } from 'node:v8';
import { setTimeout as sleep } from 'node:timers/promises';
import { IdleCollector, collectGarbage } from '../../src/daemon/idle-gc.js';

/** How many collections the collector asked for while run went on. */
async function collections(make: (collect: () => Promise<void>) => IdleCollector, run: (collector: IdleCollector) => Promise<void>): Promise<number> {
  let count = 0;
  const collector = make(() => {
    count++;
    return Promise.resolve();
  });
  await run(collector);
  return count;
}

/** The collector logs only when it cannot give malloc's free memory back: the addon is built with the rest. */
const failOnLog = (message: string) => assert.fail(message);

describe('idle collector', () => {
  it('collects once after the quiet time that follows the last touch', async () => {
    const count = await collections(
      (collect) => new IdleCollector(failOnLog, 50, undefined, collect),
      async (collector) => {
        for (let touch = 0; touch < 5; touch++) {
          collector.touch();
          await sleep(10);
        }
        await sleep(200);
      },
    );
    assert.equal(count, 1);
  });

  it('collects once soon after the start, and once after the work that follows', async () => {
    const count = await collections(
      (collect) => new IdleCollector(failOnLog, 200, 20, collect),
      async (collector) => {
        collector.started();
        await sleep(100);
        collector.touch();
        await sleep(400);
      },
    );
    assert.equal(count, 2);
  });

  it('collects nothing without work, nor once stopped', async () => {
    const count = await collections(
      (collect) => new IdleCollector(failOnLog, 50, undefined, collect),
      async (collector) => {
        await sleep(100);
        collector.touch();
        collector.stop();
        await sleep(150);
      },
    );
    assert.equal(count, 0);
  });

  it('gives the young generation back (V8 alone would do it ~10 s later)', async () => {
    const youngGeneration = () => getHeapSpaceStatistics().find((space) => space.space_name === 'new_space')!.space_size;
    const initial = youngGeneration();
    // Survivors grow the young generation, as a burst of requests does.
    let kept: object[] = [];
    for (let i = 0; i < 300_000; i++) {
      kept.push({ i, text: `object ${i}` });
      if (kept.length > 5_000) kept = [];
    }
    kept = [];
    const grown = youngGeneration();
    assert.ok(grown > initial, `grown: ${grown} > ${initial}`);
    await collectGarbage();
    assert.ok(youngGeneration() <= initial, `${youngGeneration()} <= ${initial}`);
  });
});
