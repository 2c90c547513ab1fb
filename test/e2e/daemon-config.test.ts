/**
 * Deploying skiff like dockerd: daemon.json and dockerd's flags, default
 * pools that step around the host's own networks, the daemon's DNS settings
 * in containers, SIGHUP and SIGUSR1, and socket activation (-H fd://).
 * Each daemon runs alone in this world, one after the other.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { assertInWorld, scratchDir, sh, tryRun, worldLinks, worldNftTables } from '../helpers/world.js';
import { importBusybox, skiffBin, startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

assertInWorld();

/** Stops the daemon and clears what it left in the world (bridges, its table), so the next one starts fresh. */
async function finish(daemon: TestDaemon): Promise<void> {
  await daemon.cleanup();
  for (const link of await worldLinks()) if (link.startsWith('br-') || link === 'skiff0') await sh('ip', ['link', 'del', link]);
  if ((await worldNftTables()).some((table) => table.includes('skiff'))) await sh('nft', ['delete', 'table', 'inet', 'skiff']);
}

async function subnetOf(daemon: TestDaemon, network: string): Promise<string> {
  return (await daemon.ok('network', 'inspect', network, '--format', '{{range .IPAM.Config}}{{.Subnet}}{{end}}')).trim();
}

async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.fail(`timed out waiting for ${what}`);
}

after(async () => {
  await tryRun('ip', ['link', 'del', 'lan0']);
});

test("default pools step around the host's LAN and VPN routes, read afresh at each create", async () => {
  // The host: an address on 172.18.5.1/24 (a LAN) and a route to 172.19.0.0/16 (a VPN).
  await sh('ip', ['link', 'add', 'lan0', 'type', 'veth', 'peer', 'name', 'lan0-peer']);
  await sh('ip', ['addr', 'add', '172.18.5.1/24', 'dev', 'lan0']);
  await sh('ip', ['link', 'set', 'lan0', 'up']);
  await sh('ip', ['link', 'set', 'lan0-peer', 'up']);
  await sh('ip', ['route', 'add', '172.19.0.0/16', 'via', '172.18.5.2']);
  const daemon = await startDaemon();
  try {
    assert.equal(await subnetOf(daemon, 'bridge'), '172.17.0.0/16');
    await daemon.ok('network', 'create', 'n1');
    assert.equal(await subnetOf(daemon, 'n1'), '172.20.0.0/16', 'Docker 20.10 skips 172.18 (the LAN) and 172.19 (the route)');
    // A subnet the user names is the user's call, as in Docker: allowed, and logged.
    await daemon.ok('network', 'create', '--subnet', '172.19.1.0/24', 'vpn-side');
    assert.match(daemon.log(), /network vpn-side: subnet 172\.19\.1\.0\/24 overlaps the host's own 172\.19\.0\.0\/16/);
    // The VPN goes down: the next choice sees it gone (172.19.1.0/24 is skiff's own now, so 172.19/16 stays taken; 172.18 is still the LAN).
    await sh('ip', ['route', 'del', '172.19.0.0/16']);
    await sh('ip', ['link', 'del', 'lan0']);
    await daemon.ok('network', 'create', 'n2');
    assert.equal(await subnetOf(daemon, 'n2'), '172.18.0.0/16');
  } finally {
    await finish(daemon);
  }
});

test('default-address-pools from daemon.json: the default bridge and new networks get /24s of 10.10.0.0/16, docker info lists the pool', async () => {
  let daemon = await startDaemon({ config: { 'default-address-pools': [{ base: '10.10.0.0/16', size: 24 }], 'fixed-cidr': '10.10.0.128/25' } });
  try {
    assert.equal(await subnetOf(daemon, 'bridge'), '10.10.0.0/24');
    assert.equal((await daemon.ok('network', 'inspect', 'bridge', '--format', '{{range .IPAM.Config}}{{.IPRange}}{{end}}')).trim(), '10.10.0.128/25');
    await daemon.ok('network', 'create', 'p1');
    await daemon.ok('network', 'create', 'p2');
    assert.equal(await subnetOf(daemon, 'p1'), '10.10.1.0/24');
    assert.equal(await subnetOf(daemon, 'p2'), '10.10.2.0/24');
    const info = await daemon.ok('info');
    assert.match(info, /Default Address Pools:\n\s+Base: 10\.10\.0\.0\/16, Size: 24/);
    assert.deepEqual(JSON.parse(await daemon.ok('info', '--format', '{{json .DefaultAddressPools}}')), [{ Base: '10.10.0.0/16', Size: 24 }]);
    // A restart finds its bridge up on 10.10.0.0/24 and keeps it (its own route is no reason to move).
    daemon = await daemon.restart();
    assert.equal(await subnetOf(daemon, 'bridge'), '10.10.0.0/24');
    await daemon.ok('network', 'create', 'p3');
    assert.equal(await subnetOf(daemon, 'p3'), '10.10.3.0/24');
  } finally {
    await finish(daemon);
  }
});

test("the daemon's dns-search and dns-opts reach containers' resolv.conf; a container's own win", async () => {
  const daemon = await startDaemon({ config: { 'dns-search': ['corp.example'], 'dns-opts': ['ndots:2'] } });
  try {
    await importBusybox(daemon);
    const resolvConf = await daemon.ok('run', '--rm', 'busybox', 'cat', '/etc/resolv.conf');
    assert.match(resolvConf, /^nameserver 127\.0\.0\.1$/m);
    assert.match(resolvConf, /^search corp\.example$/m);
    assert.match(resolvConf, /^options ndots:2$/m);
    const own = await daemon.ok('run', '--rm', '--dns-search', 'mine.example', 'busybox', 'cat', '/etc/resolv.conf');
    assert.match(own, /^search mine\.example$/m);
    // On a user network the embedded DNS answers first; the search domains still come from the daemon.
    await daemon.ok('network', 'create', 'named');
    assert.match(await daemon.ok('run', '--rm', '--network', 'named', 'busybox', 'cat', '/etc/resolv.conf'), /^search corp\.example$/m);
  } finally {
    await finish(daemon);
  }
});

test('SIGHUP reloads labels, live-restore and pools without a restart; a bad file changes nothing; SIGUSR1 logs the state', async () => {
  const daemon = await startDaemon({ config: { labels: ['tier=front'] } });
  try {
    const labels = async () => JSON.parse(await daemon.ok('info', '--format', '{{json .Labels}}')) as string[];
    assert.deepEqual(await labels(), ['tier=front']);
    const pid = daemon.process.pid!;
    writeFileSync(
      daemon.configPath,
      JSON.stringify({ labels: ['tier=back', 'zone=b'], 'live-restore': false, 'default-address-pools': [{ base: '10.30.0.0/16', size: 24 }], mtu: 1400 }),
    );
    process.kill(pid, 'SIGHUP');
    await until(async () => (await labels()).includes('tier=back'), 'the new labels in docker info');
    assert.deepEqual(await labels(), ['tier=back', 'zone=b']);
    assert.equal((await daemon.ok('info', '--format', '{{.LiveRestoreEnabled}}')).trim(), 'false');
    assert.match(daemon.log(), /level=info msg="Reloaded configuration: labels: \[tier=front\] -> \[tier=back zone=b\]"/);
    // mtu is not reloadable: said so, not silently dropped.
    assert.match(daemon.log(), /level=warning msg="Configuration: mtu changed \(1500 -> 1400\) but needs a daemon restart to take effect"/);
    await daemon.ok('network', 'create', 'after-reload');
    assert.equal(await subnetOf(daemon, 'after-reload'), '10.30.0.0/24');

    writeFileSync(daemon.configPath, JSON.stringify({ labels: 'not-a-list' }));
    process.kill(pid, 'SIGHUP');
    await until(() => Promise.resolve(daemon.log().includes('Error reloading configuration')), 'the reload error in the log');
    assert.match(
      daemon.log(),
      /level=error msg="Error reloading configuration, keeping the current one: unable to configure the Docker daemon with file .*daemon\.json: json: cannot unmarshal string into Go struct field Config\.labels of type \[\]string"/,
    );
    assert.deepEqual(await labels(), ['tier=back', 'zone=b']);

    process.kill(pid, 'SIGUSR1');
    await until(() => Promise.resolve(daemon.log().includes('msg="state: ')), 'the state summary');
    assert.match(daemon.log(), /msg="state: 4 networks, 0 sandboxes, 0 containers \(0 running\), 0 API requests in progress"/);
    assert.match(daemon.log(), /msg="network after-reload \(bridge, [0-9a-f]{12}\): 10\.30\.0\.0\/24, 0 endpoints"/);
  } finally {
    await finish(daemon);
  }
});

test("live-restore false: containers stop with the daemon, as with dockerd's default", async () => {
  const first = await startDaemon({ config: { 'live-restore': false } });
  let daemon = first;
  try {
    await importBusybox(daemon);
    assert.equal((await daemon.ok('info', '--format', '{{.LiveRestoreEnabled}}')).trim(), 'false');
    await daemon.ok('run', '-d', '--name', 'short-lived', 'busybox', 'sh', '-c', 'trap "exit 0" TERM; while :; do sleep 0.2; done');
    await daemon.kill('SIGTERM');
    assert.match(daemon.log(), /msg="live-restore is off: stopping containers: short-lived"/);
    daemon = await daemon.restart();
    assert.equal((await daemon.ok('ps', '-q')).trim(), '');
    assert.match(await daemon.ok('ps', '-a', '--format', '{{.Names}} {{.Status}}'), /^short-lived Exited \(0\)/m);
  } finally {
    await finish(daemon);
  }
});

test('-H fd://: a socket opened before the daemon and passed as LISTEN_FDS=1 answers docker version', async () => {
  const daemon = await startDaemon({ socketActivation: true });
  try {
    const version = await daemon.ok('version', '--format', '{{.Server.Version}} {{.Server.APIVersion}}');
    assert.match(version.trim(), /^20\.10\.\d+-skiff 1\.41$/);
    assert.match(daemon.log(), /msg="API listen on fd:\/\/3"/);
  } finally {
    await finish(daemon);
  }
});

test("a bad daemon.json stops the daemon with dockerd's words before it changes anything", async () => {
  const scratch = scratchDir('skiff-badconfig-');
  try {
    const start = (config: unknown, extra: string[] = []) => {
      const path = join(scratch.path, 'daemon.json');
      writeFileSync(path, JSON.stringify(config));
      return tryRun(process.execPath, [
        skiffBin,
        'daemon',
        '--config-file',
        path,
        '-H',
        `unix://${join(scratch.path, 's.sock')}`,
        '--data-root',
        join(scratch.path, 'data'),
        '--exec-root',
        join(scratch.path, 'exec'),
        ...extra,
      ]);
    };
    const unknown = await start({ mtu: 1400, 'bogus-key': 1 });
    assert.equal(unknown.code, 1);
    assert.equal(
      unknown.stderr,
      `unable to configure the Docker daemon with file ${join(scratch.path, 'daemon.json')}: the following directives don't match any configuration option: bogus-key\n`,
    );
    const both = await start({ dns: ['10.0.0.53'] }, ['--dns', '10.0.0.54']);
    assert.equal(both.code, 1);
    assert.match(
      both.stderr,
      /the following directives are specified both as a flag and in the configuration file: dns: \(from flag: \[10\.0\.0\.54\], from file: \[10\.0\.0\.53\]\)/,
    );
    const ipv6Alone = await start({ ipv6: true });
    assert.equal(ipv6Alone.code, 1);
    assert.match(ipv6Alone.stderr, /IPv6 is enabled for the default bridge, but no subnet is configured\. Specify an IPv6 subnet using --fixed-cidr-v6/);
    const refusedValue = await start({ iptables: false });
    assert.equal(refusedValue.code, 1);
    assert.match(refusedValue.stderr, /^iptables: iptables=false: skiff's nftables table cannot be turned off yet/);
    assert.deepEqual(await worldLinks(), [], 'no bridge was made');
    assert.deepEqual(await worldNftTables(), [], 'no table was made');
  } finally {
    scratch.remove();
  }
});

test("bridge-nf-call-iptables: off by default with other bridges kept on, containers still apart with ICC off; --bridge-nf-call-iptables keeps dockerd's way", async () => {
  const sysctls = ['net.bridge.bridge-nf-call-iptables', 'net.bridge.bridge-nf-call-ip6tables'];
  const read = async () => Promise.all(sysctls.map(async (key) => (await sh('sysctl', ['-n', key])).trim()));
  const perBridge = async (bridge: string) => {
    const [link] = JSON.parse(await sh('ip', ['-json', '-details', 'link', 'show', bridge])) as Array<{
      linkinfo: { info_data: { nf_call_iptables: number; nf_call_ip6tables: number } };
    }>;
    return [link!.linkinfo.info_data.nf_call_iptables, link!.linkinfo.info_data.nf_call_ip6tables];
  };
  // Another program's bridge, made before skiff starts, relying on the namespace-wide switch.
  await sh('ip', ['link', 'add', 'lxcbr9', 'type', 'bridge']);
  await sh('sysctl', ['-qw', ...sysctls.map((key) => `${key}=1`)]);
  try {
    let daemon = await startDaemon();
    assert.deepEqual(await read(), ['0', '0']);
    assert.deepEqual(await perBridge('lxcbr9'), [1, 1], 'the other bridge keeps its firewall');
    assert.deepEqual(await perBridge('skiff0'), [0, 0]);
    assert.match(
      daemon.log(),
      /net\.bridge\.bridge-nf-call-iptables and net\.bridge\.bridge-nf-call-ip6tables off: .*kept on for the bridges skiff did not make \(lxcbr9\)/,
    );
    await importBusybox(daemon);
    await daemon.ok('network', 'create', 'open-net');
    await daemon.ok('network', 'create', '-o', 'com.docker.network.bridge.enable_icc=false', 'quiet-net');
    for (const name of ['o1', 'o2']) await daemon.ok('run', '-d', '--name', name, '--network', 'open-net', 'busybox', 'sleep', '600');
    for (const name of ['q1', 'q2']) await daemon.ok('run', '-d', '--name', name, '--network', 'quiet-net', 'busybox', 'sleep', '600');
    const ping = async (from: string, to: string) => (await daemon.docker('exec', from, 'ping', '-c', '1', '-W', '1', to)).code === 0;
    assert.equal(await ping('o1', 'o2'), true, 'within a network, past the firewall');
    assert.equal(await ping('q1', 'q2'), false, 'ICC off: the ports are isolated');
    const quietGateway = (await subnetOf(daemon, 'quiet-net')).replace(/0\/\d+$/, '1');
    assert.equal(await ping('q1', quietGateway), true, 'ICC off: the gateway answers');
    // As dockerd's userland proxy lets it: a neighbour reaches a published port through the host's address.
    await daemon.ok('run', '-d', '--name', 'q3', '--network', 'quiet-net', '-p', '8090:80', 'busybox', 'httpd', '-f', '-p', '80', '-h', '/etc');
    const fetched = await daemon.docker('exec', 'q1', 'wget', '-qO-', `http://${quietGateway}:8090/hostname`);
    assert.equal(fetched.code, 0, fetched.stderr);
    assert.equal(fetched.stdout.trim(), (await daemon.ok('inspect', '-f', '{{.Config.Hostname}}', 'q3')).trim());
    await finish(daemon);

    // dockerd's way: the namespace's switches on, whatever they were.
    await sh('sysctl', ['-qw', ...sysctls.map((key) => `${key}=0`)]);
    daemon = await startDaemon({ extraArgs: ['--bridge-nf-call-iptables'] });
    assert.deepEqual(await read(), ['1', '1']);
    assert.match(daemon.log(), /on \(--bridge-nf-call-iptables\): frames bridged within a network pass the firewall/);
    await finish(daemon);
  } finally {
    await sh('ip', ['link', 'del', 'lxcbr9']);
    await sh('sysctl', ['-qw', ...sysctls.map((key) => `${key}=1`)]);
  }
});

test('--ipv6 --fixed-cidr-v6: the default bridge gets the IPv6 subnet and its containers an address in it; changed settings make it again once no container is on it', async () => {
  let daemon = await startDaemon({ config: { ipv6: true, 'fixed-cidr-v6': 'fd00:1::/64' } });
  const bridge = async () =>
    JSON.parse(await daemon.ok('network', 'inspect', 'bridge', '--format', '{{json .}}')) as {
      EnableIPv6: boolean;
      IPAM: { Config: Array<{ Subnet: string; Gateway: string }> };
    };
  try {
    let settings = await bridge();
    assert.equal(settings.EnableIPv6, true);
    assert.deepEqual(
      settings.IPAM.Config.filter((pool) => pool.Subnet.includes(':')),
      [{ Subnet: 'fd00:1::/64', Gateway: 'fd00:1::1' }],
    );
    await importBusybox(daemon);
    await daemon.ok('run', '-d', '--name', 'six', 'busybox', 'sleep', '600');
    assert.equal(
      (
        await daemon.ok(
          'inspect',
          '-f',
          '{{.NetworkSettings.GlobalIPv6Address}}/{{.NetworkSettings.GlobalIPv6PrefixLen}} via {{.NetworkSettings.IPv6Gateway}}',
          'six',
        )
      ).trim(),
      'fd00:1::2/64 via fd00:1::1',
    );
    assert.equal((await daemon.docker('exec', 'six', 'ping6', '-c', '1', '-W', '2', 'fd00:1::1')).code, 0, 'the bridge answers on its IPv6 address');
    // Without IPv6 now: a container is on the bridge, so it keeps what it has until that one stops.
    daemon = await daemon.restart({ config: {} });
    assert.equal((await bridge()).EnableIPv6, true);
    assert.match(daemon.log(), /the default bridge stays as it is although the daemon settings it comes from changed: 1 container\(s\) are on it/);
    await daemon.ok('rm', '-f', 'six');
    daemon = await daemon.restart({ config: {} });
    settings = await bridge();
    assert.equal(settings.EnableIPv6, false);
    assert.deepEqual(
      settings.IPAM.Config.filter((pool) => pool.Subnet.includes(':')),
      [],
    );
    assert.match(daemon.log(), /the default bridge is removed: the daemon settings it comes from changed/);
    assert.doesNotMatch(await sh('ip', ['-6', 'addr', 'show', 'dev', 'skiff0']), /fd00:1::1/);
  } finally {
    await finish(daemon);
  }
});

test('-b none: no default bridge network, containers without --network get a loopback only, a user network takes 172.17.0.0/16 first', async () => {
  let daemon = await startDaemon();
  try {
    await importBusybox(daemon);
    daemon = await daemon.restart({ extraArgs: ['--bridge', 'none'] });
    assert.match(daemon.log(), /the default bridge is removed: the daemon runs with -b none/);
    const names = (await daemon.ok('network', 'ls', '--format', '{{.Name}}')).trim().split('\n').sort();
    assert.deepEqual(names, ['host', 'none']);
    assert.ok(!(await worldLinks()).includes('skiff0'), 'no default bridge link');
    const links = await daemon.ok('run', '--rm', 'busybox', 'ip', '-o', 'link');
    assert.deepEqual(
      links
        .trim()
        .split('\n')
        .map((line) => line.split(':')[1]?.trim()),
      ['lo'],
    );
    await daemon.ok('create', '--name', 'plain', 'busybox', 'true');
    assert.equal(
      (
        await daemon.ok(
          'inspect',
          '-f',
          '{{.HostConfig.NetworkMode}} {{range $name, $n := .NetworkSettings.Networks}}{{$name}}:[{{$n.NetworkID}}]{{end}}',
          'plain',
        )
      ).trim(),
      'default bridge:[]',
    );
    await daemon.ok('rm', 'plain');
    await daemon.ok('network', 'create', 'first');
    assert.equal(await subnetOf(daemon, 'first'), '172.17.0.0/16');
  } finally {
    await finish(daemon);
  }
});
