/**
 * The topology page's routes on the daemon's API (the unix socket, and the opt-in loopback
 * listener of ui/listen.ts, which forwards only these and a few read-only routes):
 *
 *   GET /yard/ui/                    the page (ui/index.html in the package)
 *   GET /yard/ui/{app.js,style.css}  its script and style; cytoscape.min.js from the
 *                                    installed cytoscape package (no CDN)
 *   GET /yard/v1/topology            the graph (ui/topology.ts) as JSON
 *   GET /yard/v1/sandboxes/:id/routes  a sandbox's routes, read from the kernel
 *
 * The page also reads `GET /events` (it re-reads the topology when something changed),
 * `/yard/v1/sandboxes/:id/ports/explain` and `/yard/v1/dns/explain`. Everything here only
 * reads. The page is served with a Content-Security-Policy that allows scripts, styles and
 * requests from the daemon only.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import type { Context, Hono } from 'hono';
import { YardError } from '../errors.js';
import type { Engine } from '../engine/engine.js';
import { PACKAGE_ROOT } from '../paths.js';
import type { PeerInput, RemoteEndpointInput, TopologyInput } from './topology.js';

/** Where the page's own files are: `ui/` in the package (beside bin/ and dist/). */
export const UI_DIR = path.join(PACKAGE_ROOT, 'ui');

/** The page's path on the API. */
export const UI_PATH = '/yard/ui/';

/**
 * The one style element cytoscape adds to the document (its container must be
 * position: relative); allowed by its hash, so no other inline style is.
 */
const CYTOSCAPE_INLINE_STYLE = '.__________cytoscape_container { position: relative; }';

export function contentSecurityPolicy(): string {
  const hash = crypto.createHash('sha256').update(CYTOSCAPE_INLINE_STYLE).digest('base64');
  return [
    "default-src 'none'",
    "script-src 'self'",
    `style-src 'self' 'sha256-${hash}'`,
    "img-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** Headers of every page answer: the policy, no sniffing, no framing, no referrer, no cache. */
export function pageHeaders(type: string): Record<string, string> {
  return {
    'Content-Type': type,
    'Content-Security-Policy': contentSecurityPolicy(),
    'X-Content-Type-Options': 'nosniff',
    'X-Frame-Options': 'DENY',
    'Referrer-Policy': 'no-referrer',
    'Cache-Control': 'no-store',
  };
}

const ASSETS: Record<string, { type: string; file: () => string }> = {
  'index.html': { type: 'text/html; charset=utf-8', file: () => path.join(UI_DIR, 'index.html') },
  'app.js': { type: 'text/javascript; charset=utf-8', file: () => path.join(UI_DIR, 'app.js') },
  'style.css': { type: 'text/css; charset=utf-8', file: () => path.join(UI_DIR, 'style.css') },
  'cytoscape.min.js': { type: 'text/javascript; charset=utf-8', file: () => createRequire(import.meta.url).resolve('cytoscape/dist/cytoscape.min.js') },
};

const cache = new Map<string, Buffer>();

function asset(name: string): { body: Buffer; type: string } | undefined {
  const a = Object.hasOwn(ASSETS, name) ? ASSETS[name] : undefined;
  if (!a) return undefined;
  let body = cache.get(name);
  if (!body) {
    let file = '';
    try {
      file = a.file();
      body = fs.readFileSync(file);
    } catch (e) {
      throw new YardError('INTERNAL', `the topology page's file ${name} is missing${file ? ` (${file})` : ''}: ${(e as Error).message}`, {
        hint: 'the ui/ directory and the cytoscape package ship with Switchyard: reinstall it',
      });
    }
    cache.set(name, body);
  }
  return { body, type: a.type };
}

/** What the daemon knows, as the topology builder's input. */
export function topologyInput(engine: Engine): TopologyInput {
  const networks = engine.networks();
  const input: TopologyInput = { instance: engine.cfg.instance, networks, sandboxes: engine.sandboxes().map((s) => engine.refresh(s)) };
  const extras = engine.cluster?.inspectExtras;
  if (extras) {
    const peers = new Map<string, PeerInput>();
    const remote: RemoteEndpointInput[] = [];
    let connected = false;
    // The peers are the cluster's (any network answers them); the remote endpoints are per global network.
    const globals = networks.filter((n) => n.scope === 'global');
    for (const net of globals.length ? globals : networks.slice(0, 1)) {
      const x = extras.call(engine.cluster, net) as {
        Peers?: { Name: string; IP: string }[];
        RemoteContainers?: Record<string, { Name: string; EndpointID: string; IPv4Address?: string; IPv6Address?: string; MacAddress?: string; Node: string; VTEP: string }>;
        ClusterStore?: { Connected?: boolean };
      };
      connected ||= !!x.ClusterStore?.Connected;
      for (const p of x.Peers ?? []) peers.set(p.Name, { name: p.Name, vtep: p.IP });
      if (net.scope !== 'global') continue;
      for (const [sandboxId, r] of Object.entries(x.RemoteContainers ?? {})) {
        remote.push({
          networkId: net.id,
          sandboxId,
          sandboxName: r.Name,
          endpointId: r.EndpointID,
          node: r.Node,
          vtep: r.VTEP,
          ...(r.IPv4Address ? { ipv4: r.IPv4Address } : {}),
          ...(r.IPv6Address ? { ipv6: r.IPv6Address } : {}),
          ...(r.MacAddress ? { mac: r.MacAddress } : {}),
        });
      }
    }
    input.cluster = { node: engine.cfg.instance, connected, peers: [...peers.values()], remote };
  }
  return input;
}

/** The page, its files, the topology and a sandbox's routes (see the file's comment). */
export function mountUi(app: Hono, engine: Engine): void {
  const serve = (c: Context, name: string) => {
    const a = asset(name);
    if (!a) return c.json({ message: `the topology page has no file ${JSON.stringify(name)}`, code: 'INVALID_ARGUMENT', hint: `open ${UI_PATH}` }, 404);
    return c.body(new Uint8Array(a.body), 200, pageHeaders(a.type));
  };
  app.get('/yard/ui', (c) => c.redirect(UI_PATH, 301));
  app.get(UI_PATH, (c) => serve(c, 'index.html'));
  app.get(`${UI_PATH}:file`, (c) => serve(c, c.req.param('file')));

  app.get('/yard/v1/topology', async (c) => {
    // The layout code loads at the first request for it.
    const { buildTopology } = await import('./topology.js');
    c.header('Cache-Control', 'no-store');
    return c.json(buildTopology(topologyInput(engine)));
  });

  app.get('/yard/v1/sandboxes/:id/routes', async (c) => {
    const sb = engine.findSandbox(c.req.param('id'));
    c.header('Cache-Control', 'no-store');
    if (!sb.netns) {
      return c.json({ sandbox: sb.name, netns: null, routes: [], note: sb.runtime ? `the ${sb.runtime.kind} runtime holds this sandbox's namespace` : "the sandbox shares the host's namespace (--network host)" });
    }
    return c.json({ sandbox: sb.name, netns: sb.netns, routes: await engine.kernel.readRoutes(sb.netns) });
  });
}
