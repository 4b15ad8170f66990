import { defineConfig } from 'vitest/config';

// Two projects: pure unit/property tests run in parallel; lab tests build
// network namespaces and real daemons, so they run one file at a time to keep
// timing on a 2-core machine honest.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/lab/**'],
          testTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'lab',
          include: ['test/lab/**/*.test.ts'],
          fileParallelism: false,
          testTimeout: 180_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
