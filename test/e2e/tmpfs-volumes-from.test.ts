/**
 * --tmpfs, --mount type=tmpfs and --volumes-from through the docker CLI:
 * tmpfs mounts with Docker's options (as /proc/mounts shows them), Docker's
 * errors for bad ones, another container's binds and volumes shared (read-only
 * with :ro), docker inspect's Mounts and HostConfig as dockerd 20.10 shows
 * them, and what run --rm and rm -v remove.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertInWorld, scratchDir } from '../helpers/world.js';
import { importBusybox, startDaemon, type TestDaemon } from '../helpers/daemon.js';

assertInWorld();

let daemon: TestDaemon;
let scratch: { path: string; remove: () => void };

before(async () => {
  scratch = scratchDir('skiff-tmpfs-');
  daemon = await startDaemon();
  await importBusybox(daemon);
});
after(async () => {
  await daemon.cleanup();
  scratch.remove();
});

const inspect = async (format: string, name: string) => JSON.parse(await daemon.ok('inspect', '-f', `{{json ${format}}}`, name)) as unknown;
const volumeNames = async () => (await daemon.ok('volume', 'ls', '-q')).split('\n').filter(Boolean).sort();

test("--tmpfs and --mount type=tmpfs mount a tmpfs with Docker's options; inspect shows them as dockerd does", async () => {
  const mounts = await daemon.ok(
    'run',
    '--name',
    'tmp',
    '--tmpfs',
    '/run:size=1m,mode=1770',
    '--tmpfs',
    '/cache',
    '--tmpfs',
    '/dev/shm:exec,size=2m',
    '--mount',
    'type=tmpfs,destination=/mt,tmpfs-size=2m,tmpfs-mode=0700',
    'busybox',
    'sh',
    '-c',
    'grep -E " /(run|cache|mt|dev/shm) " /proc/mounts; echo x > /mt/file && cat /mt/file',
  );
  const options = (path: string) => new RegExp(`^tmpfs ${path} tmpfs (\\S+) `, 'm').exec(mounts)?.[1];
  assert.match(options('/run') ?? '', /^rw,nosuid,nodev,noexec,relatime,size=1024k,mode=1770$/);
  assert.match(options('/cache') ?? '', /^rw,nosuid,nodev,noexec,relatime$/);
  assert.match(options('/mt') ?? '', /^rw,nosuid,nodev,noexec,relatime,size=2048k,mode=700$/);
  assert.match(options('/dev/shm') ?? '', /^rw,nosuid,nodev,relatime,size=2048k$/, "the user's /dev/shm replaces Docker's own");
  assert.match(mounts, /^x$/m, 'writable');
  assert.deepEqual(await inspect('.HostConfig.Tmpfs', 'tmp'), { '/cache': '', '/dev/shm': 'exec,size=2m', '/run': 'size=1m,mode=1770' });
  assert.deepEqual(await inspect('.HostConfig.Mounts', 'tmp'), [{ Type: 'tmpfs', Target: '/mt', TmpfsOptions: { SizeBytes: 2097152, Mode: 448 } }]);
  assert.deepEqual(await inspect('.Mounts', 'tmp'), [{ Type: 'tmpfs', Source: '', Destination: '/mt', Mode: '', RW: true, Propagation: '' }]);
  assert.match(await daemon.ok('run', '--rm', '--tmpfs', '/ro:ro', 'busybox', 'grep', ' /ro ', '/proc/mounts'), /tmpfs \/ro tmpfs ro,/);
  await daemon.ok('rm', 'tmp');
});

test("bad tmpfs options get Docker's errors: paths at create, options at start", async () => {
  assert.match((await daemon.docker('create', '--tmpfs', 'relative', 'busybox', 'true')).stderr, /invalid mount path: 'relative' mount path must be absolute/);
  assert.match((await daemon.docker('create', '--tmpfs', '/', 'busybox', 'true')).stderr, /invalid specification: destination can't be '\/'/);
  assert.match((await daemon.docker('create', '--tmpfs', '/m', '-v', '/tmp:/m', 'busybox', 'true')).stderr, /Duplicate mount point: \/m/);
  assert.match(
    (await daemon.docker('create', '--mount', 'type=tmpfs,destination=/m,source=/x', 'busybox', 'true')).stderr,
    /invalid mount config for type "tmpfs": field Source must not be specified/,
  );
  assert.equal((await daemon.ok('ps', '-aq')).trim(), '', 'nothing was created');
  await daemon.ok('create', '--name', 'bogus', '--tmpfs', '/x:bogus', 'busybox', 'true');
  const started = await daemon.docker('start', 'bogus');
  assert.match(started.stderr, /invalid tmpfs option \["bogus"\]/);
  assert.equal((await daemon.ok('inspect', '-f', '{{.State.Status}}', 'bogus')).trim(), 'created');
  await daemon.ok('rm', 'bogus');
});

test("--volumes-from shares another container's binds and volumes, read-only with :ro; the copies outlive the other container", async () => {
  const hostDir = join(scratch.path, 'shared');
  mkdirSync(hostDir);
  writeFileSync(join(hostDir, 'hello'), 'from the host\n');
  await daemon.ok(
    'run',
    '--name',
    'data',
    '-v',
    '/anon',
    '-v',
    'named:/named',
    '-v',
    `${hostDir}:/hostdir:ro`,
    '--tmpfs',
    '/t',
    'busybox',
    'sh',
    '-c',
    'echo anon > /anon/f; echo named > /named/f',
  );
  const [anonymous] = (await volumeNames()).filter((name) => name !== 'named');
  assert.ok(anonymous !== undefined);

  const seen = await daemon.ok(
    'run',
    '--rm',
    '--volumes-from',
    'data',
    'busybox',
    'sh',
    '-c',
    'cat /anon/f /named/f /hostdir/hello; echo more > /named/g; grep -c " /t " /proc/mounts || true',
  );
  assert.equal(seen, 'anon\nnamed\nfrom the host\n0\n', "the volumes and the bind, not the other container's tmpfs");
  assert.deepEqual(await volumeNames(), [anonymous, 'named'].sort(), "run --rm leaves the volumes it shared: they are the other container's");

  await daemon.ok(
    'create',
    '--name',
    'reader',
    '--volumes-from',
    'data:ro',
    '-v',
    `${hostDir}:/anon`,
    'busybox',
    'sh',
    '-c',
    'cat /named/g /anon/hello; touch /named/x',
  );
  assert.deepEqual(await inspect('.HostConfig.VolumesFrom', 'reader'), ['data:ro'], 'kept as given, as dockerd keeps it');
  const mounts = (await inspect('.Mounts', 'reader')) as Array<Record<string, unknown>>;
  const byDestination = Object.fromEntries(mounts.map((mount) => [mount['Destination'], mount]));
  assert.deepEqual(Object.keys(byDestination).sort(), ['/anon', '/hostdir', '/named']);
  assert.deepEqual(byDestination['/named'], {
    Type: 'volume',
    Name: 'named',
    Source: join(daemon.dataRoot, 'volumes', 'named', '_data'),
    Destination: '/named',
    Driver: 'local',
    Mode: '',
    RW: false,
    Propagation: '',
  });
  assert.deepEqual(
    [byDestination['/anon']!['Type'], byDestination['/anon']!['Source'], byDestination['/anon']!['RW']],
    ['bind', hostDir, true],
    "the container's own -v wins",
  );

  await daemon.ok('rm', '-v', 'data');
  assert.deepEqual(await volumeNames(), ['named'], 'its anonymous volume went with rm -v: no other container mounts it');
  const read = await daemon.docker('start', '-a', 'reader');
  assert.equal(read.stdout, 'more\nfrom the host\n');
  assert.match(read.stderr, /Read-only file system/);
  await daemon.ok('rm', '-v', 'reader');
  assert.deepEqual(await volumeNames(), ['named'], 'rm -v leaves a shared volume alone');
  await daemon.ok('volume', 'rm', 'named');

  // A 404 from create makes the CLI try a pull (as with dockerd): the API's answer is what counts.
  const missing = await daemon.http(
    'POST',
    '/v1.41/containers/create',
    JSON.stringify({ Image: 'busybox', Cmd: ['true'], HostConfig: { VolumesFrom: ['nosuch'] } }),
  );
  assert.deepEqual([missing.status, JSON.parse(missing.body)], [404, { message: 'No such container: nosuch' }]);
  assert.match((await daemon.docker('create', '--volumes-from', 'x:ro:rw', 'busybox', 'true')).stderr, /invalid mode: ro:rw/);
});

test('an anonymous volume shared by --volumes-from stays with rm -v of its own container while another uses it', async () => {
  await daemon.ok('create', '--name', 'owner', '-v', '/keep', 'busybox', 'true');
  await daemon.ok('create', '--name', 'borrower', '--volumes-from', 'owner', 'busybox', 'true');
  const [volume] = await volumeNames();
  await daemon.ok('rm', '-v', 'owner');
  assert.deepEqual(await volumeNames(), [volume], 'in use by the borrower');
  await daemon.ok('rm', '-v', 'borrower');
  assert.deepEqual(await volumeNames(), [volume], 'Docker leaves it too: the borrower did not make it');
  await daemon.ok('volume', 'prune', '-f');
  assert.deepEqual(await volumeNames(), []);
});
