import { defineConfig } from 'vitest/config';

// Two projects: `unit` is pure code (fast, parallel, no root needed);
// `lab` drives the real kernel inside throwaway lab namespaces (root only).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['src/**/*.test.ts', 'test/unit/**/*.test.ts'],
          environment: 'node',
          // Unit first (fast, parallel), then the lab (real kernel, two files at a time).
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: 'lab',
          include: ['test/lab/**/*.test.ts'],
          environment: 'node',
          sequence: { groupOrder: 1 },
          testTimeout: 120_000,
          hookTimeout: 180_000,
          // Each lab test file builds its own uniquely named lab; two cores, so two at a time.
          maxWorkers: 2,
          fileParallelism: true,
        },
      },
    ],
  },
});
