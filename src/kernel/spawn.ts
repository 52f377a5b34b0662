/**
 * Starting a process with posix_spawn (glibc's runs the child on the parent's memory until
 * it execs, as vfork does) instead of Node's spawn, which forks: a fork copies the daemon's
 * page tables and the child's exec tears them down again, about 3 ms of the main thread's
 * time per sandbox at the daemon's size, growing with its heap. posix_spawn also starts
 * the child in the calling thread's namespaces, which enter.ts relies on.
 *
 * A detached child (the daemon's sandbox processes) gets what Node's spawn gives a
 * detached child: its own session, every signal at its default disposition and none
 * blocked (the daemon ignores SIGPIPE, which would otherwise be inherited), stdin from
 * /dev/null, stdout and stderr on the given descriptor, no other descriptor of the
 * daemon's, and the given environment. An attached one (a foreground `yard run`) keeps the
 * caller's session, process group and standard descriptors.
 *
 * The daemon stays its parent, so it reaps it. On SIGCHLD, waitid(P_ALL, WNOWAIT) names an
 * exited child without reaping it; one started here is then reaped by PID and its exit
 * reported once. A child of Node's own (which Node reaps) ends the peeking, and the
 * processes started here are then each asked by PID: never waitpid(-1), which would take
 * their exits from Node.
 *
 * Unavailable (no libc through koffi, or YARD_SPAWN=node): `spawnDetached` returns
 * undefined and the caller uses Node's spawn.
 */
import koffi from 'koffi';
import os from 'node:os';

type Fn = (...args: unknown[]) => number;
interface Posix {
  spawnp: Fn;
  attrInit: Fn;
  attrDestroy: Fn;
  attrSetFlags: Fn;
  attrSetSigMask: Fn;
  attrSetSigDefault: Fn;
  faInit: Fn;
  faDestroy: Fn;
  faAddOpen: Fn;
  faAddDup2: Fn;
  faAddCloseFrom?: Fn;
  sigEmpty: Fn;
  sigFill: Fn;
  waitpid: Fn;
  waitid: Fn;
}

// glibc x86-64 / aarch64 layout sizes, rounded up (the structures are opaque here).
const ATTR_SIZE = 512;
const FILE_ACTIONS_SIZE = 256;
const SIGSET_SIZE = 128;
const POSIX_SPAWN_SETSIGDEF = 0x04;
const POSIX_SPAWN_SETSIGMASK = 0x08;
const POSIX_SPAWN_SETSID = 0x80;
const O_RDONLY = 0;
const WNOHANG = 1;
const WEXITED = 4;
const WNOWAIT = 0x01000000;
const P_ALL = 0;
/** siginfo_t: 128 bytes, si_pid at byte 16 (x86-64 and aarch64). */
const SIGINFO_SIZE = 128;
const SI_PID_OFFSET = 16;

let posix: Posix | null | undefined;

function load(): Posix | null {
  if (posix !== undefined) return posix;
  if (process.env.YARD_SPAWN === 'node') return (posix = null);
  try {
    const c = koffi.load('libc.so.6');
    const f = (decl: string) => c.func(decl) as Fn;
    let faAddCloseFrom: Fn | undefined;
    try {
      faAddCloseFrom = f('int posix_spawn_file_actions_addclosefrom_np(void *fa, int from)');
    } catch {
      faAddCloseFrom = undefined; // glibc before 2.34: descriptors are close-on-exec anyway
    }
    posix = {
      spawnp: f('int posix_spawnp(_Out_ int *pid, const char *file, void *fa, void *attr, const char **argv, const char **envp)'),
      attrInit: f('int posix_spawnattr_init(void *attr)'),
      attrDestroy: f('int posix_spawnattr_destroy(void *attr)'),
      attrSetFlags: f('int posix_spawnattr_setflags(void *attr, short flags)'),
      attrSetSigMask: f('int posix_spawnattr_setsigmask(void *attr, void *set)'),
      attrSetSigDefault: f('int posix_spawnattr_setsigdefault(void *attr, void *set)'),
      faInit: f('int posix_spawn_file_actions_init(void *fa)'),
      faDestroy: f('int posix_spawn_file_actions_destroy(void *fa)'),
      faAddOpen: f('int posix_spawn_file_actions_addopen(void *fa, int fd, const char *path, int oflag, unsigned int mode)'),
      faAddDup2: f('int posix_spawn_file_actions_adddup2(void *fa, int fd, int newfd)'),
      faAddCloseFrom,
      sigEmpty: f('int sigemptyset(void *set)'),
      sigFill: f('int sigfillset(void *set)'),
      waitpid: f('int waitpid(int pid, _Out_ int *status, int options)'),
      waitid: f('int waitid(int idtype, int id, void *info, int options)'),
    };
  } catch {
    posix = null;
  }
  return posix;
}

export type ExitListener = (code: number | null, signal: NodeJS.Signals | null) => void;

/** Processes started here and not yet reaped, with who wants to hear of their exit. */
const children = new Map<number, ExitListener[]>();

const signalNames = new Map<number, NodeJS.Signals>(Object.entries(os.constants.signals).map(([name, n]) => [n, name as NodeJS.Signals]));

/** Reap `pid` if it has exited; false while it runs. */
function reapOne(p: Posix, pid: number): boolean {
  const status = [0];
  const r = p.waitpid(pid, status, WNOHANG);
  if (r === 0) return false;
  const listeners = children.get(pid) ?? [];
  children.delete(pid);
  // r === -1: no longer a child of ours (ECHILD): its exit status is unknown.
  const s = status[0]!;
  const sig = s & 0x7f;
  const code = r === pid && sig === 0 ? (s >> 8) & 0xff : null;
  const signal = r === pid && sig !== 0 && sig !== 0x7f ? (signalNames.get(sig) ?? null) : null;
  for (const l of listeners) l(code, signal);
  return true;
}

const siginfo = Buffer.alloc(SIGINFO_SIZE);
let listening = false;

function reap(): void {
  const p = posix;
  if (!p || !children.size) return;
  // Bounded: each round reaps one process of ours or stops.
  for (let round = 0; round <= children.size; round++) {
    siginfo.fill(0);
    if (p.waitid(P_ALL, 0, siginfo, WEXITED | WNOHANG | WNOWAIT) !== 0) return; // no children at all
    const pid = siginfo.readInt32LE(SI_PID_OFFSET);
    if (pid === 0) return; // none has exited
    if (!children.has(pid) || !reapOne(p, pid)) break; // Node's own child: ask ours one by one
  }
  for (const pid of [...children.keys()]) reapOne(p, pid);
}

/**
 * Resolves true once `pid`, started here, has exited and been reaped, false after `ms`;
 * undefined when it is not a process started here (the caller polls /proc instead).
 */
export function waitExit(pid: number, ms: number): Promise<boolean> | undefined {
  const listeners = children.get(pid);
  if (!listeners) return undefined;
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    listeners.push(() => {
      clearTimeout(timer);
      resolve(true);
    });
    // It may have exited before this was asked: reap now rather than wait for the signal.
    reap();
  });
}

export interface Spawned {
  pid: number;
  /** Called once when the process exits (add listeners right after the start). */
  onExit(listener: ExitListener): void;
}

export class SpawnError extends Error {
  constructor(
    readonly errno: number,
    file: string,
  ) {
    super(`cannot run ${JSON.stringify(file)}: ${errno === 2 ? 'no such program' : errno === 13 ? 'not executable' : `errno ${errno}`}`);
  }
}

/**
 * Start `argv` (argv[0] looked up in PATH) detached, in its own session, with stdout and
 * stderr on `outFd`. Undefined when posix_spawn is unavailable here; throws SpawnError when
 * the program cannot be run.
 */
export function spawnDetached(argv: string[], outFd: number, env: NodeJS.ProcessEnv, file?: string): Spawned | undefined {
  return start(argv, env, outFd, file);
}

/**
 * Start `argv` on this process's terminal (stdin, stdout and stderr its own, in its session
 * and process group, so the terminal's signals reach it too), every signal at its default.
 * Undefined when posix_spawn is unavailable; throws SpawnError when the program cannot be run.
 */
export function spawnAttached(argv: string[], env: NodeJS.ProcessEnv, file?: string): Spawned | undefined {
  return start(argv, env, undefined, file);
}

/**
 * posix_spawn with the attributes above: detached onto `outFd`, or attached without it.
 * `file`: the program's path when the caller found it (argv[0] stays as given, as execvp leaves it).
 */
function start(argv: string[], env: NodeJS.ProcessEnv, outFd?: number, file?: string): Spawned | undefined {
  const p = load();
  if (!p) return undefined;
  // Listening before the first start: a child that exits at once still sends its SIGCHLD
  // to a handler (without one SIGCHLD is ignored and the exit would wait for the next).
  if (!listening) {
    process.on('SIGCHLD', reap);
    listening = true;
  }
  const attr = Buffer.alloc(ATTR_SIZE);
  const fa = Buffer.alloc(FILE_ACTIONS_SIZE);
  const none = Buffer.alloc(SIGSET_SIZE);
  const all = Buffer.alloc(SIGSET_SIZE);
  p.attrInit(attr);
  p.faInit(fa);
  try {
    p.sigEmpty(none);
    p.sigFill(all);
    p.attrSetFlags(attr, (outFd === undefined ? 0 : POSIX_SPAWN_SETSID) | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    p.attrSetSigMask(attr, none);
    p.attrSetSigDefault(attr, all);
    if (outFd !== undefined) {
      p.faAddOpen(fa, 0, '/dev/null', O_RDONLY, 0);
      p.faAddDup2(fa, outFd, 1);
      p.faAddDup2(fa, outFd, 2);
    } else {
      // Node marks its own standard descriptors close-on-exec; a dup2 onto itself clears that
      // in the child (glibc 2.29 and later).
      for (const fd of [0, 1, 2]) p.faAddDup2(fa, fd, fd);
    }
    p.faAddCloseFrom?.(fa, 3);
    const envp: (string | null)[] = Object.entries(env).flatMap(([k, v]) => (v === undefined ? [] : [`${k}=${v}`]));
    envp.push(null);
    const pid = [0];
    const err = p.spawnp(pid, file ?? argv[0]!, fa, attr, [...argv, null], envp);
    if (err !== 0) throw new SpawnError(err, argv[0]!);
    const listeners: ExitListener[] = [];
    children.set(pid[0]!, listeners);
    return {
      pid: pid[0]!,
      onExit: (l) => {
        listeners.push(l);
      },
    };
  } finally {
    p.faDestroy(fa);
    p.attrDestroy(attr);
  }
}
