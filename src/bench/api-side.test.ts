import { describe, expect, it } from 'vitest';
import { apiRows, cliRows, floorRows, cpuTicks, dnsRows, emptySamples, order, pacingNote, perCpuSecond, times, API_HEADERS, API_OPS, CLI_OPS, type DnsRun } from './api-side.js';

describe('api part: figures', () => {
  it('swaps the order of the two sides every round', () => {
    expect(order(0)).toEqual(['yard', 'docker']);
    expect(order(1)).toEqual(['docker', 'yard']);
    expect(order(2)).toEqual(['yard', 'docker']);
  });

  it('divides only what can be divided', () => {
    expect(times(50, 5)).toBe('10.00×');
    expect(times(5, 50)).toBe('0.10×');
    // A server time at or below the floor has no ratio; neither has a missing figure.
    expect(times(50, 0)).toBe('-');
    expect(times(50, -1)).toBe('-');
    expect(times(-1, 5)).toBe('-');
    expect(times(NaN, 5)).toBe('-');
  });

  it('subtracts each side\'s own _ping median and divides Docker by Switchyard', () => {
    const s = emptySamples(API_OPS);
    s.yard.ping = [1, 2, 3];
    s.docker.ping = [4, 5, 6];
    s.yard.create = [12, 10, 14]; // median 12, server time 10
    s.docker.create = [105, 100, 110]; // median 105, server time 100
    s.yard.delete = [3, 2, 2]; // median 2: at the floor, no ratio
    s.docker.delete = [50, 50, 50];
    const rows = apiRows(s);
    expect(rows).toHaveLength(API_OPS.length);
    for (const r of rows) expect(r).toHaveLength(API_HEADERS.length);
    expect(rows[0]).toEqual(['GET /_ping (the floor)', '3', '2.00', '5.00', '', '', '', '']);
    const create = rows.find((r) => r[0]!.startsWith('POST /networks/create'))!;
    expect(create.slice(1)).toEqual(['3', '12.00', '105.00', '10.00', '100.00', '10.00×', '10×']);
    const del = rows.find((r) => r[0]!.startsWith('DELETE'))!;
    expect(del.slice(4)).toEqual(['0.00', '45.00', '-', '10×']);
    // Nothing measured: '-' rather than a made-up figure, n = 0.
    const connect = rows.find((r) => r[0]!.includes('/connect'))!;
    expect(connect.slice(1, 7)).toEqual(['0', '-', '-', '-', '-', '-']);
  });

  it('counts n as the shorter side, so a series cut by the budget shows', () => {
    const s = emptySamples(API_OPS);
    s.yard.ping = [1, 1, 1];
    s.docker.ping = [1];
    expect(apiRows(s)[0]![1]).toBe('1');
  });

  it('gives the CLI rows minus each side\'s own floor', () => {
    const s = emptySamples(CLI_OPS);
    s.yard.floor = [300];
    s.docker.floor = [350];
    s.yard.connect = [400];
    s.docker.connect = [550];
    s.yard.disconnect = [420];
    s.docker.disconnect = [450];
    const [floor, connect, disconnect] = cliRows(s);
    expect(floor!.slice(1)).toEqual(['1', '300', '350', '', '', '']);
    expect(connect!.slice(1)).toEqual(['1', '400', '550', '100', '200', '2.00×']);
    expect(disconnect!.slice(4)).toEqual(['120', '100', '0.83×']);
  });

  it('reads utime + stime from /proc/<pid>/stat, also with spaces and parentheses in the name', () => {
    // Fields 14 and 15 (utime 1234, stime 56).
    const stat = '4242 (node (x) y) S 1 4242 4242 0 -1 4194560 9000 0 12 0 1234 56 0 0 20 0 11 0 100 1000 2000';
    expect(cpuTicks(stat)).toBe(1290);
    expect(() => cpuTicks('4242 (dockerd) S 1')).toThrow(/unreadable/);
  });

  it('shows q/s and answers per CPU-second as Switchyard ÷ Docker, p99 as Docker ÷ Switchyard', () => {
    const run = (qps: number, p99: number, completed: number, cpuSeconds: number): DnsRun => ({ completed, lost: 0, notNoerror: 0, qps, p50: p99 / 2, p99, cpuSeconds });
    const rows = dnsRows({ local32: { yard: run(40_000, 1, 200_000, 2), docker: run(20_000, 4, 100_000, 4) } });
    expect(rows).toEqual([
      ['dnsperf: A of the other sandbox\'s / container\'s name, 32 in flight: q/s', '40000', '20000', '2.00×', '2×'],
      ['  p50 ms (ratio: Docker ÷ Switchyard)', '0.500', '2.000', '4.00×', ''],
      ['  p99 ms (ratio: Docker ÷ Switchyard)', '1.000', '4.000', '4.00×', ''],
      ['  answers per CPU-second of the resolver\'s process', '100000', '25000', '4.00×', '2×'],
      ['  answers / timeouts / not NOERROR', '200000 / 0 / 0', '100000 / 0 / 0', '', ''],
    ]);
    // A kind measured on one side only is left out rather than compared with nothing.
    expect(dnsRows({ local1: { yard: run(1, 1, 1, 1) } })).toEqual([]);
    expect(Number.isNaN(perCpuSecond(run(1, 1, 10, 0)))).toBe(true);
  });

  it('says when dnsperf\'s pacing, not the resolver, bounds the q/s at 1 in flight', () => {
    // 0.1 ms per answer could give 10,000 q/s one after another; 41 q/s is dnsperf.
    expect(pacingNote('Switchyard', { qps: 41, p50: 0.1 })).toMatch(/^Switchyard, 1 in flight: answers took 0.100 ms at p50 \(at most 10000 q\/s.*only 41 q\/s/);
    expect(pacingNote('Docker', { qps: 8000, p50: 0.1 })).toBeUndefined();
    expect(pacingNote('Docker', { qps: 0, p50: NaN })).toBeUndefined();
  });
});

describe('floorRows', () => {
  it('adds the state write to each kernel floor and divides Docker\'s server time by it', () => {
    const api = emptySamples(API_OPS);
    api.docker.ping = [10];
    api.docker.connect = [43];
    api.docker.disconnect = [60];
    const rows = floorRows({ connect: [2, 3, 4], disconnect: [1], fsync: [1.5] }, api);
    expect(rows[0]!.slice(1, 3)).toEqual(['1', '1.50']);
    // connect: 3 + 1.5 = 4.5; Docker 43 - 10 = 33; 33 / 4.5 = 7.33
    expect(rows[1]!.slice(1)).toEqual(['3', '3.00', '4.50', '33.00', '7.33×']);
    expect(rows[2]!.slice(1)).toEqual(['1', '1.00', '2.50', '50.00', '20.00×']);
    // Without the curl section's figures there is no ratio.
    expect(floorRows({ connect: [2], disconnect: [1], fsync: [1] }, undefined)[1]![5]).toBe('-');
  });
});
