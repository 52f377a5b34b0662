/**
 * `yard uninstall`: remove what `make install` laid out (from its manifest), what one
 * daemon instance made in this network namespace (src/install/cleanup-plan.ts), and with
 * --purge the instance's state and the group install created. Order: check that no daemon
 * runs, networking, state, then the files last (this very program is among them).
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { YardError } from '../errors.js';
import { LIB_DIR, PACKAGE_ROOT, RUN_DIR, socketPathFor, stateDirFor } from '../paths.js';
import { applyBestEffort } from '../kernel/apply.js';
import { listNetns, readNamespace } from '../kernel/observe.js';
import { killNetnsProcesses } from '../kernel/process.js';
import { listSandboxFileDirs, removeSandboxFiles } from '../kernel/netns-files.js';
import { NftCli } from '../kernel/nft.js';
import { USER_CHAIN, USER_TABLE } from '../firewall/render.js';
import { HOST_SYSCTLS, HOST_SYSCTLS_FILE, parseRecordedSysctls, readSysctl } from '../daemon/host-sysctls.js';
import { describeCleanup, planHostCleanup, type HostObservation } from './cleanup-plan.js';
import { MANIFEST_NAME, PACKAGE_SUBDIR, parseManifest, underRoot, type Manifest } from './manifest.js';

export interface UninstallOptions {
  /** The root the installation lives under (DESTDIR), default /. */
  root: string;
  /** The install prefix; default: the one this program was installed in. */
  prefix?: string;
  instance: string;
  purge: boolean;
  /** Leave the host's networking alone (only files and, with purge, state). */
  keepNetwork: boolean;
  /** Only the host's networking (and with purge the state): no installed files. */
  networkOnly: boolean;
  dryRun: boolean;
  out: (line: string) => void;
}

/** Instance names reach paths that --purge removes: the namespace-name alphabet, no dots alone. */
export function checkInstance(name: string, field = '--instance'): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(name)) {
    throw new YardError('INVALID_ARGUMENT', `${field} ${JSON.stringify(name)} is not an instance name`, {
      field,
      hint: 'an instance is named like a network namespace: letters, digits, _ . - (the service uses "default")',
    });
  }
  return name;
}

export function checkRoot(root: string): string {
  if (!path.isAbsolute(root)) {
    throw new YardError('INVALID_ARGUMENT', `--root ${JSON.stringify(root)} is not an absolute path`, { field: '--root', hint: 'give the DESTDIR the installation was made into, e.g. --root /tmp/stage' });
  }
  const r = path.resolve(root);
  if (!fs.statSync(r, { throwIfNoEntry: false })?.isDirectory()) {
    throw new YardError('INVALID_ARGUMENT', `--root ${r} is not a directory`, { field: '--root', hint: 'give the DESTDIR the installation was made into' });
  }
  return r;
}

function findManifest(root: string, prefix: string | undefined): { file: string; manifest: Manifest } {
  let file: string;
  if (prefix !== undefined) {
    if (!path.isAbsolute(prefix)) {
      throw new YardError('INVALID_ARGUMENT', `--prefix ${JSON.stringify(prefix)} is not an absolute path`, { field: '--prefix', hint: 'e.g. --prefix /usr/local (the PREFIX given to make install)' });
    }
    file = underRoot(root, path.join(path.resolve(prefix), PACKAGE_SUBDIR, MANIFEST_NAME));
  } else {
    file = path.join(PACKAGE_ROOT, MANIFEST_NAME);
    if (root !== '/' || !fs.existsSync(file)) {
      throw new YardError('INVALID_ARGUMENT', `this yard (${PACKAGE_ROOT}) is not an installed copy, so the installation to remove is unknown`, {
        field: '--prefix',
        hint: 'give --prefix (and --root for a DESTDIR), e.g. yard uninstall --prefix /usr/local; or --network-only',
      });
    }
  }
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    throw new YardError('INVALID_ARGUMENT', `no Switchyard installation: ${file} is missing`, {
      field: '--prefix',
      hint: 'give the PREFIX (and --root DESTDIR) that make install used, e.g. --prefix /usr/local',
    });
  }
  const manifest = parseManifest(text, file);
  const real = (p: string) => {
    try {
      return fs.realpathSync(p);
    } catch {
      return p;
    }
  };
  // Compared through symlinks: a PREFIX reached through a link is still the same installation.
  if (real(underRoot(root, manifest.dir)) !== real(path.dirname(file))) {
    throw new YardError('INVALID_ARGUMENT', `${file} describes ${manifest.dir}, not the installation it sits in`, { hint: 'give the --prefix and --root that make install used' });
  }
  return { file, manifest };
}

function answers(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(socket);
    const done = (v: boolean) => {
      c.destroy();
      resolve(v);
    };
    c.once('connect', () => done(true));
    c.once('error', () => done(false));
    setTimeout(() => done(false), 1000).unref();
  });
}

async function refuseRunningDaemon(instance: string): Promise<void> {
  const socket = socketPathFor(instance);
  let pid = 0;
  try {
    pid = Number(fs.readFileSync(path.join(stateDirFor(instance), 'daemon.pid'), 'utf8').trim());
  } catch {
    /* none */
  }
  let alive = false;
  try {
    alive = pid > 0 && pid !== process.pid && fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('daemon');
  } catch {
    alive = false;
  }
  if (alive || (fs.existsSync(socket) && (await answers(socket)))) {
    throw new YardError('DAEMON_RUNNING', `the daemon of instance ${instance} is running${alive ? ` (PID ${pid})` : ` (it answers on ${socket})`}`, {
      hint: 'stop it first (systemctl disable --now switchyard), then run yard uninstall again',
    });
  }
}

async function observeHost(instance: string): Promise<{ obs: HostObservation; notes: string[] }> {
  const notes: string[] = [];
  const ns = await readNamespace();
  const nft = new NftCli();
  let tables: { family: string; name: string }[] = [];
  let userRules: number | null = null;
  try {
    const j = (await nft.json(['list', 'tables'])) as { nftables?: { table?: { family: string; name: string } }[] };
    tables = (j.nftables ?? []).flatMap((e) => (e.table ? [{ family: e.table.family, name: e.table.name }] : []));
    if (tables.some((t) => t.family === 'inet' && t.name === USER_TABLE)) {
      try {
        const c = (await nft.json(['list', 'chain', 'inet', USER_TABLE, USER_CHAIN])) as { nftables?: { rule?: unknown }[] };
        userRules = (c.nftables ?? []).filter((e) => e.rule).length;
      } catch {
        userRules = null;
      }
    }
  } catch (e) {
    notes.push(`nftables not read (${(e as Error).message}): tables left as they are`);
  }
  const sysctls: Record<string, string> = {};
  for (const k of HOST_SYSCTLS) {
    const v = readSysctl(k);
    if (v !== undefined) sysctls[k] = v;
  }
  let recordedSysctls: Record<string, string> = {};
  try {
    recordedSysctls = parseRecordedSysctls(fs.readFileSync(path.join(stateDirFor(instance), HOST_SYSCTLS_FILE), 'utf8'));
  } catch {
    notes.push(`no record of the forwarding sysctls before Switchyard (${path.join(stateDirFor(instance), HOST_SYSCTLS_FILE)}): they are left as they are`);
  }
  return {
    obs: {
      links: [...ns.links.values()].map((l) => ({ name: l.name, alias: l.alias })),
      netns: listNetns(),
      netnsFileDirs: listSandboxFileDirs(),
      tables,
      userRules,
      sysctls,
      recordedSysctls,
    },
    notes,
  };
}

export interface UninstallReport {
  removed: string[];
  kept: string[];
  notes: string[];
  errors: string[];
}

export async function uninstall(o: UninstallOptions): Promise<UninstallReport> {
  const instance = checkInstance(o.instance);
  const root = checkRoot(o.root);
  const rep: UninstallReport = { removed: [], kept: [], notes: [], errors: [] };
  const found = o.networkOnly ? undefined : findManifest(root, o.prefix);
  if (o.networkOnly && o.keepNetwork) {
    throw new YardError('INVALID_ARGUMENT', '--network-only and --keep-network leave nothing to do together', { field: '--keep-network', hint: 'give one of them' });
  }
  if (process.getuid?.() !== 0 && !o.dryRun) {
    throw new YardError('NOT_ROOT', 'yard uninstall must run as root', { hint: 'run it with sudo, or as root (or look first with --dry-run)' });
  }
  await refuseRunningDaemon(instance);
  const say = (line: string) => {
    rep.removed.push(line);
    o.out(`${o.dryRun ? 'would remove' : 'removed'}: ${line}`);
  };

  if (!o.keepNetwork) {
    const { obs, notes } = await observeHost(instance);
    rep.notes.push(...notes);
    const plan = planHostCleanup(instance, obs, { purge: o.purge });
    rep.kept.push(...plan.kept);
    if (!o.dryRun) {
      for (const n of plan.namespaces) {
        await killNetnsProcesses(n);
        rep.errors.push(...(await applyBestEffort([{ op: 'netns.del', name: n }])));
      }
      for (const n of plan.attachments) rep.errors.push(...(await applyBestEffort([{ op: 'netns.del', name: n }])));
      for (const d of plan.etcNetnsDirs) removeSandboxFiles(d);
      // A namespace deleted above takes its veth peers with it, asynchronously: gone is success.
      const errs = await applyBestEffort(plan.links.map((name) => ({ op: 'link.del' as const, name })));
      rep.errors.push(...errs.filter((e) => !/Cannot find device/.test(e)));
      const nft = new NftCli();
      for (const t of plan.tables) {
        try {
          await nft.apply(`delete table ${t.family} ${t.name}\n`);
        } catch (e) {
          rep.errors.push((e as Error).message);
        }
      }
      for (const s of plan.sysctls) {
        try {
          fs.writeFileSync(`/proc/sys/${s.key.replace(/\./g, '/')}`, s.value);
        } catch (e) {
          rep.errors.push(`sysctl ${s.key}=${s.value}: ${(e as Error).message}`);
        }
      }
    }
    for (const line of describeCleanup(plan)) say(line);
  }

  if (o.purge) {
    const dirs = [stateDirFor(instance), path.dirname(socketPathFor(instance))].filter((d) => fs.existsSync(d));
    for (const d of dirs) {
      if (!o.dryRun) fs.rmSync(d, { recursive: true, force: true });
      say(`directory ${d}`);
    }
    for (const parent of [LIB_DIR, RUN_DIR]) {
      if (o.dryRun || !fs.existsSync(parent)) continue;
      if (fs.readdirSync(parent).length) {
        rep.kept.push(`directory ${parent} (other instances')`);
        continue;
      }
      try {
        fs.rmdirSync(parent);
        say(`directory ${parent}`);
      } catch (e) {
        // A mount point, for one: empty, and left in place.
        rep.kept.push(`directory ${parent} (empty; ${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
      }
    }
  }

  if (found) {
    const { manifest } = found;
    const pkg = underRoot(root, manifest.dir);
    for (const g of manifest.groups) {
      if (!o.purge) rep.kept.push(`group ${g} (--purge removes it)`);
      else if (root !== '/') rep.kept.push(`group ${g} (not removed under --root ${root})`);
      else {
        try {
          if (!o.dryRun) execFileSync('groupdel', [g], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000 });
          say(`group ${g}`);
        } catch (e) {
          rep.errors.push(`groupdel ${g}: ${String((e as { stderr?: Buffer }).stderr ?? (e as Error).message).trim()}`);
        }
      }
    }
    for (const l of manifest.links) {
      const p = underRoot(root, l);
      const st = fs.lstatSync(p, { throwIfNoEntry: false });
      if (!st) continue;
      const target = st.isSymbolicLink() ? path.resolve(path.dirname(p), fs.readlinkSync(p)) : '';
      if (!target.startsWith(`${pkg}/`)) {
        rep.kept.push(`${p} (${st.isSymbolicLink() ? `now points to ${target}` : 'no longer a symlink'}: not Switchyard's)`);
        continue;
      }
      if (!o.dryRun) fs.unlinkSync(p);
      say(p);
    }
    for (const f of manifest.files) {
      const p = underRoot(root, f);
      const st = fs.lstatSync(p, { throwIfNoEntry: false });
      if (!st) continue;
      if (!st.isFile()) {
        rep.kept.push(`${p} (not a regular file any more)`);
        continue;
      }
      if (!o.dryRun) fs.unlinkSync(p);
      say(p);
    }
    if (!o.dryRun) fs.rmSync(pkg, { recursive: true, force: true });
    say(`${pkg}/`);
    if (root === '/' && manifest.files.some((f) => f.endsWith('.service')) && !o.dryRun) rep.notes.push('run systemctl daemon-reload so systemd forgets the removed unit');
  }
  for (const k of rep.kept) o.out(`kept: ${k}`);
  for (const n of rep.notes) o.out(`note: ${n}`);
  for (const e of rep.errors) o.out(`error: ${e}`);
  return rep;
}
