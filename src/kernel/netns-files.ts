/**
 * Per-sandbox /etc files. `ip netns exec <ns>` bind-mounts every file in /etc/netns/<ns>/
 * over its namesake in /etc for the process it starts, so writing resolv.conf and hosts
 * there gives each sandbox its own without a mount namespace of ours.
 */
import fs from 'node:fs';
import path from 'node:path';

const ETC_NETNS = '/etc/netns';

export function writeSandboxFiles(netns: string, files: Record<string, string>): void {
  const dir = path.join(ETC_NETNS, netns);
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, content] of Object.entries(files)) {
    const file = path.join(dir, name);
    // Unchanged (resolv.conf on most connects): not rewritten.
    let old: string | undefined;
    try {
      old = fs.readFileSync(file, 'utf8');
      if (old === content) continue;
    } catch {
      /* not there yet */
    }
    if (old === undefined) {
      fs.writeFileSync(file, content, { mode: 0o644 });
      continue;
    }
    // In place, not rename: a running sandbox has the old inode bind-mounted, and must
    // see updates (a new network's address in /etc/hosts) as Docker's containers do. And
    // overwritten, not truncated to zero first: ext4 follows a truncation to zero with a
    // flush of the file's data when it is closed (about 1 ms), and only the tail beyond
    // the new content is cut.
    const fd = fs.openSync(file, 'r+');
    try {
      const bytes = Buffer.from(content, 'utf8');
      fs.writeSync(fd, bytes, 0, bytes.length, 0);
      if (Buffer.byteLength(old, 'utf8') > bytes.length) fs.ftruncateSync(fd, bytes.length);
    } finally {
      fs.closeSync(fd);
    }
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
