/**
 * A cluster client driven by JSON lines on stdin, one call per line
 * ({"id":1,"op":"createNetwork","request":{…}}), answering {"id":1,"result":…}
 * or {"id":1,"error":{message,kind}}; lease events are pushed as
 * {"event":"leaseLost"}. Run by test/helpers/cluster.ts inside a host's
 * namespace. When stdin closes it leaves the cluster and exits.
 */
import { createInterface } from 'node:readline';
import { ClusterStore, type EndpointRequest, type NetworkRequest, type NodeMembership } from '../../src/cluster/index.js';
import { SkiffError } from '../../src/errors.js';

/** Docker's MAC rule (02:42 + the IPv4 address), as the overlay driver will use it. */
const macOf = (ipv4: string) => ['02', '42', ...ipv4.split('.').map((part) => Number(part).toString(16).padStart(2, '0'))].join(':');

let store: ClusterStore | undefined;
let membership: NodeMembership | undefined;

const send = (message: unknown) => process.stdout.write(`${JSON.stringify(message)}\n`);

function need<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`${what} first`);
  return value;
}

async function handle(call: Record<string, unknown>): Promise<unknown> {
  switch (call['op']) {
    case 'open':
      store = await ClusterStore.open({ url: call['url'] as string });
      return null;
    case 'join':
      membership = await need(store, 'open').join(call['node'] as { nodeId: string; hostname: string; advertiseAddress: string }, {
        handlers: {
          onLeaseLost: () => send({ event: 'leaseLost' }),
          onLeaseRenewed: () => send({ event: 'leaseRenewed' }),
          onEndpointLost: (endpoint) => send({ event: `endpointLost ${endpoint.id}` }),
        },
      });
      return membership.leaseId;
    case 'createNetwork':
      return need(store, 'open').createNetwork(call['request'] as NetworkRequest);
    case 'removeNetwork':
      return need(store, 'open').removeNetwork(call['networkId'] as string);
    case 'addEndpoint':
      return need(membership, 'join').addEndpoint({ ...(call['request'] as Omit<EndpointRequest, 'macOf'>), macOf });
    case 'removeEndpoint':
      return need(membership, 'join').removeEndpoint(call['endpoint'] as { id: string; networkId: string; ipv4: string });
    default:
      throw new Error(`unknown op ${String(call['op'])}`);
  }
}

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  const call = JSON.parse(line) as Record<string, unknown>;
  handle(call).then(
    (result) => send({ id: call['id'], result: result ?? null }),
    (error: unknown) =>
      send({
        id: call['id'],
        error: { message: error instanceof Error ? error.message : String(error), kind: error instanceof SkiffError ? error.kind : 'internal' },
      }),
  );
});
lines.on('close', () => {
  void (async () => {
    await membership?.leave().catch(() => undefined);
    store?.close();
    process.exit(0);
  })();
});
