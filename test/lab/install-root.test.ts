/**
 * A real `make install` (empty DESTDIR, PREFIX /usr/local) and `yard uninstall --purge`, run
 * in a private mount namespace (and an empty network namespace) where /etc, /usr/local,
 * /var/lib/switchyard and /run/switchyard are scratch copies: the install creates the
 * switchyard group and records it, the purge removes it, and this machine's own files are
 * never touched.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../../src/paths.js';

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'yard-install-root-'));
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

describe('make install with an empty DESTDIR, in a private mount namespace', () => {
  it('creates the switchyard group, and yard uninstall --purge removes the group and every file', async () => {
    const realGroup = fs.readFileSync('/etc/group', 'utf8');
    expect(realGroup).not.toMatch(/^switchyard:/m);
    for (const d of ['etc', 'usrlocal', 'varlib', 'run']) fs.mkdirSync(path.join(scratch, d));
    fs.cpSync('/etc', path.join(scratch, 'etc'), { recursive: true, verbatimSymlinks: true });
    // The script prints what it sees; every step fails the whole run (set -e).
    const script = `
      set -eu
      mount --bind "$S/etc" /etc
      mount --bind "$S/usrlocal" /usr/local
      mount --bind "$S/varlib" /var/lib/switchyard
      mount --bind "$S/run" /run/switchyard
      touch /usr/local/keep-me
      make -s -C "$REPO" install >/dev/null
      echo "group-after-install: $(getent group switchyard | cut -d: -f1)"
      echo "manifest-group: $(grep -c '^group switchyard$' /usr/local/lib/switchyard/install-manifest)"
      echo "version: $(/usr/local/bin/yard --version)"
      echo "unit: $(test -f /usr/local/lib/systemd/system/switchyard.service && echo yes)"
      /usr/local/bin/yard uninstall --purge --keep-network
      echo "group-after-purge: $(getent group switchyard | cut -d: -f1)"
      echo "nogroup-after-purge: $(getent group nogroup | cut -d: -f1)"
      echo "left: $(cd /usr/local && find . -type f | sort | tr '\\n' ' ')"
    `;
    const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile('unshare', ['--mount', '--net', '--propagation', 'private', 'bash', '-c', script], {
        env: { ...process.env, S: scratch, REPO: PACKAGE_ROOT },
        timeout: 170_000,
        maxBuffer: 16 << 20,
      }, (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout: String(stdout), stderr: String(stderr) })),
    );
    expect(r.stderr).toMatch(/^(install: created the system group switchyard.*\n)?$/);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('group-after-install: switchyard\n');
    expect(r.stdout).toContain('manifest-group: 1\n');
    expect(r.stdout).toContain('unit: yes\n');
    expect(r.stdout).toMatch(/version: \d+\.\d+\.\d+\n/);
    expect(r.stdout).toContain('removed: group switchyard');
    expect(r.stdout).toContain('group-after-purge: \n');
    // Control: the other groups of the copied /etc are all still there.
    expect(r.stdout).toContain('nogroup-after-purge: nogroup\n');
    expect(r.stdout).toContain('left: ./keep-me \n');
    // This machine's /etc/group never saw any of it.
    expect(fs.readFileSync('/etc/group', 'utf8')).toBe(realGroup);
    expect(fs.existsSync('/usr/local/lib/switchyard')).toBe(false);
  }, 180_000);
});
