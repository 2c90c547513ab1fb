/**
 * docker rmi's decision (Docker 20.10's image_delete.go) for every case a
 * dockerd 20.10 was asked: by tag or id, one tag or several, a running or
 * stopped user, forced or not; and docker history's walk over parents and
 * a loaded image's config history.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { imageRemoval, imageUsers, type ImageUser } from '../../src/containers/image-removal.js';
import type { ContainerRecord } from '../../src/model/container.js';
import type { Image } from '../../src/model/image.js';
import { imageHistory } from '../../src/runtime/image-history.js';
import { loadedHistory } from '../../src/runtime/image-archive.js';

const hex = '12'.repeat(32);
const image = (repoTags: string[], extra: Partial<Image> = {}): Image => ({
  id: `sha256:${hex}`,
  repoTags,
  created: '2024-01-01T00:00:00Z',
  size: 10,
  rootfsPath: '/x',
  config: { env: [], cmd: null, entrypoint: null, workingDir: '', exposedPorts: [], labels: {} },
  comment: '',
  ...extra,
});
const stopped: ImageUser = { id: 'c'.repeat(64), running: false };
const running: ImageUser = { id: 'd'.repeat(64), running: true };
const conflictOf = (message: string) => ({ kind: 'conflict', status: 409, message });

describe('docker rmi decision', () => {
  it('an unused image: a tag of several is untagged; the last tag or the id deletes', () => {
    assert.deepEqual(imageRemoval(image(['a:latest', 'b:latest']), 'a', [], false), { untag: ['a:latest'], deleted: false });
    assert.deepEqual(imageRemoval(image(['a:latest']), 'a', [], false), { untag: ['a:latest'], deleted: true });
    assert.deepEqual(imageRemoval(image(['a:latest']), hex.slice(0, 12), [], false), { untag: ['a:latest'], deleted: true });
    assert.deepEqual(imageRemoval(image([]), `sha256:${hex}`, [], false), { untag: [], deleted: true });
    assert.throws(
      () => imageRemoval(image(['a:latest', 'b:latest']), hex.slice(0, 12), [], false),
      conflictOf(`conflict: unable to delete ${hex.slice(0, 12)} (must be forced) - image is referenced in multiple repositories`),
    );
    assert.deepEqual(imageRemoval(image(['a:latest', 'b:latest']), hex.slice(0, 12), [], true), { untag: ['a:latest', 'b:latest'], deleted: true });
  });

  it('a stopped user: the last tag and the id need force, which deletes', () => {
    assert.throws(
      () => imageRemoval(image(['a:latest']), 'a', [stopped], false),
      conflictOf(`conflict: unable to remove repository reference "a" (must force) - container cccccccccccc is using its referenced image ${hex.slice(0, 12)}`),
    );
    assert.throws(
      () => imageRemoval(image(['a:latest']), hex.slice(0, 12), [stopped], false),
      conflictOf(`conflict: unable to delete ${hex.slice(0, 12)} (must be forced) - image is being used by stopped container cccccccccccc`),
    );
    assert.deepEqual(imageRemoval(image(['a:latest', 'b:latest']), 'b', [stopped], false), { untag: ['b:latest'], deleted: false });
    assert.deepEqual(imageRemoval(image(['a:latest']), 'a', [stopped], true), { untag: ['a:latest'], deleted: true });
    assert.deepEqual(imageRemoval(image([]), hex, [stopped], true), { untag: [], deleted: true });
  });

  it('a running user: never deleted; forced by tag, only untagged', () => {
    const refused = conflictOf(`conflict: unable to delete ${hex.slice(0, 12)} (cannot be forced) - image is being used by running container dddddddddddd`);
    assert.throws(() => imageRemoval(image(['a:latest']), hex.slice(0, 12), [running], true), refused);
    assert.throws(() => imageRemoval(image(['a:latest', 'b:latest']), hex.slice(0, 12), [running, stopped], true), refused);
    assert.deepEqual(imageRemoval(image(['a:latest']), 'a', [running], true), { untag: ['a:latest'], deleted: false });
    assert.throws(() => imageRemoval(image(['a:latest']), 'a:latest', [running], false), /unable to remove repository reference "a:latest" \(must force\)/);
  });
});

describe('image users', () => {
  it('a paused container and one waiting out its restart back-off run, as Docker counts them', () => {
    const record = (id: string, imageId: string, status: string, paused = false) => ({ id, imageId, state: { status, paused } }) as unknown as ContainerRecord;
    const records = [
      record('a', 'sha256:i', 'running', true),
      record('b', 'sha256:i', 'exited'),
      record('c', 'sha256:i', 'exited'),
      record('d', 'sha256:j', 'running'),
    ];
    assert.deepEqual(
      imageUsers(records, 'sha256:i', (candidate) => candidate.id === 'c'),
      [
        { id: 'a', running: true },
        { id: 'b', running: false },
        { id: 'c', running: true },
      ],
    );
  });
});

describe('docker history', () => {
  it('newest first; the image and its parents name their steps, the rest are <missing>', () => {
    const step = (createdBy: string) => ({ created: '2024-01-01T00:00:00Z', createdBy, comment: '', size: 1, emptyLayer: false });
    const parent = image(['base:latest'], { id: 'sha256:parent', history: [step('one'), step('two')] });
    const child = image(['child:latest'], { parent: parent.id, history: [step('one'), step('two'), step('three')] });
    assert.deepEqual(
      imageHistory(child, (id) => (id === parent.id ? parent : undefined)).map(({ id, step: { createdBy }, tags }) => [id, createdBy, tags]),
      [
        [child.id, 'three', ['child:latest']],
        ['sha256:parent', 'two', ['base:latest']],
        ['<missing>', 'one', []],
      ],
    );
    assert.deepEqual(
      imageHistory(child, () => undefined).map(({ id }) => id),
      [child.id, '<missing>', '<missing>'],
      'a parent removed since',
    );
    assert.deepEqual(
      imageHistory(image([], { comment: 'old' }), () => undefined),
      [{ id: `sha256:${hex}`, step: { created: '2024-01-01T00:00:00Z', createdBy: '', comment: 'old', size: 10, emptyLayer: false }, tags: [] }],
    );
  });

  it("a loaded image's steps take its layers' sizes in order, skipping empty layers", () => {
    const steps = [{ created_by: 'ADD' }, { created_by: 'CMD', empty_layer: true }, { created_by: 'RUN', comment: 'c', created: '2024-02-02T00:00:00Z' }];
    assert.deepEqual(
      loadedHistory({ created: '2024-01-01T00:00:00Z', steps }, [4, 15]).map(({ createdBy, size, emptyLayer, created }) => [
        createdBy,
        size,
        emptyLayer,
        created,
      ]),
      [
        ['ADD', 4, false, '2024-01-01T00:00:00Z'],
        ['CMD', 0, true, '2024-01-01T00:00:00Z'],
        ['RUN', 15, false, '2024-02-02T00:00:00Z'],
      ],
    );
    assert.deepEqual(loadedHistory({ created: 'T', steps: [] }, [7]), [{ created: 'T', createdBy: '', comment: '', size: 7, emptyLayer: false }]);
  });
});
