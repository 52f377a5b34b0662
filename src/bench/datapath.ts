/**
 * The datapath part's figures: round-trip latency, connect latency and TCP throughput for
 * bridge+NAT (a published port), bridge direct (the container address, same host only:
 * from another host it is dropped by design), macvlan (host access through the shim on the
 * same host), and host networking (`--network host`), between two lab hosts (client in
 * host 2's namespace) and within one (client in host 1's), as ratios to host networking
 * measured in the same run. The servers all run on host 1. ipvlan is not measured here, as
 * the host's kernel may lack it; vm-datapath.ts measures it in the VM lab (ratios only).
 */
import { measureRows, PASSES, PATH_HEADERS, rowsWithRatios, runSandbox, sandboxIp, serverCommand, type Target } from './netpath.js';
import { yardIn, type PartCtx, type PartSpec, type PartTable } from './run-part.js';

export const MACVLAN_IP = '10.231.0.200';
const MACVLAN_NET = ['--subnet', '10.231.0.0/24', '--gateway', '10.231.0.1', '--ip-range', '10.231.0.192/27', '-o', 'parent=lan0'];

export const SERVERS = {
  bridge: { port: 7001, iperfPort: 5301 },
  host: { port: 7002, iperfPort: 5302 },
  macvlan: { port: 7003, iperfPort: 5303 },
};

/** host networking and macvlan servers on host 1 (shared with the overlay part). */
export async function startHostAndMacvlanServers(ctx: PartCtx, hostAccess: boolean): Promise<void> {
  await runSandbox(ctx, 1, { name: 'dp-host', networks: [{ network: 'host' }], command: serverCommand(SERVERS.host) });
  await yardIn(ctx, ctx.host(1), 'network', 'create', '-d', 'macvlan', ...MACVLAN_NET, ...(hostAccess ? ['-o', 'host_access=true'] : []), 'dp-mv');
  await runSandbox(ctx, 1, { name: 'dp-mv', networks: [{ network: 'dp-mv', ip: MACVLAN_IP }], command: serverCommand(SERVERS.macvlan) });
}

async function measure(ctx: PartCtx): Promise<PartTable[]> {
  const h1 = ctx.host(1);
  const h2 = ctx.host(2);
  ctx.log('servers on host 1: bridge (published 7001, 5301), host networking, macvlan with host access');
  await ctx.api(1).ok('POST', '/v1.41/networks/create', { Name: 'dp-br' });
  const { port, iperfPort } = SERVERS.bridge;
  await runSandbox(ctx, 1, { name: 'dp-br', networks: [{ network: 'dp-br' }], command: serverCommand(SERVERS.bridge), publish: [`${port}:${port}`, `${iperfPort}:${iperfPort}`] });
  await startHostAndMacvlanServers(ctx, true);
  const brIp = await sandboxIp(ctx, 1, 'dp-br', 'dp-br');

  const groups: { title: string; clientNs: string; rows: [string, Target][] }[] = [
    {
      title: `between two lab hosts (client in ${h2.name}, servers on ${h1.name})`,
      clientNs: h2.name,
      rows: [
        ['host networking', { addr: h1.lan4, ...SERVERS.host }],
        ['bridge + NAT (published port)', { addr: h1.lan4, ...SERVERS.bridge }],
        ['macvlan', { addr: MACVLAN_IP, ...SERVERS.macvlan }],
      ],
    },
    {
      title: `within one lab host (client in ${h1.name})`,
      clientNs: h1.name,
      rows: [
        ['host networking', { addr: h1.lan4, ...SERVERS.host }],
        ['bridge + NAT (published port)', { addr: h1.lan4, ...SERVERS.bridge }],
        ['bridge direct (container address)', { addr: brIp, ...SERVERS.bridge }],
        ['macvlan (through the host-access shim)', { addr: MACVLAN_IP, ...SERVERS.macvlan }],
      ],
    },
  ];
  const tables: PartTable[] = [];
  for (const g of groups) {
    const best = await measureRows(ctx, g.rows.map(([label, t]) => [label, g.clientNs, t]));
    tables.push({ title: `Data paths ${g.title}; best of ${PASSES} interleaved passes; ratios to host networking`, headers: PATH_HEADERS, rows: rowsWithRatios(best) });
  }
  return tables;
}

export const DATAPATH_PART: PartSpec = {
  part: 'datapath',
  lab: { hosts: 2, cluster: false },
  budgetMs: 100_000,
  watchdogMs: 150_000,
  measure,
};
