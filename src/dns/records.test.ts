import { describe, expect, it } from 'vitest';
import type { EndpointRecord, NetworkRecord, SandboxRecord } from '../model/types.js';
import {
  addressOfReverseName,
  buildRecords,
  embeddedResolvConf,
  isLoop,
  lookupLocal,
  mayForward,
  refreshRecords,
  servesDns,
  updateRecords,
  type Records,
  upstreamsOf,
  usesEmbeddedDns,
} from './records.js';

function net(name: string, extra: Partial<NetworkRecord> = {}): NetworkRecord {
  return {
    id: `${name}`.padEnd(64, '0'),
    name,
    driver: 'bridge',
    scope: 'local',
    created: '2026-01-01T00:00:00.000000000Z',
    internal: false,
    attachable: false,
    ipv6: false,
    ipam: { driver: 'default', options: {}, config: [] },
    options: {},
    labels: {},
    driverState: {},
    ...extra,
  };
}

let seq = 0;
function sandbox(name: string, eps: [NetworkRecord, string, string?, string[]?][], extra: Partial<SandboxRecord> = {}): SandboxRecord {
  seq++;
  const endpoints: Record<string, EndpointRecord> = {};
  eps.forEach(([n, v4, v6, aliases], order) => {
    endpoints[n.id] = { id: `ep${seq}${order}`, networkId: n.id, ifname: `eth${order}`, ipv4: `${v4}/24`, ...(v6 ? { ipv6: `${v6}/64` } : {}), aliases: aliases ?? [], order };
  });
  return {
    id: `${seq.toString(16).padStart(2, '0')}abcdef0123456789`.padEnd(64, '9'),
    name,
    created: `2026-01-01T00:00:${String(seq % 60).padStart(2, '0')}.000000000Z`,
    netns: `yard-t-${name}`,
    hostname: name,
    command: [],
    detached: true,
    status: 'running',
    dns: [],
    dnsSearch: [],
    dnsOptions: [],
    extraHosts: [],
    labels: {},
    endpoints,
    ...extra,
  };
}

const app = net('app');
const other = net('other');
const internal = net('secret', { internal: true });
const bridge = net('bridge', { predefined: true, driverState: { defaultBridge: true } });
const host = net('host', { driver: 'host', predefined: true });

describe('records', () => {
  const web1 = sandbox('web1', [[app, '172.18.0.2', 'fd00:1::2', ['svc']]]);
  const web2 = sandbox('Web2', [[app, '172.18.0.3', undefined, ['svc', 'only2']]]);
  const o1 = sandbox('o1', [[other, '172.19.0.2']]);
  const both = sandbox('both', [[app, '172.18.0.9'], [other, '172.19.0.9']]);
  const b1 = sandbox('b1', [[bridge, '172.17.0.2']]);
  const recs = buildRecords([app, other, internal, bridge, host], [web1, web2, o1, both, b1]);

  it('serves user-defined interface networks only', () => {
    expect([app, other, internal, bridge, host].map(servesDns)).toEqual([true, true, true, false, false]);
    expect(servesDns(net('yard_gwbridge', { labels: { 'switchyard.role': 'overlay gateway bridge' } }))).toBe(false);
    expect([...recs.networks.values()].map((n) => n.net.name).sort()).toEqual(['app', 'other', 'secret']);
    expect(usesEmbeddedDns(recs, b1)).toBe(false);
    expect(usesEmbeddedDns(recs, web1)).toBe(true);
  });

  it('answers name, alias, short ID and name.network, case-insensitively', () => {
    const a = (q: string, t = 'A') => {
      const r = lookupLocal(recs, web1, q, t);
      return r.kind === 'addresses' ? r.addresses : r.kind;
    };
    expect(a('web2')).toEqual(['172.18.0.3']);
    expect(a('WEB2.')).toEqual(['172.18.0.3']);
    expect(a('only2')).toEqual(['172.18.0.3']);
    expect(a(web2.id.slice(0, 12))).toEqual(['172.18.0.3']);
    expect(a(web2.id.slice(0, 12).toUpperCase())).toEqual(['172.18.0.3']);
    expect(a('web2.app')).toEqual(['172.18.0.3']);
    expect(a('svc.APP')).toEqual(['172.18.0.2', '172.18.0.3']);
    expect(a('web1', 'AAAA')).toEqual(['fd00:1::2']);
    expect(a('web2', 'AAAA')).toBe('nodata');
    expect(a('web2', 'MX')).toBe('nodata');
    expect(a(web2.id.slice(0, 11))).toBe('none');
    expect(a('web2.other')).toBe('none');
  });

  it('returns every holder of a shared alias and rotates their order', () => {
    let k = 0;
    const firsts = Array.from({ length: 4 }, () => {
      const r = lookupLocal(recs, web1, 'svc', 'A', () => k++);
      expect(r.kind === 'addresses' && [...r.addresses].sort()).toEqual(['172.18.0.2', '172.18.0.3']);
      return r.kind === 'addresses' ? r.addresses[0] : '';
    });
    expect(firsts).toEqual(['172.18.0.2', '172.18.0.3', '172.18.0.2', '172.18.0.3']);
  });

  it('scopes names to the networks the asker is on', () => {
    expect(lookupLocal(recs, o1, 'web1', 'A').kind).toBe('none');
    expect(lookupLocal(recs, web1, 'o1', 'A').kind).toBe('none');
    const r = lookupLocal(recs, both, 'o1', 'A');
    expect(r.kind === 'addresses' && r.addresses).toEqual(['172.19.0.2']);
    expect(lookupLocal(recs, b1, 'web1', 'A')).toMatchObject({ kind: 'none', reason: expect.stringContaining('no network with embedded DNS') });
  });

  it('answers PTR with name.network for IPv4 and IPv6, only in scope', () => {
    expect(lookupLocal(recs, web1, '3.0.18.172.in-addr.arpa', 'PTR')).toMatchObject({ kind: 'ptr', target: 'Web2.app' });
    const v6 = '2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.0.0.0.d.f.ip6.arpa';
    expect(lookupLocal(recs, web2, v6, 'PTR')).toMatchObject({ kind: 'ptr', target: 'web1.app', address: 'fd00:1::2' });
    expect(lookupLocal(recs, o1, '3.0.18.172.in-addr.arpa', 'PTR').kind).toBe('none');
  });

  it('reads reverse names strictly', () => {
    expect(addressOfReverseName('4.3.2.1.in-addr.arpa.')).toBe('1.2.3.4');
    expect(addressOfReverseName('3.2.1.in-addr.arpa')).toBeNull();
    expect(addressOfReverseName('256.3.2.1.in-addr.arpa')).toBeNull();
    expect(addressOfReverseName('01.3.2.1.in-addr.arpa')).toBeNull();
    expect(addressOfReverseName('x.ip6.arpa')).toBeNull();
  });

  it('resolves remote sandboxes (no namespace here) on a shared network, without giving them a scope', () => {
    const overlay = net('ov', { driver: 'bridge', scope: 'global' });
    const local = sandbox('l1', [[overlay, '10.240.0.2']]);
    const remote = sandbox('r1', [[overlay, '10.240.0.3']], { netns: null });
    const r = buildRecords([overlay], [local, remote]);
    expect(lookupLocal(r, local, 'r1', 'A')).toMatchObject({ addresses: ['10.240.0.3'] });
    expect(usesEmbeddedDns(r, remote)).toBe(false);
  });

  it('forgets removed sandboxes and tombstoned ones', () => {
    const r = buildRecords([app], [web1, { ...web2, deleting: true }]);
    expect(lookupLocal(r, web1, 'web2', 'A').kind).toBe('none');
    expect(lookupLocal(r, web1, 'svc', 'A')).toMatchObject({ addresses: ['172.18.0.2'] });
  });

  it('forwards only for sandboxes with a non-internal network, to at most 3 servers', () => {
    const nets = new Map([app, internal].map((n) => [n.id, n]));
    expect(mayForward(sandbox('i', [[internal, '10.9.0.2']]), nets)).toBe(false);
    expect(mayForward(sandbox('j', [[internal, '10.9.0.3'], [app, '172.18.0.7']]), nets)).toBe(true);
    expect(upstreamsOf(web1, ['1.1.1.1', '2.2.2.2', '3.3.3.3', '4.4.4.4'])).toEqual(['1.1.1.1', '2.2.2.2', '3.3.3.3']);
    expect(upstreamsOf({ ...web1, dns: ['9.9.9.9'] }, ['1.1.1.1'])).toEqual(['9.9.9.9']);
    expect([isLoop('127.0.0.11'), isLoop('::ffff:127.0.0.11'), isLoop('127.0.0.1')]).toEqual([true, true, false]);
  });

  it('writes Docker\'s resolv.conf: 127.0.0.11, ndots:0 unless the user chose ndots', () => {
    expect(embeddedResolvConf(web1, { dnsSearch: ['corp'], dnsOptions: [] })).toEqual({ nameservers: ['127.0.0.11'], search: ['corp'], options: ['ndots:0'] });
    const custom = { ...web1, dnsSearch: ['a.example'], dnsOptions: ['timeout:1'] };
    expect(embeddedResolvConf(custom, { dnsSearch: ['corp'], dnsOptions: [] })).toEqual({ nameservers: ['127.0.0.11'], search: ['a.example'], options: ['ndots:0', 'timeout:1'] });
    expect(embeddedResolvConf({ ...web1, dnsOptions: ['ndots:3'] }, { dnsSearch: [], dnsOptions: [] }).options).toEqual(['ndots:3']);
  });
});

describe('records built again from changed records', () => {
  it('a renamed sandbox or network answers by its new name only, even when the endpoint record is the same object', () => {
    const app = net('app');
    const web = sandbox('web', [[app, '10.0.0.2', 'fd00::2']]);
    const first = buildRecords([app], [web]);
    expect(lookupLocal(first, web, 'web.app', 'A')).toMatchObject({ kind: 'addresses', addresses: ['10.0.0.2'] });
    // Same endpoint objects, new sandbox and network records (as a commit makes them).
    const renamed: SandboxRecord = { ...web, name: 'www' };
    const app2: NetworkRecord = { ...app, name: 'shop' };
    const second = buildRecords([app2], [renamed]);
    expect(lookupLocal(second, renamed, 'www.shop', 'A')).toMatchObject({ kind: 'addresses', addresses: ['10.0.0.2'] });
    expect(lookupLocal(second, renamed, 'web', 'A').kind).toBe('none');
    expect(lookupLocal(second, renamed, 'www.app', 'A').kind).toBe('none');
    expect(second.networks.get(app.id)!.ptr.get('fd00::2')).toEqual([{ target: 'www.shop', sandboxName: 'www', sandboxId: web.id }]);
  });
  it('IPv6 addresses are canonical whatever their spelling, IPv4 ones as given', () => {
    const app = net('app');
    const a = sandbox('a', [[app, '10.0.0.2', 'FD00:0:0::0002']]);
    const r = buildRecords([app], [a]);
    expect([...r.networks.get(app.id)!.ptr.keys()].sort()).toEqual(['10.0.0.2', 'fd00::2']);
  });
});

/** Records as plain data, lists in order, map keys sorted: equal iff they answer the same. */
function plain(r: Records) {
  const sorted = <V>(m: Map<string, V>) => [...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return {
    sandboxes: [...r.sandboxes.keys()].sort(),
    networks: sorted(r.networks).map(([id, nn]) => ({ id, net: nn.net, names: sorted(nn.names), ptr: sorted(nn.ptr) })),
  };
}

describe('records updated in place, one sandbox at a time', () => {
  const a = net('a');
  const b = net('b');
  const c = net('c', { labels: { 'switchyard.dns.domain': 'dns.podman' } });
  const nets = [a, b, c, bridge];
  const at = (sec: number) => `2026-01-01T00:${String(Math.floor(sec / 60)).padStart(2, '0')}:${String(sec % 60).padStart(2, '0')}.000000000Z`;

  /** Apply `next` (a sandbox record, or [id] for a removal) both ways and compare with a full build. */
  function stepper(start: SandboxRecord[]) {
    const live = new Map(start.map((s) => [s.id, s]));
    const recs = buildRecords(nets, start);
    return {
      recs,
      put(sb: SandboxRecord) {
        live.set(sb.id, sb);
        updateRecords(recs, sb.id, sb);
        expect(plain(recs)).toEqual(plain(buildRecords(nets, live.values())));
      },
      drop(id: string) {
        live.delete(id);
        updateRecords(recs, id);
        expect(plain(recs)).toEqual(plain(buildRecords(nets, live.values())));
      },
    };
  }

  it('adds and removes: an older sandbox added late takes its place in a shared name, removal leaves no empty name', () => {
    const s1 = sandbox('s1', [[a, '10.1.0.2', undefined, ['svc']]], { created: at(10) });
    const s2 = sandbox('s2', [[a, '10.1.0.3', undefined, ['svc']]], { created: at(30) });
    const s3 = sandbox('s3', [[a, '10.1.0.4', undefined, ['svc']]], { created: at(20) });
    const t = stepper([s1]);
    t.put(s2);
    t.put(s3);
    expect(t.recs.networks.get(a.id)!.names.get('svc')!.map((h) => h.sandboxName)).toEqual(['s1', 's3', 's2']);
    expect(lookupLocal(t.recs, s1, 's3', 'A')).toMatchObject({ addresses: ['10.1.0.4'] });
    t.drop(s3.id);
    expect(lookupLocal(t.recs, s1, 's3', 'A').kind).toBe('none');
    expect(lookupLocal(t.recs, s1, 's3.a', 'A').kind).toBe('none');
    expect(lookupLocal(t.recs, s1, '4.0.1.10.in-addr.arpa', 'PTR').kind).toBe('none');
    expect(lookupLocal(t.recs, s1, 'svc', 'A')).toMatchObject({ addresses: ['10.1.0.2', '10.1.0.3'] });
    t.drop(s1.id);
    t.drop(s2.id);
    expect(t.recs.networks.get(a.id)!.names.size).toBe(0);
    expect(t.recs.networks.get(a.id)!.ptr.size).toBe(0);
    t.drop('no-such-sandbox');
  });

  it('renames and alias changes: the old names go, the new ones answer', () => {
    const s1 = sandbox('web', [[a, '10.1.0.2', 'fd00:1::2', ['www']]]);
    const other = sandbox('other', [[a, '10.1.0.9']]);
    const t = stepper([s1, other]);
    const renamed: SandboxRecord = { ...s1, name: 'shop' };
    t.put(renamed);
    expect(lookupLocal(t.recs, other, 'web', 'A').kind).toBe('none');
    expect(lookupLocal(t.recs, other, 'shop.a', 'A')).toMatchObject({ addresses: ['10.1.0.2'] });
    expect(lookupLocal(t.recs, other, '2.0.1.10.in-addr.arpa', 'PTR')).toMatchObject({ target: 'shop.a' });
    const realiased: SandboxRecord = { ...renamed, endpoints: { [a.id]: { ...renamed.endpoints[a.id]!, aliases: ['api', 'API.', 'shop.a'] } } };
    t.put(realiased);
    expect(lookupLocal(t.recs, other, 'www', 'A').kind).toBe('none');
    expect(lookupLocal(t.recs, other, 'api.a', 'A')).toMatchObject({ addresses: ['10.1.0.2'] });
    // `shop.a` is both the name under the network and an alias: two holders of one sandbox, both gone with it.
    expect(t.recs.networks.get(a.id)!.names.get('shop.a')).toHaveLength(2);
    t.put({ ...realiased, deleting: true });
    expect(t.recs.networks.get(a.id)!.names.has('shop.a')).toBe(false);
  });

  it('several networks: connect, disconnect, the network\'s own DNS domain, networks without DNS', () => {
    const s1 = sandbox('m1', [[a, '10.1.0.2'], [b, '10.2.0.2']]);
    const s2 = sandbox('m2', [[b, '10.2.0.3'], [bridge, '172.17.0.3']]);
    const t = stepper([s1, s2]);
    const joined: SandboxRecord = { ...s2, endpoints: { ...s2.endpoints, [c.id]: { id: 'epc', networkId: c.id, ifname: 'eth2', ipv4: '10.3.0.3/24', aliases: ['db'], order: 2 } } };
    t.put(joined);
    const s3 = sandbox('m3', [[c, '10.3.0.4']]);
    t.put(s3);
    expect(lookupLocal(t.recs, s3, 'db.dns.podman', 'A')).toMatchObject({ addresses: ['10.3.0.3'] });
    const { [b.id]: _gone, ...rest } = joined.endpoints;
    t.put({ ...joined, endpoints: rest });
    expect(lookupLocal(t.recs, s1, 'm2', 'A').kind).toBe('none');
    expect(lookupLocal(t.recs, s3, 'm2', 'A')).toMatchObject({ addresses: ['10.3.0.3'] });
    t.drop(s1.id);
  });

  it('an address held twice answers PTR with the newest holder, and the older one again when it goes', () => {
    const old = sandbox('old', [[a, '10.1.0.7']], { created: at(1) });
    const young = sandbox('young', [[a, '10.1.0.7']], { created: at(2), netns: null });
    const t = stepper([old]);
    t.put(young);
    expect(lookupLocal(t.recs, old, '7.0.1.10.in-addr.arpa', 'PTR')).toMatchObject({ target: 'young.a' });
    t.drop(young.id);
    expect(lookupLocal(t.recs, old, '7.0.1.10.in-addr.arpa', 'PTR')).toMatchObject({ target: 'old.a' });
  });

  it('a long run of random changes over 3 networks equals a full build after every step', () => {
    let x = 12345;
    const rnd = (n: number) => ((x = (x * 1103515245 + 12345) % 2147483648), x % n);
    const pool = [a, b, c, bridge];
    const t = stepper([]);
    const live: SandboxRecord[] = [];
    for (let i = 0; i < 400; i++) {
      const op = rnd(4);
      if (op === 0 && live.length) t.drop(live.splice(rnd(live.length), 1)[0]!.id);
      else if (op === 1 && live.length) {
        const k = rnd(live.length);
        const cur = live[k]!;
        const n = pool[rnd(pool.length)]!;
        const eps = { ...cur.endpoints };
        if (eps[n.id]) delete eps[n.id];
        else eps[n.id] = { id: `e${i}`, networkId: n.id, ifname: `eth${i}`, ipv4: `10.9.${rnd(4)}.${rnd(8)}/16`, aliases: rnd(2) ? ['shared'] : [`al${rnd(5)}`], order: i };
        live[k] = { ...cur, name: rnd(3) ? cur.name : `renamed${i}`, endpoints: eps };
        t.put(live[k]!);
      } else {
        const n = pool[rnd(pool.length)]!;
        const sb = sandbox(`r${i}`, [[n, `10.9.${rnd(4)}.${rnd(8)}`, undefined, ['shared']]], { created: at(rnd(50)) });
        live.push(sb);
        t.put(sb);
      }
    }
    expect(t.recs.sandboxes.size).toBe(live.length);
  });

  it('refreshRecords updates only what changed, and builds again when a serving network changed', () => {
    const s1 = sandbox('f1', [[a, '10.1.0.2']]);
    const s2 = sandbox('f2', [[a, '10.1.0.3']]);
    const s3 = sandbox('f3', [[b, '10.2.0.3']]);
    const first = refreshRecords(undefined, nets, [s1, s2]);
    const moved: SandboxRecord = { ...s2, endpoints: { [a.id]: { ...s2.endpoints[a.id]!, ipv4: '10.1.0.30/24' } } };
    const second = refreshRecords(first, nets, [moved, s3, { ...s1, deleting: true }]);
    expect(second).toBe(first);
    expect(plain(second)).toEqual(plain(buildRecords(nets, [moved, s3])));
    const renamedNet: NetworkRecord = { ...a, name: 'a2' };
    const third = refreshRecords(second, [renamedNet, b, c], [moved, s3]);
    expect(third).not.toBe(second);
    expect(lookupLocal(third, s3, 'f3.b', 'A')).toMatchObject({ addresses: ['10.2.0.3'] });
    expect(lookupLocal(third, moved, 'f2.a2', 'A')).toMatchObject({ addresses: ['10.1.0.30'] });
    expect(plain(refreshRecords(third, [renamedNet, b, c, net('new')], [s3]))).toEqual(plain(buildRecords([renamedNet, b, c, net('new')], [s3])));
  });
});
