/** -v and --mount read as Docker reads them: binds, options, and Docker's errors for what is malformed. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  anonymousVolumes,
  checkDistinctTargets,
  checkMount,
  checkTmpfsPaths,
  copyMounts,
  parseBind,
  parseVolumesFrom,
  tmpfsDataOf,
  tmpfsMountOptions,
  tmpfsMounts,
  withCopiedMounts,
} from '../../src/containers/mounts.js';
import { ociMounts } from '../../src/runtime/oci-spec.js';

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
    assert.throws(() => checkMount({ type: 'npipe', source: '', target: '/in', readOnly: false }), /does not support mounts of type "npipe"/);
  });
});

describe('tmpfs mounts', () => {
  it("merges the user's options over Docker's defaults, a later option replacing one of its kind", () => {
    assert.deepEqual(tmpfsMountOptions(''), ['noexec', 'nosuid', 'nodev', 'rprivate']);
    assert.deepEqual(tmpfsMountOptions('size=1m,mode=1770'), ['noexec', 'nosuid', 'nodev', 'rprivate', 'size=1m', 'mode=1770']);
    assert.deepEqual(tmpfsMountOptions('exec,ro,size=1m,size=2m'), ['nosuid', 'nodev', 'rprivate', 'exec', 'ro', 'size=2m']);
    assert.deepEqual(tmpfsMountOptions('defaults,shared'), ['noexec', 'nosuid', 'nodev', 'shared']);
    assert.throws(() => tmpfsMountOptions('bogus'), { status: 500, message: 'invalid tmpfs option ["bogus"]' });
    assert.throws(() => tmpfsMountOptions('foo=bar'), { message: 'invalid tmpfs option ["foo" "bar"]' });
  });

  it('reads --mount type=tmpfs with its size and mode as dockerd turns them into options', () => {
    const mount = checkMount({ type: 'tmpfs', source: '', target: '/mt/', readOnly: true, tmpfs: { sizeBytes: 2 * 2 ** 20, mode: 0o700 } });
    assert.deepEqual(mount, { type: 'tmpfs', source: '', target: '/mt', readOnly: true, createSource: false, tmpfs: { sizeBytes: 2097152, mode: 448 } });
    assert.equal(tmpfsDataOf(mount), 'ro,mode=700,size=2m');
    assert.equal(tmpfsDataOf({ ...mount, readOnly: false, tmpfs: { sizeBytes: 1500, mode: 0 } }), 'size=1500');
    assert.throws(() => checkMount({ type: 'tmpfs', source: '/x', target: '/m', readOnly: false }), {
      message: 'invalid mount config for type "tmpfs": field Source must not be specified',
    });
    assert.throws(() => checkMount({ type: 'tmpfs', source: '', target: '', readOnly: false }), /field Target must not be empty/);
    assert.throws(() => checkMount({ type: 'bind', source: '/x', target: '/m', readOnly: false, tmpfs: { sizeBytes: 1, mode: 0 } }), {
      message: 'invalid mount config for type "bind": field TmpfsOptions must not be specified',
    });
  });

  it("checks --tmpfs paths at create with Docker's words, and mounts --mount tmpfs after --tmpfs", () => {
    assert.throws(() => checkTmpfsPaths({ relative: '' }, []), { message: "invalid mount path: 'relative' mount path must be absolute" });
    assert.throws(() => checkTmpfsPaths({ '/': '' }, []), { message: "invalid specification: destination can't be '/'" });
    assert.throws(() => checkTmpfsPaths({ '/m': '' }, [parseBind('/srv:/m')]), { message: 'Duplicate mount point: /m' });
    const mounts = [checkMount({ type: 'tmpfs', source: '', target: '/m', readOnly: false, tmpfs: { sizeBytes: 2 ** 20, mode: 0 } })];
    assert.deepEqual(
      tmpfsMounts({ tmpfs: { '/m': '', '/run/': 'size=1m' }, mounts }).map((mount) => [mount.destination, mount.options.at(-1)]),
      [
        ['/m', 'rprivate'],
        ['/run', 'size=1m'],
        ['/m', 'size=1m'],
      ],
    );
  });
});

describe('--volumes-from', () => {
  it("reads CONTAINER[:MODE] as Docker's ParseVolumesFrom", () => {
    assert.deepEqual(parseVolumesFrom('data'), { container: 'data', readOnly: false });
    assert.deepEqual(parseVolumesFrom('data:ro,z'), { container: 'data', readOnly: true });
    assert.deepEqual(parseVolumesFrom('data:'), { container: 'data', readOnly: false });
    assert.throws(() => parseVolumesFrom('data:ro:rw'), { status: 400, message: 'invalid mode: ro:rw' });
    assert.throws(() => parseVolumesFrom('data:rprivate'), /invalid mode: rprivate/);
    assert.throws(() => parseVolumesFrom('data:nocopy'), /invalid mode: nocopy/);
    assert.throws(() => parseVolumesFrom(':ro'), { message: 'invalid name or ID supplied: ""' });
  });

  it("copies the other container's binds and volumes (not its tmpfs), read-only when either says so; the container's own mounts win", () => {
    const source = {
      id: 'f'.repeat(64),
      hostConfig: {
        mounts: [
          parseBind('/srv:/srv:ro'),
          parseBind('named:/named'),
          { type: 'volume' as const, source: 'a'.repeat(64), target: '/data', readOnly: false, createSource: false },
          checkMount({ type: 'tmpfs', source: '', target: '/t', readOnly: false }),
        ],
      },
    };
    const copied = copyMounts(source, false);
    assert.deepEqual(
      copied.map((mount) => [mount.target, mount.readOnly, mount.copiedFrom === source.id]),
      [
        ['/srv', true, true],
        ['/named', false, true],
        ['/data', false, true],
      ],
    );
    assert.ok(copyMounts(source, true).every((mount) => mount.readOnly));
    const own = [parseBind('/tmp:/data'), ...anonymousVolumes(['/named', '/own'], [parseBind('/tmp:/data')])];
    assert.deepEqual(
      withCopiedMounts(own, copied, ['/named', '/own']).map((mount) => [mount.target, mount.source]),
      [
        ['/srv', '/srv'],
        ['/named', 'named'],
        ['/data', '/tmp'],
        ['/own', ''],
      ],
    );
  });
});

describe('OCI mounts of binds and tmpfs', () => {
  const etcFiles = { hosts: '/e/hosts', resolvConf: '/e/resolv.conf', hostname: '/e/hostname' };
  it("puts the user's mounts after Docker's, shallower paths first, and drops a default the user mounts over", () => {
    const mounts = ociMounts(
      etcFiles,
      [{ source: '/srv/sub', destination: '/data/sub', readOnly: false }],
      [
        { destination: '/data', options: ['size=1m'] },
        { destination: '/dev/shm', options: ['exec'] },
      ],
    );
    const user = mounts.slice(mounts.findIndex((mount) => mount.destination === '/etc/hosts') + 1);
    assert.deepEqual(
      user.map((mount) => [mount.destination, mount.type]),
      [
        ['/data', 'tmpfs'],
        ['/data/sub', 'bind'],
        ['/dev/shm', 'tmpfs'],
      ],
    );
    assert.equal(mounts.filter((mount) => mount.destination === '/dev/shm').length, 1, "the user's /dev/shm only");
  });
});
