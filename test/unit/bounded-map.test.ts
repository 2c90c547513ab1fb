import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { mapBounded } from '../../src/engine/bounded-map.js';

test('mapBounded: results in the items’ order, never more than the limit under way, a failure rejects', async () => {
  let underWay = 0;
  let most = 0;
  const results = await mapBounded([5, 1, 4, 2, 3, 0, 6], 3, async (turns) => {
    most = Math.max(most, ++underWay);
    for (let turn = 0; turn < turns; turn++) await nextTurn();
    underWay--;
    return turns * 10;
  });
  assert.deepEqual(results, [50, 10, 40, 20, 30, 0, 60]);
  assert.equal(most, 3);
  assert.deepEqual(await mapBounded([], 4, () => Promise.resolve(1)), []);
  await assert.rejects(
    mapBounded([1, 2], 2, (item) => (item === 2 ? Promise.reject(new Error('two')) : Promise.resolve(item))),
    /two/,
  );
});
