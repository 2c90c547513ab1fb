/** -v and --mount read as Docker reads them: binds, options, and Docker's errors for what is malformed. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { anonymousVolumes, checkDistinctTargets, checkMount, parseBind } from '../../src/containers/mounts.js';

describe('bind mounts', () => {
  it('reads -v HOST:CTR[:ro] and normalises the paths', () => {
    assert.deepEqual(parseBind('/srv//data/:/data/'), { type: 'bind', source: '/srv/data/', target: '/data', readOnly: false, createSource: true });
    assert.equal(parseBind('/srv:/srv:ro').readOnly, true);
    assert.equal(parseBind('/srv:/srv:rw,z').readOnly, false);
  });

  it("refuses what Docker refuses, with Docker's words", () => {
    assert.throws(() => parseBind('/srv'), /invalid volume specification: '\/srv'/);
    assert.throws(() => parseBind('/srv:rel'), /invalid volume specification: '\/srv:rel': .*'rel' mount path must be absolute/);
    assert.throws(() => parseBind('/srv:/'), /destination can't be '\/'/);
    assert.throws(() => parseBind('/srv:/x:bogus'), /invalid mode: bogus/);
    assert.throws(() => parseBind('/srv:/x:ro,rw'), /invalid mode: ro,rw/);
    assert.throws(() => parseBind('bad name:/x'), /"bad name" includes invalid characters for a local volume name/);
    assert.throws(() => checkDistinctTargets([parseBind('/a:/x'), parseBind('/b:/x/')]), /Duplicate mount point: \/x/);
  });

  it('reads -v NAME:/path as a volume, and Config.Volumes as anonymous ones where no other mount is', () => {
    assert.deepEqual(parseBind('pgdata:/var/lib/db:ro'), { type: 'volume', source: 'pgdata', target: '/var/lib/db', readOnly: true, createSource: true });
    assert.deepEqual(
      anonymousVolumes(['/a', '/b/'], [parseBind('/srv:/b')]).map((mount) => [mount.type, mount.source, mount.target]),
      [['volume', '', '/a']],
    );
  });

  it('reads --mount type=bind, which never makes its source', () => {
    assert.deepEqual(checkMount({ type: 'bind', source: '/srv', target: '/in', readOnly: true }), {
      type: 'bind',
      source: '/srv',
      target: '/in',
      readOnly: true,
      createSource: false,
    });
    assert.throws(() => checkMount({ type: 'bind', source: '', target: '/in', readOnly: false }), /field Source must not be empty/);
    assert.throws(() => checkMount({ type: 'tmpfs', source: '', target: '/in', readOnly: false }), /does not support mounts of type "tmpfs"/);
  });
});
