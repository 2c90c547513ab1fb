/**
 * docker-compose v1 (Debian's) with a version "2.4" file setting resource
 * limits (mem_limit, memswap_limit, cpus, cpu_shares, pids_limit) beside
 * tmpfs and a named volume: the container's HostConfig shows them, its
 * cgroup (v1 or v2, whichever the machine has) holds them, a fork past
 * pids_limit fails, and the tmpfs and the volume work as without limits.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertInWorld, scratchDir } from '../helpers/world.js';
import { importBusybox, startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { runCompose } from '../helpers/compose.js';

assertInWorld();

let daemon: TestDaemon;
let scratch: { path: string; remove: () => void };
const project = () => join(scratch.path, 'project');

before(async () => {
  scratch = scratchDir('skiff-compose-limits-');
  daemon = await startDaemon();
  await importBusybox(daemon);
  mkdirSync(project(), { recursive: true });
  writeFileSync(
    join(project(), 'docker-compose.yml'),
    [
      'version: "2.4"',
      'services:',
      '  limited:',
      '    image: busybox',
      '    command: sleep 3600',
      '    mem_limit: 64m',
      '    memswap_limit: 128m',
      '    cpus: 0.5',
      '    cpu_shares: 512',
      '    pids_limit: 10',
      '    tmpfs: ["/scratch:size=1m"]',
      '    volumes:',
      '      - data:/data',
      'volumes:',
      '  data: {}',
      '',
    ].join('\n'),
  );
});
after(async () => {
  await daemon.cleanup();
  scratch.remove();
});

function compose(...args: string[]): Promise<string> {
  return runCompose(daemon.socketPath, project(), 'lim', args);
}

const v2 = existsSync('/sys/fs/cgroup/cgroup.controllers');

/** A file of the container's cgroup: v1 per controller, v2 one directory. */
function cgroupFile(id: string, v1Controller: string, file: string): string {
  const path = v2 ? join('/sys/fs/cgroup/skiff', id, file) : join('/sys/fs/cgroup', v1Controller, 'skiff', id, file);
  return readFileSync(path, 'utf8').trim();
}

test('a compose 2.4 service gets mem_limit, memswap_limit, cpus, cpu_shares and pids_limit; its tmpfs and volume still work', async () => {
  await compose('up', '-d');
  const name = 'lim_limited_1';
  const id = (await daemon.ok('inspect', '-f', '{{.Id}}', name)).trim();
  assert.equal(
    (
      await daemon.ok(
        'inspect',
        '-f',
        '{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.NanoCpus}} {{.HostConfig.CpuShares}} {{.HostConfig.PidsLimit}}',
        name,
      )
    ).trim(),
    `${64 * 1024 * 1024} ${128 * 1024 * 1024} 500000000 512 10`,
  );
  if (v2) {
    assert.equal(cgroupFile(id, 'memory', 'memory.max'), String(64 * 1024 * 1024));
    assert.equal(cgroupFile(id, 'memory', 'memory.swap.max'), String(64 * 1024 * 1024), 'v2 swap.max is the swap beyond memory');
    assert.equal(cgroupFile(id, 'cpu', 'cpu.max'), '50000 100000');
  } else {
    assert.equal(cgroupFile(id, 'memory', 'memory.limit_in_bytes'), String(64 * 1024 * 1024));
    if (existsSync(join('/sys/fs/cgroup/memory/skiff', id, 'memory.memsw.limit_in_bytes')))
      assert.equal(cgroupFile(id, 'memory', 'memory.memsw.limit_in_bytes'), String(128 * 1024 * 1024));
    assert.equal(cgroupFile(id, 'cpu', 'cpu.cfs_quota_us'), '50000');
    assert.equal(cgroupFile(id, 'cpu', 'cpu.shares'), '512');
  }
  assert.equal(cgroupFile(id, 'pids', 'pids.max'), '10');

  // The sleeps are ended by the shell's own kill (a builtin): at the limit, a later `docker exec` could not even start runc's init.
  const forks = await daemon.docker('exec', name, 'sh', '-c', 'p=; for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 30 & p="$p $!"; done; echo forked; kill $p');
  assert.match(forks.stdout + forks.stderr, /can't fork|Resource temporarily unavailable/);

  assert.match(await compose('exec', '-T', 'limited', 'grep', ' /scratch ', '/proc/mounts'), /^tmpfs \/scratch tmpfs rw,.*size=1024k/);
  await compose('exec', '-T', 'limited', 'sh', '-c', 'echo kept > /data/file');
  await compose('rm', '-s', '-f', 'limited');
  await compose('up', '-d');
  assert.equal(await compose('exec', '-T', 'limited', 'cat', '/data/file'), 'kept\n', 'the volume outlives the container');
  await compose('down', '-v');
  assert.equal((await daemon.ok('ps', '-aq')).trim(), '');
  assert.equal((await daemon.ok('volume', 'ls', '-q')).trim(), '');
});
