// Drives kernel/apply.ts (links, addresses and routes over rtnetlink from this process) in two
// throwaway namespaces made inside the lab host this runs in, and prints what it saw as JSON.
// Clients (ping) run inside those namespaces only.
import { execFileSync, spawnSync } from 'node:child_process';
import { applyPlan, applyBestEffort, settleDeferred } from '../../dist/kernel/apply.js';
import { netlinkAvailable } from '../../dist/kernel/netlink.js';
import { readLinks, readNamespaceIp, readNamespaceNetlink, readRoutesIp, readRoutesNetlink } from '../../dist/kernel/observe.js';

const P = `ynl${process.pid}`;
const A = `${P}a`;
const B = `${P}b`;
const C = `${P}c`;
const ip = (...a) => spawnSync('ip', a, { encoding: 'utf8' });
// Up to three tries: the first may wait for neighbour discovery on a loaded machine.
const ping = (ns, addr, tries = 3) => {
  for (let i = 0; i < tries; i++) if (spawnSync('ip', ['netns', 'exec', ns, 'ping', '-c1', '-W1', addr], { encoding: 'utf8' }).status === 0) return true;
  return false;
};
const err = async (p) => p.then(() => null, (e) => e.message);
const links = (ns) => JSON.parse(ip('-n', ns, '-j', 'link', 'show').stdout).map((l) => l.ifname);
const sorted = (s) => JSON.stringify([...s.links.values()].sort((x, y) => (x.name < y.name ? -1 : 1)));

const out = { netlink: netlinkAvailable() };
execFileSync('ip', ['netns', 'add', A]);
execFileSync('ip', ['netns', 'add', B]);
try {
  const t0 = performance.now();
  await applyPlan([
    { op: 'link.set', ns: A, name: 'lo', up: true },
    { op: 'link.set', ns: B, name: 'lo', up: true },
    { op: 'link.add.bridge', ns: A, name: 'br0', mtu: 1400, mac: '02:42:aa:bb:cc:01' },
    { op: 'addr.add', ns: A, dev: 'br0', cidr: '10.9.0.1/24' },
    { op: 'addr.add', ns: A, dev: 'br0', cidr: 'fd00:9::1/64' },
    { op: 'link.set', ns: A, name: 'br0', up: true, alias: `switchyard:${P}:net` },
    { op: 'link.add.veth', ns: A, name: 'v0', peerName: 'eth0', peerNs: B, peerMac: '02:42:0a:09:00:02', mtu: 1400, queues: 1 },
    { op: 'link.set', ns: A, name: 'v0', master: 'br0', up: true },
    { op: 'link.set', ns: A, name: 'v0', hairpin: true },
    { op: 'addr.add', ns: B, dev: 'eth0', cidr: '10.9.0.2/24' },
    { op: 'addr.add', ns: B, dev: 'eth0', cidr: 'fd00:9::2/64' },
    { op: 'link.set', ns: B, name: 'eth0', up: true },
    { op: 'route.add', ns: B, dst: 'default', via: '10.9.0.1' },
    { op: 'route.add', ns: B, dst: 'default', via: 'fd00:9::1' },
    { op: 'route.add', ns: B, dst: '10.77.0.0/16', dev: 'eth0' },
  ]);
  out.applyMs = performance.now() - t0;
  out.pingV4 = ping(B, '10.9.0.1');
  out.pingV6 = ping(B, 'fd00:9::1');
  const dl = JSON.parse(ip('-n', A, '-j', '-d', 'link', 'show', 'v0').stdout)[0];
  out.v0 = { master: dl.master, mtu: dl.mtu, hairpin: dl.linkinfo?.info_slave_data?.hairpin, up: dl.flags.includes('UP') };
  const pl = JSON.parse(ip('-n', B, '-j', '-d', 'link', 'show', 'eth0').stdout)[0];
  out.queues = [dl, pl].map((l) => [l.num_tx_queues, l.num_rx_queues]);
  out.br0 = JSON.parse(ip('-n', A, '-j', 'link', 'show', 'br0').stdout)[0];
  out.eth0 = JSON.parse(ip('-n', B, '-j', 'link', 'show', 'eth0').stdout)[0];
  out.routesB = ip('-n', B, 'route', 'show').stdout + ip('-n', B, '-6', 'route', 'show').stdout;
  // The daemon's reading of a namespace, from rtnetlink and from `ip -j`, is the same.
  out.sameLinks = [A, B].map((ns) => sorted(readNamespaceNetlink(ns)));
  out.sameLinksIp = await Promise.all([A, B].map(async (ns) => sorted(await readNamespaceIp(ns))));
  out.sameRoutes = [A, B].map((ns) => JSON.stringify(readRoutesNetlink(ns)));
  out.sameRoutesIp = await Promise.all([A, B].map(async (ns) => JSON.stringify(await readRoutesIp(ns))));
  // Named links only: what a full reading says of them, and nothing for a name that is not there.
  const full = (await readNamespaceIp(A)).links;
  out.namedLinks = JSON.stringify([...(await readLinks(['v0', 'nope0', 'br0'], A))]);
  out.namedLinksIp = JSON.stringify([['v0', full.get('v0')], ['br0', full.get('br0')]]);

  // Refusals: the kernel's words, the op named, and the ops before it undone.
  out.missingDev = await err(applyPlan([{ op: 'link.add.bridge', ns: A, name: 'br9' }, { op: 'addr.add', ns: A, dev: 'nope0', cidr: '10.1.0.1/24' }]));
  out.br9Left = links(A).includes('br9');
  // The longest name the kernel takes (15 bytes) is found by its index; one byte more is no device.
  out.longestName = await err(applyPlan([{ op: 'link.add.bridge', ns: A, name: 'yb0123456789abc' }, { op: 'addr.add', ns: A, dev: 'yb0123456789abc', cidr: '10.15.0.1/24' }]));
  out.longestNameAddr = ip('-n', A, 'addr', 'show', 'dev', 'yb0123456789abc').stdout.includes('10.15.0.1/24');
  out.tooLongName = await err(applyPlan([{ op: 'addr.add', ns: A, dev: 'yb0123456789abcd', cidr: '10.16.0.1/24' }]));
  await applyBestEffort([{ op: 'link.del', ns: A, name: 'yb0123456789abc' }]);
  out.exists = await err(applyPlan([{ op: 'link.add.bridge', ns: A, name: 'br0' }]));
  out.badGateway = await err(applyPlan([{ op: 'route.add', ns: B, dst: '10.99.0.0/16', via: '10.55.0.1' }]));
  out.badNs = await err(applyPlan([{ op: 'link.add.veth', ns: A, name: 'v9', peerName: 'e9', peerNs: `${P}nope` }]));
  out.v9Left = links(A).includes('v9');
  // Refused in a send that carries more than one op (hairpin on a link that is no bridge's
  // port), and refused while the other end's send ran beside it: the veth is gone either way.
  const pair = (n) => [
    { op: 'link.add.veth', ns: A, name: `v${n}`, peerName: `e${n}`, peerNs: B },
    { op: 'link.set', ns: A, name: `v${n}`, addrGenMode: 'none', hairpin: true },
    { op: 'link.set', ns: A, name: `v${n}`, up: true },
    { op: 'addr.add', ns: B, dev: `e${n}`, cidr: `10.${n}.0.2/24` },
    { op: 'link.set', ns: B, name: `e${n}`, up: true },
  ];
  out.joinedRefusal = await err(applyPlan(pair(8)));
  out.v8Left = links(A).includes('v8') || links(B).includes('e8');
  out.besideRefusal = await err(applyPlan([...pair(7).slice(0, 1), { op: 'link.set', ns: A, name: 'v7', master: 'br0' }, ...pair(7).slice(1), { op: 'addr.add', ns: B, dev: 'e7', cidr: '10.7.0.2/24' }]));
  out.v7Left = links(A).includes('v7') || links(B).includes('e7');
  // A plan that removes a namespace and makes it again under the same name: its later
  // requests reach the new one, not the one it replaced.
  execFileSync('ip', ['netns', 'add', C]);
  execFileSync('ip', ['-n', C, 'link', 'add', 'old0', 'type', 'bridge']);
  out.remade = await err(applyPlan([
    // Sent first, while the rest waits for it.
    { op: 'link.add.bridge', ns: A, name: 'br5' },
    { op: 'netns.del', name: C },
    { op: 'netns.add', name: C },
    { op: 'link.add.veth', ns: A, name: 'v5', peerName: 'e5', peerNs: C },
    { op: 'addr.add', ns: C, dev: 'e5', cidr: '10.5.0.2/24' },
    { op: 'link.set', ns: C, name: 'e5', up: true },
  ]));
  out.remadeLinks = links(C);
  out.remadeAddr = ip('-n', C, 'addr', 'show', 'dev', 'e5').stdout.includes('10.5.0.2/24');
  await applyBestEffort([{ op: 'link.del', ns: A, name: 'v5' }, { op: 'link.del', ns: A, name: 'br5' }]);
  out.bestEffort = await applyBestEffort([{ op: 'addr.del', ns: B, dev: 'eth0', cidr: '10.200.0.1/24' }, { op: 'route.del', ns: B, dst: '10.77.0.0/16', dev: 'eth0' }]);
  out.routeGone = !ip('-n', B, 'route', 'show').stdout.includes('10.77.0.0/16');

  // A removal answers once the link is down; the delete runs behind, and a plan naming the
  // link again waits for it.
  out.removalErrors = await applyBestEffort([{ op: 'link.del', ns: A, name: 'v0', behind: true }], { deferDeletes: true });
  const v0 = JSON.parse(ip('-n', A, '-j', 'link', 'show').stdout).find((l) => l.ifname === 'v0');
  out.afterDel = v0 ? (v0.flags.includes('UP') ? 'up' : 'down') : 'gone';
  out.pingAfterDel = ping(B, '10.9.0.1', 1);
  await applyPlan([
    { op: 'link.add.veth', ns: A, name: 'v0', peerName: 'eth1', peerNs: B },
    { op: 'link.set', ns: A, name: 'v0', master: 'br0', up: true },
    { op: 'addr.add', ns: B, dev: 'eth1', cidr: '10.9.0.3/24' },
    { op: 'link.set', ns: B, name: 'eth1', up: true },
  ]);
  out.pingAgain = ping(B, '10.9.0.1');
  out.linksB = links(B);
  await applyBestEffort([{ op: 'link.del', ns: A, name: 'v0', behind: true }, { op: 'link.del', ns: A, name: 'br0', behind: true }], { deferDeletes: true });
  await settleDeferred();
  out.linksAfterSettle = links(A);
} finally {
  ip('netns', 'del', A);
  ip('netns', 'del', B);
  ip('netns', 'del', C);
}
process.stdout.write(JSON.stringify(out));
