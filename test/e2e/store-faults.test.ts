/**
 * The store under faults: a data root on a full filesystem (a small tmpfs),
 * a damaged SQLite file, and two daemons started on one data root. Each
 * fails in words a user can act on and leaves nothing half-made: the API's
 * view and the kernel are as they were.
 */
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { assertInWorld, scratchDir, sh } from '../helpers/world.js';
import { importBusybox, startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { invariantViolations, worldSnapshot } from '../helpers/invariants.js';

assertInWorld();

/** Daemons of the test under way; each test's go before the next starts (they share this world's addresses and nft table). */
const started: TestDaemon[] = [];
afterEach(async () => {
  for (const daemon of started.splice(0).reverse()) await daemon.cleanup();
});

/** Fills the filesystem holding path until it takes not one more byte. */
function fillUp(path: string): void {
  const fd = openSync(path, 'w');
  try {
    for (const size of [1 << 20, 1 << 12, 1 << 9, 1]) {
      const block = Buffer.alloc(size);
      for (let written = 0; written < 1 << 30; written += size) {
        try {
          writeSync(fd, block);
        } catch {
          break;
        } // ENOSPC: on to a smaller block
      }
    }
  } finally {
    closeSync(fd);
  }
}

describe('a data root on a full filesystem', () => {
  it('fails network create and docker run with "no space left on device" and makes nothing, then recovers', async () => {
    const scratch = scratchDir('skiff-full-');
    // The daemon's data root is a tmpfs of its own, small enough to fill.
    mkdirSync(join(scratch.path, 'data'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=24m', 'tmpfs', join(scratch.path, 'data')]);
    const daemon = await startDaemon({
      dir: {
        path: scratch.path,
        remove: () => {
          execFileSync('umount', ['-l', join(scratch.path, 'data')]);
          scratch.remove();
        },
      },
    });
    started.push(daemon);
    await importBusybox(daemon);
    await daemon.ok('network', 'create', 'full0');
    await daemon.ok('run', '-d', '--name', 'f1', '--network', 'full0', '-p', '18081:80', 'busybox', 'sleep', '600');
    const filler = join(daemon.dataRoot, 'filler');
    fillUp(filler);

    // Whatever the store's journal still had room for may land; the first refused write must change nothing.
    let refused: { stderr: string } | undefined;
    for (let attempt = 0; attempt < 30 && refused === undefined; attempt++) {
      const before = await worldSnapshot(daemon);
      const create = await daemon.docker('network', 'create', `full-n${attempt}`);
      if (create.code === 0) continue;
      refused = create;
      assert.deepEqual(await worldSnapshot(daemon), before, `a refused network create changed nothing: ${create.stderr}`);
    }
    assert.ok(refused !== undefined, 'the full disk refused a network create within 30 tries');
    assert.match(refused.stderr, /Error response from daemon: write \S+skiff\.db: no space left on device/);

    const before = await worldSnapshot(daemon);
    const run = await daemon.docker('run', '-d', '--name', 'f2', '--network', 'full0', '-p', '18082:80', 'busybox', 'sleep', '600');
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, /no space left on device/);
    assert.deepEqual(await worldSnapshot(daemon), before, 'a refused docker run changed nothing');
    assert.equal((await daemon.http('GET', '/_ping')).body, 'OK');
    assert.deepEqual(await invariantViolations(daemon), []);

    rmSync(filler);
    await daemon.ok('network', 'create', 'full-after');
    await daemon.ok('run', '-d', '--name', 'f3', '--network', 'full-after', 'busybox', 'sleep', '600');
    assert.deepEqual(await invariantViolations(daemon, { reachability: true }), []);
  });
});

/** The kernel state a refused start must leave alone (and ip_forward, which a start turns on). */
async function kernelState(execRoot: string): Promise<Record<string, unknown>> {
  return {
    links: await sh('ip', ['-o', 'addr', 'show']),
    nft: await sh('nft', ['list', 'ruleset']),
    netns: existsSync(join(execRoot, 'netns')) ? await sh('ls', [join(execRoot, 'netns')]) : '',
    ipForward: readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8'),
  };
}

describe('a damaged store', () => {
  it('stops the daemon before it touches the kernel, naming the file and what to do', async () => {
    let daemon = await startDaemon();
    await daemon.ok('network', 'create', 'kept');
    await daemon.kill();
    const database = join(daemon.dataRoot, 'skiff.db');
    const backup = `${database}.backup`;
    copyFileSync(database, backup);
    const pages = Math.floor(statSync(database).size / 4096);
    const damages: Array<[string, () => void]> = [
      [
        'garbage over the header',
        () => {
          const fd = openSync(database, 'r+');
          writeSync(fd, Buffer.alloc(100, 0x5a), 0, 100, 0);
          closeSync(fd);
        },
      ],
      [
        'garbage over the last page',
        () => {
          const fd = openSync(database, 'r+');
          writeSync(fd, Buffer.alloc(4096, 0xff), 0, 4096, (pages - 1) * 4096);
          closeSync(fd);
        },
      ],
    ];
    for (const [what, damage] of damages) {
      copyFileSync(backup, database);
      damage();
      // The world's forwarding off: a start that got as far as the kernel would turn it on.
      await sh('sysctl', ['-q', '-w', 'net.ipv4.ip_forward=0']);
      const before = await kernelState(daemon.execRoot);
      await assert.rejects(daemon.restart(), (error: Error) => {
        assert.match(error.message, /daemon exited with 1/, what);
        assert.match(
          error.message,
          new RegExp(
            `failed to start daemon: the store ${database.replace(/[.]/g, '\\.')} is damaged \\(.+\\); nothing was changed\\. Restore it from a backup, or move it aside \\(mv `,
          ),
          what,
        );
        return true;
      });
      assert.deepEqual(await kernelState(daemon.execRoot), before, `${what}: the kernel is as it was`);
    }
    copyFileSync(backup, database);
    rmSync(backup);
    daemon = await daemon.restart();
    started.push(daemon);
    assert.match(await daemon.ok('network', 'ls', '--format', '{{.Name}}'), /^kept$/m, 'the restored store starts');
  });
});

describe('two daemons on one data root', () => {
  it('refuses the second, and the first keeps serving unharmed', async () => {
    const first = await startDaemon();
    started.push(first);
    await importBusybox(first);
    await first.ok('network', 'create', 'shared');
    await first.ok('run', '-d', '--name', 's1', '--network', 'shared', 'busybox', 'sleep', '600');
    await first.ok('run', '-d', '--name', 's2', '--network', 'shared', 'busybox', 'sleep', '600');
    const before = await worldSnapshot(first);
    // Same data root; with its own exec-root and socket, and then with the first's exec-root too.
    for (const extra of [
      ['--data-root', first.dataRoot],
      ['--data-root', first.dataRoot, '--exec-root', first.execRoot],
    ]) {
      await assert.rejects(startDaemon({ extraArgs: extra }), (error: Error) => {
        assert.match(
          error.message,
          new RegExp(
            `failed to start daemon: another daemon is using the data root ${first.dataRoot}: its store \\S+ is locked\\. Stop that daemon first, or give this one its own --data-root and --exec-root`,
          ),
        );
        return true;
      });
    }
    assert.deepEqual(await worldSnapshot(first), before, "the first daemon's state and kernel are as they were");
    assert.deepEqual(await invariantViolations(first, { reachability: true }), []);
    await first.ok('network', 'create', 'after');
  });
});
