/**
 * Named crash points (etcd's gofail, in miniature): a test that must show
 * what a restart finds after a daemon killed at one exact moment — between a
 * container's create and start, a network's bridge made but not yet marked
 * ready — names that moment in SKIFF_FAILPOINTS and the daemon SIGKILLs
 * itself there. A random SIGKILL from outside hits such a window only by
 * luck; this hits it every time. Unset (always, outside tests), a failpoint
 * is one Set lookup.
 */
const armed = new Set(
  (process.env['SKIFF_FAILPOINTS'] ?? '')
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== ''),
);

/** Every failpoint skiff has, so a test naming one that does not exist fails at once. */
export const FAILPOINTS = [
  /** The container's sandbox exists (namespace file bound), no network joined yet. */
  'container-start:sandbox-made',
  /** Every network joined (veths, addresses, names), the runc bundle not made yet. */
  'container-start:networks-joined',
  /** runc has the container created, its process not started. */
  'container-start:runtime-created',
  /** The network's bridge and its nftables elements are in the kernel; the store still says 'pending'. */
  'network-create:kernel-done',
  /** An endpoint's veth is plumbed; the store still says 'pending'. */
  'endpoint-join:plumbed',
  /** An endpoint left (cut off, the API answered); its veth not deleted yet, its record 'removing' and its addresses held. */
  'endpoint-leave:answered',
] as const;

export type Failpoint = (typeof FAILPOINTS)[number];

for (const name of armed) {
  if (!(FAILPOINTS as readonly string[]).includes(name))
    throw new Error(`SKIFF_FAILPOINTS names an unknown failpoint "${name}" (known: ${FAILPOINTS.join(', ')})`);
}

/** Dies here, as a SIGKILL would, when the failpoint is armed. */
export function failpoint(name: Failpoint): void {
  if (!armed.has(name)) return;
  process.stderr.write(`failpoint ${name}: SIGKILL\n`);
  process.kill(process.pid, 'SIGKILL');
}
