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
    // Unchanged (resolv.conf on most connects): not rewritten. A rewrite truncates the file
    // in place, which ext4 follows with a flush of its data when it is closed.
    try {
      if (fs.readFileSync(file, 'utf8') === content) continue;
    } catch {
      /* not there yet */
    }
    // In place, not rename: a running sandbox has the old inode bind-mounted, and must
    // see updates (a new network's address in /etc/hosts) as Docker's containers do.
    fs.writeFileSync(file, content, { mode: 0o644 });
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
