/**
 * `yard port SANDBOX [PORT[/PROTO]]`: Docker's `docker port` output (`80/tcp -> 0.0.0.0:8080`).
 * `yard port explain SANDBOX`: for each published port, who can reach it and which
 * nftables rules decide that.
 */
import type { Command } from 'commander';
import { YardError } from '../../errors.js';
import type { CliContext } from '../context.js';
import type { PortExplanation } from '../../firewall/explain.js';
import { dockerPortLines, type PortMapping } from '../../model/ports.js';

interface SandboxPorts {
  Name: string;
  PublishedPorts?: (PortMapping & { v6: boolean })[];
}

export function register(program: Command, ctx: CliContext): void {
  const port = program
    .command('port')
    .description('List a sandbox\'s published ports (Docker\'s `docker port`); `yard port explain SANDBOX` says who can reach them')
    .argument('<sandbox>', 'sandbox name or ID')
    .argument('[port]', 'only this container port, e.g. 80 or 80/udp (tcp when no protocol is given): prints just its host addresses')
    .action(async (ref: string, filter: string | undefined) => {
      const sb = await ctx.client().get<SandboxPorts>(`/yard/v1/sandboxes/${encodeURIComponent(ref)}`);
      const ports = sb.PublishedPorts ?? [];
      // The full listing marks ports limited by --publish-from; `yard port SB PORT` stays Docker's.
      let lines = dockerPortLines(ports, !!ports[0]?.v6, !filter);
      if (filter) {
        const key = filter.includes('/') ? filter : `${filter}/tcp`;
        lines = lines.filter((l) => l.startsWith(`${key} -> `)).map((l) => l.slice(key.length + 4));
        if (!lines.length) {
          throw new YardError('INVALID_ARGUMENT', `no public port '${key}' published for ${sb.Name.replace(/^\//, '')}`, {
            field: 'PORT',
            hint: 'yard port SANDBOX lists what is published',
          });
        }
      }
      for (const l of lines) ctx.out(l);
    });

  port
    .command('explain')
    .description('For each published port: who can reach it (LAN, host, localhost, sandboxes) and which rules decide it')
    .argument('<sandbox>', 'sandbox name or ID')
    .option('--from <address>', 'also say whether a client with this address may connect to each port, and which set element or rule decides')
    .option('--json', 'JSON output (one entry per published port: reach, path and rules)')
    .action(async (ref: string, o) => {
      const q = o.from !== undefined ? `?from=${encodeURIComponent(o.from)}` : '';
      const list = await ctx.client().get<PortExplanation[]>(`/yard/v1/sandboxes/${encodeURIComponent(ref)}/ports/explain${q}`);
      if (o.json) return ctx.out(JSON.stringify(list, null, 2));
      if (!list.length) return ctx.out(`${ref} publishes no ports`);
      for (const e of list) {
        ctx.out(`-p ${e.spec}: ${e.path}`);
        for (const r of e.reach) ctx.out(`  ${r.allowed ? 'reachable  ' : 'unreachable'} from ${r.who.padEnd(9)} ${r.why}`);
        if (e.from) {
          ctx.out(`  from ${e.from.address}: ${e.from.allowed ? 'may connect' : 'refused'}: ${e.from.why}`);
          ctx.out(`    decided by ${e.from.decidedBy}`);
        }
        if (e.hostFirewall?.length) {
          ctx.out('  host firewall:');
          for (const l of e.hostFirewall) ctx.out(`    ${l}`);
        }
        ctx.out('  rules:');
        for (const r of e.rules) ctx.out(`    ${r}`);
      }
    });
}
