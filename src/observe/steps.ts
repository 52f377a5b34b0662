/**
 * Where an operation's time goes: with the daemon's log at debug level, each operation's
 * log line carries `steps`, the time between named points of its work (the pipeline's
 * steps, each participant, each kernel request group, each state write), e.g.
 * `validate 0.1 | k:netlink:link.add.veth,link.set 1.9 | part:dns 0.3 | commit 1.2`.
 * Off (one boolean test per point) at any other level.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

export class Steps {
  private last = performance.now();
  private readonly marks: string[] = [];

  mark(name: string): void {
    const now = performance.now();
    this.marks.push(`${name} ${(now - this.last).toFixed(2)}`);
    this.last = now;
  }

  toString(): string {
    return this.marks.join(' | ');
  }
}

const current = new AsyncLocalStorage<Steps>();
let enabled = false;

/** Record steps from now on (the daemon does when its log level is debug or trace). */
export function recordSteps(on: boolean): void {
  enabled = on;
}

export function stepsEnabled(): boolean {
  return enabled;
}

/** Marks the end of a step of the operation this code runs for (nothing when not recording). */
export function step(name: string): void {
  if (enabled) current.getStore()?.mark(name);
}

/** Runs `fn` with its own step record. */
export function withSteps<T>(steps: Steps, fn: () => Promise<T>): Promise<T> {
  return current.run(steps, fn);
}
