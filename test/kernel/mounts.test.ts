/**
 * isMountPoint tells skiff's own mounts (a bound namespace file, a
 * container's overlay rootfs) from the plain file or directory under them,
 * without reading the mount table. A container's overlay, mounted and
 * unmounted by the addon: the image's files seen, writes landing in the
 * upper layer; a refused mount says where and why and leaves nothing
 * mounted; a busy rootfs refuses a plain unmount and takes a lazy one.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, openSync, closeSync, readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { isMountPoint, mountOverlay, unmount } from '../../src/kernel/mounts.js';
import { assertInWorld, leftovers, scratchDir, sh } from '../helpers/world.js';

assertInWorld();

it('sees a bound namespace file and an overlay rootfs while mounted, and not before or after', async () => {
  const scratch = scratchDir('skiff-mounts-');
  try {
    const at = (name: string) => join(scratch.path, name);
    for (const dir of ['lower', 'upper', 'work', 'rootfs']) mkdirSync(at(dir));
    writeFileSync(at('netns'), '');
    assert.equal(isMountPoint(at('rootfs')), false, 'a plain directory');
    assert.equal(isMountPoint(at('netns')), false, 'a plain file');
    assert.equal(isMountPoint(at('missing')), false, 'nothing there');
    assert.equal(isMountPoint(join(at('netns'), 'below')), false, 'a path through a file');
    await sh('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${at('lower')},upperdir=${at('upper')},workdir=${at('work')}`, at('rootfs')]);
    await sh('unshare', [`--net=${at('netns')}`, 'true']);
    assert.equal(isMountPoint(at('rootfs')), true, 'the overlay');
    assert.equal(isMountPoint(at('netns')), true, 'the bound namespace');
    await sh('umount', ['--lazy', at('netns')]);
    await sh('umount', [at('rootfs')]);
    assert.equal(isMountPoint(at('rootfs')), false, 'the overlay unmounted');
    assert.equal(isMountPoint(at('netns')), false, 'the namespace unbound');
  } finally {
    scratch.remove();
  }
});

/** A scratch directory with lower (holding image.txt), upper, work and rootfs, for one test. */
function overlayDirs() {
  const scratch = scratchDir('skiff-overlay-');
  const at = (name: string) => join(scratch.path, name);
  for (const dir of ['lower', 'upper', 'work', 'rootfs']) mkdirSync(at(dir));
  writeFileSync(at('lower/image.txt'), 'from the image');
  return { scratch, at, layers: { lowerDir: at('lower'), upperDir: at('upper'), workDir: at('work') } };
}

it('mounts an overlay rootfs: the image’s files seen, writes in the upper layer; unmounts it', async () => {
  const { scratch, at, layers } = overlayDirs();
  try {
    await mountOverlay(at('rootfs'), layers);
    assert.equal(isMountPoint(at('rootfs')), true);
    assert.equal(readFileSync(at('rootfs/image.txt'), 'utf8'), 'from the image');
    writeFileSync(at('rootfs/written.txt'), 'by the container');
    assert.equal(readFileSync(at('upper/written.txt'), 'utf8'), 'by the container');
    assert.equal(existsSync(at('lower/written.txt')), false, 'the image is untouched');
    const options = (await sh('findmnt', ['-n', '-o', 'OPTIONS', at('rootfs')])).trim();
    assert.match(options, new RegExp(`lowerdir=${at('lower')},upperdir=${at('upper')},workdir=${at('work')}`));
    await unmount(at('rootfs'));
    assert.equal(isMountPoint(at('rootfs')), false);
    assert.deepEqual(readdirSync(at('rootfs')), []);
    assert.deepEqual(await leftovers(scratch.path), []);
  } finally {
    scratch.remove();
  }
});

it('a missing lower layer: an error naming the rootfs, the reason and the layers; nothing mounted', async () => {
  const { scratch, at, layers } = overlayDirs();
  try {
    const options = `lowerdir=${at('missing')},upperdir=${at('upper')},workdir=${at('work')}`;
    await assert.rejects(mountOverlay(at('rootfs'), { ...layers, lowerDir: at('missing') }), {
      message: `mount overlay on ${at('rootfs')}: No such file or directory (${options})`,
    });
    assert.equal(isMountPoint(at('rootfs')), false);
    assert.deepEqual(await leftovers(scratch.path), []);
  } finally {
    scratch.remove();
  }
});

it('options longer than the page mount(2) takes are refused before the kernel cuts them short', async () => {
  const { scratch, at, layers } = overlayDirs();
  try {
    let deep = at('lower');
    while (deep.length < 4200) deep = join(deep, 'a-long-directory-name-to-make-a-long-path');
    await assert.rejects(
      mountOverlay(at('rootfs'), { ...layers, lowerDir: deep }),
      /^SkiffError: mount overlay on .*: its options are \d+ bytes, more than the 4095 the kernel takes/,
    );
    assert.deepEqual(await leftovers(scratch.path), []);
  } finally {
    scratch.remove();
  }
});

it('a busy rootfs refuses a plain unmount and takes a lazy one; nothing mounted is an error', async () => {
  const { scratch, at, layers } = overlayDirs();
  try {
    await mountOverlay(at('rootfs'), layers);
    const open = openSync(at('rootfs/image.txt'), 'r');
    try {
      await assert.rejects(unmount(at('rootfs')), { message: `unmount ${at('rootfs')}: Device or resource busy` });
      await unmount(at('rootfs'), { lazy: true });
      assert.equal(isMountPoint(at('rootfs')), false);
    } finally {
      closeSync(open);
    }
    await assert.rejects(unmount(at('rootfs')), { message: `unmount ${at('rootfs')}: Invalid argument` });
    assert.deepEqual(await leftovers(scratch.path), []);
  } finally {
    scratch.remove();
  }
});
