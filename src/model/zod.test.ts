import { describe, expect, it } from 'vitest';
import { lazySchema, zod } from './zod.js';

describe('zod loaded on demand', () => {
  it('is one zod, with English messages and no other locale loaded', () => {
    const z = zod();
    expect(zod()).toBe(z);
    expect(Object.keys(z.locales).filter((k) => k !== 'default')).toEqual(['en']);
    expect(z.string().safeParse(1).error?.issues[0]?.message).toBe('Invalid input: expected string, received number');
    expect(z.object({ a: z.number() }).strict().safeParse({ a: 1, b: 2 }).error?.issues[0]).toMatchObject({ code: 'unrecognized_keys', keys: ['b'] });
  });

  it('builds a schema once, at its first use', () => {
    let built = 0;
    const schema = lazySchema((z) => {
      built++;
      return z.object({ pid: z.number().int().positive() });
    });
    expect(built).toBe(0);
    expect(schema().parse({ pid: 5 })).toEqual({ pid: 5 });
    expect(schema()).toBe(schema());
    expect(built).toBe(1);
  });
});
