/**
 * Images a container stands on, through the docker CLI, with the texts a
 * dockerd 20.10 gave for the same steps: docker rmi refuses (or, forced,
 * only untags or keeps the files for) an image a running or stopped
 * container uses; image prune reclaims what deleted images' files held and
 * nothing for a mere untag; docker history of imported, committed and loaded
 * images; docker commit pauses a running container while it copies (and
 * thaws it after, even when the commit fails); docker update says
 * `Warnings: null`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertInWorld, sh } from '../helpers/world.js';
import { busyboxDaemonForFile } from '../helpers/daemon.js';

assertInWorld();

const daemon = busyboxDaemonForFile();

const id12 = (id: string) => id.replace(/^sha256:/, '').slice(0, 12);
const idOf = async (reference: string) => (await daemon.ok('inspect', '-f', '{{.Id}}', reference)).trim();
const errorOf = async (...args: string[]) => {
  const result = await daemon.docker(...args);
  assert.notEqual(result.code, 0, `${args.join(' ')} should fail`);
  return result.stderr.trim();
};

/** An image of its own (busybox with one file more), tagged `tag`; the container that made it is gone. */
async function makeImage(tag: string, ...changes: string[]): Promise<string> {
  await daemon.ok('run', '--name', `maker-${tag.replace(/\W/g, '-')}`, 'busybox', 'sh', '-c', `echo ${tag} > /made`);
  await daemon.ok('commit', ...changes.flatMap((change) => ['--change', change]), `maker-${tag.replace(/\W/g, '-')}`, tag);
  await daemon.ok('rm', `maker-${tag.replace(/\W/g, '-')}`);
  return idOf(tag);
}

/** Bytes of the regular files under a directory, as Docker sizes a layer. */
function bytesOfFiles(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) total += bytesOfFiles(join(dir, entry.name));
    else if (entry.isFile()) total += statSync(join(dir, entry.name)).size;
  }
  return total;
}

test('rmi of the last tag or the id of an image a stopped container uses is refused; forced, the image goes but the container still starts', async () => {
  // An image of its own imported from a tar, so that the same tar can make it again.
  await daemon.ok('run', '--name', 'exported', 'busybox', 'sh', '-c', 'echo stopuse > /made');
  const tar = join(daemon.dir, 'stopuse.tar');
  await daemon.ok('export', '-o', tar, 'exported');
  await daemon.ok('rm', 'exported');
  await daemon.ok('import', tar, 'stopuse');
  const image = await idOf('stopuse');
  const container = (await daemon.ok('create', '--name', 'stopuser', 'stopuse', 'cat', '/made')).trim();
  assert.equal(
    await errorOf('rmi', 'stopuse'),
    `Error response from daemon: conflict: unable to remove repository reference "stopuse" (must force) - container ${id12(container)} is using its referenced image ${id12(image)}`,
  );
  assert.equal(
    await errorOf('rmi', id12(image)),
    `Error response from daemon: conflict: unable to delete ${id12(image)} (must be forced) - image is being used by stopped container ${id12(container)}`,
  );
  assert.equal(await idOf('stopuse'), image, 'refused: nothing changed');

  assert.equal(await daemon.ok('rmi', '-f', 'stopuse'), `Untagged: stopuse:latest\nDeleted: ${image}\n`);
  assert.equal((await daemon.ok('images', '-q', '--no-trunc')).includes(image), false, 'gone from docker images');
  assert.equal(await errorOf('rmi', image), `Error response from daemon: No such image: ${image}`);
  assert.equal(await daemon.ok('start', '-a', 'stopuser'), 'stopuse\n', 'the container still has its files');
  assert.equal((await daemon.ok('ps', '-a', '--filter', 'name=stopuser', '--format', '{{.Image}}')).trim(), id12(image));
  assert.equal(existsSync(join(daemon.dataRoot, 'images', image.slice(7))), true, 'its files stay while the container does');
  await daemon.ok('rm', 'stopuser');
  assert.equal(existsSync(join(daemon.dataRoot, 'images', image.slice(7))), false, 'and go with it');

  // Deleted under a stopped container and made again from the same tar: an image again, kept when the container goes.
  await daemon.ok('import', tar, 'stopuse');
  await daemon.ok('create', '--name', 'stopuser2', 'stopuse', 'cat', '/made');
  await daemon.ok('rmi', '-f', 'stopuse');
  assert.equal((await daemon.ok('import', tar, 'stopuse:again')).trim(), image);
  assert.equal(await daemon.ok('start', '-a', 'stopuser2'), 'stopuse\n');
  await daemon.ok('rm', 'stopuser2');
  assert.equal(await idOf('stopuse:again'), image);
  await daemon.ok('rmi', 'stopuse:again');
});

test('rmi under a running container: refused by tag, by id even forced; forced by tag it only untags', async () => {
  const image = await makeImage('runuse');
  await daemon.ok('tag', 'runuse', 'runuse:second');
  const container = (await daemon.ok('run', '-d', '--name', 'runuser', 'runuse', 'sleep', '300')).trim();
  const running = `Error response from daemon: conflict: unable to delete ${id12(image)} (cannot be forced) - image is being used by running container ${id12(container)}`;
  assert.equal(await errorOf('rmi', id12(image)), running);
  assert.equal(await errorOf('rmi', '-f', id12(image)), running);
  assert.equal(await daemon.ok('rmi', 'runuse:second'), 'Untagged: runuse:second\n', 'another tag remains: an untag');
  assert.equal(
    await errorOf('rmi', 'runuse'),
    `Error response from daemon: conflict: unable to remove repository reference "runuse" (must force) - container ${id12(container)} is using its referenced image ${id12(image)}`,
  );
  assert.equal(await daemon.ok('rmi', '-f', 'runuse'), 'Untagged: runuse:latest\n');
  const listed = await daemon.ok('images', '-a', '--format', '{{.ID}} {{.Repository}}:{{.Tag}}');
  assert.equal(listed.includes(`${id12(image)} <none>:<none>`), true, `kept, untagged: ${listed}`);
  await daemon.ok('rm', '-f', 'runuser');
  assert.equal(await daemon.ok('rmi', id12(image)), `Deleted: ${image}\n`);
  assert.equal(await errorOf('rmi', 'nosuch'), 'Error response from daemon: No such image: nosuch:latest');
});

test('image prune reclaims the bytes of the images it deletes, nothing for a tag it only removes', async () => {
  const used = await makeImage('pruneused:1', 'LABEL prunetest=1');
  await daemon.ok('tag', 'pruneused:1', 'pruneused:2');
  await daemon.ok('create', '--name', 'pruneuser', 'pruneused:1', 'true');
  const unused = await makeImage('pruneunused', 'LABEL prunetest=1');
  const freed = bytesOfFiles(join(daemon.dataRoot, 'images', unused.slice(7), 'rootfs'));
  const pruned = await daemon.http('POST', `/v1.41/images/prune?filters=${encodeURIComponent('{"dangling":["false"],"label":["prunetest=1"]}')}`);
  assert.equal(pruned.status, 200);
  assert.deepEqual(JSON.parse(pruned.body), {
    ImagesDeleted: [{ Untagged: 'pruneunused:latest' }, { Deleted: unused }, { Untagged: 'pruneused:1' }],
    SpaceReclaimed: freed,
  });
  assert.equal(await idOf('pruneused:2'), used, 'the used image keeps its last tag');
  const again = await daemon.http('POST', `/v1.41/images/prune?filters=${encodeURIComponent('{"dangling":["false"],"label":["prunetest=1"]}')}`);
  assert.deepEqual(JSON.parse(again.body), { ImagesDeleted: null, SpaceReclaimed: 0 });
  await daemon.ok('rm', 'pruneuser');
  await daemon.ok('rmi', 'pruneused:2');
});

test('docker history: an import is one step commented "Imported from -", a commit adds its command and comment over its parent', async () => {
  const busybox = await idOf('busybox');
  const size = Number((await daemon.ok('image', 'inspect', '-f', '{{.Size}}', 'busybox')).trim());
  await daemon.ok('run', '--name', 'histsrc', 'busybox', 'sh', '-c', 'echo x > /f');
  await daemon.ok('commit', '-m', 'cmsg', 'histsrc', 'hist:1');
  const committed = await idOf('hist:1');
  const history = JSON.parse((await daemon.http('GET', '/v1.41/images/hist:1/history')).body) as Array<Record<string, unknown>>;
  assert.deepEqual(
    history.map(({ Created: created, ...rest }) => (assert.equal(typeof created, 'number'), rest)),
    [
      { Comment: 'cmsg', CreatedBy: 'sh -c echo x > /f', Id: committed, Size: 2, Tags: ['hist:1'] },
      { Comment: 'Imported from -', CreatedBy: '', Id: busybox, Size: size, Tags: ['busybox:latest'] },
    ],
  );
  assert.equal(
    await daemon.ok('history', '--format', '{{.ID}}|{{.CreatedBy}}|{{.Comment}}', 'hist:1'),
    `${id12(committed)}|sh -c echo x > /f|cmsg\n${id12(busybox)}||Imported from -\n`,
  );
  assert.equal((await daemon.ok('image', 'inspect', '-f', '{{.Parent}}', 'hist:1')).trim(), busybox);
  assert.equal((await daemon.ok('image', 'inspect', '-f', '{{.Comment}}', 'busybox')).trim(), 'Imported from -', "an import's comment, as dockerd's");
  assert.equal(await errorOf('history', 'nosuch'), 'Error response from daemon: No such image: nosuch:latest');
  await daemon.ok('rm', 'histsrc');
  await daemon.ok('rmi', 'hist:1');
});

test("docker history of a loaded image: its config's history, newest first, each layer's size, <missing> below the image", async () => {
  const root = join(daemon.dir, 'history-archive');
  const archiveDir = join(root, 'archive');
  mkdirSync(archiveDir, { recursive: true });
  const layers: string[] = [];
  for (const [index, [name, text]] of [
    ['a.txt', 'aaaa'],
    ['b.txt', 'from layer two\n'],
  ].entries()) {
    const dir = join(root, `layer${index}`);
    mkdirSync(dir);
    writeFileSync(join(dir, name!), text!);
    const staged = join(root, `layer${index}.tar`);
    await sh('tar', ['-c', '-f', staged, '--numeric-owner', '-C', dir, '.']);
    const hex = createHash('sha256').update(readFileSync(staged)).digest('hex');
    mkdirSync(join(archiveDir, hex));
    await sh('mv', [staged, join(archiveDir, hex, 'layer.tar')]);
    layers.push(hex);
  }
  const config = JSON.stringify({
    architecture: 'amd64',
    os: 'linux',
    created: '2024-01-02T00:00:00Z',
    config: { Cmd: ['cat', '/b.txt'] },
    rootfs: { type: 'layers', diff_ids: layers.map((hex) => `sha256:${hex}`) },
    history: [
      { created: '2024-01-01T00:00:00Z', created_by: '/bin/sh -c #(nop) ADD file:a in / ' },
      { created: '2024-01-01T00:00:01Z', created_by: '/bin/sh -c #(nop)  CMD ["cat" "/b.txt"]', empty_layer: true },
      { created: '2024-01-02T00:00:00Z', created_by: '/bin/sh -c echo two', comment: 'second' },
    ],
  });
  const configHex = createHash('sha256').update(config).digest('hex');
  writeFileSync(join(archiveDir, `${configHex}.json`), config);
  writeFileSync(
    join(archiveDir, 'manifest.json'),
    JSON.stringify([{ Config: `${configHex}.json`, RepoTags: ['histload:1'], Layers: layers.map((hex) => `${hex}/layer.tar`) }]),
  );
  const archive = join(root, 'histload.tar');
  await sh('tar', ['-c', '-f', archive, '-C', archiveDir, '.']);
  await daemon.ok('load', '-i', archive);

  assert.deepEqual(JSON.parse((await daemon.http('GET', '/v1.41/images/histload:1/history')).body), [
    { Comment: 'second', Created: 1704153600, CreatedBy: '/bin/sh -c echo two', Id: `sha256:${configHex}`, Size: 15, Tags: ['histload:1'] },
    { Comment: '', Created: 1704067201, CreatedBy: '/bin/sh -c #(nop)  CMD ["cat" "/b.txt"]', Id: '<missing>', Size: 0, Tags: null },
    { Comment: '', Created: 1704067200, CreatedBy: '/bin/sh -c #(nop) ADD file:a in / ', Id: '<missing>', Size: 4, Tags: null },
  ]);
  await daemon.ok('rmi', 'histload:1');
});

/** The actions of the container's events between two moments (seconds). */
async function actionsOf(container: string, since: number): Promise<string[]> {
  const until = Math.floor(Date.now() / 1000) + 1;
  const text = await daemon.ok('events', '--since', String(since), '--until', String(until), '--filter', `container=${container}`, '--format', '{{.Action}}');
  return text.trim().split('\n');
}

test('docker commit pauses a running container while it copies and thaws it after, even when it fails; --pause=false and an already paused one are left as they are', async () => {
  const since = Math.floor(Date.now() / 1000);
  await daemon.ok('run', '-d', '--name', 'pausecommit', 'busybox', 'sleep', '300');
  await daemon.ok('commit', 'pausecommit', 'paused:1');
  await daemon.ok('commit', '--pause=false', 'pausecommit', 'paused:2');
  assert.match(await errorOf('commit', '--change', 'FOO bar', 'pausecommit', 'paused:3'), /foo is not a valid change command/i);
  assert.equal((await daemon.ok('inspect', '-f', '{{.State.Status}} {{.State.Paused}}', 'pausecommit')).trim(), 'running false');
  await daemon.ok('pause', 'pausecommit');
  await daemon.ok('commit', 'pausecommit', 'paused:4');
  assert.equal((await daemon.ok('inspect', '-f', '{{.State.Status}} {{.State.Paused}}', 'pausecommit')).trim(), 'paused true');
  // As dockerd 20.10 logged the same steps.
  assert.deepEqual(await actionsOf('pausecommit', since), ['create', 'start', 'pause', 'commit', 'unpause', 'commit', 'pause', 'unpause', 'pause', 'commit']);
  await daemon.ok('rm', '-f', 'pausecommit');
  await daemon.ok('rmi', 'paused:1', 'paused:2', 'paused:4');
});

test('docker update answers Warnings null, as Docker 20.10 does', async () => {
  await daemon.ok('create', '--name', 'updated', 'busybox', 'true');
  const updated = await daemon.http('POST', '/v1.41/containers/updated/update', JSON.stringify({ CpuShares: 512 }));
  assert.deepEqual([updated.status, updated.body.trim()], [200, '{"Warnings":null}']);
  await daemon.ok('rm', 'updated');
});
