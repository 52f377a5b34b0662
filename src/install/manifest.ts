/**
 * The install manifest: `make install` (scripts/install.sh) writes
 * `<prefix>/lib/switchyard/install-manifest`, one entry a line, with the final paths of
 * what it laid out (without DESTDIR), so `yard uninstall` removes exactly those:
 *
 *   dir /usr/local/lib/switchyard                                   the package
 *   link /usr/local/bin/yard                                        a symlink into the package
 *   file /usr/local/lib/systemd/system/switchyard.service           a file it wrote
 *   group switchyard                                                a group it created
 *
 * Parsing is pure; the path checks refuse anything that is not absolute and normalized.
 */
import path from 'node:path';
import { YardError } from '../errors.js';

export const MANIFEST_NAME = 'install-manifest';
/** Where the package lives under a prefix. */
export const PACKAGE_SUBDIR = 'lib/switchyard';

/** The names of the files install writes outside the package: the unit and the completions. */
export const INSTALLED_FILES = ['switchyard.service', 'yard', '_yard'];

export interface Manifest {
  dir: string;
  links: string[];
  files: string[];
  groups: string[];
}

export function parseManifest(text: string, where: string): Manifest {
  const m: Manifest = { dir: '', links: [], files: [], groups: [] };
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const sp = line.indexOf(' ');
    const kind = sp < 0 ? line : line.slice(0, sp);
    const value = sp < 0 ? '' : line.slice(sp + 1).trim();
    const bad = (why: string) =>
      new YardError('INVALID_ARGUMENT', `${where}:${i + 1}: ${why}: ${JSON.stringify(line)}`, {
        hint: 'the install manifest is damaged; remove the files by hand (see README, "Run it on a host") or install again first',
      });
    if (kind === 'group') {
      if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(value)) throw bad('not a group name');
      m.groups.push(value);
      return;
    }
    if (!['dir', 'link', 'file'].includes(kind)) throw bad(`unknown entry "${kind}"`);
    if (!path.isAbsolute(value) || path.normalize(value) !== value || value === '/' || /[\u0000-\u001f]/.test(value)) throw bad('not an absolute, normalized path');
    if (kind === 'dir') {
      if (m.dir) throw bad('a second dir entry');
      if (!value.endsWith(`/${PACKAGE_SUBDIR}`)) throw bad(`the package directory must end in /${PACKAGE_SUBDIR}`);
      m.dir = value;
    } else if (kind === 'file') {
      // Only the kinds of file install writes: a damaged or edited manifest cannot aim elsewhere.
      if (!INSTALLED_FILES.includes(path.basename(value))) throw bad(`a file install does not write (it writes ${INSTALLED_FILES.join(', ')})`);
      m.files.push(value);
    } else m.links.push(value);
  });
  if (!m.dir) {
    throw new YardError('INVALID_ARGUMENT', `${where}: no dir entry`, { hint: 'the install manifest is damaged; reinstall with make install, then uninstall' });
  }
  return m;
}

/** A path of the installed system as seen under root (DESTDIR). */
export function underRoot(root: string, p: string): string {
  return root === '/' ? p : path.join(root, p);
}
