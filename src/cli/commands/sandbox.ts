/**
 * Sandboxes, with Docker's container vocabulary: `yard run`, `ps`, `inspect`, `rm`,
 * `exec`, `logs`. A sandbox is a network namespace joined to its networks plus (usually)
 * one process running in it.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import type { Command } from 'commander';
import { YardError } from '../../errors.js';
import type { CliContext } from '../context.js';
import { psPortsCell, type PortMapping } from '../../model/ports.js';
import { SANDBOX_ENV } from '../../model/types.js';
import { sandboxExecArgv, startAttachedInSandbox, type Started } from '../../kernel/process.js';
import { ago, collect, keyValues, table, truncate, forEachRef } from '../format.js';

interface SandboxJson {
  Id: string;
  Name: string;
  Created: string;
  Path: string;
  Args: string[];
  State: { Status: string; Running: boolean; Pid: number; ExitCode: number; StartedAt: string; FinishedAt: string };
  LogPath: string;
  NetworkSettings: { Networks: Record<string, { IPAddress: string; GlobalIPv6Address: string }> };
  PublishedPorts?: (PortMapping & { v6: boolean })[];
  Netns: string | null;
}

/** commander keeps a `--` that follows a positional argument: drop it. */
const stripDashDash = (argv: string[]) => (argv[0] === '--' ? argv.slice(1) : argv);

function statusText(s: SandboxJson): string {
  if (s.State.Status === 'running') return `Up ${ago(s.State.StartedAt)}`;
  if (s.State.Status === 'exited') return `Exited (${s.State.ExitCode}) ${ago(s.State.FinishedAt)} ago`;
  return 'Created';
}

/** The shell's convention for a command killed by a signal: 128 + its number (a segfault is 139, not 130). */
const exitCodeOf = (code: number | null, signal: NodeJS.Signals | null) => code ?? 128 + (signal ? (os.constants.signals[signal] ?? 0) : 0);

/** Forward SIGINT and SIGTERM to process `pid` until it exits; resolves to its exit code. */
function follow(pid: number, onExit: (l: (code: number | null, signal: NodeJS.Signals | null) => void) => void): Promise<number> {
  return new Promise((resolve) => {
    // Its exit may arrive with SIGCHLD alone, and a signal listener does not keep Node running.
    const alive = setInterval(() => {}, 1 << 30);
    const forward = (sig: NodeJS.Signals) => () => {
      try {
        process.kill(pid, sig);
      } catch {
        /* gone */
      }
    };
    const onInt = forward('SIGINT');
    const onTerm = forward('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
    onExit((code, signal) => {
      clearInterval(alive);
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      resolve(exitCodeOf(code, signal));
    });
  });
}

/** Run a command in a sandbox's namespace with the terminal attached; resolves to its exit code. */
function runAttached(netns: string | null, argv: string[], env?: NodeJS.ProcessEnv, onStart?: (pid: number) => void): Promise<number> {
  // Started inside the sandbox by this process (no `ip netns exec`), where it can be.
  const inside: Started | undefined = netns ? startAttachedInSandbox(netns, argv, env ?? process.env) : undefined;
  if (inside) {
    const done = follow(inside.pid, inside.onExit);
    onStart?.(inside.pid);
    return done;
  }
  const [cmd, args] = sandboxExecArgv(netns, argv);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: 'inherit', env: env ?? process.env });
    child.on('spawn', () => {
      resolve(follow(child.pid!, (l) => child.once('exit', l)));
      onStart?.(child.pid!);
    });
    child.on('error', (e) =>
      reject(new YardError('INVALID_ARGUMENT', `cannot run ${argv[0]}: ${e.message}`, { field: 'COMMAND', hint: 'check that the command exists in PATH' })),
    );
  });
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command('run')
    .description('Create a sandbox (its own network namespace) on networks, and run a command in it')
    .argument('[command...]', 'command and arguments (put them after --)')
    .option('-d, --detach', 'run in the background and print the sandbox ID')
    .option('--name <name>', 'sandbox name (default: a generated one)')
    .option('--network <network>', 'network to join: a name, ID, host or none; repeat to join several (default: bridge)', collect)
    .option('--ip <ipv4>', 'static IPv4 address on the first --network')
    .option('--ip6 <ipv6>', 'static IPv6 address on the first --network')
    .option('--network-alias <name>', 'extra DNS name on the first --network', collect)
    .option('--hostname <name>', 'host name inside the sandbox (default: the short ID)')
    .option('--dns <ip>', 'upstream DNS server for this sandbox', collect)
    .option('--dns-search <domain>', 'DNS search domain', collect)
    .option('--dns-option <opt>', 'resolver option (e.g. ndots:2)', collect)
    .option('--add-host <name:ip>', 'extra /etc/hosts entry (ip may be host-gateway)', collect)
    .option('-p, --publish <spec>', 'publish a port: [host-ip:][host-port:]container-port[/tcp|udp|sctp], ranges as 8000-8009; repeatable', collect)
    .option('--publish-from <sources>', 'only these clients may connect to the -p ports: addresses and prefixes, comma-separated (10.0.0.0/8,192.168.1.5,2001:db8::/32); HOST_PORT[/PROTO]=SOURCES limits one -p only; repeatable', collect)
    .option('-l, --label <key=value>', 'metadata label', collect)
    .option('-e, --env <key=value>', 'environment variable for the command', collect)
    .option('--rm', 'remove the sandbox when its command exits (foreground only)')
    .option('--dry-run', 'print the kernel commands, change nothing')
    .passThroughOptions()
    .action(async (rawCommand: string[], o) => {
      const command = stripDashDash(rawCommand);
      if (o.rm && o.detach) throw new YardError('INVALID_ARGUMENT', '--rm and -d cannot be combined', { field: '--rm', hint: 'remove a detached sandbox with yard rm -f' });
      const nets: string[] = o.network ?? [];
      const networks = (nets.length ? nets : ['bridge']).map((n, i) => ({
        network: n,
        ...(i === 0 && o.ip ? { ip: o.ip as string } : {}),
        ...(i === 0 && o.ip6 ? { ip6: o.ip6 as string } : {}),
        ...(i === 0 && o.networkAlias ? { aliases: o.networkAlias as string[] } : {}),
      }));
      const env = keyValues('--env', o.env);
      const body = {
        name: o.name,
        hostname: o.hostname,
        networks,
        command,
        detached: !!o.detach,
        start: !!o.detach,
        dns: o.dns,
        dnsSearch: o.dnsSearch,
        dnsOptions: o.dnsOption,
        extraHosts: o.addHost,
        publish: o.publish,
        publishFrom: o.publishFrom,
        labels: keyValues('--label', o.label, { valueRequired: false }),
        env,
        dryRun: !!o.dryRun,
      };
      const r = await ctx.client().post<{ Id: string; Plan: string[]; Sandbox: SandboxJson }>('/yard/v1/sandboxes', body);
      if (o.dryRun) return r.Plan.forEach((l) => ctx.out(l));
      if (o.detach) return ctx.out(r.Id);
      if (!command.length) return ctx.out(r.Id);
      // Foreground: the CLI runs the process itself, with the terminal attached.
      const client = ctx.client();
      // Started through `ip netns exec`, the process enters the namespace a moment after its
      // PID is known; on a loaded host that can take longer: asked again for up to 20 s.
      const reportStarted = async (pid: number) => {
        for (const until = Date.now() + 20_000; ; await new Promise((res) => setTimeout(res, 200))) {
          try {
            return await client.post(`/yard/v1/sandboxes/${r.Id}/started`, { pid });
          } catch (e) {
            const notYet = e instanceof YardError && e.code === 'PROCESS_NOT_IN_SANDBOX' && /does not run in/.test(e.message);
            if (!notYet || Date.now() > until) return;
          }
        }
      };
      let code: number;
      try {
        // The daemon accepts the PID only for a process that carries the sandbox's ID.
        code = await runAttached(r.Sandbox.Netns, command, { ...process.env, ...env, [SANDBOX_ENV]: r.Id }, (pid) => {
          void reportStarted(pid);
        });
      } catch (e) {
        await client.delete(`/yard/v1/sandboxes/${r.Id}?force=1`).catch(() => {});
        throw e;
      }
      if (o.rm) await client.delete(`/yard/v1/sandboxes/${r.Id}?force=1`);
      else await client.post(`/yard/v1/sandboxes/${r.Id}/exited`, { code });
      ctx.exitCode = code;
    });

  program
    .command('ps')
    .description('List sandboxes')
    .option('-a, --all', 'include sandboxes whose process has exited')
    .option('-q, --quiet', 'only IDs')
    .option('--no-trunc', 'full IDs and commands')
    .option('--json', 'JSON output')
    .action(async (o) => {
      const list = await ctx.client().get<SandboxJson[]>(`/yard/v1/sandboxes${o.all ? '?all=1' : ''}`);
      list.sort((a, b) => b.Created.localeCompare(a.Created));
      if (o.json) return ctx.out(JSON.stringify(list, null, 2));
      const id = (s: string) => (o.trunc === false ? s : s.slice(0, 12));
      if (o.quiet) return list.forEach((s) => ctx.out(id(s.Id)));
      const rows = list.map((s) => {
        const cmd = [s.Path, ...s.Args].join(' ');
        const nets = Object.entries(s.NetworkSettings.Networks);
        return [
          id(s.Id),
          o.trunc === false ? cmd : truncate(cmd, 24),
          `${ago(s.Created)} ago`,
          statusText(s),
          nets.map(([n]) => n).join(','),
          nets.map(([, e]) => [e.IPAddress, e.GlobalIPv6Address].filter(Boolean).join(' ')).filter(Boolean).join(','),
          psPortsCell(s.PublishedPorts ?? [], !!s.PublishedPorts?.[0]?.v6),
          s.Name.replace(/^\//, ''),
        ];
      });
      // PORTS only when something is published, so the common listing stays narrow.
      const withPorts = list.some((s) => s.PublishedPorts?.length);
      const headers = ['SANDBOX ID', 'COMMAND', 'CREATED', 'STATUS', 'NETWORKS', 'ADDRESSES', 'PORTS', 'NAMES'];
      const drop = (r: string[]) => (withPorts ? r : r.filter((_, i) => i !== 6));
      for (const l of table(drop(headers), rows.map(drop))) ctx.out(l);
    });

  program
    .command('inspect')
    .description('Show sandboxes in detail (Docker\'s container JSON, networking part)')
    .argument('<sandbox...>', 'sandbox names or IDs')
    .action(async (refs: string[]) => {
      const out: unknown[] = [];
      try {
        await forEachRef(refs, ctx.err, async (r) => void out.push(await ctx.client().get(`/yard/v1/sandboxes/${encodeURIComponent(r)}`)));
      } finally {
        ctx.out(JSON.stringify(out, null, 4));
      }
    });

  program
    .command('rm')
    .description('Remove sandboxes: stop the process (with -f), delete the namespace, release addresses')
    .argument('<sandbox...>', 'sandbox names or IDs')
    .option('-f, --force', 'stop a running sandbox first')
    .action(async (refs: string[], o) => {
      await forEachRef(refs, ctx.err, async (r) => {
        await ctx.client().delete(`/yard/v1/sandboxes/${encodeURIComponent(r)}${o.force ? '?force=1' : ''}`);
        ctx.out(r);
      });
    });

  program
    .command('exec')
    .description('Run a command inside a sandbox\'s network namespace (with its /etc/resolv.conf and /etc/hosts)')
    .argument('<sandbox>', 'sandbox name or ID')
    .argument('<command...>', 'command and arguments (put them after --); yard exits with its exit code')
    .option('-e, --env <key=value>', 'environment variable for the command; repeatable', collect)
    .passThroughOptions()
    .action(async (ref: string, rawCommand: string[], o) => {
      const command = stripDashDash(rawCommand);
      const sb = await ctx.client().get<SandboxJson>(`/yard/v1/sandboxes/${encodeURIComponent(ref)}`);
      ctx.exitCode = await runAttached(sb.Netns, command, { ...process.env, ...keyValues('--env', o.env) });
    });

  program
    .command('logs')
    .description('Print the output of a detached sandbox\'s command')
    .argument('<sandbox>', 'sandbox name or ID')
    .action(async (ref: string) => {
      const sb = await ctx.client().get<SandboxJson>(`/yard/v1/sandboxes/${encodeURIComponent(ref)}`);
      if (fs.existsSync(sb.LogPath)) process.stdout.write(fs.readFileSync(sb.LogPath));
    });
}
