/**
 * `--metrics-listen 127.0.0.1:PORT`: the metrics over TCP on a loopback address, for a
 * Prometheus that cannot reach a unix socket. Only `GET /metrics` (and HEAD) is answered;
 * everything else is a 404, and nothing of the API is served here.
 */
import http from 'node:http';
import { YardError } from '../errors.js';
import type { DaemonMetrics } from './metrics.js';

export interface MetricsServer {
  /** host:port as bound ([::1]:port for IPv6). */
  address: string;
  close(): Promise<void>;
}

/** Answer a request for the metrics (the API socket's route uses the same text). */
async function answer(metrics: DaemonMetrics, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const path = (req.url ?? '').split('?')[0];
  if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
    res.writeHead(path === '/metrics' ? 405 : 404, { 'Content-Type': 'text/plain; charset=utf-8' });
    res.end(path === '/metrics' ? 'only GET /metrics\n' : 'not found: this address serves only GET /metrics\n');
    return;
  }
  try {
    const text = await metrics.text();
    res.writeHead(200, { 'Content-Type': metrics.contentType, 'Content-Length': Buffer.byteLength(text) });
    res.end(req.method === 'HEAD' ? undefined : text);
  } catch (e) {
    res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
    res.end(`collecting the metrics failed: ${(e as Error).message}\n`);
  }
}

export async function serveMetrics(listen: { host: string; port: number }, metrics: DaemonMetrics): Promise<MetricsServer> {
  const server = http.createServer((req, res) => void answer(metrics, req, res));
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(
        new YardError('INVALID_ARGUMENT', `--metrics-listen ${listen.host.includes(':') ? `[${listen.host}]` : listen.host}:${listen.port}: cannot listen there (${e.code ?? e.message})`, {
          field: '--metrics-listen',
          hint: e.code === 'EADDRINUSE' ? 'another process holds that port: pick another one' : 'give an address this host has (127.0.0.1 or ::1) and a free port',
          cause: e,
        }),
      ),
    );
    server.listen(listen.port, listen.host, () => resolve());
  });
  const a = server.address();
  const address = a && typeof a === 'object' ? (a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`) : `${listen.host}:${listen.port}`;
  return {
    address,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}
