/**
 * crun's lean v1-cgroups view (src/runtime/v1-view.ts, `skiff-v1-cgroups
 * hold`) on a hybrid host: made once per daemon without the mounts under the
 * exec root; each call's copy of it has what the container needs carried in
 * (its rootfs, its netns file, a bind source mounted after the view was
 * made) and none of the other containers' mounts; a daemon killed and started
 * again replaces it; close() ends it. Skipped where crun needs no view.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { noResources } from '../../src/model/container.js';
import { assertInWorld, leftovers, makeNetns, scratchDir, type NetnsHandle } from '../helpers/world.js';
import { ImageStore } from '../../src/runtime/images.js';
import type { Image } from '../../src/model/image.js';
import { ContainerRuntime, type ContainerProcessSpec } from '../../src/runtime/containers.js';
import { findHostRuntimes, V1_CGROUPS_VIEW } from '../../src/runtime/oci-runtimes.js';
import { decodeFrames } from '../../src/runtime/log-frames.js';

assertInWorld();

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const needsView = findHostRuntimes().crun?.v1CgroupsView === true;

function mountPoints(pid: number | 'self'): string[] {
  return readFileSync(`/proc/${pid}/mountinfo`, 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((mount) => mount !== '');
}

const under = (mounts: string[], dir: string) => mounts.filter((mount) => mount.startsWith(`${dir}/`)).sort();

const waitFor = async (done: () => boolean) => {
  for (let i = 0; i < 100 && !done(); i++) await new Promise((resolve) => setTimeout(resolve, 20));
};

describe('the lean v1-cgroups view', { skip: needsView ? false : 'crun runs here without the v1 view' }, () => {
  let scratch: { path: string; remove: () => void };
  let dataRoot: string;
  let execRoot: string;
  let runtime: ContainerRuntime;
  let image: Image;
  let netns: NetnsHandle;
  let late: string;
  const created: string[] = [];
  const pidFile = () => join(execRoot, 'v1-view.pid');
  const holder = () => Number(readFileSync(pidFile(), 'utf8'));

  function spec(overrides: Partial<ContainerProcessSpec>): ContainerProcessSpec {
    const id = randomBytes(32).toString('hex');
    created.push(id);
    const etc = join(scratch.path, 'etc');
    return {
      id,
      image,
      args: ['sleep', '1000'],
      env: [],
      cwd: '/',
      hostname: id.slice(0, 12),
      tty: false,
      openStdin: false,
      netnsPath: netns.path,
      etcFiles: { hosts: join(etc, 'hosts'), resolvConf: join(etc, 'resolv.conf'), hostname: join(etc, 'hostname') },
      binds: [],
      resources: noResources(),
      runtime: 'crun',
      ...overrides,
    };
  }

  before(async () => {
    scratch = scratchDir('skiff-v1-view-');
    dataRoot = join(scratch.path, 'data');
    execRoot = join(scratch.path, 'exec');
    const tarPath = join(scratch.path, 'busybox.tar');
    execFileSync(join(repoRoot, 'scripts', 'make-busybox-image.sh'), [tarPath], { stdio: ['ignore', 'ignore', 'inherit'] });
    image = await new ImageStore(dataRoot).importTar(createReadStream(tarPath), { repoTag: 'busybox', changes: ['CMD ["sh"]'] });
    runtime = new ContainerRuntime({ dataRoot, execRoot });
    netns = await makeNetns(scratch.path, 'v1');
    const etc = join(scratch.path, 'etc');
    mkdirSync(etc);
    writeFileSync(join(etc, 'hosts'), '127.0.0.1\tlocalhost\n');
    writeFileSync(join(etc, 'resolv.conf'), 'nameserver 127.0.0.11\n');
    writeFileSync(join(etc, 'hostname'), 'v1\n');
    late = join(scratch.path, 'late');
    mkdirSync(late);
  });

  after(async () => {
    for (const id of created) await runtime.delete(id).catch(() => undefined);
    runtime.close();
    execFileSync('umount', ['--lazy', late], { stdio: 'ignore' });
    await netns.remove();
    scratch.remove();
  });

  it('is made once, by the runtime, without the mounts under the exec root or the cgroup2 mount', async () => {
    const first = spec({});
    await runtime.create(first);
    await runtime.start(first.id);
    const made = holder();
    const second = spec({});
    await runtime.create(second);
    await runtime.start(second.id);
    assert.equal(holder(), made, 'the second start used the same view');
    assert.deepEqual(readFileSync(`/proc/${made}/cmdline`, 'utf8').split('\0').slice(1, 3), ['hold', pidFile()]);
    assert.equal(under(mountPoints('self'), execRoot).length, 2, "the daemon's namespace holds both rootfs");
    assert.deepEqual(under(mountPoints(made), execRoot), [], 'the view holds none of them');
    assert.ok(!mountPoints(made).includes('/sys/fs/cgroup/unified'), 'the view has no cgroup2 mount');
    assert.ok(mountPoints('self').includes('/sys/fs/cgroup/unified'), "the daemon's namespace keeps its own");
  });

  it("gives a call the container's rootfs, netns file and a bind source mounted after the view, and no other container's mounts", async () => {
    execFileSync('mount', ['-t', 'tmpfs', 'late', late]);
    writeFileSync(join(late, 'marker'), 'carried\n');
    const third = spec({
      args: ['sh', '-c', 'cat /late/marker; ls /bin/busybox; readlink /proc/self/ns/net'],
      binds: [{ source: late, destination: '/late', readOnly: true }],
    });
    await runtime.create(third);
    await runtime.start(third.id);
    assert.equal(await runtime.waitExit(third.id), 0);
    const chunks: Buffer[] = [];
    for await (const chunk of runtime.logs(third.id, { follow: false, stdout: true, stderr: true })) chunks.push(Buffer.from(chunk as Buffer));
    const output = decodeFrames(Buffer.concat(chunks))
      .records.map((record) => record.data.toString())
      .join('');
    assert.equal(output, `carried\n/bin/busybox\nnet:[${statSync(netns.path).ino}]\n`);

    // What the runtime sees: skiff-v1-cgroups runs any program, here cat, in the bundle as the shim runs crun.
    const bundle = join(execRoot, 'containers', third.id);
    const seen = execFileSync(V1_CGROUPS_VIEW, ['--view', pidFile(), '/bin/cat', '/proc/self/mountinfo'], { cwd: bundle, encoding: 'utf8' })
      .split('\n')
      .map((line) => line.split(' ')[4] ?? '');
    assert.deepEqual(under(seen, execRoot), [join(bundle, 'rootfs')], 'its own rootfs alone of the exec root');
    assert.ok(seen.includes(netns.path) && seen.includes(late), 'its netns file and bind source');
    assert.ok(!seen.includes('/sys/fs/cgroup/unified'));
  });

  it('starts a container whose bundle predates the view (nothing listed to carry): the list is made from its config.json', async () => {
    const old = spec({ args: ['sh', '-c', 'ls /bin/busybox'] });
    await runtime.create(old);
    const list = join(execRoot, 'containers', old.id, 'skiff-v1-view-mounts');
    rmSync(list);
    await runtime.start(old.id);
    assert.equal(await runtime.waitExit(old.id), 0);
    assert.match(readFileSync(list, 'utf8'), new RegExp(`^${join(execRoot, 'containers', old.id, 'rootfs')}\n${netns.path}\n`));
  });

  it('is replaced by the next daemon after a SIGKILL (the old view still held), which finds and runs containers as before', async () => {
    const old = holder();
    const restarted = new ContainerRuntime({ dataRoot, execRoot }); // the first one is never closed: as if killed
    const ids = await restarted.restore();
    assert.equal((await restarted.state(created[0]!)).status, 'running');
    assert.ok(ids.includes(created[1]!));
    const fourth = spec({ args: ['sh', '-c', 'ls /bin/busybox'] });
    await restarted.create(fourth);
    await restarted.start(fourth.id);
    assert.equal(await restarted.waitExit(fourth.id), 0);
    const made = holder();
    assert.notEqual(made, old, 'a new view');
    await waitFor(() => !existsSync(`/proc/${old}`));
    assert.equal(existsSync(`/proc/${old}`), false, 'the old one ended');
    for (const id of created.splice(0)) await restarted.delete(id);
    restarted.close();
    await waitFor(() => !existsSync(`/proc/${made}`));
    assert.equal(existsSync(`/proc/${made}`), false, 'close() ends the view');
    assert.equal(existsSync(pidFile()), false);
    assert.deepEqual(under(mountPoints('self'), execRoot), []);
    assert.deepEqual(await leftovers(), []);
  });

  it("on a shared mount (a systemd host): makes the exec root private, follows the host's mounts and unmounts, not the containers'", async () => {
    const host = join(scratch.path, 'shared');
    mkdirSync(host);
    execFileSync('mount', ['-t', 'tmpfs', 'shared', host]);
    execFileSync('mount', ['--make-shared', host]);
    const sharedExecRoot = join(host, 'exec');
    const elsewhere = join(host, 'elsewhere');
    mkdirSync(elsewhere);
    const onShared = new ContainerRuntime({ dataRoot, execRoot: sharedExecRoot });
    try {
      await waitFor(() => existsSync(join(sharedExecRoot, 'v1-view.pid'))); // made by the runtime before its first container
      const s = spec({ args: ['sh', '-c', 'ls /bin/busybox'] });
      await onShared.create(s);
      await onShared.start(s.id);
      assert.equal(await onShared.waitExit(s.id), 0);
      const line = readFileSync('/proc/self/mountinfo', 'utf8')
        .split('\n')
        .find((entry) => entry.split(' ')[4] === sharedExecRoot);
      assert.ok(line !== undefined && !/ shared:/.test(line), `the exec root is a private mount of its own: ${line}`);
      const view = Number(readFileSync(join(sharedExecRoot, 'v1-view.pid'), 'utf8'));
      const later = spec({ args: ['sleep', '1000'] });
      await onShared.create(later);
      await onShared.start(later.id);
      execFileSync('mount', ['-t', 'tmpfs', 'elsewhere', elsewhere]);
      assert.ok(mountPoints(view).includes(elsewhere), "the host's new mount reaches the view");
      assert.deepEqual(under(mountPoints(view), sharedExecRoot), [], "a container's rootfs does not");
      execFileSync('umount', [elsewhere]);
      assert.ok(!mountPoints(view).includes(elsewhere), 'nor does the view keep what the host unmounted');
      for (const id of [s.id, later.id]) await onShared.delete(id);
    } finally {
      onShared.close();
      execFileSync('umount', ['--recursive', '--lazy', host]);
    }
  });
});
