/**
 * Images as rootfs directories: <dataRoot>/images/<hex id>/{rootfs/, image.json}.
 * `import` extracts a tar with tar(1); an image's id is the sha256 of the tar
 * bytes as received, so importing the same tar twice gives the same image.
 */
import { createRequire } from 'node:module';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { notFound, SkiffError } from '../errors.js';
import { run } from '../kernel/exec.js';
import { emptyImageConfig, type Image, type ImageConfig, type ImageHistoryEntry } from '../model/image.js';
import { randomBytes } from '../model/random.js';
import { bytesOfFiles } from './disk-usage.js';
import { applyChanges } from './image-changes.js';
import { extractTar } from './tar-extract.js';

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

/** docker import's comment: its message, else Docker's "Imported from -" (the CLI sends the tar on stdin). */
function importComment(message: string | undefined): string {
  return message === undefined || message === '' ? 'Imported from -' : message;
}

/** Bytes under a directory as du -sb counts them (each hard-linked file once). */
async function directorySize(path: string): Promise<number> {
  const { stdout } = await run('du', ['-sb', path]);
  return Number(stdout.split('\t')[0]);
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
      // node:crypto is loaded by an image import only, not kept by every daemon (model/random.ts).
      const hash = (createRequire(import.meta.url)('node:crypto') as typeof import('node:crypto')).createHash('sha256');
      await extractTar(tar, join(staging, 'rootfs'), { overwriteDirectories: true, onChunk: (chunk) => hash.update(chunk) });

      const hex = hash.digest('hex');
      const imageDir = join(this.imagesDir, hex);
      this.revive(hex);
      if (!existsSync(imageDir)) {
        const created = new Date().toISOString();
        const size = await directorySize(join(staging, 'rootfs'));
        const stored: StoredImage = {
          id: `sha256:${hex}`,
          repoTags: [],
          created,
          size,
          config,
          comment: importComment(options.message),
          // One step with no command, as Docker's import records it.
          history: [{ created, createdBy: '', comment: importComment(options.message), size, emptyLayer: false }],
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
    fill: (rootfs: string) => Promise<number[]>,
    image: {
      created: string;
      config: ImageConfig;
      comment: string;
      author?: string;
      parent?: string;
      /** The steps before this image's own layers, and each of its layers' step (sizes measured by `fill`). */
      history: (layerSizes: readonly number[]) => ImageHistoryEntry[];
      repoTags: readonly string[];
    },
  ): Promise<Image> {
    const imageDir = join(this.imagesDir, hex);
    this.revive(hex);
    if (!existsSync(imageDir)) {
      const staging = join(this.imagesDir, `.create-${randomBytes(8).toString('hex')}`);
      mkdirSync(join(staging, 'rootfs'), { recursive: true, mode: 0o755 });
      try {
        const layerSizes = await fill(join(staging, 'rootfs'));
        const stored: StoredImage = {
          id: `sha256:${hex}`,
          repoTags: [],
          created: image.created,
          size: await directorySize(join(staging, 'rootfs')),
          config: image.config,
          comment: image.comment,
          ...(image.author === undefined || image.author === '' ? {} : { author: image.author }),
          ...(image.parent === undefined ? {} : { parent: image.parent }),
          history: image.history(layerSizes),
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

  /**
   * resolve, with the words Docker's rmi and history use when nothing
   * matches: the reference as the name it parses to (`nosuch:latest`).
   */
  resolveReference(ref: string): Image {
    const image = this.find(ref);
    if (image === undefined) throw notFound(`No such image: ${ref.startsWith('sha256:') ? ref : normalizeRepoTag(ref)}`);
    return image;
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

  /** Takes one tag off the image (docker rmi decides when; src/containers/image-removal.ts). */
  untag(image: Image, repoTag: string): void {
    const current = this.resolve(image.id);
    this.save({ ...current, repoTags: current.repoTags.filter((tag) => tag !== repoTag) });
  }

  /**
   * Deletes the image; the bytes freed are returned (its files' contents, as
   * Docker counts a removed layer's). With
   * `keepFiles` (a stopped container still stands on it, as Docker's layer
   * store keeps a layer a container's layer refers to) the image is gone
   * from every listing but its rootfs stays, retired, for that container
   * (`forContainer`) until `dropRetired` finds it unused: nothing is freed yet.
   */
  async delete(image: Image, options: { keepFiles: boolean }): Promise<number> {
    const imageDir = join(this.imagesDir, image.id.slice(7));
    this.listed = undefined;
    if (options.keepFiles) {
      renameSync(join(imageDir, 'image.json'), join(imageDir, 'retired.json'));
      return 0;
    }
    const freed = await bytesOfFiles(join(imageDir, 'rootfs'));
    rmSync(imageDir, { recursive: true, force: true });
    return freed;
  }

  /** The image a container was created from, retired or not. */
  forContainer(imageId: string): Image {
    const listed = this.list().find((image) => image.id === imageId);
    if (listed !== undefined) return listed;
    const hex = imageId.slice(7);
    if (/^[0-9a-f]{64}$/.test(hex) && existsSync(join(this.imagesDir, hex, 'retired.json'))) return this.load(hex, 'retired.json');
    throw notFound(`No such image: ${imageId}`);
  }

  /** A retired image made again (the same tar imported, the same archive loaded) is an image again, untagged. */
  private revive(hex: string): void {
    const imageDir = join(this.imagesDir, hex);
    if (existsSync(join(imageDir, 'image.json')) || !existsSync(join(imageDir, 'retired.json'))) return;
    renameSync(join(imageDir, 'retired.json'), join(imageDir, 'image.json'));
    this.listed = undefined;
  }

  /** Removes the retired images no container in `inUse` (image ids) stands on. */
  dropRetired(inUse: ReadonlySet<string>): void {
    for (const hex of readdirSync(this.imagesDir)) {
      if (/^[0-9a-f]{64}$/.test(hex) && !inUse.has(`sha256:${hex}`) && existsSync(join(this.imagesDir, hex, 'retired.json')))
        rmSync(join(this.imagesDir, hex), { recursive: true, force: true });
    }
  }

  private load(hex: string, file = 'image.json'): Image {
    const stored = JSON.parse(readFileSync(join(this.imagesDir, hex, file), 'utf8')) as StoredImage;
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
