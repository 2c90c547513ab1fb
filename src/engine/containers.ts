/**
 * Containers: a record in the store, a sandbox (network namespace with its
 * endpoints) while running, and a runc process from the runtime. Docker's
 * lifecycle: the sandbox is made at start and released when the process
 * ends; network connect/disconnect change a running container live.
 */
import { mkdirSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { conflict, forbidden, invalid, notFound, SkiffError } from '../errors.js';
import type { ContainerRuntime } from '../runtime/containers.js';
import type { Image, ImageStore } from '../runtime/images.js';
import type { Engine } from './engine.js';
import type { Endpoint, Network, PortBinding } from './model.js';
import { portRequests } from '../ports/index.js';
import type { PublishedPorts } from './published-ports.js';
import { newId, timestampNow } from './ids.js';
import { renderHosts, renderResolvConf } from './container-files.js';
import { Mutex } from './mutex.js';
import { argvOf, generateName, linkEnvironment, NAME_PATTERN, ZERO_TIME, type ContainerRecord, type CreateRequest, type EndpointRequest } from './container-model.js';
import type { NameService } from './name-service.js';

export class Containers {
  private readonly records = new Map<string, ContainerRecord>();
  private readonly mutex = new Mutex();
  /** Exits being processed, so that stop/rm can await the network's release. */
  private readonly releasing = new Map<string, Promise<void>>();
  /** Clients attached to a container's output; --rm waits for them to read it all. */
  private readonly attachedClients = new Map<string, number>();
  /** Start attempts per container (failed ones too), so a waiter for the next start is never left hanging. */
  private readonly startAttempts = new Map<string, number>();

  constructor(
    private readonly engine: Engine,
    private readonly runtime: ContainerRuntime,
    private readonly images: ImageStore,
    private readonly names: NameService,
    private readonly ports: PublishedPorts,
    /** Read at each container start: a configuration reload may change the daemon's DNS settings. */
    private readonly options: { dataRoot: string; dnsServers: string[]; dnsSearch?: string[]; dnsOptions?: string[]; log: (message: string) => void },
  ) {
    for (const record of engine.store.containers<ContainerRecord>()) this.records.set(record.id, record);
    runtime.onExit((id, exitCode) => { this.trackRelease(id, this.handleExit(id, exitCode)); });
  }

  /** After a daemon restart: containers that died while it was away are marked exited and released. */
  async restore(): Promise<void> {
    await this.runtime.restore();
    for (const record of this.records.values()) {
      if (record.state.status !== 'running') continue;
      const state = await this.runtime.state(record.id).catch(() => undefined);
      if (state === undefined || state.status === 'exited') await this.handleExit(record.id, state?.exitCode ?? 255);
      else await this.registerNames(record);
    }
  }

  private attachedNetworks(record: ContainerRecord): Array<{ endpoint: Endpoint; network: Network }> {
    return this.endpoints(record).map((endpoint) => ({ endpoint, network: this.engine.getNetwork(endpoint.networkId) }));
  }

  /** Gives the embedded DNS every endpoint of a running container (after a daemon restart). */
  private async registerNames(record: ContainerRecord): Promise<void> {
    if (record.sandboxId === '' || record.hostConfig.networkMode.startsWith('container:')) return;
    const sandbox = this.engine.getSandbox(record.sandboxId);
    const attached = this.attachedNetworks(record);
    const primary = attached.find(({ endpoint }) => record.ports.some((binding) => binding.endpointId === endpoint.id));
    if (primary !== undefined) await this.ports.restore(record.ports, primary.network);
    for (const { endpoint, network } of attached) await this.names.endpointJoined(this.named(record), network, endpoint, sandbox, attached);
  }

  private named(record: ContainerRecord) {
    return { id: record.id, name: record.name, hostname: record.config.hostname, dns: record.hostConfig.dns };
  }

  list(): ContainerRecord[] {
    return [...this.records.values()];
  }

  get(reference: string): ContainerRecord {
    const byId = this.records.get(reference);
    if (byId !== undefined) return byId;
    const name = reference.replace(/^\//, '');
    const byName = [...this.records.values()].find((record) => record.name === name);
    if (byName !== undefined) return byName;
    const byPrefix = reference === '' ? [] : [...this.records.values()].filter((record) => record.id.startsWith(reference));
    if (byPrefix.length === 1) return byPrefix[0]!;
    throw notFound(`No such container: ${reference}`);
  }

  image(record: ContainerRecord): Image | undefined {
    try { return this.images.resolve(record.imageId); } catch { return undefined; }
  }

  endpoints(record: ContainerRecord): Endpoint[] {
    return record.sandboxId === '' ? [] : this.engine.endpointsOfSandbox(record.sandboxId);
  }

  sandboxKey(record: ContainerRecord): string {
    if (record.sandboxId === '') return '';
    try { return this.engine.getSandbox(record.sandboxId).netnsPath; } catch { return ''; }
  }

  /** Kept apart from the runtime's own per-container directory, which a restart renews. */
  private etcDir(id: string): string {
    return join(this.options.dataRoot, 'container-files', id);
  }

  filesOf(id: string): { hosts: string; resolvConf: string; hostname: string } {
    const dir = this.etcDir(id);
    return { hosts: join(dir, 'hosts'), resolvConf: join(dir, 'resolv.conf'), hostname: join(dir, 'hostname') };
  }

  create(request: CreateRequest): Promise<ContainerRecord> {
    return this.mutex.run(async () => {
      const image = this.images.resolve(request.config.image);
      const name = request.name === undefined || request.name === '' ? generateName((candidate) => [...this.records.values()].some((record) => record.name === candidate)) : request.name.replace(/^\//, '');
      if (!NAME_PATTERN.test(name)) throw invalid(`Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
      const taken = [...this.records.values()].find((record) => record.name === name);
      if (taken !== undefined) throw conflict(`Conflict. The container name "/${name}" is already in use by container "${taken.id}". You have to remove (or rename) that container to be able to reuse that name.`);
      const networks = this.planNetworks(request);
      for (const link of request.hostConfig.links) {
        const target = link.replace(/^\//, '').split(':')[0]!;
        if (!this.records.has(target) && ![...this.records.values()].some((candidate) => candidate.name === target)) {
          throw invalid(`could not get container for ${target}`);
        }
      }
      if (request.config.macAddress !== '' && !/^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/.test(request.config.macAddress)) {
        throw invalid(`${request.config.macAddress} is not a valid mac address`);
      }
      const id = newId();
      const record: ContainerRecord = {
        id, name, created: timestampNow(), imageId: image.id,
        config: { ...request.config, hostname: request.config.hostname || id.slice(0, 12) },
        hostConfig: request.hostConfig, networks, sandboxId: '', ports: [],
        state: { status: 'created', pid: 0, exitCode: 0, startedAt: ZERO_TIME, finishedAt: ZERO_TIME },
      };
      if (record.config.cmd === null && record.config.entrypoint === null && image.config.Cmd === null && image.config.Entrypoint === null) {
        throw invalid('No command specified');
      }
      this.save(record);
      this.emit(record, 'create');
      return record;
    });
  }

  /**
   * Validates the network mode and requests; returns network key → request for
   * bridge-like networks. An unknown network is kept by name: like Docker, the
   * create succeeds and the start reports "network X not found".
   */
  private planNetworks(request: CreateRequest): Record<string, EndpointRequest> {
    const given = request.hostConfig.networkMode;
    const mode = given === '' || given === 'default' ? 'bridge' : given;
    if (mode === 'host' || mode === 'none' || mode.startsWith('container:')) {
      const hasStatic = Object.values(request.endpoints).some((endpoint) => endpoint.ipv4 || endpoint.ipv6);
      if (mode === 'host' && hasStatic) throw invalid('conflicting options: cannot specify static IP address when using host networking');
      if (mode.startsWith('container:') && (Object.keys(request.hostConfig.portBindings).length > 0 || request.hostConfig.publishAll)) {
        throw invalid('conflicting options: port publishing and the container type network mode');
      }
      return {};
    }
    let primary: Network | undefined;
    try { primary = this.engine.getNetwork(mode); } catch (error) {
      if (!(error instanceof SkiffError && error.kind === 'notFound')) throw error;
    }
    const requested = request.endpoints[given] ?? request.endpoints[mode]
      ?? (primary === undefined ? undefined : request.endpoints[primary.name] ?? request.endpoints[primary.id]) ?? { aliases: [] };
    if (primary?.bridge?.isDefaultBridge && requested.aliases.length > 0) throw invalid('network-scoped alias is supported only for containers in user defined networks');
    if (primary?.bridge?.isDefaultBridge && (requested.ipv4 || requested.ipv6)) throw invalid('user specified IP address is supported on user defined networks only');
    return { [primary?.id ?? mode]: requested };
  }



  start(reference: string): Promise<void> {
    return this.mutex.run(async () => {
      const record = this.get(reference);
      if (record.state.status === 'running') return;
      try {
        await this.startLocked(record);
      } catch (error) {
        this.startAttempts.set(record.id, (this.startAttempts.get(record.id) ?? 0) + 1);
        // Docker removes an --rm container whose start failed.
        if (record.hostConfig.autoRemove) await this.removeLocked(record);
        throw error;
      }
      this.startAttempts.set(record.id, (this.startAttempts.get(record.id) ?? 0) + 1);
    });
  }

  private async startLocked(record: ContainerRecord): Promise<void> {
    await this.releasing.get(record.id);
    const image = this.images.resolve(record.imageId);
    const mode = record.hostConfig.networkMode;
    let netnsPath: string | null;
    let sandboxId = '';
    if (mode === 'host') netnsPath = null;
    else if (mode.startsWith('container:')) {
      const target = this.get(mode.slice('container:'.length));
      if (target.state.status !== 'running' || target.sandboxId === '') {
        throw new SkiffError('conflict', `cannot join network of a non running container: ${target.id}`);
      }
      sandboxId = target.sandboxId;
      netnsPath = this.engine.getSandbox(target.sandboxId).netnsPath;
    } else {
      const joins = Object.keys(record.networks).length;
      // The first join brings lo up in its own batch; only a sandbox without networks needs it done apart.
      const sandbox = await this.engine.createSandbox({ containerId: record.id, hostname: record.config.hostname, loopbackUp: joins === 0 });
      sandboxId = sandbox.id;
      netnsPath = sandbox.netnsPath;
      try {
        for (const [networkId, request] of Object.entries(record.networks)) await this.joinNetwork(record, sandbox.id, networkId, request);
      } catch (error) {
        for (const endpoint of this.engine.endpointsOfSandbox(sandbox.id)) await this.names.endpointLeft(endpoint, undefined, []);
        this.names.sandboxReleased(sandbox.netnsPath);
        await this.engine.deleteSandbox(sandbox.id);
        throw error;
      }
    }
    record.sandboxId = sandboxId;
    try {
      record.ports = await this.publishPorts(record, image);
      this.writeEtcFiles(record);
      // A container started before has a bundle from that run; a new one has none (skip runc then).
      if (record.state.status !== 'created' || this.startCount(record.id) > 0) await this.runtime.delete(record.id);
      await this.runtime.create({
        id: record.id, image, args: argvOf(record, image), env: this.environment(record, image),
        cwd: record.config.workingDir || image.config.WorkingDir || '/', hostname: record.config.hostname,
        tty: record.config.tty, openStdin: record.config.openStdin, netnsPath, etcFiles: this.filesOf(record.id),
      });
      const { pid } = await this.runtime.start(record.id);
      record.state = { status: 'running', pid, exitCode: 0, startedAt: timestampNow(), finishedAt: ZERO_TIME };
      this.save(record);
      this.emit(record, 'start');
    } catch (error) {
      await this.releaseSandbox(record);
      throw error;
    }
  }

  /** Publishes -p/-P on the container's first network (host mode: discarded, as Docker does). */
  private async publishPorts(record: ContainerRecord, image: Image): Promise<PortBinding[]> {
    const exposed = [...Object.keys(image.config.ExposedPorts ?? {}), ...Object.keys(record.config.exposedPorts)];
    const requests = portRequests(record.hostConfig.portBindings, record.hostConfig.publishAll, exposed);
    const primary = this.attachedNetworks(record)[0];
    if (requests.length === 0 || primary === undefined) return [];
    return this.ports.publish(requests, primary.network, primary.endpoint);
  }

  private async joinNetwork(record: ContainerRecord, sandboxId: string, networkId: string, request: EndpointRequest): Promise<Endpoint> {
    const network = this.engine.getNetwork(networkId);
    const first = this.engine.endpointsOfSandbox(sandboxId).length === 0;
    const macAddress = first && record.config.macAddress !== '' ? record.config.macAddress.toLowerCase() : undefined;
    const endpoint = await this.engine.join(sandboxId, network.id, { name: record.name, ipv4: request.ipv4, ipv6: request.ipv6, aliases: request.aliases, containerId: record.id, macAddress });
    try {
      const attached = this.engine.endpointsOfSandbox(sandboxId).map((other) => ({ endpoint: other, network: this.engine.getNetwork(other.networkId) }));
      await this.names.endpointJoined(this.named(record), network, endpoint, this.engine.getSandbox(sandboxId), attached);
    } catch (error) {
      await this.names.endpointLeft(endpoint, undefined, []);
      await this.engine.leave(sandboxId, network.id);
      throw error;
    }
    return endpoint;
  }



  /** The linked containers of --link NAME[:ALIAS] that run and have an address. */
  private linkedContainers(record: ContainerRecord): Array<{ linked: ContainerRecord; alias: string; address: string }> {
    return record.hostConfig.links.flatMap((link) => {
      const [target, alias] = link.replace(/^\//, '').split(':') as [string, string | undefined];
      const linked = this.records.get(target) ?? [...this.records.values()].find((candidate) => candidate.name === target);
      const address = linked === undefined ? undefined : this.endpoints(linked)[0]?.ipv4?.split('/')[0];
      if (linked === undefined || address === undefined) return [];
      return [{ linked, alias: (alias ?? linked.name).replace(/^.*\//, ''), address }];
    });
  }

  private environment(record: ContainerRecord, image: Image): string[] {
    const env = new Map<string, string>();
    const links = this.linkedContainers(record).flatMap(({ linked, alias, address }) => {
      const linkedImage = this.image(linked);
      const exposed = [...Object.keys(linkedImage?.config.ExposedPorts ?? {}), ...Object.keys(linked.config.exposedPorts)];
      return linkEnvironment(alias, record.name, address, exposed, linked.config.env);
    });
    for (const entry of ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', ...image.config.Env, `HOSTNAME=${record.config.hostname}`, ...links, ...record.config.env]) {
      const separator = entry.indexOf('=');
      env.set(separator < 0 ? entry : entry.slice(0, separator), entry);
    }
    return [...env.values()];
  }

  private writeEtcFiles(record: ContainerRecord): void {
    const files = this.filesOf(record.id);
    mkdirSync(this.etcDir(record.id), { recursive: true });
    const endpoints = this.endpoints(record);
    const addresses = endpoints.flatMap((endpoint) => [endpoint.ipv4, endpoint.ipv6]).filter((a): a is string => a !== undefined).map((a) => a.split('/')[0]!);
    const links = this.linkedContainers(record).map(({ linked, alias, address }) => ({ address, names: [...new Set([alias, linked.config.hostname, linked.name])] }));
    writeFileSync(files.hosts, renderHosts({ hostname: record.config.hostname, addresses, extraHosts: record.hostConfig.extraHosts, links }));
    writeFileSync(files.hostname, `${record.config.hostname}\n`);
    const onUserNetwork = endpoints.some((endpoint) => {
      const network = this.engine.getNetwork(endpoint.networkId);
      return network.driver === 'bridge' && !network.bridge?.isDefaultBridge;
    });
    writeFileSync(files.resolvConf, renderResolvConf({
      embeddedDns: onUserNetwork,
      nameservers: record.hostConfig.dns.length > 0 ? record.hostConfig.dns : this.options.dnsServers,
      hostResolvConf: readHostResolvConf(),
      // The daemon's --dns-search/--dns-opt stand in for a container's own, as in Docker.
      search: record.hostConfig.dnsSearch.length > 0 ? record.hostConfig.dnsSearch : this.options.dnsSearch ?? [],
      options: record.hostConfig.dnsOptions.length > 0 ? record.hostConfig.dnsOptions : this.options.dnsOptions ?? [],
    }));
  }

  stop(reference: string, timeoutSeconds = 10): Promise<void> {
    return this.mutex.run(async () => {
      const record = this.get(reference);
      if (record.state.status !== 'running') return;
      await this.runtime.stop(record.id, timeoutSeconds);
      await this.runtime.waitExit(record.id);
      await this.awaitRelease(record.id);
    });
  }

  kill(reference: string, signal = 'KILL'): Promise<void> {
    return this.mutex.run(async () => {
      const record = this.get(reference);
      if (record.state.status !== 'running') throw new SkiffError('conflict', `Cannot kill container: ${reference}: Container ${record.id} is not running`);
      await this.runtime.kill(record.id, signal);
    });
  }

  remove(reference: string, force: boolean): Promise<void> {
    return this.mutex.run(async () => {
      const record = this.get(reference);
      if (record.state.status === 'running') {
        if (!force) {
          throw conflict(`You cannot remove a running container ${record.id}. Stop the container before attempting removal or force remove`);
        }
        await this.runtime.kill(record.id, 'KILL');
        await this.runtime.waitExit(record.id);
        await this.awaitRelease(record.id);
      }
      await this.removeLocked(record);
    });
  }

  private async removeLocked(record: ContainerRecord): Promise<void> {
    await this.runtime.delete(record.id);
    rmSync(this.etcDir(record.id), { recursive: true, force: true });
    this.engine.store.deleteContainer(record.id);
    this.records.delete(record.id);
    this.emit(record, 'destroy');
  }

  async wait(reference: string): Promise<number> {
    return this.waitFor(this.get(reference));
  }

  /**
   * Until the record's process ended and its network was released. Works on a
   * record removed meanwhile (--rm): its state object still holds the exit code.
   */
  private async waitFor(record: ContainerRecord): Promise<number> {
    let code: number | undefined;
    if (record.state.status === 'running') code = await this.runtime.waitExit(record.id).catch(() => undefined);
    await this.awaitRelease(record.id);
    return record.state.status === 'exited' ? record.state.exitCode : code ?? record.state.exitCode;
  }


  /** Waits for the container's next exit: the one after a start later than previousStartedAt, if it is not running now. */
  async waitNextExit(reference: string): Promise<number> {
    const record = this.get(reference);
    if (record.state.status !== 'running') await this.waitForStart(record.id, this.startCount(record.id));
    // A start that failed: the client reports the start's error, this is only its exit status.
    if (record.state.status === 'created') return 125;
    return this.waitFor(record);
  }


  /** Counts a client reading the container's output until the returned function is called. */
  trackAttach(id: string): () => void {
    this.attachedClients.set(id, (this.attachedClients.get(id) ?? 0) + 1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const left = (this.attachedClients.get(id) ?? 1) - 1;
      if (left <= 0) this.attachedClients.delete(id);
      else this.attachedClients.set(id, left);
    };
  }

  /** Until every attached client has read the output to its end (bounded: 10 s). */
  private async attachedClientsDone(id: string): Promise<void> {
    for (let attempt = 0; attempt < 500 && this.attachedClients.has(id); attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** False when the container is gone or never started (a failed start). */
  isRunningOrExited(id: string): boolean {
    const status = this.records.get(id)?.state.status;
    return status === 'running' || status === 'exited';
  }

  /** The number of start attempts so far; pass it to waitForStart. */
  startCount(id: string): number {
    return this.startAttempts.get(id) ?? 0;
  }

  /** Resolves once a start attempt after the given count finished, or the container is gone (bounded: 60 s). */
  async waitForStart(id: string, previousCount: number): Promise<void> {
    for (let attempt = 0; attempt < 3000; attempt++) {
      if (!this.records.has(id) || this.startCount(id) !== previousCount) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  connect(reference: string, networkReference: string, request: EndpointRequest): Promise<Endpoint | undefined> {
    return this.mutex.run(async () => {
      const record = this.get(reference);
      const network = this.engine.getNetwork(networkReference);
      const mode = record.hostConfig.networkMode;
      if (mode === 'host' || mode === 'none' || mode.startsWith('container:')) {
        throw forbidden(mode === 'none' ? 'container cannot be disconnected from host network or connected to host network' : `container sharing network namespace with another container or host cannot be connected to any other network`);
      }
      if (network.driver === 'host' || network.driver === 'null') throw forbidden('container cannot be disconnected from host network or connected to host network');
      if (record.networks[network.id] !== undefined) throw forbidden(`endpoint with name ${record.name} already exists in network ${network.name}`);
      if (network.bridge?.isDefaultBridge && request.aliases.length > 0) throw invalid('network-scoped alias is supported only for containers in user defined networks');
      let endpoint: Endpoint | undefined;
      if (record.state.status === 'running') {
        endpoint = await this.joinNetwork(record, record.sandboxId, network.id, request);
        this.writeEtcFiles(record);
      }
      record.networks[network.id] = request;
      this.save(record);
      return endpoint;
    });
  }

  disconnect(reference: string, networkReference: string, force: boolean): Promise<void> {
    return this.mutex.run(async () => {
      const network = this.engine.getNetwork(networkReference);
      let record: ContainerRecord;
      try {
        record = this.get(reference);
      } catch (error) {
        if (force) return;
        throw error;
      }
      if (network.driver === 'host' || network.driver === 'null') throw forbidden('container cannot be disconnected from host network or connected to host network');
      if (record.networks[network.id] === undefined) throw forbidden(`container ${record.id} is not connected to network ${network.name}`);
      if (record.state.status === 'running') {
        const endpoint = this.endpoints(record).find((candidate) => candidate.networkId === network.id);
        await this.engine.leave(record.sandboxId, network.id);
        if (endpoint !== undefined) await this.names.endpointLeft(endpoint, this.engine.getSandbox(record.sandboxId), this.attachedNetworks(record));
        this.writeEtcFiles(record);
      }
      delete record.networks[network.id];
      this.save(record);
    });
  }

  networkOf(record: ContainerRecord): Array<{ network: Network; endpoint?: Endpoint; request: EndpointRequest }> {
    const endpoints = this.endpoints(record);
    return Object.entries(record.networks).flatMap(([networkId, request]) => {
      try {
        const network = this.engine.getNetwork(networkId);
        return [{ network, endpoint: endpoints.find((endpoint) => endpoint.networkId === networkId), request }];
      } catch {
        return [];
      }
    });
  }

  private trackRelease(id: string, work: Promise<void>): void {
    const tracked = work.catch((error: unknown) => this.options.log(`releasing container ${id} after its exit: ${String(error)}`)).finally(() => { if (this.releasing.get(id) === tracked) this.releasing.delete(id); });
    this.releasing.set(id, tracked);
  }

  private async awaitRelease(id: string): Promise<void> {
    for (let attempt = 0; attempt < 100 && this.records.get(id)?.state.status === 'running' && !this.releasing.has(id); attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await this.releasing.get(id);
  }

  private async handleExit(id: string, exitCode: number): Promise<void> {
    const record = this.records.get(id);
    if (record === undefined || record.state.status !== 'running') return;
    record.state = { ...record.state, status: 'exited', pid: 0, exitCode, finishedAt: timestampNow() };
    await this.releaseSandbox(record);
    this.save(record);
    this.emit(record, 'die', { exitCode: String(exitCode) });
    if (record.hostConfig.autoRemove) {
      await this.attachedClientsDone(id);
      await this.removeLocked(record);
    }
  }

  /** Releases the container's own sandbox (not one it shares with another container). */
  private async releaseSandbox(record: ContainerRecord): Promise<void> {
    const sandboxId = record.sandboxId;
    record.sandboxId = '';
    await this.ports.unpublish(record.ports);
    record.ports = [];
    if (sandboxId === '' || record.hostConfig.networkMode.startsWith('container:')) return;
    for (const endpoint of this.engine.endpointsOfSandbox(sandboxId)) await this.names.endpointLeft(endpoint, undefined, []);
    const released = this.engine.listSandboxes().find((sandbox) => sandbox.id === sandboxId);
    if (released !== undefined) this.names.sandboxReleased(released.netnsPath);
    try {
      await this.engine.deleteSandbox(sandboxId);
    } catch (error) {
      if (!(error instanceof SkiffError && error.kind === 'notFound')) throw error;
    }
  }

  private emit(record: ContainerRecord, action: string, extra: Record<string, string> = {}): void {
    this.engine.events.emit('container', action, record.id, { image: record.config.image, name: record.name, ...record.config.labels, ...extra });
  }

  private save(record: ContainerRecord): void {
    this.records.set(record.id, record);
    this.engine.store.putContainer(record.id, record.name, record);
  }
}

function readHostResolvConf(): string {
  try { return readFileSync('/etc/resolv.conf', 'utf8'); } catch { return ''; }
}
