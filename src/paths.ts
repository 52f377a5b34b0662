/**
 * Per-instance locations. One daemon runs per host network namespace; its instance name
 * (by default the name of the namespace it runs in: src/cli/instance.ts) keys its state
 * directory, its socket and the names of the sandbox namespaces it creates, so several
 * daemons on one machine never collide.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const RUN_DIR = process.env.YARD_RUN_DIR ?? '/run/switchyard';
export const LIB_DIR = process.env.YARD_LIB_DIR ?? '/var/lib/switchyard';

/** The repository (or installed package) root: dist/ and bin/ live here. */
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const CLI_ENTRY = path.join(PACKAGE_ROOT, 'dist', 'cli', 'main.js');
export const BIN_DIR = path.join(PACKAGE_ROOT, 'bin');

export function socketPathFor(instance: string): string {
  return path.join(RUN_DIR, instance, 'yard.sock');
}

export function stateDirFor(instance: string): string {
  return path.join(LIB_DIR, instance);
}

/** Prefix of every sandbox namespace an instance creates: reconcile finds leftovers by it. */
export function sandboxNetnsPrefix(instance: string): string {
  return `yard-${instance}-`;
}

/**
 * The name of a sandbox's namespace: `yard-<instance>-<12 hex>`, or for a runtime's
 * namespace attached under our name `yard-<instance>-rt-<12 hex>` (never emptied of
 * processes or deleted: only detached).
 */
export function sandboxNetnsName(instance: string, id: string, runtimeOwned = false): string {
  return `${sandboxNetnsPrefix(instance)}${runtimeOwned ? RUNTIME_NETNS_INFIX : ''}${id.slice(0, 12)}`;
}
export const RUNTIME_NETNS_INFIX = 'rt-';
