/**
 * `yard doctor` in the daemon: gathers the facts (the state, the kernel through a
 * FactSource, the resolver's explanation of a name) and runs the pure checks over them.
 * The kernel calls come in through `FactSource` (src/kernel/doctor-facts.ts in the daemon,
 * fakes in tests), so this room never touches Linux itself.
 */
import net from 'node:net';
import { YardError } from '../errors.js';
import type { StateView } from '../engine/participants.js';
import { modelOf, SET_DEFS, SET_NAMES } from '../firewall/model.js';
import { inetChains, TABLE } from '../firewall/render.js';
import type { NetworkRecord, SandboxRecord } from '../model/types.js';
import { runChecks, type DoctorReport } from './checks.js';
import type { DoctorFacts, HostFacts, LanProbe, OverlayFacts, SandboxFacts, TargetFacts } from './facts.js';

export interface FactSource {
  host(): Promise<HostFacts>;
  sandbox(nsPath: string, enter: string, resolvConfPath: string | null): Promise<SandboxFacts>;
  lanDuplicate(nsPath: string, ifname: string, address: string): Promise<LanProbe>;
  tryTarget(nsPath: string, address: string, port?: number): Promise<{ address: string; ok: boolean; detail: string }>;
  mtu(nsPath: string, address: string, size: number): Promise<{ ok: boolean; why?: string }>;
  /** A VXLAN device's forwarding entries (MAC -> VTEP) in the daemon's namespace; null when unreadable. */
  vxlanFdb(dev: string): Promise<Map<string, string> | null>;
}

/** What the cluster agent says of a global network (Docker's inspect extras). */
export interface ClusterView {
  inspectExtras?(net: NetworkRecord): Record<string, unknown>;
}

export interface NameExplainer {
  explain(sb: SandboxRecord, name: string): Promise<{ source: string; rcode: string; records: string[]; reason: string; upstreams: string[] }>;
}

export interface DoctorDeps {
  view(): StateView;
  findSandbox(ref: string): SandboxRecord;
  facts: FactSource;
  dns?: NameExplainer;
  cluster?(): ClusterView | undefined;
  /** The firewall room's explanation of a sandbox's published ports (with what the host's other firewalls mean for each). */
  ports?(sb: SandboxRecord): Promise<{ hostFirewall?: string[] }[]>;
}

const NAME_RE = /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62}))*\.?$/;

/** `--to` as NAME, ADDRESS, NAME:PORT, ADDRESS:PORT or [V6]:PORT. */
export function parseTarget(raw: string): { host: string; port?: number } {
  const refuse = (why: string) => new YardError('INVALID_ARGUMENT', `--to ${JSON.stringify(raw.length > 80 ? `${raw.slice(0, 80)}...` : raw)} ${why}`, {
    field: '--to',
    hint: 'give a name, an address or address:port, e.g. --to db, --to 10.0.0.5, --to db:5432, --to [fd00::5]:80',
  });
  let host = raw;
  let portText: string | undefined;
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(raw);
  if (v6) { host = v6[1]!; portText = v6[2]; }
  else if (!net.isIPv6(raw) && raw.includes(':')) {
    const i = raw.lastIndexOf(':');
    host = raw.slice(0, i);
    portText = raw.slice(i + 1);
    if (!/^\d+$/.test(portText)) throw refuse('has a port that is not a number');
  }
  if (!host) throw refuse('has no name or address');
  if (!net.isIP(host) && !NAME_RE.test(host)) throw refuse('is neither a DNS name nor an IP address');
  if (v6 && !net.isIPv6(host)) throw refuse('has brackets around something that is not an IPv6 address');
  if (portText === undefined) return { host };
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw refuse('has a port outside 1-65535');
  return { host, port };
}

/** The namespace file of a sandbox, and how a user enters it; null for the host's own. */
export function namespaceOf(sb: SandboxRecord): { path: string; enter: string; resolvConf: string | null } | null {
  if (sb.netns) return { path: `/run/netns/${sb.netns}`, enter: `ip netns exec ${sb.netns}`, resolvConf: `/etc/netns/${sb.netns}/resolv.conf` };
  const p = sb.runtime?.source ?? sb.runtime?.path;
  return p ? { path: p, enter: `nsenter --net=${p}`, resolvConf: null } : null;
}

function expectations(networks: NetworkRecord[], sandboxes: SandboxRecord[]) {
  const model = modelOf(networks, sandboxes);
  const expectedElements = new Map<string, number>();
  for (const n of SET_NAMES) expectedElements.set(`${SET_DEFS[n].family} ${TABLE} ${n}`, model[n].size);
  const expectedRules = new Map<string, number>();
  for (const c of inetChains()) expectedRules.set(`inet ${TABLE} ${c.name}`, c.rules.length);
  expectedRules.set(`bridge ${TABLE} forward`, 1);
  return { expectedElements, expectedRules };
}

export class Doctor {
  constructor(private readonly deps: DoctorDeps) {}

  /**
   * One run: the host-level checks (unless `host` is false), the named sandbox's checks or,
   * without one, every sandbox's (none when `host` is true: the host-level checks alone),
   * and `to` tried from the sandbox.
   */
  async run(opts: { sandbox?: string; to?: string; host?: boolean }): Promise<DoctorReport> {
    if (opts.to !== undefined && !opts.sandbox) {
      throw new YardError('INVALID_ARGUMENT', '--to needs a sandbox to try from', { field: '--to', hint: 'yard doctor SANDBOX --to TARGET' });
    }
    const target = opts.to !== undefined ? parseTarget(opts.to) : undefined;
    const view = this.deps.view();
    const one = opts.sandbox ? this.deps.findSandbox(opts.sandbox) : undefined;
    const live = (s: SandboxRecord) => !s.deleting;
    const examined = one ? [one] : opts.host ? [] : [...view.sandboxes.values()].filter(live);
    const networks = [...view.networks.values()].filter((n) => !n.deleting);
    const sandboxes = [...view.sandboxes.values()].filter(live);
    const facts: DoctorFacts = {
      networks: view.networks,
      sandboxes: view.sandboxes,
      host: await this.deps.facts.host(),
      inside: new Map(),
      ...expectations(networks, sandboxes),
    };
    const host = opts.host ?? true;
    if (host) facts.overlays = await this.gatherOverlays(networks);
    await this.gatherInside(facts, examined);

    if (one && target) {
      facts.target = await this.gatherTarget(facts, one, opts.to!, target);
    }
    return runChecks(facts, { host, sandboxes: examined, ...(one && target ? { to: one } : {}) });
  }

  private async gatherOverlays(networks: NetworkRecord[]): Promise<OverlayFacts[]> {
    const cluster = this.deps.cluster?.();
    if (!cluster?.inspectExtras) return [];
    const out: OverlayFacts[] = [];
    for (const n of networks.filter((x) => x.driver === 'overlay' && x.driverState.vxlan)) {
      const x = cluster.inspectExtras(n) as { ClusterStore?: { Url?: string; Connected?: boolean }; RemoteContainers?: Record<string, { Name?: string; MacAddress?: string; VTEP?: string; IPv4Address?: string }> };
      const remotes = Object.values(x.RemoteContainers ?? {})
        .filter((r) => r.MacAddress && r.VTEP)
        .map((r) => ({ sandbox: r.Name ?? '?', mac: r.MacAddress!, vtep: r.VTEP!, address: (r.IPv4Address ?? '').split('/')[0]! }));
      const dev = String(n.driverState.vxlan);
      out.push({ network: n.name, vxlan: dev, store: { url: x.ClusterStore?.Url ?? '?', connected: !!x.ClusterStore?.Connected }, remotes, fdb: await this.deps.facts.vxlanFdb(dev) });
    }
    return out;
  }

  private async gatherInside(facts: DoctorFacts, sbs: SandboxRecord[]): Promise<void> {
    // A few at a time: each is a handful of short commands (plus 2-3 s of ARP probing on a LAN).
    const queue = [...sbs];
    const worker = async () => {
      for (let sb = queue.shift(); sb; sb = queue.shift()) {
        const ns = namespaceOf(sb);
        if (!ns) continue;
        const sf = await this.deps.facts.sandbox(ns.path, ns.enter, ns.resolvConf);
        if (sf.present) {
          for (const ep of Object.values(sb.endpoints)) {
            const n = facts.networks.get(ep.networkId);
            if (!n || (n.driver !== 'macvlan' && n.driver !== 'ipvlan') || !ep.ipv4 || !ep.ifname) continue;
            sf.lan.push(await this.deps.facts.lanDuplicate(ns.path, ep.ifname, ep.ipv4.split('/')[0]!));
          }
        }
        if (sf.present && sb.ports?.length && this.deps.ports) {
          const ex = await this.deps.ports(sb).catch(() => []);
          sf.hostFirewall = ex.flatMap((e, index) => (e.hostFirewall?.length ? [{ index, lines: e.hostFirewall }] : []));
        }
        facts.inside.set(sb.id, sf);
      }
    };
    await Promise.all(Array.from({ length: Math.min(4, queue.length) }, worker));
  }

  private async gatherTarget(facts: DoctorFacts, sb: SandboxRecord, raw: string, t: { host: string; port?: number }): Promise<TargetFacts> {
    const out: TargetFacts = { raw, host: t.host, ...(t.port ? { port: t.port } : {}), addresses: [] };
    if (net.isIP(t.host)) out.addresses.push(t.host);
    else if (this.deps.dns) {
      const e = await this.deps.dns.explain(sb, t.host);
      out.dns = { source: e.source, rcode: e.rcode, records: e.records, reason: e.reason, upstreams: e.upstreams };
      for (const r of e.records) {
        const a = r.split(' ').pop() ?? '';
        if (net.isIP(a)) out.addresses.push(a);
      }
    }
    // The target sandbox's own facts, for its listener.
    const holder = [...facts.sandboxes.values()].find((s) => s.id !== sb.id && !s.deleting && (s.name === t.host || Object.values(s.endpoints).some((e) => [e.ipv4, e.ipv6].some((a) => a && out.addresses.includes(a.split('/')[0]!)))));
    if (holder && !facts.inside.has(holder.id)) await this.gatherInside(facts, [holder]);
    const ns = namespaceOf(sb);
    const first = out.addresses[0];
    if (ns && first) {
      out.attempt = await this.deps.facts.tryTarget(ns.path, first, t.port);
      // Over an overlay: also a full-size packet with don't-fragment (the MTU path over the tunnel).
      const overlay = Object.values(sb.endpoints).map((e) => facts.networks.get(e.networkId)).find((n) => n?.driver === 'overlay' && n.ipam.config.some((p) => inSubnet(first, p.subnet)));
      const sf = facts.inside.get(sb.id);
      if (overlay && sf) {
        const size = Number(overlay.driverState.mtu) || 1450;
        const r = await this.deps.facts.mtu(ns.path, first, size);
        sf.mtu.push({ network: overlay.name, peer: first, size, ok: r.ok, ...(r.why ? { why: r.why } : {}) });
      }
    }
    return out;
  }
}

function inSubnet(addr: string, subnet: string): boolean {
  const [base, len] = subnet.split('/');
  if (!base || !len || net.isIPv4(addr) !== net.isIPv4(base)) return false;
  const bl = new net.BlockList();
  bl.addSubnet(base, Number(len), net.isIPv4(base) ? 'ipv4' : 'ipv6');
  return bl.check(addr, net.isIPv4(addr) ? 'ipv4' : 'ipv6');
}
