/**
 * `yard lab`: an isolated LAN of host namespaces, one Switchyard daemon in each (src/lab).
 * These commands drive the kernel directly, not a daemon: they run as root on the machine.
 */
import { spawn } from 'node:child_process';
import os from 'node:os';
import type { Command } from 'commander';
import { YardError } from '../../errors.js';
import { DEFAULT_LAB, labDockerCli, labDown, labEnv, labExecArgs, labHost, labInfo, labList, labOfHostArg, labPodmanCli, labUp } from '../../lab/lab.js';
import { shq } from '../../lab/docker.js';
import { checkNetworkBackend, withCgroupParent } from '../../lab/podman.js';
import type { CliContext } from '../context.js';
import { ago, table } from '../format.js';

const NAME_HELP = `lab name (default: ${DEFAULT_LAB}); other names give namespaces <name>-lan, <name>-host1...`;

function intArg(field: string) {
  return (value: string): number => {
    if (!/^[0-9]+$/.test(value)) {
      throw new YardError('INVALID_ARGUMENT', `invalid ${field} ${JSON.stringify(value)}`, { field, hint: 'use a whole number' });
    }
    return Number(value);
  };
}

/** Run a command in a lab host with the terminal attached; its exit code becomes ours. */
function interactive(ctx: CliContext, argv: string[], env: NodeJS.ProcessEnv): Promise<void> {
  // The terminal sends ^C/^\ to the whole foreground group: let the child decide what they
  // mean, and stay alive to pass its exit code through.
  const ignore = () => {};
  process.on('SIGINT', ignore);
  process.on('SIGQUIT', ignore);
  return new Promise<void>((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: 'inherit', env });
    child.once('error', reject);
    child.once('close', (code, sig) => {
      ctx.exitCode = code ?? 128 + (sig ? os.constants.signals[sig] : 0);
      resolve();
    });
  }).finally(() => {
    process.off('SIGINT', ignore);
    process.off('SIGQUIT', ignore);
  });
}

export function register(program: Command, ctx: CliContext): void {
  const lab = program
    .command('lab')
    .description('An isolated test LAN of host network namespaces, each running its own Switchyard daemon (root)')
    // Lets `exec` pass the command's own options through untouched.
    .enablePositionalOptions();

  lab
    .command('up')
    .description('Create a lab: a LAN (br0, 10.231.0.0/24, fd00:231::/64, fake DNS at 10.231.0.1) and N hosts, each running `yard daemon`')
    .addHelpText(
      'after',
      '\nHost i is the namespace host<i> (or <name>-host<i>) with uplink lan0 at 10.231.0.(1+i)/24 and fd00:231::(1+i)/64,\n' +
        'IP forwarding on and no default route; its daemon listens on /run/switchyard/<host>/yard.sock.\n' +
        'Names under *.lab resolve to 10.231.0.99 / fd00:231::99; every other name is NXDOMAIN.\n' +
        'With --docker every host also runs a real Docker engine (Debian\'s dockerd 20.10 with its own containerd,\n' +
        'data, /run and /etc/docker; --dns 10.231.0.1; the image bb = busybox); `yard lab docker HOST -- ARGS` drives it.\n' +
        'A Docker network or IPAM plugin for host i puts its socket at /run/switchyard/<host>/docker-run/docker/plugins/<name>.sock.\n' +
        'With --podman every host also gets a real Podman (Debian\'s podman 4.3 with runc, netavark and aardvark-dns; no daemon)\n' +
        'with its own storage, configuration and /run in a mount namespace of its own, resolving through 10.231.0.1 and\n' +
        'the image bb; `yard lab podman HOST -- ARGS` drives it. --podman-network-backend cni picks CNI instead of netavark.\n' +
        'On a slow or emulated host, YARD_LAB_SLOWDOWN=N (1 to 50) stretches the start-up waits N times.',
    )
    .option('--name <name>', NAME_HELP)
    .option('--hosts <n>', 'number of hosts, 1 to 16', intArg('--hosts'), 3)
    .option('--no-daemons', 'only build the network; start no daemon in the hosts')
    .option('--mtu <n>', 'MTU of the LAN links (1280 to 9000)', intArg('--mtu'), 1500)
    .option('--no-cluster', 'start no etcd: the daemons get no --cluster-store (no overlay networks)')
    .option('--docker', 'also run a real Docker engine (dockerd 20.10 + containerd) in every host, with the image bb imported')
    .option('--podman', 'also set up a real Podman (podman 4.3, netavark, aardvark-dns, runc) in every host, with the image bb imported')
    .option('--podman-network-backend <backend>', 'network backend of the lab\'s Podman: netavark (default) or cni')
    .option('--podman-switchyard', 'the lab\'s Podman networks through Switchyard: the host daemon\'s netavark-compatible executable comes first in helper_binaries_dir')
    .option('--dhcp', 'run a DHCP server (dnsmasq) on the LAN, handing out 10.231.0.100-199, for --ipam-driver dhcp networks (-o parent=lan0)')
    .option('--dhcp-lease <seconds>', 'lease time of the lab\'s DHCP server (120 to 86400)', intArg('--dhcp-lease'))
    .option('--dhcp-renew <seconds>', 'renewal time T1 the lab\'s DHCP server gives (default half the lease)', intArg('--dhcp-renew'))
    .action(async (opts: { name?: string; hosts: number; daemons: boolean; mtu: number; cluster: boolean; docker?: boolean; podman?: boolean; podmanNetworkBackend?: string; podmanSwitchyard?: boolean; dhcp?: boolean; dhcpLease?: number; dhcpRenew?: number }) => {
      if ((opts.dhcpLease !== undefined || opts.dhcpRenew !== undefined) && !opts.dhcp) {
        throw new YardError('INVALID_ARGUMENT', `${opts.dhcpLease !== undefined ? '--dhcp-lease' : '--dhcp-renew'} needs --dhcp`, { field: opts.dhcpLease !== undefined ? '--dhcp-lease' : '--dhcp-renew', hint: 'add --dhcp, or leave the option out' });
      }
      if (opts.podmanSwitchyard && (!opts.podman || (opts.podmanNetworkBackend ?? 'netavark') !== 'netavark')) {
        throw new YardError('INVALID_ARGUMENT', '--podman-switchyard needs --podman with the netavark backend', { field: '--podman-switchyard', hint: 'add --podman (and leave --podman-network-backend at netavark)' });
      }
      if (opts.podmanNetworkBackend !== undefined && !opts.podman) {
        throw new YardError('INVALID_ARGUMENT', '--podman-network-backend needs --podman', { field: '--podman-network-backend', hint: 'add --podman, or leave the option out' });
      }
      const podmanBackend = opts.podman ? checkNetworkBackend(opts.podmanNetworkBackend) : undefined;
      const info = await labUp({
        name: opts.name,
        hosts: opts.hosts,
        daemons: opts.daemons,
        mtu: opts.mtu,
        cluster: opts.cluster,
        dhcp: opts.dhcp ? { leaseSeconds: opts.dhcpLease, renewSeconds: opts.dhcpRenew } : false,
        docker: opts.docker === true,
        podman: podmanBackend ? { networkBackend: podmanBackend, switchyard: opts.podmanSwitchyard === true } : false,
        onProgress: (msg) => ctx.err(msg),
      });
      const rows = info.hosts.map((h) => [
        h.name, h.lan4, h.lan6, h.socket,
        ...(opts.docker ? [h.docker?.socket ?? '-'] : []),
        ...(opts.podman ? [h.podman?.dataDir ?? '-'] : []),
      ]);
      for (const line of table(['NAME', 'LAN IPV4', 'LAN IPV6', 'SOCKET', ...(opts.docker ? ['DOCKER SOCKET'] : []), ...(opts.podman ? ['PODMAN DIR'] : [])], rows)) ctx.out(line);
    });

  lab
    .command('down')
    .description('Take a lab down: its daemons, Docker engines and Podman containers, resolver, namespaces (hosts, LAN, sandboxes) and state; safe to repeat')
    .option('--name <name>', NAME_HELP)
    .action(async (opts: { name?: string }) => {
      const name = opts.name ?? DEFAULT_LAB;
      await labDown(name, { onProgress: (msg) => ctx.err(msg) });
      ctx.err(`lab ${name} is down`);
    });

  lab
    .command('ls')
    .description('List the labs that are up')
    .action(() => {
      const rows = labList().map((l) => [l.name, String(l.hosts.length), `${ago(l.created)} ago`]);
      for (const line of table(['NAME', 'HOSTS', 'CREATED'], rows)) ctx.out(line);
    });

  lab
    .command('exec')
    .description('Run a command inside a lab host, with `yard` and `docker` talking to that host\'s daemon; exits with the command\'s code')
    .usage('[--name N] HOST -- CMD [ARGS...]')
    .option('--name <name>', NAME_HELP)
    .argument('<host>', 'host1, 1, or the host\'s full namespace name')
    .argument('<cmd...>', 'the command to run (put it after --)')
    .passThroughOptions()
    .action(async (host: string, cmd: string[], opts: { name?: string }) => {
      const info = labOfHostArg(opts.name, host);
      const h = labHost(info, host);
      // With pass-through options commander hands the `--` over as part of the command.
      const argv = cmd[0] === '--' ? cmd.slice(1) : cmd;
      if (!argv.length) throw new YardError('INVALID_ARGUMENT', 'no command given', { field: 'CMD', hint: 'usage: yard lab exec HOST -- CMD [ARGS...]' });
      await interactive(ctx, labExecArgs(info, h, argv), labEnv(info, h));
    });

  lab
    .command('shell')
    .description('Start an interactive shell ($SHELL, else /bin/bash) inside a lab host, with `yard` and `docker` talking to its daemon')
    .option('--name <name>', NAME_HELP)
    .argument('<host>', 'host1, 1, or the host\'s full namespace name')
    .action(async (host: string, opts: { name?: string }) => {
      const info = labOfHostArg(opts.name, host);
      const h = labHost(info, host);
      ctx.err(`lab ${info.name}, host ${h.name} (${h.lan4}, ${h.lan6}); exit to leave`);
      await interactive(ctx, labExecArgs(info, h, [process.env.SHELL || '/bin/bash']), labEnv(info, h));
    });

  lab
    .command('docker')
    .description('Run the real docker CLI against a lab host\'s Docker engine (lab up --docker); without a command, print the command line to use')
    .usage('[--name N] HOST [-- ARGS...]')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  yard lab docker host1 -- run --rm bb ping -c1 10.231.0.1\n' +
        '  $(yard lab docker host1) network ls      # the printed command line is /usr/bin/docker --config DIR -H unix://SOCKET',
    )
    .option('--name <name>', NAME_HELP)
    .argument('<host>', 'host1, 1, or the host\'s full namespace name')
    .argument('[args...]', 'the docker command and its arguments (put them after --)')
    .passThroughOptions()
    .action(async (host: string, args: string[], opts: { name?: string }) => {
      const info = labOfHostArg(opts.name, host);
      const h = labHost(info, host);
      const cli = labDockerCli(info, h);
      const argv = args[0] === '--' ? args.slice(1) : args;
      if (!argv.length) {
        ctx.out(cli.join(' '));
        return;
      }
      await interactive(ctx, labExecArgs(info, h, [...cli, ...argv]), labEnv(info, h));
    });

  lab
    .command('podman')
    .description('Run the real podman CLI for a lab host\'s Podman (lab up --podman); without a command, print the command line to use')
    .usage('[--name N] HOST [-- ARGS...]')
    .addHelpText(
      'after',
      '\nPodman runs inside the host\'s network namespace and its own mount namespace, with the lab\'s storage,\n' +
        'containers.conf, storage.conf and registries.conf (nothing is ever pulled; the image is bb). Containers made\n' +
        'with run or create go under the cgroup /yard-podman-<host>.\n' +
        '\nExamples:\n' +
        '  yard lab podman host1 -- network create app\n' +
        '  yard lab podman host1 -- run --rm --network app bb nslookup web.lab\n' +
        '  $(yard lab podman host1) ps -a          # the printed line is env CONTAINERS_CONF=... nsenter ... podman <flags>',
    )
    .option('--name <name>', NAME_HELP)
    .argument('<host>', 'host1, 1, or the host\'s full namespace name')
    .argument('[args...]', 'the podman command and its arguments (put them after --)')
    .passThroughOptions()
    .action(async (host: string, args: string[], opts: { name?: string }) => {
      const info = labOfHostArg(opts.name, host);
      const h = labHost(info, host);
      const cli = labPodmanCli(info, h);
      const argv = args[0] === '--' ? args.slice(1) : args;
      if (!argv.length) {
        ctx.out(['env', ...Object.entries(cli.env).map(([k, v]) => `${k}=${v}`), ...cli.argv].map(shq).join(' '));
        return;
      }
      // Already in the host's network namespace through nsenter: run directly.
      await interactive(ctx, [...cli.argv, ...withCgroupParent(h.podman!, argv)], { ...labEnv(info, h), ...cli.env });
    });
}
