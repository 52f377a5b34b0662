import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildRows, HEADERS, markdownTable, updatePerformanceDoc } from './report.js';

describe('bench report', () => {
  const series = new Map<string, number[]>([
    ['floor.nl.bridge', [10, 12, 11]],
    ['net.pair', [20, 40, 30]],
    ['connect', [11, 12, 13]],
    ['rss.many', [150.4]],
  ]);

  it('judges goals on the median and divides by the floor median', () => {
    const rows = buildRows(series, 500);
    const pair = rows.find((r) => r.key === 'net.pair')!;
    expect(pair.goalMet).toBe(true); // median 30 <= 30
    expect(pair.cells[5]).toBe('≤ 30 ms: met');
    expect(pair.cells[7]).toBe('2.7× bridge add+del (rtnetlink)'); // 30 / 11
    const connect = rows.find((r) => r.key === 'connect')!;
    expect(connect.goalMet).toBe(false);
    expect(connect.cells[5]).toBe('≤ 10 ms: MISSED');
    expect(connect.cells[7]).toBe(''); // its floor was not measured
  });

  it('judges the scale ratio (last 50 over first 50) against its goal in its own unit', () => {
    const rows = buildRows(new Map([['many.ratio', [1.05]], ['fifty.concurrent', [300]]]), 1000);
    const ratio = rows.find((r) => r.key === 'many.ratio')!;
    expect(ratio.cells.slice(0, 3)).toEqual(['sandbox create, last 50 / first 50 of 1000 (medians)', '1', '1.05×']);
    expect(ratio.cells[5]).toBe('≤ 1.1×: met');
    expect(buildRows(new Map([['many.ratio', [1.9]]]), 1000)[0]!.cells[5]).toBe('≤ 1.1×: MISSED');
    expect(rows.find((r) => r.key === 'fifty.concurrent')!.cells[5]).toBe('≤ 250 ms: MISSED');
  });

  it('shows a single value once, with its unit and the sandbox count in the label', () => {
    const rss = buildRows(series, 500).find((r) => r.key === 'rss.many')!;
    expect(rss.cells.slice(0, 5)).toEqual(['daemon VmRSS, 500 sandboxes (5 s after the last create)', '1', '150 MiB', '', '']);
  });

  it('judges the memory goals: a figure in the row\'s unit, or another row\'s median of the same run', () => {
    const rows = buildRows(new Map([['rss.fresh', [72.4]], ['rss.0', [80]], ['rss.many', [95]], ['rss.perSandbox', [28]], ['rss.after', [84]]]), 500);
    const cell = (k: string, i: number) => rows.find((r) => r.key === k)!.cells[i];
    expect(cell('rss.fresh', 5)).toBe('≤ 70 MiB: MISSED');
    expect(cell('rss.perSandbox', 2)).toBe('28.0 KiB');
    expect(cell('rss.perSandbox', 5)).toBe('≤ 30 KiB: met');
    expect(cell('rss.after', 5)).toBe('≤ the 500 figure: met');
    expect(cell('rss.after', 7)).toBe('1.1× the 0-sandbox figure');
    const above = buildRows(new Map([['rss.many', [95]], ['rss.after', [96]]]), 500).find((r) => r.key === 'rss.after')!;
    expect(above.goalMet).toBe(false);
    // Without the 500 figure there is nothing to judge against.
    expect(buildRows(new Map([['rss.after', [96]]]), 500)[0]!.goalMet).toBeUndefined();
  });

  it('leaves out what was not measured and escapes pipes in markdown', () => {
    const rows = buildRows(new Map([['floor.veth.batch', [1]]]), 500);
    expect(rows.map((r) => r.key)).toEqual(['floor.veth.batch']);
    expect(markdownTable(rows)[2]).toContain('1 × `ip -n -batch -`');
  });

  it('quotes no Docker figure (Docker is measured in the same run by the api part); netavark\'s are labelled as published', () => {
    const keys = ['floor.ping', 'net.create', 'net.remove', 'net.pair', 'connect', 'disconnect', 'fifty.create', 'fifty.remove', 'fifty.each'];
    const rows = buildRows(new Map(keys.map((k) => [k, [5]])), 500);
    expect(rows).toHaveLength(keys.length);
    for (const r of rows) expect(r.cells.join(' ')).not.toMatch(/docker/i);
    expect(HEADERS[6]).toBe('netavark, published (ms; not this run)');
    expect(rows.find((r) => r.key === 'connect')!.cells[6]).toBe('83');
    expect(rows.find((r) => r.key === 'floor.ping')!.cells[6]).toBe('');
  });

  it('rewrites only the generated block of the performance doc', () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'perf-')), 'performance.md');
    updatePerformanceDoc(file, 'first');
    const prose = fs.readFileSync(file, 'utf8').replace('# Performance', '# Performance\n\nhand-written');
    fs.writeFileSync(file, prose + '\ntrailer\n');
    updatePerformanceDoc(file, 'second');
    const text = fs.readFileSync(file, 'utf8');
    expect(text).toContain('hand-written');
    expect(text).toContain('trailer');
    expect(text).toContain('second');
    expect(text).not.toContain('first');
    fs.rmSync(path.dirname(file), { recursive: true });
  });
});
