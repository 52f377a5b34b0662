/**
 * Docker's network flags that shape a network or an endpoint beyond the basics, through the
 * Docker API over an engine with the RecordingKernel (test/unit/fakes.ts): --scope,
 * --config-only / --config-from, connect --link and --driver-opt. What each does in the
 * real kernel and the resolver is test/lab/docker-network-flags.test.ts's job.
 */
import { describe, expect, it } from 'vitest';
import type { Hono } from 'hono';
import { useApiApp } from '../../test/unit/api-app.js';
import type { TestEngine } from '../../test/unit/fakes.js';
import { recordSchemas, recordProblem } from '../store/records.js';
import { buildRecords, lookupLocal } from '../dns/records.js';

let t: TestEngine;
let app: Hono;

useApiApp((e, a) => {
  t = e;
  app = a;
});

const post = (path: string, body: unknown) => app.request(path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
const get = async (path: string) => (await app.request(path)).json() as Promise<any>;
const create = (body: Record<string, unknown>) => post('/v1.41/networks/create', body);
/** A refusal: its status (null: any 4xx), its message and the field it names. */
async function refused(r: Response, status: number | null, message: RegExp, field?: string) {
  const b = (await r.json()) as { message: string; field?: string };
  expect([r.status, b.message]).toEqual([status ?? expect.any(Number), expect.stringMatching(message)]);
  expect(r.status >= 400 && r.status < 500).toBe(true);
  if (field) expect(b.field).toBe(field);
}
const names = () => t.engine.networks().map((n) => n.name).sort();

describe('--scope', () => {
  it('local is kept for a local driver (and empty means the driver\'s); swarm, global for bridge and nonsense are refused naming --scope, creating nothing', async () => {
    expect((await create({ Name: 'l1', Scope: 'local' })).status).toBe(201);
    expect((await create({ Name: 'l2', Scope: '' })).status).toBe(201);
    expect((await get('/networks/l1')).Scope).toBe('local');
    expect((await get('/networks/l2')).Scope).toBe('local');
    await refused(await create({ Name: 's1', Scope: 'swarm' }), 400, /^--scope swarm: cannot create a swarm scoped network when swarm is not active/, '--scope');
    await refused(await create({ Name: 's2', Scope: 'swarm', Driver: 'macvlan', Options: { parent: 'lan0' } }), 400, /swarm is not active/, '--scope');
    await refused(await create({ Name: 'g1', Scope: 'global' }), 400, /^--scope global: bridge networks exist on one host only; only overlay networks are global/, '--scope');
    await refused(await create({ Name: 'b1', Scope: 'bogus' }), 400, /^--scope bogus is not a scope/, '--scope');
    expect(names()).toEqual(['bridge', 'host', 'l1', 'l2', 'none']);
  });

  it('overlay networks are global: --scope local would downgrade them and is refused (Docker\'s words)', async () => {
    await refused(await create({ Name: 'o1', Driver: 'overlay', Scope: 'local' }), 400, /^--scope local: cannot downgrade network scope for overlay networks/, '--scope');
    // --scope global passes the scope check and meets the overlay's own need: a cluster store.
    await refused(await create({ Name: 'o2', Driver: 'overlay', Scope: 'global' }), 400, /the overlay driver needs a cluster store/);
    expect(names()).toEqual(['bridge', 'host', 'none']);
  });
});

describe('--config-only and --config-from', () => {
  const cfgBody = { Name: 'cfg', ConfigOnly: true, IPAM: { Driver: 'default', Config: [{ Subnet: '10.61.0.0/24', Gateway: '10.61.0.1' }], Options: {} }, Options: { 'com.docker.network.bridge.name': 'cfgbr0' }, Labels: { team: 'a' } };

  it('a config-only network keeps IPAM and options as given, shows ConfigOnly and driver null, and makes nothing in the kernel', async () => {
    const r = await create(cfgBody);
    expect(r.status).toBe(201);
    expect(t.kernel.appliedLines().flat()).toEqual([]);
    expect(await get('/networks/cfg')).toMatchObject({
      Name: 'cfg',
      Driver: 'null',
      Scope: 'local',
      ConfigOnly: true,
      ConfigFrom: { Network: '' },
      IPAM: { Driver: 'default', Config: [{ Subnet: '10.61.0.0/24', Gateway: '10.61.0.1' }] },
      Options: { 'com.docker.network.bridge.name': 'cfgbr0' },
      Labels: { team: 'a' },
    });
    // The stored record keeps the field (the store's schema would drop an unknown one).
    const rec = t.engine.findNetwork('cfg');
    expect(recordSchemas().network.parse(rec)).toMatchObject({ configOnly: true });
    expect(recordProblem('network', rec, rec.id)).toBeUndefined();
  });

  it('refuses operator fields and a chain, with Docker\'s messages, creating nothing', async () => {
    await refused(await create({ ...cfgBody, Internal: true }), 400, /^configuration network can only contain network specific fields\. Network operator fields like \[ ingress \| internal \| attachable \| scope \] are not supported\./, '--internal');
    await refused(await create({ ...cfgBody, Attachable: true }), 400, /Network operator fields/, '--attachable');
    await refused(await create({ ...cfgBody, Scope: 'local' }), 400, /Network operator fields/, '--scope');
    await refused(await create({ ...cfgBody, ConfigFrom: { Network: 'x' } }), 400, /^a configuration network cannot depend on another configuration network/);
    expect(names()).toEqual(['bridge', 'host', 'none']);
  });

  it('a network --config-from takes its IPAM, options and labels, shows ConfigFrom; its own are refused; the config network cannot be connected to or removed while used', async () => {
    expect((await create(cfgBody)).status).toBe(201);
    await refused(await create({ Name: 'x1', ConfigFrom: { Network: 'cfg' }, IPAM: { Config: [{ Subnet: '10.62.0.0/24' }] } }), 400, /^user specified configurations are not supported if the network depends on a configuration network/, '--subnet');
    await refused(await create({ Name: 'x2', ConfigFrom: { Network: 'cfg' }, Labels: { a: 'b' } }), 400, /^user specified configurations are not supported/, '--label');
    await refused(await create({ Name: 'x3', ConfigFrom: { Network: 'cfg' }, EnableIPv6: true }), 400, /^user specified configurations are not supported/, '--ipv6');
    await refused(await create({ Name: 'x4', ConfigFrom: { Network: 'cfg' }, Options: { 'com.docker.network.driver.mtu': '1400' } }), 400, /^network driver options are not supported if the network depends on a configuration network/, '--opt');
    await refused(await create({ Name: 'x5', ConfigFrom: { Network: 'nosuch' } }), 404, /^configuration network "nosuch" does not exist/, '--config-from');
    await refused(await create({ Name: 'x6', ConfigFrom: { Network: 'bridge' } }), 404, /^configuration network "bridge" does not exist/);
    expect(names()).toEqual(['bridge', 'cfg', 'host', 'none']);

    // The CLI sends IPAM {Driver: default, Config: [], Options: {}} and empty maps: not "its own".
    const r = await create({ Name: 'app', Driver: 'bridge', ConfigFrom: { Network: 'cfg' }, IPAM: { Driver: 'default', Config: [], Options: {} }, Options: {}, Labels: {} });
    expect(r.status).toBe(201);
    expect(await get('/networks/app')).toMatchObject({
      Driver: 'bridge',
      ConfigOnly: false,
      ConfigFrom: { Network: 'cfg' },
      IPAM: { Config: [{ Subnet: '10.61.0.0/24', Gateway: '10.61.0.1' }] },
      Options: { 'com.docker.network.bridge.name': 'cfgbr0' },
      Labels: { team: 'a' },
    });
    // The kernel objects are the new network's, from the config's options and IPAM.
    expect(t.kernel.appliedLines().flat().join('\n')).toMatch(/link add cfgbr0 .*type bridge[\s\S]*addr add 10\.61\.0\.1\/24 dev cfgbr0/);
    expect(recordSchemas().network.parse(t.engine.findNetwork('app'))).toMatchObject({ configFrom: 'cfg' });

    await t.engine.createSandbox({ name: 'web' });
    await refused(await post('/networks/cfg/connect', { Container: 'web' }), 403, /^cannot create endpoint on configuration-only network/);
    await refused(await app.request('/networks/cfg', { method: 'DELETE' }), 403, /^error while removing network: configuration network "cfg" is in use/);
    expect((await app.request('/networks/app', { method: 'DELETE' })).status).toBe(204);
    expect((await app.request('/networks/cfg', { method: 'DELETE' })).status).toBe(204);
    expect(names()).toEqual(['bridge', 'host', 'none']);
  });

  it('prune keeps a config-only network while a network created from it exists (that one has a sandbox), and removes it once unused', async () => {
    expect((await create(cfgBody)).status).toBe(201);
    expect((await create({ Name: 'app', ConfigFrom: { Network: 'cfg' } })).status).toBe(201);
    await t.engine.createSandbox({ name: 'web', networks: [{ network: 'app' }] });
    expect(await (await post('/networks/prune', {})).json()).toEqual({ NetworksDeleted: [] });
    expect(names()).toEqual(['app', 'bridge', 'cfg', 'host', 'none']);
    await t.engine.removeSandbox('web', true);
    expect((await (await post('/networks/prune', {})).json()).NetworksDeleted.sort()).toEqual(['app', 'cfg']);
    expect(names()).toEqual(['bridge', 'host', 'none']);
  });

  it('a config-only network\'s subnet is not taken: the network created from it gets it, another network with it is refused', async () => {
    expect((await create(cfgBody)).status).toBe(201);
    expect((await create({ Name: 'app', ConfigFrom: { Network: 'cfg' } })).status).toBe(201);
    await refused(await create({ Name: 'dup', IPAM: { Config: [{ Subnet: '10.61.0.0/24' }] } }), null, /overlaps 10\.61\.0\.0\/24 of network app/);
  });
});

describe('connect --link and --driver-opt', () => {
  async function setup() {
    expect((await create({ Name: 'app', IPAM: { Config: [{ Subnet: '10.63.0.0/24' }] } })).status).toBe(201);
    await t.engine.createSandbox({ name: 'db', networks: [{ network: 'app' }] });
    await t.engine.createSandbox({ name: 'other', networks: [{ network: 'app' }] });
    // web starts on a network of its own (a sandbox without networks would be on the default bridge).
    expect((await create({ Name: 'side', IPAM: { Config: [{ Subnet: '10.64.0.0/24' }] } })).status).toBe(201);
    await t.engine.createSandbox({ name: 'web', networks: [{ network: 'side' }] });
  }
  const sideOnly = () => expect(Object.keys(t.engine.findSandbox('web').endpoints)).toEqual([t.engine.findNetwork('side').id]);

  it('--link is kept and shown as Links; only the linking sandbox resolves the alias (and alias.<network>) to the target', async () => {
    await setup();
    const r = await post('/networks/app/connect', { Container: 'web', EndpointConfig: { Links: ['db:dbalias'] } });
    expect(r.status).toBe(200);
    const ep = (await get('/yard/v1/sandboxes/web')).NetworkSettings.Networks.app;
    expect(ep.Links).toEqual(['db:dbalias']);
    expect(ep.DriverOpts).toBeNull();
    expect(recordSchemas().sandbox.parse(t.engine.findSandbox('web')).endpoints[t.engine.findNetwork('app').id]).toMatchObject({ links: ['db:dbalias'] });

    const recs = buildRecords(t.engine.networks(), t.engine.sandboxes());
    const dbIp = t.engine.findSandbox('db').endpoints[t.engine.findNetwork('app').id]!.ipv4!.split('/')[0];
    const web = t.engine.findSandbox('web');
    const other = t.engine.findSandbox('other');
    expect(lookupLocal(recs, web, 'dbalias', 'A')).toMatchObject({ kind: 'addresses', addresses: [dbIp] });
    expect(lookupLocal(recs, web, 'DBALIAS.app.', 'A')).toMatchObject({ kind: 'addresses', addresses: [dbIp] });
    // The negative beside it: another sandbox on the same network does not see the alias, but sees db.
    expect(lookupLocal(recs, other, 'dbalias', 'A').kind).toBe('none');
    expect(lookupLocal(recs, other, 'db', 'A')).toMatchObject({ kind: 'addresses', addresses: [dbIp] });
  });

  it('a link to a sandbox not (yet) on the network is kept and answers nothing until it joins (Docker\'s rule)', async () => {
    await setup();
    await t.engine.createSandbox({ name: 'later' });
    expect((await post('/networks/app/connect', { Container: 'web', EndpointConfig: { Links: ['later:lt'] } })).status).toBe(200);
    const web = () => t.engine.findSandbox('web');
    expect(lookupLocal(buildRecords(t.engine.networks(), t.engine.sandboxes()), web(), 'lt', 'A').kind).toBe('none');
    await t.engine.connect('app', 'later');
    const ip = t.engine.findSandbox('later').endpoints[t.engine.findNetwork('app').id]!.ipv4!.split('/')[0];
    expect(lookupLocal(buildRecords(t.engine.networks(), t.engine.sandboxes()), web(), 'lt', 'A')).toMatchObject({ kind: 'addresses', addresses: [ip] });
  });

  it('refuses a malformed link and a link on the default bridge, naming --link, connecting nothing', async () => {
    await setup();
    for (const bad of ['db:a:b', ':x', 'db:', 'bad name']) {
      await refused(await post('/networks/app/connect', { Container: 'web', EndpointConfig: { Links: [bad] } }), 400, /--link/, '--link');
    }
    await refused(await post('/networks/bridge/connect', { Container: 'web', EndpointConfig: { Links: ['db:x'] } }), 400, /^--link on network bridge: links are answered by the embedded DNS of user-defined networks/, '--link');
    sideOnly();
  });

  it('--driver-opt is kept and shown as DriverOpts; com.docker.network.endpoint.ifname names the interface', async () => {
    await setup();
    const r = await post('/networks/app/connect', { Container: 'web', EndpointConfig: { DriverOpts: { foo: 'bar', 'com.docker.network.endpoint.ifname': 'lan7' } } });
    expect(r.status).toBe(200);
    const ep = (await get('/yard/v1/sandboxes/web')).NetworkSettings.Networks.app;
    expect(ep.DriverOpts).toEqual({ foo: 'bar', 'com.docker.network.endpoint.ifname': 'lan7' });
    expect(ep.Interface).toBe('lan7');
    expect(t.kernel.appliedLines().flat().join('\n')).toMatch(/ name lan7 /);
    // Without the key, the next free ethN.
    expect((await post('/networks/app/connect', { Container: 'other2', EndpointConfig: {} })).status).toBe(404);
    await t.engine.disconnect('app', 'other');
    expect((await post('/networks/app/connect', { Container: 'other', EndpointConfig: { DriverOpts: { foo: 'baz' } } })).status).toBe(200);
    expect((await get('/yard/v1/sandboxes/other')).NetworkSettings.Networks.app).toMatchObject({ Interface: 'eth0', DriverOpts: { foo: 'baz' } });
  });

  it('refuses a bad interface name given as a driver option, naming it, connecting nothing', async () => {
    await setup();
    await refused(await post('/networks/app/connect', { Container: 'web', EndpointConfig: { DriverOpts: { 'com.docker.network.endpoint.ifname': 'a-name-far-too-long' } } }), 400, /a-name-far-too-long is 19 characters long/);
    await refused(await post('/networks/app/connect', { Container: 'web', EndpointConfig: { DriverOpts: { k: 'a\nb' } } }), 400, /--driver-opt "k"/, '--driver-opt');
    sideOnly();
  });
});
