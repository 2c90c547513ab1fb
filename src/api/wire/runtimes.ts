/** docker info's Runtimes, as dockerd shows them. */
import { BUILTIN_RUNTIMES, STOCK_RUNTIME, type RuntimeSet } from '../../runtime/oci-runtimes.js';

/** docker info's Runtimes: each name with its path ("runc" for the built-in ones) and runtimeArgs when given. */
export function runtimesToWire(set: RuntimeSet): Record<string, { path: string; runtimeArgs?: string[] }> {
  const wire: Record<string, { path: string; runtimeArgs?: string[] }> = {};
  for (const name of [...set.runtimes.keys()].sort()) {
    const runtime = set.runtimes.get(name)!;
    const path = BUILTIN_RUNTIMES.includes(name) ? STOCK_RUNTIME : runtime.path;
    wire[name] = runtime.args.length > 0 ? { path, runtimeArgs: runtime.args } : { path };
  }
  return wire;
}
