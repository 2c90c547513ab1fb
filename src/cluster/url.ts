/**
 * The cluster store address, in Docker 20.10's --cluster-store form:
 * etcd://HOST:PORT[,HOST:PORT…]. Only etcd is supported (Docker also took
 * consul:// and zk://); a missing port is etcd's client port 2379.
 */
import { invalid } from '../errors.js';

const ETCD_CLIENT_PORT = 2379;
const SCHEME = 'etcd://';

/** The etcd client endpoints ("http://HOST:PORT") of a --cluster-store value. */
export function parseClusterStoreUrl(url: string): string[] {
  if (!url.startsWith(SCHEME)) {
    throw invalid(`cluster store "${url}": only etcd://HOST:PORT[,HOST:PORT…] is supported`);
  }
  const members = url.slice(SCHEME.length).split(',');
  return members.map((member) => `http://${parseMember(url, member.trim())}`);
}

function parseMember(url: string, member: string): string {
  // [v6]:port, [v6], host:port, host
  const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::([0-9]{1,5}))?$/.exec(member);
  const port = match?.[2] === undefined ? ETCD_CLIENT_PORT : Number(match[2]);
  if (match === null || port < 1 || port > 65535) {
    throw invalid(`cluster store "${url}": "${member}" is not HOST[:PORT]`);
  }
  return `${match[1]}:${port}`;
}
