/** `yard daemon`, `yard version`, `yard info`. */
import type { Command } from 'commander';
import { defaultInstance } from '../../paths.js';
import { VERSION } from '../../version.js';
import type { CliContext } from '../context.js';
import { collect } from '../format.js';

export function register(program: Command, ctx: CliContext): void {
  program
    .command('daemon')
    .description('Run the Switchyard daemon for this host namespace (state, kernel reconcile, API socket)')
    .option('--instance <name>', 'instance name: keys the state dir, socket and sandbox namespace names (default: this netns name, or "default")')
    .option('--state-dir <dir>', 'state directory (default: /var/lib/switchyard/<instance>)')
    .option('--socket <path>', 'API socket (default: /run/switchyard/<instance>/yard.sock)')
    .option('--dns <ip>', 'upstream DNS server for sandboxes; repeat for several (default: /etc/resolv.conf minus loopback)', collect)
    .option('--dns-search <domain>', 'default DNS search domain for sandboxes', collect)
    .option('--dns-opt <opt>', 'default resolver option for sandboxes', collect)
    .option('--no-fsync', 'do not fsync state writes (faster; a power loss may lose the last operation)')
    .option('--cluster-store <url>', 'etcd://host:port[,host:port...]: the cluster store that enables overlay networks')
    .option('--cluster-advertise <interface>', 'interface (or address) whose address is this host\'s VXLAN endpoint (with --cluster-store)')
    .action(async (o) => {
      // Loaded here, not at the top: the daemon pulls in the engine, nft, DNS and etcd's gRPC
      // client, about 0.3 s of start-up that every other `yard` command would pay for nothing.
      const { startDaemon } = await import('../../daemon/daemon.js');
      const d = await startDaemon({
        instance: o.instance ?? defaultInstance(),
        stateDir: o.stateDir,
        socket: o.socket,
        dns: o.dns,
        dnsSearch: o.dnsSearch,
        dnsOptions: o.dnsOpt,
        durable: o.fsync !== false,
        clusterStore: o.clusterStore,
        clusterAdvertise: o.clusterAdvertise,
      });
      await new Promise<void>((resolve) => {
        const stop = () => {
          d.close().then(resolve, resolve);
        };
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
      });
    });

  program
    .command('version')
    .description('Show the CLI and daemon versions')
    .action(async () => {
      ctx.out(`Client: Switchyard ${VERSION} (node ${process.version})`);
      const v = await ctx.client().get<{ Version: string; ApiVersion: string; KernelVersion: string }>('/version');
      ctx.out(`Server: Switchyard ${v.Version}, Docker API ${v.ApiVersion}, kernel ${v.KernelVersion}`);
    });

  program
    .command('info')
    .description('Show the daemon\'s instance, socket, state dir, upstream DNS, quarantined state files and reconcile errors')
    .option('--json', 'JSON output')
    .action(async (o) => {
      const i = await ctx.client().get<Record<string, unknown>>('/yard/v1/info');
      if (o.json) return ctx.out(JSON.stringify(i, null, 2));
      for (const k of ['instance', 'version', 'pid', 'socket', 'stateDir', 'dns', 'networks', 'sandboxes']) ctx.out(`${k}: ${Array.isArray(i[k]) ? (i[k] as string[]).join(' ') : String(i[k])}`);
      const rec = (i.reconcile ?? {}) as { quarantined?: string[]; errors?: string[] };
      // Damaged state files and what reconcile could not do: the first things to look at.
      for (const q of rec.quarantined ?? []) ctx.out(`quarantined: ${q}`);
      for (const e of rec.errors ?? []) ctx.out(`reconcile error: ${e}`);
    });
}
