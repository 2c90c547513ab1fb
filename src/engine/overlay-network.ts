/**
 * Overlay networks as pure decisions: a `docker network create -d overlay`
 * request checked and turned into what the cluster store records, and a
 * record from the cluster turned into this host's Network (its bridge
 * settings, its MTU from this host's underlay).
 */
import { conflict, invalid } from '../errors.js';
import type { NetworkRequest, NetworkRecord } from '../cluster/index.js';
import type { Network } from '../model/network.js';
import { BRIDGE_OPTION } from '../model/options.js';
import { VNI_OPTION, VXLAN_OVERHEAD } from '../drivers/overlay.js';
import { overlayBridgeName } from '../drivers/overlay-peers.js';
import { validateNetworkName, type NetworkCreateRequest } from './network-plan.js';
import { cidrsOverlap, parseCidr } from '../ipam/cidr.js';

/** -o options an overlay network takes (Docker's overlay has more: encryption, which skiff does not do). */
const OVERLAY_OPTIONS: readonly string[] = [BRIDGE_OPTION.mtu];

function parseOverlayMtu(options: Record<string, string>): number | undefined {
  const value = options[BRIDGE_OPTION.mtu];
  if (value === undefined || value === '') return undefined;
  const mtu = Number(value);
  if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) {
    throw invalid(`invalid MTU "${value}" for option ${BRIDGE_OPTION.mtu}: it must be a whole number from 68 to 65535`);
  }
  return mtu;
}

/** Checks an overlay create request against the local networks and says what to ask the cluster for. */
export function planOverlayCreate(request: NetworkCreateRequest, id: string, existing: readonly Network[], hostSubnets: readonly string[]): NetworkRequest {
  validateNetworkName(request.name);
  if (existing.some((network) => network.name === request.name)) throw conflict(`network with name ${request.name} already exists`);
  const ipamDriver = request.ipamDriver === undefined || request.ipamDriver === '' ? 'default' : request.ipamDriver;
  if (ipamDriver !== 'default') throw invalid(`plugin "${ipamDriver}" not found`);
  if (request.enableIPv6 === true) throw invalid('overlay networks in skiff are IPv4 only: --ipv6 is not supported on them');
  if (request.ingress === true) throw invalid('ingress networks belong to swarm mode, which skiff does not run');
  const options = request.options ?? {};
  const unknown = Object.keys(options).filter((key) => !OVERLAY_OPTIONS.includes(key));
  if (unknown.length > 0) throw invalid(`overlay networks do not take option ${unknown.join(', ')} (skiff's overlay takes ${OVERLAY_OPTIONS.join(', ')})`);
  parseOverlayMtu(options);
  const ipam = request.ipamConfig ?? [];
  if (ipam.length > 1) throw invalid('overlay networks in skiff take one --subnet');
  const [config] = ipam;
  if (config?.ipRange !== undefined && config.ipRange !== '') throw invalid('--ip-range is not supported on overlay networks');
  if (config?.auxAddresses !== undefined && Object.keys(config.auxAddresses).length > 0) throw invalid('--aux-address is not supported on overlay networks');
  if (config?.gateway !== undefined && config.gateway !== '' && (config.subnet === undefined || config.subnet === ''))
    throw invalid('a gateway needs a --subnet');
  return {
    id,
    name: request.name,
    ...(config?.subnet === undefined || config.subnet === '' ? {} : { subnet: config.subnet }),
    ...(config?.gateway === undefined || config.gateway === '' ? {} : { gateway: config.gateway }),
    internal: request.internal ?? false,
    attachable: request.attachable ?? false,
    labels: request.labels ?? {},
    options,
    avoidSubnets: [...existing.flatMap((network) => network.ipam.pools.map((pool) => pool.subnet)), ...hostSubnets],
  };
}

/** This host's view of a global network: containers at the underlay's MTU less VXLAN's overhead unless -o mtu says otherwise. */
export function overlayNetworkOf(record: NetworkRecord, underlayMtu: number): Network {
  return {
    id: record.id,
    name: record.name,
    driver: 'overlay',
    scope: 'global',
    created: record.created,
    internal: record.internal,
    attachable: record.attachable,
    ingress: false,
    enableIPv6: false,
    ipam: { driver: 'default', options: {}, pools: [{ subnet: record.subnet, gateway: record.gateway, auxAddresses: {}, userConfigured: true }] },
    options: { ...record.options, [VNI_OPTION]: String(record.vni) },
    labels: record.labels,
    bridge: {
      bridgeName: overlayBridgeName(record.id),
      enableIcc: true,
      enableIpMasquerade: true,
      hostBindingIpv4: '0.0.0.0',
      mtu: parseOverlayMtu(record.options) ?? underlayMtu - VXLAN_OVERHEAD,
      isDefaultBridge: false,
    },
  };
}

/**
 * The overlay networks still built here that stand in a new global network's
 * way: another id with its VNI (the kernel allows one VXLAN device per VNI
 * and port) or an overlapping subnet. etcd never holds two such networks at
 * once, so each of these was removed from the cluster before the new one was
 * created; only this host's watch has not taken it down yet.
 */
export function clashingOverlays(record: NetworkRecord, local: readonly Network[]): Network[] {
  const subnet = parseCidr(record.subnet);
  return local.filter(
    (network) =>
      network.driver === 'overlay' &&
      network.id !== record.id &&
      (network.options[VNI_OPTION] === String(record.vni) || network.ipam.pools.some((pool) => cidrsOverlap(parseCidr(pool.subnet), subnet))),
  );
}
