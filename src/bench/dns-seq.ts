/**
 * A sequential DNS latency client for the dns benchmark part: one UDP socket, one A query
 * at a time, the next sent as the answer arrives. It imports nothing from the project
 * because it runs inside a sandbox's namespace (`ip netns exec <ns> node dist/bench/dns-seq.js
 * SERVER NAME COUNT SECONDS`). dnsperf measures the in-flight rows; run with one query
 * outstanding on a loaded machine it gave erratic figures (12 q/s, p50 5.8 ms for a local
 * name in the same minute a forwarded one took 0.86 ms), so the sequential and forwarding
 * rows use this single event loop, the same client for the resolver and the upstream.
 *
 * Prints one JSON line: {n, timeouts, bad, qps, p50, p99} (milliseconds; bad: not NOERROR
 * or no answer record).
 */
import dgram from 'node:dgram';
import { performance } from 'node:perf_hooks';

const TIMEOUT_MS = 1000;
const WARMUP = 20;

function query(name: string, id: number): Buffer {
  const head = Buffer.alloc(12);
  head.writeUInt16BE(id, 0);
  head.writeUInt16BE(0x0100, 2); // recursion desired
  head.writeUInt16BE(1, 4);
  const labels = name.split('.').filter(Boolean).flatMap((l) => [Buffer.from([l.length]), Buffer.from(l)]);
  return Buffer.concat([head, ...labels, Buffer.from([0, 0, 1, 0, 1])]);
}

async function main(): Promise<void> {
  const [server, name, count, seconds] = [process.argv[2]!, process.argv[3]!, Number(process.argv[4]), Number(process.argv[5])];
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, r));
  const lat: number[] = [];
  let timeouts = 0;
  let bad = 0;
  let id = 0;
  const once = () =>
    new Promise<number>((resolve) => {
      const want = ++id & 0xffff;
      const t0 = performance.now();
      const timer = setTimeout(() => {
        s.off('message', onMessage);
        resolve(NaN);
      }, TIMEOUT_MS);
      const onMessage = (m: Buffer) => {
        if (m.length < 12 || m.readUInt16BE(0) !== want) return;
        clearTimeout(timer);
        s.off('message', onMessage);
        if ((m[3]! & 15) !== 0 || m.readUInt16BE(6) < 1) bad++;
        resolve(performance.now() - t0);
      };
      s.on('message', onMessage);
      s.send(query(name, want), 53, server);
    });
  for (let i = 0; i < WARMUP; i++) await once();
  bad = 0;
  const start = performance.now();
  const deadline = start + seconds * 1000;
  for (let i = 0; i < count && performance.now() < deadline; i++) {
    const ms = await once();
    if (Number.isNaN(ms)) timeouts++;
    else lat.push(ms);
  }
  const elapsed = (performance.now() - start) / 1000;
  lat.sort((a, b) => a - b);
  const pct = (p: number) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(lat.length * p))]! : NaN);
  process.stdout.write(JSON.stringify({ n: lat.length, timeouts, bad, qps: lat.length / elapsed, p50: pct(0.5), p99: pct(0.99) }) + '\n');
  s.close();
}

main().catch((e: unknown) => {
  process.stderr.write(`dns-seq: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
