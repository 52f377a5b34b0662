/** The doctor room over an engine (fake kernel) and a fake FactSource: what it gathers where, and its API route. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApp } from '../api/server.js';
import { makeEngine, type TestEngine } from '../../test/unit/fakes.js';
import { Doctor, type FactSource } from './doctor.js';
import type { HostFacts, SandboxFacts } from './facts.js';

const host: HostFacts = { ipForward: true, listeners: [], links: [], nft: null };

function fakeFacts() {
  const calls: string[] = [];
  const source: FactSource = {
    host: async () => (calls.push('host'), host),
    sandbox: async (nsPath, enter) => {
      calls.push(`sandbox ${nsPath}`);
      const f: SandboxFacts = { present: true, enter, links: null, routes: [], listeners: [{ proto: 'udp', addr: '127.0.0.11', port: 53 }], resolvConf: null, lan: [], mtu: [] };
      return f;
    },
    lanDuplicate: async (_ns, ifname, address) => (calls.push(`arp ${address}`), { address, ifname, answeredBy: [] }),
    tryTarget: async (nsPath, address, port) => (calls.push(`try ${nsPath} ${address}:${port}`), { address, ok: true, detail: 'connected' }),
    mtu: async () => ({ ok: true }),
    vxlanFdb: async () => new Map(),
  };
  return { calls, source };
}

let t: TestEngine;
beforeEach(async () => {
  t = await makeEngine();
  await t.engine.createNetwork({ name: 'app', ipam: [{ subnet: '10.50.0.0/24' }] });
  await t.engine.createSandbox({ name: 'web', networks: [{ network: 'app' }] });
  await t.engine.createSandbox({ name: 'client', networks: [{ network: 'app' }] });
});
afterEach(() => t.cleanup());

describe('Doctor', () => {
  it('no sandbox: the host and every sandbox, each read in its own namespace', async () => {
    const f = fakeFacts();
    const d = new Doctor({ view: () => t.engine.view(), findSandbox: (r) => t.engine.findSandbox(r), facts: f.source });
    const r = await d.run({});
    expect(r.scope).toEqual({ host: true, sandboxes: expect.arrayContaining(['web', 'client']) });
    const web = t.engine.findSandbox('web');
    expect(f.calls).toContain(`sandbox /run/netns/${web.netns}`);
    expect(r.findings.some((x) => x.subject === 'host')).toBe(true);
  });

  it('host=true: host-level checks only; a sandbox with host=false: only that sandbox', async () => {
    const f = fakeFacts();
    const d = new Doctor({ view: () => t.engine.view(), findSandbox: (r) => t.engine.findSandbox(r), facts: f.source });
    const h = await d.run({ host: true });
    expect(h.scope.sandboxes).toEqual([]);
    expect(f.calls.filter((c) => c.startsWith('sandbox'))).toEqual([]);
    const s = await d.run({ sandbox: 'web', host: false });
    expect(new Set(s.findings.map((x) => x.subject))).toEqual(new Set(['web']));
  });

  it('--to an address: tried from inside the sandbox\'s namespace; the target sandbox is read for its listener', async () => {
    const f = fakeFacts();
    const d = new Doctor({ view: () => t.engine.view(), findSandbox: (r) => t.engine.findSandbox(r), facts: f.source });
    const webIp = Object.values(t.engine.findSandbox('web').endpoints)[0]!.ipv4!.split('/')[0]!;
    const client = t.engine.findSandbox('client');
    const r = await d.run({ sandbox: 'client', to: `${webIp}:80` });
    expect(f.calls).toContain(`try /run/netns/${client.netns} ${webIp}:80`);
    expect(f.calls).toContain(`sandbox /run/netns/${t.engine.findSandbox('web').netns}`);
    expect(r.scope.to).toBe(`${webIp}:80`);
    expect(r.findings.find((x) => x.check === 'to.path')).toMatchObject({ status: 'ok', found: 'direct, on network app (sandbox web)' });
    expect(r.findings.find((x) => x.check === 'to.listener')).toMatchObject({ status: 'fail', found: 'nothing listens on 80/tcp' });
  });

  it('refuses --to without a sandbox and a bad target before reading anything', async () => {
    const f = fakeFacts();
    const d = new Doctor({ view: () => t.engine.view(), findSandbox: (r) => t.engine.findSandbox(r), facts: f.source });
    await expect(d.run({ to: 'web' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', field: '--to' });
    await expect(d.run({ sandbox: 'client', to: 'web:0' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', field: '--to' });
    expect(f.calls).toEqual([]);
  });
});

describe('GET /yard/v1/doctor', () => {
  it('answers the report; 404 for an unknown sandbox; 400 for a bad --to; 400 NOT_IMPLEMENTED without the room', async () => {
    const f = fakeFacts();
    const app = createApp(t.engine, () => ({ instance: 'u1' }), { doctor: new Doctor({ view: () => t.engine.view(), findSandbox: (r) => t.engine.findSandbox(r), facts: f.source }) });
    const ok = await app.request('/yard/v1/doctor?sandbox=web');
    expect(ok.status).toBe(200);
    const body = (await ok.json()) as { version: number; healthy: boolean; findings: unknown[] };
    expect(body.version).toBe(1);
    expect(typeof body.healthy).toBe('boolean');
    expect((await app.request('/yard/v1/doctor?sandbox=nosuch')).status).toBe(404);
    const bad = await app.request('/yard/v1/doctor?sandbox=web&to=a%20b');
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { message: string }).message).toMatch(/--to "a b" is neither a DNS name nor an IP address/);
    const without = createApp(t.engine, () => ({ instance: 'u1' }));
    const none = await without.request('/yard/v1/doctor');
    expect(none.status).toBe(400);
    expect(((await none.json()) as { message: string }).message).toMatch(/^this daemon runs without its doctor/);
  });
});
