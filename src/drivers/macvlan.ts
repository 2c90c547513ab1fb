/**
 * The macvlan driver: each endpoint is a macvlan link on the network's parent
 * interface, made in the host namespace under a temporary name and moved into
 * the sandbox in the same command, then renamed and addressed there. The host
 * keeps no link per endpoint; the network itself changes nothing on the host.
 */
import { invalid } from '../errors.js';
import type { Endpoint, Network, Sandbox } from '../model/network.js';
import { MACVLAN_OPTION } from '../model/options.js';
import { deleteLink, ipBatch, linkExists } from '../kernel/links.js';
import { sandboxSideLines, setDefaultRouteIn } from './bridge.js';
import type { JoinOptions, NetworkDriver } from './driver.js';

function parentOf(network: Network): string {
  return network.options[MACVLAN_OPTION.parent] ?? '';
}

/** `ip` lines that make the endpoint's link on the parent, straight into the sandbox under its temporary name. */
export function macvlanCreateLines(network: Network, endpoint: Endpoint, sandbox: Sandbox): string[] {
  const mode = network.options[MACVLAN_OPTION.mode] || 'bridge';
  return [`link add link ${parentOf(network)} name ${endpoint.hostIfName} address ${endpoint.macAddress} netns ${sandbox.netnsPath} type macvlan mode ${mode}`];
}

export class MacvlanDriver implements NetworkDriver {
  readonly routesOutside = true;

  async createNetwork(network: Network): Promise<void> {
    if (!(await linkExists(parentOf(network)))) throw invalid(`-o parent interface was not found on the host: ${parentOf(network)}`);
  }

  async deleteNetwork(): Promise<void> {}

  async join(network: Network, endpoint: Endpoint, sandbox: Sandbox, options: JoinOptions): Promise<void> {
    await ipBatch(macvlanCreateLines(network, endpoint, sandbox));
    try {
      await ipBatch([`link set ${endpoint.hostIfName} name ${endpoint.ifName}`, ...sandboxSideLines(endpoint, options)], sandbox.netnsPath);
    } catch (error) {
      await this.leave(network, endpoint, sandbox);
      throw error;
    }
  }

  /** The link lives in the sandbox, under its final name or (mid-join) its temporary one: whichever is there goes. */
  async leave(_network: Network, endpoint: Endpoint, sandbox: Sandbox): Promise<void> {
    for (const name of [endpoint.ifName, endpoint.hostIfName]) {
      if (await linkExists(name, sandbox.netnsPath)) await deleteLink(name, sandbox.netnsPath);
    }
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
