/**
 * The golden rulesets (test/fixtures/firewall/golden, written by the unit tests) are valid for
 * this kernel: each passes `nft --check` and loads in a throwaway lab host, and the kernel
 * then holds Switchyard's tables with the expected chains.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labDown, labExec, labUp, type LabInfo } from '../../src/lab/lab.js';
import { inetChains, parseChains } from '../../src/firewall/render.js';

const NAME = `fwg${process.pid}`.slice(0, 16);
const DIR = path.resolve('test/fixtures/firewall/golden');
const files = fs.readdirSync(DIR).filter((f) => f.endsWith('.nft')).sort();
let info: LabInfo;

beforeAll(async () => {
  await labDown(NAME);
  info = await labUp({ name: NAME, hosts: 1, daemons: false });
});
afterAll(async () => {
  await labDown(NAME);
});

describe('golden rulesets load', () => {
  it('has the whole matrix', () => {
    expect(files.length).toBe(20);
  });
  it.each(files)('%s', async (file) => {
    const text = fs.readFileSync(path.join(DIR, file), 'utf8');
    const h = info.hosts[0]!;
    const check = await labExec(info, h, ['nft', '--check', '-f', '-'], { input: text });
    expect(check.stderr).toBe('');
    expect(check.code).toBe(0);
    // Loaded twice: the replace idiom must also work when the tables already exist.
    for (let i = 0; i < 2; i++) {
      const load = await labExec(info, h, ['nft', '-f', '-'], { input: text });
      expect(load.stderr).toBe('');
    }
    const listed = (await labExec(info, h, ['nft', 'list', 'ruleset'])).stdout;
    for (const c of ['chain published-ports', 'chain loopback-guard', 'chain nat-prerouting', 'chain nat-output', 'chain nat-postrouting', 'chain forward', 'chain user-forward']) expect(listed).toContain(c);
    // The kernel prints the chains exactly as rendered: `yard port explain` reads them back
    // from the kernel with parseChains and finds the rules it cites.
    const terse = (await labExec(info, h, ['nft', '-t', 'list', 'table', 'inet', 'switchyard'])).stdout;
    expect(parseChains(terse)).toEqual(inetChains());
    expect(listed.match(/^table /gm)).toEqual(['table ', 'table ', 'table ']);
    await labExec(info, h, ['nft', 'flush', 'ruleset']);
  });
});
