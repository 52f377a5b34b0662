/**
 * The IPAM driver side of the Docker plugin, in the order libnetwork calls it for
 * `docker network create --ipam-driver switchyard ...` and `docker run`.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import type { Hono } from 'hono';
import { ADDRESS_SPACES, dockerPluginApp } from './docker-plugin-app.js';
import { fakeBackend, type FakeBackend } from '../../test/unit/plugin-fake.js';

let b: FakeBackend;
let app: Hono;

beforeEach(() => {
  b = fakeBackend();
  app = dockerPluginApp(b, { scope: 'local' });
});

async function post(method: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const r = await app.request(`/IpamDriver.${method}`, { method: 'POST', body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: r.status, json: (await r.json()) as Record<string, unknown> };
}

describe('handshake', () => {
  it('capabilities: no MAC needed, no replay needed; default address spaces', async () => {
    expect((await post('GetCapabilities')).json).toEqual({ RequiresMACAddress: false, RequiresRequestReplay: false });
    expect((await post('GetDefaultAddressSpaces')).json).toEqual({ LocalDefaultAddressSpace: 'LocalDefault', GlobalDefaultAddressSpace: 'GlobalDefault' });
  });
});

describe('pools', () => {
  it('RequestPool with --subnet and --ip-range; the scope comes from the address space', async () => {
    const r = await post('RequestPool', { AddressSpace: 'LocalDefault', Pool: '10.20.0.0/24', SubPool: '10.20.0.128/25', Options: { k: 'v' }, V6: false });
    expect(r.json).toEqual({ PoolID: 'local/10.20.0.0/24', Pool: '10.20.0.0/24', Data: {} });
    expect(b.calls[0]).toEqual({ method: 'requestPool', args: [{ scope: 'local', pool: '10.20.0.0/24', subPool: '10.20.0.128/25', options: { k: 'v' }, v6: false }] });
    const g = await post('RequestPool', { AddressSpace: ADDRESS_SPACES.global, Pool: '', SubPool: '', Options: null, V6: false });
    expect(g.json).toMatchObject({ PoolID: 'global/172.18.0.0/16', Pool: '172.18.0.0/16' });
    expect(b.calls[1]!.args[0]).toEqual({ scope: 'global', options: {}, v6: false });
  });

  it('a gateway chosen by the backend goes in Data as com.docker.network.gateway (CIDR)', async () => {
    b.requestPool = () => ({ poolId: 'p1', pool: '10.30.0.0/16', gateway: '10.30.0.1/16' });
    expect((await post('RequestPool', { AddressSpace: 'LocalDefault' })).json).toEqual({ PoolID: 'p1', Pool: '10.30.0.0/16', Data: { 'com.docker.network.gateway': '10.30.0.1/16' } });
  });

  it('refusals are HTTP 200 with Error (what the IPAM client reads) and Err', async () => {
    await post('RequestPool', { AddressSpace: 'LocalDefault', Pool: '10.20.0.0/24' });
    const r = await post('RequestPool', { AddressSpace: 'LocalDefault', Pool: '10.20.0.0/24' });
    const text = '--subnet 10.20.0.0/24 overlaps another network\'s subnet (pick another subnet)';
    expect(r).toEqual({ status: 200, json: { Error: text, Err: text } });
  });

  it.each([
    [{ AddressSpace: 'Other' }, /^address space "Other" is not one of switchyard's \(use LocalDefault or GlobalDefault\)/],
    [{ AddressSpace: 'LocalDefault', SubPool: '10.0.0.0/25' }, /^--ip-range 10\.0\.0\.0\/25 is given without --subnet/],
    [{ AddressSpace: 'LocalDefault', Pool: '10.0.0.0/24', SubPool: '10.1.0.0/25' }, /^--ip-range 10\.1\.0\.0\/25 is not inside --subnet 10\.0\.0\.0\/24/],
    [{ AddressSpace: 'LocalDefault', Pool: '10.0.0.0/33' }, /^--subnet "10\.0\.0\.0\/33" is not an IPv4 or IPv6 subnet/],
    [{ AddressSpace: 'LocalDefault', Pool: '10.0.0.0/24', V6: true }, /^--subnet 10\.0\.0\.0\/24 is not an IPv6 subnet/],
  ])('RequestPool %j is refused before the backend sees it', async (body, err) => {
    const r = await post('RequestPool', body);
    expect(r.status).toBe(200);
    expect(r.json.Error).toMatch(err);
    expect(b.calls).toHaveLength(0);
  });

  it('malformed: 400 with Err', async () => {
    const r = await post('RequestPool', { Pool: '10.0.0.0/24' });
    expect(r.status).toBe(400);
    expect(r.json.Err).toMatch(/^request field AddressSpace is required/);
    expect((await post('ReleasePool', '{')).status).toBe(400);
    expect((await post('ReleasePool', { PoolID: '' })).json.Err).toMatch(/PoolID is empty/);
    expect(b.calls).toHaveLength(0);
  });

  it('ReleasePool', async () => {
    await post('RequestPool', { AddressSpace: 'LocalDefault', Pool: '10.20.0.0/24' });
    expect((await post('ReleasePool', { PoolID: 'local/10.20.0.0/24' })).json).toEqual({});
    expect(b.pools.size).toBe(0);
    expect((await post('ReleasePool', { PoolID: 'local/10.20.0.0/24' })).json.Error).toMatch(/pool local\/10\.20\.0\.0\/24 is unknown/);
  });
});

describe('addresses', () => {
  beforeEach(async () => {
    await post('RequestPool', { AddressSpace: 'LocalDefault', Pool: '10.20.0.0/24' });
  });
  const P = 'local/10.20.0.0/24';

  it('the gateway request is marked as one; answers are CIDR', async () => {
    const r = await post('RequestAddress', { PoolID: P, Address: '', Options: { RequestAddressType: 'com.docker.network.gateway' } });
    expect(r.json).toEqual({ Address: '10.20.0.1/24', Data: {} });
    expect(b.calls[1]!.args[0]).toEqual({ poolId: P, gateway: true, options: { RequestAddressType: 'com.docker.network.gateway' } });
  });

  it('a specific address (--ip, --aux-address) is passed bare; taken twice is refused', async () => {
    expect((await post('RequestAddress', { PoolID: P, Address: '10.20.0.50', Options: null })).json).toEqual({ Address: '10.20.0.50/24', Data: {} });
    expect(b.calls[1]!.args[0]).toEqual({ poolId: P, address: '10.20.0.50', gateway: false, options: {} });
    expect((await post('RequestAddress', { PoolID: P, Address: '10.20.0.50' })).json.Error).toBe('10.20.0.50 is already in use (pick another address)');
  });

  it('a MAC in the options (for IPAMs that ask for it) is passed on', async () => {
    await post('RequestAddress', { PoolID: P, Options: { 'com.docker.network.endpoint.macaddress': '02:42:0A:14:00:02' } });
    expect(b.calls[1]!.args[0]).toMatchObject({ mac: '02:42:0a:14:00:02' });
  });

  it('a malformed address is refused naming it', async () => {
    expect((await post('RequestAddress', { PoolID: P, Address: '10.20.0.300' })).json.Error).toMatch(/^--ip "10\.20\.0\.300" is not an IP address/);
    expect(b.calls).toHaveLength(1);
  });

  it('a backend answer without a prefix length is caught', async () => {
    b.requestAddress = () => ({ address: '10.20.0.7' });
    expect((await post('RequestAddress', { PoolID: P })).json.Error).toMatch(/the granted address "10\.20\.0\.7" is not an IPv4 address with its prefix length/);
  });

  it('ReleaseAddress takes the bare address', async () => {
    await post('RequestAddress', { PoolID: P, Address: '10.20.0.9' });
    expect((await post('ReleaseAddress', { PoolID: P, Address: '10.20.0.9' })).json).toEqual({});
    expect(b.pools.get(P)!.used.has('10.20.0.9')).toBe(false);
    expect((await post('ReleaseAddress', { PoolID: P })).status).toBe(400);
  });
});
