import type { Endpoint, Network, Sandbox } from '../model/network.js';

/**
 * One module per driver: create/delete a network, join/leave an endpoint,
 * and what a restart and the engine's routing need to know. The engine has
 * validated everything and allocated addresses before calling; a driver only
 * carries out, and undoes its own partial work when a step fails.
 */
export interface NetworkDriver {
  /** Whether its endpoints lead off the host (and so can carry a sandbox's default route and take static addresses). */
  readonly routesOutside: boolean;
  /** How many endpoints one network of this driver can hold, when the kernel sets a limit. */
  readonly maxEndpoints?: number;
  createNetwork(network: Network): Promise<void>;
  /** Idempotent: what is already gone is success. */
  deleteNetwork(network: Network): Promise<void>;
  join(network: Network, endpoint: Endpoint, sandbox: Sandbox, options: JoinOptions): Promise<void>;
  /**
   * Optional, for drivers whose leave() is slow in the kernel (a veth's
   * delete): cuts the endpoint off at once — no traffic in or out — so that
   * leave() can follow after the answer. Idempotent.
   */
  detach?(network: Network, endpoint: Endpoint): Promise<void>;
  /** Idempotent. */
  leave(network: Network, endpoint: Endpoint, sandbox: Sandbox): Promise<void>;
  /** Points the sandbox's default routes through this endpoint (the one that carried them left). */
  setDefaultRoute(network: Network, endpoint: Endpoint, sandbox: Sandbox, gateways: readonly string[]): Promise<void>;
  /** After a daemon restart: make the kernel match a network the store holds. */
  restoreNetwork(network: Network): Promise<void>;
  /** Host links this driver owns for a network (kept by reconcile; other skiff-named links are removed). */
  ownedLinks(network: Network): string[];
  /** After a restart: whether an endpoint's kernel objects are still all there (hostLinks: the daemon namespace's links, read once for all). */
  endpointIntact(network: Network, endpoint: Endpoint, sandbox: Sandbox, hostLinks: ReadonlySet<string>): Promise<boolean>;
  /** After a restart, for an intact endpoint: set again what the driver keeps on its links. Idempotent. */
  restoreEndpoint?(network: Network, endpoint: Endpoint): Promise<void>;
}

export interface JoinOptions {
  /** Gateways the sandbox's default routes go through ([] when another endpoint carries them). */
  defaultGateways: readonly string[];
}
