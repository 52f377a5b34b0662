/**
 * HTTP on the daemon's unix socket for the benchmark: one kept-alive connection, as an SDK
 * (dockerode, docker-py) would hold it, so a figure is the daemon's work plus one round
 * trip, which the GET /_ping floor measures the same way.
 */
import http from 'node:http';
import { unixHttp } from '../client/daemon-client.js';

export type { HttpReply as Reply } from '../client/daemon-client.js';
import type { HttpReply as Reply } from '../client/daemon-client.js';

export class BenchClient {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

  constructor(readonly socket: string, private readonly timeoutMs = 30_000) {}

  request(method: string, path: string, body?: unknown): Promise<Reply> {
    return unixHttp(this.socket, method, path, body, { timeoutMs: this.timeoutMs, agent: this.agent });
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
