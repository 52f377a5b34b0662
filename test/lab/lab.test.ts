/**
 * The lab itself (no daemons): the LAN works, the fake resolver answers, the real network
 * namespace is untouched, and teardown leaves nothing behind. Needs root and `npm run build`
 * (the fake resolver runs from dist/).
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { YardError } from '../../src/errors.js';
import { RUN_DIR, sandboxNetnsPrefix } from '../../src/paths.js';
import {
  labDown,
  labEnv,
  labExec,
  labHost,
  labInfo,
  labOfHostArg,
  labList,
  labUp,
  processGone,
  type LabInfo,
} from '../../src/lab/lab.js';

const NAME = `tl${process.pid % 1000}`;
const PING = fs.existsSync('/usr/bin/ping') || fs.existsSync('/bin/ping') ? ['ping'] : ['busybox', 'ping'];

/** The real namespace as iproute2 reports it, minus address lifetimes (they count down). */
function rootSnapshot(): string {
  return [['link'], ['addr'], ['route'], ['-6', 'route']]
    .map((args) => {
      const json = execFileSync('ip', ['-j', ...args], { encoding: 'utf8', timeout: 10_000 });
      return JSON.stringify(JSON.parse(json || '[]'), (k, v) => (k.endsWith('_life_time') ? undefined : v));
    })
    .join('\n');
}

const netns = () => (fs.existsSync('/run/netns') ? fs.readdirSync('/run/netns') : []);

function expectYardError(fn: () => unknown, code: string, field?: string): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(YardError);
    expect((e as YardError).code).toBe(code);
    if (field) expect((e as YardError).field).toBe(field);
    return;
  }
  throw new Error(`expected ${code}`);
}

async function rejection(p: Promise<unknown>): Promise<YardError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(YardError);
  return err as YardError;
}

describe('lab', () => {
  let before = '';
  let info: LabInfo;
  let upMs = 0;

  beforeAll(async () => {
    await labDown(NAME); // a leftover of an interrupted run
    before = rootSnapshot();
    const t0 = Date.now();
    info = await labUp({ name: NAME, hosts: 2, daemons: false, mtu: 1400 });
    upMs = Date.now() - t0;
  });

  afterAll(async () => {
    await labDown(NAME);
  });

  it('rejects bad input, naming the field', async () => {
    const cases: [Parameters<typeof labUp>[0], string][] = [
      [{ name: 'Lab' }, '--name'],
      [{ name: 'a'.repeat(17) }, '--name'],
      [{ name: `${NAME}x`, hosts: 0 }, '--hosts'],
      [{ name: `${NAME}x`, hosts: 17 }, '--hosts'],
      [{ name: `${NAME}x`, mtu: 100 }, '--mtu'],
    ];
    for (const [opts, field] of cases) {
      const err = await rejection(labUp({ ...opts, daemons: false }));
      expect([err.code, err.field]).toEqual(['INVALID_ARGUMENT', field]);
    }
    expect(netns().filter((n) => n.startsWith(`${NAME}x`))).toEqual([]);
  });

  it('builds the LAN quickly, with the recorded names and state', async () => {
    expect(upMs).toBeLessThan(5_000); // about 0.3 s on an idle machine
    expect(info.lanNs).toBe(`${NAME}-lan`);
    expect(info.hosts.map((h) => [h.name, h.lan4, h.lan6])).toEqual([
      [`${NAME}-host1`, '10.231.0.2', 'fd00:231::2'],
      [`${NAME}-host2`, '10.231.0.3', 'fd00:231::3'],
    ]);
    expect(netns()).toEqual(expect.arrayContaining([info.lanNs, ...info.hosts.map((h) => h.name)]));
    expect(labInfo(NAME)).toEqual(info);
    expect(labList().map((l) => l.name)).toContain(NAME);
    expect((await rejection(labUp({ name: NAME, daemons: false }))).code).toBe('LAB_EXISTS');
    const lan0 = JSON.parse(execFileSync('ip', ['-n', info.hosts[0].name, '-j', 'link', 'show', 'lan0'], { encoding: 'utf8' }));
    expect(lan0[0].mtu).toBe(1400);
  });

  it('finds hosts by short name, number or namespace name, and gives them an env', () => {
    const h2 = info.hosts[1];
    expect(labHost(info, 'host2')).toBe(h2);
    expect(labHost(info, '2')).toBe(h2);
    expect(labHost(info, `${NAME}-host2`)).toBe(h2);
    expectYardError(() => labHost(info, 'host3'), 'LAB_HOST_NOT_FOUND');
    expectYardError(() => labInfo('nosuchlab'), 'LAB_NOT_FOUND');
    // A full namespace name names its lab too (yard lab exec NAME-host2 without --name).
    expect(labOfHostArg(undefined, `${NAME}-host2`).name).toBe(NAME);
    expect(labOfHostArg(NAME, 'host2').name).toBe(NAME);
    const env = labEnv(info, h2);
    expect(env.YARD_HOST).toBe(`unix://${h2.socket}`);
    expect(env.DOCKER_HOST).toBe(`unix://${h2.socket}`);
    expect(env.YARD_INSTANCE).toBe(h2.name);
  });

  it('connects the hosts over IPv4 and IPv6', async () => {
    const [h1, h2] = info.hosts;
    for (const args of [['-c1', '-W2', h2.lan4], ['-6', '-c1', '-W2', h2.lan6]]) {
      const r = await labExec(info, h1, [...PING, ...args], { timeoutMs: 10_000 });
      expect(r.code, `${PING.join(' ')} ${args.join(' ')}: ${r.stdout}${r.stderr}`).toBe(0);
    }
  });

  it('has no default route in any host', async () => {
    for (const h of info.hosts) {
      for (const fam of ['-4', '-6']) {
        const r = await labExec(info, h, ['ip', fam, '-j', 'route', 'show', 'default']);
        expect(r.code).toBe(0);
        expect(JSON.parse(r.stdout || '[]')).toEqual([]);
      }
      // Positive control: the same query lists the host's route to the LAN.
      const lan = await labExec(info, h, ['ip', '-4', '-j', 'route', 'show', info.subnet4]);
      expect(JSON.parse(lan.stdout || '[]').map((r: { dev: string }) => r.dev)).toEqual(['lan0']);
    }
  });

  it('answers *.lab from the fake resolver and NXDOMAIN for the rest, over UDP and TCP', async () => {
    const h1 = info.hosts[0];
    const dig = (...args: string[]) => labExec(info, h1, ['dig', '+time=2', '+tries=1', `@${info.dnsAddress}`, ...args], { timeoutMs: 10_000 });
    expect((await dig('+short', 'foo.lab')).stdout.trim()).toBe('10.231.0.99');
    expect((await dig('+short', '+tcp', 'foo.lab', 'AAAA')).stdout.trim()).toBe('fd00:231::99');
    const nx = await dig('nosuch.example');
    expect(nx.stdout).toMatch(/status: NXDOMAIN/);
    expect(nx.stdout).toMatch(/;nosuch\.example\.\s+IN\s+A/); // the question is echoed
    // The host's resolv.conf points at the lab's resolver, never the machine's.
    const plain = await labExec(info, h1, ['dig', '+time=2', '+tries=1', '+short', 'bar.lab']);
    expect(plain.stdout.trim()).toBe('10.231.0.99');
  });

  it('takes everything down, including what a daemon would leave, and can repeat that', async () => {
    const h1 = info.hosts[0];
    // What a host daemon leaves behind: a process in the host, a sandbox namespace with a process.
    const sandbox = `${sandboxNetnsPrefix(h1.name)}t1`;
    execFileSync('ip', ['netns', 'add', sandbox]);
    fs.mkdirSync(`/etc/netns/${sandbox}`, { recursive: true });
    const sleeper = (ns: string) => {
      const c = spawn('ip', ['netns', 'exec', ns, 'sleep', '600'], { detached: true, stdio: 'ignore' });
      c.unref();
      return c.pid!;
    };
    const pids = [sleeper(h1.name), sleeper(sandbox), info.fakeDnsPid!];
    await new Promise((r) => setTimeout(r, 100));
    for (const p of pids) expect(processGone(p)).toBe(false);

    await labDown(NAME);
    const left = netns().filter((n) => n.startsWith(NAME) || n.startsWith(sandboxNetnsPrefix(NAME)));
    expect(left).toEqual([]);
    for (const p of pids) expect(processGone(p), `pid ${p}`).toBe(true);
    expect(fs.existsSync(`/etc/netns/${sandbox}`)).toBe(false);
    expect(fs.existsSync(`/etc/netns/${h1.name}`)).toBe(false);
    expect(fs.existsSync(`${RUN_DIR}/labs/${NAME}.json`)).toBe(false);
    expect(fs.existsSync(info.dir)).toBe(false);
    expectYardError(() => labInfo(NAME), 'LAB_NOT_FOUND');

    await labDown(NAME);
    expect(rootSnapshot()).toBe(before);
  });
});
