/**
 * The docker part: Switchyard as Docker's network plugin next to Docker's own bridge driver,
 * driven by the same real dockerd (Debian's 20.10) in a 1-host lab, all through the docker
 * CLI as a user would run it (`ip netns exec <host> docker ...`: each figure includes the
 * CLI's start and its API calls, the same for both sides). Switchyard / Docker ratios, with
 * the raw figures beside them; never asserts a goal.
 *   1. `docker run -d bb sleep` ×50 on a Switchyard bridge (`docker network create -d
 *      switchyard`) and on a Docker bridge (`docker network create`), one at a time, the two
 *      sides interleaved (the order swapped every round), with `--network none` every 10th
 *      round as the floor of a container without networking; then one `docker rm -f` of each
 *      side's 50;
 *   2. `docker network connect` / `disconnect` of a running container, 20 of each per side,
 *      interleaved: p50 and p95;
 *   3. one container with 100 published ports (`-p 20000-20099:20000-20099`), one side after
 *      the other on the same ports: `docker run -d` and `docker rm -f` time, and what it
 *      leaves in the host's namespace while it runs: for Docker the iptables rules that name
 *      those ports (`iptables-save`, `ip6tables-save`), every rule it added, and its
 *      docker-proxy processes; for Switchyard the rules and set/map elements of its nftables
 *      tables (`nft -j list ruleset`, tables `switchyard*`), what it added, and the same
 *      docker-proxy count. Port 20050 is fetched from the LAN namespace on each side.
 * They run in the order 3, 2, 1: on a slow machine the budget then cuts the long series
 * (its n shows it) instead of skipping the others; `docker run -d` alone costs 0.7-2 s on 2 cores.
 * Both sides use Docker's default IPAM with explicit subnets, so only the network driver
 * differs.
 */
import { labDocker } from '../lab/lab.js';
import { percentile } from './stats.js';
import { fmt, ratio, timed, type PartCtx, type PartSpec, type PartTable } from './run-part.js';

const RUNS = 50;
const CD_RUNS = 20;
const PORT_ROUNDS = 1;
const FLOOR_RUNS = 10;
const NONE_EVERY = 10;
const PORTS = { from: 20000, count: 100, probe: 20050 };
const IMAGE = 'bb';
const SLEEP = [IMAGE, 'sleep', '3600'];

type Side = 'yard' | 'docker';
const SIDES: Side[] = ['yard', 'docker'];
/** The networks of each side: containers run on `main`, connect/disconnect uses `extra`. */
const NETS: Record<Side, { main: string; extra: string; create: string[] }> = {
  yard: { main: 'sy-a', extra: 'sy-b', create: ['-d', 'switchyard'] },
  docker: { main: 'dk-a', extra: 'dk-b', create: [] },
};
const SUBNETS: Record<string, string> = { 'sy-a': '10.30.0.0/24', 'sy-b': '10.31.0.0/24', 'dk-a': '10.40.0.0/24', 'dk-b': '10.41.0.0/24' };

async function dk(ctx: PartCtx, args: string[], timeoutMs = 60_000): Promise<string> {
  const r = await labDocker(ctx.info, ctx.host(1), args, { timeoutMs });
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')} exited ${r.code}: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  return r.stdout.trim();
}

/** Milliseconds of one docker command that must succeed. */
async function dkMs(ctx: PartCtx, args: string[], timeoutMs?: number): Promise<number> {
  return (await timed(() => dk(ctx, args, timeoutMs)))[0];
}

const p50 = (xs: number[]) => percentile([...xs].sort((a, b) => a - b), 0.5);
const p95 = (xs: number[]) => percentile([...xs].sort((a, b) => a - b), 0.95);
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
/** Order of the two sides in round i: swapped every round, so neither always goes first. */
const order = (i: number): Side[] => (i % 2 ? ['docker', 'yard'] : ['yard', 'docker']);
const sideRow = (label: string, y: number, d: number, digits: number): string[] => [label, fmt(y, digits), fmt(d, digits), ratio(y, d)];
const HEADERS = ['measurement', 'Switchyard (-d switchyard)', 'Docker bridge', 'Switchyard ÷ Docker'];

// ---------------------------------------------------------------- 1. run ×50, rm -f

async function runMany(ctx: PartCtx): Promise<PartTable> {
  const runs: Record<Side | 'none', number[]> = { yard: [], docker: [], none: [] };
  const names: Record<Side | 'none', string[]> = { yard: [], docker: [], none: [] };
  const t0 = performance.now();
  // One at a time, the two sides interleaved (order swapped every round): running them side
  // by side gained nothing on 2 cores (each run took twice as long) and blurred the figures.
  for (let i = 0; i < RUNS && !ctx.expired(); i++) {
    for (const side of order(i)) {
      const name = `${side === 'yard' ? 'sy' : 'dk'}-run-${i}`;
      runs[side].push(await dkMs(ctx, ['run', '-d', '--name', name, '--network', NETS[side].main, ...SLEEP]));
      names[side].push(name);
    }
    // The floor every NONE_EVERY rounds: the same container with no network at all.
    if (i % NONE_EVERY === NONE_EVERY - 1) {
      const name = `none-run-${i}`;
      runs.none.push(await dkMs(ctx, ['run', '-d', '--name', name, '--network', 'none', ...SLEEP]));
      names.none.push(name);
    }
    if ((i + 1) % 10 === 0) ctx.log(`docker run -d: ${i + 1} per side (Switchyard p50 ${fmt(p50(runs.yard), 0)} ms, Docker p50 ${fmt(p50(runs.docker), 0)} ms)`);
  }
  const wallS = (performance.now() - t0) / 1000;
  // What a client sees on `docker inspect` of a running container: the CLI's start and one API round trip.
  const floor: number[] = [];
  for (let i = 0; i < FLOOR_RUNS && names.none.length; i++) floor.push(await dkMs(ctx, ['inspect', '-f', '{{.Id}}', names.none[0]!]));

  // One `docker rm -f` of all of a side's containers (always done: it is also the cleanup).
  const rm: Record<Side, number> = { yard: NaN, docker: NaN };
  for (const side of SIDES) if (names[side].length) rm[side] = await dkMs(ctx, ['rm', '-f', ...names[side]], 180_000);
  if (names.none.length) await dk(ctx, ['rm', '-f', ...names.none], 120_000);
  const left = await dk(ctx, ['ps', '-aq']);
  if (left) throw new Error(`containers left after docker rm -f: ${left.split('\n').length}`);
  ctx.log(`docker rm -f of ${names.yard.length}: Switchyard ${fmt(rm.yard / 1000, 2)} s, Docker ${fmt(rm.docker / 1000, 2)} s`);

  const n = Math.min(runs.yard.length, runs.docker.length);
  const rows = [
    sideRow(`docker run -d ×${n}: sum of the ${n} runs, s`, sum(runs.yard) / 1000, sum(runs.docker) / 1000, 2),
    sideRow('  per container p50, ms', p50(runs.yard), p50(runs.docker), 0),
    sideRow('  per container p95, ms', p95(runs.yard), p95(runs.docker), 0),
    sideRow('  per container minus the --network none p50, ms', p50(runs.yard) - p50(runs.none), p50(runs.docker) - p50(runs.none), 0),
    sideRow(`docker rm -f of the ${n} (one command), s`, rm.yard / 1000, rm.docker / 1000, 2),
    sideRow('  per container, ms', rm.yard / names.yard.length, rm.docker / names.docker.length, 0),
  ];
  ctx.notes.push(
    `docker run -d ×${n} per side, interleaved, with ${runs.none.length} on --network none among them: ${fmt(wallS, 1)} s wall; ` +
      `--network none p50 ${fmt(p50(runs.none), 0)} ms, p95 ${fmt(p95(runs.none), 0)} ms; ` +
      `CLI floor (\`docker inspect\` of a running container, ${floor.length} runs) p50 ${fmt(p50(floor), 0)} ms`,
  );
  return {
    title: `\`docker run -d ${SLEEP.join(' ')}\` ×${n} on each side, interleaved one by one (order swapped every round), then one \`docker rm -f\` of each side's ${n} (the same dockerd)`,
    headers: HEADERS,
    rows,
  };
}

// ---------------------------------------------------------------- 2. connect / disconnect

async function connectDisconnect(ctx: PartCtx): Promise<PartTable> {
  const c: Record<Side, number[]> = { yard: [], docker: [] };
  const d: Record<Side, number[]> = { yard: [], docker: [] };
  const ctr = (side: Side) => `${side === 'yard' ? 'sy' : 'dk'}-cd`;
  for (const side of SIDES) await dk(ctx, ['run', '-d', '--name', ctr(side), '--network', NETS[side].main, ...SLEEP]);
  for (let i = 0; i < CD_RUNS && !ctx.expired(); i++) {
    for (const side of order(i)) {
      c[side].push(await dkMs(ctx, ['network', 'connect', NETS[side].extra, ctr(side)]));
      d[side].push(await dkMs(ctx, ['network', 'disconnect', NETS[side].extra, ctr(side)]));
    }
  }
  await dk(ctx, ['rm', '-f', ctr('yard'), ctr('docker')]);
  ctx.log(`connect p50: Switchyard ${fmt(p50(c.yard), 0)} ms, Docker ${fmt(p50(c.docker), 0)} ms; disconnect p50: ${fmt(p50(d.yard), 0)} / ${fmt(p50(d.docker), 0)} ms`);
  const n = Math.min(c.yard.length, c.docker.length);
  return {
    title: `\`docker network connect\` / \`disconnect\` of a running container to a second network of its kind, ${n} of each per side, interleaved (ms)`,
    headers: HEADERS,
    rows: [
      sideRow('connect p50', p50(c.yard), p50(c.docker), 0),
      sideRow('connect p95', p95(c.yard), p95(c.docker), 0),
      sideRow('disconnect p50', p50(d.yard), p50(d.docker), 0),
      sideRow('disconnect p95', p95(d.yard), p95(d.docker), 0),
    ],
  };
}

// ---------------------------------------------------------------- 3. 100 published ports

interface HostRules {
  /** Rules and set/map elements of Switchyard's nftables tables. */
  yardRules: number;
  yardElements: number;
  /** Every iptables/ip6tables rule (Docker's, in the host's namespace). */
  ipt: number;
  /** iptables/ip6tables rules that name one of the published ports. */
  iptPorts: number;
  proxies: number;
}

async function mustSh(ctx: PartCtx, argv: string[]): Promise<string> {
  const r = await ctx.sh(ctx.host(1), argv);
  if (r.code !== 0) throw new Error(`${argv.join(' ')} in ${ctx.host(1).name}: ${r.stderr.trim()}`);
  return r.stdout;
}

export function countSwitchyard(json: string): { rules: number; elements: number } {
  const items = (JSON.parse(json) as { nftables: Record<string, { table?: string; elem?: unknown[] }>[] }).nftables;
  let rules = 0;
  let elements = 0;
  for (const i of items) {
    if (i.rule?.table?.startsWith('switchyard')) rules++;
    for (const kind of ['set', 'map'] as const) if (i[kind]?.table?.startsWith('switchyard')) elements += i[kind]!.elem?.length ?? 0;
  }
  return { rules, elements };
}

/** iptables-save text: every rule, and the rules naming a port in [from, from + count). */
export function countIptables(save: string, from: number, count: number): { rules: number; portRules: number } {
  let rules = 0;
  let portRules = 0;
  for (const line of save.split('\n')) {
    if (!line.startsWith('-A ')) continue;
    rules++;
    const ports = [...line.matchAll(/(?:--dports? |--to-destination [^ ]*:|--to-ports? )(\d+)/g)].map((m) => Number(m[1]));
    if (ports.some((p) => p >= from && p < from + count)) portRules++;
  }
  return { rules, portRules };
}

async function hostRules(ctx: PartCtx): Promise<HostRules> {
  const yard = countSwitchyard(await mustSh(ctx, ['nft', '-j', 'list', 'ruleset']));
  const save = (await mustSh(ctx, ['iptables-save'])) + (await mustSh(ctx, ['ip6tables-save']));
  const ipt = countIptables(save, PORTS.from, PORTS.count);
  // docker-proxy processes in the lab host's network namespace (that of its dockerd).
  const pg = await ctx.sh(ctx.host(1), ['pgrep', '-c', '--ns', String(ctx.host(1).docker!.pid), '--nslist', 'net', '-x', 'docker-proxy']);
  const proxies = Number(pg.stdout.trim());
  if (!Number.isInteger(proxies)) throw new Error(`pgrep docker-proxy: ${pg.stderr.trim()}`);
  return { yardRules: yard.rules, yardElements: yard.elements, ipt: ipt.rules, iptPorts: ipt.portRules, proxies };
}

/** A page from port PORTS.probe of host 1, fetched in the LAN namespace (a few tries: the server may not listen yet). */
async function reachedFromLan(ctx: PartCtx): Promise<boolean> {
  for (let i = 0; i < 10; i++) {
    // (timeout, not wget -T: busybox-static's wget crashes on -T.)
    const r = await ctx.inNs(ctx.info.lanNs, ['timeout', '3', 'busybox', 'wget', '-q', '-O', '-', `http://${ctx.host(1).lan4}:${PORTS.probe}/`], 10_000);
    if (r.code === 0 && r.stdout.trim() === 'ok') return true;
    await new Promise((res) => setTimeout(res, 300));
  }
  return false;
}

async function publishedPorts(ctx: PartCtx): Promise<PartTable> {
  const range = `${PORTS.from}-${PORTS.from + PORTS.count - 1}`;
  const run: Record<Side, number[]> = { yard: [], docker: [] };
  const rm: Record<Side, number[]> = { yard: [], docker: [] };
  const added: Partial<Record<Side, HostRules & { base: HostRules; reached: boolean }>> = {};
  for (let round = 0; round < PORT_ROUNDS && !ctx.expired(); round++) {
    for (const side of order(round)) {
      const name = `${side === 'yard' ? 'sy' : 'dk'}-ports-${round}`;
      const base = await hostRules(ctx);
      run[side].push(
        await dkMs(ctx, ['run', '-d', '--name', name, '--network', NETS[side].main, '-p', `${range}:${range}`,
          IMAGE, 'sh', '-c', `echo ok > /tmp/index.html; exec httpd -f -p ${PORTS.probe} -h /tmp`], 120_000),
      );
      if (!added[side]) added[side] = { ...(await hostRules(ctx)), base, reached: await reachedFromLan(ctx) };
      rm[side].push(await dkMs(ctx, ['rm', '-f', name], 120_000));
      ctx.log(`${PORTS.count} ports on ${side === 'yard' ? 'Switchyard' : 'Docker'}: run ${fmt(run[side].at(-1)!, 0)} ms, rm -f ${fmt(rm[side].at(-1)!, 0)} ms`);
    }
  }
  const y = added.yard;
  const d = added.docker;
  const of = (r: HostRules | undefined, f: (r: HostRules) => number) => (r ? f(r) : NaN);
  const n = Math.min(run.yard.length, run.docker.length);
  const best = n > 1 ? ` (best of ${n})` : '';
  const yAdded = of(y, (r) => r.yardRules - y!.base.yardRules);
  const dAdded = of(d, (r) => r.ipt - d!.base.ipt);
  const yAll = of(y, (r) => r.yardRules);
  const dPorts = of(d, (r) => r.iptPorts);
  const rows = [
    sideRow(`docker run -d with -p ${range}:${range}, ms${best}`, Math.min(...run.yard), Math.min(...run.docker), 0),
    sideRow(`docker rm -f of it, ms${best}`, Math.min(...rm.yard), Math.min(...rm.docker), 0),
    sideRow('rules it added (Switchyard: its nftables tables; Docker: iptables + ip6tables)', yAdded, dAdded, 0),
    sideRow(`rules for the ports (Switchyard: every rule of its tables; Docker: \`iptables-save\` lines naming one of the ${PORTS.count})`, yAll, dPorts, 0),
    ['set/map elements it added (Docker: none, it has no sets)', fmt(of(y, (r) => r.yardElements - y!.base.yardElements), 0), '0', ''],
    sideRow('docker-proxy processes while it runs', of(y, (r) => r.proxies), of(d, (r) => r.proxies), 0),
    [`port ${PORTS.probe} fetched from the LAN namespace`, y?.reached ? 'yes' : 'no', d?.reached ? 'yes' : 'no', ''],
  ];
  if (y) ctx.notes.push(`Switchyard's nftables tables: ${y.base.yardRules} rules and ${y.base.yardElements} elements before the ports container, ${y.yardRules} and ${y.yardElements} while it ran`);
  if (d) ctx.notes.push(`iptables + ip6tables in the host: ${d.base.ipt} rules before the ports container, ${d.ipt} while it ran (${d.iptPorts} naming the ports)`);
  return {
    title: `One container publishing ${PORTS.count} ports (\`-p ${range}:${range}\`), one side at a time on the same ports${n > 1 ? `, ${n} rounds` : ''}; what the host's namespace holds while it runs`,
    headers: HEADERS,
    rows,
  };
}

// ---------------------------------------------------------------- the part

async function measure(ctx: PartCtx): Promise<PartTable[]> {
  const engine = ctx.host(1).docker;
  if (!engine) throw new Error('the lab host runs no Docker engine');
  const version = await dk(ctx, ['version', '--format', '{{.Server.Version}}']);
  ctx.notes.push(`dockerd ${version} (started in ${fmt(engine.startMs / 1000, 1)} s), userland proxy on (Docker's default), Docker's default IPAM on both sides`);
  for (const side of SIDES) {
    for (const net of [NETS[side].main, NETS[side].extra]) await dk(ctx, ['network', 'create', ...NETS[side].create, '--subnet', SUBNETS[net]!, net]);
  }
  // One unmeasured container per side first: the first use of a network driver is no figure.
  for (const side of SIDES) await dk(ctx, ['run', '-d', '--name', `${side}-warm`, '--network', NETS[side].main, ...SLEEP]);
  await dk(ctx, ['rm', '-f', ...SIDES.map((side) => `${side}-warm`)]);
  const tables: (PartTable | undefined)[] = [];
  try {
    // The long series last, so that on a slow machine the budget cuts it (its n shows it)
    // rather than skipping the others; the tables keep the order 1, 2, 3.
    tables[2] = await publishedPorts(ctx);
    if (!ctx.expired()) tables[1] = await connectDisconnect(ctx);
    if (!ctx.expired()) tables[0] = await runMany(ctx);
  } finally {
    // Leave the engine as found (the lab goes down next anyway): no container, no network of ours.
    const left = (await dk(ctx, ['ps', '-aq']).catch(() => '')).split('\n').filter(Boolean);
    if (left.length) await dk(ctx, ['rm', '-f', ...left], 180_000).catch(() => {});
    for (const net of Object.keys(SUBNETS)) await labDocker(ctx.info, ctx.host(1), ['network', 'rm', net]);
  }
  return tables.filter((t): t is PartTable => t !== undefined);
}

export const DOCKER_PART: PartSpec = {
  part: 'docker',
  lab: { hosts: 1, cluster: false, docker: { hosts: 1 } },
  budgetMs: 165_000,
  watchdogMs: 220_000,
  measure,
};
