/**
 * `yard uninstall` on a host's networking, in a lab host (never this machine's namespace): a
 * lab daemon makes networks, sandboxes and published ports, is stopped, and the uninstall
 * run in that host's namespace leaves nothing of Switchyard's there, while a link, a bridge,
 * an nftables table and a namespace that are not Switchyard's survive beside it.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { restartDaemon } from '../../src/lab/lab.js';
import { CLI_ENTRY, sandboxNetnsPrefix, socketPathFor, stateDirFor } from '../../src/paths.js';
import { exec, inspectSandbox, linkNames, netnsList, ok, pidAlive, sh, sleep, withLab, yard } from './helpers.js';

const nogroupGid = Number(fs.readFileSync('/etc/group', 'utf8').match(/^nogroup:[^:]*:(\d+):/m)?.[1] ?? NaN);
const lab = withLab('unh', 1, { daemonHosts: 0, daemonArgs: ['--group', 'nogroup'] });
const h = () => lab.host(1);
/** A namespace named like another instance's sandbox: not this instance's to remove. */
const otherNs = `yard-unhother${process.pid}-0123456789ab`.slice(0, 40);
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'yard-unh-'));

afterAll(async () => {
  await new Promise((r) => execFile('ip', ['netns', 'del', otherNs], () => r(null)));
  fs.rmSync(`/etc/netns/${otherNs}`, { recursive: true, force: true });
  fs.rmSync(scratch, { recursive: true, force: true });
});

/** `yard uninstall ARGS` run in the lab host's network namespace only (as the daemon runs). */
function uninstallIn(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      'nsenter',
      [`--net=/run/netns/${h().name}`, process.execPath, CLI_ENTRY, 'uninstall', '--instance', h().name, ...args],
      { timeout: 60_000, env: { ...process.env, YARD_HOST: '', DOCKER_HOST: '' } },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout: String(stdout), stderr: String(stderr) }),
    );
  });
}

const tables = async () => (await ok(sh(h(), 'nft list tables'))).trim().split('\n').filter(Boolean).sort();
const sysctl = async (k: string) => (await ok(sh(h(), `cat /proc/sys/${k.replace(/\./g, '/')}`))).trim();
const aliased = async () => (await ok(sh(h(), 'ip -o link show'))).split('\n').filter((l) => l.includes(`alias switchyard:${h().name}:`));

describe('yard uninstall: the host networking a daemon made', () => {
  it('the daemon refuses a group that does not exist, before changing anything', async () => {
    const sd = path.join(scratch, 'state');
    const r = await exec(h(), ['yard', 'daemon', '--instance', 'unhbad', '--group', 'no-such-grp9', '--state-dir', sd, '--socket', path.join(scratch, 's.sock')], { timeoutMs: 20_000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--group no-such-grp9: no such group on this host; create it first \(groupadd --system no-such-grp9/);
    expect(fs.existsSync(sd)).toBe(false);
    const bad = await exec(h(), ['yard', 'daemon', '--instance', 'unhbad', '--group', 'Bad;Group', '--state-dir', sd], { timeoutMs: 20_000 });
    expect(bad.stderr).toMatch(/--group "Bad;Group" is not a group name or numeric GID/);
  });

  it('a daemon started with --group serves its socket 0660 to that group, and records forwarding as it was', async () => {
    // Forwarding off before the instance's first start: uninstall must put it back.
    await ok(sh(h(), 'sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0'));
    await restartDaemon(lab.info, h());
    const st = fs.statSync(socketPathFor(h().name));
    expect(st.mode & 0o777).toBe(0o660);
    expect(st.uid).toBe(0);
    expect(st.gid).toBe(nogroupGid);
    expect(JSON.parse(fs.readFileSync(path.join(stateDirFor(h().name), 'host-sysctls.json'), 'utf8'))).toEqual({ 'net.ipv4.ip_forward': '0', 'net.ipv6.conf.all.forwarding': '0' });
    expect(await sysctl('net.ipv4.ip_forward')).toBe('1');
    // A user in the group uses the API without root; one outside it is refused by the kernel.
    const member = await exec(h(), ['setpriv', '--reuid=65534', `--regid=${nogroupGid}`, '--clear-groups', 'yard', 'network', 'ls']);
    expect(member.stderr).toBe('');
    expect(member.stdout).toMatch(/\bbridge\b/);
    const outsider = await exec(h(), ['setpriv', '--reuid=65534', '--regid=1', '--clear-groups', 'yard', 'network', 'ls']);
    expect(outsider.code).toBe(1);
    expect(outsider.stderr).toMatch(/^error: permission denied on the Switchyard daemon's socket .*yard\.sock \(EACCES\); run yard as root, or as a member of the socket's group \(usermod -aG switchyard USER/);
  });

  it('removes only the instance\'s namespaces, links, tables and files, and restores forwarding', async () => {
    await ok(yard(h(), 'network', 'create', '--subnet', '10.77.0.0/24', 'unet'));
    await ok(yard(h(), 'run', '-d', '--name', 's1', '--network', 'unet', '-p', '8088:80', '--', 'sleep', '600'));
    await ok(yard(h(), 'run', '-d', '--name', 's2', '--', 'sleep', '600'));
    const sandboxPid = (await inspectSandbox(h(), 's1')).State.Pid as number;
    expect(sandboxPid).toBeGreaterThan(1);
    // The user's own rule in Switchyard's user chain, and things that are not Switchyard's.
    await ok(sh(h(), 'nft add rule inet switchyard-user user-forward counter accept'));
    await ok(sh(h(), 'ip link add keep0 type veth peer name keep1 && ip link set keep0 alias mine && ip link add br-keep type bridge && ip link add yvkeep type bridge && nft add table inet keepme'));
    await ok(exec(h(), ['ip', 'netns', 'add', otherNs]));
    fs.mkdirSync(`/etc/netns/${otherNs}`, { recursive: true });
    fs.writeFileSync(`/etc/netns/${otherNs}/resolv.conf`, 'nameserver 10.231.0.1\n');

    const ours = () => netnsList().filter((n) => n.startsWith(sandboxNetnsPrefix(h().name)));
    expect(ours().length).toBe(2);

    // While the daemon runs: refused, and nothing changed.
    const busy = await uninstallIn(['--network-only']);
    expect(busy.code).toBe(1);
    expect(busy.stderr).toMatch(/the daemon of instance .* is running .*; stop it first \(systemctl disable --now switchyard\)/);
    expect(ours().length).toBe(2);

    // Stopped: what it made stays on the host (sandboxes keep running without it).
    process.kill(h().daemonPid!, 'SIGTERM');
    for (let i = 0; i < 100 && pidAlive(h().daemonPid!); i++) await sleep(100);
    expect(pidAlive(h().daemonPid!)).toBe(false);
    expect(ours().length).toBe(2);
    expect(pidAlive(sandboxPid)).toBe(true);
    expect(await tables()).toEqual(expect.arrayContaining(['table inet switchyard', 'table bridge switchyard', 'table inet switchyard-user']));
    expect((await aliased()).length).toBeGreaterThanOrEqual(2); // yard0 and unet's bridge
    expect((await linkNames(h())).filter((l) => /^yv[0-9a-f]{12}$/.test(l)).length).toBe(2);
    expect(ours().every((n) => fs.existsSync(`/etc/netns/${n}`))).toBe(true);

    const dry = await uninstallIn(['--network-only', '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/would remove: nftables table inet switchyard/);
    expect(ours().length).toBe(2);

    const r = await uninstallIn(['--network-only']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/removed: sysctl net\.ipv4\.ip_forward=0/);
    expect(r.stdout).toMatch(/kept: nftables table inet switchyard-user \(chain user-forward holds 1 rule/);

    // Nothing of the instance's is left in the lab host...
    expect(ours()).toEqual([]);
    expect(fs.readdirSync('/etc/netns').filter((d) => d.startsWith(sandboxNetnsPrefix(h().name)))).toEqual([]);
    expect(await aliased()).toEqual([]);
    const links = await linkNames(h());
    expect(links.filter((l) => /^yv[0-9a-f]{12}$/.test(l) || l === 'yard0' || /^br-[0-9a-f]{12}$/.test(l))).toEqual([]);
    const left = await tables();
    expect(left).not.toContain('table inet switchyard');
    expect(left).not.toContain('table bridge switchyard');
    expect(await sysctl('net.ipv4.ip_forward')).toBe('0');
    expect(await sysctl('net.ipv6.conf.all.forwarding')).toBe('0');
    for (let i = 0; i < 50 && pidAlive(sandboxPid); i++) await sleep(100);
    expect(pidAlive(sandboxPid)).toBe(false);
    // ...and everything else survives: the controls, the lab's own uplink and files, the user's rules.
    expect(links).toEqual(expect.arrayContaining(['keep0', 'keep1', 'br-keep', 'yvkeep', 'lan0', 'lo']));
    expect(left).toEqual(expect.arrayContaining(['table inet keepme', 'table inet switchyard-user']));
    expect(netnsList()).toContain(otherNs);
    expect(fs.existsSync(`/etc/netns/${otherNs}/resolv.conf`)).toBe(true);
    expect(fs.existsSync(`/etc/netns/${h().name}/resolv.conf`)).toBe(true);
    expect(fs.existsSync(stateDirFor(h().name))).toBe(true);

    // --purge: the user table and the instance's state and run directory go too.
    const p = await uninstallIn(['--network-only', '--purge']);
    expect(p.code).toBe(0);
    expect(await tables()).not.toContain('table inet switchyard-user');
    expect(await tables()).toContain('table inet keepme');
    expect(fs.existsSync(stateDirFor(h().name))).toBe(false);
    expect(fs.existsSync(path.dirname(socketPathFor(h().name)))).toBe(false);
    expect(netnsList()).toContain(otherNs);
  });
});
