/**
 * Firewall and NAT with real traffic: published ports (TCP, UDP, ranges, IPv4 and IPv6,
 * hairpin, 127.0.0.1 only), masquerade, internal networks, isolation, icc=false, the user
 * chain, self-heal after `nft flush ruleset`, constant rule count, crafted frames for
 * 127.0.0.1 / ::1 from the LAN, and bad -p values that change nothing. Two lab hosts: host1 runs the sandboxes, host2 is "another machine on
 * the LAN"; the LAN namespace plays the outside world.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { restartDaemon } from '../../src/lab/lab.js';
import { run } from '../../src/kernel/exec.js';
import { eventually, exec, inspectSandbox, ipJson, ipOf, ok, withLab, yard } from './helpers.js';

const lab = withLab('fw', 2);
const h1 = () => lab.host(1);
const h2 = () => lab.host(2);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'yard-fw-'));
const SRV = path.join(dir, 'srv.cjs');
/** Sends a hand-made TCP SYN frame and reports a SYN-ACK (test/lab/firewall-synprobe.py). */
const PROBE = path.resolve('test/lab/firewall-synprobe.py');
// HTTP on every port given (answers "<name>:<port> from <client address>") and a UDP echo on 53.
fs.writeFileSync(
  SRV,
  `const http = require('http'), dgram = require('dgram');
const name = process.env.SRV_NAME || 'srv';
for (const p of process.argv.slice(2).map(Number)) http.createServer((q, r) => r.end(name + ':' + p + ' from ' + q.socket.remoteAddress.replace(/^::ffff:/, '') + '\\n')).listen(p, '::');
// 127.0.0.11:53 belongs to the embedded DNS: bind the sandbox's own address.
const own = Object.values(require('os').networkInterfaces()).flat().find((a) => a.family === 'IPv4' && !a.internal);
if (process.env.SRV_UDP) { const u = dgram.createSocket('udp4'); u.on('message', (m, r) => u.send('pong:' + m, r.port, r.address)); u.bind(53, own.address); }
setTimeout(() => process.exit(0), 300000);
`,
);

// Expected failures wait the whole timeout: keep it short.
const curl = (url: string) => ['curl', '-sS', '--noproxy', '*', '--max-time', '1', url];
/** Sandbox name -> namespace: commands enter it directly (no CLI start-up per probe). */
const netnsOf = new Map<string, string>();
const inSandbox = async (sb: string, argv: string[]) => {
  if (!netnsOf.has(sb)) netnsOf.set(sb, (await inspectSandbox(h1(), sb)).Netns);
  return exec(h1(), ['ip', 'netns', 'exec', netnsOf.get(sb)!, ...argv], { timeoutMs: 5_000 });
};
/** Body of an HTTP GET from a lab host, or '' when it fails. */
async function get(host: () => ReturnType<typeof h1>, url: string): Promise<string> {
  const r = await exec(host(), curl(url), { timeoutMs: 5_000 });
  return r.code === 0 ? r.stdout.trim() : '';
}
async function getFrom(sandbox: string, url: string): Promise<string> {
  const r = await inSandbox(sandbox, curl(url));
  return r.code === 0 ? r.stdout.trim() : '';
}
async function udp(host: () => ReturnType<typeof h1>, ip: string, port: number): Promise<string> {
  const js = `const d=require('dgram').createSocket('udp4');d.on('message',m=>{console.log(String(m));process.exit(0)});d.send('ping',${port},'${ip}');setTimeout(()=>process.exit(1),2000)`;
  const r = await exec(host(), ['node', '-e', js], { timeoutMs: 5_000 });
  return r.stdout.trim();
}
const nft = (host: () => ReturnType<typeof h1>, ...args: string[]) => exec(host(), ['nft', ...args]);

/** Rules and elements of `table inet switchyard` as the kernel has them. */
async function counts(): Promise<{ rules: number; elements: string[] }> {
  const j = JSON.parse(await ok(nft(h1, '-j', 'list', 'table', 'inet', 'switchyard'))).nftables as any[];
  const elements = j.filter((o) => o.set || o.map).flatMap((o) => ((o.set ?? o.map).elem ?? []).map((e: unknown) => `${(o.set ?? o.map).name} ${JSON.stringify(e)}`));
  return { rules: j.filter((o) => o.rule).length, elements: elements.sort() };
}

let webIp = '';
let lanSrv: ReturnType<typeof spawn> | undefined;
const lanOut: string[] = [];

beforeAll(async () => {
  const y = (...a: string[]) => ok(yard(h1(), ...a), `yard ${a.join(' ')}`);
  await y('network', 'create', '--ipv6', '--subnet', '172.30.0.0/16', '--subnet', 'fd00:30::/64', 'app-net');
  await y('network', 'create', '--subnet', '172.31.0.0/16', 'other-net');
  await y('network', 'create', '--internal', 'int-net');
  await y('network', 'create', '-o', 'com.docker.network.bridge.enable_icc=false', 'noicc');
  await y('network', 'create', '-o', 'com.docker.network.bridge.enable_ip_masquerade=false', '--subnet', '172.29.0.0/16', 'nomasq');
  await y('run', '-d', '--name', 'web', '-p', '8080:80', '-p', '127.0.0.1:9090:90/tcp', '-p', '5353:53/udp', '-p', '20000-20999:20000-20999',
    '--network', 'app-net', '-e', 'SRV_NAME=web', '-e', 'SRV_UDP=1', '--', 'node', SRV, '80', '90', '20500');
  await y('run', '-d', '--name', 'cli', '--network', 'app-net', '--', 'sleep', '600');
  await y('run', '-d', '--name', 'other', '--network', 'other-net', '-e', 'SRV_NAME=other', '--', 'node', SRV, '80');
  await y('run', '-d', '--name', 'def', '--', 'sleep', '600');
  await y('run', '-d', '--name', 'inside', '--network', 'int-net', '--', 'sleep', '600');
  await y('run', '-d', '--name', 'inside-srv', '--network', 'int-net', '-e', 'SRV_NAME=inside-srv', '--', 'node', SRV, '80');
  await y('run', '-d', '--name', 'i1', '--network', 'noicc', '-e', 'SRV_NAME=i1', '--', 'node', SRV, '80');
  await y('run', '-d', '--name', 'i2', '--network', 'noicc', '--', 'sleep', '600');
  await y('run', '-d', '--name', 'nm', '--network', 'nomasq', '--', 'sleep', '600');
  webIp = await ipOf(h1(), 'web', 'app-net');
  // The outside world: a server in the LAN namespace that says who connected.
  lanSrv = spawn('ip', ['netns', 'exec', lab.info.lanNs, 'timeout', '300', process.execPath, SRV, '7777'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SRV_NAME: 'lan' } });
  lanSrv.stdout!.on('data', (d) => lanOut.push(String(d)));
  expect(await eventually(async () => (await get(h1, `http://${webIp}:80/`)).startsWith('web:80'), { timeoutMs: 10_000 })).toBe(true);
  expect(await eventually(async () => (await get(h1, 'http://10.231.0.1:7777/')) !== '', { timeoutMs: 10_000 })).toBe(true);
});

afterAll(() => {
  if (lanSrv?.pid) lanSrv.kill();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('published ports', () => {
  it('`yard port` prints Docker\'s lines', async () => {
    const lines = (await ok(yard(h1(), 'port', 'web'))).split('\n');
    expect(lines.slice(0, 5)).toEqual(['53/udp -> 0.0.0.0:5353', '53/udp -> [::]:5353', '80/tcp -> 0.0.0.0:8080', '80/tcp -> [::]:8080', '90/tcp -> 127.0.0.1:9090']);
    expect(lines.length).toBe(5 + 2 * 1000);
    expect(await ok(yard(h1(), 'port', 'web', '80'))).toBe('0.0.0.0:8080\n[::]:8080');
  });

  it('reaches web:80 from another LAN host (DNAT keeps the client address), over IPv4 and IPv6', async () => {
    expect(await get(h2, 'http://10.231.0.2:8080/')).toBe('web:80 from 10.231.0.3');
    expect(await get(h2, 'http://[fd00:231::2]:8080/')).toBe('web:80 from fd00:231::3');
  });

  it('reaches a port published on a new IPv6 network from another LAN host at once (the bridge\'s link-local needs no DAD)', async () => {
    const y = (...a: string[]) => ok(yard(h1(), ...a), `yard ${a.join(' ')}`);
    await y('network', 'create', '--ipv6', '--subnet', '172.28.0.0/16', '--subnet', 'fd00:28::/64', 'fresh6');
    try {
      await y('run', '-d', '--name', 'fresh', '-p', '8181:80', '--network', 'fresh6', '-e', 'SRV_NAME=fresh', '--', 'node', SRV, '80');
      // The first connection, with nothing on the host having talked to the sandbox before
      // (curl gives up after 1 s; a tentative link-local held it 1-2 s).
      expect(await eventually(async () => (await get(h2, 'http://10.231.0.2:8181/')) !== '', { timeoutMs: 10_000 })).toBe(true);
      expect(await get(h2, 'http://[fd00:231::2]:8181/')).toBe('fresh:80 from fd00:231::3');
    } finally {
      await yard(h1(), 'rm', '-f', 'fresh');
      await yard(h1(), 'network', 'rm', 'fresh6');
    }
  });

  it('reaches it from the host itself, on its LAN address and on 127.0.0.1', async () => {
    expect(await get(h1, 'http://10.231.0.2:8080/')).toMatch(/^web:80 from /);
    expect(await get(h1, 'http://127.0.0.1:8080/')).toMatch(/^web:80 from /);
  });

  it('reaches it from a sandbox through the host\'s address (hairpin)', async () => {
    expect(await getFrom('cli', 'http://10.231.0.2:8080/')).toMatch(/^web:80 from /);
  });

  it('publishes UDP and a port range', async () => {
    expect(await udp(h2, '10.231.0.2', 5353)).toBe('pong:ping');
    expect(await get(h2, 'http://10.231.0.2:20500/')).toBe('web:20500 from 10.231.0.3');
  });

  it('keeps 127.0.0.1:9090 to the host: not from the LAN, not by routing to the container directly', async () => {
    expect(await get(h1, 'http://127.0.0.1:9090/')).toMatch(/^web:90 from /);
    // The same clients reach the port published on every address (positive controls).
    expect(await get(h2, 'http://10.231.0.2:8080/')).toBe('web:80 from 10.231.0.3');
    expect(await get(h2, 'http://10.231.0.2:9090/')).toBe('');
    expect(await getFrom('cli', 'http://10.231.0.2:8080/')).toMatch(/^web:80 from /);
    expect(await getFrom('cli', 'http://10.231.0.2:9090/')).toBe('');
    await ok(exec(h2(), ['ip', 'route', 'replace', '172.30.0.0/16', 'via', '10.231.0.2']));
    try {
      expect(await get(h2, `http://${webIp}:90/`)).toBe('');
      expect(await get(h2, `http://${webIp}:80/`)).toBe('');
      // The route itself works: the host answers on the bridge's gateway address.
      expect((await exec(h2(), ['ping', '-c1', '-W2', '172.30.0.1'])).code).toBe(0);
    } finally {
      await exec(h2(), ['ip', 'route', 'del', '172.30.0.0/16']);
    }
  });

  it('drops frames for 127.0.0.1 and ::1 from another LAN host before NAT (a SYN gets no SYN-ACK)', async () => {
    // host2 crafts TCP SYNs by hand and sends them to host1's MAC: the destination address
    // is whatever host2 writes, as a hostile machine on the LAN would.
    const [lan0] = await ipJson<any[]>(h1(), ['link', 'show', 'dev', 'lan0']);
    const syn = async (src: string, dst: string, port: number) => {
      const r = await exec(h2(), ['python3', PROBE, 'lan0', lan0.address, src, dst, String(port), '1.5'], { timeoutMs: 10_000 });
      expect(r.stderr).toBe('');
      return r.stdout.trim();
    };
    // Positive controls: the same tool, to host1's real addresses and the port published
    // on every address, gets the container's SYN-ACK (seen with host1's address as source).
    expect(await syn('10.231.0.3', '10.231.0.2', 8080)).toBe('SYNACK 10.231.0.2');
    expect(await syn('fd00:231::3', 'fd00:231::2', 8080)).toBe('SYNACK fd00:231::2');
    // The 127.0.0.1-only port, and the all-addresses port through 127.0.0.1 or ::1: nothing.
    expect(await syn('10.231.0.3', '127.0.0.1', 9090)).toBe('NONE');
    expect(await syn('10.231.0.3', '127.0.0.1', 8080)).toBe('NONE');
    expect(await syn('fd00:231::3', '::1', 8080)).toBe('NONE');
    // The guard is what stops it: its rules are in the kernel, before NAT.
    const guard = await ok(nft(h1, 'list', 'chain', 'inet', 'switchyard', 'loopback-guard'));
    expect(guard).toContain('type filter hook prerouting priority raw;');
    expect(guard).toContain('iifname != "lo" ip daddr 127.0.0.0/8 drop');
    expect(guard).toContain('iifname != "lo" ip6 daddr ::1 drop');
    // ...and the host itself still reaches both ports on 127.0.0.1, and the tool still works.
    expect(await get(h1, 'http://127.0.0.1:9090/')).toMatch(/^web:90 from /);
    expect(await get(h1, 'http://127.0.0.1:8080/')).toMatch(/^web:80 from /);
    expect(await syn('10.231.0.3', '10.231.0.2', 8080)).toBe('SYNACK 10.231.0.2');
  });

  it('`yard port explain` says who can reach each port and cites the rules', async () => {
    const text = await ok(yard(h1(), 'port', 'explain', 'web'));
    expect(text).toMatch(/-p 127\.0\.0\.1:9090:90\/tcp: .*\n\s+reachable\s+from localhost[^\n]*\n\s+unreachable from host[^\n]*\n\s+unreachable from LAN/);
    expect(text).toContain('inet switchyard loopback-guard: iifname != "lo" ip daddr 127.0.0.0/8 drop');
    expect(text).toContain('map pm4 element tcp . 8080 : ' + webIp + ' . 80');
    expect(text).toContain('map pmaddr4 element 127.0.0.1 . tcp . 9090 : ' + webIp + ' . 90');
    expect(text).toContain('oifname @bridges drop');
  });
});

describe('outbound and isolation', () => {
  it('masquerades sandboxes to the host\'s LAN address', async () => {
    expect(await getFrom('cli', 'http://10.231.0.1:7777/')).toBe('lan:7777 from 10.231.0.2');
    expect(await getFrom('def', 'http://10.231.0.1:7777/')).toBe('lan:7777 from 10.231.0.2');
  });

  it('gives --internal networks no outside access', async () => {
    // Positive controls: the sandbox works inside its network (a neighbour's server answers
    // it, by address and ping), and the LAN server answers a sandbox of another network.
    const srvIp = await ipOf(h1(), 'inside-srv', 'int-net');
    const want = `inside-srv:80 from ${await ipOf(h1(), 'inside', 'int-net')}`;
    expect(await eventually(async () => (await getFrom('inside', `http://${srvIp}:80/`)) === want, { timeoutMs: 5_000 })).toBe(true);
    expect((await inSandbox('inside', ['ping', '-c1', '-W1', srvIp])).code).toBe(0);
    expect(await getFrom('cli', 'http://10.231.0.1:7777/')).toBe('lan:7777 from 10.231.0.2');
    expect(await getFrom('inside', 'http://10.231.0.1:7777/')).toBe('');
    expect((await inSandbox('inside', ['ping', '-c1', '-W1', '10.231.0.1'])).code).not.toBe(0);
    // ...and nothing gets in from another network.
    expect(await getFrom('cli', `http://${srvIp}:80/`)).toBe('');
  });

  it('does not masquerade with enable_ip_masquerade=false', async () => {
    const nmIp = await ipOf(h1(), 'nm', 'nomasq');
    await run('ip', ['-n', lab.info.lanNs, 'route', 'replace', '172.29.0.0/16', 'via', '10.231.0.2']);
    try {
      expect(await getFrom('nm', 'http://10.231.0.1:7777/')).toBe(`lan:7777 from ${nmIp}`);
    } finally {
      await run('ip', ['-n', lab.info.lanNs, 'route', 'del', '172.29.0.0/16']);
    }
  });

  it('isolates networks from each other both ways (ping and TCP), the default bridge too', async () => {
    const otherIp = await ipOf(h1(), 'other', 'other-net');
    const defIp = await ipOf(h1(), 'def', 'bridge');
    const cliIp = await ipOf(h1(), 'cli', 'app-net');
    const ping = async (sb: string, ip: string) => (await inSandbox(sb, ['ping', '-c1', '-W1', ip])).code === 0;
    expect(await ping('cli', webIp)).toBe(true);
    expect(await getFrom('cli', `http://${webIp}:80/`)).toBe(`web:80 from ${cliIp}`);
    // Positive controls: `other`'s server is up and reachable (from the host), `other` and
    // `def` can send (they reach the LAN server), and `def` answers pings (from the host).
    expect(await get(h1, `http://${otherIp}:80/`)).toMatch(/^other:80 from /);
    expect(await getFrom('other', 'http://10.231.0.1:7777/')).toBe('lan:7777 from 10.231.0.2');
    expect(await getFrom('def', 'http://10.231.0.1:7777/')).toBe('lan:7777 from 10.231.0.2');
    expect((await exec(h1(), ['ping', '-c1', '-W1', defIp])).code).toBe(0);
    expect(await ping('cli', otherIp)).toBe(false);
    expect(await getFrom('cli', `http://${otherIp}:80/`)).toBe('');
    expect(await ping('other', webIp)).toBe(false);
    expect(await getFrom('other', `http://${webIp}:80/`)).toBe('');
    expect(await ping('def', webIp)).toBe(false);
    expect(await getFrom('def', `http://${webIp}:80/`)).toBe('');
    expect(await ping('cli', defIp)).toBe(false);
    // ...but a published port is reachable from any network, through the host.
    expect(await getFrom('other', 'http://10.231.0.2:8080/')).toMatch(/^web:80 from /);
  });

  it('blocks sandboxes of one network from each other with enable_icc=false', async () => {
    const i1 = await ipOf(h1(), 'i1', 'noicc');
    // Positive controls: i1's server is up and answers the host (traffic to and from the
    // gateway still flows) and pings; i2 can send (it reaches the LAN server, below).
    expect(await get(h1, `http://${i1}:80/`)).toMatch(/^i1:80 from /);
    expect((await exec(h1(), ['ping', '-c1', '-W1', i1])).code).toBe(0);
    expect(await getFrom('i2', `http://${i1}:80/`)).toBe('');
    expect((await inSandbox('i2', ['ping', '-c1', '-W1', i1])).code).not.toBe(0);
    expect(await getFrom('i2', 'http://10.231.0.1:7777/')).toBe('lan:7777 from 10.231.0.2');
  });
});

describe('user chain, self-heal, rule count', () => {
  it('a drop rule in the user chain blocks a published port, and survives Switchyard\'s changes', async () => {
    const rule = ['add', 'rule', 'inet', 'switchyard-user', 'user-forward', 'meta', 'l4proto', 'tcp', 'ct', 'original', 'proto-dst', '8080', 'drop'];
    // Positive control: the port answers before the rule goes in.
    expect(await get(h2, 'http://10.231.0.2:8080/')).toBe('web:80 from 10.231.0.3');
    await ok(nft(h1, ...rule));
    const blocked = async () => (await get(h2, 'http://10.231.0.2:8080/')) === '';
    expect(await blocked()).toBe(true);
    await ok(yard(h1(), 'network', 'create', 'later-net'));
    await ok(yard(h1(), 'run', '-d', '--name', 'later', '-p', '8181:80', '--network', 'later-net', '-e', 'SRV_NAME=later', '--', 'node', SRV, '80'));
    expect(await blocked()).toBe(true);
    expect(await eventually(async () => (await get(h2, 'http://10.231.0.2:8181/')).startsWith('later:80'), { timeoutMs: 5_000 })).toBe(true);
    await restartDaemon(lab.info, h1());
    expect(await blocked()).toBe(true);
    await ok(nft(h1, 'delete', 'table', 'inet', 'switchyard'));
    expect(await eventually(async () => (await nft(h1, 'list', 'table', 'inet', 'switchyard')).code === 0, { timeoutMs: 3_000 })).toBe(true);
    expect(await blocked()).toBe(true);
    expect(await ok(nft(h1, 'list', 'chain', 'inet', 'switchyard-user', 'user-forward'))).toContain('meta l4proto tcp ct original proto-dst 8080 drop');
    // The user removes the rule: traffic flows again.
    await ok(nft(h1, 'flush', 'chain', 'inet', 'switchyard-user', 'user-forward'));
    expect(await get(h2, 'http://10.231.0.2:8080/')).toBe('web:80 from 10.231.0.3');
  });

  it('restores everything within 2 s after `nft flush ruleset`', async () => {
    await ok(nft(h1, 'flush', 'ruleset'));
    const t0 = Date.now();
    const back = await eventually(async () => (await get(h2, 'http://10.231.0.2:8080/')) === 'web:80 from 10.231.0.3', { timeoutMs: 4_000, intervalMs: 50 });
    const ms = Date.now() - t0;
    expect(back).toBe(true);
    expect(ms).toBeLessThan(2_500); // 1 s poll + load; the curl itself takes a few ms
    expect((await nft(h1, 'list', 'chain', 'inet', 'switchyard-user', 'user-forward')).code).toBe(0);
    expect(await get(h2, 'http://10.231.0.2:9090/')).toBe('');
  });

  it('keeps the rule count constant as ports grow, and removing a sandbox removes exactly its elements', async () => {
    const before = await counts();
    await ok(yard(h1(), 'run', '-d', '--name', 'many', '--network', 'other-net', '-p', '30000-30099:40000-40099', '-p', '31000-31999:31000-31999/udp', '--', 'sleep', '600'));
    const after = await counts();
    expect(after.rules).toBe(before.rules);
    expect(after.elements.length - before.elements.length).toBe(100 + 1);
    await ok(yard(h1(), 'rm', '-f', 'many'));
    expect(await counts()).toEqual(before);
  });
});

describe('bad -p values change nothing', () => {
  const cases: [string[], RegExp][] = [
    [['-p', '8080:81'], /host port 0\.0\.0\.0:8080\/tcp is already published by sandbox web/],
    [['-p', '80:80:80:80'], /-p 80:80:80:80: too many ":"/],
    [['-p', '8000-8009:80-81'], /has 10 ports and the container range 80-81 has 2/],
    [['-p', '0:80'], /host port 0 is out of range/],
    [['-p', '8080:65536'], /container port 65536 is out of range/],
    [['-p', '8080:80/icmp'], /unknown protocol "icmp"/],
    [['-p', '10.9.9.9:8080:80'], /10\.9\.9\.9 is not an address of this host/],
    [['-p', '8282:80', '--network', 'int-net'], /network int-net is --internal/],
    [['-p', '8282:80', '--network', 'host'], /on the host network cannot publish/],
    [['-p', '8282:80', '--network', 'none'], /on the none network cannot publish/],
  ];
  it('refuses each with a message naming the -p value and a hint, and changes no rule, element or sandbox', async () => {
    // Earlier tests tamper with the ruleset on purpose (flush, deleted table); the daemon's
    // self-heal may still be reloading from that (which renumbers rule handles). Start
    // from a ruleset that stays the same for 1.5 s.
    let before = await ok(nft(h1, '-j', 'list', 'ruleset'));
    for (let i = 0; i < 10; i++) {
      await new Promise((r) => setTimeout(r, 1500));
      const now = await ok(nft(h1, '-j', 'list', 'ruleset'));
      if (now === before) break;
      before = now;
    }
    const sandboxes = await ok(yard(h1(), 'ps', '-a', '-q'));
    for (const [args, message] of cases) {
      const r = await yard(h1(), 'run', '-d', '--name', 'bad', ...args, '--', 'sleep', '60');
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).toMatch(/; /); // a hint follows
      expect(await ok(nft(h1, '-j', 'list', 'ruleset')), args.join(' ')).toBe(before);
    }
    expect(await ok(yard(h1(), 'ps', '-a', '-q'))).toBe(sandboxes);
  });
});
