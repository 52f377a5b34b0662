/**
 * The engine's gate: mutations run one at a time in arrival order (`exclusive`), except
 * those that may run side by side (`shared`): sandbox creates that touch nothing another
 * create touches (see Sandboxes.create). Shared work that arrives together forms a batch;
 * the batch waits for the exclusive work queued before it, and exclusive work queued after
 * it waits for the whole batch. A batch stays open to newcomers until exclusive work
 * arrives, so a stream of creates never starves a removal: the removal closes the batch.
 *
 * Inside a batch, `turn` runs the parts that read or change the engine's state one at a
 * time, in the order asked (validation and reservations; participants and the commit);
 * the kernel's work and the disk's wait of one member run beside another member's turn.
 */
export interface SharedTurn {
  /** Run `fn` alone among the batch's members (other members' work outside their turn goes on). */
  turn<T>(fn: () => T | Promise<T>): Promise<T>;
}

class Batch implements SharedTurn {
  private members = 0;
  private turns: Promise<unknown> = Promise.resolve();
  private started = false;
  private readonly waiting: Array<() => void> = [];
  private finished!: () => void;
  readonly done = new Promise<void>((resolve) => (this.finished = resolve));

  constructor(private readonly onEmpty: () => void) {}

  start(): Promise<void> {
    this.started = true;
    for (const w of this.waiting.splice(0)) w();
    if (!this.members) this.end();
    return this.done;
  }

  async run<T>(fn: (s: SharedTurn) => Promise<T>): Promise<T> {
    this.members++;
    try {
      if (!this.started) await new Promise<void>((resolve) => this.waiting.push(resolve));
      return await fn(this);
    } finally {
      if (--this.members === 0 && this.started) this.end();
    }
  }

  turn<T>(fn: () => T | Promise<T>): Promise<T> {
    const next = this.turns.then(fn, fn);
    this.turns = next.catch(() => {});
    return next;
  }

  private end(): void {
    this.onEmpty();
    this.finished();
  }
}

export class Gate {
  private tail: Promise<unknown> = Promise.resolve();
  /** The batch newcomers join, until exclusive work is queued behind it or it ends. */
  private open: Batch | undefined;

  /** Run `fn` alone: after everything queued before it, before everything queued after. */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    this.open = undefined;
    const next = this.tail.then(fn, fn);
    this.tail = next.catch(() => {});
    return next;
  }

  /** Run `fn` beside the other shared work of its batch; `turn` orders its state-changing parts. */
  shared<T>(fn: (s: SharedTurn) => Promise<T>): Promise<T> {
    let batch = this.open;
    if (!batch) {
      const b = new Batch(() => {
        if (this.open === b) this.open = undefined;
      });
      this.open = batch = b;
      this.tail = this.tail.then(() => b.start());
    }
    return batch.run(fn);
  }
}
