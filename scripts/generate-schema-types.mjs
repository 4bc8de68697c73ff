#!/usr/bin/env node
// Generates TypeScript types from schemas/*.avsc into schemas/generated/ (the schemas are the
// truth; the types follow). `--check` exits 1 when a committed file is out of date.
import { readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { toTypeScript } from '@ovotech/avro-ts';

const root = resolve(import.meta.dirname, '..');
const check = process.argv.includes('--check');
let stale = 0;
for (const file of readdirSync(join(root, 'schemas')).filter((f) => f.endsWith('.avsc')).sort()) {
  const schema = JSON.parse(readFileSync(join(root, 'schemas', file), 'utf8'));
  // avro-ts calls TypeScript factory functions that print deprecation notices; they are noise here.
  const warn = console.warn;
  console.warn = () => {};
  let body;
  try {
    body = toTypeScript(schema, { logicalTypes: { 'timestamp-millis': 'number' } });
  } finally {
    console.warn = warn;
  }
  const text = `// Generated from schemas/${file} by scripts/generate-schema-types.mjs. Do not edit.\n${body.replace('/* eslint-disable @typescript-eslint/no-namespace */\n', '')}\n`;
  const target = join(root, 'schemas', 'generated', `${basename(file, '.avsc')}.ts`);
  if (check) {
    if (!existsSync(target) || readFileSync(target, 'utf8') !== text) {
      console.error(`${target} is out of date: run npm run gen:schemas`);
      stale += 1;
    }
  } else {
    writeFileSync(target, text);
  }
}
process.exitCode = stale > 0 ? 1 : 0;
