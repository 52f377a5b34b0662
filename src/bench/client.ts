/**
 * HTTP on the daemon's unix socket for the benchmark: one kept-alive connection, as an SDK
 * (dockerode, docker-py) would hold it, so a figure is the daemon's work plus one round
 * trip, which the GET /_ping floor measures the same way.
 */
import http from 'node:http';

export interface Reply {
  status: number;
  text: string;
}

export class BenchClient {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

  constructor(readonly socket: string, private readonly timeoutMs = 30_000) {}

  request(method: string, path: string, body?: unknown): Promise<Reply> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          socketPath: this.socket,
          agent: this.agent,
          method,
          path,
          timeout: this.timeoutMs,
          headers: { Host: 'switchyard', ...(payload ? { 'Content-Type': 'application/json', 'Content-Length': payload.length } : {}) },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8').on('data', (d: string) => (text += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within ${this.timeoutMs} ms`)));
      req.on('error', reject);
      req.end(payload);
    });
  }

  /** Like request, but a status >= 300 is an error naming the call and the daemon's message. */
  async ok(method: string, path: string, body?: unknown): Promise<Reply> {
    const r = await this.request(method, path, body);
    if (r.status >= 300) throw new Error(`${method} ${path} answered ${r.status}: ${r.text.trim()}`);
    return r;
  }

  close(): void {
    this.agent.destroy();
  }
}
