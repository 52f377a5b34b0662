/**
 * The engine: Switchyard's use cases, for the front doors (the API server, the daemon,
 * the cluster agent). It is a thin front over one room per entity:
 *
 *   networks.ts   create, adopt, remove, prune
 *   endpoints.ts  prepare, connect, disconnect, the namespace plan of a sandbox
 *   sandboxes.ts  create, the process's life, remove
 *
 * which share core.ts (state, store, kernel, queue, participants) and run every creating
 * mutation through pipeline.ts once: validate -> reserve -> plan -> apply -> participants
 * -> effects -> commit, compensated in reverse on failure. Removals are tombstone,
 * best-effort teardown, forget, so a crash mid-removal is finished by the next start
 * (reconcile.ts). Mutations run one at a time, in arrival order.
 */
import type { Kernel } from '../kernel/index.js';
import type { Store } from '../store/store.js';
import type { EndpointRecord, NetworkRecord, RuntimeOwner, SandboxRecord, State } from '../model/types.js';
import type { Plan } from '../plan/ops.js';
import type { PortMapping } from '../model/ports.js';
import type { Underlay } from '../drivers/contract.js';
import { EngineCore, type ClusterSeam, type EngineConfig } from './core.js';
import { Networks, type NetworkCreateOptions, type NetworkCreateRequest, type NetworkCreated } from './networks.js';
import { Endpoints, type AttachRequest } from './endpoints.js';
import { Sandboxes, type SandboxCreateRequest } from './sandboxes.js';
import type { EngineLink, Participant, StateView } from './participants.js';
import { observed, type OperationObserver } from './operations.js';

export type { ClusterSeam, EngineConfig } from './core.js';
export type { NetworkCreateRequest, NetworkCreated } from './networks.js';
export type { AttachRequest } from './endpoints.js';
export type { SandboxCreateRequest } from './sandboxes.js';
export type { OperationEvent, OperationObserver } from './operations.js';

export class Engine {
  private readonly core: EngineCore;
  private readonly networkRoom: Networks;
  private readonly endpointRoom: Endpoints;
  private readonly sandboxRoom: Sandboxes;
  /** Told of every operation of this front once it has ended: its duration and outcome (the daemon's log and metrics). */
  onOperation?: OperationObserver;

  constructor(cfg: EngineConfig, kernel: Kernel, store: Store, state?: State) {
    this.core = new EngineCore(cfg, kernel, store, state);
    this.networkRoom = new Networks(this.core);
    this.endpointRoom = new Endpoints(this.core);
    this.sandboxRoom = new Sandboxes(this.core, this.endpointRoom);
  }

  // ------------------------------------------------------------ wiring (the daemon)

  get cfg(): Readonly<EngineConfig> {
    return this.core.cfg;
  }
  get state(): State {
    return this.core.state;
  }
  get kernel(): Kernel {
    return this.core.kernel;
  }
  get store(): Store {
    return this.core.store;
  }
  get log(): (msg: string) => void {
    return this.core.log;
  }
  set log(fn: (msg: string) => void) {
    this.core.log = fn;
  }
  get participants(): readonly Participant[] {
    return this.core.participants;
  }
  /** What participants and the cluster agent may use of the engine. */
  get link(): EngineLink {
    return this.core.link;
  }
  get linkKinds(): ReadonlySet<string> {
    return this.core.linkKinds;
  }
  set linkKinds(kinds: ReadonlySet<string>) {
    this.core.linkKinds = kinds;
  }
  get cluster(): ClusterSeam | undefined {
    return this.core.cluster;
  }

  addParticipant(p: Participant): void {
    this.core.participants.push(p);
  }
  /** The daemon runs with --cluster-store: global networks go through this seam. */
  setCluster(seam: ClusterSeam): void {
    this.core.cluster = seam;
  }
  /** This host's VXLAN underlay, once the cluster agent has resolved --cluster-advertise. */
  setUnderlay(u: Underlay | null): void {
    this.core.underlay = u;
  }
  serial<T>(fn: () => Promise<T>): Promise<T> {
    return this.core.serial(fn);
  }

  // ------------------------------------------------------------ lookups

  networks(): NetworkRecord[] {
    return this.core.networks();
  }
  sandboxes(): SandboxRecord[] {
    return this.core.sandboxes();
  }
  findNetwork(ref: string): NetworkRecord {
    return this.core.findNetwork(ref);
  }
  findSandbox(ref: string): SandboxRecord {
    return this.core.findSandbox(ref);
  }
  endpointsOf(networkId: string): { sb: SandboxRecord; ep: EndpointRecord }[] {
    return this.core.endpointsOf(networkId);
  }
  /** The committed state as read-only maps (live records only). */
  view(): StateView {
    return this.core.link.view();
  }
  planEnv(): ReturnType<EngineCore['planEnv']> {
    return this.core.planEnv();
  }

  // ------------------------------------------------------------ networks

  createNetwork(req: NetworkCreateRequest, opts: NetworkCreateOptions = {}): Promise<NetworkCreated> {
    return observed(this.onOperation, 'network.create', { network: req.name, driver: req.driver ?? 'bridge' }, () => this.networkRoom.create(req, opts), {
      dryRun: req.dryRun,
      more: (r) => ({ id: r.net.id }),
    });
  }
  adoptNetwork(net: NetworkRecord): Promise<void> {
    return observed(this.onOperation, 'network.adopt', { network: net.name, id: net.id, driver: net.driver }, () => this.networkRoom.adopt(net));
  }
  removeNetwork(ref: string): Promise<void> {
    return observed(this.onOperation, 'network.remove', { network: ref }, () => this.networkRoom.remove(ref));
  }
  pruneNetworks(filter?: (n: NetworkRecord) => boolean): Promise<string[]> {
    return observed(this.onOperation, 'network.prune', {}, () => this.networkRoom.prune(filter), { more: (r) => ({ removed: r.length }) });
  }
  /** Inside the queue: finish a removal (reconcile, the cluster agent). */
  tearDownNetwork(net: NetworkRecord): Promise<void> {
    return this.networkRoom.tearDown(net);
  }

  // ------------------------------------------------------------ endpoints

  connect(netRef: string, sbRef: string, req: Omit<AttachRequest, 'network'> = {}, dryRun = false, byRuntime?: RuntimeOwner['kind']): Promise<{ plan: string[] }> {
    return observed(this.onOperation, 'network.connect', { network: netRef, sandbox: sbRef, runtime: byRuntime }, () => this.endpointRoom.connect(netRef, sbRef, req, dryRun, byRuntime), { dryRun });
  }
  disconnect(netRef: string, sbRef: string, force = false, byRuntime?: RuntimeOwner['kind']): Promise<void> {
    return observed(this.onOperation, 'network.disconnect', { network: netRef, sandbox: sbRef, runtime: byRuntime }, () => this.endpointRoom.disconnect(netRef, sbRef, force, byRuntime));
  }
  /** Full plan to bring a sandbox's namespace and all its endpoints up (run and reconcile). */
  sandboxPlan(sb: SandboxRecord): Plan {
    return this.endpointRoom.sandboxPlan(sb);
  }
  /** DHCP leases: ask again for every recorded lease and keep them renewed (daemon start, after reconcile). */
  startLeases(): void {
    this.endpointRoom.leases.start();
  }
  /** Daemon shutdown: renewal timers stop; the leases stay recorded for the next start. */
  stopLeases(): void {
    this.endpointRoom.leases.stop();
  }

  // ------------------------------------------------------------ sandboxes

  /** Reported as `sandbox.run` when it has a command (yard run), `sandbox.create` otherwise. */
  createSandbox(req: SandboxCreateRequest): Promise<{ sb: SandboxRecord; plan: string[] }> {
    const op = req.command?.length ? 'sandbox.run' : 'sandbox.create';
    return observed(this.onOperation, op, { sandbox: req.name, runtime: req.runtime?.kind }, () => this.sandboxRoom.create(req), {
      dryRun: req.dryRun,
      more: (r) => ({ sandbox: r.sb.name, id: r.sb.id, ...(r.sb.pid ? { pid: r.sb.pid } : {}) }),
    });
  }
  removeSandbox(ref: string, force = false, byRuntime = false): Promise<void> {
    return observed(this.onOperation, 'sandbox.remove', { sandbox: ref, force, byRuntime }, () => this.sandboxRoom.remove(ref, force, byRuntime));
  }
  /** A runtime's sandbox's published ports (Docker's ProgramExternalConnectivity); [] withdraws them. */
  setPorts(id: string, ports: PortMapping[]): Promise<SandboxRecord> {
    return observed(this.onOperation, 'sandbox.ports', { sandbox: id, ports: ports.length }, () => this.sandboxRoom.setPorts(id, ports));
  }
  /** A runtime's sandbox joined its namespace at `path` (Docker's Join), or left it (undefined). */
  setRuntimePath(id: string, path: string | undefined): Promise<SandboxRecord> {
    return observed(this.onOperation, 'sandbox.join', { sandbox: id, joined: path !== undefined }, () => this.sandboxRoom.setRuntimePath(id, path));
  }
  /** Inside the queue: finish a removal (reconcile). */
  tearDownSandbox(sb: SandboxRecord): Promise<void> {
    return this.sandboxRoom.tearDown(sb);
  }
  markStarted(ref: string, pid: number): Promise<SandboxRecord> {
    return observed(this.onOperation, 'sandbox.start', { sandbox: ref, pid }, () => this.sandboxRoom.markStarted(ref, pid));
  }
  markExited(ref: string, code: number): Promise<SandboxRecord> {
    return observed(this.onOperation, 'sandbox.exit', { sandbox: ref, exitCode: code }, () => this.sandboxRoom.markExited(ref, code));
  }
  /** A sandbox as it is now (its process may have ended): a view, the record is unchanged. */
  refresh(sb: SandboxRecord): SandboxRecord {
    return this.sandboxRoom.refresh(sb);
  }
  sandboxFiles(sb: SandboxRecord): Record<string, string> {
    return this.core.sandboxFiles(sb);
  }
  sandboxDir(sb: SandboxRecord): string {
    return this.sandboxRoom.sandboxDir(sb);
  }
  logFile(sb: SandboxRecord): string {
    return this.sandboxRoom.logFile(sb);
  }
}
