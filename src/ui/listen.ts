/**
 * `yard daemon --ui 127.0.0.1:PORT`: the topology page on a loopback TCP port, for a
 * browser (on another machine, through an SSH forward). The listener is a narrow gate in
 * front of the daemon's API: it answers only GET and HEAD, only the page and the read-only
 * routes the page reads, and only requests addressed to a loopback name (so a web page
 * whose own name was pointed at 127.0.0.1, DNS rebinding, is refused). Everything else,
 * every change in particular, stays on the unix socket.
 */
import http from 'node:http';
import net from 'node:net';
import { getRequestListener } from '@hono/node-server';
import { YardError } from '../errors.js';
import { answerClientErrors } from '../api/server.js';
import { UI_PATH } from './routes.js';

export interface UiAddress {
  host: string;
  port: number;
}

const FIELD = '--ui';
const example = (port = 8080) => `--ui 127.0.0.1:${port}`;
const forwardHint = (port = 8080) =>
  `use ${example(port)} (or [::1]:${port}) and reach it from another machine through SSH: ssh -L ${port}:127.0.0.1:${port} root@HOST, then open http://127.0.0.1:${port}${UI_PATH}`;

/** Is this a loopback address (127.0.0.0/8 or ::1)? */
export function isLoopback(ip: string): boolean {
  if (net.isIPv4(ip)) return ip.split('.')[0] === '127';
  if (net.isIPv6(ip)) {
    const v = ip.toLowerCase();
    return v === '::1' || v === '0:0:0:0:0:0:0:1' || /^::ffff:127\./.test(v);
  }
  return false;
}

/** Parse `--ui HOST:PORT`: HOST must be loopback (127.x.y.z, [::1] or localhost). */
export function parseUiAddress(value: string): UiAddress {
  const bad = (why: string, port?: number) => new YardError('INVALID_ARGUMENT', `${FIELD} ${JSON.stringify(value)}: ${why}`, { field: FIELD, hint: forwardHint(port) });
  if (typeof value !== 'string' || !value) throw bad('the value is empty');
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value);
  if (!m) throw bad('is not HOST:PORT');
  const port = Number(m[3]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw bad(`port ${m[3]} is out of range (1-65535)`);
  const raw = m[1] ?? m[2]!;
  const host = raw === 'localhost' ? '127.0.0.1' : raw;
  if (!net.isIP(host)) throw bad(`${raw} is not an IP address (give 127.0.0.1 or [::1])`, port);
  if (m[2] !== undefined && net.isIPv6(host)) throw bad('an IPv6 address goes in brackets, e.g. [::1]:8080', port);
  if (!isLoopback(host)) {
    throw bad(`${raw} is not a loopback address: the topology page has no login, so it listens on loopback only (127.0.0.1 or [::1])`, port);
  }
  return { host, port };
}

/** The requests the --ui listener forwards: the page and the read-only routes it reads. */
const ALLOWED: RegExp[] = [
  /^\/yard\/ui(?:\/[A-Za-z0-9._-]*)?$/,
  /^\/yard\/v1\/topology$/,
  /^\/yard\/v1\/sandboxes\/[^/]+\/routes$/,
  /^\/yard\/v1\/sandboxes\/[^/]+\/ports\/explain$/,
  /^\/yard\/v1\/dns\/explain$/,
  /^\/events$/,
  /^\/_ping$/,
];

/** Host names a browser uses for this listener (with any port: an SSH forward may change it). */
export function isLoopbackHostHeader(hostHeader: string | null | undefined): boolean {
  if (!hostHeader) return false;
  const m = /^(?:\[([^\]]+)\]|([^:]+))(?::\d{1,5})?$/.exec(hostHeader.trim());
  if (!m) return false;
  const name = (m[1] ?? m[2]!).toLowerCase();
  return name === 'localhost' || isLoopback(name);
}

const refuse = (status: number, message: string, hint: string, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify({ message, code: 'INVALID_ARGUMENT', hint }), {
    status,
    headers: { 'Content-Type': 'application/json', 'X-Content-Type-Options': 'nosniff', ...headers },
  });

/** The gate (see the file's comment) in front of the API's fetch handler. */
export function uiGate(fetch: (req: Request) => Response | Promise<Response>): (req: Request) => Response | Promise<Response> {
  return (req) => {
    const url = new URL(req.url);
    const host = req.headers.get('host');
    if (!isLoopbackHostHeader(host)) {
      return refuse(403, `Host ${JSON.stringify(host ?? '')} is not a loopback name: the ${FIELD} listener answers only requests for 127.0.0.1, [::1] or localhost`, `open http://127.0.0.1:PORT${UI_PATH} (through ssh -L from another machine)`);
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return refuse(405, `${req.method} is not allowed here: the ${FIELD} listener only reads`, 'make changes with yard on the daemon\'s unix socket', { Allow: 'GET, HEAD' });
    }
    if (url.pathname === '/') return new Response(null, { status: 302, headers: { Location: UI_PATH } });
    if (!ALLOWED.some((re) => re.test(url.pathname))) {
      return refuse(404, `${url.pathname} is not served on the ${FIELD} listener: it serves the topology page and the read-only data it shows`, `open ${UI_PATH}; the rest of the API is on the daemon's unix socket`);
    }
    return fetch(req);
  };
}

/** Connections the --ui listener holds at once (beyond: refused until one closes). */
export const UI_MAX_CONNECTIONS = 256;

export interface UiServer {
  address: UiAddress;
  close(): Promise<void>;
}

/** Listen on the --ui address with the gate in front of the API. */
export async function serveUi(fetch: (req: Request) => Response | Promise<Response>, addr: UiAddress): Promise<UiServer> {
  const server = http.createServer(getRequestListener(uiGate(fetch)));
  answerClientErrors(server);
  server.keepAliveTimeout = 5000;
  // A page holds one event stream and a few requests; this bounds what local users can open.
  server.maxConnections = UI_MAX_CONNECTIONS;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      const where = `${addr.host.includes(':') ? `[${addr.host}]` : addr.host}:${addr.port}`;
      reject(
        e.code === 'EADDRINUSE'
          ? new YardError('INVALID_ARGUMENT', `${FIELD} ${where}: the port is already in use`, { field: FIELD, hint: 'give another port, or stop what listens there' })
          : new YardError('INVALID_ARGUMENT', `${FIELD} ${where}: cannot listen (${e.code ?? e.message})`, { field: FIELD, hint: forwardHint(addr.port) }),
      );
    });
    server.listen(addr.port, addr.host, () => resolve());
  });
  return {
    address: addr,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}
