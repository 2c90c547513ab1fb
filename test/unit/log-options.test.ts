/** json-file's --log-opt as dockerd 20.10 checks them: sizes as go-units reads them, max-file as strconv.Atoi, its messages. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkLogOptions, fromHumanSize } from '../../src/containers/log-options.js';

const refusal = (config: Record<string, string>): string => {
  try {
    checkLogOptions(config);
  } catch (error) {
    return (error as Error).message;
  }
  return 'accepted';
};

test("max-size in go-units' decimal units, as Docker's FromHumanSize", () => {
  assert.equal(fromHumanSize('100'), 100);
  assert.equal(fromHumanSize('10k'), 10_000);
  assert.equal(fromHumanSize('10m'), 10_000_000);
  assert.equal(fromHumanSize('10mb'), 10_000_000);
  assert.equal(fromHumanSize('1g'), 1_000_000_000);
  assert.equal(fromHumanSize('1.5KB'), 1500);
  assert.equal(fromHumanSize('1KiB'), 1000);
  assert.equal(fromHumanSize('2 M'), 2_000_000);
});

test('the rotation asked for: none without max-size (max-file alone is ignored, as by Docker)', () => {
  assert.equal(checkLogOptions({}), undefined);
  assert.equal(checkLogOptions({ 'max-file': '3' }), undefined);
  assert.deepEqual(checkLogOptions({ 'max-size': '10m' }), { maxSize: 10_000_000, maxFile: 1 });
  assert.deepEqual(checkLogOptions({ 'max-size': '1k', 'max-file': '+3' }), { maxSize: 1000, maxFile: 3 });
  assert.deepEqual(checkLogOptions({ 'max-size': '1k', 'max-file': '2', compress: 'false', tag: '' }), { maxSize: 1000, maxFile: 2 });
});

test("refusals in dockerd's words", () => {
  assert.equal(refusal({ foo: 'bar' }), "unknown log opt 'foo' for json-file log driver");
  assert.equal(refusal({ 'max-size': '10x' }), "failed to initialize logging driver: invalid size: '10x'");
  assert.equal(refusal({ 'max-size': ' 1k' }), "failed to initialize logging driver: invalid size: ' 1k'");
  assert.equal(refusal({ 'max-size': '-1' }), "failed to initialize logging driver: invalid size: '-1'");
  assert.equal(refusal({ 'max-size': '1.2.3k' }), 'failed to initialize logging driver: strconv.ParseFloat: parsing "1.2.3": invalid syntax');
  assert.equal(refusal({ 'max-size': '0' }), 'failed to initialize logging driver: max-size must be a positive number');
  assert.equal(refusal({ 'max-size': '1k', 'max-file': '0' }), 'failed to initialize logging driver: max-file cannot be less than 1');
  assert.equal(refusal({ 'max-size': '1k', 'max-file': 'x' }), 'failed to initialize logging driver: strconv.Atoi: parsing "x": invalid syntax');
  assert.equal(
    refusal({ 'max-size': '1k', 'max-file': '99999999999999999999' }),
    'failed to initialize logging driver: strconv.Atoi: parsing "99999999999999999999": value out of range',
  );
  assert.equal(
    refusal({ compress: 'maybe' }),
    'failed to initialize logging driver: error reading compress log option: strconv.ParseBool: parsing "maybe": invalid syntax',
  );
});

test('what json-file knows and skiff does not carry out is refused by name', () => {
  assert.match(refusal({ 'max-size': '1k', 'max-file': '2', compress: 'true' }), /skiff does not support --log-opt compress=true/);
  for (const key of ['labels', 'labels-regex', 'env', 'env-regex', 'tag'])
    assert.match(refusal({ [key]: 'x' }), new RegExp(`skiff does not support --log-opt ${key}:`));
});
