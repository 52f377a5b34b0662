/**
 * Applies plans. Links (bridge, veth), addresses and routes go to the kernel from the
 * daemon itself over rtnetlink (kernel/netlink.ts), stopping at the first refusal: a
 * request alone, or with the ones after it that change only links this plan made earlier
 * in one send (unitsOf); the two ends of a new veth are set up side by side, each in its
 * namespace. The other ops run as processes: consecutive `ip` operations in the
 * same namespace go to one `ip [-n NS] -batch -` process (one spawn instead of one per step); namespace creation
 * and deletion run on their own because `netns add` inside a batch moves the batch
 * process itself. `ip -batch` stops at the first failing line and names it
 * (`Command failed -:N`), so the failing op is known exactly: everything before it is
 * undone in reverse and the kernel's own message is returned.
 */
import { step } from '../observe/steps.js';
import fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import { YardError } from '../errors.js';
import { bridgeArgs, ipArgs, renderPlan, sysctlPath, undoPlan, type KernelOp, type Plan } from '../plan/ops.js';
import { batchQuote, run } from './exec.js';
import { applyNetlink, ipv6Available, netlinkAvailable, netlinkSession } from './netlink.js';
import { runNetnsOp } from './netns.js';
import { isNetlinkOp, type NetlinkOp } from './rtnl.js';

interface Group {
  ns?: string;
  ops: KernelOp[];
  /**
   * 'netlink': sent by the daemon itself over rtnetlink (links, addresses, routes);
   * 'batch': an `ip -batch -` process (the other kinds of link, neighbours);
   * 'fdb': a `bridge -batch -` group (forwarding entries are not an `ip` subcommand).
   */
  kind: 'netlink' | 'batch' | 'single' | 'fdb';
}

function nsOf(op: KernelOp): string | undefined {
  return 'ns' in op ? op.ns : undefined;
}

/** How an op reaches the kernel. */
function kindOf(op: KernelOp, netlink = netlinkAvailable()): Group['kind'] {
  if (op.op === 'netns.add' || op.op === 'netns.del' || op.op === 'netns.attach' || op.op === 'sysctl.set') return 'single';
  return bridgeArgs(op) ? 'fdb' : isNetlinkOp(op) && netlink ? 'netlink' : 'batch';
}

function groupPlan(plan: Plan): Group[] {
  const groups: Group[] = [];
  for (const op of plan) {
    const kind = kindOf(op);
    if (kind === 'single') {
      groups.push({ ops: [op], kind, ns: nsOf(op) });
      continue;
    }
    const last = groups[groups.length - 1];
    if (last && last.kind === kind && last.ns === nsOf(op)) last.ops.push(op);
    else groups.push({ ns: nsOf(op), ops: [op], kind });
  }
  return groups;
}

export class ApplyError extends Error {
  constructor(
    readonly failed: KernelOp,
    readonly kernelMessage: string,
    readonly applied: KernelOp[],
  ) {
    super(`${renderPlan([failed])[0]}: ${kernelMessage}`);
  }
}

/** A runtime's namespace file, bind-mounted where `ip -n <name>` finds it. */
async function attachNetns(name: string, nsPath: string): Promise<string | null> {
  const target = `/run/netns/${name}`;
  // Only a network namespace: entering it must work.
  const check = await run('nsenter', [`--net=${nsPath}`, 'true']);
  if (check.code !== 0) return `${nsPath} is not a network namespace: ${check.stderr.trim() || `exit ${check.code}`}`;
  try {
    fs.mkdirSync('/run/netns', { recursive: true });
    fs.writeFileSync(target, '', { flag: 'wx' });
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EEXIST' ? `Cannot create namespace file "${target}": File exists` : (e as Error).message;
  }
  const r = await run('mount', ['--bind', nsPath, target]);
  if (r.code === 0) return null;
  fs.rmSync(target, { force: true });
  return r.stderr.trim() || `mount exit ${r.code}`;
}

async function runSingle(op: KernelOp): Promise<string | null> {
  // Without IPv6 in the kernel there is no IPv6 to turn on or off.
  if (op.op === 'sysctl.set' && /^net[./]ipv6[./]/.test(op.key) && !ipv6Available()) return null;
  // Namespaces and their sysctls without a process (netns.ts); `ip` when that is unavailable.
  const done = runNetnsOp(op);
  if (done !== undefined) return done;
  if (op.op === 'netns.attach') return attachNetns(op.name, op.path);
  if (op.op === 'sysctl.set') {
    if (!op.ns) {
      try {
        fs.writeFileSync(sysctlPath(op.key), op.value);
        return null;
      } catch (e) {
        return (e as Error).message;
      }
    }
    const r = await run('ip', ['netns', 'exec', op.ns, 'sysctl', '-qw', `${op.key}=${op.value}`]);
    return r.code === 0 ? null : r.stderr.trim() || `exit ${r.code}`;
  }
  const r = await run('ip', ipArgs(op)!);
  return r.code === 0 ? null : r.stderr.trim() || `exit ${r.code}`;
}

/** Runs one batch; returns the number of ops that succeeded and the error, if any. */
async function runBatch(g: Group): Promise<{ done: number; error?: string }> {
  if (g.kind === 'netlink') return applyNetlink(g.ns, g.ops as NetlinkOp[]);
  const argsOf = g.kind === 'fdb' ? bridgeArgs : ipArgs;
  const lines = g.ops.map((op) => argsOf(op)!.map(batchQuote).join(' ')).join('\n') + '\n';
  const r = await run(g.kind === 'fdb' ? 'bridge' : 'ip', [...(g.ns ? ['-n', g.ns] : []), '-batch', '-'], { input: lines });
  if (r.code === 0) return { done: g.ops.length };
  const m = /Command failed -:(\d+)/.exec(r.stderr);
  const failedLine = m ? Number(m[1]) : 1;
  const msg = r.stderr.replace(/Command failed -:\d+\s*/g, '').trim() || `exit ${r.code}`;
  return { done: failedLine - 1, error: msg };
}

/**
 * Removals (applyBestEffort with `deferDeletes`: disconnect, network and sandbox removal)
 * answer once the link is unreachable, for the links their driver marks `behind` (bridges
 * and veths). Deleting a link waits in the kernel for RCU grace periods (20-60 ms) with
 * the kernel's RTNL lock held part of that time, so such a `link.del` sent over rtnetlink
 * is done as: set the link down now (no traffic crosses it, its routes are gone; well under
 * a millisecond), and delete it behind, one at a time (a delete holds a worker thread while
 * it waits). A link marked `whenQuiet` (a bridge) is deleted once the daemon has sent the
 * kernel nothing for QUIET_MS (or the delete has waited MAX_WAIT_MS): a request that comes
 * right after a removal (a connect after a network remove) does not queue behind the lock.
 * A veth is deleted at once: its ends (one in a sandbox's namespace, or both in the host's
 * for a runtime that handed the interface back) are listed until it is gone. A later plan
 * naming that link (to create it again, say) has its delete done first. A daemon killed before the delete leaves a
 * down link that reconcile removes as any leftover. Undoing a refused change deletes for
 * real before the refusal is returned: it changed nothing, and nothing of it is left to see.
 */
const deferred = new Map<string, Promise<void>>();
/** The "down now" op made of a deferred `link.del`: errors name the delete that was asked for. */
const standsFor = new WeakMap<KernelOp, KernelOp>();
const shown = (op: KernelOp): KernelOp => standsFor.get(op) ?? op;
let gcErrors: (message: string) => void = (m) => process.stderr.write(`switchyard: ${m}\n`);

function linkKey(ns: string | undefined, name: string): string {
  return `${ns ?? ''}\0${name}`;
}

/** Every link an op names, with the namespace it is named in. */
function linkKeys(op: KernelOp): string[] {
  const ns = nsOf(op);
  const keys: string[] = [];
  const add = (n: string | undefined, name: string | undefined) => name && keys.push(linkKey(n, name));
  if ('name' in op && op.op !== 'netns.add' && op.op !== 'netns.del' && op.op !== 'netns.attach') add('targetNs' in op && op.targetNs ? op.targetNs : ns, op.name);
  if (op.op === 'link.add.veth') add(op.peerNs ?? ns, op.peerName);
  if ('dev' in op) add(ns, op.dev);
  if ('master' in op && op.master !== 'nomaster') add(ns, op.master);
  if ('parent' in op) add(ns, op.parent);
  return keys;
}

/**
 * Waits for the deferred deletes of links this plan names; undefined when there are none,
 * so that the caller goes on without yielding (the first kernel request of a plan is then
 * sent in the call that applies it, before the caller starts its work beside it).
 */
function barrier(plan: Plan): Promise<void> | undefined {
  if (!deferred.size) return undefined;
  const waits = new Set<Promise<void>>();
  const keys: string[] = [];
  for (const op of plan) {
    for (const k of linkKeys(op)) {
      const p = deferred.get(k);
      if (p) {
        waits.add(p);
        keys.push(k);
      }
    }
  }
  if (!waits.size) return undefined;
  hurry(keys);
  return Promise.all(waits).then(() => undefined);
}

/**
 * The plan with its link deletes turned into "down now" where they can be deferred (sent
 * over rtnetlink, and not followed in the same plan by an op naming that link again), and
 * the deletes to run behind.
 */
function splitDeletes(plan: Plan): { now: Plan; later: Later[] } {
  if (!netlinkAvailable()) return { now: plan, later: [] };
  const now: Plan = [];
  const later: Later[] = [];
  plan.forEach((op, i) => {
    if (op.op !== 'link.del' || !op.behind) return void now.push(op);
    const key = linkKey(op.ns, op.name);
    const namedAgain = plan.slice(i + 1).some((o) => linkKeys(o).includes(key) || (o.op === 'netns.del' && o.name === op.ns));
    if (namedAgain) return void now.push(op);
    const down: KernelOp = { op: 'link.set', ns: op.ns, name: op.name, up: false };
    standsFor.set(down, op);
    now.push(down);
    let name = op.name;
    if (op.freeName) {
      // A name the user gave (a bridge's): free again at once, for any tool.
      name = `ygc${randomBytes(4).toString('hex')}`;
      const rename: KernelOp = { op: 'link.set', ns: op.ns, name: op.name, newName: name };
      standsFor.set(rename, op);
      now.push(rename);
    }
    if (op.peer) {
      // The other end (a sandbox's ethN) is set down and renamed out of the way: its name
      // is free for the next connect at once.
      const peerDown: KernelOp = { op: 'link.set', ns: op.peer.ns, name: op.peer.name, up: false };
      const rename: KernelOp = { op: 'link.set', ns: op.peer.ns, name: op.peer.name, newName: `ygc${randomBytes(4).toString('hex')}` };
      standsFor.set(peerDown, op);
      standsFor.set(rename, op);
      now.push(peerDown, rename);
    }
    later.push({ ns: op.ns, name, asked: op.name, atOnce: !op.whenQuiet });
  });
  return { now, later };
}

/** A link to delete behind: its name now, and the name the plan's delete gave (its errors name that). */
interface Later {
  ns?: string;
  name: string;
  asked: string;
  /** Started at once, without waiting for quiet (a veth: its ends are listed until it is gone). */
  atOnce: boolean;
}

/** A delete behind waits for the daemon's kernel work to pause this long... */
const QUIET_MS = 20;
/**
 * ...or, under a steady stream of changes, this long at most, while no more than
 * MAX_WAITING wait: a bridge's delete holds the kernel's RTNL lock for part of its 20-60 ms,
 * and every change waits for that lock (50 sandboxes created in a row right after 30
 * networks were removed took twice as long with the deletes run among them after 1 s).
 */
const MAX_WAIT_MS = 10_000;
const MAX_WAITING = 32;
/** Plans being applied now, and when the last one ended. */
let busy = 0;
let lastBusy = 0;

interface Behind {
  ns?: string;
  name: string;
  since: number;
  /** Goes first, without waiting for quiet: a veth, or a link a plan waits for. */
  urgent: boolean;
  start: () => void;
}
/** The deletes behind not started yet, by link key, oldest first. */
const waiting = new Map<string, Behind>();
let deleting = false;
let pumpTimer: NodeJS.Timeout | undefined;

async function whileBusy<T>(fn: () => Promise<T>): Promise<T> {
  busy++;
  try {
    return await fn();
  } finally {
    busy--;
    lastBusy = performance.now();
    if (!busy && waiting.size) pump();
  }
}

/** Starts the next delete behind when it is its time, or sets a timer for when it will be. */
function pump(): void {
  clearTimeout(pumpTimer);
  pumpTimer = undefined;
  if (deleting || !waiting.size) return;
  let next: [string, Behind] | undefined;
  for (const e of waiting) {
    if (e[1].urgent) {
      next = e;
      break;
    }
  }
  if (!next) {
    const now = performance.now();
    const oldest = waiting.entries().next().value as [string, Behind];
    const quietIn = busy ? QUIET_MS : QUIET_MS - (now - lastBusy);
    const overdueIn = waiting.size > MAX_WAITING ? 0 : MAX_WAIT_MS - (now - oldest[1].since);
    if (quietIn > 0 && overdueIn > 0) {
      pumpTimer = setTimeout(pump, Math.max(1, Math.min(quietIn, overdueIn)));
      return;
    }
    next = oldest;
  }
  waiting.delete(next[0]);
  deleting = true;
  next[1].start();
}

function deleteBehind(items: Later[]): void {
  for (const { ns, name, atOnce } of items) {
    const key = linkKey(ns, name);
    // Already waiting to be deleted: that delete is this one.
    if (waiting.has(key)) continue;
    const p = new Promise<void>((resolve) => {
      const b: Behind = {
        ns,
        name,
        since: performance.now(),
        urgent: atOnce,
        start: () =>
          void applyNetlink(ns, [{ op: 'link.del', ns, name }])
            .catch((e: Error) => ({ done: 0, error: e.message }))
            .then((r) => {
              if (r.error && !/Cannot find device/.test(r.error)) gcErrors(`deleting link ${name}${ns ? ` in ${ns}` : ''} behind its removal: ${r.error}`);
            })
            .finally(() => {
              deleting = false;
              resolve();
              pump();
            }),
      };
      waiting.set(key, b);
    });
    deferred.set(key, p);
    void p.finally(() => {
      if (deferred.get(key) === p) deferred.delete(key);
    });
  }
  pump();
}

/** The deletes behind of these links go next, without waiting for quiet. */
function hurry(keys: Iterable<string>): void {
  let any = false;
  for (const k of keys) {
    const b = waiting.get(k);
    if (b && !b.urgent) any = b.urgent = true;
  }
  if (any) pump();
}

/** Resolves once every deferred link delete is done (daemon stop, tests). */
export async function settleDeferred(): Promise<void> {
  while (deferred.size) {
    hurry([...deferred.keys()]);
    await Promise.all([...deferred.values()]);
  }
}

/** Where failures of deferred deletes are reported (the daemon's log). */
export function onDeferredError(fn: (message: string) => void): void {
  gcErrors = fn;
}

/** Apply in order; on failure undo what was applied and throw ApplyError. */
export async function applyPlan(plan: Plan): Promise<void> {
  const wait = barrier(plan);
  if (wait) await wait;
  await whileBusy(() => applyNow(plan));
}

/**
 * A step of a plan as it is sent: one `ip`/`bridge` batch or single op, or rtnetlink
 * requests sent together in one send(); with the earlier units it waits for.
 */
interface Unit extends Group {
  /** Plan index of each op. */
  at: number[];
  after: number[];
}

/** The links an op names, and for a move also the name it leaves behind. */
function touches(op: KernelOp): string[] {
  const keys = linkKeys(op);
  if ('targetNs' in op && op.targetNs && 'name' in op) keys.push(linkKey(nsOf(op), op.name));
  return keys;
}

/** The links an op makes, where they are made. */
function madeBy(op: KernelOp): string[] {
  if (!op.op.startsWith('link.add.') || !('name' in op)) return [];
  const keys = [linkKey('targetNs' in op && op.targetNs ? op.targetNs : nsOf(op), op.name)];
  if (op.op === 'link.add.veth') keys.push(linkKey(op.peerNs ?? nsOf(op), op.peerName));
  return keys;
}

/**
 * An op that may go in the same send as the ops before it in its namespace: it changes only
 * links that an earlier unit of this plan made (a link.set without a rename, an
 * address). If something before it in the send is refused, what
 * it did is removed with those links when the plan is undone; it cannot reach a link of the
 * same name that someone else made.
 */
function joinsSend(op: KernelOp, made: ReadonlySet<string>): boolean {
  // Not a route: a route is added as a replacement, which can change one that was there.
  if (!((op.op === 'link.set' && op.newName === undefined) || op.op === 'addr.add')) return false;
  const keys = linkKeys(op);
  return keys.length > 0 && keys.every((k) => made.has(k));
}

/**
 * The plan as units, in plan order, each with the earlier units it must wait for: every
 * earlier unit in its namespace, every earlier unit naming a link it names, and every
 * process or namespace op (which the ones after wait for, and which waits for all before).
 * So a sandbox's end is addressed while the host's end of the same veth is set up.
 */
export function unitsOf(plan: Plan, netlink = netlinkAvailable()): Unit[] {
  const units: Unit[] = [];
  const made = new Set<string>();
  let madeNow: string[] = [];
  plan.forEach((op, i) => {
    const kind = kindOf(op, netlink);
    const ns = nsOf(op);
    const last = units[units.length - 1];
    const joins =
      last &&
      last.kind === kind &&
      last.ns === ns &&
      (kind === 'batch' || kind === 'fdb' || (kind === 'netlink' && joinsSend(op, made) && !last.ops.some((o) => o.op.startsWith('link.add.'))));
    if (!joins) {
      for (const k of madeNow) made.add(k);
      madeNow = [];
    }
    // A link renamed or deleted is no longer the one made.
    if (op.op === 'link.del' || (op.op === 'link.set' && op.newName !== undefined)) {
      made.delete(linkKey(ns, op.name));
      madeNow = madeNow.filter((k) => k !== linkKey(ns, op.name));
    }
    madeNow.push(...madeBy(op));
    if (joins) {
      last.ops.push(op);
      last.at.push(i);
      return;
    }
    const keys = new Set(touches(op));
    const after: number[] = [];
    units.forEach((u, j) => {
      if (kind === 'single' || u.kind === 'single' || kind !== 'netlink' || u.kind !== 'netlink' || u.ns === ns || u.ops.some((o) => touches(o).some((k) => keys.has(k)))) after.push(j);
    });
    units.push({ kind, ns, ops: [op], at: [i], after });
  });
  // A unit's later ops may name links its first did not: it waits for their units too.
  units.forEach((u, j) => {
    const keys = new Set(u.ops.flatMap(touches));
    for (let k = 0; k < j; k++) if (!u.after.includes(k) && units[k]!.ops.some((o) => touches(o).some((x) => keys.has(x)))) u.after.push(k);
  });
  return units;
}

async function applyNow(plan: Plan): Promise<void> {
  const units = unitsOf(plan);
  const applied: Array<{ at: number; op: KernelOp }> = [];
  let failed: { at: number; op: KernelOp; error: string } | undefined;
  const fail = (at: number, op: KernelOp, error: string) => {
    if (!failed || at < failed.at) failed = { at, op, error };
  };
  const session = units.some((u) => u.kind === 'netlink') ? netlinkSession() : undefined;
  const runs: Array<Promise<boolean>> = [];
  try {
    for (const u of units) {
      runs.push(
        (async () => {
          // A unit with nothing to wait for is sent at once, in this call.
          const deps = u.after.length ? await Promise.all(u.after.map((j) => runs[j]!)) : [];
          if (failed || deps.some((ok) => !ok)) return false;
          if (u.kind === 'single') {
            const err = await runSingle(u.ops[0]!);
            step(`k:${u.ops[0]!.op}`);
            if (err) return fail(u.at[0]!, u.ops[0]!, err), false;
            applied.push({ at: u.at[0]!, op: u.ops[0]! });
            return true;
          }
          if (u.kind === 'netlink') {
            const r = await session!.send(u.ns, u.ops as NetlinkOp[]);
            u.ops.forEach((op, k) => r.ok[k] && applied.push({ at: u.at[k]!, op }));
            if (r.error === undefined) return true;
            return fail(u.at[r.done] ?? u.at[0]!, u.ops[r.done] ?? u.ops[0]!, r.error), false;
          }
          const { done, error } = await runBatch(u);
          step(`k:${u.kind}:${u.ops.map((o) => o.op).join(',')}`);
          u.ops.slice(0, done).forEach((op, k) => applied.push({ at: u.at[k]!, op }));
          if (error === undefined) return true;
          return fail(u.at[done] ?? u.at[0]!, u.ops[done] ?? u.ops[0]!, error), false;
        })().catch((e: Error) => (fail(u.at[0]!, u.ops[0]!, e.message), false)),
      );
    }
    // While the first requests are in the kernel: the sockets of the namespaces the later
    // ones go to, so that those are sent the moment they may be. Not of a namespace this plan
    // makes or removes: a socket opened now could be in the one it replaces.
    const replaced = new Set(plan.flatMap((op) => (op.op === 'netns.add' || op.op === 'netns.del' || op.op === 'netns.attach' ? [op.name] : [])));
    session?.open(units.filter((u) => u.kind === 'netlink' && u.after.length && !(u.ns && replaced.has(u.ns))).map((u) => u.ns));
    await Promise.all(runs);
  } finally {
    session?.close();
  }
  if (failed) {
    const done = applied.sort((a, b) => a.at - b.at).map((a) => a.op);
    await applyBestEffort(undoPlan(done));
    throw new ApplyError(shown(failed.op), failed.error, done);
  }
}

/**
 * Apply every op, continuing past failures (for teardown and undo, where "already gone"
 * is success). Returns the failures.
 */
export async function applyBestEffort(plan: Plan, opts: { deferDeletes?: boolean } = {}): Promise<string[]> {
  const wait = barrier(plan);
  if (wait) await wait;
  const { now, later } = opts.deferDeletes ? splitDeletes(plan) : { now: plan, later: [] };
  const errors = await whileBusy(() => bestEffortNow(now));
  // A link that could not be set down is not there to delete.
  deleteBehind(later.filter((l) => !errors.some((e) => e.startsWith(`${renderPlan([{ op: 'link.del', ns: l.ns, name: l.asked }])[0]}: `))));
  return errors;
}

async function bestEffortNow(plan: Plan): Promise<string[]> {
  const errors: string[] = [];
  for (const g of groupPlan(plan)) {
    if (g.kind === 'single') {
      const err = await runSingle(g.ops[0]!);
      if (err) errors.push(`${renderPlan([shown(g.ops[0]!)])[0]}: ${err}`);
      continue;
    }
    let rest = g.ops;
    // -force would continue too, but then the failing lines are not identified.
    while (rest.length) {
      const { done, error } = await runBatch({ ...g, ops: rest });
      step(`kb:${g.kind}:${rest.map((o) => o.op).join(',')}`);
      if (error === undefined) break;
      errors.push(`${renderPlan([shown(rest[done]!)])[0]}: ${error}`);
      rest = rest.slice(done + 1);
    }
  }
  return errors;
}

export function kernelError(e: unknown, what: string): YardError {
  if (e instanceof ApplyError) {
    return new YardError('KERNEL_FAILED', `${what} failed in the kernel: \`${renderPlan([e.failed])[0]}\` said "${e.kernelMessage}"`, {
      hint: 'nothing was changed (the steps before it were rolled back); `yard doctor` or the daemon log may tell more',
      cause: e,
    });
  }
  return e instanceof YardError ? e : new YardError('KERNEL_FAILED', `${what} failed: ${(e as Error).message}`, { cause: e });
}
