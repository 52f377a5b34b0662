import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Hono } from 'hono';
import { buildTopology, nodeId, sandboxDnsNames, type Topology } from './topology.js';
import { contentSecurityPolicy, topologyInput } from './routes.js';
import { createApp } from '../api/server.js';
import { makeEngine, type TestEngine } from '../../test/unit/fakes.js';
import type { NetworkRecord, SandboxRecord } from '../model/types.js';

const node = (t: Topology, id: string) => t.nodes.find((n) => n.data.id === id);
const edge = (t: Topology, pred: (e: Topology['edges'][number]['data']) => boolean) => t.edges.find((e) => pred(e.data))?.data;

describe('buildTopology (engine state)', () => {
  let t: TestEngine;
  let app: Hono;
  beforeEach(async () => {
    t = await makeEngine();
    app = createApp(t.engine, () => ({ instance: 'u1' }));
    await t.engine.createNetwork({ name: 'front', ipam: [{ subnet: '10.40.0.0/24' }], labels: { note: '<img src=x onerror=alert(1)>' } });
    await t.engine.createNetwork({ name: 'back', ipam: [{ subnet: '10.41.0.0/24' }], internal: true });
    await t.engine.createSandbox({ name: 'web', networks: [{ network: 'front', aliases: ['www'] }, { network: 'back' }], publish: ['8080:80'], start: false, labels: { owner: '"quoted" & <b>' } });
    await t.engine.createSandbox({ name: 'db', networks: [{ network: 'back', ip: '10.41.0.9' }], start: false });
  });
  afterEach(() => t.cleanup());

  it('draws this host, the networks with their bridges, the sandboxes with one endpoint edge per interface, and published ports', () => {
    const topo = buildTopology(topologyInput(t.engine));
    const front = t.engine.findNetwork('front');
    const back = t.engine.findNetwork('back');
    const web = t.engine.findSandbox('web');
    const db = t.engine.findSandbox('db');
    expect(node(topo, nodeId.host('u1'))?.data.kind).toBe('host');
    // Networks: front, back and the default bridge; host and none are not drawn while unused.
    expect(topo.nodes.filter((n) => n.data.kind === 'network').map((n) => n.data.label).sort()).toEqual(['back', 'bridge', 'front']);
    // Each network's kernel bridge is a node inside this host, linked to its network.
    const frontBridge = `br-${front.id.slice(0, 12)}`;
    expect(node(topo, nodeId.link(frontBridge))?.data.kind).toBe('bridge');
    expect(edge(topo, (e) => e.source === nodeId.link(frontBridge) && e.target === nodeId.host('u1'))?.kind).toBe('host');
    expect(node(topo, nodeId.link('yard0'))?.data.kind).toBe('bridge');
    expect(edge(topo, (e) => e.source === nodeId.network(front.id) && e.target === nodeId.link(frontBridge))?.kind).toBe('carrier');
    // web: two endpoints (eth0 on front, eth1 on back), labelled with the interface and address.
    const webEdges = topo.edges.filter((e) => e.data.kind === 'endpoint' && e.data.source === nodeId.sandbox(web.id));
    expect(webEdges.map((e) => [e.data.target, e.data.label]).sort()).toEqual(
      [
        [nodeId.network(front.id), `eth0 ${web.endpoints[front.id]!.ipv4!.split('/')[0]}`],
        [nodeId.network(back.id), `eth1 ${web.endpoints[back.id]!.ipv4!.split('/')[0]}`],
      ].sort(),
    );
    expect(edge(topo, (e) => e.source === nodeId.sandbox(db.id))?.label).toBe('eth0 10.41.0.9');
    // The published port: a node on this host, an edge to web.
    const port = topo.nodes.find((n) => n.data.kind === 'port');
    expect(port?.data.label).toBe('*:8080/tcp');
    expect(edge(topo, (e) => e.source === port!.data.id && e.target === nodeId.host('u1'))?.kind).toBe('host');
    expect(edge(topo, (e) => e.kind === 'publish')).toMatchObject({ source: port!.data.id, target: nodeId.sandbox(web.id), label: '-> 80' });
    expect(topo.counts).toMatchObject({ host: 1, network: 3, bridge: 3, sandbox: 2, port: 1, peer: 0 });
    // Every edge joins two drawn nodes (the layout refuses dangling edges).
    const ids = new Set(topo.nodes.map((n) => n.data.id));
    for (const e of topo.edges) expect(ids.has(e.data.source) && ids.has(e.data.target)).toBe(true);
  });

  it("carries a sandbox's addresses, DNS names, ports and labels as data (text, never markup)", () => {
    const topo = buildTopology(topologyInput(t.engine));
    const web = t.engine.findSandbox('web');
    const info = node(topo, nodeId.sandbox(web.id))!.data.info as Record<string, any>;
    expect(info.addresses.map((a: any) => [a.network, a.ifname])).toEqual([['front', 'eth0'], ['back', 'eth1']]);
    expect(info.ports).toEqual(['8080:80/tcp']);
    expect(info.labels).toEqual({ owner: '"quoted" & <b>' });
    // DNS: the names the embedded resolver answers for web, per network.
    const front = info.dnsNames.find((d: any) => d.network === 'front');
    expect(front.names).toEqual(expect.arrayContaining(['web', 'www', 'web.front', 'www.front', web.id.slice(0, 12)]));
    expect(info.dnsNames.find((d: any) => d.network === 'back').names).not.toContain('www');
    // A network label with markup is kept verbatim (the page shows it as text).
    const net = node(topo, nodeId.network(t.engine.findNetwork('front').id))!.data.info as Record<string, any>;
    expect(net.labels.note).toBe('<img src=x onerror=alert(1)>');
  });

  it('a sandbox on host is drawn with the host network; removed records and config-only networks are not', async () => {
    await t.engine.createSandbox({ name: 'hosty', networks: [{ network: 'host' }], start: false });
    const topo = buildTopology(topologyInput(t.engine));
    expect(topo.nodes.filter((n) => n.data.kind === 'network').map((n) => n.data.label).sort()).toEqual(['back', 'bridge', 'front', 'host']);
    const input = topologyInput(t.engine);
    const gone = { ...input, sandboxes: input.sandboxes.map((s) => (s.name === 'db' ? { ...s, deleting: true } : s)), networks: input.networks.map((n) => (n.name === 'front' ? { ...n, configOnly: true } : n)) };
    const t2 = buildTopology(gone);
    expect(t2.nodes.map((n) => n.data.label)).not.toContain('db');
    expect(t2.nodes.map((n) => n.data.label)).not.toContain('front');
    // web's endpoint on front is not drawn any more (no dangling edge), its endpoint on back is.
    expect(t2.edges.filter((e) => e.data.kind === 'endpoint').map((e) => e.data.label.split(' ')[0])).toEqual(expect.arrayContaining(['eth1']));
    const ids = new Set(t2.nodes.map((n) => n.data.id));
    for (const e of t2.edges) expect(ids.has(e.data.source) && ids.has(e.data.target)).toBe(true);
  });

  it('GET /yard/v1/topology answers the graph; a sandbox unknown to /routes is a 404 naming it', async () => {
    const r = await app.request('/yard/v1/topology');
    expect(r.status).toBe(200);
    const body = (await r.json()) as Topology;
    expect(body.nodes.map((n) => n.data.label)).toEqual(expect.arrayContaining(['web', 'db', 'front', 'back']));
    const routes = await app.request('/yard/v1/sandboxes/web/routes');
    expect(routes.status).toBe(200);
    expect(await routes.json()).toMatchObject({ sandbox: 'web', netns: t.engine.findSandbox('web').netns, routes: [] });
    const missing = await app.request('/yard/v1/sandboxes/nosuch/routes');
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { message: string }).message).toMatch(/nosuch/);
  });

  it('the page and its files are served with a restrictive Content-Security-Policy; anything else under /yard/ui/ is a 404', async () => {
    const page = await app.request('/yard/ui/');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const csp = page.headers.get('content-security-policy')!;
    expect(csp).toBe(contentSecurityPolicy());
    expect(csp).toMatch(/default-src 'none'/);
    expect(csp).toMatch(/script-src 'self'(;|$)/);
    expect(csp).toMatch(/connect-src 'self'/);
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|https?:/);
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    const html = await page.text();
    // No inline script or style: everything comes from the daemon.
    expect(html).not.toMatch(/<script>|<script [^>]*>[^<]|style=|<style/);
    expect(html).toMatch(/src="cytoscape.min.js"/);
    for (const f of ['app.js', 'style.css', 'cytoscape.min.js']) {
      const a = await app.request(`/yard/ui/${f}`);
      expect(a.status, f).toBe(200);
      expect(a.headers.get('content-security-policy')).toBe(csp);
    }
    expect((await app.request('/yard/ui/cytoscape.min.js').then((r) => r.text())).length).toBeGreaterThan(100_000);
    expect((await app.request('/yard/ui')).headers.get('location')).toBe('/yard/ui/');
    for (const bad of ['/yard/ui/../package.json', '/yard/ui/%2e%2e%2fpackage.json', '/yard/ui/toString', '/yard/ui/index.js']) {
      expect((await app.request(bad)).status, bad).toBe(404);
    }
  });

  it('the page script never writes markup: no innerHTML, outerHTML, insertAdjacentHTML, document.write or eval', async () => {
    const js = await (await app.request('/yard/ui/app.js')).text();
    expect(js).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function/);
    expect(js).toMatch(/textContent|createTextNode/);
    // Positive control: the same check finds markup writing where it is.
    expect('x.innerHTML = y').toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function/);
  });
});

describe('buildTopology (parent links and overlay peers)', () => {
  const base = (over: Partial<NetworkRecord>): NetworkRecord => ({
    id: 'a'.repeat(64),
    name: 'n',
    driver: 'bridge',
    scope: 'local',
    created: '2024-01-01T00:00:00Z',
    internal: false,
    attachable: false,
    ipv6: false,
    ipam: { driver: 'default', options: null, config: [{ subnet: '10.50.0.0/24', gateway: '10.50.0.1' }] },
    options: {},
    labels: {},
    driverState: {},
    ...over,
  });
  const sandbox = (over: Partial<SandboxRecord>): SandboxRecord => ({
    id: 'c'.repeat(64),
    name: 's',
    created: '2024-01-01T00:00:00Z',
    netns: 'yard-u1-cccccccccccc',
    hostname: 'cccccccccccc',
    command: [],
    detached: false,
    status: 'created',
    dns: [],
    dnsSearch: [],
    dnsOptions: [],
    extraHosts: [],
    labels: {},
    endpoints: {},
    ...over,
  });

  it('two macvlan networks on one parent share its node; an overlay network shows its VXLAN device, the peers with their VTEP, and their sandboxes', () => {
    const mv1 = base({ id: '1'.repeat(64), name: 'lan1', driver: 'macvlan', driverState: { parent: 'lan0', mode: 'bridge' } });
    const mv2 = base({ id: '2'.repeat(64), name: 'lan2', driver: 'macvlan', driverState: { parent: 'lan0', mode: 'bridge' }, ipam: { driver: 'default', options: null, config: [{ subnet: '10.51.0.0/24' }] } });
    const ov = base({ id: '3'.repeat(64), name: 'ov', driver: 'overlay', scope: 'global', driverState: { vxlan: 'vx-333333', bridge: 'ov-333333', vni: 4097 } });
    const local = sandbox({ name: 'here', endpoints: { [ov.id]: { id: 'e'.repeat(64), networkId: ov.id, ifname: 'eth0', ipv4: '10.50.0.2/24', aliases: [], order: 0 } } });
    const topo = buildTopology({
      instance: 'h1',
      networks: [mv1, mv2, ov],
      sandboxes: [local],
      cluster: {
        node: 'h1',
        connected: true,
        peers: [{ name: 'h1', vtep: '10.231.0.2' }, { name: 'h2', vtep: '10.231.0.3' }],
        remote: [{ networkId: ov.id, sandboxId: 'd'.repeat(64), sandboxName: 'there', endpointId: 'f'.repeat(64), node: 'h2', vtep: '10.231.0.3', ipv4: '10.50.0.3/24' }],
      },
    });
    const parents = topo.edges.filter((e) => e.data.kind === 'parent');
    expect(parents.map((e) => [e.data.source, e.data.target])).toEqual([
      [nodeId.network(mv1.id), nodeId.link('lan0')],
      [nodeId.network(mv2.id), nodeId.link('lan0')],
    ]);
    expect(topo.nodes.filter((n) => n.data.kind === 'parent')).toHaveLength(1);
    // The overlay: its VXLAN device and bridge on this host, this host not drawn as its own peer.
    expect(node(topo, nodeId.link('vx-333333'))?.data.kind).toBe('vxlan');
    expect(node(topo, nodeId.link('ov-333333'))?.data.kind).toBe('bridge');
    // The parent link and the VXLAN device live in this host; nothing of this host's is tied to the peer.
    expect(edge(topo, (e) => e.source === nodeId.link('lan0'))).toMatchObject({ kind: 'host', target: nodeId.host('h1') });
    expect(edge(topo, (e) => e.source === nodeId.link('vx-333333') && e.kind === 'host')?.target).toBe(nodeId.host('h1'));
    expect(topo.nodes.filter((n) => n.data.kind === 'peer').map((n) => n.data.label)).toEqual(['h2']);
    expect(edge(topo, (e) => e.kind === 'vtep')).toMatchObject({ source: nodeId.link('vx-333333'), target: nodeId.host('h2'), label: 'VTEP 10.231.0.3' });
    // The remote sandbox sits in its host's box and joins the overlay network.
    const there = node(topo, nodeId.remote('h2', 'd'.repeat(64)))!;
    expect(there.data).toMatchObject({ kind: 'remote-sandbox', label: 'there' });
    expect(edge(topo, (e) => e.source === there.data.id && e.kind === 'host')?.target).toBe(nodeId.host('h2'));
    expect(edge(topo, (e) => e.source === there.data.id && e.kind === 'endpoint')).toMatchObject({ kind: 'endpoint', target: nodeId.network(ov.id), label: '10.50.0.3' });
    expect(node(topo, nodeId.host('h1'))?.data.info).toMatchObject({ clusterConnected: true });
    // Without a cluster: no peers at all (a positive control for the peer count above).
    expect(buildTopology({ instance: 'h1', networks: [ov], sandboxes: [local] }).counts.peer).toBe(0);
  });

  it('2000 sandboxes on one network: one node and one endpoint edge each, with their DNS names', () => {
    const net = base({ id: '7'.repeat(64), name: 'big', ipam: { driver: 'default', options: null, config: [{ subnet: '10.64.0.0/16' }] } });
    const sbs = Array.from({ length: 2000 }, (_, i) => {
      const id = createHash('sha256').update(String(i)).digest('hex');
      return sandbox({ id, name: `s${i}`, endpoints: { [net.id]: { id: `e${id.slice(1)}`, networkId: net.id, ifname: 'eth0', ipv4: `10.64.${i >> 8}.${(i & 255) + 1}/16`, aliases: [`a${i}`], order: 0 } } });
    });
    const topo = buildTopology({ instance: 'h1', networks: [net], sandboxes: sbs });
    expect(topo.counts.sandbox).toBe(2000);
    expect(topo.edges.filter((e) => e.data.kind === 'endpoint')).toHaveLength(2000);
    const last = node(topo, nodeId.sandbox(sbs[1999]!.id))!.data.info as { dnsNames: { names: string[] }[] };
    expect(last.dnsNames[0]!.names).toEqual(expect.arrayContaining(['s1999', 'a1999', 's1999.big']));
  });

  it('sandboxDnsNames lists nothing for a network without the embedded DNS (the default bridge)', () => {
    const bridge = base({ name: 'bridge', predefined: true, driverState: { bridge: 'yard0' } });
    const user = base({ id: '4'.repeat(64), name: 'user' });
    const sb = sandbox({
      name: 'x',
      endpoints: {
        [bridge.id]: { id: '5'.repeat(64), networkId: bridge.id, ifname: 'eth0', ipv4: '10.50.0.2/24', aliases: [], order: 0 },
        [user.id]: { id: '6'.repeat(64), networkId: user.id, ifname: 'eth1', ipv4: '10.50.0.3/24', aliases: ['alias'], order: 1 },
      },
    });
    expect(sandboxDnsNames([bridge, user], [sb], sb)).toEqual([{ network: 'user', names: ['x', 'alias', 'x.user', 'alias.user', 'cccccccccccc', 'cccccccccccc.user'] }]);
  });
});
