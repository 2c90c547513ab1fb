/**
 * The macvlan driver: each endpoint is a macvlan link on the network's parent
 * interface, made in the host namespace under a temporary name and moved into
 * the sandbox in the same command, then renamed and addressed there. The host
 * keeps no link per endpoint; the network itself changes nothing on the host.
 */
import { invalid } from '../errors.js';
import type { Endpoint, Network, Sandbox } from '../model/network.js';
import { MACVLAN_OPTION } from '../model/options.js';
import { deleteLink, linkExists } from '../kernel/links.js';
import { isMacvlanMode, linkAddMacvlan, linkSet, type NetnsRef, type RtnetlinkRequest } from '../kernel/rtnetlink/messages.js';
import { sendRequests, withNetns } from '../kernel/rtnetlink/send.js';
import { enableIpv6Inside, sandboxSideRequests, setDefaultRouteIn } from './bridge.js';
import type { JoinOptions, NetworkDriver } from './driver.js';

function parentOf(network: Network): string {
  return network.options[MACVLAN_OPTION.parent] ?? '';
}

/** The endpoint's link on the parent, made straight in the sandbox (netns) under its temporary name. */
export function macvlanCreateRequest(network: Network, endpoint: Endpoint, netns: NetnsRef): RtnetlinkRequest {
  const mode = network.options[MACVLAN_OPTION.mode] || 'bridge';
  if (!isMacvlanMode(mode)) throw invalid(`requested macvlan mode '${mode}' is not valid, 'bridge' mode is the macvlan driver default`);
  return linkAddMacvlan({ name: endpoint.hostIfName, parent: parentOf(network), address: endpoint.macAddress, mode, netns });
}

export class MacvlanDriver implements NetworkDriver {
  readonly routesOutside = true;

  async createNetwork(network: Network): Promise<void> {
    if (!(await linkExists(parentOf(network)))) throw invalid(`-o parent interface was not found on the host: ${parentOf(network)}`);
  }

  async deleteNetwork(): Promise<void> {}

  async join(network: Network, endpoint: Endpoint, sandbox: Sandbox, options: JoinOptions): Promise<void> {
    await withNetns(sandbox.netnsPath, (netns) => sendRequests([macvlanCreateRequest(network, endpoint, netns)]));
    try {
      await enableIpv6Inside(endpoint, sandbox, endpoint.hostIfName);
      await sendRequests([linkSet(endpoint.hostIfName, { name: endpoint.ifName }), ...sandboxSideRequests(endpoint, options)], sandbox.netnsPath);
    } catch (error) {
      await this.leave(network, endpoint, sandbox);
      throw error;
    }
  }

  /** The link lives in the sandbox, under its final name or (mid-join) its temporary one: whichever is there goes. */
  async leave(_network: Network, endpoint: Endpoint, sandbox: Sandbox): Promise<void> {
    for (const name of [endpoint.ifName, endpoint.hostIfName]) await deleteLink(name, sandbox.netnsPath);
  }

  setDefaultRoute(_network: Network, endpoint: Endpoint, sandbox: Sandbox, gateways: readonly string[]): Promise<void> {
    return setDefaultRouteIn(endpoint, sandbox, gateways);
  }

  async restoreNetwork(): Promise<void> {}

  ownedLinks(): string[] {
    return [];
  }

  endpointIntact(_network: Network, endpoint: Endpoint, sandbox: Sandbox): Promise<boolean> {
    return linkExists(endpoint.ifName, sandbox.netnsPath);
  }
}
