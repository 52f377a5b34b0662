/** `yard dns explain NAME --from SANDBOX`, `yard dns stats`: the embedded resolver, seen from a sandbox. */
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import type { Explanation } from '../../dns/resolver.js';

// The resolver's own answer type (a type-only import: the CLI loads no daemon code).

export function register(program: Command, ctx: CliContext): void {
  const dns = program.command('dns').description('The embedded DNS resolver (127.0.0.11 in sandboxes on user-defined networks)');

  dns
    .command('explain')
    .description('Say what the resolver answers a sandbox for a name (or an IP address: its PTR), and why')
    .argument('<name>', 'name to resolve, or an IP address for a reverse lookup')
    .requiredOption('--from <sandbox>', 'the sandbox that asks (its networks decide what it sees)')
    .option('-t, --type <type>', 'record type (default A, or PTR for an address)')
    .option('--json', 'JSON output')
    .action(async (name: string, o) => {
      const qs = new URLSearchParams({ name, from: o.from, ...(o.type ? { type: o.type } : {}) });
      const e = await ctx.client().get<Explanation>(`/yard/v1/dns/explain?${qs}`);
      if (o.json) return ctx.out(JSON.stringify(e, null, 2));
      ctx.out(`${e.question.name} ${e.question.type} from ${e.from} (networks: ${e.networks.join(', ') || 'none with DNS'})`);
      ctx.out(`answer: ${e.rcode}${e.source === 'local' ? ` (local, network ${e.network})` : e.source === 'upstream' ? ' (upstream)' : e.source === 'docker' ? ` (Docker's embedded DNS${e.network ? `, network ${e.network}` : ''})` : ''}`);
      for (const r of e.records) ctx.out(`  ${r}`);
      ctx.out(`why: ${e.reason}`);
      if (e.source !== 'local' && e.source !== 'docker') ctx.out(`upstreams: ${e.upstreams.join(', ') || 'none'}`);
      for (const t of e.trace) ctx.out(`  ${t}`);
    });

  dns
    .command('stats')
    .description('Counters of the embedded resolver (queries, local answers, forwarded, timeouts, malformed, overload)')
    .option('--json', 'JSON output')
    .action(async (o) => {
      const s = await ctx.client().get<Record<string, number>>('/yard/v1/dns/stats');
      if (o.json) return ctx.out(JSON.stringify(s, null, 2));
      for (const [k, v] of Object.entries(s)) ctx.out(`${k}: ${v}`);
    });
}
