/**
 * Published ports limited by source (`--publish-from`) with real traffic. Three lab hosts:
 * host1 runs the daemon and the sandboxes; host2 (10.231.0.3, fd00:231::3) is an allowed
 * client, host3 (10.231.0.4, fd00:231::4) is not. Every refusal has a positive control
 * beside it: the same client reaching a port without a limit, or the allowed client
 * reaching the same port. Then `yard port` / `yard port explain --from`, bad values that
 * change nothing, and the rule count with 10 and with 10,000 limited ports.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, exec, inspectSandbox, ipOf, ok, withLab, yard } from './helpers.js';

const lab = withLab('fwsrc', 3, { daemonHosts: 1 });
const h1 = () => lab.host(1);
const h2 = () => lab.host(2);
const h3 = () => lab.host(3);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'yard-fwsrc-'));
const SRV = path.join(dir, 'srv.cjs');
fs.writeFileSync(
  SRV,
  `const http = require('http');
for (const p of process.argv.slice(2).map(Number)) http.createServer((q, r) => r.end('web:' + p + ' from ' + q.socket.remoteAddress.replace(/^::ffff:/, '') + '\\n')).listen(p, '::');
setTimeout(() => process.exit(0), 300000);
`,
);

type Host = ReturnType<typeof h1>;
/** curl from a lab host: the body, or `exit N` (7: connection refused, 28: timeout). */
async function get(host: Host, url: string): Promise<string> {
  const r = await exec(host, ['curl', '-sS', '--noproxy', '*', '--max-time', '2', url], { timeoutMs: 6_000 });
  return r.code === 0 ? r.stdout.trim() : `exit ${r.code}`;
}
async function getFrom(sandbox: string, url: string): Promise<string> {
  const { Netns } = await inspectSandbox(h1(), sandbox);
  const r = await exec(h1(), ['ip', 'netns', 'exec', Netns, 'curl', '-sS', '--noproxy', '*', '--max-time', '2', url], { timeoutMs: 6_000 });
  return r.code === 0 ? r.stdout.trim() : `exit ${r.code}`;
}
const nft = (...args: string[]) => exec(h1(), ['nft', ...args]);

/** Rules in the lab host's whole ruleset, counted in `nft -a -t list ruleset` (lines with a handle inside a chain). */
async function ruleCount(): Promise<number> {
  let inChain = false;
  let n = 0;
  // -t: without set elements (the listing of 60,000 elements is slow and says nothing about rules).
  for (const line of (await ok(nft('-a', '-t', 'list', 'ruleset'))).split('\n')) {
    const t = line.trim();
    if (/^chain \S+ \{/.test(t)) inChain = true;
    else if (t === '}') inChain = false;
    else if (inChain && /# handle \d+$/.test(t)) n++;
  }
  return n;
}
async function elements(set: string): Promise<number> {
  const j = JSON.parse(await ok(nft('-j', 'list', 'set', 'inet', 'switchyard', set))).nftables as any[];
  return j.find((o) => o.set)?.set.elem?.length ?? 0;
}

beforeAll(async () => {
  const y = (...a: string[]) => ok(yard(h1(), ...a), `yard ${a.join(' ')}`);
  await y('network', 'create', '--ipv6', '--subnet', '172.30.0.0/16', '--subnet', 'fd00:30::/64', 'app-net');
  // 8000 only from host2 (a prefix holding it, and its IPv6 address); 9000 from everyone.
  await y('run', '-d', '--name', 'web', '--network', 'app-net', '-p', '8000:80', '-p', '9000:90', '--publish-from', '8000=10.231.0.0/30,fd00:231::3', '--', 'node', SRV, '80', '90');
  await y('run', '-d', '--name', 'cli', '--network', 'app-net', '--', 'sleep', '600');
  const webIp = await ipOf(h1(), 'web', 'app-net');
  expect(await eventually(async () => (await get(h1(), `http://${webIp}:80/`)).startsWith('web:80'), { timeoutMs: 10_000 })).toBe(true);
  // The lab LAN's first IPv6 exchange between two hosts can take over 2 s (neighbour
  // discovery on a fresh lab): the unlimited port answers host3 over IPv6 first, so the
  // IPv6 case below judges the limit, not the LAN's warm-up.
  expect(await eventually(async () => (await get(h3(), 'http://[fd00:231::2]:9000/')).startsWith('web:90'), { timeoutMs: 15_000 })).toBe(true);
  expect(await eventually(async () => (await get(h2(), 'http://[fd00:231::2]:9000/')).startsWith('web:90'), { timeoutMs: 15_000 })).toBe(true);
}, 120_000);

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('--publish-from with real traffic', () => {
  it('lets the allowed client in over IPv4 and refuses the other one', async () => {
    expect(await get(h2(), 'http://10.231.0.2:8000/')).toBe('web:80 from 10.231.0.3');
    // Refused (connection refused, not a timeout), while host3 reaches the unlimited port.
    expect(await get(h3(), 'http://10.231.0.2:8000/')).toBe('exit 7');
    expect(await get(h3(), 'http://10.231.0.2:9000/')).toBe('web:90 from 10.231.0.4');
    expect(await get(h2(), 'http://10.231.0.2:9000/')).toBe('web:90 from 10.231.0.3');
  });

  it('does the same over IPv6', async () => {
    expect(await get(h2(), 'http://[fd00:231::2]:8000/')).toBe('web:80 from fd00:231::3');
    expect(await get(h3(), 'http://[fd00:231::2]:8000/')).toBe('exit 7');
    expect(await get(h3(), 'http://[fd00:231::2]:9000/')).toBe('web:90 from fd00:231::4');
    expect(await get(h2(), 'http://[fd00:231::2]:9000/')).toBe('web:90 from fd00:231::3');
  });

  it('limits sandboxes (hairpin) too; the host itself is not limited', async () => {
    expect(await getFrom('cli', 'http://10.231.0.2:8000/')).toBe('exit 7');
    expect(await getFrom('cli', 'http://10.231.0.2:9000/')).toMatch(/^web:90 from /);
    expect(await get(h1(), 'http://10.231.0.2:8000/')).toMatch(/^web:80 from /);
  });

  it('`yard port` marks the limited port; `yard port web 80` stays Docker\'s line', async () => {
    const lines = (await ok(yard(h1(), 'port', 'web'))).split('\n');
    expect(lines).toEqual(['80/tcp -> 0.0.0.0:8000 (from 10.231.0.0/30)', '80/tcp -> [::]:8000 (from fd00:231::3)', '90/tcp -> 0.0.0.0:9000', '90/tcp -> [::]:9000']);
    expect(await ok(yard(h1(), 'port', 'web', '80'))).toBe('0.0.0.0:8000\n[::]:8000');
  });

  it('`yard port explain --from` says who may connect and which element decides', async () => {
    const webIp = await ipOf(h1(), 'web', 'app-net');
    const ex = async (from: string) => JSON.parse(await ok(yard(h1(), 'port', 'explain', 'web', '--from', from, '--json'))) as any[];
    const [p8000, p9000] = await ex('10.231.0.4');
    expect(p8000.spec).toBe('8000:80/tcp');
    expect(p8000.from).toMatchObject({ address: '10.231.0.4', allowed: false });
    expect(p8000.from.decidedBy).toContain(`set limited4 element 80 . tcp . ${webIp} . 0.0.0.0/0`);
    expect(p9000.from).toMatchObject({ allowed: true });
    expect(p9000.from.why).toContain('not limited');
    const [a8000] = await ex('10.231.0.3');
    expect(a8000.from).toMatchObject({ allowed: true, decidedBy: `set allowed4 element 80 . tcp . ${webIp} . 0.0.0.0/0 . 10.231.0.0/30` });
    const [v6] = await ex('fd00:231::4');
    expect(v6.from.allowed).toBe(false);
    const text = await ok(yard(h1(), 'port', 'explain', 'web', '--from', '10.231.0.4'));
    expect(text).toContain('from 10.231.0.4: refused:');
    const bad = await yard(h1(), 'port', 'explain', 'web', '--from', '10.0.0.0/8');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/from "10\.0\.0\.0\/8" is not an IP address/);
  });
});

describe('bad --publish-from values change nothing', () => {
  const cases: [string[], RegExp][] = [
    [['-p', '8100:80', '--publish-from', '10.1.2.3/8'], /--publish-from 10\.1\.2\.3\/8: 10\.1\.2\.3\/8 has host bits set[\s\S]*did you mean 10\.0\.0\.0\/8/],
    [['-p', '8100:80', '--publish-from', '10.0.0.0/33'], /prefix length "33"/],
    [['-p', '8100:80', '--publish-from', 'example.com'], /"example\.com" is not an IP address or prefix/],
    [['-p', '8100:80', '--publish-from', '10.0.0.1,,10.0.0.2'], /a source is empty/],
    [['-p', '10.231.0.2:8100:80', '--publish-from', 'fd00::/8'], /fd00::\/8 is an IPv6 source, but -p 10\.231\.0\.2:8100:80\/tcp is published on IPv4 only/],
    [['-p', '8100:80', '--publish-from', '8200=10.0.0.0/8'], /no -p publishes host port 8200/],
    [['--publish-from', '10.0.0.0/8'], /there is no -p to limit/],
    [['-p', '8100:80', '-p', '8101:80', '--publish-from', '8100=10.0.0.0/8'], /lead to the same container port with different sources/],
  ];
  it('refuses each, naming the value, and leaves the sandboxes and the ruleset as they were', async () => {
    const before = await ok(nft('list', 'table', 'inet', 'switchyard'));
    const ps = await ok(yard(h1(), 'ps', '-a', '-q'));
    for (const [args, want] of cases) {
      const r = await yard(h1(), 'run', '-d', '--name', 'bad', '--network', 'app-net', ...args, '--', 'sleep', '60');
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr, args.join(' ')).toMatch(want);
    }
    expect(await ok(yard(h1(), 'ps', '-a', '-q'))).toBe(ps);
    expect(await ok(nft('list', 'table', 'inet', 'switchyard'))).toBe(before);
    // Positive control: a good value with the same shape is accepted (dry run: nothing kept).
    const good = await yard(h1(), 'run', '--dry-run', '--name', 'good', '--network', 'app-net', '-p', '8100:80', '--publish-from', '10.0.0.0/8,192.168.1.5', '--', 'true');
    expect(good.stderr).toBe('');
    expect(good.code).toBe(0);
  });
});

describe('rule count', () => {
  it('10,000 limited ports cost the same rules as 10 (elements only)', async () => {
    const sources = ['--publish-from', '10.231.0.0/30,192.168.1.5,fd00:231::3'];
    const few = ['run', '-d', '--name', 'few', '--network', 'app-net', ...sources];
    for (let i = 0; i < 10; i++) few.push('-p', `${21000 + i}:${21000 + i}`);
    await ok(yard(h1(), ...few, '--', 'sleep', '600'));
    const rules10 = await ruleCount();
    const [limited10, allowed10, allowed6] = [await elements('limited4'), await elements('allowed4'), await elements('allowed6')];
    const t0 = Date.now();
    for (let s = 0; s < 10; s++) {
      const args = ['run', '-d', '--name', `many${s}`, '--network', 'app-net', ...sources];
      for (let i = 0; i < 1000; i++) args.push('-p', `${30000 + s * 1000 + i}:${30000 + s * 1000 + i}`);
      await ok(exec(h1(), ['yard', ...args, '--', ...(s === 0 ? ['node', SRV, '30123'] : ['sleep', '600'])], { timeoutMs: 60_000 }));
    }
    const took = Date.now() - t0;
    const rules10k = await ruleCount();
    console.log(`10 x yard run with 1000 limited -p: ${took} ms; rules with 10 limited ports: ${rules10}; with 10,010: ${rules10k}; limited4 elements ${limited10} -> ${await elements('limited4')}, allowed4 ${await elements('allowed4')}, allowed6 ${await elements('allowed6')}`);
    expect(rules10k).toBe(rules10);
    expect(await elements('limited4')).toBe(limited10 + 10_000);
    expect(await elements('allowed4')).toBe(allowed10 + 20_000);
    expect(await elements('allowed6')).toBe(allowed6 + 10_000);
    // One of the 10,000, with real traffic: host2 let through, host3 refused.
    expect(await eventually(async () => (await get(h2(), 'http://10.231.0.2:30123/')) === 'web:30123 from 10.231.0.3', { timeoutMs: 10_000 })).toBe(true);
    expect(await get(h3(), 'http://10.231.0.2:30123/')).toBe('exit 7');
    expect(await get(h3(), 'http://10.231.0.2:9000/')).toBe('web:90 from 10.231.0.4');
    const ex = JSON.parse(await ok(yard(h1(), 'port', 'explain', 'many0', '--from', '10.231.0.4', '--json'))) as any[];
    expect(ex[123].from.allowed).toBe(false);
    const ok2 = JSON.parse(await ok(yard(h1(), 'port', 'explain', 'many0', '--from', '10.231.0.3', '--json'))) as any[];
    expect(ok2[123].from.allowed).toBe(true);
  }, 300_000);
});
