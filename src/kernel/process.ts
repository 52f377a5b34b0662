/**
 * Sandbox processes. A detached sandbox's process is started by the daemon inside the
 * sandbox (enter.ts: its network namespace, a private mount namespace with a /sys of its
 * own and /etc/netns/<ns>/{resolv.conf,hosts} over /etc), in its own session, so it
 * outlives the daemon. A foreground `yard run` and `yard exec` start theirs the same way on
 * the CLI's terminal (startAttachedInSandbox). Where that is unavailable, through
 * `ip netns exec` and `unshare -m` (see sandboxExecArgv), which give it the same. It is identified by PID plus its start time from
 * /proc/<pid>/stat, so a recycled PID is never mistaken for it. PID 1 on these machines
 * reaps orphans late, so a zombie counts as exited.
 */
import { YardError } from '../errors.js';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { run } from './exec.js';
import { EnterError, spawnInSandbox } from './enter.js';
import { spawnAttached, spawnDetached, SpawnError, waitExit, type ExitListener } from './spawn.js';

export function procStart(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name, which may itself contain spaces.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (rest[0] === 'Z' || rest[0] === 'X') return undefined;
    return rest[19]; // field 22 (starttime) is the 20th after the name
  } catch {
    return undefined;
  }
}

export function isAlive(pid: number, start?: string): boolean {
  const s = procStart(pid);
  return s !== undefined && (start === undefined || s === start);
}

/**
 * An exited child of this daemon it has not reaped yet (a zombie whose parent is the
 * daemon): its exit code reaches the daemon when it is reaped, moments later.
 */
export function unreaped(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return rest[0] === 'Z' && Number(rest[1]) === process.pid;
  } catch {
    return false;
  }
}

export interface Started {
  pid: number;
  pidStart: string;
  /** Called once when the process exits, while this daemon is its parent. */
  onExit(listener: ExitListener): void;
}

let unshareBin: string | null | undefined;
function findUnshare(): string | null {
  if (unshareBin !== undefined) return unshareBin;
  unshareBin = null;
  for (const dir of (process.env.PATH || '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    try {
      fs.accessSync(`${dir}/unshare`, fs.constants.X_OK);
      unshareBin = `${dir}/unshare`;
      break;
    } catch {
      /* next */
    }
  }
  return unshareBin;
}

/**
 * The command line that runs `command` in sandbox namespace `netns` (the daemon's own for
 * null). `ip netns exec` gives the process a mount namespace that is a slave of the host's,
 * so every namespace later mounted under /run/netns would be copied into it: with N
 * sandboxes running, each create and remove would cost N mount copies. `unshare -m` (its
 * default propagation is private, and it execs without forking, so the PID stays the one
 * started) cuts the process off from that propagation, as a container's mounts are.
 */
export function sandboxExecArgv(netns: string | null, command: string[]): [string, string[]] {
  if (!netns) return [command[0]!, command.slice(1)];
  const unshare = findUnshare();
  return ['ip', ['netns', 'exec', netns, ...(unshare ? [unshare, '-m', '--propagation', 'private', '--'] : []), ...command]];
}

const cannotRun = (command: string[]) =>
  new YardError('INVALID_ARGUMENT', `cannot run ${JSON.stringify(command[0])}: no such program, or not executable`, {
    field: 'COMMAND',
    hint: 'give a program that exists in the sandbox\'s view of the file system, e.g. sleep or sh -c "..."',
  });

/**
 * Start a sandbox's command detached (its own session, so it outlives the daemon), output
 * appended to `logFile`: started by the daemon inside the sandbox (enter.ts) where it can,
 * else through `ip netns exec` (sandboxExecArgv) with posix_spawn (spawn.ts), else with
 * Node's spawn.
 */
export function startSandboxProcess(netns: string | null, command: string[], logFile: string, env?: NodeJS.ProcessEnv): Started {
  const fd = fs.openSync(logFile, 'a', 0o600);
  try {
    const [cmd, args] = sandboxExecArgv(netns, command);
    let spawned;
    try {
      const e = env ?? process.env;
      spawned = (netns ? spawnInSandbox(netns, command, e, (file, a) => spawnDetached(a, fd, e, file)) : undefined) ?? spawnDetached([cmd, ...args], fd, e);
    } catch (e) {
      if (e instanceof SpawnError) throw cannotRun(command);
      if (e instanceof EnterError) throw enterFailed(netns!, e);
      throw e;
    }
    if (spawned) return { pid: spawned.pid, pidStart: procStart(spawned.pid) ?? '', onExit: spawned.onExit };
    const child = spawn(cmd, args, { detached: true, stdio: ['ignore', fd, fd], env: env ?? process.env });
    // A command that cannot be run (not found, not executable) is reported by an 'error'
    // event after this returns: without a listener it would end the daemon.
    child.on('error', () => {});
    if (child.pid === undefined) throw cannotRun(command);
    child.unref();
    const pidStart = procStart(child.pid) ?? '';
    return { pid: child.pid, pidStart, onExit: (l) => child.once('exit', l) };
  } finally {
    fs.closeSync(fd);
  }
}

/** A failed entry into the sandbox, for the caller. */
function enterFailed(netns: string, e: EnterError): YardError {
  return new YardError('KERNEL_FAILED', `cannot start the command inside sandbox namespace ${netns}: ${e.message}`, {
    hint: 'see `yard doctor`; the sandbox namespace or /etc/netns may have been changed by hand',
  });
}

/**
 * Start `command` inside sandbox namespace `netns` on this process's terminal (a foreground
 * `yard run`, `yard exec`), as the daemon starts a detached one (enter.ts). Undefined when
 * that way is unavailable here: the caller runs sandboxExecArgv's command line instead.
 */
export function startAttachedInSandbox(netns: string, command: string[], env: NodeJS.ProcessEnv): Started | undefined {
  try {
    const spawned = spawnInSandbox(netns, command, env, (file, a) => spawnAttached(a, env, file));
    return spawned && { pid: spawned.pid, pidStart: procStart(spawned.pid) ?? '', onExit: spawned.onExit };
  } catch (e) {
    if (e instanceof SpawnError) throw cannotRun(command);
    if (e instanceof EnterError) throw enterFailed(netns, e);
    throw e;
  }
}

/** SIGTERM, wait up to `graceMs`, then SIGKILL; only if the PID is still ours. */
export async function stopProcess(pid: number, start: string | undefined, graceMs = 3000): Promise<void> {
  if (!isAlive(pid, start)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  // A process this daemon started reports its exit itself (on SIGCHLD).
  const exit = waitExit(pid, graceMs);
  if (exit) {
    if (await exit) return;
  }
  const deadline = Date.now() + (exit ? 0 : graceMs);
  // Most processes are gone within a millisecond of SIGTERM: poll fast first, then back
  // off (a flat 20 ms made every sandbox removal wait at least 20 ms).
  for (let wait = 1; Date.now() < deadline; wait = Math.min(wait * 2, 20)) {
    if (!isAlive(pid, start)) return;
    await new Promise((r) => setTimeout(r, wait));
  }
  if (isAlive(pid, start)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

export interface ProcessInfo {
  /** /proc/<pid>/stat start time. */
  start: string;
  /** The network namespace it runs in, as /proc/<pid>/ns/net names it (`net:[inode]`). */
  netns: string;
  environ: Map<string, string>;
}

/** What the daemon needs to know of a process before it takes it for a sandbox's; undefined when it is gone. */
export function inspectProcess(pid: number): ProcessInfo | undefined {
  const start = procStart(pid);
  if (start === undefined) return undefined;
  try {
    const netns = fs.readlinkSync(`/proc/${pid}/ns/net`);
    const environ = new Map<string, string>();
    for (const kv of fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')) {
      const i = kv.indexOf('=');
      if (i > 0) environ.set(kv.slice(0, i), kv.slice(i + 1));
    }
    // The same process still, not a new one that took the PID while we read.
    return procStart(pid) === start ? { start, netns, environ } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * `net:[inode]` of a named namespace (or of a namespace file given by its absolute path, a
 * runtime's), or of the caller's own for null; undefined when it does not exist.
 */
export function netnsIdentity(netns: string | null): string | undefined {
  try {
    if (netns === null) return fs.readlinkSync('/proc/self/ns/net');
    return `net:[${fs.statSync(netns.startsWith('/') ? netns : `/run/netns/${netns}`).ino}]`;
  } catch {
    return undefined;
  }
}

/**
 * Where the daemon can open a runtime's namespace file `nsPath` that the runtime's process
 * `pid` named: the path itself when that process sees the daemon's mounts, else the path
 * through the process's root (`/proc/<pid>/root<nsPath>`, which resolves in its mount
 * namespace; the kernel allows bind-mounting a namespace file from another mount namespace).
 * Undefined `source`: the same mount namespace.
 */
export function runtimeNamespace(nsPath: string, pid?: number): { path: string; source?: string } {
  if (pid === undefined) return { path: nsPath };
  const theirs = mountNsOf(pid);
  if (!theirs) throw new YardError('INVALID_ARGUMENT', `process ${pid} is not running`, { field: 'pid', hint: "give the calling runtime's own PID" });
  return theirs === mountNsOf(process.pid) ? { path: nsPath } : { path: nsPath, source: `/proc/${pid}/root${nsPath}` };
}

/** PIDs of every process in a named namespace. */
export async function netnsPids(ns: string): Promise<number[]> {
  const r = await run('ip', ['netns', 'pids', ns], { timeoutMs: 10_000 });
  if (r.code !== 0) return [];
  return r.stdout.split(/\s+/).filter(Boolean).map(Number).filter(Number.isInteger);
}

/** Gone = no /proc entry, or a zombie (PID 1 here reaps orphans late). */
export function processGone(pid: number): boolean {
  return procStart(pid) === undefined;
}

/** A process's argv, empty when it is gone. */
export function cmdlineOf(pid: number): string[] {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return [];
  }
}

async function waitGone(pids: number[], ms: number): Promise<number[]> {
  const deadline = Date.now() + ms;
  let left = pids.filter((p) => !processGone(p));
  for (let i = 0; left.length && i < 1000 && Date.now() < deadline; i++) {
    await new Promise((r) => setTimeout(r, 25));
    left = left.filter((p) => !processGone(p));
  }
  return left;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
}

/** SIGTERM to each, wait up to graceMs, then SIGKILL whatever is left (never PID 1 or ourselves). */
export async function stopProcesses(pids: number[], graceMs: number): Promise<void> {
  const alive = pids.filter((p) => p > 1 && p !== process.pid && !processGone(p));
  if (!alive.length) return;
  alive.forEach((p) => signal(p, 'SIGTERM'));
  const left = await waitGone(alive, graceMs);
  left.forEach((p) => signal(p, 'SIGKILL'));
  await waitGone(left, 2_000);
}

/**
 * Kill every process in a named namespace: what the sandbox's command forked, or the
 * processes of a leftover namespace. Same test as `ip netns pids` (the inode of each
 * process's /proc/<pid>/ns/net) without spawning it.
 */
export async function killNetnsProcesses(ns: string): Promise<void> {
  let ino: number;
  try {
    ino = fs.statSync(`/run/netns/${ns}`).ino;
  } catch {
    return;
  }
  const target = `net:[${ino}]`;
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (fs.readlinkSync(`/proc/${entry}/ns/net`) === target) pids.push(Number(entry));
    } catch {
      /* exited meanwhile, or a kernel thread */
    }
  }
  await Promise.all(pids.map((p) => stopProcess(p, procStart(p), 1000)));
}

/** `mnt:[inode]` of a process's mount namespace, undefined when it is gone. */
export function mountNsOf(pid: number): string | undefined {
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/mnt`);
  } catch {
    return undefined;
  }
}

/**
 * Processes in mount namespace `ns` whose /run is bound from a directory whose path ends in
 * `runSuffix` (a lab engine's own /run). The inode alone does not name a namespace for
 * long: once a namespace's last process exits, the kernel soon gives its number to a new
 * one (every `ip netns exec` makes one), so a match on it could hit anyone's process.
 */
export function processesInMountNs(ns: string, runSuffix: string): number[] {
  return findProcesses({ mountNs: ns }).filter((pid) => {
    try {
      return fs
        .readFileSync(`/proc/${pid}/mountinfo`, 'utf8')
        .split('\n')
        .some((l) => {
          const f = l.split(' ');
          return f[4] === '/run' && (f[3] ?? '').replace(/\/\/deleted$/, '').endsWith(runSuffix);
        });
    } catch {
      return false;
    }
  });
}

/** Live processes (not zombies) whose argv or mount namespace matches. */
export function findProcesses(match: { argv?: (argv: string[]) => boolean; mountNs?: string }): number[] {
  const out: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid || processGone(pid)) continue;
    if (match.mountNs !== undefined && mountNsOf(pid) === match.mountNs) out.push(pid);
    else if (match.argv && match.argv(cmdlineOf(pid))) out.push(pid);
  }
  return out;
}

/**
 * Mounts, in any process's mount namespace, of or onto a path at or under one of
 * `prefixes`: one line `pid <pid> (mnt:[...]): <source path> on <mount point>` per
 * namespace and mount.
 */
export function mountsUnder(prefixes: string[]): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  const under = (p: string) => prefixes.some((x) => p === x || p.startsWith(`${x.replace(/\/+$/, '')}/`));
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const ns = mountNsOf(Number(entry));
    if (!ns || seen.has(ns)) continue;
    seen.add(ns);
    let text = '';
    try {
      text = fs.readFileSync(`/proc/${entry}/mountinfo`, 'utf8');
    } catch {
      continue;
    }
    const unescape = (f: string) => f.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    for (const line of text.split('\n')) {
      const fields = line.split(' ');
      // Field 4 is the mounted directory's path inside its file system (what a bind mount
      // shows), field 5 the mount point.
      const [root, point] = [unescape(fields[3] ?? ''), unescape(fields[4] ?? '')];
      if (point && (under(point) || under(root))) out.push(`pid ${entry} (${ns}): ${root} on ${point}`);
    }
  }
  return out;
}
