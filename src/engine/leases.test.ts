/**
 * The lease room against an in-process DHCP server (a fake socket): what goes on the wire
 * for ipvlan endpoints, which share the parent's MAC (this machine's kernel has no ipvlan,
 * so the lab cannot show it), bounded failures, renewal and release.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeMessage, messageType, MSG, OPT, type DhcpMessage } from '../ipam/dhcp.js';
import type { DhcpPort } from '../kernel/index.js';
import type { EndpointRecord, NetworkRecord, SandboxRecord } from '../model/types.js';
import { ip, reply, u32 } from '../../test/unit/dhcp-fake.js';
import type { EngineCore } from './core.js';
import { Leases } from './leases.js';
import { Engine } from './engine.js';
import { MemoryStore, RecordingKernel } from '../../test/unit/fakes.js';
import { renderPlan } from '../plan/ops.js';
import type { NsState } from '../kernel/index.js';

const PARENT_MAC = '52:54:00:12:34:56';
const NET_ID = '1'.repeat(64);

function net(driver: 'ipvlan' | 'macvlan', options: Record<string, string> | null = null): NetworkRecord {
  return {
    id: NET_ID, name: 'lan', driver, scope: 'local', created: '', internal: false, attachable: false, ipv6: false,
    ipam: { driver: 'dhcp', options, config: [] }, options: { parent: 'lan0' }, labels: {}, driverState: { parent: 'lan0', mode: driver === 'ipvlan' ? 'l2' : 'bridge' },
  };
}
const ep = (id: string, ifname = 'eth0'): EndpointRecord => ({ id: id.repeat(64).slice(0, 64), networkId: NET_ID, ifname, aliases: [], order: 0 });
function sandbox(eps: EndpointRecord[], id = 'a'): SandboxRecord {
  return {
    id: id.repeat(64), name: `sb-${id}`, created: '', netns: `yard-u1-${id.repeat(12)}`, hostname: 'web', command: [], detached: true, status: 'created',
    dns: [], dnsSearch: [], dnsOptions: [], extraHosts: [], labels: {}, endpoints: Object.fromEntries(eps.map((e) => [e.networkId, e])),
  };
}

type Server = (m: DhcpMessage, to: string) => Buffer | undefined;

/** A server that hands out .150, .151, ... by client identifier, NAKs nothing. */
function dnsmasqLike(): { server: Server; seen: DhcpMessage[]; sentTo: string[] } {
  const seen: DhcpMessage[] = [];
  const sentTo: string[] = [];
  const byClient = new Map<string, string>();
  const server: Server = (m, to) => {
    seen.push(m);
    sentTo.push(to);
    const cid = m.options.get(OPT.clientId)!.toString('hex');
    if (!byClient.has(cid)) byClient.set(cid, `10.231.0.${150 + byClient.size}`);
    const addr = byClient.get(cid)!;
    const t = messageType(m);
    const opts: [number, number[]][] = [[OPT.serverId, ip('10.231.0.1')], [OPT.leaseTime, u32(120)], [OPT.subnetMask, ip('255.255.255.0')], [OPT.router, ip('10.231.0.1')], [OPT.clientId, [...m.options.get(OPT.clientId)!]]];
    if (t === MSG.DISCOVER) return reply(m.xid, MSG.OFFER, addr, opts, m.chaddr);
    if (t === MSG.REQUEST) return reply(m.xid, MSG.ACK, addr, opts, m.chaddr);
    return undefined;
  };
  return { server, seen, sentTo };
}

function setup(n: NetworkRecord, sbs: SandboxRecord[], server: Server) {
  const log: string[] = [];
  const opened: string[] = [];
  const port = (ns: string, ifname: string): DhcpPort => {
    opened.push(`${ns} ${ifname}`);
    const queue: Buffer[] = [];
    return {
      async send(msg, to) {
        const m = decodeMessage(msg)!;
        const r = server(m, to);
        if (r) queue.push(r);
      },
      async receive(accept, deadline) {
        while (Date.now() < deadline) {
          const b = queue.shift();
          if (b && accept(b)) return b;
          if (!b) await new Promise((r) => setTimeout(r, 10));
        }
        return undefined;
      },
      close() {},
    };
  };
  const state = { networks: new Map([[n.id, n]]), sandboxes: new Map(sbs.map((s) => [s.id, s])) };
  const core = {
    state,
    log: (m: string) => log.push(m),
    serial: <T>(fn: () => Promise<T>) => fn(),
    sandboxes: () => [...state.sandboxes.values()],
    commitSandbox: (s: SandboxRecord) => state.sandboxes.set(s.id, s),
    rewriteFiles: () => {},
    kernel: {
      openDhcpPort: async (ns: string, ifname: string) => port(ns, ifname),
      readNamespace: async () => ({ exists: true, links: new Map([['eth0', { name: 'eth0', up: true, mtu: 1500, mac: PARENT_MAC, addrs: [] }], ['eth1', { name: 'eth1', up: true, mtu: 1500, mac: PARENT_MAC, addrs: [] }]]) }),
      applyBestEffort: async () => [],
    },
  };
  return { leases: new Leases(core as unknown as EngineCore, () => true), log, opened, state };
}

describe('DHCP leases (fake server)', () => {
  it('ipvlan: two sandboxes\' endpoints sharing the parent MAC get distinct leases through distinct client identifiers', async () => {
    const n = net('ipvlan');
    const [e0, e1] = [ep('a'), ep('b')];
    const [sa, sb] = [sandbox([e0], 'a'), sandbox([e1], 'b')];
    const srv = dnsmasqLike();
    const { leases, opened } = setup(n, [sa, sb], srv.server);
    const release = await leases.acquireFor(sa, [e0]);
    expect(release).toBeTypeOf('function');
    await leases.acquireFor(sb, [e1]);
    expect(e0.ipv4).toBe('10.231.0.150/24');
    expect(e1.ipv4).toBe('10.231.0.151/24');
    expect(e0.lease).toMatchObject({ server: '10.231.0.1', router: '10.231.0.1', leaseSeconds: 120 });
    // Every message carries the parent's MAC as chaddr and the endpoint's own identifier.
    expect(new Set(srv.seen.map((m) => m.chaddr))).toEqual(new Set([PARENT_MAC]));
    const ids = new Set(srv.seen.map((m) => m.options.get(OPT.clientId)!.toString('latin1')));
    expect(ids).toEqual(new Set([`\0yard-${'a'.repeat(24)}`, `\0yard-${'b'.repeat(24)}`]));
    // Broadcast while there is no address; each endpoint's own interface in the sandbox's namespace.
    expect(new Set(srv.sentTo)).toEqual(new Set(['255.255.255.255']));
    expect(opened).toEqual([`${sa.netns} eth0`, `${sb.netns} eth0`]);
  });

  it('macvlan: the client identifier is 01 + the endpoint\'s own MAC', async () => {
    const e0 = { ...ep('c'), mac: '02:5a:cc:cc:cc:cc' };
    const sb = sandbox([e0]);
    const srv = dnsmasqLike();
    const { leases } = setup(net('macvlan'), [sb], srv.server);
    await leases.acquireFor(sb, [e0]);
    expect(srv.seen[0]!.chaddr).toBe('02:5a:cc:cc:cc:cc');
    expect(e0.lease!.clientId).toBe('01025acccccccc');
  });

  it('no answer: DHCP_NO_ANSWER within the network\'s bound, naming it; the endpoint stays without address', async () => {
    const e0 = ep('d');
    const sb = sandbox([e0]);
    const { leases } = setup(net('ipvlan', { timeout: '1' }), [sb], () => undefined);
    const t0 = Date.now();
    await expect(leases.acquireFor(sb, [e0])).rejects.toMatchObject({ code: 'DHCP_NO_ANSWER', message: expect.stringMatching(/network lan within 1 s: sandbox sb-a got no address for eth0 \(parent lan0\)/) });
    expect(Date.now() - t0).toBeLessThan(2_500);
    expect(e0.ipv4).toBeUndefined();
    expect(e0.lease).toBeUndefined();
  });

  it('a server that NAKs every request: DHCP_REFUSED with its reason, after a bounded number of tries', async () => {
    const e0 = ep('e');
    const sb = sandbox([e0]);
    const srv = dnsmasqLike();
    let requests = 0;
    const server: Server = (m, to) => {
      if (messageType(m) === MSG.REQUEST && ++requests) return reply(m.xid, MSG.NAK, '0.0.0.0', [[OPT.serverId, ip('10.231.0.1')], [OPT.message, [...Buffer.from('no address')]]], m.chaddr);
      return srv.server(m, to);
    };
    const { leases } = setup(net('ipvlan', { timeout: '2' }), [sb], server);
    await expect(leases.acquireFor(sb, [e0])).rejects.toMatchObject({ code: 'DHCP_REFUSED', message: expect.stringMatching(/DHCPNAK: no address/) });
    expect(requests).toBe(3);
    expect(e0.lease).toBeUndefined();
    expect(e0.ipv4).toBeUndefined();
  });

  it('renewal: a unicast REQUEST from our address; the record gets the new times. Release: RELEASE to the server', async () => {
    const e0 = ep('g');
    const sb = sandbox([e0]);
    const srv = dnsmasqLike();
    const { leases, state } = setup(net('ipvlan'), [sb], srv.server);
    await leases.acquireFor(sb, [e0]);
    const first = e0.lease!;
    await new Promise((r) => setTimeout(r, 20));
    srv.seen.length = 0;
    srv.sentTo.length = 0;
    await leases.renew(sb.id, NET_ID);
    expect(srv.sentTo).toEqual(['10.231.0.1']);
    expect(srv.seen[0]!.ciaddr).toBe('10.231.0.150');
    const renewed = state.sandboxes.get(sb.id)!.endpoints[NET_ID]!;
    expect(renewed.lease!.address).toBe(first.address);
    expect(Date.parse(renewed.lease!.expires)).toBeGreaterThan(Date.parse(first.expires));
    srv.seen.length = 0;
    await leases.release(sb, e0);
    expect(messageType(srv.seen[0]!)).toBe(MSG.RELEASE);
    expect(srv.sentTo.at(-1)).toBe('10.231.0.1');
    expect(srv.seen[0]!.options.get(OPT.clientId)!.toString('hex')).toBe(first.clientId);
    leases.stop();
  });
});

/** The recording kernel with a LAN uplink `lan0` and a DHCP server behind it. */
class LanKernel extends RecordingKernel {
  constructor(private readonly server: Server) {
    super();
  }
  override async readNamespace(ns?: string): Promise<NsState> {
    const st = await super.readNamespace(ns);
    if (!ns) st.links.set('lan0', { name: 'lan0', kind: 'veth', up: true, mtu: 1500, mac: PARENT_MAC, addrs: ['10.231.0.2/24'] });
    return st;
  }
  openDhcpPort = async (): Promise<DhcpPort> => {
    const queue: Buffer[] = [];
    return {
      send: async (msg, to) => {
        const r = this.server(decodeMessage(msg)!, to);
        if (r) queue.push(r);
      },
      receive: async (accept, deadline) => {
        while (Date.now() < deadline) {
          const b = queue.shift();
          if (b && accept(b)) return b;
          if (!b) await new Promise((r) => setTimeout(r, 10));
        }
        return undefined;
      },
      close: () => {},
    };
  };
}

describe('the pipeline with dhcp IPAM (recording kernel)', () => {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'yard-unit-dhcp-'));
  afterAll(() => fs.rmSync(stateDir, { recursive: true, force: true }));
  async function engineWith(server: Server) {
    const kernel = new LanKernel(server);
    const store = new MemoryStore();
    const engine = new Engine({ instance: 'u1', stateDir, dns: ['10.231.0.1'], dnsSearch: [], dnsOptions: [] }, kernel, store);
    await engine.createNetwork({ name: 'lan', driver: 'macvlan', options: { parent: 'lan0' }, ipamDriver: 'dhcp', ipamOptions: { timeout: '1' } });
    kernel.calls.length = 0;
    return { kernel, store, engine };
  }

  it('links first, then the lease, then its address and default route; the lease is in the record', async () => {
    const { kernel, store, engine } = await engineWith(dnsmasqLike().server);
    const { sb } = await engine.createSandbox({ name: 'web', networks: [{ network: 'lan' }], start: false });
    const [first, second] = kernel.appliedLines();
    expect(first!.join('\n')).toMatch(/type macvlan/);
    expect(first!.join('\n')).not.toMatch(/addr add/);
    expect(second).toEqual([`ip -n ${sb.netns} addr add 10.231.0.150/24 dev eth0`, `ip -n ${sb.netns} route replace default via 10.231.0.1 dev eth0`]);
    const ep = Object.values(store.sandboxes.get(sb.id)!.endpoints)[0]!;
    expect(ep.ipv4).toBe('10.231.0.150/24');
    expect(ep.lease).toMatchObject({ server: '10.231.0.1', router: '10.231.0.1' });
    expect(ep.mac).toMatch(/^02:5a:/);
    engine.stopLeases();
  });

  it('no answer: the error names the network, and the namespace, the link and the record are gone', async () => {
    const { kernel, store, engine } = await engineWith(() => undefined);
    await expect(engine.createSandbox({ name: 'web', networks: [{ network: 'lan' }], start: false })).rejects.toMatchObject({ code: 'DHCP_NO_ANSWER' });
    expect(kernel.namespaces()).toEqual([]);
    expect(store.sandboxes.size).toBe(0);
    expect(engine.sandboxes()).toEqual([]);
    // The applied plan was undone op by op.
    expect(renderPlan(kernel.calls.at(-1)!.plan).join('\n')).toMatch(/netns del/);
  });

  it('refuses --ip on a dhcp network before anything is applied', async () => {
    const { kernel, engine } = await engineWith(dnsmasqLike().server);
    await expect(engine.createSandbox({ name: 'web', networks: [{ network: 'lan', ip: '10.231.0.150' }], start: false })).rejects.toMatchObject({ code: 'INVALID_IP', field: '--ip' });
    expect(kernel.calls).toEqual([]);
  });
});
