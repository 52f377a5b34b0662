/**
 * The PID a CLI reports for a foreground sandbox is checked: the daemon only ever signals
 * a process that was started for that sandbox (its ID in the environment, inside its
 * namespace), identified by PID and start time. A caller cannot make it kill anything else.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { api, eventually, exec, inspectSandbox, ok, pidAlive, sleep, withLab, yard } from './helpers.js';

const lab = withLab('proc');
const h = () => lab.host(1);

describe('a reported sandbox process', () => {
  it('is refused when it is any other process, which then survives rm -f', async () => {
    // A process in the lab host's own namespace: what an attacker would have the daemon kill.
    const victim = spawn('ip', ['netns', 'exec', h().name, 'sleep', '60'], { detached: true, stdio: 'ignore' });
    try {
      await sleep(200);
      const create = await api(h(), 'POST', '/yard/v1/sandboxes', { name: 'p1', start: false, command: ['sleep', '60'] });
      expect(create.status).toBe(201);
      const r = await api(h(), 'POST', '/yard/v1/sandboxes/p1/started', { pid: victim.pid });
      expect(r.status).toBe(403);
      expect(r.body.code).toBe('PROCESS_NOT_IN_SANDBOX');
      expect(r.body.message).toMatch(new RegExp(`pid ${victim.pid} was not started for sandbox p1`));
      expect((await inspectSandbox(h(), 'p1')).State.Pid).toBe(0);
      await ok(yard(h(), 'rm', '-f', 'p1'));
      await sleep(300);
      expect(pidAlive(victim.pid!)).toBe(true);
    } finally {
      victim.kill('SIGKILL');
    }
  });

  it('a foreground yard run runs inside its sandbox, is recorded with its PID and start time, and rm -f stops it (positive control)', async () => {
    const fg = exec(h(), ['yard', 'run', '--name', 'fg', '--', 'sleep', '30'], { timeoutMs: 40_000 });
    const running = await eventually(async () => {
      const r = await api(h(), 'GET', '/yard/v1/sandboxes/fg');
      return r.status === 200 && r.body.State.Running && r.body.State.Pid ? r.body : undefined;
    }, { timeoutMs: 10_000, intervalMs: 100 });
    expect(running).toBeTruthy();
    const pid = running.State.Pid as number;
    expect(pidAlive(pid)).toBe(true);
    // Started inside the sandbox as a detached one is: its namespace, its files, no namespace file.
    expect(fs.readlinkSync(`/proc/${pid}/ns/net`)).toBe(`net:[${fs.statSync(`/run/netns/${running.Netns}`).ino}]`);
    expect(fs.readFileSync(`/proc/${pid}/root/etc/hosts`, 'utf8')).toContain('fg');
    expect(fs.readFileSync(`/proc/${pid}/mountinfo`, 'utf8')).not.toContain('/run/netns/');
    await ok(yard(h(), 'rm', '-f', 'fg'));
    expect(await eventually(async () => !pidAlive(pid), { timeoutMs: 5_000, intervalMs: 50 })).toBe(true);
    await fg;
  });

  it('has its own resolv.conf, hosts and /sys, and holds no namespace file (a copy would keep a removed sandbox\'s namespace alive)', async () => {
    await ok(yard(h(), 'run', '-d', '--name', 'm1', '--', 'sleep', '60'));
    const first = await inspectSandbox(h(), 'm1');
    await ok(yard(h(), 'run', '-d', '--name', 'm2', '--', 'sleep', '60'));
    const second = await inspectSandbox(h(), 'm2');
    try {
      // The second sandbox's namespace is a real one under /run/netns (made in the daemon, no `ip netns add`).
      const ino1 = fs.statSync(`/run/netns/${first.Netns}`).ino;
      expect(fs.statSync(`/run/netns/${second.Netns}`).ino).not.toBe(ino1);
      // Each process runs in its own sandbox's namespace, with its command line as given.
      expect(fs.readlinkSync(`/proc/${first.State.Pid}/ns/net`)).toBe(`net:[${ino1}]`);
      expect(fs.readFileSync(`/proc/${first.State.Pid}/cmdline`, 'utf8').split('\0').slice(0, 2)).toEqual(['sleep', '60']);
      const mounts = fs.readFileSync(`/proc/${second.State.Pid}/mountinfo`, 'utf8');
      // Positive controls: its own files over /etc, and a /sys that shows its namespace's links, not the host's.
      expect(mounts).toMatch(/ \/etc\/resolv\.conf /);
      expect(fs.readFileSync(`/proc/${second.State.Pid}/root/etc/hosts`, 'utf8')).toContain('m2');
      expect(fs.readFileSync(`/proc/${second.State.Pid}/root/etc/resolv.conf`, 'utf8')).toBe(fs.readFileSync(`/etc/netns/${second.Netns}/resolv.conf`, 'utf8'));
      expect(fs.readFileSync(`/proc/${second.State.Pid}/root/etc/resolv.conf`, 'utf8')).not.toBe(fs.readFileSync('/etc/resolv.conf', 'utf8'));
      const links = fs.readdirSync(`/proc/${second.State.Pid}/root/sys/class/net`).sort();
      expect(links).toEqual(['eth0', 'lo']);
      // The machine's mount table holds both namespaces; the process's holds neither, nor any other.
      const machine = fs.readFileSync('/proc/self/mountinfo', 'utf8');
      expect(machine).toContain(`/run/netns/${first.Netns} `);
      expect(machine).toContain(`/run/netns/${second.Netns} `);
      expect(mounts).not.toContain('/run/netns/');
      expect(fs.readFileSync(`/proc/${first.State.Pid}/mountinfo`, 'utf8')).not.toContain('/run/netns/');
    } finally {
      await ok(yard(h(), 'rm', '-f', 'm1', 'm2'));
    }
  });

  it('yard exec refuses to start a command in a sandbox whose resolv.conf was removed by hand (it would see the machine\'s), and runs it once the file is back', async () => {
    await ok(yard(h(), 'run', '-d', '--name', 'm3', '--', 'sleep', '60'));
    const sb = await inspectSandbox(h(), 'm3');
    const file = `/etc/netns/${sb.Netns}/resolv.conf`;
    const text = fs.readFileSync(file, 'utf8');
    try {
      fs.rmSync(file);
      const refused = await yard(h(), 'exec', 'm3', '--', 'cat', '/etc/resolv.conf');
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toContain(`${file} is missing`);
      expect(refused.stdout).toBe('');
      // Positive control: the same command with the file back shows the sandbox's own.
      fs.writeFileSync(file, text);
      expect((await ok(yard(h(), 'exec', 'm3', '--', 'cat', '/etc/resolv.conf'))).trim()).toBe(text.trim());
    } finally {
      if (!fs.existsSync(file)) fs.writeFileSync(file, text);
      await ok(yard(h(), 'rm', '-f', 'm3'));
    }
  });

  it('a detached sandbox whose command ends is recorded as exited with its exit code and leaves no zombie; one still running stays running', async () => {
    await ok(yard(h(), 'run', '-d', '--name', 'ends', '--', 'sh', '-c', 'sleep 2; exit 7'));
    const pid = (await inspectSandbox(h(), 'ends')).State.Pid as number;
    expect(pid).toBeGreaterThan(0);
    await ok(yard(h(), 'run', '-d', '--name', 'stays', '--', 'sleep', '60'));
    const state = await eventually(async () => {
      const s = (await inspectSandbox(h(), 'ends')).State;
      return s.Status === 'exited' ? s : undefined;
    }, { timeoutMs: 10_000, intervalMs: 100 });
    expect(state).toMatchObject({ Status: 'exited', Running: false, ExitCode: 7 });
    // The daemon reaped it: no zombie is left under its PID.
    expect(fs.existsSync(`/proc/${pid}`) ? fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] : 'gone').not.toBe('Z');
    // Positive control: the other one runs on, in the daemon's records and in the kernel.
    const stays = (await inspectSandbox(h(), 'stays')).State;
    expect(stays).toMatchObject({ Status: 'running', Running: true });
    expect(pidAlive(stays.Pid)).toBe(true);
    await ok(yard(h(), 'rm', '-f', 'ends', 'stays'));
    expect(pidAlive(stays.Pid)).toBe(false);
  });
});
