/**
 * The daemon's Docker plugin sockets: `switchyard` (local scope: bridge, macvlan, ipvlan,
 * and the IPAM driver) and `switchyard-global` (overlay), in the directory dockerd
 * discovers plugins in (/run/docker/plugins). dockerd finds them whether it or Switchyard
 * starts first: it looks the plugin up when a network names it.
 */
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { YardError } from '../errors.js';
import type { Engine } from '../engine/engine.js';
import { dockerPluginApp, pluginRequestListener } from '../plugin/docker-plugin-app.js';
import { EngineDockerBackend } from '../plugin/engine-backend.js';
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
  const backend = new EngineDockerBackend(engine, opts.log);
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
      const app = dockerPluginApp(backend, { scope: ep.scope, ipam: ep.ipam, names: pluginNames(base) });
      const server = http.createServer(pluginRequestListener(app));
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
