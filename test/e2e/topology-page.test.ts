/**
 * The topology page in a real browser (Debian's chromium driven by
 * puppeteer-core) against a daemon started with --ui in this world: the
 * graph's model matches `docker network inspect`, a `docker run` appears
 * without a reload, two clicked containers are traced and the verdict is
 * drawn, and a screenshot is saved (SKIFF_UI_SCREENSHOT names where; the
 * README's is made so). The page's server refuses writes and foreign Hosts.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { join } from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { assertInWorld, scratchDir } from '../helpers/world.js';
import { importBusybox, startDaemon, type TestDaemon } from '../helpers/daemon.js';
import type { Core } from 'cytoscape';
import type { Topology } from '../../web/model.js';

declare global {
  interface Window {
    skiff: { topology: Topology; redraws: number; cy: Core };
  }
}

assertInWorld();

const UI_PORT = 17355;
const PAGE_URL = `http://127.0.0.1:${UI_PORT}/`;
let daemon: TestDaemon;
let scratch: { path: string; remove: () => void };
let browser: Browser;
let page: Page;

before(async () => {
  scratch = scratchDir('skiff-browser-');
  daemon = await startDaemon({ extraArgs: ['--ui', `127.0.0.1:${UI_PORT}`] });
  await importBusybox(daemon);
  await daemon.ok('network', 'create', 'alpine-net');
  await daemon.ok('network', 'create', 'backend');
  await daemon.ok('run', '-dit', '--name', 'alpine1', '--network', 'alpine-net', 'busybox', 'ash');
  await daemon.ok('run', '-dit', '--name', 'alpine2', '--network', 'alpine-net', '--network-alias', 'db', 'busybox', 'ash');
  await daemon.ok('network', 'connect', 'backend', 'alpine2');
  await daemon.ok('run', '-d', '--name', 'web', '-p', '5050:80', 'busybox', 'httpd', '-f', '-p', '80', '-h', '/etc');
  await daemon.ok('run', '-dit', '--name', 'loner', '--network', 'none', 'busybox', 'ash');
  browser = await puppeteer.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      `--user-data-dir=${join(scratch.path, 'chromium')}`,
    ],
  });
  page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 760 });
});

after(async () => {
  await browser?.close();
  await daemon.cleanup();
  scratch.remove();
});

const topology = () => page.evaluate((): Topology => window.skiff.topology);

test('the page draws what `docker network inspect` says', async () => {
  await page.goto(PAGE_URL);
  await page.waitForFunction(() => window.skiff?.redraws >= 1, { timeout: 20_000 });
  const drawn = await topology();
  const inspected = JSON.parse(await daemon.ok('network', 'inspect', ...drawn.networks.map((network) => network.id))) as Array<{
    Name: string;
    Containers: Record<string, { Name: string; IPv4Address: string; MacAddress: string }>;
  }>;
  assert.deepEqual(
    drawn.networks.map((network) => network.name).sort(),
    JSON.parse(`[${(await daemon.ok('network', 'ls', '--format', '{{json .Name}}')).trim().split('\n').join(',')}]`).sort(),
  );
  for (const network of inspected) {
    const model = drawn.networks.find((candidate) => candidate.name === network.Name)!;
    const expected = Object.values(network.Containers)
      .map((endpoint) => `${endpoint.Name} ${endpoint.IPv4Address.split('/')[0]} ${endpoint.MacAddress}`)
      .sort();
    assert.deepEqual(model.endpoints.map((endpoint) => `${endpoint.name} ${endpoint.ipv4} ${endpoint.mac}`).sort(), expected, network.Name);
  }
  assert.deepEqual(drawn.networks.find((network) => network.name === 'alpine-net')?.endpoints.find((endpoint) => endpoint.name === 'alpine2')?.aliases, ['db']);
  assert.deepEqual(drawn.containers.find((container) => container.name === 'web')?.ports, [
    { hostIp: '0.0.0.0', hostPort: '5050', containerPort: '80/tcp' },
    { hostIp: '::', hostPort: '5050', containerPort: '80/tcp' },
  ]);
  const graph = await page.evaluate(() => ({
    multi: window.skiff.cy.nodes('.container.multi').map((node) => node.data('name') as string),
    endpoints: window.skiff.cy.nodes('.endpoint').length,
    published: window.skiff.cy.edges('.published').map((edge) => `${edge.source().data('label') as string} -> ${edge.target().data('name') as string}`),
    loner: window.skiff.cy
      .nodes('.container')
      .filter((node) => node.data('name') === 'loner')
      .parent()
      .data('label') as string,
  }));
  assert.deepEqual(graph.multi, ['alpine2'], 'a container on two networks is drawn across them');
  assert.equal(graph.endpoints, 2);
  assert.deepEqual(graph.published, ['0.0.0.0:5050 -> web', '[::]:5050 -> web']);
  assert.match(graph.loner, /^none \(null\)/);
});

test('a `docker run` appears without a reload', async () => {
  await page.evaluate(() => {
    (window as unknown as { notReloaded: boolean }).notReloaded = true;
  });
  await daemon.ok('run', '-dit', '--name', 'alpine3', '--network', 'backend', 'busybox', 'ash');
  await page.waitForFunction(() => window.skiff.topology.containers.some((container) => container.name === 'alpine3'), { timeout: 10_000 });
  assert.equal(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded), true);
  const address = (await daemon.ok('inspect', '-f', '{{.NetworkSettings.Networks.backend.IPAddress}}', 'alpine3')).trim();
  assert.equal(
    (await topology()).networks.find((network) => network.name === 'backend')?.endpoints.find((endpoint) => endpoint.name === 'alpine3')?.ipv4,
    address,
  );
});

async function clickContainer(name: string): Promise<void> {
  const point = await page.evaluate((wanted) => {
    const node = window.skiff.cy.nodes('.container').filter((candidate) => candidate.data('name') === wanted);
    const box = document.getElementById('graph')!.getBoundingClientRect();
    const position = node.renderedPosition();
    return { x: box.left + position.x, y: box.top + position.y };
  }, name);
  await page.mouse.click(point.x, point.y);
}

test('two clicked containers are traced and the verdict is drawn; a screenshot is saved', async () => {
  await clickContainer('alpine1');
  await page.waitForFunction(() => document.getElementById('inspect')!.textContent?.includes('"Name": "/alpine1"'), { timeout: 5_000 });
  await clickContainer('alpine3');
  await page.click('#trace-run');
  await page.waitForSelector('#verdict[data-result]', { timeout: 15_000 });
  assert.equal(await page.$eval('#verdict', (element) => element.getAttribute('data-result')), 'unreachable');
  assert.match(await page.$eval('#verdict', (element) => element.textContent ?? ''), /isolates networks.*docker network connect backend alpine1/s);
  const edge = await page.evaluate(() => window.skiff.cy.getElementById('trace').data('label') as string);
  assert.match(edge, /forward: iifname @bridges oifname @bridges drop/);
  await page.screenshot({ path: process.env['SKIFF_UI_SCREENSHOT'] ?? join(scratch.path, 'topology.png') });
});

function uiRequest(method: string, path: string, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: UI_PORT, method, path, headers: { Host: host } }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

test("the page's server is read-only and answers its own Host only", async () => {
  const own = `127.0.0.1:${UI_PORT}`;
  assert.equal(await uiRequest('GET', '/api/networks', own), 200);
  assert.equal(await uiRequest('POST', '/api/containers/create', own), 405);
  assert.equal(await uiRequest('GET', '/api/images/json', own), 404, 'only the routes the page reads');
  assert.equal(await uiRequest('GET', '/api/networks', `evil.example:${UI_PORT}`), 403, 'DNS rebinding');
  assert.equal(await uiRequest('GET', '/../package.json', own), 404);
});
