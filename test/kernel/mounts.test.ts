/**
 * isMountPoint tells skiff's own mounts (a bound namespace file, a
 * container's overlay rootfs) from the plain file or directory under them,
 * without reading the mount table.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isMountPoint } from '../../src/kernel/mounts.js';
import { assertInWorld, scratchDir, sh } from '../helpers/world.js';

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
