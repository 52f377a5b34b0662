/**
 * `yard daemon`: one per host namespace. Start-up order: lock the state directory, load
 * the state, reconcile the kernel to it (finishing interrupted removals, re-creating what
 * is missing, removing leftovers), create the predefined networks on first start, then
 * serve the API on the instance's unix socket (mode 0660). SIGTERM/SIGINT stop the API;
 * sandbox processes keep running and are adopted again by the next start.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { getRequestListener } from '@hono/node-server';
import { YardError } from '../errors.js';
import { Engine } from '../engine/engine.js';
import { ensurePredefined, reconcile, reconcileParticipants, releaseGoneRuntimeSandboxes, type ReconcileReport } from '../engine/reconcile.js';
import { LinuxKernel, onDeferredError } from '../kernel/index.js';
import { JsonStore } from '../store/store.js';
import { answerClientErrors, createApp, withLingeringClose } from '../api/server.js';
import { EmbeddedDns } from '../dns/resolver.js';
import { FirewallParticipant } from '../firewall/participant.js';
import { openNft } from '../kernel/nft.js';
import type { Doctor } from '../doctor/doctor.js';
import { TABLE, USER_CHAIN, USER_TABLE } from '../firewall/render.js';
import { HostFirewallKernel } from '../kernel/host-firewall.js';
import type { HostFirewallMode } from '../firewall/host-firewall.js';
import { sandboxNetnsPrefix, socketPathFor, stateDirFor } from '../paths.js';
import { VERSION } from '../version.js';
import { closeShellPool, enableShellPool } from '../kernel/shell.js';
import { closeNetnsPool, enableNetnsPool } from '../kernel/netns.js';
import { raiseNofileLimit } from '../kernel/netns-socket.js';
import type { OverlayAgent, RemoteSandboxSink } from '../cluster/agent.js';
import { serveDockerPlugin } from './docker-plugin.js';
import { resolveGroup } from './socket-group.js';
import { recordHostSysctls } from './host-sysctls.js';
import { DockerNames, dockerSocketBeside } from '../plugin/docker-names.js';
import { DOCKER_PLUGIN_SOCKET_DIR } from '../plugin/plugin-location.js';
import { recordSteps } from '../observe/steps.js';
import { createDaemonLog, operationMessage, type LogFormat, type LogLevel } from '../observe/log.js';
import { DaemonMetrics, parseMetricsListen } from '../observe/metrics.js';
import { daemonV8Flags, MemoryHygiene } from './memory.js';

/** How often the daemon looks for runtime sandboxes whose namespace went without a Leave. */
export const RUNTIME_WATCH_MS = 3_000;

export interface DaemonOptions {
  instance: string;
  stateDir?: string;
  socket?: string;
  dns?: string[];
  dnsSearch?: string[];
  dnsOptions?: string[];
  /** The default bridge's subnet on first start (default 172.17.0.0/16). */
  defaultBridgeSubnet?: string;
  /** fsync every state write (default true). */
  durable?: boolean;
  /** etcd://host:port[,...]: enables global (overlay) networks. */
  clusterStore?: string;
  /** Interface (or address) whose address is this host's VTEP; required with clusterStore. */
  clusterAdvertise?: string;
  /**
   * Where to serve the Docker network and IPAM plugin's sockets (dockerd looks in
   * /run/docker/plugins, the default); null: no plugin.
   */
  dockerPluginDir?: string | null;
  /** The plugin's base name (default switchyard; the global one adds -global). */
  dockerPluginName?: string;
  /** `--host-firewall`: the host's other firewalls (docs/firewall.md). Default accept. */
  hostFirewall?: HostFirewallMode;
  /** `--ui 127.0.0.1:PORT`: also serve the topology page on this loopback address (ui/listen.ts). */
  ui?: string;
  /** Group (name or GID) that owns the API socket (mode 0660): its members may use the API. */
  socketGroup?: string;
  /** json or text (pino-pretty); default text on a terminal, else json. Ignored with `log`. */
  logFormat?: LogFormat;
  /** Default info. Ignored with `log`. */
  logLevel?: LogLevel;
  /** ADDRESS:PORT on loopback: serve GET /metrics over TCP there too (the API socket always does). */
  metricsListen?: string;
  /** Instead of the daemon's own log (pino on stderr): every line as a plain message. */
  log?: (msg: string) => void;
}

export interface RunningDaemon {
  socket: string;
  engine: Engine;
  report: ReconcileReport;
  close(): Promise<void>;
}

function defaultUpstreams(): string[] {
  // Docker's rule: the host's resolv.conf minus loopback servers (unreachable from a sandbox).
  try {
    return fs
      .readFileSync('/etc/resolv.conf', 'utf8')
      .split('\n')
      .map((l) => /^\s*nameserver\s+(\S+)/.exec(l)?.[1])
      .filter((s): s is string => !!s && !s.startsWith('127.') && s !== '::1');
  } catch {
    return [];
  }
}

function lockStateDir(dir: string, log: (m: string) => void): () => void {
  const pidFile = path.join(dir, 'daemon.pid');
  try {
    const pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
    if (pid && pid !== process.pid && fs.existsSync(`/proc/${pid}`)) {
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      const state = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0];
      if (cmd.includes('daemon') && state !== 'Z') {
        throw new YardError('DAEMON_RUNNING', `a daemon (PID ${pid}) already runs with state directory ${dir}`, {
          hint: 'stop it first, or give this one another --instance/--state-dir',
        });
      }
    }
  } catch (e) {
    if (e instanceof YardError) throw e;
  }
  try {
    fs.writeFileSync(pidFile, String(process.pid));
  } catch (e) {
    // A read-only or full state directory: still start and serve reads; every change
    // then answers STATE_WRITE_FAILED naming the cause.
    log(`warning: cannot write ${pidFile} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); changes will fail until the state directory is writable`);
  }
  return () => {
    try {
      if (fs.readFileSync(pidFile, 'utf8').trim() === String(process.pid)) fs.rmSync(pidFile);
    } catch {
      /* already gone */
    }
  };
}

async function startClusterAgent(engine: Engine, opts: DaemonOptions, dnsSink: RemoteSandboxSink): Promise<OverlayAgent | undefined> {
  if (!opts.clusterStore && !opts.clusterAdvertise) return undefined;
  if (!opts.clusterStore || !opts.clusterAdvertise) {
    const missing = opts.clusterStore ? '--cluster-advertise' : '--cluster-store';
    throw new YardError('INVALID_ARGUMENT', `${missing} is missing: --cluster-store and --cluster-advertise go together`, {
      field: missing,
      hint: 'e.g. --cluster-store etcd://10.231.0.1:2379 --cluster-advertise lan0',
    });
  }
  // Loaded only for a cluster member: its code (and etcd's client) is not needed otherwise.
  const [{ parseStoreUrl }, { OverlayAgent }] = await Promise.all([import('../cluster/etcd-client.js'), import('../cluster/agent.js')]);
  parseStoreUrl(opts.clusterStore);
  const agent = await OverlayAgent.create(engine, { store: opts.clusterStore, advertise: opts.clusterAdvertise, dnsSink });
  engine.addParticipant(agent);
  return agent;
}

export async function startDaemon(opts: DaemonOptions): Promise<RunningDaemon> {
  // Checked before anything is touched: a refused --ui changes nothing. (Loaded only with --ui.)
  const uiListen = opts.ui ? await import('../ui/listen.js') : undefined;
  const uiAddress = opts.ui ? uiListen!.parseUiAddress(opts.ui) : undefined;
  if (process.getuid?.() !== 0) {
    throw new YardError('NOT_ROOT', 'the daemon must run as root', { hint: 'run it with sudo, or as root' });
  }
  // Checked before anything is touched.
  const metricsListen = opts.metricsListen === undefined ? undefined : parseMetricsListen(opts.metricsListen);
  const daemonLog = opts.log ? undefined : createDaemonLog({ format: opts.logFormat, level: opts.logLevel });
  const log = opts.log ?? daemonLog!.log;
  recordSteps(opts.logLevel === 'debug' || opts.logLevel === 'trace');
  const stateDir = opts.stateDir ?? stateDirFor(opts.instance);
  const socket = opts.socket ?? socketPathFor(opts.instance);
  // Checked before anything changes: a group that does not exist is a refusal.
  const socketGid = opts.socketGroup === undefined ? undefined : resolveGroup(opts.socketGroup);
  fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const unlock = lockStateDir(stateDir, log);
  // Descriptors: the soft limit up to the hard one; the resolver's TCP caps derive from it.
  try {
    const { before, after } = raiseNofileLimit();
    log(`descriptor limit (RLIMIT_NOFILE): ${after.soft}${before.soft !== after.soft ? ` (raised from ${before.soft})` : ''}, hard ${after.hard}`);
  } catch (e) {
    log(`warning: cannot raise the descriptor limit: ${(e as Error).message}`);
  }
  // Kernel commands go through a few long-lived shells instead of forking the daemon.
  enableShellPool();
  onDeferredError((m) => log(`warning: ${m}`));
  try {
    const store = new JsonStore(stateDir, opts.durable ?? true, sandboxNetnsPrefix(opts.instance));
    const engine = new Engine(
      {
        instance: opts.instance,
        stateDir,
        dns: opts.dns?.length ? opts.dns : defaultUpstreams(),
        dnsSearch: opts.dnsSearch ?? [],
        dnsOptions: opts.dnsOptions ?? [],
        ...(opts.defaultBridgeSubnet ? { defaultBridgeSubnet: opts.defaultBridgeSubnet } : {}),
        log,
      },
      new LinuxKernel(),
      store,
    );
    // Participants (firewall, DNS) are registered here, before reconcile, so that they
    // rebuild their state from the same truth.
    // The resolver's thread runs with the daemon's V8 settings (memory.ts).
    const dns = new EmbeddedDns({ threadV8Flags: daemonV8Flags() });
    log(`dns: at most ${dns.limits.tcpMax} TCP connections and ${dns.limits.upstreamTcpMax} upstream TCP sockets in all (descriptor limit ${dns.limits.nofile})`);
    engine.addParticipant(dns);
    const nft = openNft();
    const firewall = new FirewallParticipant(nft, { hostFirewall: opts.hostFirewall ?? 'accept', hostKernel: new HostFirewallKernel(nft) });
    engine.addParticipant(firewall);
    // Before reconcile: overlay networks in the state need the agent's underlay to be planned.
    const agent = await startClusterAgent(engine, opts, dns);
    // Every operation of the engine's front: one log line and the metrics.
    const metrics = new DaemonMetrics({
      state: () => {
        const sbs = engine.sandboxes();
        return { networks: engine.networks().length, sandboxes: sbs.length, publishedPorts: sbs.reduce((n, s) => n + (s.ports?.length ?? 0), 0) };
      },
      dns,
      firewall,
      ...(agent ? { cluster: agent } : {}),
    });
    // A full collection and a malloc trim after start-up and after a mass removal (memory.ts).
    const memory = new MemoryHygiene({ sandboxes: () => engine.sandboxes().length, log });
    // Counted and logged once the answer is on its way: the log line is a synchronous write
    // (nothing lost at exit), which a client need not wait for.
    engine.onOperation = (e) =>
      void setImmediate(() => {
        metrics.operation(e);
        if (daemonLog) daemonLog.operation(e);
        else log(operationMessage(e));
        memory.changed();
      });
    const t0 = performance.now();
    engine.linkKinds = await engine.kernel.probeLinkKinds(`${sandboxNetnsPrefix(opts.instance)}probe`);
    log(`kernel link kinds: ${[...engine.linkKinds].sort().join(', ')}`);
    for (const q of store.quarantined()) {
      log(`state: quarantined damaged ${q.kind} record ${q.file}: ${q.reason}; ${q.movedTo ? `moved to ${q.movedTo}` : 'left in place (read-only directory)'}; nothing it describes is touched`);
    }
    // What forwarding was before Switchyard first set it here: `yard uninstall` restores it.
    recordHostSysctls(stateDir, log);
    const report = await reconcile(engine);
    try {
      await ensurePredefined(engine, report);
    } catch (e) {
      report.errors.push(`creating the predefined networks: ${(e as Error).message}`);
    }
    await reconcileParticipants(engine, report);
    metrics.reconciled(report);
    engine.onOperation({
      operation: 'reconcile',
      outcome: 'ok',
      durationMs: performance.now() - t0,
      fields: { created: report.created.length, repaired: report.repaired.length, leftoversRemoved: report.leftoversRemoved.length, finishedRemovals: report.finishedRemovals.length, errors: report.errors.length },
    });
    for (const e of report.errors) log(`reconcile: ${e}`);
    await agent?.ensureGatewayBridge();
    agent?.start();
    engine.startLeases();
    // Fresh sandbox namespaces made while idle: a sandbox create only names one.
    if (!enableNetnsPool()) log('namespaces: libc unavailable through koffi; `ip netns` processes make them');

    let doctor: Promise<Doctor> | undefined;
    const loadDoctor = async () => {
      const [{ Doctor }, { kernelFacts }] = await Promise.all([import('../doctor/doctor.js'), import('../kernel/doctor-facts.js')]);
      return new Doctor({ view: () => engine.view(), findSandbox: (ref) => engine.findSandbox(ref), facts: kernelFacts({ ourTable: TABLE, userTable: USER_TABLE, userChain: USER_CHAIN }), dns, cluster: () => engine.cluster, ports: (sb) => firewall.explain(sb, engine.view()) });
    };
    const app = createApp(engine, () => ({
      instance: opts.instance,
      version: VERSION,
      pid: process.pid,
      socket,
      stateDir,
      dns: engine.cfg.dns,
      networks: engine.networks().length,
      sandboxes: engine.sandboxes().length,
      reconcile: report,
    }), {
      firewall,
      dns,
      dockerPlugin: opts.dockerPluginName,
      // Its checks load at the first `yard doctor`.
      doctor: { run: async (o) => (await (doctor ??= loadDoctor())).run(o) },
      metrics,
      ...(opts.dockerPluginDir === null ? {} : { dockerNames: new DockerNames(dockerSocketBeside(opts.dockerPluginDir ?? DOCKER_PLUGIN_SOCKET_DIR)) }),
    });
    fs.mkdirSync(path.dirname(socket), { recursive: true, mode: 0o755 });
    fs.rmSync(socket, { force: true });
    const server = http.createServer(withLingeringClose(getRequestListener(app.fetch)));
    answerClientErrors(server);
    server.keepAliveTimeout = 5000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socket, () => resolve());
    });
    if (socketGid !== undefined) fs.chownSync(socket, 0, socketGid);
    fs.chmodSync(socket, 0o660);
    log(`switchyard ${VERSION} instance ${opts.instance} listening on ${socket}`);
    const metricsServer = metricsListen && (await (await import('../observe/serve.js')).serveMetrics(metricsListen, metrics).catch(async (e) => {
      await new Promise<void>((r) => server.close(() => r()));
      fs.rmSync(socket, { force: true });
      throw e;
    }));
    if (metricsServer) log(`metrics: GET http://${metricsServer.address}/metrics`);
    const plugin = opts.dockerPluginDir === null ? undefined : await serveDockerPlugin(engine, { dir: opts.dockerPluginDir, base: opts.dockerPluginName, log }).catch(async (e) => {
      await metricsServer?.close();
      await new Promise<void>((r) => server.close(() => r()));
      fs.rmSync(socket, { force: true });
      throw e;
    });
    const ui = uiAddress && (await uiListen!.serveUi(app.fetch, uiAddress).catch(async (e) => {
      await plugin?.close();
      await new Promise<void>((r) => server.close(() => r()));
      fs.rmSync(socket, { force: true });
      throw e;
    }));
    if (ui) log(`topology page on http://${uiAddress!.host.includes(':') ? `[${uiAddress!.host}]` : uiAddress!.host}:${uiAddress!.port}/yard/ui/ (loopback only, read-only)`);
    // Containers that went without a Leave (a runtime that crashed): released within seconds.
    // Only while a runtime has sandboxes here, or had one in the last minute (a runtime may
    // give an interface back after it removed the endpoint).
    let runtimeSeen = 0;
    const watch = setInterval(() => {
      if (engine.sandboxes().some((s) => s.runtime)) runtimeSeen = Date.now();
      if (Date.now() - runtimeSeen > 60_000) return;
      releaseGoneRuntimeSandboxes(engine).then(
        (r) => {
          metrics.reconciled(r);
          for (const m of r.finishedRemovals) log(`runtime: ${m}`);
          for (const m of r.leftoversRemoved) log(`runtime: removed ${m} (given back with no endpoint)`);
          for (const m of r.errors) log(`runtime: ${m}`);
        },
        (e) => log(`runtime: checking the runtimes' sandboxes: ${(e as Error).message}`),
      );
    }, RUNTIME_WATCH_MS);
    watch.unref();
    memory.started();
    let closed = false;
    return {
      socket,
      engine,
      report,
      async close() {
        if (closed) return;
        closed = true;
        clearInterval(watch);
        memory.close();
        engine.stopLeases();
        process.once('exit', closeShellPool);
        await new Promise<void>((r) => {
          server.close(() => r());
          server.closeAllConnections();
        });
        await plugin?.close();
        await ui?.close();
        await metricsServer?.close();
        // Let queued mutations finish before the lock goes.
        await engine.serial(async () => {});
        // Links removed a moment ago are deleted before the daemon goes (a few at most, tens of ms each).
        await Promise.race([engine.kernel.settle?.(), new Promise((r) => setTimeout(r, 5000).unref())]);
        for (const p of engine.participants) await p.close?.();
        closeNetnsPool();
        fs.rmSync(socket, { force: true });
        unlock();
      },
    };
  } catch (e) {
    unlock();
    throw e;
  }
}
