/**
 * Per-sandbox /etc files. `ip netns exec <ns>` bind-mounts every file in /etc/netns/<ns>/
 * over its namesake in /etc for the process it starts, so writing resolv.conf and hosts
 * there gives each sandbox its own without a mount namespace of ours.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';

const ETC_NETNS = '/etc/netns';

/**
 * What this daemon last wrote to each namespace's files: a rewrite compares with it instead
 * of reading the files back, and skips the directory that is already there (a connect
 * rewrites hosts with 4 file-system calls instead of 12). Files from before a restart are
 * read back and compared, as there is nothing here for them yet.
 */
const written = new Map<string, Map<string, string>>();

/**
 * Every call here runs on libuv's worker threads: creating a file or directory on a
 * journalling file system waits while another write's fsync commits the journal, and the
 * daemon's thread must not wait with it.
 */
export async function writeSandboxFiles(netns: string, files: Record<string, string>): Promise<void> {
  const dir = path.join(ETC_NETNS, netns);
  let known = written.get(netns);
  if (!known) {
    await fsp.mkdir(dir, { recursive: true });
    known = new Map();
  }
  const mine = known;
  await Promise.all(
    Object.entries(files).map(async ([name, content]) => {
      const before = mine.get(name);
      if (before === content) return;
      await writeFile(path.join(dir, name), content, before !== undefined);
      mine.set(name, content);
    }),
  );
  written.set(netns, mine);
}

async function writeFile(file: string, content: string, wroteBefore: boolean): Promise<void> {
  let old: string | undefined;
  if (!wroteBefore) {
    // Unchanged (a restart over files written before it): not rewritten.
    try {
      old = await fsp.readFile(file, 'utf8');
      if (old === content) return;
    } catch {
      /* not there yet */
    }
    if (old === undefined) return fsp.writeFile(file, content, { mode: 0o644 });
  }
  // In place, not rename: a running sandbox has the old inode bind-mounted, and must
  // see updates (a new network's address in /etc/hosts) as Docker's containers do. And
  // overwritten, not truncated to zero first: ext4 follows a truncation to zero with a
  // flush of the file's data when it is closed (about 1 ms); only the tail beyond the new
  // content is cut.
  let fh;
  try {
    fh = await fsp.open(file, 'r+');
  } catch (e) {
    // Gone since it was written (removed by hand): made again.
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    await fsp.mkdir(path.dirname(file), { recursive: true });
    return fsp.writeFile(file, content, { mode: 0o644 });
  }
  try {
    const bytes = Buffer.from(content, 'utf8');
    await fh.write(bytes, 0, bytes.length, 0);
    if (old === undefined || Buffer.byteLength(old, 'utf8') > bytes.length) await fh.truncate(bytes.length);
  } finally {
    await fh.close();
  }
}

export function removeSandboxFiles(netns: string): void {
  written.delete(netns);
  fs.rmSync(path.join(ETC_NETNS, netns), { recursive: true, force: true });
}

export function listSandboxFileDirs(): string[] {
  try {
    return fs.readdirSync(ETC_NETNS);
  } catch {
    return [];
  }
}
