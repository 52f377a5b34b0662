/** `yard completion bash|zsh` and `yard uninstall`: living with an installed Switchyard. */
import type { Command } from 'commander';
import { YardError } from '../../errors.js';
import type { CliContext } from '../context.js';
import { defaultInstance } from '../instance.js';
import { bashCompletion, zshCompletion } from '../completion.js';

const SHELLS = { bash: bashCompletion, zsh: zshCompletion } as const;

export const UNINSTALL_HELP = `
Removes, in this order (a running daemon of the instance is a refusal: stop it first):
  host networking   what the instance made in this network namespace, found by its names: its sandbox
                    namespaces yard-<instance>-* (their processes stopped) and /etc/netns/yard-<instance>-*,
                    links carrying the ifalias switchyard:<instance>:*, endpoint veths yv<12 hex> and yc<12 hex>,
                    nftables tables inet switchyard and bridge switchyard (inet switchyard-user too when it holds
                    none of your rules, or with --purge), and the forwarding sysctls put back as they were before
                    the instance's first start (where still as Switchyard set them)
  --purge           the instance's state /var/lib/switchyard/<instance> and /run/switchyard/<instance>,
                    and the group make install created
  installed files   everything listed in PREFIX/lib/switchyard/install-manifest: the package, the links in
                    PREFIX/bin, the systemd unit and the completion scripts

Examples:
  systemctl disable --now switchyard && yard uninstall --purge
  yard uninstall --dry-run                  what would go, changing nothing
  yard uninstall --root /tmp/stage --prefix /usr/local --keep-network   a DESTDIR staging copy
`;

export function register(program: Command, ctx: CliContext): void {
  program
    .command('completion')
    .description('Print a shell completion script for yard (generated from its commands, so never stale)')
    .argument('<shell>', `bash or zsh (e.g. source <(yard completion bash))`)
    .action((shell: string, _o, cmd: Command) => {
      const gen = SHELLS[shell as keyof typeof SHELLS];
      if (!Object.hasOwn(SHELLS, shell) || !gen) {
        throw new YardError('INVALID_ARGUMENT', `SHELL ${JSON.stringify(shell)} is not a shell yard completes`, { field: 'SHELL', hint: 'use bash or zsh' });
      }
      let root = cmd;
      while (root.parent) root = root.parent;
      ctx.out(gen(root).trimEnd());
    });

  program
    .command('uninstall')
    .description('Remove an installed Switchyard: its files, what its daemon made on this host, and with --purge its state')
    .option('--prefix <dir>', 'the PREFIX make install used (default: the installation this yard runs from)')
    .option('--root <dir>', 'the DESTDIR the installation was made into (default: /)', '/')
    .option('--instance <name>', 'the daemon instance whose networking and state go (default: this network namespace\'s, "default" in the host\'s own)')
    .option('--purge', 'also remove the instance\'s state, its run directory, your inet switchyard-user rules and the switchyard group')
    .option('--keep-network', 'leave the host\'s networking alone (links, namespaces, nftables, sysctls)')
    .option('--network-only', 'only the host\'s networking (and with --purge the state): no installed files')
    .option('--dry-run', 'print what would be removed and change nothing')
    .addHelpText('after', UNINSTALL_HELP)
    .action(async (o) => {
      const { uninstall } = await import('../../install/uninstall.js');
      const rep = await uninstall({
        root: o.root,
        prefix: o.prefix,
        instance: o.instance ?? defaultInstance(),
        purge: !!o.purge,
        keepNetwork: !!o.keepNetwork,
        networkOnly: !!o.networkOnly,
        dryRun: !!o.dryRun,
        out: (l) => ctx.out(l),
      });
      if (rep.errors.length) ctx.exitCode = 1;
    });
}
