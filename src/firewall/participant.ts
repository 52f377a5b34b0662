/**
 * The firewall as an engine participant. It keeps the model it last loaded into the
 * kernel; each engine operation computes the model of the state after the change and
 * loads only the difference (element additions/deletions) as one `nft -f` transaction.
 * Start-up, and self-heal, load the whole of Switchyard's tables in one transaction.
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
import { explainPorts, type PortExplanation } from './explain.js';
import { bridgeOf, diffModelsAsync, elementCount, isBridgeNetwork, modelOfAsync, type FirewallModel } from './model.js';
import { resolvePublishedPorts } from './publish.js';
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
}

const OUR_TABLES = [`inet ${TABLE}`, `bridge ${TABLE}`];

export class FirewallParticipant implements Participant {
  readonly name = 'firewall';
  /** What the kernel holds, as far as we know; null until the start-up load. */
  private loaded: FirewallModel | null = null;
  /** Terse listing of our tables right after the last full load. */
  private baseline = '';
  private timer?: NodeJS.Timeout;
  private healing = false;
  private link?: EngineLink;
  /** Counters for `yard info`-style diagnostics and tests. */
  readonly stats = { fullLoads: 0, deltas: 0, heals: 0, lastHealReason: '' };

  constructor(
    private readonly nft: NftRunner,
    private readonly opts: FirewallOptions = {},
  ) {}

  async validate(change: Change, ctx: ParticipantContext): Promise<void> {
    if ((change.kind !== 'sandbox.create' && change.kind !== 'sandbox.ports') || !change.sb.ports?.length) return;
    const host = await ctx.kernel.readNamespace();
    const hostAddresses = new Set([...host.links.values()].flatMap((l) => l.addrs.map((a) => a.split('/')[0]!)));
    resolvePublishedPorts(change.sb, {
      others: [...ctx.before.sandboxes.values()].filter((s) => s.id !== change.sb.id),
      networks: ctx.before.networks,
      hostAddresses,
    });
  }

  async apply(change: Change, ctx: ParticipantContext): Promise<Undo | void> {
    // Before the start-up load (the daemon creating its predefined networks) there is
    // nothing incremental to do: reconcile renders everything from state.
    if (!this.loaded) return;
    const before = this.loaded;
    const after = await modelOfView(ctx.after);
    if (change.kind === 'network.create' && isBridgeNetwork(change.net)) await this.routeLocalnet(ctx, [change.net]);
    await this.load(before, after);
    return async () => {
      if (this.loaded === after) await this.load(after, before);
    };
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
    await this.fullLoad(await modelOfView(now));
    this.startWatcher();
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Explanation of a sandbox's published ports, with the user chain as the kernel has it. */
  async explain(sb: SandboxRecord, view: StateView): Promise<PortExplanation[]> {
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
    return explainPorts(sb, view.networks, [...view.sandboxes.values()], userRules, chains);
  }

  /** Elements currently loaded (tests and benchmarks). */
  loadedElements(): number {
    return this.loaded ? elementCount(this.loaded) : 0;
  }

  /** Elements currently loaded, by set (the metrics). */
  setSizes(): Record<string, number> {
    const out: Record<string, number> = {};
    if (this.loaded) for (const [set, elements] of Object.entries(this.loaded)) out[set] = elements.size;
    return out;
  }

  // ------------------------------------------------------------------ loading

  /** Incremental when possible; the whole table when the kernel disagrees with our model. */
  private async load(from: FirewallModel, to: FirewallModel): Promise<void> {
    const delta = await renderDiffAsync(await diffModelsAsync(from, to));
    if (!delta) {
      this.loaded = to;
      return;
    }
    try {
      await this.nft.apply(delta);
      this.stats.deltas++;
      this.loaded = to;
    } catch {
      // Someone removed the table or elements under us: load everything from the desired model.
      await this.fullLoad(to);
    }
  }

  private async fullLoad(model: FirewallModel): Promise<void> {
    const withUserTable = !(await this.nft.exists('inet', USER_TABLE, USER_CHAIN));
    try {
      await this.nft.apply(renderRuleset(model, { withUserTable }));
    } catch (e) {
      throw new YardError('KERNEL_FAILED', `loading Switchyard's nftables tables failed: ${(e as Error).message}`, {
        hint: 'nothing was changed; is nf_tables available (nft list ruleset)? the daemon log tells more',
        cause: e,
      });
    }
    this.loaded = model;
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

  /** Compare the kernel with the last full load; restore from state on any difference. */
  async checkAndHeal(): Promise<string | null> {
    if (this.healing || !this.link || !this.loaded) return null;
    this.healing = true;
    try {
      const reason = await this.drift();
      if (!reason) return null;
      const link = this.link;
      await link.serial(async () => {
        // Re-check inside the queue: an operation may have been running.
        const again = await this.drift();
        if (!again) return;
        const now = link.view();
        await this.routeLocalnet(link, [...now.networks.values()].filter(isBridgeNetwork));
        await this.fullLoad(await modelOfView(now));
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

/** The firewall model of a state (the engine's after-view of a change, or the committed state). */
function modelOfView(view: StateView): Promise<FirewallModel> {
  return modelOfAsync([...view.networks.values()], [...view.sandboxes.values()]);
}
