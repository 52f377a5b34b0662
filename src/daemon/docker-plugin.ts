/**
 * The daemon's Docker plugin sockets: `switchyard` (local scope: bridge, macvlan, ipvlan,
 * and the IPAM driver) and `switchyard-global` (overlay), in the directory dockerd
 * discovers plugins in (/run/docker/plugins). dockerd finds them whether it or Switchyard
 * starts first: it looks the plugin up when a network names it. The sockets listen from
 * the start; the plugin's code (its routes, their schemas, the engine backend) loads at
 * the first request, so a daemon that no dockerd talks to never holds it.
 */
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { YardError } from '../errors.js';
import type { Engine } from '../engine/engine.js';
import type { EngineDockerBackend } from '../plugin/engine-backend.js';
import { DEFAULT_PLUGIN_BASE, DOCKER_PLUGIN_SOCKET_DIR, pluginEndpoints, pluginNames } from '../plugin/plugin-location.js';

export interface DockerPluginServer {
  sockets: string[];
  close(): Promise<void>;
}

/** Does something answer on this unix socket? (A live daemon of another instance.) */
function answers(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(socket);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

export async function serveDockerPlugin(engine: Engine, opts: { dir?: string; base?: string; log: (m: string) => void }): Promise<DockerPluginServer> {
  const base = opts.base ?? DEFAULT_PLUGIN_BASE;
  const dir = opts.dir ?? DOCKER_PLUGIN_SOCKET_DIR;
  let backend: Promise<EngineDockerBackend> | undefined;
  const loadBackend = () => (backend ??= import('../plugin/engine-backend.js').then((m) => new m.EngineDockerBackend(engine, opts.log)));
  const servers: { server: http.Server; socket: string }[] = [];
  const close = async () => {
    for (const { server, socket } of servers) {
      await new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      });
      fs.rmSync(socket, { force: true });
    }
  };
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
    for (const ep of pluginEndpoints(base, dir)) {
      if (fs.existsSync(ep.socket) && (await answers(ep.socket))) {
        throw new YardError('DAEMON_RUNNING', `another process serves the Docker plugin socket ${ep.socket}`, {
          field: '--docker-plugin-name',
          hint: 'give this daemon another plugin name (--docker-plugin-name), or --docker-plugin-dir none',
        });
      }
      fs.rmSync(ep.socket, { force: true });
      let listener: Promise<http.RequestListener> | undefined;
      const load = async () => {
        const { dockerPluginApp, pluginRequestListener } = await import('../plugin/docker-plugin-app.js');
        return pluginRequestListener(dockerPluginApp(await loadBackend(), { scope: ep.scope, ipam: ep.ipam, names: pluginNames(base) }));
      };
      const server = http.createServer((req, res) => {
        (listener ??= load()).then(
          (l) => l(req, res),
          (e) => {
            res.writeHead(500, { 'Content-Type': 'application/json' }).end(JSON.stringify({ Err: `loading the plugin failed: ${(e as Error).message}` }));
          },
        );
      });
      server.keepAliveTimeout = 5000;
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(ep.socket, () => resolve());
      });
      fs.chmodSync(ep.socket, 0o660);
      servers.push({ server, socket: ep.socket });
    }
  } catch (e) {
    await close();
    throw e;
  }
  opts.log(`docker plugin: ${servers.map((s) => s.socket).join(', ')} (docker network create -d ${base} ...)`);
  return { sockets: servers.map((s) => s.socket), close };
}
