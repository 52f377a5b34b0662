/**
 * The VM lab: run one command inside a qemu guest whose kernel has what this machine's
 * kernel lacks (ipvlan, dummy, 802.1q, ...), so those drivers are tested for real.
 *
 *   guest kernel   the stock Debian cloud kernel (`linux-image-cloud-amd64`), software
 *                  emulation (TCG): KVM here is a paravirtual flavour a stock kernel hangs on
 *   root fs        the machine's own `/`, exported by virtiofsd, mounted READ-ONLY in the
 *                  guest with a RAM overlay on top, then switch_root'ed into: the guest runs
 *                  this checkout, node and node_modules at their usual paths, and every write
 *                  it makes is thrown away at power-off
 *   network        NONE: `-nodefaults -nic none`, and the guest refuses to run anything if it
 *                  sees a device-backed interface. Nothing it does can reach a real network.
 *   initramfs      tiny: static busybox and the modules needed to mount virtiofs + overlay.
 *                  Everything else (ipvlan, nf_tables, ...) is loaded after switch_root by the
 *                  machine's own kmod from /lib/modules/<cloud kernel>, which apt installed.
 *
 * The command's output comes back on the serial console between two marker lines, followed
 * by its exit code. qemu and virtiofsd are this process's children and are killed by PID
 * on timeout or any failure.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { YardError } from '../errors.js';
import { run } from '../kernel/exec.js';

export interface VmRunOptions {
  /** argv of the command, run in `cwd` inside the guest. */
  command: string[];
  /** Working directory inside the guest (the same path as on the machine). Default: process.cwd(). */
  cwd?: string;
  /** Extra environment for the command. */
  env?: Record<string, string>;
  /** Hard limit for the whole VM, boot to power-off (default 600 s). */
  timeoutMs?: number;
  /** Guest RAM in MiB (default 2048: node, vitest, daemons and the overlay's writes live in it). */
  memMb?: number;
  /** Every console line of the command as it arrives (for live progress). */
  onLine?: (line: string) => void;
  onProgress?: (msg: string) => void;
}

export interface VmRunResult {
  /** The command's exit code in the guest; null when it never finished (timeout, boot failure). */
  exitCode: number | null;
  /** The command's output (stdout and stderr interleaved, as the console showed them). */
  output: string;
  /** The whole serial console, kernel and init lines included. */
  console: string;
  timedOut: boolean;
  /** Milliseconds: qemu start to the command's first line, and to power-off. */
  bootMs: number | null;
  wallMs: number;
}

const BEGIN = 'YARD_VM_BEGIN';
const RC = 'YARD_VM_RC=';
const RC_RE = /YARD_VM_RC=(\d+)$/;
const ABORT = 'YARD_VM_ABORT';
const VIRTIOFSD = '/usr/lib/qemu/virtiofsd';
const QEMU = 'qemu-system-x86_64';
/** Modules the initramfs loads, in dependency order, to mount the machine's root. */
const BOOT_MODULES = ['virtio_pci', 'virtiofs', 'overlay'];
/** Loaded after switch_root; the kernel would autoload most, but a probe must not race that. */
const GUEST_MODULES = ['ipvlan', 'macvlan', 'veth', 'bridge', 'dummy', '8021q', 'vxlan', 'nf_tables', 'nft_chain_nat', 'nft_masq', 'nft_nat', 'nft_ct', 'nft_fib_inet', 'nft_reject_inet', 'nf_conntrack'];
export const VM_PACKAGES = ['qemu-system-x86', 'linux-image-cloud-amd64'];

/** The newest installed Debian cloud kernel: its version, or null. */
export function cloudKernel(): string | null {
  const v = fs.readdirSync('/boot').filter((f) => /^vmlinuz-.*-cloud-amd64$/.test(f)).map((f) => f.slice('vmlinuz-'.length));
  v.sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  return v.at(-1) ?? null;
}

/** What is missing to boot the VM lab, as Debian package names ([] when ready). */
export async function vmMissingPackages(): Promise<string[]> {
  const missing: string[] = [];
  const qemu = await run('sh', ['-c', `command -v ${QEMU}`]);
  if (qemu.code !== 0 || !fs.existsSync(VIRTIOFSD)) missing.push('qemu-system-x86');
  if (!cloudKernel() || !fs.existsSync(`/lib/modules/${cloudKernel()}`)) missing.push('linux-image-cloud-amd64');
  return missing;
}

/** Install what vmMissingPackages names, with apt (about 40 s and 170 MB on a fresh machine). */
export async function vmInstallPackages(onProgress: (msg: string) => void = () => {}): Promise<void> {
  const missing = await vmMissingPackages();
  if (!missing.length) return;
  onProgress(`apt-get install ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () => run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { env, timeoutMs: 600_000 });
  let r = await install();
  if (r.code !== 0) {
    await run('apt-get', ['update', '-qq'], { env, timeoutMs: 300_000 });
    r = await install();
  }
  if (r.code !== 0) {
    throw new YardError('KERNEL_FAILED', `apt-get install ${missing.join(' ')} failed: ${r.stderr.trim().split('\n').slice(-3).join(' ')}`, {
      hint: `install them by hand: apt-get install ${missing.join(' ')}`,
    });
  }
}

/** Shell-quote for the guest's /bin/sh. */
const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

async function buildInitramfs(dir: string, kver: string, stage2: string): Promise<string> {
  const root = path.join(dir, 'root');
  for (const d of ['bin', 'dev', 'proc', 'sys', 'host', 'ovl', 'newroot', 'mods']) fs.mkdirSync(path.join(root, d), { recursive: true });
  fs.copyFileSync('/bin/busybox', path.join(root, 'bin/busybox'));
  fs.chmodSync(path.join(root, 'bin/busybox'), 0o755);
  const applets = (await run('/bin/busybox', ['--list'])).stdout.split('\n').filter((a) => /^[a-z0-9_.[-]+$/.test(a) && a !== 'busybox');
  for (const a of applets) fs.symlinkSync('busybox', path.join(root, 'bin', a));
  // Dependency order as modprobe resolves it; duplicates (virtio core) loaded once.
  const order: string[] = [];
  for (const m of BOOT_MODULES) {
    const r = await run('modprobe', ['-S', kver, '--show-depends', m]);
    for (const line of r.stdout.split('\n')) {
      const f = /^insmod (\S+)/.exec(line)?.[1];
      if (f && !order.includes(f)) order.push(f);
    }
  }
  if (!order.some((f) => f.endsWith('/virtiofs.ko'))) {
    throw new YardError('INTERNAL', `the cloud kernel ${kver} has no virtiofs module under /lib/modules/${kver}`, { hint: 'reinstall linux-image-cloud-amd64' });
  }
  const names = order.map((f, i) => {
    const name = `${String(i).padStart(2, '0')}-${path.basename(f)}`;
    fs.copyFileSync(f, path.join(root, 'mods', name));
    return name;
  });
  fs.writeFileSync(path.join(root, 'stage2.sh'), stage2);
  fs.writeFileSync(
    path.join(root, 'init'),
    `#!/bin/sh
export PATH=/bin
abort() { echo "${ABORT} $*"; /bin/busybox poweroff -f; }
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in ${names.join(' ')}; do insmod /mods/$m || echo "insmod $m failed"; done
# Safety first: a device-backed interface would be a way out of the VM.
for d in /sys/class/net/*; do [ -e "$d/device" ] && abort "the guest has a network device: $d"; done
mount -t virtiofs -o ro hostroot /host || abort "cannot mount the machine's root over virtiofs"
mount -t tmpfs -o mode=755 ovl /ovl && mkdir /ovl/u /ovl/w
mount -t overlay overlay -o lowerdir=/host,upperdir=/ovl/u,workdir=/ovl/w /newroot || abort "cannot put an overlay on the machine's root"
mount -t tmpfs -o mode=755 run /newroot/run
cp /stage2.sh /newroot/run/yard-vm-stage2.sh
mount --move /dev /newroot/dev
umount /proc /sys
exec switch_root /newroot /bin/sh /run/yard-vm-stage2.sh
`,
    { mode: 0o755 },
  );
  const out = path.join(dir, 'initramfs.cpio');
  const r = await run('sh', ['-c', `cd ${q(root)} && find . | cpio -o -H newc --quiet > ${q(out)}`], { timeoutMs: 60_000 });
  if (r.code !== 0) throw new YardError('INTERNAL', `cannot pack the VM's initramfs: ${r.stderr.trim()}`, { hint: 'apt-get install cpio' });
  return out;
}

function stage2Script(o: { cwd: string; env: Record<string, string>; command: string[] }): string {
  const env = Object.entries({ PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root', CI: 'true', ...o.env })
    .map(([k, v]) => `export ${k}=${q(v)}`)
    .join('\n');
  return `#!/bin/sh
# PID 1 on the overlaid machine root. kmod from the machine now serves the kernel's
# module autoloading, with /lib/modules of the cloud kernel that apt installed.
${env}
mount -t proc proc /proc; mount -t sysfs sys /sys
# The lab's Docker engine (src/lab/docker.ts) needs cgroups, and its overlay2 storage refuses
# an overlayfs backing: cgroup v2, and a tmpfs for the lab's data directory.
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mkdir -p "\${YARD_LIB_DIR:-/var/lib/switchyard}" && mount -t tmpfs -o mode=755 yardlib "\${YARD_LIB_DIR:-/var/lib/switchyard}"
mkdir -p /dev/pts /dev/shm /run/netns; mount -t devpts devpts /dev/pts; mount -t tmpfs shm /dev/shm
# /tmp is NOT a fresh tmpfs: the checkout under test may live there (CI clones anywhere);
# the overlay's tmpfs upper layer already takes every write.
echo /sbin/modprobe > /proc/sys/kernel/modprobe
modprobe -a ${GUEST_MODULES.join(' ')} || echo "modprobe: some modules did not load"
ip link set lo up
echo ${BEGIN}
cd ${q(o.cwd)} && ${o.command.map(q).join(' ')} < /dev/null 2>&1
echo "${RC}$?"
sync
busybox poweroff -f
`;
}

function kill(child: ChildProcess | undefined): void {
  if (child?.pid && child.exitCode === null && child.signalCode === null) {
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

const waitExit = (child: ChildProcess) =>
  child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise<void>((r) => child.once('exit', () => r()));

export async function vmRun(opts: VmRunOptions): Promise<VmRunResult> {
  if (process.getuid?.() !== 0) throw new YardError('NOT_ROOT', 'the VM lab needs root (virtiofsd exports /)', { hint: 'run it as root' });
  const missing = await vmMissingPackages();
  if (missing.length) {
    throw new YardError('INVALID_ARGUMENT', `the VM lab needs ${missing.join(' and ')}`, { hint: `apt-get install ${missing.join(' ')} (or run scripts/setup.sh)` });
  }
  if (!opts.command.length) throw new YardError('INVALID_ARGUMENT', 'no command to run in the VM', { field: 'COMMAND', hint: 'put it after --' });
  const progress = opts.onProgress ?? (() => {});
  const kver = cloudKernel()!;
  const memMb = opts.memMb ?? 2048;
  const timeoutMs = opts.timeoutMs ?? 600_000;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'yard-vm-'));
  const sock = path.join(dir, 'vfs.sock');
  let virtiofsd: ChildProcess | undefined;
  let qemu: ChildProcess | undefined;
  const t0 = Date.now();
  try {
    const initrd = await buildInitramfs(dir, kver, stage2Script({ cwd: opts.cwd ?? process.cwd(), env: opts.env ?? {}, command: opts.command }));
    progress(`guest kernel ${kver}, initramfs ${(fs.statSync(initrd).size / 1e6).toFixed(1)} MB (${Date.now() - t0} ms)`);

    // cache=always: each exec in the guest is about 2x faster than with cache=auto.
    // sandbox=chroot: the default namespace sandbox fails on source=/ (pivot_root EBUSY).
    virtiofsd = spawn(VIRTIOFSD, [`--socket-path=${sock}`, '-o', 'source=/', '-o', 'cache=always', '-o', 'sandbox=chroot', '-o', 'log_level=err'], {
      stdio: ['ignore', 'ignore', fs.openSync(path.join(dir, 'virtiofsd.log'), 'w')],
    });
    for (let i = 0; i < 100 && !fs.existsSync(sock); i++) await new Promise((r) => setTimeout(r, 50));
    if (!fs.existsSync(sock)) throw new YardError('INTERNAL', `virtiofsd did not create ${sock}`, { hint: `see ${dir}/virtiofsd.log` });

    const args = [
      // Westmere: V8 under TCG is 1.5-3x slower with -cpu max (AVX emulation); one vCPU
      // beats two on a 2-core machine.
      '-accel', 'tcg,thread=multi', '-cpu', 'Westmere', '-smp', '1', '-m', String(memMb),
      '-nodefaults', '-nographic', '-no-reboot', '-nic', 'none', '-serial', 'stdio',
      '-kernel', `/boot/vmlinuz-${kver}`, '-initrd', initrd,
      '-append', 'console=ttyS0 panic=-1 quiet loglevel=3',
      // virtiofs needs the guest RAM shared with virtiofsd.
      '-object', `memory-backend-memfd,id=mem,size=${memMb}M,share=on`, '-numa', 'node,memdev=mem',
      '-chardev', `socket,id=vfs,path=${sock}`, '-device', 'vhost-user-fs-pci,chardev=vfs,tag=hostroot',
    ];
    progress(`${QEMU} ${args.join(' ')}`);
    qemu = spawn(QEMU, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const child = qemu;
    let consoleText = '';
    let bootMs: number | null = null;
    let inCommand = false;
    let partial = '';
    const output: string[] = [];
    let exitCode: number | null = null;
    const onData = (d: string) => {
      const text = d.replace(/\r/g, '');
      consoleText += text;
      partial += text;
      const lines = partial.split('\n');
      partial = lines.pop()!;
      for (const line of lines) {
        // Markers may follow escape sequences the kernel or the command left on the line.
        const rc = inCommand ? RC_RE.exec(line) : null;
        if (!inCommand && exitCode === null && line.endsWith(BEGIN)) {
          inCommand = true;
          bootMs = Date.now() - t0;
          progress(`guest up, command started (${(bootMs / 1000).toFixed(1)} s)`);
        } else if (rc) {
          exitCode = Number(rc[1]);
          inCommand = false;
        } else if (inCommand) {
          output.push(line);
          opts.onLine?.(line);
        } else if (line.startsWith(ABORT)) progress(line);
      }
    };
    // A decoding stream: a multi-byte character (×, ÷) split across two reads stays whole.
    child.stdout!.setEncoding('utf8').on('data', onData);
    child.stderr!.setEncoding('utf8').on('data', onData);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      progress(`the VM ran longer than ${timeoutMs / 1000} s: killing qemu (pid ${child.pid})`);
      kill(child);
    }, timeoutMs);
    await waitExit(child);
    clearTimeout(timer);
    fs.writeFileSync(path.join(dir, 'console.log'), consoleText);
    return { exitCode, output: output.join('\n'), console: consoleText, timedOut, bootMs, wallMs: Date.now() - t0 };
  } finally {
    kill(qemu);
    kill(virtiofsd);
    await Promise.all([qemu, virtiofsd].filter((c): c is ChildProcess => !!c).map(waitExit));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
