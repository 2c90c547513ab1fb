/**
 * Volumes of the `local` driver as Docker keeps them: a directory per volume,
 * <dataRoot>/volumes/<name>/{_data/, volume.json}. An anonymous volume is
 * named by a random 64-hex id and marked so, so that `docker rm -v` and
 * `run --rm` remove it with its container.
 */
import { randomBytes } from '../model/random.js';
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, isAbsolute } from 'node:path';
import { invalid, notFound } from '../errors.js';
import { run } from '../kernel/exec.js';
import { bytesOfFiles } from './disk-usage.js';

export interface Volume {
  name: string;
  createdAt: string;
  labels: Record<string, string>;
  anonymous: boolean;
  /** Set once the volume was first mounted: only then is it filled from the image, as Docker fills an empty volume. */
  populated: boolean;
}

const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
/** NAME_MAX of Linux file systems: a volume is a directory of its name. */
const MAX_FILE_NAME_BYTES = 255;

/** Docker's check of a local volume name, with its message. */
export function checkVolumeName(name: string): void {
  if (!VOLUME_NAME.test(name))
    throw invalid(
      `create ${name}: "${name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`,
    );
}

export class VolumeStore {
  constructor(private readonly root: string) {}

  /** Where the volume's data is: what a container mounts, shown as Mountpoint. */
  dataPath(name: string): string {
    return join(this.root, name, '_data');
  }

  find(name: string): Volume | undefined {
    try {
      return JSON.parse(readFileSync(join(this.root, name, 'volume.json'), 'utf8')) as Volume;
    } catch {
      return undefined; // no such volume (or one whose create was cut short before its metadata)
    }
  }

  get(name: string): Volume {
    const volume = VOLUME_NAME.test(name) ? this.find(name) : undefined;
    if (volume === undefined) throw notFound(`get ${name}: no such volume`);
    return volume;
  }

  list(): Volume[] {
    if (!existsSync(this.root)) return [];
    return readdirSync(this.root).flatMap((name) => this.find(name) ?? []);
  }

  /** docker volume create: an existing volume of that name is returned as it is, as Docker returns it. */
  create(name: string | undefined, labels: Record<string, string>): Volume {
    const anonymous = name === undefined || name === '';
    const volumeName = anonymous ? randomBytes(32).toString('hex') : name;
    checkVolumeName(volumeName);
    const existing = this.find(volumeName);
    if (existing !== undefined) return existing;
    // A name no directory can have (over 255 bytes): refused as dockerd's local driver words it, as a bad request rather than the daemon's fault.
    if (Buffer.byteLength(volumeName) > MAX_FILE_NAME_BYTES)
      throw invalid(
        `create ${volumeName}: error while creating volume root path '${join(this.root, volumeName)}': mkdir ${join(this.root, volumeName)}: file name too long`,
      );
    mkdirSync(this.dataPath(volumeName), { recursive: true });
    const volume: Volume = { name: volumeName, createdAt: new Date().toISOString().replace(/\.\d+Z$/, 'Z'), labels, anonymous, populated: false };
    this.write(volume);
    return volume;
  }

  /** Bytes of the volume's files, what removing it gives back. */
  size(name: string): Promise<number> {
    return bytesOfFiles(this.dataPath(name));
  }

  remove(name: string): void {
    this.get(name);
    rmSync(join(this.root, name), { recursive: true, force: true });
  }

  /**
   * On a volume's first mount: the image's files at the mount path are copied
   * in when the volume is empty, as Docker does, so a database image's
   * defaults are there. A path whose symlinks lead out of the image is skipped.
   */
  async populate(name: string, imageRootfs: string, target: string): Promise<void> {
    const volume = this.get(name);
    if (volume.populated) return;
    const data = this.dataPath(name);
    const source = join(imageRootfs, target);
    if (readdirSync(data).length === 0 && existsSync(source)) {
      const real = realpathSync(source);
      const inside = relative(realpathSync(imageRootfs), real);
      if (!inside.startsWith('..') && !isAbsolute(inside) && statSync(real).isDirectory()) await run('cp', ['-a', `${real}/.`, `${data}/`]);
    }
    this.write({ ...volume, populated: true });
  }

  private write(volume: Volume): void {
    writeFileSync(join(this.root, volume.name, 'volume.json'), JSON.stringify(volume));
  }
}
