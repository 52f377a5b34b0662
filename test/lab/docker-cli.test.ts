/**
 * The real docker CLI (28.x, /usr/local/bin/docker) against a lab host's daemon: its
 * `network` commands work unchanged, print what they print against Docker, and what they
 * do shows up in the kernel and in traffic.
 */
import { describe, expect, it } from 'vitest';
import { addrsOf, docker, inspectSandbox, linkNames, ok, parseJson, pings, withLab, yard } from './helpers.js';

const lab = withLab('dk');
const h = () => lab.host(1);
const HEX64 = /^[0-9a-f]{64}$/;

describe('docker CLI', () => {
  it('negotiates API 1.41', async () => {
    expect(await ok(docker(h(), 'version', '--format', '{{.Server.APIVersion}}'))).toBe('1.41');
    const v = await ok(docker(h(), 'version'));
    expect(v).toMatch(/API version:\s+1\.41 \(downgraded from/);
    expect(v).toMatch(/Server: Switchyard/);
  });

  it('lists the predefined networks', async () => {
    const lines = (await ok(docker(h(), 'network', 'ls'))).split('\n');
    expect(lines[0]).toMatch(/^NETWORK ID\s+NAME\s+DRIVER\s+SCOPE$/);
    const rows = lines.slice(1).map((l) => l.split(/\s+/));
    expect(rows.map((r) => r.slice(1)).sort()).toEqual([
      ['bridge', 'bridge', 'local'],
      ['host', 'host', 'local'],
      ['none', 'null', 'local'],
    ]);
    for (const r of rows) expect(r[0]).toMatch(/^[0-9a-f]{12}$/);
    const [bridge] = parseJson(await docker(h(), 'network', 'inspect', 'bridge'));
    expect(bridge.Options['com.docker.network.bridge.name']).toBe('yard0');
  });

  it('creates with --subnet --gateway --ip-range --aux-address, connects a yard sandbox with --ip and --alias, disconnects and removes', async () => {
    const id = await ok(
      docker(h(), 'network', 'create', '--subnet', '10.80.0.0/24', '--gateway', '10.80.0.254', '--ip-range', '10.80.0.128/25', '--aux-address', 'router=10.80.0.129', 'dk'),
    );
    expect(id).toMatch(HEX64);
    const [net] = parseJson(await docker(h(), 'network', 'inspect', 'dk'));
    expect(net).toMatchObject({ Name: 'dk', Id: id, Driver: 'bridge', Scope: 'local', Internal: false, EnableIPv6: false });
    expect(net.IPAM.Config).toEqual([{ Subnet: '10.80.0.0/24', IPRange: '10.80.0.128/25', Gateway: '10.80.0.254', AuxiliaryAddresses: { router: '10.80.0.129' } }]);
    expect(net.Containers).toEqual({});
    expect(await addrsOf(h(), undefined, `br-${id.slice(0, 12)}`)).toEqual(['10.80.0.254/24']);
    // docker's Go template sees the same document.
    expect(await ok(docker(h(), 'network', 'inspect', '-f', '{{range .IPAM.Config}}{{.Gateway}}{{end}}', 'dk'))).toBe('10.80.0.254');

    await ok(yard(h(), 'run', '-d', '--name', 's1', '--', 'sleep', '600')); // on the default bridge
    await ok(yard(h(), 'run', '-d', '--name', 's2', '--network', 'dk', '--', 'sleep', '600'));
    expect((await inspectSandbox(h(), 's2')).NetworkSettings.Networks.dk.IPAddress).toBe('10.80.0.128'); // first of the range

    const c = await docker(h(), 'network', 'connect', '--ip', '10.80.0.50', '--alias', 'web', 'dk', 's1');
    expect([c.code, c.stdout, c.stderr]).toEqual([0, '', '']);
    const s1 = await inspectSandbox(h(), 's1');
    const ep = s1.NetworkSettings.Networks.dk;
    expect(ep).toMatchObject({ IPAddress: '10.80.0.50', IPPrefixLen: 24, Gateway: '10.80.0.254', Aliases: ['web'], IPAMConfig: { IPv4Address: '10.80.0.50' } });
    expect(await addrsOf(h(), s1.Netns, ep.Interface)).toEqual(['10.80.0.50/24']);
    const [after] = parseJson(await docker(h(), 'network', 'inspect', 'dk'));
    expect(after.Containers[s1.Id]).toMatchObject({ Name: 's1', IPv4Address: '10.80.0.50/24', EndpointID: ep.EndpointID });
    expect(await pings(h(), 's2', '10.80.0.50')).toBe(true);

    const d = await docker(h(), 'network', 'disconnect', 'dk', 's1');
    expect([d.code, d.stderr]).toEqual([0, '']);
    expect(await linkNames(h(), s1.Netns)).not.toContain(ep.Interface);
    expect(Object.keys((await inspectSandbox(h(), 's1')).NetworkSettings.Networks)).toEqual(['bridge']);
    expect(await pings(h(), 's2', '10.80.0.50', 1)).toBe(false);

    const busy = await docker(h(), 'network', 'rm', 'dk');
    expect(busy.code).toBe(1);
    expect(busy.stderr).toMatch(/^Error response from daemon: error while removing network: network dk id [0-9a-f]{64} has active endpoints/);
    await ok(yard(h(), 'rm', '-f', 's2'));
    const rm = await docker(h(), 'network', 'rm', 'dk');
    expect([rm.code, rm.stdout.trim()]).toEqual([0, 'dk']);
    expect(await linkNames(h())).not.toContain(`br-${id.slice(0, 12)}`);
  });

  it('prunes unused networks and reports a missing one as Docker does', async () => {
    await ok(docker(h(), 'network', 'create', 'p1'));
    await ok(docker(h(), 'network', 'create', 'p2'));
    await ok(docker(h(), 'network', 'create', 'kept'));
    await ok(yard(h(), 'run', '-d', '--name', 'k1', '--network', 'kept', '--', 'sleep', '600'));
    const out = (await ok(docker(h(), 'network', 'prune', '-f'))).split('\n');
    expect(out[0]).toBe('Deleted Networks:');
    expect(out.slice(1).filter(Boolean).sort()).toEqual(['p1', 'p2']);
    const names = (await ok(docker(h(), 'network', 'ls', '--format', '{{.Name}}'))).split('\n').sort();
    expect(names).toEqual(['bridge', 'host', 'kept', 'none']);

    const missing = await docker(h(), 'network', 'rm', 'nosuch');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^Error response from daemon: network nosuch not found/);
    const missingInspect = await docker(h(), 'network', 'inspect', 'nosuch');
    expect(missingInspect.code).toBe(1);
    expect(missingInspect.stderr).toMatch(/network nosuch not found/);
  });
});
