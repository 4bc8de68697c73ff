#!/usr/bin/env node
// Imports every built module under plain Node. Vitest's transform tolerates named imports of
// CommonJS exports that Node's own ESM loader rejects; the CLI runs under plain Node, so this
// catches that class of bug before a user does.
import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const root = resolve(import.meta.dirname, '../dist');
const files = [];
const walk = (dir) => {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else if (name.endsWith('.js') && !path.includes(`${join('src', 'bench')}`)) files.push(path);
  }
};
walk(root);
let failed = 0;
for (const file of files) {
  try {
    await import(pathToFileURL(file).href);
  } catch (error) {
    failed += 1;
    console.error(`${file}: ${error.message.split('\n')[0]}`);
  }
}
if (failed > 0) {
  console.error(`${failed} built module(s) do not load under plain Node`);
  process.exit(1);
}
console.log(`${files.length} built modules load under plain Node`);
