/**
 * The body reader on Node's own request (a real HTTP server on a unix socket): the JSON
 * parsed, no body, and a body over the cap refused while the connection still carries the
 * answer.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BodyError, readJsonBody } from './body.js';

let dir: string;
let socket: string;
let server: http.Server;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'yard-body-'));
  socket = path.join(dir, 's.sock');
  server = http.createServer((req, res) => {
    // As a server may hand it over: paused.
    req.pause();
    readJsonBody(null, 64, 'release', req).then(
      (body) => res.end(JSON.stringify({ body: body ?? null })),
      (e: unknown) => {
        res.statusCode = !(e instanceof BodyError) ? 500 : e.problem === 'too-large' ? 413 : 400;
        res.end(JSON.stringify({ problem: e instanceof BodyError ? e.problem : String(e) }));
      },
    );
  });
  await new Promise<void>((r) => server.listen(socket, () => r()));
});
afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  fs.rmSync(dir, { recursive: true, force: true });
});

function post(body: string | undefined): Promise<{ status: number; json: unknown }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: socket, path: '/', method: 'POST', headers: body === undefined ? {} : { 'Content-Type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) as unknown }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('readJsonBody from Node\'s request', () => {
  it('parses the JSON, takes no body as none, and refuses a body over the cap with the answer still delivered', async () => {
    expect(await post('{"Container":"web"}')).toEqual({ status: 200, json: { body: { Container: 'web' } } });
    expect(await post(undefined)).toEqual({ status: 200, json: { body: null } });
    expect(await post('   ')).toEqual({ status: 200, json: { body: null } });
    expect(await post('{"x":')).toEqual({ status: 400, json: { problem: 'not-json' } });
    expect(await post(JSON.stringify({ pad: 'x'.repeat(200) }))).toEqual({ status: 413, json: { problem: 'too-large' } });
  });
});
