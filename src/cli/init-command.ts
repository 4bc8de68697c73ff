import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import type { Command } from 'commander';
import pg from 'pg';
import { ServiceUnavailableError } from '../errors.js';
import { EventCodec } from '../events/event-codec.js';
import { createKafka } from '../kafka/kafka-client.js';
import { alterTopicConfig, describeTopicConfig, ensureTopics } from '../kafka/topic-config.js';
import { createLogger } from '../logger.js';
import { describeStep, planInit } from '../setup/init-plan.js';
import { connectSource, diagnose } from '../setup/source-session.js';
import { catalogFrom } from './catalog-option.js';
import { messageOf } from './command-failure.js';

/** `lethe init`: creates the publication, slot, topics and schema registration, idempotently. */
export function registerInit(program: Command): void {
  program
    .command('init')
    .description("create what doctor finds missing and Lethe may create: publication, slot, topics, schema registration, the tracker's tables")
    .option('--dry-run', 'print the statements instead of running them')
    .action(async (options: { dryRun?: boolean }, command: Command) => {
      const catalog = await catalogFrom(command);
      const logger = createLogger({ level: 'warn' });
      const db = await connectSource(catalog);
      const admin = createKafka({ brokers: catalog.kafka.brokers, clientId: 'lethe-init', logger }).admin();
      try {
        await admin.connect().catch((error: unknown) => {
          throw new ServiceUnavailableError('kafka', `cannot connect to kafka.brokers (${catalog.kafka.brokers.join(', ')}): ${messageOf(error)}`, { cause: error });
        });
        const retention = await describeTopicConfig(admin, catalog.kafka.topics.erasures, ['retention.ms']);
        const steps = planInit(catalog, await diagnose(db, catalog), new Set(await admin.listTopics()), retention?.['retention.ms'] ? Number(retention['retention.ms']) : null);
        for (const step of steps) {
          process.stdout.write(`${options.dryRun ? 'would: ' : ''}${describeStep(step)}\n`);
          if (options.dryRun) continue;
          if (step.kind === 'sql') await db.query(step.sql);
          if (step.kind === 'topic') await ensureTopics(admin, [step]);
          if (step.kind === 'topic-config') await alterTopicConfig(admin, step.topic, step.configs);
          if (step.kind === 'tracker-sql') {
            const tracker = new pg.Client({ connectionString: catalog.tracker.database, connectionTimeoutMillis: 10_000 });
            await tracker.connect().catch((error: unknown) => {
              throw new ServiceUnavailableError('postgres', `cannot connect to tracker.database: ${messageOf(error)}`, { cause: error });
            });
            try {
              await tracker.query(step.sql);
            } finally {
              await tracker.end();
            }
          }
          if (step.kind === 'schema') {
            const codec = new EventCodec(new SchemaRegistry({ host: catalog.kafka.schemaRegistry }), step.topic, step.schema);
            const id = await codec.register();
            process.stdout.write(`   schema id ${id}\n`);
          }
        }
        // After a real run, what the database still lacks; in a dry run, what init would not do.
        const remaining = options.dryRun
          ? (await diagnose(db, catalog)).filter((f) => f.level === 'problem' && !f.initFixes)
          : (await diagnose(db, catalog)).filter((f) => f.level === 'problem');
        for (const f of remaining) process.stdout.write(`still to do by hand: ${f.subject}: ${f.message}${f.fix ? `\n   ${f.fix}` : ''}\n`);
        if (remaining.length > 0 && !options.dryRun) process.exitCode = 1;
      } finally {
        await admin.disconnect();
        await db.end();
      }
    });
}
