/**
 * The lab's tiny container image `bb`: busybox-static and its applets (about 2 MB) as a
 * root file system tarball, imported by each lab engine (`docker import`, `podman
 * import`), so no registry is ever asked for an image.
 */
import fs from 'node:fs';
import path from 'node:path';
import { YardError } from '../errors.js';
import { run } from '../kernel/exec.js';

export const BUSYBOX = '/bin/busybox';
/** The image every lab engine has: `docker run bb ping ...`, `podman run bb ping ...`. */
export const LAB_IMAGE = 'bb';

/**
 * Pack busybox and its applet links as `<workDir>/image.tar`, hand it to `use`, then remove
 * it again (whatever `use` does). The build directory `<workDir>/image-rootfs` is removed
 * as well.
 */
export async function withBusyboxTar<T>(workDir: string, use: (tar: string) => Promise<T>): Promise<T> {
  const root = path.join(workDir, 'image-rootfs');
  const tar = path.join(workDir, 'image.tar');
  fs.rmSync(root, { recursive: true, force: true });
  try {
    fs.mkdirSync(path.join(root, 'bin'), { recursive: true });
    fs.mkdirSync(path.join(root, 'etc'));
    fs.mkdirSync(path.join(root, 'tmp'), { mode: 0o1777 });
    fs.copyFileSync(BUSYBOX, path.join(root, 'bin', 'busybox'));
    fs.chmodSync(path.join(root, 'bin', 'busybox'), 0o755);
    const list = await run(BUSYBOX, ['--list'], { timeoutMs: 10_000 });
    for (const applet of list.stdout.split('\n').map((s) => s.trim())) {
      if (/^[a-z0-9_.[-]+$/.test(applet) && applet !== 'busybox') fs.symlinkSync('busybox', path.join(root, 'bin', applet));
    }
    const t = await run('tar', ['-C', root, '-cf', tar, '.'], { timeoutMs: 30_000 });
    if (t.code !== 0) throw new YardError('INTERNAL', `could not pack the ${LAB_IMAGE} image: ${t.stderr.trim()}`, { hint: 'check that tar works' });
    return await use(tar);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
    fs.rmSync(tar, { force: true });
  }
}
