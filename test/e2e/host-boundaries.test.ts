/**
 * The host's boundaries, tried as an attacker would. skiff sets route_localnet
 * on its bridges so that the host's loopback reaches published ports; that
 * must not let a container (or a LAN neighbour) reach the host's
 * 127.0.0.1-only services (CVE-2020-8558), a port published on 127.0.0.1 only,
 * or a container's unpublished port. Each refusal is paired with a positive
 * control that shows the same path works where nothing blocks it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { assertInWorld, makeLinkedHost, makeNetns, scratchDir, tryRun, type NetnsHandle } from '../helpers/world.js';
import { importBusybox, startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { httpGet, inNetns, routeLoopbackVia, tcpAnswer } from '../helpers/traffic.js';

assertInWorld();

const SECRET = 'loopback-only-secret';
const SECRET_PORT = 7777;
const PAGE = 'hello-from-web';
const webCommand = ['sh', '-c', `mkdir -p /www && echo ${PAGE} > /www/index.html && exec httpd -f -p 80 -h /www`];

let daemon: TestDaemon;
let scratch: { path: string; remove: () => void };
/** The world's own service on 127.0.0.1 (and one on ::1): what nobody outside the host may reach. */
let loopbackService: net.Server;
let loopbackService6: net.Server;

function listen(server: net.Server, port: number, address: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, () => resolve());
  });
}

before(async () => {
  scratch = scratchDir('skiff-boundaries-');
  loopbackService = net.createServer((socket) => socket.end(`${SECRET}\n`));
  loopbackService6 = net.createServer((socket) => socket.end(`${SECRET}\n`));
  await listen(loopbackService, SECRET_PORT, '127.0.0.1');
  await listen(loopbackService6, SECRET_PORT, '::1');
  daemon = await startDaemon();
  await importBusybox(daemon);
});

after(async () => {
  await daemon.cleanup();
  loopbackService.close();
  loopbackService6.close();
  scratch.remove();
});

/** A host of its own (no skiff table) with a bare Linux bridge, route_localnet=1 on it, one "container" on it, and its own loopback service. */
async function bareBridgeHost(): Promise<{ victim: NetnsHandle; remove: () => Promise<void> }> {
  const host = await makeNetns(scratch.path, 'barehost');
  const victim = await makeNetns(scratch.path, 'victim');
  const steps: string[][] = [
    ['ip', 'link', 'add', 'br-bare', 'type', 'bridge'],
    ['ip', 'addr', 'add', '10.77.0.1/24', 'dev', 'br-bare'],
    ['ip', 'addr', 'add', 'fd77::1/64', 'dev', 'br-bare', 'nodad'],
    ['ip', 'link', 'set', 'br-bare', 'up'],
    ['sysctl', '-qw', 'net.ipv4.conf.br-bare.route_localnet=1'],
    ['ip', 'addr', 'add', 'fd99::1/128', 'dev', 'lo'],
    ['ip', 'link', 'add', 'veth-victim', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', victim.path],
    ['ip', 'link', 'set', 'veth-victim', 'master', 'br-bare', 'up'],
  ];
  for (const step of steps) await host.exec(step[0]!, step.slice(1));
  await victim.exec('ip', ['addr', 'add', '10.77.0.2/24', 'dev', 'eth0']);
  await victim.exec('ip', ['addr', 'add', 'fd77::2/64', 'dev', 'eth0', 'nodad']);
  await victim.exec('ip', ['link', 'set', 'eth0', 'up']);
  // The bare host's loopback service, on 127.0.0.1, ::1 and fd99::1 (an address on its lo that is routable).
  const service = `const net=require('net');let n=0;for(const a of ['127.0.0.1','::1','fd99::1'])net.createServer(s=>s.end('${SECRET}\\n')).listen(${SECRET_PORT},a,()=>{if(++n===3)console.log('ready')})`;
  const server: ChildProcess = spawn('nsenter', [`--net=${host.path}`, '--', process.execPath, '-e', service], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    server.stdout!.once('data', () => resolve());
    server.once('exit', (code) => reject(new Error(`bare host's service exited with ${code}`)));
  });
  return {
    victim,
    remove: async () => {
      server.kill('SIGKILL');
      await victim.remove();
      await host.remove();
    },
  };
}

async function containerNetns(name: string): Promise<{ netns: ReturnType<typeof inNetns>; gateway: string; gateway6: string; address: string }> {
  const format = '{{.State.Pid}} {{range .NetworkSettings.Networks}}{{.Gateway}} {{.IPv6Gateway}} {{.IPAddress}}{{end}}';
  const [pid, gateway, gateway6, address] = (await daemon.ok('inspect', '-f', format, name)).trim().split(' ') as [string, string, string, string];
  return { netns: inNetns(`/proc/${pid}/ns/net`), gateway, gateway6, address };
}

describe("a container and the host's loopback", () => {
  it("reaches the host's 127.0.0.1-only service through a bare route_localnet bridge (control), never through skiff's", async () => {
    // Positive control: the attack works where route_localnet is set and nothing guards it.
    const bare = await bareBridgeHost();
    try {
      await routeLoopbackVia(bare.victim, 'eth0', '10.77.0.1');
      assert.match(await tcpAnswer(bare.victim, '127.0.0.1', SECRET_PORT), new RegExp(SECRET), 'the attack itself works against a bare bridge');
    } finally {
      await bare.remove();
    }

    await daemon.ok('network', 'create', 'un');
    await daemon.ok('run', '-d', '--name', 'on-default', 'busybox', 'sleep', '300');
    await daemon.ok('run', '-d', '--name', 'on-user', '--network', 'un', 'busybox', 'sleep', '300');
    for (const name of ['on-default', 'on-user']) {
      const container = await containerNetns(name);
      await routeLoopbackVia(container.netns, 'eth0', container.gateway);
      assert.equal(await tcpAnswer(container.netns, '127.0.0.1', SECRET_PORT), '', `${name} gets no answer from the host's 127.0.0.1:${SECRET_PORT}`);
      // The host itself still reaches the container (the path is not simply broken).
      assert.equal((await tryRun('ping', ['-c', '1', '-W', '2', container.address])).code, 0, `the host reaches ${name}`);
    }
    // diagnose names the guard; with it flushed by hand the hole is back, diagnose says so, a restart restores it.
    assert.equal((await daemon.skiff('network', 'diagnose', 'un')).code, 0);
    await tryRun('nft', ['flush', 'chain', 'inet', 'skiff', 'input']);
    const broken = await daemon.skiff('network', 'diagnose', 'un');
    assert.equal(broken.code, 1);
    assert.match(broken.stdout, /^FAIL {2}nft skiff input drops new connections to 127\.0\.0\.0\/8/m);
    daemon = await daemon.restart();
    const repaired = await daemon.skiff('network', 'diagnose', 'un');
    assert.equal(repaired.code, 0, repaired.stdout);
    const again = await containerNetns('on-user');
    assert.equal(await tcpAnswer(again.netns, '127.0.0.1', SECRET_PORT), '', 'after the restart the guard holds again');
    await daemon.ok('rm', '-f', 'on-default', 'on-user');
    await daemon.ok('network', 'rm', 'un');
  });

  it("never reaches the host's ::1: the kernel drops it on any interface but lo (no IPv6 route_localnet exists)", async () => {
    const bare = await bareBridgeHost();
    try {
      const ipv6Loopback = async (netns: Pick<NetnsHandle, 'tryExec'>, gateway: string) => {
        await netns.tryExec('ip', ['-6', 'route', 'del', 'table', 'local', 'local', '::1', 'dev', 'lo']);
        const added = await netns.tryExec('ip', ['-6', 'route', 'add', '::1/128', 'via', gateway, 'dev', 'eth0']);
        assert.equal(added.code, 0, added.stderr);
      };
      // Control: the same route trick reaches an address on the bare host's lo that is not loopback.
      assert.equal((await bare.victim.tryExec('ip', ['-6', 'route', 'add', 'fd99::1/128', 'via', 'fd77::1', 'dev', 'eth0'])).code, 0);
      assert.match(await tcpAnswer(bare.victim, 'fd99::1', SECRET_PORT), new RegExp(SECRET), "a service on the bare host's lo answers through the bridge");
      await ipv6Loopback(bare.victim, 'fd77::1');
      assert.equal(await tcpAnswer(bare.victim, '::1', SECRET_PORT), '', 'a bare host drops ::1 from its bridge without any firewall');

      await daemon.ok('network', 'create', '--ipv6', '--subnet', 'fd55::/64', 'six');
      await daemon.ok('run', '-d', '--name', 'on-six', '--network', 'six', 'busybox', 'sleep', '300');
      const container = await containerNetns('on-six');
      await ipv6Loopback(container.netns, container.gateway6);
      assert.equal(await tcpAnswer(container.netns, '::1', SECRET_PORT), '', "a container gets no answer from the host's ::1");
    } finally {
      await bare.remove();
      await daemon.docker('rm', '-f', 'on-six');
      await daemon.docker('network', 'rm', 'six');
    }
  });
});

describe('published ports and a LAN neighbour', () => {
  let lan: NetnsHandle;

  before(async () => {
    lan = await makeLinkedHost(scratch.path, 'lan', '192.168.77.1', '192.168.77.2');
  });
  after(async () => {
    await lan.remove();
  });

  it('the host reaches ports published on 127.0.0.1 and 0.0.0.0; a neighbour reaches only the 0.0.0.0 one, and no unpublished port', async () => {
    await daemon.ok('run', '-d', '--name', 'local-web', '-p', '127.0.0.1:8081:80', '-p', '8082:80', 'busybox', ...webCommand);
    let page = '';
    for (let attempt = 0; attempt < 30 && !page.includes(PAGE); attempt++) {
      page = await httpGet('127.0.0.1', 8081);
      if (!page.includes(PAGE)) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.match(page, new RegExp(PAGE), 'the host reaches 127.0.0.1:8081');
    assert.match(await httpGet('127.0.0.1', 8082), new RegExp(PAGE), 'the host reaches 127.0.0.1:8082');
    assert.match(await httpGet('192.168.77.1', 8082, lan), new RegExp(PAGE), 'the neighbour reaches the port published on 0.0.0.0');

    const { address } = await containerNetns('local-web');
    assert.match(await httpGet(address, 80), new RegExp(PAGE), "the container's port 80 answers the host itself");
    await lan.exec('ip', ['route', 'add', '172.17.0.0/16', 'via', '192.168.77.1']);
    assert.doesNotMatch(await httpGet(address, 80, lan), new RegExp(PAGE), 'a neighbour routing to the bridge subnet does not reach an unpublished port');

    await routeLoopbackVia(lan, 'eth0', '192.168.77.1');
    assert.equal(await tcpAnswer(lan, '127.0.0.1', 8081), '', 'a neighbour routing 127.0.0.1 via the host does not reach a port published on 127.0.0.1');
    assert.equal(await tcpAnswer(lan, '127.0.0.1', SECRET_PORT), '', "nor the host's own loopback service");
    await daemon.ok('rm', '-f', 'local-web');
  });
});
