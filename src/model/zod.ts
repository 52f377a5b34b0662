/**
 * zod, loaded at its first use rather than with the daemon: about 11 MiB of a process's
 * resident memory once loaded, which an idle daemon with no state never needs. Modules
 * loaded at start build their schemas with `lazySchema` (on the first request or record
 * that needs them); modules that are themselves loaded on demand take `zod()` at their top.
 * Loaded through `require` (zod's CommonJS build), so the first use can be synchronous:
 * every module of the daemon goes through here, so the process holds one zod.
 */
import { createRequire } from 'node:module';
import type { z } from 'zod';

export type Zod = typeof z;

let loaded: Zod | undefined;

/** zod's `z`, loaded on the first call. */
export function zod(): Zod {
  return (loaded ??= (createRequire(import.meta.url)('zod') as { z: Zod }).z);
}

/** A schema (or a set of them) built the first time it is asked for. */
export function lazySchema<T>(build: (z: Zod) => T): () => T {
  let schema: T | undefined;
  return () => (schema ??= build(zod()));
}
