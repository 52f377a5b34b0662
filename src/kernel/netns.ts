/**
 * Named network namespaces without a process: `netns.add`, `netns.del` and a sysctl inside
 * a namespace, done by the daemon itself through libc (koffi), the way `ip netns add/del`
 * and `ip netns exec NS sysctl -w` do them:
 *
 *  - add: /run/netns exists and is a shared mount (bind-mounted onto itself first if it is
 *    no mount point, as ip does: namespaces mounted there from any mount namespace are seen
 *    in all), the file /run/netns/NAME is created (O_EXCL), a new namespace is made with
 *    unshare(CLONE_NEWNET) on the calling thread and /proc/thread-self/ns/net is
 *    bind-mounted onto the file; then the thread goes back home (setns, checked; the
 *    daemon aborts if it cannot, see netns-socket.ts).
 *  - del: umount2(MNT_DETACH) and unlink, as `ip netns del`.
 *  - sysctl in a namespace: setns into it, write /proc/sys/..., setns back.
 * Each is synchronous: no other JavaScript runs while the thread is elsewhere.
 *
 * The pool: the daemon keeps a few fresh namespaces ready (held by open descriptors of
 * their nsfs files, not by a name), made while it is idle; `add` takes one and only
 * bind-mounts it under the sandbox's name. A namespace held only by a descriptor vanishes
 * with the process, so a killed daemon leaves nothing behind and there is nothing for
 * reconcile to find; closing the descriptors (daemon stop) frees them the same way.
 *
 * Without koffi or libc (or with YARD_NETNS=ip) every call answers `undefined` and the
 * caller runs `ip` instead.
 */
import fs from 'node:fs';
import koffi from 'koffi';
import { sysctlPath, type KernelOp } from '../plan/ops.js';
import { NETNS_DIR, rememberHome, returnHome } from './netns-socket.js';

const CLONE_NEWNET = 0x40000000;
const MS_BIND = 0x1000;
const MS_REC = 0x4000;
const MS_SHARED = 0x100000;
const MNT_DETACH = 2;
const EINVAL = 22;
const SELF_NS = '/proc/thread-self/ns/net';

/** The namespace and mount calls of libc, shared with enter.ts. */
export interface NsLibc {
  unshare(flags: number): number;
  setns(fd: number, nstype: number): number;
  mount(source: string | null, target: string, fstype: string | null, flags: number, data: null): number;
  umount2(target: string, flags: number): number;
}
type Libc = NsLibc;

let loaded: NsLibc | null | undefined;
/** libc's namespace and mount calls through koffi; null where koffi or libc is missing. */
export function nsLibc(): NsLibc | null {
  if (loaded !== undefined) return loaded;
  try {
    const lib = koffi.load('libc.so.6');
    loaded = {
      unshare: lib.func('int unshare(int flags)'),
      setns: lib.func('int setns(int fd, int nstype)'),
      mount: lib.func('int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const void *data)'),
      umount2: lib.func('int umount2(const char *target, int flags)'),
    } as NsLibc;
  } catch {
    loaded = null;
  }
  return loaded;
}

let libc: Libc | null | undefined;
function getLibc(): Libc | null {
  if (libc !== undefined) return libc;
  if (process.env.YARD_NETNS === 'ip') return (libc = null);
  libc = nsLibc();
  if (libc) rememberHome();
  return libc;
}

export function errText(): string {
  const n = koffi.errno();
  const names: Record<number, string> = {
    1: 'Operation not permitted', 2: 'No such file or directory', 12: 'Cannot allocate memory', 13: 'Permission denied',
    16: 'Device or resource busy', 22: 'Invalid argument', 24: 'Too many open files', 28: 'No space left on device',
  };
  return names[n] ?? `errno ${n}`;
}

let runDirShared = false;
/** /run/netns exists and is a shared mount point (once per process: ip checks it on every add). */
function ensureRunDir(c: Libc): string | null {
  if (runDirShared) return null;
  fs.mkdirSync(NETNS_DIR, { recursive: true, mode: 0o755 });
  if (c.mount('', NETNS_DIR, 'none', MS_SHARED | MS_REC, null) !== 0) {
    if (koffi.errno() !== EINVAL) return `mount --make-shared ${NETNS_DIR}: ${errText()}`;
    // Not a mount point yet: make it one, then shared.
    if (c.mount(NETNS_DIR, NETNS_DIR, 'none', MS_BIND | MS_REC, null) !== 0) return `mount --bind ${NETNS_DIR} ${NETNS_DIR}: ${errText()}`;
    if (c.mount('', NETNS_DIR, 'none', MS_SHARED | MS_REC, null) !== 0) return `mount --make-shared ${NETNS_DIR}: ${errText()}`;
  }
  runDirShared = true;
  return null;
}

/**
 * Sysctls every sandbox plan sets in a new namespace, set while the thread is inside it
 * after the unshare: new interfaces start without IPv6 (ops.ts ipv6OffByDefaultOp). The
 * plan's own op for them is then already done (sysctlInNetns skips it).
 */
const PRESET: [key: string, value: string][] = [['net.ipv6.conf.default.disable_ipv6', '1']];
/** Namespace name -> the `key=value` sysctls already set in it when it was made. */
const presetIn = new Map<string, Set<string>>();

/** Set PRESET in the thread's current (new) namespace; what was set, as `key=value`. */
function applyPreset(): Set<string> {
  const done = new Set<string>();
  for (const [key, value] of PRESET) {
    try {
      fs.writeFileSync(sysctlPath(key), value);
      done.add(`${key}=${value}`);
    } catch {
      /* no IPv6 in this kernel: the plan's op finds that out itself */
    }
  }
  return done;
}

/** A new namespace, held by a descriptor of its nsfs file (the thread is home again when this returns). */
function newNamespaceFd(c: Libc): { fd: number; preset: Set<string> } | string {
  if (c.unshare(CLONE_NEWNET) !== 0) return `unshare(CLONE_NEWNET): ${errText()}`;
  try {
    const preset = applyPreset();
    return { fd: fs.openSync(SELF_NS, 'r'), preset };
  } catch (e) {
    return (e as Error).message;
  } finally {
    returnHome();
  }
}

// --- the pool ---------------------------------------------------------------------------

const pool: { fd: number; preset: Set<string> }[] = [];
let poolDepth = 0;
let refilling: NodeJS.Immediate | undefined;

/** Namespaces made, and taken from the pool, since start (for the log and the tests). */
export const netnsStats = { made: 0, fromPool: 0 };

function refillSoon(): void {
  if (refilling || pool.length >= poolDepth) return;
  // One namespace per turn of the event loop: requests that arrive meanwhile go first.
  refilling = setImmediate(() => {
    refilling = undefined;
    const c = getLibc();
    if (!c || pool.length >= poolDepth) return;
    const made = newNamespaceFd(c);
    if (typeof made === 'string') return; // the next add makes its own and reports the error
    netnsStats.made++;
    pool.push(made);
    refillSoon();
  });
}

/** Keep `depth` fresh namespaces ready (the daemon, once it serves); false: in-process namespaces are unavailable. */
export function enableNetnsPool(depth = 8): boolean {
  if (!getLibc()) return false;
  poolDepth = depth;
  refillSoon();
  return true;
}

/** Free the pool's namespaces (daemon stop). */
export function closeNetnsPool(): void {
  poolDepth = 0;
  if (refilling) clearImmediate(refilling);
  refilling = undefined;
  for (const { fd } of pool.splice(0)) fs.closeSync(fd);
}

export function netnsPoolSize(): number {
  return pool.length;
}

// --- the ops ----------------------------------------------------------------------------

/** `ip netns add NAME`: a pooled namespace when there is one, else a new one. */
function addNetns(c: Libc, name: string): string | null {
  const dirErr = ensureRunDir(c);
  if (dirErr) return dirErr;
  const target = `${NETNS_DIR}/${name}`;
  try {
    fs.closeSync(fs.openSync(target, fs.constants.O_RDONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return `Cannot create namespace file "${target}": ${code === 'EEXIST' ? 'File exists' : (e as Error).message}`;
  }
  const pooled = pool.shift();
  let err: string | null = null;
  let preset = new Set<string>();
  if (pooled !== undefined) {
    netnsStats.fromPool++;
    if (c.mount(`/proc/self/fd/${pooled.fd}`, target, 'none', MS_BIND, null) !== 0) err = `Bind ${target} -> pooled namespace failed: ${errText()}`;
    fs.closeSync(pooled.fd);
    preset = pooled.preset;
    refillSoon();
  } else if (c.unshare(CLONE_NEWNET) !== 0) {
    err = `Failed to create a new network namespace "${name}": ${errText()}`;
  } else {
    netnsStats.made++;
    try {
      preset = applyPreset();
      if (c.mount(SELF_NS, target, 'none', MS_BIND, null) !== 0) err = `Bind ${SELF_NS} -> ${target} failed: ${errText()}`;
    } finally {
      returnHome();
    }
  }
  if (err) fs.rmSync(target, { force: true });
  else presetIn.set(name, preset);
  return err;
}

/** `ip netns del NAME`. */
function delNetns(c: Libc, name: string): string | null {
  const target = `${NETNS_DIR}/${name}`;
  presetIn.delete(name);
  c.umount2(target, MNT_DETACH);
  try {
    fs.unlinkSync(target);
    return null;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return `Cannot remove namespace file "${target}": ${code === 'ENOENT' ? 'No such file or directory' : (e as Error).message}`;
  }
}

/** `ip netns exec NS sysctl -w KEY=VALUE`. */
function sysctlInNetns(c: Libc, ns: string, key: string, value: string): string | null {
  // Set when the namespace was made (PRESET): no setns round trip.
  if (presetIn.get(ns)?.has(`${key}=${value}`)) return null;
  const target = `${NETNS_DIR}/${ns}`;
  let fd: number;
  try {
    fd = fs.openSync(target, 'r');
  } catch (e) {
    return `Cannot open network namespace "${ns}": ${(e as Error).message}`;
  }
  try {
    const want = fs.fstatSync(fd);
    if (c.setns(fd, CLONE_NEWNET) !== 0) return `setns into ${target}: ${errText()}`;
    try {
      const now = fs.statSync(SELF_NS);
      if (now.ino !== want.ino || now.dev !== want.dev) return `setns into ${target} left the thread in another namespace`;
      fs.writeFileSync(sysctlPath(key), value);
      return null;
    } catch (e) {
      return `sysctl: cannot set ${key}: ${(e as Error).message}`;
    } finally {
      returnHome();
    }
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Run a namespace op in-process: null on success, the error text on failure, undefined when
 * the op is not one of these or libc is unavailable (the caller runs `ip`).
 */
export function runNetnsOp(op: KernelOp): string | null | undefined {
  if (op.op !== 'netns.add' && op.op !== 'netns.del' && !(op.op === 'sysctl.set' && op.ns)) return undefined;
  const c = getLibc();
  if (!c) return undefined;
  if (op.op === 'netns.add') return addNetns(c, op.name);
  if (op.op === 'netns.del') return delNetns(c, op.name);
  return sysctlInNetns(c, op.ns!, op.key, op.value);
}
