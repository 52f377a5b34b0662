/**
 * Test doubles for the engine's two outer edges, shared by the engine and API unit tests.
 *
 * RecordingKernel is NOT a model of Linux: it records every plan the engine hands over
 * and keeps a small in-memory view (namespaces, links, addresses, routes) so tests can
 * check the engine's own logic — validation, allocation, rollback order, lookup — and
 * that what it applies and undoes adds up. Whether the plans work on a real kernel is
 * the lab tests' job (test/lab).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Engine, type EngineConfig } from '../../src/engine/engine.js';
import { ensurePredefined } from '../../src/engine/reconcile.js';
import type { Kernel, LinkState, NsState, RouteState } from '../../src/kernel/index.js';
import { ApplyError } from '../../src/kernel/apply.js';
import type { ProcessInfo, Started } from '../../src/kernel/process.js';
import type { NetworkRecord, SandboxRecord, State } from '../../src/model/types.js';
import { renderPlan, undoPlan, type KernelOp, type Plan } from '../../src/plan/ops.js';
import type { QuarantinedRecord, Store } from '../../src/store/store.js';

interface FakeLink extends LinkState {
  /** The other end of a veth: deleting one end deletes both. */
  peer?: { ns: string; name: string };
}

export interface KernelCall {
  kind: 'apply' | 'bestEffort';
  plan: Plan;
}

const key = (ns?: string) => ns ?? '';

export class RecordingKernel implements Kernel {
  /** Every apply/applyBestEffort call, in order, with the plan as given. */
  readonly calls: KernelCall[] = [];
  /** A shared timeline tests can interleave with participants' events. */
  events: string[] = [];
  /** Return a kernel message to make `apply` fail at that op (as `ip -batch` would). */
  failOn: (op: KernelOp) => string | undefined = () => undefined;
  /** Routes the daemon's namespace reports (IPAM avoids them). */
  hostRoutes: RouteState[] = [];
  readonly files = new Map<string, Record<string, string>>();
  private readonly view = new Map<string, Map<string, FakeLink>>([['', new Map()]]);
  private readonly routes = new Map<string, string[]>();

  /** Each apply waits this long first (the kernel's own time), so applies can overlap. */
  applyDelayMs = 0;
  /** The most applies in progress at once. */
  mostInFlight = 0;
  private inFlight = 0;

  async apply(plan: Plan): Promise<void> {
    this.calls.push({ kind: 'apply', plan });
    this.events.push(`kernel.apply ${plan.length} ops`);
    if (this.applyDelayMs) {
      this.mostInFlight = Math.max(this.mostInFlight, ++this.inFlight);
      await new Promise((r) => setTimeout(r, this.applyDelayMs));
      this.inFlight--;
    }
    const applied: KernelOp[] = [];
    for (const op of plan) {
      const err = this.failOn(op) ?? this.step(op);
      if (err) {
        // Like kernel/apply: the applied prefix is undone before the error is thrown.
        for (const u of undoPlan(applied)) this.step(u);
        throw new ApplyError(op, err, applied);
      }
      applied.push(op);
    }
  }

  async applyBestEffort(plan: Plan): Promise<string[]> {
    this.calls.push({ kind: 'bestEffort', plan });
    this.events.push(`kernel.bestEffort ${renderPlan(plan).join('; ')}`);
    const errors: string[] = [];
    for (const op of plan) {
      const err = this.step(op);
      if (err) errors.push(`${renderPlan([op])[0]}: ${err}`);
    }
    return errors;
  }

  /** Plans passed to apply, rendered; one array per call. */
  appliedLines(): string[][] {
    return this.calls.filter((c) => c.kind === 'apply').map((c) => renderPlan(c.plan));
  }
  lastBestEffort(): string[] {
    const c = [...this.calls].reverse().find((x) => x.kind === 'bestEffort');
    return c ? renderPlan(c.plan) : [];
  }

  namespaces(): string[] {
    return [...this.view.keys()].filter((k) => k !== '');
  }
  links(ns?: string): string[] {
    return [...(this.view.get(key(ns))?.keys() ?? [])];
  }
  link(ns: string | undefined, name: string): FakeLink | undefined {
    return this.view.get(key(ns))?.get(name);
  }
  routesOf(ns?: string): string[] {
    return this.routes.get(key(ns)) ?? [];
  }

  private step(op: KernelOp): string | undefined {
    const nsMap = (ns?: string) => this.view.get(key(ns));
    const addLink = (ns: string | undefined, l: FakeLink): string | undefined => {
      const m = nsMap(ns);
      if (!m) return `Cannot open network namespace "${ns}": No such file or directory`;
      if (m.has(l.name)) return 'RTNETLINK answers: File exists';
      m.set(l.name, l);
      return undefined;
    };
    const base = (name: string, kind: string, mtu = 1500): FakeLink => ({ name, kind, up: false, mtu, addrs: [] });
    switch (op.op) {
      case 'netns.add':
      case 'netns.attach':
        if (this.view.has(op.name)) return `Cannot create namespace file "/run/netns/${op.name}": File exists`;
        this.view.set(op.name, new Map([['lo', base('lo', 'loopback', 65536)]]));
        return undefined;
      case 'netns.del': {
        const m = this.view.get(op.name);
        if (!m) return `Cannot remove namespace file "/run/netns/${op.name}": No such file or directory`;
        for (const l of m.values()) if (l.peer) this.view.get(l.peer.ns)?.delete(l.peer.name);
        this.view.delete(op.name);
        this.routes.delete(op.name);
        return undefined;
      }
      case 'link.add.bridge':
        return addLink(op.ns, base(op.name, 'bridge', op.mtu));
      case 'link.add.veth': {
        const peerNs = key(op.peerNs ?? op.ns);
        if (!this.view.has(peerNs)) return `Cannot open network namespace "${peerNs}": No such file or directory`;
        if (op.master !== undefined && !nsMap(op.ns)?.has(op.master)) return 'RTNETLINK answers: No such device';
        const err = addLink(op.ns, { ...base(op.name, 'veth', op.mtu), peer: { ns: peerNs, name: op.peerName }, ...(op.master !== undefined ? { master: op.master } : {}) });
        if (err) return err;
        return addLink(peerNs, { ...base(op.peerName, 'veth', op.mtu), mac: op.peerMac, peer: { ns: key(op.ns), name: op.name } });
      }
      case 'link.add.macvlan':
      case 'link.add.ipvlan':
        return addLink(op.targetNs ?? op.ns, base(op.name, op.op.slice('link.add.'.length), op.mtu));
      case 'link.add.vxlan':
        return addLink(op.ns, base(op.name, 'vxlan', op.mtu));
      case 'link.del': {
        const l = nsMap(op.ns)?.get(op.name);
        if (!l) return `Cannot find device "${op.name}"`;
        nsMap(op.ns)!.delete(op.name);
        if (l.peer) this.view.get(l.peer.ns)?.delete(l.peer.name);
        return undefined;
      }
      case 'link.set': {
        const l = nsMap(op.ns)?.get(op.name);
        if (!l) return `Cannot find device "${op.name}"`;
        if (op.up !== undefined) l.up = op.up;
        if (op.master !== undefined) l.master = op.master === 'nomaster' ? undefined : op.master;
        if (op.mtu !== undefined) l.mtu = op.mtu;
        if (op.alias !== undefined) l.alias = op.alias;
        return undefined;
      }
      case 'addr.add': {
        const l = nsMap(op.ns)?.get(op.dev);
        if (!l) return `Cannot find device "${op.dev}"`;
        if (l.addrs.includes(op.cidr)) return 'RTNETLINK answers: File exists';
        l.addrs.push(op.cidr);
        return undefined;
      }
      case 'addr.del': {
        const l = nsMap(op.ns)?.get(op.dev);
        if (!l || !l.addrs.includes(op.cidr)) return 'RTNETLINK answers: Cannot assign requested address';
        l.addrs = l.addrs.filter((a) => a !== op.cidr);
        return undefined;
      }
      case 'route.add':
      case 'route.del': {
        if (!nsMap(op.ns)) return `Cannot open network namespace "${op.ns}": No such file or directory`;
        const text = renderPlan([{ ...op, op: 'route.add' }])[0]!.replace(/^ip (-n \S+ )?route replace /, '');
        const list = this.routes.get(key(op.ns)) ?? [];
        // `replace` semantics: one route per destination.
        const dst = text.split(' ')[0]!;
        const rest = list.filter((r) => r.split(' ')[0] !== dst);
        if (op.op === 'route.del' && rest.length === list.length) return 'RTNETLINK answers: No such process';
        this.routes.set(key(op.ns), op.op === 'route.add' ? [...rest, text] : rest);
        return undefined;
      }
      default:
        return undefined;
    }
  }

  async readNamespace(ns?: string): Promise<NsState> {
    const m = this.view.get(key(ns));
    if (!m) return { exists: false, links: new Map() };
    return { exists: true, links: new Map([...m].map(([n, l]) => [n, { ...l, addrs: [...l.addrs] }])) };
  }
  async readLinks(names: readonly string[], ns?: string): Promise<Map<string, LinkState>> {
    const all = (await this.readNamespace(ns)).links;
    return new Map(names.flatMap((n) => (all.has(n) ? [[n, all.get(n)!] as const] : [])));
  }
  listNetns(): string[] {
    return this.namespaces();
  }
  async readRoutes(): Promise<RouteState[]> {
    return this.hostRoutes;
  }
  startProcess(): Started {
    throw new Error('RecordingKernel starts no processes: create sandboxes without a command or with start: false');
  }
  async stopProcess(): Promise<void> {}
  isAlive(): boolean {
    return false;
  }
  async killNetnsProcesses(): Promise<void> {}
  /** Processes tests pretend exist, by PID. */
  readonly processes = new Map<number, ProcessInfo>();
  inspectProcess(pid: number): ProcessInfo | undefined {
    return this.processes.get(pid);
  }
  netnsIdentity(netns: string | null): string | undefined {
    if (netns === null) return 'net:[1]';
    return this.view.has(netns) ? `net:[${netns}]` : undefined;
  }
  /** Runtime processes tests pretend run in a mount namespace of their own. */
  readonly foreignMountNs = new Set<number>();
  runtimeNamespace(nsPath: string, pid?: number): { path: string; source?: string } {
    return pid !== undefined && this.foreignMountNs.has(pid) ? { path: nsPath, source: `/proc/${pid}/root${nsPath}` } : { path: nsPath };
  }
  async writeSandboxFiles(netns: string, files: Record<string, string>): Promise<void> {
    this.files.set(netns, files);
  }
  removeSandboxFiles(netns: string): void {
    this.files.delete(netns);
  }
  listSandboxFileDirs(): string[] {
    return [...this.files.keys()];
  }
  async probeLinkKinds(): Promise<Set<string>> {
    return new Set(['bridge', 'veth', 'macvlan', 'vxlan']);
  }
}

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

/** The store, in memory, with a switch to make the next write fail (a full disk). */
export class MemoryStore implements Store {
  readonly networks = new Map<string, NetworkRecord>();
  readonly sandboxes = new Map<string, SandboxRecord>();
  /** The next put throws this error (once). */
  failNextPut?: Error;

  load(): State {
    return { networks: new Map(clone([...this.networks])), sandboxes: new Map(clone([...this.sandboxes])) };
  }
  quarantined(): QuarantinedRecord[] {
    return [];
  }
  putNetwork(n: NetworkRecord): void {
    this.maybeFail();
    this.networks.set(n.id, clone(n));
  }
  tombstoneNetwork(n: NetworkRecord): void {
    this.maybeFail();
    this.networks.set(n.id, { ...clone(n), deleting: true });
  }
  deleteNetwork(id: string): void {
    this.networks.delete(id);
  }
  putSandbox(s: SandboxRecord): void {
    this.maybeFail();
    this.sandboxes.set(s.id, clone(s));
  }
  async putNetworkAsync(n: NetworkRecord): Promise<void> {
    this.putNetwork(n);
  }
  /** putSandboxAsync waits this long first (the disk's time). */
  asyncPutDelayMs = 0;
  async putSandboxAsync(s: SandboxRecord): Promise<void> {
    if (this.asyncPutDelayMs) await new Promise((r) => setTimeout(r, this.asyncPutDelayMs));
    this.putSandbox(s);
  }
  tombstoneSandbox(s: SandboxRecord): void {
    this.maybeFail();
    this.sandboxes.set(s.id, { ...clone(s), deleting: true });
  }
  deleteSandbox(id: string): void {
    this.sandboxes.delete(id);
  }
  private maybeFail(): void {
    const e = this.failNextPut;
    if (e) {
      this.failNextPut = undefined;
      throw e;
    }
  }
}

export interface TestEngine {
  engine: Engine;
  kernel: RecordingKernel;
  store: MemoryStore;
  stateDir: string;
  cleanup(): void;
}

/** An engine over the fakes, with bridge/host/none created as on a daemon's first start. */
export async function makeEngine(cfg: Partial<EngineConfig> = {}, { predefined = true } = {}): Promise<TestEngine> {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'yard-unit-'));
  const kernel = new RecordingKernel();
  const store = new MemoryStore();
  const engine = new Engine({ instance: 'u1', stateDir, dns: ['10.231.0.1'], dnsSearch: [], dnsOptions: [], ...cfg }, kernel, store);
  if (predefined) {
    await ensurePredefined(engine, { finishedRemovals: [], created: [], repaired: [], leftoversRemoved: [], errors: [] });
    kernel.calls.length = 0;
    kernel.events.length = 0;
  }
  return { engine, kernel, store, stateDir, cleanup: () => fs.rmSync(stateDir, { recursive: true, force: true }) };
}
