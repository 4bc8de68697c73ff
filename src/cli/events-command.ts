import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import type { Command } from 'commander';
import type { SubjectErased } from '../cdc/erasure-manifest.js';
import { UsageError } from '../errors.js';
import { EventCodec } from '../events/event-codec.js';
import { readTopic } from '../kafka/topic-reader.js';
import { createKafka } from '../kafka/kafka-client.js';
import { createLogger } from '../logger.js';
import { sleep } from '../retry.js';
import { catalogFrom } from './catalog-option.js';

/** `lethe events`: prints SubjectErased events from the erasures topic, decoded, as JSON lines. */
export function registerEvents(program: Command): void {
  program
    .command('events')
    .description('print the SubjectErased events on the erasures topic (decoded, one JSON object per line)')
    .option('--subject <type:id>', "only this subject's events, e.g. user:42")
    .option('--wait <seconds>', 'with --subject: wait up to this long for a first event', '0')
    .action(async (options: { subject?: string; wait: string }, command: Command) => {
      const waitSeconds = Number(options.wait);
      if (!Number.isFinite(waitSeconds) || waitSeconds < 0) throw new UsageError(`--wait ${options.wait}: not a number of seconds`);
      const catalog = await catalogFrom(command);
      const kafka = createKafka({ brokers: catalog.kafka.brokers, clientId: 'lethe-events', logger: createLogger({ level: 'warn' }) });
      const codec = new EventCodec<SubjectErased>(new SchemaRegistry({ host: catalog.kafka.schemaRegistry }), catalog.kafka.topics.erasures, 'subject-erased');
      const deadline = Date.now() + waitSeconds * 1000;
      for (;;) {
        let printed = 0;
        await readTopic(kafka, catalog.kafka.topics.erasures, async (message) => {
          if (options.subject && message.key?.toString() !== options.subject) return;
          const event = await codec.decode(message.value!);
          process.stdout.write(`${JSON.stringify(event)}\n`);
          printed += 1;
        });
        if (printed > 0 || !options.subject || Date.now() >= deadline) {
          if (printed === 0 && options.subject) process.exitCode = 1;
          return;
        }
        await sleep(500);
      }
    });
}
