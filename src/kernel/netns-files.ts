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
 * Every call here runs on libuv's worker threads: creating a file or directory on a
 * journalling file system waits while another write's fsync commits the journal, and the
 * daemon's thread must not wait with it.
 */
export async function writeSandboxFiles(netns: string, files: Record<string, string>): Promise<void> {
  const dir = path.join(ETC_NETNS, netns);
  await fsp.mkdir(dir, { recursive: true });
  await Promise.all(Object.entries(files).map(([name, content]) => writeFile(path.join(dir, name), content)));
}

async function writeFile(file: string, content: string): Promise<void> {
  // Unchanged (resolv.conf on most connects): not rewritten.
  let old: string | undefined;
  try {
    old = await fsp.readFile(file, 'utf8');
    if (old === content) return;
  } catch {
    /* not there yet */
  }
  if (old === undefined) return fsp.writeFile(file, content, { mode: 0o644 });
  // In place, not rename: a running sandbox has the old inode bind-mounted, and must
  // see updates (a new network's address in /etc/hosts) as Docker's containers do. And
  // overwritten, not truncated to zero first: ext4 follows a truncation to zero with a
  // flush of the file's data when it is closed (about 1 ms), and only the tail beyond
  // the new content is cut.
  const fh = await fsp.open(file, 'r+');
  try {
    const bytes = Buffer.from(content, 'utf8');
    await fh.write(bytes, 0, bytes.length, 0);
    if (Buffer.byteLength(old, 'utf8') > bytes.length) await fh.truncate(bytes.length);
  } finally {
    await fh.close();
  }
}

export function removeSandboxFiles(netns: string): void {
  fs.rmSync(path.join(ETC_NETNS, netns), { recursive: true, force: true });
}

export function listSandboxFileDirs(): string[] {
  try {
    return fs.readdirSync(ETC_NETNS);
  } catch {
    return [];
  }
}
