/**
 * The daemon's HTTP API: the Docker Engine API's network endpoints (API 1.41, versioned
 * and unversioned paths) so the real docker CLI and SDKs work, plus Switchyard's own
 * routes under /yard/v1. Every error is Docker's `{"message": ...}` body with the status
 * of its code (plus `code` and `field`).
 */
import { Hono, type Context } from 'hono';
import type { ZodType } from 'zod';
import { lazySchema } from '../model/zod.js';
import os from 'node:os';
import ipaddr from 'ipaddr.js';
import type http from 'node:http';
import { YardError, asYardError } from '../errors.js';
import type { Engine } from '../engine/engine.js';
import type { NetworkRecord } from '../model/types.js';
import { API_VERSION, MIN_API_VERSION, networkJson, sandboxJson } from './docker-shapes.js';
import { VERSION } from '../version.js';
import { driverNames } from '../drivers/index.js';
import type { EmbeddedDns } from '../dns/resolver.js';
import { mountUnsupported } from './unsupported.js';
import type { DockerNames } from '../plugin/docker-names.js';
import { mountEvents } from './events.js';
import { cniRoutes } from './cni-routes.js';
import { netavarkRoutes } from './netavark-routes.js';
import { MAX_BODY_BYTES, json, parseBody, tooLarge } from './body.js';
import { reportRefusals } from './refusals.js';
export { MAX_BODY_BYTES } from './body.js';
import type { FirewallParticipant } from '../firewall/participant.js';
import { mountUi } from '../ui/routes.js';
import type { Doctor } from '../doctor/doctor.js';

/** The daemon's diagnostics rooms the API answers from (absent: the route says the daemon runs without it). */
export interface ApiRooms {
  firewall?: Pick<FirewallParticipant, 'explain'>;
  dns?: Pick<EmbeddedDns, 'explain' | 'listenerCount' | 'stats'>;
  /** The name dockerd knows the daemon's network plugin by, for the answers to Docker's container routes. */
  dockerPlugin?: string;
  /** dockerd's view of its containers' names (yard dns explain --from a Docker container). */
  dockerNames?: DockerNames;
  /** `yard doctor`: the triage checks over the state and the kernel. */
  doctor?: Pick<Doctor, 'run'>;
  /** The daemon's Prometheus metrics (src/observe/metrics.ts), served at GET /metrics. */
  metrics?: { text(): Promise<string>; readonly contentType: string };
}

const VERSION_RE = /^\/v(\d+)\.(\d+)(\/.*)$/;

function cmpVersion(a: string, b: string): number {
  const [a1, a2] = a.split('.').map(Number);
  const [b1, b2] = b.split('.').map(Number);
  return a1! - b1! || a2! - b2!;
}

/**
 * The largest request body the daemon reads: 1 MiB (docs/api.md). A bigger one is answered
 * 413 before it is read (by its Content-Length), or as soon as a chunked one passes the
 * limit; the connection is then closed, so the rest is never buffered.
 */
const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Docker filters: a JSON object whose values are lists of strings ({"k":["v"]}, SDKs) or
 * maps of booleans ({"k":{"v":true}}, docker CLI). Anything else (null, a list, a number,
 * a string value) is a 400, as in Docker; an empty `filters=` is no filter.
 */
export function parseFilters(raw: string | undefined): Map<string, string[]> {
  const out = new Map<string, string[]>();
  if (raw === undefined || raw === '') return out;
  const refuse = (why: string) =>
    new YardError('INVALID_ARGUMENT', `filters ${JSON.stringify(raw.length > 60 ? `${raw.slice(0, 60)}...` : raw)} ${why}`, {
      field: 'filters',
      hint: 'send a JSON object of lists, e.g. {"name":["x"]} or {"label":{"a=b":true}}',
    });
  let obj: unknown;
  try {
    obj = JSON.parse(raw);
  } catch {
    throw refuse('is not JSON');
  }
  if (!isPlainObject(obj)) throw refuse('is not a JSON object');
  for (const [k, v] of Object.entries(obj)) {
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) out.set(k, v);
    else if (isPlainObject(v) && Object.values(v).every((x) => typeof x === 'boolean')) out.set(k, Object.keys(v).filter((x) => v[x]));
    else throw refuse(`has a value for ${JSON.stringify(k)} that is neither a list of strings nor a map of booleans`);
  }
  return out;
}

/** How long, and how much of, the rest of a refused body is read and dropped before the connection ends. */
export const LINGER_MS = 1_000;
export const LINGER_BYTES = 8 * 1024 * 1024;

/**
 * After a 413 the rest of the body is read and dropped (never kept), for at most LINGER_MS
 * and LINGER_BYTES, then the connection ends. Closing at once, with the client's unread bytes still queued, would
 * reset the connection, and the client would lose the answer it was about to read.
 */
export function withLingeringClose(listener: http.RequestListener): http.RequestListener {
  return (req, res) => {
    res.once('finish', () => {
      if (res.statusCode !== 413) return;
      // Node drops the rest of an unread body itself once the answer is sent (without
      // 'data' events), so the bytes dropped are counted on the socket.
      const socket = req.socket;
      const start = socket.bytesRead;
      req.resume();
      const watch = setInterval(() => {
        if (socket.bytesRead - start > LINGER_BYTES) socket.destroy();
      }, 2);
      const timer = setTimeout(() => socket.destroy(), LINGER_MS);
      socket.once('close', () => {
        clearInterval(watch);
        clearTimeout(timer);
      });
    });
    listener(req, res);
  };
}

/**
 * Answer requests Node's HTTP parser refuses (malformed lines, headers too large) with a
 * JSON `{"message"}` body like every other error, instead of a bare status line.
 */
export function answerClientErrors(server: http.Server): void {
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
    const body = JSON.stringify({ message: status === 431 ? 'request headers are too large' : `malformed HTTP request (${err.code ?? 'parse error'})`, code: 'INVALID_ARGUMENT' });
    socket.end(`HTTP/1.1 ${status} ${status === 431 ? 'Request Header Fields Too Large' : 'Bad Request'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  });
}

const NETWORK_FILTERS = ['dangling', 'driver', 'id', 'label', 'name', 'scope', 'type'];

/** The filters `POST /networks/prune` takes (Docker 20.10's). */
const PRUNE_FILTERS = ['label', 'label!', 'until'];

/** An unknown filter key: Docker's 400 and its words, `Invalid filter 'KEY'`. */
function checkFilterKeys(f: Map<string, string[]>, known: string[]): void {
  for (const k of f.keys()) {
    if (!known.includes(k)) throw new YardError('INVALID_ARGUMENT', `Invalid filter '${k}'`, { field: 'filters', hint: `use one of ${known.join(', ')}` });
  }
}

/**
 * Docker's checks of `GET /networks` filters, before any network is looked at, in its
 * words (dockerd answers a bad `type` with a 500; Switchyard with a 400).
 */
function checkNetworkFilters(f: Map<string, string[]>): void {
  checkFilterKeys(f, NETWORK_FILTERS);
  for (const v of f.get('dangling') ?? []) {
    if (!['true', 'false', '1', '0'].includes(v)) {
      throw new YardError('INVALID_ARGUMENT', `invalid value for filter 'dangling', must be "true" (or "1"), or "false" (or "0")`, { field: 'filters', hint: `dangling=${v} is neither` });
    }
  }
  for (const v of f.get('type') ?? []) {
    if (!['builtin', 'custom'].includes(v)) {
      throw new YardError('INVALID_ARGUMENT', `invalid filter: 'type'='${v}'`, { field: 'filters', hint: 'use type=custom or type=builtin' });
    }
  }
}

/**
 * A name another network has. Docker 20.10 refuses it (409) only with `CheckDuplicate:
 * true` (the docker CLI's, and every client's at API 1.44 and later); with it false or
 * absent (docker-py's default) dockerd creates a second network of the same name and says
 * so in `Warning`, after which the name is ambiguous (dockerd then refuses the name in
 * inspect, rm, connect). Switchyard looks networks up by name and keys a sandbox's
 * endpoints by network name (`NetworkSettings.Networks`), so a name is always unique: the
 * request is refused as with CheckDuplicate true, and the hint says why.
 */
function checkDuplicateName(engine: Engine, name: string, checkDuplicate: boolean | undefined): void {
  // A predefined name (bridge, host, none) is the engine's 403, as Docker's.
  if (checkDuplicate === true || !engine.networks().some((n) => n.name === name && !n.predefined)) return;
  throw new YardError('NETWORK_EXISTS', `network with name ${name} already exists`, {
    field: 'name',
    hint: `Switchyard keeps network names unique even with CheckDuplicate ${checkDuplicate === false ? 'false' : 'absent'}: pick another name, or remove the existing network first`,
  });
}

function networkMatches(engine: Engine, n: NetworkRecord, f: Map<string, string[]>): boolean {
  for (const [k, vals] of f) {
    const any = (pred: (v: string) => boolean) => vals.some(pred);
    const ok =
      k === 'driver' ? any((v) => n.driver === v)
      : k === 'id' ? any((v) => n.id.startsWith(v))
      : k === 'name' ? any((v) => n.name.includes(v))
      : k === 'scope' ? any((v) => n.scope === v)
      : k === 'type' ? any((v) => (v === 'builtin' ? !!n.predefined : v === 'custom' ? !n.predefined : false))
      : k === 'label' ? any((v) => labelMatch(n.labels, v))
      : k === 'dangling' ? any((v) => (v === 'true' || v === '1') === (!n.predefined && engine.endpointsOf(n.id).length === 0))
      : true;
    if (!ok) return false;
  }
  return true;
}

function labelMatch(labels: Record<string, string>, f: string): boolean {
  const i = f.indexOf('=');
  return i < 0 ? f in labels : labels[f.slice(0, i)] === f.slice(i + 1);
}

/** The API's request schemas, built at the first request that needs one (model/zod.ts). */
const schemas = lazySchema((z) => {
  /**
   * Docker's routes: unknown keys are ignored (newer clients send fields such as
   * EnableIPv4) and `null` for an optional field is the
   * field left out (docker-py sends "IPRange": null), as in Docker.
   */
  const opt = <T extends ZodType>(t: T) => t.nullish().transform((v) => v ?? undefined);
  const strings = z.record(z.string(), z.string());

  const IpamConfigSchema = z.object({
    Subnet: opt(z.string()),
    IPRange: opt(z.string()),
    Gateway: opt(z.string()),
    AuxiliaryAddresses: opt(strings),
  });

  const NetworkCreateSchema = z.object({
    Name: z.string({ error: 'Name is required' }),
    Driver: opt(z.string()),
    Internal: opt(z.boolean()),
    Attachable: opt(z.boolean()),
    Ingress: opt(z.boolean()),
    EnableIPv6: opt(z.boolean()),
    EnableIPv4: opt(z.boolean()),
    CheckDuplicate: opt(z.boolean()),
    ConfigOnly: opt(z.boolean()),
    ConfigFrom: opt(z.object({ Network: opt(z.string()) })),
    Scope: opt(z.string()),
    IPAM: opt(z.object({ Driver: opt(z.string()), Config: opt(z.array(IpamConfigSchema)), Options: opt(strings) })),
    Options: opt(strings),
    Labels: opt(strings),
    DryRun: opt(z.boolean()),
  });

  const ConnectSchema = z.object({
    Container: z.string({ error: 'Container is required' }),
    EndpointConfig: opt(
      z.object({
        IPAMConfig: opt(z.object({ IPv4Address: opt(z.string()), IPv6Address: opt(z.string()) })),
        Aliases: opt(z.array(z.string())),
        Links: opt(z.array(z.string())),
        DriverOpts: opt(strings),
      }),
    ),
    DryRun: opt(z.boolean()),
  });

  const DisconnectSchema = z.object({ Container: z.string({ error: 'Container is required' }), Force: opt(z.boolean()) });

  /** Switchyard's own routes: strict, an unknown key is a 400 naming it. */
  const SandboxCreateSchema = z
    .object({
      name: z.string().optional(),
      hostname: z.string().optional(),
      networks: z.array(z.object({ network: z.string(), ip: z.string().optional(), ip6: z.string().optional(), aliases: z.array(z.string()).optional(), ifname: z.string().optional() }).strict()).optional(),
      command: z.array(z.string()).optional(),
      detached: z.boolean().optional(),
      start: z.boolean().optional(),
      dns: z.array(z.string()).optional(),
      dnsSearch: z.array(z.string()).optional(),
      dnsOptions: z.array(z.string()).optional(),
      extraHosts: z.array(z.string()).optional(),
      labels: strings.optional(),
      env: strings.optional(),
      publish: z.array(z.string()).optional(),
      publishFrom: z.array(z.string()).max(1024).optional(),
      dryRun: z.boolean().optional(),
      /**
       * A namespace a container runtime owns (a CNI runtime, Podman): Switchyard attaches it
       * and configures its interfaces there, never runs or stops anything in it.
       */
      runtime: z.object({ kind: z.enum(['cni', 'netavark']), netns: z.string(), container: z.string().optional(), pid: z.number().int().positive().optional() }).strict().optional(),
    })
    .strict();

  const StartedSchema = z.object({ pid: z.number().int().positive() }).strict();
  const ExitedSchema = z.object({ code: z.number().int() }).strict();
  return { NetworkCreateSchema, ConnectSchema, DisconnectSchema, SandboxCreateSchema, StartedSchema, ExitedSchema };
});

export function createApp(engine: Engine, info: () => Record<string, unknown>, rooms: ApiRooms = {}): Hono {
  const app = new Hono({
    getPath: (req) => {
      const p = new URL(req.url).pathname;
      const m = VERSION_RE.exec(p);
      return m ? m[3]! : p;
    },
  });

  // Operations the API refuses before the engine sees them: logged and counted as the engine's are.
  app.use('*', reportRefusals(() => engine.onOperation, (url) => {
    const p = new URL(url).pathname;
    return VERSION_RE.exec(p)?.[3] ?? p;
  }));

  // The body limit, before anything else: a Content-Length over it is refused unread.
  app.use('*', async (c, next) => {
    const len = c.req.header('content-length');
    if (len !== undefined && Number(len) > MAX_BODY_BYTES) throw tooLarge(` of ${len} bytes`);
    await next();
  });

  // API version gate, on the raw path. The headers every answer carries are set first: set
  // on an answer already made, a header makes it again with its body as a stream (about
  // 0.35 ms of every request's time).
  app.use('*', async (c, next) => {
    c.header('Api-Version', API_VERSION);
    c.header('Server', `Switchyard/${VERSION} (linux)`);
    const m = VERSION_RE.exec(new URL(c.req.url).pathname);
    if (m) {
      const v = `${m[1]}.${m[2]}`;
      if (cmpVersion(v, API_VERSION) > 0) {
        throw new YardError('INVALID_ARGUMENT', `client version ${v} is too new. Maximum supported API version is ${API_VERSION}`, { hint: 'let the client negotiate (DOCKER_API_VERSION unset)' });
      }
      if (cmpVersion(v, MIN_API_VERSION) < 0) {
        throw new YardError('INVALID_ARGUMENT', `client version ${v} is too old. Minimum supported API version is ${MIN_API_VERSION}`, { hint: 'upgrade the client' });
      }
    }
    await next();
  });

  app.onError((err, c) => {
    const e = asYardError(err);
    return c.json(e.toJSON(), e.status as 400);
  });
  app.notFound((c) => c.json({ message: 'page not found' }, 404));

  const ping = (c: Context) => {
    c.header('Ostype', 'linux');
    c.header('Docker-Experimental', 'false');
    c.header('Swarm', 'inactive');
    c.header('Cache-Control', 'no-cache, no-store, must-revalidate');
    c.header('Pragma', 'no-cache');
    c.header('Content-Type', 'text/plain; charset=utf-8');
    return c.req.method === 'HEAD' ? c.body(null, 200) : c.body('OK', 200);
  };
  app.on(['GET', 'HEAD'], '/_ping', ping);

  // `docker info`: the fields the CLI prints, from Switchyard's point of view.
  app.get('/info', (c) => {
    const sbs = engine.sandboxes().map((s) => engine.refresh(s));
    const running = sbs.filter((s) => s.status === 'running').length;
    return c.json({
      ID: engine.cfg.instance,
      Name: engine.cfg.instance,
      Containers: sbs.length,
      ContainersRunning: running,
      ContainersPaused: 0,
      ContainersStopped: sbs.length - running,
      Images: 0,
      Driver: 'none',
      Plugins: { Network: driverNames().filter((d) => d !== 'null').concat('null'), Volume: [], Log: [] },
      ServerVersion: VERSION,
      OperatingSystem: 'Switchyard (networking only)',
      OSType: 'linux',
      Architecture: os.arch() === 'x64' ? 'x86_64' : os.arch(),
      KernelVersion: os.release(),
      NCPU: os.cpus().length,
      MemTotal: os.totalmem(),
      DockerRootDir: engine.cfg.stateDir,
      Swarm: { LocalNodeState: 'inactive' },
      Warnings: [],
    });
  });

  app.get('/version', (c) =>
    c.json({
      Platform: { Name: 'Switchyard' },
      Components: [{ Name: 'Switchyard', Version: VERSION, Details: { ApiVersion: API_VERSION, MinAPIVersion: MIN_API_VERSION } }],
      Version: VERSION,
      ApiVersion: API_VERSION,
      MinAPIVersion: MIN_API_VERSION,
      GitCommit: '',
      GoVersion: `node ${process.version}`,
      Os: 'linux',
      Arch: os.arch() === 'x64' ? 'amd64' : os.arch(),
      KernelVersion: os.release(),
    }),
  );

  // ------------------------------------------------------------ Docker networks
  app.get('/networks', (c) => {
    const f = parseFilters(c.req.query('filters'));
    checkNetworkFilters(f);
    return c.json(engine.networks().filter((n) => networkMatches(engine, n, f)).map((n) => networkJson(n)));
  });

  app.get('/networks/:id', (c) => {
    const net = engine.findNetwork(c.req.param('id'));
    const json = networkJson(net, engine.endpointsOf(net.id));
    // Global networks: Docker's Peers, and the endpoints other hosts hold.
    if (net.scope === 'global' && engine.cluster?.inspectExtras) Object.assign(json, engine.cluster.inspectExtras(net));
    return c.json(json);
  });

  app.post('/networks/create', async (c) => {
    const b = parseBody(schemas().NetworkCreateSchema, await json(c));
    if (b.IPAM?.Driver && b.IPAM.Driver !== 'default' && b.IPAM.Driver !== 'dhcp') {
      // Docker's 404 and words for an IPAM driver it has no plugin for.
      throw new YardError('UNKNOWN_DRIVER', `plugin ${JSON.stringify(b.IPAM.Driver)} not found`, { field: '--ipam-driver', hint: 'Switchyard has the default IPAM driver and dhcp (macvlan, ipvlan l2): omit --ipam-driver or give one of these' });
    }
    checkDuplicateName(engine, b.Name, b.CheckDuplicate);
    if (b.Ingress) {
      throw new YardError('NOT_IMPLEMENTED', '--ingress networks are not supported', { field: '--ingress', hint: 'omit the flag' });
    }
    const { net, warnings, plan } = await engine.createNetwork({
      name: b.Name,
      driver: b.Driver,
      internal: b.Internal,
      attachable: b.Attachable,
      ipv6: !!b.EnableIPv6,
      options: b.Options ?? {},
      labels: b.Labels ?? {},
      ipam: (b.IPAM?.Config ?? []).map((p) => ({ subnet: p.Subnet, gateway: p.Gateway, ipRange: p.IPRange, auxAddresses: p.AuxiliaryAddresses })),
      ...(b.IPAM?.Options ? { ipamOptions: b.IPAM.Options } : {}),
      ...(b.IPAM?.Driver ? { ipamDriver: b.IPAM.Driver } : {}),
      scope: b.Scope,
      configOnly: !!b.ConfigOnly,
      configFrom: b.ConfigFrom?.Network || undefined,
      dryRun: b.DryRun,
    });
    return c.json({ Id: b.DryRun ? '' : net.id, Warning: warnings.join('\n'), ...(b.DryRun ? { Plan: plan } : {}) }, 201);
  });

  app.delete('/networks/:id', async (c) => {
    await engine.removeNetwork(c.req.param('id'));
    return c.body(null, 204);
  });

  app.post('/networks/:id/connect', async (c) => {
    const b = parseBody(schemas().ConnectSchema, await json(c));
    const cfg = b.EndpointConfig;
    const r = await engine.connect(
      c.req.param('id'),
      b.Container,
      {
        ip: cfg?.IPAMConfig?.IPv4Address || undefined,
        ip6: cfg?.IPAMConfig?.IPv6Address || undefined,
        aliases: cfg?.Aliases ?? [],
        ...(cfg?.Links?.length ? { links: cfg.Links } : {}),
        ...(cfg?.DriverOpts ? { driverOpts: cfg.DriverOpts } : {}),
      },
      b.DryRun,
    );
    return b.DryRun ? c.json({ Plan: r.plan }) : c.body(null, 200);
  });

  app.post('/networks/:id/disconnect', async (c) => {
    const b = parseBody(schemas().DisconnectSchema, await json(c));
    await engine.disconnect(c.req.param('id'), b.Container, !!b.Force);
    return c.body(null, 200);
  });

  app.post('/networks/prune', async (c) => {
    const f = parseFilters(c.req.query('filters'));
    checkFilterKeys(f, PRUNE_FILTERS);
    const until = f.get('until')?.[0];
    const cutoff = until ? untilToMs(until) : undefined;
    const removed = await engine.pruneNetworks(
      (n) =>
        (f.get('label') ?? []).every((l) => labelMatch(n.labels, l)) &&
        (f.get('label!') ?? []).every((l) => !labelMatch(n.labels, l)) &&
        (cutoff === undefined || Date.parse(n.created) < cutoff),
    );
    return c.json({ NetworksDeleted: removed });
  });

  // ------------------------------------------------------------ Switchyard's own
  const y = '/yard/v1';
  app.get(`${y}/info`, (c) => c.json(info()));

  app.get(`${y}/sandboxes`, (c) => {
    const all = c.req.query('all') === '1' || c.req.query('all') === 'true';
    const list = engine.sandboxes().map((s) => engine.refresh(s)).filter((s) => all || s.status === 'running');
    return c.json(list.map((s) => sandboxJson(s, engine.state.networks, engine.logFile(s))));
  });

  app.post(`${y}/sandboxes`, async (c) => {
    const { runtime, ...b } = parseBody(schemas().SandboxCreateSchema, await json(c), 'yard');
    const { sb, plan } = await engine.createSandbox({
      ...b,
      ...(runtime
        ? { runtime: { kind: runtime.kind, mode: 'configure', ...engine.kernel.runtimeNamespace(runtime.netns, runtime.pid), ...(runtime.container ? { container: runtime.container } : {}) }, start: false }
        : {}),
    });
    return c.json({ Id: b.dryRun ? '' : sb.id, Plan: plan, Sandbox: sandboxJson(sb, engine.state.networks, engine.logFile(sb)) }, 201);
  });

  app.get(`${y}/sandboxes/:id`, (c) => {
    const sb = engine.refresh(engine.findSandbox(c.req.param('id')));
    return c.json(sandboxJson(sb, engine.state.networks, engine.logFile(sb)));
  });

  // Who can reach each published port, and which rules decide it (yard port explain).
  app.get(`${y}/sandboxes/:id/ports/explain`, async (c) => {
    const sb = engine.findSandbox(c.req.param('id'));
    const fw = rooms.firewall;
    if (!fw) throw new YardError('NOT_IMPLEMENTED', 'this daemon runs without its firewall', { hint: 'start the daemon normally (yard daemon)' });
    const from = c.req.query('from');
    if (from !== undefined && (from.includes('/') || !ipaddr.isValid(from) || !(ipaddr.IPv4.isValidFourPartDecimal(from) || ipaddr.IPv6.isValid(from)))) {
      throw new YardError('INVALID_ARGUMENT', `from ${JSON.stringify(from.slice(0, 80))} is not an IP address`, { field: 'from', hint: 'give one client address, e.g. --from 192.168.1.5 or --from 2001:db8::7' });
    }
    return c.json(await fw.explain(sb, engine.view(), from === undefined ? {} : { from: ipaddr.parse(from).toString() }));
  });

  app.delete(`${y}/sandboxes/:id`, async (c) => {
    const force = ['1', 'true'].includes(c.req.query('force') ?? '');
    // `runtime=KIND`: the runtime that owns the sandbox removes it (its namespace is only detached).
    const runtime = c.req.query('runtime');
    const byRuntime = !!runtime && engine.findSandbox(c.req.param('id')).runtime?.kind === runtime;
    await engine.removeSandbox(c.req.param('id'), force, byRuntime);
    return c.body(null, 204);
  });

  app.post(`${y}/sandboxes/:id/started`, async (c) => {
    const b = parseBody(schemas().StartedSchema, await json(c), 'yard');
    await engine.markStarted(c.req.param('id'), b.pid);
    return c.body(null, 204);
  });

  app.post(`${y}/sandboxes/:id/exited`, async (c) => {
    const b = parseBody(schemas().ExitedSchema, await json(c), 'yard');
    await engine.markExited(c.req.param('id'), b.code);
    return c.body(null, 204);
  });

  // ------------------------------------------------------------ embedded DNS
  const dns = () => {
    const d = rooms.dns;
    if (!d) throw new YardError('NOT_IMPLEMENTED', 'this daemon runs without the embedded DNS resolver', { hint: 'start the daemon with it (the default)' });
    return d;
  };
  app.get(`${y}/dns/explain`, async (c) => {
    const [name, from] = [c.req.query('name'), c.req.query('from')];
    if (!name) throw new YardError('INVALID_ARGUMENT', 'NAME is missing', { field: 'NAME', hint: 'give the name (or IP address) to explain' });
    if (!from) throw new YardError('INVALID_ARGUMENT', '--from is missing', { field: '--from', hint: 'name the sandbox that asks' });
    // A Docker container (or its endpoint's sandbox) asks Docker's resolver, not ours.
    const docker = rooms.dockerNames ? await (await import('../plugin/docker-explain.js')).explainDockerName(engine, rooms.dockerNames, from, name, c.req.query('type') || undefined) : undefined;
    if (docker) return c.json(docker);
    return c.json(await dns().explain(engine.findSandbox(from), name, c.req.query('type') || undefined));
  });
  app.get(`${y}/dns/stats`, (c) => c.json({ listeners: dns().listenerCount(), ...dns().stats }));

  // yard doctor: host=1 (host-level checks only), sandbox=REF (that sandbox), to=TARGET (from it).
  app.get(`${y}/doctor`, async (c) => {
    const d = rooms.doctor;
    if (!d) throw new YardError('NOT_IMPLEMENTED', 'this daemon runs without its doctor', { hint: 'start the daemon normally (yard daemon)' });
    const [sandbox, to] = [c.req.query('sandbox') || undefined, c.req.query('to')];
    const host = c.req.query('host');
    return c.json(await d.run({ ...(sandbox ? { sandbox } : {}), ...(to !== undefined ? { to } : {}), ...(host !== undefined ? { host: ['1', 'true'].includes(host) } : {}) }));
  });

  // Prometheus's text format (docs: README, Metrics).
  app.get('/metrics', async (c) => {
    if (!rooms.metrics) throw new YardError('NOT_IMPLEMENTED', 'this daemon runs without its metrics', { hint: 'start the daemon normally (yard daemon)' });
    return c.body(await rooms.metrics.text(), 200, { 'Content-Type': rooms.metrics.contentType });
  });

  // The runtimes' front doors: Podman (netavark's contract) and CNI.
  netavarkRoutes(app, engine);
  cniRoutes(app, engine);

  // Docker's events (networks only): past and live.
  mountEvents(app, engine);

  // The topology page and its read-only data (ui/).
  mountUi(app, engine);

  // Docker's container, image, volume and swarm endpoints: what to use instead.
  mountUnsupported(app, { pluginName: rooms.dockerPlugin });
  return app;
}

/** Docker's `until`: a duration like 10m/24h, or a timestamp. */
function untilToMs(v: string): number {
  const m = /^(\d+)(s|m|h)$/.exec(v);
  if (m) return Date.now() - Number(m[1]) * { s: 1e3, m: 6e4, h: 3.6e6 }[m[2] as 's' | 'm' | 'h'];
  const t = /^\d+$/.test(v) ? Number(v) * 1000 : Date.parse(v);
  // Docker's words first (dockerd answers them with a 500; Switchyard with a 400).
  if (Number.isNaN(t)) throw new YardError('INVALID_ARGUMENT', `failed to parse value as time or duration: ${JSON.stringify(v)}`, { field: 'filters', hint: `until=${v} is not a duration or timestamp; use e.g. until=24h` });
  return t;
}
