/** Random bytes from /dev/urandom: as many as asked for, and not the same twice. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from '../../src/model/random.js';
import { newId } from '../../src/model/ids.js';

describe('random bytes', () => {
  it('gives the count asked for, different each time', () => {
    assert.equal(randomBytes(6).length, 6);
    assert.equal(randomBytes(0).length, 0);
    assert.notDeepEqual(randomBytes(32), randomBytes(32));
  });

  it('makes 64-hex-digit ids', () => {
    assert.match(newId(), /^[0-9a-f]{64}$/);
    assert.notEqual(newId(), newId());
  });
});
