/**
 * The Docker-compatible API over an engine with the RecordingKernel (test/unit/fakes.ts):
 * routes, status codes and body shapes as the docker CLI and SDKs see them. The data plane
 * is the lab tests' job.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Hono } from 'hono';
import { createApp } from './server.js';
import { makeEngine, type TestEngine } from '../../test/unit/fakes.js';

let t: TestEngine;
let app: Hono;

beforeEach(async () => {
  t = await makeEngine();
  app = createApp(t.engine, () => ({ instance: 'u1' }));
});
afterEach(() => t.cleanup());

const post = (path: string, body?: unknown) =>
  app.request(path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body ?? {}) });

async function create(name: string, extra: Record<string, unknown> = {}): Promise<string> {
  const r = await post('/v1.41/networks/create', { Name: name, ...extra });
  expect(r.status).toBe(201);
  return ((await r.json()) as { Id: string }).Id;
}

const listNames = async (path: string) => ((await (await app.request(path)).json()) as { Name: string }[]).map((n) => n.Name).sort();

describe('ping and versions', () => {
  it('HEAD and GET /_ping answer with Api-Version 1.41 and Ostype linux', async () => {
    const head = await app.request('/_ping', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('Api-Version')).toBe('1.41');
    expect(head.headers.get('Ostype')).toBe('linux');
    const get = await app.request('/v1.41/_ping');
    expect(await get.text()).toBe('OK');
    expect(get.headers.get('Api-Version')).toBe('1.41');
  });

  it('serves networks on versioned and unversioned paths', async () => {
    expect(await listNames('/v1.41/networks')).toEqual(['bridge', 'host', 'none']);
    expect(await listNames('/networks')).toEqual(['bridge', 'host', 'none']);
    expect(await listNames('/v1.24/networks')).toEqual(['bridge', 'host', 'none']);
  });

  it('refuses a client API version that is too new', async () => {
    const r = await app.request('/v1.99/networks');
    expect(r.status).toBe(400);
    expect(((await r.json()) as { message: string }).message).toMatch(/client version 1\.99 is too new\. Maximum supported API version is 1\.41/);
  });

  it('unknown routes are 404 page not found', async () => {
    const r = await app.request('/v1.41/nosuch');
    expect(r.status).toBe(404);
    expect(await r.json()).toEqual({ message: 'page not found' });
  });
});

describe('networks', () => {
  it('create answers 201 {Id, Warning}; inspect by name and ID prefix shows it', async () => {
    const r = await post('/networks/create', { Name: 'app', IPAM: { Config: [{ Subnet: '10.50.0.0/24', Gateway: '10.50.0.254' }] }, Labels: { team: 'x' } });
    expect(r.status).toBe(201);
    const body = (await r.json()) as { Id: string; Warning: string };
    expect(body).toEqual({ Id: expect.stringMatching(/^[0-9a-f]{64}$/), Warning: '' });
    const i = await app.request(`/v1.41/networks/${body.Id.slice(0, 6)}`);
    expect(i.status).toBe(200);
    expect(await i.json()).toMatchObject({
      Name: 'app',
      Id: body.Id,
      Driver: 'bridge',
      Scope: 'local',
      IPAM: { Driver: 'default', Config: [{ Subnet: '10.50.0.0/24', Gateway: '10.50.0.254' }] },
      Labels: { team: 'x' },
      Containers: {},
    });
  });

  it('a duplicate name is 409', async () => {
    await create('app');
    const r = await post('/networks/create', { Name: 'app' });
    expect(r.status).toBe(409);
    expect(await r.json()).toMatchObject({ message: expect.stringMatching(/^network with name app already exists/), code: 'NETWORK_EXISTS', field: 'name' });
  });

  it('an unknown network is 404 with Docker\'s message', async () => {
    const r = await app.request('/v1.41/networks/nosuch');
    expect(r.status).toBe(404);
    const body = (await r.json()) as { message: string; code: string };
    expect(body.message).toMatch(/^network nosuch not found/);
    expect(body.code).toBe('NETWORK_NOT_FOUND');
    expect((await app.request('/networks/nosuch', { method: 'DELETE' })).status).toBe(404);
  });

  it('filters in both forms: {"driver":{"bridge":true}} and {"name":["x"]}', async () => {
    await create('app');
    await create('web-a');
    const q = (f: unknown) => `/networks?filters=${encodeURIComponent(JSON.stringify(f))}`;
    expect(await listNames(q({ driver: { bridge: true } }))).toEqual(['app', 'bridge', 'web-a']);
    expect(await listNames(q({ name: ['web'] }))).toEqual(['web-a']);
    expect(await listNames(q({ type: { custom: true } }))).toEqual(['app', 'web-a']);
    expect(await listNames(q({ driver: ['null'] }))).toEqual(['none']);
    const bad = await app.request(q({ colour: ['red'] }));
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { message: string }).message).toMatch(/invalid filter 'colour'/);
  });

  it('DELETE answers 204; predefined and in-use networks are 403', async () => {
    await create('gone');
    expect((await app.request('/v1.41/networks/gone', { method: 'DELETE' })).status).toBe(204);
    expect(await listNames('/networks')).toEqual(['bridge', 'host', 'none']);

    const pre = await app.request('/networks/bridge', { method: 'DELETE' });
    expect(pre.status).toBe(403);
    expect(((await pre.json()) as { message: string }).message).toMatch(/bridge is a pre-defined network and cannot be removed/);

    await create('busy');
    await t.engine.createSandbox({ name: 'web', networks: [{ network: 'busy' }] });
    const inUse = await app.request('/networks/busy', { method: 'DELETE' });
    expect(inUse.status).toBe(403);
    expect(((await inUse.json()) as { message: string }).message).toMatch(/has active endpoints \(web\)/);
  });

  it('connect and disconnect answer 200 with an empty body; inspect lists the container', async () => {
    const id = await create('app', { IPAM: { Config: [{ Subnet: '10.50.0.0/24' }] } });
    await create('other');
    await t.engine.createSandbox({ name: 'web', networks: [{ network: 'other' }] });
    const c = await post('/v1.41/networks/app/connect', { Container: 'web', EndpointConfig: { IPAMConfig: { IPv4Address: '10.50.0.7' }, Aliases: ['w'] } });
    expect(c.status).toBe(200);
    expect(await c.text()).toBe('');
    const net = (await (await app.request(`/networks/${id}`)).json()) as { Containers: Record<string, { Name: string; IPv4Address: string }> };
    expect(Object.values(net.Containers)).toEqual([expect.objectContaining({ Name: 'web', IPv4Address: '10.50.0.7/24' })]);

    const again = await post('/networks/app/connect', { Container: 'web' });
    expect(again.status).toBe(403);

    const d = await post('/v1.41/networks/app/disconnect', { Container: 'web' });
    expect(d.status).toBe(200);
    expect(await d.text()).toBe('');
    const net2 = (await (await app.request(`/networks/${id}`)).json()) as { Containers: object };
    expect(net2.Containers).toEqual({});
    expect((await post('/networks/app/disconnect', { Container: 'web' })).status).toBe(403);
    expect((await post('/networks/app/connect', { Container: 'nosuch' })).status).toBe(404);
  });

  it('connect with DryRun returns the plan and changes nothing', async () => {
    await create('app');
    await t.engine.createSandbox({ name: 'web', networks: [{ network: 'bridge' }] });
    const r = await post('/networks/app/connect', { Container: 'web', DryRun: true });
    expect(r.status).toBe(200);
    const { Plan } = (await r.json()) as { Plan: string[] };
    expect(Plan[0]).toMatch(/^ip link add yv[0-9a-f]{12} .* peer name eth1 /);
    expect(Object.keys(t.engine.findSandbox('web').endpoints)).toHaveLength(1);
  });

  it('prune answers {NetworksDeleted} and honours label filters', async () => {
    await create('keep', { Labels: { keep: '1' } });
    await create('drop1');
    await create('busy');
    await t.engine.createSandbox({ name: 'web', networks: [{ network: 'busy' }] });
    const r = await post(`/v1.41/networks/prune?filters=${encodeURIComponent(JSON.stringify({ 'label!': ['keep'] }))}`);
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ NetworksDeleted: ['drop1'] });
    const r2 = await post('/networks/prune');
    expect(await r2.json()).toEqual({ NetworksDeleted: ['keep'] });
    expect((await post(`/networks/prune?filters=${encodeURIComponent('{"driver":["bridge"]}')}`)).status).toBe(400);
  });
});

describe('request validation', () => {
  it('a body that is not JSON is 400 naming body', async () => {
    const r = await post('/networks/create', '{"Name": ');
    expect(r.status).toBe(400);
    expect(await r.json()).toMatchObject({ message: expect.stringMatching(/request body is not valid JSON/), code: 'INVALID_ARGUMENT', field: 'body' });
  });

  it('a field of the wrong type is 400 naming the field', async () => {
    const r = await post('/networks/create', { Name: 'app', Internal: 'yes' });
    expect(r.status).toBe(400);
    expect(await r.json()).toMatchObject({ message: expect.stringMatching(/^request field Internal: /), field: 'Internal' });
    const nested = await post('/networks/create', { Name: 'app', IPAM: { Config: [{ Subnet: 5 }] } });
    expect(await nested.json()).toMatchObject({ field: 'IPAM.Config.0.Subnet' });
    const missing = await post('/networks/create', {});
    expect(missing.status).toBe(400);
    expect(await missing.json()).toMatchObject({ field: 'Name' });
    const noContainer = await post('/networks/bridge/connect', {});
    expect(await noContainer.json()).toMatchObject({ field: 'Container' });
  });

  it('engine errors keep their field and hint: a bad subnet', async () => {
    const r = await post('/networks/create', { Name: 'app', IPAM: { Config: [{ Subnet: '10.50.0.1/24' }] } });
    expect(r.status).toBe(400);
    expect(await r.json()).toEqual({
      message: '--subnet 10.50.0.1/24 has host bits set; use 10.50.0.0/24',
      code: 'INVALID_SUBNET',
      field: '--subnet',
    });
  });
});
