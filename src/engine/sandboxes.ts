/**
 * Sandboxes: create (validate, claim cluster addresses, the namespace and endpoints plan,
 * participants, resolv.conf and hosts, the process, commit), the process's life (started,
 * exited, the PID check), and removal (tombstone, stop, teardown, forget).
 */
import path from 'node:path';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import { step } from '../observe/steps.js';
import { YardError } from '../errors.js';
import { newId, nowRfc3339Nano, shortId, validateId, validateName } from '../model/ids.js';
import { SANDBOX_ENV, type RuntimeOwner, type SandboxRecord } from '../model/types.js';
import { getDriver } from '../drivers/index.js';
import { renderPlan, type Plan } from '../plan/ops.js';
import { randomName } from '../model/names.js';
import { applyPublishFrom, parsePortSpecs, type PortMapping } from '../model/ports.js';
import { validateAliases, validateSandboxInput } from '../model/validate.js';
import { sandboxNetnsName } from '../paths.js';
import { writeError } from '../store/store.js';
import { runChange } from './pipeline.js';
import { lookupTombstone, type EngineCore } from './core.js';
import type { SharedTurn } from './gate.js';
import { isDhcpNetwork } from './leases.js';
import { refuseRuntimeOwned, type AttachRequest, type Endpoints } from './endpoints.js';

export interface SandboxCreateRequest {
  name?: string;
  hostname?: string;
  networks?: AttachRequest[];
  command?: string[];
  detached?: boolean;
  /** false: create the sandbox but let the caller run the process (foreground `yard run`). */
  start?: boolean;
  dns?: string[];
  dnsSearch?: string[];
  dnsOptions?: string[];
  extraHosts?: string[];
  labels?: Record<string, string>;
  env?: Record<string, string>;
  /** Published ports, Docker's -p syntax; conflicts are checked by the firewall participant. */
  publish?: string[];
  /** `--publish-from`: `[HOST_PORT[/PROTO]=]SOURCE[,SOURCE...]`, limits the `publish` ports to these clients. */
  publishFrom?: string[];
  /** Published ports already parsed (the Docker plugin's port bindings); added to `publish`. */
  ports?: PortMapping[];
  dryRun?: boolean;
  /** The sandbox's ID (a runtime's own, e.g. Docker's endpoint ID); a new one by default. */
  id?: string;
  /** A namespace a container runtime owns (see RuntimeOwner): no namespace, files or process of ours. */
  runtime?: RuntimeOwner;
}

/** A create found in its turn that it cannot run beside others (its networks changed meanwhile). */
class NotShareable extends Error {}

export class Sandboxes {
  constructor(
    private readonly core: EngineCore,
    private readonly endpoints: Endpoints,
  ) {}

  /**
   * Creates that cannot meet run side by side (see mayShare); the rest one at a time. Two
   * creates beside each other take their names, IDs and addresses in their turns (held in
   * the sandbox table until the record is committed); their kernel work overlaps.
   */
  create(req: SandboxCreateRequest): Promise<{ sb: SandboxRecord; plan: string[] }> {
    if (!this.mayShare(req)) return this.core.serial(() => this.createIn(req));
    return this.core.shared((s) => this.createIn(req, s)).catch((e: unknown) => {
      // The networks changed between the request's arrival and its turn: run it alone.
      if (e instanceof NotShareable) return this.core.serial(() => this.createIn(req));
      throw e;
    });
  }

  /**
   * Whether a create may run beside other creates: it publishes no port (the firewall checks
   * ports against every other sandbox), is not a runtime's, and joins only this host's
   * networks whose addresses come from the daemon (no DHCP lease, no cluster store).
   */
  private mayShare(req: SandboxCreateRequest): boolean {
    if (req.runtime || req.publish?.length || req.ports?.length || req.publishFrom?.length) return false;
    try {
      const nets = (req.networks?.length ? req.networks : [{ network: 'bridge' }]).map((a) => this.core.findNetwork(a.network));
      if (nets.some((n) => n.scope === 'global' || isDhcpNetwork(n))) return false;
      return !this.core.cluster?.extraNetworks?.(nets).length;
    } catch {
      // An unknown network: the create alone says so.
      return false;
    }
  }

  private async createIn(req: SandboxCreateRequest, shared?: SharedTurn): Promise<{ sb: SandboxRecord; plan: string[] }> {
    const table = this.core.sandboxTable;
    const sb = shared
      ? await shared.turn(() => {
          const sb = this.validate(req);
          if (!this.mayShare(req)) throw new NotShareable();
          if (!req.dryRun) table.hold(sb);
          return sb;
        })
      : this.validate(req);
    try {
      const eps = Object.values(sb.endpoints);
      const plan = await runChange(this.core.pipeline, {
        change: { kind: 'sandbox.create', sb },
        what: `creating sandbox ${sb.name}`,
        dryRun: req.dryRun,
        reserve: () => this.endpoints.claimAddresses(sb, eps),
        release: () => this.endpoints.releaseAddresses(eps),
        acquire: () => this.endpoints.leases.acquireFor(sb, eps),
        plan: () => this.endpoints.sandboxPlan(sb),
        beside: async () => {
          const undo = async () => {
            if (sb.netns && !sb.runtime) this.core.kernel.removeSandboxFiles(sb.netns);
            fs.rmSync(this.sandboxDir(sb), { recursive: true, force: true });
          };
          // Both settle before anything is undone: a write still running would outlive its undo.
          const written = await Promise.allSettled([
            // A runtime writes its own container's resolv.conf and hosts.
            sb.netns && !sb.runtime ? this.core.kernel.writeSandboxFiles(sb.netns, this.core.sandboxFiles(sb)) : undefined,
            // With the file its process's output goes to: creating it on the daemon's thread
            // would wait there for the journal.
            fsp
              .mkdir(this.sandboxDir(sb), { recursive: true, mode: 0o700 })
              .then(() => (req.start !== false && sb.command.length ? fsp.writeFile(this.logFile(sb), '', { flag: 'a', mode: 0o600 }) : undefined))
              .catch((e: unknown) => {
                throw writeError(this.sandboxDir(sb), e);
              }),
          ]);
          const failed = written.find((w) => w.status === 'rejected');
          if (failed) {
            await undo();
            throw failed.reason;
          }
          return undo;
        },
        effects: () => {
          const started = req.start !== false && sb.command.length > 0;
          if (started) this.startProcess(sb, req.env);
          // Beside other creates, the record is written outside the turn: the next create's
          // participants see this sandbox meanwhile (liveView), until it is a record or undone.
          if (shared) table.markApplied(sb.id, true);
          return async () => {
            table.markApplied(sb.id, false);
            if (started && sb.pid) await this.core.kernel.stopProcess(sb.pid, sb.pidStart, 1000);
          };
        },
        // Beside other creates, the record's fsync runs off the daemon's thread, outside the turn.
        commit: shared
          ? async () => {
              await this.core.store.putSandboxAsync(sb);
              this.core.rememberSandbox(sb);
            }
          : () => this.core.commitSandbox(sb),
        ...(shared ? { turn: <T>(fn: () => T | Promise<T>) => shared.turn(fn) } : {}),
      });
      if (!req.dryRun) {
        this.endpoints.leases.track(sb);
        this.core.log(`sandbox ${sb.name} (${shortId(sb.id)}) created`);
      }
      return { sb, plan: renderPlan(plan) };
    } finally {
      // Nothing once committed (the record took the hold's place).
      table.unhold(sb.id);
    }
  }

  private validate(req: SandboxCreateRequest): SandboxRecord {
    // What reaches resolv.conf, hosts, DNS and the process: checked before anything else.
    const input = validateSandboxInput(req);
    let name: string;
    if (req.name) {
      name = validateName('sandbox', req.name, '--name');
      let other: SandboxRecord | undefined;
      for (const s of this.core.state.sandboxes.values()) {
        if (s.name === name && !s.deleting) {
          other = s;
          break;
        }
      }
      for (const s of this.core.sandboxTable.heldSandboxes()) if (s.name === name) other ??= s;
      if (other) {
        throw new YardError('SANDBOX_EXISTS', `the sandbox name "${name}" is already in use by sandbox ${shortId(other.id)}`, {
          field: '--name',
          hint: 'remove (yard rm -f) or rename that sandbox, or pick another name',
        });
      }
    } else {
      const taken = new Set([...this.core.sandboxes(), ...this.core.sandboxTable.heldSandboxes()].map((s) => s.name));
      do name = randomName();
      while (taken.has(name));
    }
    const attach: AttachRequest[] = req.networks?.length ? [...req.networks] : [{ network: 'bridge' }];
    const seen = new Set<string>();
    const nets = attach.map((a) => {
      const net = this.core.findNetwork(a.network);
      if (seen.has(net.id)) {
        throw new YardError('INVALID_ARGUMENT', `network ${net.name} is given twice`, { field: '--network', hint: 'name each network once' });
      }
      seen.add(net.id);
      return net;
    });
    // Overlay-only sandboxes also join the host's gateway bridge (Docker's docker_gwbridge).
    for (const extra of this.core.cluster?.extraNetworks?.(nets) ?? []) {
      if (seen.has(extra.id)) continue;
      nets.push(extra);
      attach.push({ network: extra.id });
    }
    const command = input.command;
    if (req.start !== false && req.detached && !command.length) {
      throw new YardError('INVALID_ARGUMENT', 'no command given for a detached sandbox', { field: 'COMMAND', hint: 'add the command after --, e.g. `yard run -d -- sleep 1000`' });
    }
    for (const a of attach) validateAliases(a.aliases, '--network-alias');
    const ports = [...parsePortSpecs(req.publish ?? []), ...(req.ports ?? [])];
    applyPublishFrom(ports, req.publishFrom ?? []);
    const id = req.id === undefined ? newId() : validateId('sandbox', req.id);
    if (this.core.state.sandboxes.has(id) || this.core.sandboxTable.isHeld(id)) {
      throw new YardError('SANDBOX_EXISTS', `a sandbox with ID ${shortId(id)} already exists`, { field: 'id', hint: 'remove it first, or give another ID' });
    }
    const hostMode = nets.some((n) => getDriver(n.driver).attach === 'host');
    if (req.runtime?.container !== undefined && !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(req.runtime.container)) {
      throw new YardError('INVALID_ARGUMENT', `container ID ${JSON.stringify(req.runtime.container.slice(0, 80))} is not 1 to 128 letters, digits, _ . or -`, { field: 'container', hint: "give the runtime's container ID" });
    }
    if (req.runtime?.mode === 'configure' && (!req.runtime.path?.startsWith('/') || req.runtime.path.includes('\0') || req.runtime.path.length > 4096)) {
      throw new YardError('INVALID_ARGUMENT', `the runtime's namespace ${JSON.stringify(req.runtime.path ?? '')} is not an absolute path`, { field: 'netns', hint: 'give the path of the network namespace file, e.g. /run/netns/<name>' });
    }
    if (req.runtime?.source !== undefined && !/^\/proc\/[1-9][0-9]*\/root\//.test(req.runtime.source)) {
      throw new YardError('INVALID_ARGUMENT', `the runtime's namespace source ${JSON.stringify(req.runtime.source.slice(0, 80))} is not /proc/<pid>/root/<path>`, { field: 'pid', hint: "give the calling runtime's own PID" });
    }
    if (req.runtime && (hostMode || nets.some((n) => getDriver(n.driver).attach !== 'interface'))) {
      throw new YardError('NETWORK_MODE_EXCLUSIVE', `a runtime's sandbox joins only networks that give it an interface (not host or none)`, { field: '--network', hint: "use the runtime's own host and none networks" });
    }
    const sb: SandboxRecord = {
      id,
      name,
      created: nowRfc3339Nano(),
      netns: hostMode || req.runtime?.mode === 'handover' ? null : sandboxNetnsName(this.core.cfg.instance, id, !!req.runtime),
      hostname: input.hostname || id.slice(0, 12),
      command,
      detached: !!req.detached,
      status: 'created',
      dns: input.dns,
      dnsSearch: input.dnsSearch,
      dnsOptions: input.dnsOptions,
      extraHosts: [],
      labels: input.labels,
      endpoints: {},
      ...(ports.length ? { ports } : {}),
      ...(req.runtime ? { runtime: { ...req.runtime } } : {}),
    };
    nets.forEach((net, i) => {
      const ep = this.endpoints.prepare(net, sb, attach[i]!, i);
      sb.endpoints[net.id] = ep;
    });
    sb.extraHosts = input.extraHosts.map((h) => this.resolveHostGateway(h, sb));
    return sb;
  }

  /** `host-gateway` in --add-host means the gateway of the sandbox's default route. */
  private resolveHostGateway(h: string, sb: SandboxRecord): string {
    const [name, ip] = [h.slice(0, h.indexOf(':')), h.slice(h.indexOf(':') + 1)];
    if (ip !== 'host-gateway') return h;
    const gw = this.endpoints.gatewayEndpoint(sb);
    const pool = gw && this.core.state.networks.get(gw.networkId)?.ipam.config.find((p) => p.gateway && !p.subnet.includes(':'));
    if (!pool?.gateway) {
      throw new YardError('INVALID_ARGUMENT', `--add-host ${h}: the sandbox has no gateway to point host-gateway at`, { field: '--add-host', hint: 'give an explicit address' });
    }
    return `${name}:${pool.gateway}`;
  }

  sandboxDir(sb: SandboxRecord): string {
    return path.join(this.core.cfg.stateDir, 'sandboxes', sb.id + '.d');
  }
  logFile(sb: SandboxRecord): string {
    return path.join(this.sandboxDir(sb), 'output.log');
  }

  private startProcess(sb: SandboxRecord, env?: Record<string, string>): void {
    const started = this.core.kernel.startProcess(sb.netns, sb.command, this.logFile(sb), { ...process.env, ...env, [SANDBOX_ENV]: sb.id });
    sb.pid = started.pid;
    sb.pidStart = started.pidStart;
    sb.status = 'running';
    sb.startedAt = nowRfc3339Nano();
    started.onExit((code, signal) => {
      const exitCode = code ?? (signal ? 128 + (osSignal(signal) ?? 0) : 0);
      const finishedAt = nowRfc3339Nano();
      this.core.serial(async () => {
        const cur = this.core.state.sandboxes.get(sb.id);
        if (!cur || cur.pid !== started.pid || cur.deleting) return;
        this.core.commitSandbox({ ...cur, status: 'exited', exitCode, finishedAt });
      }).catch((e) => this.core.log(`sandbox ${sb.name}: recording its exit: ${(e as Error).message}`));
    });
  }
  /**
   * Record a process the CLI started itself (foreground run). Only a process started for
   * this sandbox is accepted: it carries `YARD_SANDBOX=<id>` in its environment and runs
   * in the sandbox's namespace (the daemon's own for a host-network sandbox). Its start
   * time is recorded, so removal never signals another process that reuses the PID.
   */
  async markStarted(ref: string, pid: number): Promise<SandboxRecord> {
    const sb = this.core.findSandbox(ref);
    const pidStart = await this.verifySandboxProcess(sb, pid);
    return this.core.serial(async () => {
      const cur = this.core.findSandbox(sb.id);
      const next: SandboxRecord = { ...cur, pid, pidStart, status: 'running', startedAt: nowRfc3339Nano() };
      this.core.commitSandbox(next);
      return next;
    });
  }

  private async verifySandboxProcess(sb: SandboxRecord, pid: number): Promise<string> {
    const refuse = (why: string) =>
      new YardError('PROCESS_NOT_IN_SANDBOX', `pid ${pid} ${why}`, {
        field: 'pid',
        hint: `report only the PID of the process started for sandbox ${sb.name} (yard run does this itself)`,
      });
    const want = this.core.kernel.netnsIdentity(sb.netns);
    if (!want) throw refuse(`cannot be checked: sandbox ${sb.name} has no namespace`);
    // Two moments to wait for, briefly. The CLI learns the PID once the program's exec has
    // begun, and until the kernel has set the new program up its environment reads empty.
    // Started through `ip netns exec` (where the CLI cannot enter the sandbox itself), the
    // process enters the namespace a moment after that.
    const notStarted = () => refuse(`was not started for sandbox ${sb.name} (no ${SANDBOX_ENV}=<its id> in its environment)`);
    const deadline = Date.now() + 2_000;
    for (let wait = 1; ; wait = Math.min(wait * 2, 50)) {
      const p = this.core.kernel.inspectProcess(pid);
      if (!p) throw refuse('is not a running process');
      const settingUp = p.environ.size === 0;
      if (!settingUp && p.environ.get(SANDBOX_ENV) !== sb.id) throw notStarted();
      if (!settingUp && p.netns === want) return p.start;
      if (Date.now() > deadline) throw settingUp ? notStarted() : refuse(`does not run in sandbox ${sb.name}'s network namespace`);
      await new Promise((r) => setTimeout(r, wait));
    }
  }

  /**
   * Publish a runtime's sandbox's ports (Docker's ProgramExternalConnectivity), or none:
   * checked and loaded by the firewall like `-p` at create, then stored.
   */
  setPorts(id: string, ports: PortMapping[]): Promise<SandboxRecord> {
    return this.core.serial(async () => {
      const cur = this.core.findSandbox(id);
      const { ports: _old, ...rest } = cur;
      const next: SandboxRecord = ports.length ? { ...rest, ports: ports.map((p) => ({ ...p })) } : rest;
      await runChange(this.core.pipeline, {
        change: { kind: 'sandbox.ports', sb: next },
        what: `publishing the ports of ${cur.name}`,
        plan: () => [],
        commit: () => this.core.commitSandbox(next),
      });
      return next;
    });
  }

  /** A runtime took the sandbox's interfaces into its namespace (`path`), or gave them back (undefined). */
  setRuntimePath(id: string, path: string | undefined): Promise<SandboxRecord> {
    return this.core.serial(async () => {
      const cur = this.core.findSandbox(id);
      if (!cur.runtime) throw new YardError('INVALID_ARGUMENT', `sandbox ${cur.name} is not a runtime's`, { field: 'id', hint: 'name a sandbox a runtime created' });
      const { path: _old, ...rest } = cur.runtime;
      const next: SandboxRecord = { ...cur, runtime: path ? { ...rest, path } : rest };
      this.core.commitSandbox(next);
      return next;
    });
  }

  markExited(ref: string, code: number): Promise<SandboxRecord> {
    return this.core.serial(async () => {
      const next: SandboxRecord = { ...this.core.findSandbox(ref), status: 'exited', exitCode: code, finishedAt: nowRfc3339Nano() };
      this.core.commitSandbox(next);
      return next;
    });
  }

  /**
   * A sandbox as it is now: its status from /proc (its process may have ended while the
   * daemon was down). A view: the stored record is unchanged (see persistStatus).
   */
  refresh(sb: SandboxRecord): SandboxRecord {
    // A runtime's container runs while its namespace is ours to configure (configure mode)
    // or joined (handover mode); the runtime, not a process of ours, says when it stops.
    if (sb.runtime && sb.status !== 'running' && (sb.runtime.mode === 'configure' || sb.runtime.path)) {
      return { ...sb, status: 'running', startedAt: sb.startedAt ?? sb.created };
    }
    // A process that has just exited but is not reaped yet still counts as running: its
    // exit code is recorded when the daemon reaps it, and reading it as exited before that
    // would show the exit without its code.
    if (sb.status === 'running' && sb.pid && !this.core.kernel.isAlive(sb.pid, sb.pidStart || undefined) && !this.core.kernel.unreaped?.(sb.pid)) {
      return { ...sb, status: 'exited', finishedAt: sb.finishedAt ?? nowRfc3339Nano() };
    }
    return sb;
  }

  /** `byRuntime`: the runtime that owns the sandbox removes it (the Docker plugin); users cannot. */
  remove(ref: string, force = false, byRuntime = false): Promise<void> {
    return this.core.serial(async () => {
      let sb: SandboxRecord;
      try {
        sb = this.refresh(this.core.findSandbox(ref));
      } catch (e) {
        const unfinished = lookupTombstone([...this.core.state.sandboxes.values()], ref);
        if (unfinished) return this.tearDown(unfinished);
        throw e;
      }
      if (!byRuntime) refuseRuntimeOwned(sb, 'removed');
      if (sb.status === 'running' && !force) {
        throw new YardError('SANDBOX_RUNNING', `you cannot remove a running sandbox ${sb.name} (${shortId(sb.id)})`, {
          hint: 'stop it first, or force the removal with yard rm -f',
        });
      }
      await this.tearDown(sb);
    });
  }
  /** Tombstone, stop, teardown, forget. Also finishes interrupted removals at start. As tearDownNetwork. */
  async tearDown(live: SandboxRecord): Promise<void> {
    step('pre');
    if (!live.deleting) this.core.store.tombstoneSandbox(live);
    const sb: SandboxRecord = { ...live, deleting: true };
    this.core.state.sandboxes.set(sb.id, sb);
    step('tombstone');
    // Only a process whose start time was recorded is signalled: a bare PID may by now be
    // anyone's. Processes inside the sandbox's namespace are stopped below in any case.
    if (sb.pid && sb.pidStart) await this.core.kernel.stopProcess(sb.pid, sb.pidStart);
    step('stop');
    // DHCP leases go back while the interfaces still hold their addresses.
    await this.endpoints.leases.releaseAll(sb);
    await this.core.applyRemoval({ kind: 'sandbox.remove', sb });
    const plan: Plan = [];
    for (const ep of Object.values(sb.endpoints)) {
      const net = this.core.state.networks.get(ep.networkId);
      if (net) plan.push(...getDriver(net.driver).planLeave(net, sb, ep));
    }
    if (sb.netns) {
      // Processes the sandbox's command forked are in the namespace too; a runtime's
      // processes are the runtime's, and its namespace is only detached from our name.
      if (!sb.runtime) await this.core.kernel.killNetnsProcesses(sb.netns);
      step('kill-rest');
      plan.push({ op: 'netns.del', name: sb.netns });
    }
    // Deleting the namespace destroys the host end of each veth too (in the kernel's
    // cleanup work, off our clock): an explicit `link del` would cost 12-20 ms for nothing.
    // Links inside the sandbox are still deleted first: a macvlan child left to the
    // cleanup work keeps its MAC on the parent for a while, and the next sandbox given
    // the same address (so the same MAC) would be refused with "Address already in use".
    // A runtime's namespace lives on: there every link is deleted explicitly.
    const teardown = sb.netns && !sb.runtime ? plan.filter((op) => op.op !== 'link.del' || !!op.ns) : plan;
    const errors = await this.core.kernel.applyBestEffort(teardown, { deferDeletes: true });
    for (const e of errors) if (!/Cannot find device|No such file/.test(e)) this.core.log(`sandbox ${sb.name} teardown: ${e}`);
    step('kernel');
    if (sb.netns && !sb.runtime) this.core.kernel.removeSandboxFiles(sb.netns);
    fs.rmSync(this.sandboxDir(sb), { recursive: true, force: true });
    step('files');
    this.core.store.deleteSandbox(sb.id);
    this.core.state.sandboxes.delete(sb.id);
    step('forget');
    this.core.log(`sandbox ${sb.name} (${shortId(sb.id)}) removed`);
  }
}

function osSignal(sig: NodeJS.Signals): number | undefined {
  const map: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };
  return map[sig];
}
