/** Docker's JSON → skiff's model → Docker's JSON, over the shapes the e2e tests and real clients send. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { containerCreateFromWire } from '../../src/api/wire/containers.js';
import { exposedPortsFromWire, exposedPortsToWire, portBindingsToWire, portRequestsFromWire } from '../../src/api/wire/ports.js';
import { eventToWire } from '../../src/api/wire/events.js';
import { upgradeContainer, upgradeEndpoint, upgradeSandbox } from '../../src/store/upgrade.js';

describe('port bindings', () => {
  it('round-trip: single ports, ranges, ephemeral, several bindings of one port, udp', () => {
    const wire = {
      '80/tcp': [
        { HostIp: '', HostPort: '5050' },
        { HostIp: '127.0.0.1', HostPort: '5051' },
      ],
      '53/udp': [{ HostIp: '', HostPort: '' }],
      '8080/tcp': [{ HostIp: '0.0.0.0', HostPort: '9000-9010' }],
    };
    assert.deepEqual(portBindingsToWire(portRequestsFromWire(wire)), wire);
    assert.deepEqual(portRequestsFromWire({ '80/tcp': null }), [{ protocol: 'tcp', containerPort: 80, hostIp: '', hostPortRange: [0, 0] }]);
    assert.throws(() => portRequestsFromWire({ '80/tcp': [{ HostPort: 80 }] }), /cannot unmarshal number/);
    assert.throws(() => portRequestsFromWire({ '80/tcp': [{ HostIp: 'localhost' }] }), /invalid IP address: localhost/);
  });

  it('exposed ports: a key without protocol is tcp', () => {
    assert.deepEqual(exposedPortsToWire(exposedPortsFromWire({ '80': {}, '53/udp': {} })), { '80/tcp': {}, '53/udp': {} });
  });
});

describe('container create', () => {
  it('reads what the docker CLI and compose send', () => {
    const request = containerCreateFromWire(
      {
        Image: 'busybox',
        Cmd: ['sleep', '300'],
        Env: ['A=1'],
        Labels: { team: 'net' },
        ExposedPorts: { '5432/tcp': {} },
        Tty: true,
        HostConfig: {
          NetworkMode: 'mynet',
          PortBindings: { '80/tcp': [{ HostIp: '', HostPort: '8080' }] },
          PublishAllPorts: true,
          AutoRemove: true,
          Dns: ['10.0.0.1'],
          Links: ['db:database'],
        },
        NetworkingConfig: { EndpointsConfig: { mynet: { IPAMConfig: { IPv4Address: '10.1.0.5' }, Aliases: ['web'] } } },
      },
      'c1',
    );
    assert.equal(request.name, 'c1');
    assert.deepEqual(request.config.cmd, ['sleep', '300']);
    assert.deepEqual(request.config.exposedPorts, ['5432/tcp']);
    assert.deepEqual(request.hostConfig.portBindings, [{ protocol: 'tcp', containerPort: 80, hostIp: '', hostPortRange: [8080, 8080] }]);
    assert.deepEqual([request.hostConfig.networkMode, request.hostConfig.publishAll, request.hostConfig.autoRemove], ['mynet', true, true]);
    assert.deepEqual(request.endpoints['mynet'], {
      ipv4: '10.1.0.5',
      ipv6: undefined,
      linkLocalIps: [],
      aliases: ['web'],
      links: [],
      driverOpts: null,
      macAddress: '',
    });
  });
});

describe('events', () => {
  it("have Docker's shape, with the deprecated fields for containers", () => {
    const wire = eventToWire({
      type: 'container',
      action: 'start',
      actorId: 'abc',
      attributes: { name: 'web', image: 'busybox' },
      timeNano: 1_700_000_000_123_456_789n,
    });
    assert.deepEqual(wire, {
      Type: 'container',
      Action: 'start',
      Actor: { ID: 'abc', Attributes: { name: 'web', image: 'busybox' } },
      scope: 'local',
      time: 1_700_000_000,
      timeNano: 1_700_000_000_123_456_800,
      status: 'start',
      id: 'abc',
      from: 'busybox',
    });
  });
});

describe('store rows of an older shape', () => {
  it('are upgraded as they are read', () => {
    const endpoint = upgradeEndpoint({ id: 'e', ipv4: '172.18.0.2/16', ipv6: 'fd00::2/64' });
    assert.deepEqual(
      [endpoint.ipv4, endpoint.ipv6],
      [
        { family: 4, address: '172.18.0.2', prefix: 16 },
        { family: 6, address: 'fd00::2', prefix: 64 },
      ],
    );
    assert.deepEqual(upgradeSandbox({ id: 's' }).dnsServers, []);
    const container = upgradeContainer({
      id: 'c',
      config: { exposedPorts: { '80/tcp': {} } },
      hostConfig: { portBindings: { '80/tcp': [{ HostIp: '', HostPort: '8000-8001' }] } },
    });
    assert.deepEqual(container.config.exposedPorts, ['80/tcp']);
    assert.deepEqual(container.hostConfig.portBindings, [{ protocol: 'tcp', containerPort: 80, hostIp: '', hostPortRange: [8000, 8001] }]);
  });
});
