/**
 * Hairpin to a sandbox's own published port: `web` with `-p 8080:80` reaches
 * `<host LAN address>:8080` itself. Two things make it work on this kernel (br_netfilter
 * is built in, so the host DNATs the frame while bridging it): the bridge port is in
 * hairpin mode (the frame goes back out of the port it came in on), and the nat
 * postrouting chain masquerades DNATed traffic of a network back into itself (otherwise
 * the packet arrives with the sandbox's own address as source and is dropped). One lab
 * host; the LAN namespace plays another machine.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostVethName } from '../../src/drivers/bridge.js';
import { restartDaemon } from '../../src/lab/lab.js';
import { run } from '../../src/kernel/exec.js';
import { eventually, exec, inspectSandbox, ipJson, ok, withLab, yard } from './helpers.js';

const lab = withLab('fwhp', 1);
const h1 = () => lab.host(1);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'yard-fwhp-'));
const SRV = path.join(dir, 'srv.cjs');
// Answers "<name> from <client address>", on IPv4 and IPv6.
fs.writeFileSync(
  SRV,
  `require('http').createServer((q, r) => r.end((process.env.SRV_NAME || 'srv') + ' from ' + q.socket.remoteAddress.replace(/^::ffff:/, '') + '\\n')).listen(80, '::');
setTimeout(() => process.exit(0), 300000);
`,
);

/** Body of a GET from inside a sandbox ('' when it fails); wget, as a user would. */
async function wgetFrom(sandbox: string, url: string): Promise<string> {
  const { Netns } = await inspectSandbox(h1(), sandbox);
  const r = await exec(h1(), ['ip', 'netns', 'exec', Netns, 'wget', '-qO-', '-T', '2', '-t', '1', url], { timeoutMs: 5_000 });
  return r.code === 0 ? r.stdout.trim() : '';
}

/** The host-side veth of a sandbox's endpoint on a network, and its bridge-port hairpin flag. */
async function hairpinOf(sandbox: string, network: string): Promise<{ veth: string; hairpin: boolean }> {
  const sb = await inspectSandbox(h1(), sandbox);
  const veth = hostVethName(sb.NetworkSettings.Networks[network].EndpointID);
  const [l] = await ipJson<any[]>(h1(), ['-d', 'link', 'show', 'dev', veth]);
  return { veth, hairpin: l?.linkinfo?.info_slave_data?.hairpin === true };
}

beforeAll(async () => {
  const y = (...a: string[]) => ok(yard(h1(), ...a), `yard ${a.join(' ')}`);
  await y('network', 'create', '--ipv6', '--subnet', '172.30.0.0/16', '--subnet', 'fd00:30::/64', 'app');
  await y('network', 'create', '-o', 'com.docker.network.bridge.enable_ip_masquerade=false', '--subnet', '172.29.0.0/16', 'nomasq');
  await y('run', '-d', '--name', 'web', '-p', '8080:80', '--network', 'app', '-e', 'SRV_NAME=web', '--', 'node', SRV);
  await y('run', '-d', '--name', 'cli', '--network', 'app', '--', 'sleep', '600');
  await y('run', '-d', '--name', 'quiet', '-p', '8082:80', '--network', 'nomasq', '-e', 'SRV_NAME=quiet', '--', 'node', SRV);
  const webIp = (await inspectSandbox(h1(), 'web')).NetworkSettings.Networks.app.IPAddress;
  expect(await eventually(async () => (await wgetFrom('cli', `http://${webIp}/`)).startsWith('web'), { timeoutMs: 10_000 })).toBe(true);
});

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('a sandbox reaches its own published port through the host', () => {
  it('over IPv4 and IPv6, seen as coming from the network\'s gateway', async () => {
    expect(await wgetFrom('web', 'http://10.231.0.2:8080/')).toBe('web from 172.30.0.1');
    expect(await wgetFrom('web', 'http://[fd00:231::2]:8080/')).toBe('web from fd00:30::1');
  });

  it('also on a network with enable_ip_masquerade=false', async () => {
    expect(await wgetFrom('quiet', 'http://10.231.0.2:8082/')).toBe('quiet from 172.29.0.1');
  });

  it('leaves other paths as they were: another sandbox of the network, and the LAN keeps its client address', async () => {
    expect(await wgetFrom('cli', 'http://10.231.0.2:8080/')).toBe('web from 172.30.0.1');
    const r = await run('ip', ['netns', 'exec', lab.info.lanNs, 'curl', '-sS', '--noproxy', '*', '--max-time', '2', 'http://10.231.0.2:8080/'], { timeoutMs: 5_000 });
    expect(r.stdout.trim()).toBe('web from 10.231.0.1');
  });

  it('needs the bridge port\'s hairpin mode, which is in the plan: reconcile puts it back', async () => {
    const { veth, hairpin } = await hairpinOf('web', 'app');
    expect(hairpin).toBe(true);
    expect((await hairpinOf('cli', 'app')).hairpin).toBe(true);
    await ok(exec(h1(), ['ip', 'link', 'set', 'dev', veth, 'type', 'bridge_slave', 'hairpin', 'off']));
    expect(await wgetFrom('web', 'http://10.231.0.2:8080/')).toBe('');
    await restartDaemon(lab.info, h1());
    expect((await hairpinOf('web', 'app')).hairpin).toBe(true);
    expect(await wgetFrom('web', 'http://10.231.0.2:8080/')).toBe('web from 172.30.0.1');
  });

  it('`yard port explain` says how', async () => {
    expect(await ok(yard(h1(), 'port', 'explain', 'web'))).toContain('ct status dnat oifname . ip saddr @hairpin4 masquerade');
  });
});
