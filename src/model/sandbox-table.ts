/**
 * The sandboxes of the state, indexed by network: which endpoints each network has and
 * which addresses they hold. Joining a network asks both on every create; without the
 * index each answer walked every sandbox, so creates slowed down as sandboxes accumulated.
 *
 * It is the state's own Map (every set and delete goes through it), so the index can never
 * disagree with the records: a record is replaced as a whole, never its endpoints in place.
 */
import type { EndpointRecord, SandboxRecord } from './types.js';

export class SandboxTable extends Map<string, SandboxRecord> {
  /** network ID -> IDs of the sandboxes with an endpoint there. */
  private readonly members = new Map<string, Set<string>>();
  /** network ID -> address (without prefix length) -> the sandbox's name. */
  private readonly addresses = new Map<string, Map<string, string>>();
  /**
   * Sandboxes being created beside others (not yet records): their addresses and
   * memberships are indexed as if they were, so a create running beside them picks others.
   */
  private readonly held = new Map<string, SandboxRecord>();
  /** Held sandboxes whose participants have run: only the write of their record is left. */
  private readonly applied = new Set<string>();

  constructor(entries?: Iterable<readonly [string, SandboxRecord]>) {
    super();
    if (entries) for (const [id, sb] of entries) this.set(id, sb);
  }

  override set(id: string, sb: SandboxRecord): this {
    // Map's constructor calls set before the fields exist; the constructor above does not.
    if (this.members) {
      const old = super.get(id) ?? this.held.get(id);
      this.held.delete(id);
      this.applied.delete(id);
      if (old) this.unindex(old);
      this.index(sb);
    }
    return super.set(id, sb);
  }

  /** Index a sandbox being created: its addresses, membership, name and ID are taken until `set` or `unhold`. */
  hold(sb: SandboxRecord): void {
    if (super.has(sb.id) || this.held.has(sb.id)) throw new Error(`sandbox ${sb.id} is already a record or held`);
    this.held.set(sb.id, sb);
    this.index(sb);
  }

  /** Give back what `hold` took (a create that failed); nothing once the record is set. */
  unhold(id: string): void {
    const sb = this.held.get(id);
    if (!sb) return;
    this.held.delete(id);
    this.applied.delete(id);
    this.unindex(sb);
  }

  /** Whether a sandbox with this ID is being created (held). */
  isHeld(id: string): boolean {
    return this.held.has(id);
  }

  /** The sandboxes being created, not yet records. */
  heldSandboxes(): IterableIterator<SandboxRecord> {
    return this.held.values();
  }

  /**
   * A held sandbox's participants have run (`on`), or are being undone: from now until its
   * record is set, participants of other changes see it as they will once it is committed.
   */
  markApplied(id: string, on: boolean): void {
    if (on && this.held.has(id)) this.applied.add(id);
    else this.applied.delete(id);
  }

  /** Held sandboxes whose participants have run (see markApplied). */
  *appliedSandboxes(): IterableIterator<SandboxRecord> {
    for (const id of this.applied) yield this.held.get(id)!;
  }

  override delete(id: string): boolean {
    const old = super.get(id);
    if (old) this.unindex(old);
    return super.delete(id);
  }

  override clear(): void {
    this.held.clear();
    this.applied.clear();
    this.members.clear();
    this.addresses.clear();
    super.clear();
  }

  /** How many endpoints the network has (removals in progress included). */
  memberCount(networkId: string): number {
    return this.members.get(networkId)?.size ?? 0;
  }

  /** Address -> `sandbox <name>` of every endpoint address on the network. */
  addressesOn(networkId: string): ReadonlyMap<string, string> {
    return this.addresses.get(networkId) ?? new Map();
  }

  private index(sb: SandboxRecord): void {
    for (const [netId, ep] of Object.entries(sb.endpoints)) {
      let m = this.members.get(netId);
      if (!m) this.members.set(netId, (m = new Set()));
      m.add(sb.id);
      for (const a of addrsOf(ep)) {
        let am = this.addresses.get(netId);
        if (!am) this.addresses.set(netId, (am = new Map()));
        am.set(a, `sandbox ${sb.name}`);
      }
    }
  }

  private unindex(sb: SandboxRecord): void {
    for (const [netId, ep] of Object.entries(sb.endpoints)) {
      const m = this.members.get(netId);
      m?.delete(sb.id);
      if (m && !m.size) this.members.delete(netId);
      const am = this.addresses.get(netId);
      // Only this sandbox's own entry: two records never hold one address, but a damaged
      // state could, and the other holder must stay known.
      for (const a of addrsOf(ep)) if (am?.get(a) === `sandbox ${sb.name}`) am.delete(a);
      if (am && !am.size) this.addresses.delete(netId);
    }
  }
}

function addrsOf(ep: EndpointRecord): string[] {
  const out: string[] = [];
  if (ep.ipv4) out.push(ep.ipv4.split('/')[0]!);
  if (ep.ipv6) out.push(ep.ipv6.split('/')[0]!);
  return out;
}
