/**
 * Bad input is refused before the kernel is touched: exit 1, one line `error: ...` that
 * names the flag (or the thing) at fault, and NOTHING changes — neither the host's links and
 * addresses (`ip -j -d link`, `ip -j addr`), nor its namespaces, nor the daemon's networks
 * and sandboxes. The API answers the same refusals with Docker's statuses and
 * `{"message": ...}` bodies.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { api, ipJson, netnsList, ok, withLab, yard, type RunResult } from './helpers.js';
import type { LabHost } from '../../src/lab/lab.js';

const lab = withLab('bad');
const h = () => lab.host(1);

/** Everything a refused request must leave as it was. Timers, lifetimes and IPv6 DAD state change by themselves. */
async function snapshot(host: LabHost): Promise<string> {
  const volatile = (k: string, v: unknown) => (/_timer$|_life_time$|^tentative$/.test(k) ? undefined : v);
  const [links, addrs, nets, sbs] = await Promise.all([
    ipJson(host, ['-d', 'link', 'show']),
    ipJson(host, ['addr', 'show']),
    // The same lists as `yard network ls -q --no-trunc` and `yard ps -aq --no-trunc`, read
    // through the API: one curl costs a tenth of a `yard` start, and this runs twice a case.
    api(host, 'GET', '/networks'),
    api(host, 'GET', '/yard/v1/sandboxes?all=1'),
  ]);
  return [
    JSON.stringify(links, volatile),
    JSON.stringify(addrs, volatile),
    netnsList(host).sort().join(' '),
    (nets.body as { Id: string }[]).map((n) => n.Id).sort().join(' '),
    (sbs.body as { Id: string }[]).map((s) => s.Id).sort().join(' '),
  ].join('\n');
}

/** The refusal a user sees: exit 1 and exactly one line on stderr, starting `error: `. */
function expectOneLineError(r: RunResult, pattern: RegExp): void {
  expect(r.code, r.stdout + r.stderr).toBe(1);
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^error: /);
  expect(lines[0]).toMatch(pattern);
  expect(lines[0]).not.toMatch(/\[INTERNAL\]|internal error/);
}

// [what, yard arguments, what the one line must say (naming the flag and value)]
const CASES: [string, string[], RegExp][] = [
  ['malformed subnet', ['network', 'create', '--subnet', '10.20.0.0/33', 'm1'], /--subnet 10\.20\.0\.0\/33 is not a valid/],
  ['garbage subnet', ['network', 'create', '--subnet', 'banana', 'm1'], /--subnet banana/],
  ['overlapping subnet', ['network', 'create', '--subnet', '10.20.0.128/25', 'm2'], /--subnet 10\.20\.0\.128\/25 overlaps 10\.20\.0\.0\/24 of network app2/],
  ['subnet with host bits', ['network', 'create', '--subnet', '10.21.0.1/24', 'm3'], /--subnet 10\.21\.0\.1\/24 has host bits set; use 10\.21\.0\.0\/24/],
  ['gateway outside the subnet', ['network', 'create', '--subnet', '10.21.0.0/24', '--gateway', '10.22.0.1', 'm4'], /--gateway 10\.22\.0\.1 is outside its --subnet 10\.21\.0\.0\/24/],
  ['ip-range outside the subnet', ['network', 'create', '--subnet', '10.21.0.0/24', '--ip-range', '10.22.0.0/28', 'm5'], /--ip-range 10\.22\.0\.0\/28 is not inside its --subnet 10\.21\.0\.0\/24/],
  ['duplicate network name', ['network', 'create', 'app2'], /network with name app2 already exists/],
  ['predefined name', ['network', 'create', 'host'], /host is a pre-defined network/],
  ['unknown driver', ['network', 'create', '-d', 'nosuch', 'm6'], /driver "?nosuch"? not found/],
  ['unknown option', ['network', 'create', '-o', 'com.example.nosuch=1', 'm7'], /-o com\.example\.nosuch|option com\.example\.nosuch/],
  ['bridge name over 15 characters', ['network', 'create', '-o', 'com.docker.network.bridge.name=br-abcdefghijklm', 'm8'], /com\.docker\.network\.bridge\.name br-abcdefghijklm is 16 characters long/],
  ['bridge name already taken by a host link', ['network', 'create', '-o', 'com.docker.network.bridge.name=lan0', 'm8'], /-o com\.docker\.network\.bridge\.name=lan0: a link named lan0 already exists/],
  ['bad mtu', ['network', 'create', '-o', 'com.docker.network.driver.mtu=abc', 'm9'], /com\.docker\.network\.driver\.mtu=abc is not a valid MTU/],
  ['malformed -o', ['network', 'create', '-o', 'novalue', 'm9'], /--opt novalue is not key=value/],
  ['rm a network with sandboxes', ['network', 'rm', 'app2'], /network app2 id [0-9a-f]{64} has active endpoints/],
  ['rm bridge', ['network', 'rm', 'bridge'], /bridge is a pre-defined network and cannot be removed/],
  ['rm host', ['network', 'rm', 'host'], /host is a pre-defined network and cannot be removed/],
  ['rm none', ['network', 'rm', 'none'], /none is a pre-defined network and cannot be removed/],
  ['rm an unknown network', ['network', 'rm', 'nosuch'], /network nosuch not found/],
  ['--ip outside every subnet', ['run', '-d', '--network', 'app2', '--ip', '10.99.0.5', '--', 'sleep', '60'],
    /--ip 10\.99\.0\.5 is outside network app2's subnets \(10\.20\.0\.0\/24\); pick /],
  ['--ip in use', ['run', '-d', '--network', 'app2', '--ip', '10.20.0.10', '--', 'sleep', '60'], /--ip 10\.20\.0\.10 is already used by sandbox holder/],
  ['--ip is the gateway', ['run', '-d', '--network', 'app2', '--ip', '10.20.0.1', '--', 'sleep', '60'], /--ip 10\.20\.0\.1 is network app2's gateway/],
  ['--ip malformed', ['run', '-d', '--network', 'app2', '--ip', '10.20.0.300', '--', 'sleep', '60'], /--ip 10\.20\.0\.300 is not a valid IP address/],
  ['--ip on the default bridge', ['run', '-d', '--ip', '172.17.0.9', '--', 'sleep', '60'], /--ip 172\.17\.0\.9.*user defined networks only/],
  ['host together with another network', ['run', '-d', '--network', 'host', '--network', 'app2', '--', 'sleep', '60'], /network host together with other networks/],
  ['an unknown network', ['run', '-d', '--network', 'nosuch', '--', 'sleep', '60'], /network nosuch not found/],
  ['a taken sandbox name', ['run', '-d', '--name', 'holder', '--network', 'app2', '--', 'sleep', '60'], /sandbox name "holder" is already in use/],
  ['connect to a network twice', ['network', 'connect', 'app2', 'holder'], /holder.*already exists in network app2/],
  ['connect a host sandbox', ['network', 'connect', 'app2', 'onhost'], /onhost.*host network/],
];

describe('bad input', () => {
  beforeAll(async () => {
    await ok(yard(h(), 'network', 'create', '--subnet', '10.20.0.0/24', 'app2'));
    await ok(yard(h(), 'run', '-d', '--name', 'holder', '--network', 'app2', '--ip', '10.20.0.10', '--', 'sleep', '600'));
    await ok(yard(h(), 'run', '-d', '--name', 'onhost', '--network', 'host', '--', 'sleep', '600'));
  });

  it.each(CASES)('refuses %s with one line naming the field, and changes nothing', async (_what, args, pattern) => {
    const before = await snapshot(h());
    const r = await yard(h(), ...args);
    expectOneLineError(r, pattern);
    expect(await snapshot(h())).toBe(before);
  });

  it('answers the API with Docker\'s statuses and {"message"} bodies, changing nothing', async () => {
    const before = await snapshot(h());
    const cases: [string, string, unknown, number, RegExp][] = [
      ['POST', '/networks/create', { Name: 'm1', IPAM: { Config: [{ Subnet: '10.20.0.0/33' }] } }, 400, /10\.20\.0\.0\/33/],
      ['POST', '/networks/create', { Name: 'm2', IPAM: { Config: [{ Subnet: '10.21.0.0/24', Gateway: '10.22.0.1' }] } }, 400, /10\.22\.0\.1/],
      ['POST', '/networks/create', { Name: 'm3', Options: { 'com.docker.network.driver.mtu': 'abc' } }, 400, /mtu=abc/],
      ['POST', '/networks/create', { Driver: 'bridge' }, 400, /Name/],
      ['POST', '/v1.41/networks/create', { Name: 'app2' }, 409, /network with name app2 already exists/],
      ['POST', '/networks/create', { Name: 'm4', IPAM: { Config: [{ Subnet: '10.20.0.0/16' }] } }, 409, /overlaps/],
      ['POST', '/networks/create', { Name: 'm5', Driver: 'nosuch' }, 404, /nosuch/],
      ['DELETE', '/networks/bridge', undefined, 403, /pre-defined/],
      ['DELETE', '/v1.41/networks/app2', undefined, 403, /has active endpoints/],
      ['DELETE', '/networks/nosuch', undefined, 404, /network nosuch not found/],
      ['POST', '/networks/app2/connect', { Container: 'nosuch' }, 404, /sandbox nosuch not found/],
      ['POST', '/networks/app2/connect', { Container: 'holder' }, 403, /already exists in network app2/],
      ['POST', '/yard/v1/sandboxes', { networks: [{ network: 'app2', ip: '10.99.0.5' }], command: ['sleep', '60'], detached: true }, 400, /--ip 10\.99\.0\.5 is outside/],
      ['POST', '/yard/v1/sandboxes', { networks: [{ network: 'app2', ip: '10.20.0.10' }], command: ['sleep', '60'], detached: true }, 409, /already used by sandbox holder/],
      ['GET', '/v9.99/networks', undefined, 400, /too new/],
    ];
    for (const [method, path, body, status, pattern] of cases) {
      const r = await api(h(), method, path, body);
      expect([method, path, r.status], JSON.stringify(r.body)).toEqual([method, path, status]);
      expect(typeof r.body?.message, `${method} ${path}: ${JSON.stringify(r.body)}`).toBe('string');
      expect(r.body.message).toMatch(pattern);
    }
    expect(await snapshot(h())).toBe(before);
  });
});
