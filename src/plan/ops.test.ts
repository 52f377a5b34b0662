import { describe, expect, it } from 'vitest';
import { inverseOf, ipArgs, renderPlan, undoPlan, type KernelOp, type Plan } from './ops.js';

const line = (op: KernelOp) => renderPlan([op])[0];

describe('renderPlan: the exact ip command of every op kind', () => {
  it('namespaces', () => {
    expect(line({ op: 'netns.add', name: 'yard-h1-abc' })).toBe('ip netns add yard-h1-abc');
    expect(line({ op: 'netns.del', name: 'yard-h1-abc' })).toBe('ip netns del yard-h1-abc');
  });

  it('bridge with and without mtu', () => {
    expect(line({ op: 'link.add.bridge', name: 'br-x', mtu: 9000 })).toBe('ip link add br-x mtu 9000 type bridge');
    expect(line({ op: 'link.add.bridge', name: 'br-x' })).toBe('ip link add br-x type bridge');
    expect(line({ op: 'link.add.bridge', name: 'br-x', mac: '02:59:00:00:00:01' })).toBe('ip link add br-x address 02:59:00:00:00:01 type bridge');
  });

  it('veth whose peer is created in another namespace with a MAC', () => {
    const op: KernelOp = {
      op: 'link.add.veth',
      name: 'yv0123456789ab',
      peerName: 'eth0',
      peerNs: 'yard-h1-sb',
      peerMac: '02:42:0a:00:00:02',
      mtu: 1500,
    };
    expect(line(op)).toBe(
      'ip link add yv0123456789ab mtu 1500 type veth peer name eth0 mtu 1500 address 02:42:0a:00:00:02 netns yard-h1-sb',
    );
    expect(line({ op: 'link.add.veth', ns: 'a', name: 'v0', peerName: 'v1' })).toBe('ip -n a link add v0 type veth peer name v1');
  });

  it('macvlan and ipvlan created in a target namespace', () => {
    expect(line({ op: 'link.add.macvlan', name: 'mv0', parent: 'lan0', mode: 'bridge', targetNs: 'sb', mtu: 1400 })).toBe(
      'ip link add mv0 link lan0 mtu 1400 netns sb type macvlan mode bridge',
    );
    expect(line({ op: 'link.add.ipvlan', name: 'iv0', parent: 'lan0', mode: 'l2', flag: 'private' })).toBe(
      'ip link add iv0 link lan0 type ipvlan mode l2 private',
    );
    expect(line({ op: 'link.add.ipvlan', name: 'iv0', parent: 'lan0', mode: 'l3' })).toBe('ip link add iv0 link lan0 type ipvlan mode l3');
  });

  it('macvlan with a MAC, and an 802.1q vlan', () => {
    expect(line({ op: 'link.add.macvlan', name: 'mv0', parent: 'lan0', mode: 'bridge', mac: '02:00:00:00:00:01' })).toBe(
      'ip link add mv0 link lan0 address 02:00:00:00:00:01 type macvlan mode bridge',
    );
    expect(line({ op: 'link.add.vlan', name: 'lan0.10', parent: 'lan0', vlanId: 10 })).toBe('ip link add link lan0 name lan0.10 type vlan id 10');
  });

  it('vxlan without learning', () => {
    expect(line({ op: 'link.add.vxlan', name: 'vx-1', vni: 4097, dstport: 4789, local: '10.231.0.2', dev: 'lan0' })).toBe(
      'ip link add vx-1 type vxlan id 4097 dstport 4789 local 10.231.0.2 dev lan0 nolearning',
    );
    expect(line({ op: 'link.add.vxlan', name: 'vx-1', vni: 1, dstport: 4789, mtu: 1450 })).toBe(
      'ip link add vx-1 mtu 1450 type vxlan id 1 dstport 4789 nolearning',
    );
  });

  it('link.del and link.set (master, nomaster, mtu, alias, up/down in that order)', () => {
    expect(line({ op: 'link.del', ns: 'sb', name: 'eth0' })).toBe('ip -n sb link del eth0');
    expect(line({ op: 'link.set', name: 'v', master: 'br-x', mtu: 1400, alias: 'switchyard:h1:abc', up: true })).toBe(
      'ip link set dev v master br-x mtu 1400 alias switchyard:h1:abc up',
    );
    expect(line({ op: 'link.set', name: 'v', master: 'nomaster', up: false })).toBe('ip link set dev v nomaster down');
    expect(line({ op: 'link.set', ns: 'sb', name: 'lo', up: true })).toBe('ip -n sb link set dev lo up');
  });

  it('link.set hairpin: a bridge-port option, `ip -batch` syntax', () => {
    expect(line({ op: 'link.set', name: 'yv1', hairpin: true })).toBe('ip link set dev yv1 type bridge_slave hairpin on');
    expect(line({ op: 'link.set', name: 'yv1', hairpin: false })).toBe('ip link set dev yv1 type bridge_slave hairpin off');
  });

  it('addresses: nodad on IPv6 only', () => {
    expect(line({ op: 'addr.add', ns: 'sb', dev: 'eth0', cidr: '172.18.0.2/16' })).toBe('ip -n sb addr add 172.18.0.2/16 dev eth0');
    expect(line({ op: 'addr.add', ns: 'sb', dev: 'eth0', cidr: 'fd00:1::2/64' })).toBe('ip -n sb addr add fd00:1::2/64 dev eth0 nodad');
    expect(line({ op: 'addr.del', dev: 'br-x', cidr: 'fd00:1::1/64' })).toBe('ip addr del fd00:1::1/64 dev br-x');
  });

  it('routes: add is `replace`; a v6 default route is written ::/0', () => {
    expect(line({ op: 'route.add', ns: 'sb', dst: 'default', via: '172.18.0.1', dev: 'eth0' })).toBe(
      'ip -n sb route replace default via 172.18.0.1 dev eth0',
    );
    expect(line({ op: 'route.add', ns: 'sb', dst: 'default', via: 'fd00:1::1', dev: 'eth0' })).toBe(
      'ip -n sb route replace ::/0 via fd00:1::1 dev eth0',
    );
    expect(line({ op: 'route.del', ns: 'sb', dst: 'default', via: 'fd00:1::1' })).toBe('ip -n sb route del ::/0 via fd00:1::1');
    expect(line({ op: 'route.add', dst: '10.9.0.0/24', dev: 'br-x' })).toBe('ip route replace 10.9.0.0/24 dev br-x');
  });

  it('sysctl has no ip form; renderPlan prints it as sysctl -w, via ip netns exec in a namespace', () => {
    expect(ipArgs({ op: 'sysctl.set', key: 'net.ipv4.ip_forward', value: '1' })).toBeNull();
    expect(line({ op: 'sysctl.set', key: 'net.ipv4.ip_forward', value: '1' })).toBe('sysctl -w net.ipv4.ip_forward=1');
    expect(line({ op: 'sysctl.set', ns: 'sb', key: 'net.ipv6.conf.all.disable_ipv6', value: '0' })).toBe(
      'ip netns exec sb sysctl -w net.ipv6.conf.all.disable_ipv6=0',
    );
  });

  it('ipArgs leaves out the namespace (ip -n NS -batch carries it)', () => {
    expect(ipArgs({ op: 'addr.add', ns: 'sb', dev: 'eth0', cidr: '10.0.0.2/24' })).toEqual(['addr', 'add', '10.0.0.2/24', 'dev', 'eth0']);
  });
});

describe('inverseOf', () => {
  it('creations invert to deletions in the namespace the link ends up in', () => {
    expect(inverseOf({ op: 'netns.add', name: 'n' })).toEqual({ op: 'netns.del', name: 'n' });
    expect(inverseOf({ op: 'link.add.bridge', name: 'br' })).toEqual({ op: 'link.del', ns: undefined, name: 'br' });
    expect(inverseOf({ op: 'link.add.veth', name: 'v', peerName: 'eth0', peerNs: 'sb' })).toEqual({ op: 'link.del', ns: undefined, name: 'v' });
    expect(inverseOf({ op: 'link.add.macvlan', name: 'm', parent: 'lan0', mode: 'bridge', targetNs: 'sb' })).toEqual({
      op: 'link.del',
      ns: 'sb',
      name: 'm',
    });
    expect(inverseOf({ op: 'link.add.vlan', ns: 'h', name: 'lan0.10', parent: 'lan0', vlanId: 10 })).toEqual({ op: 'link.del', ns: 'h', name: 'lan0.10' });
    expect(inverseOf({ op: 'addr.add', ns: 'sb', dev: 'eth0', cidr: '10.0.0.2/24' })).toEqual({
      op: 'addr.del',
      ns: 'sb',
      dev: 'eth0',
      cidr: '10.0.0.2/24',
    });
    expect(inverseOf({ op: 'route.add', ns: 'sb', dst: 'default', via: '10.0.0.1', dev: 'eth0' })).toEqual({
      op: 'route.del',
      ns: 'sb',
      dst: 'default',
      via: '10.0.0.1',
      dev: 'eth0',
    });
  });

  it('link.set and sysctl.set restore the previous values, or need no undo without them', () => {
    expect(inverseOf({ op: 'link.set', name: 'v', up: true })).toBeNull();
    expect(inverseOf({ op: 'link.set', name: 'v', master: 'br', up: true, prev: { master: null, up: false } })).toEqual({
      op: 'link.set',
      ns: undefined,
      name: 'v',
      master: 'nomaster',
      up: false,
    });
    expect(inverseOf({ op: 'sysctl.set', key: 'k', value: '1' })).toBeNull();
    expect(inverseOf({ op: 'sysctl.set', key: 'k', value: '1', prev: '0' })).toEqual({ op: 'sysctl.set', ns: undefined, key: 'k', value: '0' });
  });

  it('deletions have no inverse', () => {
    const dels: KernelOp[] = [
      { op: 'netns.del', name: 'n' },
      { op: 'link.del', name: 'l' },
      { op: 'addr.del', dev: 'l', cidr: '10.0.0.1/24' },
      { op: 'route.del', dst: 'default' },
    ];
    for (const d of dels) expect(inverseOf(d)).toBeNull();
  });
});

describe('undoPlan', () => {
  it('inverts in reverse order', () => {
    const plan: Plan = [
      { op: 'link.add.bridge', name: 'br' },
      { op: 'addr.add', dev: 'br', cidr: '10.0.0.1/24' },
      { op: 'link.set', name: 'br', up: true },
    ];
    expect(renderPlan(undoPlan(plan))).toEqual(['ip addr del 10.0.0.1/24 dev br', 'ip link del br']);
  });

  it('drops ops inside a namespace that the undo deletes, keeps host-side ones', () => {
    const plan: Plan = [
      { op: 'netns.add', name: 'sb' },
      { op: 'link.set', ns: 'sb', name: 'lo', up: true },
      { op: 'link.add.veth', name: 'yv1', peerName: 'eth0', peerNs: 'sb' },
      { op: 'link.set', name: 'yv1', master: 'br', up: true },
      { op: 'addr.add', ns: 'sb', dev: 'eth0', cidr: '10.0.0.2/24' },
      { op: 'route.add', ns: 'sb', dst: 'default', via: '10.0.0.1', dev: 'eth0' },
      { op: 'addr.add', ns: 'other', dev: 'x', cidr: '10.1.0.2/24' },
    ];
    expect(renderPlan(undoPlan(plan))).toEqual(['ip -n other addr del 10.1.0.2/24 dev x', 'ip link del yv1', 'ip netns del sb']);
  });

  it('of a teardown plan is empty', () => {
    expect(undoPlan([{ op: 'link.del', name: 'v' }, { op: 'netns.del', name: 'sb' }])).toEqual([]);
  });
});

describe('overlay peer entries', () => {
  it('renders fdb ops for `bridge -batch` and neighbour ops for `ip`', () => {
    expect(
      renderPlan([
        { op: 'link.add.vxlan', name: 'vx-1', vni: 4096, dstport: 4789, local: '10.231.0.2', dev: 'lan0', mtu: 1450, proxy: true },
        { op: 'fdb.replace', dev: 'vx-1', mac: '02:42:0a:f0:00:03', dst: '10.231.0.3' },
        { op: 'neigh.replace', dev: 'vx-1', ip: '10.240.0.3', mac: '02:42:0a:f0:00:03' },
      ]),
    ).toEqual([
      'ip link add vx-1 mtu 1450 type vxlan id 4096 dstport 4789 local 10.231.0.2 dev lan0 nolearning proxy',
      'bridge fdb replace 02:42:0a:f0:00:03 dev vx-1 dst 10.231.0.3 self permanent',
      'ip neigh replace 10.240.0.3 lladdr 02:42:0a:f0:00:03 dev vx-1 nud permanent',
    ]);
    expect(inverseOf({ op: 'fdb.replace', dev: 'vx-1', mac: 'm', dst: 'd' })).toEqual({ op: 'fdb.del', dev: 'vx-1', mac: 'm', dst: 'd', ns: undefined });
  });
});
