/**
 * Answers for the Docker Engine API endpoints Switchyard does not serve (containers,
 * images, volumes, exec, build, plugins: 501; swarm and its objects: 503, in Docker's own
 * words for a node outside a swarm), so a docker CLI pointed at the daemon prints a line
 * that says what to use instead, rather than "page not found".
 *
 * Every 501 message contains "not supported": `docker inspect NAME` then moves on from
 * containers and images to networks, as it does when Docker itself lacks an object kind.
 *
 * Mount it after the routes the daemon does serve (the first matching route answers), on
 * an app whose router already sees unversioned paths (`/v1.41/containers/json` as
 * `/containers/json`), as createApp's does.
 */
import type { Context, Hono } from 'hono';

/** Docker's wording (daemon/cluster) for a manager-only call on a node that is in no swarm. */
export const NOT_A_SWARM_MANAGER =
  'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.';
/** Docker's wording for leaving a swarm the node is not part of. */
export const NOT_IN_A_SWARM = 'This node is not part of a swarm';

export interface UnsupportedOptions {
  /** The name dockerd knows Switchyard's network plugin by (default switchyard). */
  pluginName?: string;
}

interface Area {
  /** Hono paths; `/x/*` also matches `/x`. */
  paths: string[];
  status: 501 | 503;
  message: (plugin: string) => string;
}

const viaPlugin = (plugin: string) =>
  `or run containers with dockerd and put them on Switchyard networks through Switchyard's network plugin: docker network create -d ${plugin} NET (sent to dockerd, not to Switchyard)`;

const SWARM_ALTERNATIVE =
  'swarm mode is not supported by Switchyard; for networks across hosts start every daemon with --cluster-store etcd://HOST:2379 --cluster-advertise IF and create overlay networks (yard network create -d overlay NAME)';

const AREAS: readonly Area[] = [
  {
    paths: ['/containers/*'],
    status: 501,
    message: (p) => `containers are not supported by Switchyard, which serves Docker's network endpoints only. Run a sandbox with "yard run [--network NET] -- CMD", ${viaPlugin(p)}`,
  },
  {
    paths: ['/exec/*'],
    status: 501,
    message: (p) => `exec is not supported by Switchyard's Docker API. Run a command in a sandbox with "yard exec SANDBOX -- CMD", ${viaPlugin(p)}`,
  },
  {
    paths: ['/images/*', '/commit', '/distribution/*'],
    status: 501,
    message: (p) => `images are not supported by Switchyard: a sandbox runs a command from the host's file system ("yard run -- CMD"), ${viaPlugin(p)}`,
  },
  {
    paths: ['/volumes/*'],
    status: 501,
    message: (p) => `volumes are not supported by Switchyard: a sandbox shares the host's file system ("yard run -- CMD"), ${viaPlugin(p)}`,
  },
  {
    paths: ['/build/*', '/session'],
    status: 501,
    message: (p) => `image builds are not supported by Switchyard: run sandboxes with "yard run -- CMD", ${viaPlugin(p)}`,
  },
  {
    paths: ['/plugins/*'],
    status: 501,
    message: (p) => `plugin management is not supported by Switchyard. Switchyard is itself a network plugin for dockerd: with the Switchyard daemon running, docker network create -d ${p} NET (sent to dockerd)`,
  },
];

const SWARM_OBJECTS = ['/services/*', '/nodes/*', '/tasks/*', '/secrets/*', '/configs/*'];

function answer(c: Context, status: 501 | 503, text: string) {
  return c.json({ message: text, code: 'NOT_IMPLEMENTED' }, status);
}

export function mountUnsupported(app: Hono, opts: UnsupportedOptions = {}): void {
  const plugin = opts.pluginName ?? 'switchyard';
  for (const area of AREAS) {
    for (const path of area.paths) app.all(path, (c) => answer(c, area.status, `${c.req.method} ${c.req.path}: ${area.message(plugin)}`));
  }
  // Swarm: what Docker says on a node outside a swarm; init and join say why they cannot work here.
  app.all('/swarm/leave', (c) => answer(c, 503, NOT_IN_A_SWARM));
  for (const path of ['/swarm/init', '/swarm/join']) {
    app.all(path, (c) => answer(c, 503, `This node cannot ${path.slice(7)} a swarm: ${SWARM_ALTERNATIVE}`));
  }
  for (const path of ['/swarm/*', ...SWARM_OBJECTS]) app.all(path, (c) => answer(c, 503, NOT_A_SWARM_MANAGER));
}
