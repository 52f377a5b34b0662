/**
 * `--publish-from`: parsing and validating sources, the set elements they become, the
 * forward rules that check them, and `yard port explain --from`.
 */
import { describe, expect, it } from 'vitest';
import { YardError } from '../errors.js';
import { applyPublishFrom, dockerPortLines, normalizeSources, parsePortSpecs, parseSource, type PortMapping } from '../model/ports.js';
import { fixtureNetwork, fixtureSandbox } from '../../test/fixtures/firewall/fixtures.js';
import { explainPorts } from './explain.js';
import { elementCount, modelOf } from './model.js';
import { resolvePublishedPorts } from './publish.js';
import { RULES, inetChains, renderInetTable } from './render.js';

const limit = (specs: string[], from: string[]): PortMapping[] => {
  const ports = parsePortSpecs(specs);
  applyPublishFrom(ports, from);
  return ports;
};
function refusedWith(fn: () => unknown): YardError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(YardError);
    return e as YardError;
  }
  throw new Error('accepted');
}

describe('parseSource', () => {
  it('takes addresses and prefixes of both families, in canonical form', () => {
    expect(parseSource('192.168.1.5')).toBe('192.168.1.5');
    expect(parseSource('192.168.1.5/32')).toBe('192.168.1.5');
    expect(parseSource('10.0.0.0/8')).toBe('10.0.0.0/8');
    expect(parseSource('0.0.0.0/0')).toBe('0.0.0.0/0');
    expect(parseSource('2001:DB8:0::7')).toBe('2001:db8::7');
    expect(parseSource('2001:db8::/32')).toBe('2001:db8::/32');
    expect(parseSource('fd00::1/128')).toBe('fd00::1');
  });
  it.each([
    ['10.1.2.3/8', /host bits set/, /10\.0\.0\.0\/8/],
    ['10.0.0.0/33', /prefix length "33"/, /0 to 32/],
    ['2001:db8::/129', /prefix length "129"/, /0 to 128/],
    ['10.0.0.0/-1', /prefix length/, /./],
    ['10.0.0.0/8/8', /not an IP address or prefix/, /./],
    ['example.com', /not an IP address or prefix/, /./],
    ['10.1', /not an IP address or prefix/, /./],
    ['::ffff:10.0.0.1', /IPv4-mapped/, /10\.0\.0\.1/],
    ['', /a source is empty/, /./],
    ['10.0.0.1 ', /blanks/, /./],
  ])('refuses %j', (text, why, hint) => {
    const e = refusedWith(() => parseSource(text));
    expect(e.field).toBe('--publish-from');
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.message).toMatch(why);
    expect(e.hint).toMatch(hint);
  });
  it('drops duplicates and sources inside another one (nft refuses overlapping elements)', () => {
    expect(normalizeSources(['10.1.0.0/16', 'fd00::/8', '10.0.0.0/8', '10.0.0.0/8', '192.168.1.5', 'fd00::1'])).toEqual(['10.0.0.0/8', '192.168.1.5', 'fd00::/8']);
  });
});

describe('applyPublishFrom', () => {
  it('limits every -p without a selector, one -p with HOST_PORT[/PROTO]=', () => {
    const all = limit(['8000:80', '9000:90'], ['10.0.0.0/8,192.168.1.5']);
    expect(all.map((m) => m.sources)).toEqual([['10.0.0.0/8', '192.168.1.5'], ['10.0.0.0/8', '192.168.1.5']]);
    const one = limit(['8000:80', '9000:90', '8000:80/udp'], ['8000/tcp=10.0.0.0/8', '9000=fd00::/8', '9000=10.0.0.1']);
    expect(one.map((m) => m.sources)).toEqual([['10.0.0.0/8'], ['10.0.0.1', 'fd00::/8'], undefined]);
    // A selector inside a host range picks the range.
    expect(limit(['20000-20999:20000-20999'], ['20500=10.0.0.0/8'])[0]!.sources).toEqual(['10.0.0.0/8']);
  });
  it('refuses a source of a family the binding does not have, and changes nothing', () => {
    const ports = parsePortSpecs(['10.231.0.2:8000:80', '9000:90']);
    const e = refusedWith(() => applyPublishFrom(ports, ['9000=10.0.0.0/8', 'fd00::/8']));
    expect(e.message).toMatch(/fd00::\/8 is an IPv6 source, but -p 10\.231\.0\.2:8000:80\/tcp is published on IPv4 only/);
    expect(ports.map((m) => m.sources)).toEqual([undefined, undefined]);
    expect(refusedWith(() => applyPublishFrom(parsePortSpecs(['[fd00::2]:8000:80']), ['10.0.0.1'])).message).toMatch(/IPv4 source, but .* IPv6 only/);
  });
  it('refuses selectors that match no -p, bad selectors, no -p at all, too many sources', () => {
    expect(refusedWith(() => limit(['8000:80'], ['8001=10.0.0.0/8'])).message).toMatch(/no -p publishes host port 8001/);
    expect(refusedWith(() => limit(['8000:80'], ['8000/udp=10.0.0.0/8'])).message).toMatch(/no -p publishes host port 8000\/udp/);
    expect(refusedWith(() => limit(['80'], ['80=10.0.0.0/8'])).message).toMatch(/no -p publishes host port 80/);
    expect(refusedWith(() => limit(['8000:80'], ['x=10.0.0.0/8'])).message).toMatch(/"x" is not a host port/);
    expect(refusedWith(() => limit(['8000:80'], ['70000=10.0.0.0/8'])).message).toMatch(/not a host port/);
    expect(refusedWith(() => limit([], ['10.0.0.0/8'])).message).toMatch(/there is no -p to limit/);
    const many = Array.from({ length: 65 }, (_, i) => `10.0.${i}.1`).join(',');
    expect(refusedWith(() => limit(['8000:80'], [many])).message).toMatch(/65 sources; at most 64/);
  });
});

const net = fixtureNetwork({ name: 'app', index: 1, ipv6: true });
const networks = new Map([[net.id, net]]);

describe('resolvePublishedPorts with sources', () => {
  const ctx = { others: [], networks, hostAddresses: new Set(['10.231.0.2']) };
  it('refuses two -p to the same container port with different sources (told apart only after DNAT)', () => {
    const sb = fixtureSandbox('web', 0, [net], limit(['8000:80', '8001:80'], ['8000=10.0.0.0/8']));
    expect(refusedWith(() => resolvePublishedPorts(sb, ctx)).message).toMatch(/-p 8000:80\/tcp and -p 8001:80\/tcp lead to the same container port with different sources/);
    const overlap = fixtureSandbox('web', 0, [net], limit(['8000-8009:80-89', '9000:85'], ['9000=10.0.0.0/8']));
    expect(refusedWith(() => resolvePublishedPorts(overlap, ctx)).message).toMatch(/same container port/);
  });
  it('accepts the same sources, other protocols, other container ports', () => {
    for (const [specs, from] of [
      [['8000:80', '8001:80'], ['10.0.0.0/8']],
      [['8000:80', '8000:80/udp'], ['8000/tcp=10.0.0.0/8']],
      [['8000:80', '9000:90'], ['8000=10.0.0.0/8']],
    ] as const) {
      expect(() => resolvePublishedPorts(fixtureSandbox('web', 0, [net], limit([...specs], [...from])), ctx)).not.toThrow();
    }
  });
});

describe('the sets and the rule', () => {
  const web = fixtureSandbox('web', 0, [net], limit(['8000:80', '9000:90', '20000-20999:20000-20999'], ['8000=10.0.0.0/8,192.168.1.5,fd00:99::/64', '20000=10.1.0.0/16']));
  it('one limited element per port and family, one allowed element per source, a range whole', () => {
    const m = modelOf([net], [web]);
    expect([...m.limited4.keys()].sort()).toEqual(['20000-20999 . tcp . 172.19.0.2 . 0.0.0.0/0', '80 . tcp . 172.19.0.2 . 0.0.0.0/0']);
    expect([...m.allowed4.keys()].sort()).toEqual([
      '20000-20999 . tcp . 172.19.0.2 . 0.0.0.0/0 . 10.1.0.0/16',
      '80 . tcp . 172.19.0.2 . 0.0.0.0/0 . 10.0.0.0/8',
      '80 . tcp . 172.19.0.2 . 0.0.0.0/0 . 192.168.1.5',
    ]);
    // The range has no IPv6 source: it is limited on IPv6 too, to nobody.
    expect([...m.limited6.keys()].sort()).toEqual(['20000-20999 . tcp . fd00:2::2 . ::/0', '80 . tcp . fd00:2::2 . ::/0']);
    expect([...m.allowed6.keys()]).toEqual(['80 . tcp . fd00:2::2 . ::/0 . fd00:99::/64']);
  });
  it('the forward chain checks them first, with one rule per family whatever the number of ports', () => {
    const fwd = inetChains().find((c) => c.name === 'forward')!;
    expect(fwd.rules.slice(0, 2)).toEqual([RULES.sources4, RULES.sources6]);
    const many = Array.from({ length: 1000 }, (_, i) => `${30000 + i}:${30000 + i}`);
    const big = fixtureSandbox('big', 1, [net], limit(many, ['10.0.0.0/8']));
    const small = fixtureSandbox('small', 1, [net], limit(many.slice(0, 10), ['10.0.0.0/8']));
    // Rules: the lines of chain blocks after their hook line.
    const rules = (t: string) => t.split('\tchain ').slice(1).reduce((n, c) => n + c.split('\n\t}')[0]!.split('\n').slice(1).filter((l) => !l.includes(' hook ')).length, 0);
    const tBig = renderInetTable(modelOf([net], [big]));
    const tSmall = renderInetTable(modelOf([net], [small]));
    expect(rules(tSmall)).toBe(inetChains().reduce((n, c) => n + c.rules.length, 0));
    expect(rules(tBig)).toBe(rules(tSmall));
    expect(elementCount(modelOf([net], [big]))).toBeGreaterThan(elementCount(modelOf([net], [small])) + 3000);
  });
  it('`yard port` lines say the sources per family', () => {
    expect(dockerPortLines(web.ports!.slice(0, 2), true, true)).toEqual([
      '80/tcp -> 0.0.0.0:8000 (from 10.0.0.0/8, 192.168.1.5)',
      '80/tcp -> [::]:8000 (from fd00:99::/64)',
      '90/tcp -> 0.0.0.0:9000',
      '90/tcp -> [::]:9000',
    ]);
    expect(dockerPortLines(web.ports!.slice(0, 1), true)).toEqual(['80/tcp -> 0.0.0.0:8000', '80/tcp -> [::]:8000']);
  });
});

describe('explain --from', () => {
  const web = fixtureSandbox('web', 0, [net], limit(['8000:80', '9000:90', '127.0.0.1:7000:70'], ['8000=10.0.0.0/8,fd00:99::/64']));
  const from = (addr: string, chains = inetChains()) => explainPorts(web, networks, [web], [], chains, { from: addr }).map((e) => e.from!);
  it('names the allowed element that lets a client in', () => {
    const [p8000, p9000] = from('10.9.9.9');
    expect(p8000).toEqual({ address: '10.9.9.9', allowed: true, why: expect.stringContaining('10.0.0.0/8 is one of'), decidedBy: 'set allowed4 element 80 . tcp . 172.19.0.2 . 0.0.0.0/0 . 10.0.0.0/8' });
    expect(p9000.allowed).toBe(true);
    expect(p9000.why).toContain('not limited');
    expect(from('fd00:99::5')[0]!.decidedBy).toBe('set allowed6 element 80 . tcp . fd00:2::2 . ::/0 . fd00:99::/64');
  });
  it('names the limited element and the rule that refuse the others', () => {
    const [p8000, p9000, p7000] = from('192.168.1.5');
    expect(p8000.allowed).toBe(false);
    expect(p8000.decidedBy).toBe(`set limited4 element 80 . tcp . 172.19.0.2 . 0.0.0.0/0 and forward "${RULES.sources4}"`);
    expect(p9000.allowed).toBe(true); // positive control: same client, unlimited port
    expect(p7000.allowed).toBe(false);
    expect(p7000.decidedBy).toContain('loopback-guard');
  });
  it('does not claim a refusal when the kernel lacks the rule', () => {
    const chains = inetChains().map((c) => ({ ...c, rules: c.rules.filter((r) => r !== RULES.sources4) }));
    const [p8000] = from('192.168.1.5', chains);
    expect(p8000.allowed).toBe(true);
    expect(p8000.why).toMatch(/lacks the rule/);
  });
  it('the reach lines say the port is limited', () => {
    const [e] = explainPorts(web, networks, [web], [], inetChains());
    expect(e!.reach.find((r) => r.who === 'LAN')!.why).toContain('from 10.0.0.0/8, fd00:99::/64 only');
    expect(e!.rules[0]).toBe(`inet switchyard forward: ${RULES.sources4}`);
  });
});
