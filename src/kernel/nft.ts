/**
 * The only code that runs `nft`. Scripts go through `nft -f -`, which applies a whole file
 * as one kernel transaction: either every line takes effect or none does. It runs in the
 * calling process's network namespace (the daemon's own).
 */
import { run } from './exec.js';

export class NftError extends Error {
  constructor(
    readonly args: string[],
    readonly stderr: string,
  ) {
    super(`nft ${args.join(' ')}: ${firstError(stderr)}`);
  }
}

/** nft prints the offending line after the message; the first line with "Error" says it all. */
function firstError(stderr: string): string {
  const lines = stderr.trim().split('\n');
  const i = lines.findIndex((l) => l.includes('Error'));
  return (i >= 0 ? lines.slice(i, i + 2) : lines.slice(0, 2)).join(' | ').trim() || 'failed';
}

export class NftCli {
  constructor(private readonly bin = 'nft') {}

  private async nft(args: string[], input?: string): Promise<string> {
    const r = await run(this.bin, args, { input, timeoutMs: 60_000 });
    if (r.code !== 0) throw new NftError(args, r.stderr || r.stdout);
    return r.stdout;
  }

  /** Apply a script as one transaction. */
  async apply(script: string): Promise<void> {
    await this.nft(['-f', '-'], script);
  }

  /** Parse and validate a script against the kernel without applying it. */
  async check(script: string): Promise<void> {
    await this.nft(['--check', '-f', '-'], script);
  }

  /** `nft <args>` output, e.g. list(['-t', 'list', 'ruleset']). */
  async list(args: string[]): Promise<string> {
    return this.nft(args);
  }

  /** `nft -j <args>`, parsed. */
  async json(args: string[]): Promise<unknown> {
    return JSON.parse((await this.nft(['-j', ...args])) || '{}');
  }

  /** Whether a table (and, given, a chain in it) exists. */
  async exists(family: string, table: string, chain?: string): Promise<boolean> {
    const args = chain ? ['list', 'chain', family, table, chain] : ['list', 'table', family, table];
    const r = await run(this.bin, ['-t', ...args], { timeoutMs: 10_000 });
    return r.code === 0;
  }
}
