/** Each doctor check on healthy facts (it passes) and on faulty ones (it names the fault and the fix). */
import { describe, expect, it } from 'vitest';
import type { NetworkRecord, SandboxRecord } from '../model/types.js';
import type { PortMapping } from '../model/ports.js';
import { checkBridgeBacklog, checkOverlays, checkDuplicateAddresses, checkPortHostFirewall, checkFirewallCounts, checkHostAccess, checkHostFirewall, checkInterfaces, checkIpForward, checkLanDuplicates, checkOutbound, checkOverlayMtu, checkPublishedPorts, checkResolver, checkTarget, checkUserChain, mergeReports, report, runChecks, type Finding } from './checks.js';
import type { DoctorFacts, HostFacts, SandboxFacts } from './facts.js';
import { formatReport } from './format.js';
import { parseTarget } from './doctor.js';
import { inetChains } from '../firewall/render.js';

const hex = (c: string) => c.repeat(64);

function net(name: string, c: string, over: Partial<NetworkRecord> = {}, subnet = '172.18.0.0/16', gateway = '172.18.0.1'): NetworkRecord {
  return {
    id: hex(c), name, driver: 'bridge', scope: 'local', created: '', internal: false, attachable: false, ipv6: false,
    ipam: { driver: 'default', options: null, config: [{ subnet, gateway, auxAddresses: {} }] },
    options: {}, labels: {}, driverState: { bridge: `br-${hex(c).slice(0, 12)}` }, ...over,
  };
}

function sandbox(name: string, c: string, eps: { net: NetworkRecord; ip: string; ifname?: string; aliases?: string[] }[], ports: PortMapping[] = []): SandboxRecord {
  return {
    id: hex(c), name, created: '', netns: `yard-t-${hex(c).slice(0, 12)}`, hostname: name, command: [], detached: true, status: 'running',
    dns: [], dnsSearch: [], dnsOptions: [], extraHosts: [], labels: {},
    endpoints: Object.fromEntries(eps.map((e, i) => [e.net.id, { id: hex(String(i + 1)), networkId: e.net.id, ifname: e.ifname ?? `eth${i}`, ipv4: e.ip, mac: '02:42:ac:12:00:02', aliases: e.aliases ?? [], order: i }])),
    ports,
  };
}

const port = (hostPort: number, containerPort: number, hostIp = ''): PortMapping => ({ hostIp, hostPort, hostPortEnd: hostPort, containerPort, containerPortEnd: containerPort, proto: 'tcp' }) as PortMapping;

function hostFacts(over: Partial<HostFacts> = {}): HostFacts {
  const chains = [
    ...inetChains().map((c) => ({ family: 'inet', table: 'switchyard', name: c.name, rules: c.rules.length, ...(c.hook ? { hook: c.hook.hook, policy: 'accept' } : {}) })),
    { family: 'bridge', table: 'switchyard', name: 'forward', hook: 'forward', policy: 'accept', rules: 1 },
    { family: 'inet', table: 'switchyard-user', name: 'user-forward', hook: 'forward', policy: 'accept', rules: 0 },
  ];
  return { ipForward: true, listeners: [], links: ['lo', 'lan0'], nft: { chains, elements: new Map([['inet switchyard masq4', 1]]), masquerade: ['172.18.0.0/16'], userRules: [] }, ...over };
}

function inside(over: Partial<SandboxFacts> = {}): SandboxFacts {
  return {
    present: true, enter: 'ip netns exec yard-t-x',
    links: [{ name: 'lo', up: true, mtu: 65536, addrs: ['127.0.0.1/8'] }, { name: 'eth0', up: true, mtu: 1500, addrs: ['172.18.0.2/16'] }],
    routes: [{ dst: 'default', gateway: '172.18.0.1', dev: 'eth0' }, { dst: '172.18.0.0/16', dev: 'eth0' }],
    listeners: [{ proto: 'udp', addr: '127.0.0.11', port: 53 }, { proto: 'tcp', addr: '0.0.0.0', port: 80 }],
    resolvConf: 'nameserver 127.0.0.11\noptions ndots:0\n', lan: [], mtu: [], ...over,
  };
}

function facts(nets: NetworkRecord[], sbs: SandboxRecord[], over: Partial<DoctorFacts> = {}): DoctorFacts {
  return {
    networks: new Map(nets.map((n) => [n.id, n])), sandboxes: new Map(sbs.map((s) => [s.id, s])),
    host: hostFacts(), inside: new Map(sbs.map((s) => [s.id, inside()])),
    expectedElements: new Map([['inet switchyard masq4', 1]]),
    expectedRules: new Map([...inetChains().map((c) => [`inet switchyard ${c.name}`, c.rules.length] as [string, number]), ['bridge switchyard forward', 1]]),
    ...over,
  };
}

const app = net('app', 'a');
const web = sandbox('web', 'b', [{ net: app, ip: '172.18.0.2/16' }], [port(8080, 80)]);
const statuses = (fs: Finding[]) => fs.map((f) => f.status);

describe('host checks', () => {
  it('bridge against the receive backlog: a bridge with about as many ports as the backlog warns with the sysctl; a smaller one passes', () => {
    const many = Array.from({ length: 990 }, (_, i) => ({ ...sandbox(`s${i}`, 'c', [{ net: app, ip: `172.18.${i >> 8}.${(i & 255) + 1}/16` }]), id: `${i}`.padStart(64, '0') }));
    const [warn] = checkBridgeBacklog(facts([app], many, { host: hostFacts({ backlog: 1000 }) }));
    expect(warn).toMatchObject({ check: 'host.backlog', status: 'warn', fix: expect.stringMatching(/^sysctl -w net\.core\.netdev_max_backlog=2048 /) });
    expect(warn!.found).toMatch(/app has 990 ports and the backlog holds 1000 packets/);
    // Positive controls: the same bridge with a larger backlog, and a bridge of a few ports.
    expect(statuses(checkBridgeBacklog(facts([app], many, { host: hostFacts({ backlog: 2048 }) })))).toEqual(['ok']);
    expect(checkBridgeBacklog(facts([app], [web], { host: hostFacts({ backlog: 1000 }) }))[0]).toMatchObject({ status: 'ok', found: 'the largest, app, has 1 port; the backlog holds 1000 packets' });
    expect(statuses(checkBridgeBacklog(facts([app], [web], { host: hostFacts({ backlog: null }) })))).toEqual(['skip']);
    expect(checkBridgeBacklog(facts([app], [], { host: hostFacts({ backlog: 1000 }) }))).toEqual([]);
  });

  it('ip forwarding: on passes, off fails with the sysctl', () => {
    expect(statuses(checkIpForward(facts([app], [web])))).toEqual(['ok']);
    const [f] = checkIpForward(facts([app], [web], { host: hostFacts({ ipForward: false }) }));
    expect(f).toMatchObject({ status: 'fail', fix: 'sysctl -w net.ipv4.ip_forward=1' });
    expect(checkIpForward(facts([], []))).toEqual([]);
  });

  it('host firewall: a foreign forward chain with policy drop fails with nft rules for each bridge; accepting them both ways passes', () => {
    expect(statuses(checkHostFirewall(facts([app], [web])))).toEqual(['ok']);
    const drop = { family: 'inet', table: 'hostfw', name: 'fwd', hook: 'forward', policy: 'drop', rules: 0, ruleTexts: [] as string[] };
    const h = hostFacts();
    h.nft!.chains.push(drop);
    const [f] = checkHostFirewall(facts([app], [web], { host: h }));
    expect(f!.status).toBe('fail');
    expect(f!.found).toMatch(/chain inet hostfw fwd has policy drop .* br-aaaaaaaaaaaa/);
    expect(f!.fix).toBe('nft insert rule inet hostfw fwd iifname br-aaaaaaaaaaaa accept && nft insert rule inet hostfw fwd oifname br-aaaaaaaaaaaa accept');
    drop.ruleTexts = ['iifname "br-aaaaaaaaaaaa" accept', 'oifname "br-aaaaaaaaaaaa" counter packets 0 bytes 0 accept'];
    expect(statuses(checkHostFirewall(facts([app], [web], { host: h })))).toEqual(['ok']);
    // The accepts the daemon keeps there itself (--host-firewall accept) carry a comment.
    drop.ruleTexts = ['iifname "br-aaaaaaaaaaaa" counter packets 0 bytes 0 accept comment "switchyard: bridge br-aaaaaaaaaaaa"', 'oifname "br-aaaaaaaaaaaa" accept comment "switchyard: bridge br-aaaaaaaaaaaa"'];
    expect(statuses(checkHostFirewall(facts([app], [web], { host: h })))).toEqual(['ok']);
    drop.ruleTexts = ['iifname "br-aaaaaaaaaaaa" accept']; // one way only
    expect(statuses(checkHostFirewall(facts([app], [web], { host: h })))).toEqual(['fail']);
  });

  it('host firewall: ufw and iptables FORWARD chains get their own tools\' commands', () => {
    const h = hostFacts();
    h.nft!.chains.push({ family: 'ip', table: 'filter', name: 'FORWARD', hook: 'forward', policy: 'drop', rules: 3 }, { family: 'ip', table: 'filter', name: 'ufw-before-forward', rules: 5 });
    expect(checkHostFirewall(facts([app], [web], { host: h }))[0]!.fix).toBe('ufw route allow in on br-aaaaaaaaaaaa && ufw route allow out on br-aaaaaaaaaaaa');
    h.nft!.chains.pop();
    expect(checkHostFirewall(facts([app], [web], { host: h }))[0]!.fix).toBe('iptables -I FORWARD -i br-aaaaaaaaaaaa -j ACCEPT && iptables -I FORWARD -o br-aaaaaaaaaaaa -j ACCEPT');
  });

  it('rule and element counts: equal passes; extra rules warn, missing elements fail, with the reload command', () => {
    expect(statuses(checkFirewallCounts(facts([app], [web])))).toEqual(['ok', 'ok']);
    const h = hostFacts();
    h.nft!.chains.find((c) => c.name === 'forward' && c.family === 'inet')!.rules += 3;
    const [extra] = checkFirewallCounts(facts([app], [web], { host: h }));
    expect(extra).toMatchObject({ status: 'warn' });
    const n = inetChains().find((c) => c.name === 'forward')!.rules.length;
    expect(extra!.found).toContain(`chain inet switchyard forward has ${n + 3} rules, the state explains ${n}`);
    expect(extra!.fix).toMatch(/^nft delete table inet switchyard/);
    const [missing] = checkFirewallCounts(facts([app], [web], { expectedElements: new Map([['inet switchyard masq4', 2]]) }));
    expect(missing).toMatchObject({ status: 'fail' });
    const many = hostFacts();
    many.nft!.chains.push({ family: 'ip', table: 'nat', name: 'DOCKER', rules: 12_000 });
    expect(checkFirewallCounts(facts([app], [web], { host: many }))[1]).toMatchObject({ check: 'firewall.others', status: 'warn' });
  });

  it('user chain: an accept passes, a drop warns with the handle to delete', () => {
    const h = hostFacts();
    h.nft!.userRules = [{ handle: 4, text: 'ip saddr 10.0.0.0/8 accept' }];
    expect(statuses(checkUserChain(facts([app], [web], { host: h })))).toEqual(['ok']);
    h.nft!.userRules.push({ handle: 7, text: 'tcp dport 8080 drop' });
    const [f] = checkUserChain(facts([app], [web], { host: h }));
    expect(f).toMatchObject({ status: 'warn' });
    expect(f!.fix).toMatch(/^nft delete rule inet switchyard-user user-forward handle 7/);
  });

  it('macvlan host access: a shim passes, none warns with the commands that recreate the network with one', () => {
    const lan = net('pub', 'c', { driver: 'macvlan', driverState: { parent: 'lan0', shimAddress: '10.231.0.254' } }, '10.231.0.0/24', '10.231.0.1');
    const box = sandbox('box', 'd', [{ net: lan, ip: '10.231.0.200/24' }]);
    expect(statuses(checkHostAccess(facts([lan], [box], { host: hostFacts({ links: ['lan0', 'yscccccccccccc'] }) })))).toEqual(['ok']);
    expect(statuses(checkHostAccess(facts([lan], [box], { host: hostFacts({ links: ['lan0'] }) })))).toEqual(['fail']);
    const noShim = { ...lan, driverState: { parent: 'lan0' } };
    const [f] = checkHostAccess(facts([noShim], [box]));
    expect(f!.status).toBe('warn');
    expect(f!.fix).toBe('yard network disconnect pub box && yard network rm pub && yard network create -d macvlan --subnet 10.231.0.0/24 --gateway 10.231.0.1 -o parent=lan0 -o host_access=true pub && yard network connect pub box');
  });

  it('duplicate addresses in the state fail with a reconnect', () => {
    expect(statuses(checkDuplicateAddresses(facts([app], [web])))).toEqual(['ok']);
    const twin = sandbox('twin', 'e', [{ net: app, ip: '172.18.0.2/16' }]);
    const [f] = checkDuplicateAddresses(facts([app], [web, twin]));
    expect(f).toMatchObject({ status: 'fail', fix: 'yard network disconnect app twin && yard network connect app twin' });
    expect(f!.found).toBe('172.18.0.2 on app is held by web and twin');
  });
});

describe('overlay checks', () => {
  const remote = { sandbox: 'api', mac: '02:42:0A:00:09:03', vtep: '10.231.0.3', address: '10.0.9.3' };
  const overlay = (over: object) => ({ network: 'ov', vxlan: 'vx-ov', store: { url: 'etcd://10.231.0.1:2379', connected: true }, remotes: [remote], fdb: new Map([['02:42:0a:00:09:03', '10.231.0.3']]), ...over });

  it('store connected and every remote endpoint in the FDB pass', () => {
    expect(statuses(checkOverlays(facts([], [], { overlays: [overlay({})] })))).toEqual(['ok', 'ok']);
  });

  it('an unreachable store fails with the health check; a missing FDB entry fails with the bridge fdb command', () => {
    const [store] = checkOverlays(facts([], [], { overlays: [overlay({ store: { url: 'etcd://10.231.0.1:2379', connected: false } })] }));
    expect(store).toMatchObject({ check: 'overlay.store', status: 'fail', fix: 'etcdctl --endpoints http://10.231.0.1:2379 endpoint health   (the agent reconnects by itself once it answers)' });
    const [, fdb] = checkOverlays(facts([], [], { overlays: [overlay({ fdb: new Map([['02:42:0a:00:09:03', '10.231.0.9']]) })] }));
    expect(fdb).toMatchObject({ check: 'overlay.fdb', status: 'fail', fix: 'bridge fdb replace 02:42:0a:00:09:03 dev vx-ov dst 10.231.0.3 self permanent' });
    expect(fdb!.found).toMatch(/vx-ov does not send api \(10\.0\.9\.3, 02:42:0A:00:09:03\) to 10\.231\.0\.3/);
    expect(statuses(checkOverlays(facts([], [], { overlays: [overlay({ fdb: null })] })))).toEqual(['ok', 'skip']);
  });
});

describe('sandbox checks', () => {
  it('interfaces: present passes; missing, down or without its address fails', () => {
    expect(statuses(checkInterfaces(facts([app], [web]), web, inside()))).toEqual(['ok']);
    expect(checkInterfaces(facts([app], [web]), web, inside({ links: [] }))[0]).toMatchObject({ status: 'fail', fix: 'yard network disconnect app web && yard network connect app web' });
    expect(checkInterfaces(facts([app], [web]), web, inside({ links: [{ name: 'eth0', up: false, mtu: 1500, addrs: ['172.18.0.2/16'] }] }))[0]!.fix).toBe('ip netns exec yard-t-x ip link set eth0 up');
    expect(checkInterfaces(facts([app], [web]), web, inside({ links: [{ name: 'eth0', up: true, mtu: 1500, addrs: [] }] }))[0]!.found).toMatch(/lacks 172\.18\.0\.2\/16/);
  });

  it('LAN duplicate: nobody answering passes; another MAC fails with a free address to move to; no arping is "not checked"', () => {
    const lan = net('pub', 'c', { driver: 'macvlan', driverState: { parent: 'lan0', shimAddress: '10.231.0.254' } }, '10.231.0.0/24', '10.231.0.1');
    lan.ipam.config[0]!.ipRange = '10.231.0.192/27';
    const box = sandbox('box', 'd', [{ net: lan, ip: '10.231.0.192/24' }]);
    const f = facts([lan], [box]);
    expect(statuses(checkLanDuplicates(f, box, inside({ lan: [{ address: '10.231.0.192', ifname: 'eth0', answeredBy: [] }] })))).toEqual(['ok']);
    const [dup] = checkLanDuplicates(f, box, inside({ lan: [{ address: '10.231.0.192', ifname: 'eth0', answeredBy: ['aa:bb:cc:dd:ee:ff'] }] }));
    expect(dup!.status).toBe('fail');
    expect(dup!.found).toMatch(/aa:bb:cc:dd:ee:ff also answers for 10\.231\.0\.192/);
    expect(dup!.fix).toMatch(/^yard network disconnect pub box && yard network connect --ip 10\.231\.0\.193 pub box/);
    expect(statuses(checkLanDuplicates(f, box, inside({ lan: [{ address: '10.231.0.192', ifname: 'eth0', answeredBy: null, why: 'no arping' }] })))).toEqual(['skip']);
  });

  it('outbound: route, masquerade and resolv.conf pass; each missing one fails with its command; internal-only warns', () => {
    const f = facts([app], [web]);
    expect(statuses(checkOutbound(f, web, inside()))).toEqual(['ok', 'ok', 'ok']);
    const noRoute = checkOutbound(f, web, inside({ routes: [{ dst: '172.18.0.0/16', dev: 'eth0' }] }));
    expect(noRoute[0]).toMatchObject({ check: 'outbound.route', status: 'fail', fix: 'ip netns exec yard-t-x ip route add default via 172.18.0.1 dev eth0' });
    const noMasq = checkOutbound(facts([app], [web], { host: hostFacts({ nft: { ...hostFacts().nft!, masquerade: [] } }) }), web, inside());
    expect(noMasq[1]).toMatchObject({ check: 'outbound.masquerade', status: 'fail', fix: 'nft add element inet switchyard masq4 { 172.18.0.0/16 }' });
    expect(checkOutbound(f, web, inside({ resolvConf: 'search x\n' }))[2]).toMatchObject({ check: 'outbound.resolv-conf', status: 'fail' });
    const sealed = net('sealed', 'f', { internal: true }, '172.20.0.0/16', '172.20.0.1');
    const hermit = sandbox('hermit', '9', [{ net: sealed, ip: '172.20.0.2/16' }]);
    expect(checkOutbound(facts([sealed], [hermit]), hermit, inside())).toEqual([expect.objectContaining({ check: 'outbound.internal', status: 'warn', fix: 'yard network connect bridge hermit' })]);
    const masqOff = net('nomasq', 'a', { driverState: { bridge: 'br-x', masquerade: false } });
    expect(checkOutbound(facts([masqOff], [web], { host: hostFacts({ nft: { ...hostFacts().nft!, masquerade: [] } }) }), web, inside())[1]).toMatchObject({ status: 'ok' });
  });

  it('outbound over an overlay: the default route and masquerading come from the gateway bridge', () => {
    const ov = net('ov', 'c', { driver: 'overlay', scope: 'global', driverState: { vxlan: 'vx-x' } }, '10.244.0.0/24', '10.244.0.1');
    const gwb = net('yard_gwbridge', 'd', {}, '172.31.0.0/16', '172.31.0.1');
    const cli = sandbox('cli', '3', [{ net: ov, ip: '10.244.0.3/24' }, { net: gwb, ip: '172.31.0.2/16', ifname: 'eth1' }]);
    const out = checkOutbound(facts([ov, gwb], [cli], { host: hostFacts({ nft: { ...hostFacts().nft!, masquerade: ['172.31.0.0/16'] } }) }), cli, inside({ routes: [] }));
    expect(out[0]).toMatchObject({ check: 'outbound.route', status: 'fail', fix: 'ip netns exec yard-t-x ip route add default via 172.31.0.1 dev eth1' });
    expect(out[1]).toMatchObject({ check: 'outbound.masquerade', status: 'ok' });
  });

  it('resolver: listening passes, absent fails; the default bridge and Docker\'s containers are not asked', () => {
    expect(statuses(checkResolver(facts([app], [web]), web, inside()))).toEqual(['ok']);
    expect(checkResolver(facts([app], [web]), web, inside({ listeners: [] }))[0]).toMatchObject({ status: 'fail' });
    const bridge = net('bridge', '0', { predefined: true });
    const old = sandbox('old', '1', [{ net: bridge, ip: '172.18.0.9/16' }]);
    expect(checkResolver(facts([bridge], [old]), old, inside({ listeners: [] }))).toEqual([]);
  });

  it('published port and the host firewall: what the firewall room says is shown; a port it keeps from the LAN warns', () => {
    expect(web.ports?.length).toBeGreaterThan(0);
    expect(checkPortHostFirewall(web, inside())).toEqual([]);
    const fine = checkPortHostFirewall(web, inside({ hostFirewall: [{ index: 0, lines: ['ufw ip filter FORWARD drops forwarded traffic (policy drop): Switchyard keeps accept rules for its bridges at its top'] }] }));
    expect(fine).toMatchObject([{ check: 'port.host-firewall', status: 'ok' }]);
    expect(fine[0]!.found).toContain('ufw');
    const off = checkPortHostFirewall(web, inside({ hostFirewall: [{ index: 0, lines: ['ufw ip filter FORWARD drops forwarded traffic (policy drop): published ports and outbound traffic of sandboxes are dropped there (--host-firewall off)'] }] }));
    expect(off).toMatchObject([{ check: 'port.host-firewall', status: 'warn' }]);
    expect(off[0]!.fix).toContain('yard port explain web');
  });

  it('published port: a listener on 0.0.0.0 or the sandbox address passes; 127.0.0.1 only or nothing fails; a host process on the port warns', () => {
    const f = facts([app], [web]);
    expect(statuses(checkPublishedPorts(f, web, inside()))).toEqual(['ok', 'ok']);
    expect(statuses(checkPublishedPorts(f, web, inside({ listeners: [{ proto: 'tcp', addr: '172.18.0.2', port: 80 }] })))).toEqual(['ok', 'ok']);
    const [loop] = checkPublishedPorts(f, web, inside({ listeners: [{ proto: 'tcp', addr: '127.0.0.1', port: 80 }] }));
    expect(loop).toMatchObject({ check: 'port.listener', status: 'fail' });
    expect(loop!.found).toMatch(/listening only on 127\.0\.0\.1:80, the sandbox's own loopback/);
    expect(loop!.fix).toMatch(/listening on 0\.0\.0\.0:80 .*instead of 127\.0\.0\.1/);
    expect(checkPublishedPorts(f, web, inside({ listeners: [] }))[0]!.found).toBe('nothing listens on 80/tcp');
    expect(checkPublishedPorts(f, { ...web, status: 'exited', exitCode: 2 }, inside({ listeners: [] }))[0]!.found).toBe('its process has exited (code 2): nothing listens on 80/tcp');
    const held = checkPublishedPorts(facts([app], [web], { host: hostFacts({ listeners: [{ proto: 'tcp', addr: '0.0.0.0', port: 8080 }] }) }), web, inside());
    expect(held[1]).toMatchObject({ check: 'port.host-holder', status: 'warn' });
    expect(held[1]!.fix).toMatch(/^ss -tlnp 'sport = :8080'/);
    const sealed = net('sealed', 'f', { internal: true });
    const shut = sandbox('shut', '2', [{ net: sealed, ip: '172.18.0.3/16' }], [port(9000, 90)]);
    expect(checkPublishedPorts(facts([sealed], [shut]), shut, inside())[0]).toMatchObject({ check: 'port.mapping', status: 'fail', fix: 'yard network connect bridge shut' });
  });

  it('overlay MTU: passing probe ok, failing probe fails, unprobed is not checked', () => {
    const probe = { network: 'ov', peer: '10.0.9.3', size: 1450 };
    expect(statuses(checkOverlayMtu(web, inside({ mtu: [{ ...probe, ok: true }] })))).toEqual(['ok']);
    const [f] = checkOverlayMtu(web, inside({ mtu: [{ ...probe, ok: false, why: "the path's MTU is 1400" }] }));
    expect(f!.status).toBe('fail');
    expect(f!.fix).toMatch(/com\.docker\.network\.driver\.mtu=N .*raise the underlay's MTU to 1500/);
    expect(statuses(checkOverlayMtu(web, inside({ mtu: [{ ...probe, ok: null }] })))).toEqual(['skip']);
  });
});

describe('--to TARGET', () => {
  const other = net('other', 'c', {}, '172.19.0.0/16', '172.19.0.1');
  const lonely = sandbox('lonely', 'd', [{ net: other, ip: '172.19.0.2/16' }]);
  const local = (records: string[]) => ({ source: 'local', rcode: 'NOERROR', records, reason: 'local', upstreams: [] });

  it('a sandbox on the same network: resolved, direct path, listener and connection pass', () => {
    const client = sandbox('client', 'e', [{ net: app, ip: '172.18.0.3/16' }]);
    const f = facts([app], [web, client], { target: { raw: 'web:80', host: 'web', port: 80, addresses: ['172.18.0.2'], dns: local(['web 600 A 172.18.0.2']), attempt: { address: '172.18.0.2', ok: true, detail: 'connected to 172.18.0.2:80' } } });
    expect(checkTarget(f, client).map((x) => `${x.check}:${x.status}`)).toEqual(['to.name:ok', 'to.path:ok', 'to.listener:ok', 'to.attempt:ok']);
  });

  it('a sandbox on another network: the name fails with the connect command', () => {
    const f = facts([app, other], [web, lonely], { target: { raw: 'web', host: 'web', addresses: [], dns: { source: 'upstream', rcode: 'NXDOMAIN', records: [], reason: 'not local', upstreams: ['10.231.0.1'] } } });
    const [n, ...rest] = checkTarget(f, lonely);
    expect(n).toMatchObject({ check: 'to.name', status: 'fail', fix: 'yard network connect app lonely' });
    expect(n!.found).toBe('web is sandbox web on app; lonely is on other: names are only answered to sandboxes on the same network');
    expect(rest).toEqual([]);
  });

  it('the default bridge: no names, with the commands for a user-defined network', () => {
    const bridge = net('bridge', '0', { predefined: true });
    const a = sandbox('api', '1', [{ net: bridge, ip: '172.18.0.5/16' }]);
    const r = sandbox('redis', '2', [{ net: bridge, ip: '172.18.0.6/16' }]);
    const f = facts([bridge], [a, r], { target: { raw: 'redis', host: 'redis', addresses: [], dns: { source: 'none', rcode: '-', records: [], reason: 'no resolver', upstreams: [] } } });
    expect(checkTarget(f, a)[0]).toMatchObject({ status: 'fail', fix: 'yard network create app-net && yard network connect app-net api && yard network connect app-net redis' });
    expect(checkTarget(f, a)[0]!.found).toMatch(/the default bridge gives no names/);
  });

  it('an address on a network the sandbox is not on fails with connect; a refused connection is reported', () => {
    const f = facts([app, other], [web, lonely], { target: { raw: '172.18.0.2:80', host: '172.18.0.2', port: 80, addresses: ['172.18.0.2'], attempt: { address: '172.18.0.2', ok: false, detail: 'no answer' } } });
    const out = checkTarget(f, lonely);
    expect(out[0]).toMatchObject({ check: 'to.path', status: 'fail', fix: 'yard network connect app lonely' });
    expect(out.at(-1)).toMatchObject({ check: 'to.attempt', status: 'warn', fix: 'see the problems above' });
  });

  it('an upstream that does not answer fails, naming the servers', () => {
    const f = facts([app], [web], { target: { raw: 'example.org', host: 'example.org', addresses: [], dns: { source: 'upstream', rcode: 'SERVFAIL', records: [], reason: 'no server answered', upstreams: ['10.9.9.9'] } } });
    const [n] = checkTarget(f, web);
    expect(n!.status).toBe('fail');
    expect(n!.found).toMatch(/upstream servers \(10\.9\.9\.9\) did not answer/);
  });

  it('a target listening only on 127.0.0.1 fails', () => {
    const client = sandbox('client', 'e', [{ net: app, ip: '172.18.0.3/16' }]);
    const f = facts([app], [web, client], { target: { raw: '172.18.0.2:80', host: '172.18.0.2', port: 80, addresses: ['172.18.0.2'] } });
    f.inside.set(web.id, inside({ listeners: [{ proto: 'tcp', addr: '127.0.0.1', port: 80 }] }));
    expect(checkTarget(f, client).find((x) => x.check === 'to.listener')).toMatchObject({ status: 'fail' });
  });

  it('parseTarget: names, addresses, ports; bad ones refused naming --to', () => {
    expect(parseTarget('db')).toEqual({ host: 'db' });
    expect(parseTarget('db:5432')).toEqual({ host: 'db', port: 5432 });
    expect(parseTarget('10.0.0.5:80')).toEqual({ host: '10.0.0.5', port: 80 });
    expect(parseTarget('fd00::5')).toEqual({ host: 'fd00::5' });
    expect(parseTarget('[fd00::5]:80')).toEqual({ host: 'fd00::5', port: 80 });
    for (const bad of ['', 'db:0', 'db:99999', 'db:x', 'a b', '[db]:80', 'x;rm -rf /']) expect(() => parseTarget(bad), bad).toThrow(/--to/);
  });
});

describe('the report', () => {
  it('healthy only without problems or warnings; merged parts add up; text says healthy or lists fixes', () => {
    const good = runChecks(facts([app], [web]), { host: true, sandboxes: [web] });
    expect(good.healthy).toBe(true);
    expect(good.summary.fail + good.summary.warn).toBe(0);
    expect(formatReport(good).at(-1)).toMatch(/^healthy: every check passed \(\d+ ok, 0 warnings, 0 problems\)$/);
    const badFacts = facts([app], [web]);
    badFacts.inside.set(web.id, inside({ listeners: [{ proto: 'udp', addr: '127.0.0.11', port: 53 }, { proto: 'tcp', addr: '127.0.0.1', port: 80 }] }));
    const bad = runChecks(badFacts, { host: false, sandboxes: [web] });
    expect(bad.healthy).toBe(false);
    const text = formatReport(bad);
    expect(text).toContain('  FAIL port.listener: listening only on 127.0.0.1:80, the sandbox\'s own loopback: nothing from outside the sandbox reaches it');
    expect(text.some((l) => l.startsWith('       fix: restart the service in web'))).toBe(true);
    expect(text.at(-1)).toMatch(/^not healthy: \d+ ok, 0 warnings, 1 problem$/);
    const merged = mergeReports([good, bad]);
    expect(merged.summary.ok).toBe(good.summary.ok + bad.summary.ok);
    expect(merged.healthy).toBe(false);
    expect(report([], { host: true, sandboxes: [] }).healthy).toBe(true);
  });
});
