/**
 * docker cp, export and diff through the docker CLI: files copied into and
 * out of running, stopped and never-started containers, into a volume;
 * symlinks and ".." stay inside the container (nothing lands on the host);
 * HEAD's path stat and Docker's errors; diff's kinds; export's whole tree.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertInWorld, sh, tryRun } from '../helpers/world.js';
import { importBusybox, startDaemon, type TestDaemon } from '../helpers/daemon.js';

assertInWorld();

let daemon: TestDaemon;
let host: string;

before(async () => {
  daemon = await startDaemon();
  await importBusybox(daemon);
  host = join(daemon.dir, 'host');
  mkdirSync(join(host, 'tree', 'sub'), { recursive: true });
  writeFileSync(join(host, 'note.txt'), 'from the host\n');
  writeFileSync(join(host, 'tree', 'sub', 'deep.txt'), 'deep\n');
});
after(async () => {
  await daemon.cleanup();
});

/** HEAD /containers/{id}/archive: the status and the decoded X-Docker-Container-Path-Stat. */
function headStat(container: string, path: string): Promise<{ status: number; stat: Record<string, unknown> | undefined }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath: daemon.socketPath, method: 'HEAD', path: `/v1.41/containers/${container}/archive?path=${encodeURIComponent(path)}` },
      (response) => {
        response.resume();
        const header = response.headers['x-docker-container-path-stat'];
        resolve({
          status: response.statusCode ?? 0,
          stat: typeof header === 'string' ? (JSON.parse(Buffer.from(header, 'base64').toString('utf8')) as Record<string, unknown>) : undefined,
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** PUT a tar file's bytes to /containers/{id}/archive. */
function putArchive(container: string, path: string, tarFile: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        socketPath: daemon.socketPath,
        method: 'PUT',
        path: `/v1.41/containers/${container}/archive?path=${encodeURIComponent(path)}`,
        headers: { 'Content-Type': 'application/x-tar' },
      },
      (response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk.toString()));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end(readFileSync(tarFile));
  });
}

test('cp into and out of a running container: a file, a directory, a directory\'s contents with "/."', async () => {
  await daemon.ok('run', '-d', '--name', 'live', 'busybox', 'sleep', '600');
  await daemon.ok('cp', join(host, 'note.txt'), 'live:/tmp/');
  assert.equal(await daemon.ok('exec', 'live', 'cat', '/tmp/note.txt'), 'from the host\n');
  await daemon.ok('cp', join(host, 'note.txt'), 'live:/tmp/renamed.txt');
  assert.equal(await daemon.ok('exec', 'live', 'cat', '/tmp/renamed.txt'), 'from the host\n');
  await daemon.ok('cp', join(host, 'tree'), 'live:/tmp/tree');
  assert.equal(await daemon.ok('exec', 'live', 'cat', '/tmp/tree/sub/deep.txt'), 'deep\n');

  const out = join(daemon.dir, 'out-live');
  mkdirSync(out);
  await daemon.ok('cp', 'live:/etc/passwd', join(out, 'passwd'));
  assert.match(readFileSync(join(out, 'passwd'), 'utf8'), /^root:x:0:0:/);
  await daemon.ok('cp', 'live:/tmp/tree', join(out, 'tree-copy'));
  assert.equal(readFileSync(join(out, 'tree-copy', 'sub', 'deep.txt'), 'utf8'), 'deep\n');
  mkdirSync(join(out, 'contents'));
  await daemon.ok('cp', 'live:/tmp/tree/.', join(out, 'contents'));
  assert.equal(readFileSync(join(out, 'contents', 'sub', 'deep.txt'), 'utf8'), 'deep\n');
  await daemon.ok('cp', 'live:/', join(out, 'whole'));
  assert.ok(existsSync(join(out, 'whole', 'bin', 'busybox')), 'the root copied whole');
  await sh('mkfifo', [join(host, 'pipe')]);
  await daemon.ok('cp', join(host, 'pipe'), 'live:/tmp/');
  assert.equal((await daemon.ok('exec', 'live', 'stat', '-c', '%F', '/tmp/pipe')).trim(), 'fifo');
  const until = String(Math.ceil(Date.now() / 1000) + 1);
  const events = await daemon.ok('events', '--since', '0', '--until', until, '--filter', 'container=live', '--format', '{{.Action}}');
  assert.match(events, /^extract-to-dir$/m);
  assert.match(events, /^archive-path$/m);
  await daemon.ok('rm', '-f', 'live');
});

test('cp into a container never started and out of a stopped one; the files stay across a restart', async () => {
  await daemon.ok('create', '--name', 'cold', 'busybox', 'sh', '-c', 'cat /tmp/note.txt; echo made >> /made');
  await daemon.ok('cp', join(host, 'note.txt'), 'cold:/tmp/note.txt');
  assert.equal(await daemon.ok('start', '-a', 'cold'), 'from the host\n');
  const out = join(daemon.dir, 'out-cold');
  mkdirSync(out);
  await daemon.ok('cp', 'cold:/made', join(out, 'made'));
  assert.equal(readFileSync(join(out, 'made'), 'utf8'), 'made\n');
  await daemon.ok('start', '-a', 'cold');
  await daemon.ok('cp', 'cold:/made', join(out, 'made-twice'));
  assert.equal(readFileSync(join(out, 'made-twice'), 'utf8'), 'made\nmade\n', 'the writable layer is kept from one run to the next');
  await daemon.ok('rm', 'cold');
});

test('cp into a path inside a volume reaches the volume, running or not', async () => {
  await daemon.ok('create', '--name', 'withvol', '-v', 'cpdata:/data', 'busybox', 'sleep', '600');
  await daemon.ok('cp', join(host, 'note.txt'), 'withvol:/data/before-start.txt');
  await daemon.ok('start', 'withvol');
  await daemon.ok('cp', join(host, 'tree'), 'withvol:/data/');
  assert.equal(await daemon.ok('exec', 'withvol', 'cat', '/data/before-start.txt', '/data/tree/sub/deep.txt'), 'from the host\ndeep\n');
  await daemon.ok('rm', '-f', 'withvol');
  assert.equal(await daemon.ok('run', '--rm', '-v', 'cpdata:/data', 'busybox', 'cat', '/data/before-start.txt'), 'from the host\n');
  const out = join(daemon.dir, 'out-vol');
  mkdirSync(out);
  await daemon.ok('create', '--name', 'volreader', '-v', 'cpdata:/data', 'busybox', 'true');
  await daemon.ok('cp', 'volreader:/data', join(out, 'data'));
  assert.equal(readFileSync(join(out, 'data', 'tree', 'sub', 'deep.txt'), 'utf8'), 'deep\n');
  await daemon.ok('cp', 'volreader:/', join(out, 'root'));
  assert.equal(readFileSync(join(out, 'root', 'data', 'tree', 'sub', 'deep.txt'), 'utf8'), 'deep\n', 'a copy of / holds what is mounted under it');
  assert.ok(existsSync(join(out, 'root', 'bin', 'busybox')));
  await daemon.ok('rm', 'volreader');
  await daemon.ok('create', '--name', 'rovol', '-v', 'cpdata:/ro:ro', 'busybox', 'true');
  const readOnly = await daemon.docker('cp', join(host, 'note.txt'), 'rovol:/ro/');
  assert.match(readOnly.stderr, /mounted volume is marked read-only/);
  await daemon.ok('rm', 'rovol');
  await daemon.ok('volume', 'rm', 'cpdata');
});

test('symlinks and ".." resolve inside the container: nothing is read from or written to the host', async () => {
  await daemon.ok(
    'run',
    '--name',
    'links',
    'busybox',
    'sh',
    '-c',
    'ln -s / /tmp/root && ln -s /etc /tmp/etclink && ln -s ../../../../../../ /tmp/up && echo inside > /etc/marker',
  );
  await daemon.ok('cp', join(host, 'note.txt'), 'links:/tmp/etclink/');
  await daemon.ok('cp', join(host, 'note.txt'), 'links:/tmp/up/escaped.txt');
  assert.equal(existsSync('/etc/note.txt'), false, "the host's /etc is untouched");
  assert.equal(existsSync('/escaped.txt'), false, "the host's / is untouched");
  const out = join(daemon.dir, 'out-links');
  mkdirSync(out);
  await daemon.ok('cp', 'links:/tmp/root/etc/marker', join(out, 'marker'));
  assert.equal(readFileSync(join(out, 'marker'), 'utf8'), 'inside\n');
  await daemon.ok('cp', 'links:/../../../../etc/marker', join(out, 'marker-up'));
  assert.equal(readFileSync(join(out, 'marker-up'), 'utf8'), 'inside\n');
  await daemon.ok('cp', 'links:/tmp/up/etc/note.txt', join(out, 'note-back'));
  assert.equal(readFileSync(join(out, 'note-back'), 'utf8'), 'from the host\n', 'the copy through /tmp/etclink landed in the container');
  await daemon.ok('cp', 'links:/escaped.txt', join(out, 'escaped-back'));

  // A tar whose members climb out, or go through a symlink it makes, is refused; nothing is left outside.
  const crafted = join(daemon.dir, 'crafted');
  mkdirSync(join(crafted, 'a'), { recursive: true });
  writeFileSync(join(crafted, 'a', 'x'), 'x');
  await sh('tar', ['-c', '-f', join(daemon.dir, 'climb.tar'), '-C', join(crafted, 'a'), '--transform=s,^x,../../../../climbed,', '-P', 'x']);
  const climb = await putArchive('links', '/tmp', join(daemon.dir, 'climb.tar'));
  assert.equal(climb.status, 400, climb.body);
  assert.equal(existsSync('/climbed'), false);
  await sh('ln', ['-s', '/', join(crafted, 'hop')]);
  await sh('tar', ['-c', '-f', join(daemon.dir, 'hop.tar'), '-C', crafted, 'hop']);
  await sh('tar', ['-r', '-f', join(daemon.dir, 'hop.tar'), '-C', join(crafted, 'a'), '--transform=s,^x,hop/hopped,', 'x']);
  const hop = await putArchive('links', '/tmp', join(daemon.dir, 'hop.tar'));
  assert.equal(hop.status, 400, hop.body);
  assert.equal(existsSync('/hopped'), false);
  await daemon.ok('rm', 'links');
});

test("HEAD stats a path as Docker's X-Docker-Container-Path-Stat; missing paths and a directory onto a file get Docker's errors", async () => {
  await daemon.ok('run', '--name', 'stat', 'busybox', 'sh', '-c', 'mkdir /d && printf 12345 > /d/f && ln -s /d/f /lnk');
  const file = await headStat('stat', '/d/f');
  assert.equal(file.status, 200);
  assert.deepEqual([file.stat!['name'], file.stat!['size'], file.stat!['mode'], file.stat!['linkTarget']], ['f', 5, 0o644, '']);
  assert.match(String(file.stat!['mtime']), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
  const dir = await headStat('stat', '/d');
  assert.equal(dir.stat!['mode'], 2 ** 31 + 0o755);
  await daemon.ok('cp', '-L', 'stat:/lnk', join(daemon.dir, 'followed'));
  assert.equal(readFileSync(join(daemon.dir, 'followed'), 'utf8'), '12345', 'cp -L copies what the link names');
  const link = await headStat('stat', '/lnk');
  assert.deepEqual([link.stat!['mode'], link.stat!['linkTarget']], [2 ** 27 + 0o777, '/d/f']);
  assert.equal((await headStat('stat', '/nope')).status, 404);

  const missing = await daemon.docker('cp', 'stat:/nope', join(daemon.dir, 'nope'));
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /Could not find the file \/nope in container stat/);
  const intoMissing = await daemon.docker('cp', join(host, 'note.txt'), 'stat:/no/such/dir/');
  assert.notEqual(intoMissing.code, 0);
  assert.match(intoMissing.stderr, /Could not find the file \/no\/such\/dir in container stat|no such directory/);
  const dirOntoFile = await daemon.docker('cp', join(host, 'tree'), 'stat:/d/f');
  assert.notEqual(dirOntoFile.code, 0);
  assert.match(dirOntoFile.stderr, /cannot copy directory/);
  const raw = await daemon.http('GET', '/v1.41/containers/stat/archive?path=/nope');
  assert.deepEqual([raw.status, (JSON.parse(raw.body) as { message: string }).message], [404, 'Could not find the file /nope in container stat']);
  await sh('tar', ['-c', '-f', join(daemon.dir, 'one.tar'), '-C', host, 'note.txt']);
  const ontoFile = await putArchive('stat', '/d/f', join(daemon.dir, 'one.tar'));
  assert.deepEqual([ontoFile.status, (JSON.parse(ontoFile.body) as { message: string }).message], [500, 'extraction point is not a directory']);
  await daemon.ok('rm', 'stat');
});

test('diff lists what was added, changed and deleted; export writes the whole filesystem', async () => {
  await daemon.ok('run', '--name', 'changed', 'busybox', 'sh', '-c', 'touch /tmp/new && rm /etc/group && echo more >> /etc/passwd && mkdir -p /srv/www');
  const diff = (await daemon.ok('diff', 'changed')).trim().split('\n');
  assert.deepEqual(diff, ['C /etc', 'D /etc/group', 'C /etc/passwd', 'A /srv', 'A /srv/www', 'C /tmp', 'A /tmp/new']);
  const raw = await daemon.http('GET', '/v1.41/containers/changed/changes');
  assert.deepEqual((JSON.parse(raw.body) as Array<{ Path: string; Kind: number }>).slice(0, 2), [
    { Path: '/etc', Kind: 0 },
    { Path: '/etc/group', Kind: 2 },
  ]);
  await daemon.ok('create', '--name', 'pristine', 'busybox', 'true');
  assert.equal(await daemon.ok('diff', 'pristine'), '');

  const exported = join(daemon.dir, 'exported.tar');
  await daemon.ok('export', '-o', exported, 'changed');
  const members = (await sh('tar', ['-t', '-f', exported])).split('\n');
  for (const member of ['bin/busybox', 'tmp/new', 'srv/www/', 'etc/passwd']) assert.ok(members.includes(member), `${member} in the export`);
  assert.ok(!members.includes('etc/group'), 'the deleted file is not exported');
  const extracted = join(daemon.dir, 'exported');
  mkdirSync(extracted);
  await sh('tar', ['-x', '-f', exported, '-C', extracted]);
  assert.match(readFileSync(join(extracted, 'etc', 'passwd'), 'utf8'), /\nmore\n$/);
  assert.equal((await tryRun('docker', ['-H', `unix://${daemon.socketPath}`, 'export', 'nosuch'])).code, 1);
  await daemon.ok('rm', 'changed', 'pristine');
});
