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
import { SET_DEFS, SET_NAMES, diffModels, elementText, type Element, type FirewallModel, type SetName } from './model.js';

export const TABLE = 'switchyard';
export const USER_TABLE = 'switchyard-user';
export const USER_CHAIN = 'user-forward';
/** Before Switchyard's forward chain (filter = 0), so the user's rules are consulted first. */
export const USER_PRIORITY = 'filter - 10';

const PROTOS = 'meta l4proto { tcp, udp, sctp }';

/** Rule text shared by the renderer and `yard port explain`, which cites them. */
export const RULES = {
  dnat4: `${PROTOS} dnat ip to ip daddr . meta l4proto . th dport map @pm4`,
  dnat4Keep: `${PROTOS} dnat ip to ip daddr . meta l4proto . th dport map @pr4`,
  // ::1 cannot be DNATed out of the host (IPv6 has no route_localnet).
  dnat6: `ip6 daddr != ::1 ${PROTOS} dnat ip6 to ip6 daddr . meta l4proto . th dport map @pm6`,
  dnat6Keep: `ip6 daddr != ::1 ${PROTOS} dnat ip6 to ip6 daddr . meta l4proto . th dport map @pr6`,
  toPublished: 'fib daddr type local jump published-ports',
  // The input interface is unknown in postrouting, so "back into its own network" is told
  // by the source address: the network's own subnet leaving through the network's bridge.
  hairpin4: 'ct status dnat oifname . ip saddr @hairpin4 masquerade',
  hairpin6: 'ct status dnat oifname . ip6 saddr @hairpin6 masquerade',
  loopbackMasq: 'oifname @bridges ip saddr 127.0.0.0/8 masquerade',
  masq4: 'oifname != @bridges ip saddr @masq4 masquerade',
  masq6: 'oifname != @bridges ip6 saddr @masq6 masquerade',
  loopbackSpoof: 'iifname @bridges ip daddr 127.0.0.0/8 drop',
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

function chain(name: string, hook: string | null, rules: string[]): string {
  return `\tchain ${name} {\n${hook ? `\t\t${hook}\n` : ''}${rules.map((r) => `\t\t${r}\n`).join('')}\t}\n`;
}

export function renderInetTable(model: FirewallModel): string {
  const sets = SET_NAMES.filter((n) => SET_DEFS[n].family === 'inet').map((n) => setDecl(n, model)).join('\n');
  const chains = [
    chain('published-ports', null, [RULES.dnat4, RULES.dnat4Keep, RULES.dnat6, RULES.dnat6Keep]),
    chain('nat-prerouting', 'type nat hook prerouting priority dstnat; policy accept;', [RULES.toPublished]),
    // Connections the host itself opens (to its own address or 127.0.0.1) take the output hook.
    chain('nat-output', 'type nat hook output priority -100; policy accept;', [RULES.toPublished]),
    chain('nat-postrouting', 'type nat hook postrouting priority srcnat; policy accept;', [RULES.hairpin4, RULES.hairpin6, RULES.loopbackMasq, RULES.masq4, RULES.masq6]),
    // route_localnet=1 on our bridges lets DNAT from 127.0.0.1 leave through them; it must
    // not let a sandbox reach the host's loopback services by spoofing 127.x.
    chain('raw-prerouting', 'type filter hook prerouting priority raw; policy accept;', [RULES.loopbackSpoof]),
    chain('forward', 'type filter hook forward priority filter; policy accept;', [
      RULES.sameBridge,
      RULES.internalOut,
      RULES.internalIn,
      RULES.established,
      RULES.published,
      // Anything else into a network from elsewhere (another network, the LAN routing to a
      // container address directly, a port published on 127.0.0.1 only) is dropped.
      RULES.intoNetworks,
    ]),
  ].join('\n');
  return `table inet ${TABLE} {\n${sets}\n${chains}}\n`;
}

export function renderBridgeTable(model: FirewallModel): string {
  const sets = SET_NAMES.filter((n) => SET_DEFS[n].family === 'bridge').map((n) => setDecl(n, model)).join('\n');
  return `table bridge ${TABLE} {\n${sets}\n${chain('forward', 'type filter hook forward priority filter; policy accept;', [RULES.noIcc])}}\n`;
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
  const { del, add, count } = diffModels(from, to);
  if (!count) return '';
  const lines: string[] = [];
  for (const n of SET_NAMES) {
    if (del[n].length) lines.push(`delete element ${SET_DEFS[n].family} ${TABLE} ${n} { ${del[n].map((e) => e.key).join(', ')} }`);
  }
  for (const n of SET_NAMES) {
    if (add[n].length) lines.push(`add element ${SET_DEFS[n].family} ${TABLE} ${n} { ${add[n].map(elementText).join(', ')} }`);
  }
  return lines.join('\n') + '\n';
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
