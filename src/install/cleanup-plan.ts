/**
 * What `yard uninstall` removes from a host's networking: only what one Switchyard instance
 * made, found by the daemon's own names (src/paths.ts, the drivers, src/firewall/render.ts).
 * Pure: it takes what was read from the host and returns the removals.
 *
 *  - sandbox namespaces `yard-<instance>-<id12>` (their processes are stopped first), and
 *    for a runtime's namespace attached as `yard-<instance>-rt-<id12>` only the attachment;
 *  - their /etc/netns/<namespace>/ directories;
 *  - links in this namespace whose ifalias is `switchyard:<instance>:<network id>` (every
 *    bridge, VXLAN, shim and parent a network made) and endpoint veths `yv<12 hex>` and
 *    `yc<12 hex>`;
 *  - nftables `inet switchyard` and `bridge switchyard`; `inet switchyard-user` (the user's
 *    own chain) only when it holds no rule, or with --purge;
 *  - forwarding sysctls back to the values recorded before the instance's first start,
 *    where they are still what Switchyard set.
 */
import { RUNTIME_NETNS_INFIX, sandboxNetnsPrefix } from '../paths.js';
import { TABLE, USER_CHAIN, USER_TABLE } from '../firewall/render.js';

export interface HostObservation {
  /** Links of the namespace being cleaned, with their ifalias. */
  links: { name: string; alias?: string }[];
  /** Named namespaces (/run/netns). */
  netns: string[];
  /** Directories under /etc/netns. */
  netnsFileDirs: string[];
  /** nftables tables of the namespace. */
  tables: { family: string; name: string }[];
  /** Rules in `inet switchyard-user` chain `user-forward`; null when it cannot be listed. */
  userRules: number | null;
  /** Current values of the recorded sysctls. */
  sysctls: Record<string, string>;
  /** The values recorded before the instance's first start (host-sysctls.json). */
  recordedSysctls: Record<string, string>;
}

export interface CleanupPlan {
  /** Sandbox namespaces: stop their processes, then delete. */
  namespaces: string[];
  /** A runtime's namespaces attached under our name: detach only. */
  attachments: string[];
  etcNetnsDirs: string[];
  links: string[];
  tables: { family: string; name: string }[];
  sysctls: { key: string; value: string }[];
  /** What was found and deliberately kept, for the report. */
  kept: string[];
}

/** Values the daemon sets; a sysctl changed since by someone else is left alone. */
const SET_BY_SWITCHYARD = '1';
const VETH = /^y[vc][0-9a-f]{12}$/;

export function planHostCleanup(instance: string, obs: HostObservation, opts: { purge?: boolean } = {}): CleanupPlan {
  const prefix = sandboxNetnsPrefix(instance);
  const ours = (ns: string) => ns.startsWith(prefix) && ns.length > prefix.length;
  const attachments = obs.netns.filter((ns) => ours(ns) && ns.startsWith(`${prefix}${RUNTIME_NETNS_INFIX}`)).sort();
  const namespaces = obs.netns.filter((ns) => ours(ns) && !attachments.includes(ns)).sort();
  const etcNetnsDirs = obs.netnsFileDirs.filter(ours).sort();
  const mark = `switchyard:${instance}:`;
  const links = obs.links.filter((l) => l.alias?.startsWith(mark) || VETH.test(l.name)).map((l) => l.name).sort();
  const kept: string[] = [];
  const has = (family: string, name: string) => obs.tables.some((t) => t.family === family && t.name === name);
  const tables = [
    { family: 'inet', name: TABLE },
    { family: 'bridge', name: TABLE },
  ].filter((t) => has(t.family, t.name));
  if (has('inet', USER_TABLE)) {
    if (opts.purge || obs.userRules === 0) tables.push({ family: 'inet', name: USER_TABLE });
    else kept.push(`nftables table inet ${USER_TABLE} (chain ${USER_CHAIN} holds ${obs.userRules ?? 'unknown'} rule(s) of yours; --purge removes it)`);
  }
  const sysctls: { key: string; value: string }[] = [];
  for (const [key, value] of Object.entries(obs.recordedSysctls)) {
    const now = obs.sysctls[key];
    if (now === undefined || now === value) continue;
    if (now === SET_BY_SWITCHYARD) sysctls.push({ key, value });
    else kept.push(`sysctl ${key}=${now} (changed since Switchyard set it)`);
  }
  return { namespaces, attachments, etcNetnsDirs, links, tables, sysctls, kept };
}

export function isEmptyPlan(p: CleanupPlan): boolean {
  return !p.namespaces.length && !p.attachments.length && !p.etcNetnsDirs.length && !p.links.length && !p.tables.length && !p.sysctls.length;
}

/** One line per removal, as `yard uninstall` prints them. */
export function describeCleanup(p: CleanupPlan): string[] {
  return [
    ...p.namespaces.map((n) => `namespace ${n} (its processes stopped)`),
    ...p.attachments.map((n) => `namespace attachment ${n} (the runtime's namespace itself is left)`),
    ...p.etcNetnsDirs.map((d) => `directory /etc/netns/${d}`),
    ...p.links.map((l) => `link ${l}`),
    ...p.tables.map((t) => `nftables table ${t.family} ${t.name}`),
    ...p.sysctls.map((s) => `sysctl ${s.key}=${s.value} (as before Switchyard)`),
  ];
}
