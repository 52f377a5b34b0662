/**
 * Per-instance locations. One daemon runs per host network namespace; its instance name
 * (by default the name of the namespace it runs in, as `ip netns identify` reports it, or
 * `default` in an unnamed one) keys its state directory, its socket and the names of the
 * sandbox namespaces it creates, so several daemons on one machine never collide.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const RUN_DIR = process.env.YARD_RUN_DIR ?? '/run/switchyard';
export const LIB_DIR = process.env.YARD_LIB_DIR ?? '/var/lib/switchyard';

/** The repository (or installed package) root: dist/ and bin/ live here. */
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const CLI_ENTRY = path.join(PACKAGE_ROOT, 'dist', 'cli', 'main.js');
export const BIN_DIR = path.join(PACKAGE_ROOT, 'bin');

let cachedNs: string | null | undefined;
/** Name of the network namespace this process runs in, or null when it has no name. */
export function currentNetnsName(): string | null {
  if (cachedNs !== undefined) return cachedNs;
  try {
    const out = execFileSync('ip', ['netns', 'identify', String(process.pid)], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    cachedNs = out.split('\n')[0] || null;
  } catch {
    cachedNs = null;
  }
  return cachedNs;
}

export function defaultInstance(): string {
  return process.env.YARD_INSTANCE || currentNetnsName() || 'default';
}

export function socketPathFor(instance: string): string {
  return path.join(RUN_DIR, instance, 'yard.sock');
}

export function stateDirFor(instance: string): string {
  return path.join(LIB_DIR, instance);
}

/** The socket the CLI talks to: --host/YARD_HOST/DOCKER_HOST (unix://), else the instance's. */
export function defaultSocket(): string {
  const fromEnv = process.env.YARD_HOST || process.env.DOCKER_HOST;
  if (fromEnv?.startsWith('unix://')) return fromEnv.slice('unix://'.length);
  return socketPathFor(defaultInstance());
}

/** Prefix of every sandbox namespace an instance creates: reconcile finds leftovers by it. */
export function sandboxNetnsPrefix(instance: string): string {
  return `yard-${instance}-`;
}
