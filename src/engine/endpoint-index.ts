/**
 * The engine's endpoints by id, also indexed by sandbox and by network. `ps`
 * and `inspect` ask for a container's endpoints once per container, and
 * `network inspect`/`ls` for a network's, so a scan of every endpoint per
 * question made `ps` grow with the square of the containers. It is a Map, so
 * whoever is handed it (restart's reconcile) keeps the indexes right by
 * using it as one; each subset keeps the order of insertion, as the Map does.
 */
import type { Endpoint } from '../model/network.js';

export class EndpointIndex extends Map<string, Endpoint> {
  private readonly bySandbox = new Map<string, Map<string, Endpoint>>();
  private readonly byNetwork = new Map<string, Map<string, Endpoint>>();

  override set(id: string, endpoint: Endpoint): this {
    const previous = super.get(id);
    if (previous !== undefined && (previous.sandboxId !== endpoint.sandboxId || previous.networkId !== endpoint.networkId)) this.unindex(id, previous);
    super.set(id, endpoint);
    // Map.set on a present key keeps its place, here as in the subsets.
    subset(this.bySandbox, endpoint.sandboxId).set(id, endpoint);
    subset(this.byNetwork, endpoint.networkId).set(id, endpoint);
    return this;
  }

  override delete(id: string): boolean {
    const previous = super.get(id);
    if (previous !== undefined) this.unindex(id, previous);
    return super.delete(id);
  }

  override clear(): void {
    this.bySandbox.clear();
    this.byNetwork.clear();
    super.clear();
  }

  ofSandbox(sandboxId: string): Endpoint[] {
    return [...(this.bySandbox.get(sandboxId)?.values() ?? [])];
  }

  ofNetwork(networkId: string): Endpoint[] {
    return [...(this.byNetwork.get(networkId)?.values() ?? [])];
  }

  private unindex(id: string, endpoint: Endpoint): void {
    drop(this.bySandbox, endpoint.sandboxId, id);
    drop(this.byNetwork, endpoint.networkId, id);
  }
}

function subset(index: Map<string, Map<string, Endpoint>>, key: string): Map<string, Endpoint> {
  let found = index.get(key);
  if (found === undefined) {
    found = new Map();
    index.set(key, found);
  }
  return found;
}

function drop(index: Map<string, Map<string, Endpoint>>, key: string, id: string): void {
  const found = index.get(key);
  found?.delete(id);
  if (found?.size === 0) index.delete(key);
}
