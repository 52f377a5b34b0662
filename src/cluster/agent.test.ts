import { describe, expect, it } from 'vitest';
import { YardError } from '../errors.js';
import type { NetworkRecord } from '../model/types.js';
import { checkClusterConflicts, parseVniList, pickVni, VNI_FIRST } from './agent.js';
import { decodeView, K } from './keys.js';
import { desiredPeers, peerPlan } from './peers.js';
import { parseStoreUrl } from './etcd-client.js';

const net = (id: string, name: string, subnet: string, extra: Record<string, string> = {}): NetworkRecord => ({
  id,
  name,
  driver: 'overlay',
  scope: 'global',
  created: '',
  internal: false,
  attachable: true,
  ipv6: false,
  ipam: { driver: 'default', options: {}, config: [{ subnet }] },
  options: {},
  labels: {},
  driverState: { ...extra },
});

const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return `${(e as YardError).code}: ${(e as YardError).message}`;
  }
  return 'no error';
};

describe('cluster-wide checks at create', () => {
  it('refuses a subnet overlapping another overlay of the cluster, naming it', () => {
    const msg = code(() => checkClusterConflicts(net('b', 'new', '10.240.0.128/25'), [net('a', 'multi', '10.240.0.0/24')]));
    expect(msg).toBe('SUBNET_OVERLAP: --subnet 10.240.0.128/25 overlaps 10.240.0.0/24 of overlay network multi in the cluster');
    expect(code(() => checkClusterConflicts(net('b', 'new', '10.241.0.0/24'), [net('a', 'multi', '10.240.0.0/24')]))).toBe('no error');
  });
  it('refuses a name another host already created', () => {
    expect(code(() => checkClusterConflicts(net('b', 'multi', '10.241.0.0/24'), [net('a', 'multi', '10.240.0.0/24')]))).toMatch(/^NETWORK_EXISTS/);
  });
});

describe('VNI allocation', () => {
  it('takes the lowest free VNI from 4096', () => {
    expect(pickVni(net('x', 'x', '10.0.0.0/24'), new Map(), [])).toBe(VNI_FIRST);
    expect(pickVni(net('x', 'x', '10.0.0.0/24'), new Map([[4096, 'a'], [4097, 'b']]), [])).toBe(4098);
  });
  it('honours vxlanid_list and reports exhaustion with the holder', () => {
    const others = [net('aaaa', 'multi', '10.240.0.0/24')];
    expect(pickVni(net('x', 'x', '10.0.0.0/24', { vniList: '5000-5002' }), new Map([[5000, 'aaaa']]), others)).toBe(5001);
    expect(code(() => pickVni(net('x', 'x', '10.0.0.0/24', { vniList: '4096' }), new Map([[4096, 'aaaa']]), others))).toMatch(
      /^VNI_EXHAUSTED: .*vxlanid_list=4096: every VNI in it is in use \(4096 by multi\)/,
    );
  });
  it('parses lists and ranges, refusing nonsense', () => {
    expect(parseVniList('4097, 5000-5002')).toEqual([4097, 5000, 5001, 5002]);
    expect(code(() => parseVniList('5-2'))).toMatch(/^INVALID_ARGUMENT/);
    expect(code(() => parseVniList('99999999'))).toMatch(/^INVALID_ARGUMENT/);
  });
});

describe('peer table', () => {
  const kvs = new Map<string, string>([
    [K.node('h1'), JSON.stringify({ name: 'h1', vtep: '10.231.0.2', dev: 'lan0' })],
    [K.node('h2'), JSON.stringify({ name: 'h2', vtep: '10.231.0.3', dev: 'lan0' })],
    [K.endpoint('n', 'e1'), JSON.stringify({ id: 'e1', node: 'h1', vtep: '10.231.0.2', mac: '02:42:0a:f0:00:02', ipv4: '10.240.0.2/24' })],
    [K.endpoint('n', 'e2'), JSON.stringify({ id: 'e2', node: 'h2', vtep: '10.231.0.3', mac: '02:42:0a:f0:00:03', ipv4: '10.240.0.3/24' })],
    // Its node's lease is gone: ignored even if the key lingers.
    [K.endpoint('n', 'e3'), JSON.stringify({ id: 'e3', node: 'h3', vtep: '10.231.0.4', mac: '02:42:0a:f0:00:04', ipv4: '10.240.0.4/24' })],
  ]);
  const view = decodeView(kvs);

  it('wants every endpoint of live other nodes', () => {
    expect([...desiredPeers(view, 'n', 'h1').values()]).toEqual([{ mac: '02:42:0a:f0:00:03', vtep: '10.231.0.3', ips: ['10.240.0.3'] }]);
  });

  it('plans only the difference: stale entries out, missing ones in', () => {
    const desired = desiredPeers(view, 'n', 'h1');
    const plan = peerPlan('vx-1', desired, {
      fdb: new Map([['02:42:0a:f0:00:09', '10.231.0.9']]),
      neigh: new Map([['10.240.0.9', '02:42:0a:f0:00:09']]),
    });
    expect(plan).toEqual([
      { op: 'neigh.del', dev: 'vx-1', ip: '10.240.0.9' },
      { op: 'fdb.del', dev: 'vx-1', mac: '02:42:0a:f0:00:09', dst: '10.231.0.9' },
      { op: 'fdb.replace', dev: 'vx-1', mac: '02:42:0a:f0:00:03', dst: '10.231.0.3' },
      { op: 'neigh.replace', dev: 'vx-1', ip: '10.240.0.3', mac: '02:42:0a:f0:00:03' },
    ]);
    expect(peerPlan('vx-1', desired, { fdb: new Map([['02:42:0a:f0:00:03', '10.231.0.3']]), neigh: new Map([['10.240.0.3', '02:42:0a:f0:00:03']]) })).toEqual([]);
  });
});

describe('--cluster-store', () => {
  it('accepts etcd://host:port lists and refuses anything else naming the flag', () => {
    expect(parseStoreUrl('etcd://10.231.0.1:2379,10.231.0.1:2479')).toEqual(['http://10.231.0.1:2379', 'http://10.231.0.1:2479']);
    expect(code(() => parseStoreUrl('consul://x:8500'))).toBe('INVALID_ARGUMENT: --cluster-store consul://x:8500 is not etcd://host:port[,host:port...]');
  });
});
