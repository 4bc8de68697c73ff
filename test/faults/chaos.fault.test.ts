import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { endpoints } from '../support/endpoints.js';

const ROOT = resolve(import.meta.dirname, '../..');

// The short chaos run (src/chaos/chaos-run.ts --short): a few hundred users erased in waves while
// `lethe run` is SIGKILLed and each store, Kafka and the registry is stopped and started. It stops
// shared services, so it is in the `faults` project, which runs after every other, one file at a
// time (vitest.config.ts, sequence.groupOrder), and it needs the native stack (stack/stack.sh) and a built dist/ (`make test`
// builds it). Its output, with the seed to repeat it, is printed as it runs.
describe('chaos, short', () => {
  it('loses no erasure, touches no neighbour and completes every erasure through kills and outages', async () => {
    const e = endpoints();
    const env = {
      ...process.env,
      DATABASE_URL: e.databaseUrl,
      KAFKA_BROKERS: e.kafkaBrokers.join(','),
      SCHEMA_REGISTRY_URL: e.schemaRegistryUrl,
      REDIS_URL: e.redisUrl,
      ELASTICSEARCH_URL: e.elasticsearchUrl,
      BIGQUERY_API_ENDPOINT: e.bigqueryApiEndpoint,
      BIGQUERY_PROJECT_ID: e.bigqueryProjectId,
    };
    const output: string[] = [];
    const code = await new Promise<number | null>((done, fail) => {
      const child = spawn(process.execPath, ['dist/src/chaos/chaos-run.js', '--short'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
      for (const stream of [child.stdout, child.stderr]) {
        stream.on('data', (chunk: Buffer) => {
          output.push(chunk.toString());
          process.stdout.write(chunk);
        });
      }
      child.once('error', fail);
      child.once('exit', (exitCode) => done(exitCode));
    });
    const text = output.join('');
    expect(text).toMatch(/^chaos: erasures \d+, /m);
    expect(code, text.split('\n').filter((l) => /^chaos:|data left|touched|status |dead letters|tracker: user/.test(l)).join('\n')).toBe(0);
  });
});
