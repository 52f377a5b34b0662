/**
 * Embedded DNS benchmark (figures, no asserts). In a throwaway 1-host lab, from inside a
 * sandbox on a user network, one UDP client (a node script, the same for every row):
 *   - A of a sandbox name via 127.0.0.11: sequential, then 8 and 32 in flight;
 *   - the lab's fake upstream (10.231.0.1) queried directly: the baseline, same modes;
 *   - a forwarded name via 127.0.0.11 vs the upstream directly: the added latency.
 * Docker 20.10 on this machine kind (reference/docker-on-this-machine.md, Python client):
 * sequential p50 0.16 / p99 1.4 ms, 4 300 q/s; 32 in flight 27 800 q/s, p99 6.7 ms;
 * forwarding adds 0.37 ms at p50.
 *
 *   node dist/bench/dns.js [--count N] [--seconds S]
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { labDown, labExec, labUp, type LabInfo } from '../lab/lab.js';

const CLIENT = `
import dgram from 'node:dgram';
const [server, name, inflight, count, seconds] = [process.argv[2], process.argv[3], Number(process.argv[4]), Number(process.argv[5]), Number(process.argv[6])];
function q(name, id) {
  const labels = name.split('.').filter(Boolean).flatMap((l) => [Buffer.from([l.length]), Buffer.from(l)]);
  const head = Buffer.alloc(12); head.writeUInt16BE(id, 0); head.writeUInt16BE(0x0100, 2); head.writeUInt16BE(1, 4);
  return Buffer.concat([head, ...labels, Buffer.from([0, 0, 1, 0, 1])]);
}
const s = dgram.createSocket('udp4');
await new Promise((r) => s.bind(0, r));
const sent = new Map();
const lat = [];
let timeouts = 0, next = 0, done = 0, bad = 0;
const deadline = performance.now() + seconds * 1000;
await new Promise((finish) => {
  const fire = () => {
    if (next >= count || performance.now() > deadline) { if (sent.size === 0) finish(); return; }
    const id = next++ & 0xffff;
    sent.set(id, { t: performance.now(), timer: setTimeout(() => { sent.delete(id); timeouts++; fire(); }, 1000) });
    s.send(q(name, id), 53, server);
  };
  s.on('message', (m) => {
    const e = sent.get(m.readUInt16BE(0));
    if (!e) return;
    clearTimeout(e.timer);
    sent.delete(m.readUInt16BE(0));
    if ((m[3] & 15) !== 0 || m.readUInt16BE(6) < 1) bad++;
    lat.push(performance.now() - e.t);
    done++;
    fire();
  });
  for (let i = 0; i < inflight; i++) fire();
});
const elapsed = (performance.now() - (deadline - seconds * 1000)) / 1000;
lat.sort((a, b) => a - b);
const pct = (p) => lat.length ? lat[Math.min(lat.length - 1, Math.floor(lat.length * p))] : NaN;
console.log(JSON.stringify({ n: done, timeouts, bad, qps: done / elapsed, p50: pct(0.5), p99: pct(0.99) }));
process.exit(0);
`;

interface Row {
  n: number;
  timeouts: number;
  bad: number;
  qps: number;
  p50: number;
  p99: number;
}

export async function runDnsBench(opts: { count?: number; seconds?: number; out?: (l: string) => void } = {}): Promise<void> {
  const out = opts.out ?? ((l: string) => console.log(l));
  const count = opts.count ?? 3000;
  const seconds = opts.seconds ?? 10;
  const name = `dnsb${process.pid}`.slice(0, 16);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'yard-dnsbench-'));
  const client = path.join(dir, 'client.mjs');
  fs.writeFileSync(client, CLIENT);
  let info: LabInfo | undefined;
  try {
    await labDown(name);
    info = await labUp({ name, hosts: 1 });
    const h = info.hosts[0]!;
    const yard = async (...args: string[]) => {
      const r = await labExec(info!, h, ['yard', ...args], { timeoutMs: 120_000 });
      if (r.code !== 0) throw new Error(`yard ${args.join(' ')}: ${r.stderr}`);
      return r.stdout.trim();
    };
    await yard('network', 'create', '--subnet', '172.29.1.0/24', 'bench');
    await yard('run', '-d', '--name', 'web1', '--network', 'bench', '--', 'sleep', '3600');
    await yard('run', '-d', '--name', 'web2', '--network', 'bench', '--', 'sleep', '3600');
    // Replies from the LAN find the sandbox subnet even without masquerade (lab namespace only).
    execFileSync('ip', ['-n', info.lanNs, 'route', 'replace', '172.29.0.0/16', 'via', h.lan4], { timeout: 10_000 });
    const measure = async (server: string, qname: string, inflight: number): Promise<Row> => {
      const raw = await yard('exec', 'web1', '--', process.execPath, client, server, qname, String(inflight), String(count * Math.max(1, inflight / 4)), String(seconds));
      return JSON.parse(raw) as Row;
    };
    const rows: [string, Row][] = [];
    for (const inflight of [1, 8, 32]) {
      rows.push([`A web2 via 127.0.0.11, ${inflight} in flight`, await measure('127.0.0.11', 'web2', inflight)]);
      rows.push([`A foo.lab at the upstream directly, ${inflight} in flight`, await measure('10.231.0.1', 'foo.lab', inflight)]);
    }
    rows.push(['A foo.lab forwarded via 127.0.0.11, sequential', await measure('127.0.0.11', 'foo.lab', 1)]);
    const f = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : '-');
    out('| query | answers | timeouts | q/s | p50 ms | p99 ms |');
    out('|---|---|---|---|---|---|');
    for (const [what, r] of rows) out(`| ${what} | ${r.n} | ${r.timeouts} | ${Math.round(r.qps)} | ${f(r.p50)} | ${f(r.p99)} |`);
    const direct = rows.find(([w]) => w.startsWith('A foo.lab at the upstream directly, 1 '))![1];
    const fwd = rows.at(-1)![1];
    out(`forwarding adds ${f(fwd.p50 - direct.p50)} ms at p50 (Docker here: 0.37 ms); Docker sequential: p50 0.16 / p99 1.4 ms, 4300 q/s; 32 in flight: 27800 q/s, p99 6.7 ms (Python client)`);
    const stats = await yard('dns', 'stats', '--json');
    out(`resolver counters: ${stats.replace(/\s+/g, ' ')}`);
    const pid = h.daemonPid;
    if (pid) out(`daemon RSS: ${Math.round(Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024)} MiB`);
  } finally {
    await labDown(name).catch(() => {});
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const isEntry = process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isEntry) {
  const arg = (flag: string) => {
    const i = process.argv.indexOf(flag);
    return i > 0 ? Number(process.argv[i + 1]) : undefined;
  };
  runDnsBench({ count: arg('--count'), seconds: arg('--seconds') }).catch((e: unknown) => {
    console.error(`dns bench: ${e instanceof Error ? e.message : String(e)}`);
    process.exitCode = 1;
  });
}
