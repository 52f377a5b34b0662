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
    let res: HttpReply;
    try {
      res = await unixHttp(this.opts.socket, method, path, body, { timeoutMs: this.opts.timeoutMs });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ECONNREFUSED') {
        throw new YardError('DAEMON_UNREACHABLE', `cannot reach the Switchyard daemon at ${this.opts.socket} (${code})`, {
          hint: 'start it with `yard daemon`, or point --host/YARD_HOST at the right socket (inside a lab: `yard lab exec hostN -- yard ...`)',
        });
      }
      if (code === 'EACCES') {
        throw new YardError('DAEMON_UNREACHABLE', `permission denied on the Switchyard daemon's socket ${this.opts.socket} (EACCES)`, {
          hint: 'run yard as root, or as a member of the socket\'s group (usermod -aG switchyard USER, then log in again)',
        });
      }
      throw err;
    }
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

export interface HttpReply {
  status: number;
  text: string;
}

/**
 * One HTTP/1.1 request over a unix socket, JSON body in, status and text out. The CLI,
 * the demo and the benchmark (which passes a kept-alive agent, as an SDK holds one) all
 * talk to the daemon through it.
 */
export function unixHttp(socket: string, method: string, path: string, body?: unknown, opts: { timeoutMs?: number; agent?: http.Agent } = {}): Promise<HttpReply> {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const timeoutMs = opts.timeoutMs ?? 120_000;
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        socketPath: socket,
        agent: opts.agent,
        method,
        path,
        timeout: timeoutMs,
        headers: { Host: 'switchyard', ...(payload ? { 'Content-Type': 'application/json', 'Content-Length': payload.length } : {}) },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer from the daemon within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(payload);
  });
}
