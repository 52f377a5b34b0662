/**
 * Fuzzing the embedded resolver from inside a sandbox: thousands of mutated, random and
 * malformed packets over UDP and TCP (test/lab/dns-fuzz-client.mjs, seeded, bounded in
 * count and time), with a valid query interleaved every 25 packets that must resolve; then
 * a short flood after which queries resolve with their usual latency. The daemon must not
 * crash, no listener may be lost, and other sandboxes keep resolving. Needs root and
 * `npm run build`.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { exec, ok, pidAlive, withLab, yard, yardJson } from './helpers.js';

const lab = withLab('dnsf');
const h = () => lab.host(1);
const CLIENT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'dns-fuzz-client.mjs');
const UDP_PACKETS = 2500;
const TCP_CONNS = 40;
const TCP_FRAMES = 15;
const EVERY = 25;

describe('embedded DNS, fuzzing and flooding', () => {
  const netns: Record<string, string> = {};
  let web = '';

  /** The fuzz client inside a sandbox's namespace; its JSON report. */
  async function client(sb: string, args: string[], timeoutMs: number): Promise<any> {
    const out = await ok(exec(h(), ['ip', 'netns', 'exec', netns[sb]!, process.execPath, CLIENT, ...args], { timeoutMs }), `fuzz client ${args[0]}`);
    return JSON.parse(out.split('\n').pop()!);
  }
  /** The resolver's sockets in a sandbox, as the kernel lists them. */
  async function sockets(sb: string): Promise<string[]> {
    const found: string[] = [];
    for (const [proto, flag] of [['udp', '-lnu'], ['tcp', '-lnt']] as const) {
      if ((await ok(exec(h(), ['ip', 'netns', 'exec', netns[sb]!, 'ss', '-H', flag]))).includes('127.0.0.11:53')) found.push(proto);
    }
    return found;
  }
  const digShort = (sb: string, ...args: string[]) => ok(yard(h(), 'exec', sb, '--', 'dig', '+time=3', '+tries=1', '+short', ...args));

  beforeAll(async () => {
    await ok(yard(h(), 'network', 'create', '--subnet', '172.31.7.0/24', 'app'));
    for (const n of ['web', 'fuzzer', 'bystander']) await ok(yard(h(), 'run', '-d', '--name', n, '--network', 'app', '--', 'sleep', '600'));
    const all = await yardJson<any[]>(h(), 'inspect', 'web', 'fuzzer', 'bystander');
    for (const s of all) netns[String(s.Name).replace(/^\//, '')] = s.Netns;
    web = all[0].NetworkSettings.Networks.app.IPAddress;
    // Forwarded (mutated, unknown) names reach the lab's upstream and its answers come back.
    execFileSync('ip', ['-n', lab.info.lanNs, 'route', 'replace', '172.31.7.0/24', 'via', h().lan4], { timeout: 10_000 });
  });

  it('survives 2,500 fuzzed UDP packets and 600 fuzzed TCP frames, answering valid queries throughout', async () => {
    const pid = h().daemonPid!;
    const before = await yardJson(h(), 'dns', 'stats', '--json');
    expect(await sockets('fuzzer')).toEqual(['udp', 'tcp']);
    const t0 = Date.now();
    const r = await client('fuzzer', ['fuzz', `name=web`, `expect=${web}`, `udp=${UDP_PACKETS}`, `tcpConns=${TCP_CONNS}`, `tcpFrames=${TCP_FRAMES}`, `every=${EVERY}`, 'seed=20240611', 'seconds=40'], 60_000);
    const after = await yardJson(h(), 'dns', 'stats', '--json');
    console.log(
      `dns fuzz (${((Date.now() - t0) / 1000).toFixed(1)} s): UDP ${r.udp.sent} sent, ${r.udp.answered} answered, ${r.udp.dropped} dropped; ` +
        `TCP ${r.tcp.conns} connections, ${r.tcp.framesSent} frames sent, ${r.tcp.answered} answered, ${r.tcp.closedByServer} closed by the resolver; ` +
        `controls: UDP ${r.controls.ok}/${r.controls.asked} (slowest ${r.controls.maxMs} ms), TCP same connection ${r.tcp.controlsSameConnOk}/${r.tcp.honestConns}, ` +
        `new connection ${r.tcp.controlsNewConnOk}/${r.tcp.controlsNewConn}; resolver: malformed +${after.malformed - before.malformed}, ` +
        `errors +${after.errors - before.errors}`,
    );
    // Bounded, and all of it sent.
    expect(r.timedOut).toBe(false);
    expect(r.udp.sent).toBe(UDP_PACKETS);
    expect(r.tcp.conns).toBe(TCP_CONNS);
    expect(r.udp.sent + r.tcp.framesSent).toBeGreaterThanOrEqual(2000);
    // Every interleaved valid query resolved (positive control), over UDP and over TCP.
    expect(r.controls.asked).toBe(UDP_PACKETS / EVERY);
    expect(r.controls.ok).toBe(r.controls.asked);
    expect(r.tcp.controlsNewConnOk).toBe(r.tcp.controlsNewConn);
    expect(r.tcp.honestConns).toBeGreaterThan(0);
    expect(r.tcp.controlsSameConnOk).toBe(r.tcp.honestConns);
    // The junk was read and judged: most of it answered (FORMERR and the like), the rest dropped.
    expect(r.udp.answered).toBeGreaterThan(UDP_PACKETS / 4);
    expect(after.malformed - before.malformed).toBeGreaterThan(UDP_PACKETS / 4);
    expect(after.errors - before.errors).toBe(0);
    // Nothing crashed and no listener was lost.
    expect(pidAlive(pid)).toBe(true);
    expect(after.listeners).toBe(before.listeners);
    expect(await sockets('fuzzer')).toEqual(['udp', 'tcp']);
    expect(await digShort('fuzzer', 'web')).toBe(web);
    expect(await digShort('fuzzer', '+tcp', 'web')).toBe(web);
    expect(await digShort('bystander', 'web')).toBe(web);
  });

  it('answers with its usual latency after a short flood', async () => {
    const pid = h().daemonPid!;
    const before = await yardJson(h(), 'dns', 'stats', '--json');
    const r = await client('fuzzer', ['flood', 'name=web', `expect=${web}`, 'flood=6', 'seconds=20'], 40_000);
    const after = await yardJson(h(), 'dns', 'stats', '--json');
    console.log(
      `dns flood (${r.flood.seconds} s): ${r.flood.sent} sent, ${r.flood.answered} answered, ${r.flood.dropped} dropped; ` +
        `controls during the flood ${r.during.ok}/${r.during.asked}; latency before: median ${r.before.medianMs} ms (${r.before.ok}/20 answered), ` +
        `after: median ${r.after.medianMs} ms, slowest ${r.after.maxMs} ms (${r.after.ok}/20 answered); resolver: UDP queries +${after.queriesUdp - before.queriesUdp}`,
    );
    expect(r.flood.sent).toBeGreaterThan(1000);
    expect(r.flood.answered).toBeGreaterThan(0);
    expect(r.before.ok).toBe(20);
    expect(r.after.ok).toBe(20);
    // "Usual": within a few ms of the baseline on a loaded 2-core machine.
    expect(r.after.medianMs).toBeLessThan(Math.max(20, r.before.medianMs * 5));
    expect(pidAlive(pid)).toBe(true);
    expect(after.listeners).toBe(before.listeners);
    expect(await sockets('fuzzer')).toEqual(['udp', 'tcp']);
    expect(await digShort('bystander', 'web')).toBe(web);
  });
});
