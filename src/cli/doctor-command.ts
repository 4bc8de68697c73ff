import type { Command } from 'commander';
import type { Catalog } from '../catalog/catalog.js';
import type { Finding } from '../cdc/source-checks.js';
import { createKafka } from '../kafka/kafka-client.js';
import { describeTopicConfig } from '../kafka/topic-config.js';
import { createLogger } from '../logger.js';
import { checkErasureLog } from '../setup/init-plan.js';
import { diagnose, connectSource } from '../setup/source-session.js';
import { catalogFrom } from './catalog-option.js';

/** `lethe doctor`: checks the live database against the catalog; exit 1 on any problem. */
export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description('check the primary database against the catalog (wal_level, publication, replica identity, slot and its lag) and the erasure log\'s retention against the backups')
    .action(async (_options: unknown, command: Command) => {
      const catalog = await catalogFrom(command);
      const db = await connectSource(catalog);
      try {
        const findings = [...(await diagnose(db, catalog)), await checkKafka(catalog)];
        for (const f of findings) {
          const mark = f.level === 'ok' ? 'ok  ' : f.level === 'warn' ? 'warn' : 'FAIL';
          const fix = f.fix ? ` -- fix: ${f.fix}${f.initFixes ? ' (lethe init does this)' : ''}` : '';
          process.stdout.write(`${mark} ${f.subject}: ${f.message}${fix}\n`);
        }
        const problems = findings.filter((f) => f.level === 'problem').length;
        process.stdout.write(problems === 0 ? 'all checks passed\n' : `${problems} problem(s)\n`);
        if (problems > 0) process.exitCode = 1;
      } finally {
        await db.end();
      }
    });
}

/** The erasure log's retention against the catalog's backups; Kafka being unreachable is a problem. */
async function checkKafka(catalog: Catalog): Promise<Finding> {
  const admin = createKafka({ brokers: catalog.kafka.brokers, clientId: 'lethe-doctor', logger: createLogger({ level: 'error' }), retry: { retries: 1 } }).admin();
  try {
    await admin.connect();
    const config = await describeTopicConfig(admin, catalog.kafka.topics.erasures, ['retention.ms']);
    return checkErasureLog(catalog, config === null ? null : Number(config['retention.ms'] ?? -1));
  } catch (error) {
    return { level: 'problem', subject: `kafka ${catalog.kafka.brokers.join(',')}`, message: `unreachable: ${(error as Error).message}` };
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
