/**
 * The CLI's only way to the daemon: HTTP/1.1 over its unix socket. Error bodies come back
 * as YardErrors (code and field preserved) so the CLI prints the daemon's one-line error.
 */
import http from 'node:http';
import { YardError, ERROR_CODES, type ErrorCode } from '../errors.js';

export interface ClientOptions {
  socket: string;
  timeoutMs?: number;
}

export class DaemonClient {
  constructor(readonly opts: ClientOptions) {}

  async request<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const res = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = http.request(
        {
          socketPath: this.opts.socket,
          method,
          path,
          headers: {
            Host: 'switchyard',
            ...(payload ? { 'Content-Type': 'application/json', 'Content-Length': payload.length } : {}),
          },
          timeout: this.opts.timeoutMs ?? 120_000,
        },
        (r) => {
          const chunks: Buffer[] = [];
          r.on('data', (c: Buffer) => chunks.push(c));
          r.on('end', () => resolve({ status: r.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
          r.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer from the daemon within ${this.opts.timeoutMs ?? 120_000} ms`)));
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') {
          reject(
            new YardError('DAEMON_UNREACHABLE', `cannot reach the Switchyard daemon at ${this.opts.socket} (${err.code})`, {
              hint: 'start it with `yard daemon`, or point --host/YARD_HOST at the right socket (inside a lab: `yard lab exec hostN -- yard ...`)',
            }),
          );
        } else reject(err);
      });
      if (payload) req.write(payload);
      req.end();
    });
    const parsed = res.text ? safeJson(res.text) : undefined;
    if (res.status >= 400) {
      const obj = (parsed ?? {}) as { message?: string; code?: string; field?: string };
      const code = (obj.code && obj.code in ERROR_CODES ? obj.code : 'INTERNAL') as ErrorCode;
      // The daemon's message already carries the hint.
      throw new YardError(code, obj.message ?? `daemon answered ${res.status}: ${res.text}`, { field: obj.field });
    }
    return parsed as T;
  }

  get<T = unknown>(path: string) {
    return this.request<T>('GET', path);
  }
  post<T = unknown>(path: string, body?: unknown) {
    return this.request<T>('POST', path, body ?? {});
  }
  delete<T = unknown>(path: string) {
    return this.request<T>('DELETE', path);
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return { message: text.trim() };
  }
}
