/**
 * Where dockerd finds Switchyard's plugin, and under which names. Pure: the daemon binds
 * the sockets (and removes them when it stops).
 *
 * dockerd (20.10) looks a plugin NAME up, when a network first names it (`-d NAME`,
 * `--ipam-driver NAME`), in this order:
 *   1. a unix socket /run/docker/plugins/NAME.sock (or /run/docker/plugins/NAME/NAME.sock);
 *   2. a spec file NAME.spec (one line: the plugin's URL, e.g. unix:///path/to.sock) or
 *      NAME.json ({"Name": ..., "Addr": ...}) in /etc/docker/plugins or /usr/lib/docker/plugins.
 * These directories are fixed in dockerd (neither --exec-root nor --data-root moves them),
 * so every dockerd on the machine sees the same plugins, whatever namespace it runs in.
 *
 * Decision: the daemon binds one socket per plugin name directly in the socket directory
 * (no spec file to keep in sync, and nothing written under /etc). A plugin name has one
 * scope (dockerd asks GetCapabilities once per name), so there are two:
 *   switchyard         Scope local:  bridge (default), macvlan, ipvlan; and the IPAM driver
 *   switchyard-global  Scope global: overlay (needs dockerd with a cluster store)
 * Several daemons on one machine (labs) must use different base names, e.g.
 * `switchyard-<instance>`, or their sockets would replace each other's.
 */
import path from 'node:path';
import { YardError } from '../errors.js';
import type { PluginScope } from './backend.js';

/** dockerd's fixed socket directory for plugins. */
export const DOCKER_PLUGIN_SOCKET_DIR = '/run/docker/plugins';
/** dockerd's fixed spec-file directories, in its search order. */
export const DOCKER_PLUGIN_SPEC_DIRS = ['/etc/docker/plugins', '/usr/lib/docker/plugins'] as const;

export interface PluginNames {
  local: string;
  global: string;
}

export const DEFAULT_PLUGIN_BASE = 'switchyard';
export const PLUGIN_NAMES: PluginNames = pluginNames(DEFAULT_PLUGIN_BASE);

/**
 * A plugin name as `docker network create -d` takes it and as a file name: lowercase
 * letters, digits, "-", "_" and "." (not first), at most 64 characters.
 */
const NAME_RE = /^[a-z0-9][a-z0-9_.-]{0,63}$/;

export function checkPluginName(name: string, field = '--docker-plugin'): string {
  if (!NAME_RE.test(name) || name.endsWith('-global')) {
    throw new YardError('INVALID_ARGUMENT', `${field} ${JSON.stringify(name)} is not a usable plugin name`, {
      field,
      hint: 'use lowercase letters, digits, "-", "_" and "." (at most 64, starting with a letter or digit, not ending in -global), e.g. switchyard or switchyard-host1',
    });
  }
  return name;
}

/** The two plugin names for a base name: BASE (local) and BASE-global. */
export function pluginNames(base: string): PluginNames {
  return { local: base, global: `${base}-global` };
}

/** The socket dockerd connects to for plugin NAME. */
export function pluginSocketPath(name: string, dir: string = DOCKER_PLUGIN_SOCKET_DIR): string {
  return path.join(dir, `${name}.sock`);
}

/** A spec file for NAME pointing at a socket elsewhere (for a socket that cannot live in dockerd's directory). */
export function pluginSpecFile(name: string, socketPath: string, dir: string = DOCKER_PLUGIN_SPEC_DIRS[0]): { path: string; content: string } {
  if (!path.isAbsolute(socketPath)) {
    throw new YardError('INVALID_ARGUMENT', `plugin socket ${socketPath} is not an absolute path`, { field: 'socket', hint: 'give the socket\'s absolute path' });
  }
  return { path: path.join(dir, `${name}.spec`), content: `unix://${socketPath}\n` };
}

export interface PluginEndpoint {
  name: string;
  scope: PluginScope;
  socket: string;
  /** Whether this name also serves the IpamDriver calls. */
  ipam: boolean;
}

/** Everything the daemon serves for a base name: one socket per scope. */
export function pluginEndpoints(base: string = DEFAULT_PLUGIN_BASE, dir: string = DOCKER_PLUGIN_SOCKET_DIR): PluginEndpoint[] {
  const names = pluginNames(checkPluginName(base));
  return [
    { name: names.local, scope: 'local', socket: pluginSocketPath(names.local, dir), ipam: true },
    { name: names.global, scope: 'global', socket: pluginSocketPath(names.global, dir), ipam: false },
  ];
}
