/**
 * Participants: the rooms that follow the engine's changes besides the kernel plan — the
 * firewall (nftables rules for networks and published ports), the embedded DNS (records
 * and per-sandbox resolver sockets) and the cluster agent (endpoints in the cluster store).
 * The change pipeline (pipeline.ts) calls them in its validate -> apply -> commit flow:
 *
 *   validate(change, ctx)  every participant, before the first kernel call; throw a YardError to refuse
 *   apply(change, ctx)     after the kernel plan; returns an undo, run in reverse if a later step fails
 *   reconcile(link)        at start-up, after the kernel was reconciled: rebuild everything from state
 *
 * For removals (network.remove, sandbox.remove, disconnect) apply is best effort: a
 * teardown is finished, never reverted.
 *
 * A participant never sees the engine. It gets a narrow context: the state before and
 * after the change as read-only views (one definition of "the state after", here, for
 * every participant), the configuration, a logger and the few kernel calls it may make.
 */
import type { Kernel } from '../kernel/index.js';
import type { EndpointRecord, NetworkRecord, SandboxRecord, State } from '../model/types.js';
import { SandboxTable } from '../model/sandbox-table.js';
import type { ResolvInput } from '../dns/sandbox-files.js';

export type Change =
  | { kind: 'network.create'; net: NetworkRecord }
  | { kind: 'network.remove'; net: NetworkRecord }
  /** The sandbox as it will be stored; its namespace and interfaces exist when apply runs. */
  | { kind: 'sandbox.create'; sb: SandboxRecord }
  | { kind: 'sandbox.remove'; sb: SandboxRecord }
  /** `sb` is the sandbox after the change (with `ep`); the interface exists when apply runs. */
  | { kind: 'connect'; sb: SandboxRecord; net: NetworkRecord; ep: EndpointRecord }
  /** `sb` is the sandbox before the change (still with `ep`). */
  | { kind: 'disconnect'; sb: SandboxRecord; net: NetworkRecord; ep: EndpointRecord }
  /** `sb` is the sandbox with its new published ports (a runtime programs them after the endpoint exists). */
  | { kind: 'sandbox.ports'; sb: SandboxRecord };

export type Undo = () => Promise<void> | void;

/** Live records by ID (never a tombstoned one). Read-only: a view, not the store. */
export interface StateView {
  readonly networks: ReadonlyMap<string, NetworkRecord>;
  readonly sandboxes: ReadonlyMap<string, SandboxRecord>;
}

/** The settings a participant may read (the engine's configuration, read once at start). */
export interface ParticipantConfig {
  readonly instance: string;
  /** The daemon's upstream DNS servers, search domains and resolver options. */
  readonly dns: readonly string[];
  readonly dnsSearch: readonly string[];
  readonly dnsOptions: readonly string[];
}

/** The kernel calls a participant may make: apply ops, and read the daemon's namespace. */
export type ParticipantKernel = Pick<Kernel, 'apply' | 'applyBestEffort' | 'readNamespace'>;

/** What a participant may use of the engine outside a change: for reconcile and its own background work. */
export interface EngineLink {
  readonly config: ParticipantConfig;
  readonly kernel: ParticipantKernel;
  log(msg: string): void;
  /** The committed state now. */
  view(): StateView;
  /** Run `fn` in the engine's queue, between mutations (a self-heal, a sync from the cluster). */
  serial<T>(fn: () => Promise<T>): Promise<T>;
}

/** A change as a participant sees it: the state before and after, and the link. */
export interface ParticipantContext extends EngineLink {
  readonly before: StateView;
  readonly after: StateView;
}

export interface Participant {
  readonly name: string;
  validate?(change: Change, ctx: ParticipantContext): void | Promise<void>;
  apply?(change: Change, ctx: ParticipantContext): Promise<Undo | void> | Undo | void;
  reconcile?(link: EngineLink): Promise<void>;
  /** Lets the DNS room point a sandbox's resolv.conf at the embedded resolver. */
  resolvConf?(sb: SandboxRecord, view: StateView, config: ParticipantConfig): ResolvInput | undefined;
  /** Stop background work (sockets, timers) when the daemon shuts down. */
  close?(): Promise<void> | void;
}

/**
 * The live records of a state (tombstoned ones left out), computed when first read, with
 * the sandboxes a create running beside others has applied but not yet written (see
 * SandboxTable.markApplied): participants see them as the records they are about to be.
 */
export function liveView(state: State): StateView {
  return lazyView(
    () => new Map([...state.networks].filter(([, n]) => !n.deleting)),
    () => {
      const out = new Map([...state.sandboxes].filter(([, s]) => !s.deleting));
      if (state.sandboxes instanceof SandboxTable) for (const sb of state.sandboxes.appliedSandboxes()) out.set(sb.id, sb);
      return out;
    },
  );
}

/** The state before a change: the live state, with the record a removal is taking away still in it. */
export function viewBefore(live: StateView, change: Change): StateView {
  if (change.kind === 'network.remove') return lazyView(() => new Map(live.networks).set(change.net.id, change.net), () => live.sandboxes);
  if (change.kind === 'sandbox.remove') return lazyView(() => live.networks, () => new Map(live.sandboxes).set(change.sb.id, change.sb));
  return live;
}

/** The state as it will be once `change` is committed. */
export function viewAfter(before: StateView, change: Change): StateView {
  switch (change.kind) {
    case 'network.create':
      return lazyView(() => new Map(before.networks).set(change.net.id, change.net), () => before.sandboxes);
    case 'network.remove':
      return lazyView(() => without(before.networks, change.net.id), () => before.sandboxes);
    case 'sandbox.create':
    case 'connect':
    case 'sandbox.ports':
      return lazyView(() => before.networks, () => new Map(before.sandboxes).set(change.sb.id, change.sb));
    case 'sandbox.remove':
      return lazyView(() => before.networks, () => without(before.sandboxes, change.sb.id));
    case 'disconnect': {
      const { [change.net.id]: _gone, ...rest } = change.sb.endpoints;
      return lazyView(() => before.networks, () => new Map(before.sandboxes).set(change.sb.id, { ...change.sb, endpoints: rest }));
    }
  }
}

function without<T>(m: ReadonlyMap<string, T>, id: string): Map<string, T> {
  const out = new Map(m);
  out.delete(id);
  return out;
}

function lazyView(nets: () => ReadonlyMap<string, NetworkRecord>, sbs: () => ReadonlyMap<string, SandboxRecord>): StateView {
  let n: ReadonlyMap<string, NetworkRecord> | undefined;
  let s: ReadonlyMap<string, SandboxRecord> | undefined;
  return {
    get networks() {
      return (n ??= nets());
    },
    get sandboxes() {
      return (s ??= sbs());
    },
  };
}
