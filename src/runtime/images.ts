/**
 * Images as rootfs directories: <dataRoot>/images/<hex id>/{rootfs/, image.json}.
 * `import` extracts a tar with tar(1); an image's id is the sha256 of the tar
 * bytes as received, so importing the same tar twice gives the same image.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { conflict, notFound, SkiffError } from '../errors.js';
import { run } from '../kernel/exec.js';
import { emptyImageConfig, type Image, type ImageConfig } from '../model/image.js';
import { randomBytes } from '../model/random.js';
import { applyChanges } from './image-changes.js';

type StoredImage = Omit<Image, 'rootfsPath'>;

/**
 * image.json as written before the config was camelCase (Docker's PascalCase
 * keys): read both, so a data root written by an older skiff still opens.
 */
function configFromDisk(config: Record<string, unknown>): ImageConfig {
  if (!('Env' in config)) return config as unknown as ImageConfig;
  const legacy = config as {
    Env: string[];
    Cmd: string[] | null;
    Entrypoint: string[] | null;
    WorkingDir: string;
    ExposedPorts: Record<string, object>;
    Labels: Record<string, string>;
  };
  return {
    env: legacy.Env,
    cmd: legacy.Cmd,
    entrypoint: legacy.Entrypoint,
    workingDir: legacy.WorkingDir,
    exposedPorts: Object.keys(legacy.ExposedPorts ?? {}),
    labels: legacy.Labels ?? {},
  };
}

/** `alpine` → `alpine:latest`; Docker Hub's implicit prefixes dropped. */
export function normalizeRepoTag(reference: string): string {
  let name = reference.replace(/^(docker\.io|index\.docker\.io|registry-1\.docker\.io)\//, '').replace(/^library\//, '');
  const lastSlash = name.lastIndexOf('/');
  if (!name.slice(lastSlash + 1).includes(':')) name = `${name}:latest`;
  return name;
}

/** Flags telling tar how the stream is compressed, from its first bytes. */
export function decompressFlags(head: Buffer): string[] {
  if (head[0] === 0x1f && head[1] === 0x8b) return ['-z'];
  if (head.subarray(0, 3).toString('latin1') === 'BZh') return ['-j'];
  if (head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return ['-J'];
  return [];
}

function asBuffer(chunk: unknown): Buffer {
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
}

export class ImageStore {
  private readonly imagesDir: string;
  /**
   * The images as last read from disk. `ps` and `inspect` resolve each
   * container's image, so reading the directory per call made `ps` do a
   * readdir and a file read per image for every container; only this store
   * writes there, and each of its writes drops this.
   */
  private listed: Image[] | undefined;

  constructor(dataRoot: string) {
    this.imagesDir = join(dataRoot, 'images');
    mkdirSync(this.imagesDir, { recursive: true });
  }

  async importTar(tar: NodeJS.ReadableStream, options: { repoTag?: string; changes?: string[]; message?: string }): Promise<Image> {
    const config = applyChanges(emptyImageConfig(), options.changes ?? []);
    const staging = join(this.imagesDir, `.import-${randomBytes(8).toString('hex')}`);
    mkdirSync(join(staging, 'rootfs'), { recursive: true });
    try {
      // One iterator for the whole body: leaving a for-await early would destroy the stream.
      const chunks = tar[Symbol.asyncIterator]();
      const first = await chunks.next();
      const head = first.done === true ? Buffer.alloc(0) : asBuffer(first.value);
      // node:crypto is loaded by an image import only, not kept by every daemon (model/random.ts).
      const hash = (createRequire(import.meta.url)('node:crypto') as typeof import('node:crypto')).createHash('sha256');
      const extractor = spawn('tar', ['-x', ...decompressFlags(head), '--numeric-owner', '-C', join(staging, 'rootfs'), '-f', '-'], {
        stdio: ['pipe', 'ignore', 'pipe'],
      });
      let stderr = '';
      extractor.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      const finished = new Promise<number>((resolve, reject) => {
        extractor.on('error', reject);
        extractor.on('close', (code) => resolve(code ?? 1));
      });
      extractor.stdin.on('error', () => undefined); // tar exiting early is reported by its exit code
      const write = (chunk: Buffer) => {
        hash.update(chunk);
        return extractor.stdin.write(chunk) ? Promise.resolve() : new Promise<void>((resolve) => extractor.stdin.once('drain', resolve));
      };
      await write(head);
      for (let next = await chunks.next(); next.done !== true; next = await chunks.next()) await write(asBuffer(next.value));
      extractor.stdin.end();
      const code = await finished;
      if (code !== 0) throw new SkiffError('invalid', `Error processing tar file(exit status ${code}): ${stderr.trim()}`);

      const hex = hash.digest('hex');
      const imageDir = join(this.imagesDir, hex);
      if (!existsSync(imageDir)) {
        const { stdout } = await run('du', ['-sb', join(staging, 'rootfs')]);
        const stored: StoredImage = {
          id: `sha256:${hex}`,
          repoTags: [],
          created: new Date().toISOString(),
          size: Number(stdout.split('\t')[0]),
          config,
          comment: options.message ?? '',
        };
        writeFileSync(join(staging, 'image.json'), JSON.stringify(stored, null, 2));
        renameSync(staging, imageDir);
        this.listed = undefined;
      }
      if (options.repoTag !== undefined && options.repoTag !== '') this.tag(`sha256:${hex}`, options.repoTag);
      return this.resolve(`sha256:${hex}`);
    } finally {
      rmSync(staging, { recursive: true, force: true });
    }
  }

  /**
   * An image whose rootfs `fill` writes into a staging directory (docker
   * commit, docker load), with the given id; an image of that id already
   * there is kept as it is. The tags given move to it.
   */
  async create(
    hex: string,
    fill: (rootfs: string) => Promise<void>,
    image: { created: string; config: ImageConfig; comment: string; author?: string; repoTags: readonly string[] },
  ): Promise<Image> {
    const imageDir = join(this.imagesDir, hex);
    if (!existsSync(imageDir)) {
      const staging = join(this.imagesDir, `.create-${randomBytes(8).toString('hex')}`);
      mkdirSync(join(staging, 'rootfs'), { recursive: true, mode: 0o755 });
      try {
        await fill(join(staging, 'rootfs'));
        const { stdout } = await run('du', ['-sb', join(staging, 'rootfs')]);
        const stored: StoredImage = {
          id: `sha256:${hex}`,
          repoTags: [],
          created: image.created,
          size: Number(stdout.split('\t')[0]),
          config: image.config,
          comment: image.comment,
          ...(image.author === undefined || image.author === '' ? {} : { author: image.author }),
        };
        writeFileSync(join(staging, 'image.json'), JSON.stringify(stored, null, 2));
        renameSync(staging, imageDir);
        this.listed = undefined;
      } finally {
        rmSync(staging, { recursive: true, force: true });
      }
    }
    for (const repoTag of image.repoTags) this.tag(`sha256:${hex}`, repoTag);
    return this.resolve(`sha256:${hex}`);
  }

  list(): Image[] {
    this.listed ??= readdirSync(this.imagesDir)
      .filter((name) => /^[0-9a-f]{64}$/.test(name) && existsSync(join(this.imagesDir, name, 'image.json')))
      .map((hex) => this.load(hex))
      .sort((a, b) => b.created.localeCompare(a.created));
    return [...this.listed];
  }

  /** name[:tag], `sha256:<hex>`, full or short hex id; Docker's wording when nothing matches. */
  /** The image a reference names, or undefined when it names none. */
  find(ref: string): Image | undefined {
    try {
      return this.resolve(ref);
    } catch (error) {
      if (error instanceof SkiffError && error.kind === 'notFound') return undefined;
      throw error;
    }
  }

  resolve(ref: string): Image {
    const images = this.list();
    const repoTag = normalizeRepoTag(ref);
    const byTag = images.find((image) => image.repoTags.includes(repoTag));
    if (byTag) return byTag;
    if (ref.startsWith('sha256:')) {
      const byId = images.find((image) => image.id === ref);
      if (byId) return byId;
    } else if (/^[0-9a-f]{1,64}$/.test(ref)) {
      const matches = images.filter((image) => image.id.startsWith(`sha256:${ref}`));
      if (matches.length === 1) return matches[0]!;
    }
    throw notFound(`No such image: ${ref}`);
  }

  tag(ref: string, repoTag: string): void {
    const target = this.resolve(ref);
    const normalized = normalizeRepoTag(repoTag);
    for (const image of this.list()) {
      if (image.id !== target.id && image.repoTags.includes(normalized)) {
        this.save({ ...image, repoTags: image.repoTags.filter((tag) => tag !== normalized) });
      }
    }
    if (!target.repoTags.includes(normalized)) this.save({ ...target, repoTags: [...target.repoTags, normalized] });
  }

  /** Like `docker rmi`: untags a tag of a multi-tagged image, else deletes the image. */
  remove(ref: string, options: { force?: boolean } = {}): string[] {
    const image = this.resolve(ref);
    const repoTag = normalizeRepoTag(ref);
    const byTag = image.repoTags.includes(repoTag);
    if (byTag && image.repoTags.length > 1) {
      this.save({ ...image, repoTags: image.repoTags.filter((tag) => tag !== repoTag) });
      return [`Untagged: ${repoTag}`];
    }
    if (!byTag && image.repoTags.length > 1 && options.force !== true) {
      throw conflict(`conflict: unable to delete ${image.id.slice(7, 19)} (must be forced) - image is referenced in multiple repositories`);
    }
    const lines = image.repoTags.map((tag) => `Untagged: ${tag}`);
    rmSync(join(this.imagesDir, image.id.slice(7)), { recursive: true, force: true });
    this.listed = undefined;
    return [...lines, `Deleted: ${image.id}`];
  }

  private load(hex: string): Image {
    const stored = JSON.parse(readFileSync(join(this.imagesDir, hex, 'image.json'), 'utf8')) as StoredImage;
    return { ...stored, config: configFromDisk(stored.config as unknown as Record<string, unknown>), rootfsPath: join(this.imagesDir, hex, 'rootfs') };
  }

  private save(image: Image): void {
    const { rootfsPath: _rootfsPath, ...stored } = image;
    const file = join(this.imagesDir, image.id.slice(7), 'image.json');
    writeFileSync(`${file}.tmp`, JSON.stringify(stored, null, 2));
    renameSync(`${file}.tmp`, file);
    this.listed = undefined;
  }
}
