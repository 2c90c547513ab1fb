/** docker network ls / network prune / images filters as Docker 20.10 combines them, with its errors. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { networkMatches, pruneKeeps, validateNetworkFilters } from '../../src/engine/network-filters.js';
import { filterImages, globMatches } from '../../src/runtime/image-filters.js';
import { labelMatches, patternMatches } from '../../src/model/filters.js';
import { notFound } from '../../src/errors.js';
import type { Network } from '../../src/model/network.js';
import { emptyImageConfig, type Image } from '../../src/model/image.js';

function network(name: string, labels: Record<string, string>, created = '2026-01-01T00:00:00Z'): Network {
  return {
    id: `${name}`.padEnd(64, 'a'),
    name,
    driver: name === 'host' ? 'host' : 'bridge',
    scope: 'local',
    created,
    internal: false,
    attachable: false,
    ingress: false,
    enableIPv6: false,
    ipam: { driver: 'default', options: null, pools: [] },
    options: {},
    labels,
  };
}

const filters = (entries: Array<[string, string[]]>) => new Map(entries);

describe('network filters', () => {
  const networks = [network('host', {}), network('front', { tier: 'web', env: 'prod' }), network('back', { tier: 'db' })];
  const names = (entries: Array<[string, string[]]>, endpoints = 0) => {
    validateNetworkFilters(filters(entries));
    return networks.filter((candidate) => networkMatches(candidate, filters(entries), endpoints)).map((candidate) => candidate.name);
  };

  it('labels are AND-ed, other values OR-ed, keys AND-ed', () => {
    assert.deepEqual(names([['label', ['tier=web', 'env=prod']]]), ['front']);
    assert.deepEqual(names([['label', ['tier=web', 'env=dev']]]), []);
    assert.deepEqual(names([['label', ['tier']]]), ['front', 'back']);
    assert.deepEqual(names([['name', ['front', 'back']]]), ['front', 'back']);
    assert.deepEqual(
      names([
        ['name', ['^b']],
        ['label', ['tier']],
      ]),
      ['back'],
    );
    assert.deepEqual(names([['type', ['builtin']]]), ['host']);
    assert.deepEqual(
      names([
        ['type', ['custom']],
        ['driver', ['bridge']],
      ]),
      ['front', 'back'],
    );
    assert.deepEqual(names([['dangling', ['true']]]), ['front', 'back']);
    assert.deepEqual(names([['dangling', ['true']]], 1), []);
    assert.deepEqual(
      names([
        ['scope', ['local']],
        ['id', ['^fronta']],
      ]),
      ['front'],
    );
  });

  it("answers Docker's errors", () => {
    assert.throws(() => names([['colour', ['red']]]), /^SkiffError: Invalid filter 'colour'$/);
    assert.throws(() => names([['type', ['x']]]), /^SkiffError: invalid filter: 'type'='x'$/);
    assert.throws(() => names([['dangling', ['x']]]), /invalid value for filter 'dangling', must be "true" \(or "1"\), or "false" \(or "0"\)/);
  });

  it('prune keeps what label, label! and until spare', () => {
    const now = Date.parse('2026-01-02T00:00:00Z');
    const [, front, back] = networks as [Network, Network, Network];
    assert.equal(pruneKeeps(front, filters([['label', ['tier=web', 'env=prod']]]), now), false);
    assert.equal(pruneKeeps(back, filters([['label', ['tier=web']]]), now), true);
    assert.equal(pruneKeeps(front, filters([['label!', ['env']]]), now), true);
    assert.equal(pruneKeeps(front, filters([['until', ['12h']]]), now), false);
    assert.equal(pruneKeeps(front, filters([['until', ['2025-12-31T00:00:00Z']]]), now), true);
    assert.throws(() => pruneKeeps(front, filters([['dangling', ['true']]]), now), /Invalid filter 'dangling'/);
    assert.throws(() => pruneKeeps(front, filters([['until', ['yesterday']]]), now), /failed to parse value as time or duration/);
  });
});

describe('image filters', () => {
  const image = (id: string, repoTags: string[], created: string, labels: Record<string, string> = {}): Image => ({
    id,
    repoTags,
    created,
    size: 1,
    rootfsPath: '',
    comment: '',
    config: { ...emptyImageConfig(), labels },
  });
  const images = [
    image('sha256:1', ['busybox:latest'], '2026-01-01T00:00:01Z', { a: '1' }),
    image('sha256:2', ['example/web:1.0', 'example/web:latest'], '2026-01-01T00:00:02Z', { a: '1', b: '2' }),
    image('sha256:3', [], '2026-01-01T00:00:03Z'),
  ];
  const resolve = (reference: string) => {
    const found = images.find((candidate) => candidate.repoTags.includes(reference) || candidate.id === reference);
    if (found === undefined) throw notFound(`No such image: ${reference}`);
    return found;
  };
  const ids = (entries: Array<[string, string[]]>) => filterImages(images, filters(entries), resolve).map((found) => found.id);

  it('reference globs, dangling, AND-ed labels, before and since', () => {
    assert.deepEqual(ids([['reference', ['busy*']]]), ['sha256:1']);
    assert.deepEqual(ids([['reference', ['example/*:1.0']]]), ['sha256:2']);
    assert.deepEqual(ids([['reference', ['*']]]), ['sha256:1']);
    assert.deepEqual(ids([['dangling', ['true']]]), ['sha256:3']);
    assert.deepEqual(ids([['dangling', ['false']]]), ['sha256:1', 'sha256:2']);
    assert.deepEqual(ids([['label', ['a=1', 'b']]]), ['sha256:2']);
    assert.deepEqual(ids([['before', ['example/web:1.0']]]), ['sha256:1']);
    assert.deepEqual(ids([['since', ['busybox:latest']]]), ['sha256:2', 'sha256:3']);
  });

  it("answers Docker's errors", () => {
    assert.throws(() => ids([['colour', ['red']]]), /^SkiffError: Invalid filter 'colour'$/);
    assert.throws(() => ids([['dangling', ['x']]]), /^SkiffError: Invalid filter 'dangling=\[x\]'$/);
    assert.throws(() => ids([['before', ['nosuch']]]), /No such image: nosuch/);
  });

  it("Go's path.Match and filters.Match", () => {
    assert.ok(globMatches('a?c', 'abc'));
    assert.ok(!globMatches('a*', 'a/b'));
    assert.ok(globMatches('[ab]x', 'bx'));
    assert.ok(patternMatches('web', 'myweb_1'));
    assert.ok(patternMatches('(', 'a(b'));
    assert.ok(labelMatches({ 'a=b': 'c' }, 'a') === false);
    assert.ok(labelMatches({ k: 'v=w' }, 'k=v=w'));
  });
});
