import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import { missingVariables, resolveEndpoints } from '../stack/endpoints.js';
import { probeAll } from '../stack/probes.js';

/** `lethe ping`: probes every backing service named by the environment with Lethe's own clients. */
export function registerPing(program: Command): void {
  program
    .command('ping')
    .description(
      'probe PostgreSQL, Kafka, the schema registry, Redis, Elasticsearch, BigQuery, SMTP and Mailpit ' +
        'at the endpoints in the environment (DATABASE_URL, KAFKA_BROKERS, ...; `make up` writes them to .stack/env)',
    )
    .action(async () => {
      const missing = missingVariables(process.env);
      if (missing.length > 0) {
        throw new UsageError(
          `missing environment variables: ${missing.join(', ')} (start the stack with \`make up\` and ` +
            '`set -a; . .stack/env; set +a`, or point them at your own servers)',
        );
      }
      const results = await probeAll(resolveEndpoints(process.env));
      for (const r of results) {
        process.stdout.write(`${r.ok ? 'ok  ' : 'FAIL'} ${r.service.padEnd(16)} ${r.detail}\n`);
      }
      const failed = results.filter((r) => !r.ok);
      if (failed.length > 0) {
        process.exitCode = 1;
      }
    });
}
