#!/usr/bin/env node
// Prints vitest's JSON report as one closing line, 'N passed, N failed, N skipped', so a CI log
// states the count in a form any reader recognizes. Exits 1 when the report is missing.
import { readFileSync } from 'node:fs';

const path = process.argv[2] ?? 'test-artifacts/vitest-results.json';
let report;
try {
  report = JSON.parse(readFileSync(path, 'utf8'));
} catch (error) {
  console.error(`no test report at ${path}: ${error.message}`);
  process.exit(1);
}
const skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
console.log(`tests: ${report.numPassedTests} passed, ${report.numFailedTests} failed, ${skipped} skipped`);
