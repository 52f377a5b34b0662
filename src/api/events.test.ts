/**
 * Docker's network events: their shape, since/until, filters, the in-memory log, what the
 * engine records (only committed changes) and the route's answers, past and live, over an
 * engine with the RecordingKernel. The docker CLI against a real daemon is the lab test's
 * job (test/lab/docker-events.test.ts).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Hono } from 'hono';
import {
  EventLog,
  checkEventFilters,
  eventLogOf,
  eventMatches,
  eventsOf,
  parseEventTime,
  serializeEvent,
  toMessage,
  type EventDraft,
  type RecordedEvent,
} from './events.js';
import { useApiApp } from '../../test/unit/api-app.js';
import { makeEngine, type TestEngine } from '../../test/unit/fakes.js';
import type { StateView } from '../engine/participants.js';
import type { NetworkRecord, SandboxRecord } from '../model/types.js';

const NET_ID = 'a'.repeat(64);
const SB_ID = 'b'.repeat(64);
const net = { id: NET_ID, name: 'app', driver: 'bridge', labels: { env: 'prod' } };
const sb = { id: SB_ID, name: 'web' };

describe('event shape', () => {
  it("is Docker's events.Message: Type, Action, Actor{ID, Attributes sorted}, scope, time, timeNano", () => {
    const t = 1_700_000_000_123_456_789n;
    const m = toMessage({ action: 'connect', net, sb }, t);
    const line = serializeEvent(m);
    expect(line.endsWith('\n')).toBe(true);
    expect(line).toBe(
      `{"Type":"network","Action":"connect","Actor":{"ID":"${NET_ID}","Attributes":{"container":"${SB_ID}","name":"app","type":"bridge"}},"scope":"local","time":1700000000,"timeNano":1700000000123456789}\n`,
    );
    // Without a sandbox: no container attribute.
    expect(JSON.parse(serializeEvent(toMessage({ action: 'create', net }, t))).Actor.Attributes).toEqual({ name: 'app', type: 'bridge' });
  });
});

describe('eventsOf', () => {
  const nets = new Map<string, NetworkRecord>([
    ['n1', { id: 'n1', name: 'one', driver: 'bridge', labels: {} } as NetworkRecord],
    ['n2', { id: 'n2', name: 'two', driver: 'macvlan', labels: {} } as NetworkRecord],
  ]);
  const view: StateView = { networks: nets, sandboxes: new Map() };
  const sandbox = {
    id: SB_ID,
    name: 'web',
    endpoints: { n2: { networkId: 'n2', order: 1 }, n1: { networkId: 'n1', order: 0 } },
  } as unknown as SandboxRecord;
  const summary = (ds: EventDraft[]) => ds.map((d) => `${d.action} ${d.net.name}${d.sb ? ` ${d.sb.name}` : ''}`);

  it('network create/remove are create/destroy; connect/disconnect name the sandbox', () => {
    const n = nets.get('n1')!;
    expect(summary(eventsOf({ kind: 'network.create', net: n }, view, view))).toEqual(['create one']);
    expect(summary(eventsOf({ kind: 'network.remove', net: n }, view, view))).toEqual(['destroy one']);
    const ep = sandbox.endpoints.n1!;
    expect(summary(eventsOf({ kind: 'connect', sb: sandbox, net: n, ep }, view, view))).toEqual(['connect one web']);
    expect(summary(eventsOf({ kind: 'disconnect', sb: sandbox, net: n, ep }, view, view))).toEqual(['disconnect one web']);
  });

  it('a sandbox created on networks connects to each in endpoint order; removed, disconnects from each', () => {
    expect(summary(eventsOf({ kind: 'sandbox.create', sb: sandbox }, view, view))).toEqual(['connect one web', 'connect two web']);
    expect(summary(eventsOf({ kind: 'sandbox.remove', sb: sandbox }, view, view))).toEqual(['disconnect one web', 'disconnect two web']);
    expect(eventsOf({ kind: 'sandbox.ports', sb: sandbox }, view, view)).toEqual([]);
  });
});

describe('parseEventTime', () => {
  const now = 1_700_000_600_000_000_000n;
  it("takes Docker's unix seconds, with a fraction of up to 9 digits", () => {
    expect(parseEventTime('1700000000', 'since', now)).toBe(1_700_000_000_000_000_000n);
    expect(parseEventTime('1700000000.5', 'since', now)).toBe(1_700_000_000_500_000_000n);
    expect(parseEventTime('1700000000.000000001', 'since', now)).toBe(1_700_000_000_000_000_001n);
    expect(parseEventTime('0', 'since', now)).toBe(0n);
    expect(parseEventTime(undefined, 'since', now)).toBeUndefined();
    expect(parseEventTime('', 'since', now)).toBeUndefined();
  });

  it('takes Go durations before now, and RFC 3339 dates', () => {
    expect(parseEventTime('10m', 'since', now)).toBe(now - 600_000_000_000n);
    expect(parseEventTime('1h30m', 'since', now)).toBe(now - 5_400_000_000_000n);
    expect(parseEventTime('1.5s', 'since', now)).toBe(now - 1_500_000_000n);
    expect(parseEventTime('2023-11-14T22:13:20Z', 'since', now)).toBe(1_700_000_000_000_000_000n);
    expect(parseEventTime('2023-11-14T22:13:20.25Z', 'since', now)).toBe(1_700_000_000_250_000_000n);
    expect(parseEventTime('2023-11-14T23:13:20+01:00', 'since', now)).toBe(1_700_000_000_000_000_000n);
    expect(parseEventTime('2023-11-14Z', 'since', now)).toBe(BigInt(Date.UTC(2023, 10, 14)) * 1_000_000n);
    // Without a zone: local time, as the docker CLI reads it.
    expect(parseEventTime('2023-11-14T22:13:20', 'since', now)).toBe(BigInt(new Date(2023, 10, 14, 22, 13, 20).getTime()) * 1_000_000n);
  });

  it('refuses anything else, naming the parameter', () => {
    for (const bad of ['yesterday', '10x', '2023-13-01', '2023-11-14T25:00:00Z', '1700000000.5.5']) {
      expect(() => parseEventTime(bad, 'until', now)).toThrow(/^until=".*" is not a timestamp, date or duration$/);
    }
  });
});

describe('filters', () => {
  const ev = (d: EventDraft): RecordedEvent => ({ msg: toMessage(d, 1n), labels: { ...d.net.labels }, ...(d.sb ? { sandboxName: d.sb.name } : {}) });
  const connect = ev({ action: 'connect', net, sb });
  const create = ev({ action: 'create', net });
  const f = (o: Record<string, string[]>) => new Map(Object.entries(o));

  it("accepts Docker's keys and refuses any other, naming it", () => {
    expect(() => checkEventFilters(f({ type: ['network'], event: ['create'], network: ['x'], container: ['y'], scope: ['local'], label: ['a'] }))).not.toThrow();
    expect(() => checkEventFilters(f({ type: ['network'], colour: ['red'] }))).toThrow("invalid filter 'colour'");
  });

  it('type, event and scope match exactly', () => {
    expect(eventMatches(f({ type: ['network'] }), create)).toBe(true);
    expect(eventMatches(f({ type: ['container'] }), create)).toBe(false);
    expect(eventMatches(f({ type: ['container', 'network'] }), create)).toBe(true);
    expect(eventMatches(f({ event: ['create'] }), create)).toBe(true);
    expect(eventMatches(f({ event: ['destroy'] }), create)).toBe(false);
    expect(eventMatches(f({ event: ['creat'] }), create)).toBe(false);
    expect(eventMatches(f({ scope: ['local'] }), create)).toBe(true);
    expect(eventMatches(f({ scope: ['swarm'] }), create)).toBe(false);
  });

  it('network matches the ID or name, whole or a prefix; container the sandbox', () => {
    expect(eventMatches(f({ network: ['app'] }), create)).toBe(true);
    expect(eventMatches(f({ network: ['ap'] }), create)).toBe(true);
    expect(eventMatches(f({ network: [NET_ID.slice(0, 12)] }), create)).toBe(true);
    expect(eventMatches(f({ network: ['db'] }), create)).toBe(false);
    expect(eventMatches(f({ container: ['web'] }), connect)).toBe(true);
    expect(eventMatches(f({ container: [SB_ID.slice(0, 12)] }), connect)).toBe(true);
    expect(eventMatches(f({ container: ['db'] }), connect)).toBe(false);
    expect(eventMatches(f({ container: ['web'] }), create)).toBe(false);
  });

  it('label: every key or key=value among the attributes and the network labels; keys AND, values of one key all required', () => {
    expect(eventMatches(f({ label: ['env=prod'] }), create)).toBe(true);
    expect(eventMatches(f({ label: ['env'] }), create)).toBe(true);
    expect(eventMatches(f({ label: ['env=dev'] }), create)).toBe(false);
    expect(eventMatches(f({ label: ['type=bridge', 'env=prod'] }), create)).toBe(true);
    expect(eventMatches(f({ label: ['type=bridge', 'env=dev'] }), create)).toBe(false);
    expect(eventMatches(f({ type: ['network'], network: ['app'], event: ['destroy'] }), create)).toBe(false);
    expect(eventMatches(f({ type: ['network'], network: ['app'], event: ['create'] }), create)).toBe(true);
  });
});

describe('EventLog', () => {
  it('keeps the last `capacity` events, stamps them in increasing time, and gives none past without since/until', () => {
    let t = 100n;
    const log = new EventLog(3, () => (t += 10n));
    for (const name of ['a', 'b', 'c', 'd', 'e']) log.publish(log.stamp([{ action: 'create', net: { ...net, name } }]));
    expect(log.size).toBe(3);
    const names = (es: RecordedEvent[]) => es.map((e) => e.msg.Actor.Attributes.name);
    expect(names(log.past(0n))).toEqual(['c', 'd', 'e']);
    expect(log.past(0n).map((e) => e.msg.timeNano)).toEqual([130n, 140n, 150n]);
    expect(names(log.past(140n))).toEqual(['d', 'e']);
    expect(names(log.past(undefined, 140n))).toEqual(['c', 'd']);
    expect(names(log.past(131n, 149n))).toEqual(['d']);
    expect(log.past()).toEqual([]);
  });

  it('hands each event to subscribers until they unsubscribe', () => {
    const log = new EventLog();
    const seen: string[] = [];
    const off = log.subscribe((e) => seen.push(e.msg.Action));
    log.publish(log.stamp([{ action: 'create', net }]));
    expect(log.subscribers).toBe(1);
    off();
    log.publish(log.stamp([{ action: 'destroy', net }]));
    expect(seen).toEqual(['create']);
    expect(log.subscribers).toBe(0);
  });
});

describe('the engine records committed changes only', () => {
  let t: TestEngine;
  let log: EventLog;
  beforeEach(async () => {
    t = await makeEngine();
    log = eventLogOf(t.engine);
  });
  afterEach(() => t.cleanup());
  // Events are kept once the engine's queue has moved past the change.
  const seen = async () => (await t.engine.serial(async () => log.past(0n))).map((e) => `${e.msg.Action} ${e.msg.Actor.Attributes.name}${e.msg.Actor.Attributes.container ? ` ${e.msg.Actor.Attributes.container.slice(0, 12)}` : ''}`);

  it('create, connect (at sandbox create and later), disconnect, destroy, with IDs and names', async () => {
    const { net: a } = await t.engine.createNetwork({ name: 'a', ipam: [{ subnet: '10.50.0.0/24' }] });
    await t.engine.createNetwork({ name: 'b', ipam: [{ subnet: '10.60.0.0/24' }] });
    const { sb: web } = await t.engine.createSandbox({ name: 'web', networks: [{ network: 'a' }] });
    await t.engine.connect('b', 'web');
    await t.engine.disconnect('b', 'web');
    await t.engine.connect('b', 'web');
    await t.engine.removeSandbox('web', true);
    await t.engine.removeNetwork('a');
    const w = web.id.slice(0, 12);
    expect(await seen()).toEqual(['create a', 'create b', `connect a ${w}`, `connect b ${w}`, `disconnect b ${w}`, `connect b ${w}`, `disconnect a ${w}`, `disconnect b ${w}`, 'destroy a']);
    const first = log.past(0n)[0]!.msg;
    expect(first).toMatchObject({ Type: 'network', Action: 'create', Actor: { ID: a.id, Attributes: { name: 'a', type: 'bridge' } }, scope: 'local' });
    expect(Math.abs(first.time - Date.now() / 1000)).toBeLessThan(5);
    expect(first.timeNano / 1_000_000_000n).toBe(BigInt(first.time));
  });

  it('a change undone (the record cannot be written), a refused one, or a dry run records nothing', async () => {
    t.store.failNextPut = new Error('ENOSPC: no space left on device');
    await expect(t.engine.createNetwork({ name: 'a', ipam: [{ subnet: '10.50.0.0/24' }] })).rejects.toThrow(/ENOSPC/);
    await t.engine.createNetwork({ name: 'd', ipam: [{ subnet: '10.70.0.0/24' }], dryRun: true });
    await expect(t.engine.createNetwork({ name: 'bad', ipam: [{ subnet: '10.50.0.0/33' }] })).rejects.toThrow();
    await t.engine.createNetwork({ name: 'a', ipam: [{ subnet: '10.50.0.0/24' }] });
    await t.engine.createSandbox({ name: 'web' }); // on the default bridge
    t.store.failNextPut = new Error('EIO');
    await expect(t.engine.connect('a', 'web')).rejects.toThrow('EIO');
    await t.engine.connect('a', 'web', {}, true);
    // Positive control: the same changes, committed, are recorded.
    await t.engine.connect('a', 'web');
    expect((await seen()).map((s) => s.split(' ').slice(0, 2).join(' '))).toEqual(['create a', 'connect bridge', 'connect a']);
  });
});

describe('GET /events', () => {
  let t: TestEngine;
  let app: Hono;
  useApiApp((e, a) => {
    t = e;
    app = a;
  });
  const lines = (text: string) => text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { Action: string; Actor: { ID: string; Attributes: Record<string, string> } });
  const q = (o: Record<string, string>) => new URLSearchParams(o).toString();

  it('with until: the past events up to it as JSON lines, then the answer ends', async () => {
    const before = Math.floor(Date.now() / 1000) - 1;
    const { net: app1 } = await t.engine.createNetwork({ name: 'app1', ipam: [{ subnet: '10.50.0.0/24' }] });
    await t.engine.removeNetwork('app1');
    const until = (Date.now() / 1000 + 0.001).toFixed(9);
    const r = await app.request(`/v1.41/events?${q({ since: String(before), until })}`);
    expect(r.status).toBe(200);
    expect(r.headers.get('Content-Type')).toBe('application/json');
    const evs = lines(await r.text());
    expect(evs.map((e) => `${e.Action} ${e.Actor.Attributes.name}`)).toEqual(['create app1', 'destroy app1']);
    expect(evs[0]!.Actor.ID).toBe(app1.id);
    // Filters: an excluding one answers nothing, the including one the event.
    const none = await app.request(`/events?${q({ since: String(before), until, filters: JSON.stringify({ event: ['connect'] }) })}`);
    expect(await none.text()).toBe('');
    const some = await app.request(`/events?${q({ since: String(before), until, filters: JSON.stringify({ event: { destroy: true }, type: ['network'] }) })}`);
    expect(lines(await some.text()).map((e) => e.Action)).toEqual(['destroy']);
  });

  it('refuses an unknown filter key, a bad time and since after until, naming them', async () => {
    const bad = async (query: string) => {
      const r = await app.request(`/v1.41/events?${query}`);
      return [r.status, ((await r.json()) as { message: string }).message];
    };
    expect(await bad(q({ filters: JSON.stringify({ colour: ['red'] }), until: '1' }))).toEqual([400, expect.stringMatching(/^invalid filter 'colour'; use one of config, container, /)]);
    expect(await bad(q({ since: 'yesterday' }))).toEqual([400, expect.stringMatching(/^since="yesterday" is not a timestamp, date or duration; use unix seconds/)]);
    expect(await bad(q({ since: '200', until: '100' }))).toEqual([400, expect.stringMatching(/^`since` time \(200\) cannot be after `until` time \(100\)/)]);
    expect(await bad(q({ filters: '[1]' }))).toEqual([400, expect.stringMatching(/^filters "\[1\]" is not a JSON object/)]);
  });

  it('without until: streams each change as it commits, and lets go when the client closes', async () => {
    const log = eventLogOf(t.engine);
    const r = await app.request(`/events?${q({ filters: JSON.stringify({ type: ['network'], network: ['live'] }) })}`);
    expect(r.status).toBe(200);
    const reader = r.body!.getReader();
    expect(log.subscribers).toBe(1);
    await t.engine.createNetwork({ name: 'other', ipam: [{ subnet: '10.60.0.0/24' }] }); // filtered out
    await t.engine.createNetwork({ name: 'live', ipam: [{ subnet: '10.50.0.0/24' }] });
    const { value } = await Promise.race([reader.read(), new Promise<never>((_, rej) => setTimeout(() => rej(new Error('no event within 2 s')), 2000))]);
    expect(lines(new TextDecoder().decode(value)).map((e) => `${e.Action} ${e.Actor.Attributes.name}`)).toEqual(['create live']);
    await reader.cancel();
    expect(log.subscribers).toBe(0);
  });

  it('with until a moment ahead: streams until then, then ends', async () => {
    const log = eventLogOf(t.engine);
    const until = (Date.now() / 1000 + 0.3).toFixed(9);
    const r = await app.request(`/events?${q({ until })}`);
    const text = r.text();
    await t.engine.createNetwork({ name: 'soon', ipam: [{ subnet: '10.50.0.0/24' }] });
    const evs = lines(await Promise.race([text, new Promise<never>((_, rej) => setTimeout(() => rej(new Error('still open after 3 s')), 3000))]));
    expect(evs.map((e) => e.Actor.Attributes.name)).toEqual(['soon']);
    expect(log.subscribers).toBe(0);
  });
});
