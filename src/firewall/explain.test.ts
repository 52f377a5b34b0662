import { describe, expect, it } from 'vitest';
import { explainPorts } from './explain.js';
import { fixtureNetwork, fixtureSandbox, port } from '../../test/fixtures/firewall/fixtures.js';
import { modelOf } from './model.js';
import { RULES, inetChains, parseChains, renderInetTable, type ChainSpec } from './render.js';

const net = fixtureNetwork({ name: 'app', index: 1 });
const networks = new Map([[net.id, net]]);
const web = fixtureSandbox('web', 0, [net], [port(8080, 80), port(9090, 90, 'tcp', '127.0.0.1')]);

const reachOf = (chains: readonly ChainSpec[], spec: string) => {
  const e = explainPorts(web, networks, [web], [], chains).find((x) => x.spec === spec)!;
  return { ...Object.fromEntries(e.reach.map((r) => [r.who, r.allowed])), rules: e.rules, why: e.reach };
};

/** The rendered chains with one rule taken out. */
const without = (rule: string) => inetChains().map((c) => ({ ...c, rules: c.rules.filter((r) => r !== rule) }));

describe('explainPorts: the localhost-only claim follows the loopback guard', () => {
  it('with the rendered chains, 127.0.0.1:9090 is unreachable from the LAN and cites the guard', () => {
    const r = reachOf(inetChains(), '127.0.0.1:9090:90/tcp');
    expect(r).toMatchObject({ localhost: true, host: false, LAN: false, sandboxes: false });
    expect(r.rules[0]).toBe(`inet switchyard loopback-guard: ${RULES.loopbackGuard4}`);
    expect(r.why.find((w) => w.who === 'LAN')!.why).toContain('dropped before DNAT by loopback-guard');
  });

  it('without the guard rule, the same port is reported reachable from the LAN and from sandboxes', () => {
    const r = reachOf(without(RULES.loopbackGuard4), '127.0.0.1:9090:90/tcp');
    expect(r).toMatchObject({ localhost: true, LAN: true, sandboxes: true });
    expect(r.rules.some((x) => x.includes('loopback-guard'))).toBe(false);
    expect(r.why.find((w) => w.who === 'LAN')!.why).toMatch(/no chain drops 127\.0\.0\.1 arriving from outside before DNAT/);
  });

  it('a guard hooked after dstnat does not count (DNAT would already have happened)', () => {
    const late = inetChains().map((c) => (c.name === 'loopback-guard' ? { ...c, hook: { ...c.hook!, priority: 'dstnat + 10' } } : c));
    expect(reachOf(late, '127.0.0.1:9090:90/tcp').LAN).toBe(true);
    const early = inetChains().map((c) => (c.name === 'loopback-guard' ? { ...c, hook: { ...c.hook!, priority: '-150' } } : c));
    expect(reachOf(early, '127.0.0.1:9090:90/tcp').LAN).toBe(false);
  });

  it('ports published on every address stay reachable from the LAN either way', () => {
    expect(reachOf(inetChains(), '8080:80/tcp')).toMatchObject({ LAN: true, localhost: true });
    expect(reachOf(without(RULES.loopbackGuard4), '8080:80/tcp')).toMatchObject({ LAN: true, localhost: true });
  });

  it('reads the chains back from a listing the way nft prints them', () => {
    const chains = parseChains(renderInetTable(modelOf([net], [web])));
    expect(chains.map((c) => c.name)).toEqual(inetChains().map((c) => c.name));
    expect(chains).toEqual(inetChains());
    // nft -a adds handles; a rule removed by hand disappears from the parse.
    const listed = 'table inet switchyard {\n\tchain loopback-guard { # handle 3\n\t\ttype filter hook prerouting priority raw; policy accept;\n' +
      `\t\t${RULES.loopbackGuard6} # handle 9\n\t}\n}\n`;
    const [g] = parseChains(listed.replace(' { # handle 3', ' {'));
    expect(g).toEqual({ name: 'loopback-guard', hook: { type: 'filter', hook: 'prerouting', priority: 'raw' }, rules: [RULES.loopbackGuard6] });
    expect(reachOf(parseChains(listed.replace(' { # handle 3', ' {')), '127.0.0.1:9090:90/tcp').LAN).toBe(true);
  });
});
