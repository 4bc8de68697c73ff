import { defineConfig } from 'vitest/config';

// One project per kind of test (STYLE.md): `unit` needs no service, `integration` talks to real
// servers, `e2e` runs the whole pipeline, `chaos` the short fault-injection run. `make test` runs
// them all; `npx vitest run --project unit` runs one.
const serviceSetup = ['test/support/global-setup.ts'];
// The chaos run stops and starts shared services (Kafka, Redis, ...), so nothing else may run
// beside it: its project has a higher group order, and vitest starts it only once every file of
// the other projects (group order 0, run in parallel with each other as before) has finished.
const chaosTest = 'test/e2e/chaos.e2e.test.ts';

export default defineConfig({
  test: {
    reporters: ['default'],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/**/*.int.test.ts', 'test/**/*.e2e.test.ts', 'node_modules/**'],
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/**/*.int.test.ts'],
          globalSetup: serviceSetup,
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/**/*.e2e.test.ts'],
          exclude: [chaosTest, 'node_modules/**'],
          globalSetup: serviceSetup,
          testTimeout: 180_000,
          hookTimeout: 120_000,
          // End-to-end tests share consumer groups and slots per test; run files one at a time.
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'chaos',
          include: [chaosTest],
          globalSetup: serviceSetup,
          testTimeout: 360_000,
          hookTimeout: 120_000,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
