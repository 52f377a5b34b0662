import { describe, expect, it } from 'vitest';
import { parseNetavarkOptions, setupSteps } from '../runtime/netavark.js';
import { seriesCount, addressesOf, bridgeConf, cniEnv, containerAddress, doorRows, emptyFigures, hexId, MANY, NETS, netavarkOptions, reportedAddress, switchyardConf } from './runtimes.js';

describe('runtimes part: the inputs', () => {
  it('gives Podman-shaped 64-hex IDs, distinct per side and container', () => {
    const ids = [hexId(1, 0), hexId(1, 1), hexId(2, 0), hexId(2, 49)];
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{64}$/);
    expect(new Set(ids).size).toBe(ids.length);
    // Distinct in the 12-digit short ID too (the host names things by it).
    const many = Array.from({ length: MANY }, (_, i) => hexId(2, i).slice(0, 12));
    expect(new Set(many).size).toBe(MANY);
    expect(hexId(2, 7)).toBe(hexId(2, 7));
  });

  it('hands out .2 upwards in the /24 and refuses an index outside it', () => {
    expect(containerAddress('10.61.0', 0)).toBe('10.61.0.2');
    expect(containerAddress('10.61.0', MANY - 1)).toBe('10.61.0.51');
    expect(() => containerAddress('10.61.0', 253)).toThrow(/0 to 252/);
    expect(() => containerAddress('10.61.0', -1)).toThrow(/0 to 252/);
  });

  it('writes network options that Switchyard\'s own netavark parser takes, with the static address and bridge asked for', () => {
    const o = netavarkOptions(NETS.netavark.yard, 'yard', 3);
    const steps = setupSteps(parseNetavarkOptions(JSON.stringify(o)));
    expect(steps).toHaveLength(1);
    expect(steps[0]!.attach).toMatchObject({ ifname: 'eth0', ip: '10.62.0.5' });
    expect(steps[0]!.create).toMatchObject({ name: 'sybench', driver: 'bridge', options: { 'com.docker.network.bridge.name': 'sybench0' }, ipam: [{ subnet: '10.62.0.0/24', gateway: '10.62.0.1' }] });
    // The peer's input differs only in its names, subnet and IDs: the two never collide.
    const p = netavarkOptions(NETS.netavark.peer, 'peer', 3) as any;
    expect(p.container_id).not.toBe((o as any).container_id);
    expect(p.network_info.nvbench.network_interface).toBe('nvbench0');
    expect(p.networks.nvbench.static_ips).toEqual(['10.61.0.5']);
  });

  it('the four sides use four different networks, bridges and subnets', () => {
    const all = [NETS.netavark.peer, NETS.netavark.yard, NETS.cni.peer, NETS.cni.yard];
    for (const k of ['name', 'bridge', 'prefix'] as const) expect(new Set(all.map((n) => n[k])).size).toBe(4);
    for (const n of all) expect(n.bridge.length).toBeLessThanOrEqual(15);
  });

  it('configures the reference bridge with host-local in the given data dir, and Switchyard with its network and socket', () => {
    expect(bridgeConf(NETS.cni.peer, '/tmp/x/host-local')).toMatchObject({
      cniVersion: '1.0.0',
      name: 'cnibench',
      type: 'bridge',
      bridge: 'cnibench0',
      ipam: { type: 'host-local', subnet: '10.63.0.0/24', dataDir: '/tmp/x/host-local' },
    });
    expect(switchyardConf(NETS.cni.yard, '/run/s.sock')).toEqual({ cniVersion: '1.0.0', name: 'sycnibench', type: 'switchyard', network: 'sycnibench', socket: '/run/s.sock' });
    expect(cniEnv('ADD', 'c1', '/run/netns/n', '/a:/b', '/usr/bin')).toEqual(['PATH=/usr/bin', 'CNI_COMMAND=ADD', 'CNI_CONTAINERID=c1', 'CNI_NETNS=/run/netns/n', 'CNI_IFNAME=eth0', 'CNI_PATH=/a:/b']);
  });
});

describe('runtimes part: the checks', () => {
  const ipJson = JSON.stringify([
    { ifname: 'lo', addr_info: [{ family: 'inet', local: '127.0.0.1', prefixlen: 8 }] },
    { ifname: 'eth0', addr_info: [{ family: 'inet', local: '10.61.0.2', prefixlen: 24 }, { family: 'inet6', local: 'fe80::1', prefixlen: 64 }] },
  ]);

  it('reads the IPv4 addresses of the interface, and tells a missing interface from one without an address', () => {
    expect(addressesOf(ipJson, 'eth0')).toEqual(['10.61.0.2/24']);
    expect(addressesOf(ipJson, 'eth1')).toBeUndefined();
    expect(addressesOf(JSON.stringify([{ ifname: 'eth0', addr_info: [] }]), 'eth0')).toEqual([]);
    expect(addressesOf('', 'eth0')).toBeUndefined();
  });

  it('finds the address each front door reports', () => {
    const status = { nvbench: { dns_search_domains: [], dns_server_ips: [], interfaces: { eth0: { mac_address: 'x', subnets: [{ ipnet: '10.61.0.2/24', gateway: '10.61.0.1' }] } } } };
    expect(reportedAddress('netavark', 'nvbench', status)).toBe('10.61.0.2/24');
    // Control: another network's name finds nothing.
    expect(reportedAddress('netavark', 'other', status)).toBeUndefined();
    const result = { cniVersion: '1.0.0', ips: [{ address: 'fd00::2/64' }, { address: '10.63.0.7/24', gateway: '10.63.0.1' }] };
    expect(reportedAddress('cni', 'cnibench', result)).toBe('10.63.0.7/24');
    expect(reportedAddress('cni', 'cnibench', {})).toBeUndefined();
  });
});

describe('runtimes part: sizing a series to the budget', () => {
  it('fits as many rounds as the share allows, with slack, between 0 and the maximum', () => {
    expect(seriesCount(150_000, 1_000, 50)).toBe(50);
    expect(seriesCount(60_000, 1_000, 50)).toBe(40);
    expect(seriesCount(60_000, 1_000, 50, 1)).toBe(50);
    expect(seriesCount(1_000, 1_000, 50)).toBe(0);
    // No time left, or no round measured: nothing.
    expect(seriesCount(-5, 1_000, 50)).toBe(0);
    expect(seriesCount(60_000, NaN, 50)).toBe(0);
  });
});

describe('runtimes part: the table', () => {
  it('reports medians and totals with peer ÷ Switchyard ratios (> 1: Switchyard is faster)', () => {
    const f = emptyFigures();
    f.setup = { peer: [30, 10, 20], yard: [5, 15, 10] };
    f.teardown = { peer: [8, 8, 8], yard: [4, 4, 4] };
    f.manySetup = { peer: [10, 10, 10, 10], yard: [20, 20, 20] };
    f.manyTeardown = { peer: [5, 5, 5], yard: [5, 5, 5] };
    f.checks = { peer: { passed: 14, made: 14 }, yard: { passed: 13, made: 13 } };
    const rows = doorRows(f, { setup: 'setup', teardown: 'teardown' });
    expect(rows[0]).toEqual(['setup of one container, median of 3', '20.0', '10.0', '2.00×']);
    expect(rows[1]).toEqual(['teardown of one container, median of 3', '8.0', '4.0', '2.00×']);
    expect(rows[2]).toEqual(['setup + teardown, median of 3', '28.0', '14.0', '2.00×']);
    // A series cut short on one side: both totals over the same count.
    expect(rows[3]).toEqual(['3 containers in a row: setup, total', '30', '60', '0.50×']);
    expect(rows[5]).toEqual(['3 containers in a row: teardown, total', '15', '15', '1.00×']);
    expect(rows.at(-1)).toEqual(['checks passed (address in the namespace after setup, interface gone after teardown)', '14/14', '13/13', '']);
  });

  it('adds the daemon-alone rows as a share of Switchyard\'s call, only when measured', () => {
    const f = emptyFigures();
    f.setup = { peer: [30], yard: [100] };
    f.teardown = { peer: [8], yard: [50] };
    expect(doorRows(f, { setup: 'ADD', teardown: 'DEL' }).some((r) => r[0]!.includes('daemon alone'))).toBe(false);
    f.api = { setup: [20, 40, 30], teardown: [10, 10, 10] };
    const rows = doorRows(f, { setup: 'ADD', teardown: 'DEL' });
    expect(rows.find((r) => r[0]!.includes('daemon alone'))).toEqual([
      "Switchyard's daemon alone (the same request on a kept-alive socket, no process): ADD, median of 3",
      '',
      '30.0',
      "0.30 of Switchyard's call",
    ]);
    expect(rows.find((r) => r[0] === '  DEL, median of 3')).toEqual(['  DEL, median of 3', '', '10.0', "0.20 of Switchyard's call"]);
  });

  it('shows a dash, not a ratio, for a side with no figure', () => {
    const rows = doorRows(emptyFigures(), { setup: 'ADD', teardown: 'DEL' });
    expect(rows[0]).toEqual(['ADD of one container, median of 0', '-', '-', '-']);
  });
});
