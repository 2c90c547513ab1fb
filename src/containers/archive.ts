/**
 * docker cp, export and diff over a container's files, whether it runs or
 * not (its rootfs is mounted for them, as dockerd mounts a stopped
 * container's layers): Docker's errors for a missing path, a destination
 * that is no directory and a read-only volume.
 */
import { lstatSync, rmSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { dirname } from 'node:path';
import { notFound, SkiffError } from '../errors.js';
import {
  archiveDirectory,
  archivePath,
  hostPathOf,
  mergeInto,
  mountOf,
  resolveContainerPath,
  statPath,
  stagingDir,
  type FilesystemView,
  type PathStat,
} from '../runtime/archive.js';
import { extractTar } from '../runtime/tar-extract.js';
import { classifyChanges, readUpper, type Change } from '../runtime/changes.js';
import type { Containers, ContainerFilesystem } from './controller.js';

function fileNotFound(path: string, reference: string): SkiffError {
  return notFound(`Could not find the file ${path} in container ${reference}`);
}

export class ContainerArchives {
  constructor(private readonly containers: Containers) {}

  private async view(reference: string): Promise<{ files: ContainerFilesystem; view: FilesystemView }> {
    const files = await this.containers.filesystem(reference);
    return { files, view: { rootfs: files.rootfs, mounts: files.mounts } };
  }

  /** HEAD /containers/{id}/archive. */
  async stat(reference: string, path: string): Promise<PathStat> {
    const { view } = await this.view(reference);
    const found = statPath(view, path);
    if (found === undefined) throw fileNotFound(path, reference);
    return found.stat;
  }

  /** GET /containers/{id}/archive: the stat, and the tar of what the path names. */
  async get(reference: string, path: string): Promise<{ stat: PathStat; tar: Readable }> {
    const { files, view } = await this.view(reference);
    const found = statPath(view, path);
    if (found === undefined) throw fileNotFound(path, reference);
    const tar = archivePath(view, path, found.containerPath);
    this.containers.noteFileEvent(files.record, 'archive-path');
    return { stat: found.stat, tar };
  }

  /** PUT /containers/{id}/archive: a tar extracted into the directory the path names (a final symlink followed in scope). */
  async put(reference: string, path: string, tar: NodeJS.ReadableStream, options: { noOverwriteDirNonDir: boolean }): Promise<void> {
    const { files, view } = await this.view(reference);
    const containerDir = resolveContainerPath(view, path, true);
    let isDirectory: boolean;
    try {
      isDirectory = lstatSync(hostPathOf(view, containerDir)).isDirectory();
    } catch {
      throw fileNotFound(path, reference);
    }
    if (!isDirectory) throw new SkiffError('unavailable', 'extraction point is not a directory');
    if (mountOf(view.mounts, containerDir)?.readOnly === true) throw new SkiffError('unavailable', 'mounted volume is marked read-only');
    // Staged beside the writable layer: removed with the container should anything be left.
    const staging = stagingDir(dirname(files.upper));
    try {
      await extractTar(tar, staging);
      mergeInto(view, staging, containerDir, { noOverwriteDirNonDir: options.noOverwriteDirNonDir, whiteouts: false });
      this.containers.noteFileEvent(files.record, 'extract-to-dir');
    } finally {
      rmSync(staging, { recursive: true, force: true });
    }
  }

  /** docker export: the whole merged filesystem (mounts left out, as Docker's). */
  async export(reference: string): Promise<Readable> {
    const { files } = await this.view(reference);
    const tar = archiveDirectory(files.rootfs);
    this.containers.noteFileEvent(files.record, 'export');
    return tar;
  }

  /** docker diff: the writable layer's changes against the image. */
  async changes(reference: string): Promise<Change[]> {
    const { files } = await this.view(reference);
    return classifyChanges(readUpper(files.upper, files.image.rootfsPath, files.rootfs));
  }
}
