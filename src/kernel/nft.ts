/**
 * The only code that drives nftables. A script is applied as one kernel transaction:
 * either every line takes effect or none does. Two ways, with the same interface and the
 * same messages (both are nftables' own parser):
 *
 *  - NftLib: libnftables (the library the `nft` command is built on) called in-process
 *    through koffi, each call on a libuv worker thread so the event loop (the embedded DNS)
 *    never waits for it, one call at a time on one context. About 0.1 ms for a small
 *    change, where a `nft -f -` process costs 5-15 ms (fork, exec, loading, a fresh cache).
 *    Worker threads never change namespace, so it acts in the daemon's own namespace.
 *  - NftCli: `nft -f -` as a process, for a host without the library.
 *
 * `openNft()` gives the library when it loads, else the command.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import koffi from 'koffi';
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

export class NftCli implements Nft {
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

/** The calls the firewall makes of nftables (both NftLib and NftCli). */
export interface Nft {
  apply(script: string): Promise<void>;
  check(script: string): Promise<void>;
  list(args: string[]): Promise<string>;
  json(args: string[]): Promise<unknown>;
  exists(family: string, table: string, chain?: string): Promise<boolean>;
}

// libnftables' output flags (nftables.h): the CLI's -a, -j and -t.
const OUTPUT_FLAGS: Record<string, number> = { '-a': 1 << 3, '--handle': 1 << 3, '-j': 1 << 4, '--json': 1 << 4, '-t': 1 << 11, '--terse': 1 << 11 };

type AsyncFn = { async: (...args: unknown[]) => void };
interface LibNft {
  ctx: unknown;
  setFlags: ((ctx: unknown, flags: number) => void) & AsyncFn;
  setDryRun: ((ctx: unknown, on: boolean) => void) & AsyncFn;
  runCmd: ((ctx: unknown, buf: string) => number) & AsyncFn;
  runFile: ((ctx: unknown, file: string) => number) & AsyncFn;
  out: (ctx: unknown) => string | null;
  err: (ctx: unknown) => string | null;
}

export class NftLib implements Nft {
  /** One call at a time: the context and its output buffers are not shared between calls. */
  private queue: Promise<unknown> = Promise.resolve();

  /**
   * Scripts are read from a file, as `nft -f` reads them: from a buffer, libnftables names
   * the wrong line (and no position) when the kernel refuses one of several commands.
   * The messages then name this file where `nft -f -` says /dev/stdin.
   */
  private readonly scriptFile: string;

  private constructor(private readonly lib: LibNft) {
    // On tmpfs: a file write on a disk-backed /tmp costs milliseconds, the whole call 0.2 ms.
    const dir = fs.mkdtempSync(path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'yard-nft-'));
    this.scriptFile = path.join(dir, 'script.nft');
    process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  }

  /** The library, or null when it cannot be loaded (then use NftCli). */
  static open(): NftLib | null {
    try {
      const l = koffi.load('libnftables.so.1');
      const lib: LibNft = {
        ctx: null,
        setFlags: l.func('void nft_ctx_output_set_flags(void *ctx, uint32_t flags)') as LibNft['setFlags'],
        setDryRun: l.func('void nft_ctx_set_dry_run(void *ctx, bool dry)') as LibNft['setDryRun'],
        runCmd: l.func('int nft_run_cmd_from_buffer(void *ctx, const char *buf)') as LibNft['runCmd'],
        runFile: l.func('int nft_run_cmd_from_filename(void *ctx, const char *filename)') as LibNft['runFile'],
        out: l.func('const char *nft_ctx_get_output_buffer(void *ctx)') as LibNft['out'],
        err: l.func('const char *nft_ctx_get_error_buffer(void *ctx)') as LibNft['err'],
      };
      const ctx = (l.func('void *nft_ctx_new(uint32_t flags)') as (f: number) => unknown)(0);
      if (!ctx) return null;
      // Output and errors into buffers, read after each call, instead of the process's stdout/stderr.
      if ((l.func('int nft_ctx_buffer_output(void *ctx)') as (c: unknown) => number)(ctx) !== 0) return null;
      if ((l.func('int nft_ctx_buffer_error(void *ctx)') as (c: unknown) => number)(ctx) !== 0) return null;
      lib.ctx = ctx;
      return new NftLib(lib);
    } catch {
      return null;
    }
  }

  private call(args: string[], text: string, opts: { dryRun?: boolean; script?: boolean } = {}): Promise<string> {
    const next = this.queue.then(() => this.callNow(args, text, !!opts.dryRun, !!opts.script));
    this.queue = next.catch(() => {});
    return next;
  }

  private async callNow(args: string[], text: string, dryRun: boolean, script: boolean): Promise<string> {
    const { ctx, setFlags, setDryRun, runCmd, runFile, out, err } = this.lib;
    let flags = 0;
    for (const a of args) flags |= OUTPUT_FLAGS[a] ?? 0;
    const onWorker = <T>(fn: AsyncFn, ...a: unknown[]) =>
      new Promise<T>((resolve, reject) => fn.async(...a, (e: Error | null, r: T) => (e ? reject(e) : resolve(r))));
    setFlags(ctx, flags);
    setDryRun(ctx, dryRun);
    let rc: number;
    if (script) {
      fs.writeFileSync(this.scriptFile, text, { mode: 0o600 });
      rc = await onWorker<number>(runFile, ctx, this.scriptFile);
    } else {
      rc = await onWorker<number>(runCmd, ctx, text);
    }
    // The buffers belong to this call until the next one starts (the queue makes sure).
    const stdout = out(ctx) ?? '';
    const stderr = err(ctx) ?? '';
    if (rc !== 0) throw new NftError(args, stderr || stdout || `libnftables returned ${rc}`);
    return stdout;
  }

  async apply(script: string): Promise<void> {
    await this.call(['-f', '-'], script, { script: true });
  }

  async check(script: string): Promise<void> {
    await this.call(['--check', '-f', '-'], script, { script: true, dryRun: true });
  }

  async list(args: string[]): Promise<string> {
    return this.call(args, args.filter((a) => !(a in OUTPUT_FLAGS)).join(' '));
  }

  async json(args: string[]): Promise<unknown> {
    return JSON.parse((await this.list(['-j', ...args])) || '{}');
  }

  async exists(family: string, table: string, chain?: string): Promise<boolean> {
    const args = chain ? ['list', 'chain', family, table, chain] : ['list', 'table', family, table];
    try {
      await this.list(['-t', ...args]);
      return true;
    } catch {
      return false;
    }
  }
}

/** libnftables in-process when it loads, else the `nft` command. */
export function openNft(): Nft {
  return NftLib.open() ?? new NftCli();
}
