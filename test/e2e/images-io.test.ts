/**
 * docker commit, save, load and system df through the docker CLI: a
 * committed image carries the container's files and config and --change;
 * save → rmi → load brings an image back; a docker-archive laid out as
 * Docker 20.10's save writes it (two layers, whiteouts) loads; df counts
 * images, containers' writable layers and volumes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertInWorld, sh, tryRun } from '../helpers/world.js';
import { busyboxDaemonForFile } from '../helpers/daemon.js';

assertInWorld();

const daemon = busyboxDaemonForFile();

const sha256Of = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

test("commit makes an image with the container's files, its config and --change; a container from it sees them", async () => {
  await daemon.ok('run', '--name', 'src', '-e', 'GREETING=hi', '--label', 'team=files', 'busybox', 'sh', '-c', 'echo committed > /data.txt && rm /etc/group');
  const id = (
    await daemon.ok(
      'commit',
      '--change',
      'CMD ["cat", "/data.txt"]',
      '--change',
      'EXPOSE 8080',
      '--change',
      'WORKDIR /srv',
      '-m',
      'a message',
      '-a',
      'Ann <ann@example.com>',
      'src',
      'snap:v1',
    )
  ).trim();
  assert.match(id, /^sha256:[0-9a-f]{64}$/);
  assert.equal(await daemon.ok('run', '--rm', 'snap:v1'), 'committed\n');
  assert.equal(await daemon.ok('run', '--rm', 'snap:v1', 'sh', '-c', 'echo $GREETING; pwd; test -e /etc/group || echo gone'), 'hi\n/srv\ngone\n');
  const [inspect] = JSON.parse(await daemon.ok('image', 'inspect', 'snap:v1')) as Array<{
    Id: string;
    Comment: string;
    Author: string;
    Config: { Cmd: string[]; Env: string[]; Labels: Record<string, string>; ExposedPorts: Record<string, object>; WorkingDir: string };
  }>;
  assert.equal(inspect!.Id, id);
  assert.deepEqual([inspect!.Comment, inspect!.Author], ['a message', 'Ann <ann@example.com>']);
  assert.deepEqual(inspect!.Config.Cmd, ['cat', '/data.txt']);
  assert.ok(inspect!.Config.Env.includes('GREETING=hi'));
  assert.deepEqual([inspect!.Config.Labels, inspect!.Config.ExposedPorts, inspect!.Config.WorkingDir], [{ team: 'files' }, { '8080/tcp': {} }, '/srv']);
  assert.match(await daemon.ok('images', '--format', '{{.Repository}}:{{.Tag}}'), /^snap:v1$/m);
  const until = String(Math.ceil(Date.now() / 1000) + 1);
  const events = await daemon.ok(
    'events',
    '--since',
    '0',
    '--until',
    until,
    '--filter',
    'event=commit',
    '--format',
    '{{.Action}} {{.Actor.Attributes.name}} {{.Actor.Attributes.imageID}}',
  );
  assert.equal(events.trim(), `commit src ${id}`, 'the commit event, as dockerd logs it');

  const bad = await daemon.docker('commit', '--change', 'FROBNICATE x', 'src', 'snap:v2');
  assert.match(bad.stderr, /frobnicate is not a valid change command/);
  const upper = await daemon.docker('commit', 'src', 'Snap');
  assert.match(upper.stderr, /invalid reference format: repository name.* must be lowercase/);
  assert.match((await daemon.docker('commit', 'nosuch', 'x')).stderr, /No such container: nosuch/);
  await daemon.ok('rm', 'src');
});

test('save → rmi → load brings the image back with its tag, files and command; save of an unknown image fails', async () => {
  await daemon.ok('run', '--name', 'tosave', 'busybox', 'sh', '-c', 'echo saved > /saved.txt');
  await daemon.ok('commit', '--change', 'CMD cat /saved.txt', 'tosave', 'kept:1');
  await daemon.ok('rm', 'tosave');
  const archive = join(daemon.dir, 'kept.tar');
  await daemon.ok('save', '-o', archive, 'kept:1');
  const manifest = JSON.parse(await sh('tar', ['-x', '-O', '-f', archive, 'manifest.json'])) as Array<{ Config: string; RepoTags: string[]; Layers: string[] }>;
  assert.deepEqual(manifest[0]!.RepoTags, ['kept:1']);
  assert.equal(manifest[0]!.Layers.length, 1);
  const config = JSON.parse(await sh('tar', ['-x', '-O', '-f', archive, manifest[0]!.Config])) as { rootfs: { diff_ids: string[] } };
  const unpacked = join(daemon.dir, 'kept-unpacked');
  mkdirSync(unpacked);
  await sh('tar', ['-x', '-f', archive, '-C', unpacked]);
  assert.equal(config.rootfs.diff_ids[0], `sha256:${sha256Of(join(unpacked, manifest[0]!.Layers[0]!))}`, "the diff id is the layer tar's digest");
  assert.equal(manifest[0]!.Config, `${sha256Of(join(unpacked, manifest[0]!.Config))}.json`, "the config's name is its digest");

  await daemon.ok('rmi', 'kept:1');
  assert.match(await daemon.ok('load', '-i', archive), /^Loaded image: kept:1$/m);
  assert.equal(await daemon.ok('run', '--rm', 'kept:1'), 'saved\n');
  assert.match(await daemon.ok('load', '-q', '-i', archive), /Loaded image: kept:1/, 'loading it again keeps the one image');
  assert.match((await daemon.docker('save', '-o', join(daemon.dir, 'none.tar'), 'nosuch:1')).stderr, /reference does not exist/);
  const notArchive = join(daemon.dir, 'not-an-image.tar');
  await sh('tar', ['-c', '-f', notArchive, '-C', daemon.dir, 'kept-unpacked/repositories']);
  assert.match((await daemon.docker('load', '-i', notArchive)).stderr, /repositories: no such file or directory/);
  // An archive whose files are symlinks to the host's: refused, nothing of the host read.
  const sneaky = join(daemon.dir, 'sneaky');
  mkdirSync(sneaky);
  await sh('ln', ['-s', '/etc/passwd', join(sneaky, 'manifest.json')]);
  await sh('tar', ['-c', '-f', join(daemon.dir, 'sneaky.tar'), '-C', sneaky, 'manifest.json']);
  const refused = await daemon.docker('load', '-i', join(daemon.dir, 'sneaky.tar'));
  assert.match(refused.stderr, /invalid archive: manifest.json is not a regular file in it/);
  assert.doesNotMatch(refused.stderr, /root:/);
  await daemon.ok('rmi', 'kept:1');
});

test("load takes Docker 20.10's save layout: layers applied in order with their whiteouts", async () => {
  const root = join(daemon.dir, 'docker-format');
  const base = join(root, 'base');
  const top = join(root, 'top');
  mkdirSync(join(top, 'etc'), { recursive: true });
  mkdirSync(join(top, 'tmp'), { recursive: true });
  mkdirSync(base, { recursive: true });
  writeFileSync(join(top, 'added.txt'), 'from layer two\n');
  writeFileSync(join(top, 'etc', '.wh.group'), '');
  writeFileSync(join(top, 'tmp', '.wh..wh..opq'), '');
  writeFileSync(join(top, 'tmp', 'fresh'), '');
  // Layer one: the busybox rootfs, plus a file under /tmp that layer two's opaque whiteout hides.
  await sh('tar', ['-x', '-f', join(process.cwd(), 'dist', 'busybox-image.tar'), '-C', base]);
  writeFileSync(join(base, 'tmp', 'hidden'), '');
  const archiveDir = join(root, 'archive');
  mkdirSync(archiveDir);
  const layers: string[] = [];
  for (const [index, dir] of [base, top].entries()) {
    const staged = join(root, `layer${index}.tar`);
    await sh('tar', ['-c', '-f', staged, '--numeric-owner', '-C', dir, '.']);
    const hex = sha256Of(staged);
    mkdirSync(join(archiveDir, hex));
    await sh('mv', [staged, join(archiveDir, hex, 'layer.tar')]);
    writeFileSync(join(archiveDir, hex, 'VERSION'), '1.0');
    layers.push(hex);
  }
  const config = JSON.stringify({
    architecture: 'amd64',
    os: 'linux',
    created: '2024-01-01T00:00:00Z',
    config: { Env: ['PATH=/bin'], Cmd: ['cat', '/added.txt'], WorkingDir: '/', Labels: { from: 'docker' } },
    rootfs: { type: 'layers', diff_ids: layers.map((hex) => `sha256:${hex}`) },
  });
  const configHex = createHash('sha256').update(config).digest('hex');
  writeFileSync(join(archiveDir, `${configHex}.json`), config);
  writeFileSync(
    join(archiveDir, 'manifest.json'),
    JSON.stringify([{ Config: `${configHex}.json`, RepoTags: ['dockerfmt:v1'], Layers: layers.map((hex) => `${hex}/layer.tar`) }]),
  );
  writeFileSync(join(archiveDir, 'repositories'), JSON.stringify({ dockerfmt: { v1: layers[1] } }));
  const archive = join(root, 'dockerfmt.tar');
  await sh('tar', ['-c', '-f', archive, '-C', archiveDir, '.']);

  assert.match(await daemon.ok('load', '-i', archive), /Loaded image: dockerfmt:v1/);
  assert.equal(
    (await daemon.ok('image', 'inspect', '-f', '{{.Id}}', 'dockerfmt:v1')).trim(),
    `sha256:${configHex}`,
    'the id is the config digest, as Docker has it',
  );
  assert.equal(await daemon.ok('run', '--rm', 'dockerfmt:v1'), 'from layer two\n');
  assert.equal(
    await daemon.ok('run', '--rm', 'dockerfmt:v1', 'sh', '-c', 'ls /tmp; test -e /etc/group || echo group gone; test -e /etc/passwd && echo passwd kept'),
    'fresh\ngroup gone\npasswd kept\n',
  );
  await daemon.ok('rmi', 'dockerfmt:v1');
});

test('system df counts images, containers and volumes with their sizes; -v lists them', async () => {
  await daemon.ok('run', '--name', 'sized', '-v', 'dfvol:/data', 'busybox', 'sh', '-c', 'head -c 100000 /dev/zero > /blob && head -c 5000 /dev/zero > /data/v');
  const usage = JSON.parse((await daemon.http('GET', '/v1.41/system/df')).body) as {
    LayersSize: number;
    Images: Array<{ RepoTags: string[]; Size: number; Containers: number; SharedSize: number }>;
    Containers: Array<{ Names: string[]; SizeRw: number; SizeRootFs: number }>;
    Volumes: Array<{ Name: string; UsageData: { Size: number; RefCount: number } }>;
    BuildCache: null;
  };
  const busybox = usage.Images.find((image) => image.RepoTags.includes('busybox:latest'))!;
  assert.equal(busybox.Containers, 1);
  assert.ok(busybox.Size > 500_000, `busybox is ${busybox.Size} bytes`);
  assert.equal(
    usage.LayersSize,
    usage.Images.reduce((total, image) => total + image.Size, 0),
  );
  const sized = usage.Containers.find((container) => container.Names.includes('/sized'))!;
  assert.ok(sized.SizeRw >= 100_000 && sized.SizeRw < 200_000, `SizeRw ${sized.SizeRw}`);
  assert.equal(sized.SizeRootFs, sized.SizeRw + busybox.Size);
  const volume = usage.Volumes.find((entry) => entry.Name === 'dfvol')!;
  assert.equal(volume.UsageData.RefCount, 1);
  assert.ok(volume.UsageData.Size >= 5000, `volume ${volume.UsageData.Size}`);
  assert.equal(usage.BuildCache, null);

  const summary = await daemon.ok('system', 'df');
  assert.match(summary, /^Images\s+\d+\s+1\s/m);
  assert.match(summary, /^Containers\s+1\s+0\s/m);
  assert.match(summary, /^Local Volumes\s+1\s+1\s/m);
  const verbose = await daemon.ok('system', 'df', '-v');
  assert.match(verbose, /sized/);
  assert.match(verbose, /dfvol\s+1\s/);
  await daemon.ok('rm', '-v', 'sized');
  await daemon.ok('volume', 'rm', 'dfvol');
});

/** What docker-py (python3-docker) does with these routes: put/get_archive, commit with a conf, get_image, load_image, df. */
const DOCKER_PY = `
import io, json, sys, tarfile
import docker
client = docker.APIClient(base_url=sys.argv[1], version='1.41')
seen = {}
box = client.create_container('busybox', 'true', name='pybox')
data = io.BytesIO()
with tarfile.open(fileobj=data, mode='w') as tar:
    body = b'from docker-py\\n'
    info = tarfile.TarInfo('hello.txt'); info.size = len(body)
    tar.addfile(info, io.BytesIO(body))
seen['put'] = client.put_archive(box, '/tmp', data.getvalue())
stream, stat = client.get_archive(box, '/tmp/hello.txt')
seen['stat'] = stat
with tarfile.open(fileobj=io.BytesIO(b''.join(stream))) as tar:
    seen['got'] = tar.extractfile('hello.txt').read().decode()
image = client.commit(box, repository='pysnap', tag='1', conf={'Cmd': ['cat', '/tmp/hello.txt'], 'Env': ['PY=1']})
seen['config'] = client.inspect_image('pysnap:1')['Config']
saved = b''.join(client.get_image('pysnap:1'))
client.remove_container(box)
client.remove_image('pysnap:1')
client.load_image(saved)
seen['reloaded'] = client.inspect_image('pysnap:1')['Config']['Cmd']
seen['df_images'] = len(client.df()['Images'])
print(json.dumps(seen))
`;

test('docker-py copies in and out, commits with a conf, saves and loads', async () => {
  const result = await tryRun('/usr/bin/python3', ['-c', DOCKER_PY, `unix://${daemon.socketPath}`]);
  assert.equal(result.code, 0, result.stderr);
  const seen = JSON.parse(result.stdout) as {
    put: boolean;
    stat: { name: string; size: number };
    got: string;
    config: { Cmd: string[]; Env: string[] };
    reloaded: string[];
    df_images: number;
  };
  assert.equal(seen.put, true);
  assert.deepEqual([seen.stat.name, seen.stat.size, seen.got], ['hello.txt', 15, 'from docker-py\n']);
  assert.deepEqual(seen.config.Cmd, ['cat', '/tmp/hello.txt']);
  assert.ok(seen.config.Env.includes('PY=1'));
  assert.deepEqual(seen.reloaded, ['cat', '/tmp/hello.txt']);
  assert.ok(seen.df_images >= 2);
  assert.equal(await daemon.ok('run', '--rm', 'pysnap:1'), 'from docker-py\n');
  await daemon.ok('rmi', 'pysnap:1');
});
