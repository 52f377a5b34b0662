/**
 * The VM lab's suite: run INSIDE the qemu guest (src/lab/vm.ts) by test/lab/vm-ipvlan.test.ts,
 * never on this machine (its kernel lacks ipvlan). Not part of the root config's projects.
 * Every spawned process costs 40-150x more under TCG: generous timeouts, one file at a time.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  root: path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..'),
  test: {
    include: ['test/vm/**/*.test.ts'],
    environment: 'node',
    testTimeout: 240_000,
    hookTimeout: 240_000,
    fileParallelism: false,
    maxWorkers: 1,
  },
});
