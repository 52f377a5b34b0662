/**
 * nftables text for Switchyard's tables, as `nft -f -` reads it. Pure.
 *
 *   table inet switchyard        NAT (published ports, masquerade) and forwarding policy
 *   table bridge switchyard      enable_icc=false (bridged traffic between two sandbox ports;
 *                                the inet hooks see it only when br_netfilter is on)
 *   table inet switchyard-user   the user's chain `user-forward`, consulted before ours;
 *                                created when missing, never flushed, edited or deleted
 *
 * renderRuleset() replaces Switchyard's two tables whole, in one transaction, with the
 * `table X {}` / `delete table X` / `table X {...}` idiom (the first line makes the delete
 * valid when the table is missing). renderDelta() is the incremental form: element
 * deletions then additions, one transaction per engine operation.
 */
import { setImmediate as pause } from 'node:timers/promises';
import { SET_DEFS, SET_NAMES, STEP_ELEMENTS, diffModels, elementText, type Element, type FirewallModel, type ModelDiff, type SetName } from './model.js';

export const TABLE = 'switchyard';
export const USER_TABLE = 'switchyard-user';
export const USER_CHAIN = 'user-forward';
/** Before Switchyard's forward chain (filter = 0), so the user's rules are consulted first. */
export const USER_PRIORITY = 'filter - 10';

const PROTOS = 'meta l4proto { tcp, udp, sctp }';

/** Rule text shared by the renderer and `yard port explain`, which cites them. */
export const RULES = {
  // Hash maps first (single ports: one lookup whatever their number), then the ranges.
  dnat4: `meta nfproto ipv4 ${PROTOS} dnat ip to meta l4proto . th dport map @pm4`,
  dnat4Addr: `${PROTOS} dnat ip to ip daddr . meta l4proto . th dport map @pmaddr4`,
  dnat4Range: `${PROTOS} dnat ip to th dport . meta l4proto . ip daddr map @pr4`,
  // ::1 cannot be DNATed out of the host (IPv6 has no route_localnet).
  dnat6: `ip6 daddr != ::1 ${PROTOS} dnat ip6 to meta l4proto . th dport map @pm6`,
  dnat6Addr: `ip6 daddr != ::1 ${PROTOS} dnat ip6 to ip6 daddr . meta l4proto . th dport map @pmaddr6`,
  dnat6Range: `ip6 daddr != ::1 ${PROTOS} dnat ip6 to th dport . meta l4proto . ip6 daddr map @pr6`,
  toPublished: 'fib daddr type local jump published-ports',
  // The input interface is unknown in postrouting, so "back into its own network" is told
  // by the source address: the network's own subnet leaving through the network's bridge.
  hairpin4: 'ct status dnat oifname . ip saddr @hairpin4 masquerade',
  hairpin6: 'ct status dnat oifname . ip6 saddr @hairpin6 masquerade',
  loopbackMasq: 'oifname @bridges ip saddr 127.0.0.0/8 masquerade',
  masq4: 'oifname != @bridges ip saddr @masq4 masquerade',
  masq6: 'oifname != @bridges ip6 saddr @masq6 masquerade',
  // Loopback destinations that did not come from this host itself. Without these, a LAN
  // machine could send a frame for 127.0.0.1 to the host's MAC: nat-prerouting would DNAT
  // it to a port published on 127.0.0.1 before routing could reject it as martian.
  loopbackGuard4: 'iifname != "lo" ip daddr 127.0.0.0/8 drop',
  loopbackGuard6: 'iifname != "lo" ip6 daddr ::1 drop',
  // --publish-from: a new DNATed connection to a limited port from a source not allowed for
  // it is refused. After DNAT the key is the original destination address and the container
  // address and port (nft cannot concatenate the original port, `ct original proto-dst`).
  sources4:
    'ct state new ct status dnat th dport . meta l4proto . ip daddr . ct original ip daddr @limited4 th dport . meta l4proto . ip daddr . ct original ip daddr . ip saddr != @allowed4 reject with icmp port-unreachable',
  sources6:
    'ct state new ct status dnat th dport . meta l4proto . ip6 daddr . ct original ip6 daddr @limited6 th dport . meta l4proto . ip6 daddr . ct original ip6 daddr . ip6 saddr != @allowed6 reject with icmpv6 port-unreachable',
  sameBridge: 'iifname . oifname @same_bridge accept',
  internalOut: 'iifname @internal drop',
  internalIn: 'oifname @internal drop',
  established: 'ct state established,related accept',
  published: 'ct status dnat accept',
  intoNetworks: 'oifname @bridges drop',
  noIcc: 'iifname @no_icc_ports meta protocol { ip, ip6 } drop',
} as const;

function elementsLine(els: Element[], indent: string): string {
  if (!els.length) return '';
  return `${indent}elements = { ${els.map(elementText).join(`,\n${indent}             `)} }\n`;
}

function setDecl(name: SetName, model: FirewallModel): string {
  const d = SET_DEFS[name];
  const kind = d.map ? 'map' : 'set';
  const type = d.map ? `${d.type} : ${d.map}` : d.type;
  return (
    `\t# ${d.about}\n` +
    `\t${kind} ${name} {\n` +
    `\t\ttype ${type}\n` +
    (d.interval ? '\t\tflags interval\n' : '') +
    elementsLine([...model[name].values()], '\t\t') +
    '\t}\n'
  );
}

/** A base chain's hook, as `type T hook H priority P`. */
export interface ChainHook {
  type: 'filter' | 'nat';
  hook: 'prerouting' | 'input' | 'forward' | 'output' | 'postrouting';
  /** As nft writes it: a name (`raw`, `dstnat`, `filter - 10`) or a number. */
  priority: string;
}

/** A chain of a table: what renderInetTable writes, or what parseChains reads back from the kernel. */
export interface ChainSpec {
  name: string;
  hook: ChainHook | null;
  rules: string[];
}

/** nft's standard priority names (inet family). */
const PRIORITY_NAMES: Record<string, number> = { raw: -300, mangle: -150, dstnat: -100, filter: 0, security: 50, srcnat: 100 };

/** The number a priority stands for (`filter - 10` is -10); NaN when it is not understood. */
export function priorityValue(priority: string): number {
  const m = /^([a-z]+|-?\d+)\s*(?:([+-])\s*(\d+))?$/.exec(priority.trim());
  if (!m) return NaN;
  const base = m[1]! in PRIORITY_NAMES ? PRIORITY_NAMES[m[1]!]! : Number(m[1]);
  return base + (m[2] ? (m[2] === '-' ? -1 : 1) * Number(m[3]) : 0);
}

const hookLine = (h: ChainHook) => `type ${h.type} hook ${h.hook} priority ${h.priority}; policy accept;`;

function chain(c: ChainSpec): string {
  return `\tchain ${c.name} {\n${c.hook ? `\t\t${hookLine(c.hook)}\n` : ''}${c.rules.map((r) => `\t\t${r}\n`).join('')}\t}\n`;
}

/** The chains of `table inet switchyard`, in order. Fixed: they never depend on state. */
export function inetChains(): ChainSpec[] {
  return [
    { name: 'published-ports', hook: null, rules: [RULES.dnat4, RULES.dnat4Addr, RULES.dnat4Range, RULES.dnat6, RULES.dnat6Addr, RULES.dnat6Range] },
    // Before NAT (and before conntrack): 127.0.0.0/8 and ::1 are only ever legitimate
    // from lo. route_localnet=1 on our bridges lets DNAT from 127.0.0.1 leave through
    // them; this also keeps it from letting a sandbox reach the host's loopback services.
    { name: 'loopback-guard', hook: { type: 'filter', hook: 'prerouting', priority: 'raw' }, rules: [RULES.loopbackGuard4, RULES.loopbackGuard6] },
    { name: 'nat-prerouting', hook: { type: 'nat', hook: 'prerouting', priority: 'dstnat' }, rules: [RULES.toPublished] },
    // Connections the host itself opens (to its own address or 127.0.0.1) take the output hook.
    { name: 'nat-output', hook: { type: 'nat', hook: 'output', priority: '-100' }, rules: [RULES.toPublished] },
    { name: 'nat-postrouting', hook: { type: 'nat', hook: 'postrouting', priority: 'srcnat' }, rules: [RULES.hairpin4, RULES.hairpin6, RULES.loopbackMasq, RULES.masq4, RULES.masq6] },
    {
      name: 'forward',
      hook: { type: 'filter', hook: 'forward', priority: 'filter' },
      rules: [
        // First: a sandbox of the port's own network reaches it through same_bridge.
        RULES.sources4,
        RULES.sources6,
        RULES.sameBridge,
        RULES.internalOut,
        RULES.internalIn,
        RULES.established,
        RULES.published,
        // Anything else into a network from elsewhere (another network, the LAN routing to a
        // container address directly, a port published on 127.0.0.1 only) is dropped.
        RULES.intoNetworks,
      ],
    },
  ];
}

/**
 * The chain of `chains` that drops `rule` before destination NAT (a prerouting base chain
 * with a priority below dstnat), if any. `yard port explain` asks this of the loopback
 * guard instead of assuming it.
 */
export function dropsBeforeDnat(chains: readonly ChainSpec[], rule: string): ChainSpec | undefined {
  return chains.find((c) => c.hook?.hook === 'prerouting' && c.hook.type === 'filter' && priorityValue(c.hook.priority) < PRIORITY_NAMES.dstnat! && c.rules.includes(rule));
}

/**
 * The chains of one table as `nft list` prints it (a `table ... { ... }` block, with or
 * without -t); rules as nft writes them, handles and counters stripped.
 */
export function parseChains(table: string): ChainSpec[] {
  const out: ChainSpec[] = [];
  let cur: ChainSpec | null = null;
  for (const raw of table.split('\n')) {
    const line = raw.trim();
    const start = /^chain (\S+) \{$/.exec(line);
    if (start) {
      cur = { name: start[1]!, hook: null, rules: [] };
      out.push(cur);
      continue;
    }
    if (!cur) continue;
    if (line === '}') {
      cur = null;
      continue;
    }
    const h = /^type (filter|nat) hook (\w+)(?: device \S+)? priority ([^;]+);/.exec(line);
    if (h) {
      cur.hook = { type: h[1] as ChainHook['type'], hook: h[2] as ChainHook['hook'], priority: h[3]!.trim() };
      continue;
    }
    const rule = line.replace(/\s+# handle \d+$/, '').replace(/ counter packets \d+ bytes \d+/, '');
    if (rule && !rule.startsWith('#')) cur.rules.push(rule);
  }
  return out;
}

export function renderInetTable(model: FirewallModel): string {
  const sets = SET_NAMES.filter((n) => SET_DEFS[n].family === 'inet').map((n) => setDecl(n, model)).join('\n');
  return `table inet ${TABLE} {\n${sets}\n${inetChains().map(chain).join('\n')}}\n`;
}

export function renderBridgeTable(model: FirewallModel): string {
  const sets = SET_NAMES.filter((n) => SET_DEFS[n].family === 'bridge').map((n) => setDecl(n, model)).join('\n');
  return `table bridge ${TABLE} {\n${sets}\n${chain({ name: 'forward', hook: { type: 'filter', hook: 'forward', priority: 'filter' }, rules: [RULES.noIcc] })}}\n`;
}

export function renderUserTable(): string {
  return (
    `table inet ${USER_TABLE} {\n` +
    `\tchain ${USER_CHAIN} {\n` +
    `\t\ttype filter hook forward priority ${USER_PRIORITY}; policy accept;\n` +
    '\t}\n' +
    '}\n'
  );
}

/**
 * The whole of Switchyard's firewall as one transaction. `withUserTable` adds the user
 * table; pass it only when that table is missing, so an existing one is never re-declared.
 */
export function renderRuleset(model: FirewallModel, opts: { withUserTable?: boolean } = {}): string {
  const replace = (family: string, body: string) => `table ${family} ${TABLE} {}\ndelete table ${family} ${TABLE}\n${body}`;
  return [
    '# Switchyard firewall, rendered from state (docs/firewall.md). Replaced whole at start-up and self-heal.',
    replace('inet', renderInetTable(model)),
    replace('bridge', renderBridgeTable(model)),
    ...(opts.withUserTable ? [renderUserTable()] : []),
  ].join('\n');
}

/** Incremental change from `from` to `to`: '' when nothing changes. */
export function renderDelta(from: FirewallModel, to: FirewallModel): string {
  return renderDiff(diffModels(from, to));
}

/** Builds the nft lines of a diff into `out`, yielding after every STEP_ELEMENTS elements. */
function* buildDiffText(d: ModelDiff, out: string[]): Generator<void> {
  if (!d.count) return;
  let n = 0;
  const lines: string[] = [];
  for (const [verb, sets] of [['delete', d.del], ['add', d.add]] as const) {
    for (const name of SET_NAMES) {
      const els = sets[name];
      if (!els.length) continue;
      const texts: string[] = [];
      for (const e of els) {
        texts.push(verb === 'delete' ? e.key : elementText(e));
        if (++n % STEP_ELEMENTS === 0) yield;
      }
      lines.push(`${verb} element ${SET_DEFS[name].family} ${TABLE} ${name} { ${texts.join(', ')} }`);
    }
  }
  out.push(lines.join('\n') + '\n');
}

/** The nft lines of a diff (diffModels / diffModelsAsync): '' when it is empty. */
export function renderDiff(d: ModelDiff): string {
  const out: string[] = [];
  for (const _ of buildDiffText(d, out));
  return out.join('');
}

/** renderDiff, letting the event loop run between steps. */
export async function renderDiffAsync(d: ModelDiff): Promise<string> {
  const out: string[] = [];
  for (const _ of buildDiffText(d, out)) await pause();
  return out.join('');
}

/**
 * The top-level `table ...` blocks of an `nft list ruleset` output, by "family name".
 * Used by the self-heal watcher to compare Switchyard's tables with what it last loaded.
 */
export function splitTables(listing: string): Map<string, string> {
  const out = new Map<string, string>();
  let name: string | null = null;
  let buf: string[] = [];
  for (const line of listing.split('\n')) {
    const m = /^table (\S+) (\S+) \{/.exec(line);
    if (m) {
      name = `${m[1]} ${m[2]}`;
      buf = [line];
      continue;
    }
    if (name === null) continue;
    buf.push(line);
    if (line === '}') {
      out.set(name, buf.join('\n'));
      name = null;
    }
  }
  return out;
}
