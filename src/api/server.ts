/**
 * The daemon's HTTP API: the Docker Engine API's network endpoints (API 1.41, versioned
 * and unversioned paths) so the real docker CLI and SDKs work, plus Switchyard's own
 * routes under /yard/v1. Every error is Docker's `{"message": ...}` body with the status
 * of its code (plus `code` and `field`).
 */
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import os from 'node:os';
import { YardError, asYardError } from '../errors.js';
import type { Engine } from '../engine/engine.js';
import type { NetworkRecord } from '../model/types.js';
import { API_VERSION, MIN_API_VERSION, networkJson, sandboxJson } from './docker-shapes.js';
import { VERSION } from '../version.js';
import { driverNames } from '../drivers/index.js';
import { EmbeddedDns } from '../dns/resolver.js';
import type { FirewallParticipant } from '../firewall/participant.js';

const VERSION_RE = /^\/v(\d+)\.(\d+)(\/.*)$/;

function cmpVersion(a: string, b: string): number {
  const [a1, a2] = a.split('.').map(Number);
  const [b1, b2] = b.split('.').map(Number);
  return a1! - b1! || a2! - b2!;
}

function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body ?? {});
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const field = issue.path.join('.') || 'body';
  throw new YardError('INVALID_ARGUMENT', `request field ${field}: ${issue.message}`, { field, hint: 'fix the request body (see docs/api.md)' });
}

async function json(c: Context): Promise<unknown> {
  const text = await c.req.text();
  if (!text.trim()) return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new YardError('INVALID_ARGUMENT', 'request body is not valid JSON', { field: 'body', hint: 'send a JSON object' });
  }
}

/** Docker filters come as {"k":{"v":true}} (docker CLI) or {"k":["v"]} (SDKs): accept both. */
export function parseFilters(raw: string | undefined): Map<string, string[]> {
  const out = new Map<string, string[]>();
  if (!raw) return out;
  let obj: unknown;
  try {
    obj = JSON.parse(raw);
  } catch {
    throw new YardError('INVALID_ARGUMENT', `filters ${raw} is not JSON`, { field: 'filters', hint: 'send {"name":["x"]}' });
  }
  for (const [k, v] of Object.entries(obj as Record<string, unknown>)) {
    if (Array.isArray(v)) out.set(k, v.map(String));
    else if (v && typeof v === 'object') out.set(k, Object.keys(v).filter((x) => (v as Record<string, unknown>)[x]));
    else out.set(k, [String(v)]);
  }
  return out;
}

const NETWORK_FILTERS = ['dangling', 'driver', 'id', 'label', 'name', 'scope', 'type'];

function networkMatches(engine: Engine, n: NetworkRecord, f: Map<string, string[]>): boolean {
  for (const [k, vals] of f) {
    if (!NETWORK_FILTERS.includes(k)) {
      throw new YardError('INVALID_ARGUMENT', `invalid filter '${k}'`, { field: 'filters', hint: `use one of ${NETWORK_FILTERS.join(', ')}` });
    }
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

const IpamConfigSchema = z.object({
  Subnet: z.string().optional(),
  IPRange: z.string().optional(),
  Gateway: z.string().optional(),
  AuxiliaryAddresses: z.record(z.string(), z.string()).nullish(),
});

const NetworkCreateSchema = z.object({
  Name: z.string({ error: 'Name is required' }),
  Driver: z.string().optional(),
  Internal: z.boolean().optional(),
  Attachable: z.boolean().optional(),
  Ingress: z.boolean().optional(),
  EnableIPv6: z.boolean().nullish(),
  EnableIPv4: z.boolean().nullish(),
  CheckDuplicate: z.boolean().optional(),
  ConfigOnly: z.boolean().optional(),
  IPAM: z
    .object({ Driver: z.string().optional(), Config: z.array(IpamConfigSchema).nullish(), Options: z.record(z.string(), z.string()).nullish() })
    .nullish(),
  Options: z.record(z.string(), z.string()).nullish(),
  Labels: z.record(z.string(), z.string()).nullish(),
  DryRun: z.boolean().optional(),
});

const ConnectSchema = z.object({
  Container: z.string({ error: 'Container is required' }),
  EndpointConfig: z
    .object({
      IPAMConfig: z.object({ IPv4Address: z.string().optional(), IPv6Address: z.string().optional() }).nullish(),
      Aliases: z.array(z.string()).nullish(),
    })
    .passthrough()
    .nullish(),
  DryRun: z.boolean().optional(),
});

const DisconnectSchema = z.object({ Container: z.string({ error: 'Container is required' }), Force: z.boolean().optional() });

const SandboxCreateSchema = z.object({
  name: z.string().optional(),
  hostname: z.string().optional(),
  networks: z.array(z.object({ network: z.string(), ip: z.string().optional(), ip6: z.string().optional(), aliases: z.array(z.string()).optional() })).optional(),
  command: z.array(z.string()).optional(),
  detached: z.boolean().optional(),
  start: z.boolean().optional(),
  dns: z.array(z.string()).optional(),
  dnsSearch: z.array(z.string()).optional(),
  dnsOptions: z.array(z.string()).optional(),
  extraHosts: z.array(z.string()).optional(),
  labels: z.record(z.string(), z.string()).optional(),
  env: z.record(z.string(), z.string()).optional(),
  publish: z.array(z.string()).optional(),
  dryRun: z.boolean().optional(),
});

export function createApp(engine: Engine, info: () => Record<string, unknown>): Hono {
  const app = new Hono({
    getPath: (req) => {
      const p = new URL(req.url).pathname;
      const m = VERSION_RE.exec(p);
      return m ? m[3]! : p;
    },
  });

  // API version gate, on the raw path.
  app.use('*', async (c, next) => {
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
    c.header('Api-Version', API_VERSION);
    c.header('Server', `Switchyard/${VERSION} (linux)`);
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
    const b = parseBody(NetworkCreateSchema, await json(c));
    if (b.IPAM?.Driver && b.IPAM.Driver !== 'default') {
      throw new YardError('INVALID_ARGUMENT', `IPAM driver ${b.IPAM.Driver} is not supported`, { field: '--ipam-driver', hint: 'use the default IPAM driver' });
    }
    if (b.Ingress || b.ConfigOnly) {
      throw new YardError('NOT_IMPLEMENTED', `${b.Ingress ? '--ingress' : '--config-only'} networks are not supported`, { field: b.Ingress ? '--ingress' : '--config-only', hint: 'omit the flag' });
    }
    const { net, warnings, plan } = await engine.createNetwork({
      name: b.Name,
      driver: b.Driver,
      internal: b.Internal,
      attachable: b.Attachable,
      ipv6: !!b.EnableIPv6,
      options: b.Options ?? {},
      labels: b.Labels ?? {},
      ipam: (b.IPAM?.Config ?? []).map((p) => ({ subnet: p.Subnet, gateway: p.Gateway, ipRange: p.IPRange, auxAddresses: p.AuxiliaryAddresses ?? undefined })),
      dryRun: b.DryRun,
    });
    return c.json({ Id: b.DryRun ? '' : net.id, Warning: warnings.join('\n'), ...(b.DryRun ? { Plan: plan } : {}) }, 201);
  });

  app.delete('/networks/:id', async (c) => {
    await engine.removeNetwork(c.req.param('id'));
    return c.body(null, 204);
  });

  app.post('/networks/:id/connect', async (c) => {
    const b = parseBody(ConnectSchema, await json(c));
    const cfg = b.EndpointConfig;
    const r = await engine.connect(
      c.req.param('id'),
      b.Container,
      { ip: cfg?.IPAMConfig?.IPv4Address || undefined, ip6: cfg?.IPAMConfig?.IPv6Address || undefined, aliases: cfg?.Aliases ?? [] },
      b.DryRun,
    );
    return b.DryRun ? c.json({ Plan: r.plan }) : c.body(null, 200);
  });

  app.post('/networks/:id/disconnect', async (c) => {
    const b = parseBody(DisconnectSchema, await json(c));
    await engine.disconnect(c.req.param('id'), b.Container, !!b.Force);
    return c.body(null, 200);
  });

  app.post('/networks/prune', async (c) => {
    const f = parseFilters(c.req.query('filters'));
    for (const k of f.keys()) {
      if (!['label', 'label!', 'until'].includes(k)) {
        throw new YardError('INVALID_ARGUMENT', `invalid filter '${k}'`, { field: 'filters', hint: 'use label, label! or until' });
      }
    }
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
    const b = parseBody(SandboxCreateSchema, await json(c));
    const { sb, plan } = await engine.createSandbox(b);
    return c.json({ Id: b.dryRun ? '' : sb.id, Plan: plan, Sandbox: sandboxJson(sb, engine.state.networks, engine.logFile(sb)) }, 201);
  });

  app.get(`${y}/sandboxes/:id`, (c) => {
    const sb = engine.refresh(engine.findSandbox(c.req.param('id')));
    return c.json(sandboxJson(sb, engine.state.networks, engine.logFile(sb)));
  });

  // Who can reach each published port, and which rules decide it (yard port explain).
  app.get(`${y}/sandboxes/:id/ports/explain`, async (c) => {
    const sb = engine.findSandbox(c.req.param('id'));
    const fw = engine.participants.find((p) => p.name === 'firewall') as FirewallParticipant | undefined;
    if (!fw) throw new YardError('NOT_IMPLEMENTED', 'this daemon runs without its firewall', { hint: 'start the daemon normally (yard daemon)' });
    return c.json(await fw.explain(sb, engine));
  });

  app.delete(`${y}/sandboxes/:id`, async (c) => {
    const force = ['1', 'true'].includes(c.req.query('force') ?? '');
    await engine.removeSandbox(c.req.param('id'), force);
    return c.body(null, 204);
  });

  app.post(`${y}/sandboxes/:id/started`, async (c) => {
    const b = parseBody(z.object({ pid: z.number().int().positive() }), await json(c));
    await engine.markStarted(c.req.param('id'), b.pid);
    return c.body(null, 204);
  });

  app.post(`${y}/sandboxes/:id/exited`, async (c) => {
    const b = parseBody(z.object({ code: z.number().int() }), await json(c));
    await engine.markExited(c.req.param('id'), b.code);
    return c.body(null, 204);
  });

  // ------------------------------------------------------------ embedded DNS
  const dns = () => {
    const d = engine.participants.find((p): p is EmbeddedDns => p instanceof EmbeddedDns);
    if (!d) throw new YardError('NOT_IMPLEMENTED', 'this daemon runs without the embedded DNS resolver', { hint: 'start the daemon with it (the default)' });
    return d;
  };
  app.get(`${y}/dns/explain`, async (c) => {
    const [name, from] = [c.req.query('name'), c.req.query('from')];
    if (!name) throw new YardError('INVALID_ARGUMENT', 'NAME is missing', { field: 'NAME', hint: 'give the name (or IP address) to explain' });
    if (!from) throw new YardError('INVALID_ARGUMENT', '--from is missing', { field: '--from', hint: 'name the sandbox that asks' });
    return c.json(await dns().explain(engine.findSandbox(from), name, c.req.query('type') || undefined));
  });
  app.get(`${y}/dns/stats`, (c) => c.json({ listeners: dns().listenerCount(), ...dns().stats }));

  return app;
}

/** Docker's `until`: a duration like 10m/24h, or a timestamp. */
function untilToMs(v: string): number {
  const m = /^(\d+)(s|m|h)$/.exec(v);
  if (m) return Date.now() - Number(m[1]) * { s: 1e3, m: 6e4, h: 3.6e6 }[m[2] as 's' | 'm' | 'h'];
  const t = /^\d+$/.test(v) ? Number(v) * 1000 : Date.parse(v);
  if (Number.isNaN(t)) throw new YardError('INVALID_ARGUMENT', `until=${v} is not a duration or timestamp`, { field: 'filters', hint: 'use e.g. until=24h' });
  return t;
}
