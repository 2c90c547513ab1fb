import type { Endpoint, Network, Sandbox } from '../engine/model.js';

/**
 * One module per driver, four verbs and a restore. The engine has validated
 * everything and allocated addresses before calling; a driver only carries
 * out, and undoes its own partial work when a step fails.
 */
export interface NetworkDriver {
  createNetwork(network: Network): Promise<void>;
  /** Idempotent: what is already gone is success. */
  deleteNetwork(network: Network): Promise<void>;
  join(network: Network, endpoint: Endpoint, sandbox: Sandbox, options: JoinOptions): Promise<void>;
  /** Idempotent. */
  leave(network: Network, endpoint: Endpoint, sandbox: Sandbox): Promise<void>;
  /** After a daemon restart: make the kernel match a network the store holds. */
  restoreNetwork(network: Network): Promise<void>;
  /** Host links this driver owns for a network (kept by reconcile; other skiff-named links are removed). */
  ownedLinks(network: Network): string[];
  /** After a restart: whether an endpoint's kernel objects are still all there. */
  endpointIntact(network: Network, endpoint: Endpoint, sandbox: Sandbox): Promise<boolean>;
}

export interface JoinOptions {
  /** This endpoint carries the sandbox's default route. */
  defaultRoute: boolean;
}
