import { describe, expect, it } from 'vitest';
import type { EndpointRecord, NetworkRecord, SandboxRecord } from '../model/types.js';
import {
  addressOfReverseName,
  buildRecords,
  embeddedResolvConf,
  isLoop,
  lookupLocal,
  mayForward,
  servesDns,
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
    expect(second.networks.get(app.id)!.ptr.get('fd00::2')).toEqual({ target: 'www.shop', sandboxName: 'www' });
  });
  it('IPv6 addresses are canonical whatever their spelling, IPv4 ones as given', () => {
    const app = net('app');
    const a = sandbox('a', [[app, '10.0.0.2', 'FD00:0:0::0002']]);
    const r = buildRecords([app], [a]);
    expect([...r.networks.get(app.id)!.ptr.keys()].sort()).toEqual(['10.0.0.2', 'fd00::2']);
  });
});
