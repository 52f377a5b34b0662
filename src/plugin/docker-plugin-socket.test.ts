/**
 * The plugin over a real unix socket, sent the request line and headers dockerd 20.10
 * sends: an empty Host header, Accept with the plugin media type, no Content-Type.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import http from 'node:http';
import net from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { getRequestListener } from '@hono/node-server';
import { dockerPluginApp, pluginRequestListener } from './docker-plugin-app.js';
import { fakeBackend } from '../../test/unit/plugin-fake.js';

let dir: string;
const servers: http.Server[] = [];

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'yard-plugin-'));
});
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
  fs.rmSync(dir, { recursive: true, force: true });
});

async function serve(listener: http.RequestListener): Promise<string> {
  const sock = path.join(dir, `p${servers.length}.sock`);
  const s = http.createServer(listener);
  servers.push(s);
  await new Promise<void>((r) => s.listen(sock, r));
  return sock;
}

/** One raw HTTP/1.1 exchange, as dockerd's Go client writes it; resolves with the status line and body. */
function dockerdCall(sock: string, method: string, body: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const c = net.createConnection(sock);
    let data = '';
    c.setTimeout(5000, () => c.destroy(new Error('timeout')));
    c.on('data', (d) => (data += d.toString()));
    c.on('error', reject);
    c.on('end', () => {
      const [head, ...rest] = data.split('\r\n\r\n');
      resolve({ status: Number(/^HTTP\/1\.1 (\d+)/.exec(head!)?.[1]), body: rest.join('\r\n\r\n') });
    });
    c.write(
      `POST /${method} HTTP/1.1\r\nHost: \r\nUser-Agent: Go-http-client/1.1\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `Accept: application/vnd.docker.plugins.v1.2+json\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n${body}`,
    );
  });
}

describe('over a unix socket', () => {
  it('answers dockerd\'s requests despite their empty Host header', async () => {
    const sock = await serve(pluginRequestListener(dockerPluginApp(fakeBackend(), { scope: 'local' })));
    const r = await dockerdCall(sock, 'Plugin.Activate', '');
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toEqual({ Implements: ['NetworkDriver', 'IpamDriver'] });
    const bad = await dockerdCall(sock, 'NetworkDriver.CreateNetwork', '{"NetworkID":');
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body).Err).toMatch(/request body is not valid JSON/);
  });

  it('negative control: the plain Hono listener refuses them (why pluginRequestListener exists)', async () => {
    const sock = await serve(getRequestListener(dockerPluginApp(fakeBackend(), { scope: 'local' }).fetch));
    expect((await dockerdCall(sock, 'Plugin.Activate', '')).status).toBe(400);
  });
});
