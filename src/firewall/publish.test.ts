import { describe, expect, it } from 'vitest';
import { YardError } from '../errors.js';
import { parsePortSpec } from '../model/ports.js';
import type { NetworkRecord, SandboxRecord } from '../model/types.js';
import { fixtureNetwork, fixtureSandbox } from './fixtures.js';
import { resolvePublishedPorts } from './publish.js';

const app = fixtureNetwork({ name: 'app', index: 1 });
const internal = fixtureNetwork({ name: 'secret', index: 2, internal: true });
const host: NetworkRecord = { ...fixtureNetwork({ name: 'host', index: 3 }), driver: 'host', ipam: { driver: 'default', options: {}, config: [] } };
const networks = new Map([app, internal, host].map((n) => [n.id, n]));
const hostAddresses = new Set(['127.0.0.1', '10.231.0.2', '::1']);

function sandbox(name: string, nets: NetworkRecord[], specs: string[], i = 5): SandboxRecord {
  return fixtureSandbox(name, i, nets, specs.map(parsePortSpec));
}

function refused(sb: SandboxRecord, others: SandboxRecord[] = []): YardError {
  try {
    resolvePublishedPorts(sb, { others, networks, hostAddresses });
  } catch (e) {
    expect(e).toBeInstanceOf(YardError);
    expect((e as YardError).field).toBe('-p');
    return e as YardError;
  }
  throw new Error('accepted');
}

describe('resolvePublishedPorts', () => {
  const web = sandbox('web', [app], ['8080:80', '127.0.0.1:9090:90'], 0);

  it('names the sandbox that already holds a host port', () => {
    const e = refused(sandbox('web2', [app], ['10.231.0.2:8080:81']), [web]);
    expect(e.code).toBe('PORT_IN_USE');
    expect(e.message).toBe('-p 10.231.0.2:8080:81/tcp: host port 10.231.0.2:8080/tcp is already published by sandbox web (-p 8080:80/tcp)');
    expect(e.hint).toContain('yard rm -f web');
    expect(refused(sandbox('w', [app], ['8080:80', '8080:81'])).message).toMatch(/already published by another -p of this sandbox/);
  });

  it('allows the same port on another protocol or another address', () => {
    const sb = sandbox('dns', [app], ['8080:53/udp', '10.231.0.2:9090:90']);
    resolvePublishedPorts(sb, { others: [web], networks, hostAddresses });
    expect(sb.ports!.map((p) => p.hostPort)).toEqual([8080, 9090]);
  });

  it('refuses a host address the host does not have, ::1, internal, host and none networks', () => {
    expect(refused(sandbox('a', [app], ['10.9.9.9:80:80'])).message).toMatch(/10\.9\.9\.9 is not an address of this host/);
    expect(refused(sandbox('a', [app], ['[::1]:80:80'])).code).toBe('PUBLISH_NOT_ALLOWED');
    const i = refused(sandbox('a', [internal], ['80:80']));
    expect([i.code, i.message]).toEqual(['PUBLISH_NOT_ALLOWED', '-p 80:80/tcp: network secret is --internal, so nothing outside it can reach its ports']);
    expect(refused(sandbox('a', [host], ['80:80'])).message).toMatch(/on the host network cannot publish/);
  });

  it('chooses free host ports for -p 80 and for a host range with one container port', () => {
    const taken = sandbox('t', [app], ['32768:1', '8000-8001:8000-8001'], 1);
    const sb = sandbox('a', [app], ['80', '8000-8010:80', '90-91']);
    resolvePublishedPorts(sb, { others: [taken], networks, hostAddresses });
    expect(sb.ports!.map((p) => [p.hostPort, p.hostPortEnd])).toEqual([[32769, 32769], [8002, 8002], [32770, 32771]]);
    expect(sb.ports!.every((p) => p.hostRangeChoice === undefined)).toBe(true);
    const full = refused(sandbox('b', [app], ['8000-8001:80']), [taken]);
    expect([full.code, full.message]).toEqual(['PORT_IN_USE', '-p 8000-8001:80/tcp: no free host port left in 8000-8001']);
  });
});
