import { describe, expect, it } from 'vitest';
import { YardError } from '../errors.js';
import { parsePortSpec } from '../model/ports.js';
import type { NetworkRecord, SandboxRecord } from '../model/types.js';
import { fixtureNetwork, fixtureSandbox } from '../../test/fixtures/firewall/fixtures.js';
import { resolvePublishedPorts } from './publish.js';

const app = fixtureNetwork({ name: 'app', index: 1 });
const internal = fixtureNetwork({ name: 'secret', index: 2, internal: true });
const host: NetworkRecord = { ...fixtureNetwork({ name: 'host', index: 3 }), driver: 'host', ipam: { driver: 'default', options: {}, config: [] } };
const networks = new Map([app, internal, host].map((n) => [n.id, n] as const));
const hostAddresses = new Set(['127.0.0.1', '10.231.0.2', '::1']);

function sandbox(name: string, nets: NetworkRecord[], specs: string[], i = 5): SandboxRecord {
  return fixtureSandbox(name, i, nets, specs.map(parsePortSpec));
}

function refused(sb: SandboxRecord, others: SandboxRecord[] = []): YardError {
  try {
    resolvePublishedPorts(sb, { others, networks, hostAddresses });
  } catch (e) {
    expect(e).toBeInstanceOf(YardError);
    expect((e as YardError).field).toBe('-p');
    return e as YardError;
  }
  throw new Error('accepted');
}

describe('resolvePublishedPorts', () => {
  const web = sandbox('web', [app], ['8080:80', '127.0.0.1:9090:90'], 0);

  it('names the sandbox that already holds a host port', () => {
    const e = refused(sandbox('web2', [app], ['10.231.0.2:8080:81']), [web]);
    expect(e.code).toBe('PORT_IN_USE');
    expect(e.message).toBe('-p 10.231.0.2:8080:81/tcp: host port 10.231.0.2:8080/tcp is already published by sandbox web (-p 8080:80/tcp)');
    expect(e.hint).toContain('yard rm -f web');
    expect(refused(sandbox('w', [app], ['8080:80', '8080:81'])).message).toMatch(/already published by another -p of this sandbox/);
  });

  it('allows the same port on another protocol or another address', () => {
    const sb = sandbox('dns', [app], ['8080:53/udp', '10.231.0.2:9090:90']);
    resolvePublishedPorts(sb, { others: [web], networks, hostAddresses });
    expect(sb.ports!.map((p) => p.hostPort)).toEqual([8080, 9090]);
  });

  it('refuses a host address the host does not have, ::1, internal, host and none networks', () => {
    expect(refused(sandbox('a', [app], ['10.9.9.9:80:80'])).message).toMatch(/10\.9\.9\.9 is not an address of this host/);
    expect(refused(sandbox('a', [app], ['[::1]:80:80'])).code).toBe('PUBLISH_NOT_ALLOWED');
    const i = refused(sandbox('a', [internal], ['80:80']));
    expect([i.code, i.message]).toEqual(['PUBLISH_NOT_ALLOWED', '-p 80:80/tcp: network secret is --internal, so nothing outside it can reach its ports']);
    expect(refused(sandbox('a', [host], ['80:80'])).message).toMatch(/on the host network cannot publish/);
  });

  it('chooses free host ports for -p 80 and for a host range with one container port', () => {
    const taken = sandbox('t', [app], ['32768:1', '8000-8001:8000-8001'], 1);
    const sb = sandbox('a', [app], ['80', '8000-8010:80', '90-91']);
    resolvePublishedPorts(sb, { others: [taken], networks, hostAddresses });
    expect(sb.ports!.map((p) => [p.hostPort, p.hostPortEnd])).toEqual([[32769, 32769], [8002, 8002], [32770, 32771]]);
    expect(sb.ports!.every((p) => p.hostRangeChoice === undefined)).toBe(true);
    const full = refused(sandbox('b', [app], ['8000-8001:80']), [taken]);
    expect([full.code, full.message]).toEqual(['PORT_IN_USE', '-p 8000-8001:80/tcp: no free host port left in 8000-8001']);
  });
});

describe('resolvePublishedPorts at scale (linear in the ports involved)', () => {
  const specs = (n: number, f: (i: number) => string) => Array.from({ length: n }, (_, i) => f(i));
  /** Resolves and returns the milliseconds it took. */
  const timed = (sb: SandboxRecord, others: SandboxRecord[] = []) => {
    const t0 = performance.now();
    resolvePublishedPorts(sb, { others, networks, hostAddresses });
    return performance.now() - t0;
  };

  for (const n of [10_000, 20_000]) {
    it(`${n} distinct host ports, and ${n} ephemeral picks around 4,000 taken ports, each in well under 1 s`, () => {
      const distinct = sandbox('d', [app], specs(n, (i) => `${10_000 + i}:80`));
      expect(timed(distinct)).toBeLessThan(1_000);
      expect(distinct.ports!.at(-1)!.hostPort).toBe(10_000 + n - 1);

      // Another sandbox holds every other port from 32768 on (4,000 of them): the picks must
      // skip them (and one another) and still come out in order.
      const holder = sandbox('h', [app], specs(4_000, (i) => `${32768 + 2 * i}:1`), 1);
      resolvePublishedPorts(holder, { others: [], networks, hostAddresses });
      const picks = sandbox('p', [app], specs(n, () => '80'));
      expect(timed(picks, [holder])).toBeLessThan(1_000);
      const got = picks.ports!.map((p) => p.hostPort);
      expect(new Set(got).size).toBe(n);
      expect(got.slice(0, 3)).toEqual([32769, 32771, 32773]);
      const held = new Set(holder.ports!.map((p) => p.hostPort));
      expect(got.some((p) => held.has(p))).toBe(false);
      expect(Math.max(...got)).toBe(32768 + n + 4_000 - 1);
    });
  }

  it('a 10,000-port range (same and shifted), host-range choices and ranged picks, in well under 1 s', () => {
    const range = sandbox('r', [app], ['20000-29999:20000-29999', '10000-19999:40000-49999/udp']);
    expect(timed(range)).toBeLessThan(1_000);
    // 10,000 `-p 20000-29999:80`: each takes the first port of the range still free; and
    // ranged picks (`-p 80-82`) of three ports each, beside single ones.
    const choices = sandbox('c', [app], [...specs(10_000, () => '20000-29999:80/udp'), ...specs(3_000, () => '80-82'), ...specs(1_000, () => '80')]);
    expect(timed(choices, [range])).toBeLessThan(1_000);
    const ps = choices.ports!;
    expect(ps.slice(0, 10_000).map((p) => p.hostPort)).toEqual(specs(10_000, (i) => String(20_000 + i)).map(Number));
    expect(ps[10_000]).toMatchObject({ hostPort: 32768, hostPortEnd: 32770 });
    expect(ps[12_999]).toMatchObject({ hostPort: 32768 + 3 * 2999, hostPortEnd: 32768 + 3 * 2999 + 2 });
    expect(ps[13_000]).toMatchObject({ hostPort: 32768 + 9000, hostPortEnd: 32768 + 9000 });
    // The udp range 20000-29999 is now full: one more choice in it is refused.
    const full = refused(sandbox('f', [app], ['20000-29999:80/udp']), [range, choices]);
    expect([full.code, full.message]).toEqual(['PORT_IN_USE', '-p 20000-29999:80/udp: no free host port left in 20000-29999']);
  });

  it('still finds a clash among 20,000 published ports, through the wildcard addresses too', () => {
    const app6 = fixtureNetwork({ name: 'app6', index: 4, ipv6: true });
    networks.set(app6.id, app6);
    const sandbox6 = (name: string, specs: string[], i = 5) => sandbox(name, [app6], specs, i);
    const big = sandbox6('big', ['10000-29999:10000-29999', '127.0.0.1:40000-49999:40000-49999', '[::]:50000-50999:50000-50999']);
    resolvePublishedPorts(big, { others: [], networks, hostAddresses });
    const clash = (spec: string) => {
      const t0 = performance.now();
      const e = refused(sandbox6('x', [spec]), [big]);
      expect(performance.now() - t0).toBeLessThan(1_000);
      return e.message;
    };
    // Positive: every address vs every address, a specific address vs every address, and
    // every address vs a specific one, IPv6 wildcard vs "every address".
    expect(clash('29999:80')).toMatch(/host port 0\.0\.0\.0:29999\/tcp is already published by sandbox big \(-p 10000-29999:10000-29999\/tcp\)/);
    expect(clash('10.231.0.2:15000:80')).toMatch(/already published by sandbox big/);
    expect(clash('45000:80')).toMatch(/already published by sandbox big \(-p 127\.0\.0\.1:40000-49999:40000-49999\/tcp\)/);
    expect(clash('9000-10000:9000-10000')).toMatch(/already published by sandbox big/);
    expect(clash('50500:80')).toMatch(/-p \[::\]:50000-50999/);
    // Negative: next to the range, another protocol, another address, the other family.
    const ok = sandbox6('y', ['30000:80', '15000:80/udp', '10.231.0.2:45000:80', '0.0.0.0:50500:80', '9000-9999:9000-9999']);
    resolvePublishedPorts(ok, { others: [big], networks, hostAddresses });
    expect(ok.ports!.map((p) => p.hostPort)).toEqual([30000, 15000, 45000, 50500, 9000]);
    // An ephemeral pick on 10.231.0.2 skips ports held on every address, not those on 127.0.0.1.
    const pick = sandbox6('z', ['10.231.0.2::80']);
    const wide = sandbox6('w', ['32768-32800:32768-32800', '127.0.0.1:32801:1'], 2);
    resolvePublishedPorts(wide, { others: [], networks, hostAddresses });
    resolvePublishedPorts(pick, { others: [wide], networks, hostAddresses });
    expect(pick.ports![0]!.hostPort).toBe(32801);
  });
});
