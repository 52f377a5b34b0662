/**
 * A tiny TCP echo server and latency client for the data-path benchmarks. It imports
 * nothing from the project, because it runs wherever a row needs it: inside a sandbox
 * (`yard run ... -- node dist/bench/tcp-pingpong.js serve 7000`) or inside a lab host
 * (`ip netns exec <host> node dist/bench/tcp-pingpong.js rr 10.231.0.2 7000 ...`), never
 * in the machine's own namespace. The same client measures every row, so its own cost
 * (a Node event-loop turn per message) is common to all of them and ratios stay fair.
 *
 *   serve PORT                         echo every byte back (several PORTs allowed)
 *   rr HOST PORT COUNT SECONDS         one connection, 1-byte request/response round trips
 *   connect HOST PORT COUNT SECONDS    a new connection per sample: connect + 1 round trip + close
 *   connect-ab HOST_A PORT_A HOST_B PORT_B COUNT SECONDS
 *                                      the same, alternating between two targets connection by
 *                                      connection (A B A B ...), so that both see the same load;
 *                                      prints {"a": {...}, "b": {...}}
 *
 * The clients print one JSON line: {n, errors, p10, p50, p99, min, mean} in milliseconds.
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';

const WARMUP_RR = 50;
const WARMUP_CONNECT = 10;
const CONNECT_TIMEOUT_MS = 2_000;

function serve(ports: number[]): void {
  for (const port of ports) {
    net
      .createServer((s) => {
        s.setNoDelay(true);
        s.on('data', (d) => s.write(d));
        s.on('error', () => s.destroy());
      })
      .listen(port, '0.0.0.0');
  }
}

function summary(samples: number[], errors: number): string {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => (s.length ? s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]! : NaN);
  const mean = s.length ? s.reduce((a, b) => a + b, 0) / s.length : NaN;
  const r = (v: number) => Math.round(v * 1000) / 1000;
  return JSON.stringify({ n: s.length, errors, p10: r(at(0.1)), p50: r(at(0.5)), p99: r(at(0.99)), min: r(s[0] ?? NaN), mean: r(mean) });
}

function rr(host: string, port: number, count: number, seconds: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const samples: number[] = [];
    const deadline = performance.now() + seconds * 1000;
    const byte = Buffer.from([0x2a]);
    let i = 0;
    let t0 = 0;
    const s = net.connect({ host, port, timeout: CONNECT_TIMEOUT_MS });
    s.setNoDelay(true);
    const send = () => {
      t0 = performance.now();
      s.write(byte);
    };
    s.once('connect', () => {
      s.setTimeout(0);
      send();
    });
    s.on('data', () => {
      const ms = performance.now() - t0;
      if (i++ >= WARMUP_RR) samples.push(ms);
      if (samples.length >= count || performance.now() > deadline) {
        s.destroy();
        resolve(summary(samples, 0));
      } else send();
    });
    s.on('timeout', () => s.destroy(new Error(`connect ${host}:${port}: timed out`)));
    s.on('error', reject);
  });
}

function oneConnect(host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const s = net.connect({ host, port, timeout: CONNECT_TIMEOUT_MS });
    s.setNoDelay(true);
    s.once('connect', () => s.write('*'));
    s.once('data', () => {
      const ms = performance.now() - t0;
      s.destroy();
      resolve(ms);
    });
    s.on('timeout', () => s.destroy(new Error('timeout')));
    s.on('error', reject);
  });
}

async function connects(host: string, port: number, count: number, seconds: number): Promise<string> {
  const samples: number[] = [];
  const deadline = performance.now() + seconds * 1000;
  let errors = 0;
  for (let i = 0; samples.length < count && performance.now() < deadline && errors < 20; i++) {
    try {
      const ms = await oneConnect(host, port);
      if (i >= WARMUP_CONNECT) samples.push(ms);
    } catch {
      errors++;
    }
  }
  return summary(samples, errors);
}

async function connectsAb(a: [string, number], b: [string, number], count: number, seconds: number): Promise<string> {
  const samples: [number[], number[]] = [[], []];
  const errors = [0, 0];
  const deadline = performance.now() + seconds * 1000;
  for (let i = 0; samples[1].length < count && performance.now() < deadline && errors[0]! + errors[1]! < 20; i++) {
    for (const [k, [host, port]] of [a, b].entries()) {
      try {
        const ms = await oneConnect(host, port);
        if (i >= WARMUP_CONNECT) samples[k]!.push(ms);
      } catch {
        errors[k]!++;
      }
    }
  }
  return `{"a":${summary(samples[0], errors[0]!)},"b":${summary(samples[1], errors[1]!)}}`;
}

async function main(argv: string[]): Promise<void> {
  const [mode, ...rest] = argv;
  const num = (v: string | undefined, what: string) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`${what} must be a positive number, got ${v}`);
    return n;
  };
  if (mode === 'serve') return serve(rest.map((p) => num(p, 'PORT')));
  if (mode === 'rr' || mode === 'connect') {
    const [host, port, count, seconds] = rest;
    if (!host) throw new Error(`${mode} needs HOST PORT COUNT SECONDS`);
    const args = [host, num(port, 'PORT'), num(count, 'COUNT'), num(seconds, 'SECONDS')] as const;
    process.stdout.write(`${mode === 'rr' ? await rr(...args) : await connects(...args)}\n`);
    return;
  }
  if (mode === 'connect-ab') {
    const [ha, pa, hb, pb, count, seconds] = rest;
    if (!ha || !hb) throw new Error('connect-ab needs HOST_A PORT_A HOST_B PORT_B COUNT SECONDS');
    process.stdout.write(`${await connectsAb([ha, num(pa, 'PORT_A')], [hb, num(pb, 'PORT_B')], num(count, 'COUNT'), num(seconds, 'SECONDS'))}\n`);
    return;
  }
  throw new Error('usage: tcp-pingpong serve PORT... | rr HOST PORT COUNT SECONDS | connect HOST PORT COUNT SECONDS | connect-ab HOST_A PORT_A HOST_B PORT_B COUNT SECONDS');
}

main(process.argv.slice(2)).catch((e: Error) => {
  process.stderr.write(`tcp-pingpong: ${e.message}\n`);
  process.exit(1);
});
