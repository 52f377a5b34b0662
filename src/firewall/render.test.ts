import { describe, expect, it } from 'vitest';
import { fixtureNetwork, fixtureSandbox, goldenMatrix, port } from '../../test/fixtures/firewall/fixtures.js';
import { ModelParts, diffModels, diffModelsAsync, elementCount, emptyDiff, modelOf, modelOfAsync, networkElements, sandboxModel, settleDiff } from './model.js';
import { renderDelta, renderDiff, renderDiffAsync, renderRuleset, splitTables } from './render.js';

const ruleLines = (script: string) => script.split('\n').filter((l) => /^\t\t(?!type |flags |elements|#)\S/.test(l) && !/^\t\t {10}/.test(l));

describe('golden rulesets', () => {
  for (const c of goldenMatrix()) {
    it(c.name, async () => {
      const text = renderRuleset(modelOf(c.networks, c.sandboxes), { withUserTable: true });
      await expect(text).toMatchFileSnapshot(`../../test/fixtures/firewall/golden/${c.name}.nft`);
    });
  }
});

describe('renderRuleset', () => {
  it('replaces only Switchyard\'s own tables and declares the user table only when asked', () => {
    const text = renderRuleset(modelOf([], []));
    expect(text.match(/^delete table .*$/gm)).toEqual(['delete table inet switchyard', 'delete table bridge switchyard']);
    expect(text).not.toContain('switchyard-user');
    expect(text).not.toMatch(/flush ruleset|policy drop/);
    expect(renderRuleset(modelOf([], []), { withUserTable: true })).toContain('chain user-forward {\n\t\ttype filter hook forward priority filter - 10; policy accept;');
  });

  it('keeps the rule count constant however many ports and networks there are', () => {
    const nets = Array.from({ length: 5 }, (_, i) => fixtureNetwork({ name: `n${i}`, index: i + 1, ipv6: true }));
    const few = renderRuleset(modelOf(nets.slice(0, 1), [fixtureSandbox('a', 0, nets.slice(0, 1), [port(8080, 80)])]));
    const sbs = Array.from({ length: 200 }, (_, i) => fixtureSandbox(`s${i}`, i, [nets[i % 5]!], [port(10000 + i * 3, 80), port(10001 + i * 3, 53, 'udp'), port(40000 + i * 10, 100, 'tcp', '', 5)]));
    const many = renderRuleset(modelOf(nets, sbs));
    expect(ruleLines(many).length).toBe(ruleLines(few).length);
    expect(ruleLines(few).length).toBeGreaterThan(10);
    // 200 sandboxes x (1 + 1 + 6 elements) x 2 families + 5 networks' set elements
    // (bridges, same_bridge, masq4/6, hairpin4/6)
    expect(elementCount(modelOf(nets, sbs))).toBe(200 * 8 * 2 + 5 * 6);
  });

  it('makes a port range with the same ports one element, and a shifted range one element per port', () => {
    const net = fixtureNetwork({ name: 'app', index: 1 });
    const m = modelOf([net], [fixtureSandbox('web', 0, [net], [port(20000, 20000, 'tcp', '', 999), port(8000, 80, 'udp', '', 9)])]);
    expect([...m.pr4.keys()]).toEqual(['20000-20999 . tcp . 0.0.0.0/0 : 172.19.0.2']);
    expect(m.pm4.size).toBe(10);
    expect(m.pm4.has('udp . 8009 : 172.19.0.2 . 89')).toBe(true);
  });
});

describe('renderDelta', () => {
  const net = fixtureNetwork({ name: 'app', index: 1, ipv6: true });
  const web = fixtureSandbox('web', 0, [net], [port(8080, 80), port(9090, 90, 'tcp', '127.0.0.1')]);
  const db = fixtureSandbox('db', 1, [net], [port(5432, 5432)]);

  it('adds and deletes exactly one sandbox\'s elements', () => {
    const before = modelOf([net], [web]);
    const after = modelOf([net], [web, db]);
    expect(renderDelta(before, after)).toBe(
      'add element inet switchyard pm4 { tcp . 5432 : 172.19.0.3 . 5432 }\n' +
        'add element inet switchyard pm6 { tcp . 5432 : fd00:2::3 . 5432 }\n',
    );
    expect(renderDelta(after, before)).toBe(
      'delete element inet switchyard pm4 { tcp . 5432 }\n' + 'delete element inet switchyard pm6 { tcp . 5432 }\n',
    );
    expect(renderDelta(after, after)).toBe('');
  });

  it('adds a network as set elements only', () => {
    const other = fixtureNetwork({ name: 'other', index: 2, icc: false });
    const delta = renderDelta(modelOf([net], []), modelOf([net, other], [fixtureSandbox('x', 3, [other])]));
    expect(delta.split('\n').filter(Boolean)).toEqual([
      'add element inet switchyard bridges { "br-aa0002000000" }',
      'add element inet switchyard same_bridge { "br-aa0002000000" . "br-aa0002000000" }',
      'add element inet switchyard masq4 { 172.20.0.0/16 }',
      'add element inet switchyard hairpin4 { "br-aa0002000000" . 172.20.0.0/16 }',
      'add element bridge switchyard no_icc_ports { "yvee0030000000" }',
    ]);
  });
});

describe('splitTables', () => {
  it('finds each top-level table block of a listing', () => {
    const t = splitTables('table inet a {\n\tchain c {\n\t}\n}\ntable bridge switchyard {\n}\n');
    expect([...t.keys()]).toEqual(['inet a', 'bridge switchyard']);
    expect(t.get('inet a')).toBe('table inet a {\n\tchain c {\n\t}\n}');
  });
});

describe('step-wise model, diff and delta (what the daemon uses)', () => {
  it('give the same result as the one-go versions, and let the event loop run in between', async () => {
    const net = fixtureNetwork({ name: 'app', index: 1, ipv6: true });
    const sbs = [fixtureSandbox('big', 0, [net], [port(10000, 20000, 'tcp', '', 9999), port(40000, 40000, 'udp', '', 999)]), fixtureSandbox('db', 1, [net], [port(5432, 5432)])];
    let ticks = 0;
    let on = true;
    const tick = () => {
      ticks++;
      if (on) setImmediate(tick);
    };
    setImmediate(tick);
    const empty = await modelOfAsync([net], []);
    const full = await modelOfAsync([net], sbs);
    const delta = await renderDiffAsync(await diffModelsAsync(empty, full));
    const back = await renderDiffAsync(await diffModelsAsync(full, empty));
    on = false;
    expect(full).toEqual(modelOf([net], sbs));
    expect(elementCount(full)).toBe(2 * (10_000 + 1 + 1) + 6);
    expect(delta).toBe(renderDelta(modelOf([net], []), modelOf([net], sbs)));
    expect(back).toBe(renderDiff(diffModels(full, empty)));
    expect(delta.split('\n').filter(Boolean).map((l) => l.split(' {')[0])).toEqual(['add element inet switchyard pm4', 'add element inet switchyard pr4', 'add element inet switchyard pm6', 'add element inet switchyard pr6']);
    // 20,000 elements built, diffed twice and rendered twice in steps of 2,000: the loop ran.
    expect(ticks).toBeGreaterThan(20);
  });
});

describe('ModelParts (what a change recomputes)', () => {
  const net = fixtureNetwork({ name: 'app', index: 1, ipv6: true });
  const other = fixtureNetwork({ name: 'other', index: 2, icc: false });
  const nets = new Map([net, other].map((n) => [n.id, n]));
  const sbs = Array.from({ length: 50 }, (_, i) => fixtureSandbox(`s${i}`, i, [i % 2 ? net : other], [port(10000 + i, 80), port(20000 + i * 10, 20000 + i * 10, 'tcp', '', 9)]));
  const partsOf = (list: typeof sbs) => {
    const p = new ModelParts();
    p.replace('networks', networkElements(nets.values()));
    for (const sb of list) p.replace(sb.id, sandboxModel(sb, nets));
    return p;
  };

  it('holds the same union as the whole model, and a replacement yields exactly the whole-model delta', () => {
    const parts = partsOf(sbs);
    expect(parts.union).toEqual(modelOf([net, other], sbs));
    const moved = fixtureSandbox('s7', 7, [net], [port(30000, 80, 'udp')]);
    const after = [...sbs.filter((s) => s.name !== 's3' && s.name !== 's7'), moved];
    const d = emptyDiff();
    parts.replace(sbs[3]!.id, undefined, d);
    parts.replace(sbs[7]!.id, sandboxModel(moved, nets), d);
    expect(parts.union).toEqual(modelOf([net, other], after));
    // The same elements as diffing the two whole models, set by set (order aside).
    const whole = diffModels(modelOf([net, other], sbs), modelOf([net, other], after));
    const sorted = (m: Record<string, { key: string; value?: string }[]>) => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, v.map((e) => `${e.key}:${e.value}`).sort()]));
    expect(sorted(d.add)).toEqual(sorted(whole.add));
    expect(sorted(d.del)).toEqual(sorted(whole.del));
    expect(d.count).toBe(whole.count);
    expect(d.count).toBeGreaterThan(0);
  });

  it('keeps an element two parts hold until both let go of it, and loads it as the union has it', () => {
    const p = new ModelParts();
    const a = networkElements([net]);
    p.replace('a', a);
    p.replace('b', networkElements([net]));
    const d1 = p.replace('a', undefined);
    expect(d1.count).toBe(0);
    expect(p.union.bridges.size).toBe(1);
    const d2 = p.replace('b', undefined);
    expect(d2.del.bridges.map((e) => e.key)).toEqual([`"${String(net.driverState.bridge)}"`]);
    expect(p.union.bridges.size).toBe(0);
    // Deleted by one part and added by another within one change: loaded once, as it ends.
    const d3 = emptyDiff();
    p.replace('a', a, d3);
    p.replace('a', undefined, d3);
    p.replace('b', a, d3);
    const settled = settleDiff(d3, p.union);
    expect(settled.del.bridges).toEqual([]);
    expect(settled.add.bridges.map((e) => e.key)).toEqual([`"${String(net.driverState.bridge)}"`]);
  });
});
