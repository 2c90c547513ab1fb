/**
 * The API socket as a boundary: the unix socket is 0660 root:docker (root
 * alone where no docker group exists); -H tcp:// is served only with mutual
 * TLS (certificates made here with openssl) and refused, naming what is
 * missing, without it; a container never sees the daemon's socket.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:tls';
import { connect as connectTcp } from 'node:net';
import { join } from 'node:path';
import { assertInWorld, scratchDir, sh, tryRun } from '../helpers/world.js';
import { importBusybox, skiffBin, startDaemon, type TestDaemon } from '../helpers/daemon.js';

assertInWorld();

const PORT = 23760;
const pki = scratchDir('skiff-pki-');
const file = (name: string) => join(pki.path, name);

async function makeCa(name: string): Promise<void> {
  await sh('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    `/CN=${name}`,
    '-keyout',
    file(`${name}-key.pem`),
    '-out',
    file(`${name}.pem`),
  ]);
}

/** A certificate for name signed by ca, with the X.509 extensions given (one per line). */
async function makeSigned(ca: string, name: string, extensions: string): Promise<void> {
  writeFileSync(file(`${name}.ext`), extensions);
  await sh('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${name}`, '-keyout', file(`${name}-key.pem`), '-out', file(`${name}.csr`)]);
  await sh('openssl', [
    'x509',
    '-req',
    '-in',
    file(`${name}.csr`),
    '-CA',
    file(`${ca}.pem`),
    '-CAkey',
    file(`${ca}-key.pem`),
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    file(`${name}.ext`),
    '-out',
    file(`${name}.pem`),
  ]);
}

const tlsFlags = () => ['--tlsverify', '--tlscacert', file('ca.pem'), '--tlscert', file('server.pem'), '--tlskey', file('server-key.pem')];

let daemon: TestDaemon;

before(async () => {
  await makeCa('ca');
  await makeCa('rogue-ca');
  await makeSigned('ca', 'server', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  await makeSigned('ca', 'client', 'extendedKeyUsage=clientAuth\n');
  await makeSigned('rogue-ca', 'rogue', 'extendedKeyUsage=clientAuth\n');
  daemon = await startDaemon({ extraArgs: ['-H', `tcp://127.0.0.1:${PORT}`, ...tlsFlags()] });
  await importBusybox(daemon);
});
after(async () => {
  await daemon.cleanup();
  pki.remove();
});

/** The stock docker CLI over TCP with these client flags (no DOCKER_HOST from the test's environment). */
function dockerTcp(clientFlags: string[], ...args: string[]) {
  const env = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: pki.path };
  return tryRun('docker', ['-H', `tcp://127.0.0.1:${PORT}`, ...clientFlags, ...args], env);
}

/** A TLS handshake with these client credentials: 'ok', or the error that ended it. */
function handshake(options: { cert?: Buffer; key?: Buffer }): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port: PORT, ca: readFileSync(file('ca.pem')), ...options }, () => {
      // TLS 1.3 reports a refused client certificate after the handshake, on the first read.
      socket.write('GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    });
    let reply = '';
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString();
    });
    socket.on('error', (error) => resolve(error.message));
    socket.on('close', () => resolve(reply.startsWith('HTTP/1.1 200 ') ? 'ok' : `closed: ${reply.split('\r\n')[0] ?? ''}`));
  });
}

describe('-H tcp:// with mutual TLS', () => {
  it('serves the stock docker CLI with a client certificate signed by the CA', async () => {
    const client = ['--tlsverify', '--tlscacert', file('ca.pem'), '--tlscert', file('client.pem'), '--tlskey', file('client-key.pem')];
    const version = await dockerTcp(client, 'version', '--format', '{{.Server.Version}}');
    assert.equal(version.code, 0, version.stderr);
    assert.equal((await dockerTcp(client, 'network', 'create', 'over-tls')).code, 0);
    assert.match((await dockerTcp(client, 'network', 'ls', '--format', '{{.Name}}')).stdout, /^over-tls$/m);
    assert.equal((await dockerTcp(client, 'network', 'rm', 'over-tls')).code, 0);
    assert.equal(await handshake({ cert: readFileSync(file('client.pem')), key: readFileSync(file('client-key.pem')) }), 'ok');
  });

  it('refuses a client without a certificate, with one from another CA, and plain HTTP', async () => {
    assert.notEqual(await handshake({}), 'ok', 'no client certificate');
    assert.notEqual(
      await handshake({ cert: readFileSync(file('rogue.pem')), key: readFileSync(file('rogue-key.pem')) }),
      'ok',
      'a certificate from another CA',
    );
    const noCert = await dockerTcp(['--tlsverify', '--tlscacert', file('ca.pem')], 'version');
    assert.notEqual(noCert.code, 0);
    assert.doesNotMatch(noCert.stdout, /Server:/);
    const plain = await dockerTcp([], 'network', 'ls');
    assert.notEqual(plain.code, 0, 'plain HTTP gets no API');
    const raw = await new Promise<string>((resolve) => {
      const socket = connectTcp(PORT, '127.0.0.1', () => socket.end('GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n'));
      let reply = '';
      socket.on('data', (chunk: Buffer) => {
        reply += chunk.toString('latin1');
      });
      socket.on('error', () => resolve(reply));
      socket.on('close', () => resolve(reply));
    });
    assert.doesNotMatch(raw, /^HTTP\/1\.1 200 /, 'plain HTTP gets no /_ping answer');
    assert.equal((await daemon.http('GET', '/_ping')).body, 'OK', 'the daemon still serves');
  });

  it('refuses to start without mutual TLS, naming what is missing, before it touches anything', async () => {
    const cases: Array<[string[], RegExp]> = [
      [[], /tcp:\/\/127\.0\.0\.1:23761: skiff serves its API over TCP only with mutual TLS, and --tlsverify, --tlscacert, --tlscert, --tlskey are missing/],
      [['--tls', '--tlscert', file('server.pem'), '--tlskey', file('server-key.pem')], /and --tlsverify, --tlscacert are missing/],
      [
        ['--tlsverify', '--tlscacert', file('nope.pem'), '--tlscert', file('server.pem'), '--tlskey', file('server-key.pem')],
        /Could not read CA certificate ".*nope\.pem": ENOENT/,
      ],
      [
        ['--tlsverify', '--tlscacert', file('ca.pem'), '--tlscert', file('server.pem'), '--tlskey', file('client-key.pem')],
        /do not make a usable TLS setup: .*key values mismatch/,
      ],
    ];
    const linksBefore = await sh('ip', ['-o', 'link', 'show']);
    for (const [flags, message] of cases) {
      const result = await tryRun(process.execPath, [
        skiffBin,
        'daemon',
        '-H',
        'tcp://127.0.0.1:23761',
        '--config-file',
        daemon.configPath,
        '--data-root',
        join(daemon.dir, 'refused-data'),
        '--exec-root',
        join(daemon.dir, 'refused-exec'),
        ...flags,
      ]);
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, message);
    }
    assert.equal(await sh('ip', ['-o', 'link', 'show']), linksBefore, 'no link made');
    assert.equal((await tryRun('ls', [join(daemon.dir, 'refused-data')])).code, 2, 'no data root made');
  });
});

describe('the unix socket', () => {
  it('is 0660, owned by root and group docker (root where there is none)', () => {
    const stat = statSync(daemon.socketPath);
    assert.equal(stat.mode & 0o777, 0o660);
    assert.equal(stat.uid, 0);
    const docker = readFileSync('/etc/group', 'utf8')
      .split('\n')
      .find((line) => line.startsWith('docker:'));
    assert.equal(stat.gid, docker === undefined ? 0 : Number(docker.split(':')[2]));
  });

  it('is not seen from a container unless mounted', async () => {
    const inside = await daemon.docker('run', '--rm', 'busybox', 'sh', '-c', `ls -la ${daemon.socketPath} ${daemon.dir}; cat /proc/mounts`);
    assert.doesNotMatch(inside.stdout, /skiff\.sock/);
    assert.match(inside.stderr + inside.stdout, /No such file or directory/);
  });
});
