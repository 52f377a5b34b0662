/**
 * The firewall's nftables calls in-process (kernel/nft.ts NftLib, libnftables through koffi)
 * do what the `nft` command does, in a throwaway lab host: what one applies the other sees,
 * a bad line fails the whole transaction with nftables' own message and changes nothing,
 * --check applies nothing, concurrent calls each get their own answer.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labDown, labExec, labUp, type LabInfo } from '../../src/lab/lab.js';

const NAME = `nftl${process.pid}`.slice(0, 16);
let info: LabInfo;
let out: any;

beforeAll(async () => {
  await labDown(NAME);
  info = await labUp({ name: NAME, hosts: 1, daemons: false });
  const r = await labExec(info, info.hosts[0]!, ['node', path.resolve('test/lab/nft-lib-client.mjs')], { timeoutMs: 60_000 });
  expect(r.stderr).toBe('');
  out = JSON.parse(r.stdout);
});
afterAll(async () => {
  await labDown(NAME);
});

describe('libnftables in-process', () => {
  it('loads, and the daemon uses it', () => {
    expect(out.opened).toBe(true);
    expect(out.openNft).toBe('NftLib');
  });
  it('what the library applies the command sees, and the reverse', () => {
    expect(out.applyErr).toBeNull();
    expect(out.cliSees).toContain('table inet yt');
    expect(out.cliSees).toContain('chain c');
    expect(out.libSees).toMatch(/10\.9\.0\.1, 10\.9\.0\.2|10\.9\.0\.2, 10\.9\.0\.1/);
    // Terse leaves the elements out, as `nft -t` does.
    expect(out.libTerse).toContain('set s');
    expect(out.libTerse).not.toContain('10.9.0.1');
    expect(out.json.nftables.some((o: any) => o.set?.name === 's' && o.set.elem.length === 2)).toBe(true);
    expect(out.handles).toMatch(/# handle \d+/);
  });
  it('exists says yes for what is there and no for what is not', () => {
    expect(out.exists).toEqual([true, true, false, false]);
  });
  it('a bad line fails the whole transaction with the same message as the command, changing nothing', () => {
    expect(out.badErr).toMatch(/No such file or directory/);
    expect(out.cliBadErr).toMatch(/No such file or directory/);
    // The same message at the same line and columns; only the file's name differs.
    expect(out.badErr.replace(/\/dev\/shm\/yard-nft-\w+\/script\.nft/, '/dev/stdin')).toBe(out.cliBadErr);
    // The good line before it did not take effect either (positive control: 10.9.0.1 is there).
    expect(out.afterBad).toContain('10.9.0.1');
    expect(out.afterBad).not.toContain('10.9.0.3');
  });
  it('check validates against the kernel without applying', () => {
    expect(out.checkErr).toBeNull();
    expect(out.checkBadErr).toContain('nosuchset');
    expect(out.afterCheck).not.toContain('10.9.0.5');
  });
  it('concurrent calls are run one at a time, each with its own answer', () => {
    expect(out.concurrent).toEqual(Array.from({ length: 20 }, (_, i) => (i % 2 ? 'listed' : 'applied')));
    // 10.9.0.1, 10.9.0.2 and the ten concurrent adds.
    expect(out.finalCount).toBe(12);
  });
  it('a small change costs less than the command, and the table is gone at the end', () => {
    console.log(`nft small change, median of 30: libnftables ${out.libMs.toFixed(2)} ms, nft -f process ${out.cliMs.toFixed(2)} ms`);
    expect(out.libMs).toBeLessThan(out.cliMs);
    expect(out.gone).toBe(false);
  });
});
