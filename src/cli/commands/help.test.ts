import { Command } from 'commander';
import { describe, expect, it, vi } from 'vitest';
import { main } from '../main.js';
import type { CliContext } from '../context.js';
import { COMMANDS } from './index.js';
import { BENCH_PARTS, OPT_IN_PARTS } from '../../bench/parts.js';
import { DAEMON_HELP } from './system.js';

const ctx: CliContext = {
  client: () => {
    throw new Error('no daemon in a help test');
  },
  out: () => {},
  err: () => {},
  exitCode: 0,
};

function program(): Command {
  // As main.ts builds it: `run`, `exec` and `lab exec` pass their command's options through.
  const p = new Command('yard').enablePositionalOptions();
  for (const register of COMMANDS) register(p, ctx);
  return p;
}

function* walk(c: Command, path: string[] = []): Generator<[string, Command]> {
  for (const sub of c.commands) {
    const p = [...path, sub.name()];
    yield [p.join(' '), sub];
    yield* walk(sub, p);
  }
}

/** What `yard <args> --help` prints on stdout, from the real entry point. */
async function helpOf(args: string[]): Promise<string> {
  let text = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => {
    text += String(s);
    return true;
  });
  try {
    expect(await main([...args, '--help'])).toBe(0);
  } finally {
    spy.mockRestore();
  }
  return text;
}

describe('yard --help', () => {
  it('describes every argument and every option of every command', () => {
    const missing: string[] = [];
    for (const [path, c] of walk(program())) {
      for (const a of c.registeredArguments) if (!a.description) missing.push(`yard ${path} <${a.name()}>`);
      for (const o of c.options) if (!o.description) missing.push(`yard ${path} ${o.flags}`);
      if (!c.description()) missing.push(`yard ${path} (no description)`);
    }
    expect(missing).toEqual([]);
  });

  it('bench --help names every part', async () => {
    const help = await helpOf(['bench']);
    // One line per part under "Parts:", as `yard bench --only` takes them.
    const parts = help.slice(help.indexOf('\nParts'));
    const listed = parts.split('\n').filter((l) => /^ {2}[a-z-]+ {2,}\S/.test(l)).map((l) => l.trim().split(/\s+/)[0]);
    expect(listed).toEqual([...BENCH_PARTS, ...OPT_IN_PARTS]);
  });

  it('network create --help points to yard network drivers and names all four drivers', async () => {
    const help = await helpOf(['network', 'create']);
    expect(help).toContain('yard network drivers');
    for (const d of ['bridge', 'macvlan', 'ipvlan', 'overlay']) expect(help).toContain(d);
    expect(help).not.toMatch(/issue/i);
  });

  it('daemon --help names every environment variable the daemon reads and the files it uses', async () => {
    const help = await helpOf(['daemon']);
    expect(help).toContain(DAEMON_HELP.trim());
    for (const v of ['YARD_INSTANCE', 'YARD_EXEC', 'YARD_DEFAULT_BRIDGE_SUBNET', 'YARD_RUN_DIR', 'YARD_LIB_DIR', 'YARD_LOG_LEVEL']) expect(help).toContain(v);
    for (const f of ['/var/lib/switchyard/<instance>', '/run/switchyard/<instance>/yard.sock', '/etc/resolv.conf', '/etc/netns/']) expect(help).toContain(f);
  });

  it('yard --help names the environment variables the CLI reads', async () => {
    const help = await helpOf([]);
    for (const v of ['YARD_HOST', 'DOCKER_HOST', 'YARD_INSTANCE', 'YARD_RUN_DIR', 'YARD_DEBUG', 'YARD_LAB_SLOWDOWN']) expect(help).toContain(v);
    expect(help).toContain('yard network drivers');
  });
});
