/**
 * zod, loaded at its first use rather than with the daemon: several MiB of a process's
 * resident memory once loaded (9 MiB in a bare `node`), which an idle daemon with no state
 * never needs. Modules loaded at start build their schemas with `lazySchema` (on the first
 * request or record that needs them); modules that are themselves loaded on demand take
 * `zod()` at their top. Loaded through `require` (zod's CommonJS build), so the first use
 * can be synchronous: every module of the daemon goes through here, so the process holds
 * one zod.
 */
import { createRequire, Module } from 'node:module';
import path from 'node:path';
import type { z } from 'zod';

export type Zod = typeof z;

let loaded: Zod | undefined;

/** zod's `z`, loaded on the first call. */
export function zod(): Zod {
  return (loaded ??= load());
}

function load(): Zod {
  const require = createRequire(import.meta.url);
  // zod's entry loads the messages of every one of its ~50 locales (about 2 MiB resident)
  // for `z.locales`; the daemon's messages are English (zod's default, which it loads on
  // its own), so the locales module is given to it holding English alone.
  try {
    const index = require.resolve('zod/v4/locales');
    if (!require.cache[index]) {
      const english = new Module(index);
      english.filename = index;
      english.exports = { en: (require(path.join(path.dirname(index), 'en.cjs')) as { default: unknown }).default };
      english.loaded = true;
      require.cache[index] = english;
    }
  } catch {
    // Another layout of zod's files: it loads as it is.
  }
  return (require('zod') as { z: Zod }).z;
}

/** A schema (or a set of them) built the first time it is asked for. */
export function lazySchema<T>(build: (z: Zod) => T): () => T {
  let schema: T | undefined;
  return () => (schema ??= build(zod()));
}
