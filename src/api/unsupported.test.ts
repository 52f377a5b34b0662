/**
 * The answers for Docker endpoints Switchyard does not serve, on an app routed like the
 * daemon's (versioned and unversioned paths), next to a route it does serve.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { Hono } from 'hono';
import { mountUnsupported, NOT_A_SWARM_MANAGER, NOT_IN_A_SWARM } from './unsupported.js';

let app: Hono;

beforeEach(() => {
  app = new Hono({
    getPath: (req) => {
      const p = new URL(req.url).pathname;
      return /^\/v\d+\.\d+(\/.*)$/.exec(p)?.[1] ?? p;
    },
  });
  app.get('/networks', (c) => c.json([]));
  app.get('/containers/served', (c) => c.json({ served: true }));
  mountUnsupported(app);
  app.notFound((c) => c.json({ message: 'page not found' }, 404));
});

async function req(method: string, path: string): Promise<{ status: number; message: string }> {
  const r = await app.request(path, { method });
  return { status: r.status, message: ((await r.json()) as { message: string }).message };
}

describe('501 for what Switchyard does not do', () => {
  it.each([
    ['POST', '/v1.41/containers/create', /^POST \/containers\/create: containers are not supported by Switchyard/],
    ['GET', '/containers/json', /containers are not supported/],
    ['DELETE', '/v1.24/containers/abc', /containers are not supported/],
    ['POST', '/v1.41/exec/123/start', /exec is not supported by Switchyard's Docker API\. Run a command in a sandbox with "yard exec SANDBOX -- CMD"/],
    ['GET', '/images/json', /images are not supported by Switchyard/],
    ['POST', '/images/create', /images are not supported/],
    ['POST', '/commit', /images are not supported/],
    ['GET', '/distribution/busybox/json', /images are not supported/],
    ['GET', '/volumes', /volumes are not supported by Switchyard/],
    ['POST', '/volumes/create', /volumes are not supported/],
    ['POST', '/build', /image builds are not supported by Switchyard/],
    ['POST', '/session', /image builds are not supported/],
    ['GET', '/v1.41/plugins', /plugin management is not supported by Switchyard\. Switchyard is itself a network plugin for dockerd/],
  ])('%s %s', async (method, path, msg) => {
    const r = await req(method, path);
    expect(r.status).toBe(501);
    expect(r.message).toMatch(msg);
  });

  it('container answers say what to use instead: yard run, or the plugin on dockerd', async () => {
    const r = await req('POST', '/containers/create');
    expect(r.message).toContain('"yard run [--network NET] -- CMD"');
    expect(r.message).toContain('docker network create -d switchyard NET');
  });

  it('every 501 says "not supported", so docker inspect NAME moves on to networks', async () => {
    for (const p of ['/containers/x/json', '/images/x/json', '/volumes/x', '/plugins/x/json']) expect((await req('GET', p)).message).toContain('not supported');
  });

  it('the plugin name is configurable', async () => {
    const a = new Hono();
    mountUnsupported(a, { pluginName: 'switchyard-host1' });
    expect(((await (await a.request('/containers/create', { method: 'POST' })).json()) as { message: string }).message).toContain('-d switchyard-host1 NET');
  });
});

describe('503 for swarm, in Docker\'s words', () => {
  it.each(['/swarm', '/v1.41/swarm/unlockkey', '/services', '/services/abc', '/nodes', '/tasks/x', '/secrets', '/configs/create'])('GET %s', async (path) => {
    expect(await req('GET', path)).toEqual({ status: 503, message: NOT_A_SWARM_MANAGER });
  });

  it('leave: not part of a swarm; init and join: why not, and what to use', async () => {
    expect(await req('POST', '/swarm/leave')).toEqual({ status: 503, message: NOT_IN_A_SWARM });
    const init = await req('POST', '/v1.41/swarm/init');
    expect(init.status).toBe(503);
    expect(init.message).toMatch(/^This node cannot init a swarm: swarm mode is not supported by Switchyard; .*--cluster-store etcd:\/\/HOST:2379/);
    expect((await req('POST', '/swarm/join')).message).toMatch(/^This node cannot join a swarm/);
  });
});

describe('what it leaves alone', () => {
  it('routes registered before it still answer; unrelated paths stay 404', async () => {
    expect((await app.request('/v1.41/networks')).status).toBe(200);
    expect(await (await app.request('/containers/served')).json()).toEqual({ served: true });
    expect(await req('GET', '/nosuch')).toEqual({ status: 404, message: 'page not found' });
    expect(await req('GET', '/containersx')).toEqual({ status: 404, message: 'page not found' });
  });

  it('the body has Docker\'s message field and the daemon\'s code', async () => {
    const r = await app.request('/images/json');
    expect(r.headers.get('content-type')).toMatch(/application\/json/);
    expect(Object.keys((await r.json()) as object).sort()).toEqual(['code', 'message']);
  });
});
