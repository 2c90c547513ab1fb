import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EndpointIndex } from '../../src/engine/endpoint-index.js';
import type { Endpoint } from '../../src/model/network.js';

const endpoint = (id: string, sandboxId: string, networkId: string): Endpoint => ({
  id,
  name: `c-${id}`,
  networkId,
  sandboxId,
  ifName: 'eth0',
  hostIfName: `veth${id}`,
  macAddress: '02:42:00:00:00:00',
  aliases: [],
  containerId: '',
});

const ids = (endpoints: Endpoint[]): string[] => endpoints.map((found) => found.id);

test('endpoints by sandbox and by network follow every set, update and delete, in join order', () => {
  const index = new EndpointIndex();
  index.set('e1', endpoint('e1', 's1', 'n1'));
  index.set('e2', endpoint('e2', 's2', 'n1'));
  index.set('e3', endpoint('e3', 's1', 'n2'));
  assert.deepEqual(ids(index.ofSandbox('s1')), ['e1', 'e3']);
  assert.deepEqual(ids(index.ofNetwork('n1')), ['e1', 'e2']);
  index.set('e1', { ...endpoint('e1', 's1', 'n1'), aliases: ['db'] });
  assert.deepEqual(ids(index.ofSandbox('s1')), ['e1', 'e3'], 'an update keeps its place');
  assert.deepEqual(index.ofSandbox('s1')[0]?.aliases, ['db'], 'and is the new record');
  index.set('e2', endpoint('e2', 's2', 'n2'));
  assert.deepEqual(ids(index.ofNetwork('n1')), ['e1']);
  assert.deepEqual(ids(index.ofNetwork('n2')), ['e3', 'e2']);
  assert.equal(index.delete('e3'), true);
  assert.equal(index.delete('e3'), false);
  assert.deepEqual(ids(index.ofSandbox('s1')), ['e1']);
  assert.deepEqual(ids(index.ofNetwork('n2')), ['e2']);
  assert.deepEqual(ids([...index.values()]), ['e1', 'e2'], 'still a Map of every endpoint by id');
  index.clear();
  assert.deepEqual(index.ofSandbox('s1'), []);
  assert.deepEqual(index.ofNetwork('n2'), []);
  assert.equal(index.size, 0);
});
