/**
 * The seeds' walkthroughs with the stock docker CLI against skiff, a busybox
 * image in place of alpine: the default bridge, the alpine-net walkthrough,
 * live connect/disconnect, network rm refused while attached.
 */
import { test } from 'node:test';
import { readFileSync } from 'node:fs';
import assert from 'node:assert/strict';
import { assertInWorld, sh, worldLinks } from '../helpers/world.js';
import { busyboxDaemonForFile } from '../helpers/daemon.js';

assertInWorld();

const daemon = busyboxDaemonForFile();

async function pings(from: string, target: string): Promise<{ reached: boolean; output: string }> {
  const result = await daemon.docker('exec', from, 'ping', '-c', '1', '-W', '1', target);
  return { reached: result.code === 0, output: result.stdout + result.stderr };
}

const ipOf = async (name: string, network: string) =>
  (await daemon.ok('inspect', '-f', `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`, name)).trim();

test('default bridge: containers reach each other by address, not by name', async () => {
  await daemon.ok('run', '-dit', '--name', 'alpine1', 'busybox', 'ash');
  await daemon.ok('run', '-dit', '--name', 'alpine2', 'busybox', 'ash');
  const [bridge] = JSON.parse(await daemon.ok('network', 'inspect', 'bridge')) as Array<{
    Containers: Record<string, { Name: string; IPv4Address: string; MacAddress: string }>;
  }>;
  const members = Object.values(bridge!.Containers).sort((a, b) => a.Name.localeCompare(b.Name));
  assert.deepEqual(
    members.map((m) => [m.Name, m.IPv4Address, m.MacAddress]),
    [
      ['alpine1', '172.17.0.2/16', '02:42:ac:11:00:02'],
      ['alpine2', '172.17.0.3/16', '02:42:ac:11:00:03'],
    ],
  );
  const addr = await daemon.ok('exec', 'alpine1', 'ip', 'addr', 'show', 'eth0');
  assert.match(addr, /inet 172\.17\.0\.2\/16/);
  assert.ok((await pings('alpine1', '172.17.0.3')).reached);
  const byName = await pings('alpine1', 'alpine2');
  assert.equal(byName.reached, false);
  assert.match(byName.output, /bad address 'alpine2'/);
  await daemon.ok('container', 'stop', '-t', '1', 'alpine1', 'alpine2');
  await daemon.ok('container', 'rm', 'alpine1', 'alpine2');
});

test('the alpine-net walkthrough: names on user networks, isolation, a container on two networks', async () => {
  await daemon.ok('network', 'create', '--driver', 'bridge', 'alpine-net');
  await daemon.ok('run', '-dit', '--name', 'alpine1', '--network', 'alpine-net', 'busybox', 'ash');
  await daemon.ok('run', '-dit', '--name', 'alpine2', '--network', 'alpine-net', 'busybox', 'ash');
  await daemon.ok('run', '-dit', '--name', 'alpine3', 'busybox', 'ash');
  await daemon.ok('run', '-dit', '--name', 'alpine4', '--network', 'alpine-net', 'busybox', 'ash');
  await daemon.ok('network', 'connect', 'bridge', 'alpine4');
  const [net] = JSON.parse(await daemon.ok('network', 'inspect', 'alpine-net')) as Array<{ Containers: Record<string, { Name: string }> }>;
  assert.deepEqual(
    Object.values(net!.Containers)
      .map((c) => c.Name)
      .sort(),
    ['alpine1', 'alpine2', 'alpine4'],
  );
  const resolv = await daemon.ok('exec', 'alpine1', 'cat', '/etc/resolv.conf');
  assert.match(resolv, /^nameserver 127\.0\.0\.11$/m);
  assert.match(resolv, /^options ndots:0$/m);
  assert.ok((await pings('alpine1', 'alpine2')).reached, 'alpine1 → alpine2 by name');
  assert.ok((await pings('alpine1', 'alpine4')).reached, 'alpine1 → alpine4 by name');
  const noName = await pings('alpine1', 'alpine3');
  assert.equal(noName.reached, false);
  assert.match(noName.output, /bad address 'alpine3'/);
  const alpine3 = await ipOf('alpine3', 'bridge');
  assert.equal((await pings('alpine1', alpine3)).reached, false, 'alpine1 cannot reach alpine3 by address');
  assert.ok((await pings('alpine4', 'alpine1')).reached, 'alpine4 → alpine1 by name');
  assert.ok((await pings('alpine4', alpine3)).reached, 'alpine4 → alpine3 by address on the default bridge');
  const removal = await daemon.docker('network', 'rm', 'alpine-net');
  assert.equal(removal.code, 1);
  assert.match(removal.stderr, /has active endpoints/);
  // Live disconnect: the interface goes away and the name stops resolving from alpine4.
  await daemon.ok('network', 'disconnect', 'alpine-net', 'alpine4');
  const links = await daemon.ok('exec', 'alpine4', 'ip', '-o', 'link');
  assert.doesNotMatch(links, /eth0@/);
  assert.equal((await pings('alpine4', await ipOf('alpine1', 'alpine-net'))).reached, false);
  await daemon.ok('network', 'connect', '--alias', 'four', 'alpine-net', 'alpine4');
  assert.ok((await pings('alpine1', 'four')).reached, 'alias resolves after a live connect');
  await daemon.ok('rm', '-f', 'alpine1', 'alpine2', 'alpine3', 'alpine4');
  await daemon.ok('network', 'rm', 'alpine-net');
  assert.deepEqual(
    (await worldLinks()).filter((link) => link.startsWith('veth')),
    [],
    'no veth left',
  );
});

test('--subnet, --gateway and --ip: the container gets the address asked for; bad ones change nothing', async () => {
  await daemon.ok('network', 'create', '--subnet', '172.28.0.0/16', '--gateway', '172.28.5.254', 'fixed');
  await daemon.ok('run', '-d', '--name', 'pinned', '--network', 'fixed', '--ip', '172.28.5.10', 'busybox', 'sleep', '300');
  assert.equal(await ipOf('pinned', 'fixed'), '172.28.5.10');
  const inspect = JSON.parse(await daemon.ok('inspect', 'pinned')) as Array<{
    NetworkSettings: { Networks: Record<string, { Gateway: string; IPPrefixLen: number; MacAddress: string }> };
  }>;
  assert.deepEqual((({ Gateway, IPPrefixLen, MacAddress }) => ({ Gateway, IPPrefixLen, MacAddress }))(inspect[0]!.NetworkSettings.Networks['fixed']!), {
    Gateway: '172.28.5.254',
    IPPrefixLen: 16,
    MacAddress: '02:42:ac:1c:05:0a',
  });
  const route = await daemon.ok('exec', 'pinned', 'ip', 'route');
  assert.match(route, /default via 172\.28\.5\.254/);
  const vethsBefore = (await worldLinks()).filter((link) => link.startsWith('veth')).length;
  const psBefore = await daemon.ok('ps', '-aq');
  const taken = await daemon.docker('run', '-d', '--name', 'clash', '--network', 'fixed', '--ip', '172.28.5.10', 'busybox', 'sleep', '300');
  assert.notEqual(taken.code, 0);
  assert.match(taken.stderr, /Address already in use/);
  await daemon.ok('rm', 'clash');
  const outside = await daemon.docker('run', '--network', 'fixed', '--ip', '10.0.0.1', 'busybox', 'true');
  assert.notEqual(outside.code, 0);
  assert.match(outside.stderr, /does not belong to any of this network's subnets/);
  const bridgeIp = await daemon.docker('run', '--ip', '172.17.0.50', 'busybox', 'true');
  assert.notEqual(bridgeIp.code, 0);
  assert.match(bridgeIp.stderr, /user specified IP address is supported on user defined networks only/);
  for (const id of (await daemon.ok('ps', '-aq', '--filter', 'status=created')).split('\n').filter(Boolean)) await daemon.ok('rm', id);
  assert.equal(await daemon.ok('ps', '-aq'), psBefore);
  assert.equal((await worldLinks()).filter((link) => link.startsWith('veth')).length, vethsBefore, 'no veth from the refused runs');
  await daemon.ok('rm', '-f', 'pinned');
  await daemon.ok('network', 'rm', 'fixed');
});

test('host, none and container: network modes', async () => {
  const none = await daemon.ok('run', '--rm', '--network', 'none', 'busybox', 'ip', '-o', 'link');
  assert.deepEqual(
    none
      .trim()
      .split('\n')
      .map((line) => line.split(':')[1]!.trim()),
    ['lo'],
  );
  const host = await daemon.ok('run', '--rm', '--network', 'host', 'busybox', 'ip', '-o', 'link');
  assert.match(host, /skiff0/, "host mode sees the host's interfaces");
  await daemon.ok('run', '-d', '--name', 'httpd3', 'busybox', 'httpd', '-f', '-p', '8080', '-h', '/etc');
  const joined = await daemon.ok('run', '--rm', '--network', 'container:httpd3', 'busybox', 'wget', '-qO-', 'http://127.0.0.1:8080/hostname');
  const httpdId = (await daemon.ok('inspect', '-f', '{{.Id}}', 'httpd3')).trim();
  assert.equal(joined.trim(), httpdId.slice(0, 12), "container: mode reaches the other container's loopback");
  const sameAddress = await daemon.ok('run', '--rm', '--network', 'container:httpd3', 'busybox', 'ip', '-o', '-4', 'addr', 'show', 'eth0');
  assert.match(sameAddress, new RegExp((await ipOf('httpd3', 'bridge')).replaceAll('.', '\\.')));
  const hostIp = await daemon.docker('run', '--network', 'host', '--ip', '1.2.3.4', 'busybox', 'true');
  assert.notEqual(hostIp.code, 0);
  await daemon.ok('stop', '-t', '1', 'httpd3');
  const stopped = await daemon.docker('run', '--rm', '--network', 'container:httpd3', 'busybox', 'true');
  assert.notEqual(stopped.code, 0);
  assert.match(stopped.stderr, /cannot join network of a non running container/);
  const connectNone = await daemon.docker('run', '-d', '--name', 'isolated', '--network', 'none', 'busybox', 'sleep', '300');
  assert.equal(connectNone.code, 0);
  const refused = await daemon.docker('network', 'connect', 'bridge', 'isolated');
  assert.notEqual(refused.code, 0);
  await daemon.ok('rm', '-f', 'httpd3', 'isolated');
  for (const id of (await daemon.ok('ps', '-aq')).split('\n').filter(Boolean)) await daemon.ok('rm', '-f', id);
});

test('run in the foreground streams output and returns the exit code; exec and logs too', async () => {
  assert.equal((await daemon.ok('run', '--rm', 'busybox', 'echo', 'hello from skiff')).trim(), 'hello from skiff');
  const failed = await daemon.docker('run', '--rm', 'busybox', 'sh', '-c', 'exit 3');
  assert.equal(failed.code, 3);
  await daemon.ok('run', '-d', '--name', 'talker', 'busybox', 'sh', '-c', 'echo one; echo two >&2; sleep 300');
  const exec = await daemon.docker('exec', 'talker', 'sh', '-c', 'echo inside; exit 7');
  assert.equal(exec.code, 7);
  assert.equal(exec.stdout.trim(), 'inside');
  for (let attempt = 0; attempt < 50; attempt++) {
    const logs = await daemon.docker('logs', 'talker');
    if (logs.stdout.includes('one') && logs.stderr.includes('two')) break;
    assert.ok(attempt < 49, 'logs show stdout and stderr');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const missing = await daemon.docker('exec', 'nosuch', 'true');
  assert.match(missing.stderr, /No such container: nosuch/);
  const conflict = await daemon.docker('run', '--name', 'talker', 'busybox', 'true');
  assert.match(conflict.stderr, /Conflict\. The container name "\/talker" is already in use by container/);
  const running = await daemon.docker('rm', 'talker');
  assert.match(running.stderr, /You cannot remove a running container/);
  await daemon.ok('rm', '-f', 'talker');
  const unknownNetwork = await daemon.docker('run', '--network', 'nosuchnet', 'busybox', 'true');
  assert.match(unknownNetwork.stderr, /network nosuchnet not found/);
  for (const id of (await daemon.ok('ps', '-aq')).split('\n').filter(Boolean)) await daemon.ok('rm', '-f', id);
});

test('--ipv6 networks: --ip6, IPv6 reachability and AAAA answers', async () => {
  await daemon.ok('network', 'create', '--ipv6', '--subnet', 'fd00:1::/64', '--subnet', '10.60.0.0/24', 'v6net');
  await daemon.ok('run', '-d', '--name', 'six1', '--network', 'v6net', '--ip6', 'fd00:1::10', 'busybox', 'sleep', '300');
  await daemon.ok('run', '-d', '--name', 'six2', '--network', 'v6net', 'busybox', 'sleep', '300');
  const [network] = JSON.parse(await daemon.ok('inspect', '-f', '{{json .NetworkSettings.Networks}}', 'six1').then((text) => `[${text}]`)) as Array<
    Record<string, { GlobalIPv6Address: string; IPv6Gateway: string; IPAddress: string }>
  >;
  assert.equal(network!['v6net']!.GlobalIPv6Address, 'fd00:1::10');
  assert.equal(network!['v6net']!.IPv6Gateway, 'fd00:1::1');
  assert.match(network!['v6net']!.IPAddress, /^10\.60\.0\.\d+$/);
  assert.equal((await daemon.docker('exec', 'six2', 'ping', '-6', '-c', '1', '-W', '2', 'fd00:1::10')).code, 0);
  assert.match(await daemon.ok('exec', 'six2', 'nslookup', '-type=AAAA', 'six1'), /Address: fd00:1::10/);
  await daemon.ok('rm', '-f', 'six1', 'six2');
  await daemon.ok('network', 'rm', 'v6net');
});

/** disable_ipv6 of all, default, lo and each ethN inside a container, and its IPv6 addresses, as `key=value` words. */
async function ipv6State(container: string): Promise<string> {
  const script =
    'cd /proc/sys/net/ipv6/conf; for i in all default lo eth*; do [ -e $i ] && printf "%s=%s " $i $(cat $i/disable_ipv6); done; ip -6 -o addr | while read n i f a r; do printf "%s:%s " $i $a; done';
  return (await daemon.ok('exec', container, 'sh', '-c', script)).trim();
}

test('IPv6 inside a container only on an interface with an IPv6 address, and lo with it (as dockerd 20.10 shows)', async () => {
  await daemon.ok('network', 'create', 'four');
  await daemon.ok('network', 'create', '--ipv6', '--subnet', 'fd00:6::/64', 'sixnet');
  await daemon.ok('run', '-d', '--name', 'v4only', '--network', 'four', 'busybox', 'sleep', '300');
  // No address of the kernel's making either: an interface without IPv6 sends no probes or reports for the bridge to flood.
  assert.equal(await ipv6State('v4only'), 'all=1 default=1 lo=1 eth0=1');
  await daemon.ok('network', 'connect', 'sixnet', 'v4only');
  assert.match(await ipv6State('v4only'), /^all=1 default=1 lo=0 eth0=1 eth1=0 lo:::1\/128 eth1:fd00:6::2\/64 eth1:fe80::[0-9a-f:]+\/64$/);
  await daemon.ok('network', 'disconnect', 'sixnet', 'v4only');
  assert.equal(await ipv6State('v4only'), 'all=1 default=1 lo=1 eth0=1');
  await daemon.ok('run', '-d', '--name', 'v6first', '--network', 'sixnet', 'busybox', 'sleep', '300');
  await daemon.ok('network', 'connect', 'four', 'v6first');
  assert.match(await ipv6State('v6first'), /^all=1 default=1 lo=0 eth0=0 eth1=1 lo:::1\/128 eth0:fd00:6::\d\/64 eth0:fe80::[0-9a-f:]+\/64$/);
  await daemon.ok('run', '-d', '--name', 'alone', '--network', 'none', 'busybox', 'sleep', '300');
  assert.equal(await ipv6State('alone'), 'all=1 default=1 lo=1');
  // The host ends on the bridge have no IPv6 address of their own.
  const hostEnds = (await worldLinks()).filter((link) => link.startsWith('veth'));
  assert.ok(hostEnds.length >= 2);
  for (const link of hostEnds) assert.equal((await sh('ip', ['-6', '-o', 'addr', 'show', 'dev', link])).trim(), '', `${link} has no IPv6 address`);
  await daemon.ok('rm', '-f', 'v4only', 'v6first', 'alone');
  await daemon.ok('network', 'rm', 'four', 'sixnet');
});

test('--sysctl as dockerd 20.10 carries it out: network ones after the interfaces exist, IPC ones by the runtime, refusals at start', async () => {
  await daemon.ok('network', 'create', 'tuned');
  const script =
    'cat /proc/sys/net/ipv6/conf/all/disable_ipv6 /proc/sys/net/ipv6/conf/eth0/disable_ipv6 /proc/sys/net/ipv6/conf/lo/disable_ipv6 /proc/sys/net/core/somaxconn /proc/sys/kernel/shmmax';
  const tuned = await daemon.ok(
    'run',
    '--rm',
    '--network',
    'tuned',
    '--sysctl',
    'net.ipv6.conf.all.disable_ipv6=0',
    '--sysctl',
    'net.core.somaxconn=1024',
    '--sysctl',
    'kernel.shmmax=1000000',
    'busybox',
    'sh',
    '-c',
    script,
  );
  assert.deepEqual(tuned.trim().split('\n'), ['0', '0', '0', '1024', '1000000']);
  assert.equal(readFileSync('/proc/sys/net/core/somaxconn', 'utf8').trim() === '1024', false, 'the daemon’s own namespace untouched');
  await daemon.ok('create', '--name', 'shown', '--sysctl', 'net.ipv4.ip_forward=1', 'busybox', 'true');
  assert.equal((await daemon.ok('inspect', '-f', '{{json .HostConfig.Sysctls}}', 'shown')).trim(), '{"net.ipv4.ip_forward":"1"}');
  await daemon.ok('create', '--name', 'plain', 'busybox', 'true');
  assert.equal((await daemon.ok('inspect', '-f', '{{json .HostConfig.Sysctls}}', 'plain')).trim(), 'null');
  // Refused at start with runc's words, as dockerd's run shows them: the container stays created, nothing of it left running.
  const host = await daemon.docker('run', '--name', 'onhost', '--network', 'host', '--sysctl', 'net.ipv4.ip_forward=1', 'busybox', 'true');
  assert.equal(host.code, 125);
  assert.match(host.stderr, /OCI runtime create failed: sysctl "net\.ipv4\.ip_forward" not allowed in host network namespace: unknown/);
  assert.equal((await daemon.ok('inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', 'onhost')).trim(), 'created 128');
  assert.match(
    await daemon.ok('inspect', '-f', '{{.State.Error}}', 'onhost'),
    /^OCI runtime create failed: sysctl "net\.ipv4\.ip_forward" not allowed in host network namespace: unknown$/m,
  );
  const unknown = await daemon.docker('run', '--name', 'nosuch', '--network', 'tuned', '--sysctl', 'net.ipv4.nosuch=1', 'busybox', 'true');
  assert.equal(unknown.code, 127);
  assert.match(unknown.stderr, /error during container init: open \/proc\/sys\/net\/ipv4\/nosuch: no such file or directory: unknown/);
  // The refused start undid its sandbox: the network shows no endpoint of it.
  assert.equal((await daemon.ok('network', 'inspect', '-f', '{{len .Containers}}', 'tuned')).trim(), '0');
  await daemon.ok('rm', '-f', 'shown', 'onhost', 'nosuch', 'plain');
  await daemon.ok('network', 'rm', 'tuned');
});
