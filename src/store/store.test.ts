/**
 * The JSON store on a real temporary directory: damaged records are quarantined and the
 * rest loads; tombstones are renames; a failed write is a STATE_WRITE_FAILED error.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { YardError } from '../errors.js';
import type { NetworkRecord, SandboxRecord } from '../model/types.js';
import { JsonStore, writeError } from './store.js';
import { recordProblem } from './records.js';

const hex = (c: string) => c.repeat(64);
let dir: string;
afterEach(() => dir && fs.rmSync(dir, { recursive: true, force: true }));

function net(id: string): NetworkRecord {
  return {
    id, name: `n-${id.slice(0, 4)}`, driver: 'bridge', scope: 'local', created: '2026-01-01T00:00:00Z', internal: false, attachable: false, ipv6: false,
    ipam: { driver: 'default', options: {}, config: [{ subnet: '10.1.0.0/24', gateway: '10.1.0.1', auxAddresses: {} }] },
    options: {}, labels: {}, driverState: { bridge: 'br-x' },
  };
}
function sandbox(id: string, netId: string): SandboxRecord {
  return {
    id, name: `s-${id.slice(0, 4)}`, created: '2026-01-01T00:00:00Z', netns: `yard-h1-${id.slice(0, 12)}`, hostname: 'x', command: [], detached: false,
    status: 'created', dns: [], dnsSearch: [], dnsOptions: [], extraHosts: [], labels: {},
    endpoints: { [netId]: { id: hex('e'), networkId: netId, ifname: 'eth0', aliases: [], order: 0, ipv4: '10.1.0.2/24' } },
  };
}

describe('JsonStore', () => {
  it('loads sound records and quarantines every damaged one, naming the file and the fault', () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'yard-store-'));
    const store = new JsonStore(dir, false, 'yard-h1-');
    store.putNetwork(net(hex('a')));
    store.putSandbox(sandbox(hex('b'), hex('a')));
    const sbDir = path.join(dir, 'sandboxes');
    const bad: Record<string, string> = {
      [`${hex('1')}.json`]: '{"id": "11',
      [`${hex('2')}.json`]: '',
      [`${hex('3')}.json`]: 'not json',
      [`${hex('4')}.json`]: '{}',
      [`${hex('5')}.json`]: JSON.stringify(sandbox(hex('6'), hex('a'))),
      [`${hex('7')}.json`]: JSON.stringify({ ...sandbox(hex('7'), hex('a')), netns: 'yardlan' }),
      [`${hex('8')}.json`]: JSON.stringify({ ...sandbox(hex('8'), hex('a')), pid: 'one' }),
    };
    for (const [f, text] of Object.entries(bad)) fs.writeFileSync(path.join(sbDir, f), text);

    const state = new JsonStore(dir, false, 'yard-h1-').load();
    expect([...state.networks.keys()]).toEqual([hex('a')]);
    expect([...state.sandboxes.keys()]).toEqual([hex('b')]);
    const again = new JsonStore(dir, false, 'yard-h1-');
    again.load();
    expect(again.quarantined()).toEqual([]); // moved aside: the next load does not see them
    const q = fs.readdirSync(path.join(dir, 'quarantine'));
    expect(q).toHaveLength(Object.keys(bad).length);
    for (const f of Object.keys(bad)) expect(fs.existsSync(path.join(sbDir, f))).toBe(false);
  });

  it('reports why: the file, the field and where it went', () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'yard-store-'));
    const store = new JsonStore(dir, false, 'yard-h1-');
    fs.writeFileSync(path.join(dir, 'sandboxes', `${hex('7')}.json`), JSON.stringify({ ...sandbox(hex('7'), hex('a')), netns: 'yardlan' }));
    fs.writeFileSync(path.join(dir, 'networks', `${hex('9')}.json`), '{}');
    store.load();
    const q = store.quarantined();
    expect(q.map((r) => [r.kind, r.id])).toEqual([['network', hex('9')], ['sandbox', hex('7')]]);
    expect(q[0]!.reason).toMatch(/^field id: /);
    expect(q[1]!.reason).toMatch(/netns: yardlan is not this sandbox's namespace/);
    expect(q[1]!.movedTo).toMatch(/quarantine\/sandbox-7{64}\.json\./);
  });

  it('a tombstone is a rename, loads as deleting, and delete removes it', () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'yard-store-'));
    const store = new JsonStore(dir, false);
    const s = sandbox(hex('b'), hex('a'));
    store.putSandbox(s);
    store.tombstoneSandbox(s);
    expect(fs.readdirSync(path.join(dir, 'sandboxes'))).toEqual([`${hex('b')}.deleting.json`]);
    expect(store.load().sandboxes.get(hex('b'))?.deleting).toBe(true);
    store.deleteSandbox(hex('b'));
    expect(fs.readdirSync(path.join(dir, 'sandboxes'))).toEqual([]);
    // A tombstone for a record whose file was removed by hand is still written.
    store.tombstoneNetwork(net(hex('a')));
    expect(store.load().networks.get(hex('a'))?.deleting).toBe(true);
  });

  it('a write with its fsync off the thread leaves the same one file, over the old record, and no temp file', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'yard-store-'));
    const store = new JsonStore(dir, true);
    const s = sandbox(hex('b'), hex('a'));
    store.putSandbox(s);
    await Promise.all([store.putSandboxAsync({ ...s, hostname: 'y' }), store.putNetworkAsync(net(hex('a')))]);
    expect(fs.readdirSync(path.join(dir, 'sandboxes'))).toEqual([`${hex('b')}.json`]);
    expect(fs.readdirSync(path.join(dir, 'networks'))).toEqual([`${hex('a')}.json`]);
    const loaded = store.load();
    expect(loaded.sandboxes.get(hex('b'))?.hostname).toBe('y');
    expect(loaded.networks.get(hex('a'))?.name).toBe(`n-${'a'.repeat(4)}`);
    // A directory that is gone: the write fails with the state error, nothing half-written stays.
    fs.rmSync(path.join(dir, 'networks'), { recursive: true });
    await expect(store.putNetworkAsync(net(hex('c')))).rejects.toMatchObject({ code: 'STATE_WRITE_FAILED' });
  });

  it('a failed write is STATE_WRITE_FAILED (503) naming the file and the cause', () => {
    const e = writeError('/var/lib/switchyard/h1/sandboxes/x.json', Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }));
    expect(e).toBeInstanceOf(YardError);
    expect(e.status).toBe(503);
    expect(e.line).toMatch(/cannot write the state file \/var\/lib\/switchyard\/h1\/sandboxes\/x.json: no space left on the device \(ENOSPC\); free space/);
    expect(writeError('/f', Object.assign(new Error('x'), { code: 'EROFS' })).line).toMatch(/read-only filesystem \(EROFS\); remount/);
  });
});

describe('runtime-owned sandbox records', () => {
  const base = () => sandbox(hex('a'), hex('1'));
  it('a runtime namespace attached under our name loads; the same name without a runtime, or a handover sandbox with a namespace, is damaged', () => {
    const attached: SandboxRecord = { ...base(), netns: `yard-h1-rt-${'a'.repeat(12)}`, runtime: { kind: 'cni', mode: 'configure', path: '/run/netns/cni-1', container: 'c1' } };
    expect(recordProblem('sandbox', attached, hex('a'), 'yard-h1-')).toBeUndefined();
    expect(recordProblem('sandbox', { ...attached, runtime: undefined }, hex('a'), 'yard-h1-')).toMatch(/field netns: yard-h1-rt-a+ is not this sandbox's namespace/);
    expect(recordProblem('sandbox', { ...attached, runtime: { kind: 'cni', mode: 'configure', path: 'relative' } }, hex('a'), 'yard-h1-')).toMatch(/absolute path/);
    const handover: SandboxRecord = { ...base(), netns: null, runtime: { kind: 'docker', mode: 'handover' } };
    expect(recordProblem('sandbox', handover, hex('a'), 'yard-h1-')).toBeUndefined();
    expect(recordProblem('sandbox', { ...handover, netns: `yard-h1-${'a'.repeat(12)}` }, hex('a'), 'yard-h1-')).toMatch(/handover sandbox has no namespace/);
  });
});
