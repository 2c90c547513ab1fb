/**
 * Resource limits, docker update, OOM, docker stats and docker pause through
 * the stock docker CLI and the API: the limits land in the container's
 * cgroup (read back from the v1 or v2 files, whichever the machine has), a
 * process past --memory is OOM-killed (137, State.OOMKilled), --pids-limit
 * stops forks, docker update changes a running container, stats show memory
 * and network bytes, a paused container's work stops and survives a daemon
 * restart, and bad values get Docker 20.10's words.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assertInWorld, tryRun } from '../helpers/world.js';
import { importBusybox, startDaemon, type TestDaemon } from '../helpers/daemon.js';

assertInWorld();

let daemon: TestDaemon;

before(async () => {
  daemon = await startDaemon();
  await importBusybox(daemon);
});
after(async () => {
  await daemon.cleanup();
});

const v2 = existsSync('/sys/fs/cgroup/cgroup.controllers');
const inspect = async (format: string, name: string) => (await daemon.ok('inspect', '-f', format, name)).trim();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A file of the container's cgroup: v1 per controller, v2 one directory. */
async function cgroupFile(name: string, v1Controller: string, file: string): Promise<string> {
  const id = await inspect('{{.Id}}', name);
  const path = v2 ? join('/sys/fs/cgroup/skiff', id, file) : join('/sys/fs/cgroup', v1Controller, 'skiff', id, file);
  return readFileSync(path, 'utf8').trim();
}

test('docker info reports the cgroupfs driver and the machine cgroup version', async () => {
  const info = await daemon.ok('info', '--format', '{{.CgroupDriver}} {{.CgroupVersion}}');
  assert.equal(info.trim(), `cgroupfs ${v2 ? 2 : 1}`);
});

test('--memory 64m: a process holding 200 MB is OOM-killed (137, State.OOMKilled); a clean exit is not', async () => {
  // busybox tail -c keeps the last N bytes in memory: 200 MB read from dd, held at once.
  const run = await daemon.docker(
    'run',
    '--name',
    'hog',
    '--memory',
    '64m',
    'busybox',
    'sh',
    '-c',
    'dd if=/dev/zero bs=1M count=200 2>/dev/null | tail -c 200000000 >/dev/null',
  );
  assert.equal(run.code, 137, run.stderr);
  assert.equal(
    await inspect('{{.State.OOMKilled}} {{.State.ExitCode}} {{.HostConfig.Memory}} {{.HostConfig.MemorySwap}}', 'hog'),
    'true 137 67108864 134217728',
  );
  const until = String(Math.floor(Date.now() / 1000) + 1);
  const events = await daemon.ok('events', '--since', '0', '--until', until, '--filter', 'container=hog', '--format', '{{.Action}}');
  assert.match(events, /^oom\ndie$/m, 'the oom event, then die, as Docker sends them');
  await daemon.ok('run', '--name', 'calm', '--memory', '64m', 'busybox', 'true');
  assert.equal(await inspect('{{.State.OOMKilled}} {{.State.ExitCode}}', 'calm'), 'false 0');
  await daemon.ok('rm', 'hog', 'calm');
});

test('--cpus, --cpu-shares, --cpuset-cpus and --memory land in the cgroup and in docker inspect', async () => {
  await daemon.ok(
    'run',
    '-d',
    '--name',
    'limited',
    '--cpus',
    '0.5',
    '--cpu-shares',
    '512',
    '--cpuset-cpus',
    '0',
    '--memory',
    '32m',
    '--memory-reservation',
    '16m',
    'busybox',
    'sleep',
    '300',
  );
  if (v2) {
    assert.equal(await cgroupFile('limited', 'cpu', 'cpu.max'), '50000 100000');
    assert.equal(await cgroupFile('limited', 'memory', 'memory.max'), String(32 * 1024 * 1024));
  } else {
    assert.equal(await cgroupFile('limited', 'cpu', 'cpu.cfs_quota_us'), '50000');
    assert.equal(await cgroupFile('limited', 'cpu', 'cpu.cfs_period_us'), '100000');
    assert.equal(await cgroupFile('limited', 'cpu', 'cpu.shares'), '512');
    assert.equal(await cgroupFile('limited', 'memory', 'memory.limit_in_bytes'), String(32 * 1024 * 1024));
    assert.equal(await cgroupFile('limited', 'memory', 'memory.soft_limit_in_bytes'), String(16 * 1024 * 1024));
  }
  assert.equal(await cgroupFile('limited', 'cpuset', 'cpuset.cpus'), '0');
  assert.equal(
    await inspect(
      '{{.HostConfig.NanoCpus}} {{.HostConfig.CpuShares}} {{.HostConfig.CpusetCpus}} {{.HostConfig.Memory}} {{.HostConfig.MemoryReservation}} {{.HostConfig.PidsLimit}}',
      'limited',
    ),
    '500000000 512 0 33554432 16777216 <no value>',
  );
  await daemon.ok('rm', '-f', 'limited');
});

test('--pids-limit: forks past the limit fail inside the container', async () => {
  const run = await daemon.docker('run', '--rm', '--pids-limit', '5', 'busybox', 'sh', '-c', 'for i in 1 2 3 4 5 6 7 8; do sleep 30 & done; echo forked');
  assert.match(run.stdout + run.stderr, /can't fork|Resource temporarily unavailable/);
  await daemon.ok('run', '-d', '--name', 'few', '--pids-limit', '7', 'busybox', 'sleep', '300');
  assert.equal(await cgroupFile('few', 'pids', 'pids.max'), '7');
  assert.equal(await inspect('{{.HostConfig.PidsLimit}}', 'few'), '7');
  await daemon.ok('rm', '-f', 'few');
});

test('docker update changes the limits of a running container, keeps them, and keeps --restart working', async () => {
  await daemon.ok('run', '-d', '--name', 'grow', '--memory', '32m', 'busybox', 'sleep', '300');
  await daemon.ok('update', '--memory', '100m', '--memory-swap', '200m', '--cpus', '0.25', '--pids-limit', '20', '--restart', 'on-failure:3', 'grow');
  const limitFile = v2 ? 'memory.max' : 'memory.limit_in_bytes';
  assert.equal(await cgroupFile('grow', 'memory', limitFile), String(100 * 1024 * 1024));
  assert.equal(await cgroupFile('grow', 'pids', 'pids.max'), '20');
  assert.equal(await cgroupFile('grow', 'cpu', v2 ? 'cpu.max' : 'cpu.cfs_quota_us'), v2 ? '25000 100000' : '25000');
  const shown = '{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}} {{.HostConfig.RestartPolicy.Name}}';
  assert.equal(await inspect(shown, 'grow'), '104857600 209715200 250000000 20 on-failure');
  // Docker's own refusal: a limit above the swap already set wants the swap too; nothing changes.
  const refused = await daemon.docker('update', '--memory', '300m', 'grow');
  assert.match(
    refused.stderr,
    /Cannot update container [0-9a-f]{64}: Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time/,
  );
  assert.equal(await inspect(shown, 'grow'), '104857600 209715200 250000000 20 on-failure');
  // Kept across a restart of the container: the new run gets them from the start.
  await daemon.ok('restart', '-t', '1', 'grow');
  assert.equal(await cgroupFile('grow', 'memory', limitFile), String(100 * 1024 * 1024));
  await daemon.ok('rm', '-f', 'grow');
});

/** Frames of GET /containers/{id}/stats?stream=true: reads `count` of them, then closes the connection. */
function streamFrames(name: string, count: number): Promise<Array<Record<string, unknown>>> {
  return new Promise((resolve, reject) => {
    const frames: Array<Record<string, unknown>> = [];
    let buffered = '';
    const req = request({ socketPath: daemon.socketPath, path: `/v1.41/containers/${name}/stats?stream=true` }, (response) => {
      response.on('data', (chunk: Buffer) => {
        buffered += chunk.toString();
        let newline: number;
        while ((newline = buffered.indexOf('\n')) >= 0 && frames.length < count) {
          frames.push(JSON.parse(buffered.slice(0, newline)) as Record<string, unknown>);
          buffered = buffered.slice(newline + 1);
        }
        if (frames.length === count) {
          req.destroy();
          resolve(frames);
        }
      });
    });
    req.on('error', (error) => (frames.length === count ? undefined : reject(error)));
    req.end();
  });
}

interface StatsJson {
  read: string;
  memory_stats: { usage?: number; limit?: number };
  cpu_stats: { cpu_usage: { total_usage: number }; system_cpu_usage?: number; online_cpus?: number };
  precpu_stats: { cpu_usage: { total_usage: number }; system_cpu_usage?: number };
  pids_stats: { current?: number };
  networks?: Record<string, { rx_bytes: number; tx_bytes: number; rx_packets: number; tx_packets: number }>;
}

test('docker stats: memory usage under the limit, network bytes that grow with a ping, a stream of frames, zeros for a stopped container', async () => {
  await daemon.ok('network', 'create', 'statsnet');
  await daemon.ok('run', '-d', '--name', 'peer', '--network', 'statsnet', 'busybox', 'sleep', '300');
  await daemon.ok('run', '-d', '--name', 'watched', '--network', 'statsnet', '--memory', '64m', 'busybox', 'sleep', '300');
  const row = (await daemon.ok('stats', '--no-stream', '--format', '{{.Name}}|{{.MemUsage}}|{{.NetIO}}|{{.PIDs}}', 'watched')).trim();
  const [name, memUsage, , pids] = row.split('|');
  assert.equal(name, 'watched');
  assert.match(memUsage!, /^[\d.]+(B|KiB|MiB) \/ 64MiB$/, row);
  assert.equal(pids, '1');

  const once = async () => JSON.parse((await daemon.http('GET', '/v1.41/containers/watched/stats?stream=false')).body) as StatsJson;
  const before = await once();
  assert.ok(before.memory_stats.usage! > 0 && before.memory_stats.usage! < 64 * 1024 * 1024, JSON.stringify(before.memory_stats));
  assert.equal(before.memory_stats.limit, 64 * 1024 * 1024);
  assert.ok(before.cpu_stats.cpu_usage.total_usage >= before.precpu_stats.cpu_usage.total_usage);
  assert.ok(before.cpu_stats.system_cpu_usage! > before.precpu_stats.system_cpu_usage!, 'a second passed between the two readings');
  assert.equal(before.cpu_stats.online_cpus, cpus().length);
  assert.ok(before.networks?.['eth0'] !== undefined, JSON.stringify(before.networks));
  await daemon.ok('exec', 'watched', 'ping', '-c', '3', '-s', '1000', 'peer');
  const afterPing = await once();
  assert.ok(afterPing.networks!['eth0']!.tx_bytes >= before.networks['eth0'].tx_bytes + 3000, JSON.stringify([before.networks, afterPing.networks]));
  assert.ok(afterPing.networks!['eth0']!.rx_bytes >= before.networks['eth0'].rx_bytes + 3000);

  const frames = (await streamFrames('watched', 2)) as unknown as StatsJson[];
  assert.equal(frames.length, 2);
  assert.ok(Date.parse(frames[1]!.read) > Date.parse(frames[0]!.read));
  assert.equal((frames[1] as unknown as { preread: string }).preread, frames[0]!.read);

  // The CLI's own streaming view of every running container (it runs until stopped): a row each, with the memory limit or the machine's memory.
  const streamed = await tryRun('timeout', ['3', 'docker', '-H', `unix://${daemon.socketPath}`, 'stats', '--format', '{{.Name}} {{.MemUsage}}']);
  assert.match(streamed.stdout, /watched [\d.]+(B|KiB|MiB) \/ 64MiB/, streamed.stdout + streamed.stderr);
  assert.match(streamed.stdout, /peer [\d.]+(B|KiB|MiB) \/ [\d.]+GiB/, streamed.stdout + streamed.stderr);

  await daemon.ok('stop', '-t', '1', 'watched');
  const stopped = JSON.parse((await daemon.http('GET', '/v1.41/containers/watched/stats?stream=false')).body) as StatsJson & { name: string };
  assert.equal(stopped.read, '0001-01-01T00:00:00Z');
  assert.deepEqual(stopped.memory_stats, {});
  assert.equal(stopped.name, '/watched');
  assert.match(await daemon.ok('stats', '--no-stream', 'watched'), /watched\s+0\.00%\s+0B \/ 0B/);
  await daemon.ok('rm', '-f', 'watched', 'peer');
  await daemon.ok('network', 'rm', 'statsnet');
});

/** An attach as clients send it (Connection: Upgrade) that the daemon refuses: its status and body. */
function upgradeRefusal(path: string): Promise<[number, string]> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: daemon.socketPath, method: 'POST', path, headers: { Connection: 'Upgrade', Upgrade: 'tcp' } }, (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => resolve([response.statusCode ?? 0, body]));
    });
    req.on('upgrade', (_response, socket) => {
      socket.destroy();
      reject(new Error(`${path} was upgraded`));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Lines the container has written to its log so far. */
const logLines = async (name: string) => (await daemon.ok('logs', name)).trim().split('\n').length;

test("docker pause stops the work inside and unpause resumes it; paused refusals are Docker's; a paused container stays paused across a daemon restart", async () => {
  await daemon.ok('run', '-d', '--name', 'ticker', 'busybox', 'sh', '-c', 'while true; do echo tick; sleep 0.1; done');
  while ((await logLines('ticker')) < 3) await sleep(100);
  const early = JSON.parse((await daemon.http('POST', '/v1.41/containers/ticker/exec', JSON.stringify({ Cmd: ['true'] }))).body) as { Id: string };
  await daemon.ok('pause', 'ticker');
  assert.equal(await inspect('{{.State.Status}} {{.State.Paused}} {{.State.Running}}', 'ticker'), 'paused true true');
  // An exec made before the pause does not start during it.
  const lateStart = await daemon.http('POST', `/v1.41/exec/${early.Id}/start`, JSON.stringify({ Detach: true }));
  assert.equal(lateStart.status, 409);
  assert.match(lateStart.body, /Container [0-9a-f]{64} is paused, unpause the container before exec/);
  assert.equal((await daemon.ok('ps', '--filter', 'status=paused', '--format', '{{.Names}}')).trim(), 'ticker');
  assert.match(await daemon.ok('info', '--format', '{{.ContainersPaused}}'), /^1$/m);
  assert.match(await daemon.ok('ps', '--filter', 'name=ticker', '--format', '{{.Status}}'), /^Up .* \(Paused\)$/m);
  const frozenAt = await logLines('ticker');
  await sleep(1000);
  assert.equal(await logLines('ticker'), frozenAt, 'no line is written while paused');

  assert.match((await daemon.docker('exec', 'ticker', 'true')).stderr, /Container ticker is paused, unpause the container before exec/);
  assert.match((await daemon.docker('pause', 'ticker')).stderr, /Container [0-9a-f]{64} is already paused/);
  assert.match(
    (await daemon.docker('rm', 'ticker')).stderr,
    /You cannot remove a paused container [0-9a-f]{64}\. Unpause and then stop the container before attempting removal or force remove/,
  );
  assert.match((await daemon.docker('start', 'ticker')).stderr, /cannot start a paused container, try unpause instead/);
  assert.match((await daemon.docker('attach', 'ticker')).stderr, /You cannot attach to a paused container, unpause it first/);
  assert.deepEqual(await upgradeRefusal('/v1.41/containers/ticker/attach?stream=1&stdout=1'), [
    409,
    JSON.stringify({ message: 'container ticker is paused, unpause the container before attach' }),
  ]);

  daemon = await daemon.restart();
  assert.equal(await inspect('{{.State.Status}} {{.State.Paused}}', 'ticker'), 'paused true');
  await daemon.ok('unpause', 'ticker');
  assert.equal(await inspect('{{.State.Status}} {{.State.Paused}}', 'ticker'), 'running false');
  while ((await logLines('ticker')) <= frozenAt) await sleep(100);
  assert.match((await daemon.docker('unpause', 'ticker')).stderr, /Container [0-9a-f]{64} is not paused/);

  // docker stop of a paused container ends it (the KILL thaws it), as Docker's: 137.
  await daemon.ok('pause', 'ticker');
  await daemon.ok('stop', '-t', '1', 'ticker');
  assert.equal(await inspect('{{.State.Status}} {{.State.Paused}} {{.State.ExitCode}}', 'ticker'), 'exited false 137');
  assert.match((await daemon.docker('pause', 'ticker')).stderr, /Container [0-9a-f]{64} is not running/);
  await daemon.ok('start', 'ticker');
  await daemon.ok('pause', 'ticker');
  await daemon.ok('rm', '-f', 'ticker');
  assert.equal((await daemon.ok('ps', '-a', '--format', '{{.Names}} {{.Status}}')).trim(), '');
});

test('docker-py: limits at create, a stats reading, pause and unpause, update_container', async () => {
  const script = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'test', 'helpers', 'docker-py-limits.py');
  const result = await tryRun('/usr/bin/python3', [script, `unix://${daemon.socketPath}`]);
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(JSON.parse(result.stdout), {
    created: { Memory: 64 * 1024 * 1024, MemorySwap: 128 * 1024 * 1024, NanoCpus: 500000000, PidsLimit: 20 },
    stats: { memory_limit: 64 * 1024 * 1024, pids: 1, has_precpu: true },
    paused: ['paused', true],
    unpaused: 'running',
    updated: { Memory: 100 * 1024 * 1024, MemorySwap: 200 * 1024 * 1024, CpuShares: 256 },
  });
});

test("bad limits get Docker 20.10's words and create nothing", async () => {
  const cpuCount = cpus().length;
  const cases: Array<[string[], string]> = [
    [['--memory', '1m'], 'Minimum memory limit allowed is 6MB'],
    [['--memory', '10m', '--memory-swap', '5m'], 'Minimum memoryswap limit should be larger than memory limit, see usage'],
    [['--memory-swap', '10m'], 'You should always set the Memory limit when using Memoryswap limit, see usage'],
    [['--memory-reservation', '1m'], 'Minimum memory reservation allowed is 6MB'],
    [['--memory', '10m', '--memory-reservation', '20m'], 'Minimum memory limit can not be less than memory reservation limit, see usage'],
    [['--cpus', String(cpuCount + 1)], `Range of CPUs is from 0.01 to ${cpuCount}.00, as there are only ${cpuCount} CPUs available`],
    [['--cpus', '0.5', '--cpu-quota', '1000'], 'Conflicting options: Nano CPUs and CPU Quota cannot both be set'],
    [['--cpu-period', '100'], 'CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)'],
    [['--cpu-quota', '100'], 'CPU cfs quota can not be less than 1ms (i.e. 1000)'],
    [['--cpuset-cpus', 'abc'], 'Invalid value abc for cpuset cpus: invalid format: abc'],
    [['--cpuset-cpus', '99'], 'Requested CPUs are not available - requested 99, available: '],
    [['--blkio-weight', '500'], 'skiff does not support HostConfig.BlkioWeight (--blkio-weight)'],
  ];
  for (const [args, message] of cases) {
    const result = await daemon.docker('run', '--rm', ...args, 'busybox', 'true');
    assert.notEqual(result.code, 0, args.join(' '));
    assert.ok(result.stderr.includes(message), `${args.join(' ')}: ${result.stderr}`);
  }
  assert.equal((await daemon.ok('ps', '-aq')).trim(), '');
});
