/**
 * Containers as their own controller, apart from the network engine (as
 * moby's daemon is apart from libnetwork): container records, their
 * lifecycle, exec instances, attached readers. A container is a record in the
 * store, a sandbox while running (asked of the engine) and a runc process
 * (asked of the runtime). Docker's lifecycle: the sandbox is made at start and
 * released when the process ends; network connect/disconnect change a running
 * container live.
 *
 * One mutex orders every change, the handling of an exit included; waiting
 * (for a start, an exit, readers) is done on signals, never by polling.
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { conflict, forbidden, invalid, notFound, SkiffError } from '../errors.js';
import { failpoint } from '../failpoints.js';
import { ContainerStartError, type ContainerRuntime, type PreparedStart } from '../runtime/containers.js';
import type { ContainerProcessSpec } from '../runtime/process-spec.js';
import type { LogOptions } from '../runtime/log-reader.js';
import { VolumeStore, type Volume } from '../runtime/volumes.js';
import type { ImageStore } from '../runtime/images.js';
import type { Engine } from '../engine/engine.js';
import { Mutex } from '../engine/mutex.js';
import { hasEmbeddedDns } from '../engine/name-service.js';
import type { Image, ImageConfig } from '../model/image.js';
import type { Endpoint, Network } from '../model/network.js';
import {
  emptyEndpointRequest,
  ZERO_TIME,
  type ContainerHostConfig,
  type ContainerRecord,
  type CreateRequest,
  type EndpointRequest,
  type RestartPolicy,
} from '../model/container.js';
import { newId, timestampNow } from '../model/ids.js';
import { publishedRequests } from '../ports/index.js';
import { argvOf, checkEndpointRequest, generateName, linkEnvironment, NAME_PATTERN, parseLink, validateMacAddress } from './decisions.js';
import { renderHosts, renderResolvConf } from './etc-files.js';
import { ExecInstances, type ExecInstance, type ExecSpec } from './exec.js';
import { listContainers, type ListOptions } from './filters.js';
import { containersToPrune, volumesToPrune } from './prune.js';
import { pruneImages, removeImage } from './image-removal.js';
import { copyMounts, parseVolumesFrom, tmpfsMounts, withCopiedMounts } from './mounts.js';
import type { WaitCondition } from './wait.js';
import type { ListFilters } from '../model/filters.js';
import { nextRestartDelay, shouldRestart } from './restart-policy.js';
import { parsePsOutput, type TopResult } from './top.js';
import { run } from '../kernel/exec.js';
import { ReaderCounts, Signals } from './signals.js';
import { createResources, runnableResources, updatedResources, type ResourceUpdate } from './limits.js';
import { pauseRefusal, unpauseRefusal, type PauseRefusal } from './pause.js';
import { checkLogOptions } from './log-options.js';
import { planSysctls, sysctlWriteError, type SysctlPlan } from './sysctls.js';
import { setNetnsSysctls } from '../kernel/netns.js';
import { sampleStats, type StatsSample } from './stats.js';
import { hostCapacity, type HostCapacity } from '../runtime/cgroups.js';

/** How long --rm waits for attached clients to read a container's last output. */
const READERS_TIMEOUT_MS = 10_000;
/** How long an attach made before the start waits for that start. */
const START_TIMEOUT_MS = 60_000;

/** Read at each container start: a configuration reload may change the daemon's DNS settings. */
export interface ContainersOptions {
  dataRoot: string;
  /** The daemon's --dns: containers' resolvers where they give none. */
  dnsServers: string[];
  /** The daemon's --dns-search / --dns-opt: they stand in for a container's own, as in Docker. */
  dnsSearch?: string[];
  dnsOptions?: string[];
  /** The daemon's log-opts: a container gets those it does not give itself, as dockerd merges them at create. */
  logOptions?: Record<string, string>;
  log: (message: string) => void;
}

export type StreamOutput = NodeJS.ReadableStream;

export interface ContainerFilesystem {
  record: ContainerRecord;
  image: Image;
  /** The merged rootfs on the host, and its writable (upper) layer. */
  rootfs: string;
  upper: string;
  /** What the container sees mounted over its rootfs; a later mount on the same path wins, as runc mounts them in order. */
  mounts: Array<{ destination: string; source: string; readOnly: boolean }>;
}

export class Containers {
  private readonly records = new Map<string, ContainerRecord>();
  private readonly mutex = new Mutex();
  private readonly execs = new ExecInstances();
  /** Clients attached to a container's output; --rm waits for them to read it all. */
  private readonly readers = new ReaderCounts();
  /** Notified when a start attempt ends (either way). */
  private readonly starts = new Signals();
  /** Notified when an exit has been handled: network released, --rm removal done. */
  private readonly exits = new Signals();
  /** Notified when a container is removed (docker wait --condition removed). */
  private readonly removals = new Signals();
  /** Containers whose exit is being handled right now (shown exited, network not yet released). */
  private readonly exiting = new Set<string>();
  /** Starts the restart policy has scheduled, waiting out their back-off (Docker shows these "restarting"). */
  private readonly pendingRestarts = new Map<string, NodeJS.Timeout>();
  /** Each container's last back-off, which the next one doubles. */
  private readonly restartDelays = new Map<string, number>();
  /** Containers whose next exit was asked for (docker stop, kill, rm -f): no policy brings them back from it, as moby's ExitOnNext. */
  private readonly exitOnNext = new Set<string>();
  /** The local driver's volumes; changed only under the mutex (a volume in use is never removed). */
  readonly volumes: VolumeStore;
  /** The CPUs and memory nodes limits are checked against. */
  private readonly capacity: HostCapacity = hostCapacity();

  constructor(
    private readonly engine: Engine,
    private readonly runtime: ContainerRuntime,
    private readonly images: ImageStore,
    private readonly options: ContainersOptions,
  ) {
    this.volumes = new VolumeStore(join(options.dataRoot, 'volumes'));
    for (const record of engine.store.containers()) this.records.set(record.id, record);
    runtime.onExit((id, exitCode) => {
      this.mutex
        .run(() => this.exitNoticed(id, exitCode))
        .catch((error: unknown) => this.options.log(`handling the exit of container ${id}: ${String(error)}`));
    });
  }

  /**
   * After a daemon restart: containers that died while it was away are marked
   * exited and released; ports of those still running are held again; a start
   * that a killed daemon left half done is rolled back (its sandbox released,
   * its bundle removed), as a plain `docker create` holds neither.
   */
  restore(): Promise<void> {
    return this.mutex.run(async () => {
      const running = new Set<string>();
      for (const id of await this.runtime.restore()) {
        const record = this.records.get(id);
        if (record === undefined || record.state.status === 'created') {
          this.options.log(`container ${id}: removing the bundle of a start that did not finish`);
          await this.runtime.delete(id, { keepLayer: record !== undefined });
        }
      }
      for (const record of this.records.values()) {
        if (record.state.status !== 'running') continue;
        // No bundle any more (a reboot emptied the exec-root): it cannot be running.
        const state = await this.runtime.state(record.id).catch(() => undefined);
        if (state === undefined || state.status === 'exited') {
          await this.handleExit(record.id, state?.exitCode ?? 255);
          continue;
        }
        running.add(record.id);
        if (record.ports.length > 0) await this.engine.restorePorts(record.ports);
      }
      for (const sandbox of this.engine.listSandboxes()) {
        if (sandbox.containerId === '' || running.has(sandbox.containerId)) continue;
        this.options.log(`sandbox ${sandbox.id} belongs to no running container (a start cut short): releasing it`);
        await this.engine.deleteSandbox(sandbox.id);
      }
      await this.startByPolicyAtDaemonStart();
    });
  }

  /**
   * As dockerd at its start: a container whose policy wants it running
   * (always even when the user stopped it; unless-stopped only when not) is
   * started as a user start would, its count and stopped mark reset.
   */
  private async startByPolicyAtDaemonStart(): Promise<void> {
    for (const record of this.records.values()) {
      if (record.state.status !== 'exited' || this.pendingRestarts.has(record.id)) continue;
      if (!shouldRestart(record.hostConfig.restartPolicy, { ...record, exitCode: record.state.exitCode })) continue;
      try {
        record.restartCount = 0;
        record.manuallyStopped = false;
        await this.startLocked(record);
      } catch (error) {
        this.options.log(`container ${record.id}: starting it by its restart policy (${record.hostConfig.restartPolicy.name}): ${String(error)}`);
      }
    }
  }

  // ---- reading

  list(options: ListOptions): ContainerRecord[] {
    return listContainers(this.records.values(), options, {
      networksOf: (record) => this.networkOf(record).map(({ network }) => network),
      imageIdOf: (reference) => this.images.find(reference)?.id,
      exposedPortsOf: (record) => [...(this.imageConfig(record)?.exposedPorts ?? []), ...record.config.exposedPorts],
    });
  }

  all(): ContainerRecord[] {
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

  imageConfig(record: ContainerRecord): ImageConfig | undefined {
    return this.image(record)?.config;
  }

  /** docker ps's IMAGE: the name the container was created with while it still names its image, else the image's id (Docker's list.go). */
  listedImage(record: ContainerRecord): string {
    return this.images.find(record.config.image)?.id === record.imageId ? record.config.image : record.imageId;
  }

  endpoints(record: ContainerRecord): Endpoint[] {
    return record.sandboxId === '' ? [] : this.engine.endpointsOfSandbox(record.sandboxId);
  }

  sandboxKey(record: ContainerRecord): string {
    if (record.sandboxId === '') return '';
    return this.engine.listSandboxes().find((sandbox) => sandbox.id === record.sandboxId)?.netnsPath ?? '';
  }

  /** The networks a container is (or will be, at start) on, with its endpoint there while running. */
  networkOf(record: ContainerRecord): Array<{ network: Network; endpoint?: Endpoint; request: EndpointRequest }> {
    const endpoints = this.endpoints(record);
    return Object.entries(record.networks).flatMap(([networkId, request]) => {
      const network = this.engine.findNetwork(networkId);
      return network === undefined ? [] : [{ network, endpoint: endpoints.find((endpoint) => endpoint.networkId === network.id), request }];
    });
  }

  filesOf(id: string): { hosts: string; resolvConf: string; hostname: string } {
    const dir = this.etcDir(id);
    return { hosts: join(dir, 'hosts'), resolvConf: join(dir, 'resolv.conf'), hostname: join(dir, 'hostname') };
  }

  /** The container's files as docker cp, export, diff and commit reach them: its rootfs mounted (if it was not), its mounts. */
  filesystem(reference: string): Promise<ContainerFilesystem> {
    return this.mutex.run(async () => {
      const record = this.get(reference);
      const image = this.images.forContainer(record.imageId);
      const { rootfs, upper } = await this.runtime.mountRootfs(record.id, image.rootfsPath);
      const files = this.filesOf(record.id);
      const managed = [
        { destination: '/etc/resolv.conf', source: files.resolvConf, readOnly: false },
        { destination: '/etc/hostname', source: files.hostname, readOnly: false },
        { destination: '/etc/hosts', source: files.hosts, readOnly: false },
      ].filter((mount) => existsSync(mount.source));
      const mounts = record.hostConfig.mounts.map((mount) => ({
        destination: mount.target,
        source: mount.type === 'volume' ? this.volumes.dataPath(mount.source) : mount.source,
        readOnly: mount.readOnly,
      }));
      return { record, image, rootfs, upper, mounts: [...managed, ...mounts] };
    });
  }

  /** A file operation's container event (docker cp, export, commit), as dockerd logs it. */
  noteFileEvent(record: ContainerRecord, action: 'archive-path' | 'extract-to-dir' | 'export' | 'commit', extra: Record<string, string> = {}): void {
    this.emit(record, action, extra);
  }

  /** Where each container's writable layer is, for docker system df. */
  writableLayer(record: ContainerRecord): string {
    return this.runtime.upperDir(record.id);
  }

  // ---- lifecycle

  create(request: CreateRequest): Promise<ContainerRecord> {
    return this.mutex.run(() =>
      Promise.resolve().then(() => {
        const image = this.images.resolve(request.config.image);
        // dockerd checks the runtime with the other settings, before the name and the command.
        const runtime = this.runtime.runtimeNamed(request.hostConfig.runtime).name;
        const id = newId();
        const name =
          request.name === undefined || request.name === '' ? generateName((candidate) => this.nameTaken(candidate), id) : request.name.replace(/^\//, '');
        if (!NAME_PATTERN.test(name)) throw invalid(`Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
        const taken = [...this.records.values()].find((record) => record.name === name);
        if (taken !== undefined)
          throw conflict(
            `Conflict. The container name "/${name}" is already in use by container "${taken.id}". You have to remove (or rename) that container to be able to reuse that name.`,
          );
        const { networks, hostConfig } = this.planNetworks(request);
        const logOptions = { ...this.options.logOptions, ...request.hostConfig.logOptions };
        checkLogOptions(logOptions);
        validateMacAddress(request.config.macAddress);
        for (const endpointRequest of Object.values(networks)) this.checkEndpointRequest(endpointRequest);
        if (request.config.cmd === null && request.config.entrypoint === null && image.config.cmd === null && image.config.entrypoint === null) {
          throw invalid('No command specified');
        }
        if (request.hostConfig.autoRemove && request.hostConfig.restartPolicy.name !== 'no')
          throw invalid("can't create 'AutoRemove' container with restart policy");
        for (const mount of request.hostConfig.mounts)
          if (mount.type === 'bind' && !mount.createSource && !existsSync(mount.source))
            throw invalid(`invalid mount config for type "bind": bind source path does not exist: ${mount.source}`);
        const copied = request.hostConfig.volumesFrom.flatMap((spec) => {
          const { container, readOnly } = parseVolumesFrom(spec);
          return copyMounts(this.get(container), readOnly);
        });
        // Volumes are made with the container, as Docker makes them (an anonymous one named now).
        const mounts = withCopiedMounts(request.hostConfig.mounts, copied, request.config.volumes).map((mount) =>
          mount.type === 'volume' ? { ...mount, source: this.volumes.create(mount.source, {}).name } : mount,
        );
        const record: ContainerRecord = {
          id,
          name,
          created: timestampNow(),
          imageId: image.id,
          config: { ...request.config, hostname: request.config.hostname || id.slice(0, 12) },
          hostConfig: { ...hostConfig, mounts, runtime, resources: createResources(request.hostConfig.resources, this.capacity), logOptions },
          networks,
          sandboxId: '',
          ports: [],
          state: { status: 'created', paused: false, oomKilled: false, pid: 0, exitCode: 0, startedAt: ZERO_TIME, finishedAt: ZERO_TIME },
          restartCount: 0,
          manuallyStopped: false,
        };
        this.save(record);
        this.emit(record, 'create');
        return record;
      }),
    );
  }

  /** Starts the container; false when it was running already (Docker's 304). */
  start(reference: string): Promise<boolean> {
    return this.mutex.run(async () => {
      const record = this.get(reference);
      if (record.state.paused) throw conflict('cannot start a paused container, try unpause instead');
      if (record.state.status === 'running') return false;
      try {
        this.resetRestarts(record);
        await this.startLocked(record);
      } catch (error) {
        // Docker removes an --rm container whose start failed.
        if (record.hostConfig.autoRemove) await this.removeLocked(record, true);
        throw error;
      } finally {
        this.starts.notify(record.id);
      }
      return true;
    });
  }

  /** Stops the container; false when it was not running (Docker's 304). */
  stop(reference: string, timeoutSeconds = 10): Promise<boolean> {
    return this.mutex.run(async () => {
      const record = this.get(reference);
      if (this.pendingRestarts.has(record.id)) {
        // Waiting out a back-off: the stop cancels the restart, as Docker's stop of a restarting container.
        this.cancelRestart(record.id);
        record.manuallyStopped = true;
        this.save(record);
        return true;
      }
      if (record.state.status !== 'running') return false;
      await this.stopLocked(record, timeoutSeconds);
      return true;
    });
  }

  /** docker restart: stop (if running), then start, as one operation. */
  restart(reference: string, timeoutSeconds = 10): Promise<void> {
    return this.mutex.run(async () => {
      const record = this.get(reference);
      if (record.state.status === 'running') await this.stopLocked(record, timeoutSeconds);
      try {
        this.resetRestarts(record);
        await this.startLocked(record);
      } finally {
        this.starts.notify(record.id);
      }
    });
  }

  kill(reference: string, signal = 'KILL'): Promise<void> {
    return this.mutex.run(async () => {
      const record = this.get(reference);
      if (this.pendingRestarts.has(record.id))
        throw conflict(`Cannot kill container: ${reference}: Container ${record.id} is restarting, wait until the container is running`);
      if (record.state.status !== 'running') throw new SkiffError('conflict', `Cannot kill container: ${reference}: Container ${record.id} is not running`);
      // KILL and the stop signal end the container for good, as Docker's kill; other signals leave the policy in charge.
      if (signal === 'KILL' || signal === 'TERM' || signal === '9' || signal === '15') this.markStoppedByUser(record);
      await this.runtime.kill(record.id, signal);
    });
  }

  /** docker rm [-f] [-v]: -v removes the container's anonymous volumes with it. */
  remove(reference: string, force: boolean, removeVolumes = false): Promise<void> {
    return this.mutex.run(async () => {
      const record = this.get(reference);
      if (this.pendingRestarts.has(record.id) && !force)
        throw conflict(`You cannot remove a restarting container ${record.id}. Stop the container before attempting removal or force remove`);
      if (record.state.paused && !force)
        throw conflict(`You cannot remove a paused container ${record.id}. Unpause and then stop the container before attempting removal or force remove`);
      if (record.state.status === 'running') {
        if (!force) {
          throw conflict(`You cannot remove a running container ${record.id}. Stop the container before attempting removal or force remove`);
        }
        this.markStoppedByUser(record);
        await this.runtime.kill(record.id, 'KILL');
        await this.handleExit(record.id, await this.runtime.waitExit(record.id));
      }
      if (this.records.has(record.id)) await this.removeLocked(record, removeVolumes);
    });
  }

  // ---- volumes

  createVolume(name: string | undefined, labels: Record<string, string>): Promise<Volume> {
    return this.mutex.run(() => Promise.resolve().then(() => this.volumes.create(name, labels)));
  }

  /** docker volume rm: refused while any container (running or not) mounts it, as Docker refuses. */
  removeVolume(name: string): Promise<void> {
    return this.mutex.run(() =>
      Promise.resolve().then(() => {
        const volume = this.volumes.get(name);
        const users = this.volumeUsers(volume.name);
        if (users.length > 0) throw conflict(`remove ${volume.name}: volume is in use - [${users.join(', ')}]`);
        this.volumes.remove(volume.name);
      }),
    );
  }

  /** docker volume prune (Docker 20.10): the volumes no container mounts whose labels match. */
  pruneVolumes(filters: ListFilters): Promise<{ names: string[]; spaceReclaimed: number }> {
    return this.mutex.run(async () => {
      const unused = volumesToPrune(this.volumes.list(), filters, (name) => this.volumeUsers(name).length > 0);
      let spaceReclaimed = 0;
      for (const volume of unused) {
        spaceReclaimed += await this.volumes.size(volume.name);
        this.volumes.remove(volume.name);
      }
      return { names: unused.map((volume) => volume.name), spaceReclaimed };
    });
  }

  // ---- prune

  /** docker container prune: the stopped containers the filters pick, removed as docker rm removes them (volumes kept). */
  pruneContainers(filters: ListFilters): Promise<{ ids: string[]; spaceReclaimed: number }> {
    return this.mutex.run(async () => {
      const pruned = containersToPrune(this.records.values(), filters, Date.now(), (record) => this.pendingRestarts.has(record.id));
      let spaceReclaimed = 0;
      for (const record of pruned) {
        spaceReclaimed += await this.runtime.writableLayerSize(record.id);
        await this.removeLocked(record, false);
      }
      return { ids: pruned.map((record) => record.id), spaceReclaimed };
    });
  }

  /**
   * docker image prune: removals as Docker's, each `Untagged:` / `Deleted:`
   * line in order, skipping those Docker's conflicts refuse (so the last tag
   * of an image a container uses stays); the space reclaimed is what the
   * deleted images' directories held. Under the mutex, so no create takes an
   * image while it goes.
   */
  pruneImages(filters: ListFilters): Promise<{ lines: string[]; spaceReclaimed: number }> {
    return this.mutex.run(() => pruneImages(this.images, this.records.values(), filters, Date.now(), (record) => this.isRestarting(record)));
  }

  /** docker rmi, as Docker decides it (image-removal.ts), under the mutex. */
  removeImage(reference: string, force: boolean): Promise<string[]> {
    return this.mutex.run(async () => (await removeImage(this.images, this.records.values(), reference, force, (record) => this.isRestarting(record))).lines);
  }

  /** Ids of the containers that mount the volume. */
  volumeUsers(name: string): string[] {
    return [...this.records.values()]
      .filter((record) => record.hostConfig.mounts.some((mount) => mount.type === 'volume' && mount.source === name))
      .map((record) => record.id);
  }

  /**
   * docker rm --link /web/db: the legacy link `db` of container `web` goes
   * (its hosts entry and environment with the next start, as in Docker).
   */
  removeLink(linkName: string): Promise<void> {
    return this.mutex.run(() =>
      Promise.resolve().then(() => {
        const path = linkName.startsWith('/') ? linkName : `/${linkName}`;
        const slash = path.lastIndexOf('/');
        if (slash === 0) throw invalid('Conflict, cannot remove the default link name of the container');
        const parent = this.find(path.slice(1, slash));
        const alias = path.slice(slash + 1);
        const link = parent?.hostConfig.links.find((candidate) => parseLink(candidate).alias === alias);
        if (parent === undefined || link === undefined) throw notFound(`No such container: ${path}`);
        parent.hostConfig.links = parent.hostConfig.links.filter((candidate) => candidate !== link);
        this.save(parent);
      }),
    );
  }

  /** docker rename: the record, and for a running container its endpoints and DNS names, take the new name. */
  rename(reference: string, newName: string): Promise<void> {
    return this.mutex.run(async () => {
      const record = this.get(reference);
      const name = newName.replace(/^\//, '');
      if (name === '') throw invalid('Neither old nor new names may be empty');
      if (!NAME_PATTERN.test(name)) throw invalid(`Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
      if (name === record.name) throw invalid('Renaming a container with the same name as its current name');
      const taken = [...this.records.values()].find((other) => other.name === name);
      if (taken !== undefined)
        throw conflict(
          `Conflict. The container name "/${name}" is already in use by container "${taken.id}". You have to remove (or rename) that container to be able to reuse that name.`,
        );
      const oldName = record.name;
      if (record.sandboxId !== '') await this.engine.renameContainer(record.sandboxId, record.id, name);
      record.name = name;
      this.save(record);
      this.emit(record, 'rename', { oldName: `/${oldName}` });
    });
  }

  /** docker top: the host's ps (with the client's arguments, -ef by default) kept to the container's processes. */
  async top(reference: string, psArgs: string): Promise<TopResult> {
    const record = this.get(reference);
    if (record.state.status !== 'running') throw conflict(`Container ${record.id} is not running`);
    const pids = await this.runtime.pids(record.id);
    const args = psArgs.trim() === '' ? ['-ef'] : psArgs.trim().split(/\s+/);
    const { stdout } = await run('ps', args);
    return parsePsOutput(stdout, pids);
  }

  /** Waiting out the back-off before a start by its restart policy (Docker's State.Restarting). */
  isRestarting(record: ContainerRecord): boolean {
    return this.pendingRestarts.has(record.id);
  }

  /**
   * docker update: --restart sets the policy of the next exits; resource
   * limits are checked as Docker checks them, carried out at once on a
   * running container (runc update) and kept for its next starts.
   */
  update(reference: string, policy: RestartPolicy | undefined, resources: ResourceUpdate = {}): Promise<void> {
    return this.mutex.run(async () => {
      const record = this.get(reference);
      if (policy !== undefined && record.hostConfig.autoRemove && policy.name !== 'no')
        throw invalid('Restart policy cannot be updated because AutoRemove is enabled for the container');
      const limits = updatedResources(record.id, record.hostConfig.resources, resources, this.capacity);
      if (record.state.status === 'running') await this.runtime.updateResources(record.id, runnableResources(limits, this.capacity));
      record.hostConfig.resources = limits;
      if (policy !== undefined) record.hostConfig.restartPolicy = policy;
      this.save(record);
      this.emit(record, 'update');
    });
  }

  /** docker pause / unpause: runc freezes or thaws the cgroup; the record keeps it, across daemon restarts too. */
  pause(reference: string): Promise<void> {
    return this.mutex.run(() => this.setPaused(reference, true, pauseRefusal));
  }

  unpause(reference: string): Promise<void> {
    return this.mutex.run(() => this.setPaused(reference, false, unpauseRefusal));
  }

  private async setPaused(reference: string, paused: boolean, refusal: PauseRefusal): Promise<void> {
    const record = this.get(reference);
    const refused = refusal(record);
    if (refused !== undefined) throw refused;
    await (paused ? this.runtime.pause(record.id) : this.runtime.resume(record.id));
    record.state.paused = paused;
    this.save(record);
    this.emit(record, paused ? 'pause' : 'unpause');
  }

  /** docker stats: one reading of a running container's cgroup and interfaces (undefined when it is not running). */
  statsSample(reference: string): { record: ContainerRecord; sample: () => StatsSample | undefined } {
    const record = this.get(reference);
    return {
      record,
      sample: () =>
        record.state.status === 'running' && this.records.has(record.id)
          ? sampleStats(this.runtime.cgroup(record.id), record, this.runtime.hasBundle(record.id))
          : undefined,
    };
  }

  /**
   * docker wait: the exit code once the process ended and its network was
   * released (not-running), once the next run ended (next-exit: docker run
   * asks before it starts the container), or once the container is gone
   * (removed: run --rm, or any later docker rm).
   */
  async wait(reference: string, condition: WaitCondition = 'not-running'): Promise<number> {
    const record = this.get(reference);
    if (condition === 'next-exit') return this.waitNextExit(record.id);
    if (condition === 'removed') {
      if (this.records.has(record.id)) await this.removals.next(record.id);
      return record.state.exitCode;
    }
    if (record.state.status === 'running' || this.exiting.has(record.id)) await this.exits.next(record.id);
    return record.state.exitCode;
  }

  /** The exit of the next run. */
  private async waitNextExit(id: string): Promise<number> {
    const record = this.get(id);
    if (record.state.status !== 'running') await this.starts.next(record.id);
    // A start that failed: the client reports the start's error, this is only its exit status.
    if (record.state.status === 'created') return 125;
    if (record.state.status === 'running' || this.exiting.has(record.id)) await this.exits.next(record.id);
    return record.state.exitCode;
  }

  // ---- networks of a container

  connect(reference: string, networkReference: string, request: EndpointRequest): Promise<Endpoint | undefined> {
    return this.mutex.run(async () => {
      const record = this.get(reference);
      const network = this.engine.getNetwork(networkReference);
      const mode = record.hostConfig.networkMode;
      if (mode === 'host' || mode === 'none' || mode.startsWith('container:')) {
        throw forbidden(
          mode === 'none'
            ? 'container cannot be disconnected from host network or connected to host network'
            : `container sharing network namespace with another container or host cannot be connected to any other network`,
        );
      }
      if (network.driver === 'host' || network.driver === 'null')
        throw forbidden('container cannot be disconnected from host network or connected to host network');
      if (record.networks[network.id] !== undefined) throw forbidden(`endpoint with name ${record.name} already exists in network ${network.name}`);
      if (network.bridge?.isDefaultBridge && request.aliases.length > 0)
        throw invalid('network-scoped alias is supported only for containers in user defined networks');
      this.checkEndpointRequest(request);
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
      if (network.driver === 'host' || network.driver === 'null')
        throw forbidden('container cannot be disconnected from host network or connected to host network');
      if (record.networks[network.id] === undefined) throw forbidden(`container ${record.id} is not connected to network ${network.name}`);
      if (record.state.status === 'running') {
        // Published ports live on an endpoint (as in libnetwork): they go with it, and the record stops listing them.
        const leaving = this.endpoints(record).find((endpoint) => endpoint.networkId === network.id);
        const dropped = record.ports.filter((binding) => binding.endpointId === leaving?.id);
        if (dropped.length > 0) {
          await this.engine.unpublishPorts(dropped);
          record.ports = record.ports.filter((binding) => !dropped.includes(binding));
        }
        await this.engine.leave(record.sandboxId, network.id);
        this.writeEtcFiles(record);
      }
      delete record.networks[network.id];
      this.save(record);
    });
  }

  // ---- streams

  logs(reference: string, options: LogOptions): { record: ContainerRecord; output: StreamOutput } {
    const record = this.get(reference);
    return { record, output: this.runtime.logs(record.id, options) };
  }

  /** The container to attach to: refused while paused, in Docker 20.10's words. */
  attachable(reference: string): ContainerRecord {
    const record = this.get(reference);
    if (record.state.paused) throw conflict(`container ${reference} is paused, unpause the container before attach`);
    return record;
  }

  /**
   * docker attach / docker run's attach: output from now on (from the start
   * when attached before it), and the container's stdin when it has one.
   * Attached before the start, it waits for that start; undefined when the
   * container never ran. `detached` must be called when the client is done.
   */
  async attach(
    reference: string,
    streams: { stdout: boolean; stderr: boolean } = { stdout: true, stderr: true },
  ): Promise<{ output: StreamOutput; input?: NodeJS.WritableStream; detached: () => void } | undefined> {
    const record = this.get(reference);
    const beforeStart = record.state.status !== 'running';
    // Counted before the start, so that a --rm container that ends at once waits for this reader.
    const detached = this.readers.track(record.id);
    // A container not running (created, or exited: docker start -a, dockerpty's second start) is followed from its
    // next start, as Docker's attach waits for it; an exited run's old output is not replayed.
    if (beforeStart) await this.starts.next(record.id, START_TIMEOUT_MS);
    const status = this.records.get(record.id)?.state.status;
    if (status !== 'running' && status !== 'exited') {
      detached();
      return undefined;
    }
    return { ...this.runtime.attach(record.id, { fromStart: beforeStart, ...streams }), detached };
  }

  createExec(reference: string, spec: ExecSpec): ExecInstance {
    const record = this.get(reference);
    if (record.state.status !== 'running') throw new SkiffError('conflict', `Container ${record.id} is not running`);
    if (record.state.paused) throw conflict(`Container ${reference} is paused, unpause the container before exec`);
    if (spec.args.length === 0) throw invalid('No exec command specified');
    return this.execs.create(record.id, spec);
  }

  inspectExec(id: string): ExecInstance {
    return this.execs.get(id);
  }

  /** The exec instance to start: refused while its container is paused, as Docker refuses it. */
  execToStart(id: string): ExecInstance {
    const instance = this.execs.get(id);
    if (this.records.get(instance.containerId)?.state.paused === true)
      throw conflict(`Container ${instance.containerId} is paused, unpause the container before exec`);
    return instance;
  }

  /** Starts an exec instance; its record learns the exit code when the process ends. */
  startExec(id: string): { instance: ExecInstance; output: StreamOutput; input?: NodeJS.WritableStream; exitCode: Promise<number> } {
    const instance = this.execToStart(id);
    const running = this.runtime.exec(instance.containerId, {
      args: instance.args,
      env: instance.env,
      tty: instance.tty,
      cwd: instance.workingDir || undefined,
      openStdin: instance.attachStdin,
    });
    this.execs.track(instance, running.exitCode);
    return { instance, ...running };
  }

  // ---- inside the lock

  private nameTaken(name: string): boolean {
    return [...this.records.values()].some((record) => record.name === name);
  }

  private image(record: ContainerRecord): Image | undefined {
    try {
      return this.images.forContainer(record.imageId);
    } catch {
      return undefined; // the image was removed: inspect shows what the record holds
    }
  }

  /** Kept apart from the runtime's own per-container directory, which a restart renews. */
  private etcDir(id: string): string {
    return join(this.options.dataRoot, 'container-files', id);
  }

  /**
   * Validates the network mode and requests; returns network key → request for
   * bridge-like networks, and the host config with its references resolved
   * (container:NAME and legacy link targets as full ids, as Docker keeps
   * them). An unknown network is kept by name: like Docker, the create
   * succeeds and the start reports "network X not found". On a user network
   * --link is an alias that only this container resolves (Docker moves it to
   * the network's endpoint settings); on the default bridge it is a legacy link.
   */
  private planNetworks(request: CreateRequest): { networks: Record<string, EndpointRequest>; hostConfig: ContainerHostConfig } {
    const given = request.hostConfig.networkMode;
    const mode = given === '' || given === 'default' ? 'bridge' : given;
    const links = request.hostConfig.links;
    if (mode === 'host' || mode === 'none' || mode.startsWith('container:')) {
      const hasStatic = Object.values(request.endpoints).some((endpoint) => endpoint.ipv4 || endpoint.ipv6);
      if (mode === 'host' && hasStatic) throw invalid('conflicting options: cannot specify static IP address when using host networking');
      if (mode === 'host' && links.length > 0)
        throw invalid("conflicting options: host type networking can't be used with links. This would result in undefined behavior");
      if (!mode.startsWith('container:')) return { networks: {}, hostConfig: { ...request.hostConfig, links: this.resolveLinks(links) } };
      if (links.length > 0) throw invalid("conflicting options: container type network can't be used with links. This would result in undefined behavior");
      if (request.hostConfig.portBindings.length > 0 || request.hostConfig.publishAll) {
        throw invalid('conflicting options: port publishing and the container type network mode');
      }
      return { networks: {}, hostConfig: { ...request.hostConfig, networkMode: `container:${this.get(mode.slice('container:'.length)).id}` } };
    }
    const primary = this.engine.findNetwork(mode);
    // dockerd -b none: the default network mode (and `bridge` itself) gives a loopback only, as dockerd does.
    if (primary === undefined && mode === 'bridge') return { networks: {}, hostConfig: { ...request.hostConfig, links: this.resolveLinks(links) } };
    const requested =
      request.endpoints[given] ??
      request.endpoints[mode] ??
      (primary === undefined ? undefined : (request.endpoints[primary.name] ?? request.endpoints[primary.id])) ??
      emptyEndpointRequest();
    if (primary?.bridge?.isDefaultBridge && requested.aliases.length > 0)
      throw invalid('network-scoped alias is supported only for containers in user defined networks');
    if (primary?.bridge?.isDefaultBridge && (requested.ipv4 || requested.ipv6))
      throw invalid('user specified IP address is supported on user defined networks only');
    if (primary?.bridge?.isDefaultBridge)
      return { networks: { [primary.id]: requested }, hostConfig: { ...request.hostConfig, links: this.resolveLinks(links) } };
    const endpointLinks = [...new Set([...requested.links, ...links])];
    return { networks: { [primary?.id ?? mode]: { ...requested, links: endpointLinks } }, hostConfig: { ...request.hostConfig, links: [] } };
  }

  /** Legacy links as Docker keeps them: the linked container's full id and the alias. */
  private resolveLinks(links: readonly string[]): string[] {
    return links.map((link) => {
      const { target, alias } = parseLink(link);
      return `${this.linkTarget(target).id}:${alias}`;
    });
  }

  private linkTarget(reference: string): ContainerRecord {
    try {
      return this.get(reference);
    } catch (error) {
      if (error instanceof SkiffError && error.kind === 'notFound') throw invalid(`could not get container for ${reference}`);
      throw error;
    }
  }

  /** A network's settings checked before anything is made: MAC, link-local addresses, link targets. */
  private checkEndpointRequest(request: EndpointRequest): void {
    checkEndpointRequest(request);
    for (const link of request.links) this.linkTarget(parseLink(link).target);
  }

  private async startLocked(record: ContainerRecord): Promise<void> {
    const image = this.images.forContainer(record.imageId);
    const mode = record.hostConfig.networkMode;
    let sysctls: SysctlPlan;
    try {
      sysctls = planSysctls(record.hostConfig.sysctls, mode);
    } catch (error) {
      this.noteStartFailure(record, error);
      throw error;
    }
    let netnsPath: string | null;
    let sandboxId = '';
    let joining: Promise<void> = Promise.resolve();
    if (mode === 'host') netnsPath = null;
    else if (mode.startsWith('container:')) {
      const target = this.get(mode.slice('container:'.length));
      if (target.state.status !== 'running' || target.sandboxId === '') {
        throw new SkiffError('conflict', `cannot join network of a non running container: ${target.id}`);
      }
      sandboxId = target.sandboxId;
      netnsPath = this.sandboxKey(target);
    } else {
      const joins = Object.keys(record.networks).length;
      // The first join brings lo up in its own batch; only a sandbox without networks needs it done apart.
      const sandbox = await this.engine.createSandbox({
        containerId: record.id,
        hostname: record.config.hostname,
        dnsServers: record.hostConfig.dns,
        loopbackUp: joins === 0,
      });
      sandboxId = sandbox.id;
      netnsPath = sandbox.netnsPath;
      failpoint('container-start:sandbox-made');
      joining = (async () => {
        for (const [networkId, request] of Object.entries(record.networks)) await this.joinNetwork(record, sandbox.id, networkId, request);
      })();
    }
    record.sandboxId = sandboxId;
    const before = record.state;
    let prepared: PreparedStart | undefined;
    let started = false;
    try {
      // The network is set up while the runtime creates the container's process (runc create): its program runs only at go().
      const network = joining.then(async () => {
        // Once its interfaces are there (net.ipv6.conf.all reaches eth0), before its process runs.
        if (netnsPath !== null && sysctls.network.length > 0)
          await setNetnsSysctls(netnsPath, sysctls.network).catch((error: unknown) => {
            throw sysctlWriteError(error);
          });
        record.ports = await this.publishPorts(record, image);
        failpoint('container-start:networks-joined');
      });
      const [networkDone, runtimeDone] = await Promise.allSettled([network, this.prepareProcess(record, image, netnsPath, sysctls.runtime)]);
      if (runtimeDone.status === 'fulfilled') prepared = runtimeDone.value;
      if (networkDone.status === 'rejected') throw networkDone.reason;
      if (runtimeDone.status === 'rejected') throw runtimeDone.reason;
      // Written in place: the container's bind mounts of them, made at create, show the final text.
      this.writeEtcFiles(record);
      failpoint('container-start:runtime-created');
      const { pid } = await prepared!.go();
      started = true;
      record.state = { status: 'running', paused: false, oomKilled: false, pid, exitCode: 0, startedAt: timestampNow(), finishedAt: ZERO_TIME };
      this.save(record);
      this.emit(record, 'start');
    } catch (error) {
      record.state = before;
      this.noteStartFailure(record, error);
      // Running, but the store refused to say so (a full disk): the process goes, as if it never started.
      if (started)
        await this.runtime.delete(record.id).catch((undoError: unknown) => this.options.log(`undo of starting container ${record.id}: ${String(undoError)}`));
      else await prepared?.abort().catch((undoError: unknown) => this.options.log(`undo of creating container ${record.id}: ${String(undoError)}`));
      await this.releaseSandbox(record);
      throw error;
    }
  }

  /** As dockerd: a start the runtime refused leaves the container as it was, with the exit code that refusal means (127: no such file, 126, 128) and its message as State.Error. */
  private noteStartFailure(record: ContainerRecord, error: unknown): void {
    if (!(error instanceof ContainerStartError)) return;
    record.state = { ...record.state, exitCode: error.exitCode, error: error.message };
    try {
      this.save(record);
    } catch (saveError) {
      this.options.log(`container ${record.id}: keeping the exit code of its refused start: ${String(saveError)}`);
    }
  }

  /** The container's bundle and its process created by the runtime (not started), beside its /etc files, which the network's join fills in later. */
  private async prepareProcess(record: ContainerRecord, image: Image, netnsPath: string | null, sysctls: Record<string, string>): Promise<PreparedStart> {
    this.touchEtcFiles(record);
    // A container run before (or a start a killed daemon cut short) has a bundle from then: runc wants a fresh one.
    if (this.runtime.hasBundle(record.id)) await this.runtime.delete(record.id, { keepLayer: true });
    await this.runtime.create({
      id: record.id,
      image,
      args: argvOf(record, image.config),
      env: this.environment(record, image.config),
      cwd: record.config.workingDir || image.config.workingDir || '/',
      hostname: record.config.hostname,
      tty: record.config.tty,
      openStdin: record.config.openStdin,
      netnsPath,
      etcFiles: this.filesOf(record.id),
      binds: await this.bindSources(record, image),
      tmpfs: tmpfsMounts(record.hostConfig),
      resources: runnableResources(record.hostConfig.resources, this.capacity),
      runtime: record.hostConfig.runtime,
      sysctls,
      logRotation: checkLogOptions(record.hostConfig.logOptions),
    });
    return this.runtime.prepare(record.id);
  }

  /**
   * The host paths to bind: -v makes a missing bind source directory, as
   * Docker does at start; a volume mounted the first time gets the image's
   * files at its path.
   */
  private async bindSources(record: ContainerRecord, image: Image): Promise<ContainerProcessSpec['binds']> {
    const binds: ContainerProcessSpec['binds'] = [];
    for (const mount of record.hostConfig.mounts) {
      if (mount.type === 'tmpfs') continue;
      // A volume shared by --volumes-from was filled by its first container (Docker copies no data for it).
      if (mount.type === 'volume' && mount.copiedFrom === undefined) await this.volumes.populate(mount.source, image.rootfsPath, mount.target);
      else if (mount.createSource) mkdirSync(mount.source, { recursive: true });
      const source = mount.type === 'volume' ? this.volumes.dataPath(mount.source) : mount.source;
      binds.push({ source, destination: mount.target, readOnly: mount.readOnly });
    }
    return binds;
  }

  private async stopLocked(record: ContainerRecord, timeoutSeconds: number): Promise<void> {
    this.markStoppedByUser(record);
    await this.runtime.stop(record.id, timeoutSeconds);
    await this.handleExit(record.id, await this.runtime.waitExit(record.id));
  }

  /** Publishes -p/-P on the container's first network (host mode: discarded, as Docker does). */
  private publishPorts(record: ContainerRecord, image: Image): Promise<ContainerRecord['ports']> {
    if (record.sandboxId === '' || record.hostConfig.networkMode.startsWith('container:')) return Promise.resolve([]);
    const exposed = [...image.config.exposedPorts, ...record.config.exposedPorts];
    const requests = publishedRequests(record.hostConfig.portBindings, record.hostConfig.publishAll, exposed);
    return this.engine.publishPorts(record.sandboxId, requests);
  }

  private joinNetwork(record: ContainerRecord, sandboxId: string, networkId: string, request: EndpointRequest): Promise<Endpoint> {
    const first = this.engine.endpointsOfSandbox(sandboxId).length === 0;
    const containerMac = first && record.config.macAddress !== '' ? record.config.macAddress : undefined;
    const requestedMac = request.macAddress !== '' ? request.macAddress : containerMac;
    // A link names whoever holds the linked name now (a container removed since then resolves no more).
    const links = Object.fromEntries(
      request.links.flatMap((link) => {
        const { target, alias } = parseLink(link);
        const linked = this.find(target);
        return linked === undefined ? [] : [[alias, linked.name]];
      }),
    );
    return this.engine.join(sandboxId, networkId, {
      name: record.name,
      ipv4: request.ipv4,
      ipv6: request.ipv6,
      aliases: request.aliases,
      containerId: record.id,
      macAddress: requestedMac?.toLowerCase(),
      linkLocalAddresses: checkEndpointRequest(request),
      links,
    });
  }

  /** The container a reference names, or undefined. */
  private find(reference: string): ContainerRecord | undefined {
    try {
      return this.get(reference);
    } catch (error) {
      if (error instanceof SkiffError && error.kind === 'notFound') return undefined;
      throw error;
    }
  }

  /** The legacy links (default bridge) whose linked container still exists, as docker inspect shows them. */
  legacyLinks(record: ContainerRecord): Array<{ linked: ContainerRecord; alias: string }> {
    return record.hostConfig.links.flatMap((link) => {
      const { target, alias } = parseLink(link);
      const linked = this.find(target);
      return linked === undefined ? [] : [{ linked, alias }];
    });
  }

  /** The linked containers of --link NAME[:ALIAS] that run and have an address. */
  private linkedContainers(record: ContainerRecord): Array<{ linked: ContainerRecord; alias: string; address: string }> {
    return this.legacyLinks(record).flatMap(({ linked, alias }) => {
      const address = this.endpoints(linked)[0]?.ipv4?.address;
      return address === undefined ? [] : [{ linked, alias, address }];
    });
  }

  private environment(record: ContainerRecord, image: ImageConfig): string[] {
    const env = new Map<string, string>();
    const links = this.linkedContainers(record).flatMap(({ linked, alias, address }) => {
      const exposed = [...(this.imageConfig(linked)?.exposedPorts ?? []), ...linked.config.exposedPorts];
      return linkEnvironment(alias, record.name, address, exposed, linked.config.env);
    });
    for (const entry of [
      'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      ...image.env,
      `HOSTNAME=${record.config.hostname}`,
      ...links,
      ...record.config.env,
    ]) {
      const separator = entry.indexOf('=');
      env.set(separator < 0 ? entry : entry.slice(0, separator), entry);
    }
    return [...env.values()];
  }

  /** The /etc files as they are (a restart's) or empty: what the runtime bind-mounts before writeEtcFiles gives them their text. */
  private touchEtcFiles(record: ContainerRecord): void {
    mkdirSync(this.etcDir(record.id), { recursive: true });
    for (const path of Object.values(this.filesOf(record.id))) closeSync(openSync(path, 'a'));
  }

  private writeEtcFiles(record: ContainerRecord): void {
    const files = this.filesOf(record.id);
    mkdirSync(this.etcDir(record.id), { recursive: true });
    const endpoints = this.endpoints(record);
    const addresses = endpoints
      .flatMap((endpoint) => [endpoint.ipv4?.address, endpoint.ipv6?.address])
      .filter((address): address is string => address !== undefined);
    const links = this.linkedContainers(record).map(({ linked, alias, address }) => ({
      address,
      names: [...new Set([alias, linked.config.hostname, linked.name])],
    }));
    writeFileSync(files.hosts, renderHosts({ hostname: record.config.hostname, addresses, extraHosts: record.hostConfig.extraHosts, links }));
    writeFileSync(files.hostname, `${record.config.hostname}\n`);
    const onUserNetwork = endpoints.some((endpoint) => {
      const network = this.engine.findNetwork(endpoint.networkId);
      return network !== undefined && hasEmbeddedDns(network);
    });
    writeFileSync(
      files.resolvConf,
      renderResolvConf({
        embeddedDns: onUserNetwork,
        nameservers: record.hostConfig.dns.length > 0 ? record.hostConfig.dns : this.options.dnsServers,
        hostResolvConf: readHostResolvConf(),
        search: record.hostConfig.dnsSearch.length > 0 ? record.hostConfig.dnsSearch : (this.options.dnsSearch ?? []),
        options: record.hostConfig.dnsOptions.length > 0 ? record.hostConfig.dnsOptions : (this.options.dnsOptions ?? []),
      }),
    );
  }

  /**
   * An exit the runtime saw, handled in its turn: by then a stop (or restart)
   * may have handled it already, or started the container again, so only a
   * run that is still over counts.
   */
  private async exitNoticed(id: string, exitCode: number): Promise<void> {
    if (!this.records.has(id)) return;
    const state = await this.runtime.state(id).catch(() => undefined); // no bundle: not running either
    if (state?.status === 'running') return;
    await this.handleExit(id, exitCode);
  }

  /**
   * The process ended: the record says so, the network is released, --rm
   * removes the container once its attached readers have its last output.
   * Idempotent: an exit already handled (by stop, or before a restart) is skipped.
   */
  private async handleExit(id: string, exitCode: number): Promise<void> {
    const record = this.records.get(id);
    if (record === undefined || record.state.status !== 'running') return;
    // The cgroup lasts until the bundle is deleted: its OOM counter tells whether the kernel killed for memory.
    const oomKilled = this.runtime.hasBundle(id) && this.runtime.cgroup(id).oomKills() > 0;
    record.state = { ...record.state, status: 'exited', paused: false, oomKilled, pid: 0, exitCode, finishedAt: timestampNow() };
    this.exiting.add(id);
    try {
      await this.releaseSandbox(record);
      this.save(record);
      if (oomKilled) this.emit(record, 'oom');
      this.emit(record, 'die', { exitCode: String(exitCode) });
      if (record.hostConfig.autoRemove) {
        await this.readers.allDone(id, READERS_TIMEOUT_MS);
        // run --rm takes its anonymous volumes with it, as Docker's.
        await this.removeLocked(record, true);
      } else this.applyRestartPolicy(record);
    } finally {
      this.exiting.delete(id);
      this.exits.notify(id);
    }
  }

  /** Releases the container's own sandbox (not one it shares with another container) and its ports. */
  private async releaseSandbox(record: ContainerRecord): Promise<void> {
    const sandboxId = record.sandboxId;
    record.sandboxId = '';
    await this.engine.unpublishPorts(record.ports);
    record.ports = [];
    if (sandboxId === '' || record.hostConfig.networkMode.startsWith('container:')) return;
    try {
      await this.engine.deleteSandbox(sandboxId);
    } catch (error) {
      if (!(error instanceof SkiffError && error.kind === 'notFound')) throw error;
    }
  }

  private async removeLocked(record: ContainerRecord, removeVolumes: boolean): Promise<void> {
    this.cancelRestart(record.id);
    this.restartDelays.delete(record.id);
    this.exitOnNext.delete(record.id);
    await this.runtime.delete(record.id);
    rmSync(this.etcDir(record.id), { recursive: true, force: true });
    this.engine.store.deleteContainer(record.id);
    this.records.delete(record.id);
    this.images.dropRetired(new Set([...this.records.values()].map((other) => other.imageId)));
    this.execs.forgetContainer(record.id);
    this.emit(record, 'destroy');
    this.removals.notify(record.id);
    if (removeVolumes) {
      for (const mount of record.hostConfig.mounts) {
        const volume = mount.type === 'volume' && mount.copiedFrom === undefined ? this.volumes.find(mount.source) : undefined;
        if (volume?.anonymous === true && this.volumeUsers(volume.name).length === 0) this.volumes.remove(volume.name);
      }
    }
  }

  /**
   * After an exit: the restart policy decides whether the container starts
   * again, after Docker's back-off. An exit the user asked for is final.
   */
  private applyRestartPolicy(record: ContainerRecord): void {
    const asked = this.exitOnNext.delete(record.id);
    if (asked || !shouldRestart(record.hostConfig.restartPolicy, { ...record, exitCode: record.state.exitCode })) return;
    const delay = nextRestartDelay(this.restartDelays.get(record.id) ?? 0, Date.parse(record.state.finishedAt) - Date.parse(record.state.startedAt));
    this.restartDelays.set(record.id, delay);
    record.restartCount += 1;
    this.save(record);
    const timer = setTimeout(() => {
      this.mutex
        .run(() => this.restartByPolicy(record.id))
        .catch((error: unknown) => this.options.log(`restarting container ${record.id} by its policy: ${String(error)}`));
    }, delay);
    // A daemon shutting down does not wait for a back-off: the next daemon start applies the policy again.
    timer.unref();
    this.pendingRestarts.set(record.id, timer);
  }

  /** The back-off is over: the start, unless a stop, start or removal came first. A start that fails leaves the container exited, as Docker's. */
  private async restartByPolicy(id: string): Promise<void> {
    if (!this.pendingRestarts.delete(id)) return;
    const record = this.records.get(id);
    if (record === undefined || record.state.status === 'running') return;
    try {
      await this.startLocked(record);
    } finally {
      this.starts.notify(record.id);
    }
  }

  private cancelRestart(id: string): void {
    clearTimeout(this.pendingRestarts.get(id));
    this.pendingRestarts.delete(id);
  }

  /** A start by the user: the policy's count and back-off begin again (Docker's ResetRestartManager). */
  private resetRestarts(record: ContainerRecord): void {
    this.cancelRestart(record.id);
    this.restartDelays.delete(record.id);
    this.exitOnNext.delete(record.id);
    record.restartCount = 0;
    record.manuallyStopped = false;
  }

  /** docker stop / kill / rm -f: the coming exit is final; unless-stopped stays down across daemon restarts too. */
  private markStoppedByUser(record: ContainerRecord): void {
    this.exitOnNext.add(record.id);
    record.manuallyStopped = true;
    this.save(record);
  }

  private emit(record: ContainerRecord, action: string, extra: Record<string, string> = {}): void {
    this.engine.events.emit('container', action, record.id, { image: record.config.image, name: record.name, ...record.config.labels, ...extra });
  }

  /** The store first: a record the store refused (a full disk) is not shown either. */
  private save(record: ContainerRecord): void {
    this.engine.store.putContainer(record);
    this.records.set(record.id, record);
  }
}

function readHostResolvConf(): string {
  try {
    return readFileSync('/etc/resolv.conf', 'utf8');
  } catch {
    return ''; // no host resolv.conf: the container gets only what it was given
  }
}
