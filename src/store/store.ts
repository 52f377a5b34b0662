/**
 * The embedded store: one JSON file per network and per sandbox (endpoints live inside
 * their sandbox's file), so every engine operation commits by writing exactly one file.
 * A write goes to a temp file, is fsynced, then renamed over the old one: a `kill -9` at
 * any instant leaves either the old or the new record, never a torn one.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { NetworkRecord, SandboxRecord, State } from '../model/types.js';

export interface Store {
  load(): State;
  putNetwork(n: NetworkRecord): void;
  deleteNetwork(id: string): void;
  putSandbox(s: SandboxRecord): void;
  deleteSandbox(id: string): void;
}

export class JsonStore implements Store {
  private readonly netDir: string;
  private readonly sbDir: string;

  constructor(readonly dir: string, private readonly durable = true) {
    this.netDir = path.join(dir, 'networks');
    this.sbDir = path.join(dir, 'sandboxes');
    fs.mkdirSync(this.netDir, { recursive: true, mode: 0o700 });
    fs.mkdirSync(this.sbDir, { recursive: true, mode: 0o700 });
  }

  load(): State {
    return {
      networks: new Map(this.readAll<NetworkRecord>(this.netDir).map((n) => [n.id, n])),
      sandboxes: new Map(this.readAll<SandboxRecord>(this.sbDir).map((s) => [s.id, s])),
    };
  }

  putNetwork(n: NetworkRecord): void {
    this.write(path.join(this.netDir, `${n.id}.json`), n);
  }
  deleteNetwork(id: string): void {
    fs.rmSync(path.join(this.netDir, `${id}.json`), { force: true });
  }
  putSandbox(s: SandboxRecord): void {
    this.write(path.join(this.sbDir, `${s.id}.json`), s);
  }
  deleteSandbox(id: string): void {
    fs.rmSync(path.join(this.sbDir, `${id}.json`), { force: true });
  }

  private write(file: string, value: unknown): void {
    const tmp = `${file}.tmp`;
    const fd = fs.openSync(tmp, 'w', 0o600);
    try {
      fs.writeSync(fd, JSON.stringify(value, null, 1));
      if (this.durable) fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  }

  private readAll<T>(dir: string): T[] {
    const out: T[] = [];
    for (const f of fs.readdirSync(dir)) {
      const full = path.join(dir, f);
      // A temp file is a write that never reached its rename: the old record stands.
      if (f.endsWith('.tmp')) {
        fs.rmSync(full, { force: true });
        continue;
      }
      if (!f.endsWith('.json')) continue;
      out.push(JSON.parse(fs.readFileSync(full, 'utf8')) as T);
    }
    return out;
  }
}
