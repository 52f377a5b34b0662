import { describe, expect, it } from 'vitest';
import http from 'node:http';
import { isLoopbackHostHeader, parseUiAddress, serveUi, uiGate } from './listen.js';
import { YardError } from '../errors.js';

function refusal(fn: () => unknown): YardError {
  try {
    fn();
  } catch (e) {
    if (e instanceof YardError) return e;
    throw e;
  }
  throw new Error('not refused');
}

describe('--ui address', () => {
  it('takes loopback addresses with a port', () => {
    expect(parseUiAddress('127.0.0.1:8080')).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(parseUiAddress('127.0.0.2:1')).toEqual({ host: '127.0.0.2', port: 1 });
    expect(parseUiAddress('[::1]:65535')).toEqual({ host: '::1', port: 65535 });
    expect(parseUiAddress('localhost:9000')).toEqual({ host: '127.0.0.1', port: 9000 });
  });

  it('refuses any address that is not loopback, naming the flag and the fix', () => {
    for (const v of ['0.0.0.0:8080', '10.231.0.2:8080', '[::]:8080', '[fe80::1]:8080', '192.168.1.1:80']) {
      const e = refusal(() => parseUiAddress(v));
      expect(e.code, v).toBe('INVALID_ARGUMENT');
      expect(e.field).toBe('--ui');
      expect(e.message).toContain(`--ui ${JSON.stringify(v)}`);
      expect(e.message).toMatch(/not a loopback address/);
      expect(e.hint).toMatch(/--ui 127\.0\.0\.1:\d+/);
      expect(e.hint).toMatch(/ssh -L/);
    }
  });

  it('refuses malformed values with the reason', () => {
    const cases: [string, RegExp][] = [
      ['', /empty/],
      ['127.0.0.1', /HOST:PORT/],
      ['127.0.0.1:0', /out of range/],
      ['127.0.0.1:70000', /out of range/],
      ['127.0.0.1:80x', /HOST:PORT/],
      ['example.com:80', /not an IP address/],
      ['::1:80', /HOST:PORT|brackets/],
      ['[127.0.0.1]:80x', /HOST:PORT/],
    ];
    for (const [v, re] of cases) expect(refusal(() => parseUiAddress(v)).message, v).toMatch(re);
  });
});

describe('the --ui gate', () => {
  const seen: string[] = [];
  const gate = uiGate((req) => {
    seen.push(`${req.method} ${new URL(req.url).pathname}`);
    return new Response('ok');
  });
  const call = (path: string, init: RequestInit & { host?: string } = {}) =>
    gate(new Request(`http://127.0.0.1:8080${path}`, { ...init, headers: { host: init.host ?? '127.0.0.1:8080', ...(init.headers as Record<string, string>) } }));

  it('forwards the page and the read-only routes it reads', async () => {
    for (const p of ['/yard/ui/', '/yard/ui/app.js', '/yard/ui/cytoscape.min.js', '/yard/v1/topology', '/yard/v1/sandboxes/web/routes', '/yard/v1/sandboxes/web/ports/explain', '/yard/v1/dns/explain?name=a&from=b', '/events', '/_ping']) {
      const r = await call(p);
      expect(r.status, p).toBe(200);
    }
    expect(seen).toContain('GET /yard/v1/topology');
    expect((await call('/')).headers.get('location')).toBe('/yard/ui/');
  });

  it('refuses every other route and every method but GET and HEAD, without forwarding them', async () => {
    seen.length = 0;
    for (const p of ['/networks', '/yard/v1/sandboxes', '/yard/v1/sandboxes/web', '/v1.41/networks', '/info', '/yard/v1/info', '/yard/ui/../../networks', '/yard/v1/dns/stats']) {
      const r = await call(p);
      expect(r.status, p).toBe(404);
      expect(((await r.json()) as { message: string }).message).toMatch(/not served on the --ui listener/);
    }
    for (const m of ['POST', 'DELETE', 'PUT', 'PATCH']) {
      const r = await call('/yard/v1/topology', { method: m, body: m === 'DELETE' ? undefined : '{}' });
      expect(r.status, m).toBe(405);
      expect(r.headers.get('allow')).toBe('GET, HEAD');
    }
    expect(seen).toEqual([]);
    // Positive control: HEAD of the same route is forwarded.
    expect((await call('/yard/v1/topology', { method: 'HEAD' })).status).toBe(200);
  });

  it('answers only requests addressed to a loopback name (DNS rebinding is refused)', async () => {
    for (const h of ['evil.example:8080', 'evil.example', '10.231.0.2:8080', '127.0.0.1.evil.example', '']) {
      const r = await call('/yard/v1/topology', { host: h });
      expect(r.status, h).toBe(403);
    }
    for (const h of ['127.0.0.1:8080', 'localhost:9999', '[::1]:8080', 'LOCALHOST', '127.0.0.1']) expect((await call('/yard/v1/topology', { host: h })).status, h).toBe(200);
    expect(isLoopbackHostHeader(undefined)).toBe(false);
  });
});

describe('the --ui listener', () => {
  it('serves through the gate on a loopback port, and a port in use is refused naming --ui', async () => {
    const ui = await serveUi(() => new Response('{"ok":true}', { headers: { 'Content-Type': 'application/json' } }), { host: '127.0.0.1', port: await freePort() });
    try {
      const base = `http://127.0.0.1:${ui.address.port}`;
      expect((await fetch(`${base}/yard/v1/topology`)).status).toBe(200);
      expect((await fetch(`${base}/yard/v1/topology`, { method: 'POST', body: '{}' })).status).toBe(405);
      expect((await fetch(`${base}/networks`)).status).toBe(404);
      const again = await serveUi(() => new Response('x'), ui.address).then(
        () => undefined,
        (e: YardError) => e,
      );
      expect(again).toBeInstanceOf(YardError);
      expect(again!.field).toBe('--ui');
      expect(again!.message).toMatch(/already in use/);
    } finally {
      await ui.close();
    }
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = http.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}
