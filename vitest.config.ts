import { defineConfig } from 'vitest/config';

// One project per kind of test (STYLE.md): `unit` needs no service, `integration` talks to real
// servers, `e2e` runs the whole pipeline, `faults` stops and starts real servers under it (the
// short chaos run among them). `make test` runs them all; `npx vitest run --project unit` runs one.
const serviceSetup = ['test/support/global-setup.ts'];

export default defineConfig({
  test: {
    reporters: ['default'],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/**/*.int.test.ts', 'test/**/*.e2e.test.ts', 'test/**/*.fault.test.ts', 'node_modules/**'],
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
          globalSetup: serviceSetup,
          testTimeout: 180_000,
          hookTimeout: 120_000,
          // End-to-end tests share consumer groups and slots per test; run files one at a time,
          // after the unit and integration projects.
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
      {
        test: {
          // Fault injection stops and starts the stack's real servers, so it runs alone: after every
          // other project has finished (groupOrder), one file at a time.
          name: 'faults',
          include: ['test/**/*.fault.test.ts'],
          globalSetup: serviceSetup,
          testTimeout: 420_000,
          hookTimeout: 180_000,
          fileParallelism: false,
          sequence: { groupOrder: 2 },
        },
      },
    ],
  },
});
