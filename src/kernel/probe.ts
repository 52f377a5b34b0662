/**
 * Which link kinds this kernel can create. Probed once at daemon start in a throwaway
 * namespace (never in the daemon's own), with one `ip -force -batch` whose failing lines
 * name the kinds that are missing. Drivers refuse at create time what the kernel cannot
 * do, instead of failing later at every run (Docker's behaviour with ipvlan here).
 */
import { run } from './exec.js';

export const PROBED_KINDS = ['bridge', 'veth', 'macvlan', 'ipvlan', 'vxlan', 'dummy', 'vlan', 'wireguard'] as const;

export async function probeLinkKinds(scratchNs: string): Promise<Set<string>> {
  const ok = new Set<string>();
  const add = await run('ip', ['netns', 'add', scratchNs]);
  if (add.code !== 0) return new Set(['bridge', 'veth']);
  try {
    // Parents for the kinds that need one: a veth (always present where namespaces are).
    const lines = [
      'link add p0 type veth peer name p1',
      // A link is a port of macvlan or of ipvlan children, never both: ipvlan gets its own parent.
      'link add p2 type veth peer name p3',
      'link add k-bridge type bridge',
      'link add k-veth type veth peer name k-veth1',
      'link add k-macvlan link p0 type macvlan mode bridge',
      'link add k-ipvlan link p2 type ipvlan mode l2',
      'link add k-vxlan type vxlan id 42 dstport 4789',
      'link add k-dummy type dummy',
      'link add k-vlan link p0 type vlan id 10',
      'link add k-wireguard type wireguard',
    ];
    await run('ip', ['-n', scratchNs, '-force', '-batch', '-'], { input: lines.join('\n') + '\n' });
    const show = await run('ip', ['-n', scratchNs, '-j', 'link', 'show']);
    for (const l of JSON.parse(show.stdout || '[]') as { ifname: string }[]) {
      if (l.ifname.startsWith('k-') && !l.ifname.endsWith('1')) ok.add(l.ifname.slice(2));
    }
  } finally {
    await run('ip', ['netns', 'del', scratchNs]);
  }
  return ok;
}
