/**
 * The API fuzz test's client (test/lab/api-fuzz.test.ts), run inside a lab host with
 * `node`: it sends the generated requests one after the other to the daemon's unix socket
 * and prints one JSON line with what came back. Stops by itself at the end of the list or
 * at the deadline, whichever comes first.
 *
 *   node api-fuzz-runner.mjs <requests.json> <socket> <deadline ms>
 *
 * A request is { method, path, body?: string, bigBody?: bytes, chunked?: bool, control?: bool }.
 * What succeeds is kept small: once more than MAX_LIVE networks (or sandboxes) created by
 * the run are alive, the oldest is removed (those removals are reported as `cleanup`).
 */
import fs from 'node:fs';
import http from 'node:http';

const [file, socket, deadlineArg] = process.argv.slice(2);
const requests = JSON.parse(fs.readFileSync(file, 'utf8'));
const deadline = Date.now() + Number(deadlineArg);
const MAX_LIVE = 6;

function send(req) {
  return new Promise((resolve) => {
    const headers = { Host: 'x' };
    let body = req.body;
    if (req.bigBody) body = Buffer.alloc(req.bigBody, 0x20);
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      if (req.chunked) headers['Transfer-Encoding'] = 'chunked';
      else headers['Content-Length'] = Buffer.byteLength(body);
    }
    const t0 = Date.now();
    let r;
    try {
      r = http.request({ socketPath: socket, method: req.method, path: req.path, headers, timeout: 20_000, agent: false }, (res) => {
      const chunks = [];
      // GET /events without `until` streams until the client goes: take what came in 300 ms,
      // then close, as `docker events` does on ^C (the daemon must let go of it).
      if (res.statusCode === 200 && /\/events$/.test(req.path.split('?')[0])) {
        setTimeout(() => {
          resolve({ status: 200, text: Buffer.concat(chunks).toString('utf8'), ms: Date.now() - t0 });
          r.destroy();
        }, 300);
      }
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString('utf8'), ms: Date.now() - t0 }));
      res.on('error', () => resolve({ status: res.statusCode, text: '', ms: Date.now() - t0 }));
    });
    } catch (e) {
      // Node refuses to send it (e.g. a path with a blank): not the daemon's doing.
      return resolve({ status: -1, text: String(e.message), ms: 0 });
    }
    r.on('timeout', () => r.destroy(new Error('timeout')));
    r.on('error', (e) => resolve({ status: 0, text: String(e.code ?? e.message), ms: Date.now() - t0 }));
    if (body !== undefined) r.end(body);
    else r.end();
  });
}

const json = (text) => {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
};

const results = [];
const cleanup = [];
const createdNetworks = [];
const createdSandboxes = [];
const liveNetworks = [];
const liveSandboxes = [];

async function trim() {
  while (liveSandboxes.length > MAX_LIVE) {
    const id = liveSandboxes.shift();
    const r = await send({ method: 'DELETE', path: `/yard/v1/sandboxes/${id}?force=1` });
    cleanup.push({ what: `rm sandbox ${id.slice(0, 12)}`, status: r.status, text: r.status >= 500 ? r.text : undefined });
  }
  for (let i = 0; liveNetworks.length > MAX_LIVE && i < liveNetworks.length; ) {
    const id = liveNetworks[i];
    const r = await send({ method: 'DELETE', path: `/networks/${id}` });
    cleanup.push({ what: `rm network ${id.slice(0, 12)}`, status: r.status, text: r.status >= 500 ? r.text : undefined });
    if (r.status === 204 || r.status === 404) liveNetworks.splice(i, 1);
    else i++; // still in use: try the next one
  }
}

let i = 0;
for (; i < requests.length && Date.now() < deadline; i++) {
  const req = requests[i];
  const r = await send(req);
  const body = json(r.text);
  // The CNI route answers CNI's own error object (what the plugin prints): its text is `msg`.
  const cni = /\/yard\/v1\/cni$/.test(req.path.split('?')[0]);
  const nonEmpty = (v) => typeof v === 'string' && v.length > 0;
  const hasMessage = !!body && typeof body === 'object' && (nonEmpty(body.message) || (cni && nonEmpty(body.msg) && Number.isInteger(body.code)));
  results.push({ i, status: r.status, hasMessage, ms: r.ms, ...(r.status >= 500 || r.status === 0 || (r.status >= 400 && !hasMessage && req.method !== 'HEAD') ? { text: r.text.slice(0, 400) } : {}) });
  if (r.status === 201 && body?.Id && /\/networks\/create$/.test(req.path.split('?')[0])) {
    createdNetworks.push(body.Id);
    liveNetworks.push(body.Id);
  }
  if (r.status === 201 && body?.Id && /\/yard\/v1\/sandboxes$/.test(req.path.split('?')[0])) {
    createdSandboxes.push(body.Id);
    liveSandboxes.push(body.Id);
  }
  await trim();
}
console.log(JSON.stringify({ sent: i, results, cleanup, createdNetworks, createdSandboxes }));
