import { Kafka, logLevel, type KafkaConfig, type LogEntry } from 'kafkajs';
import type { Logger } from '../logger.js';

/**
 * The one place Lethe builds a Kafka client. kafkajs has had no release since 2023; keeping its
 * construction (and its logging) here means a maintained client could replace it in one module.
 */
export function createKafka(options: { brokers: string[]; clientId: string; logger: Logger } & Partial<KafkaConfig>): Kafka {
  const { brokers, clientId, logger, ...rest } = options;
  const log = logger.child({ component: 'kafkajs' });
  return new Kafka({
    brokers,
    clientId,
    logLevel: logLevel.WARN,
    logCreator: () => (entry: LogEntry) => {
      // kafkajs logs carry broker and topic names, never record contents.
      const { message, ...fields } = entry.log;
      const level = entry.level <= logLevel.ERROR ? 'error' : entry.level === logLevel.WARN ? 'warn' : 'debug';
      log[level]({ namespace: entry.namespace, ...fields }, message);
    },
    ...rest,
  });
}
