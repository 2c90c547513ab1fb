/** GET /skiff/trace: skiff's own route (not Docker's), `skiff network trace` over the API. */
import { invalid } from '../../errors.js';
import type { Tracer } from '../../trace/tracer.js';
import type { TraceRequest } from '../../trace/model.js';
import { sendJson, type Router } from '../http.js';

/** ?source=a&destination=b[&port=80][&protocol=udp] */
export function traceRequestFromQuery(query: URLSearchParams): TraceRequest {
  const source = query.get('source') ?? '';
  const destination = query.get('destination') ?? '';
  if (source === '' || destination === '') throw invalid('source and destination are required: /skiff/trace?source=A&destination=B[&port=P][&protocol=udp]');
  const portText = query.get('port');
  const port = portText === null || portText === '' ? undefined : Number(portText);
  if (port !== undefined && !/^\d+$/.test(portText!)) throw invalid(`invalid port "${portText}"`);
  const protocol = query.get('protocol') ?? (port === undefined ? 'icmp' : 'tcp');
  if (protocol !== 'tcp' && protocol !== 'udp' && protocol !== 'icmp') throw invalid(`invalid protocol "${protocol}": tcp, udp or icmp`);
  return { source, destination, port, protocol };
}

/** tracer is made on the first trace: the tracer's modules are loaded only by a daemon that is asked for one. */
export function addTraceRoutes(router: Router, tracer: () => Promise<Tracer>): void {
  router.add('GET', '/skiff/trace', async (request, response) => {
    const query = traceRequestFromQuery(request.query);
    sendJson(response, 200, await (await tracer()).trace(query));
  });
}
