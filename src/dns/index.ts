export { DnsRecords, canonicalAddress, reverseName, type DnsEndpoint, type Asker } from './records.js';
export { answerQuery, parseQuery, encodeResponse, encodeWithin, errorReply, maxUdpSize, RESPONSE_TTL, RCODE, type Decision, type Parsed } from './answer.js';
export { forwardQuery, parseUpstream, UpstreamSockets, MAX_UPSTREAMS, type Upstream, type ForwardOptions } from './forward.js';
export { DnsServer, type DnsServerOptions, type ResolverPorts } from './server.js';
