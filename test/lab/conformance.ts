/**
 * The driver conformance suite: one set of checks every network driver that gives
 * sandboxes an interface must pass, run once per driver (and per mode) by
 * test/lab/conformance-*.test.ts on this kernel and by test/vm/*.test.ts in the VM lab.
 *
 *   reach      two sandboxes on the network reach each other (ping both ways, HTTP)
 *   connect    a running sandbox disconnected loses reachability, connected again regains it
 *   reconcile  kill -9 the daemon, delete a sandbox's interface by hand, restart the
 *              daemon: the interface and reachability are back
 *   removal    removing the sandboxes and the network leaves the host's links exactly as
 *              they were (`ip -j -d link`) and no sandbox namespace behind
 *
 * Every driver runs every case: a mode whose sandboxes must NOT reach each other (macvlan
 * private/vepa) is asserted positively in its own test file, not skipped here.
 *
 * Only the network is created with the `yard` CLI (so `createArgs` reads like what a user
 * types); everything else goes straight to the daemon's API from the test process and
 * checks traffic with `ip netns exec <sandbox>`: in the VM lab every spawned process costs
 * 40-150x more than here, and a `yard` process is a whole Node start-up.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { DaemonClient } from '../../src/client/daemon-client.js';
import { run } from '../../src/kernel/exec.js';
import { processGone, restartDaemon } from '../../src/lab/lab.js';
import { sandboxNetnsPrefix } from '../../src/paths.js';
import { eventually, netnsList, ok, sleep, withLab, yard, type Lab } from './helpers.js';

export type ConformanceCase = 'reach' | 'connect' | 'reconcile' | 'removal';

export interface ConformanceSpec {
  /** Shown in the describe title, e.g. "macvlan bridge". */
  driver: string;
  /** `yard network create` arguments without the network name, e.g. ['-d', 'macvlan', ...]. */
  createArgs: (lab: Lab) => string[];
  /** A lab to share (the VM suite runs several drivers in one lab); default: its own 1-host lab. */
  lab?: Lab;
  /** Prefix of the lab name when the suite brings up its own lab. */
  labPrefix?: string;
  /** Network name (default `conf`); distinct names let specs share one lab. */
  network?: string;
}

interface SandboxJson {
  Id: string;
  Netns: string;
  NetworkSettings: { Networks: Record<string, { IPAddress: string; Interface: string }> };
}

/** `ip -j -d link` without what changes by itself (-d has no counters). */
async function linkSnapshot(nsName: string): Promise<unknown[]> {
  // A removal answers once its link is down; the kernel deletes it a moment later: read a
  // settled namespace (at most 3 s).
  for (let i = 0; ; i++) {
    const r = await run('ip', ['-n', nsName, '-j', '-d', 'link', 'show'], { timeoutMs: 30_000 });
    if (r.code !== 0) throw new Error(`ip -n ${nsName} -j -d link show: ${r.stderr}`);
    // Bridge timers (gc_timer, hello_timer, ...) tick by themselves.
    const links = JSON.parse(r.stdout, (key, value) => (key.endsWith('_timer') ? undefined : value)) as { ifname: string; ifalias?: string; flags?: string[] }[];
    const pending = links.some((l) => (/^y[vc][0-9a-f]{12}$/.test(l.ifname) || !!l.ifalias?.startsWith('switchyard:')) && !(l.flags ?? []).includes('UP'));
    if (!pending || i >= 30) return links;
    await new Promise((res) => setTimeout(res, 100));
  }
}

export function driverConformance(spec: ConformanceSpec): void {
  const net = spec.network ?? 'conf';
  const [a, b, c, d] = [`${net}-a`, `${net}-b`, `${net}-c`, `${net}-d`];

  describe(`driver conformance: ${spec.driver}`, () => {
    const lab = spec.lab ?? withLab(spec.labPrefix ?? 'conf', 1);
    const host = () => lab.host(1);
    const client = () => new DaemonClient({ socket: host().socket, timeoutMs: 120_000 });
    let before: unknown[] = [];
    let www = '';
    const token = `conformance ${spec.driver} ${process.pid}`;

    const sandbox = async (name: string): Promise<SandboxJson> => client().get<SandboxJson>(`/yard/v1/sandboxes/${name}`);
    const ipIn = async (name: string) => (await sandbox(name)).NetworkSettings.Networks[net]?.IPAddress ?? '';
    const inSandbox = async (name: string, argv: string[], timeoutMs = 15_000) =>
      run('ip', ['netns', 'exec', (await sandbox(name)).Netns, ...argv], { timeoutMs });
    const pingOk = async (from: string, ip: string) => (await inSandbox(from, ['ping', '-c1', '-W2', ip])).code === 0;
    // httpd may need a moment to bind after a (re)start.
    const fetchPage = (from: string, ip: string) =>
      eventually(async () => {
        // GNU wget: busybox's own wget segfaults on this Debian build (its httpd is fine).
        const r = await inSandbox(from, ['wget', '-q', '-T', '2', '-t', '1', '-O', '-', `http://${ip}/index.html`]);
        return r.code === 0 ? r.stdout.trim() : '';
      }, { timeoutMs: 15_000, intervalMs: 300, tries: 30 });
    const start = (name: string, command: string[]) =>
      client().post('/yard/v1/sandboxes', { name, networks: [{ network: net }], command, detached: true, start: true });

    beforeAll(async () => {
      before = await linkSnapshot(host().name);
      www = fs.mkdtempSync(path.join(os.tmpdir(), 'yard-conf-www-'));
      fs.writeFileSync(path.join(www, 'index.html'), token + '\n');
      await ok(yard(host(), 'network', 'create', ...spec.createArgs(lab), net), `yard network create ${spec.createArgs(lab).join(' ')} ${net}`);
      await start(a, ['busybox', 'httpd', '-f', '-p', '80', '-h', www]);
      await start(b, ['sleep', '3600']);
    });

    const test = (name: ConformanceCase, title: string, fn: () => Promise<void>) => it(`${name}: ${title}`, fn);

    test('reach', 'two sandboxes on the network reach each other (ping both ways, HTTP)', async () => {
      const [ipA, ipB] = [await ipIn(a), await ipIn(b)];
      expect(ipA).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
      expect(ipB).not.toBe(ipA);
      expect(await pingOk(b, ipA), `${b} -> ${a} ${ipA}`).toBe(true);
      expect(await pingOk(a, ipB), `${a} -> ${b} ${ipB}`).toBe(true);
      expect(await fetchPage(b, ipA)).toBe(token);
    });

    test('connect', 'a running sandbox loses reachability on disconnect and regains it on connect', async () => {
      await start(c, ['sleep', '3600']);
      const ipA = await ipIn(a);
      expect(await pingOk(c, ipA)).toBe(true);
      await client().post(`/networks/${net}/disconnect`, { Container: c });
      const gone = await sandbox(c);
      expect(gone.NetworkSettings.Networks[net]).toBeUndefined();
      const links = await run('ip', ['-n', gone.Netns, '-j', 'link', 'show']);
      expect((JSON.parse(links.stdout) as { ifname: string }[]).map((l) => l.ifname)).toEqual(['lo']);
      expect(await pingOk(c, ipA)).toBe(false);
      expect(await pingOk(b, ipA), `${a} is still up for ${b}`).toBe(true); // positive control
      await client().post(`/networks/${net}/connect`, { Container: c });
      expect(await ipIn(c)).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
      expect(await eventually(() => pingOk(c, ipA), { timeoutMs: 10_000, intervalMs: 200, tries: 10 })).toBe(true);
      expect(await pingOk(a, await ipIn(c))).toBe(true);
    });

    test('reconcile', 'after kill -9 of the daemon and a deleted interface, a restarted daemon puts it back', async () => {
      const h = host();
      // A bystander, for the positive control while a's interface is gone.
      await start(d, ['sleep', '3600']);
      const ipD = await ipIn(d);
      const pid = h.daemonPid!;
      expect(processGone(pid)).toBe(false);
      process.kill(pid, 'SIGKILL');
      for (let i = 0; i < 100 && !processGone(pid); i++) await sleep(50);
      expect(processGone(pid)).toBe(true);
      // The API is down now: read the sandbox from before (its namespace and interface).
      const sbA = await sandboxFromState(h.stateDir, a);
      const del = await run('ip', ['-n', sbA.netns, 'link', 'del', sbA.ifname]);
      expect(del.code, del.stderr).toBe(0);
      const ipA = sbA.ip;
      const sbB = await sandboxFromState(h.stateDir, b);
      expect((await run('ip', ['netns', 'exec', sbB.netns, 'ping', '-c1', '-W1', ipA])).code).not.toBe(0);
      // Positive control: b's own interface still works; only a's is gone.
      expect((await run('ip', ['netns', 'exec', sbB.netns, 'ping', '-c1', '-W2', ipD])).code, `${b} -> ${d} ${ipD}`).toBe(0);

      await restartDaemon(lab.info, h);
      expect(await eventually(() => pingOk(b, ipA), { timeoutMs: 20_000, intervalMs: 300, tries: 40 })).toBe(true);
      expect(await ipIn(a)).toBe(ipA);
      expect(await fetchPage(b, ipA)).toBe(token);
    });

    test('removal', 'removing the sandboxes and the network leaves the host as it was', async () => {
      const names = [a, b, c, d];
      const existing = (await client().get<{ Name: string }[]>('/yard/v1/sandboxes?all=1')).map((s) => s.Name.replace(/^\//, ''));
      for (const n of names.filter((n) => existing.includes(n))) await client().delete(`/yard/v1/sandboxes/${n}?force=1`);
      await client().delete(`/networks/${net}`);
      const prefix = sandboxNetnsPrefix(host().name);
      await eventually(async () => !netnsList().some((n) => n.startsWith(prefix)), { timeoutMs: 5_000, intervalMs: 100, tries: 50 });
      expect(netnsList().filter((n) => n.startsWith(prefix)), 'sandbox namespaces left').toEqual([]);
      // The kernel destroys a removed namespace's veth pairs a moment after the namespace goes.
      let after = await linkSnapshot(host().name);
      for (let i = 0; i < 30 && JSON.stringify(after) !== JSON.stringify(before); i++) {
        await new Promise((r) => setTimeout(r, 100));
        after = await linkSnapshot(host().name);
      }
      expect(after).toEqual(before);
      fs.rmSync(www, { recursive: true, force: true });
    });
  });
}

/**
 * A sandbox's namespace, interface and address from the daemon's state file, for when the
 * daemon is down. The store's layout is the daemon's business, so this only looks for the
 * sandbox record by name and its one endpoint, wherever they sit in the JSON.
 */
async function sandboxFromState(stateDir: string, name: string): Promise<{ netns: string; ifname: string; ip: string }> {
  const files = (fs.readdirSync(stateDir, { recursive: true }) as string[]).filter((f) => f.endsWith('.json'));
  for (const f of files) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(fs.readFileSync(path.join(stateDir, f), 'utf8'));
    } catch {
      continue; // a half-written temp file
    }
    const found = findSandbox(parsed, name);
    if (found) return found;
  }
  throw new Error(`sandbox ${name} not found in ${stateDir} (${files.join(', ')})`);
}

function findSandbox(node: unknown, name: string): { netns: string; ifname: string; ip: string } | null {
  if (!node || typeof node !== 'object') return null;
  const rec = node as Record<string, any>;
  if (rec.name === name && typeof rec.netns === 'string' && rec.endpoints) {
    const ep = Object.values(rec.endpoints as Record<string, any>)[0];
    if (ep?.ifname && ep?.ipv4) return { netns: rec.netns, ifname: ep.ifname, ip: String(ep.ipv4).split('/')[0]! };
  }
  for (const v of Object.values(rec)) {
    const f = findSandbox(v, name);
    if (f) return f;
  }
  return null;
}
