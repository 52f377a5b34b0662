/**
 * `yard doctor` on a real lab: a healthy setup says so (the positive control), then each
 * fault of the field's triage cheat sheet is provoked on purpose, doctor names it with its
 * fix, the fix it prints is run as printed, and doctor says healthy again. Beside each
 * verdict, real traffic shows the fault and the repair are what doctor says they are.
 * Host 1 runs the sandboxes; host 2 is another machine on the LAN.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../src/kernel/exec.js';
import { exec, ok, sh, withLab, yard } from './helpers.js';

// --host-firewall off: the host-firewall fault below is one that the default (accept) repairs
// by itself (test/lab/firewall-host.test.ts); with it off, doctor must find it.
const lab = withLab('doc', 2, { daemonArgs: ['--host-firewall', 'off'] });
const h1 = () => lab.host(1);
const h2 = () => lab.host(2);

interface Finding { check: string; subject: string; status: string; checked: string; found: string; fix?: string }
interface Report { version: number; healthy: boolean; summary: Record<string, number>; findings: Finding[] }

async function doctor(...args: string[]): Promise<{ code: number; report: Report }> {
  const r = await yard(h1(), 'doctor', ...args, '--json');
  expect(r.stderr, 'yard doctor --json stderr').toBe('');
  return { code: r.code, report: JSON.parse(r.stdout) as Report };
}
const doctorText = async (...args: string[]) => (await yard(h1(), 'doctor', ...args)).stdout;
const problems = (r: Report) => r.findings.filter((f) => f.status === 'fail' || f.status === 'warn');
/** Run a fix exactly as doctor printed it, in the host where the daemon runs (its text after three spaces is a remark). */
const runFix = (fix: string) => ok(sh(h1(), fix.split('   ')[0]!), `fix: ${fix}`);
/** An HTTP request from host 2 (another machine on the LAN) to host 1's published port. */
const fromLan = async (port: number) =>
  (await exec(h2(), ['sh', '-c', `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 2 ${h1().lan4} ${port}`], { timeoutMs: 10_000 })).stdout.startsWith('HTTP/');
/** A web server listening on `addr` (any answer, a 404 included, proves the connection). */
const page = (addr: string) => ['busybox', 'httpd', '-f', '-p', addr];

const shown: string[] = [];

beforeAll(async () => {
  await ok(yard(h1(), 'network', 'create', 'app'));
  await ok(yard(h1(), 'run', '-d', '--name', 'web', '--network', 'app', '-p', '8080:80', '--', ...page('0.0.0.0:80')));
  await ok(yard(h1(), 'run', '-d', '--name', 'client', '--network', 'app', '--', 'sleep', '600'));
});

afterAll(() => {
  // The doctor's own words for two provoked faults (kept in the run's output for the release note).
  if (shown.length) console.log(shown.join('\n\n'));
});

describe('yard doctor', () => {
  it('a healthy lab says healthy, as text, as JSON and through --to (positive control)', async () => {
    const { code, report } = await doctor();
    expect(problems(report), JSON.stringify(problems(report), null, 2)).toEqual([]);
    expect(report.healthy).toBe(true);
    expect(code).toBe(0);
    expect(report.version).toBe(1);
    const checks = new Set(report.findings.map((f) => f.check));
    for (const c of ['host.ip-forward', 'host.firewall', 'firewall.counts', 'port.listener', 'port.host-holder', 'dns.resolver', 'outbound.route', 'outbound.masquerade', 'sandbox.interface', 'host.backlog']) expect(checks, c).toContain(c);
    // The receive backlog is a setting of the whole machine, which a daemon in a lab host's
    // namespace cannot read: the check says so rather than guessing.
    expect(report.findings.find((f) => f.check === 'host.backlog')).toMatchObject({ status: 'skip', found: expect.stringMatching(/^could not read \/proc\/sys\/net\/core\/netdev_max_backlog \(a setting of the whole machine/) });
    const text = await doctorText();
    expect(text).toMatch(/^healthy: every check passed/m);
    expect(text).toMatch(/sandbox web:\n/);

    const to = await doctor('client', '--to', 'web:80');
    expect(problems(to.report)).toEqual([]);
    expect(to.report.findings.find((f) => f.check === 'to.attempt')?.found).toMatch(/connected to 172\.\d+\.\d+\.\d+:80/);
    expect(await fromLan(8080)).toBe(true);
  });

  it('a published port whose service listens only on 127.0.0.1', async () => {
    await ok(yard(h1(), 'run', '-d', '--name', 'loopy', '--network', 'app', '-p', '8081:80', '--', ...page('127.0.0.1:80')));
    try {
      const { code, report } = await doctor('loopy');
      expect(code).toBe(1);
      const [f, ...more] = problems(report);
      expect(more).toEqual([]);
      expect(f).toMatchObject({ check: 'port.listener', subject: 'loopy', status: 'fail' });
      expect(f!.found).toMatch(/listening only on 127\.0\.0\.1:80/);
      expect(f!.fix).toMatch(/listening on 0\.0\.0\.0:80/);
      shown.push(`$ yard doctor loopy\n${await doctorText('loopy')}`);
      expect(await fromLan(8081)).toBe(false);
      // The fix: the service listens on every address.
      await ok(yard(h1(), 'rm', '-f', 'loopy'));
      await ok(yard(h1(), 'run', '-d', '--name', 'loopy', '--network', 'app', '-p', '8081:80', '--', ...page('0.0.0.0:80')));
      expect((await doctor('loopy')).report.healthy).toBe(true);
      expect(await fromLan(8081)).toBe(true);
    } finally {
      await yard(h1(), 'rm', '-f', 'loopy');
    }
  });

  it('a name asked from a sandbox on another network', async () => {
    await ok(yard(h1(), 'network', 'create', 'other'));
    await ok(yard(h1(), 'run', '-d', '--name', 'lonely', '--network', 'other', '--', 'sleep', '600'));
    try {
      const { report } = await doctor('lonely', '--to', 'web');
      const f = problems(report).find((x) => x.check === 'to.name');
      expect(f, JSON.stringify(report.findings, null, 2)).toBeDefined();
      expect(f!.found).toMatch(/web is sandbox web on app; lonely is on other/);
      expect(f!.fix).toBe('yard network connect app lonely');
      expect((await exec(h1(), ['yard', 'dns', 'explain', 'web', '--from', 'lonely'])).stdout).not.toMatch(/answer: NOERROR \(local/);
      shown.push(`$ yard doctor lonely --to web\n${await doctorText('lonely', '--to', 'web')}`);
      await runFix(f!.fix!);
      const after = await doctor('lonely', '--to', 'web');
      expect(problems(after.report)).toEqual([]);
      expect(after.report.findings.find((x) => x.check === 'to.attempt')?.found).toMatch(/answers ping/);
    } finally {
      await yard(h1(), 'rm', '-f', 'lonely');
      await yard(h1(), 'network', 'rm', 'other');
    }
  });

  it('an internal network: no outbound access', async () => {
    await ok(yard(h1(), 'network', 'create', '--internal', 'sealed'));
    await ok(yard(h1(), 'run', '-d', '--name', 'hermit', '--network', 'sealed', '--', 'sleep', '600'));
    const pingGw = async () => (await exec(h1(), ['yard', 'exec', 'hermit', '--', 'ping', '-c1', '-W2', '10.231.0.1'])).code === 0;
    try {
      const { report } = await doctor('hermit');
      const [f, ...more] = problems(report);
      expect(more).toEqual([]);
      expect(f).toMatchObject({ check: 'outbound.internal', subject: 'hermit', fix: 'yard network connect bridge hermit' });
      expect(await pingGw()).toBe(false);
      await runFix(f!.fix!);
      expect((await doctor('hermit')).report.healthy).toBe(true);
      expect(await pingGw()).toBe(true);
    } finally {
      await yard(h1(), 'rm', '-f', 'hermit');
      await yard(h1(), 'network', 'rm', 'sealed');
    }
  });

  it('a host firewall whose forward chain drops by policy', async () => {
    const nft = (script: string) => run('ip', ['netns', 'exec', h1().name, 'nft', '-f', '-'], { input: script });
    expect((await nft('table inet hostfw {\n chain fwd_policy { type filter hook forward priority 0; policy drop; }\n}\n')).code).toBe(0);
    try {
      expect(await fromLan(8080)).toBe(false);
      const { report } = await doctor();
      const [f, ...more] = problems(report);
      expect(more).toEqual([]);
      expect(f).toMatchObject({ check: 'host.firewall', subject: 'host', status: 'fail' });
      expect(f!.found).toMatch(/chain inet hostfw fwd_policy .*policy drop/);
      expect(f!.fix).toMatch(/(^| && )nft insert rule inet hostfw fwd_policy iifname br-[0-9a-f]{12} accept && nft insert rule inet hostfw fwd_policy oifname br-[0-9a-f]{12} accept/);
      shown.push(`$ yard doctor\n${await doctorText()}`);
      await runFix(f!.fix!);
      expect((await doctor()).report.healthy).toBe(true);
      expect(await fromLan(8080)).toBe(true);
    } finally {
      await run('ip', ['netns', 'exec', h1().name, 'nft', 'delete', 'table', 'inet', 'hostfw']);
    }
  });

  it('a duplicate address on the LAN (macvlan): another machine answers ARP for the sandbox\'s address', async () => {
    await ok(yard(h1(), 'network', 'create', '-d', 'macvlan', '--subnet', '10.231.0.0/24', '--gateway', '10.231.0.1', '--ip-range', '10.231.0.192/27', '-o', 'parent=lan0', '-o', 'host_access=true', 'pub'));
    await ok(yard(h1(), 'run', '-d', '--name', 'lanbox', '--network', 'pub', '--ip', '10.231.0.200', '--', 'sleep', '600'));
    const h2mac = JSON.parse((await exec(h2(), ['ip', '-j', 'link', 'show', 'lan0'])).stdout)[0].address as string;
    try {
      const healthy = await doctor('lanbox');
      expect(problems(healthy.report)).toEqual([]);
      expect(healthy.report.findings.find((x) => x.check === 'lan.duplicate-address')).toMatchObject({ status: 'ok' });

      await ok(exec(h2(), ['ip', 'addr', 'add', '10.231.0.200/32', 'dev', 'lan0']));
      const { report } = await doctor('lanbox');
      const [f, ...more] = problems(report);
      expect(more).toEqual([]);
      expect(f).toMatchObject({ check: 'lan.duplicate-address', subject: 'lanbox', status: 'fail' });
      expect(f!.found).toContain(h2mac);
      expect(f!.fix).toMatch(/^yard network disconnect pub lanbox && yard network connect --ip 10\.231\.0\.\d+ pub lanbox/);
      await runFix(f!.fix!);
      const after = await doctor('lanbox');
      expect(problems(after.report)).toEqual([]);
      expect(after.report.findings.find((x) => x.check === 'lan.duplicate-address')?.checked).not.toContain('10.231.0.200');
    } finally {
      await exec(h2(), ['ip', 'addr', 'del', '10.231.0.200/32', 'dev', 'lan0']);
      await yard(h1(), 'rm', '-f', 'lanbox');
      await yard(h1(), 'network', 'rm', 'pub');
    }
  });

  it('bad input: --to without a sandbox, a malformed target, an unknown sandbox', async () => {
    const noSb = await yard(h1(), 'doctor', '--to', 'web');
    expect(noSb.code).not.toBe(0);
    expect(noSb.stderr).toMatch(/--to needs a sandbox/);
    const bad = await yard(h1(), 'doctor', 'client', '--to', 'web:99999');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/--to "web:99999" has a port outside 1-65535/);
    const unknown = await yard(h1(), 'doctor', 'nosuch');
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/nosuch/);
  });
});
