/**
 * Bad input is refused before the kernel is touched: exit 1, one line `error: ...` that
 * names the flag (or the thing) at fault, and NOTHING changes — neither the host's links and
 * addresses (`ip -j -d link`, `ip -j addr`), nor its namespaces, nor the daemon's networks
 * and sandboxes. The API answers the same refusals with Docker's statuses and
 * `{"message": ...}` bodies.
 */
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { api, exec, rawApi, inspectSandbox, ipJson, kernelSettled, netnsList, ok, pidAlive, withLab, yard, type RunResult } from './helpers.js';
import type { LabHost } from '../../src/lab/lab.js';

const lab = withLab('bad');
const h = () => lab.host(1);

/** Everything a refused request must leave as it was. Timers, lifetimes and IPv6 DAD state change by themselves. */
async function snapshot(host: LabHost): Promise<string> {
  const volatile = (k: string, v: unknown) => (/_timer$|_life_time$|^tentative$/.test(k) ? undefined : v);
  await kernelSettled(host);
  const [links, addrs, nets, sbs] = await Promise.all([
    ipJson(host, ['-d', 'link', 'show']),
    ipJson(host, ['addr', 'show']),
    // The same lists as `yard network ls -q --no-trunc` and `yard ps -aq --no-trunc`, read
    // through the API: one curl costs a tenth of a `yard` start, and this runs twice a case.
    api(host, 'GET', '/networks'),
    api(host, 'GET', '/yard/v1/sandboxes?all=1'),
  ]);
  // Per-sandbox directories (logs) and /etc/netns files: a refused run leaves none.
  const dirs = (d: string) => (fs.existsSync(d) ? fs.readdirSync(d).sort().join(' ') : '');
  return [
    JSON.stringify(links, volatile),
    JSON.stringify(addrs, volatile),
    netnsList(host).sort().join(' '),
    dirs(path.join(host.stateDir, 'sandboxes')),
    dirs('/etc/netns').split(' ').filter((n) => n.startsWith(`yard-${host.name}-`)).join(' '),
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
  ['a program that does not exist', ['run', '-d', '--network', 'app2', '--', 'no-such-program-here', '60'], /cannot run "no-such-program-here": no such program, or not executable/],
  ['a taken sandbox name', ['run', '-d', '--name', 'holder', '--network', 'app2', '--', 'sleep', '60'], /sandbox name "holder" is already in use/],
  ['connect to a network twice', ['network', 'connect', 'app2', 'holder'], /holder.*already exists in network app2/],
  ['connect a host sandbox', ['network', 'connect', 'app2', 'onhost'], /onhost.*host network/],
  // What reaches /etc/resolv.conf, /etc/hosts and DNS: one value, one line, one name.
  ['--dns-search that adds a nameserver line', ['run', '-d', '--network', 'app2', '--dns-search', 'lab\nnameserver 6.6.6.6', '--', 'sleep', '60'], /--dns-search "lab\\nnameserver 6\.6\.6\.6" has a label/],
  ['--dns-option that adds a nameserver line', ['run', '-d', '--network', 'app2', '--dns-option', 'ndots:1\nnameserver 6.6.6.6', '--', 'sleep', '60'], /--dns-option "ndots:1\\nnameserver 6\.6\.6\.6" is not a resolv\.conf option/],
  ['--hostname that adds a hosts entry', ['run', '-d', '--network', 'app2', '--hostname', 'h\n6.6.6.6 evil', '--', 'sleep', '60'], /--hostname "h\\n6\.6\.6\.6 evil" has a label/],
  ['--add-host with no address', ['run', '-d', '--network', 'app2', '--add-host', 'a:notanip', '--', 'sleep', '60'], /--add-host "a:notanip": "notanip" is not an IP address/],
  ['--network-alias with a slash', ['run', '-d', '--network', 'app2', '--network-alias', 'a/b', '--', 'sleep', '60'], /--network-alias "a\/b" has a label "a\/b" with characters/],
  ['--network-alias of 300 characters', ['run', '-d', '--network', 'app2', '--network-alias', 'a'.repeat(300), '--', 'sleep', '60'], /--network-alias "a{40}\.\.\." is 300 characters long/],
  ['connect --alias that is empty', ['network', 'connect', '--alias', '', 'bridge', 'holder'], /--alias "" is empty/],
  ['--dns 0.0.0.0', ['run', '-d', '--network', 'app2', '--dns', '0.0.0.0', '--', 'sleep', '60'], /--dns 0\.0\.0\.0 is the unspecified address/],
  ['--dns 224.0.0.1', ['run', '-d', '--network', 'app2', '--dns', '224.0.0.1', '--', 'sleep', '60'], /--dns 224\.0\.0\.1 is a multicast address/],
  ['-p with a trailing newline', ['run', '-d', '--network', 'app2', '-p', '8090:80\n', '--', 'sleep', '60'], /-p "8090:80\\n": the value has blanks, line breaks or control characters/],
  // Network options the kernel or Docker would refuse later (or never).
  ['bridge name all', ['network', 'create', '-o', 'com.docker.network.bridge.name=all', 'm10'], /com\.docker\.network\.bridge\.name all is a name the kernel reserves/],
  ['bridge name default', ['network', 'create', '-o', 'com.docker.network.bridge.name=default', 'm10'], /com\.docker\.network\.bridge\.name default is a name the kernel reserves/],
  ['enable_icc with an empty value', ['network', 'create', '-o', 'com.docker.network.bridge.enable_icc=', 'm11'], /-o com\.docker\.network\.bridge\.enable_icc="" is not a boolean/],
  ['enable_icc=yes (not a Go boolean)', ['network', 'create', '-o', 'com.docker.network.bridge.enable_icc=yes', 'm11'], /enable_icc=yes is not a boolean/],
  ['host_binding_ipv4=x', ['network', 'create', '-o', 'com.docker.network.bridge.host_binding_ipv4=x', 'm12'], /host_binding_ipv4="x" is not an IP address/],
  ['macvlan on loopback', ['network', 'create', '-d', 'macvlan', '--subnet', '10.44.0.0/24', '-o', 'parent=lo', 'mv1'], /-o parent=lo: lo is the loopback interface/],
  ['macvlan on Switchyard\'s own bridge', ['network', 'create', '-d', 'macvlan', '--subnet', '10.44.0.0/24', '-o', 'parent=yard0', 'mv2'], /-o parent=yard0: yard0 is a link Switchyard manages/],
  ['--ip-range that is only the network address', ['network', 'create', '--subnet', '10.45.0.0/24', '--ip-range', '10.45.0.0/32', 'r1'], /--ip-range 10\.45\.0\.0\/32 has no address left for sandboxes/],
  ['--ip-range that is only the broadcast address', ['network', 'create', '--subnet', '10.45.0.0/24', '--ip-range', '10.45.0.255/32', 'r2'], /--ip-range 10\.45\.0\.255\/32 has no address left for sandboxes/],
  ['an IPv4-mapped IPv6 subnet', ['network', 'create', '--ipv6', '--subnet', '::ffff:0:0/96', 'v6a'], /--subnet ::ffff:0:0\/96 overlaps the IPv4-mapped range/],
  ['an IPv4-compatible IPv6 subnet', ['network', 'create', '--ipv6', '--subnet', '::a00:0/104', 'v6b'], /overlaps the IPv4-compatible range/],
  ['a NAT64 subnet', ['network', 'create', '--ipv6', '--subnet', '64:ff9b::/96', 'v6c'], /overlaps the NAT64 range 64:ff9b::\/96/],
  ['a 6to4 subnet', ['network', 'create', '--ipv6', '--subnet', '2002:a00::/24', 'v6d'], /overlaps the 6to4 range 2002::\/16/],
  ['a /3 IPv4 subnet', ['network', 'create', '--subnet', '192.0.0.0/3', 'huge4'], /--subnet 192\.0\.0\.0\/3 is larger than a \/8/],
  ['a /3 IPv6 subnet', ['network', 'create', '--ipv6', '--subnet', '2000::/3', 'huge6'], /--subnet 2000::\/3 is larger than a \/16/],
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
      ['POST', '/networks/create', { Name: 'm4', IPAM: { Config: [{ Subnet: '10.20.0.0/16' }] } }, 403, /^Pool overlaps with other one on this address space: .*overlaps/],
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

  it('positive control: the same sandbox flags with good values work and reach the files as one line each', async () => {
    await ok(yard(h(), 'run', '-d', '--name', 'good', '--network', 'app2', '--hostname', 'web-1', '--dns', '10.231.0.1', '--dns-search', 'lab',
      '--dns-option', 'ndots:2', '--add-host', 'db:10.0.0.5', '--network-alias', 'api', '-p', '8090:80', '-e', 'APP_MODE=x', '--', 'sleep', '600'));
    try {
      const sb = await inspectSandbox(h(), 'good');
      const cat = async (f: string) => ok(exec(h(), ['ip', 'netns', 'exec', sb.Netns, 'cat', f]));
      const resolv = (await cat('/etc/resolv.conf')).split('\n').filter((l) => !l.startsWith('#'));
      expect(resolv).toEqual(['nameserver 127.0.0.11', 'search lab', 'options ndots:2']);
      const hosts = (await cat('/etc/hosts')).split('\n');
      expect(hosts).toContain('10.0.0.5\tdb');
      expect(hosts.filter((l) => /\bweb-1\b/.test(l))).toEqual([`${sb.NetworkSettings.Networks.app2.IPAddress}\tweb-1 good`]);
      expect(sb.NetworkSettings.Networks.app2.Aliases).toEqual(['api']);
      expect(sb.HostConfig.PortBindings['80/tcp']).toEqual([{ HostIp: '', HostPort: '8090' }]);
      // The same --dns-search/--hostname with a newline were refused above: no such line anywhere.
      expect(resolv.join('\n')).not.toContain('6.6.6.6');
      // connect --alias: a good alias connects (the bad ones above changed nothing).
      await ok(yard(h(), 'network', 'create', '--subnet', '10.46.0.0/24', 'side'));
      await ok(yard(h(), 'network', 'connect', '--alias', 'side-api', 'side', 'good'));
      expect((await inspectSandbox(h(), 'good')).NetworkSettings.Networks.side.Aliases).toEqual(['side-api']);
    } finally {
      await yard(h(), 'rm', '-f', 'good');
      await yard(h(), 'network', 'rm', 'side');
    }
  });

  it('positive control: the same network options with good values are taken', async () => {
    const created = ['okb', 'okr', 'ok6', 'okmv'];
    try {
      await ok(yard(h(), 'network', 'create', '-o', 'com.docker.network.bridge.name=br-okb', '-o', 'com.docker.network.bridge.enable_icc=False',
        '-o', 'com.docker.network.bridge.host_binding_ipv4=127.0.0.1', 'okb'));
      await ok(yard(h(), 'network', 'create', '--subnet', '10.45.0.0/24', '--ip-range', '10.45.0.8/32', 'okr'));
      await ok(yard(h(), 'network', 'create', '--ipv6', '--subnet', 'fd00:45::/64', '--subnet', '10.47.0.0/16', 'ok6'));
      await ok(yard(h(), 'network', 'create', '-d', 'macvlan', '--subnet', '10.231.0.0/24', '--ip-range', '10.231.0.224/27', '-o', 'parent=lan0',
        '-o', 'host_access=true', '-o', 'host_access_address=10.231.0.250', 'okmv'));
      const links = (await ipJson<{ ifname: string }[]>(h(), ['link', 'show'])).map((l) => l.ifname);
      expect(links).toContain('br-okb');
      // The /32 range's one address goes to the first sandbox.
      await ok(yard(h(), 'run', '-d', '--name', 'inrange', '--network', 'okr', '--', 'sleep', '600'));
      expect((await inspectSandbox(h(), 'inrange')).NetworkSettings.Networks.okr.IPAddress).toBe('10.45.0.8');
    } finally {
      await yard(h(), 'rm', '-f', 'inrange');
      await yard(h(), 'network', 'rm', ...created);
    }
  });

  it("refuses a macvlan host_access_address that is the host's own address, changing nothing", async () => {
    const before = await snapshot(h());
    const r = await yard(h(), 'network', 'create', '-d', 'macvlan', '--subnet', '10.231.0.0/24', '--ip-range', '10.231.0.224/27', '-o', 'parent=lan0',
      '-o', 'host_access=true', '-o', `host_access_address=${h().lan4}`, 'mvself');
    expectOneLineError(r, new RegExp(`-o host_access_address=${h().lan4.replace(/\./g, '\\.')} is this host's own address \\(on lan0\\)`));
    expect(await snapshot(h())).toBe(before);
  });

  it('answers malformed and type-confused API requests with 400 naming the field, changing nothing', async () => {
    await ok(yard(h(), 'network', 'create', '--subnet', '10.48.0.0/24', 'unused1'));
    try {
      const before = await snapshot(h());
      const q = (f: string) => `filters=${encodeURIComponent(f)}`;
      const cases: [string, string, string | undefined, number, string, RegExp][] = [
        ['GET', `/networks?${q('null')}`, undefined, 400, 'filters', /filters "null" is not a JSON object/],
        ['POST', `/networks/prune?${q('null')}`, undefined, 400, 'filters', /is not a JSON object/],
        ['POST', `/networks/prune?${q('[]')}`, undefined, 400, 'filters', /is not a JSON object/],
        ['POST', `/networks/prune?${q('1')}`, undefined, 400, 'filters', /is not a JSON object/],
        ['POST', `/v1.41/networks/prune?${q('true')}`, undefined, 400, 'filters', /is not a JSON object/],
        ['POST', `/networks/prune?${q('{"label":"x"}')}`, undefined, 400, 'filters', /neither a list of strings nor a map of booleans/],
        ['POST', '/networks/create', JSON.stringify({ Name: 'm20', Options: { 'com.docker.network.bridge.name': 'all' } }), 400, '-o com.docker.network.bridge.name', /reserves/],
        ['POST', '/networks/create', JSON.stringify({ Name: 'm21', Driver: 'macvlan', Options: { parent: 'lo' }, IPAM: { Config: [{ Subnet: '10.44.0.0/24' }] } }), 400, '-o parent', /loopback/],
        ['POST', '/networks/create', JSON.stringify({ Name: 'm22', Options: { 'com.docker.network.bridge.enable_icc': '' } }), 400, '-o com.docker.network.bridge.enable_icc', /is not a boolean/],
        ['POST', '/yard/v1/sandboxes', 'null', 400, 'body', /request body is null, not a JSON object/],
        ['POST', '/yard/v1/sandboxes', '', 400, 'body', /request body is empty/],
        ['POST', '/yard/v1/sandboxes', '{"bogus":1}', 400, 'bogus', /request field bogus is not a known field/],
        ['POST', '/yard/v1/sandboxes', JSON.stringify({ networks: [{ network: 'app2' }], command: ['sleep', '60\u0000'], detached: true }), 400, 'COMMAND', /NUL byte/],
        ['POST', '/yard/v1/sandboxes', JSON.stringify({ networks: [{ network: 'app2' }], command: ['sleep', '60'], env: { A: 'x\u0000y' }, detached: true }), 400, '--env', /NUL byte/],
        ['POST', '/yard/v1/sandboxes', JSON.stringify({ networks: [{ network: 'app2', aliases: Array.from({ length: 10_000 }, (_, i) => `a${i}`) }], command: ['sleep', '60'], detached: true }), 400, '--network-alias', /at most 64/],
        ['POST', '/networks/unused1/connect', JSON.stringify({ Container: 'holder', EndpointConfig: { Aliases: ['a\u0000'] } }), 400, '--alias', /characters other than/],
      ];
      for (const [method, p, body, status, field, pattern] of cases) {
        const r = await rawApi(h(), method, p, body);
        expect([method, p, r.status], JSON.stringify(r.body)).toEqual([method, p, status]);
        expect(r.body, `${method} ${p}`).toMatchObject({ field, message: expect.stringMatching(pattern) });
      }
      expect(await snapshot(h())).toBe(before);
      // Positive controls: a well-formed filter prunes by it (nothing matches here), the unused network is still there.
      const prune = await rawApi(h(), 'POST', `/networks/prune?${q('{"label":["nomatch=1"]}')}`);
      expect(prune).toEqual({ status: 200, body: { NetworksDeleted: [] } });
      const list = await rawApi(h(), 'GET', `/networks?${q('{"name":{"unused1":true}}')}`);
      expect((list.body as { Name: string }[]).map((n) => n.Name)).toEqual(['unused1']);
      const sb = await rawApi(h(), 'POST', '/yard/v1/sandboxes', JSON.stringify({ name: 'apiok', networks: [{ network: 'app2', aliases: ['a1'] }], command: ['sleep', '60'], env: { A: 'x y' }, detached: true }));
      expect(sb.status, JSON.stringify(sb.body)).toBe(201);
    } finally {
      await yard(h(), 'rm', '-f', 'apiok');
      await yard(h(), 'network', 'rm', 'unused1');
    }
  });

  it(`refuses request bodies over 1 MiB with 413 before reading them (Content-Length and chunked); the daemon's memory stays flat`, async () => {
    const pid = h().daemonPid!;
    const before = rssKb(pid);
    const big = await bodyLimitProbe(h(), 'length');
    expect(big, JSON.stringify(big)).toMatchObject({ status: 413 });
    expect(big.body).toMatch(/REQUEST_TOO_LARGE/);
    expect(big.sentBytes).toBeLessThan(64 * 1024 * 1024);
    const chunked = await bodyLimitProbe(h(), 'chunked');
    expect(chunked, JSON.stringify(chunked)).toMatchObject({ status: 413 });
    expect(chunked.body).toMatch(/larger than the daemon's limit of 1048576 bytes/);
    expect(chunked.sentBytes).toBeLessThan(64 * 1024 * 1024);
    const after = rssKb(pid);
    console.log(`body limit: daemon RSS ${Math.round(before / 1024)} MB before, ${Math.round(after / 1024)} MB after; sent ${big.sentBytes} B (Content-Length 600 MiB) and ${chunked.sentBytes} B (chunked) before the 413`);
    expect(after - before).toBeLessThan(64 * 1024);
    expect(pidAlive(pid)).toBe(true);
    // Positive control: a normal body is read and acted on.
    const r = await api(h(), 'POST', '/networks/create', { Name: 'small-body' });
    expect(r.status).toBe(201);
    await ok(yard(h(), 'network', 'rm', 'small-body'));
  });
});

function rssKb(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0);
}

/**
 * A client (inside the host) that sends POST /networks/create with a 600 MiB body, either
 * announced by Content-Length or chunked without a length, writing as fast as the socket
 * takes it until the daemon answers or closes (at most 20 s). It prints the status line,
 * the response body and how many bytes it managed to send.
 */
const PROBE = String.raw`
const net = require('node:net');
const [socket, mode] = process.argv.slice(1);
const TOTAL = 600 * 1024 * 1024;
const chunk = Buffer.alloc(256 * 1024, 0x20);
const s = net.connect(socket);
let sent = 0, resp = '', done = false;
const finish = () => { if (done) return; done = true; const status = Number((/^HTTP\/1\.1 (\d+)/.exec(resp) || [])[1] || 0); console.log(JSON.stringify({ status, body: resp.slice(resp.indexOf('\r\n\r\n') + 4, 2000), sentBytes: sent })); process.exit(0); };
setTimeout(finish, 20000);
s.on('data', (d) => { resp += d; if (resp.includes('\r\n\r\n')) setTimeout(finish, 200); });
s.on('error', () => finish());
s.on('close', () => setTimeout(finish, 50));
s.on('connect', () => {
  s.write('POST /networks/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' + (mode === 'length' ? 'Content-Length: ' + TOTAL : 'Transfer-Encoding: chunked') + '\r\n\r\n');
  const pump = () => {
    while (!done && sent < TOTAL && !s.destroyed) {
      const piece = mode === 'length' ? chunk : Buffer.concat([Buffer.from(chunk.length.toString(16) + '\r\n'), chunk, Buffer.from('\r\n')]);
      sent += chunk.length;
      if (!s.write(piece)) return s.once('drain', pump);
    }
  };
  pump();
});
`;

async function bodyLimitProbe(host: LabHost, mode: 'length' | 'chunked'): Promise<{ status: number; body: string; sentBytes: number }> {
  const r = await exec(host, ['node', '-e', PROBE, host.socket, mode], { timeoutMs: 40_000 });
  if (r.code !== 0) throw new Error(`body limit probe (${mode}) exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}
