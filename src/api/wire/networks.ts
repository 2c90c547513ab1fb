/**
 * Docker's network JSON (PascalCase) to and from the engine's model; the one
 * place these shapes are converted.
 */
import { cidrOf } from '../../model/address.js';
import type { Endpoint, Network } from '../../model/network.js';
import type { NetworkCreateRequest } from '../../engine/network-plan.js';
import type { IpamRequest } from '../../ipam/index.js';
import { invalid } from '../../errors.js';
import { optionalArray, optionalBool, optionalObject, optionalString, optionalStringMap } from './json-fields.js';

export interface WireNetworkContainer {
  Name: string;
  EndpointID: string;
  MacAddress: string;
  IPv4Address: string;
  IPv6Address: string;
}

export function networkToWire(network: Network, endpoints: readonly Endpoint[]): Record<string, unknown> {
  const containers: Record<string, WireNetworkContainer> = {};
  for (const endpoint of endpoints) {
    containers[endpoint.containerId || `ep-${endpoint.id}`] = {
      Name: endpoint.name,
      EndpointID: endpoint.id,
      MacAddress: endpoint.macAddress,
      IPv4Address: endpoint.ipv4 === undefined ? '' : cidrOf(endpoint.ipv4),
      IPv6Address: endpoint.ipv6 === undefined ? '' : cidrOf(endpoint.ipv6),
    };
  }
  return {
    Name: network.name,
    Id: network.id,
    Created: network.created,
    Scope: network.scope,
    Driver: network.driver,
    EnableIPv6: network.enableIPv6,
    IPAM: {
      Driver: network.ipam.driver,
      Options: network.ipam.options,
      Config: network.ipam.pools.map((pool) => {
        const config: Record<string, unknown> = { Subnet: pool.subnet };
        if (pool.ipRange !== undefined) config['IPRange'] = pool.ipRange;
        config['Gateway'] = pool.gateway;
        if (Object.keys(pool.auxAddresses).length > 0) config['AuxiliaryAddresses'] = pool.auxAddresses;
        return config;
      }),
    },
    Internal: network.internal,
    Attachable: network.attachable,
    Ingress: network.ingress,
    ConfigFrom: { Network: '' },
    ConfigOnly: false,
    Containers: containers,
    Options: network.options,
    Labels: network.labels,
  };
}

function ipamRequestFromWire(entry: unknown): IpamRequest {
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) throw invalid('json: IPAM.Config entries must be objects');
  const body = entry as Record<string, unknown>;
  const request: IpamRequest = {};
  const subnet = optionalString(body, 'Subnet');
  const ipRange = optionalString(body, 'IPRange');
  const gateway = optionalString(body, 'Gateway');
  const auxAddresses = optionalStringMap(body, 'AuxiliaryAddresses') ?? optionalStringMap(body, 'AuxAddress');
  if (subnet) request.subnet = subnet;
  if (ipRange) request.ipRange = ipRange;
  if (gateway) request.gateway = gateway;
  if (auxAddresses && Object.keys(auxAddresses).length > 0) request.auxAddresses = auxAddresses;
  return request;
}

export function networkCreateFromWire(body: Record<string, unknown>): NetworkCreateRequest {
  const name = optionalString(body, 'Name');
  if (name === undefined || name === '') throw invalid('network name cannot be empty');
  const ipam = optionalObject(body, 'IPAM');
  const request: NetworkCreateRequest = {
    name,
    driver: optionalString(body, 'Driver'),
    internal: optionalBool(body, 'Internal'),
    attachable: optionalBool(body, 'Attachable'),
    ingress: optionalBool(body, 'Ingress'),
    enableIPv6: optionalBool(body, 'EnableIPv6'),
    options: optionalStringMap(body, 'Options'),
    labels: optionalStringMap(body, 'Labels'),
    checkDuplicate: optionalBool(body, 'CheckDuplicate'),
  };
  if (request.ingress) throw invalid('ingress networks can only be created in a swarm');
  if (optionalBool(body, 'ConfigOnly')) throw invalid('config-only networks are not supported by skiff');
  if (ipam !== undefined) {
    request.ipamDriver = optionalString(ipam, 'Driver');
    request.ipamConfig = (optionalArray(ipam, 'Config') ?? []).map(ipamRequestFromWire);
    request.ipamOptions = optionalStringMap(ipam, 'Options') ?? null;
  }
  return request;
}
