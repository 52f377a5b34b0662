/**
 * Control groups as the machine mounts them, for processes that need them inside a
 * private mount namespace. `ip netns exec` mounts a fresh /sys for the namespace, which
 * hides /sys/fs/cgroup: a container engine started that way finds no cgroups. The same
 * hierarchies can be mounted again there (mounting a v1 hierarchy with the same controller
 * set attaches to the existing one), so the engine's cgroups are the machine's.
 *
 * Parsing is pure; the readers and `removeCgroupTree` touch /proc and /sys/fs/cgroup.
 */
import fs from 'node:fs';
import path from 'node:path';

export const CGROUP_ROOT = '/sys/fs/cgroup';

export interface CgroupMount {
  /** Absolute mount point (under /sys/fs/cgroup, or /sys/fs/cgroup itself). */
  mountPoint: string;
  fsType: 'cgroup' | 'cgroup2' | 'tmpfs';
  /** Options for `mount -o`: the per-mount flags that matter and the super-block options that pick the hierarchy. */
  options: string[];
}

/** mountinfo escapes blanks, tabs, newlines and backslashes as octal (`\040`). */
function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

const PER_MOUNT_FLAGS = new Set(['nosuid', 'nodev', 'noexec']);

/**
 * The cgroup file systems mounted at or below `root`, in mount order, from the text of a
 * /proc/<pid>/mountinfo. A mount point mounted twice keeps only its last (visible) mount.
 */
export function parseCgroupMounts(mountinfo: string, root = CGROUP_ROOT): CgroupMount[] {
  const byPoint = new Map<string, CgroupMount>();
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(' ');
    const right = line.slice(sep + 3).split(' ');
    const mountPoint = unescape(left[4] ?? '');
    const fsType = right[0];
    if (mountPoint !== root && !mountPoint.startsWith(`${root}/`)) continue;
    if (fsType !== 'cgroup' && fsType !== 'cgroup2' && fsType !== 'tmpfs') continue;
    if (fsType === 'tmpfs' && mountPoint !== root) continue;
    const perMount = (left[5] ?? '').split(',').filter((o) => PER_MOUNT_FLAGS.has(o));
    const superOpts = (right[2] ?? '')
      .split(',')
      // rw/ro and the per-mount flags come from the mount's own field; a release agent is
      // the machine's business, and tmpfs sizes are not needed for a directory of mount points.
      .filter((o) => o && o !== 'rw' && o !== 'ro' && !PER_MOUNT_FLAGS.has(o) && !o.startsWith('release_agent=') && !o.startsWith('size=') && !o.startsWith('nr_inodes=') && !o.startsWith('inode64'));
    byPoint.delete(mountPoint);
    byPoint.set(mountPoint, { mountPoint, fsType, options: [...perMount, ...superOpts] });
  }
  return [...byPoint.values()];
}

/** The cgroup mounts of the calling process's mount namespace. */
export function readCgroupMounts(): CgroupMount[] {
  return parseCgroupMounts(fs.readFileSync('/proc/self/mountinfo', 'utf8'));
}

/** Symbolic links directly in /sys/fs/cgroup (e.g. `cpu -> cpu,cpuacct` on a co-mounted hierarchy). */
export function readCgroupLinks(root = CGROUP_ROOT): { name: string; target: string }[] {
  const out: { name: string; target: string }[] = [];
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(root, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    if (e.isSymbolicLink()) out.push({ name: e.name, target: fs.readlinkSync(path.join(root, e.name)) });
  }
  return out;
}

/** `/sys/fs/cgroup/<hierarchy>/<name>` for every hierarchy where that cgroup exists. */
export function cgroupDirs(name: string, mounts: CgroupMount[] = readCgroupMounts()): string[] {
  const rel = name.replace(/^\/+/, '');
  if (!rel || rel.split('/').includes('..')) throw new Error(`not a cgroup name: ${JSON.stringify(name)}`);
  return mounts
    .filter((m) => m.fsType !== 'tmpfs')
    .map((m) => path.join(m.mountPoint, rel))
    .filter((d) => fs.existsSync(d));
}

/** Every directory of a cgroup tree, deepest first. */
function treeDeepestFirst(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) if (e.isDirectory()) walk(path.join(d, e.name));
    out.push(d);
  };
  walk(dir);
  return out;
}

/** PIDs of every process in the cgroup trees (any hierarchy), without duplicates. */
export function cgroupTreePids(dirs: string[]): number[] {
  const pids = new Set<number>();
  for (const dir of dirs) {
    for (const d of treeDeepestFirst(dir)) {
      try {
        for (const p of fs.readFileSync(path.join(d, 'cgroup.procs'), 'utf8').split('\n')) if (/^\d+$/.test(p)) pids.add(Number(p));
      } catch {
        /* removed meanwhile */
      }
    }
  }
  return [...pids];
}

/**
 * Remove cgroup trees (rmdir, deepest first). A cgroup whose last process has just exited
 * can refuse removal for a moment (EBUSY), so each pass is retried for up to `waitMs`.
 * Returns the directories that are still there.
 */
export async function removeCgroupTrees(dirs: string[], waitMs = 3_000): Promise<string[]> {
  const deadline = Date.now() + waitMs;
  let left: string[] = dirs.filter((d) => fs.existsSync(d));
  for (let pass = 0; left.length && pass < 100; pass++) {
    for (const top of left) {
      for (const d of treeDeepestFirst(top)) {
        try {
          fs.rmdirSync(d);
        } catch {
          /* busy or gone: the next pass sees */
        }
      }
    }
    left = left.filter((d) => fs.existsSync(d));
    if (!left.length || Date.now() >= deadline) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return left;
}
