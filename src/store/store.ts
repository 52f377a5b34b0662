/**
 * The embedded store: one JSON file per network and per sandbox (endpoints live inside
 * their sandbox's file), so every engine operation commits by writing exactly one file.
 * A write goes to a temp file, is fsynced, then renamed over the old one: a `kill -9` at
 * any instant leaves either the old or the new record, never a torn one.
 *
 * A removal's tombstone is a rename (`<id>.json` -> `<id>.deleting.json`), which needs no
 * free space: on a full disk, removing things (what a user does to get space back) still
 * works. A write that fails is a `STATE_WRITE_FAILED` error (503) naming the file and the
 * cause; the engine changes nothing in memory or in the kernel unless its write succeeded.
 *
 * A record that cannot be read, parsed or validated (records.ts) is **quarantined**: moved
 * to `quarantine/` (left in place when the directory is read-only), reported, and never
 * acted on. The rest of the state loads normally.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { YardError } from '../errors.js';
import type { NetworkRecord, SandboxRecord, State } from '../model/types.js';
import { recordProblem } from './records.js';
import { SandboxTable } from '../model/sandbox-table.js';

export interface QuarantinedRecord {
  kind: 'network' | 'sandbox';
  /** The ID its file name gives, when the name is one (the record itself is not trusted). */
  id?: string;
  file: string;
  /** Where it was moved; undefined when it could not be moved (read-only directory). */
  movedTo?: string;
  reason: string;
}

export interface Store {
  load(): State;
  /** Records the last load set aside as damaged. */
  quarantined(): QuarantinedRecord[];
  putNetwork(n: NetworkRecord): void;
  /** Mark a network's removal as started (no free space needed). */
  tombstoneNetwork(n: NetworkRecord): void;
  deleteNetwork(id: string): void;
  putSandbox(s: SandboxRecord): void;
  /**
   * The same writes, with the wait for the disk (fsync) in a worker thread: the daemon's
   * thread goes on (applying the change to the kernel) while the record reaches the disk.
   */
  putNetworkAsync(n: NetworkRecord): Promise<void>;
  putSandboxAsync(s: SandboxRecord): Promise<void>;
  tombstoneSandbox(s: SandboxRecord): void;
  deleteSandbox(id: string): void;
}

const ID_FILE = /^([0-9a-f]{64})(\.deleting)?\.json$/;

export class JsonStore implements Store {
  private readonly netDir: string;
  private readonly sbDir: string;
  private damaged: QuarantinedRecord[] = [];
  private asyncWrites = 0;

  /** `netnsPrefix`: the namespace prefix of this daemon's sandboxes (a record naming another namespace is damaged). */
  constructor(readonly dir: string, private readonly durable = true, private readonly netnsPrefix?: string) {
    this.netDir = path.join(dir, 'networks');
    this.sbDir = path.join(dir, 'sandboxes');
    for (const d of [this.netDir, this.sbDir]) {
      try {
        fs.mkdirSync(d, { recursive: true, mode: 0o700 });
      } catch (e) {
        // A read-only state directory still serves reads; writes fail with a clear error.
        if (!fs.existsSync(d)) throw writeError(d, e);
      }
    }
  }

  load(): State {
    this.damaged = [];
    return {
      networks: new Map(this.readAll<NetworkRecord>('network', this.netDir).map((n) => [n.id, n])),
      sandboxes: new SandboxTable(this.readAll<SandboxRecord>('sandbox', this.sbDir).map((s) => [s.id, s])),
    };
  }

  quarantined(): QuarantinedRecord[] {
    return [...this.damaged];
  }

  putNetwork(n: NetworkRecord): void {
    this.write(this.file(this.netDir, n.id), n);
  }
  tombstoneNetwork(n: NetworkRecord): void {
    this.tombstone(this.netDir, n);
  }
  deleteNetwork(id: string): void {
    this.remove(this.netDir, id);
  }
  putSandbox(s: SandboxRecord): void {
    this.write(this.file(this.sbDir, s.id), s);
  }
  putNetworkAsync(n: NetworkRecord): Promise<void> {
    return this.writeAsync(this.file(this.netDir, n.id), n);
  }
  putSandboxAsync(s: SandboxRecord): Promise<void> {
    return this.writeAsync(this.file(this.sbDir, s.id), s);
  }
  tombstoneSandbox(s: SandboxRecord): void {
    this.tombstone(this.sbDir, s);
  }
  deleteSandbox(id: string): void {
    this.remove(this.sbDir, id);
  }

  private file(dir: string, id: string, deleting = false): string {
    return path.join(dir, `${id}${deleting ? '.deleting' : ''}.json`);
  }

  private write(file: string, value: unknown): void {
    const tmp = `${file}.tmp`;
    try {
      const fd = fs.openSync(tmp, 'w', 0o600);
      try {
        fs.writeSync(fd, JSON.stringify(value, null, 1));
        if (this.durable) fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(tmp, file);
    } catch (e) {
      this.failed(tmp, file, e);
    }
  }

  /**
   * write(), on libuv's worker threads: the wait for the disk, and creating and renaming
   * the file, which wait while another write's fsync commits the journal. The temp file is
   * opened O_DSYNC, so that its write returns once the record is on the disk (as a
   * write and fdatasync would: the record's bytes and what reading them back needs): three
   * trips to a worker thread instead of five, 0.15-0.2 ms less per write here.
   */
  private async writeAsync(file: string, value: unknown): Promise<void> {
    // A temp file of its own: a write of the same record on the daemon's thread meanwhile
    // (a sandbox's exit) never shares it.
    const tmp = `${file}.${++this.asyncWrites}.tmp`;
    const { O_WRONLY, O_CREAT, O_TRUNC, O_DSYNC } = fs.constants;
    try {
      const fd = await openAsync(tmp, O_WRONLY | O_CREAT | O_TRUNC | (this.durable ? O_DSYNC : 0), 0o600);
      try {
        const data = Buffer.from(JSON.stringify(value, null, 1));
        // Bounded: every round writes at least one byte or throws.
        for (let off = 0; off < data.length; ) {
          const n = await writeAsync(fd, data, off);
          if (n <= 0) throw new Error('the disk took none of the record');
          off += n;
        }
      } finally {
        fs.closeSync(fd);
      }
      await fsp.rename(tmp, file);
    } catch (e) {
      this.failed(tmp, file, e);
    }
  }

  private failed(tmp: string, file: string, e: unknown): never {
    try {
      fs.rmSync(tmp, { force: true });
    } catch {
      /* read-only: nothing was written either */
    }
    throw writeError(file, e);
  }

  private tombstone(dir: string, rec: { id: string }): void {
    const live = this.file(dir, rec.id);
    const dead = this.file(dir, rec.id, true);
    if (fs.existsSync(dead)) return;
    try {
      fs.renameSync(live, dead);
    } catch (e) {
      // The live file is gone (removed by hand): the tombstone must still exist on disk.
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') this.write(dead, { ...rec, deleting: true });
      else throw writeError(live, e);
    }
    if (this.durable) fsyncDir(dir);
  }

  private remove(dir: string, id: string): void {
    for (const f of [this.file(dir, id), this.file(dir, id, true)]) {
      try {
        fs.rmSync(f, { force: true });
      } catch (e) {
        throw writeError(f, e);
      }
    }
  }

  private readAll<T extends { id: string; deleting?: boolean }>(kind: 'network' | 'sandbox', dir: string): T[] {
    const out = new Map<string, T>();
    for (const f of fs.readdirSync(dir).sort()) {
      const full = path.join(dir, f);
      // A temp file is a write that never reached its rename: the old record stands.
      if (f.endsWith('.tmp')) {
        try {
          fs.rmSync(full, { force: true });
        } catch {
          /* read-only directory: leave it */
        }
        continue;
      }
      if (!f.endsWith('.json')) continue;
      const m = ID_FILE.exec(f);
      let problem: string | undefined;
      let value: unknown;
      try {
        value = JSON.parse(fs.readFileSync(full, 'utf8'));
      } catch (e) {
        problem = e instanceof SyntaxError ? `not valid JSON (${e.message})` : `unreadable (${(e as Error).message})`;
      }
      if (!problem && !m) problem = 'its file name is not <64-hex ID>.json';
      problem ??= recordProblem(kind, value, m![1]!, kind === 'sandbox' ? this.netnsPrefix : undefined);
      if (problem) {
        this.quarantine(kind, dir, f, m?.[1], problem);
        continue;
      }
      const rec = value as T;
      if (m![2]) rec.deleting = true;
      // Both files of one ID: the tombstone wins (the removal had started).
      if (!out.has(rec.id) || rec.deleting) out.set(rec.id, rec);
    }
    return [...out.values()];
  }

  private quarantine(kind: 'network' | 'sandbox', dir: string, f: string, id: string | undefined, reason: string): void {
    const qdir = path.join(this.dir, 'quarantine');
    const target = path.join(qdir, `${kind}-${f}.${new Date().toISOString().replace(/[:.]/g, '-')}`);
    let movedTo: string | undefined;
    try {
      fs.mkdirSync(qdir, { recursive: true, mode: 0o700 });
      fs.renameSync(path.join(dir, f), target);
      movedTo = target;
    } catch {
      /* read-only: it stays where it is, and is skipped at every load */
    }
    this.damaged.push({ kind, ...(id ? { id } : {}), file: path.join(dir, f), ...(movedTo ? { movedTo } : {}), reason });
  }
}

function openAsync(file: string, flags: number, mode: number): Promise<number> {
  return new Promise((resolve, reject) => fs.open(file, flags, mode, (e, fd) => (e ? reject(e) : resolve(fd))));
}

function writeAsync(fd: number, data: Buffer, offset: number): Promise<number> {
  return new Promise((resolve, reject) => fs.write(fd, data, offset, data.length - offset, null, (e, n) => (e ? reject(e) : resolve(n))));
}

function fsyncDir(dir: string): void {
  try {
    const fd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    /* best effort: the rename itself is atomic */
  }
}

/** A failed state write, as the user can act on it. */
export function writeError(file: string, e: unknown): YardError {
  if (e instanceof YardError) return e;
  const code = (e as NodeJS.ErrnoException).code;
  const why =
    code === 'ENOSPC' ? 'no space left on the device'
    : code === 'EDQUOT' ? 'the disk quota is exhausted'
    : code === 'EROFS' ? 'the state directory is on a read-only filesystem'
    : code === 'EACCES' || code === 'EPERM' ? 'permission denied'
    : code === 'EIO' ? 'an I/O error from the disk'
    : (e as Error).message;
  return new YardError('STATE_WRITE_FAILED', `cannot write the state file ${file}: ${why}${code ? ` (${code})` : ''}`, {
    hint: code === 'EROFS' ? 'remount the state directory read-write and retry; nothing was changed' : 'free space on (or repair) the filesystem of the state directory and retry; nothing was changed',
    cause: e,
  });
}
