import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  ConfigError,
  configChanges,
  DEFAULT_CONFIG,
  findConfigurationConflicts,
  goFormat,
  mergeConfig,
  OPTIONS,
  parseFlag,
  parsePoolFlag,
  reloadedConfig,
  type FlagValue,
} from '../../src/daemon/config.js';
import { activationFds, listenersFor } from '../../src/daemon/listeners.js';
import { formatLine, Logger } from '../../src/daemon/logger.js';

const FILE = '/etc/skiff/daemon.json';
const spec = (flag: string) => OPTIONS.find((option) => option.flag === flag)!;

/** Flags as the command line gives them: flag name → raw value(s). */
function flags(given: Record<string, unknown> = {}): Map<string, FlagValue> {
  return new Map(Object.entries(given).map(([flag, raw]) => [spec(flag).key, parseFlag(spec(flag), raw)]));
}

const merge = (file: unknown, given: Record<string, unknown> = {}) =>
  mergeConfig(flags(given), { path: FILE, text: file === undefined ? undefined : JSON.stringify(file), explicit: false });

function refused(action: () => unknown, message: string): void {
  assert.throws(action, (error: unknown) => {
    assert.ok(error instanceof ConfigError, `not a ConfigError: ${String(error)}`);
    assert.equal(error.message, message);
    return true;
  });
}

describe('daemon configuration: merging', () => {
  it('has dockerd-like defaults, with live restore on (containers outlive skiff by design)', () => {
    const config = merge(undefined);
    assert.deepEqual(config.hosts, ['unix:///run/skiff/skiff.sock']);
    assert.equal(config.dataRoot, '/var/lib/skiff');
    assert.equal(config.bridge, 'skiff0');
    assert.equal(config.mtu, 1500);
    assert.equal(config.liveRestore, true);
    assert.equal(config.logLevel, 'info');
    assert.deepEqual(config.defaultAddressPools, []);
  });

  it('takes the file, then the flags on top', () => {
    const config = merge(
      {
        labels: ['env=prod'],
        'default-address-pools': [{ base: '10.10.0.0/16', size: 24 }],
        'dns-search': ['corp.example'],
        mtu: 1400,
        'live-restore': false,
        'log-level': 'warn',
      },
      { 'data-root': '/srv/skiff', dns: ['10.0.0.53'], icc: 'false' },
    );
    assert.deepEqual(config.labels, ['env=prod']);
    assert.deepEqual(config.defaultAddressPools, [{ base: '10.10.0.0/16', size: 24 }]);
    assert.deepEqual(config.dnsSearch, ['corp.example']);
    assert.equal(config.mtu, 1400);
    assert.equal(config.liveRestore, false);
    assert.equal(config.logLevel, 'warn');
    assert.equal(config.dataRoot, '/srv/skiff');
    assert.deepEqual(config.dns, ['10.0.0.53']);
    assert.equal(config.icc, false);
  });

  it('parses flags as dockerd does: repeatable lists, bare booleans, pools', () => {
    assert.deepEqual(parseFlag(spec('default-address-pool'), ['base=10.10.0.0/16,size=24', 'BASE=10.20.0.0/16,Size=26']).value, [
      { base: '10.10.0.0/16', size: 24 },
      { base: '10.20.0.0/16', size: 26 },
    ]);
    assert.equal(parseFlag(spec('live-restore'), true).value, true);
    assert.equal(parseFlag(spec('live-restore'), 'F').value, false);
    assert.deepEqual(merge(undefined, { label: ['a=1', 'b=2'], debug: true }).labels, ['a=1', 'b=2']);
    assert.equal(merge(undefined, { debug: true }).logLevel, 'debug');
    refused(() => parseFlag(spec('icc'), 'maybe'), 'invalid argument "maybe" for "--icc" flag: strconv.ParseBool: parsing "maybe": invalid syntax');
    refused(() => parseFlag(spec('mtu'), '15oo'), 'invalid argument "15oo" for "--mtu" flag: strconv.ParseInt: parsing "15oo": invalid syntax');
    refused(() => parsePoolFlag('base=10.10.0.0/16,size'), "invalid field 'size' must be a key=value pair");
    refused(() => parsePoolFlag('base=10.10.0.0/16,bits=24'), "unexpected key 'bits' in 'bits=24'");
    refused(() => parsePoolFlag('base=10.10.0.0/16,size=x'), 'invalid size value: "x" (must be integer): strconv.Atoi: parsing "x": invalid syntax');
  });

  it('an explicit --config-file must exist; the default one may be missing', () => {
    assert.equal(mergeConfig(new Map(), { path: FILE, text: undefined, explicit: false }).bridge, 'skiff0');
    refused(
      () => mergeConfig(new Map(), { path: '/nope/daemon.json', text: undefined, explicit: true }),
      'unable to configure the Docker daemon with file /nope/daemon.json: open /nope/daemon.json: no such file or directory',
    );
  });
});

describe("daemon configuration: dockerd's errors", () => {
  it('unknown keys', () => {
    refused(
      () => merge({ mtu: 1400, 'no-such-thing': true, colour: 'blue' }),
      `unable to configure the Docker daemon with file ${FILE}: the following directives don't match any configuration option: colour, no-such-thing`,
    );
  });

  it('says which key was meant when a flag name is used in the file (dockerd would ignore it silently)', () => {
    refused(
      () => merge({ label: ['a=b'] }),
      `unable to configure the Docker daemon with file ${FILE}: the following directives don't match any configuration option: label ("label" is a flag: the file's key is "labels")`,
    );
  });

  it('a key given both as a flag and in the file, in pflag order, printed as Go prints them', () => {
    refused(
      () =>
        merge(
          { hosts: ['unix:///run/a.sock'], 'data-root': '/var/lib/a', mtu: 1400 },
          { host: ['unix:///run/b.sock'], 'data-root': '/var/lib/b', mtu: '1500' },
        ),
      `unable to configure the Docker daemon with file ${FILE}: the following directives are specified both as a flag and in the configuration file: ` +
        'data-root: (from flag: /var/lib/b, from file: /var/lib/a), hosts: (from flag: [unix:///run/b.sock], from file: [unix:///run/a.sock]), mtu: (from flag: 1500, from file: 1400)',
    );
    refused(
      () => merge({ 'default-address-pools': [{ base: '10.10.0.0/16', size: 24 }] }, { 'default-address-pool': ['base=10.20.0.0/16,size=24'] }),
      `unable to configure the Docker daemon with file ${FILE}: the following directives are specified both as a flag and in the configuration file: ` +
        'default-address-pools: (from flag: 10.20.0.0/16 24, from file: [map[base:10.10.0.0/16 size:24]])',
    );
  });

  it("values of the wrong type, in Go's json words", () => {
    refused(
      () => merge({ mtu: '1400' }),
      `unable to configure the Docker daemon with file ${FILE}: json: cannot unmarshal string into Go struct field Config.mtu of type int`,
    );
    refused(
      () => merge({ labels: 'a=b' }),
      `unable to configure the Docker daemon with file ${FILE}: json: cannot unmarshal string into Go struct field Config.labels of type []string`,
    );
    refused(
      () => merge({ 'live-restore': 'yes' }),
      `unable to configure the Docker daemon with file ${FILE}: json: cannot unmarshal string into Go struct field Config.live-restore of type bool`,
    );
    assert.throws(
      () => mergeConfig(new Map(), { path: FILE, text: '{"mtu": 1400,}', explicit: false }),
      /^ConfigError: unable to configure the Docker daemon with file \/etc\/skiff\/daemon.json: /,
    );
  });

  it("bad values, in dockerd's words", () => {
    refused(() => merge({ dns: ['8.8.8'] }), 'IP address is not correctly formatted: 8.8.8');
    refused(() => merge({ 'dns-search': ['-bad-.example'] }), '-bad-.example is not a valid domain');
    refused(() => merge({ labels: ['novalue'] }), 'bad attribute format: novalue');
    refused(() => merge({ labels: ['a=1', 'a=2'] }), 'conflict labels for a=2 and a=1');
    refused(() => merge({ 'log-level': 'loud' }), 'Unable to parse logging level: loud');
    refused(() => merge({ 'default-address-pools': [{ base: '10.10.0.0/16', size: 8 }] }), 'invalid pools size: 8');
    refused(() => merge({ 'default-address-pools': [{ base: '10.10.0/16', size: 24 }] }), 'invalid base pool "10.10.0/16": invalid CIDR address: 10.10.0/16');
    refused(() => merge({ hosts: ['ssh://me@host'] }), 'skiff listens on unix sockets, fd:// and tcp:// with mutual TLS: ssh://me@host is not supported');
    refused(
      () => merge({ hosts: ['tcp://example.com:2376'] }),
      'Invalid bind address format: tcp://example.com:2376: give tcp://ADDR:PORT with an IP address and a port from 1 to 65535',
    );
    refused(
      () => merge({ hosts: ['tcp://127.0.0.1:70000'] }),
      'Invalid bind address format: tcp://127.0.0.1:70000: give tcp://ADDR:PORT with an IP address and a port from 1 to 65535',
    );
    refused(() => merge({ 'default-runtime': 'kata' }), "specified default runtime 'kata' does not exist");
    assert.equal(merge({ 'default-runtime': 'crun' }).defaultRuntime, 'crun'); // listed by skiff itself where the host has crun
    refused(() => merge({}, { 'default-runtime': 'nope' }), "specified default runtime 'nope' does not exist");
    refused(
      () => merge({ runtimes: { runc: { path: '/usr/bin/runc' } } }),
      `unable to configure the Docker daemon with file ${FILE}: configuration validation from file failed: runtime name 'runc' is reserved`,
    );
    refused(
      () => merge({ runtimes: { a: 'x' } }),
      `unable to configure the Docker daemon with file ${FILE}: json: cannot unmarshal string into Go struct field Config.runtimes of type types.Runtime`,
    );
    refused(() => flags({ 'add-runtime': ['abc'] }), 'invalid argument "abc" for "--add-runtime" flag: invalid runtime argument: abc');
    refused(
      () => flags({ 'add-runtime': ['runc=/usr/bin/crun'] }),
      'invalid argument "runc=/usr/bin/crun" for "--add-runtime" flag: runtime name \'runc\' is reserved',
    );
    refused(
      () => flags({ 'add-runtime': ['a=/usr/sbin/runc', 'a=/usr/bin/crun'] }),
      'invalid argument "a=/usr/bin/crun" for "--add-runtime" flag: runtime \'a\' was already defined',
    );
  });
});

describe('daemon configuration: OCI runtimes', () => {
  it('takes runtimes from --add-runtime and the file together, with runtimeArgs, and a default among them', () => {
    const config = merge(
      { runtimes: { crun: { path: '/usr/bin/crun', runtimeArgs: ['--debug'] } }, 'default-runtime': 'myrunc' },
      { 'add-runtime': ['myrunc=/usr/sbin/runc'] },
    );
    assert.deepEqual(config.runtimes, { crun: { path: '/usr/bin/crun', runtimeArgs: ['--debug'] }, myrunc: { path: '/usr/sbin/runc' } });
    assert.equal(config.defaultRuntime, 'myrunc');
    assert.equal(merge(undefined).defaultRuntime, '');
    assert.equal(merge({ 'default-runtime': 'io.containerd.runc.v2' }).defaultRuntime, 'io.containerd.runc.v2');
  });
});

describe('daemon configuration: what skiff cannot honour is refused, never ignored', () => {
  it('accepts the values that say what skiff does anyway', () => {
    const config = merge({
      iptables: true,
      ipv6: false,
      'default-runtime': 'runc',
      'userland-proxy': false,
      tls: false,
      'cluster-store': '',
      'log-driver': 'json-file',
      'storage-driver': 'overlay2',
    });
    assert.equal(config.iptables, true);
    assert.equal(merge({ 'userland-proxy': true }).userlandProxy, true);
    const clustered = merge({ 'cluster-store': 'etcd://10.0.0.1:2379', 'cluster-advertise': 'eth0:2376' });
    assert.deepEqual([clustered.clusterStore, clustered.clusterAdvertise], ['etcd://10.0.0.1:2379', 'eth0:2376']);
  });

  it('refuses the others, each with its reason', () => {
    refused(
      () => merge({ iptables: false }),
      "iptables: iptables=false: skiff's nftables table cannot be turned off yet (it isolates networks and publishes ports)",
    );
    refused(() => merge({ tlsverify: true, tlscert: '/etc/cert.pem' }), '--tlsverify, --tlscert given but no -H tcp://ADDR:PORT host to serve TLS on');
    // IPv6 on the default bridge is carried out (checked at start: --ipv6 needs --fixed-cidr-v6, e2e daemon-config).
    merge({ ipv6: true, 'fixed-cidr-v6': 'fd00::/64' });
    merge(undefined, { bridge: 'none' }); // -b none: no default bridge network (e2e daemon-config)
  });

  it("refuses dockerd's own keys skiff has no option for, naming why", () => {
    refused(
      () => merge({ 'registry-mirrors': ['https://mirror.example'], 'exec-opts': ['native.cgroupdriver=systemd'] }),
      `unable to configure the Docker daemon with file ${FILE}: skiff cannot honour these dockerd directives: ` +
        "exec-opts ([native.cgroupdriver=systemd]): containers' cgroups are made by runc with the cgroupfs driver (native.cgroupdriver=cgroupfs is the only option); registry-mirrors ([https://mirror.example]): skiff has no registry: images come from docker import",
    );
    // What skiff does anyway is accepted.
    merge({ 'exec-opts': ['native.cgroupdriver=cgroupfs'] });
  });
});

describe('daemon configuration: reload', () => {
  it('applies the reloadable options and keeps the others until a restart', () => {
    const current = merge({ labels: ['a=1'], mtu: 1400 });
    const next = merge({
      labels: ['a=2'],
      mtu: 1300,
      'live-restore': false,
      'log-level': 'debug',
      'default-address-pools': [{ base: '10.10.0.0/16', size: 24 }],
    });
    const changes = configChanges(current, next);
    assert.deepEqual(
      changes.map((change) => `${change.key} ${change.from} -> ${change.to} ${change.applied ? 'now' : 'restart'}`),
      [
        'mtu 1400 -> 1300 restart',
        'default-address-pools [] -> [map[base:10.10.0.0/16 size:24]] now',
        'live-restore true -> false now',
        'log-level info -> debug now',
        'labels [a=1] -> [a=2] now',
      ],
    );
    const reloaded = reloadedConfig(current, next);
    assert.deepEqual(reloaded.labels, ['a=2']);
    assert.equal(reloaded.mtu, 1400);
    assert.equal(reloaded.liveRestore, false);
    assert.equal(reloaded.logLevel, 'debug');
    assert.deepEqual(reloaded.defaultAddressPools, [{ base: '10.10.0.0/16', size: 24 }]);
    assert.deepEqual(configChanges(current, current), []);
  });
});

describe('conflict check alone', () => {
  it('is quiet when flag and file name different options', () => {
    findConfigurationConflicts({ mtu: 1400 }, flags({ bip: '10.0.0.1/24' }));
    assert.equal(DEFAULT_CONFIG.mtu, 1500);
  });
});

describe('goFormat', () => {
  it("prints as Go's %v", () => {
    assert.equal(goFormat(['a', 'b']), '[a b]');
    assert.equal(goFormat({ z: 1, a: [true] }), 'map[a:[true] z:1]');
    assert.equal(goFormat(1500), '1500');
    assert.equal(goFormat(1000000), '1e+06');
    assert.equal(goFormat(1.5), '1.5');
    assert.equal(goFormat(null), '<nil>');
  });
});

describe('tcp:// hosts: mutual TLS or nothing', () => {
  const tls = { tlsverify: true, tlscacert: '/etc/skiff/ca.pem', tlscert: '/etc/skiff/cert.pem', tlskey: '/etc/skiff/key.pem' };
  it('names every missing TLS flag', () => {
    refused(
      () => merge({ hosts: ['tcp://0.0.0.0:2375'] }),
      'tcp://0.0.0.0:2375: skiff serves its API over TCP only with mutual TLS, and --tlsverify, --tlscacert, --tlscert, --tlskey are missing (dockerd would serve it unencrypted to anyone who reaches the port)',
    );
    refused(
      () => merge({ hosts: ['tcp://127.0.0.1:2376'], tls: true, tlscert: '/c.pem', tlskey: '/k.pem' }),
      'tcp://127.0.0.1:2376: skiff serves its API over TCP only with mutual TLS, and --tlsverify, --tlscacert are missing (dockerd would serve it unencrypted to anyone who reaches the port)',
    );
    refused(
      () => merge({ hosts: ['tcp://127.0.0.1:2376'], ...tls, tlskey: '' }),
      'tcp://127.0.0.1:2376: skiff serves its API over TCP only with mutual TLS, and --tlskey is missing (dockerd would serve it unencrypted to anyone who reaches the port)',
    );
  });
  it('takes one with all four, IPv6 in brackets', () => {
    assert.deepEqual(merge({ hosts: ['tcp://127.0.0.1:2376', 'tcp://[::1]:2377'], ...tls }).hosts, ['tcp://127.0.0.1:2376', 'tcp://[::1]:2377']);
    const material = { ca: Buffer.from('ca'), cert: Buffer.from('cert'), key: Buffer.from('key') };
    assert.deepEqual(
      listenersFor(['tcp://[::1]:2377'], [], () => material),
      [{ kind: 'tcp', address: '::1', port: 2377, tls: material }],
    );
  });
});

describe('socket activation', () => {
  const noTls = () => assert.fail('no tcp:// host, no TLS files read');
  it('takes the descriptors systemd passed to this very process', () => {
    assert.deepEqual(activationFds({ LISTEN_PID: '42', LISTEN_FDS: '2' }, 42), [3, 4]);
    assert.deepEqual(activationFds({ LISTEN_PID: '41', LISTEN_FDS: '2' }, 42), []);
    assert.deepEqual(activationFds({}, 42), []);
    assert.deepEqual(listenersFor(['fd://', 'unix:///run/x.sock'], [3], noTls), [
      { kind: 'fd', fd: 3 },
      { kind: 'unix', path: '/run/x.sock' },
    ]);
    assert.deepEqual(listenersFor(['fd://4'], [3, 4], noTls), [{ kind: 'fd', fd: 4 }]);
    assert.throws(() => listenersFor(['fd://'], [], noTls), /no sockets found via socket activation/);
  });
});

describe('logger', () => {
  const at = new Date('2024-05-01T10:00:00.123Z');
  it("writes logrus's text and json lines", () => {
    assert.equal(
      formatLine('text', 'info', 'API listen on /run/skiff/skiff.sock', at),
      'time="2024-05-01T10:00:00.123000000Z" level=info msg="API listen on /run/skiff/skiff.sock"\n',
    );
    assert.equal(formatLine('text', 'warn', 'say "hi"\nbye', at), 'time="2024-05-01T10:00:00.123000000Z" level=warning msg="say \\"hi\\"\\nbye"\n');
    assert.deepEqual(JSON.parse(formatLine('json', 'error', 'boom', at)), { level: 'error', msg: 'boom', time: '2024-05-01T10:00:00.123000000Z' });
  });

  it('drops lines below its level, which a reload may change', () => {
    const lines: string[] = [];
    const logger = new Logger('warn', 'text', (line) => lines.push(line));
    logger.info('hidden');
    logger.error('shown');
    logger.setLevel('debug');
    logger.debug('now shown');
    assert.equal(lines.length, 2);
    assert.match(lines[1]!, /level=debug msg="now shown"/);
  });
});

describe('daemon configuration: log-opts', () => {
  it('takes json-file defaults from the file or --log-opt, checked with dockerd words', () => {
    assert.deepEqual(merge({ 'log-opts': { 'max-size': '10m', 'max-file': '3' } }).logOpts, { 'max-size': '10m', 'max-file': '3' });
    assert.deepEqual(merge(undefined, { 'log-opt': ['max-size=10m', 'max-file=3'] }).logOpts, { 'max-size': '10m', 'max-file': '3' });
    assert.deepEqual(merge(undefined).logOpts, {});
    refused(() => merge({ 'log-opts': { foo: 'bar' } }), "failed to set log opts: unknown log opt 'foo' for json-file log driver");
    refused(() => merge(undefined, { 'log-opt': ['max-size=10x'] }), "failed to set log opts: failed to initialize logging driver: invalid size: '10x'");
    refused(
      () => merge({ 'log-opts': { 'max-file': 3 } }),
      `unable to configure the Docker daemon with file ${FILE}: json: cannot unmarshal number into Go struct field Config.log-opts of type map[string]string`,
    );
    refused(
      () => merge({ 'log-opts': { 'max-size': '1m' } }, { 'log-opt': ['max-size=2m'] }),
      `unable to configure the Docker daemon with file ${FILE}: the following directives are specified both as a flag and in the configuration file: log-opts: (from flag: map[max-size:2m], from file: map[max-size:1m])`,
    );
  });
});
