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
 * kernel code.
 */
import { YardError } from '../errors.js';
import type { Engine } from '../engine/engine.js';
import type { Change, Participant, Undo } from '../engine/participants.js';
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
  private engine?: Engine;
  /** Counters for `yard info`-style diagnostics and tests. */
  readonly stats = { fullLoads: 0, deltas: 0, heals: 0, lastHealReason: '' };

  constructor(
    private readonly nft: NftRunner,
    private readonly opts: FirewallOptions = {},
  ) {}

  async validate(change: Change, engine: Engine): Promise<void> {
    if (change.kind !== 'sandbox.create' || !change.sb.ports?.length) return;
    const host = await engine.kernel.readNamespace();
    const hostAddresses = new Set([...host.links.values()].flatMap((l) => l.addrs.map((a) => a.split('/')[0]!)));
    resolvePublishedPorts(change.sb, {
      others: engine.sandboxes().filter((s) => s.id !== change.sb.id),
      networks: engine.state.networks,
      hostAddresses,
    });
  }

  async apply(change: Change, engine: Engine): Promise<Undo | void> {
    // Before the start-up load (the daemon creating its predefined networks) there is
    // nothing incremental to do: reconcile renders everything from state.
    if (!this.loaded) return;
    const before = this.loaded;
    const after = await modelOfAsync(...stateAfter(change, engine));
    if (change.kind === 'network.create' && isBridgeNetwork(change.net)) await this.routeLocalnet(engine, [change.net]);
    await this.load(before, after, engine);
    return async () => {
      if (this.loaded === after) await this.load(after, before, engine);
    };
  }

  async reconcile(engine: Engine): Promise<void> {
    this.engine = engine;
    // The daemon routes for its sandboxes: forwarding on, in its own namespace only.
    await applySysctls(engine, [
      { op: 'sysctl.set', key: 'net.ipv4.ip_forward', value: '1' },
      { op: 'sysctl.set', key: 'net.ipv6.conf.all.forwarding', value: '1' },
    ]);
    await this.routeLocalnet(engine, engine.networks().filter(isBridgeNetwork));
    await this.fullLoad(await modelOfAsync(engine.networks(), engine.sandboxes()));
    this.startWatcher();
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Explanation of a sandbox's published ports, with the user chain as the kernel has it. */
  async explain(sb: SandboxRecord, engine: Engine): Promise<PortExplanation[]> {
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
    return explainPorts(sb, engine.state.networks, engine.sandboxes(), userRules, chains);
  }

  /** Elements currently loaded (tests and benchmarks). */
  loadedElements(): number {
    return this.loaded ? elementCount(this.loaded) : 0;
  }

  // ------------------------------------------------------------------ loading

  /** Incremental when possible; the whole table when the kernel disagrees with our model. */
  private async load(from: FirewallModel, to: FirewallModel, _engine: Engine): Promise<void> {
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
    if (this.healing || !this.engine || !this.loaded) return null;
    this.healing = true;
    try {
      const reason = await this.drift();
      if (!reason) return null;
      const engine = this.engine;
      await engine.serial(async () => {
        // Re-check inside the queue: an operation may have been running.
        const again = await this.drift();
        if (!again) return;
        await this.routeLocalnet(engine, engine.networks().filter(isBridgeNetwork));
        await this.fullLoad(await modelOfAsync(engine.networks(), engine.sandboxes()));
        this.stats.heals++;
        this.stats.lastHealReason = again;
        engine.log(`firewall: ${again}; restored Switchyard's nftables tables from state`);
      });
      return reason;
    } catch (e) {
      this.engine.log(`firewall self-heal failed: ${(e as Error).message}`);
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
  private async routeLocalnet(engine: Engine, nets: NetworkRecord[]): Promise<void> {
    await applySysctls(
      engine,
      nets.filter((n) => !n.internal && !bridgeOf(n).includes('.')).map((n) => ({ op: 'sysctl.set' as const, key: `net.ipv4.conf.${bridgeOf(n)}.route_localnet`, value: '1' })),
    );
  }
}

async function applySysctls(engine: Engine, ops: KernelOp[]): Promise<void> {
  if (!ops.length) return;
  const errors = await engine.kernel.applyBestEffort(ops);
  for (const e of errors) engine.log(`firewall: ${e}`);
}

/** Networks and sandboxes as they will be once `change` is committed. */
function stateAfter(change: Change, engine: Engine): [NetworkRecord[], SandboxRecord[]] {
  let nets = engine.networks();
  let sbs = engine.sandboxes();
  switch (change.kind) {
    case 'network.create':
      nets = [...nets.filter((n) => n.id !== change.net.id), change.net];
      break;
    case 'network.remove':
      nets = nets.filter((n) => n.id !== change.net.id);
      break;
    case 'sandbox.create':
      sbs = [...sbs.filter((s) => s.id !== change.sb.id), change.sb];
      break;
    case 'sandbox.remove':
      sbs = sbs.filter((s) => s.id !== change.sb.id);
      break;
    case 'connect':
      sbs = sbs.map((s) => (s.id === change.sb.id ? change.sb : s));
      break;
    case 'disconnect': {
      const { [change.net.id]: _gone, ...rest } = change.sb.endpoints;
      sbs = sbs.map((s) => (s.id === change.sb.id ? { ...change.sb, endpoints: rest } : s));
      break;
    }
  }
  return [nets, sbs];
}
