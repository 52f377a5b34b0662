/**
 * The topology page in a real browser: Debian's headless Chromium, run INSIDE the lab host's
 * namespace (ip netns exec), so the only daemon it can reach is that host's, on the
 * loopback address `yard daemon --ui` listens on there. Chromium is driven through the
 * DevTools protocol over a pipe (--remote-debugging-pipe: no port, no download).
 *
 * The lab host has several networks (bridge, internal, macvlan on the LAN's parent link,
 * an overlay shared with a second host), sandboxes on them and a published port. The test loads the page and checks the DOM,
 * a screenshot of the graph (decoded here, not blank), that a sandbox created afterwards
 * appears without a reload, and the side panel of a real click on a sandbox (addresses,
 * routes from the kernel, DNS names, port explain). Labels with markup are shown as text.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, eventually, exec, inspectSandbox, ok, withLab, yard, type RunResult } from './helpers.js';

const PORT = 8181;
const UI = `http://127.0.0.1:${PORT}/yard/ui/`;
const XSS = '<img src=x onerror="document.title=1">';
// Two hosts with etcd: host 2's sandbox on an overlay network is drawn on host 1's page.
const lab = withLab('topo', 2, { daemonArgs: ['--ui', `127.0.0.1:${PORT}`], cluster: true });
const h = () => lab.host(1);

// ---------------------------------------------------------------- Chromium over the DevTools pipe

class Browser {
  private nextId = 1;
  private pending = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void; method: string }>();
  private buf = '';
  session = '';
  readonly log: string[] = [];

  constructor(
    readonly proc: ChildProcess,
    readonly dataDir: string,
  ) {
    const out = proc.stdio[4] as NodeJS.ReadableStream;
    out.setEncoding('utf8');
    out.on('data', (chunk: string) => {
      this.buf += chunk;
      let i;
      while ((i = this.buf.indexOf('\0')) >= 0) {
        const msg = JSON.parse(this.buf.slice(0, i));
        this.buf = this.buf.slice(i + 1);
        const p = msg.id !== undefined ? this.pending.get(msg.id) : undefined;
        if (p) {
          this.pending.delete(msg.id);
          if (msg.error) p.reject(new Error(`${p.method}: ${msg.error.message}`));
          else p.resolve(msg.result);
        } else if (msg.method === 'Runtime.consoleAPICalled' || msg.method === 'Runtime.exceptionThrown') {
          this.log.push(JSON.stringify(msg.params).slice(0, 400));
        }
      }
    });
    proc.stderr?.on('data', (d) => this.log.length < 200 && this.log.push(String(d).slice(0, 300)));
  }

  static async start(netns: string): Promise<Browser> {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'yard-chromium-'));
    const args = [
      'netns', 'exec', netns, '/usr/bin/chromium',
      '--headless', '--no-sandbox', `--user-data-dir=${dataDir}`, '--remote-debugging-pipe',
      '--no-first-run', '--no-default-browser-check', '--disable-gpu', '--disable-dev-shm-usage',
      '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-extensions',
      '--disable-crash-reporter', '--window-size=1280,900', 'about:blank',
    ];
    // Its own process group (detached), so it and its helpers are stopped together by its PID.
    const proc = spawn('ip', args, { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'], detached: true, env: { ...process.env, HOME: dataDir, TMPDIR: dataDir } });
    const b = new Browser(proc, dataDir);
    try {
      const t = await b.send('Target.createTarget', { url: 'about:blank' });
      const { sessionId } = await b.send('Target.attachToTarget', { targetId: t.targetId, flatten: true });
      b.session = sessionId;
      await b.send('Runtime.enable');
      await b.send('Page.enable');
      await b.send('Emulation.setDeviceMetricsOverride', { width: 1280, height: 900, deviceScaleFactor: 1, mobile: false });
      return b;
    } catch (e) {
      await b.close();
      throw e;
    }
  }

  send(method: string, params: Record<string, unknown> = {}, timeoutMs = 15_000): Promise<any> {
    const id = this.nextId++;
    const msg = { id, method, params, ...(this.session && !method.startsWith('Target.') && !method.startsWith('Browser.') ? { sessionId: this.session } : {}) };
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${method}: no answer in ${timeoutMs} ms; chromium said: ${this.log.slice(-5).join(' | ')}`));
      }, timeoutMs);
      this.pending.set(id, { resolve: (v) => (clearTimeout(timer), resolve(v)), reject: (e) => (clearTimeout(timer), reject(e)), method });
      (this.proc.stdio[3] as NodeJS.WritableStream).write(JSON.stringify(msg) + '\0');
    });
  }

  /** A JavaScript expression's value in the page (awaited when it is a promise). */
  async eval<T = any>(expression: string): Promise<T> {
    const r = await this.send('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true });
    if (r.exceptionDetails) throw new Error(`page: ${JSON.stringify(r.exceptionDetails).slice(0, 500)}`);
    return r.result.value as T;
  }

  /** Poll an expression until it is truthy: at most `tries` times within `timeoutMs`. */
  async until<T = any>(expression: string, what: string, timeoutMs = 15_000, tries = 150): Promise<T> {
    const end = Date.now() + timeoutMs;
    let last: T | undefined;
    for (let i = 0; i < tries && Date.now() < end; i++) {
      last = await this.eval<T>(expression).catch(() => undefined);
      if (last) return last;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${what}: not so within ${timeoutMs} ms (last ${JSON.stringify(last)}); chromium said: ${this.log.slice(-5).join(' | ')}`);
  }

  async close(): Promise<void> {
    const pid = this.proc.pid;
    await this.send('Browser.close', {}, 3_000).catch(() => {});
    const exited = new Promise<void>((r) => (this.proc.exitCode !== null ? r() : this.proc.once('exit', () => r())));
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
    if (pid) {
      try {
        process.kill(-pid, 'SIGKILL'); // the group this test started, by its leader's PID
      } catch {
        /* already gone */
      }
    }
    fs.rmSync(this.dataDir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- PNG, decoded here

/** Pixels of an 8-bit RGB or RGBA PNG (what Chromium writes), as RGBA. */
function decodePng(png: Buffer): { width: number; height: number; rgba: Buffer } {
  expect(png.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
  let off = 8;
  let width = 0, height = 0, colorType = 0;
  const idat: Buffer[] = [];
  while (off < png.length) {
    const len = png.readUInt32BE(off);
    const type = png.toString('ascii', off + 4, off + 8);
    const data = png.subarray(off + 8, off + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      expect(data[8]).toBe(8);
      colorType = data[9]!;
      expect([2, 6]).toContain(colorType);
    } else if (type === 'IDAT') idat.push(data);
    off += 12 + len;
  }
  const bpp = colorType === 6 ? 4 : 3;
  const raw = zlib.inflateSync(Buffer.concat(idat));
  const stride = width * bpp;
  const out = Buffer.alloc(width * height * 4);
  const prev = Buffer.alloc(stride);
  const cur = Buffer.alloc(stride);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)]!;
    raw.copy(cur, 0, y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; x++) {
      const a = x >= bpp ? cur[x - bpp]! : 0;
      const b = prev[x]!;
      const c = x >= bpp ? prev[x - bpp]! : 0;
      const p = a + b - c;
      const pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
      const pred = f === 0 ? 0 : f === 1 ? a : f === 2 ? b : f === 3 ? (a + b) >> 1 : pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      cur[x] = (cur[x]! + pred) & 0xff;
    }
    for (let x = 0; x < width; x++) {
      out[(y * width + x) * 4] = cur[x * bpp]!;
      out[(y * width + x) * 4 + 1] = cur[x * bpp + 1]!;
      out[(y * width + x) * 4 + 2] = cur[x * bpp + 2]!;
      out[(y * width + x) * 4 + 3] = bpp === 4 ? cur[x * bpp + 3]! : 255;
    }
    cur.copy(prev);
  }
  return { width, height, rgba: out };
}

function pixelStats(img: { rgba: Buffer }): { colours: number; nonWhite: number; total: number } {
  const colours = new Set<number>();
  let nonWhite = 0;
  for (let i = 0; i < img.rgba.length; i += 4) {
    const [r, g, b] = [img.rgba[i]!, img.rgba[i + 1]!, img.rgba[i + 2]!];
    colours.add((r << 16) | (g << 8) | b);
    if (r < 240 || g < 240 || b < 240) nonWhite++;
  }
  return { colours: colours.size, nonWhite, total: img.rgba.length / 4 };
}

// ---------------------------------------------------------------- the test

/** Run argv in the lab's LAN namespace (another machine on the host's LAN). */
function fromLan(argv: string[]): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile('ip', ['netns', 'exec', lab.info.lanNs, ...argv], { timeout: 15_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

async function inspectNetwork(name: string): Promise<{ Id: string }> {
  const r = await api(h(), 'GET', `/networks/${name}`);
  if (r.status !== 200) throw new Error(`network ${name}: ${r.status}`);
  return r.body;
}

const curl = (...args: string[]) => exec(h(), ['curl', '-sS', '--max-time', '10', '-o', '/dev/null', '-w', '%{http_code}', ...args]);

describe('topology page', () => {
  let browser: Browser | undefined;
  let webId = '';

  beforeAll(async () => {
    const net = (...a: string[]) => ok(yard(h(), 'network', 'create', ...a), `network create ${a.at(-1)}`);
    await net('--subnet', '10.61.0.0/24', '--label', `note=${XSS}`, 'tfront');
    await net('--subnet', '10.62.0.0/24', '--internal', 'tback');
    await net('-d', 'macvlan', '--subnet', '10.231.0.0/24', '--gateway', '10.231.0.1', '--ip-range', '10.231.0.192/27', '-o', 'parent=lan0', 'tlan');
    const run = (name: string, ...a: string[]) => ok(yard(h(), 'run', '-d', '--name', name, ...a, '--', 'sleep', '600'), `run ${name}`);
    await run('web', '--network', 'tfront', '-p', '8080:80', '--label', `owner=${XSS}`);
    await ok(yard(h(), 'network', 'connect', '--alias', 'www', 'tback', 'web'));
    await run('db', '--network', 'tback');
    await run('probe', '--network', 'tlan');
    webId = (await inspectSandbox(h(), 'web')).Id;
    // An overlay network, and a sandbox on it that host 2 holds.
    await net('-d', 'overlay', '--subnet', '10.63.0.0/24', 'tover');
    const seen = await eventually(async () => (await yard(lab.host(2), 'network', 'inspect', 'tover')).code === 0, { timeoutMs: 10_000 });
    expect(seen, 'tover on host 2').toBe(true);
    await ok(yard(lab.host(2), 'run', '-d', '--name', 'far', '--network', 'tover', '--', 'sleep', '600'), 'run far on host 2');
    const remote = await eventually(async () => JSON.stringify((await api(h(), 'GET', '/yard/v1/topology')).body).includes('"far"'), { timeoutMs: 10_000 });
    expect(remote, 'far known on host 1').toBe(true);
  });

  afterAll(async () => {
    await browser?.close();
  });

  it('--ui listens on loopback only, answers only the page and its read-only routes, and only for loopback names', async () => {
    expect(await ok(curl(`${UI}`))).toBe('200');
    expect(await ok(curl(`http://127.0.0.1:${PORT}/yard/v1/topology`))).toBe('200');
    // Changes and the rest of the API: refused here, while the unix socket serves them (positive control).
    expect(await ok(curl('-X', 'POST', '-H', 'Content-Type: application/json', '--data', '{"Name":"viaui"}', `http://127.0.0.1:${PORT}/networks/create`))).toBe('405');
    expect(await ok(curl(`http://127.0.0.1:${PORT}/networks`))).toBe('404');
    expect((await api(h(), 'GET', '/networks')).status).toBe(200);
    expect((await api(h(), 'GET', '/networks/viaui')).status).toBe(404);
    // A name that is not loopback (DNS rebinding): refused; localhost: served.
    expect(await ok(curl('-H', 'Host: attacker.example', `http://127.0.0.1:${PORT}/yard/v1/topology`))).toBe('403');
    expect(await ok(curl('-H', `Host: localhost:${PORT + 1}`, `http://127.0.0.1:${PORT}/yard/v1/topology`))).toBe('200');
    // Not on the host's LAN address: another machine on the LAN cannot connect.
    const lan = await fromLan(['curl', '-sS', '--max-time', '5', `http://${h().lan4}:${PORT}/yard/ui/`]);
    expect(lan.code).not.toBe(0);
    expect(lan.stderr).toMatch(/refused|Failed to connect/i);
    // The page is also on the API socket.
    const viaSocket = await exec(h(), ['curl', '-sS', '-D', '-', '-o', '/dev/null', '--unix-socket', h().socket, 'http://localhost/yard/ui/']);
    expect(viaSocket.stdout).toMatch(/^HTTP\/1.1 200/);
    expect(viaSocket.stdout).toMatch(/content-security-policy: default-src 'none'/i);
  });

  it('yard daemon --ui refuses an address that is not loopback, naming the flag and the fix, and starts nothing', async () => {
    const r = await exec(h(), ['yard', 'daemon', '--instance', 'uitest', '--ui', '0.0.0.0:8182']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/--ui "0\.0\.0\.0:8182".*not a loopback address/);
    expect(r.stderr).toMatch(/--ui 127\.0\.0\.1:8182/);
    expect(r.stderr).toMatch(/ssh -L 8182:127\.0\.0\.1:8182/);
    // Nothing listens on the port, and the lab's daemon (started with --ui 127.0.0.1) still serves (positive control).
    expect((await curl(`http://127.0.0.1:8182/`)).stdout).toBe('000');
    expect(await ok(curl(UI))).toBe('200');
  });

  it('Chromium draws the networks, sandboxes, links and published port, with no CSP violation and user text shown as text', async () => {
    browser = await Browser.start(h().name);
    await browser.send('Page.navigate', { url: UI });
    await browser.until('window.yardTopology && window.yardTopology.renders > 0 && document.getElementById("status").textContent === "live"', 'page rendered and following events', 30_000, 300);
    const list = await browser.eval<{ kind: string; label: string }[]>(`[...document.querySelectorAll('#list li')].map((li) => ({ kind: li.dataset.kind, label: li.querySelector('button').textContent }))`);
    const of = (kind: string) => list.filter((x) => x.kind === kind).map((x) => x.label).sort();
    expect(of('network')).toEqual(['bridge', 'tback', 'tfront', 'tlan', 'tover', 'yard_gwbridge']);
    expect(of('sandbox')).toEqual(['db', 'probe', 'web']);
    const tover = await inspectNetwork('tover');
    const bridges = [`br-${(await inspectNetwork('tfront')).Id.slice(0, 12)}`, `br-${(await inspectNetwork('tback')).Id.slice(0, 12)}`, `ov-${tover.Id.slice(0, 12)}`, 'yard0', 'yard_gwbridge'];
    expect(of('bridge')).toEqual(bridges.sort());
    expect(of('parent')).toEqual(['lan0']);
    expect(of('vxlan')).toEqual([`vx-${tover.Id.slice(0, 12)}`]);
    expect(of('port')).toEqual(['*:8080/tcp']);
    expect(of('host')).toEqual([h().name]);
    // The overlay: host 2 as a peer, its sandbox on tover, and the VXLAN device's edge to host 2's VTEP.
    expect(of('peer')).toEqual([lab.host(2).name]);
    expect(of('remote-sandbox')).toEqual(['far']);
    const vtep = await browser.eval<string[]>(`window.yardTopology.cy.edges('[kind = "vtep"]').map((e) => e.source().data('label') + '>' + e.target().data('label') + ' ' + e.data('label'))`);
    expect(vtep).toEqual([`vx-${tover.Id.slice(0, 12)}>${lab.host(2).name} VTEP ${lab.host(2).lan4}`]);
    // The graph holds the same elements (cytoscape's own model), with endpoint edges.
    const cy = await browser.eval<{ nodes: number; endpoints: string[] }>(`(() => { const cy = window.yardTopology.cy; return { nodes: cy.nodes().length, endpoints: cy.edges('[kind = "endpoint"]').map((e) => e.source().data('label') + '>' + e.target().data('label')).sort() }; })()`);
    expect(cy.nodes).toBe(list.length);
    expect(cy.endpoints).toEqual(['db>tback', 'far>tover', 'probe>tlan', 'web>tback', 'web>tfront']);
    expect(await browser.eval('document.getElementById("counts").textContent')).toBe('6 networks, 3 sandboxes, 1 published ports, 1 peers, 1 remote sandboxes');
    // The network's label with markup: shown as text in the panel, never parsed.
    await browser.eval(`[...document.querySelectorAll('#list li')].find((li) => li.querySelector('button').textContent === 'tfront').querySelector('button').click()`);
    const panel = await browser.until<string>(`document.getElementById('panel').getAttribute('data-kind') === 'network' && document.getElementById('panel').textContent`, 'network panel');
    expect(panel).toContain(XSS);
    expect(panel).toContain('10.61.0.0/24');
    expect(await browser.eval('document.querySelectorAll("img").length')).toBe(0);
    expect(await browser.eval('document.title')).toBe('Switchyard topology');
    expect(await browser.eval('window.yardTopology.cspViolations')).toEqual([]);
    // Positive control for the CSP check: an inline script the page did not ship is blocked and counted.
    await browser.eval(`(() => { const s = document.createElement('script'); s.textContent = 'window.injected = 1'; document.body.append(s); })()`);
    await browser.until('window.yardTopology.cspViolations.length > 0', 'CSP violation recorded');
    expect(await browser.eval('window.injected === undefined')).toBe(true);
    await browser.eval('window.yardTopology.cspViolations.length = 0');
  });

  it('a screenshot of the graph is not blank (and the same area with the graph hidden is)', async () => {
    const rect = await browser!.eval<{ x: number; y: number; width: number; height: number }>(`(() => { const r = document.getElementById('graph').getBoundingClientRect(); return { x: r.left, y: r.top, width: r.width, height: r.height }; })()`);
    expect(rect.width).toBeGreaterThan(300);
    expect(rect.height).toBeGreaterThan(300);
    const capture = async () => Buffer.from((await browser!.send('Page.captureScreenshot', { format: 'png', clip: { ...rect, scale: 1 } })).data, 'base64');
    const shot = async () => decodePng(await capture());
    // YARD_TOPOLOGY_SCREENSHOT=FILE keeps the whole page's picture, to look at.
    if (process.env.YARD_TOPOLOGY_SCREENSHOT) fs.writeFileSync(process.env.YARD_TOPOLOGY_SCREENSHOT, Buffer.from((await browser!.send('Page.captureScreenshot', { format: 'png' })).data, 'base64'));
    const img = await shot();
    expect(img.width).toBe(Math.round(rect.width));
    const s = pixelStats(img);
    // Coloured node shapes, edges and anti-aliased labels: many colours, a fair share not white.
    expect(s.colours).toBeGreaterThan(50);
    expect(s.nonWhite / s.total).toBeGreaterThan(0.005);
    // Control: the same decoder and area with the graph hidden is (nearly) one colour.
    await browser!.eval(`document.getElementById('graph').style.visibility = 'hidden'`);
    const blank = pixelStats(await shot());
    await browser!.eval(`document.getElementById('graph').style.visibility = ''`);
    expect(blank.colours).toBeLessThanOrEqual(3);
    expect(blank.nonWhite).toBe(0);
  });

  it('a sandbox created afterwards appears without a reload, and one removed goes', async () => {
    const b = browser!;
    await b.eval('window.notReloaded = true');
    const renders = await b.eval<number>('window.yardTopology.renders');
    const events = await b.eval<number>('window.yardTopology.eventsSeen');
    await ok(yard(h(), 'run', '-d', '--name', 'cache', '--network', 'tfront', '--', 'sleep', '600'));
    const t0 = Date.now();
    await b.until(`window.yardTopology.cy.nodes('[kind = "sandbox"][label = "cache"]').length === 1 && [...document.querySelectorAll('#list li[data-kind="sandbox"]')].some((li) => li.textContent.includes('cache'))`, 'cache drawn', 8_000);
    // Before the periodic re-read (every 10 s) had to: the event stream (connect tfront) brought it.
    expect(Date.now() - t0).toBeLessThan(8_000);
    expect(await b.eval('window.notReloaded')).toBe(true);
    expect(await b.eval<number>('window.yardTopology.eventsSeen')).toBeGreaterThan(events);
    expect(await b.eval<number>('window.yardTopology.renders')).toBeGreaterThan(renders);
    expect(await b.eval(`window.yardTopology.cy.edges('[kind = "endpoint"]').filter((e) => e.source().data('label') === 'cache').map((e) => e.target().data('label'))`)).toEqual(['tfront']);
    await ok(yard(h(), 'rm', '-f', 'cache'));
    await b.until(`window.yardTopology.cy.nodes('[label = "cache"]').length === 0`, 'cache gone', 8_000);
    expect(await b.eval('window.notReloaded')).toBe(true);
  });

  it("a click on a sandbox opens its panel: addresses, routes from the kernel, DNS names and port explain", async () => {
    const b = browser!;
    const web = await inspectSandbox(h(), 'web');
    const front = web.NetworkSettings.Networks.tfront;
    const back = web.NetworkSettings.Networks.tback;
    // A real mouse click on web's node where cytoscape drew it.
    const at = await b.eval<{ x: number; y: number }>(`(() => { const n = window.yardTopology.cy.getElementById('sb:${webId}'); const p = n.renderedPosition(); const r = document.getElementById('graph').getBoundingClientRect(); return { x: r.left + p.x, y: r.top + p.y }; })()`);
    for (const type of ['mouseMoved', 'mousePressed', 'mouseReleased']) {
      await b.send('Input.dispatchMouseEvent', { type, x: at.x, y: at.y, button: 'left', clickCount: type === 'mouseMoved' ? 0 : 1 });
    }
    await b.until(`document.getElementById('panel').getAttribute('data-node') === 'sb:${webId}'`, 'web panel open');
    const sectionText = (id: string) => `(document.querySelector('#panel [data-section="${id}"]') || {}).textContent || ''`;
    const routes = await b.until<string>(`(() => { const t = ${sectionText('routes')}; return !t.includes('reading...') && t; })()`, 'routes read');
    const ports = await b.until<string>(`(() => { const t = ${sectionText('ports')}; return !t.includes('reading...') && t; })()`, 'port explain read');
    const dns = await b.until<string>(`(() => { const t = ${sectionText('dns')}; return !t.includes('reading...') && t; })()`, 'dns explain read');
    const record = await b.eval<string>(sectionText('record'));
    // Addresses: both interfaces, as yard inspect has them.
    expect(record).toContain(front.IPAddress);
    expect(record).toContain(back.IPAddress);
    expect(record).toContain(front.MacAddress);
    // The label with markup, as text.
    expect(record).toContain(XSS);
    // DNS names on each network (www only on tback, where the alias was given).
    expect(record).toContain('web.tfront');
    expect(record).toContain('www.tback');
    // Routes: what the kernel has in web's namespace (the default route via tfront's gateway, both subnets).
    const kernel = JSON.parse(await ok(exec(h(), ['ip', '-n', web.Netns, '-j', 'route', 'show']))) as { dst: string; gateway?: string }[];
    expect(kernel.find((r) => r.dst === 'default')?.gateway).toBe(front.Gateway);
    expect(routes).toContain('default');
    expect(routes).toContain(front.Gateway);
    expect(routes).toContain('10.61.0.0/24');
    expect(routes).toContain('10.62.0.0/24');
    // port explain: the same answer yard port explain gives.
    const explain = (await api(h(), 'GET', `/yard/v1/sandboxes/web/ports/explain`)).body as { path: string }[];
    expect(explain).toHaveLength(1);
    expect(ports).toContain(explain[0]!.path);
    expect(ports).toContain('LAN');
    expect(ports).toMatch(/8080/);
    // dns explain of its own name, from itself.
    expect(dns).toContain('NOERROR');
    expect(dns).toContain(front.IPAddress);
    expect(await b.eval('window.yardTopology.cspViolations')).toEqual([]);
  });
});
