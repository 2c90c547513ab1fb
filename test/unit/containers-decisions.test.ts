/** The container controller's decisions without a kernel: ps filters, exec instances, waiting on signals. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { listContainers, type ListOptions } from '../../src/containers/filters.js';
import { ExecInstances } from '../../src/containers/exec.js';
import { ReaderCounts, Signals } from '../../src/containers/signals.js';
import { generateName } from '../../src/containers/decisions.js';
import { planSysctls, sysctlWriteError } from '../../src/containers/sysctls.js';
import { ContainerStartError } from '../../src/runtime/containers.js';
import { type ContainerRecord } from '../../src/model/container.js';
import { containerRecord as record } from '../helpers/records.js';

const records = [
  record('web', '2026-01-01T00:00:01Z', 'running', { 'com.docker.compose.project': 'p', 'com.docker.compose.service': 'web' }, ['front']),
  record('db', '2026-01-01T00:00:02Z', 'running', { 'com.docker.compose.project': 'p', 'com.docker.compose.service': 'db' }, ['back']),
  record('old', '2026-01-01T00:00:03Z', 'exited', { 'com.docker.compose.project': 'q' }),
  record('new', '2026-01-01T00:00:04Z', 'created'),
];
const context = {
  networksOf: (r: ContainerRecord) => Object.keys(r.networks).map((name) => ({ id: `${name}-id`, name })),
  imageIdOf: (reference: string) => (reference === 'busybox' ? 'sha256:x' : undefined),
  exposedPortsOf: (r: ContainerRecord) => (r.name === 'web' ? ['80/tcp'] : []),
};
const names = (options: Partial<ListOptions>) =>
  listContainers(records, { all: false, latest: false, limit: -1, filters: new Map(), ...options }, context).map((r) => r.name);

describe('docker ps', () => {
  it('shows running containers newest first; -a all of them; -l and -n the newest, stopped ones included', () => {
    assert.deepEqual(names({}), ['db', 'web']);
    assert.deepEqual(names({ all: true }), ['new', 'old', 'db', 'web']);
    assert.deepEqual(names({ latest: true }), ['new']);
    assert.deepEqual(names({ limit: 2 }), ['new', 'old']);
  });

  it("ORs the values of one key, ANDs keys, and needs every label (compose's project + service lookups)", () => {
    const filters = (entries: Array<[string, string[]]>) => new Map(entries);
    assert.deepEqual(names({ all: true, filters: filters([['name', ['web', 'db']]]) }), ['db', 'web']);
    assert.deepEqual(names({ all: true, filters: filters([['label', ['com.docker.compose.project=p', 'com.docker.compose.service=web']]]) }), ['web']);
    assert.deepEqual(
      names({
        all: true,
        filters: filters([
          ['label', ['com.docker.compose.project=p']],
          ['status', ['running']],
        ]),
      }),
      ['db', 'web'],
    );
    assert.deepEqual(names({ all: true, filters: filters([['network', ['back', 'front-id']]]) }), ['db', 'web']);
    assert.deepEqual(names({ all: true, filters: filters([['status', ['exited', 'created']]]) }), ['new', 'old']);
    assert.throws(() => names({ filters: filters([['colour', ['red']]]) }), /^SkiffError: Invalid filter 'colour'$/);
  });

  it("takes every filter key of Docker 20.10's docker ps, with its errors", () => {
    const filters = (entries: Array<[string, string[]]>) => new Map(entries);
    const byKey = (key: string, values: string[]) => names({ all: true, filters: filters([[key, values]]) });
    assert.deepEqual(byKey('ancestor', ['busybox']), ['new', 'old', 'db', 'web']);
    assert.deepEqual(byKey('ancestor', ['nosuch']), []);
    assert.deepEqual(byKey('before', ['old']), ['db', 'web']);
    assert.deepEqual(byKey('since', ['db']), ['new', 'old']);
    assert.deepEqual(byKey('exited', ['0']), ['old']);
    assert.deepEqual(byKey('expose', ['80']), ['web']);
    assert.deepEqual(byKey('expose', ['70-90/tcp']), ['web']);
    assert.deepEqual(byKey('expose', ['80/udp']), []);
    assert.deepEqual(byKey('publish', ['80']), []);
    assert.deepEqual(byKey('health', ['none']), ['new', 'old', 'db', 'web']);
    assert.deepEqual(byKey('health', ['healthy']), []);
    assert.deepEqual(byKey('is-task', ['true']), []);
    assert.deepEqual(byKey('is-task', ['false']).length, 4);
    assert.deepEqual(byKey('isolation', ['default']).length, 4);
    assert.deepEqual(byKey('volume', ['data']), []);
    assert.deepEqual(byKey('name', ['^/?w']), ['web']);
    assert.deepEqual(byKey('id', ['^db']), ['db']);
    // A status filter lists stopped containers without -a.
    assert.deepEqual(names({ filters: filters([['status', ['exited']]]) }), ['old']);
    assert.throws(() => byKey('status', ['bogus']), /^SkiffError: Invalid filter 'status=bogus'$/);
    assert.throws(() => byKey('health', ['x']), /^SkiffError: Unrecognised filter value for health: x$/);
    assert.throws(() => byKey('is-task', ['x']), /^SkiffError: Invalid filter 'is-task=\[x\]'$/);
    assert.throws(() => byKey('exited', ['x']), /strconv.Atoi: parsing "x": invalid syntax/);
    assert.throws(() => byKey('publish', ['x']), /error while looking up for publish x/);
    assert.throws(() => byKey('before', ['nosuch']), /no such container nosuch/);
  });
});

describe('exec instances', () => {
  it('are running until their process ends, then keep the exit code; a failed launch is 126; they go with their container', async () => {
    const execs = new ExecInstances();
    const spec = { args: ['true'], env: [], tty: false, attachStdin: false, workingDir: '' };
    const ok = execs.create('c1', spec);
    const failed = execs.create('c1', spec);
    let finish!: (code: number) => void;
    execs.track(
      ok,
      new Promise<number>((resolve) => {
        finish = resolve;
      }),
    );
    execs.track(failed, Promise.reject(new Error('no runc')));
    assert.equal(execs.get(ok.id).running, true);
    finish(3);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual([execs.get(ok.id).running, execs.get(ok.id).exitCode], [false, 3]);
    assert.equal(execs.get(failed.id).exitCode, 126);
    execs.forgetContainer('c1');
    assert.throws(() => execs.get(ok.id), /No such exec instance/);
  });
});

describe('signals', () => {
  it('wake every waiter of one container once, and a bounded wait ends by itself', async () => {
    const signals = new Signals();
    const woken: string[] = [];
    const a = signals.next('a').then(() => woken.push('a1'));
    const a2 = signals.next('a').then(() => woken.push('a2'));
    const b = signals.next('b', 20).then(() => woken.push('b timed out'));
    signals.notify('a');
    await Promise.all([a, a2, b]);
    assert.deepEqual(woken, ['a1', 'a2', 'b timed out']);
  });

  it('count readers until the last one is done', async () => {
    const readers = new ReaderCounts();
    const first = readers.track('c');
    const second = readers.track('c');
    let done = false;
    const all = readers.allDone('c', 5_000).then(() => {
      done = true;
    });
    first();
    first();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(done, false, 'one reader is still there (a second release of the first counts once)');
    second();
    await all;
    assert.equal(done, true);
    await readers.allDone('c', 5_000);
  });
});

describe('generated container names (dockerd generateNewName)', () => {
  const id = 'f3a9c2d41b7e00112233445566778899aabbccddeeff00112233445566778899';

  it('gives adjective_scientist, then a digit appended on the retries', () => {
    assert.match(
      generateName(() => false, id),
      /^[a-z]+_[a-z]+$/,
    );
    const tried: string[] = [];
    const name = generateName((candidate) => {
      tried.push(candidate);
      return tried.length < 3;
    }, id);
    assert.equal(tried.length, 3);
    assert.match(tried[0]!, /^[a-z]+_[a-z]+$/);
    assert.match(name, /^[a-z]+_[a-z]+[0-9]$/);
  });

  it('ends with the short id when every name it tries is taken (it used to loop for ever, hanging the daemon)', () => {
    let tries = 0;
    const name = generateName(() => {
      tries++;
      return true;
    }, id);
    assert.equal(name, 'f3a9c2d41b7e');
    assert.equal(tries, 6);
  });
});

describe('--sysctl, checked at start as runc checks it', () => {
  it('IPC and UTS ones go to the runtime, network ones to the daemon as paths, in order', () => {
    const plan = planSysctls(
      {
        'kernel.shmmax': '1000000',
        'fs.mqueue.msg_max': '20',
        'net.ipv6.conf.all.disable_ipv6': '0',
        'kernel.domainname': 'lan',
        'net.core.somaxconn': '1024',
      },
      'default',
    );
    assert.deepEqual(plan.runtime, { 'kernel.shmmax': '1000000', 'fs.mqueue.msg_max': '20', 'kernel.domainname': 'lan' });
    assert.deepEqual(plan.network, [
      { key: 'net/ipv6/conf/all/disable_ipv6', value: '0' },
      { key: 'net/core/somaxconn', value: '1024' },
    ]);
    assert.deepEqual(planSysctls({}, 'host'), { runtime: {}, network: [] });
    assert.deepEqual(planSysctls({ 'net.ipv4.ip_forward': '1' }, 'container:abc').network, [{ key: 'net/ipv4/ip_forward', value: '1' }]);
  });

  it("refuses with runc's words: net.* in the host's namespace, kernel.hostname, anything not namespaced", () => {
    const refusal = (sysctls: Record<string, string>, mode = 'default') => {
      try {
        planSysctls(sysctls, mode);
        return undefined;
      } catch (error) {
        assert.ok(error instanceof ContainerStartError);
        return [error.message, error.exitCode];
      }
    };
    assert.deepEqual(refusal({ 'net.ipv4.ip_forward': '1' }, 'host'), [
      'OCI runtime create failed: sysctl "net.ipv4.ip_forward" not allowed in host network namespace: unknown',
      128,
    ]);
    assert.deepEqual(refusal({ 'kernel.hostname': 'x' }), [
      'OCI runtime create failed: sysctl "kernel.hostname" is not allowed as it conflicts with the OCI "hostname" field: unknown',
      128,
    ]);
    assert.deepEqual(refusal({ 'kernel.panic': '1' }), [
      'OCI runtime create failed: sysctl "kernel.panic" is not in a separate kernel namespace: unknown',
      128,
    ]);
    assert.deepEqual(refusal({ 'net/ipv4/ip_forward': '1' }), [
      'OCI runtime create failed: sysctl "net/ipv4/ip_forward" is not in a separate kernel namespace: unknown',
      128,
    ]);
  });

  it("a write the kernel refused reads as runc's init error; no such key is exit code 127, as dockerd records it", () => {
    const missing = sysctlWriteError(new Error('open /proc/sys/net/ipv4/nosuch: No such file or directory'));
    assert.equal(
      missing.message,
      'OCI runtime create failed: unable to start container process: error during container init: open /proc/sys/net/ipv4/nosuch: no such file or directory: unknown',
    );
    assert.equal(missing.exitCode, 127);
    assert.equal(sysctlWriteError(new Error('write /proc/sys/net/core/somaxconn: Invalid argument')).exitCode, 128);
  });
});
