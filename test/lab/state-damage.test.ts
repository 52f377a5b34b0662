/**
 * The state directory under attack, on a real daemon in a lab: damaged records (truncated,
 * empty, invalid, `{}`, a network file deleted while a sandbox uses it), a full disk and a
 * read-only directory. The host must come up and keep serving; a damaged record is
 * quarantined and nothing it describes is touched; a failed write changes nothing and says
 * what is wrong; removals work on a full disk.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { restartDaemon, type LabHost } from '../../src/lab/lab.js';
import { api, eventually, exec, inspectSandbox, ipOf, linkNames, netnsList, ok, pidAlive, sh, withLab, yard, yardJson } from './helpers.js';

const lab = withLab('dmg');
const h = () => lab.host(1);

async function killDaemon(host: LabHost): Promise<void> {
  const pid = (await api(host, 'GET', '/yard/v1/info')).body.pid as number;
  process.kill(pid, 'SIGKILL');
  expect(await eventually(async () => !pidAlive(pid), { timeoutMs: 3_000, intervalMs: 20 })).toBe(true);
}

const sbFile = (host: LabHost, id: string) => path.join(host.stateDir, 'sandboxes', `${id}.json`);
const netFile = (host: LabHost, id: string) => path.join(host.stateDir, 'networks', `${id}.json`);
const psNames = async (host: LabHost) => (await yardJson<{ Name: string }[]>(host, 'ps', '-a', '--json')).map((s) => s.Name.replace(/^\//, '')).sort();
// GNU wget: busybox's own wget segfaults on this Debian build (its httpd is fine).
const httpGet = (host: LabHost, from: string, ip: string) => exec(host, ['ip', 'netns', 'exec', from, 'wget', '-q', '-T', '3', '-t', '1', '-O', '-', `http://${ip}/index.html`]);

describe('damaged state records', () => {
  it('are quarantined and named; the host comes up; nothing they describe is deleted', async () => {
    await ok(yard(h(), 'network', 'create', '--subnet', '10.61.0.0/24', 'dmg-a'));
    await ok(yard(h(), 'network', 'create', '--subnet', '10.62.0.0/24', 'dmg-b'));
    await ok(sh(h(), 'mkdir -p /tmp/dmg-www && echo dmg-ok > /tmp/dmg-www/index.html'));
    // One sandbox per kind of damage, each with a live process, plus a healthy one.
    const names = ['truncated', 'empty', 'invalid', 'blank', 'healthy'];
    for (const n of names) {
      await ok(yard(h(), 'run', '-d', '--name', n, '--network', 'dmg-a', '--', 'busybox', 'httpd', '-f', '-p', '80', '-h', '/tmp/dmg-www'));
    }
    await ok(yard(h(), 'run', '-d', '--name', 'orphan', '--network', 'dmg-b', '--', 'sleep', '1000'));
    const sb = Object.fromEntries(await Promise.all([...names, 'orphan'].map(async (n) => [n, await inspectSandbox(h(), n)])));
    const ips = Object.fromEntries(await Promise.all(names.map(async (n) => [n, await ipOf(h(), n, 'dmg-a')])));
    const netB = (await yardJson(h(), 'network', 'inspect', 'dmg-b'))[0].Id as string;

    await killDaemon(h());
    const full = fs.readFileSync(sbFile(h(), sb.truncated.Id), 'utf8');
    fs.writeFileSync(sbFile(h(), sb.truncated.Id), full.slice(0, Math.floor(full.length / 2)));
    fs.writeFileSync(sbFile(h(), sb.empty.Id), '');
    fs.writeFileSync(sbFile(h(), sb.invalid.Id), '{"id": nope}');
    fs.writeFileSync(sbFile(h(), sb.blank.Id), '{}');
    fs.rmSync(netFile(h(), netB));
    await restartDaemon(lab.info, h());

    // The rest of the host is up: the healthy sandbox is listed and serves (positive control).
    expect(await psNames(h())).toEqual(['healthy', 'orphan']);
    // Every damaged record is named, with its fault, in `yard info` and the daemon's log.
    const info = await ok(yard(h(), 'info'));
    for (const n of ['truncated', 'empty', 'invalid', 'blank']) {
      expect(info).toContain(`quarantined: sandbox ${sbFile(h(), sb[n].Id)}`);
    }
    expect(info).toMatch(/not valid JSON/);
    expect(info).toMatch(/field id: /);
    expect(info).toMatch(new RegExp(`reconcile error: sandbox orphan: its endpoint eth0 is on network ${netB.slice(0, 12)}, which is not in the state`));
    expect(fs.readFileSync(h().logFile, 'utf8')).toMatch(/quarantined damaged sandbox record/);
    expect(fs.readdirSync(path.join(h().stateDir, 'quarantine'))).toHaveLength(4);

    // Nothing a damaged record describes was deleted: namespaces, processes, veths, traffic.
    const ns = netnsList(h());
    const client = sb.healthy.Netns as string;
    for (const n of ['truncated', 'empty', 'invalid', 'blank', 'orphan']) {
      expect(ns).toContain(sb[n].Netns);
      expect(pidAlive(sb[n].State.Pid)).toBe(true);
    }
    expect(await linkNames(h())).toEqual(expect.arrayContaining(Object.values(sb).flatMap((s: any) => Object.values(s.NetworkSettings.Networks).map((e: any) => e.HostInterface))));
    for (const n of names) expect((await ok(httpGet(h(), client, ips[n]!), `GET ${n}`)).trim()).toBe('dmg-ok');

    // The host keeps working: a new sandbox runs and reaches a survivor.
    await ok(yard(h(), 'run', '-d', '--name', 'after', '--network', 'dmg-a', '--', 'sleep', '1000'));
    expect((await ok(httpGet(h(), (await inspectSandbox(h(), 'after')).Netns, ips.blank!))).trim()).toBe('dmg-ok');
    await ok(yard(h(), 'rm', '-f', 'after', 'healthy', 'orphan'));
    await ok(yard(h(), 'network', 'rm', 'dmg-a'));
  });
});

describe('a full or read-only state directory', () => {
  let mounted = false;
  afterAll(() => {
    if (mounted) execFileSync('umount', ['-l', h().stateDir]);
  });

  /** Put the daemon's state on a small tmpfs (contents carried over), restart it there. */
  async function onSmallTmpfs(): Promise<void> {
    await killDaemon(h());
    const keep = fs.mkdtempSync('/tmp/yard-dmg-state-');
    execFileSync('cp', ['-a', `${h().stateDir}/.`, keep]);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m,mode=0700', 'yard-dmg', h().stateDir]);
    mounted = true;
    execFileSync('cp', ['-a', `${keep}/.`, h().stateDir]);
    fs.rmSync(keep, { recursive: true, force: true });
    await restartDaemon(lab.info, h());
  }

  function fill(): void {
    try {
      execFileSync('dd', ['if=/dev/zero', `of=${path.join(h().stateDir, 'filler')}`, 'bs=64k'], { stdio: 'ignore' });
    } catch {
      /* ENOSPC ends dd: that is the point */
    }
  }

  it('a full disk: every change is a clear 503 that changes nothing; reads and removals still work', async () => {
    await onSmallTmpfs();
    await ok(yard(h(), 'network', 'create', '--subnet', '10.63.0.0/24', 'full-a'));
    await ok(yard(h(), 'network', 'create', '--subnet', '10.64.0.0/24', 'full-b'));
    await ok(yard(h(), 'run', '-d', '--name', 'f1', '--network', 'full-a', '--', 'sleep', '1000'));
    await ok(yard(h(), 'run', '-d', '--name', 'f2', '--network', 'full-a', '--network', 'full-b', '--', 'sleep', '1000'));
    const f1 = await inspectSandbox(h(), 'f1');
    fill();
    const linksBefore = await linkNames(h());
    const nsBefore = netnsList(h()).sort();

    const create = await api(h(), 'POST', '/networks/create', { Name: 'full-c' });
    expect(create.status).toBe(503);
    expect(create.body.message).toMatch(/cannot write the state file .*no space left on the device \(ENOSPC\); free space/);
    expect(create.body.code).toBe('STATE_WRITE_FAILED');
    const run = await yard(h(), 'run', '-d', '--name', 'f3', '--network', 'full-a', '--', 'sleep', '1000');
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/error: cannot write the state file .*ENOSPC/);
    const conn = await yard(h(), 'network', 'connect', 'full-b', 'f1');
    expect(conn.stderr).toMatch(/ENOSPC/);
    const disc = await yard(h(), 'network', 'disconnect', 'full-b', 'f2');
    expect(disc.stderr).toMatch(/ENOSPC/);
    // Nothing changed: kernel and state as before.
    expect(await linkNames(h())).toEqual(linksBefore);
    expect(netnsList(h()).sort()).toEqual(nsBefore);
    expect(await psNames(h())).toEqual(['f1', 'f2']);
    expect(Object.keys((await inspectSandbox(h(), 'f2')).NetworkSettings.Networks).sort()).toEqual(['full-a', 'full-b']);
    expect((await yardJson<{ Name: string }[]>(h(), 'network', 'ls', '--json')).map((n) => n.Name)).not.toContain('full-c');

    // Removal needs no space: rm -f works on the full disk, and takes the namespace with it.
    await ok(yard(h(), 'rm', '-f', 'f1'));
    expect(netnsList(h())).not.toContain(f1.Netns);
    expect((await yard(h(), 'inspect', 'f1')).code).toBe(1);

    // Space back: the same operations succeed (positive control).
    fs.rmSync(path.join(h().stateDir, 'filler'));
    await ok(yard(h(), 'network', 'create', '--subnet', '10.65.0.0/24', 'full-c'));
    await ok(yard(h(), 'run', '-d', '--name', 'f3', '--network', 'full-a', '--', 'sleep', '1000'));
    await ok(yard(h(), 'network', 'disconnect', 'full-b', 'f2'));
    await ok(yard(h(), 'network', 'connect', 'full-c', 'f3'));
    await ok(yard(h(), 'rm', '-f', 'f3'));
    await ok(yard(h(), 'network', 'rm', 'full-c'));
  });

  it('read-only: a restarted daemon serves reads; a change says the directory is read-only and changes nothing', async () => {
    expect(mounted).toBe(true);
    await killDaemon(h());
    // A read-only bind mount over the directory (the sandbox's open log file keeps the
    // tmpfs itself from being remounted read-only).
    execFileSync('mount', ['--bind', h().stateDir, h().stateDir]);
    execFileSync('mount', ['-o', 'remount,ro,bind', h().stateDir]);
    try {
      await restartDaemon(lab.info, h());
      expect(await psNames(h())).toEqual(['f2']);
      const f2 = await inspectSandbox(h(), 'f2');
      expect(pidAlive(f2.State.Pid)).toBe(true);
      const r = await api(h(), 'POST', '/networks/create', { Name: 'ro-net' });
      expect(r.status).toBe(503);
      expect(r.body.message).toMatch(/read-only filesystem \(EROFS\); remount/);
      const rm = await yard(h(), 'rm', '-f', 'f2');
      expect(rm.stderr).toMatch(/EROFS/);
      expect(netnsList(h())).toContain(f2.Netns);
      expect(pidAlive(f2.State.Pid)).toBe(true);
    } finally {
      execFileSync('umount', [h().stateDir]);
    }
    // Writable again: the same removal works (positive control).
    await ok(yard(h(), 'rm', '-f', 'f2'));
    await ok(yard(h(), 'network', 'rm', 'full-a', 'full-b'));
  });
});
