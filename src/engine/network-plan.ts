/**
 * Network creation as a pure decision: the request plus what already exists
 * in, the finished Network (or Docker's error) out. No I/O here.
 */
import { conflict, invalid, notFound, SkiffError } from '../errors.js';
import { planNetworkIpam, type AddressPoolSpec, type IpamRequest } from '../ipam/index.js';
import type { BridgeSettings, DriverName, Network } from '../model/network.js';
import { shortId } from '../model/ids.js';
import { BRIDGE_OPTION, DEFAULT_MTU, MACVLAN_OPTION, PREDEFINED_NETWORKS } from '../model/options.js';

export interface NetworkCreateRequest {
  name: string;
  driver?: string;
  internal?: boolean;
  attachable?: boolean;
  ingress?: boolean;
  enableIPv6?: boolean;
  ipamDriver?: string;
  ipamConfig?: IpamRequest[];
  /** IPAM.Options as the client sent them; absent is shown as null, as Docker does. */
  ipamOptions?: Record<string, string> | null;
  options?: Record<string, string>;
  labels?: Record<string, string>;
  /** Docker's CheckDuplicate: refuse a name already in use. Without it (20.10) a second network of that name is made, with a warning. */
  checkDuplicate?: boolean;
}

const MAX_NAME_LENGTH = 255;
const INTERFACE_NAME_PATTERN = /^[a-zA-Z0-9_.-]{1,15}$/;

export function validateNetworkName(name: string): void {
  if (name === '') throw invalid('network name cannot be empty');
  if (name.length > MAX_NAME_LENGTH) {
    throw invalid(`invalid network name "${name.slice(0, 40)}…": a name is at most ${MAX_NAME_LENGTH} characters`);
  }
}

/** Create's Warning when another network already has the name (CheckDuplicate off), as Docker words it; '' otherwise. */
export function duplicateNameWarning(network: Network, all: readonly Network[]): string {
  const older = all.find((other) => other.name === network.name && other.id !== network.id);
  return older === undefined ? '' : `Network with name ${network.name} (id : ${older.id}) already exists`;
}

function parseBoolOption(options: Record<string, string>, key: string, fallback: boolean): boolean {
  const value = options[key];
  if (value === undefined || value === '') return fallback;
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(value)) return false;
  throw invalid(`failed to parse ${key} value: invalid boolean "${value}"`);
}

function parseMtu(options: Record<string, string>): number {
  const value = options[BRIDGE_OPTION.mtu];
  if (value === undefined || value === '') return DEFAULT_MTU;
  const mtu = Number(value);
  if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) {
    throw invalid(`invalid MTU "${value}" for option ${BRIDGE_OPTION.mtu}: it must be a whole number from 68 to 65535`);
  }
  return mtu;
}

function parseIpv4Option(options: Record<string, string>, key: string, fallback: string): string {
  const value = options[key];
  if (value === undefined || value === '') return fallback;
  const parts = value.split('.');
  const valid = parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255);
  if (!valid) throw invalid(`invalid IPv4 address "${value}" for option ${key}`);
  return value;
}

/** The bridge driver's settings, decided from Docker's -o options. */
export function planBridgeSettings(networkId: string, options: Record<string, string>, existing: readonly Network[]): BridgeSettings {
  const requestedName = options[BRIDGE_OPTION.name];
  if (requestedName !== undefined && !INTERFACE_NAME_PATTERN.test(requestedName)) {
    throw invalid(`invalid bridge name "${requestedName}" for option ${BRIDGE_OPTION.name}: at most 15 letters, digits, '_', '.' or '-'`);
  }
  const bridgeName = requestedName ?? `br-${shortId(networkId)}`;
  const clash = existing.find((network) => network.bridge?.bridgeName === bridgeName);
  if (clash !== undefined) {
    throw conflict(`cannot create network ${networkId} (${bridgeName}): conflicts with network ${clash.id} (${bridgeName}): networks have same bridge name`);
  }
  return {
    bridgeName,
    enableIcc: parseBoolOption(options, BRIDGE_OPTION.enableIcc, true),
    enableIpMasquerade: parseBoolOption(options, BRIDGE_OPTION.enableIpMasquerade, true),
    hostBindingIpv4: parseIpv4Option(options, BRIDGE_OPTION.hostBindingIpv4, '0.0.0.0'),
    mtu: parseMtu(options),
    isDefaultBridge: parseBoolOption(options, BRIDGE_OPTION.defaultBridge, false),
  };
}

const MACVLAN_MODES = ['bridge', 'private', 'vepa', 'passthru'];

/** Docker's macvlan options; a parent-less (or internal) network would need a dummy link, which this kernel lacks. */
function validateMacvlanOptions(options: Record<string, string>, internal: boolean): void {
  const parent = options[MACVLAN_OPTION.parent];
  if (parent === undefined || parent === '' || internal) {
    throw invalid(
      "macvlan networks need -o parent=<interface>: a parent-less or --internal macvlan network needs the kernel's dummy links (CONFIG_DUMMY), which this kernel does not have",
    );
  }
  if (!INTERFACE_NAME_PATTERN.test(parent)) throw invalid(`invalid parent interface name "${parent}"`);
  if (parent.includes('.')) throw invalid(`-o parent=${parent} is a VLAN sub-interface: this kernel has no 802.1q support (CONFIG_VLAN_8021Q)`);
  const mode = options[MACVLAN_OPTION.mode];
  if (mode !== undefined && mode !== '' && !MACVLAN_MODES.includes(mode))
    throw invalid(`requested macvlan mode '${mode}' is not valid, 'bridge' mode is the macvlan driver default`);
}

function resolveDriver(driver: string | undefined): DriverName {
  const name = driver === undefined || driver === '' ? 'bridge' : driver;
  switch (name) {
    case 'bridge':
      return 'bridge';
    case 'macvlan':
      return 'macvlan';
    case 'host':
    case 'null':
      throw new SkiffError('forbidden', `only one instance of "${name}" network is allowed`);
    case 'ipvlan':
      throw invalid("ipvlan networks need the kernel's ipvlan support (CONFIG_IPVLAN), which this kernel does not have");
    case 'overlay':
      throw invalid('This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.');
    default:
      throw notFound(`plugin "${name}" not found`);
  }
}

export interface PlanContext {
  id: string;
  created: string;
  existing: readonly Network[];
  /** The host's own networks: a default pool avoids them. */
  hostSubnets?: readonly string[];
  /** dockerd's default-address-pools (Docker's predefined pools when absent or empty). */
  defaultPools?: readonly AddressPoolSpec[];
}

export function planNetwork(request: NetworkCreateRequest, context: PlanContext): Network {
  validateNetworkName(request.name);
  if ((PREDEFINED_NETWORKS as readonly string[]).includes(request.name)) {
    throw new SkiffError('forbidden', `operation is not permitted on predefined ${request.name} network `);
  }
  if (request.checkDuplicate === true && context.existing.some((network) => network.name === request.name)) {
    throw conflict(`network with name ${request.name} already exists`);
  }
  const driver = resolveDriver(request.driver);
  const ipamDriver = request.ipamDriver === undefined || request.ipamDriver === '' ? 'default' : request.ipamDriver;
  if (ipamDriver !== 'default') throw notFound(`plugin "${ipamDriver}" not found`);
  const options = request.options ?? {};
  const bridge = driver === 'bridge' ? planBridgeSettings(context.id, options, context.existing) : undefined;
  if (driver === 'macvlan') validateMacvlanOptions(options, request.internal ?? false);
  const usedSubnets = context.existing.flatMap((network) => network.ipam.pools.map((pool) => pool.subnet));
  const pools = planNetworkIpam({
    requests: request.ipamConfig ?? [],
    enableIPv6: request.enableIPv6 ?? false,
    usedSubnets,
    networkName: request.name,
    hostSubnets: context.hostSubnets,
    defaultPools: context.defaultPools,
  });
  return {
    id: context.id,
    name: request.name,
    driver,
    scope: 'local',
    created: context.created,
    internal: request.internal ?? false,
    attachable: request.attachable ?? false,
    ingress: request.ingress ?? false,
    enableIPv6: request.enableIPv6 ?? false,
    ipam: { driver: ipamDriver, options: request.ipamOptions ?? null, pools },
    options,
    labels: request.labels ?? {},
    ...(bridge === undefined ? {} : { bridge }),
  };
}

export interface DefaultBridgeConfig {
  bridgeName: string;
  subnet: string;
  mtu: number;
  icc: boolean;
  ipMasquerade: boolean;
  hostBindingIpv4: string;
  /** The bridge's own address (dockerd --bip 10.0.0.5/24 gives 10.0.0.5); the subnet's first address otherwise. */
  gateway?: string;
  /** dockerd --fixed-cidr: the part of the subnet containers' addresses come from. */
  ipRange?: string;
  /** dockerd --ipv6 --fixed-cidr-v6: the default bridge's IPv6 subnet (IPv6 off without it). */
  subnet6?: string;
}

/**
 * Whether the default bridge in the store is the one the daemon's settings
 * ask for now (dockerd makes it again at every start; skiff keeps it, with
 * its id, while they agree).
 */
export function sameDefaultBridge(stored: Network, wanted: Network): boolean {
  const pools = (network: Network) => network.ipam.pools.map((pool) => [pool.subnet, pool.gateway, pool.ipRange ?? '']);
  const options = (network: Network) => Object.entries(network.options).sort(([a], [b]) => a.localeCompare(b));
  return (
    stored.enableIPv6 === wanted.enableIPv6 &&
    JSON.stringify(pools(stored)) === JSON.stringify(pools(wanted)) &&
    JSON.stringify(options(stored)) === JSON.stringify(options(wanted))
  );
}

/** The predefined networks as Docker creates them at daemon start. */
export function planPredefinedNetwork(name: (typeof PREDEFINED_NETWORKS)[number], context: PlanContext, defaults: DefaultBridgeConfig): Network {
  const base = {
    id: context.id,
    name,
    scope: 'local' as const,
    created: context.created,
    internal: false,
    attachable: false,
    ingress: false,
    enableIPv6: false,
    labels: {},
  };
  if (name === 'host') return { ...base, driver: 'host', ipam: { driver: 'default', options: null, pools: [] }, options: {} };
  if (name === 'none') return { ...base, driver: 'null', ipam: { driver: 'default', options: null, pools: [] }, options: {} };
  const options: Record<string, string> = {
    [BRIDGE_OPTION.defaultBridge]: 'true',
    [BRIDGE_OPTION.enableIcc]: String(defaults.icc),
    [BRIDGE_OPTION.enableIpMasquerade]: String(defaults.ipMasquerade),
    [BRIDGE_OPTION.hostBindingIpv4]: defaults.hostBindingIpv4,
    [BRIDGE_OPTION.name]: defaults.bridgeName,
    [BRIDGE_OPTION.mtu]: String(defaults.mtu),
  };
  const enableIPv6 = defaults.subnet6 !== undefined;
  const pools = planNetworkIpam({
    requests: [{ subnet: defaults.subnet, gateway: defaults.gateway, ipRange: defaults.ipRange }, ...(enableIPv6 ? [{ subnet: defaults.subnet6 }] : [])],
    enableIPv6,
    usedSubnets: [],
  }).map((pool) => ({ ...pool, userConfigured: false }));
  return {
    ...base,
    enableIPv6,
    driver: 'bridge',
    ipam: { driver: 'default', options: null, pools },
    options,
    bridge: planBridgeSettings(context.id, options, context.existing),
  };
}
