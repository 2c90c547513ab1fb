/**
 * docker save / docker load in the docker-archive format Docker 20.10 writes
 * and reads: manifest.json ([{Config, RepoTags, Layers}]), repositories,
 * <config digest>.json (the image config, whose sha256 is the image id) and
 * one <dir>/layer.tar per layer, whose sha256 are the config's
 * rootfs.diff_ids. skiff's images are one rootfs each, so a save writes one
 * layer; a load applies however many layers there are, in order, whiteouts
 * included.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, lstatSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { posix, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { invalid } from '../errors.js';
import type { Image, ImageConfig, ImageHistoryEntry } from '../model/image.js';
import { archiveDirectory, mergeInto, stagingDir } from './archive.js';
import { extractTar } from './tar-extract.js';
import { bytesOfFiles } from './disk-usage.js';
import { normalizeRepoTag, type ImageStore } from './images.js';

export interface ManifestEntry {
  config: string;
  repoTags: string[];
  layers: string[];
}

/** A path inside the archive: relative, and never leaving it. */
function archiveMember(value: unknown, what: string): string {
  if (typeof value !== 'string' || value === '') throw invalid(`invalid manifest.json: ${what} must be a path in the archive`);
  const clean = posix.normalize(value);
  if (clean.startsWith('/') || clean === '..' || clean.startsWith('../'))
    throw invalid(`invalid manifest.json: ${what} ${JSON.stringify(value)} leaves the archive`);
  return clean;
}

/** manifest.json of a docker-archive, checked (pure). */
export function parseManifest(text: string): ManifestEntry[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw invalid(`invalid manifest.json: ${(error as Error).message}`);
  }
  if (!Array.isArray(parsed)) throw invalid('invalid manifest.json: not a list of images');
  return parsed.map((item: unknown) => {
    if (item === null || typeof item !== 'object') throw invalid('invalid manifest.json: an entry is not an object');
    const entry = item as { Config?: unknown; RepoTags?: unknown; Layers?: unknown };
    const repoTags = entry.RepoTags ?? [];
    if (!Array.isArray(repoTags) || repoTags.some((tag) => typeof tag !== 'string')) throw invalid('invalid manifest.json: RepoTags must be a list of names');
    if (!Array.isArray(entry.Layers)) throw invalid('invalid manifest.json: Layers must be a list');
    return {
      config: archiveMember(entry.Config, 'Config'),
      repoTags: repoTags as string[],
      layers: entry.Layers.map((layer, index) => archiveMember(layer, `layer ${index}`)),
    };
  });
}

interface DockerImageConfig {
  created?: string;
  comment?: string;
  author?: string;
  config?: {
    Env?: string[] | null;
    Cmd?: string[] | null;
    Entrypoint?: string[] | null;
    WorkingDir?: string;
    ExposedPorts?: Record<string, unknown> | null;
    Labels?: Record<string, string> | null;
  } | null;
  rootfs?: { diff_ids?: string[] };
  history?: Array<{ created?: string; created_by?: string; comment?: string; empty_layer?: boolean }> | null;
}

/**
 * A loaded image's steps from its config's `history`, each step that made a
 * layer given that layer's size in order; a config without history gets one
 * step per layer (pure).
 */
export function loadedHistory(parsed: { created: string; steps: DockerImageConfig['history'] }, layerSizes: readonly number[]): ImageHistoryEntry[] {
  const steps = parsed.steps ?? [];
  if (steps.length === 0) return layerSizes.map((size) => ({ created: parsed.created, createdBy: '', comment: '', size, emptyLayer: false }));
  let layer = 0;
  return steps.map((step) => {
    const emptyLayer = step.empty_layer === true;
    return {
      created: step.created ?? parsed.created,
      createdBy: step.created_by ?? '',
      comment: step.comment ?? '',
      size: emptyLayer ? 0 : (layerSizes[layer++] ?? 0),
      emptyLayer,
    };
  });
}

/** An image config file (Docker's <id>.json) as skiff's image config (pure). */
export function imageConfigFromDocker(text: string): {
  config: ImageConfig;
  created: string;
  comment: string;
  author: string;
  diffIds: string[];
  steps: DockerImageConfig['history'];
} {
  let parsed: DockerImageConfig;
  try {
    parsed = JSON.parse(text) as DockerImageConfig;
  } catch (error) {
    throw invalid(`invalid image config: ${(error as Error).message}`);
  }
  const config = parsed.config ?? {};
  return {
    config: {
      env: config.Env ?? [],
      cmd: config.Cmd ?? null,
      entrypoint: config.Entrypoint ?? null,
      workingDir: config.WorkingDir ?? '',
      exposedPorts: Object.keys(config.ExposedPorts ?? {}),
      labels: config.Labels ?? {},
    },
    created: parsed.created ?? new Date().toISOString(),
    comment: parsed.comment ?? '',
    author: parsed.author ?? '',
    diffIds: parsed.rootfs?.diff_ids ?? [],
    steps: parsed.history ?? [],
  };
}

/** skiff's image as Docker's image config file, with its one layer (pure). */
export function imageConfigToDocker(image: Image, diffId: string): string {
  const config = image.config;
  return JSON.stringify({
    architecture: 'amd64',
    config: {
      Hostname: '',
      Domainname: '',
      User: '',
      AttachStdin: false,
      AttachStdout: false,
      AttachStderr: false,
      ...(config.exposedPorts.length > 0 ? { ExposedPorts: Object.fromEntries(config.exposedPorts.map((port) => [port, {}])) } : {}),
      Tty: false,
      OpenStdin: false,
      StdinOnce: false,
      Env: config.env.length > 0 ? config.env : null,
      Cmd: config.cmd,
      Image: '',
      Volumes: null,
      WorkingDir: config.workingDir,
      Entrypoint: config.entrypoint,
      OnBuild: null,
      Labels: Object.keys(config.labels).length > 0 ? config.labels : null,
    },
    created: image.created,
    ...(image.comment === '' ? {} : { comment: image.comment }),
    ...(image.author === undefined || image.author === '' ? {} : { author: image.author }),
    history: [{ created: image.created, created_by: 'skiff', ...(image.comment === '' ? {} : { comment: image.comment }) }],
    os: 'linux',
    rootfs: { type: 'layers', diff_ids: [diffId] },
  });
}

/** Writes a stream to a file, hashing it: the sha256 hex of what was written. */
async function writeHashed(source: Readable, file: string): Promise<string> {
  const hash = createHash('sha256');
  source.on('data', (chunk: Buffer) => hash.update(chunk));
  await pipeline(source, createWriteStream(file));
  return hash.digest('hex');
}

/**
 * A file of the extracted archive by its manifest path: every step a real
 * directory and the file a regular one, so that a symlink in the archive
 * never makes the daemon read a host file.
 */
export function archiveFile(archiveDir: string, member: string): string {
  let path = archiveDir;
  const steps = member.split('/').filter((step) => step !== '' && step !== '.');
  for (const [index, step] of steps.entries()) {
    path = join(path, step);
    let stats;
    try {
      stats = lstatSync(path);
    } catch {
      throw invalid(`invalid archive: ${member} is not in it`);
    }
    const last = index === steps.length - 1;
    if (last ? !stats.isFile() : !stats.isDirectory()) throw invalid(`invalid archive: ${member} is not a regular file in it`);
  }
  return path;
}

function sha256(bytes: Buffer | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export class ImageArchive {
  private readonly scratch: string;

  constructor(
    private readonly images: ImageStore,
    dataRoot: string,
  ) {
    this.scratch = join(dataRoot, 'tmp');
  }

  /**
   * docker save: the images the references name, as one docker-archive
   * stream. A reference by name keeps that name in the archive; one by id
   * keeps none, as Docker's save.
   */
  async save(references: readonly string[]): Promise<Readable> {
    const wanted = new Map<string, { image: Image; repoTags: string[] }>();
    for (const reference of references) {
      const image = this.images.resolve(reference);
      const entry = wanted.get(image.id) ?? { image, repoTags: [] };
      const repoTag = normalizeRepoTag(reference);
      if (image.repoTags.includes(repoTag) && !entry.repoTags.includes(repoTag)) entry.repoTags.push(repoTag);
      wanted.set(image.id, entry);
    }
    const staging = stagingDir(this.scratch);
    try {
      const manifest: Array<{ Config: string; RepoTags: string[] | null; Layers: string[] }> = [];
      const repositories: Record<string, Record<string, string>> = {};
      for (const { image, repoTags } of wanted.values()) {
        const layerFile = join(staging, 'layer.tar.partial');
        const layerHex = await writeHashed(archiveDirectory(image.rootfsPath), layerFile);
        mkdirSync(join(staging, layerHex), { recursive: true });
        renameSync(layerFile, join(staging, layerHex, 'layer.tar'));
        writeFileSync(join(staging, layerHex, 'VERSION'), '1.0');
        const configText = imageConfigToDocker(image, `sha256:${layerHex}`);
        const configHex = sha256(configText);
        writeFileSync(join(staging, `${configHex}.json`), configText);
        manifest.push({ Config: `${configHex}.json`, RepoTags: repoTags.length > 0 ? repoTags : null, Layers: [`${layerHex}/layer.tar`] });
        for (const repoTag of repoTags) {
          const cut = repoTag.lastIndexOf(':');
          (repositories[repoTag.slice(0, cut)] ??= {})[repoTag.slice(cut + 1)] = layerHex;
        }
      }
      writeFileSync(join(staging, 'manifest.json'), JSON.stringify(manifest));
      writeFileSync(join(staging, 'repositories'), JSON.stringify(repositories));
      const output = archiveDirectory(staging);
      output.on('close', () => rmSync(staging, { recursive: true, force: true }));
      return output;
    } catch (error) {
      rmSync(staging, { recursive: true, force: true });
      throw error;
    }
  }

  /** docker load: every image of a docker-archive stream; the lines Docker prints for them. */
  async load(tar: NodeJS.ReadableStream): Promise<string[]> {
    const staging = stagingDir(this.scratch);
    try {
      await extractTar(tar, staging);
      // Docker's words (without manifest.json it looks for the legacy format's repositories file), as bad input.
      if (!existsSync(join(staging, 'manifest.json'))) throw invalid(`open ${join(staging, 'repositories')}: no such file or directory`);
      const manifestText = readFileSync(archiveFile(staging, 'manifest.json'), 'utf8');
      const lines: string[] = [];
      for (const entry of parseManifest(manifestText)) {
        const configBytes = readFileSync(archiveFile(staging, entry.config));
        const parsed = imageConfigFromDocker(configBytes.toString('utf8'));
        if (parsed.diffIds.length !== entry.layers.length)
          throw invalid(`invalid manifest, layers length mismatch: expected ${parsed.diffIds.length}, got ${entry.layers.length}`);
        const hex = sha256(configBytes);
        const repoTags = entry.repoTags.map(normalizeRepoTag);
        await this.images.create(hex, (rootfs) => applyLayers(staging, entry.layers, parsed.diffIds, rootfs), {
          ...parsed,
          history: (layerSizes) => loadedHistory(parsed, layerSizes),
          repoTags,
        });
        if (repoTags.length === 0) lines.push(`Loaded image ID: sha256:${hex}`);
        for (const repoTag of repoTags) lines.push(`Loaded image: ${repoTag}`);
      }
      return lines;
    } finally {
      rmSync(staging, { recursive: true, force: true });
    }
  }
}

/**
 * The layers in order: each checked against its diff id, as Docker checks
 * it, then laid over what is there. Each layer's size (its files unpacked,
 * as Docker's DiffSize counts them) is returned in order.
 */
async function applyLayers(archiveDir: string, layers: readonly string[], diffIds: readonly string[], rootfs: string): Promise<number[]> {
  const sizes: number[] = [];
  for (const [index, layer] of layers.entries()) {
    const file = archiveFile(archiveDir, layer);
    const actual = `sha256:${await writeHashed(createReadStream(file), '/dev/null')}`;
    if (actual !== diffIds[index])
      throw invalid(`invalid diffID for layer ${index}: expected ${JSON.stringify(diffIds[index])}, got ${JSON.stringify(actual)}`);
    if (index === 0) {
      // Nothing below the first layer: GNU tar straight into the empty rootfs (its whiteouts have nothing to hide).
      await extractTar(createReadStream(file), rootfs, { excludes: ['.wh.*'] });
      sizes.push(await bytesOfFiles(rootfs));
      continue;
    }
    const staging = stagingDir(archiveDir);
    try {
      await extractTar(createReadStream(file), staging);
      sizes.push(await bytesOfFiles(staging));
      mergeInto({ rootfs, mounts: [] }, staging, '/', { noOverwriteDirNonDir: false, whiteouts: true });
    } finally {
      rmSync(staging, { recursive: true, force: true });
    }
  }
  return sizes;
}
