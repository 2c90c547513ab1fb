/**
 * A stand-in for a source skiff does not own (a LAN host's address): a
 * namespace of the trace's own holding that address, joined to the daemon's
 * namespace by a veth, so the probe arrives at the host as that host's
 * packets would (prerouting, forward) rather than from the host itself
 * (output). Made for one probe and removed after it.
 */
import { ipBatch, deleteLink, interfaceState, SKIFF_LINK_ALIAS } from './links.js';
import { createNetnsFile, removeNetnsFile } from './netns.js';
import { setIpv4InterfaceSysctl } from './sysctl.js';

/** A link-local next hop with a fixed neighbour entry: the probe needs no address on the host's side. */
const NEXT_HOP = '169.254.1.1';

export interface ProbeHost {
  netnsPath: string;
  /** The host's end of the veth: the interface the probe arrives on. */
  hostIfName: string;
  remove: () => Promise<void>;
}

export async function createProbeHost(netnsPath: string, hostIfName: string, address: string): Promise<ProbeHost> {
  const undo: Array<() => Promise<void>> = [];
  const remove = async () => {
    const failures: string[] = [];
    for (const step of undo.reverse()) await step().catch((error: unknown) => failures.push(String(error)));
    if (failures.length > 0) throw new Error(`removing the trace's probe namespace ${netnsPath}: ${failures.join('; ')}`);
  };
  try {
    await createNetnsFile(netnsPath);
    undo.push(() => removeNetnsFile(netnsPath));
    await ipBatch([
      `link add ${hostIfName} type veth peer name eth0 netns ${netnsPath}`,
      `link set ${hostIfName} alias ${SKIFF_LINK_ALIAS}`,
      `link set ${hostIfName} up`,
    ]);
    undo.push(() => deleteLink(hostIfName));
    // The probe's source is routed elsewhere (to the real host): a strict reverse-path check would drop it here.
    await setIpv4InterfaceSysctl(hostIfName, 'rp_filter', '0');
    const mac = (await interfaceState(hostIfName))?.mac;
    if (mac === undefined) throw new Error(`the probe's veth ${hostIfName} has no MAC`);
    await ipBatch(
      [
        `addr add ${address}/32 dev eth0`,
        'link set eth0 up',
        `route add ${NEXT_HOP} dev eth0`,
        `route add default via ${NEXT_HOP} dev eth0`,
        `neigh add ${NEXT_HOP} lladdr ${mac} dev eth0 nud permanent`,
      ],
      netnsPath,
    );
  } catch (error) {
    await remove().catch(() => undefined); // the first failure is the one to report
    throw error;
  }
  return { netnsPath, hostIfName, remove };
}
