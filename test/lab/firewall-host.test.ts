/**
 * Coexistence with the host's other firewalls, with real traffic, in a lab host (never the
 * machine's own namespace, never /etc/ufw): host1 runs the daemon and gets
 *   - ufw, enabled by the real ufw inside host1's namespace with a private mount namespace
 *     (scratch copies bind-mounted over /etc/ufw and /etc/default/ufw, a tmpfs on /run):
 *     `ip filter` / `ip6 filter` as iptables-nft writes them, FORWARD and INPUT policy drop,
 *     `ufw allow 8081/tcp`, `ufw deny 8082/tcp`;
 *   - firewalld's `inet firewalld` table (test/fixtures/firewall/host/firewalld.nft, its shape
 *     written by hand: firewalld needs D-Bus and is not run);
 *   - a hand-written `inet filter` table with forward policy drop;
 *   - iptables-legacy with FORWARD policy DROP.
 * host2 (10.231.0.3) is a machine on the LAN. Default mode: everything works and the daemon
 * logs what it inserted; `--host-firewall off`: its rules are gone and traffic is dropped
 * (the host itself, which does not forward, still gets through: the positive control);
 * `--host-firewall obey`: ports the host's input filtering allows work, the others are refused,
 * and a later `ufw allow` is followed.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { restartDaemon } from '../../src/lab/lab.js';
import { eventually, exec, inspectSandbox, ipOf, ok, withLab, yard } from './helpers.js';

const lab = withLab('fwhost', 2, { daemonHosts: 1 });
const h1 = () => lab.host(1);
const h2 = () => lab.host(2);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'yard-fwhost-'));
const SRV = path.join(dir, 'srv.cjs');
const FIXTURES = path.resolve('test/fixtures/firewall/host');
fs.writeFileSync(
  SRV,
  `const http = require('http');
for (const p of process.argv.slice(2).map(Number)) http.createServer((q, r) => r.end('web:' + p + ' from ' + q.socket.remoteAddress.replace(/^::ffff:/, '') + '\\n')).listen(p, '::');
setTimeout(() => process.exit(0), 300000);
`,
);

// ufw in a private mount namespace of host1: scratch copies of its configuration (the real
// /etc/ufw is only read, to copy it), no sysctl file, a private /run.
const UFW = path.join(dir, 'ufw');
function prepareUfw(): void {
  fs.cpSync('/etc/ufw', path.join(UFW, 'etc-ufw'), { recursive: true });
  fs.writeFileSync(path.join(UFW, 'etc-ufw', 'ufw.conf'), 'ENABLED=no\nLOGLEVEL=off\n');
  fs.writeFileSync(path.join(UFW, 'sysctl.conf'), '');
  const defaults = fs.readFileSync('/etc/default/ufw', 'utf8').replace(/^IPT_SYSCTL=.*$/m, `IPT_SYSCTL=${path.join(UFW, 'sysctl.conf')}`);
  fs.writeFileSync(path.join(UFW, 'default-ufw'), defaults);
}
/** Runs `ufw ARGS` inside host1's namespace, with the scratch configuration. */
async function ufw(...args: string[]): Promise<string> {
  const script = [
    'set -e',
    `mount --bind ${path.join(UFW, 'etc-ufw')} /etc/ufw`,
    `mount --bind ${path.join(UFW, 'default-ufw')} /etc/default/ufw`,
    'mount -t tmpfs none /run',
    `ufw ${args.map((a) => `'${a}'`).join(' ')}`,
  ].join('\n');
  return ok(exec(h1(), ['unshare', '-m', '--propagation', 'private', 'sh', '-c', script], { timeoutMs: 60_000 }), `ufw ${args.join(' ')}`);
}

type Host = ReturnType<typeof h1>;
async function get(host: Host, url: string): Promise<string> {
  const r = await exec(host, ['curl', '-sS', '--noproxy', '*', '--max-time', '2', url], { timeoutMs: 6_000 });
  return r.code === 0 ? r.stdout.trim() : `exit ${r.code}`;
}
const nft = (...args: string[]) => exec(h1(), ['nft', ...args]);
const ourRules = async () => ((await nft('-a', 'list', 'ruleset')).stdout.match(/comment "switchyard: (in|out) \S+"/g) ?? []).length;
const daemonLog = () => (fs.existsSync(h1().logFile) ? fs.readFileSync(h1().logFile, 'utf8') : '');
let webIp = '';
let sbNetns = '';

async function restart(args: string[]): Promise<void> {
  lab.info.daemonArgs = args;
  await restartDaemon(lab.info, h1());
}

beforeAll(async () => {
  prepareUfw();
  const y = (...a: string[]) => ok(yard(h1(), ...a), `yard ${a.join(' ')}`);
  await y('network', 'create', '--ipv6', '--subnet', '172.30.0.0/16', '--subnet', 'fd00:30::/64', 'app-net');
  await y('run', '-d', '--name', 'web', '--network', 'app-net', '-p', '8080:80', '-p', '8081:81', '-p', '8082:82', '--', 'node', SRV, '80', '81', '82');
  await y('run', '-d', '--name', 'cli', '--network', 'app-net', '--', 'sleep', '600');
  webIp = await ipOf(h1(), 'web', 'app-net');
  sbNetns = (await inspectSandbox(h1(), 'cli')).Netns;
  expect(await eventually(async () => (await get(h2(), 'http://10.231.0.2:8080/')) === 'web:80 from 10.231.0.3', { timeoutMs: 10_000 })).toBe(true);
}, 120_000);

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** From a sandbox: ping the LAN gateway (forwarded out through the host). */
const sandboxOut = async () => (await exec(h1(), ['ip', 'netns', 'exec', sbNetns, 'ping', '-c1', '-W2', '10.231.0.1'])).code === 0;
/** Sandbox to sandbox on the same bridge (bridged frames cross the forward hook: br_netfilter). */
const sandboxToSandbox = async () => (await exec(h1(), ['ip', 'netns', 'exec', sbNetns, 'curl', '-sS', '--max-time', '2', `http://${webIp}:81/`])).stdout.startsWith('web:81');

describe('default (--host-firewall accept): Switchyard\'s traffic gets through other firewalls', () => {
  it('finds ufw, firewalld\'s table and an inet filter table, and accepts its bridges at the top of their forward chains', async () => {
    expect(await ufw('--force', 'enable')).toMatch(/Firewall is active/);
    await ufw('allow', '8081/tcp');
    await ufw('deny', '8082/tcp');
    await ok(exec(h1(), ['nft', '-f', path.join(FIXTURES, 'firewalld.nft')]));
    await ok(exec(h1(), ['nft', '-f', path.join(FIXTURES, 'inet-filter.nft')]));
    // ufw's chains are there as iptables-nft wrote them, with policy drop.
    expect((await nft('list', 'chain', 'ip', 'filter', 'FORWARD')).stdout).toContain('policy drop;');
    // The daemon notices within its 1 s check and inserts its rules: 2 per bridge (yard0,
    // app-net's) in each of ip filter, ip6 filter, inet firewalld, inet filter.
    expect(await eventually(async () => (await ourRules()) === 16, { timeoutMs: 10_000 })).toBe(true);
    const fwd = (await nft('-a', 'list', 'chain', 'ip', 'filter', 'FORWARD')).stdout.split('\n').map((l) => l.trim());
    expect(fwd.find((l) => l.includes("switchyard:"))).toBe(fwd[fwd.findIndex((l) => l.startsWith("type filter")) + 1]);
    expect(fwd[fwd.findIndex((l) => l.startsWith("type filter")) + 1]).toMatch(/^[io]ifname "(br-[0-9a-f]{12}|yard0)" counter packets \d+ bytes \d+ accept comment "switchyard: (in|out) /);
    // iptables (nft backend) still reads the chain: the rules are in its own shape.
    const ipt = await exec(h1(), ['iptables-nft', '-S', 'FORWARD']);
    expect(ipt.stdout).toMatch(/-A FORWARD -i yard0 -m comment --comment "switchyard: in yard0" -j ACCEPT/);
    const log = daemonLog();
    expect(log).toMatch(/host firewall: found .*ufw.*firewalld/);
    expect(log).toMatch(/host firewall: ufw chain ip filter FORWARD \(hook forward, policy drop\) would drop Switchyard's traffic; inserted at its top: /);
    expect(log).toMatch(/host firewall: firewalld chain inet firewalld filter_FORWARD/);
    expect(log).toMatch(/host firewall: nftables chain inet filter forward/);
  });

  it('published ports work from the LAN over IPv4 and IPv6; sandboxes reach out and each other', async () => {
    expect(await get(h2(), 'http://10.231.0.2:8080/')).toBe('web:80 from 10.231.0.3');
    expect(await get(h2(), 'http://[fd00:231::2]:8080/')).toBe('web:80 from fd00:231::3');
    // The host's input filtering does not apply in this mode (published ports are forwarded).
    expect(await get(h2(), 'http://10.231.0.2:8082/')).toBe('web:82 from 10.231.0.3');
    expect(await sandboxOut()).toBe(true);
    expect(await sandboxToSandbox()).toBe(true);
  });

  it('puts its rules back when the other firewall is reloaded (firewalld rebuilds its table)', async () => {
    await ok(exec(h1(), ['sh', '-c', `nft delete table inet firewalld && nft -f ${path.join(FIXTURES, 'firewalld.nft')}`]));
    expect(await eventually(async () => (await nft('list', 'chain', 'inet', 'firewalld', 'filter_FORWARD')).stdout.includes('switchyard: in yard0'), { timeoutMs: 10_000 })).toBe(true);
    expect(await sandboxOut()).toBe(true);
  });
});

describe('--host-firewall off: the other firewalls are left alone', () => {
  it('removes its rules when the daemon stops; the other firewalls then drop the traffic', async () => {
    await restart(['--host-firewall', 'off']);
    expect(await ourRules()).toBe(0);
    expect(daemonLog()).toMatch(/host firewall: removed Switchyard's 16 rule\(s\) from other firewalls/);
    expect(await get(h2(), 'http://10.231.0.2:8080/')).toMatch(/^exit (7|28)$/);
    expect(await sandboxOut()).toBe(false);
    // Positive control: the port is published and the sandbox serves it (the host's own
    // connections do not cross the forward hook).
    expect(await get(h1(), 'http://10.231.0.2:8080/')).toMatch(/^web:80 from /);
  });
});

describe('--host-firewall obey: published ports follow the host\'s input filtering', () => {
  it('allowed in ufw (8081) works, denied (8082) and not allowed (8080) are refused', async () => {
    // Only ufw decides input from here on (firewalld and the inet table would refuse 8081 too).
    await ok(exec(h1(), ['sh', '-c', 'nft delete table inet firewalld; nft delete table inet filter']));
    await restart(['--host-firewall', 'obey']);
    expect(await eventually(async () => (await ourRules()) === 8, { timeoutMs: 10_000 })).toBe(true);
    expect(await get(h2(), 'http://10.231.0.2:8081/')).toBe('web:81 from 10.231.0.3');
    expect(await get(h2(), 'http://[fd00:231::2]:8081/')).toBe('web:81 from fd00:231::3');
    expect(await get(h2(), 'http://10.231.0.2:8082/')).toBe('exit 7');
    expect(await get(h2(), 'http://10.231.0.2:8080/')).toBe('exit 7');
    expect(await get(h2(), 'http://[fd00:231::2]:8080/')).toBe('exit 7');
    expect(await sandboxOut()).toBe(true);
    const log = daemonLog();
    expect(log).toMatch(/host firewall obey: -p 8082:82\/tcp of web over IPv4: refused, as the host's input filtering decides \(ip filter ufw-user-input: tcp dport 8082 drop/);
    expect(log).toMatch(/host firewall obey: -p 8080:80\/tcp of web over IPv4: refused, as the host's input filtering decides \(ip filter INPUT: policy drop\)/);
    // yard port explain says it too.
    const explain = await ok(yard(h1(), 'port', 'explain', 'web'));
    expect(explain).toMatch(/-p 8082:82\/tcp:[\s\S]*host firewall:\n\s+ufw ip filter FORWARD drops forwarded traffic \(policy drop\): Switchyard keeps accept rules for its bridges at its top[\s\S]*IPv4 8082\/tcp: the host's input filtering would drop a new connection \(ip filter ufw-user-input: tcp dport 8082 drop[^\n]*--host-firewall obey: the published port is refused/);
    expect(explain).toMatch(/IPv4 8081\/tcp: the host's input filtering would accept [^\n]*--host-firewall obey: the published port is reachable/);
    const from = JSON.parse(await ok(yard(h1(), 'port', 'explain', 'web', '--from', '10.231.0.3', '--json'))) as any[];
    expect(from.map((e) => [e.spec, e.from.allowed])).toEqual([['8080:80/tcp', false], ['8081:81/tcp', true], ['8082:82/tcp', false]]);
    expect(from[2].from.decidedBy).toMatch(/^ip filter ufw-user-input: tcp dport 8082 drop/);
  });

  it('follows `ufw allow` within seconds', async () => {
    await ufw('allow', '8080/tcp');
    expect(await eventually(async () => (await get(h2(), 'http://10.231.0.2:8080/')) === 'web:80 from 10.231.0.3', { timeoutMs: 15_000, intervalMs: 500, tries: 30 })).toBe(true);
    expect(await get(h2(), 'http://10.231.0.2:8082/')).toBe('exit 7');
  });
});

describe('iptables-legacy', () => {
  it('a FORWARD policy DROP in iptables-legacy gets the same accept rules, through iptables-legacy', async () => {
    await restart([]);
    await ok(exec(h1(), ['iptables-legacy', '-P', 'FORWARD', 'DROP']));
    try {
      expect(await eventually(async () => (await exec(h1(), ['iptables-legacy', '-S', 'FORWARD'])).stdout.includes('--comment "switchyard: out'), { timeoutMs: 10_000 })).toBe(true);
      expect(await get(h2(), 'http://10.231.0.2:8080/')).toBe('web:80 from 10.231.0.3');
      expect(await sandboxOut()).toBe(true);
      expect(daemonLog()).toMatch(/host firewall: iptables-legacy chain iptables-legacy ip filter FORWARD/);
    } finally {
      await exec(h1(), ['iptables-legacy', '-P', 'FORWARD', 'ACCEPT']);
    }
  });
});
