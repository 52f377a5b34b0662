/**
 * Starting a sandbox's process inside the sandbox, with no program in between: the daemon's
 * thread enters the sandbox's namespaces, starts the command there with posix_spawn (the
 * child inherits the thread's namespaces) and goes home. What the process then sees is what
 * `ip netns exec NS` gives it, in a mount namespace of its own that is private (as
 * `unshare -m --propagation private` would make it):
 *
 *  - the sandbox's network namespace, and a fresh /sys that shows its links;
 *  - every file of /etc/netns/NS bind-mounted over /etc: its resolv.conf and hosts must be
 *    there (or, for a runtime's sandbox, no such directory at all);
 *  - no other namespace file: /run/netns is unmounted in its view, so a sandbox's process
 *    holds no other sandbox's namespace alive after that sandbox is removed (a copy of the
 *    mount would, for as long as the process runs).
 *
 * Its mount namespace is copied from a template made once: the daemon's own, a slave of it
 * (so mounts made on the machine later still reach new sandboxes), without /run/netns and
 * without the machine's /sys (each start mounts the sandbox's). A
 * copy of the daemon's own would cost time in proportion to the mounts it holds, one per
 * namespace: with 1,000 sandboxes about 2 ms of the daemon's thread for every start.
 *
 * A network namespace is per thread, a mount namespace per thread whose file system
 * attributes (root, working directory, umask) are its own: the thread first unshares those
 * (CLONE_FS; libuv's worker threads keep theirs), then setns/unshare as below, all
 * synchronously (no other JavaScript runs meanwhile). setns back into the daemon's own
 * mount namespace resets the thread's working directory to its root: it is set again.
 * A thread that cannot get home aborts the daemon (see netns-socket.ts).
 *
 * Unavailable (no libc through koffi, YARD_SPAWN=node, or the template cannot be made):
 * `spawnInSandbox` returns undefined and the caller runs `ip netns exec` instead.
 */
import fs from 'node:fs';
import path from 'node:path';
import koffi from 'koffi';
import { errText, nsLibc, type NsLibc } from './netns.js';
import { NETNS_DIR, rememberHome, returnHome } from './netns-socket.js';
import { SpawnError, type Spawned } from './spawn.js';

const CLONE_FS = 0x200;
const CLONE_NEWNS = 0x20000;
const CLONE_NEWNET = 0x40000000;
const MS_RDONLY = 0x1;
const MS_BIND = 0x1000;
const MS_REC = 0x4000;
const MS_PRIVATE = 0x40000;
const MS_SLAVE = 0x80000;
const MNT_DETACH = 2;
const ENOENT = 2;
const EINVAL = 22;
/** The sandbox's own files in /etc/netns/<ns>: without them its process is not started. */
const REQUIRED = new Set(['resolv.conf', 'hosts']);
const SELF_MNT = '/proc/thread-self/ns/mnt';
const SELF_NET = '/proc/thread-self/ns/net';
/** The search path when the command's environment has none (execvp's default, plus sbin). */
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

type Libc = NsLibc;
const getLibc = (): Libc | null => (process.env.YARD_SPAWN === 'node' ? null : nsLibc());

/** Why entering failed, with the kernel's word for the last system call's failure (`syscall`). */
export class EnterError extends Error {
  constructor(what: string, syscall = true) {
    super(syscall ? `${what}: ${errText()}` : what);
    this.name = 'EnterError';
  }
}

interface NsRef {
  fd: number;
  ino: number;
  dev: number;
}
const sameNs = (file: string, ref: { ino: number; dev: number }) => {
  const st = fs.statSync(file);
  return st.ino === ref.ino && st.dev === ref.dev;
};
function openNs(file: string): NsRef {
  const fd = fs.openSync(file, 'r');
  const st = fs.fstatSync(fd);
  return { fd, ino: st.ino, dev: st.dev };
}

let homeMnt: NsRef | undefined;
/** undefined: not tried yet; a string: it cannot be made here (why). */
let template: NsRef | string | undefined;

/** The thread's working directory, to go back to after setns resets it (undefined: it was removed). */
function workingDir(): string | undefined {
  try {
    return process.cwd();
  } catch {
    return undefined;
  }
}
function backTo(cwd: string | undefined): void {
  try {
    if (cwd !== undefined) process.chdir(cwd);
  } catch {
    /* gone meanwhile: the root it was reset to will do */
  }
}

/** Back into the daemon's own mount namespace; aborts the daemon when it cannot. */
function mountHome(c: Libc, home: NsRef): void {
  if (c.setns(home.fd, CLONE_NEWNS) !== 0 || !sameNs(SELF_MNT, home)) {
    process.stderr.write(`switchyard: FATAL: could not return to the daemon's own mount namespace (errno ${koffi.errno()}); aborting\n`);
    process.abort();
  }
}

/**
 * Take every namespace file out of the thread's (new, private) mount namespace: /run/netns
 * itself when it is a mount point (ip and the daemon make it one), else each mount under it.
 */
function dropNamespaceFiles(c: Libc): void {
  if (c.umount2(NETNS_DIR, MNT_DETACH) === 0 || koffi.errno() !== EINVAL) return;
  const under = `${NETNS_DIR}/`;
  for (const line of fs.readFileSync('/proc/thread-self/mountinfo', 'utf8').split('\n')) {
    const point = line.split(' ')[4];
    if (point?.startsWith(under)) c.umount2(point, MNT_DETACH);
  }
}

/** The template mount namespace (see above), made on first use; a string says why not. */
function getTemplate(c: Libc): NsRef | string {
  if (template !== undefined) return template;
  try {
    rememberHome();
    homeMnt ??= openNs(SELF_MNT);
    if (c.unshare(CLONE_FS) !== 0) throw new EnterError('unshare(CLONE_FS)');
    const cwd = workingDir();
    if (c.unshare(CLONE_NEWNS) !== 0) throw new EnterError('unshare(CLONE_NEWNS)');
    try {
      if (c.mount(null, '/', null, MS_REC | MS_SLAVE, null) !== 0) throw new EnterError('mount --make-rslave /');
      dropNamespaceFiles(c);
      // Each start mounts a /sys of its sandbox's namespace here; the machine's (with its submounts) is not copied.
      if (c.umount2('/sys', MNT_DETACH) !== 0 && koffi.errno() !== EINVAL) throw new EnterError('umount /sys');
      template = openNs(SELF_MNT);
    } finally {
      mountHome(c, homeMnt);
      backTo(cwd);
    }
  } catch (e) {
    template = (e as Error).message;
  }
  return template;
}

/** argv[0] as execvp would find it in `searchPath`, in the thread's current view of the files. */
function resolveProgram(file: string, searchPath: string): string {
  if (file.includes('/')) return file;
  for (const dir of searchPath.split(':')) {
    const candidate = path.join(dir || '.', file);
    // The daemon runs as root: any execute bit will do (a throwing access() costs more than the search).
    const st = fs.statSync(candidate, { throwIfNoEntry: false });
    if (st?.isFile() && st.mode & 0o111) return candidate;
  }
  throw new SpawnError(2, file);
}

/**
 * Start `argv` inside sandbox namespace `netns` (see above) with `start` (spawn.ts:
 * detached or attached), which gets the program's path found in the sandbox's view and
 * argv as given. Undefined when this way
 * is unavailable here (the caller runs `ip netns exec`); throws SpawnError when the program
 * cannot be run, EnterError when the sandbox cannot be entered.
 */
export function spawnInSandbox(netns: string, argv: string[], env: NodeJS.ProcessEnv, start: (file: string, argv: string[]) => Spawned | undefined): Spawned | undefined {
  const c = getLibc();
  if (!c) return undefined;
  const tmpl = getTemplate(c);
  if (typeof tmpl === 'string') return undefined;
  const home = homeMnt!;
  const etc = `/etc/netns/${netns}`;
  // None for a runtime's sandbox (the runtime gives its container its files).
  let files: string[] | undefined;
  try {
    files = fs.readdirSync(etc);
  } catch {
    files = undefined;
  }
  for (const f of REQUIRED) if (files && !files.includes(f)) throw new EnterError(`${etc}/${f} is missing`, false);
  let net: NsRef;
  try {
    net = openNs(`${NETNS_DIR}/${netns}`);
  } catch (e) {
    throw new EnterError(`the sandbox's namespace: ${(e as Error).message}`, false);
  }
  const cwd = workingDir();
  try {
    // A thread made by this one since shares its file system attributes: unshare them again.
    if (c.unshare(CLONE_FS) !== 0) throw new EnterError('unshare(CLONE_FS)');
    if (c.setns(net.fd, CLONE_NEWNET) !== 0) throw new EnterError(`setns into ${NETNS_DIR}/${netns}`);
    try {
      if (!sameNs(SELF_NET, net)) throw new EnterError(`setns into ${NETNS_DIR}/${netns} left the thread elsewhere`, false);
      if (c.setns(tmpl.fd, CLONE_NEWNS) !== 0) throw new EnterError('setns into the template mount namespace');
      try {
        if (c.unshare(CLONE_NEWNS) !== 0) throw new EnterError('unshare(CLONE_NEWNS)');
        if (c.mount(null, '/', null, MS_REC | MS_PRIVATE, null) !== 0) throw new EnterError('mount --make-rprivate /');
        // Mounted on the machine after the template was made (ip netns add makes it a mount point once).
        dropNamespaceFiles(c);
        // A /sys of the sandbox's namespace, as ip netns exec mounts it (read-only where a writable one is refused).
        if (c.mount(netns, '/sys', 'sysfs', 0, null) !== 0 && c.mount(netns, '/sys', 'sysfs', MS_RDONLY, null) !== 0) throw new EnterError('mount sysfs on /sys');
        // Its resolv.conf and hosts must be there: a process that saw the machine's would ask
        // the machine's resolver. Any other file there goes over /etc where it can, as ip does.
        for (const f of files ?? []) {
          if (c.mount(`${etc}/${f}`, `/etc/${f}`, 'none', MS_BIND, null) === 0 || !REQUIRED.has(f)) continue;
          const missing = koffi.errno() === ENOENT;
          throw new EnterError(`bind ${etc}/${f} on /etc/${f}${missing ? ` (/etc/${f} must exist on the machine; a dangling symbolic link cannot be mounted over)` : ''}`);
        }
        return start(resolveProgram(argv[0]!, env.PATH ?? DEFAULT_PATH), argv);
      } finally {
        mountHome(c, home);
      }
    } finally {
      returnHome();
    }
  } finally {
    fs.closeSync(net.fd);
    backTo(cwd);
  }
}
