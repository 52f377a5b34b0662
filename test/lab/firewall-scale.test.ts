/**
 * Publishing thousands of ports must not freeze the daemon. While `yard run` publishes a
 * shifted 10,000-port range and 1,000 `-p 80-89` (each one a search for 10 free
 * consecutive ephemeral ports: 20,000 ports in all), the API keeps answering `GET /_ping` and `GET /networks` (what `yard network ls`
 * asks) and the embedded DNS resolver keeps answering another sandbox, each within 1 s.
 * The ports are all there afterwards, and a clash with them is still refused. One lab host.
 */
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exec, inspectSandbox, ok, withLab, yard } from './helpers.js';

const lab = withLab('fwsc', 1);
const h1 = () => lab.host(1);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'yard-fwsc-'));
const STOP = path.join(dir, 'stop');
/** `-p 80-89` values (each takes 10 consecutive host ports from 32768 on). */
const PICKS = 1000;

/** One GET on the daemon's socket: status and milliseconds, or -1 on error/timeout (5 s). */
function timedGet(pathname: string): Promise<{ status: number; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const req = http.get({ socketPath: h1().socket, path: pathname, timeout: 5_000, headers: { Host: 'switchyard' } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - t0 }));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve({ status: -1, ms: performance.now() - t0 }));
  });
}

/**
 * Queries 127.0.0.11 for NAME (A record) inside the sandbox's namespace, one at a time,
 * 100 ms apart, until the stop file exists after an answer (at most 150 s); a query not
 * answered within 2 s counts as failed. Prints {"n":..,"fails":..,"max":..}: answers,
 * failures (timeouts, errors, empty answers) and the slowest answer in ms.
 */
const DNS_PROBE = `
const dgram = require('dgram'), fs = require('fs');
const [name, stop] = process.argv.slice(1);
const q = (id) => { const labels = name.split('.').flatMap((l) => [Buffer.from([l.length]), Buffer.from(l)]);
  return Buffer.concat([Buffer.from([id >> 8, id & 255, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), ...labels, Buffer.from([0, 0, 1, 0, 1])]); };
const s = dgram.createSocket('udp4'); let n = 0, fails = 0, max = 0, id = 0, sent = 0, timer;
const t0 = Date.now();
function done(ok) {
  clearTimeout(timer); const ms = Date.now() - sent; max = Math.max(max, ms); if (!ok) fails++;
  if (fs.existsSync(stop) || Date.now() - t0 > 150000) { console.log(JSON.stringify({ n, fails, max })); process.exit(0); }
  setTimeout(ask, 100);
}
s.on('message', (m) => { if (m.readUInt16BE(0) !== id) return; n++; done((m[3] & 15) === 0 && m.readUInt16BE(6) > 0); });
function ask() { id = (id % 65535) + 1; sent = Date.now(); timer = setTimeout(() => done(false), 2000); s.send(q(id), 53, '127.0.0.11'); }
ask();
`;

beforeAll(async () => {
  const y = (...a: string[]) => ok(yard(h1(), ...a), `yard ${a.join(' ')}`);
  await y('network', 'create', '--ipv6', '--subnet', '172.30.0.0/16', '--subnet', 'fd00:30::/64', 'big-net');
  await y('run', '-d', '--name', 'asker', '--network', 'big-net', '--', 'sleep', '600');
  await y('run', '-d', '--name', 'answer', '--network', 'big-net', '--', 'sleep', '600');
});

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('a 10,000-port publish does not stall the daemon', () => {
  it('keeps the API and the DNS resolver answering within 1 s while it runs', async () => {
    const { Netns } = await inspectSandbox(h1(), 'asker');
    // Positive control first: the resolver answers the name before anything heavy runs.
    const probe = (file: string) => exec(h1(), ['ip', 'netns', 'exec', Netns, process.execPath, '-e', DNS_PROBE, 'answer', file], { timeoutMs: 160_000 });
    const warm = path.join(dir, 'warm');
    fs.writeFileSync(warm, '');
    const first = JSON.parse(await ok(probe(warm)));
    expect(first).toEqual({ n: 1, fails: 0, max: expect.any(Number) });

    const dns = probe(STOP);
    const samples: { status: number; ms: number }[] = [];
    let running = true;
    const api = (async () => {
      for (let i = 0; running && i < 2000; i++) {
        samples.push(await timedGet(i % 2 ? '/networks' : '/_ping'));
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const t0 = Date.now();
    const args = ['run', '-d', '--name', 'big', '--network', 'big-net', '-p', '10000-19999:20000-29999'];
    for (let i = 0; i < PICKS; i++) args.push('-p', '80-89');
    const r = await exec(h1(), ['yard', ...args, '--', 'sleep', '600'], { timeoutMs: 150_000 });
    const took = Date.now() - t0;
    running = false;
    fs.writeFileSync(STOP, '');
    await api;
    const d = JSON.parse(await ok(dns));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const worst = Math.max(...samples.map((s) => s.ms));
    console.log(`yard run with ${10_000 + 10 * PICKS} ports: ${took} ms; API: ${samples.length} requests, slowest ${worst.toFixed(0)} ms; DNS: ${d.n} answers, slowest ${d.max} ms`);
    expect(samples.length).toBeGreaterThan(3);
    expect(samples.filter((s) => s.status !== 200)).toEqual([]);
    expect(worst).toBeLessThan(1_000);
    expect(d.n).toBeGreaterThan(3);
    expect(d.fails).toBe(0);
    expect(d.max).toBeLessThan(1_000);
  });

  it('published every port, and still refuses a clash with them', async () => {
    const lines = (await ok(yard(h1(), 'port', 'big'))).split('\n');
    // 10,000 + 10 x PICKS container ports, each on 0.0.0.0 and [::].
    expect(lines.length).toBe(2 * (10_000 + 10 * PICKS));
    expect(lines).toContain('20000/tcp -> 0.0.0.0:10000');
    expect(lines).toContain('29999/tcp -> [::]:19999');
    // The picks are packed one after the other from 32768: 80 -> 32768, 32778, ...
    const starts = lines.filter((l) => l.startsWith('80/tcp -> 0.0.0.0:')).map((l) => Number(l.split(':').pop())).sort((a, b) => a - b);
    expect(starts).toEqual(Array.from({ length: PICKS }, (_, i) => 32768 + 10 * i));
    expect(lines).toContain(`89/tcp -> 0.0.0.0:${32768 + 10 * PICKS - 1}`);
    // A clash is refused, naming the holder; a free port right next to the range is accepted.
    const clash = await yard(h1(), 'run', '--dry-run', '--name', 'x', '--network', 'big-net', '-p', '15000:80', '--', 'true');
    expect(clash.code).toBe(1);
    expect(clash.stderr).toMatch(/host port 0\.0\.0\.0:15000\/tcp is already published by sandbox big/);
    const free = await yard(h1(), 'run', '--dry-run', '--name', 'x', '--network', 'big-net', '-p', '20000:80', '--', 'true');
    expect(free.stderr).toBe('');
    expect(free.code).toBe(0);
  });
});
