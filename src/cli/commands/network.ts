/** `yard network ...`: Docker's network commands, through the daemon's Docker API routes. */
import type { Command } from 'commander';
import readline from 'node:readline/promises';
import { YardError } from '../../errors.js';
import { parseAddr, parsePrefix, prefixContains, type Prefix } from '../../ipam/prefix.js';
import type { SubnetRequest } from '../../ipam/config.js';
import type { CliContext } from '../context.js';
import { DRIVER_DOCS, driverDoc, type DriverDoc } from '../../drivers/options.js';
import { collect, forEachRef, keyValues, table } from '../format.js';

interface NetworkJson {
  Name: string;
  Id: string;
  Driver: string;
  Scope: string;
  Created: string;
  Internal: boolean;
  IPAM: { Config: { Subnet: string; Gateway?: string }[] };
}

/**
 * Docker's CLI pairs each --gateway/--ip-range/--aux-address with the --subnet that
 * contains it; with exactly one subnet everything goes to it.
 */
export function ipamFromFlags(o: { subnet?: string[]; gateway?: string[]; ipRange?: string[]; auxAddress?: string[] }): SubnetRequest[] {
  const subnets = o.subnet ?? [];
  const configs: SubnetRequest[] = subnets.map((s) => ({ subnet: s }));
  const parsed = subnets.map((s) => parsePrefix(s));
  const owner = (flag: string, value: string, addr: Prefix | { family: 4 | 6; value: bigint } | null): SubnetRequest => {
    if (!subnets.length) {
      throw new YardError('INVALID_ARGUMENT', `${flag} ${value} needs a --subnet`, { field: flag, hint: `add --subnet with the subnet that contains ${value}` });
    }
    if (subnets.length === 1) return configs[0]!;
    const a = addr && 'base' in addr ? { family: addr.family, value: addr.base } : addr;
    const i = a ? parsed.findIndex((p) => p && prefixContains(p, a)) : -1;
    if (i < 0) {
      throw new YardError('INVALID_ARGUMENT', `no matching subnet for ${flag} ${value}`, { field: flag, hint: `make ${value} fall inside one of the --subnet values` });
    }
    return configs[i]!;
  };
  for (const g of o.gateway ?? []) {
    const c = owner('--gateway', g, parseAddr(g));
    if (c.gateway) throw new YardError('INVALID_ARGUMENT', `two --gateway values for subnet ${c.subnet}`, { field: '--gateway', hint: 'give one gateway per subnet' });
    c.gateway = g;
  }
  for (const r of o.ipRange ?? []) {
    const c = owner('--ip-range', r, parsePrefix(r));
    if (c.ipRange) throw new YardError('INVALID_ARGUMENT', `two --ip-range values for subnet ${c.subnet}`, { field: '--ip-range', hint: 'give one range per subnet' });
    c.ipRange = r;
  }
  const aux = keyValues('--aux-address', o.auxAddress);
  for (const [name, ip] of Object.entries(aux)) {
    const c = owner('--aux-address', `${name}=${ip}`, parseAddr(ip));
    c.auxAddresses = { ...(c.auxAddresses ?? {}), [name]: ip };
  }
  return configs;
}

/** Words of `text` in lines of at most `width` characters (a longer word keeps a line of its own). */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  return [...lines, line];
}

/** Column widths of the wrapped cells (OPTION is never wrapped: it is what users copy). */
const DOC_WIDTHS = [Infinity, 22, 26, 60];

/** `yard network drivers`: per driver its summary, then a table of its options, long cells wrapped. */
export function driverDocLines(docs: readonly DriverDoc[]): string[] {
  const out: string[] = [];
  for (const d of docs) {
    if (out.length) out.push('');
    out.push(...wrap(`${d.driver}: ${d.summary}`, 100));
    if (!d.options.length) {
      out.push('  (no options)');
      continue;
    }
    const rows: string[][] = [];
    for (const o of d.options) {
      // An empty row between options: their wrapped cells would run into each other.
      if (rows.length) rows.push([]);
      const cells = [o.key, o.values, o.default, o.description].map((c, i) => wrap(c, DOC_WIDTHS[i]!));
      const height = Math.max(...cells.map((c) => c.length));
      for (let i = 0; i < height; i++) rows.push(cells.map((c) => c[i] ?? ''));
    }
    out.push('', ...table(['OPTION', 'VALUES', 'DEFAULT', 'WHAT IT DOES'], rows));
  }
  return out;
}

export function register(program: Command, ctx: CliContext): void {
  const net = program.command('network').description('Manage networks (create, ls, inspect, rm, connect, disconnect, prune, drivers)');

  net
    .command('create')
    .description('Create a network')
    .argument('<name>', 'network name')
    .option('-d, --driver <driver>', 'driver: bridge, macvlan, ipvlan or overlay (host and none are predefined networks)', 'bridge')
    .option('--subnet <cidr>', 'subnet in CIDR form; repeat for several (one IPv4, one IPv6)', collect)
    .option('--gateway <ip>', 'gateway for the subnet that contains it', collect)
    .option('--ip-range <cidr>', 'allocate dynamic addresses from this sub-range of a subnet', collect)
    .option('--aux-address <name=ip>', 'reserve an address so it is never handed out', collect)
    .option('-o, --opt <key=value>', 'driver option, repeatable (e.g. com.docker.network.bridge.name=br-app); `yard network drivers` lists them', collect)
    .option('--label <key=value>', 'metadata label', collect)
    .option('--internal', 'no access to or from outside the network')
    .option('--attachable', 'allow manual attachment (accepted for compatibility)')
    .option('--ipv6', 'enable IPv6 (dual stack; a /64 is allocated when no IPv6 --subnet is given)')
    .option('--ipam-driver <driver>', 'IPAM driver: default, or dhcp (macvlan, ipvlan l2: each sandbox gets its address, gateway and DNS from the LAN\'s DHCP server; --ipam-opt timeout=SECONDS, default 10)')
    .option('--ipam-opt <key=value>', 'IPAM option, repeatable: stored and shown by inspect (the default IPAM acts on none)', collect)
    .option('--dry-run', 'print the kernel commands the creation would run, change nothing')
    .addHelpText(
      'after',
      '\nDriver options (-o): `yard network drivers` prints every option of every driver (values, default, what it\n' +
        'does); `yard network drivers DRIVER` one driver\'s. An option the driver does not know is refused.\n\n' +
        'Examples:\n' +
        '  yard network create --subnet 10.20.0.0/24 -o com.docker.network.bridge.enable_icc=false app\n' +
        '  yard network create -d macvlan --subnet 10.231.0.0/24 --gateway 10.231.0.1 -o parent=lan0 -o host_access=true lan\n' +
        '  yard network create -d overlay --subnet 10.240.0.0/24 --attachable multi   (daemons with --cluster-store)',
    )
    .action(async (name: string, o) => {
      const body = {
        Name: name,
        Driver: o.driver,
        Internal: !!o.internal,
        Attachable: !!o.attachable,
        EnableIPv6: !!o.ipv6,
        IPAM: {
          Driver: o.ipamDriver ?? 'default',
          Options: keyValues('--ipam-opt', o.ipamOpt),
          Config: ipamFromFlags(o).map((c) => ({ Subnet: c.subnet, Gateway: c.gateway, IPRange: c.ipRange, AuxiliaryAddresses: c.auxAddresses })),
        },
        Options: keyValues('--opt', o.opt),
        Labels: keyValues('--label', o.label, { valueRequired: false }),
        DryRun: !!o.dryRun,
      };
      const r = await ctx.client().post<{ Id: string; Warning: string; Plan?: string[] }>('/networks/create', body);
      if (r.Warning) ctx.err(`warning: ${r.Warning}`);
      if (o.dryRun) for (const l of r.Plan ?? []) ctx.out(l);
      else ctx.out(r.Id);
    });

  net
    .command('ls')
    .alias('list')
    .description('List networks')
    .option('-f, --filter <key=value>', 'filter: driver, id, label, name, scope, type (custom|builtin), dangling', collect)
    .option('-q, --quiet', 'only IDs')
    .option('--no-trunc', 'full IDs')
    .option('--json', 'JSON output (Docker API shape)')
    .action(async (o) => {
      const filters: Record<string, string[]> = {};
      for (const f of o.filter ?? []) {
        const i = f.indexOf('=');
        const [k, v] = i < 0 ? [f, ''] : [f.slice(0, i), f.slice(i + 1)];
        (filters[k] ??= []).push(v);
      }
      const q = Object.keys(filters).length ? `?filters=${encodeURIComponent(JSON.stringify(filters))}` : '';
      const list = await ctx.client().get<NetworkJson[]>(`/networks${q}`);
      list.sort((a, b) => a.Name.localeCompare(b.Name));
      const id = (s: string) => (o.trunc === false ? s : s.slice(0, 12));
      if (o.json) return ctx.out(JSON.stringify(list, null, 2));
      if (o.quiet) return list.forEach((n) => ctx.out(id(n.Id)));
      for (const l of table(['NETWORK ID', 'NAME', 'DRIVER', 'SCOPE'], list.map((n) => [id(n.Id), n.Name, n.Driver, n.Scope]))) ctx.out(l);
    });

  net
    .command('inspect')
    .description('Show networks in detail (Docker\'s JSON)')
    .argument('<network...>', 'names or IDs')
    .action(async (refs: string[]) => {
      const out: unknown[] = [];
      try {
        await forEachRef(refs, ctx.err, async (r) => void out.push(await ctx.client().get(`/networks/${encodeURIComponent(r)}`)));
      } finally {
        ctx.out(JSON.stringify(out, null, 4));
      }
    });

  net
    .command('rm')
    .alias('remove')
    .description('Remove networks (not bridge, host or none; not while sandboxes are attached)')
    .argument('<network...>', 'names or IDs')
    .option('-f, --force', 'do not fail when a network does not exist')
    .action(async (refs: string[], o) => {
      await forEachRef(
        refs,
        ctx.err,
        async (r) => {
          await ctx.client().delete(`/networks/${encodeURIComponent(r)}`);
          ctx.out(r);
        },
        (e) => !!o.force && e instanceof YardError && e.code === 'NETWORK_NOT_FOUND',
      );
    });

  net
    .command('connect')
    .description('Attach a running sandbox to a network')
    .argument('<network>', 'network name or ID')
    .argument('<sandbox>', 'sandbox name or ID')
    .option('--ip <ipv4>', 'static IPv4 address (user-defined networks only)')
    .option('--ip6 <ipv6>', 'static IPv6 address')
    .option('--alias <name>', 'extra DNS name on this network', collect)
    .option('--dry-run', 'print the kernel commands, change nothing')
    .action(async (network: string, sandbox: string, o) => {
      const r = await ctx.client().post<{ Plan?: string[] } | undefined>(`/networks/${encodeURIComponent(network)}/connect`, {
        Container: sandbox,
        EndpointConfig: { IPAMConfig: { IPv4Address: o.ip, IPv6Address: o.ip6 }, Aliases: o.alias ?? [] },
        DryRun: !!o.dryRun,
      });
      if (o.dryRun) for (const l of r?.Plan ?? []) ctx.out(l);
    });

  net
    .command('disconnect')
    .description('Detach a sandbox from a network')
    .argument('<network>', 'network name or ID')
    .argument('<sandbox>', 'sandbox name or ID')
    .option('-f, --force', 'also detach from host or none, which is refused without -f (the sandbox is left with no network)')
    .action(async (network: string, sandbox: string, o) => {
      await ctx.client().post(`/networks/${encodeURIComponent(network)}/disconnect`, { Container: sandbox, Force: !!o.force });
    });

  net
    .command('drivers')
    .description('List the network drivers and every driver option (-o key=value): its values, default and what it does')
    .argument('[driver]', 'only this driver: bridge, macvlan, ipvlan, overlay, host or null (the none network\'s)')
    .option('--json', 'JSON output')
    .action((driver: string | undefined, o) => {
      const doc = driver === undefined ? undefined : driverDoc(driver);
      if (driver !== undefined && !doc) {
        throw new YardError('UNKNOWN_DRIVER', `network driver "${driver}" not found`, {
          field: 'DRIVER',
          hint: `use one of: ${DRIVER_DOCS.map((d) => d.driver).join(', ')}`,
        });
      }
      if (o.json) return ctx.out(JSON.stringify(doc ?? DRIVER_DOCS, null, 2));
      for (const l of driverDocLines(doc ? [doc] : DRIVER_DOCS)) ctx.out(l);
    });

  net
    .command('prune')
    .description('Remove every user-defined network without sandboxes')
    .option('-f, --force', 'do not ask for confirmation')
    .option('--filter <key=value>', 'label=..., label!=..., until=24h', collect)
    .action(async (o) => {
      if (!o.force) {
        if (!process.stdin.isTTY) {
          throw new YardError('INVALID_ARGUMENT', 'network prune needs confirmation', { field: '--force', hint: 'add -f to prune without a prompt' });
        }
        const rl = readline.createInterface({ input: process.stdin, output: process.stdout });
        const a = await rl.question('WARNING! This will remove all custom networks not used by at least one sandbox.\nAre you sure you want to continue? [y/N] ');
        rl.close();
        if (!/^y(es)?$/i.test(a.trim())) return;
      }
      const filters: Record<string, string[]> = {};
      for (const f of o.filter ?? []) {
        const i = f.indexOf('=');
        if (i <= 0) throw new YardError('INVALID_ARGUMENT', `--filter ${f} is not key=value`, { field: '--filter', hint: 'e.g. --filter until=24h' });
        (filters[f.slice(0, i)] ??= []).push(f.slice(i + 1));
      }
      const q = Object.keys(filters).length ? `?filters=${encodeURIComponent(JSON.stringify(filters))}` : '';
      const r = await ctx.client().post<{ NetworksDeleted: string[] }>(`/networks/prune${q}`);
      if (r.NetworksDeleted.length) {
        ctx.out('Deleted Networks:');
        for (const n of r.NetworksDeleted) ctx.out(n);
      }
    });
}
