/**
 * The Docker-compatible API over an engine with the RecordingKernel (test/unit/fakes.ts):
 * routes, status codes and body shapes as the docker CLI and SDKs see them. The data plane
 * is the lab tests' job.
 */
import { describe, expect, it } from 'vitest';
import type { Hono } from 'hono';
import { MAX_BODY_BYTES } from './server.js';
import { useApiApp } from '../../test/unit/api-app.js';
import type { TestEngine } from '../../test/unit/fakes.js';

let t: TestEngine;
let app: Hono;

useApiApp((e, a) => {
  t = e;
  app = a;
});

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
    expect(((await bad.json()) as { message: string }).message).toMatch(/^Invalid filter 'colour'/);
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
    // dockerd 20.10 answers 500 (`container ... is not connected to network app`): bad input, so 400.
    expect((await post('/networks/app/disconnect', { Container: 'web' })).status).toBe(400);
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

describe('request validation: malformed and type-confused input is a 400, never a 500', () => {
  const networkNames = async () => listNames('/networks');
  const sandboxIds = () => t.engine.sandboxes().map((s) => s.id);

  it.each(['null', '[]', '1', 'true', '"x"', '{"name":"x"}', '{"name":{"x":1}}', '{"name":[1]}', '{"label":{"a":"yes"}}', 'not json'])(
    'filters=%s is a 400 naming filters on GET /networks and on prune, which deletes nothing',
    async (raw) => {
      await create('unused');
      const q = `filters=${encodeURIComponent(raw)}`;
      const list = await app.request(`/networks?${q}`);
      expect(list.status).toBe(400);
      expect(await list.json()).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'filters', message: expect.stringMatching(/^filters /) });
      const prune = await post(`/v1.41/networks/prune?${q}`);
      expect(prune.status).toBe(400);
      expect(await prune.json()).toMatchObject({ field: 'filters' });
      expect(await networkNames()).toContain('unused');
    },
  );

  it('positive control: both filter forms and an empty filters= work', async () => {
    await create('keep', { Labels: { k: 'v' } });
    await create('drop');
    expect(await listNames(`/networks?filters=${encodeURIComponent('{"name":{"keep":true}}')}`)).toEqual(['keep']);
    expect(await listNames(`/networks?filters=${encodeURIComponent('{"name":["keep"]}')}`)).toEqual(['keep']);
    expect((await app.request('/networks?filters=')).status).toBe(200);
    expect(await (await post(`/networks/prune?filters=${encodeURIComponent('{"label!":{"k=v":true}}')}`)).json()).toEqual({ NetworksDeleted: ['drop'] });
  });

  it.each([
    ['dangling', 'maybe', `invalid value for filter 'dangling', must be "true" (or "1"), or "false" (or "0"); dangling=maybe is neither`],
    ['type', 'other', "invalid filter: 'type'='other'; use type=custom or type=builtin"],
  ])('GET /networks refuses filter %s=%s in Docker 20.10\'s words (a 400 where dockerd answers type with a 500)', async (k, v, message) => {
    const r = await app.request(`/networks?filters=${encodeURIComponent(JSON.stringify({ [k]: [v] }))}`);
    expect(r.status).toBe(400);
    expect(await r.json()).toEqual({ message, code: 'INVALID_ARGUMENT', field: 'filters' });
    // Positive control: the values Docker takes.
    for (const ok of k === 'dangling' ? ['true', 'false', '1', '0'] : ['custom', 'builtin']) {
      expect((await app.request(`/networks?filters=${encodeURIComponent(JSON.stringify({ [k]: [ok] }))}`)).status).toBe(200);
    }
  });

  it('keeps --ipam-opt as given and shows IPAM.Options as Docker 20.10 does (null for the predefined networks)', async () => {
    expect((await post('/networks/create', { Name: 'io', IPAM: { Options: { a: 'b' } } })).status).toBe(201);
    expect((await post('/networks/create', { Name: 'plain' })).status).toBe(201);
    const ipam = async (n: string) => ((await (await app.request(`/networks/${n}`)).json()) as { IPAM: { Options: unknown } }).IPAM.Options;
    expect((await post('/networks/create', { Name: 'cli', IPAM: { Driver: 'default', Options: {}, Config: [] } })).status).toBe(201);
    expect(await ipam('io')).toEqual({ a: 'b' });
    // None given (docker-py, curl): null, as dockerd 20.10 shows; {} given (the docker CLI): {}.
    expect(await ipam('plain')).toBeNull();
    expect(await ipam('cli')).toEqual({});
    expect(await ipam('bridge')).toBeNull();
    const bad = await post('/networks/create', { Name: 'io2', IPAM: { Options: { 'a\nb': 'c' } } });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ field: '--ipam-opt' });
  });

  it('Docker routes ignore unknown keys and take null for an optional field as absent (docker-py)', async () => {
    const r = await post('/networks/create', {
      Name: 'py', CheckDuplicate: true, ConfigFrom: null, Scope: 'local', ConfigOnly: false, EnableIPv4: true, Driver: null, Internal: null, Options: null, Labels: null,
      IPAM: { Driver: 'default', Options: null, Config: [{ Subnet: '10.60.0.0/24', IPRange: null, Gateway: null, AuxiliaryAddresses: null }] },
    });
    expect(r.status, JSON.stringify(await r.clone().json())).toBe(201);
    expect(await networkNames()).toContain('py');
    // A null body on a Docker route is {} (Name is then missing), as Docker decodes it.
    const nul = await post('/networks/create', 'null');
    expect(nul.status).toBe(400);
    expect(await nul.json()).toMatchObject({ field: 'Name' });
  });

  it.each([['[]', 'an array'], ['1', 'a JSON number'], ['"x"', 'a JSON string']])('a body that is %s is a 400 on Docker routes', async (body, kind) => {
    const r = await post('/networks/create', body);
    expect(r.status).toBe(400);
    expect(await r.json()).toMatchObject({ field: 'body', message: expect.stringContaining(`request body is ${kind}, not a JSON object`) });
  });

  it.each([
    ['null', 'null', 'body', /request body is null/],
    ['empty', '', 'body', /request body is empty/],
    ['an array', '[]', 'body', /request body is an array/],
    ['only unknown keys', '{"bogus":1}', 'bogus', /request field bogus is not a known field/],
    ['an unknown key beside known ones', '{"name":"a1","Name":"x"}', 'Name', /request field Name is not a known field/],
    ['an unknown key in a network entry', '{"networks":[{"network":"bridge","alias":["x"]}]}', 'networks.0.alias', /not a known field/],
  ])('POST /yard/v1/sandboxes with a body that is %s (%j) is a 400 naming the field, and creates nothing', async (_what, body, field, message) => {
    const before = sandboxIds();
    const r = await post('/yard/v1/sandboxes', body);
    expect(r.status).toBe(400);
    expect(await r.json()).toMatchObject({ code: 'INVALID_ARGUMENT', field, message: expect.stringMatching(message) });
    expect(sandboxIds()).toEqual(before);
  });

  it('positive control: a sandbox body with known keys creates the sandbox', async () => {
    const r = await post('/yard/v1/sandboxes', { name: 'ok1', hostname: 'web-1', dnsSearch: ['lab'], dnsOptions: ['ndots:2'], extraHosts: ['db:10.0.0.5'] });
    expect(r.status).toBe(201);
    expect(t.engine.sandboxes().map((s) => s.name)).toContain('ok1');
  });

  it.each([
    [{ dnsSearch: ['lab\nnameserver 6.6.6.6'] }, '--dns-search'],
    [{ dnsOptions: ['ndots:0\nnameserver 6.6.6.6'] }, '--dns-option'],
    [{ hostname: 'h\n6.6.6.6 evil' }, '--hostname'],
    [{ extraHosts: ['a:notanip'] }, '--add-host'],
    [{ dns: ['0.0.0.0'] }, '--dns'],
    [{ dns: ['224.0.0.1'] }, '--dns'],
    [{ networks: [{ network: 'bridge', aliases: ['a/b'] }] }, '--network-alias'],
    [{ env: { 'A-B': 'x' } }, '--env'],
    [{ env: { A: 'x\u0000y' } }, '--env'],
    [{ command: ['sleep', '1\u0000'], detached: true }, 'COMMAND'],
    [{ publish: ['8090:80\n'] }, '-p'],
    [{ publish: [' 8090:80'] }, '-p'],
  ])('sandbox %j is a 400 naming %s, and creates nothing', async (body, field) => {
    const r = await post('/yard/v1/sandboxes', body);
    expect(r.status).toBe(400);
    expect(await r.json()).toMatchObject({ code: 'INVALID_ARGUMENT', field });
    expect(t.engine.sandboxes()).toEqual([]);
    expect(t.kernel.calls.filter((c) => c.kind === 'apply')).toEqual([]);
  });

  it('connect refuses a bad alias, naming --alias; a good one connects', async () => {
    await create('app');
    await t.engine.createSandbox({ name: 'web' });
    const bad = await post('/networks/app/connect', { Container: 'web', EndpointConfig: { Aliases: ['ok', 'a\nb'] } });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ field: '--alias' });
    expect(Object.keys(t.engine.findSandbox('web').endpoints)).toHaveLength(1);
    const good = await post('/networks/app/connect', { Container: 'web', EndpointConfig: { Aliases: ['db'], IPAMConfig: null } });
    expect(good.status).toBe(200);
    expect(Object.keys(t.engine.findSandbox('web').endpoints)).toHaveLength(2);
  });
});

describe('request body limit', () => {
  // The bounded lingering close that follows a 413 is the daemon's (withLingeringClose), checked in the lab.
  it(`refuses a Content-Length over ${MAX_BODY_BYTES} bytes with 413 before reading`, async () => {
    let pulled = 0;
    const body = new ReadableStream({
      pull(c) {
        pulled++;
        c.enqueue(new Uint8Array(1024));
      },
    });
    const r = await app.request('/networks/create', { method: 'POST', body, headers: { 'Content-Length': String(600 * 1024 * 1024) }, duplex: 'half' } as RequestInit);
    expect(r.status).toBe(413);
    expect(await r.json()).toMatchObject({ code: 'REQUEST_TOO_LARGE', field: 'body', message: expect.stringMatching(/1 MiB/) });
    expect(pulled).toBeLessThanOrEqual(1);
  });

  it('stops reading a body without a length once it passes the limit', async () => {
    let sent = 0;
    const body = new ReadableStream({
      pull(c) {
        if (sent > 100 * 1024 * 1024) return c.close();
        sent += 64 * 1024;
        c.enqueue(new Uint8Array(64 * 1024).fill(0x20));
      },
    });
    const r = await app.request('/yard/v1/sandboxes', { method: 'POST', body, duplex: 'half' } as RequestInit);
    expect(r.status).toBe(413);
    expect(sent).toBeLessThan(MAX_BODY_BYTES + 4 * 64 * 1024);
    expect(t.engine.sandboxes()).toEqual([]);
  });

  it('positive control: a body just under the limit is read (and judged on its content)', async () => {
    const padded = JSON.stringify({ Name: 'big', Labels: { pad: 'x'.repeat(4000) } }).padEnd(MAX_BODY_BYTES - 10, ' ');
    const r = await post('/networks/create', padded);
    expect(r.status).toBe(201);
  });
});

/**
 * What dockerd 20.10 answers, checked side by side in the lab (test/lab/docker-api-fidelity.test.ts),
 * and what Switchyard answers to the same request.
 */
describe('Docker 20.10 fidelity: input and answers', () => {
  const message = async (r: Response) => ((await r.json()) as { message: string }).message;

  it('a duplicate name is 409 with CheckDuplicate true, and also when it is false or absent (names are unique)', async () => {
    await create('dup');
    const t1 = await post('/v1.41/networks/create', { Name: 'dup', CheckDuplicate: true });
    expect(t1.status).toBe(409);
    expect(await t1.json()).toEqual({ message: 'network with name dup already exists; pick another name, or remove the existing network first', code: 'NETWORK_EXISTS', field: 'name' });
    for (const [body, said] of [[{ Name: 'dup', CheckDuplicate: false }, 'false'], [{ Name: 'dup' }, 'absent'], [{ Name: 'dup', CheckDuplicate: null }, 'absent']] as const) {
      const r = await post('/v1.30/networks/create', body);
      expect(r.status).toBe(409);
      expect(await message(r)).toBe(`network with name dup already exists; Switchyard keeps network names unique even with CheckDuplicate ${said}: pick another name, or remove the existing network first`);
    }
    expect((await listNames('/networks')).filter((n) => n === 'dup')).toHaveLength(1);
    // A predefined name stays Docker's 403, whatever CheckDuplicate says.
    for (const cd of [undefined, false, true]) {
      const pre = await post('/networks/create', { Name: 'host', CheckDuplicate: cd });
      expect(pre.status).toBe(403);
      expect(await message(pre)).toMatch(/^host is a pre-defined network and cannot be created/);
    }
    // Positive control: a free name with CheckDuplicate false is created.
    await create('dup2', { CheckDuplicate: false });
  });

  it('an unknown filter key is 400 "Invalid filter \'KEY\'" on GET /networks and on prune; prune takes label, label! and until only', async () => {
    await create('unused');
    const q = (f: unknown) => `filters=${encodeURIComponent(JSON.stringify(f))}`;
    const list = await app.request(`/networks?${q({ bogus: { x: true } })}`);
    expect(list.status).toBe(400);
    expect(await message(list)).toMatch(/^Invalid filter 'bogus'; use one of dangling, driver, id, label, name, scope, type$/);
    for (const k of ['bogus', 'driver', 'dangling', 'type']) {
      const r = await post(`/networks/prune?${q({ [k]: { x: true } })}`);
      expect(r.status).toBe(400);
      expect(await message(r)).toBe(`Invalid filter '${k}'; use one of label, label!, until`);
    }
    const until = await post(`/networks/prune?${q({ until: { xyz: true } })}`);
    expect(until.status).toBe(400);
    expect(await message(until)).toMatch(/^failed to parse value as time or duration: "xyz"; until=xyz is not a duration/);
    expect(await listNames('/networks')).toContain('unused');
    // Positive control.
    expect(await (await post(`/networks/prune?${q({ until: { '1h': true } })}`)).json()).toEqual({ NetworksDeleted: [] });
    expect(await (await post('/networks/prune')).json()).toEqual({ NetworksDeleted: ['unused'] });
  });

  it('answers Docker\'s 4xx codes: pool overlap 403, unknown IPAM driver 404, name conflict 409, not found 404, in use 403', async () => {
    await create('first', { IPAM: { Config: [{ Subnet: '10.70.0.0/24' }] } });
    const overlap = await post('/networks/create', { Name: 'second', IPAM: { Config: [{ Subnet: '10.70.0.0/25' }] } });
    expect(overlap.status).toBe(403);
    expect(await overlap.json()).toMatchObject({ code: 'SUBNET_OVERLAP', field: '--subnet', message: expect.stringMatching(/^Pool overlaps with other one on this address space: --subnet 10\.70\.0\.0\/25 overlaps 10\.70\.0\.0\/24 of network first; /) });
    const ipam = await post('/networks/create', { Name: 'second', IPAM: { Driver: 'nosuch' } });
    expect(ipam.status).toBe(404);
    expect(await ipam.json()).toMatchObject({ code: 'UNKNOWN_DRIVER', field: '--ipam-driver', message: expect.stringMatching(/^plugin "nosuch" not found; /) });
    expect((await post('/networks/create', { Name: 'first' })).status).toBe(409);
    expect((await app.request('/networks/nosuch')).status).toBe(404);
    expect(await listNames('/networks')).toEqual(['bridge', 'first', 'host', 'none']);
    // Positive control: a free subnet and the default IPAM driver by name.
    await create('second', { IPAM: { Driver: 'default', Config: [{ Subnet: '10.70.1.0/24' }] } });
  });

  it('bad input dockerd answers with a 500 is a 400 with Docker\'s words first', async () => {
    const bad = await post('/networks/create', { Name: 'x', IPAM: { Config: [{ Subnet: '10.93.0.0/33' }] } });
    expect(bad.status).toBe(400);
    expect(await message(bad)).toMatch(/^Invalid subnet 10\.93\.0\.0\/33 : invalid CIDR address: 10\.93\.0\.0\/33; --subnet 10\.93\.0\.0\/33 is not a valid CIDR subnet; /);
    const gw = await post('/networks/create', { Name: 'x', IPAM: { Config: [{ Subnet: '10.94.0.0/24', Gateway: '10.95.0.1' }] } });
    expect(gw.status).toBe(400);
    expect(await message(gw)).toMatch(/^failed to allocate gateway \(10\.95\.0\.1\): Requested address is out of range; --gateway 10\.95\.0\.1 is outside its --subnet 10\.94\.0\.0\/24; /);
    expect(await listNames('/networks')).toEqual(['bridge', 'host', 'none']);
  });

  it('IPv6: an IPv6 subnet without EnableIPv6 is refused (400, naming --subnet); with it, the network is dual stack', async () => {
    const r = await post('/networks/create', { Name: 'v6', IPAM: { Config: [{ Subnet: 'fd00:91::/64' }] } });
    expect(r.status).toBe(400);
    expect(await r.json()).toMatchObject({ field: '--subnet', message: expect.stringMatching(/^--subnet fd00:91::\/64 is IPv6 but IPv6 is off; add --ipv6 to use it/) });
    expect(await listNames('/networks')).toEqual(['bridge', 'host', 'none']);
    await create('v6', { EnableIPv6: true, IPAM: { Config: [{ Subnet: 'fd00:91::/64' }] } });
    const net = (await (await app.request('/networks/v6')).json()) as { EnableIPv6: boolean; IPAM: { Config: unknown[] } };
    expect(net.EnableIPv6).toBe(true);
    // Docker: the IPv4 pool from the defaults shows its gateway, the given IPv6 subnet none.
    expect(net.IPAM.Config).toEqual([{ Subnet: expect.stringMatching(/^172\./), Gateway: expect.stringMatching(/^172\..*\.1$/) }, { Subnet: 'fd00:91::/64' }]);
  });

  it('IPAM.Config shows a gateway only where Docker does: given, or of a pool from the defaults', async () => {
    await create('given', { IPAM: { Config: [{ Subnet: '10.71.0.0/24', Gateway: '10.71.0.9' }] } });
    await create('subnet', { IPAM: { Config: [{ Subnet: '10.72.0.0/24' }] } });
    await create('pool');
    const cfg = async (n: string) => ((await (await app.request(`/networks/${n}`)).json()) as { IPAM: { Config: unknown[] } }).IPAM.Config;
    expect(await cfg('given')).toEqual([{ Subnet: '10.71.0.0/24', Gateway: '10.71.0.9' }]);
    expect(await cfg('subnet')).toEqual([{ Subnet: '10.72.0.0/24' }]);
    expect(await cfg('pool')).toEqual([{ Subnet: expect.any(String), Gateway: expect.any(String) }]);
    expect(await cfg('bridge')).toEqual([{ Subnet: '172.17.0.0/16', Gateway: '172.17.0.1' }]);
    // The gateway is still there: a sandbox's endpoint shows it, as a container's does in Docker.
    await t.engine.createSandbox({ name: 'web', networks: [{ network: 'subnet' }] });
    const sb = (await (await app.request('/yard/v1/sandboxes/web')).json()) as { NetworkSettings: { Networks: Record<string, { Gateway: string; IPAddress: string }> } };
    expect(sb.NetworkSettings.Networks.subnet).toMatchObject({ Gateway: '10.72.0.1', IPAddress: '10.72.0.2' });
  });
});
