/** `yard daemon`, `yard version`, `yard info`. */
import { YardError } from '../../errors.js';
import type { Command } from 'commander';
import { defaultInstance } from '../instance.js';
import { VERSION } from '../../version.js';
import type { CliContext } from '../context.js';
import { collect } from '../format.js';
import { checkPluginName } from '../../plugin/plugin-location.js';

/** What `yard daemon --help` adds: the environment it reads and the files it reads and writes. */
export const DAEMON_HELP = `
Environment:
  YARD_INSTANCE               instance name when --instance is not given
  YARD_LIB_DIR                parent of the state directories (default /var/lib/switchyard)
  YARD_RUN_DIR                parent of the socket directories (default /run/switchyard)
  YARD_DEFAULT_BRIDGE_SUBNET  subnet of the default network "bridge" when the daemon first creates it
                              (default 172.17.0.0/16; later starts keep the subnet it was created with)
  YARD_EXEC=spawn             run each ip/nft command as its own process instead of through the daemon's
                              long-lived command shells (slower; for troubleshooting)
  YARD_NETNS=ip               make and delete sandbox namespaces with \`ip netns\` processes instead of in the
                              daemon (no pool of namespaces made ahead of time; slower; for troubleshooting)
  YARD_NETLINK=off            change links, addresses and routes with \`ip -batch\` processes and read them with
                              \`ip -j\` instead of rtnetlink from the daemon (slower; for troubleshooting)
  YARD_SPAWN=node             start sandbox commands with Node's spawn (a fork of the daemon) instead of
                              posix_spawn (slower; for troubleshooting)
  YARD_DNS_FASTPATH=off       answer every DNS query through the resolver's JavaScript path, one datagram at a
                              time, instead of the batched fast path's thread (for troubleshooting)
  YARD_DEBUG                  set: print the stack trace of an unexpected (INTERNAL) error
  YARD_LOG_LEVEL              the log level when --log-level is not given
  GLIBC_TUNABLES              bin/yard starts the daemon with glibc.malloc.arena_max=1 (one malloc arena,
                              less resident memory) unless you set it; the daemon's children do not inherit it

Files:
  /var/lib/switchyard/<instance>/        state (--state-dir): networks/ and sandboxes/ (one JSON file each),
                                         sandboxes/<id>.d/output.log (a detached command's output),
                                         quarantine/ (damaged records, never acted on), daemon.pid (one daemon per state dir),
                                         host-sysctls.json (forwarding as it was before the first start; yard uninstall restores it)
  /run/switchyard/<instance>/yard.sock   the API socket (--socket), mode 0660, owned by root and the --group
  /etc/resolv.conf                       read at start: the upstream DNS servers when no --dns is given (loopback ones left out)
  /etc/netns/<namespace>/                each sandbox's resolv.conf and hosts (\`ip netns exec\` shows them as /etc/...)
  /run/netns/yard-<instance>-<id12>      the sandboxes' network namespaces
  /run/docker/plugins/switchyard.sock    the Docker network and IPAM plugin (--docker-plugin-dir, --docker-plugin-name):
  /run/docker/plugins/switchyard-global.sock   docker network create -d switchyard [-o driver=macvlan|ipvlan] NET;
                                         -d switchyard-global for overlay
  nftables                               tables inet switchyard and bridge switchyard (rewritten by the daemon);
                                         your own rules go in table inet switchyard-user, chain user-forward
  sysctls                                net.ipv4.ip_forward=1 and net.ipv6.conf.all.forwarding=1 in this namespace,
                                         net.ipv4.conf.<bridge>.route_localnet=1 on each bridge network's bridge
  links                                  bridges yard0, br-<id12>, ov-<id12>, yi<id12>, VXLAN vx-<id12>, shims ys<id12>,
                                         endpoint veths yv<id12>, yc<id12>; a network's links carry the ifalias
                                         switchyard:<instance>:<network id>

The daemon runs as root, in the network namespace it serves, and logs to stderr: one JSON object per line
(level, time, msg and fields; each operation with op, outcome and durationMs), or readable text on a terminal.
Prometheus metrics: GET /metrics on the API socket (curl --unix-socket <socket> http://localhost/metrics),
and on --metrics-listen if given. The metrics code loads at the first scrape: the process metrics' event-loop
lag and GC durations are measured from then on (operations are counted from the start).
`;

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
    .option('--docker-plugin-dir <dir>', 'where to serve the Docker network and IPAM plugin sockets, or "none" (default: /run/docker/plugins, where dockerd looks)')
    .option('--host-firewall <mode>', 'the host\'s other firewalls (ufw, firewalld, iptables, nftables): accept (default: keep accept rules for Switchyard\'s bridges at the top of their forward chains that would drop its traffic), obey (the same, and published ports are refused where the host\'s input filtering would drop their host port), off (leave them alone)')
    .option('--docker-plugin-name <name>', 'the plugin\'s name for docker network create -d NAME; overlay networks use NAME-global (default: switchyard)')
    .option('--ui <host:port>', 'also serve the topology page (read-only) on this loopback address, e.g. 127.0.0.1:8080; it is always at /yard/ui/ on the API socket')
    .option('--group <group>', 'group (name or GID) that owns the API socket: its members may use yard without root (the installed service uses switchyard; default: root only)')
    .option('--log-format <format>', 'json (one object per line) or text (readable) (default: text on a terminal, else json)')
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent (default: $YARD_LOG_LEVEL, else info)')
    .option('--metrics-listen <address:port>', 'also serve GET /metrics over TCP on this loopback address, e.g. 127.0.0.1:9464 (only 127.0.0.0/8 or [::1])')
    .addHelpText('after', DAEMON_HELP)
    .action(async (o) => {
      // First, before the daemon's modules load and its threads start: V8's young generation
      // and the malloc arenas sized for a long-running daemon (daemon/memory.ts).
      (await import('../../daemon/memory.js')).tuneDaemonProcess();
      // Loaded here, not at the top: the daemon pulls in the engine, nft and DNS, start-up
      // that every other `yard` command would pay for nothing.
      const { startDaemon } = await import('../../daemon/daemon.js');
      // The defaults every sandbox's resolv.conf gets: checked as strictly as a sandbox's own.
      const { validateDnsOptions, validateDnsSearch, validateDnsServers } = await import('../../model/validate.js');
      const { parseLogFormat, parseLogLevel } = await import('../../observe/log.js');
      const logLevel = o.logLevel !== undefined ? parseLogLevel(o.logLevel, '--log-level') : parseLogLevel(process.env.YARD_LOG_LEVEL, 'YARD_LOG_LEVEL');
      const hostFirewall = o.hostFirewall ?? 'accept';
      if (!['accept', 'obey', 'off'].includes(hostFirewall)) {
        throw new YardError('INVALID_ARGUMENT', `--host-firewall ${JSON.stringify(hostFirewall)} is not a mode`, { field: '--host-firewall', hint: 'use accept (default), obey or off' });
      }
      const d = await startDaemon({
        hostFirewall,
        instance: o.instance ?? defaultInstance(),
        stateDir: o.stateDir,
        socket: o.socket,
        dns: o.dns && validateDnsServers(o.dns, '--dns'),
        dnsSearch: o.dnsSearch && validateDnsSearch(o.dnsSearch, '--dns-search'),
        dnsOptions: o.dnsOpt && validateDnsOptions(o.dnsOpt, '--dns-opt'),
        // Read here, once: nothing below the CLI reads the environment.
        defaultBridgeSubnet: process.env.YARD_DEFAULT_BRIDGE_SUBNET || undefined,
        durable: o.fsync !== false,
        clusterStore: o.clusterStore,
        clusterAdvertise: o.clusterAdvertise,
        dockerPluginDir: o.dockerPluginDir === 'none' ? null : o.dockerPluginDir,
        dockerPluginName: o.dockerPluginName && checkPluginName(o.dockerPluginName, '--docker-plugin-name'),
        ui: o.ui,
        socketGroup: o.group,
        logFormat: parseLogFormat(o.logFormat, '--log-format'),
        logLevel,
        metricsListen: o.metricsListen,
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
