/** Prunes as Docker 20.10 decides them: until= read as timetypes.GetTimestamp reads it, label/label!, what each prune keeps, and Docker's errors. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkBuildCachePrune, containersToPrune, imagePrunePlan, volumesToPrune } from '../../src/containers/prune.js';
import { checkFilterKeys, pruneLabelsMatch, pruneUntil } from '../../src/model/prune-filters.js';
import { millisecondsOf, parseGoDuration, parseUnixTimestamp, timestampOf } from '../../src/model/timestamps.js';
import { emptyEndpointRequest, noResources, ZERO_TIME, type ContainerRecord } from '../../src/model/container.js';
import { emptyImageConfig, type Image } from '../../src/model/image.js';

const filters = (entries: Record<string, string[]>) => new Map(Object.entries(entries));
const now = Date.parse('2026-01-02T00:00:00Z');

describe('times as Docker reads them', () => {
  it('reads Go durations, counted back from now', () => {
    assert.equal(parseGoDuration('1h30m'), 90 * 60_000);
    assert.equal(parseGoDuration('300ms'), 300);
    assert.equal(parseGoDuration('-1.5h'), -5_400_000);
    assert.equal(parseGoDuration('0'), 0);
    assert.equal(parseGoDuration('10'), undefined, 'a number without a unit is no duration');
    assert.equal(parseGoDuration('1d'), undefined);
    assert.equal(timestampOf('10m', now), now - 600_000);
    assert.equal(timestampOf('-10m', now), now + 600_000, 'a negative duration is in the future');
  });

  it('reads RFC 3339 times with a zone, and without one in the local zone', () => {
    assert.equal(timestampOf('2006-01-02T15:04:05Z', now), Date.parse('2006-01-02T15:04:05Z'));
    assert.equal(timestampOf('2006-01-02T15:04:05+07:00', now), Date.parse('2006-01-02T08:04:05Z'));
    assert.equal(timestampOf('2006-01-02T15:04:05.5Z', now), Date.parse('2006-01-02T15:04:05.500Z'));
    assert.equal(timestampOf('2006-01-02T15:04Z', now), Date.parse('2006-01-02T15:04:00Z'));
    assert.equal(timestampOf('2006-01-02', now), new Date(2006, 0, 2).getTime());
    assert.equal(timestampOf('2006-01-02T15', now), new Date(2006, 0, 2, 15).getTime());
    assert.equal(timestampOf('2006-01-02T15:04:05', now), new Date(2006, 0, 2, 15, 4, 5).getTime());
    assert.equal(millisecondsOf('2026-01-01T00:00:00.123456789Z'), Date.parse('2026-01-01T00:00:00.123Z') + 0.456789);
  });

  it('reads Unix seconds with nanoseconds', () => {
    assert.deepEqual(parseUnixTimestamp('1136214245.5'), { seconds: 1136214245, nanos: 500_000_000 });
    assert.deepEqual(parseUnixTimestamp('10'), { seconds: 10, nanos: 0 });
    assert.equal(parseUnixTimestamp('1.2.3'), undefined);
    assert.equal(timestampOf('1136214245.25', now), 1136214245250);
  });

  it("refuses the rest with Docker's (Go's) words", () => {
    assert.throws(() => timestampOf('bad', now), { status: 500, message: 'failed to parse value as time or duration: "bad"' });
    assert.throws(() => timestampOf('', now), /failed to parse value as time or duration: ""/);
    assert.throws(() => timestampOf('12abc', now), /failed to parse value as time or duration: "12abc"/);
    assert.throws(() => timestampOf('-1', now), { message: 'parsing time "-1" as "2006-01-02": cannot parse "-1" as "2006"' });
    assert.throws(() => timestampOf('2006-13-02', now), { message: 'parsing time "2006-13-02": month out of range' });
    assert.throws(() => timestampOf('2006-01-02x', now), { message: 'parsing time "2006-01-02x": extra text: "x"' });
  });
});

describe('prune filters', () => {
  it('accept only the keys a prune takes, and one until', () => {
    assert.throws(() => checkFilterKeys(filters({ foo: ['x'] }), ['label']), { status: 400, message: "Invalid filter 'foo'" });
    assert.throws(() => pruneUntil(filters({ until: ['1h', '2h'] }), now), { status: 500, message: 'more than one until filter specified' });
    assert.equal(pruneUntil(filters({}), now), undefined);
    assert.equal(pruneUntil(filters({ until: ['1h'] }), now), now - 3_600_000);
  });

  it('match label (all of them) and label! (kept only when all of them match, as MatchKVList)', () => {
    const labels = { a: '1', b: '2' };
    assert.equal(pruneLabelsMatch(filters({ label: ['a=1', 'b'] }), labels), true);
    assert.equal(pruneLabelsMatch(filters({ label: ['a=1', 'c'] }), labels), false);
    assert.equal(pruneLabelsMatch(filters({ 'label!': ['a'] }), labels), false);
    assert.equal(pruneLabelsMatch(filters({ 'label!': ['a', 'c'] }), labels), true, 'not every label! matches: pruned');
    assert.equal(pruneLabelsMatch(filters({ 'label!': ['a'] }), {}), true);
  });
});

function container(name: string, status: ContainerRecord['state']['status'], created: string, labels: Record<string, string> = {}): ContainerRecord {
  return {
    id: name.padEnd(64, '0'),
    name,
    created,
    imageId: 'sha256:x',
    sandboxId: '',
    ports: [],
    config: {
      image: 'busybox',
      cmd: null,
      entrypoint: null,
      env: [],
      hostname: name,
      domainname: '',
      workingDir: '',
      tty: false,
      openStdin: false,
      labels,
      exposedPorts: [],
      macAddress: '',
      attachStdin: false,
      attachStdout: false,
      attachStderr: false,
      volumes: [],
    },
    hostConfig: {
      runtime: 'runc',
      networkMode: 'default',
      dns: [],
      dnsSearch: [],
      dnsOptions: [],
      extraHosts: [],
      links: [],
      autoRemove: false,
      portBindings: [],
      publishAll: false,
      restartPolicy: { name: 'no', maximumRetryCount: 0 },
      binds: [],
      mounts: [],
      tmpfs: {},
      volumesFrom: [],
      resources: noResources(),
    },
    networks: { bridge: emptyEndpointRequest() },
    state: { status, pid: 0, exitCode: 0, startedAt: ZERO_TIME, finishedAt: ZERO_TIME, paused: false, oomKilled: false },
    restartCount: 0,
    manuallyStopped: false,
  };
}

describe('container prune', () => {
  const records = [
    container('up', 'running', '2026-01-01T00:00:00Z'),
    container('done', 'exited', '2026-01-01T00:00:00Z', { keep: 'yes' }),
    container('fresh', 'created', '2026-01-01T23:59:00Z'),
    container('backoff', 'exited', '2026-01-01T00:00:00Z'),
  ];
  const pruned = (entries: Record<string, string[]>) =>
    containersToPrune(records, filters(entries), now, (record) => record.name === 'backoff').map((record) => record.name);

  it('removes stopped containers only, not running ones nor those waiting out a restart back-off', () => {
    assert.deepEqual(pruned({}), ['done', 'fresh']);
  });

  it('keeps what until and the labels keep', () => {
    assert.deepEqual(pruned({ until: ['1h'] }), ['done']);
    assert.deepEqual(pruned({ until: ['2026-01-01T23:59:00Z'] }), ['done', 'fresh'], 'created at until itself goes');
    assert.deepEqual(pruned({ label: ['keep=yes'] }), ['done']);
    assert.deepEqual(pruned({ 'label!': ['keep'] }), ['fresh']);
    assert.throws(() => pruned({ dangling: ['true'] }), /Invalid filter 'dangling'/);
    assert.throws(() => pruned({ until: ['bad'] }), /failed to parse value as time or duration/);
  });
});

describe('image prune', () => {
  const image = (hex: string, repoTags: string[], created = '2026-01-01T00:00:00Z', labels: Record<string, string> = {}): Image => ({
    id: `sha256:${hex.repeat(64)}`,
    repoTags,
    created,
    size: 10,
    rootfsPath: '',
    comment: '',
    config: { ...emptyImageConfig(), labels },
  });
  const images = [image('a', ['busybox:latest', 'alias:1']), image('b', []), image('c', [], '2026-01-01T23:30:00Z', { team: 'x' })];
  const plan = (entries: Record<string, string[]>) => imagePrunePlan(images, filters(entries), now).map((step) => step.reference);

  it('takes untagged images by default, and every tag in lexical order with dangling=false', () => {
    assert.deepEqual(plan({}), [images[1]!.id, images[2]!.id]);
    assert.deepEqual(plan({ dangling: ['false'] }), ['alias:1', 'busybox:latest', images[1]!.id, images[2]!.id]);
    assert.deepEqual(plan({ dangling: ['true', '0'] }).length, 4, 'any false value means all images, as ExactMatch');
  });

  it("keeps what until and the labels keep; refuses Docker's bad filters", () => {
    assert.deepEqual(plan({ until: ['1h'] }), [images[1]!.id]);
    assert.deepEqual(plan({ label: ['team=x'] }), [images[2]!.id]);
    assert.deepEqual(plan({ 'label!': ['team'] }), [images[1]!.id]);
    assert.throws(() => plan({ dangling: ['x'] }), { status: 400, message: "Invalid filter 'dangling=[x]'" });
    assert.throws(() => plan({ reference: ['x'] }), /Invalid filter 'reference'/);
  });
});

describe('volume and build cache prune', () => {
  it('prunes volumes no container uses whose labels match; until is not a volume prune filter in 20.10', () => {
    const volumes: Array<{ name: string; labels: Record<string, string> }> = [
      { name: 'used', labels: {} },
      { name: 'free', labels: { team: 'db' } },
      { name: 'other', labels: {} },
    ];
    const prune = (entries: Record<string, string[]>) => volumesToPrune(volumes, filters(entries), (name) => name === 'used').map((volume) => volume.name);
    assert.deepEqual(prune({}), ['free', 'other']);
    assert.deepEqual(prune({ label: ['team=db'] }), ['free']);
    assert.deepEqual(prune({ 'label!': ['team'] }), ['other']);
    assert.throws(() => prune({ until: ['1h'] }), { status: 400, message: "Invalid filter 'until'" });
  });

  it("checks the build cache prune's query as dockerd's BuildKit does", () => {
    checkBuildCachePrune(filters({ until: ['24h'], type: ['regular'] }), '0');
    assert.throws(() => checkBuildCachePrune(filters({ foo: ['x'] }), null), { status: 400, message: "failed to prune build cache: Invalid filter 'foo'" });
    assert.throws(() => checkBuildCachePrune(filters({ id: ['a', 'b'] }), null), /failed to prune build cache: filters expect only one value/);
    assert.throws(() => checkBuildCachePrune(filters({ until: ['bad'] }), null), {
      status: 500,
      message: `failed to prune build cache: "until" filter expects a duration (e.g., '24h'): time: invalid duration "bad"`,
    });
    assert.throws(() => checkBuildCachePrune(filters({}), 'abc'), /keep-storage is in bytes and expects an integer, got abc/);
  });
});
