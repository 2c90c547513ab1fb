/**
 * The topology page: draws the daemon's networks and containers, follows
 * its event stream to redraw on every change (no reload), shows a clicked
 * container's inspect, and traces between two chosen containers, drawing
 * the verdict as an edge between them.
 */
import cytoscape, { type Core, type StylesheetJson } from 'cytoscape';
import elk from 'cytoscape-elk';
import { buildTopology, type Topology, type WireContainer, type WireNetwork } from './model.js';
import { topologyElements } from './graph.js';

cytoscape.use(elk);

interface TraceVerdict {
  result: 'reachable' | 'unreachable' | 'broken';
  reason: string;
  fix?: string;
  rule?: { table: string; chain: string; rule: string };
  name?: { ok: boolean; reason: string };
}
interface TraceAnswer {
  verdict: TraceVerdict;
  probe?: { events: Array<{ table: string; chain: string; kind: string; text: string; verdict?: string }> };
}

/** For the console and the browser test: the model drawn, how many redraws, the last verdict, the graph. */
interface PageState {
  topology: Topology;
  redraws: number;
  lastTrace?: TraceVerdict;
  cy: Core;
}
declare global {
  interface Window {
    skiff: PageState;
  }
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

async function api<T>(path: string): Promise<T> {
  const response = await fetch(`/api${path}`);
  const body: unknown = await response.json();
  if (!response.ok) throw new Error((body as { message?: string }).message ?? `${response.status}`);
  return body as T;
}

const style: StylesheetJson = [
  {
    selector: 'node',
    style: {
      label: 'data(label)',
      'text-wrap': 'wrap',
      'font-size': 10,
      'text-valign': 'center',
      'text-halign': 'center',
      shape: 'round-rectangle',
      width: 'data(width)',
      height: 'data(height)',
      'background-color': '#ddf4ff',
      'border-width': 1,
      'border-color': '#54aeff',
    },
  },
  {
    selector: ':parent',
    style: {
      'text-valign': 'top',
      'text-halign': 'center',
      'background-color': '#f6f8fa',
      'background-opacity': 0.9,
      'border-color': '#8c959f',
      'font-weight': 'bold',
      padding: '14px',
    },
  },
  { selector: '.network.host', style: { 'background-color': '#fff8c5', 'border-color': '#d4a72c' } },
  { selector: '.network.null', style: { 'background-color': '#eeeeee' } },
  { selector: '.container.multi', style: { 'background-color': '#fbefff', 'border-color': '#c297ff' } },
  { selector: '.endpoint', style: { 'background-color': '#fbefff', 'border-style': 'dashed', 'border-color': '#c297ff' } },
  { selector: '.port', style: { 'background-color': '#fff1e5', 'border-color': '#fb8f44' } },
  {
    selector: 'edge',
    style: {
      width: 1.5,
      'curve-style': 'bezier',
      'line-color': '#8c959f',
      'font-size': 9,
      label: 'data(label)',
      'text-background-color': '#fff',
      'text-background-opacity': 1,
    },
  },
  { selector: '.published', style: { 'line-color': '#fb8f44', 'target-arrow-color': '#fb8f44', 'target-arrow-shape': 'triangle' } },
  { selector: '.shares', style: { 'line-style': 'dashed' } },
  { selector: 'node:selected, .picked', style: { 'border-width': 3, 'border-color': '#0969da' } },
  {
    selector: '.trace',
    style: {
      width: 3,
      'curve-style': 'unbundled-bezier',
      'control-point-distances': [-160],
      'control-point-weights': [0.5],
      'z-index': 10,
      'target-arrow-shape': 'triangle',
      'line-style': 'dashed',
      'font-size': 10,
      'font-weight': 'bold',
      'text-wrap': 'wrap',
      'text-max-width': '220px',
    },
  },
  { selector: '.trace.reachable', style: { 'line-color': '#1a7f37', 'target-arrow-color': '#1a7f37', color: '#1a7f37' } },
  { selector: '.trace.unreachable', style: { 'line-color': '#cf222e', 'target-arrow-color': '#cf222e', color: '#cf222e' } },
  { selector: '.trace.broken', style: { 'line-color': '#bc4c00', 'target-arrow-color': '#bc4c00', color: '#bc4c00' } },
];

const cy: Core = cytoscape({ container: $('graph'), style, wheelSensitivity: 0.3 });
window.skiff = { topology: { networks: [], containers: [] }, redraws: 0, cy };
const picked: string[] = [];
let traceEdge: { source: string; target: string; result: string; label: string } | undefined;

/** Node sizes from their labels: ELK lays out boxes of the size they are given. */
function sized(label: string): { width: number; height: number } {
  const rows = label.split('\n');
  return { width: Math.max(...rows.map((row) => row.length)) * 6 + 16, height: rows.length * 13 + 10 };
}

async function redraw(): Promise<void> {
  const networks = await api<WireNetwork[]>('/networks');
  const summaries = await api<Array<{ Id: string }>>('/containers/json');
  const containers = await Promise.all(summaries.map((summary) => api<WireContainer>(`/containers/${summary.Id}/json`)));
  const topology = buildTopology(networks, containers);
  const elements = topologyElements(topology).map((element) =>
    element.data.source === undefined ? { ...element, data: { ...element.data, ...sized(String(element.data['label'] ?? '')) } } : element,
  );
  cy.batch(() => {
    cy.elements().remove();
    cy.add(elements);
    if (traceEdge !== undefined && cy.getElementById(traceEdge.source).nonempty() && cy.getElementById(traceEdge.target).nonempty()) drawTrace();
    for (const id of picked) cy.getElementById(id).addClass('picked');
  });
  cy.layout({
    name: 'elk',
    fit: true,
    padding: 20,
    elk: {
      algorithm: 'layered',
      'elk.direction': 'RIGHT',
      'elk.hierarchyHandling': 'INCLUDE_CHILDREN',
      'elk.spacing.nodeNode': 35,
      'elk.layered.spacing.nodeNodeBetweenLayers': 40,
    },
  } as cytoscape.LayoutOptions).run();
  window.skiff = { ...window.skiff, topology, redraws: window.skiff.redraws + 1 };
}

/** Redraws at most once per burst of events (a docker run sends several). */
let pending: ReturnType<typeof setTimeout> | undefined;
function scheduleRedraw(): void {
  if (pending !== undefined) clearTimeout(pending);
  pending = setTimeout(() => {
    pending = undefined;
    redraw().catch(showError);
  }, 150);
}

function showError(error: unknown): void {
  $('status').textContent = `error: ${error instanceof Error ? error.message : String(error)}`;
}

/** Follows /events; on a lost stream, tries again after a pause and redraws what changed meanwhile. */
async function followEvents(): Promise<void> {
  for (;;) {
    try {
      const response = await fetch('/api/events');
      const reader = response.body!.getReader();
      $('status').textContent = 'live';
      $('status').dataset['state'] = 'live';
      const decoder = new TextDecoder();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (decoder.decode(value, { stream: true }).includes('"Type"')) scheduleRedraw();
      }
    } catch (error) {
      showError(error);
    }
    $('status').dataset['state'] = 'lost';
    await new Promise((resolve) => setTimeout(resolve, 2000));
    scheduleRedraw();
  }
}

function containerName(nodeId: string): string {
  return String(cy.getElementById(nodeId).data('name') ?? nodeId);
}

function drawTrace(): void {
  if (traceEdge === undefined) return;
  cy.getElementById('trace').remove();
  cy.add({ data: { id: 'trace', source: traceEdge.source, target: traceEdge.target, label: traceEdge.label }, classes: `trace ${traceEdge.result}` });
}

async function runTrace(): Promise<void> {
  const [source, destination] = picked;
  if (source === undefined || destination === undefined) return;
  const query = new URLSearchParams({ source: containerName(source), destination: containerName(destination) });
  const port = $<HTMLInputElement>('trace-port').value;
  if (port !== '') query.set('port', port);
  if ($<HTMLInputElement>('trace-udp').checked) query.set('protocol', 'udp');
  $('verdict').textContent = 'tracing…';
  delete $('verdict').dataset['result'];
  try {
    const answer = await api<TraceAnswer>(`/skiff/trace?${query.toString()}`);
    const { verdict } = answer;
    const label = verdict.rule === undefined ? verdict.result : `${verdict.result}\n${verdict.rule.chain}: ${verdict.rule.rule}`;
    traceEdge = { source, target: destination, result: verdict.result, label };
    drawTrace();
    $('verdict').dataset['result'] = verdict.result;
    $('verdict').innerHTML = '';
    $('verdict').append(`${verdict.result}: ${verdict.reason}`);
    for (const fix of [verdict.fix, verdict.name?.ok === false ? `name: ${verdict.name.reason}` : undefined]) {
      if (fix === undefined) continue;
      const line = document.createElement('div');
      line.className = 'fix';
      line.textContent = fix;
      $('verdict').append(line);
    }
    $('trace-steps').textContent = (answer.probe?.events ?? [])
      .filter((event) => event.kind !== 'packet')
      .map(
        (event) =>
          `${event.table} ${event.chain}: ${event.kind === 'policy' ? 'policy ' : ''}${event.text}${event.verdict === undefined ? '' : ` -> ${event.verdict}`}`,
      )
      .join('\n');
    window.skiff = { ...window.skiff, lastTrace: verdict };
  } catch (error) {
    $('verdict').textContent = `trace failed: ${error instanceof Error ? error.message : String(error)}`;
  }
}

cy.on('tap', 'node.container', (event) => {
  const node = event.target as cytoscape.NodeSingular;
  const id = node.id();
  api<unknown>(`/containers/${id.slice('ctr:'.length)}/json`).then((inspect) => {
    $('inspect').textContent = JSON.stringify(inspect, null, 2);
  }, showError);
  if (picked.includes(id)) return;
  picked.push(id);
  while (picked.length > 2) cy.getElementById(picked.shift()!).removeClass('picked');
  node.addClass('picked');
  $('trace-source').textContent = picked[0] === undefined ? '—' : containerName(picked[0]);
  $('trace-destination').textContent = picked[1] === undefined ? '—' : containerName(picked[1]);
  $<HTMLButtonElement>('trace-run').disabled = picked.length < 2;
});
$('trace-run').addEventListener('click', () => {
  void runTrace();
});

redraw().then(() => followEvents(), showError);
