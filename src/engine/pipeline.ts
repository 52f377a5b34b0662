/**
 * The change pipeline: every creating mutation (network create and adopt, sandbox create,
 * connect) goes through `runChange` once, in this order:
 *
 *   1. validate   the participants' checks; pure, nothing has happened yet
 *   2. reserve    claims outside this host (the cluster store: VNIs, addresses)
 *   3. plan       the kernel plan, built after the reservation (it may fill addresses)
 *   4. apply      the plan, all or nothing (kernel/apply undoes its own prefix)
 *   4b. acquire   addresses only the LAN can give (DHCP leases), once the links exist;
 *                 the plan is then built again and what it adds (the addresses, routes)
 *                 applied the same way
 *   5. participants apply (firewall, DNS, cluster), each returning an undo
 *   6. effects    local side effects before the commit (the sandbox's process); those that
 *                 need neither the links nor the participants (its files) run beside step 4
 *   7. commit     the one record written to the store, then (only then) to memory
 *
 * A change whose record is complete once it is planned (no lease to acquire) may write it
 * ahead: the write starts with the kernel apply and its wait for the disk runs beside it,
 * and memory is updated only once both are done. A crash between the two leaves a record
 * whose kernel objects are missing, which reconcile creates at the next start (the state is
 * the truth); a failure after the write puts the old record back before anything else is
 * undone.
 *
 * A change that runs beside others (sandbox creates, Gate.shared) takes its turn for steps
 * 1-3 and again for steps 4b-6: what reads or changes the state and the participants runs
 * one change at a time, while the kernel's work and the record's write of one change run
 * beside another's turn.
 *
 * A failure at any step compensates what the earlier steps did, in reverse, and rethrows:
 * a refused or failed change leaves the host as it was. A dry run stops after step 3
 * without reserving, and returns the plan.
 *
 * Removals do not come here: they are tombstone, best-effort teardown, forget
 * (Networks.tearDown, Sandboxes.tearDown), because a teardown is finished, never reverted.
 */
import { step } from '../observe/steps.js';
import { kernelError, type Kernel } from '../kernel/index.js';
import { undoPlan, type Plan } from '../plan/ops.js';
import type { Change, Undo } from './participants.js';

export interface PipelineContext {
  kernel: Kernel;
  log: (msg: string) => void;
  /** Participants' validate and apply, bound to the engine. */
  validate(change: Change): Promise<void>;
  apply(change: Change): Promise<Undo[]>;
}

export interface ChangeSpec {
  change: Change;
  /** What the change does, for a kernel error: "creating network app". */
  what: string;
  dryRun?: boolean;
  reserve?(): Promise<void>;
  /** Undo of reserve; errors are logged by the caller's function, never thrown. */
  release?(): Promise<void>;
  plan(): Plan;
  /**
   * After the plan is applied: get what needs the links in place (DHCP leases), filling
   * the records the plan is built from; return its undo (the leases' release), or nothing
   * when there was nothing to get.
   */
  acquire?(): Promise<Undo | void>;
  /**
   * Local work of the change's own that needs neither the links nor the participants (a
   * sandbox's files), run beside the kernel apply and outside the change's turn; resolves to
   * its undo, and leaves nothing behind when it fails.
   */
  beside?(): Promise<Undo>;
  /** Local side effects after the participants; return their undo. */
  effects?(): Promise<Undo | void> | Undo | void;
  /** Write the record, then put it in memory. */
  commit(): void | Promise<void>;
  /**
   * Write the record ahead (see above); resolves to the undo that puts back what was there.
   * With it, `remember` puts the record in memory once it is written.
   */
  writeAhead?(): Promise<Undo>;
  remember?(): void;
  /**
   * For a change run beside others (Gate.shared): steps 1-3 and steps 4b-6 each run in
   * the change's turn, the kernel's work between them and the commit's write outside it.
   */
  turn?<T>(fn: () => T | Promise<T>): Promise<T>;
}

/** `fn()` as a promise, also when it throws before returning one (the kernel's change is then already under way and is undone like any other failure's). */
function started<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return fn();
  } catch (e) {
    return Promise.reject(e as Error);
  }
}

/** Runs a change through the pipeline; returns the plan (applied, or only planned for a dry run). */
export async function runChange(ctx: PipelineContext, spec: ChangeSpec): Promise<Plan> {
  const inTurn = spec.turn ?? (<T>(fn: () => T | Promise<T>): Promise<T> => Promise.resolve(fn()));
  step('pre');
  const compensate: Undo[] = [async () => spec.release?.()];
  const unwind = async () => {
    for (const u of compensate.reverse()) {
      try {
        await u();
      } catch (e) {
        ctx.log(`undo failed: ${(e as Error).message}`);
      }
    }
  };
  // Steps 1-3, in the change's turn.
  const planned = await inTurn(async () => {
    await ctx.validate(spec.change);
    step('validate');
    if (spec.dryRun) return undefined;
    await spec.reserve?.();
    try {
      step('reserve');
      const p = spec.plan();
      step('plan');
      return p;
    } catch (e) {
      await unwind();
      throw e;
    }
  });
  if (!planned) return spec.plan();
  const applied: Plan = planned;
  // Step 4 (with the record written ahead and the change's own files) beside other changes' turns.
  let ahead: Promise<Undo> | undefined;
  let beside: Promise<Undo> | undefined;
  // Undo what a started piece of work did, once it has settled (a failed one left nothing).
  const undoSettled = (work?: Promise<Undo>) => work?.then(async (undo) => undo(), () => {}).catch((u) => ctx.log(`undo failed: ${(u as Error).message}`));
  const dropBeside = async () => {
    await undoSettled(ahead);
    await undoSettled(beside);
  };
  try {
    // In order of how long each takes once started: the record's write (a quick start,
    // then the disk), the kernel's change (its first request is sent within this call),
    // then the files, whose preparation would otherwise delay that request.
    if (spec.writeAhead && spec.remember) {
      ahead = started(() => spec.writeAhead!());
      // Awaited below on every path; these only keep a failure from going unhandled meanwhile.
      ahead.catch(() => {});
    }
    const kernel = ctx.kernel.apply(applied);
    kernel.catch(() => {});
    beside = spec.beside ? started(() => spec.beside!()) : undefined;
    beside?.catch(() => {});
    await kernel;
    step('apply');
  } catch (e) {
    await dropBeside();
    await unwind();
    throw kernelError(e, spec.what);
  }
  compensate.push(async () => {
    await ctx.kernel.applyBestEffort(undoPlan(applied));
  });
  if (beside) {
    try {
      compensate.push(await beside);
      step('beside');
    } catch (e) {
      beside = undefined;
      await dropBeside();
      await unwind();
      throw e;
    }
  }
  // Steps 4b-6, in the change's turn again; step 7 too when the change has no turn.
  let plan = applied;
  let acquired = false;
  const commit = async () => {
    // The record written ahead lacks what was acquired: then it is written again here.
    if (ahead && !acquired) spec.remember!();
    else await spec.commit();
    step('commit');
  };
  await inTurn(async () => {
    try {
      // A failed write undoes the kernel's change (the write removed its own temp file).
      if (ahead) {
        compensate.push(await ahead);
        step('written');
      }
      const release = await spec.acquire?.();
      if (release) {
        acquired = true;
        // The plan again, now with the acquired addresses: apply only what it adds.
        const done = new Set(applied.map((op) => JSON.stringify(op)));
        const more = spec.plan().filter((op) => !done.has(JSON.stringify(op)));
        try {
          await ctx.kernel.apply(more);
        } catch (e) {
          await Promise.resolve(release()).catch((u) => ctx.log(`undo failed: ${(u as Error).message}`));
          throw kernelError(e, spec.what);
        }
        compensate.push(async () => {
          await ctx.kernel.applyBestEffort(undoPlan(more));
        });
        compensate.push(release);
        plan = [...applied, ...more];
      }
      compensate.push(...(await ctx.apply(spec.change)));
      const undoEffects = await spec.effects?.();
      step('effects');
      if (undoEffects) compensate.push(undoEffects);
      if (!spec.turn) await commit();
    } catch (e) {
      await unwind();
      throw e;
    }
  });
  if (spec.turn) {
    // The record's write waits for the disk outside the turn: the change's effects have
    // made it visible to the participants of the changes after it (see Sandboxes.create),
    // and a failed write takes the turn again to undo them in order.
    try {
      await commit();
    } catch (e) {
      await inTurn(unwind);
      throw e;
    }
  }
  return plan;
}
