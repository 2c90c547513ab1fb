/**
 * Host port bookkeeping (pure): which protocol/address/port triples are
 * published, conflicts as Docker words them, ephemeral ports from the
 * kernel's local port range. A binding on 0.0.0.0 conflicts with every
 * IPv4 address on that port, and any IPv4 address with 0.0.0.0. IPv6
 * addresses conflict only with themselves, as in Docker's allocator: `::`
 * beside `::1` on one port is refused by the kernel's bind instead (Docker's
 * "Error starting userland proxy: ... address already in use").
 */
import { SkiffError } from '../errors.js';
import { isIpv4 } from '../model/address.js';
import type { PortProtocol, PortRequest } from '../model/network.js';

export interface HostPort {
  protocol: PortProtocol;
  hostIp: string;
  hostPort: number;
}

const ANY = '0.0.0.0';

function conflicts(a: HostPort, b: HostPort): boolean {
  if (a.protocol !== b.protocol || a.hostPort !== b.hostPort) return false;
  if (a.hostIp === b.hostIp) return true;
  return isIpv4(a.hostIp) && isIpv4(b.hostIp) && (a.hostIp === ANY || b.hostIp === ANY);
}

export function portAllocatedError(hostIp: string, hostPort: number): SkiffError {
  return new SkiffError('internal', `Bind for ${hostIp}:${hostPort} failed: port is already allocated`);
}

export class HostPortAllocator {
  private readonly used: HostPort[] = [];
  private nextEphemeral: number;

  constructor(private readonly ephemeralRange: [number, number]) {
    this.nextEphemeral = ephemeralRange[0];
  }

  isFree(candidate: HostPort): boolean {
    return !this.used.some((taken) => conflicts(taken, candidate));
  }

  /** Picks and records a host port for a request whose hostIp is already resolved; throws Docker's error when none is free. */
  allocate(request: PortRequest & { hostIp: string }, isBindable: (port: HostPort) => boolean = () => true): HostPort {
    const [low, high] = request.hostPortRange;
    if (low !== 0) {
      for (let port = low; port <= high; port++) {
        const candidate = { protocol: request.protocol, hostIp: request.hostIp, hostPort: port };
        if (this.isFree(candidate) && isBindable(candidate)) return this.take(candidate);
      }
      throw portAllocatedError(request.hostIp, low === high ? low : high);
    }
    const [first, last] = this.ephemeralRange;
    const span = last - first + 1;
    for (let step = 0; step < span; step++) {
      const port = first + ((this.nextEphemeral - first + step) % span);
      const candidate = { protocol: request.protocol, hostIp: request.hostIp, hostPort: port };
      if (this.isFree(candidate) && isBindable(candidate)) {
        this.nextEphemeral = port + 1 > last ? first : port + 1;
        return this.take(candidate);
      }
    }
    throw new SkiffError('internal', `no free host port in the range ${first}-${last}`);
  }

  /** Records a port known to be held (after a restart). */
  restore(port: HostPort): void {
    this.take(port);
  }

  release(port: HostPort): void {
    const index = this.used.findIndex((taken) => taken.protocol === port.protocol && taken.hostIp === port.hostIp && taken.hostPort === port.hostPort);
    if (index >= 0) this.used.splice(index, 1);
  }

  private take(port: HostPort): HostPort {
    this.used.push(port);
    return port;
  }
}
