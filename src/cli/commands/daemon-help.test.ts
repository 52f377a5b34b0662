/**
 * `yard daemon --help` keeps up with the code: every YARD_* variable read by a module the
 * daemon runs (found by walking its imports, static and dynamic, from the daemon's entry)
 * is named in the help, as is every flag; every YARD_* variable anywhere in src/ is named
 * by some `--help`. Flags and variables added later are picked up without editing this.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { main } from '../main.js';
import { HOST_SYSCTLS } from '../../daemon/host-sysctls.js';

const SRC = path.resolve(import.meta.dirname, '../..');

/** Variables a daemon module reads only on a path the daemon never takes, and why. */
const NOT_THE_DAEMONS: Record<string, string> = {
  // cli/instance.ts: defaultSocket() is the client's; the daemon calls only defaultInstance().
  YARD_HOST: 'the CLI\'s socket choice',
};

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') ? [p] : [];
  });
}

const envVars = (text: string) => new Set([...text.matchAll(/process\.env(?:\.|\[['"])(YARD_[A-Z0-9_]+)/g)].map((m) => m[1]!));

/** The modules reachable from `entries` through relative imports (static and dynamic). */
function reachable(entries: string[]): Set<string> {
  const seen = new Set<string>();
  const todo = [...entries];
  while (todo.length) {
    const f = todo.pop()!;
    if (seen.has(f)) continue;
    seen.add(f);
    const text = fs.readFileSync(f, 'utf8');
    for (const m of text.matchAll(/(?:from\s+|import\s*\(\s*)['"](\.{1,2}\/[^'"]+)\.js['"]/g)) {
      const target = path.resolve(path.dirname(f), `${m[1]}.ts`);
      if (fs.existsSync(target)) todo.push(target);
    }
  }
  return seen;
}

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

describe('yard daemon --help stays in sync with the code', () => {
  const daemonFiles = reachable([path.join(SRC, 'daemon/daemon.ts'), path.join(SRC, 'cli/commands/system.ts')]);
  // The entry point runs for the daemon too (its error printing).
  daemonFiles.add(path.join(SRC, 'cli/main.ts'));

  it('walks the daemon\'s real module graph (engine, firewall, kernel, dns)', () => {
    const rel = [...daemonFiles].map((f) => path.relative(SRC, f));
    for (const f of ['engine/engine.ts', 'firewall/participant.ts', 'kernel/shell.ts', 'dns/resolver.ts', 'paths.ts', 'cli/instance.ts']) expect(rel).toContain(f);
    // Control: the lab is no part of the daemon.
    expect(rel).not.toContain('lab/lab.ts');
  });

  it('names every YARD_* variable a daemon module reads', async () => {
    const help = await helpOf(['daemon']);
    const read = new Set([...daemonFiles].flatMap((f) => [...envVars(fs.readFileSync(f, 'utf8'))]));
    for (const v of ['YARD_INSTANCE', 'YARD_EXEC', 'YARD_DEFAULT_BRIDGE_SUBNET', 'YARD_RUN_DIR', 'YARD_LIB_DIR']) expect(read).toContain(v);
    const missing = [...read].filter((v) => !NOT_THE_DAEMONS[v] && !new RegExp(`\\b${v}\\b`).test(help));
    expect(missing).toEqual([]);
    // Every exception is still real: the variable is still read where the daemon can see it.
    for (const v of Object.keys(NOT_THE_DAEMONS)) expect(read).toContain(v);
  });

  it('names every YARD_* variable in src/ in some --help', async () => {
    const all = new Set(sourceFiles(SRC).flatMap((f) => [...envVars(fs.readFileSync(f, 'utf8'))]));
    const helps = (await helpOf([])) + (await helpOf(['daemon'])) + (await helpOf(['lab'])) + (await helpOf(['bench']));
    expect([...all].filter((v) => !new RegExp(`\\b${v}\\b`).test(helps))).toEqual([]);
  });

  it('lists every flag of yard daemon, and the files and host changes it makes', async () => {
    const help = await helpOf(['daemon']);
    const { Command } = await import('commander');
    const { COMMANDS } = await import('./index.js');
    const p = new Command('yard').enablePositionalOptions();
    for (const r of COMMANDS) r(p, { client: () => { throw new Error('none'); }, out: () => {}, err: () => {}, exitCode: 0 });
    const daemon = p.commands.find((c) => c.name() === 'daemon')!;
    expect(daemon.options.length).toBeGreaterThan(5);
    for (const o of daemon.options) expect(help).toContain(o.long!);
    for (const f of ['/var/lib/switchyard/<instance>', '/run/switchyard/<instance>/yard.sock', '/etc/resolv.conf', '/etc/netns/', '/run/netns/', '/run/docker/plugins/', 'host-sysctls.json', 'inet switchyard', 'bridge switchyard', 'switchyard-user']) {
      expect(help).toContain(f);
    }
    for (const s of HOST_SYSCTLS) expect(help).toContain(s);
  });

  it('records every namespace-wide sysctl the firewall sets', () => {
    const text = fs.readFileSync(path.join(SRC, 'firewall/participant.ts'), 'utf8');
    const set = [...text.matchAll(/op: 'sysctl\.set'(?: as const)?, key: '([a-z0-9_.]+)'/g)].map((m) => m[1]);
    expect(set.length).toBeGreaterThan(0);
    expect([...new Set(set)].sort()).toEqual([...HOST_SYSCTLS].sort());
  });
});
