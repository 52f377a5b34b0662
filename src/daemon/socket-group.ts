/**
 * The group that may use the daemon's API socket (`yard daemon --group`): the socket is
 * mode 0660, owned by root and this group, so its members run `yard` without root. Being
 * in the group is as good as root on this host (a sandbox runs any command as root), as
 * with Docker's `docker` group.
 */
import { execFileSync } from 'node:child_process';
import { YardError } from '../errors.js';

/** POSIX portable user/group names (shadow's default rule), at most 32 characters. */
const GROUP_NAME = /^[a-z_][a-z0-9_-]{0,30}[a-z0-9_$-]?$/;

/** Is this a syntactically valid group name or numeric GID? Pure. */
export function checkGroupSpec(spec: string, field = '--group'): string {
  if (/^\d{1,10}$/.test(spec) && Number(spec) < 2 ** 32 - 1) return spec;
  if (!GROUP_NAME.test(spec)) {
    throw new YardError('INVALID_ARGUMENT', `${field} ${JSON.stringify(spec)} is not a group name or numeric GID`, {
      field,
      hint: 'give a group such as switchyard (lower-case letters, digits, _ and -), e.g. --group switchyard',
    });
  }
  return spec;
}

/** The GID of a group (by name through the system's group database, getent), or a clear error. */
export function resolveGroup(spec: string, field = '--group'): number {
  checkGroupSpec(spec, field);
  if (/^\d+$/.test(spec)) return Number(spec);
  let line = '';
  try {
    line = execFileSync('getent', ['group', spec], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 }).trim();
  } catch {
    line = '';
  }
  const gid = Number(line.split('\n')[0]?.split(':')[2]);
  if (!line || !Number.isInteger(gid)) {
    throw new YardError('INVALID_ARGUMENT', `${field} ${spec}: no such group on this host`, {
      field,
      hint: `create it first (groupadd --system ${spec}; make install does this), or leave ${field} out to keep the socket root's only`,
    });
  }
  return gid;
}
