/**
 * `yard doctor`'s checks: the field's network triage cheat sheet, as pure functions over
 * facts (facts.ts). Each check returns findings that say what was checked, what was found
 * and, for a problem, the exact command that fixes it. Nothing here reads the kernel.
 */
import { allocateAddress } from '../ipam/allocator.js';
import { parseAddr, parsePrefix, prefixContains } from '../ipam/prefix.js';
import { publishTarget } from '../model/ports.js';
import type { EndpointRecord, NetworkRecord, SandboxRecord } from '../model/types.js';
import { shimName } from '../drivers/parent-link.js';
import { bridgeOf } from '../firewall/model.js';
import { TABLE, USER_CHAIN, USER_TABLE } from '../firewall/render.js';
import type { DoctorFacts, Listener, SandboxFacts } from './facts.js';

export type Status = 'ok' | 'warn' | 'fail' | 'skip';

export interface Finding {
  /** Stable identifier of the check, e.g. `port.listener`. */
  check: string;
  /** `host`, or the sandbox the finding is about. */
  subject: string;
  status: Status;
  checked: string;
  found: string;
  /** The command (or commands, joined with &&) that fixes a problem. */
  fix?: string;
}

const ok = (check: string, subject: string, checked: string, found: string): Finding => ({ check, subject, status: 'ok', checked, found });
const skip = (check: string, subject: string, checked: string, found: string): Finding => ({ check, subject, status: 'skip', checked, found });
const bad = (status: 'warn' | 'fail', check: string, subject: string, checked: string, found: string, fix: string): Finding => ({ check, subject, status, checked, found, fix });

const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : what.endsWith('x') ? 'es' : 's'}`;
const bare = (cidr: string) => cidr.split('/')[0]!;
const routed = (n: NetworkRecord) => (n.driver === 'bridge' || n.driver === 'overlay') && !n.internal && !n.deleting && !n.configOnly;
const onLan = (n: NetworkRecord) => n.driver === 'macvlan' || n.driver === 'ipvlan';
const endpointsOf = (sb: SandboxRecord) => Object.values(sb.endpoints).sort((a, b) => a.order - b.order);
/** A shell word as a user would type it. */
const shq = (s: string) => (/^[A-Za-z0-9_.:/@%+=,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

function netOf(f: DoctorFacts, ep: EndpointRecord): NetworkRecord | undefined {
  return f.networks.get(ep.networkId);
}

function reconnect(net: NetworkRecord, sb: SandboxRecord, ip?: string): string {
  return `yard network disconnect ${shq(net.name)} ${shq(sb.name)} && yard network connect ${ip ? `--ip ${ip} ` : ''}${shq(net.name)} ${shq(sb.name)}`;
}

// ---------------------------------------------------------------- host level

export function checkIpForward(f: DoctorFacts): Finding[] {
  const nets = [...f.networks.values()].filter(routed);
  const what = 'IPv4 forwarding in the daemon\'s namespace (net.ipv4.ip_forward), which routed networks need to reach anything outside';
  if (!nets.length) return [];
  if (f.host.ipForward === null) return [skip('host.ip-forward', 'host', what, 'could not read /proc/sys/net/ipv4/ip_forward')];
  if (f.host.ipForward) return [ok('host.ip-forward', 'host', what, 'on')];
  return [bad('fail', 'host.ip-forward', 'host', what, `off: sandboxes on ${nets.map((n) => n.name).join(', ')} cannot reach anything beyond this host, and published ports cannot be reached from elsewhere`, 'sysctl -w net.ipv4.ip_forward=1')];
}

/**
 * Host firewalls that drop forwarded traffic: a base chain on the forward hook with policy
 * drop in a table that is not Switchyard's. An accept in Switchyard's chain does not save a
 * packet another forward chain drops, so published ports and outbound traffic of routed
 * networks die there.
 */
export function checkHostFirewall(f: DoctorFacts): Finding[] {
  const what = 'host firewall tables (nftables, iptables-nft, ufw, firewalld) for a forward hook that drops what Switchyard forwards';
  if (!f.host.nft) return [skip('host.firewall', 'host', what, 'nft could not list the ruleset')];
  const bridges = [...f.networks.values()].filter((n) => n.driver === 'bridge' && !n.internal && !n.deleting && !n.configOnly).map(bridgeOf);
  const ours = (c: { family: string; table: string }) => c.table === TABLE || c.table === USER_TABLE;
  const drops = f.host.nft.chains.filter((c) => !ours(c) && c.hook === 'forward' && c.policy === 'drop' && c.family !== 'bridge');
  if (!drops.length) return [ok('host.firewall', 'host', what, 'no other forward chain drops by policy')];
  if (!bridges.length) return [ok('host.firewall', 'host', what, `${drops.map((c) => `${c.family} ${c.table} ${c.name}`).join(', ')} drop forwarded traffic by policy, but no bridge network routes through this host`)];
  const ufw = f.host.nft.chains.some((c) => c.name.startsWith('ufw-'));
  const firewalld = f.host.nft.chains.some((c) => c.table === 'firewalld');
  // A bridge passes such a chain when the chain accepts its traffic both ways.
  const accepts = (texts: string[], dir: 'iifname' | 'oifname', b: string) =>
    texts.some((t) => {
      // A rule's comment comes last (Switchyard's own accepts carry one: --host-firewall accept).
      const w = t.replace(/\s+comment\s+"[^"]*"\s*$/, '').split(/\s+/);
      const k = w.indexOf(dir);
      return k >= 0 && w[k + 1]?.replace(/"/g, '') === b && w[w.length - 1] === 'accept';
    });
  const out: Finding[] = [];
  for (const c of drops) {
    const blocked = c.ruleTexts ? bridges.filter((b) => !accepts(c.ruleTexts!, 'iifname', b) || !accepts(c.ruleTexts!, 'oifname', b)) : bridges;
    if (!blocked.length) {
      out.push(ok('host.firewall', 'host', what, `chain ${c.family} ${c.table} ${c.name} drops forwarded traffic by policy but accepts ${bridges.join(', ')} both ways`));
      continue;
    }
    let fix: string;
    if (ufw && c.name === 'FORWARD') fix = blocked.map((b) => `ufw route allow in on ${b} && ufw route allow out on ${b}`).join(' && ');
    else if (firewalld && c.table === 'firewalld') fix = blocked.map((b) => `firewall-cmd --zone=trusted --add-interface=${b}`).join(' && ');
    else if (c.name === 'FORWARD' && (c.family === 'ip' || c.family === 'ip6')) fix = blocked.map((b) => `${c.family === 'ip6' ? 'ip6tables' : 'iptables'} -I FORWARD -i ${b} -j ACCEPT && ${c.family === 'ip6' ? 'ip6tables' : 'iptables'} -I FORWARD -o ${b} -j ACCEPT`).join(' && ');
    else fix = blocked.map((b) => `nft insert rule ${c.family} ${shq(c.table)} ${shq(c.name)} iifname ${b} accept && nft insert rule ${c.family} ${shq(c.table)} ${shq(c.name)} oifname ${b} accept`).join(' && ');
    const owner = ufw && c.name === 'FORWARD' ? ' (ufw)' : firewalld && c.table === 'firewalld' ? ' (firewalld)' : '';
    out.push(bad('fail', 'host.firewall', 'host', what,
      `chain ${c.family} ${c.table} ${c.name}${owner} has policy drop on the forward hook and does not accept ${blocked.join(', ')}: it drops their published-port and outbound traffic whatever Switchyard accepts (Switchyard's rules still decide what else may pass)`,
      fix));
  }
  return out;
}

const TABLE_FIX = `nft delete table inet ${TABLE} && nft delete table bridge ${TABLE}   (the daemon reloads both from its state within a second)`;

/** Rules and elements in Switchyard's tables against what the state explains; rule totals elsewhere. */
export function checkFirewallCounts(f: DoctorFacts): Finding[] {
  const nft = f.host.nft;
  const what = `rules and set elements in Switchyard's tables against what the state explains`;
  if (!nft) return [skip('firewall.counts', 'host', what, 'nft could not list the ruleset')];
  const out: Finding[] = [];
  const problems: string[] = [];
  let missing = false;
  for (const [key, want] of f.expectedRules) {
    const [family, table, chain] = key.split(' ');
    const c = nft.chains.find((x) => x.family === family && x.table === table && x.name === chain);
    const have = c?.rules ?? 0;
    if (!c) { problems.push(`chain ${key} is missing`); missing = true; }
    else if (have !== want) { problems.push(`chain ${key} has ${have} rules, the state explains ${want}`); if (have < want) missing = true; }
  }
  let haveEls = 0;
  let wantEls = 0;
  for (const [key, want] of f.expectedElements) {
    const have = nft.elements.get(key) ?? 0;
    haveEls += have;
    wantEls += want;
    if (have !== want) { problems.push(`set ${key} has ${have} elements, the state explains ${want}`); if (have < want) missing = true; }
  }
  const ruleTotal = [...f.expectedRules.values()].reduce((a, b) => a + b, 0);
  if (problems.length) out.push(bad(missing ? 'fail' : 'warn', 'firewall.counts', 'host', what, problems.join('; '), TABLE_FIX));
  else out.push(ok('firewall.counts', 'host', what, `${ruleTotal} rules and ${haveEls} elements, all explained by ${plural(f.networks.size, 'network')} and ${plural(f.sandboxes.size, 'sandbox')} (the rule count does not grow with them)`));
  void wantEls;
  const others = nft.chains.filter((c) => c.table !== TABLE && c.table !== USER_TABLE);
  const otherRules = others.reduce((a, c) => a + c.rules, 0);
  const whatOthers = 'rules in tables that are not Switchyard\'s (accumulated rules slow every packet)';
  if (otherRules > 10_000) {
    const tables = [...new Set(others.map((c) => `${c.family} ${c.table}`))];
    out.push(bad('warn', 'firewall.others', 'host', whatOthers, `${otherRules} rules in ${tables.join(', ')}`, 'nft list tables   (then remove the leftover tables of tools no longer in use: nft delete table FAMILY NAME)'));
  } else out.push(ok('firewall.others', 'host', whatOthers, `${otherRules} rules`));
  return out;
}

/** Rules a user put in the user chain that drop or reject: consulted before Switchyard's. */
export function checkUserChain(f: DoctorFacts): Finding[] {
  const what = `the user chain inet ${USER_TABLE} ${USER_CHAIN} (consulted before Switchyard's forward rules)`;
  const rules = f.host.nft?.userRules;
  if (!f.host.nft) return [skip('firewall.user-chain', 'host', what, 'nft could not list the ruleset')];
  if (rules === null || rules === undefined) return [ok('firewall.user-chain', 'host', what, 'missing: Switchyard re-creates it empty')];
  const dropping = rules.filter((r) => /\b(drop|reject)\b/.test(r.text));
  if (!dropping.length) return [ok('firewall.user-chain', 'host', what, rules.length ? `${rules.length} rule(s), none drops` : 'empty')];
  return [bad('warn', 'firewall.user-chain', 'host', what,
    `${dropping.length} rule(s) drop forwarded traffic before Switchyard's rules: ${dropping.map((r) => `"${r.text}"`).join('; ')}`,
    dropping.map((r) => `nft delete rule inet ${USER_TABLE} ${USER_CHAIN} handle ${r.handle}`).join(' && ') + '   (if the rule is not meant to be there)')];
}

/** macvlan/ipvlan: the host cannot reach its own sandboxes without a shim. */
export function checkHostAccess(f: DoctorFacts): Finding[] {
  const out: Finding[] = [];
  for (const net of f.networks.values()) {
    if (!onLan(net) || net.internal || net.deleting) continue;
    const members = [...f.sandboxes.values()].filter((s) => s.endpoints[net.id]);
    const what = `whether this host can reach the sandboxes of ${net.driver} network ${net.name} (the kernel keeps a parent from talking to its own children)`;
    if (net.driverState.shimAddress) {
      const shim = shimName(net.id);
      if (f.host.links && !f.host.links.includes(shim)) {
        out.push(bad('fail', 'lan.host-access', 'host', what, `the host-access shim ${shim} (${net.driverState.shimAddress}) is missing`, 'restart the daemon: reconcile re-creates the shim from the state'));
      } else out.push(ok('lan.host-access', 'host', what, `through the shim ${shim} (${net.driverState.shimAddress})`));
      continue;
    }
    if (!members.length) continue;
    const v4 = net.ipam.config.find((p) => !p.subnet.includes(':'));
    const recreate = [
      ...members.map((s) => `yard network disconnect ${shq(net.name)} ${shq(s.name)}`),
      `yard network rm ${shq(net.name)}`,
      `yard network create -d ${net.driver}${v4 ? ` --subnet ${v4.subnet}${v4.gateway ? ` --gateway ${v4.gateway}` : ''}${v4.ipRange ? ` --ip-range ${v4.ipRange}` : ''}` : ''} -o parent=${net.driverState.parent} -o host_access=true ${shq(net.name)}`,
      ...members.map((s) => `yard network connect ${shq(net.name)} ${shq(s.name)}`),
    ].join(' && ');
    out.push(bad('warn', 'lan.host-access', 'host', what, `no host-access shim: ${members.map((s) => s.name).join(', ')} answer the LAN but not this host`, recreate));
  }
  return out;
}

/** Two endpoints of one network holding the same address. */
export function checkDuplicateAddresses(f: DoctorFacts): Finding[] {
  const out: Finding[] = [];
  const what = 'addresses held twice on one network in the state';
  for (const net of f.networks.values()) {
    const holders = new Map<string, SandboxRecord[]>();
    for (const sb of f.sandboxes.values()) {
      const ep = sb.endpoints[net.id];
      for (const a of [ep?.ipv4, ep?.ipv6]) if (a) holders.set(bare(a), [...(holders.get(bare(a)) ?? []), sb]);
    }
    for (const [addr, sbs] of holders) {
      if (sbs.length < 2) continue;
      const last = sbs[sbs.length - 1]!;
      out.push(bad('fail', 'state.duplicate-address', 'host', what, `${addr} on ${net.name} is held by ${sbs.map((s) => s.name).join(' and ')}`, reconnect(net, last)));
    }
  }
  if (!out.length) out.push(ok('state.duplicate-address', 'host', what, `none among ${plural(f.sandboxes.size, 'sandbox')}`));
  return out;
}

/** Overlay networks: the cluster store reachable, every remote endpoint programmed in the VXLAN FDB. */
export function checkOverlays(f: DoctorFacts): Finding[] {
  const out: Finding[] = [];
  for (const o of f.overlays ?? []) {
    const what = `overlay ${o.network}: the cluster store and the forwarding entries for sandboxes on other hosts`;
    if (!o.store.connected) {
      out.push(bad('fail', 'overlay.store', 'host', what, `the cluster store ${o.store.url} is not reachable: no new endpoints are learned or published`, `etcdctl --endpoints ${o.store.url.replace(/^etcd:\/\//, 'http://')} endpoint health   (the agent reconnects by itself once it answers)`));
    } else out.push(ok('overlay.store', 'host', what, `cluster store ${o.store.url} connected`));
    if (!o.fdb) { out.push(skip('overlay.fdb', 'host', what, `could not read the forwarding entries of ${o.vxlan}`)); continue; }
    const missing = o.remotes.filter((r) => o.fdb!.get(r.mac.toLowerCase()) !== r.vtep);
    if (missing.length) {
      out.push(bad('fail', 'overlay.fdb', 'host', what,
        `${o.vxlan} does not send ${missing.map((r) => `${r.sandbox} (${r.address}, ${r.mac})`).join(', ')} to ${[...new Set(missing.map((r) => r.vtep))].join(', ')}: traffic to them is lost`,
        missing.map((r) => `bridge fdb replace ${r.mac.toLowerCase()} dev ${o.vxlan} dst ${r.vtep} self permanent`).join(' && ')));
    } else out.push(ok('overlay.fdb', 'host', what, o.remotes.length ? `${plural(o.remotes.length, 'remote endpoint')} programmed` : 'no endpoints on other hosts'));
  }
  return out;
}

/**
 * A bridge with about as many ports as the kernel's receive backlog: a broadcast (an ARP
 * request) is flooded as one copy per port into the backlog of the CPU that forwards it
 * (`net.core.netdev_max_backlog`, 1000 by default), and what comes right after (the host's
 * own ARP answer to that request, or its request to a sandbox whose port is late in the
 * list) finds it full and is dropped, every time: a sandbox's first contact with its
 * gateway, or the host's with a sandbox, fails. Warned from the backlog minus a margin.
 */
export function checkBridgeBacklog(f: DoctorFacts): Finding[] {
  const backlog = f.host.backlog;
  if (backlog === undefined) return [];
  const ports = new Map<string, number>();
  for (const sb of f.sandboxes.values()) {
    for (const ep of Object.values(sb.endpoints)) {
      const n = netOf(f, ep);
      if (n?.driver === 'bridge') ports.set(n.id, (ports.get(n.id) ?? 0) + 1);
    }
  }
  if (!ports.size) return [];
  const what = 'bridge networks against the kernel\'s receive backlog (net.core.netdev_max_backlog), which one broadcast flooded to every port must fit in';
  if (backlog === null) return [skip('host.backlog', 'host', what, 'could not read /proc/sys/net/core/netdev_max_backlog (a setting of the whole machine, shown only in its first network namespace: not the daemon\'s)')];
  const [id, most] = [...ports].sort((a, b) => b[1] - a[1])[0]!;
  const name = f.networks.get(id)!.name;
  if (most + BACKLOG_MARGIN < backlog) return [ok('host.backlog', 'host', what, `the largest, ${name}, has ${plural(most, 'port')}; the backlog holds ${backlog} packets`)];
  const want = 2 ** Math.ceil(Math.log2(2 * (most + BACKLOG_MARGIN)));
  return [bad('warn', 'host.backlog', 'host', what,
    `${name} has ${plural(most, 'port')} and the backlog holds ${backlog} packets: an ARP request flooded to every port fills it, and the answer right after it is dropped, so a sandbox's first packets to its gateway (or the host's to a sandbox) can be lost`,
    `sysctl -w net.core.netdev_max_backlog=${want}   (or spread the sandboxes over more networks)`)];
}

/** Packets of other traffic the backlog may hold besides one flood. */
const BACKLOG_MARGIN = 24;

export function hostChecks(f: DoctorFacts): Finding[] {
  return [...checkIpForward(f), ...checkHostFirewall(f), ...checkFirewallCounts(f), ...checkUserChain(f), ...checkHostAccess(f), ...checkDuplicateAddresses(f), ...checkOverlays(f), ...checkBridgeBacklog(f)];
}

// ---------------------------------------------------------------- sandbox level

const enterOf = (sf: SandboxFacts) => sf.enter ?? '';

export function checkNamespace(sb: SandboxRecord, sf: SandboxFacts): Finding[] {
  const what = 'the sandbox\'s network namespace and its interfaces against the state';
  if (!sf.present) return [bad('fail', 'sandbox.namespace', sb.name, what, 'its network namespace cannot be entered', 'restart the daemon: reconcile re-creates the namespace and interfaces from the state')];
  if (!sf.links) return [skip('sandbox.namespace', sb.name, what, 'could not read its interfaces')];
  return [];
}

export function checkInterfaces(f: DoctorFacts, sb: SandboxRecord, sf: SandboxFacts): Finding[] {
  if (!sf.present || !sf.links) return [];
  const what = 'each endpoint\'s interface inside the sandbox: present, up, with its address';
  const out: Finding[] = [];
  for (const ep of endpointsOf(sb)) {
    const net = netOf(f, ep);
    if (!net || !ep.ifname) continue;
    const link = sf.links.find((l) => l.name === ep.ifname);
    const want = [ep.ipv4, ep.ipv6].filter((a): a is string => !!a);
    const lacks = want.filter((a) => !link?.addrs.includes(a));
    if (!link) out.push(bad('fail', 'sandbox.interface', sb.name, what, `${ep.ifname} (network ${net.name}) is missing`, reconnect(net, sb)));
    else if (!link.up) out.push(bad('fail', 'sandbox.interface', sb.name, what, `${ep.ifname} (network ${net.name}) is down`, `${enterOf(sf)} ip link set ${ep.ifname} up`));
    else if (lacks.length) out.push(bad('fail', 'sandbox.interface', sb.name, what, `${ep.ifname} (network ${net.name}) lacks ${lacks.join(', ')}`, lacks.map((a) => `${enterOf(sf)} ip addr add ${a} dev ${ep.ifname}`).join(' && ')));
  }
  if (!out.length) out.push(ok('sandbox.interface', sb.name, what, endpointsOf(sb).filter((e) => e.ifname).map((e) => `${e.ifname} ${[e.ipv4, e.ipv6].filter(Boolean).join(' ')}`).join(', ') || 'no interfaces (--network none/host)'));
  return out;
}

/** ARP duplicate address detection on the LAN for macvlan/ipvlan endpoints. */
export function checkLanDuplicates(f: DoctorFacts, sb: SandboxRecord, sf: SandboxFacts): Finding[] {
  const out: Finding[] = [];
  for (const p of sf.lan) {
    const ep = endpointsOf(sb).find((e) => e.ifname === p.ifname);
    const net = ep && netOf(f, ep);
    const what = `whether another machine on the LAN answers ARP for ${p.address} (duplicate address detection from ${p.ifname})`;
    if (!net) continue;
    if (p.answeredBy === null) { out.push(skip('lan.duplicate-address', sb.name, what, p.why ?? 'the probe could not run')); continue; }
    if (!p.answeredBy.length) { out.push(ok('lan.duplicate-address', sb.name, what, 'nobody else answers for it')); continue; }
    const free = freeAddress(f, net, p.address);
    out.push(bad('fail', 'lan.duplicate-address', sb.name, what,
      `${p.answeredBy.join(', ')} also answers for ${p.address} (the sandbox's own MAC is ${sb.endpoints[net.id]?.mac ?? 'unknown'}): two machines share the address`,
      free ? reconnect(net, sb, free) + `   (or take ${p.address} off the other machine)` : `take ${p.address} off the other machine (its MAC is ${p.answeredBy[0]}), or exclude it from the network's --ip-range`));
  }
  return out;
}

/** The lowest address the network's IPAM would give that the state does not hold, avoiding `avoid`. */
function freeAddress(f: DoctorFacts, net: NetworkRecord, avoid: string): string | undefined {
  const inUse = new Map<string, string>([[avoid, 'the LAN']]);
  for (const s of f.sandboxes.values()) {
    const a = s.endpoints[net.id]?.ipv4;
    if (a) inUse.set(bare(a), s.name);
  }
  if (net.driverState.shimAddress) inUse.set(String(net.driverState.shimAddress), 'shim');
  try {
    return allocateAddress({ networkName: net.name, pools: net.ipam.config, family: 4, inUse }).address;
  } catch {
    return undefined;
  }
}

/** The network that gives the sandbox its default route (Docker's rule: the earliest that can). */
function gatewayNetwork(f: DoctorFacts, sb: SandboxRecord): { net: NetworkRecord; ep: EndpointRecord; gw: string } | undefined {
  for (const ep of endpointsOf(sb)) {
    const net = netOf(f, ep);
    // An overlay gives no default route: its sandboxes leave through the gateway bridge.
    if (!net || net.internal || !ep.ifname || net.driver === 'overlay') continue;
    const gw = net.ipam.config.find((p) => !p.subnet.includes(':') && p.gateway)?.gateway;
    if (gw) return { net, ep, gw };
  }
  return undefined;
}

export function checkOutbound(f: DoctorFacts, sb: SandboxRecord, sf: SandboxFacts): Finding[] {
  const eps = endpointsOf(sb).filter((e) => netOf(f, e) && e.ifname);
  const what = 'outbound access: a non-internal network, a default route, masquerading, resolv.conf';
  if (!eps.length) return [];
  const out: Finding[] = [];
  const nets = eps.map((e) => netOf(f, e)!);
  if (nets.every((n) => n.internal)) {
    return [bad('warn', 'outbound.internal', sb.name, what, `every network of ${sb.name} is internal (${nets.map((n) => n.name).join(', ')}): no route out of this host, and names outside are not forwarded`, `yard network connect bridge ${shq(sb.name)}`)];
  }
  const g = gatewayNetwork(f, sb);
  if (g && sf.routes) {
    const def = sf.routes.find((r) => r.dst === 'default');
    if (!def) out.push(bad('fail', 'outbound.route', sb.name, what, `no default route (network ${g.net.name} gives one via ${g.gw})`, `${enterOf(sf)} ip route add default via ${g.gw} dev ${g.ep.ifname}`));
    else out.push(ok('outbound.route', sb.name, what, `default via ${def.gateway ?? '?'} dev ${def.dev ?? '?'}`));
  } else if (!g) out.push(skip('outbound.route', sb.name, what, 'none of its networks has an IPv4 gateway'));
  if (g && g.net.driver === 'bridge' && f.host.nft) {
    const subnets = g.net.ipam.config.map((p) => p.subnet).filter((s) => !s.includes(':'));
    if (g.net.driverState.masquerade === false) out.push(ok('outbound.masquerade', sb.name, what, `masquerading is off on ${g.net.name} by its option: replies must be routed back to ${subnets.join(', ')} by the LAN`));
    else {
      const lacking = subnets.filter((s) => !f.host.nft!.masquerade.includes(s));
      if (lacking.length) out.push(bad('fail', 'outbound.masquerade', sb.name, what, `${lacking.join(', ')} (network ${g.net.name}) is not in the masquerade set: its traffic leaves with an address nobody routes back`, lacking.map((s) => `nft add element inet ${TABLE} masq4 { ${s} }`).join(' && ')));
      else out.push(ok('outbound.masquerade', sb.name, what, `${subnets.join(', ')} is masqueraded when it leaves the host`));
    }
  }
  if (sf.resolvConf !== null) {
    const servers = sf.resolvConf.split('\n').map((l) => /^\s*nameserver\s+(\S+)/.exec(l)?.[1]).filter((s): s is string => !!s);
    if (!servers.length) out.push(bad('fail', 'outbound.resolv-conf', sb.name, what, 'resolv.conf lists no nameserver', reconnect(nets[0]!, sb)));
    else out.push(ok('outbound.resolv-conf', sb.name, what, `nameserver ${servers.join(', ')}`));
  }
  return out;
}

/** The embedded resolver answering inside a sandbox on a user-defined network. */
export function checkResolver(f: DoctorFacts, sb: SandboxRecord, sf: SandboxFacts): Finding[] {
  if (sb.runtime?.kind === 'docker' || !sf.listeners) return [];
  const userNets = endpointsOf(sb).map((e) => netOf(f, e)).filter((n): n is NetworkRecord => !!n && !n.predefined && n.driver !== 'host' && n.driver !== 'null');
  if (!userNets.length) return [];
  const what = 'the embedded resolver listening on 127.0.0.11:53 inside the sandbox';
  const udp = sf.listeners.some((l) => l.proto === 'udp' && l.addr === '127.0.0.11' && l.port === 53);
  if (udp) return [ok('dns.resolver', sb.name, what, `listening (names of ${userNets.map((n) => n.name).join(', ')})`)];
  return [bad('fail', 'dns.resolver', sb.name, what, 'nothing listens on 127.0.0.11:53: no name resolves in this sandbox', reconnect(userNets[0]!, sb))];
}

function listenersOn(ls: readonly Listener[], proto: string, port: number) {
  return ls.filter((l) => l.proto === proto && l.port === port);
}
const isWildcard = (a: string) => a === '0.0.0.0' || a === '::';
const isLoopback = (a: string) => a.startsWith('127.') || a === '::1';

/**
 * Whether the service in `sb` can be reached on `port` from outside the sandbox: listening
 * on every address (or the sandbox's own) and not only on its loopback.
 */
function listenerVerdict(ls: readonly Listener[], proto: 'tcp' | 'udp', port: number, own: string[]): { ok: boolean; found: string } {
  const here = listenersOn(ls, proto, port);
  if (!here.length) return { ok: false, found: `nothing listens on ${port}/${proto}` };
  const reachable = here.filter((l) => isWildcard(l.addr) || own.includes(l.addr));
  const shown = here.map((l) => `${l.addr.includes(':') ? `[${l.addr}]` : l.addr}:${l.port}`).join(', ');
  if (reachable.length) return { ok: true, found: `listening on ${shown}` };
  if (here.every((l) => isLoopback(l.addr))) return { ok: false, found: `listening only on ${shown}, the sandbox's own loopback: nothing from outside the sandbox reaches it` };
  return { ok: false, found: `listening only on ${shown}, none of the addresses traffic arrives at` };
}

export function checkPublishedPorts(f: DoctorFacts, sb: SandboxRecord, sf: SandboxFacts): Finding[] {
  const out: Finding[] = [];
  for (const m of sb.ports ?? []) {
    const spec = `${m.hostIp ? `${m.hostIp}:` : ''}${m.hostPort}${m.hostPortEnd !== m.hostPort ? `-${m.hostPortEnd}` : ''}->${m.containerPort}${m.containerPortEnd !== m.containerPort ? `-${m.containerPortEnd}` : ''}/${m.proto}`;
    const target = publishTarget(sb, f.networks);
    if (!target) {
      out.push(bad('fail', 'port.mapping', sb.name, `published port ${spec}: a network it is published through`, 'the sandbox has no non-internal bridge network, so nothing is published', `yard network connect bridge ${shq(sb.name)}`));
      continue;
    }
    const own = [target.ep.ipv4, target.ep.ipv6].filter((a): a is string => !!a).map(bare);
    const proto = m.proto === 'udp' ? 'udp' : 'tcp';
    if (sf.listeners && m.proto !== 'sctp') {
      const what = `published port ${spec}: a listener inside ${sb.name} on ${m.containerPort}/${m.proto} that traffic from outside the sandbox reaches`;
      const lastPort = Math.min(m.containerPortEnd, m.containerPort + 15);
      const faults: string[] = [];
      const oks: string[] = [];
      for (let p = m.containerPort; p <= lastPort; p++) {
        const v = listenerVerdict(sf.listeners, proto, p, own);
        (v.ok ? oks : faults).push(v.found);
      }
      if (faults.length) {
        const loopOnly = faults.some((x) => x.includes('only on'));
        const exited = sb.status === 'exited' ? `its process has exited${sb.exitCode !== undefined ? ` (code ${sb.exitCode})` : ''}: ` : '';
        out.push(bad('fail', 'port.listener', sb.name, what, exited + faults.join('; '),
          loopOnly
            ? `restart the service in ${sb.name} listening on 0.0.0.0:${m.containerPort} (its bind/listen address) instead of 127.0.0.1; check with: ${enterOf(sf)} ss -ltnu`
            : `start the service in ${sb.name} on port ${m.containerPort}/${m.proto}, or publish the port it uses: yard run -p ${m.hostPort}:PORT ...; check with: ${enterOf(sf)} ss -ltnu`));
      } else out.push(ok('port.listener', sb.name, what, oks.join('; ')));
    }
    if (f.host.listeners && m.proto !== 'sctp') {
      const what = `published port ${spec}: another process of this host on ${m.hostPort}/${m.proto}`;
      const holders = listenersOn(f.host.listeners, proto, m.hostPort).filter((l) => !m.hostIp || isWildcard(l.addr) || l.addr === m.hostIp || isWildcard(m.hostIp));
      if (holders.length) {
        out.push(bad('warn', 'port.host-holder', sb.name, what,
          `a process of this host listens on ${holders.map((l) => `${l.addr}:${l.port}`).join(', ')}: traffic to the published port goes to the sandbox (DNAT comes first), so that process is never reached through it`,
          `ss -${proto === 'udp' ? 'u' : 't'}lnp 'sport = :${m.hostPort}'   (then stop that process or publish another host port: yard run -p OTHER:${m.containerPort} ...)`));
      } else out.push(ok('port.host-holder', sb.name, what, 'no other listener on the host port'));
    }
  }
  return out;
}

/** Full-size packets with DF over each overlay network to a peer's sandbox. */
export function checkOverlayMtu(sb: SandboxRecord, sf: SandboxFacts): Finding[] {
  return sf.mtu.map((p) => {
    const what = `a full-size packet (${p.size} bytes, don't fragment) over overlay ${p.network} to ${p.peer}`;
    if (p.ok === null) return skip('overlay.mtu', sb.name, what, p.why ?? 'not probed');
    if (p.ok) return ok('overlay.mtu', sb.name, what, 'passes');
    return bad('fail', 'overlay.mtu', sb.name, what, `does not pass${p.why ? ` (${p.why})` : ''}: the underlay between the hosts carries less than the overlay's MTU plus VXLAN's 50 bytes, so full-size packets are lost`,
      `yard network create -d overlay -o com.docker.network.driver.mtu=N ...   (recreate ${p.network} with N = 50 below what the underlay carries between the hosts, found with ping -M do -s SIZE OTHER-HOST; or raise the underlay's MTU to ${p.size + 50} on every link between them)`);
  });
}

export function sandboxChecks(f: DoctorFacts, sb: SandboxRecord): Finding[] {
  const sf = f.inside.get(sb.id);
  if (!sf) return [];
  const ns = checkNamespace(sb, sf);
  if (ns.length) return ns;
  return [
    ...checkInterfaces(f, sb, sf),
    ...checkLanDuplicates(f, sb, sf),
    ...checkOutbound(f, sb, sf),
    ...checkResolver(f, sb, sf),
    ...checkPublishedPorts(f, sb, sf),
    ...checkPortHostFirewall(sb, sf),
    ...checkOverlayMtu(sb, sf),
  ];
}

/**
 * Which other firewalls the host has and what they mean for each published port, as the
 * firewall room explains it (`yard port explain` shows the same lines). A port that the
 * host's firewall keeps from the LAN (--host-firewall off with a forward drop, or obey with
 * an input drop) is a warning: that may be what the user wants, or the reason it fails.
 */
export function checkPortHostFirewall(sb: SandboxRecord, sf: SandboxFacts): Finding[] {
  const out: Finding[] = [];
  for (const { index, lines } of sf.hostFirewall ?? []) {
    const m = sb.ports?.[index];
    if (!m) continue;
    const what = `published port ${m.hostPort}/${m.proto}: what the host's other firewalls (ufw, firewalld, iptables, nftables tables) mean for it`;
    const blocked = lines.filter((l) => /are dropped there|is refused|is limited to/.test(l));
    if (!blocked.length) out.push(ok('port.host-firewall', sb.name, what, lines.join('; ')));
    else {
      out.push(bad('warn', 'port.host-firewall', sb.name, what, blocked.join('; '),
        `yard port explain ${shq(sb.name)}   (then allow the port in that firewall, e.g. ufw allow ${m.hostPort}/${m.proto}, or run the daemon with --host-firewall accept)`));
    }
  }
  return out;
}

// ---------------------------------------------------------------- --to TARGET

function sandboxByName(f: DoctorFacts, name: string): SandboxRecord | undefined {
  const n = name.replace(/\.$/, '');
  return [...f.sandboxes.values()].find((s) => s.name === n || s.hostname === n) ??
    [...f.sandboxes.values()].find((s) => Object.values(s.endpoints).some((e) => e.aliases.includes(n)));
}

function sandboxByAddress(f: DoctorFacts, addr: string): { sb: SandboxRecord; ep: EndpointRecord; net: NetworkRecord } | undefined {
  for (const sb of f.sandboxes.values()) {
    for (const ep of Object.values(sb.endpoints)) {
      const net = f.networks.get(ep.networkId);
      if (net && [ep.ipv4, ep.ipv6].some((a) => a && bare(a) === addr)) return { sb, ep, net };
    }
  }
  return undefined;
}

function networkContaining(f: DoctorFacts, addr: string): NetworkRecord | undefined {
  const a = parseAddr(addr);
  if (!a) return undefined;
  return [...f.networks.values()].find((n) => !n.deleting && n.ipam.config.some((p) => { const pr = parsePrefix(p.subnet); return !!pr && pr.family === a.family && prefixContains(pr, a); }));
}

const userDefined = (n: NetworkRecord) => !n.predefined;

export function checkTarget(f: DoctorFacts, sb: SandboxRecord): Finding[] {
  const t = f.target;
  if (!t) return [];
  const out: Finding[] = [];
  const subject = sb.name;
  const sf = f.inside.get(sb.id);
  const isName = !parseAddr(t.host);
  const myNets = endpointsOf(sb).map((e) => netOf(f, e)).filter((n): n is NetworkRecord => !!n);
  let targetSb: SandboxRecord | undefined;

  if (isName) {
    const what = `name ${t.host} from ${sb.name}: same network, a resolver that names it, an upstream that answers`;
    targetSb = sandboxByName(f, t.host);
    if (targetSb && targetSb.id !== sb.id) {
      const theirs = endpointsOf(targetSb).map((e) => netOf(f, e)).filter((n): n is NetworkRecord => !!n);
      const shared = theirs.filter((n) => myNets.some((m) => m.id === n.id));
      const sharedUser = shared.filter(userDefined);
      const theirUser = theirs.filter((n) => userDefined(n) && n.driver !== 'host' && n.driver !== 'null');
      if (!sharedUser.length) {
        if (!theirUser.length) {
          out.push(bad('fail', 'to.name', subject, what,
            `${t.host} is sandbox ${targetSb.name}, on ${theirs.map((n) => n.name).join(', ') || 'no network'}${shared.length ? ` (shared with ${sb.name}: ${shared.map((n) => n.name).join(', ')})` : ''}: the default bridge gives no names, only user-defined networks do`,
            `yard network create app-net && yard network connect app-net ${shq(sb.name)} && yard network connect app-net ${shq(targetSb.name)}`));
        } else {
          out.push(bad('fail', 'to.name', subject, what,
            `${t.host} is sandbox ${targetSb.name} on ${theirUser.map((n) => n.name).join(', ')}; ${sb.name} is on ${myNets.map((n) => n.name).join(', ') || 'no network'}: names are only answered to sandboxes on the same network`,
            `yard network connect ${shq(theirUser[0]!.name)} ${shq(sb.name)}`));
        }
      } else if (t.dns && t.dns.source === 'local' && t.dns.rcode === 'NOERROR' && t.dns.records.length) {
        out.push(ok('to.name', subject, what, `${t.host} is sandbox ${targetSb.name} on ${sharedUser.map((n) => n.name).join(', ')}: ${t.dns.records.join('; ')}`));
      } else if (sf?.listeners && !sf.listeners.some((l) => l.proto === 'udp' && l.addr === '127.0.0.11' && l.port === 53)) {
        out.push(bad('fail', 'to.name', subject, what, 'both are on the same network but nothing answers on 127.0.0.11:53 in the sandbox', reconnect(sharedUser[0]!, sb)));
      } else {
        out.push(bad('fail', 'to.name', subject, what, `both are on ${sharedUser[0]!.name}, yet the resolver answers ${t.dns?.rcode ?? 'nothing'}: ${t.dns?.reason ?? ''}`, 'restart the daemon (the resolver rebuilds its records from the state)'));
      }
    } else if (t.dns) {
      const d = t.dns;
      if (d.rcode === 'NOERROR' && d.records.length) out.push(ok('to.name', subject, what, `${d.source === 'local' ? 'local' : 'upstream'} answer: ${d.records.join('; ')}`));
      else if (d.source === 'refused') out.push(bad('fail', 'to.name', subject, what, d.reason, `yard network connect bridge ${shq(sb.name)}`));
      else if (d.source === 'none') out.push(ok('to.name', subject, what, d.reason));
      else if (d.rcode === 'NXDOMAIN' || (d.rcode === 'NOERROR' && !d.records.length)) out.push(bad('fail', 'to.name', subject, what, `no such name (${d.rcode}): no sandbox on ${sb.name}'s networks has it and the upstreams (${d.upstreams.join(', ') || 'none'}) do not know it`, `check the spelling, or run the sandbox that should have it on one of ${myNets.filter(userDefined).map((n) => n.name).join(', ') || 'a user-defined network'}`));
      else {
        const g = gatewayNetwork(f, sb);
        out.push(bad('fail', 'to.name', subject, what, `the upstream servers (${d.upstreams.join(', ') || 'none'}) did not answer (${d.rcode}) when asked from inside the sandbox: ${d.reason}`,
          d.upstreams.length ? `${sf?.enter ?? ''} ping -c1 ${d.upstreams[0]}   (the upstream must be reachable from the sandbox${g ? ` via ${g.gw}` : ''}; or give one that is: yard run --dns ADDRESS ...)` : 'start the daemon with --dns ADDRESS'));
      }
    } else out.push(skip('to.name', subject, what, 'the daemon runs without its resolver'));
  }

  // Where each address leads from this sandbox.
  for (const addr of t.addresses.slice(0, 4)) {
    const what = `a path from ${sb.name} to ${addr}`;
    const holder = sandboxByAddress(f, addr);
    const net = holder?.net ?? networkContaining(f, addr);
    targetSb ??= holder?.sb;
    if (net && !onLan(net)) {
      if (myNets.some((n) => n.id === net.id)) out.push(ok('to.path', subject, what, `direct, on network ${net.name}${holder ? ` (sandbox ${holder.sb.name})` : ''}`));
      else out.push(bad('fail', 'to.path', subject, what, `${addr} is on network ${net.name}${holder ? ` (sandbox ${holder.sb.name})` : ''}, which ${sb.name} is not on: networks are isolated from each other`, `yard network connect ${shq(net.name)} ${shq(sb.name)}`));
    } else {
      const g = gatewayNetwork(f, sb);
      const direct = myNets.find((n) => n.ipam.config.some((p) => { const pr = parsePrefix(p.subnet); const a = parseAddr(addr); return !!pr && !!a && pr.family === a.family && prefixContains(pr, a); }));
      if (direct) out.push(ok('to.path', subject, what, `on the LAN of network ${direct.name}`));
      else if (!g) out.push(bad('fail', 'to.path', subject, what, `${addr} is outside every network of ${sb.name}, and none of them leads out (internal or no gateway)`, `yard network connect bridge ${shq(sb.name)}`));
      else out.push(ok('to.path', subject, what, `through the default route via ${g.gw} (network ${g.net.name})`));
    }
  }

  // The target sandbox's listener on the port (0.0.0.0 vs 127.0.0.1).
  if (targetSb && t.port) {
    const tf = f.inside.get(targetSb.id);
    if (tf?.listeners) {
      const own = Object.values(targetSb.endpoints).flatMap((e) => [e.ipv4, e.ipv6]).filter((a): a is string => !!a).map(bare);
      const v = listenerVerdict(tf.listeners, 'tcp', t.port, own);
      const what = `a listener in ${targetSb.name} on ${t.port}/tcp that ${sb.name} can reach`;
      if (v.ok) out.push(ok('to.listener', subject, what, v.found));
      else out.push(bad('fail', 'to.listener', subject, what, v.found, v.found.includes('only on')
        ? `restart the service in ${targetSb.name} listening on 0.0.0.0:${t.port} (its bind/listen address) instead of 127.0.0.1`
        : `start the service in ${targetSb.name} on port ${t.port}`));
    }
  }

  if (t.attempt) {
    const what = `${t.port ? `a TCP connection to ${t.attempt.address}:${t.port}` : `a ping to ${t.attempt.address}`} from inside ${sb.name}`;
    const explained = out.some((x) => x.status === 'fail');
    if (t.attempt.ok) out.push(ok('to.attempt', subject, what, t.attempt.detail));
    else out.push(bad(explained ? 'warn' : 'fail', 'to.attempt', subject, what, t.attempt.detail, explained ? 'see the problems above' : `nothing above explains it: check the service at ${t.attempt.address} and the path (yard port explain, nft list ruleset)`));
  }
  if (!t.addresses.length && !out.some((x) => x.status === 'fail')) out.push(bad('fail', 'to.path', subject, `a path from ${sb.name} to ${t.host}`, `${t.host} resolved to no address`, `yard dns explain ${shq(t.host)} --from ${shq(sb.name)}`));
  return out;
}

// ---------------------------------------------------------------- the report

export interface DoctorReport {
  /** Bumped when the shape changes incompatibly. */
  version: 1;
  healthy: boolean;
  scope: { host: boolean; sandboxes: string[]; to?: string };
  summary: { ok: number; warn: number; fail: number; skip: number };
  findings: Finding[];
}

export function report(findings: Finding[], scope: DoctorReport['scope']): DoctorReport {
  const summary = { ok: 0, warn: 0, fail: 0, skip: 0 };
  for (const x of findings) summary[x.status]++;
  return { version: 1, healthy: summary.fail === 0 && summary.warn === 0, scope, summary, findings };
}

/** Reports of several requests (host, then one per sandbox) as one. */
export function mergeReports(parts: DoctorReport[]): DoctorReport {
  const scope: DoctorReport['scope'] = { host: parts.some((p) => p.scope.host), sandboxes: parts.flatMap((p) => p.scope.sandboxes) };
  const to = parts.find((p) => p.scope.to)?.scope.to;
  return report(parts.flatMap((p) => p.findings), to ? { ...scope, to } : scope);
}

export function runChecks(f: DoctorFacts, opts: { host: boolean; sandboxes: SandboxRecord[]; to?: SandboxRecord }): DoctorReport {
  const findings = [
    ...(opts.host ? hostChecks(f) : []),
    ...opts.sandboxes.flatMap((sb) => sandboxChecks(f, sb)),
    ...(opts.to ? checkTarget(f, opts.to) : []),
  ];
  const scope: DoctorReport['scope'] = { host: opts.host, sandboxes: opts.sandboxes.map((s) => s.name) };
  return report(findings, f.target ? { ...scope, to: f.target.raw } : scope);
}
