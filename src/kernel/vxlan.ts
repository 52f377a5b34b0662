/** Reading back a VXLAN device's remote entries (the cluster agent's reconcile). */
import { run } from './exec.js';

export interface VxlanEntries {
  /** Remote forwarding entries: MAC -> VTEP (only `self` entries with a destination). */
  fdb: Map<string, string>;
  /** Permanent neighbour entries: IP -> MAC. */
  neigh: Map<string, string>;
}

interface FdbJson {
  mac?: string;
  dst?: string;
  master?: string;
  flags?: string[];
}
interface NeighJson {
  dst?: string;
  lladdr?: string;
  state?: string[];
}

export async function readVxlanEntries(dev: string, ns?: string): Promise<VxlanEntries> {
  const nsArgs = ns ? ['-n', ns] : [];
  const [f, n] = await Promise.all([
    run('bridge', [...nsArgs, '-j', 'fdb', 'show', 'dev', dev]),
    run('ip', [...nsArgs, '-j', 'neigh', 'show', 'dev', dev]),
  ]);
  const fdb = new Map<string, string>();
  const neigh = new Map<string, string>();
  if (f.code === 0) {
    for (const e of JSON.parse(f.stdout || '[]') as FdbJson[]) {
      if (e.mac && e.dst && !e.master && e.mac !== '00:00:00:00:00:00') fdb.set(e.mac.toLowerCase(), e.dst);
    }
  }
  if (n.code === 0) {
    for (const e of JSON.parse(n.stdout || '[]') as NeighJson[]) {
      if (e.dst && e.lladdr && e.state?.includes('PERMANENT')) neigh.set(e.dst, e.lladdr.toLowerCase());
    }
  }
  return { fdb, neigh };
}
