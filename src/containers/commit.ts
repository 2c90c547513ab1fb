/**
 * docker commit: a new image whose rootfs is the container's merged
 * filesystem (the image's files with the container's writable layer over
 * them) and whose config is the container's, as Docker's commit keeps
 * Cmd, Entrypoint, Env, Labels, ExposedPorts and WorkingDir, with the
 * request's own config and --change instructions over it.
 */
import { createHash } from 'node:crypto';
import type { ImageConfig, Image } from '../model/image.js';
import type { ContainerRecord } from '../model/container.js';
import { applyChanges } from '../runtime/image-changes.js';
import type { ImageStore } from '../runtime/images.js';
import { archiveDirectory } from '../runtime/archive.js';
import { extractTar } from '../runtime/tar-extract.js';
import { bytesOfFiles } from '../runtime/disk-usage.js';
import { historyOf } from '../runtime/image-history.js';
import type { ContainerFilesystem, Containers } from './controller.js';
import { argvOf } from './decisions.js';

/** What the commit request sets over the container's config (docker-py's conf, the API's body). */
export type ConfigOverrides = Partial<ImageConfig>;

export interface CommitRequest {
  container: string;
  repoTag?: string;
  comment: string;
  author: string;
  changes: string[];
  overrides: ConfigOverrides;
  /** docker commit --pause (true unless the request says pause=0/false). */
  pause: boolean;
}

function mergeEnv(base: readonly string[], over: readonly string[]): string[] {
  const merged = [...base];
  for (const entry of over) {
    const name = entry.split('=', 1)[0]!;
    const index = merged.findIndex((existing) => existing.split('=', 1)[0] === name);
    if (index < 0) merged.push(entry);
    else merged[index] = entry;
  }
  return merged;
}

/** The config a container holds (its own settings over its image's), as the next image's (pure). */
export function containerImageConfig(record: ContainerRecord, image: ImageConfig): ImageConfig {
  const entrypoint = record.config.entrypoint ?? image.entrypoint;
  const cmd = record.config.cmd ?? (record.config.entrypoint !== null ? null : image.cmd);
  return {
    env: mergeEnv(image.env, record.config.env),
    cmd,
    entrypoint,
    workingDir: record.config.workingDir || image.workingDir,
    exposedPorts: [...new Set([...image.exposedPorts, ...record.config.exposedPorts])],
    labels: { ...image.labels, ...record.config.labels },
  };
}

/** The request's config over the container's, then the --change instructions (pure). */
export function commitConfig(container: ImageConfig, overrides: ConfigOverrides, changes: readonly string[]): ImageConfig {
  const merged: ImageConfig = {
    env: mergeEnv(container.env, overrides.env ?? []),
    cmd: overrides.cmd ?? (overrides.entrypoint !== undefined && overrides.entrypoint !== null ? null : container.cmd),
    entrypoint: overrides.entrypoint ?? container.entrypoint,
    workingDir: overrides.workingDir || container.workingDir,
    exposedPorts: [...new Set([...container.exposedPorts, ...(overrides.exposedPorts ?? [])])],
    labels: { ...container.labels, ...overrides.labels },
  };
  return applyChanges(merged, changes);
}

/**
 * docker commit: with `pause` (Docker's default) a running container is
 * frozen while its files are copied, so the image is one moment of it, and
 * thawed after, whether the commit went through or not; one the user paused
 * stays paused.
 */
export async function commitContainer(containers: Containers, images: ImageStore, request: CommitRequest): Promise<Image> {
  const files = await containers.filesystem(request.container);
  const freeze = request.pause && files.record.state.status === 'running' && !files.record.state.paused;
  if (freeze) await containers.pause(files.record.id);
  try {
    return await commitFiles(containers, images, request, files);
  } finally {
    if (freeze) await containers.unpause(files.record.id);
  }
}

async function commitFiles(containers: Containers, images: ImageStore, request: CommitRequest, files: ContainerFilesystem): Promise<Image> {
  const config = commitConfig(containerImageConfig(files.record, files.image.config), request.overrides, request.changes);
  const created = new Date().toISOString();
  const hex = createHash('sha256')
    .update(JSON.stringify({ parent: files.image.id, container: files.record.id, created, config, comment: request.comment }))
    .digest('hex');
  const step = { created, createdBy: argvOf(files.record, files.image.config).join(' '), comment: request.comment, emptyLayer: false };
  const image = await images.create(
    hex,
    async (rootfs) => {
      await extractTar(archiveDirectory(files.rootfs), rootfs);
      return [await bytesOfFiles(files.upper)];
    },
    {
      created,
      config,
      comment: request.comment,
      author: request.author,
      parent: files.image.id,
      history: ([layerSize]) => [...historyOf(files.image), { ...step, size: layerSize ?? 0 }],
      repoTags: request.repoTag === undefined ? [] : [request.repoTag],
    },
  );
  containers.noteFileEvent(files.record, 'commit', { comment: request.comment, imageID: image.id, imageRef: request.repoTag ?? '' });
  return image;
}
