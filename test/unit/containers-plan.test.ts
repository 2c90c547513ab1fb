import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderHosts, renderResolvConf } from '../../src/containers/etc-files.js';
import { publishedRequests, HostPortAllocator } from '../../src/ports/index.js';
import { portRequestsFromWire, type WirePortBindings } from '../../src/api/wire/ports.js';
import { argvOf, linkEnvironment } from '../../src/containers/decisions.js';
import type { ContainerRecord } from '../../src/model/container.js';
import type { ImageConfig } from '../../src/model/image.js';

const portRequests = (bindings: WirePortBindings, publishAll: boolean, exposed: string[]) =>
  publishedRequests(portRequestsFromWire(bindings), publishAll, exposed);

test('/etc/hosts as Docker writes it, with --add-host and --link entries', () => {
  const hosts = renderHosts({
    hostname: 'web',
    addresses: ['172.17.0.2'],
    extraHosts: ['db:10.0.0.5'],
    links: [{ address: '172.17.0.3', names: ['cache', 'c1'] }],
  });
  assert.equal(
    hosts,
    '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n10.0.0.5\tdb\n172.17.0.3\tcache c1\n172.17.0.2\tweb\n',
  );
});

test('resolv.conf: the embedded DNS on user networks, a filtered host copy on the default bridge', () => {
  const host = 'nameserver 127.0.0.53\nnameserver 192.0.2.1\nsearch corp.example\noptions edns0\n';
  assert.equal(
    renderResolvConf({ embeddedDns: true, nameservers: [], hostResolvConf: host, search: [], options: [] }),
    'nameserver 127.0.0.11\nsearch corp.example\noptions ndots:0\n',
  );
  assert.equal(
    renderResolvConf({ embeddedDns: true, nameservers: ['9.9.9.9'], hostResolvConf: host, search: ['a.example'], options: ['timeout:2'] }),
    'nameserver 127.0.0.11\nsearch a.example\noptions ndots:0 timeout:2\n',
  );
  assert.equal(
    renderResolvConf({ embeddedDns: false, nameservers: [], hostResolvConf: host, search: [], options: [] }),
    'nameserver 192.0.2.1\nsearch corp.example\noptions edns0\n',
  );
  assert.equal(
    renderResolvConf({ embeddedDns: false, nameservers: ['10.0.0.1'], hostResolvConf: host, search: ['x.example'], options: [] }),
    'nameserver 10.0.0.1\nsearch x.example\noptions edns0\n',
  );
});

test('port requests from PortBindings and -P', () => {
  assert.deepEqual(portRequests({ '80/tcp': [{ HostIp: '', HostPort: '5050' }], '53/udp': [{ HostPort: '' }] }, false, []), [
    { protocol: 'tcp', containerPort: 80, hostIp: '', hostPortRange: [5050, 5050] },
    { protocol: 'udp', containerPort: 53, hostIp: '', hostPortRange: [0, 0] },
  ]);
  assert.deepEqual(portRequests({ '80/tcp': [{ HostPort: '8000-8010' }] }, true, ['80/tcp', '443/tcp']), [
    { protocol: 'tcp', containerPort: 80, hostIp: '', hostPortRange: [8000, 8010] },
    { protocol: 'tcp', containerPort: 443, hostIp: '', hostPortRange: [0, 0] },
  ]);
  assert.throws(() => portRequests({ '80/icmp': [] }, false, []), /invalid proto/);
  assert.throws(() => portRequests({ '80/tcp': [{ HostPort: '70000' }] }, false, []), /invalid hostPort/);
});

test('host ports: conflicts across addresses, ranges, ephemeral order, release', () => {
  const allocator = new HostPortAllocator([40000, 40002]);
  const request = (hostIp: string, range: [number, number]) => ({ protocol: 'tcp' as const, containerPort: 80, hostIp, hostPortRange: range });
  assert.equal(allocator.allocate(request('0.0.0.0', [5050, 5050])).hostPort, 5050);
  assert.throws(() => allocator.allocate(request('127.0.0.1', [5050, 5050])), { message: 'Bind for 127.0.0.1:5050 failed: port is already allocated' });
  assert.equal(allocator.allocate({ ...request('0.0.0.0', [5050, 5051]) }).hostPort, 5051, 'a range takes the next free port');
  assert.equal(allocator.allocate({ ...request('0.0.0.0', [5050, 5050]), protocol: 'udp' }).hostPort, 5050, 'udp is separate');
  assert.deepEqual(
    [0, 1, 2].map(() => allocator.allocate(request('0.0.0.0', [0, 0])).hostPort),
    [40000, 40001, 40002],
  );
  assert.throws(() => allocator.allocate(request('0.0.0.0', [0, 0])), /no free host port/);
  allocator.release({ protocol: 'tcp', hostIp: '0.0.0.0', hostPort: 40001 });
  assert.equal(allocator.allocate(request('0.0.0.0', [0, 0])).hostPort, 40001);
});

test("argv: entrypoint then command, the container's own before the image's", () => {
  const image = { entrypoint: ['/init'], cmd: ['serve'] } as unknown as ImageConfig;
  const record = (entrypoint: string[] | null, cmd: string[] | null) => ({ config: { entrypoint, cmd } }) as unknown as ContainerRecord;
  assert.deepEqual(argvOf(record(null, null), image), ['/init', 'serve']);
  assert.deepEqual(argvOf(record(null, ['sh']), image), ['/init', 'sh']);
  assert.deepEqual(argvOf(record(['/bin/echo'], null), image), ['/bin/echo'], "a new entrypoint drops the image's command");
  assert.deepEqual(argvOf(record(null, ['ls']), undefined), ['ls']);
});

test('--link environment as Docker writes it', () => {
  assert.deepEqual(linkEnvironment('db', 'web', '172.17.0.2', ['5432/tcp', '53/udp'], ['PGDATA=/data', 'PATH=/bin']), [
    'DB_PORT=udp://172.17.0.2:53',
    'DB_PORT_53_UDP=udp://172.17.0.2:53',
    'DB_PORT_53_UDP_ADDR=172.17.0.2',
    'DB_PORT_53_UDP_PORT=53',
    'DB_PORT_53_UDP_PROTO=udp',
    'DB_PORT_5432_TCP=tcp://172.17.0.2:5432',
    'DB_PORT_5432_TCP_ADDR=172.17.0.2',
    'DB_PORT_5432_TCP_PORT=5432',
    'DB_PORT_5432_TCP_PROTO=tcp',
    'DB_NAME=/web/db',
    'DB_ENV_PGDATA=/data',
  ]);
});
