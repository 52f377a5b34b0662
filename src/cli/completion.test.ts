import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { afterAll, describe, expect, it } from 'vitest';
import type { CliContext } from './context.js';
import { COMMANDS } from './commands/index.js';
import { bashCompletion, commandNodes, zshCompletion } from './completion.js';

const ctx: CliContext = {
  client: () => {
    throw new Error('no daemon in a completion test');
  },
  out: () => {},
  err: () => {},
  exitCode: 0,
};

function program(): Command {
  const p = new Command('yard').enablePositionalOptions().option('-H, --host <socket>', 'daemon socket');
  for (const register of COMMANDS) register(p, ctx);
  return p;
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'yard-completion-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const q = (w: string) => `'${w.replace(/'/g, `'\\''`)}'`;

/** What bash's completion function offers for each list of words typed (the last one being completed), in one bash. */
function completeMany(script: string, cases: string[][]): string[][] {
  const file = path.join(dir, 'yard.bash');
  fs.writeFileSync(file, script);
  const body = cases
    .map((words) => `COMP_WORDS=(${words.map(q).join(' ')}); COMP_CWORD=${words.length - 1}; COMPREPLY=(); _yard; printf '%s\\n' "\${COMPREPLY[@]}"; echo '@@'`)
    .join('\n');
  const out = execFileSync('bash', ['--norc', '--noprofile', '-c', `source ${q(file)}\n${body}`], { encoding: 'utf8', cwd: dir, timeout: 50_000 });
  return out.split('@@\n').slice(0, cases.length).map((chunk) => chunk.split('\n').filter(Boolean));
}

const complete = (script: string, words: string[]) => completeMany(script, [words])[0]!;

describe('yard completion bash', () => {
  const script = bashCompletion(program());

  it('completes yard net to network, and nothing for a word no command starts with', () => {
    expect(complete(script, ['yard', 'net'])).toEqual(['network']);
    expect(complete(script, ['yard', 'netx'])).toEqual([]);
  });

  it('completes the subcommands and options of the command typed so far', () => {
    expect(complete(script, ['yard', 'network', 'cr'])).toEqual(['create']);
    // Control: create is network's, not the root's.
    expect(complete(script, ['yard', 'cr'])).toEqual([]);
    expect(complete(script, ['yard', 'network', 'create', '--sub'])).toEqual(['--subnet']);
    // A value-taking option's value is skipped: the next word is still network create's option.
    expect(complete(script, ['yard', 'network', 'create', '--subnet', '10.1.0.0/24', '--dri'])).toEqual(['--driver']);
    // Root options before the command do not hide it.
    expect(complete(script, ['yard', '-H', '/run/x.sock', 'net'])).toEqual(['network']);
    expect(complete(script, ['yard', 'network', 'list', '--'])).toContain('--help');
  });

  it('offers every command and every option of the tree, and picks up one added later', () => {
    const p = program();
    p.command('zzzdemo').description('a command added later').option('--zzz-flag <v>', 'its flag');
    const s = bashCompletion(p);
    expect(complete(s, ['yard', 'zzz'])).toEqual(['zzzdemo']);
    expect(complete(s, ['yard', 'zzzdemo', '--zzz'])).toEqual(['--zzz-flag']);
    const nodes = commandNodes(p);
    expect(nodes.length).toBeGreaterThan(20);
    const got = completeMany(s, nodes.map((n) => ['yard', ...n.path.split(' ').filter(Boolean), '']));
    const opts = completeMany(s, nodes.map((n) => ['yard', ...n.path.split(' ').filter(Boolean), '-']));
    nodes.forEach((n, i) => {
      expect(got[i]!.sort(), n.path).toEqual(n.subs.map((x) => x.name).sort());
      expect(opts[i]!.sort(), n.path).toEqual(n.options.flatMap((o) => o.flags).sort());
    });
  }, 60_000);

  it('is valid bash, and the zsh script names every command path', () => {
    execFileSync('bash', ['-n', '-c', script], { timeout: 10_000 });
    const zsh = zshCompletion(program());
    expect(zsh.startsWith('#compdef yard')).toBe(true);
    for (const n of commandNodes(program())) if (n.path) expect(zsh).toContain(`'${n.path}')`);
  });

  it('yard completion refuses a shell it does not know', async () => {
    const { main } = await import('./main.js');
    const errs: string[] = [];
    const orig = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((s: string) => (errs.push(String(s)), true)) as typeof process.stderr.write;
    try {
      expect(await main(['completion', 'fish'])).toBe(1);
    } finally {
      process.stderr.write = orig;
    }
    expect(errs.join('')).toMatch(/fish.*bash or zsh/);
  });
});
