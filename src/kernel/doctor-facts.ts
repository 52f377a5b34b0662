/**
 * The facts `yard doctor` reads from the kernel (src/doctor judges them). Reads only,
 * except the probes a user would make: ARP duplicate address detection for a LAN
 * sandbox's own address, and trying `--to TARGET` from inside the sandbox. Everything in
 * a sandbox runs inside that sandbox's namespace (`nsenter --net=PATH`); everything else
 * in the daemon's own.
 */
import fs from 'node:fs';
import { run } from './exec.js';
import { readVxlanEntries } from './vxlan.js';
import type { HostFacts, LanProbe, Listener, NftChain, NftFacts, SandboxFacts, SandboxLink, SandboxRoute } from '../doctor/facts.js';

const PROC_FILES = ['tcp', 'tcp6', 'udp', 'udp6'] as const;

/** A /proc/net address (`0100007F:1F90`, or 32 hex digits for IPv6) as text and port. */
export function procAddress(hex: string): { addr: string; port: number } | null {
  const [a, p] = hex.split(':');
  if (!a || !p) return null;
  const port = parseInt(p, 16);
  const words = a.match(/.{8}/g);
  if (!words || (words.length !== 1 && words.length !== 4)) return null;
  // Each 32-bit word is in host (little-endian) byte order.
  const bytes = words.flatMap((w) => (w.match(/../g) ?? []).reverse().map((b) => parseInt(b, 16)));
  if (bytes.length === 4) return { addr: bytes.join('.'), port };
  if (bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) return { addr: bytes.slice(12).join('.'), port }; // ::ffff:a.b.c.d
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  return { addr: compressV6(groups), port };
}

function compressV6(groups: string[]): string {
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen && j - i > 1) { best = i; bestLen = j - i; }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

/** Listening sockets of one /proc/net file: TCP in LISTEN (0A), UDP unconnected (07). */
export function parseProcNet(text: string, proto: 'tcp' | 'udp'): Listener[] {
  const out: Listener[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 4) continue;
    const st = f[3];
    if ((proto === 'tcp' && st !== '0A') || (proto === 'udp' && st !== '07')) continue;
    const a = procAddress(f[1]!);
    if (a) out.push({ proto, ...a });
  }
  return out;
}

/** The output of the per-namespace reading script: `## tcp` sections. */
export function parseProcSections(text: string): Listener[] {
  const out: Listener[] = [];
  for (const part of text.split(/^## /m).slice(1)) {
    const nl = part.indexOf('\n');
    const name = part.slice(0, nl).trim();
    out.push(...parseProcNet(part.slice(nl + 1), name.startsWith('udp') ? 'udp' : 'tcp'));
  }
  return out;
}

interface NftJsonItem {
  chain?: { family: string; table: string; name: string; hook?: string; policy?: string };
  rule?: { family: string; table: string; chain: string };
  set?: { family: string; table: string; name: string; elem?: unknown[] };
  map?: { family: string; table: string; name: string; elem?: unknown[] };
}

/** `nft -j list ruleset` as chains (with rule counts), element counts and Switchyard's masquerade prefixes. */
export function parseNftRuleset(json: string, ourTable: string): Omit<NftFacts, 'userRules'> {
  const items = (JSON.parse(json || '{}') as { nftables?: NftJsonItem[] }).nftables ?? [];
  const chains = new Map<string, NftChain>();
  const elements = new Map<string, number>();
  const masquerade: string[] = [];
  for (const it of items) {
    if (it.chain) {
      const c = it.chain;
      chains.set(`${c.family} ${c.table} ${c.name}`, { family: c.family, table: c.table, name: c.name, rules: 0, ...(c.hook ? { hook: c.hook, policy: c.policy ?? 'accept' } : {}) });
    } else if (it.rule) {
      const c = chains.get(`${it.rule.family} ${it.rule.table} ${it.rule.chain}`);
      if (c) c.rules++;
    } else if (it.set || it.map) {
      const s = (it.set ?? it.map)!;
      elements.set(`${s.family} ${s.table} ${s.name}`, s.elem?.length ?? 0);
      if (s.family === 'inet' && s.table === ourTable && (s.name === 'masq4' || s.name === 'masq6')) {
        for (const e of s.elem ?? []) {
          const p = (e as { prefix?: { addr: string; len: number } }).prefix;
          if (p) masquerade.push(`${p.addr}/${p.len}`);
          else if (typeof e === 'string') masquerade.push(e.includes('/') ? e : `${e}/${e.includes(':') ? 128 : 32}`);
        }
      }
    }
  }
  return { chains: [...chains.values()], elements, masquerade };
}

/** Rules of `nft -a list chain ...`: text and handle. */
export function parseRuleHandles(text: string): { handle: number; text: string }[] {
  const out: { handle: number; text: string }[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const m = /^(.*\S)\s+# handle (\d+)$/.exec(line);
    if (!m || /^(table|chain)\b/.test(line)) continue;
    out.push({ handle: Number(m[2]), text: m[1]! });
  }
  return out;
}

function readFile(p: string): string | null {
  try {
    return fs.readFileSync(p, 'utf8');
  } catch {
    return null;
  }
}

/** `nsenter --net=PATH` before a command, or nothing for the daemon's own namespace. */
const inNs = (nsPath: string | null, argv: string[]): [string, string[]] => (nsPath ? ['nsenter', [`--net=${nsPath}`, ...argv]] : [argv[0]!, argv.slice(1)]);

async function runIn(nsPath: string | null, argv: string[], timeoutMs = 10_000) {
  const [cmd, args] = inNs(nsPath, argv);
  return run(cmd, args, { timeoutMs });
}

export async function readHostFacts(opts: { ourTable: string; userTable: string; userChain: string }): Promise<HostFacts> {
  const fwd = readFile('/proc/sys/net/ipv4/ip_forward');
  const listeners: Listener[] = [];
  let ok = false;
  for (const f of PROC_FILES) {
    const t = readFile(`/proc/net/${f}`);
    if (t !== null) { ok = true; listeners.push(...parseProcNet(t, f.startsWith('udp') ? 'udp' : 'tcp')); }
  }
  const [rs, user, links] = await Promise.all([
    run('nft', ['-j', 'list', 'ruleset'], { timeoutMs: 30_000 }).catch(() => null),
    run('nft', ['-a', 'list', 'chain', 'inet', opts.userTable, opts.userChain], { timeoutMs: 10_000 }).catch(() => null),
    run('ip', ['-j', 'link', 'show'], { timeoutMs: 10_000 }).catch(() => null),
  ]);
  let nft: NftFacts | null = null;
  if (rs && rs.code === 0) {
    try {
      nft = { ...parseNftRuleset(rs.stdout, opts.ourTable), userRules: user && user.code === 0 ? parseRuleHandles(user.stdout) : null };
    } catch {
      nft = null;
    }
  }
  // Other tables' forward chains that drop by policy: their rules, to see what they still accept.
  for (const c of nft?.chains.filter((x) => x.hook === 'forward' && x.policy === 'drop' && x.table !== opts.ourTable && x.table !== opts.userTable).slice(0, 16) ?? []) {
    const r = await run('nft', ['-a', 'list', 'chain', c.family, c.table, c.name], { timeoutMs: 10_000 }).catch(() => null);
    if (r && r.code === 0) c.ruleTexts = parseRuleHandles(r.stdout).map((x) => x.text);
  }
  let names: string[] | null = null;
  if (links && links.code === 0) {
    try {
      names = (JSON.parse(links.stdout || '[]') as { ifname: string }[]).map((l) => l.ifname);
    } catch {
      names = null;
    }
  }
  const backlog = Number(readFile('/proc/sys/net/core/netdev_max_backlog')?.trim() ?? NaN);
  return { ipForward: fwd === null ? null : fwd.trim() === '1', listeners: ok ? listeners : null, nft, links: names, backlog: Number.isInteger(backlog) && backlog > 0 ? backlog : null };
}

interface IpAddrJson {
  ifname: string;
  flags?: string[];
  mtu?: number;
  address?: string;
  addr_info?: { local?: string; prefixlen?: number; scope?: string }[];
}

/** Interfaces, routes, listeners and resolv.conf of a sandbox's namespace. */
export async function readSandboxFacts(nsPath: string, enter: string, resolvConfPath: string | null): Promise<SandboxFacts> {
  const absent: SandboxFacts = { present: false, enter, links: null, routes: null, listeners: null, resolvConf: null, lan: [], mtu: [] };
  if (!fs.existsSync(nsPath)) return absent;
  const script = PROC_FILES.map((f) => `echo '## ${f}'; cat /proc/net/${f} 2>/dev/null`).join('; ');
  const [addr, route, proc] = await Promise.all([
    runIn(nsPath, ['ip', '-j', 'addr', 'show']),
    runIn(nsPath, ['ip', '-4', '-j', 'route', 'show']),
    runIn(nsPath, ['sh', '-c', script]),
  ]);
  if (addr.code !== 0) return absent;
  let links: SandboxLink[] | null = null;
  let routes: SandboxRoute[] | null = null;
  try {
    links = (JSON.parse(addr.stdout || '[]') as IpAddrJson[]).map((l) => ({
      name: l.ifname,
      up: (l.flags ?? []).includes('UP'),
      mtu: l.mtu ?? 0,
      ...(l.address ? { mac: l.address } : {}),
      addrs: (l.addr_info ?? []).filter((a) => a.local && a.scope !== 'link').map((a) => `${a.local}/${a.prefixlen}`),
    }));
  } catch {
    links = null;
  }
  if (route.code === 0) {
    try {
      routes = (JSON.parse(route.stdout || '[]') as { dst: string; gateway?: string; dev?: string }[]).map((r) => ({ dst: r.dst, ...(r.gateway ? { gateway: r.gateway } : {}), ...(r.dev ? { dev: r.dev } : {}) }));
    } catch {
      routes = null;
    }
  }
  return {
    present: true,
    enter,
    links,
    routes,
    listeners: proc.code === 0 ? parseProcSections(proc.stdout) : null,
    resolvConf: resolvConfPath ? readFile(resolvConfPath) : null,
    lan: [],
    mtu: [],
  };
}

function arpingCommand(): string[] | null {
  for (const p of ['/usr/sbin/arping', '/usr/bin/arping', '/sbin/arping', '/bin/arping']) if (fs.existsSync(p) && !fs.realpathSync(p).endsWith('busybox')) return [p];
  for (const p of ['/usr/bin/busybox', '/bin/busybox']) if (fs.existsSync(p)) return [p, 'arping'];
  return null;
}

/**
 * Duplicate address detection (RFC 5227's probe, `arping -D`): ARP requests for `address`
 * with sender 0.0.0.0, from inside the sandbox, on its own interface. Whoever answers holds
 * the address too.
 */
export async function probeLanDuplicate(nsPath: string, ifname: string, address: string): Promise<LanProbe> {
  const cmd = arpingCommand();
  if (!cmd) return { address, ifname, answeredBy: null, why: 'no arping on this host (install iputils-arping or busybox)' };
  const r = await runIn(nsPath, [...cmd, '-D', '-c', '2', '-w', '2', '-I', ifname, address], 8_000);
  const macs = [...new Set([...r.stdout.matchAll(/\[([0-9A-Fa-f:]{17})\]/g)].map((m) => m[1]!.toLowerCase()))];
  if (macs.length) return { address, ifname, answeredBy: macs };
  if (r.code === 0) return { address, ifname, answeredBy: [] };
  return { address, ifname, answeredBy: null, why: `arping failed: ${(r.stderr || r.stdout).trim().split('\n')[0] ?? `exit ${r.code}`}` };
}

/** Try the target from inside the sandbox: a TCP connection to address:port, or one ping. */
export async function tryTarget(nsPath: string, address: string, port?: number): Promise<{ address: string; ok: boolean; detail: string }> {
  if (port) {
    const host = address.includes(':') ? address : address;
    const r = await runIn(nsPath, ['timeout', '3', 'bash', '-c', `exec 3<>/dev/tcp/${host}/${port}`], 6_000);
    if (r.code === 0) return { address, ok: true, detail: `connected to ${address}:${port}` };
    if (r.code === 124) return { address, ok: false, detail: `no answer from ${address}:${port} within 3 s (dropped on the way, or nothing routes there)` };
    const why = /refused/i.test(r.stderr) ? 'connection refused (the address answers; nothing accepts on that port)' : /unreachable/i.test(r.stderr) ? 'network unreachable (no route)' : (r.stderr.trim().split('\n').pop() ?? `exit ${r.code}`).replace(/^bash: (line \d+: )?/, '');
    return { address, ok: false, detail: `${address}:${port}: ${why}` };
  }
  const r = await runIn(nsPath, ['ping', '-c', '1', '-W', '2', address], 6_000);
  return r.code === 0 ? { address, ok: true, detail: `${address} answers ping` } : { address, ok: false, detail: `${address} does not answer ping${/unreachable/i.test(r.stdout + r.stderr) ? ' (network unreachable)' : ''}` };
}

/** A ping of `size` bytes (IP packet) with don't-fragment from inside the sandbox. */
export async function probeMtu(nsPath: string, address: string, size: number): Promise<{ ok: boolean; why?: string }> {
  const r = await runIn(nsPath, ['ping', '-c', '1', '-W', '2', '-M', 'do', '-s', String(size - 28), address], 6_000);
  if (r.code === 0) return { ok: true };
  const m = /mtu\s*=\s*(\d+)/i.exec(r.stdout + r.stderr);
  return { ok: false, why: m ? `the path's MTU is ${m[1]}` : 'no reply' };
}

/** The daemon's FactSource (src/doctor/doctor.ts); `tables` names Switchyard's own nftables table and user chain. */
export function kernelFacts(tables: { ourTable: string; userTable: string; userChain: string }) {
  return {
    host: () => readHostFacts(tables),
    sandbox: readSandboxFacts,
    lanDuplicate: probeLanDuplicate,
    tryTarget,
    mtu: probeMtu,
    vxlanFdb: async (dev: string) => {
      const r = await run('bridge', ['-j', 'fdb', 'show', 'dev', dev], { timeoutMs: 10_000 }).catch(() => null);
      return r && r.code === 0 ? (await readVxlanEntries(dev)).fdb : null;
    },
  };
}
