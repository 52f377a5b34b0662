/**
 * ipvlan for real, in the VM lab (its kernel has ipvlan): the capability probe accepts it,
 * the driver conformance suite passes in l2, l3 and l3s, and the l2 host-access shim lets
 * the host reach its sandbox. All in one lab, one driver spec after the other, to keep the
 * number of (slow, emulated) process starts down.
 */
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { run } from '../../src/kernel/exec.js';
import { driverConformance } from '../lab/conformance.js';
import { ipJson, ok, withLab, yard, yardJson } from '../lab/helpers.js';

const lab = withLab('vm', 1);
const LAN = ['--subnet', '10.231.0.0/24', '--gateway', '10.231.0.1', '--ip-range', '10.231.0.192/27', '-o', 'parent=lan0'];

describe('capability probe in the VM', () => {
  it('finds ipvlan, dummy and 802.1q in this kernel', () => {
    const line = fs.readFileSync(lab.host(1).logFile, 'utf8').split('\n').find((l) => l.includes('kernel link kinds:'));
    expect(line, 'the daemon logs the probed kinds').toBeDefined();
    const kinds = line!.slice(line!.indexOf('kernel link kinds:') + 'kernel link kinds:'.length).split(',').map((k) => k.trim());
    expect(kinds).toEqual(expect.arrayContaining(['ipvlan', 'macvlan', 'dummy', 'vlan']));
  });
});

driverConformance({ driver: 'ipvlan l2 (parent lan0)', lab, network: 'ipl2', createArgs: () => ['-d', 'ipvlan', '-o', 'ipvlan_mode=l2', ...LAN] });
driverConformance({ driver: 'ipvlan l3 (parent lan0)', lab, network: 'ipl3', createArgs: () => ['-d', 'ipvlan', '-o', 'ipvlan_mode=l3', '--subnet', '10.70.0.0/24', '-o', 'parent=lan0'] });
driverConformance({ driver: 'ipvlan l3s (parent lan0)', lab, network: 'ipl3s', createArgs: () => ['-d', 'ipvlan', '-o', 'ipvlan_mode=l3s', '--subnet', '10.71.0.0/24', '-o', 'parent=lan0'] });

describe('ipvlan l2 host access', () => {
  it('without the shim the host cannot reach its sandbox; with -o host_access=true it can, and the shim goes with the network', async () => {
    const h = lab.host(1);
    const created = await yard(h, 'network', 'create', '-d', 'ipvlan', ...LAN, 'plain');
    expect(created.code, created.stderr).toBe(0);
    expect(created.stderr).toMatch(/host_access=true/);
    await ok(yard(h, 'run', '-d', '--name', 'p1', '--network', 'plain', '--ip', '10.231.0.200', '--', 'sleep', '600'));
    const pingFromHost = async (ip: string) => (await run('ip', ['netns', 'exec', h.name, 'ping', '-c1', '-W2', ip])).code === 0;
    expect(await pingFromHost('10.231.0.200')).toBe(false);
    await ok(yard(h, 'rm', '-f', 'p1'));
    await ok(yard(h, 'network', 'rm', 'plain'));

    await ok(yard(h, 'network', 'create', '-d', 'ipvlan', ...LAN, '-o', 'host_access=true', 'shimmed'));
    await ok(yard(h, 'run', '-d', '--name', 's1', '--network', 'shimmed', '--ip', '10.231.0.201', '--', 'sleep', '600'));
    const [net] = await yardJson<any[]>(h, 'network', 'inspect', 'shimmed');
    const shimAddress = net.Switchyard.Driver.shimAddress as string;
    expect(shimAddress).toMatch(/^10\.231\.0\.\d+$/);
    const shim = (await ipJson<any[]>(h, ['-d', 'addr', 'show'])).find((l) => l.addr_info?.some((a: any) => a.local === shimAddress));
    expect(shim?.linkinfo?.info_kind).toBe('ipvlan');
    expect(shim?.linkinfo?.info_data?.mode).toBe('l2');
    expect(await pingFromHost('10.231.0.201')).toBe(true);
    await ok(yard(h, 'rm', '-f', 's1'));
    await ok(yard(h, 'network', 'rm', 'shimmed'));
    expect((await ipJson<any[]>(h, ['link', 'show'])).map((l) => l.ifname)).not.toContain(shim.ifname);
  });
});
