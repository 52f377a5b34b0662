import { describe, expect, it } from 'vitest';
import { Gate } from './gate.js';

const tick = () => new Promise<void>((r) => setTimeout(r, 5));

describe('Gate', () => {
  it('runs exclusive work one at a time, in arrival order', async () => {
    const g = new Gate();
    const log: string[] = [];
    let inside = 0;
    let most = 0;
    const job = (name: string) =>
      g.exclusive(async () => {
        inside++;
        most = Math.max(most, inside);
        log.push(`${name}+`);
        await tick();
        log.push(`${name}-`);
        inside--;
      });
    await Promise.all([job('a'), job('b'), job('c')]);
    expect(most).toBe(1);
    expect(log).toEqual(['a+', 'a-', 'b+', 'b-', 'c+', 'c-']);
  });

  it('runs shared work side by side, its turns one at a time', async () => {
    const g = new Gate();
    let inside = 0;
    let most = 0;
    let inTurn = 0;
    let mostInTurn = 0;
    const job = () =>
      g.shared(async (s) => {
        inside++;
        most = Math.max(most, inside);
        await s.turn(async () => {
          inTurn++;
          mostInTurn = Math.max(mostInTurn, inTurn);
          await tick();
          inTurn--;
        });
        await tick();
        inside--;
      });
    await Promise.all([job(), job(), job(), job()]);
    expect(most).toBe(4);
    expect(mostInTurn).toBe(1);
  });

  it('keeps exclusive work apart from shared work on both sides, in arrival order', async () => {
    const g = new Gate();
    const log: string[] = [];
    const shared = (name: string) =>
      g.shared(async () => {
        log.push(`${name}+`);
        await tick();
        log.push(`${name}-`);
      });
    const exclusive = (name: string) =>
      g.exclusive(async () => {
        log.push(`${name}+`);
        await tick();
        log.push(`${name}-`);
      });
    await Promise.all([shared('s1'), shared('s2'), exclusive('x'), shared('s3'), shared('s4')]);
    // s1 and s2 overlap; x waits for both and runs alone; s3 and s4 wait for x.
    expect(log.slice(0, 2).sort()).toEqual(['s1+', 's2+']);
    expect(log.slice(2, 4).sort()).toEqual(['s1-', 's2-']);
    expect(log.slice(4, 6)).toEqual(['x+', 'x-']);
    expect(log.slice(6, 8).sort()).toEqual(['s3+', 's4+']);
  });

  it('lets newcomers join a running batch, and a failure ends only its own member', async () => {
    const g = new Gate();
    const log: string[] = [];
    const first = g.shared(async () => {
      log.push('a+');
      await tick();
      log.push('a-');
    });
    await new Promise((r) => setTimeout(r, 1));
    const failing = g.shared(async () => {
      log.push('b+');
      throw new Error('refused');
    });
    await expect(failing).rejects.toThrow('refused');
    await first;
    // b joined while a was running (before a ended), and the gate still works after both.
    expect(log).toEqual(['a+', 'b+', 'a-']);
    await expect(g.exclusive(async () => 'next')).resolves.toBe('next');
    await expect(g.shared(async () => 'again')).resolves.toBe('again');
  });
});
