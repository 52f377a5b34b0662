/**
 * The host's other firewall (ufw, firewalld, iptables, a hand-written nftables table) and
 * Switchyard's coexistence with it. Pure: the kernel room (kernel/host-firewall.ts) reads
 * `nft -j list ruleset` and `iptables-legacy-save`; this module says what is there, what
 * it means for Switchyard's traffic and published ports, and what to change.
 *
 *   detectHostFirewall()   which firewalls are present, which of their base chains drop
 *                          forwarded traffic (Switchyard's networks and published ports) or
 *                          incoming traffic
 *   coexistencePlan()      the accept rules Switchyard keeps at the top of each forward chain
 *                          that would drop its bridges' traffic (marked with a comment, so
 *                          they are found, re-added and removed again)
 *   inputVerdict()         what the host's input filtering would decide for a new
 *                          connection to a host port (`--host-firewall obey`)
 *   hostFirewallForPort()  both, for one published port (for `yard doctor` and explain)
 *
 * nftables semantics decide everything here: every base chain on a hook runs, in priority
 * order; a drop (or reject) in any of them is final; an accept only ends its own chain.
 * So another table's forward chain with policy drop drops Switchyard's traffic whatever
 * Switchyard's own chains say, unless that chain itself accepts it.
 */

/** One object of `nft -j list ruleset` (`{"nftables": [...]}`). */
export type NftJsonObject = Record<string, any>;

export type FirewallName = 'ufw' | 'firewalld' | 'docker' | 'iptables-nft' | 'nftables' | 'iptables-legacy';

export interface ForeignChain {
  /** nft family of the table: ip, ip6, inet (iptables-legacy: ip or ip6). */
  family: 'ip' | 'ip6' | 'inet';
  table: string;
  chain: string;
  hook: 'forward' | 'input';
  priority: number;
  policy: 'accept' | 'drop';
  /** Why it drops: `policy drop`, or its last rule drops/rejects everything left. */
  drops: string;
  /** Who wrote it. */
  owner: FirewallName;
  /** iptables-legacy chains are changed with iptables-legacy, not nft. */
  legacy?: boolean;
}

export interface HostFirewallReport {
  /** Firewalls present, each once, in the order found. */
  firewalls: FirewallName[];
  /** Base chains of other tables that drop forwarded traffic Switchyard does not accept there itself. */
  forwardDrops: ForeignChain[];
  /** Base chains of other tables whose input filtering drops by default. */
  inputDrops: ForeignChain[];
  /** Every input base chain of other tables (for inputVerdict). */
  inputChains: ForeignChain[];
  /** Rules Switchyard keeps in other tables (found by their comment); handle -1: an iptables-legacy rule. */
  ours: { family: string; table: string; chain: string; handle: number; comment: string }[];
}

/** Prefix of the comment on every rule Switchyard puts into another firewall's chain. */
export const COMMENT_PREFIX = 'switchyard:';

const OWN_TABLES = new Set(['switchyard', 'switchyard-user']);

const FAMILIES = new Set(['ip', 'ip6', 'inet']);

function ownerOf(family: string, table: string, chainNames: Set<string>, legacy: boolean): FirewallName {
  if (table === 'firewalld') return 'firewalld';
  if ([...chainNames].some((c) => c.startsWith('ufw-') || c.startsWith('ufw6-'))) return 'ufw';
  if ([...chainNames].some((c) => c.startsWith('DOCKER'))) return 'docker';
  if (legacy) return 'iptables-legacy';
  if ((family === 'ip' || family === 'ip6') && ['filter', 'nat', 'mangle', 'raw', 'security'].includes(table) && [...chainNames].some((c) => /^(INPUT|FORWARD|OUTPUT|PREROUTING|POSTROUTING)$/.test(c))) return 'iptables-nft';
  return 'nftables';
}

/** A rule with no match at all whose verdict is drop or reject (firewalld ends its chains so). */
function dropsEverything(expr: any[]): boolean {
  const verdict = expr.find((e) => 'drop' in e || 'reject' in e);
  return !!verdict && expr.every((e) => 'drop' in e || 'reject' in e || 'counter' in e || 'log' in e || 'limit' in e);
}

/**
 * What the host's other firewalls are and which of their base chains drop. `legacySave` is
 * the output of `iptables-legacy-save` (and ip6tables-legacy-save), when present.
 */
export function detectHostFirewall(ruleset: { nftables?: NftJsonObject[] } | NftJsonObject[], legacySave = '', legacySave6 = ''): HostFirewallReport {
  const objs: NftJsonObject[] = Array.isArray(ruleset) ? ruleset : (ruleset.nftables ?? []);
  const chainsOf = new Map<string, Set<string>>();
  const rulesOf = new Map<string, any[][]>();
  const ours: HostFirewallReport['ours'] = [];
  for (const o of objs) {
    if (o.chain) {
      const k = `${o.chain.family} ${o.chain.table}`;
      if (!chainsOf.has(k)) chainsOf.set(k, new Set());
      chainsOf.get(k)!.add(o.chain.name);
    }
    if (o.rule) {
      const k = `${o.rule.family} ${o.rule.table} ${o.rule.chain}`;
      if (!rulesOf.has(k)) rulesOf.set(k, []);
      rulesOf.get(k)!.push(o.rule.expr ?? []);
      if (typeof o.rule.comment === 'string' && o.rule.comment.startsWith(COMMENT_PREFIX) && !OWN_TABLES.has(o.rule.table)) {
        ours.push({ family: o.rule.family, table: o.rule.table, chain: o.rule.chain, handle: o.rule.handle, comment: o.rule.comment });
      }
    }
  }
  const report: HostFirewallReport = { firewalls: [], forwardDrops: [], inputDrops: [], inputChains: [], ours };
  const seen = (n: FirewallName) => !report.firewalls.includes(n) && report.firewalls.push(n);
  for (const o of objs) {
    const c = o.chain;
    if (!c || !FAMILIES.has(c.family) || OWN_TABLES.has(c.table)) continue;
    const owner = ownerOf(c.family, c.table, chainsOf.get(`${c.family} ${c.table}`) ?? new Set(), false);
    if (c.hook) seen(owner);
    if (c.type !== 'filter' || (c.hook !== 'forward' && c.hook !== 'input')) continue;
    const rules = rulesOf.get(`${c.family} ${c.table} ${c.name}`) ?? [];
    const last = rules[rules.length - 1];
    const drops = c.policy === 'drop' ? 'policy drop' : last && dropsEverything(last) ? 'its last rule drops or rejects everything not accepted before' : '';
    const fc: ForeignChain = { family: c.family, table: c.table, chain: c.name, hook: c.hook, priority: Number(c.prio ?? 0), policy: c.policy === 'drop' ? 'drop' : 'accept', drops, owner };
    if (c.hook === 'input') report.inputChains.push(fc);
    if (!drops) continue;
    (c.hook === 'forward' ? report.forwardDrops : report.inputDrops).push(fc);
  }
  for (const [text, family] of [[legacySave, 'ip'], [legacySave6, 'ip6']] as const) {
    if (!/^\*filter$/m.test(text)) continue;
    const filter = text.split(/^\*filter$/m)[1]!.split(/^COMMIT$/m)[0]!;
    const names = new Set([...filter.matchAll(/^:(\S+)/gm)].map((m) => m[1]!));
    const owner = ownerOf(family, 'filter', names, true);
    const hasRules = /^-A /m.test(filter);
    for (const [hook, chain] of [['forward', 'FORWARD'], ['input', 'INPUT']] as const) {
      const policy = new RegExp(`^:${chain} (ACCEPT|DROP)`, 'm').exec(filter)?.[1];
      if (policy === 'DROP' || hasRules) seen(owner);
      if (policy !== 'DROP') continue;
      const fc: ForeignChain = { family, table: 'filter', chain, hook, priority: 0, policy: 'drop', drops: 'policy DROP (iptables-legacy)', owner, legacy: true };
      (hook === 'forward' ? report.forwardDrops : report.inputDrops).push(fc);
    }
    for (const m of filter.matchAll(/^-A (\S+) (.*--comment "?(switchyard:[^"]*)"?.*)$/gm)) {
      ours.push({ family, table: 'filter', chain: m[1]!, handle: -1, comment: m[3]!.trim() });
    }
  }
  return report;
}

// ------------------------------------------------------------------ coexistence

export type HostFirewallMode = 'accept' | 'obey' | 'off';

export interface CoexistenceRule {
  chain: ForeignChain;
  /** `in BRIDGE` or `out BRIDGE`: what the comment says, and how it is matched again. */
  comment: string;
  /** nft rule body (for nft tables) */
  nft: string;
  /** iptables arguments after `-I CHAIN 1` (for iptables-legacy chains) */
  iptables: string[];
}

export interface CoexistencePlan {
  add: CoexistenceRule[];
  /** Rules of ours no longer wanted (a network removed, a chain no longer dropping). */
  remove: HostFirewallReport['ours'];
  /** Human lines for the daemon log: what is done in which firewall, and why. */
  log: string[];
}

const chainText = (c: ForeignChain) => `${c.legacy ? 'iptables-legacy ' : ''}${c.family} ${c.table} ${c.chain}`;

/**
 * The rules Switchyard keeps at the top of every forward chain of another firewall that
 * would drop its traffic: accept what enters or leaves its bridges. Safe: an accept there
 * only ends that chain; Switchyard's own forward chain (isolation, published ports,
 * --publish-from, `--host-firewall obey`) still decides. Rule text is in the shape
 * iptables-nft writes (`iifname "br" counter accept`), so `iptables -L` still reads it.
 */
export function coexistencePlan(report: HostFirewallReport, bridges: readonly string[], mode: HostFirewallMode): CoexistencePlan {
  const want: CoexistenceRule[] = [];
  if (mode !== 'off') {
    for (const c of report.forwardDrops) {
      for (const br of [...bridges].sort()) {
        for (const dir of ['in', 'out'] as const) {
          const comment = `${COMMENT_PREFIX} ${dir} ${br}`;
          const match = dir === 'in' ? 'iifname' : 'oifname';
          want.push({
            chain: c,
            comment,
            nft: `${match} "${br}" counter accept comment "${comment}"`,
            iptables: [dir === 'in' ? '-i' : '-o', br, '-m', 'comment', '--comment', comment, '-j', 'ACCEPT'],
          });
        }
      }
    }
  }
  // iptables-legacy's ip filter FORWARD and iptables-nft's are different chains with one name.
  const key = (legacy: boolean, family: string, table: string, chain: string, comment: string) => `${legacy ? 'legacy ' : ''}${family} ${table} ${chain} ${comment}`;
  const have = new Set(report.ours.map((r) => key(r.handle < 0, r.family, r.table, r.chain, r.comment)));
  const wanted = new Set(want.map((r) => key(!!r.chain.legacy, r.chain.family, r.chain.table, r.chain.chain, r.comment)));
  const add = want.filter((r) => !have.has(key(!!r.chain.legacy, r.chain.family, r.chain.table, r.chain.chain, r.comment)));
  const remove = report.ours.filter((r) => !wanted.has(key(r.handle < 0, r.family, r.table, r.chain, r.comment)));
  const log: string[] = [];
  const byChain = new Map<string, CoexistenceRule[]>();
  for (const r of add) byChain.set(chainText(r.chain), [...(byChain.get(chainText(r.chain)) ?? []), r]);
  for (const [name, rules] of byChain) {
    const c = rules[0]!.chain;
    log.push(
      `host firewall: ${c.owner} chain ${name} (hook ${c.hook}, ${c.drops}) would drop Switchyard's traffic; inserted at its top: ${rules.map((r) => r.iptables.length && c.legacy ? `-I ${c.chain} ${r.iptables.join(' ')}` : r.nft).join('; ')}` +
        ' (comment "switchyard: ..."; removed when the daemon stops; --host-firewall off leaves that firewall alone)',
    );
  }
  for (const r of remove) log.push(`host firewall: removed ${r.family} ${r.table} ${r.chain} rule "${r.comment}" (no longer needed)`);
  return { add, remove, log };
}

// ------------------------------------------------------------------ input verdict

/**
 * iptables-nft stores some matches as xtables extensions (`-m conntrack`, `-m addrtype`),
 * which `nft -j` shows only by name ({"xt": {"name": "conntrack"}}) while `nft list` prints
 * their translation (`ct state related,established`, `fib daddr type local`). This adds
 * that text to each rule of the JSON (as `text`), matched by family, table, chain and
 * handle from `nft -a list ruleset`.
 */
export function withRuleTexts(ruleset: { nftables?: NftJsonObject[] }, listing: string): { nftables: NftJsonObject[] } {
  const texts = new Map<string, string>();
  let table = '';
  let chain = '';
  for (const raw of listing.split('\n')) {
    const line = raw.trim();
    const t = /^table (\S+) (\S+) \{/.exec(line);
    if (t) {
      table = `${t[1]} ${t[2]}`;
      continue;
    }
    const c = /^chain (\S+) \{/.exec(line);
    if (c) {
      chain = c[1]!;
      continue;
    }
    const h = /^(.*) # handle (\d+)$/.exec(line);
    if (h && table && chain && !line.startsWith('type ')) texts.set(`${table} ${chain} ${h[2]}`, h[1]!);
  }
  return {
    nftables: (ruleset.nftables ?? []).map((o) => (o.rule ? { rule: { ...o.rule, text: texts.get(`${o.rule.family} ${o.rule.table} ${o.rule.chain} ${o.rule.handle}`) } } : o)),
  };
}

/** An xtables match, from the rule's printed translation (see withRuleTexts). */
function evalXt(name: string, text: string | undefined): Tri {
  if (!text) return 'unknown';
  if (name === 'conntrack' || name === 'state') {
    const m = /ct state (?:\{ )?([a-z, ]+?)(?: \})? /.exec(text + ' ');
    return m ? m[1]!.split(/[ ,]+/).includes('new') : 'unknown';
  }
  if (name === 'addrtype') {
    const m = /fib daddr type (?:\{ )?([a-z, ]+?)(?: \})? /.exec(text + ' ');
    return m ? m[1]!.split(/[ ,]+/).includes('local') : 'unknown';
  }
  if (name === 'icmp' || name === 'icmp6') return 'unknown';
  if (name === 'comment') return true;
  return 'unknown';
}

export interface InputVerdict {
  verdict: 'accept' | 'drop';
  /** The chain and rule (or policy) that decide, as text. */
  decidedBy: string;
  /** Sources a source-specific accept lets in before the deciding rule (`ufw allow from X to any port P`). */
  sources: string[];
  /** Rules that could not be evaluated without knowing more than (protocol, port) and were skipped. */
  unsure: string[];
}

interface Packet {
  fam: 4 | 6;
  proto: 'tcp' | 'udp' | 'sctp';
  port: number;
}

type Tri = true | false | 'source' | 'unknown';

function inRight(right: any, v: string | number): boolean | 'unknown' {
  if (right === null || right === undefined) return 'unknown';
  if (typeof right === 'string' || typeof right === 'number') return right === v || String(right) === String(v);
  if (Array.isArray(right)) return right.some((x) => inRight(x, v) === true);
  if (right.set) return (right.set as any[]).some((x) => inRight(x, v) === true);
  if (right.range) return typeof v === 'number' && v >= Number(right.range[0]) && v <= Number(right.range[1]);
  return 'unknown';
}

const PROTO_NUM: Record<string, number> = { tcp: 6, udp: 17, sctp: 132 };

/** One match expression against a new connection to (proto, port) arriving from the network (not lo). */
function evalMatch(m: any, p: Packet): Tri {
  const op: string = m.op ?? '==';
  const left = m.left ?? {};
  const neg = op === '!=';
  const res = (x: boolean | 'unknown'): Tri => (x === 'unknown' ? 'unknown' : neg ? !x : x);
  // The packet comes from the network: not from lo; any other named interface may be the one.
  if (left.meta?.key === 'iifname' || left.meta?.key === 'iif') return inRight(m.right, 'lo') === true ? neg : 'unknown';
  if (left.meta?.key === 'l4proto' || (left.payload?.protocol === 'ip' && left.payload?.field === 'protocol') || (left.payload?.protocol === 'ip6' && left.payload?.field === 'nexthdr')) {
    return res(inRight(m.right, p.proto) === true || inRight(m.right, PROTO_NUM[p.proto]!) === true);
  }
  if (left.meta?.key === 'nfproto') return res(inRight(m.right, p.fam === 4 ? 'ipv4' : 'ipv6') === true);
  if (left.payload && ['tcp', 'udp', 'sctp', 'th'].includes(left.payload.protocol)) {
    if (left.payload.protocol !== 'th' && left.payload.protocol !== p.proto) return false;
    if (left.payload.field === 'dport') return res(inRight(m.right, p.port));
    return 'unknown';
  }
  if (left.payload && ['icmp', 'icmpv6'].includes(left.payload.protocol)) return false;
  if (left.ct?.key === 'state') {
    // A new connection: matches "new" only (op "in" is a bit test: in { established, related } is false).
    const r = m.right;
    const states: string[] = Array.isArray(r) ? r : typeof r === 'string' ? [r] : r?.set ?? [];
    return res(states.includes('new'));
  }
  if (left.ct?.key === 'status') return res(false); // not DNATed yet at input for a host port
  if (left.fib?.result === 'type' && (left.fib.flags ?? []).includes('daddr')) return res(inRight(m.right, 'local') === true);
  if (left.payload && (left.payload.field === 'saddr')) return 'source';
  return 'unknown';
}

function sourceOf(expr: any[]): string | null {
  for (const e of expr) {
    const m = e.match;
    if (!m || m.left?.payload?.field !== 'saddr' || (m.op && m.op !== '==')) continue;
    const r = m.right;
    if (typeof r === 'string') return r;
    if (r?.prefix) return `${r.prefix.addr}/${r.prefix.len}`;
  }
  return null;
}

/** A short text for a rule (for logs and explain): its matches and verdict as nft would roughly print them. */
export function ruleText(expr: any[]): string {
  const val = (r: any): string =>
    r === null || r === undefined ? '' : typeof r !== 'object' ? String(r) : Array.isArray(r) ? `{ ${r.map(val).join(', ')} }` : r.set ? `{ ${r.set.map(val).join(', ')} }` : r.range ? `${r.range[0]}-${r.range[1]}` : r.prefix ? `${r.prefix.addr}/${r.prefix.len}` : JSON.stringify(r);
  const lhs = (l: any): string =>
    l.meta ? `meta ${l.meta.key}` : l.payload ? `${l.payload.protocol} ${l.payload.field}` : l.ct ? `ct ${l.ct.key}` : l.fib ? `fib ${(l.fib.flags ?? []).join(' ')} ${l.fib.result}` : JSON.stringify(l);
  return expr
    .map((e) => {
      if (e.match) return `${lhs(e.match.left)}${e.match.op && e.match.op !== '==' && e.match.op !== 'in' ? ` ${e.match.op}` : ''} ${val(e.match.right)}`;
      if ('counter' in e) return '';
      if (e.jump) return `jump ${e.jump.target}`;
      if (e.goto) return `goto ${e.goto.target}`;
      const k = Object.keys(e)[0]!;
      return k;
    })
    .filter(Boolean)
    .join(' ');
}

/**
 * What the host's input filtering (every input base chain of other tables, in priority
 * order) decides for a new connection from the network to (protocol, port) on this host.
 * A static walk: jumps, gotos and returns are followed; matches on protocol, port, ct
 * state, `fib daddr type`, `iifname lo` are evaluated; a rule that also needs the source
 * address and accepts contributes its source to `sources`; any other rule it cannot
 * evaluate (rate limits with a verdict, xt matches, marks) is skipped and listed in `unsure`.
 */
export function inputVerdict(ruleset: { nftables?: NftJsonObject[] } | NftJsonObject[], report: HostFirewallReport, fam: 4 | 6, proto: 'tcp' | 'udp' | 'sctp', port: number): InputVerdict {
  const objs: NftJsonObject[] = Array.isArray(ruleset) ? ruleset : (ruleset.nftables ?? []);
  const rules = new Map<string, { expr: any[]; handle: number; text?: string }[]>();
  for (const o of objs) {
    if (!o.rule) continue;
    const k = `${o.rule.family} ${o.rule.table} ${o.rule.chain}`;
    if (!rules.has(k)) rules.set(k, []);
    rules.get(k)!.push({ expr: o.rule.expr ?? [], handle: o.rule.handle, text: o.rule.text });
  }
  const p: Packet = { fam, proto, port };
  const sources: string[] = [];
  const unsure: string[] = [];
  type Result = { v: 'accept' | 'drop' | 'continue'; by: string };
  const walk = (family: string, table: string, chain: string, depth: number): Result => {
    if (depth > 32) return { v: 'continue', by: '' };
    for (const r of rules.get(`${family} ${table} ${chain}`) ?? []) {
      let matched: Tri = true;
      for (const e of r.expr) {
        if (!e.match && !e.xt) {
          if (e.limit && r.expr.some((x: any) => 'accept' in x || 'drop' in x || 'reject' in x)) matched = matched === true ? 'unknown' : matched;
          continue;
        }
        const t = e.xt ? (e.xt.type === 'match' ? evalXt(e.xt.name, r.text) : true) : evalMatch(e.match, p);
        if (t === false) {
          matched = false;
          break;
        }
        if (t !== true && matched === true) matched = t;
        else if (t === 'unknown') matched = 'unknown';
      }
      if (matched === false) continue;
      const at = `${family} ${table} ${chain}: ${r.text?.replace(/ counter packets \d+ bytes \d+/, '') ?? ruleText(r.expr)} (handle ${r.handle})`;
      const verdict = r.expr.find((e: any) => 'accept' in e || 'drop' in e || 'reject' in e || e.jump || e.goto || 'return' in e);
      if (!verdict) continue;
      if (matched === 'source') {
        if ('accept' in verdict) {
          const s = sourceOf(r.expr);
          if (s) sources.push(s);
        } else unsure.push(at);
        continue;
      }
      if (matched === 'unknown') {
        unsure.push(at);
        continue;
      }
      if ('accept' in verdict) return { v: 'accept', by: at };
      if ('drop' in verdict || 'reject' in verdict) return { v: 'drop', by: at };
      if ('return' in verdict) return { v: 'continue', by: '' };
      const target = verdict.jump?.target ?? verdict.goto?.target;
      const sub = walk(family, table, target, depth + 1);
      if (sub.v !== 'continue') return sub;
      if (verdict.goto) return { v: 'continue', by: '' };
    }
    return { v: 'continue', by: '' };
  };
  const chains = report.inputChains.filter((c) => !c.legacy && (c.family === 'inet' || (c.family === 'ip') === (fam === 4))).sort((a, b) => a.priority - b.priority);
  let last = 'no input chain of another firewall';
  for (const c of chains) {
    const r = walk(c.family, c.table, c.chain, 0);
    const v = r.v === 'continue' ? c.policy : r.v;
    const by = r.v === 'continue' ? `${c.family} ${c.table} ${c.chain}: policy ${c.policy}` : r.by;
    if (v === 'drop') return { verdict: 'drop', decidedBy: by, sources: fam === 4 ? sources.filter((s) => !s.includes(':')) : sources.filter((s) => s.includes(':')), unsure };
    last = by;
  }
  for (const c of report.inputDrops.filter((x) => x.legacy && (x.family === 'ip') === (fam === 4))) {
    // iptables-legacy: only its policy is known here; its rules are not evaluated.
    unsure.push(`iptables-legacy ${c.family} filter INPUT: rules not evaluated`);
    return { verdict: 'drop', decidedBy: `iptables-legacy ${c.family} filter INPUT: policy DROP`, sources: [], unsure };
  }
  return { verdict: 'accept', decidedBy: last, sources: [], unsure };
}

/**
 * For `yard doctor` and explain: which firewalls are present and what they mean for one
 * published port (protocol, host port), in each family, under `mode`.
 */
export function hostFirewallForPort(ruleset: { nftables?: NftJsonObject[] } | NftJsonObject[], report: HostFirewallReport, proto: 'tcp' | 'udp' | 'sctp', port: number, mode: HostFirewallMode, bridges: readonly string[] = []): { firewalls: FirewallName[]; lines: string[]; reachable: { 4: boolean; 6: boolean } } {
  const lines: string[] = [];
  const reachable = { 4: true, 6: true };
  if (!report.firewalls.length) return { firewalls: [], lines: ['no other firewall: only Switchyard\'s tables decide'], reachable };
  for (const c of report.forwardDrops) {
    const kept = bridges.length > 0 && bridges.every((br) => ['in', 'out'].every((d) => report.ours.some((o) => o.family === c.family && o.table === c.table && o.chain === c.chain && o.comment === `${COMMENT_PREFIX} ${d} ${br}`)));
    lines.push(`${c.owner} ${chainText(c)} drops forwarded traffic (${c.drops}): ${mode === 'off' ? 'published ports and outbound traffic of sandboxes are dropped there (--host-firewall off)' : kept ? 'Switchyard keeps accept rules for its bridges at its top' : 'Switchyard adds accept rules for its bridges at its top'}`);
    if (mode === 'off') {
      if (c.family !== 'ip6') reachable[4] = false;
      if (c.family !== 'ip') reachable[6] = false;
    }
  }
  for (const fam of [4, 6] as const) {
    const v = inputVerdict(ruleset, report, fam, proto, port);
    const what = `IPv${fam} ${port}/${proto}: the host's input filtering would ${v.verdict} a new connection (${v.decidedBy})${v.sources.length ? `; it accepts ${v.sources.join(', ')} first` : ''}${v.unsure.length ? `; not evaluated: ${v.unsure.length} rule(s)` : ''}`;
    if (mode === 'obey') {
      if (v.verdict === 'drop') reachable[fam] = false;
      lines.push(`${what}; --host-firewall obey: the published port ${v.verdict === 'drop' ? (v.sources.length ? `is limited to ${v.sources.join(', ')}` : 'is refused') : 'is reachable'}`);
    } else lines.push(`${what}; published ports do not go through input (they are forwarded), so with --host-firewall ${mode} this does not apply to them`);
  }
  return { firewalls: report.firewalls, lines, reachable };
}

/**
 * What of the host's other firewalls Switchyard depends on, as one string: their tables,
 * chains and rules (counters and Switchyard's own rules left out) and the iptables-legacy
 * dumps. A change (ufw allow, firewalld reload, nft flush) changes it.
 */
export function hostFingerprint(ruleset: { nftables?: NftJsonObject[] }, legacy4 = '', legacy6 = ''): string {
  const parts: string[] = [];
  for (const o of ruleset.nftables ?? []) {
    const x = o.table ?? o.chain ?? o.rule;
    if (!x || o.metainfo) continue;
    if (OWN_TABLES.has(o.table ? o.table.name : x.table)) continue;
    if (o.rule) {
      if (typeof o.rule.comment === 'string' && o.rule.comment.startsWith(COMMENT_PREFIX)) continue;
      parts.push(`R ${o.rule.family} ${o.rule.table} ${o.rule.chain} ${JSON.stringify((o.rule.expr ?? []).filter((e: any) => !('counter' in e)))}`);
    } else if (o.chain) parts.push(`C ${o.chain.family} ${o.chain.table} ${o.chain.name} ${o.chain.hook ?? ''} ${o.chain.prio ?? ''} ${o.chain.policy ?? ''}`);
    else parts.push(`T ${o.table.family} ${o.table.name}`);
  }
  const strip = (t: string) => t.split('\n').filter((l) => !l.startsWith('#') && !l.includes(COMMENT_PREFIX)).map((l) => l.replace(/\[\d+:\d+\]/, '')).join('\n');
  return `${parts.join('\n')}\n--legacy\n${strip(legacy4)}\n${strip(legacy6)}`;
}
