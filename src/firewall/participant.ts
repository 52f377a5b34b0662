/**
 * The firewall as an engine participant. It keeps the model it last loaded into the
 * kernel as parts (the networks' elements, and each sandbox's: model.ts ModelParts); an
 * engine operation recomputes only the parts it touches (the sandbox created, removed,
 * connected or publishing; for a network change, the networks' part and the sandboxes
 * attached to that network) and loads the difference (element additions/deletions) as
 * one nftables transaction: its cost follows the change, not the sandboxes and ports
 * already there. Start-up, and self-heal, load the whole of Switchyard's tables in one
 * transaction.
 *
 * Self-heal: a timer compares, every second, a terse listing (`nft -t`: rules and set
 * declarations, no elements) of Switchyard's tables with the one taken after the last full
 * load, and checks that the user chain exists; on any difference the whole firewall is
 * loaded again from state. Element-only tampering is not detected (it would need a full
 * listing every second); the next full load repairs it.
 *
 * The nft runner is passed in (kernel/nft.ts in the daemon), so this room imports no
 * kernel code. The state before and after a change comes with the change (the engine's
 * participant context); self-heal reads the committed state through the engine link.
 */
import { YardError } from '../errors.js';
import type { Change, EngineLink, Participant, ParticipantContext, StateView, Undo } from '../engine/participants.js';
import type { NetworkRecord, SandboxRecord } from '../model/types.js';
import type { KernelOp } from '../plan/ops.js';
import { explainPorts, type ExplainOptions, type PortExplanation } from './explain.js';
import { ModelParts, bridgeOf, diffModelsAsync, elementCount, emptyDiff, isBridgeNetwork, networkElements, sandboxModelAsync, settleDiff, type FirewallModel, type ModelDiff } from './model.js';
import { resolvePublishedPorts } from './publish.js';
import { PublishedPorts } from './port-index.js';
import { coexistencePlan, detectHostFirewall, hostFingerprint, hostFirewallForPort, inputVerdict, type CoexistencePlan, type HostFirewallMode, type HostFirewallReport, type NftJsonObject } from './host-firewall.js';
import { normalizeSources, sourceWithin } from '../model/ports.js';
import { obeyHostInput } from './model.js';
import { TABLE, USER_CHAIN, USER_TABLE, inetChains, parseChains, renderDiffAsync, renderRuleset, splitTables } from './render.js';

/** What the participant needs from `nft` (kernel/nft.ts NftCli implements it). */
export interface NftRunner {
  apply(script: string): Promise<void>;
  list(args: string[]): Promise<string>;
  exists(family: string, table: string, chain?: string): Promise<boolean>;
}

export interface FirewallOptions {
  /** Self-heal poll interval; 0 turns the watcher off. Default 1000 ms. */
  healIntervalMs?: number;
  /** `--host-firewall`: what to do about the host's other firewalls (default accept). */
  hostFirewall?: HostFirewallMode;
  /** Reads and changes the host's other firewalls (kernel/host-firewall.ts). None: left alone. */
  hostKernel?: HostFirewallPort;
}

/** What the participant needs from the host-firewall kernel room. */
export interface HostFirewallPort {
  read(): Promise<{ ruleset: { nftables: NftJsonObject[] }; legacy4: string; legacy6: string }>;
  apply(plan: Pick<CoexistencePlan, 'add' | 'remove'>): Promise<void>;
}

interface HostState {
  ruleset: { nftables: NftJsonObject[] };
  report: HostFirewallReport;
  fingerprint: string;
}

const OUR_TABLES = [`inet ${TABLE}`, `bridge ${TABLE}`];

export class FirewallParticipant implements Participant {
  readonly name = 'firewall';
  /** What the kernel holds, as far as we know, by part; null until the start-up load. */
  private parts: ModelParts | null = null;
  /** The published host ports of the state, for checking a new -p (port-index.ts). */
  private readonly published = new PublishedPorts();
  /** Bumped by every load: an undo applies only to the load it follows. */
  private generation = 0;
  /** Terse listing of our tables right after the last full load. */
  private baseline = '';
  private timer?: NodeJS.Timeout;
  private healing = false;
  private link?: EngineLink;
  /** The host's other firewalls as last read (null: not read, or --host-firewall off). */
  private host: HostState | null = null;
  /** Log lines already written about the host firewall (each is written when it first holds). */
  private hostLogged = new Set<string>();
  /** Counters for `yard info`-style diagnostics and tests. */
  readonly stats = { fullLoads: 0, deltas: 0, heals: 0, lastHealReason: '', hostSyncs: 0 };

  constructor(
    private readonly nft: NftRunner,
    private readonly opts: FirewallOptions = {},
  ) {}

  async validate(change: Change, ctx: ParticipantContext): Promise<void> {
    if ((change.kind !== 'sandbox.create' && change.kind !== 'sandbox.ports') || !change.sb.ports?.length) return;
    const host = await ctx.kernel.readNamespace();
    const hostAddresses = new Set([...host.links.values()].flatMap((l) => l.addrs.map((a) => a.split('/')[0]!)));
    // The ports already published, indexed across changes (only what changed is re-indexed).
    const taken = this.published.sync(ctx.before.sandboxes, change.sb.id);
    try {
      resolvePublishedPorts(change.sb, { others: [], taken, networks: ctx.before.networks, hostAddresses });
    } finally {
      this.published.checked(change.sb);
    }
  }

  async apply(change: Change, ctx: ParticipantContext): Promise<Undo | void> {
    // Before the start-up load (the daemon creating its predefined networks) there is
    // nothing incremental to do: reconcile renders everything from state.
    const parts = this.parts;
    if (!parts) return;
    if (change.kind === 'network.create' && isBridgeNetwork(change.net)) await this.routeLocalnet(ctx, [change.net]);
    const previous: [string, FirewallModel | undefined][] = [];
    const diff = emptyDiff();
    for (const [id, next] of await this.changedParts(change, ctx.after)) {
      previous.push([id, parts.get(id)]);
      parts.replace(id, next, diff);
    }
    try {
      await this.loadDiff(parts, diff);
    } catch (e) {
      for (const [id, prev] of previous.reverse()) parts.replace(id, prev);
      throw e;
    }
    // A new or removed bridge: the accept rules kept in other firewalls follow.
    if (change.kind === 'network.create' || change.kind === 'network.remove') await this.syncHost(ctx.after, ctx, { cached: true });
    const generation = this.generation;
    return async () => {
      if (this.parts !== parts || this.generation !== generation) return;
      const back = emptyDiff();
      for (const [id, prev] of previous.reverse()) parts.replace(id, prev, back);
      await this.loadDiff(parts, back);
    };
  }

  /**
   * The parts a change touches, as they are after it (undefined: gone). A sandbox's
   * elements depend only on it and on the networks it is attached to, so a network change
   * recomputes the networks' part and the sandboxes on that network, nothing else.
   */
  private async changedParts(change: Change, after: StateView): Promise<[string, FirewallModel | undefined][]> {
    if (change.kind === 'network.create' || change.kind === 'network.remove') {
      const out: [string, FirewallModel | undefined][] = [[NETWORKS_PART, networkElements(after.networks.values())]];
      for (const sb of after.sandboxes.values()) {
        if (Object.values(sb.endpoints).some((ep) => ep.networkId === change.net.id)) out.push([sandboxPart(sb.id), await this.sandboxModel(sb, after)]);
      }
      return out;
    }
    const sb = after.sandboxes.get(change.sb.id);
    return [[sandboxPart(change.sb.id), sb ? await this.sandboxModel(sb, after) : undefined]];
  }

  async reconcile(link: EngineLink): Promise<void> {
    this.link = link;
    // The daemon routes for its sandboxes: forwarding on, in its own namespace only.
    await applySysctls(link, [
      { op: 'sysctl.set', key: 'net.ipv4.ip_forward', value: '1' },
      { op: 'sysctl.set', key: 'net.ipv6.conf.all.forwarding', value: '1' },
    ]);
    const now = link.view();
    await this.routeLocalnet(link, [...now.networks.values()].filter(isBridgeNetwork));
    await this.readHost(link);
    await this.fullLoad(await this.build(now));
    await this.syncHost(now, link);
    this.startWatcher();
  }

  /** Stops the watcher and takes Switchyard's rules out of the host's other firewalls. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    const hk = this.opts.hostKernel;
    if (!hk || this.mode() === 'off') return;
    try {
      const read = await hk.read();
      const report = detectHostFirewall(read.ruleset, read.legacy4, read.legacy6);
      const plan = coexistencePlan(report, [], 'off');
      if (plan.remove.length) {
        await hk.apply(plan);
        this.link?.log(`host firewall: removed Switchyard's ${plan.remove.length} rule(s) from other firewalls (${[...new Set(plan.remove.map((r) => `${r.family} ${r.table} ${r.chain}`))].join(', ')})`);
      }
    } catch (e) {
      this.link?.log(`host firewall: could not remove Switchyard's rules from other firewalls: ${(e as Error).message}`);
    }
  }

  private mode(): HostFirewallMode {
    return this.opts.hostFirewall ?? 'accept';
  }

  // ------------------------------------------------------------------ host firewall

  /** Reads the host's other firewalls (nothing with --host-firewall off or no kernel room). */
  private async readHost(link: EngineLink): Promise<HostState | null> {
    const hk = this.opts.hostKernel;
    if (!hk || this.mode() === 'off') return (this.host = null);
    try {
      const read = await hk.read();
      const report = detectHostFirewall(read.ruleset, read.legacy4, read.legacy6);
      this.host = { ruleset: read.ruleset, report, fingerprint: hostFingerprint(read.ruleset, read.legacy4, read.legacy6) };
      const line = report.firewalls.length
        ? `host firewall: found ${report.firewalls.join(', ')}; chains that drop forwarded traffic: ${report.forwardDrops.map((c) => `${c.legacy ? 'iptables-legacy ' : ''}${c.family} ${c.table} ${c.chain} (${c.drops})`).join(', ') || 'none'}; input: ${report.inputDrops.map((c) => `${c.family} ${c.table} ${c.chain}`).join(', ') || 'nothing dropped by default'}; mode ${this.mode()}`
        : `host firewall: none found besides Switchyard's tables; mode ${this.mode()}`;
      this.logOnce(link, line);
      return this.host;
    } catch (e) {
      this.logOnce(link, `host firewall: could not read the ruleset: ${(e as Error).message}`);
      return null;
    }
  }

  /**
   * Puts the accept rules into the other firewalls' forward chains that need them, removes
   * stale ones. Read, plan, apply, and again until nothing is left to do (at most 3 rounds):
   * the other firewall may be changing while this runs (ufw enable writes table by table).
   */
  private async syncHost(view: StateView, link: EngineLink, opts: { cached?: boolean } = {}): Promise<void> {
    const hk = this.opts.hostKernel;
    if (!hk || this.mode() === 'off') return;
    const bridges = [...view.networks.values()].filter(isBridgeNetwork).map(bridgeOf);
    // A network create or remove that changes nothing in other firewalls (there are none, or
    // none drops forwarded traffic) costs no read of the whole ruleset: the last read says
    // so, and the 1 s check re-reads whenever the other firewalls change.
    if (opts.cached && this.host) {
      const plan = coexistencePlan(this.host.report, bridges, this.mode());
      if (!plan.add.length && !plan.remove.length) return;
    }
    for (let round = 0; round < 3; round++) {
      const host = await this.readHost(link);
      if (!host) return;
      const plan = coexistencePlan(host.report, bridges, this.mode());
      if (!plan.add.length && !plan.remove.length) return;
      try {
        await hk.apply(plan);
        this.stats.hostSyncs++;
        for (const l of plan.log) link.log(l);
      } catch (e) {
        link.log(`host firewall: could not change ${[...new Set(plan.add.map((a) => `${a.chain.family} ${a.chain.table} ${a.chain.chain}`))].join(', ')}: ${(e as Error).message}; Switchyard's networks may be cut off by it`);
        return;
      }
    }
    // Still changing: the next check (its fingerprint differs from the last read) goes on.
    if (this.host) this.host.fingerprint = '';
  }

  private logOnce(link: EngineLink, line: string): void {
    if (this.hostLogged.has(line)) return;
    this.hostLogged.add(line);
    link.log(line);
  }

  /**
   * One sandbox's elements, and with --host-firewall obey, published ports that the host's
   * input filtering would drop are refused too: each becomes a limited port whose allowed
   * sources are the ones the host accepts before it drops (none: nobody). A range is
   * refused whole when any of its ports is (conservative).
   */
  private async sandboxModel(sb: SandboxRecord, view: StateView): Promise<FirewallModel> {
    const model = await sandboxModelAsync(sb, view.networks);
    if (this.mode() !== 'obey' || !this.host || !sb.ports?.length) return model;
    const host = this.host;
    const decisions = obeyHostInput(model, [sb], view.networks, (fam, proto, port) => inputVerdict(host.ruleset, host.report, fam, proto, port));
    if (this.link) for (const d of decisions) this.logOnce(this.link, d);
    return model;
  }

  /** Every part of a state (start-up, self-heal, a change of the host's input verdicts). */
  private async build(view: StateView): Promise<ModelParts> {
    const parts = new ModelParts();
    parts.replace(NETWORKS_PART, networkElements(view.networks.values()));
    for (const sb of view.sandboxes.values()) parts.replace(sandboxPart(sb.id), await this.sandboxModel(sb, view));
    return parts;
  }

  /** Explanation of a sandbox's published ports, with the user chain as the kernel has it. */
  async explain(sb: SandboxRecord, view: StateView, opts: ExplainOptions = {}): Promise<PortExplanation[]> {
    let userRules: string[] | null = null;
    try {
      const text = await this.nft.list(['list', 'chain', 'inet', USER_TABLE, USER_CHAIN]);
      userRules = text.split('\n').map((l) => l.trim()).filter((l) => l && !/^(table|chain|type|\})/.test(l));
    } catch {
      userRules = null;
    }
    // The chains as the kernel holds them, so the claims follow the rules really loaded;
    // when the table cannot be listed, the ones the self-heal is about to load.
    let chains = inetChains();
    try {
      chains = parseChains(await this.nft.list(['-t', 'list', 'table', 'inet', TABLE]));
    } catch {
      /* keep the rendered chains */
    }
    const out = explainPorts(sb, view.networks, [...view.sandboxes.values()], userRules, chains, opts);
    const host = this.host;
    if (host) {
      const bridges = [...view.networks.values()].filter(isBridgeNetwork).map(bridgeOf);
      (sb.ports ?? []).forEach((m, i) => {
        const e = out[i];
        if (!m.hostPort || !e) return;
        e.hostFirewall = hostFirewallForPort(host.ruleset, host.report, m.proto, m.hostPort, this.mode(), bridges).lines;
        // --host-firewall obey: the host's input verdict refuses before --publish-from is asked.
        if (this.mode() === 'obey' && e.from?.allowed) {
          const fam = e.from.address.includes(':') ? 6 : 4;
          for (let p = m.hostPort; p <= m.hostPortEnd; p++) {
            const v = inputVerdict(host.ruleset, host.report, fam, m.proto, p);
            if (v.verdict === 'accept' || normalizeSources(v.sources).some((s) => sourceWithin(e.from!.address, s))) continue;
            e.from = { address: e.from.address, allowed: false, why: `--host-firewall obey: the host's input filtering would drop a new connection to host port ${p}/${m.proto}, so the published port refuses it`, decidedBy: v.decidedBy };
            break;
          }
        }
      });
    }
    return out;
  }

  /** Elements currently loaded (tests and benchmarks). */
  loadedElements(): number {
    return this.parts ? elementCount(this.parts.union) : 0;
  }

  /** Elements currently loaded, by set (the metrics). */
  setSizes(): Record<string, number> {
    const out: Record<string, number> = {};
    if (this.parts) for (const [set, elements] of Object.entries(this.parts.union)) out[set] = elements.size;
    return out;
  }

  // ------------------------------------------------------------------ loading

  /**
   * Loads the elements `parts` gained and lost (`diff`, already applied to `parts`); the
   * whole table when the kernel disagrees with our model.
   */
  private async loadDiff(parts: ModelParts, diff: ModelDiff): Promise<void> {
    this.generation++;
    const delta = await renderDiffAsync(settleDiff(diff, parts.union));
    if (!delta) return;
    try {
      await this.nft.apply(delta);
      this.stats.deltas++;
    } catch {
      // Someone removed the table or elements under us: load everything from the parts.
      await this.fullLoad(parts);
    }
  }

  /** From what the kernel holds to `next` (a whole new set of parts), incrementally when possible. */
  private async replaceAll(next: ModelParts): Promise<void> {
    if (!this.parts) return this.fullLoad(next);
    this.generation++;
    const delta = await renderDiffAsync(await diffModelsAsync(this.parts.union, next.union));
    if (delta) {
      try {
        await this.nft.apply(delta);
        this.stats.deltas++;
      } catch {
        return this.fullLoad(next);
      }
    }
    this.parts = next;
  }

  private async fullLoad(parts: ModelParts): Promise<void> {
    this.generation++;
    const withUserTable = !(await this.nft.exists('inet', USER_TABLE, USER_CHAIN));
    try {
      await this.nft.apply(renderRuleset(parts.union, { withUserTable }));
    } catch (e) {
      throw new YardError('KERNEL_FAILED', `loading Switchyard's nftables tables failed: ${(e as Error).message}`, {
        hint: 'nothing was changed; is nf_tables available (nft list ruleset)? the daemon log tells more',
        cause: e,
      });
    }
    this.parts = parts;
    this.stats.fullLoads++;
    this.baseline = await this.snapshot();
  }

  private async snapshot(): Promise<string> {
    const tables = splitTables(await this.nft.list(['-t', 'list', 'ruleset']));
    return OUR_TABLES.map((t) => tables.get(t) ?? '').join('\n');
  }

  // ------------------------------------------------------------------ self-heal

  private startWatcher(): void {
    const every = this.opts.healIntervalMs ?? 1000;
    if (!every || this.timer) return;
    this.timer = setInterval(() => void this.checkAndHeal(), every);
    this.timer.unref();
  }

  /**
   * The host's other firewalls changed (ufw allow, firewalld reload, a flush): put the accept
   * rules back where they are needed and, with obey, follow the new input verdicts.
   */
  private async checkHost(link: EngineLink): Promise<void> {
    const hk = this.opts.hostKernel;
    if (!hk || this.mode() === 'off' || !this.parts) return;
    const read = await hk.read();
    const fp = hostFingerprint(read.ruleset, read.legacy4, read.legacy6);
    if (this.host && fp === this.host.fingerprint) return;
    await link.serial(async () => {
      const now = link.view();
      this.logOnce(link, `host firewall: the host's other firewall rules changed (${new Date().toISOString()}); checking again`);
      await this.syncHost(now, link);
      if (this.mode() === 'obey' && this.parts) await this.replaceAll(await this.build(now));
    });
  }

  /** Compare the kernel with the last full load; restore from state on any difference. */
  async checkAndHeal(): Promise<string | null> {
    if (this.healing || !this.link || !this.parts) return null;
    this.healing = true;
    try {
      await this.checkHost(this.link).catch((e) => this.logOnce(this.link!, `host firewall: check failed: ${(e as Error).message}`));
      const reason = await this.drift();
      if (!reason) return null;
      const link = this.link;
      await link.serial(async () => {
        // Re-check inside the queue: an operation may have been running.
        const again = await this.drift();
        if (!again) return;
        const now = link.view();
        await this.routeLocalnet(link, [...now.networks.values()].filter(isBridgeNetwork));
        await this.fullLoad(await this.build(now));
        this.stats.heals++;
        this.stats.lastHealReason = again;
        link.log(`firewall: ${again}; restored Switchyard's nftables tables from state`);
      });
      return reason;
    } catch (e) {
      this.link.log(`firewall self-heal failed: ${(e as Error).message}`);
      return null;
    } finally {
      this.healing = false;
    }
  }

  private async drift(): Promise<string | null> {
    const tables = splitTables(await this.nft.list(['-t', 'list', 'ruleset']));
    for (const t of OUR_TABLES) if (!tables.has(t)) return `table ${t} is missing`;
    if (!tables.get(`inet ${USER_TABLE}`)?.includes(`chain ${USER_CHAIN} {`)) return `the user chain inet ${USER_TABLE} ${USER_CHAIN} is missing`;
    const now = OUR_TABLES.map((t) => tables.get(t) ?? '').join('\n');
    return now === this.baseline ? null : 'the rules of Switchyard\'s tables were changed';
  }

  /** DNAT from 127.0.0.1 may only leave through a bridge with route_localnet on. */
  private async routeLocalnet(link: EngineLink, nets: NetworkRecord[]): Promise<void> {
    await applySysctls(
      link,
      nets.filter((n) => !n.internal && !bridgeOf(n).includes('.')).map((n) => ({ op: 'sysctl.set' as const, key: `net.ipv4.conf.${bridgeOf(n)}.route_localnet`, value: '1' })),
    );
  }
}

async function applySysctls(link: EngineLink, ops: KernelOp[]): Promise<void> {
  if (!ops.length) return;
  const errors = await link.kernel.applyBestEffort(ops);
  for (const e of errors) link.log(`firewall: ${e}`);
}

const NETWORKS_PART = 'networks';
const sandboxPart = (id: string) => `sandbox ${id}`;
