/**
 * `make install` into a scratch DESTDIR (never this machine's /usr, /etc or systemd): the
 * layout, the installed yard running from there on its own production dependencies, the
 * systemd unit passing `systemd-analyze verify` (with broken copies failing as controls),
 * the installed bash completion, and `yard uninstall` removing exactly what was laid out.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../../src/paths.js';

interface Res {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<Res> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env: opts.env ?? process.env, cwd: opts.cwd ?? '/', timeout: opts.timeoutMs ?? 60_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

const PREFIX = '/usr/local';
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'yard-install-'));
const dest = path.join(scratch, 'root');
const pkg = path.join(dest, PREFIX, 'lib/switchyard');
const bin = path.join(dest, PREFIX, 'bin');
const unit = path.join(dest, PREFIX, 'lib/systemd/system/switchyard.service');
const pkgJson = JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8'));
/** A clean environment: nothing points the installed yard back at the repository. */
const env = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: scratch };

beforeAll(async () => {
  fs.mkdirSync(dest);
  const r = await run('make', ['-C', PACKAGE_ROOT, 'install', `DESTDIR=${dest}`, `PREFIX=${PREFIX}`], { timeoutMs: 170_000 });
  if (r.code !== 0) throw new Error(`make install failed (${r.code}): ${r.stderr}${r.stdout}`);
}, 180_000);

afterAll(() => {
  fs.rmSync(scratch, { recursive: true, force: true });
});

describe('make install DESTDIR=... PREFIX=/usr/local', () => {
  it('lays the package out under PREFIX/lib/switchyard with links in PREFIX/bin', () => {
    for (const f of ['dist/cli/main.js', 'dist/daemon/daemon.js', 'dist/runtime/cni-main.js', 'bin/yard', 'bin/switchyard-cni', 'bin/switchyard-netavark', 'ui/index.html', 'ui/app.js', 'node_modules/cytoscape/dist/cytoscape.min.js', 'package.json', 'install-manifest']) {
      expect(fs.existsSync(path.join(pkg, f)), f).toBe(true);
    }
    // Podman's netavark link still resolves inside the installed package.
    expect(fs.realpathSync(path.join(pkg, 'libexec/podman/netavark'))).toBe(fs.realpathSync(path.join(pkg, 'bin/switchyard-netavark')));
    for (const b of ['yard', 'switchyard-cni', 'switchyard-netavark']) {
      const link = path.join(bin, b);
      expect(fs.lstatSync(link).isSymbolicLink()).toBe(true);
      // Relative, so the tree works wherever DESTDIR puts it.
      expect(fs.readlinkSync(link)).toBe(`../lib/switchyard/bin/${b}`);
      expect(fs.realpathSync(link)).toBe(fs.realpathSync(path.join(pkg, 'bin', b)));
    }
    // No compiled tests in the package.
    const tests = fs.readdirSync(path.join(pkg, 'dist'), { recursive: true }).map(String).filter((f) => f.includes('.test.'));
    expect(tests).toEqual([]);
    expect(fs.readFileSync(path.join(pkg, 'install-manifest'), 'utf8')).toContain(`dir ${PREFIX}/lib/switchyard\nlink ${PREFIX}/bin/yard\n`);
  });

  it('carries the production dependencies and none of the development ones', () => {
    const mods = path.join(pkg, 'node_modules');
    for (const d of Object.keys(pkgJson.dependencies)) expect(fs.existsSync(path.join(mods, d, 'package.json')), d).toBe(true);
    // The development-only packages (the lockfile's "dev": some, like @types/node, are also a
    // production package's dependency and rightly stay).
    const lock = JSON.parse(fs.readFileSync(path.join(PACKAGE_ROOT, 'package-lock.json'), 'utf8'));
    const devOnly = Object.keys(pkgJson.devDependencies).filter((d) => lock.packages[`node_modules/${d}`]?.dev);
    expect(devOnly).toEqual(expect.arrayContaining(['typescript', 'vitest', 'dockerode']));
    for (const d of devOnly) expect(fs.existsSync(path.join(mods, d)), d).toBe(false);
  });

  it('runs yard --version and --help from the installed tree, and loads the daemon on its own dependencies', async () => {
    const v = await run(path.join(bin, 'yard'), ['--version'], { env });
    expect(v).toMatchObject({ code: 0, stdout: `${pkgJson.version}\n` });
    const h = await run(path.join(bin, 'yard'), ['--help'], { env });
    expect(h.code).toBe(0);
    expect(h.stdout).toMatch(/Usage: yard/);
    expect(h.stdout).toContain('uninstall');
    // Every module the daemon needs resolves from the installed node_modules (the
    // repository's are not on any path from there).
    const imp = await run('node', ['-e', `import(${JSON.stringify(path.join(pkg, 'dist/daemon/daemon.js'))}).then(() => console.log('loaded'))`], { env });
    expect(imp).toMatchObject({ code: 0, stdout: 'loaded\n' });
    // Control: the same import from a tree without its node_modules fails.
    const bare = path.join(scratch, 'bare');
    fs.cpSync(path.join(pkg, 'dist'), path.join(bare, 'dist'), { recursive: true });
    fs.copyFileSync(path.join(pkg, 'package.json'), path.join(bare, 'package.json'));
    const fail = await run('node', ['-e', `import(${JSON.stringify(path.join(bare, 'dist/daemon/daemon.js'))})`], { env });
    expect(fail.code).not.toBe(0);
    expect(fail.stderr).toMatch(/ERR_MODULE_NOT_FOUND/);
  });

  it('installs a systemd unit that runs yard daemon as instance default with group switchyard, restarting on failure', () => {
    const text = fs.readFileSync(unit, 'utf8');
    expect(text).toMatch(/^ExecStart=\/usr\/local\/bin\/yard daemon --instance default --group switchyard$/m);
    expect(text).toMatch(/^Restart=on-failure$/m);
    expect(text).toMatch(/^KillMode=process$/m);
    expect(text).toMatch(/^WantedBy=multi-user.target$/m);
    expect(text).toContain('/run/switchyard/default/yard.sock');
  });

  it('the unit passes systemd-analyze verify in the staged root; broken copies fail', async () => {
    // verify needs systemd's own units (sysinit.target...) under --root: a copy of them.
    const sysUnits = path.join(dest, 'usr/lib/systemd/system');
    fs.mkdirSync(path.dirname(sysUnits), { recursive: true });
    fs.cpSync('/usr/lib/systemd/system', sysUnits, { recursive: true, verbatimSymlinks: true });
    const good = await run('systemd-analyze', ['verify', `--root=${dest}`, 'switchyard.service'], { env });
    expect(good).toMatchObject({ code: 0, stderr: '' });

    // Controls, each in its own root beside the real one: a typo'd setting is reported, and
    // an ExecStart whose program is missing is refused.
    const control = async (name: string, edit: (t: string) => string, withYard: boolean): Promise<Res> => {
      const root = path.join(scratch, name);
      fs.cpSync('/usr/lib/systemd/system', path.join(root, 'usr/lib/systemd/system'), { recursive: true, verbatimSymlinks: true });
      fs.mkdirSync(path.join(root, PREFIX, 'lib/systemd/system'), { recursive: true });
      fs.writeFileSync(path.join(root, PREFIX, 'lib/systemd/system/switchyard.service'), edit(fs.readFileSync(unit, 'utf8')));
      if (withYard) {
        fs.mkdirSync(path.join(root, PREFIX, 'bin'), { recursive: true });
        fs.writeFileSync(path.join(root, PREFIX, 'bin/yard'), '#!/bin/sh\n', { mode: 0o755 });
      }
      return run('systemd-analyze', ['verify', `--root=${root}`, 'switchyard.service'], { env });
    };
    const same = await control('ctl-same', (t) => t, true);
    expect(same).toMatchObject({ code: 0, stderr: '' });
    const typo = await control('ctl-typo', (t) => t.replace('Restart=on-failure', 'Restart=on-failur'), true);
    expect(typo.stderr).toMatch(/restart/i);
    const noExec = await control('ctl-noexec', (t) => t, false);
    expect(noExec.code).not.toBe(0);
    expect(noExec.stderr).toMatch(/\/usr\/local\/bin\/yard/);
  });

  it('the installed bash completion completes yard net to network', async () => {
    const file = path.join(dest, PREFIX, 'share/bash-completion/completions/yard');
    expect(fs.existsSync(path.join(dest, PREFIX, 'share/zsh/site-functions/_yard'))).toBe(true);
    const complete = async (words: string[]) => {
      const r = await run('bash', ['--norc', '--noprofile', '-c', `source "$1"; COMP_WORDS=(${words.join(' ')}); COMP_CWORD=${words.length - 1}; _yard; echo "\${COMPREPLY[*]}"`, 'bash', file], { env });
      expect(r.code).toBe(0);
      return r.stdout.trim();
    };
    expect(await complete(['yard', 'net'])).toBe('network');
    expect(await complete(['yard', 'netz'])).toBe('');
    expect(await complete(['yard', 'uninstall', '--pu'])).toBe('--purge');
  });

  it('refuses a relative PREFIX with a clear error and installs nothing', async () => {
    const other = path.join(scratch, 'other');
    fs.mkdirSync(other);
    const r = await run('make', ['-C', PACKAGE_ROOT, 'install', `DESTDIR=${other}`, 'PREFIX=usr/local'], { timeoutMs: 60_000 });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/PREFIX=usr\/local is not an absolute path/);
    expect(fs.readdirSync(other)).toEqual([]);
  });
});

describe('yard uninstall of the staged installation', () => {
  it('removes exactly what the manifest lists and keeps the rest of the prefix', async () => {
    const yardBin = path.join(bin, 'yard');
    // Positive controls: a program of the user's beside ours, and a link that no longer points into the package.
    fs.writeFileSync(path.join(bin, 'mytool'), '#!/bin/sh\n', { mode: 0o755 });
    const args = ['uninstall', '--root', dest, '--prefix', PREFIX, '--keep-network'];

    const bad = await run(yardBin, ['uninstall', '--root', dest, '--prefix', '/opt/nothing', '--keep-network'], { env });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/no Switchyard installation: .*opt\/nothing\/lib\/switchyard\/install-manifest is missing; give the PREFIX/);

    // The installed yard removes its own installation: the package goes last.
    const r = await run(yardBin, args, { env });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    for (const p of [unit, path.join(bin, 'yard'), path.join(bin, 'switchyard-cni'), path.join(bin, 'switchyard-netavark'), pkg, path.join(dest, PREFIX, 'share/bash-completion/completions/yard'), path.join(dest, PREFIX, 'share/zsh/site-functions/_yard')]) {
      expect(fs.existsSync(p), p).toBe(false);
    }
    expect(fs.existsSync(path.join(bin, 'mytool'))).toBe(true);
    expect(fs.existsSync(path.join(dest, 'usr/lib/systemd/system/sysinit.target'))).toBe(true);
  });
});
