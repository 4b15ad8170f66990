import { defineConfig } from 'vitest/config';

// Two projects: pure unit/property tests run in parallel; lab tests build
// network namespaces and real daemons, so they run one file at a time, and
// only after the unit project (groupOrder), to keep timing on a 2-core
// machine honest: failover outages are measured in milliseconds.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          sequence: { groupOrder: 0 },
          include: ['test/**/*.test.ts'],
          exclude: ['test/lab/**'],
          testTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'lab',
          sequence: { groupOrder: 1 },
          include: ['test/lab/**/*.test.ts'],
          fileParallelism: false,
          testTimeout: 180_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
