/**
 * Switchyard's Docker network API beside the real dockerd 20.10, both in one lab host: the
 * same requests to both sockets, and what each answers (status, message, inspect fields).
 * Where Switchyard differs on purpose, the test says so (docs/api.md, "Docker 20.10
 * compared"). Needs root, `docker.io` (scripts/setup.sh) and `npm run build`.
 *
 * Both daemons share the host's routing table, so each request gives each daemon a subnet
 * of its own (`sub(i)`): Switchyard counts dockerd's bridges as routes it must not overlap.
 */
import { describe, expect, it } from 'vitest';
import { labExec, restartDocker } from '../../src/lab/lab.js';
import { curlSocket, docker, withLab } from './helpers.js';

const lab = withLab('dfid', 1, { docker: { hosts: 1 } });
const h = () => lab.host(1);

type Daemon = 'docker' | 'yard';
interface Answer {
  status: number;
  body: any;
}

function req(which: Daemon, method: string, path: string, body?: unknown): Promise<Answer> {
  return curlSocket(h(), which === 'docker' ? h().docker!.socket : h().socket, method, path, body === undefined ? undefined : JSON.stringify(body));
}

/** The same request to both daemons; `body(i)` gets 0 for dockerd and 1 for Switchyard. */
async function both(method: string, path: string, body?: (i: number) => unknown): Promise<{ docker: Answer; yard: Answer }> {
  return { docker: await req('docker', method, path, body?.(0)), yard: await req('yard', method, path, body?.(1)) };
}

const create = (name: string, extra: (i: number) => object = () => ({})) => both('POST', '/v1.41/networks/create', (i) => ({ Name: name, ...extra(i) }));
const f = (o: unknown) => `filters=${encodeURIComponent(JSON.stringify(o))}`;
const dockerd = (...args: string[]) => labExec(lab.info, h(), ['/usr/bin/docker', '-H', `unix://${h().docker!.socket}`, ...args]);

describe('the Docker network API beside dockerd 20.10', () => {
  it('CheckDuplicate: dockerd refuses a taken name only with true; Switchyard always (names are unique)', async () => {
    expect((await create('dup', (i) => ({ IPAM: { Config: [{ Subnet: `10.12${i}.0.0/24` }] } }))).yard.status).toBe(201);
    for (const [extra, said] of [[{ CheckDuplicate: false }, 'false'], [{}, 'absent']] as const) {
      const r = await create('dup', () => extra);
      // dockerd: a second network of the same name, and a warning.
      expect(r.docker.status).toBe(201);
      expect(r.docker.body.Warning).toMatch(/^Network with name dup \(id : [0-9a-f]{64}\) already exists$/);
      expect(r.yard.status).toBe(409);
      expect(r.yard.body.message).toBe(`network with name dup already exists; Switchyard keeps network names unique even with CheckDuplicate ${said}: pick another name, or remove the existing network first`);
    }
    const t = await create('dup', () => ({ CheckDuplicate: true }));
    expect([t.docker.status, t.docker.body.message]).toEqual([409, 'network with name dup already exists']);
    expect(t.yard.status).toBe(409);
    expect(t.yard.body.message).toMatch(/^network with name dup already exists; /);
    // What a duplicate does to dockerd: the name no longer finds a network.
    const rm = await req('docker', 'DELETE', '/v1.41/networks/dup');
    expect([rm.status, rm.body.message]).toEqual([400, 'network dup is ambiguous (3 matches found based on name)']);
    const ls = await req('yard', 'GET', `/v1.41/networks?${f({ name: { dup: true } })}`);
    expect(ls.body.map((n: { Name: string }) => n.Name)).toEqual(['dup']);
    // The docker CLI 28 sends CheckDuplicate true at API 1.41: the same words from both.
    const cliD = await dockerd('network', 'create', 'dup');
    const cliY = await docker(h(), 'network', 'create', 'dup');
    expect([cliD.code, cliD.stderr.trim()]).toEqual([1, 'Error response from daemon: network with name dup already exists']);
    expect(cliY.code).toBe(1);
    expect(cliY.stderr).toMatch(/^Error response from daemon: network with name dup already exists; /);
  });

  it('filters: an unknown key is 400 "Invalid filter" from both; bad type and dangling values in Docker\'s words', async () => {
    for (const path of [`/v1.41/networks?${f({ bogus: { x: true } })}`]) {
      const r = await both('GET', path);
      expect([r.docker.status, r.docker.body.message]).toEqual([400, "Invalid filter 'bogus'"]);
      expect(r.yard.status).toBe(400);
      expect(r.yard.body.message).toMatch(/^Invalid filter 'bogus'; /);
    }
    for (const k of ['bogus', 'driver', 'dangling', 'type']) {
      const r = await both('POST', `/v1.41/networks/prune?${f({ [k]: { x: true } })}`);
      expect([r.docker.status, r.docker.body.message]).toEqual([400, `Invalid filter '${k}'`]);
      expect([r.yard.status, r.yard.body.message]).toEqual([400, `Invalid filter '${k}'; use one of label, label!, until`]);
    }
    const dangling = await both('GET', `/v1.41/networks?${f({ dangling: { maybe: true } })}`);
    const words = `invalid value for filter 'dangling', must be "true" (or "1"), or "false" (or "0")`;
    expect([dangling.docker.status, dangling.docker.body.message]).toEqual([400, words]);
    expect(dangling.yard.status).toBe(400);
    expect(dangling.yard.body.message.startsWith(`${words}; `)).toBe(true);
    // dockerd answers a bad type, and a bad until, with a 500; Switchyard with a 400 in the same words.
    const type = await both('GET', `/v1.41/networks?${f({ type: { other: true } })}`);
    expect([type.docker.status, type.docker.body.message]).toEqual([500, "invalid filter: 'type'='other'"]);
    expect(type.yard.status).toBe(400);
    expect(type.yard.body.message).toMatch(/^invalid filter: 'type'='other'; /);
    const until = await both('POST', `/v1.41/networks/prune?${f({ until: { xyz: true } })}`);
    expect([until.docker.status, until.docker.body.message]).toEqual([500, 'failed to parse value as time or duration: "xyz"']);
    expect(until.yard.status).toBe(400);
    expect(until.yard.body.message).toMatch(/^failed to parse value as time or duration: "xyz"; /);
    // Positive control: valid values list networks on both.
    const ok = await both('GET', `/v1.41/networks?${f({ type: { custom: true }, dangling: { '1': true } })}`);
    expect([ok.docker.status, ok.yard.status]).toEqual([200, 200]);
    // The docker CLI prints the same line for both.
    const cliD = await dockerd('network', 'ls', '--filter', 'bogus=1');
    const cliY = await docker(h(), 'network', 'ls', '--filter', 'bogus=1');
    expect(cliD.stderr.trim()).toBe("Error response from daemon: Invalid filter 'bogus'");
    expect(cliY.stderr).toMatch(/^Error response from daemon: Invalid filter 'bogus'; /);
  });

  it('status codes: Docker\'s 4xx kept, its 500s for bad input answered 400 with its words first', async () => {
    await create('taken', (i) => ({ IPAM: { Config: [{ Subnet: `10.13${i}.0.0/24` }] } }));
    const cases: [string, (i: number) => object, number, string, number][] = [
      ['overlap', (i) => ({ IPAM: { Config: [{ Subnet: `10.13${i}.0.0/25` }] } }), 403, 'Pool overlaps with other one on this address space', 403],
      ['badsub', () => ({ IPAM: { Config: [{ Subnet: '10.93.0.0/33' }] } }), 500, 'Invalid subnet 10.93.0.0/33 : invalid CIDR address: 10.93.0.0/33', 400],
      ['gwout', (i) => ({ IPAM: { Config: [{ Subnet: `10.14${i}.0.0/24`, Gateway: '10.95.0.1' }] } }), 500, 'failed to allocate gateway (10.95.0.1): Requested address is out of range', 400],
      ['ipamdrv', () => ({ IPAM: { Driver: 'nosuch' } }), 404, 'plugin "nosuch" not found', 404],
    ];
    for (const [name, extra, dStatus, dMessage, yStatus] of cases) {
      const r = await create(name, extra);
      expect([name, r.docker.status, r.docker.body.message]).toEqual([name, dStatus, dMessage]);
      expect([name, r.yard.status]).toEqual([name, yStatus]);
      expect(r.yard.body.message.startsWith(`${dMessage}: `) || r.yard.body.message.startsWith(`${dMessage}; `), r.yard.body.message).toBe(true);
    }
    const notFound = await both('GET', '/v1.41/networks/nosuchnet');
    expect([notFound.docker.status, notFound.yard.status]).toEqual([404, 404]);
    const pre = await both('DELETE', '/v1.41/networks/bridge');
    expect([pre.docker.status, pre.yard.status]).toEqual([403, 403]);
    for (const cd of [false, true]) {
      const host = await create('host', () => ({ CheckDuplicate: cd }));
      expect([host.docker.status, host.docker.body.message]).toEqual([403, 'operation is not permitted on predefined host network ']);
      expect([host.yard.status, host.yard.body.message]).toEqual([403, 'host is a pre-defined network and cannot be created; pick another name']);
    }
    const names = (await req('yard', 'GET', '/v1.41/networks')).body.map((n: { Name: string }) => n.Name);
    for (const n of ['overlap', 'badsub', 'gwout', 'ipamdrv']) expect(names).not.toContain(n);
  });

  it('IPv6: --ipv6 without a subnet, an IPv6 subnet without --ipv6, --ip6 on a network without IPv6', async () => {
    // dockerd 20.10 has no IPv6 default pool: 404. Switchyard takes a /64 from its ULA pool.
    const noSub = await create('v6a', () => ({ EnableIPv6: true }));
    expect([noSub.docker.status, noSub.docker.body.message]).toEqual([404, 'could not find an available, non-overlapping IPv6 address pool among the defaults to assign to the network']);
    expect(noSub.yard.status).toBe(201);
    // dockerd keeps an IPv6 subnet given without EnableIPv6 and never uses it; Switchyard refuses it.
    const offSub = await create('v6b', (i) => ({ IPAM: { Config: [{ Subnet: `10.15${i}.0.0/24` }, { Subnet: `fd00:15${i}::/64` }] } }));
    expect(offSub.docker.status).toBe(201);
    const inspected = (await req('docker', 'GET', '/v1.41/networks/v6b')).body;
    expect([inspected.EnableIPv6, inspected.IPAM.Config]).toEqual([false, [{ Subnet: '10.150.0.0/24' }, { Subnet: 'fd00:150::/64' }]]);
    expect(offSub.yard.status).toBe(400);
    expect(offSub.yard.body).toMatchObject({ field: '--subnet', message: expect.stringMatching(/^--subnet fd00:151::\/64 is IPv6 but IPv6 is off; add --ipv6/) });
    // --ip6 on a network with only an IPv4 subnet: the same 400 and words from both.
    await create('net4', (i) => ({ IPAM: { Config: [{ Subnet: `10.16${i}.0.0/24` }] } }));
    expect((await dockerd('run', '-d', '--name', 'c1', 'bb', 'sleep', '600')).code).toBe(0);
    expect((await labExec(lab.info, h(), ['yard', 'run', '-d', '--name', 'c1', '--', 'sleep', '600'])).code).toBe(0);
    const ip6 = await both('POST', '/v1.41/networks/net4/connect', () => ({ Container: 'c1', EndpointConfig: { IPAMConfig: { IPv6Address: 'fd00:aa::5' } } }));
    const words = 'user specified IP address is supported only when connecting to networks with user configured subnets';
    expect([ip6.docker.status, ip6.docker.body.message]).toEqual([400, words]);
    expect(ip6.yard.status).toBe(400);
    expect(ip6.yard.body).toMatchObject({ field: '--ip6', message: expect.stringMatching(new RegExp(`^${words}; --ip6 fd00:aa::5 cannot be used: network net4 has no IPv6 subnet`)) });
    // Positive control: an IPv4 address of the subnet connects on both.
    const ip4 = await both('POST', '/v1.41/networks/net4/connect', (i) => ({ Container: 'c1', EndpointConfig: { IPAMConfig: { IPv4Address: `10.16${i}.0.5` } } }));
    expect([ip4.docker.status, ip4.yard.status]).toEqual([200, 200]);
    // Disconnecting what is not connected: dockerd's 500, Switchyard's 400.
    const twice = await both('POST', '/v1.41/networks/v6a/disconnect', () => ({ Container: 'c1' }));
    expect(twice.yard.status).toBe(400);
    const inUse = await both('DELETE', '/v1.41/networks/net4');
    expect([inUse.docker.status, inUse.yard.status]).toEqual([403, 403]);
  });

  it('inspect: IPAM.Options and IPAM.Config[].Gateway as dockerd shows them; the default bridge field by field', async () => {
    await create('plain');
    await create('cli', () => ({ CheckDuplicate: true, Driver: 'bridge', IPAM: { Driver: 'default', Options: {}, Config: [] }, Options: {}, Labels: {} }));
    await create('sub', (i) => ({ IPAM: { Config: [{ Subnet: `10.17${i}.0.0/24` }] } }));
    await create('gw', (i) => ({ IPAM: { Config: [{ Subnet: `10.18${i}.0.0/24`, Gateway: `10.18${i}.0.9` }] } }));
    const ipam = async (n: string) => {
      const r = await both('GET', `/v1.41/networks/${n}`);
      // Addresses differ by daemon (each its own subnet); the shape must not.
      const shape = (a: Answer) => JSON.parse(JSON.stringify(a.body.IPAM).replace(/\d+\.\d+\.\d+\.\d+/g, 'A'));
      return { docker: shape(r.docker), yard: shape(r.yard) };
    };
    for (const n of ['plain', 'cli', 'sub', 'gw']) {
      const r = await ipam(n);
      expect(r.yard, n).toEqual(r.docker);
    }
    expect((await ipam('plain')).yard.Options).toBeNull();
    expect((await ipam('sub')).yard.Config).toEqual([{ Subnet: 'A/24' }]);

    // dockerd shows the default bridge's gateway once docker0 exists when it starts (after its first start).
    await restartDocker(lab.info, h());
    const r = await both('GET', '/v1.41/networks/bridge');
    const norm = (b: any) => {
      // Containers differ (each daemon's own c1, and dockerd's stopped with its restart).
      const { Switchyard: _own, Id, Created, Containers, ...rest } = b;
      expect(typeof Containers).toBe('object');
      expect(Id).toMatch(/^[0-9a-f]{64}$/);
      expect(Number.isNaN(Date.parse(Created))).toBe(false);
      return JSON.parse(JSON.stringify(rest).replace(/172\.\d+\.0\./g, '172.X.0.').replace(/"(docker0|yard0)"/, '"BRIDGE"'));
    };
    expect(norm(r.yard.body)).toEqual(norm(r.docker.body));
    expect(r.yard.body.IPAM.Config).toEqual([{ Subnet: '172.17.0.0/16', Gateway: '172.17.0.1' }]);
  });
});
