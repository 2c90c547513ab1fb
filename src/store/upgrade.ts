/**
 * Rows written by an older skiff, brought to today's model as they are read
 * (pure), so a data root written before a change of shape still opens.
 * Each step says which shape it upgrades from.
 */
import { parseInterfaceAddress, type InterfaceAddress } from '../model/address.js';
import {
  emptyEndpointRequest,
  noResources,
  type ContainerRecord,
  type ContainerResources,
  type EndpointRequest,
  type MountRequest,
  type RestartPolicy,
} from '../model/container.js';
import type { Endpoint, PortProtocol, PortRequest, Sandbox } from '../model/network.js';

type Row = Record<string, unknown>;

/** Endpoint addresses were "172.18.0.2/16" strings. */
function addressField(value: unknown): InterfaceAddress | undefined {
  if (typeof value === 'string') return parseInterfaceAddress(value);
  return value as InterfaceAddress | undefined;
}

export function upgradeEndpoint(row: Row): Endpoint {
  return { ...(row as unknown as Endpoint), ipv4: addressField(row['ipv4']), ipv6: addressField(row['ipv6']) };
}

/** Sandboxes had no dnsServers (the container layer kept them). */
export function upgradeSandbox(row: Row): Sandbox {
  return { ...(row as unknown as Sandbox), dnsServers: Array.isArray(row['dnsServers']) ? (row['dnsServers'] as string[]) : [] };
}

/** Port bindings were Docker's wire map {"80/tcp": [{HostIp, HostPort}]}. */
function portRequestsField(value: unknown): PortRequest[] {
  if (Array.isArray(value)) return value as PortRequest[];
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value as Record<string, Array<{ HostIp?: string; HostPort?: string }> | null>).flatMap(([key, bindings]) => {
    const [port = '', protocol = 'tcp'] = key.split('/');
    return (bindings ?? [{}]).map((binding) => {
      const [low = '0', high] = (binding.HostPort || '0').split('-');
      return {
        protocol: protocol as PortProtocol,
        containerPort: Number(port),
        hostIp: binding.HostIp ?? '',
        hostPortRange: [Number(low), Number(high ?? low)] as [number, number],
      };
    });
  });
}

/** Exposed ports were Docker's wire map {"80/tcp": {}}. */
function exposedPortsField(value: unknown): string[] {
  if (Array.isArray(value)) return value as string[];
  return value !== null && typeof value === 'object' ? Object.keys(value) : [];
}

/** Endpoint settings held only ipv4, ipv6 and aliases. */
function endpointRequestsField(value: unknown): Record<string, EndpointRequest> {
  const requests = (value ?? {}) as Record<string, Partial<EndpointRequest>>;
  return Object.fromEntries(Object.entries(requests).map(([network, request]) => [network, { ...emptyEndpointRequest(), ...request }]));
}

const ATTACHED_NOTHING: Pick<ContainerRecord['config'], 'attachStdin' | 'attachStdout' | 'attachStderr' | 'volumes'> = {
  attachStdin: false,
  attachStdout: false,
  attachStderr: false,
  // Volumes were refused: none.
  volumes: [],
};

export function upgradeContainer(row: Row): ContainerRecord {
  const record = row as unknown as ContainerRecord;
  return {
    ...record,
    networks: endpointRequestsField(row['networks']),
    // attachStdin/Stdout/Stderr were not kept: false, as a detached create has them.
    config: { ...ATTACHED_NOTHING, ...record.config, exposedPorts: exposedPortsField((row['config'] as Row)['exposedPorts']) },
    // Restart policies were refused: every older container has "no", never restarted, never stopped by a policy.
    hostConfig: {
      ...record.hostConfig,
      portBindings: portRequestsField((row['hostConfig'] as Row)['portBindings']),
      restartPolicy: ((row['hostConfig'] as Row)['restartPolicy'] as RestartPolicy | undefined) ?? { name: 'no', maximumRetryCount: 0 },
      // Bind mounts were refused: an older container has none.
      binds: ((row['hostConfig'] as Row)['binds'] as string[] | undefined) ?? [],
      mounts: ((row['hostConfig'] as Row)['mounts'] as MountRequest[] | undefined) ?? [],
      // --tmpfs and --volumes-from were refused: none.
      tmpfs: ((row['hostConfig'] as Row)['tmpfs'] as Record<string, string> | undefined) ?? {},
      volumesFrom: ((row['hostConfig'] as Row)['volumesFrom'] as string[] | undefined) ?? [],
      // Resource limits were refused: an older container has none.
      resources: ((row['hostConfig'] as Row)['resources'] as ContainerResources | undefined) ?? noResources(),
      // Every container ran with runc before --runtime.
      runtime: ((row['hostConfig'] as Row)['runtime'] as string | undefined) ?? 'runc',
      // --sysctl was refused: none.
      sysctls: ((row['hostConfig'] as Row)['sysctls'] as Record<string, string> | undefined) ?? {},
      // --log-opt was accepted and not carried out: an older container's log is never rotated.
      logOptions: ((row['hostConfig'] as Row)['logOptions'] as Record<string, string> | undefined) ?? {},
    },
    // Pause was not carried out, nor OOM noticed.
    state: { ...record.state, paused: record.state?.paused === true, oomKilled: record.state?.oomKilled === true },
    restartCount: typeof row['restartCount'] === 'number' ? row['restartCount'] : 0,
    manuallyStopped: row['manuallyStopped'] === true,
  };
}
