/**
 * Sandboxes must not be able to take the daemon's file descriptors through the embedded
 * resolver's TCP port. The lab's daemon gets a descriptor limit of 1024 here (prlimit on
 * the running daemon; the caps follow it: 256 client connections, 64 upstream sockets),
 * and 20 sandboxes each hold 64 connections that trickle one byte a second (1280 in all:
 * more than the whole limit), reconnecting whenever the resolver closes one. While that goes on, the API
 * answers, a sandbox can be created and resolves names over UDP and TCP, every trickling
 * connection is closed within its deadline, and the daemon's descriptors stay under the
 * cap plus what it held before. A second test checks the absolute deadlines without
 * contention. Needs root and `npm run build`.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { dnsTcpLimits, TCP_LIFETIME_MS, TCP_MESSAGE_MS } from '../../src/dns/tcp-pool.js';
import { eventually, ok, pidAlive, sh, withLab, yard, yardJson } from './helpers.js';

const LIMIT = 1024;
const ATTACKERS = 20;
const PER_SANDBOX = 64;
const ATTACK_S = 18;
/** Late by at most one sweep, plus accept and scheduling delays on a loaded 2-core machine. */
const SLACK_S = 1.5;
const SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'dns-trickle.py');
const PY = '/usr/bin/python3';

const lab = withLab('dnsx');
const h = () => lab.host(1);
const fdCount = (pid: number) => fs.readdirSync(`/proc/${pid}/fd`).length;

interface KindStats {
  opened: number;
  connectFailed: number;
  closedByServer: number;
  lives: number[];
  openAtEnd: number[];
  answers: number[];
}
type Report = Record<'trickle' | 'chatty', KindStats>;

/** Run the trickling script inside each namespace at once; one report per namespace. */
async function attack(netns: string[], args: string, seconds: number): Promise<Report[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'yard-dnsx-'));
  try {
    const cmd = netns.map((ns, i) => `ip netns exec ${ns} ${PY} ${SCRIPT} ${args} seconds=${seconds} >${dir}/${i}.json 2>${dir}/${i}.err &`).join('\n');
    await ok(sh(h(), `${cmd}\nwait`, (seconds + 30) * 1000), 'attack');
    return netns.map((_, i) => {
      const out = fs.readFileSync(`${dir}/${i}.json`, 'utf8');
      if (!out.trim()) throw new Error(`attacker ${i} printed nothing: ${fs.readFileSync(`${dir}/${i}.err`, 'utf8')}`);
      return JSON.parse(out) as Report;
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const max = (xs: number[]) => xs.reduce((a, b) => Math.max(a, b), 0);

describe('embedded DNS, descriptor exhaustion over TCP', () => {
  const capped = dnsTcpLimits(LIMIT);
  let netnsOf: Record<string, string> = {};
  let web = '';

  beforeAll(async () => {
    await ok(yard(h(), 'network', 'create', '--subnet', '172.31.9.0/24', 'app'));
    const names = ['web', 'lone', ...Array.from({ length: ATTACKERS }, (_, i) => `att${i + 1}`)];
    await ok(sh(h(), `for n in ${names.join(' ')}; do yard run -d --name $n --network app -- sleep 900 >/dev/null || exit 1; done`, 120_000), 'creating sandboxes');
    const all = await yardJson<any[]>(h(), 'inspect', ...names);
    netnsOf = Object.fromEntries(all.map((s) => [s.Name.replace(/^\//, ''), s.Netns as string]));
    web = all[0].NetworkSettings.Networks.app.IPAddress;
  });

  it('runs with its soft descriptor limit at the hard one, logs it, and derives the caps from the limit', async () => {
    const pid = h().daemonPid!;
    const limits = () => fs.readFileSync(`/proc/${pid}/limits`, 'utf8').split('\n').find((l) => l.startsWith('Max open files'))!.replace('Max open files', '').trim().split(/\s+/).slice(0, 2);
    const [soft, hard] = limits();
    expect(soft).toBe(hard);
    const log = fs.readFileSync(h().logFile, 'utf8');
    expect(log).toContain(`descriptor limit (RLIMIT_NOFILE): ${soft}`);
    const initial = dnsTcpLimits(Number(soft));
    expect(log).toContain(`at most ${initial.tcpMax} TCP connections and ${initial.upstreamTcpMax} upstream TCP sockets`);
    expect(await yardJson(h(), 'dns', 'stats', '--json')).toMatchObject({ tcpMax: initial.tcpMax, upstreamTcpMax: initial.upstreamTcpMax });
    // A lower limit on the running daemon lowers the caps with the next connection.
    execFileSync('prlimit', ['--pid', String(pid), `--nofile=${LIMIT}:${LIMIT}`], { timeout: 5_000 });
    expect(limits()).toEqual([String(LIMIT), String(LIMIT)]);
    expect(await ok(yard(h(), 'exec', 'web', '--', 'dig', '+tcp', '+time=3', '+tries=1', '+short', 'web'))).toBe(web);
    expect(await yardJson(h(), 'dns', 'stats', '--json')).toMatchObject({ tcpMax: capped.tcpMax, upstreamTcpMax: capped.upstreamTcpMax });
  });

  it('keeps serving while sandboxes hold trickling TCP connections beyond the total cap', async () => {
    const pid = h().daemonPid!;
    execFileSync('prlimit', ['--pid', String(pid), `--nofile=${LIMIT}:${LIMIT}`], { timeout: 5_000 }); // as the test above left it
    const baseline = fdCount(pid);
    const attackers = Array.from({ length: ATTACKERS }, (_, i) => netnsOf[`att${i + 1}`]!);
    let peak = baseline;
    let samples = 0;
    const sampler = setInterval(() => {
      try {
        peak = Math.max(peak, fdCount(pid));
        samples++;
      } catch {
        /* the daemon died: the assertions below say so */
      }
    }, 100);
    const t0 = Date.now();
    let reports: Report[] = [];
    const running = attack(attackers, `trickle=${PER_SANDBOX} reconnect=1`, ATTACK_S);
    try {
      // Wait until the cap is reached and shedding has begun.
      const loaded = await eventually(async () => {
        const s = await yardJson(h(), 'dns', 'stats', '--json').catch(() => undefined);
        return s && s.tcpShed > 0 ? s : undefined;
      }, { timeoutMs: 10_000, intervalMs: 500, tries: 20 });
      console.log(`dns exhaustion: under attack after ${Date.now() - t0} ms: ${JSON.stringify(loaded)}`);
      // (a) the API answers
      const ls = await yard(h(), 'network', 'ls');
      expect(ls.code, ls.stderr).toBe(0);
      expect(ls.stdout).toContain('app');
      // (b) a new sandbox can be created
      await ok(yard(h(), 'run', '-d', '--name', 'fresh', '--network', 'app', '--', 'sleep', '600'), 'yard run fresh under attack');
      // (c) it resolves a name over UDP and over TCP
      expect(await ok(yard(h(), 'exec', 'fresh', '--', 'dig', '+time=3', '+tries=2', '+short', 'web'))).toBe(web);
      expect(await ok(yard(h(), 'exec', 'fresh', '--', 'dig', '+tcp', '+time=3', '+tries=2', '+short', 'web'))).toBe(web);
      expect(Date.now() - t0, 'the checks ran while the attack lasted').toBeLessThan(ATTACK_S * 1000);
    } finally {
      reports = await running.finally(() => clearInterval(sampler));
    }
    const trickle = reports.map((r) => r.trickle);
    const lives = trickle.flatMap((t) => t.lives);
    const openAtEnd = trickle.flatMap((t) => t.openAtEnd);
    const stats = await yardJson(h(), 'dns', 'stats', '--json');
    console.log(
      `dns exhaustion: ${ATTACKERS} sandboxes x ${PER_SANDBOX} trickling connections for ${ATTACK_S} s: ` +
        `${sum(trickle.map((t) => t.opened))} opened, ${lives.length} closed by the resolver (longest ${max(lives)} s), ` +
        `${openAtEnd.length} open at the end (oldest ${max(openAtEnd)} s), ${sum(trickle.map((t) => t.connectFailed))} connects failed; ` +
        `daemon fds: ${baseline} before, peak ${peak} over ${samples} samples (cap ${capped.tcpMax}, limit ${LIMIT}); ` +
        `shed ${stats.tcpShed}, timed out ${stats.tcpTimedOut}`,
    );
    // (d) every trickling connection was closed within the message deadline
    expect(lives.length).toBeGreaterThan(ATTACKERS * PER_SANDBOX);
    expect(max(lives)).toBeLessThanOrEqual(TCP_MESSAGE_MS / 1000 + SLACK_S);
    expect(max(openAtEnd)).toBeLessThanOrEqual(TCP_MESSAGE_MS / 1000 + SLACK_S);
    // (e) the daemon's descriptors stayed under the cap plus what it held before
    expect(pidAlive(pid)).toBe(true);
    expect(samples).toBeGreaterThan(ATTACK_S * 5);
    expect(peak).toBeLessThanOrEqual(baseline + capped.tcpMax + 16);
    expect(stats).toMatchObject({ tcpMax: capped.tcpMax, upstreamTcpMax: capped.upstreamTcpMax });
    expect(stats.tcpShed).toBeGreaterThan(0);
    // Afterwards the connections are gone and names resolve as before.
    expect(await eventually(async () => (await yardJson(h(), 'dns', 'stats', '--json')).tcpOpen === 0, { timeoutMs: 5_000, intervalMs: 250, tries: 20 })).toBe(true);
    expect(await ok(yard(h(), 'exec', 'att1', '--', 'dig', '+tcp', '+time=3', '+tries=1', '+short', 'web'))).toBe(web);
  });

  it('closes a trickling connection after 2 s and a busy one after 10 s of life, answering it until then', async () => {
    const before = await yardJson(h(), 'dns', 'stats', '--json');
    const [r] = await attack([netnsOf.lone!], 'trickle=4 chatty=4 name=web', TCP_LIFETIME_MS / 1000 + 4);
    console.log(`dns deadlines: ${JSON.stringify(r)}`);
    // Trickling: one byte a second never completes a message; closed at the message deadline.
    expect(r!.trickle.lives).toHaveLength(4);
    for (const life of r!.trickle.lives) {
      expect(life).toBeGreaterThanOrEqual(TCP_MESSAGE_MS / 1000 - 0.1);
      expect(life).toBeLessThanOrEqual(TCP_MESSAGE_MS / 1000 + SLACK_S);
    }
    // Chatty: a complete query every second, each answered; closed at 10 s all the same.
    expect(r!.chatty.lives).toHaveLength(4);
    for (const life of r!.chatty.lives) {
      expect(life).toBeGreaterThanOrEqual(TCP_LIFETIME_MS / 1000 - 0.1);
      expect(life).toBeLessThanOrEqual(TCP_LIFETIME_MS / 1000 + SLACK_S);
    }
    for (const n of r!.chatty.answers) expect(n).toBeGreaterThanOrEqual(TCP_LIFETIME_MS / 1000 - 1);
    expect(r!.trickle.openAtEnd.concat(r!.chatty.openAtEnd)).toEqual([]);
    const after = await yardJson(h(), 'dns', 'stats', '--json');
    expect(after.tcpTimedOut - before.tcpTimedOut).toBe(8);
    expect(after.tcpShed - before.tcpShed).toBe(0);
  });
});
