/**
 * The leak check: one lab host's kernel, firewall, DNS, sockets, processes and files
 * compared with what its daemon's state says, after a crash and restart or after any
 * sequence of operations. Everything Switchyard could leave behind is looked for:
 *
 *   namespaces  every `yard-<host>-*` namespace belongs to a sandbox in state, and every
 *               sandbox's namespace exists (so do /etc/netns/<ns> and the sandbox directories)
 *   links       host side: every endpoint veth (`yv…`) and every link marked
 *               `switchyard:<host>:<network id>` belongs to a live endpoint/network, every
 *               endpoint's veth is on its network's bridge, every network's bridge exists;
 *               sandbox side: exactly `lo` and one interface per endpoint, with the
 *               recorded addresses
 *   nftables    `inet switchyard`: the bridge sets hold exactly the live networks' bridges,
 *               the subnet sets only live subnets, the published-port maps only elements
 *               of live sandboxes (by container address and host port) and every published
 *               port has its element; `bridge switchyard`: only live veths
 *   IPAM        no address held twice in state or in the kernel (every sandbox namespace's
 *               `ip -j addr`); with etcd: every claim of this host belongs to a live
 *               endpoint with that address, and every overlay endpoint has its claim
 *   DNS         each running sandbox that uses the embedded resolver resolves its own name
 *               to its own addresses through 127.0.0.11 (a real query from inside it);
 *               names of sandboxes that are gone (the caller lists them) are NXDOMAIN
 *   sockets     every socket the daemon holds is in its own namespace or in a live
 *               sandbox's (none in a deleted namespace kept alive by it); each sandbox that
 *               uses the embedded resolver has exactly one UDP and one TCP listener on
 *               127.0.0.11:53, the others none
 *   processes   no process started for this host (its environment names the instance)
 *               runs outside the host or a live sandbox's namespace; inside a sandbox's
 *               namespace only its recorded process and its descendants run; every
 *               running sandbox's process is alive, in its namespace
 *
 * `findLeaks` returns what it found (one line per leak) and what it checked; tests assert
 * the list is empty. `proveWorking` is the positive control: a new sandbox runs and
 * reaches a peer by address and by name.
 */
import fs from 'node:fs';
import path from 'node:path';
import { DaemonClient } from '../../src/client/daemon-client.js';
import { run } from '../../src/kernel/exec.js';
import type { LabHost, LabInfo } from '../../src/lab/lab.js';
import { sandboxNetnsPrefix } from '../../src/paths.js';

interface EndpointJson {
  NetworkID: string;
  EndpointID: string;
  IPAddress: string;
  IPPrefixLen: number;
  GlobalIPv6Address: string;
  GlobalIPv6PrefixLen: number;
  Interface: string;
  HostInterface?: string;
}

export interface SandboxJson {
  Id: string;
  Name: string;
  State: { Running: boolean; Pid: number; Status: string };
  Netns: string | null;
  NetworkSettings: { Networks: Record<string, EndpointJson> };
  PublishedPorts?: { proto: string; hostPort: number; hostPortEnd: number; containerPort: number; hostIp: string }[];
}

export interface NetworkJson {
  Id: string;
  Name: string;
  Driver: string;
  Scope: string;
  Internal: boolean;
  Labels?: Record<string, string>;
  IPAM: { Config: { Subnet: string }[] };
  Switchyard?: { Predefined?: boolean; Driver?: { bridge?: string } };
}

export interface LeakCheckOptions {
  /** Names of sandboxes that must not resolve (removed, or never created). */
  goneNames?: string[];
  /** Skip the DNS queries (the cheapest way to speed up a check of many sandboxes). */
  skipDns?: boolean;
}

export interface LeakReport {
  leaks: string[];
  /** How many objects of each kind were compared (for the summary). */
  checked: Record<string, number>;
  sandboxes: SandboxJson[];
  networks: NetworkJson[];
}

const OVERLAY_GATEWAY_BRIDGE = 'yard_gwbridge';
const IPV4 = /^\d+\.\d+\.\d+\.\d+$/;

async function must(cmd: string, args: string[], what: string): Promise<string> {
  const r = await run(cmd, args, { timeoutMs: 20_000, env: process.env });
  if (r.code !== 0) throw new Error(`${what}: ${cmd} ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}

const ipJ = async <T = any[]>(ns: string, args: string[]): Promise<T> => JSON.parse((await must('ip', ['-n', ns, '-j', ...args], `reading ${ns}`)) || '[]') as T;

function readdir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

/** Does this network serve names through the embedded resolver (user-defined, not the gateway bridge)? */
function servesDns(n: NetworkJson): boolean {
  return !n.Switchyard?.Predefined && n.Name !== OVERLAY_GATEWAY_BRIDGE && n.Labels?.['switchyard.role'] !== 'overlay gateway bridge' && ['bridge', 'macvlan', 'ipvlan', 'overlay'].includes(n.Driver);
}

/** `net:[inode]` of a named namespace, or undefined. */
function nsIdentity(ns: string): string | undefined {
  try {
    return `net:[${fs.statSync(`/run/netns/${ns}`).ino}]`;
  } catch {
    return undefined;
  }
}

interface ProcInfo {
  pid: number;
  ppid: number;
  netns: string;
  instance?: string;
  cmd: string;
}

function scanProcesses(): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const e of readdir('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (rest[0] === 'Z' || rest[0] === 'X') continue;
      const env = fs.readFileSync(`/proc/${e}/environ`, 'utf8').split('\0');
      const val = (k: string) => env.find((kv) => kv.startsWith(`${k}=`))?.slice(k.length + 1);
      out.push({
        pid: Number(e),
        ppid: Number(rest[1]),
        netns: fs.readlinkSync(`/proc/${e}/ns/net`),
        instance: val('YARD_INSTANCE'),
        cmd: fs.readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0').join(' ').trim().slice(0, 80),
      });
    } catch {
      /* exited meanwhile, or a kernel thread */
    }
  }
  return out;
}

/** Socket inodes a process holds. */
function socketInodes(pid: number): Set<string> {
  const out = new Set<string>();
  for (const fd of readdir(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) out.add(m[1]!);
    } catch {
      /* closed meanwhile */
    }
  }
  return out;
}

interface SockLine {
  kind: string;
  local: string;
  ino: string;
}

/** Every socket of a namespace with its inode (`ss -e`; a unix socket's inode is its local port column). */
async function socketsIn(ns: string | null): Promise<SockLine[]> {
  const ss = ['ss', '-Hanue', '-A', 'all'];
  const text = ns ? await must('ip', ['netns', 'exec', ns, ...ss], `sockets of ${ns}`) : await must(ss[0]!, ss.slice(1), 'sockets of this namespace');
  const out: SockLine[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 5) continue;
    const ino = f[0]!.startsWith('u_') ? f[5] : /ino:(\d+)/.exec(line)?.[1];
    if (ino) out.push({ kind: f[0]!, local: f[4]!, ino });
  }
  // ss shows no inode for netlink sockets (the daemon keeps one for libnftables): the
  // namespace's /proc/net/netlink does (its last column).
  const nl = ns ? await must('ip', ['netns', 'exec', ns, 'cat', '/proc/net/netlink'], `netlink sockets of ${ns}`) : await must('cat', ['/proc/net/netlink'], 'netlink sockets of this namespace');
  for (const line of nl.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 10 && /^\d+$/.test(f[9]!)) out.push({ kind: 'nl', local: `netlink ${f[1]}`, ino: f[9]! });
  }
  return out;
}

async function daemonPidOf(client: DaemonClient): Promise<number> {
  const info = await client.get<{ pid: number }>('/yard/v1/info');
  return info.pid;
}

/** `dig` from inside a namespace at the embedded resolver: rcode and A/AAAA answers. */
async function query(ns: string, name: string): Promise<{ status: string; answers: string[] }> {
  const r = await run('ip', ['netns', 'exec', ns, 'dig', '+time=2', '+tries=2', '@127.0.0.11', name, 'A'], { timeoutMs: 15_000, env: process.env });
  const status = /status: (\w+)/.exec(r.stdout)?.[1] ?? `no answer (exit ${r.code})`;
  const answers = [...r.stdout.matchAll(/^\S+\s+\d+\s+IN\s+A\s+(\S+)$/gm)].map((m) => m[1]!);
  return { status, answers };
}

function bridgeOf(n: NetworkJson): string | undefined {
  return n.Switchyard?.Driver?.bridge;
}

interface NftSet {
  name: string;
  elem?: unknown[];
}

/** The `set`/`map` entries of a table, by name (elements as nft -j gives them). */
async function nftSets(host: LabHost, family: string): Promise<Map<string, unknown[]>> {
  const r = await run('ip', ['netns', 'exec', host.name, 'nft', '-j', 'list', 'table', family, 'switchyard'], { timeoutMs: 20_000, env: process.env });
  if (r.code !== 0) throw new Error(`nft list table ${family} switchyard in ${host.name}: ${r.stderr.trim()}`);
  const out = new Map<string, unknown[]>();
  for (const o of (JSON.parse(r.stdout) as { nftables: Record<string, NftSet>[] }).nftables) {
    const s = o.set ?? o.map;
    if (s) out.set(s.name, s.elem ?? []);
  }
  return out;
}

/** An nft -j element (string, prefix, concat, [key, value]) as text, e.g. `"br-x" . 10.1.0.0/24`. */
function elemText(e: unknown): string {
  if (typeof e === 'string' || typeof e === 'number') return String(e);
  if (Array.isArray(e)) return e.map(elemText).join(' : ');
  const o = e as Record<string, any>;
  if (o.concat) return (o.concat as unknown[]).map(elemText).join(' . ');
  if (o.prefix) return `${o.prefix.addr}/${o.prefix.len}`;
  if (o.range) return (o.range as unknown[]).map(elemText).join('-');
  if (o.elem) return elemText(o.elem.val);
  return JSON.stringify(e);
}

/** For a published-port map element `[key, value]`: the host port (or range start) and the container address. */
/** Where the host port sits in each published-port map's key (docs/firewall.md). */
const PORT_FIELD: Record<string, number> = { pm4: 1, pm6: 1, pmaddr4: 2, pmaddr6: 2, pr4: 0, pr6: 0 };

function portElement(set: string, e: unknown): { port: number; target: string } | undefined {
  if (!Array.isArray(e) || e.length !== 2) return undefined;
  const key = e[0] as { concat?: unknown[] };
  const portPart = key.concat?.[PORT_FIELD[set]!] as number | { range: number[] } | undefined;
  const port = typeof portPart === 'number' ? portPart : (portPart as { range: number[] } | undefined)?.range?.[0];
  const value = e[1] as string | { concat: unknown[] };
  const target = typeof value === 'string' ? value : String(value.concat[0]);
  return port === undefined ? undefined : { port, target };
}

/**
 * Compare the host's kernel (and more, see the file's comment) with its daemon's state.
 * Read-only: it changes nothing.
 */
export async function findLeaks(info: LabInfo, host: LabHost, opts: LeakCheckOptions = {}): Promise<LeakReport> {
  const leaks: string[] = [];
  const checked: Record<string, number> = {};
  const count = (k: string, n = 1) => (checked[k] = (checked[k] ?? 0) + n);
  const client = new DaemonClient({ socket: host.socket, timeoutMs: 30_000 });
  const sbs = await client.get<SandboxJson[]>('/yard/v1/sandboxes?all=1');
  const nets = await client.get<NetworkJson[]>('/networks');
  const netById = new Map(nets.map((n) => [n.Id, n]));
  const name = (sb: SandboxJson) => sb.Name.replace(/^\//, '');

  // ---- namespaces, /etc/netns, sandbox directories
  const prefix = sandboxNetnsPrefix(host.name);
  const knownNs = new Map(sbs.filter((s) => s.Netns).map((s) => [s.Netns!, s]));
  const kernelNs = readdir('/run/netns').filter((n) => n.startsWith(prefix));
  for (const ns of kernelNs) if (!knownNs.has(ns)) leaks.push(`namespace ${ns}: no sandbox in state`);
  for (const [ns, sb] of knownNs) if (!kernelNs.includes(ns)) leaks.push(`sandbox ${name(sb)}: its namespace ${ns} is missing`);
  count('namespaces', kernelNs.length);
  for (const d of readdir('/etc/netns').filter((n) => n.startsWith(prefix))) {
    if (!knownNs.has(d)) leaks.push(`/etc/netns/${d}: no sandbox in state`);
  }
  const ids = new Set(sbs.map((s) => s.Id));
  for (const d of readdir(path.join(host.stateDir, 'sandboxes'))) {
    const m = /^([0-9a-f]{64})\.d$/.exec(d);
    if (m && !ids.has(m[1]!)) leaks.push(`sandbox directory ${d}: no sandbox in state`);
  }

  // ---- host links
  const mark = `switchyard:${host.name}:`;
  const veths = new Map<string, { sb: SandboxJson; net: string; ep: EndpointJson }>();
  for (const sb of sbs) for (const [net, ep] of Object.entries(sb.NetworkSettings.Networks)) if (ep.HostInterface) veths.set(ep.HostInterface, { sb, net, ep });
  // A removed sandbox's namespace takes the host end of its veths with it in the kernel's
  // cleanup work, and a removed network's bridge is deleted behind the removal's answer
  // (its link down at once): give that work up to 3 s before a veth without an endpoint, or
  // a marked link of a network not in state, counts as a leak.
  type HostLink = { ifname: string; master?: string; ifalias?: string; linkinfo?: { info_kind?: string } };
  const unexplained = (l: HostLink) =>
    (/^yv[0-9a-f]{12}$/.test(l.ifname) && !veths.has(l.ifname)) || (!!l.ifalias?.startsWith(mark) && !netById.has(l.ifalias.slice(mark.length)));
  let hostLinks: HostLink[] = [];
  for (const t0 = Date.now(); ; await new Promise((r) => setTimeout(r, 100))) {
    hostLinks = await ipJ<HostLink[]>(host.name, ['-d', 'link', 'show']);
    if (!hostLinks.some(unexplained) || Date.now() - t0 > 3_000) break;
  }
  count('host links', hostLinks.length);
  for (const l of hostLinks) {
    if (l.ifalias?.startsWith(mark)) {
      const id = l.ifalias.slice(mark.length);
      if (!netById.has(id)) leaks.push(`link ${l.ifname}: marked for network ${id.slice(0, 12)}, which is not in state`);
    } else if (/^yv[0-9a-f]{12}$/.test(l.ifname) && !veths.has(l.ifname)) {
      leaks.push(`veth ${l.ifname}: no endpoint in state`);
    }
  }
  for (const n of nets) {
    const br = bridgeOf(n);
    if (br && !hostLinks.some((l) => l.ifname === br)) leaks.push(`network ${n.Name}: its bridge ${br} is missing`);
  }
  for (const [veth, { sb, net, ep }] of veths) {
    const l = hostLinks.find((x) => x.ifname === veth);
    const br = bridgeOf(netById.get(ep.NetworkID) ?? ({} as NetworkJson));
    if (!l) leaks.push(`sandbox ${name(sb)} on ${net}: its veth ${veth} is missing`);
    else if (br && l.master !== br) leaks.push(`sandbox ${name(sb)} on ${net}: veth ${veth} is on ${l.master ?? 'no bridge'}, not ${br}`);
  }

  // ---- sandbox namespaces: links and addresses; IPAM
  const stateAddrs = new Map<string, string>();
  const kernelAddrs = new Map<string, string>();
  for (const sb of sbs) {
    for (const [net, ep] of Object.entries(sb.NetworkSettings.Networks)) {
      for (const a of [ep.IPAddress, ep.GlobalIPv6Address].filter(Boolean)) {
        const key = `${ep.NetworkID} ${a}`;
        const other = stateAddrs.get(key);
        if (other) leaks.push(`address ${a} on ${net} is held by both ${other} and ${name(sb)} in state`);
        stateAddrs.set(key, name(sb));
        count('addresses');
      }
    }
    if (!sb.Netns || !kernelNs.includes(sb.Netns)) continue;
    const links = await ipJ<{ ifname: string; addr_info?: { local: string; prefixlen: number; scope: string }[] }[]>(sb.Netns, ['addr', 'show']);
    const want = new Map(Object.entries(sb.NetworkSettings.Networks).filter(([, ep]) => ep.Interface).map(([net, ep]) => [ep.Interface, { net, ep }]));
    for (const l of links) {
      const global = (l.addr_info ?? []).filter((a) => a.scope !== 'link' && a.scope !== 'host').map((a) => `${a.local}/${a.prefixlen}`);
      for (const a of global) {
        const ip = a.split('/')[0]!;
        const other = kernelAddrs.get(ip);
        if (other) leaks.push(`address ${ip} is configured in both ${other} and ${name(sb)}`);
        kernelAddrs.set(ip, name(sb));
      }
      if (l.ifname === 'lo') continue;
      const w = want.get(l.ifname);
      if (!w) {
        leaks.push(`sandbox ${name(sb)}: interface ${l.ifname} (${global.join(', ') || 'no address'}) has no endpoint in state`);
        continue;
      }
      const expected = [w.ep.IPAddress && `${w.ep.IPAddress}/${w.ep.IPPrefixLen}`, w.ep.GlobalIPv6Address && `${w.ep.GlobalIPv6Address}/${w.ep.GlobalIPv6PrefixLen}`].filter(Boolean).sort();
      if (JSON.stringify(global.sort()) !== JSON.stringify(expected)) leaks.push(`sandbox ${name(sb)} on ${w.net}: ${l.ifname} has ${global.join(', ') || 'no address'}, state says ${expected.join(', ')}`);
    }
    for (const [ifname, { net }] of want) if (!links.some((l) => l.ifname === ifname)) leaks.push(`sandbox ${name(sb)} on ${net}: interface ${ifname} is missing`);
    count('sandbox namespaces read');
  }

  // ---- etcd claims (overlay IPAM), when the lab has etcd
  if (info.etcd) {
    const endpoints = info.etcd.members.map((m) => m.clientUrl).join(',');
    const r = await run('ip', ['netns', 'exec', info.lanNs, 'etcdctl', '--endpoints', endpoints, '--command-timeout=5s', 'get', '--prefix', '/switchyard/v1/ipam/'], {
      timeoutMs: 15_000,
      env: { ...process.env, ETCDCTL_API: '3' },
    });
    if (r.code !== 0) throw new Error(`etcdctl get /switchyard/v1/ipam/: ${r.stderr.trim()}`);
    const lines = r.stdout.split('\n').filter(Boolean);
    const claims = new Map<string, { endpoint: string; sandbox: string; node: string }>();
    for (let i = 0; i + 1 < lines.length; i += 2) claims.set(lines[i]!, JSON.parse(lines[i + 1]!));
    const liveEps = new Map<string, { sb: SandboxJson; ep: EndpointJson }>();
    for (const sb of sbs) for (const ep of Object.values(sb.NetworkSettings.Networks)) liveEps.set(ep.EndpointID, { sb, ep });
    for (const [key, c] of claims) {
      if (c.node !== host.name) continue;
      count('etcd claims');
      const [netId, ip] = key.slice('/switchyard/v1/ipam/'.length).split('/');
      const live = liveEps.get(c.endpoint);
      if (!live) leaks.push(`etcd claim ${ip} on network ${netById.get(netId!)?.Name ?? netId!.slice(0, 12)} (sandbox ${c.sandbox}): no endpoint ${c.endpoint.slice(0, 12)} in state`);
      else if (live.ep.IPAddress !== ip && live.ep.GlobalIPv6Address !== ip) leaks.push(`etcd claim ${ip}: endpoint of ${name(live.sb)} has ${live.ep.IPAddress}`);
    }
    for (const sb of sbs) {
      for (const [net, ep] of Object.entries(sb.NetworkSettings.Networks)) {
        if (netById.get(ep.NetworkID)?.Scope !== 'global') continue;
        if (ep.IPAddress && !claims.has(`/switchyard/v1/ipam/${ep.NetworkID}/${ep.IPAddress}`)) leaks.push(`sandbox ${name(sb)} on ${net}: no etcd claim for ${ep.IPAddress}`);
      }
    }
  }

  // ---- nftables
  const inet = await nftSets(host, 'inet');
  const liveBridges = new Set(nets.filter((n) => n.Driver === 'bridge' && bridgeOf(n)).map((n) => bridgeOf(n)!));
  const liveSubnets = new Set(nets.flatMap((n) => n.IPAM.Config.map((c) => c.Subnet)));
  const setText = (s: string) => (inet.get(s) ?? []).map(elemText);
  const bridgesSet = new Set(setText('bridges'));
  for (const b of bridgesSet) if (!liveBridges.has(b)) leaks.push(`nft set bridges: ${b} belongs to no network in state`);
  for (const b of liveBridges) if (!bridgesSet.has(b)) leaks.push(`nft set bridges: ${b} (a live network's bridge) is missing`);
  for (const e of setText('same_bridge')) if (!liveBridges.has(e.split(' . ')[0]!)) leaks.push(`nft set same_bridge: ${e} belongs to no network in state`);
  for (const e of setText('internal')) if (!liveBridges.has(e)) leaks.push(`nft set internal: ${e} belongs to no network in state`);
  for (const s of ['masq4', 'masq6']) for (const e of setText(s)) if (!liveSubnets.has(e)) leaks.push(`nft set ${s}: ${e} is no live network's subnet`);
  for (const s of ['hairpin4', 'hairpin6']) {
    for (const e of setText(s)) {
      const [br, subnet] = e.split(' . ');
      if (!liveBridges.has(br!) || !liveSubnets.has(subnet!)) leaks.push(`nft set ${s}: ${e} belongs to no network in state`);
    }
  }
  count('nft set elements', [...inet.values()].reduce((n, els) => n + els.length, 0));
  // Published ports: every element targets a live sandbox at one of its published host ports.
  const byAddr = new Map<string, SandboxJson>();
  for (const sb of sbs) for (const ep of Object.values(sb.NetworkSettings.Networks)) for (const a of [ep.IPAddress, ep.GlobalIPv6Address].filter(Boolean)) byAddr.set(a, sb);
  const portEls: { set: string; port: number; target: string; text: string }[] = [];
  for (const s of Object.keys(PORT_FIELD)) {
    for (const e of inet.get(s) ?? []) {
      const p = portElement(s, e);
      if (!p) leaks.push(`nft map ${s}: element ${elemText(e)} not understood`);
      else portEls.push({ set: s, ...p, text: elemText(e) });
    }
  }
  for (const el of portEls) {
    const sb = byAddr.get(el.target);
    if (!sb) leaks.push(`nft map ${el.set}: ${el.text} targets ${el.target}, no sandbox in state`);
    else if (!(sb.PublishedPorts ?? []).some((m) => m.hostPort <= el.port && el.port <= (m.hostPortEnd || m.hostPort))) {
      leaks.push(`nft map ${el.set}: ${el.text} targets ${name(sb)}, which publishes no host port ${el.port}`);
    }
  }
  for (const sb of sbs) {
    for (const m of sb.PublishedPorts ?? []) {
      if (!m.hostPort) continue;
      count('published ports');
      const addrs = new Set(Object.values(sb.NetworkSettings.Networks).flatMap((ep) => [ep.IPAddress, ep.GlobalIPv6Address].filter(Boolean)));
      if (!portEls.some((el) => addrs.has(el.target) && el.port === m.hostPort)) leaks.push(`sandbox ${name(sb)}: published port ${m.hostPort}/${m.proto} has no nft map element`);
    }
  }
  const bridgeTable = await nftSets(host, 'bridge');
  for (const e of (bridgeTable.get('no_icc_ports') ?? []).map(elemText)) if (!veths.has(e)) leaks.push(`nft set no_icc_ports: ${e} is no live endpoint's veth`);

  // ---- sockets
  const daemonPid = await daemonPidOf(client);
  const held = socketInodes(daemonPid);
  const found = new Set<string>();
  // The host's, and this process's own namespace (its API connections are accepted there).
  for (const ns of [host.name, null]) for (const s of await socketsIn(ns)) found.add(s.ino);
  const dnsSandboxes = sbs.filter((sb) => sb.Netns && Object.values(sb.NetworkSettings.Networks).some((ep) => servesDns(netById.get(ep.NetworkID) ?? ({} as NetworkJson))));
  for (const sb of sbs) {
    if (!sb.Netns || !kernelNs.includes(sb.Netns)) continue;
    const socks = await socketsIn(sb.Netns);
    for (const s of socks) found.add(s.ino);
    const listeners = socks.filter((s) => s.local === '127.0.0.11:53' && held.has(s.ino));
    const want = dnsSandboxes.includes(sb) ? 2 : 0;
    if (listeners.length !== want) leaks.push(`sandbox ${name(sb)}: the daemon has ${listeners.length} DNS socket(s) on 127.0.0.11:53 in it, expected ${want} (${listeners.map((l) => l.kind).join(', ')})`);
    count('DNS sockets', listeners.length);
  }
  // Held before and after the namespaces were read (so open the whole time), yet in none.
  const stillHeld = socketInodes(daemonPid);
  const unaccounted = [...held].filter((i) => stillHeld.has(i) && !found.has(i));
  if (unaccounted.length) leaks.push(`the daemon holds ${unaccounted.length} socket(s) in no live namespace (inodes ${unaccounted.slice(0, 5).join(', ')}): a deleted sandbox's namespace kept alive`);
  count('daemon sockets', held.size);

  // ---- processes
  const hostNs = nsIdentity(host.name);
  const nsOfSandbox = new Map<string, SandboxJson>();
  for (const [ns, sb] of knownNs) {
    const id = nsIdentity(ns);
    if (id) nsOfSandbox.set(id, sb);
  }
  const procs = scanProcesses();
  const byPid = new Map(procs.map((p) => [p.pid, p]));
  const descendsFrom = (p: ProcInfo, root: number) => {
    for (let q: ProcInfo | undefined = p, i = 0; q && i < 64; q = byPid.get(q.ppid), i++) if (q.pid === root) return true;
    return false;
  };
  for (const p of procs) {
    const sb = nsOfSandbox.get(p.netns);
    if (sb) {
      count('sandbox processes');
      if (!sb.State.Running || !descendsFrom(p, sb.State.Pid)) leaks.push(`process ${p.pid} (${p.cmd}) in sandbox ${name(sb)}'s namespace is not its recorded process ${sb.State.Pid} or a child of it`);
    } else if (p.instance === host.name && p.netns !== hostNs) {
      // Started for this host (its daemon's environment), in no namespace the state knows.
      leaks.push(`process ${p.pid} (${p.cmd}) runs in ${p.netns}, neither the host's nor a live sandbox's namespace`);
    }
  }
  for (const sb of sbs) {
    if (!sb.State.Running) continue;
    const p = byPid.get(sb.State.Pid);
    if (!p) leaks.push(`sandbox ${name(sb)}: its process ${sb.State.Pid} is gone but the state says running`);
    else if (sb.Netns && p.netns !== nsIdentity(sb.Netns)) leaks.push(`sandbox ${name(sb)}: its process ${sb.State.Pid} is not in its namespace`);
  }

  // ---- DNS: real queries from inside the sandboxes
  if (!opts.skipDns) {
    const askers = dnsSandboxes.filter((sb) => sb.State.Running && kernelNs.includes(sb.Netns!));
    for (const sb of askers) {
      const own = Object.values(sb.NetworkSettings.Networks).map((ep) => ep.IPAddress).filter((a) => IPV4.test(a));
      const r = await query(sb.Netns!, name(sb));
      count('DNS queries');
      if (r.status !== 'NOERROR' || !r.answers.length || r.answers.some((a) => !own.includes(a))) {
        leaks.push(`DNS: ${name(sb)} asking for itself got ${r.status} ${r.answers.join(', ') || '(no address)'}, expected ${own.join(', ')}`);
      }
    }
    const liveNames = new Set(sbs.map(name));
    const asker = askers[0];
    const gone = [...new Set(opts.goneNames ?? [])].filter((n) => !liveNames.has(n));
    if (gone.length && !asker) throw new Error('no running sandbox with embedded DNS to ask for the names of gone sandboxes: start one first');
    for (const n of gone) {
      const r = await query(asker!.Netns!, n);
      count('DNS queries');
      if (r.status !== 'NXDOMAIN') leaks.push(`DNS: ${n} (not in state) gives ${r.status} ${r.answers.join(', ')} from ${name(asker!)}, expected NXDOMAIN`);
    }
  }
  checked.sandboxes = sbs.length;
  checked.networks = nets.length;
  return { leaks, checked, sandboxes: sbs, networks: nets };
}

/**
 * Positive control: the host still works. A new sandbox on `network` starts, reaches
 * `peer` (a running sandbox on that network) by address and by name, and is removed again.
 */
export async function proveWorking(host: LabHost, network: string, peer: string, probeName: string): Promise<void> {
  const client = new DaemonClient({ socket: host.socket, timeoutMs: 60_000 });
  await client.post('/yard/v1/sandboxes', { name: probeName, networks: [{ network }], command: ['sleep', '600'], detached: true, start: true });
  try {
    const probe = await client.get<SandboxJson>(`/yard/v1/sandboxes/${probeName}`);
    const target = await client.get<SandboxJson>(`/yard/v1/sandboxes/${peer}`);
    const ip = target.NetworkSettings.Networks[network]?.IPAddress;
    if (!ip) throw new Error(`positive control: ${peer} has no address on ${network}`);
    let ok = false;
    for (let i = 0; i < 5 && !ok; i++) ok = (await run('ip', ['netns', 'exec', probe.Netns!, 'ping', '-c1', '-W2', ip], { timeoutMs: 10_000, env: process.env })).code === 0;
    if (!ok) throw new Error(`positive control: a new sandbox on ${network} cannot ping ${peer} at ${ip}`);
    const byName = await query(probe.Netns!, peer);
    if (!byName.answers.includes(ip)) throw new Error(`positive control: ${peer} resolves to ${byName.status} ${byName.answers.join(', ')} from a new sandbox, expected ${ip}`);
  } finally {
    await client.delete(`/yard/v1/sandboxes/${probeName}?force=1`);
  }
}
