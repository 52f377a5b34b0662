/**
 * Participants: the rooms that follow the engine's changes besides the kernel plan — the
 * firewall (nftables rules for networks and published ports) and the embedded DNS
 * (records and per-sandbox resolver sockets). The engine calls them in the same
 * validate -> apply -> commit flow as its own plan:
 *
 *   validate(change)  every participant, before the first kernel call; throw a YardError to refuse
 *   apply(change)     after the kernel plan; returns an undo, run in reverse if a later step fails
 *   reconcile()       at start-up, after the kernel was reconciled: rebuild everything from state
 *
 * For removals (network.remove, sandbox.remove, disconnect) apply is best effort: a
 * teardown is finished, never reverted.
 */
import type { EndpointRecord, NetworkRecord, SandboxRecord } from '../model/types.js';
import type { ResolvInput } from '../dns/sandbox-files.js';
import type { Engine } from './engine.js';

export type Change =
  | { kind: 'network.create'; net: NetworkRecord }
  | { kind: 'network.remove'; net: NetworkRecord }
  /** The sandbox as it will be stored; its namespace and interfaces exist when apply runs. */
  | { kind: 'sandbox.create'; sb: SandboxRecord }
  | { kind: 'sandbox.remove'; sb: SandboxRecord }
  /** `sb` is the sandbox after the change (with `ep`); the interface exists when apply runs. */
  | { kind: 'connect'; sb: SandboxRecord; net: NetworkRecord; ep: EndpointRecord }
  /** `sb` is the sandbox before the change (still with `ep`). */
  | { kind: 'disconnect'; sb: SandboxRecord; net: NetworkRecord; ep: EndpointRecord };

export type Undo = () => Promise<void> | void;

export interface Participant {
  readonly name: string;
  validate?(change: Change, engine: Engine): void | Promise<void>;
  apply?(change: Change, engine: Engine): Promise<Undo | void> | Undo | void;
  reconcile?(engine: Engine): Promise<void>;
  /** Lets the DNS room point a sandbox's resolv.conf at the embedded resolver. */
  resolvConf?(sb: SandboxRecord, engine: Engine): ResolvInput | undefined;
  /** Stop background work (sockets, timers) when the daemon shuts down. */
  close?(): Promise<void> | void;
}
