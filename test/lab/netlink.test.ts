/**
 * Links, addresses and routes over rtnetlink from the daemon's own process (kernel/netlink.ts
 * via kernel/apply.ts), in a throwaway lab host: what a plan makes answers pings, reads back
 * the same through rtnetlink as through `ip -j`, refusals name the op in the kernel's words
 * and undo what came before, and a removal answers once the link is down while its delete
 * runs behind.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labDown, labExec, labUp, type LabInfo } from '../../src/lab/lab.js';

const NAME = `nl${process.pid}`.slice(0, 16);
let info: LabInfo;
let out: any;

beforeAll(async () => {
  await labDown(NAME);
  info = await labUp({ name: NAME, hosts: 1, daemons: false });
  const r = await labExec(info, info.hosts[0]!, ['node', path.resolve('test/lab/netlink-client.mjs')], { timeoutMs: 60_000 });
  expect(r.stderr).toBe('');
  out = JSON.parse(r.stdout);
  console.log(`rtnetlink: a 15-op plan (bridge, veth across namespaces, addresses, routes) applied in ${out.applyMs.toFixed(1)} ms`);
});
afterAll(async () => {
  await labDown(NAME);
});

describe('rtnetlink from the daemon', () => {
  it('is used, and what a plan makes carries traffic over both families', () => {
    expect(out.netlink).toBe(true);
    expect(out.pingV4).toBe(true);
    expect(out.pingV6).toBe(true);
  });
  it('sets what ip would: bridge MAC, MTU, alias, port master and hairpin, peer MAC in the other namespace, routes', () => {
    expect(out.br0.address).toBe('02:42:aa:bb:cc:01');
    expect(out.br0.mtu).toBe(1400);
    expect(out.br0.ifalias).toMatch(/^switchyard:/);
    expect(out.v0).toEqual({ master: 'br0', mtu: 1400, hairpin: true, up: true });
    expect(out.queues).toEqual([[1, 1], [1, 1]]);
    expect(out.eth0.address).toBe('02:42:0a:09:00:02');
    expect(out.routesB).toMatch(/^default via 10\.9\.0\.1 dev eth0/m);
    expect(out.routesB).toMatch(/^10\.77\.0\.0\/16 dev eth0 scope link/m);
    expect(out.routesB).toMatch(/^default via fd00:9::1 dev eth0/m);
  });
  it('reads a namespace back the same as ip -j does', () => {
    expect(out.sameLinks).toEqual(out.sameLinksIp);
    expect(out.sameRoutes).toEqual(out.sameRoutesIp);
    expect(out.sameLinks[0]).toContain('"hairpin":true');
    // A reading of named links agrees with the full one (the port's master, the bridge's addresses) and skips a missing name.
    expect(out.namedLinks).toEqual(out.namedLinksIp);
    expect(out.namedLinks).toContain('"master":"br0"');
    expect(out.namedLinks).toContain('10.9.0.1/24');
    expect(out.namedLinks).not.toContain('nope0');
  });
  it('names a refused op in the kernel words and undoes the ops before it', () => {
    expect(out.missingDev).toMatch(/^ip -n ynl\d+a addr add 10\.1\.0\.1\/24 dev nope0: Cannot find device "nope0"$/);
    expect(out.br9Left).toBe(false);
    // A link is found by a name of the longest length the kernel takes (positive control), and
    // a name one byte longer is no device, not a link whose name it starts with.
    expect(out.longestName).toBeNull();
    expect(out.longestNameAddr).toBe(true);
    expect(out.tooLongName).toMatch(/addr add 10\.16\.0\.1\/24 dev yb0123456789abcd: Cannot find device "yb0123456789abcd"$/);
    expect(out.exists).toMatch(/link add br0 type bridge: RTNETLINK answers: File exists$/);
    expect(out.badGateway).toMatch(/route replace 10\.99\.0\.0\/16 via 10\.55\.0\.1: RTNETLINK answers: Network is unreachable/);
    expect(out.badNs).toMatch(/Cannot open network namespace "ynl\d+nope": No such file or directory/);
    expect(out.v9Left).toBe(false);
    expect(out.joinedRefusal).toMatch(/link set dev v8 addrgenmode none type bridge_slave hairpin on: RTNETLINK answers: /);
    expect(out.v8Left).toBe(false);
    expect(out.besideRefusal).toMatch(/addr add 10\.7\.0\.2\/24 dev e7: RTNETLINK answers: File exists/);
    expect(out.v7Left).toBe(false);
  });
  it('a plan that makes a namespace again under its old name changes the new one', () => {
    expect(out.remade).toBeNull();
    expect(out.remadeAddr).toBe(true);
    expect(out.remadeLinks).toContain('e5');
    expect(out.remadeLinks).not.toContain('old0');
  });
  it('best effort goes on past a failure and reports it', () => {
    expect(out.bestEffort).toHaveLength(1);
    expect(out.bestEffort[0]).toMatch(/addr del 10\.200\.0\.1\/24 dev eth0: RTNETLINK answers: Cannot assign requested address/);
    expect(out.routeGone).toBe(true);
  });
  it('a removal answers with the link down; the name is free again for the next plan; the delete finishes behind', () => {
    expect(out.removalErrors).toEqual([]);
    // Right after the answer the link is still there, down (or already deleted on a fast machine).
    expect(['down', 'gone']).toContain(out.afterDel);
    expect(out.pingAfterDel).toBe(false);
    // Positive control: the same link made again carries traffic.
    expect(out.pingAgain).toBe(true);
    expect(out.linksB).toContain('eth1');
    expect(out.linksB).not.toContain('eth0');
    expect(out.linksAfterSettle).not.toContain('v0');
    expect(out.linksAfterSettle).not.toContain('br0');
  });
});
